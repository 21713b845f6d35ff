"""Verilog for the simulators: ``generate_verilog(N, W)`` and a command line.

    python -m dynamarks.rtl.verilog --classes 10 --width 16 -o build/watermark_unit.v

The ports are those listed in :mod:`dynamarks.rtl.unit` (``sink__valid``, ``sink__payload``,
``config__addr``, ``vectors_in``, …) plus ``clk`` and ``rst`` (synchronous, active high).
"""

import argparse
import sys
from pathlib import Path

from amaranth.back import verilog

from .unit import WatermarkUnit

__all__ = ["generate_verilog", "main"]


def generate_verilog(classes: int, width: int, name: str = "watermark_unit", **kwargs) -> str:
    """Verilog text of ``WatermarkUnit(classes, width, **kwargs)`` as module ``name``."""
    unit = WatermarkUnit(classes=classes, width=width, **kwargs)
    return verilog.convert(unit, name=name, emit_src=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dynamarks.rtl.verilog",
                                     description="Write the watermark unit as Verilog.")
    parser.add_argument("--classes", "-n", type=int, default=10, help="N (default 10)")
    parser.add_argument("--width", "-w", type=int, default=16, help="W (default 16)")
    parser.add_argument("--name", default="watermark_unit", help="module name")
    parser.add_argument("--trivium-bits", type=int, default=None,
                        help="Trivium clocks per cycle (default: smallest power of two ≥ 32/N)")
    parser.add_argument("--external-keystream", action="store_true",
                        help="replace the Trivium by a keystream input stream (formal proofs)")
    parser.add_argument("-o", "--output", type=Path, default=None, help="file (default stdout)")
    args = parser.parse_args(argv)
    text = generate_verilog(args.classes, args.width, args.name,
                            trivium_bits=args.trivium_bits,
                            external_keystream=args.external_keystream)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
