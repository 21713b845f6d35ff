"""Command-line options shared by several verbs, declared once.

* :func:`add_secret_options` / :func:`params_from_args`: ``--params FILE`` or ``--secrets FILE``
  (TPM-sealed, with ``--tcti`` and ``--auth``).
* :func:`add_backend_options` / :func:`backend_opts_from_args`: ``--backend`` and the options of
  the backend it names (``--port``, ``--baudrate``, ``--timeout`` for ``serial``).

Only the standard library is imported here: building the parser must stay cheap.
"""

from __future__ import annotations

import argparse
from typing import Any

#: The backends of the host driver (``dynamarks.host.driver.BACKENDS`` maps them to classes).
BACKEND_NAMES = ("reference", "rtl", "serial")


def add_secret_options(parser: argparse.ArgumentParser, *, secrets: bool = True,
                       params: bool = True) -> None:
    """``--params FILE`` and/or ``--secrets FILE``, with the TPM options ``--tcti``/``--auth``."""
    if params:
        parser.add_argument("--params", metavar="FILE",
                            help="secret parameter file from `dynamarks keygen` (plaintext)")
    if secrets:
        parser.add_argument(
            "--secrets", metavar="FILE",
            help="sealed parameter file from `dynamarks seal`; unsealed into memory only",
        )
    parser.add_argument(
        "--tcti", default=None,
        help="how to reach the TPM (default: device:/dev/tpmrm0, the kernel resource manager; "
        "a software TPM: swtpm:host=127.0.0.1,port=2321)",
    )
    parser.add_argument(
        "--auth", default=None, metavar="SPEC",
        help="auth value of the sealed key: str:VALUE, env:VAR or file:PATH "
        "(a wrong value counts towards the TPM's dictionary-attack lockout; never retried)",
    )


def params_from_args(args: argparse.Namespace):
    """The parameter set named by ``--params FILE`` or ``--secrets FILE`` (exactly one)."""
    from dynamarks.host.errors import DynamarksError

    params_path = getattr(args, "params", None)
    secrets_path = getattr(args, "secrets", None)
    if bool(params_path) == bool(secrets_path):
        raise DynamarksError("give exactly one of --params FILE or --secrets FILE")
    if params_path:
        from dynamarks.host.params import load_params

        return load_params(params_path)
    from dynamarks.host.sealing import load_secret_params, read_auth

    return load_secret_params(
        secrets_path, tcti=getattr(args, "tcti", None), auth=read_auth(getattr(args, "auth", None))
    )


def add_backend_options(parser: argparse.ArgumentParser, default: str = "reference",
                        extra: tuple[str, ...] = ()) -> None:
    """``--backend`` (one of :data:`BACKEND_NAMES`, plus ``extra`` choices such as ``float``)
    and the serial backend's ``--port``, ``--baudrate`` and ``--timeout``."""
    parser.add_argument(
        "--backend", choices=(*extra, *BACKEND_NAMES), default=default,
        help=f"what computes the unit (default: {default}): reference = bit-exact numpy model, "
        "rtl = the unit's Verilog under Verilator, serial = a board or `dynamarks board-sim`",
    )
    parser.add_argument("--port", "--port-serial", dest="port", metavar="DEV",
                        help="serial backend: the device, e.g. /dev/ttyUSB1 or a pty")
    parser.add_argument("--baudrate", type=int, default=None,
                        help="serial backend: UART speed (default: the protocol's)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="serial backend: seconds to wait for a reply")


def backend_opts_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The backend options given on the command line (only those that were set); refuses
    serial options for another backend and a serial backend without ``--port``."""
    from dynamarks.host.errors import DynamarksError

    if args.backend != "serial":
        for flag in ("port", "baudrate", "timeout"):
            if getattr(args, flag, None) is not None:
                raise DynamarksError(f"--{flag} is an option of the serial backend only")
        return {}
    if not getattr(args, "port", None):
        raise DynamarksError("the serial backend needs --port DEVICE")
    opts: dict[str, Any] = {"port": args.port}
    for flag in ("baudrate", "timeout"):
        if getattr(args, flag, None) is not None:
            opts[flag] = getattr(args, flag)
    return opts
