"""The ``dynamarks`` command line: one package, one module per verb, imports on demand.

Every verb module provides ``add_arguments(parser)``, which imports nothing heavy (argparse,
pathlib and :mod:`dynamarks.cli.options` only), and ``run(args) -> int``, which imports what the
verb needs (numpy, torch, Amaranth, Verilator) when the verb runs. So ``dynamarks --help``
costs about as much as starting Python, and every verb is listed.

A verb module that fails to import is a bug in the installation, not an optional feature: the
CLI says which module and why, and exits with status 1. Errors a user can fix
(:class:`~dynamarks.host.errors.DynamarksError`, and an ``OSError`` from the file system or a
device) become one line on stderr and exit status 2; nothing else is caught: a traceback is a
bug.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: verb -> (module under dynamarks.cli, one-line help). The order is the order of ``--help``.
VERBS: dict[str, tuple[str, str]] = {
    "keygen": ("keygen", "generate a secret parameter set"),
    "seal": ("seal", "seal a parameter file with a TPM 2.0"),
    "alter": ("alter", "stream float softmax rows (.npy) through the unit"),
    "predict": ("predict", "run a model on a data-set split through the unit (batch, .npy)"),
    "serve": ("serve", "serve the protected prediction API over HTTP (Open Inference Protocol)"),
    "board-sim": ("board_sim", "serve the simulated board on a pseudo-terminal"),
    "export-ip": ("export_ip", "export the unit as AXI IP (Verilog, C header, IP-XACT, FuseSoC)"),
    "verify": ("verify", "is a suspect model stolen? (Algorithm 2 and the keyed test)"),
    "experiment": ("experiment", "reproduce the paper's experiments"),
    "demo": ("demo", "the end-to-end story (what `make demo` runs)"),
}


class VerbImportError(RuntimeError):
    """A verb's module could not be imported: the installation is broken."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (and exit status 2), like
    every other user error, pointing at ``--help`` instead of printing the usage block."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _verb_module(verb: str):
    module_name = f"dynamarks.cli.{VERBS[verb][0]}"
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise VerbImportError(f"verb {verb!r}: cannot import {module_name}: {exc}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="dynamarks",
        description="DynaMarks in hardware: watermark a model's prediction API against "
        "extraction, and prove it on a stolen surrogate.",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (_, help_text) in VERBS.items():
        module = _verb_module(verb)
        p = sub.add_parser(
            verb,
            help=help_text,
            description=module.__doc__ or help_text,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from dynamarks.host.errors import DynamarksError

    try:
        parser = build_parser()
    except VerbImportError as exc:
        print(f"dynamarks: broken installation: {exc}", file=sys.stderr)
        return 1
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help()
        return 0 if args.verb is None else 2
    try:
        return int(run(args) or 0)
    except DynamarksError as exc:
        print(f"dynamarks {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system or a device said no: the user's to fix
        where = f": {exc.filename}" if exc.filename else ""
        print(f"dynamarks {args.verb}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dynamarks {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
