"""Serve the simulated board on a pseudo-terminal until stopped (Ctrl-C).

The whole board top level (UART, COBS framing, dispatcher, watermark unit) runs under Verilator;
its UART pins are bridged to a pseudo-terminal whose path is printed. Point any host at it, e.g.
``dynamarks alter --backend serial --port /dev/pts/N ...`` or pyserial. The first start compiles
the simulation (about a minute); later starts reuse it. The simulated line runs one bit per
``--divisor`` clock cycles, as fast as the simulation goes; the baud rate a host sets is ignored.
"""

from __future__ import annotations

import argparse
import signal


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--classes", type=int, default=10, help="number of classes N (10)")
    parser.add_argument("--width", type=int, default=16, help="word width W in bits (16)")
    parser.add_argument(
        "--baud",
        type=int,
        default=3_000_000,
        help="nominal baud rate the design is built for (3000000)",
    )
    parser.add_argument(
        "--divisor", type=int, default=4, help="simulated clock cycles per UART bit, >= 4 (4)"
    )
    parser.add_argument(
        "--max-vectors",
        type=int,
        default=None,
        help="vectors per VECTORS frame (default: what fits the buffer)",
    )


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from dynamarks.host.errors import DynamarksError
    from dynamarks.sim.board_sim import SimulatedBoard

    if not 2 <= args.classes <= 64 or not 10 <= args.width <= 24:
        raise DynamarksError("--classes must be 2..64 and --width 10..24 (SPEC)")
    if args.divisor < 4:
        raise DynamarksError("--divisor must be at least 4")
    try:
        board = SimulatedBoard(
            classes=args.classes,
            width=args.width,
            baud=args.baud,
            divisor=args.divisor,
            max_vectors=args.max_vectors,
        )
    except ValueError as exc:
        raise DynamarksError(str(exc)) from None
    print("building the simulated board (first time: about a minute) ...", flush=True)
    # Both signals stop the board, even when SIGINT came in ignored (a background job of a
    # non-interactive shell starts with SIGINT ignored, and Python then installs no handler).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    port = board.start()
    try:  # from here on, Ctrl-C or SIGTERM at any point stops the harness
        print(
            f"simulated board: N={args.classes} W={args.width}, {board.max_vectors} vectors "
            f"per frame, nominal {args.baud} baud, divisor {args.divisor}",
            flush=True,
        )
        print(port, flush=True)
        print("serving; Ctrl-C to stop", flush=True)
        code = board.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        board.stop()
    return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else 1
