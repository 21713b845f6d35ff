"""Board throughput in vectors per second: computed from the line rate, and measured on the
simulated board in clock cycles (a figure, never pass/fail).

    python bench/bench_board.py [--vectors 2000] [--baud 3000000] [--clock-mhz 48]

1. Computed (PROTOCOL §7): a frame of M vectors is ``line_bytes_per_frame`` bytes each way (header,
   CRC-16, COBS code bytes, delimiter), 10 bits a byte. Pipelined, requests and replies share
   the full-duplex line, so the longer direction bounds it; stop-and-wait pays both directions
   one after the other, plus the device's processing.
2. Measured: the whole ``BoardTop`` under Verilator (the simulated board) with a UART bit time of
   ``clock / baud`` cycles — 16 at 48 MHz and 3 Mbaud, as on the iCEBreaker — and a host that
   streams ``--vectors`` vectors through :class:`~dynamarks.host.protocol.FrameLink`, once
   pipelined with the window the device advertises and once stop-and-wait. The time is the
   simulated clock (the harness's cycle counter from the first request byte to the last reply
   byte), converted at ``--clock-mhz``; the host's own wall time does not enter, except where
   it leaves the line idle (the harness's clock runs while it waits). Every reply is checked
   bit-exact against the reference.

The first run compiles this simulated board (about two minutes); later runs reuse it.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=int, default=2000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--baud", type=int, default=3_000_000)
    ap.add_argument("--clock-mhz", type=float, default=48.0)
    args = ap.parse_args(argv)

    import serial

    from dynamarks.host import protocol as pr
    from dynamarks.host.fixedpoint import to_fixed
    from dynamarks.host.params import keygen
    from dynamarks.host.reference import ReferenceUnit
    from dynamarks.sim.board_sim import SimulatedBoard
    from dynamarks.wire import line_bytes_per_frame, vectors_per_second, word_bytes

    n, w, baud = args.classes, args.width, args.baud
    clk = args.clock_mhz * 1e6
    divisor = round(clk / baud)
    sim = SimulatedBoard(n, w, baud=baud, divisor=divisor)
    m = sim.max_vectors
    frame_bytes = line_bytes_per_frame(m * n * word_bytes(w))
    print(f"N={n} W={w}, {m} vectors a frame: {frame_bytes} bytes on the line each way "
          f"({frame_bytes / m:.2f} a vector), {baud:,} baud, 8N1")
    pipelined = vectors_per_second(baud, n, w, m)
    frame_s = frame_bytes * 10 / baud
    print(f"computed, pipelined (line-bound):  {pipelined:10,.0f} vectors/s")
    print(f"computed, stop-and-wait:           {m / (2 * frame_s):10,.0f} vectors/s "
          "(both directions in turn, processing not counted)")

    rng = np.random.default_rng(1)
    logits = rng.normal(size=(args.vectors, n)) * rng.choice([1.0, 6.0], size=(args.vectors, 1))
    x = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = to_fixed(x / x.sum(axis=1, keepdims=True), w)
    params = keygen(classes=n, width=w, seed=11)

    print(f"building/starting the simulated board ({divisor} cycles a bit) ...", flush=True)
    with sim as port, serial.Serial(port, baud, timeout=0.05) as ser:
        link = pr.FrameLink(ser, timeout=30.0)
        st = link.status()
        link.configure(params.encode())
        ref = ReferenceUnit(params)
        for label, window in (("pipelined", st.window), ("stop-and-wait", 1)):
            t0 = sim.wait_idle().cycle  # the clock stands still while the board sleeps
            got = link.process(p, n, w, m, window=window)
            t1 = sim.wait_idle().last_byte
            if not (got == ref.process(p)).all():
                print(f"{label}: outputs differ from the reference", file=sys.stderr)
                return 1
            cycles = t1 - t0
            rate = args.vectors / (cycles / clk)
            print(f"measured, {label:13s} (window {window}): {cycles:,} cycles for "
                  f"{args.vectors:,} vectors = {cycles / args.vectors:,.0f} cycles a vector "
                  f"= {rate:10,.0f} vectors/s at {args.clock_mhz:g} MHz "
                  f"({rate / (pipelined if window > 1 else m / (2 * frame_s)):.0%} of computed)")
        st = link.status()
        print(f"device counters: vectors_out {st.vectors_out:,}, frames_ok {st.frames_ok:,}, "
              f"nacked {st.frames_nacked}, rx_dropped {st.rx_dropped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
