"""The ``dynamarks`` command line.

Each verb lives in its own module that provides ``add_arguments(parser)`` and
``run(args) -> int``; this file only registers them. A verb whose module is not importable
(for example an optional dependency is missing) is listed with the reason instead of crashing
the whole CLI. Errors a user can fix (:class:`DynamarksError`) become a one-line message and
exit status 2; nothing else is caught.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from dynamarks.host.errors import DynamarksError

# verb -> (module, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "keygen": ("dynamarks.host.cmd_keygen", "generate a secret parameter set (paper defaults)"),
    "alter": ("dynamarks.host.cmd_alter", "stream float softmax rows (.npy) through a backend"),
    "seal": ("dynamarks.host.cmd_seal", "seal a parameter file with a TPM 2.0"),
    "serve": ("dynamarks.host.cmd_serve", "run a model on a dataset split through a backend"),
    "board-sim": ("dynamarks.sim.cmd_board_sim", "serve the simulated board on a pseudo-terminal"),
    "verify": ("dynamarks.models.cmd_verify", "Algorithm 2: verify a suspect model"),
    "experiment": ("dynamarks.models.cmd_experiment", "reproduce the paper's experiments"),
    "demo": ("dynamarks.host.cmd_demo", "the end-to-end story (what `make demo` runs)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynamarks",
        description="DynaMarks in hardware: watermark a model's prediction API against "
        "extraction, and prove it on a stolen surrogate.",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (module_name, help_text) in VERBS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and exc.name.startswith("dynamarks"):
                continue  # verb not built yet
            sub.add_parser(verb, help=f"{help_text} (unavailable: {exc})")
            continue
        p = sub.add_parser(verb, help=help_text, description=(module.__doc__ or help_text))
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help()
        return 0 if args.verb is None else 2
    try:
        return int(run(args) or 0)
    except DynamarksError as exc:
        print(f"dynamarks {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dynamarks {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
