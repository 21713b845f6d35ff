"""Which FPGA family an Amaranth platform targets: the one place blocks ask before choosing a
family-specific primitive or memory style (iCE40 DSP counters, ECP5 registered multiplier,
table organisation)."""

__all__ = ["fpga_family"]


def fpga_family(platform) -> str | None:
    """"ice40", "ecp5" or None (no platform, or another family), from the platform's classes."""
    names = {cls.__name__ for cls in type(platform).__mro__} if platform is not None else set()
    if names & {"SiliconBluePlatform", "LatticeICE40Platform"}:
        return "ice40"
    if "LatticeECP5Platform" in names or (
        "LatticePlatform" in names and getattr(platform, "family", None) == "ecp5"
    ):
        return "ecp5"
    return None
