"""Seal a parameter file with a TPM 2.0: `dynamarks seal --params params.dmk -o secrets.sealed`.

A random 32-byte key is sealed in the TPM under the owner hierarchy's storage key
(optionally bound to PCRs, e.g. ``--pcr 16``, and/or an auth value), and the parameter set
is written AES-256-GCM-encrypted under that key. The output never contains a parameter in
clear; verbs read it back with ``--secrets secrets.sealed``, which unseals into memory only.
Nothing is written when any step fails.
"""

from __future__ import annotations

import argparse

from dynamarks.cli.options import add_secret_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", required=True, help="parameter file to seal (params.dmk)")
    parser.add_argument("-o", "--output", required=True, help="sealed file to write")
    parser.add_argument(
        "--pcr",
        action="append",
        default=[],
        metavar="N[,N...]",
        help="bind unsealing to the current value of these sha256 PCRs (repeatable), e.g. 16",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing output")
    add_secret_options(parser, secrets=False, params=False)


def parse_pcrs(values: list[str]) -> list[int]:
    """``["16", "7,8"]`` -> ``[7, 8, 16]``; refuses anything but PCR indices 0..23."""
    from dynamarks.host.errors import DynamarksError

    out: set[int] = set()
    for v in values:
        for part in v.split(","):
            part = part.strip()
            if not part.isdigit() or int(part) > 23:
                raise DynamarksError(f"--pcr: {part!r} is not a PCR index 0..23")
            out.add(int(part))
    return sorted(out)


def run(args: argparse.Namespace) -> int:
    from dynamarks.host.params import load_params
    from dynamarks.host.sealing import read_auth, seal_params

    params = load_params(args.params)
    pcrs = parse_pcrs(args.pcr)
    seal_params(
        params,
        args.output,
        tcti=args.tcti,
        pcrs=pcrs,
        auth=read_auth(args.auth),
        overwrite=args.force,
    )
    bound = f", bound to sha256 PCR {','.join(map(str, pcrs))}" if pcrs else ""
    print(f"sealed {params!r} into {args.output}{bound}")
    return 0
