"""What the fixed-point contract changes against the paper's float Algorithm 1 (SPEC §11).

Runs the same realistic softmax outputs through (1) the paper's Algorithm 1 in float64 with
float parameters 0.9/1/0.01/0.19 and exact V = (2/11, 1/11, ...) and (2) the bit-exact unit
(W = 16), and prints the fraction of vectors altered, the mean Δ, and the j frequencies of
both. `--update-spec` writes the table into docs/SPEC.md between its markers.

    python bench/quantization_effect.py [--vectors 200000] [--seed 0] [--update-spec]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from dynamarks.host.fixedpoint import to_fixed, to_float
from dynamarks.host.float_reference import FloatParams, algorithm1_float
from dynamarks.host.params import keygen, paper_table
from dynamarks.host.reference import ReferenceUnit
from dynamarks.host.synthetic import realistic_softmax

SPEC = Path(__file__).resolve().parents[1] / "docs" / "SPEC.md"


def measure(m: int, seed: int, width: int) -> str:
    rng = np.random.default_rng(seed)
    x, _ = realistic_softmax(m, 10, rng)
    params = keygen(10, width, seed=seed)
    fixed = to_fixed(x, width)
    d = ReferenceUnit(params).process_detailed(fixed)
    v_exact = np.array([paper_table(10, int(np.argmax(row))) for row in params.v_tables()])
    fp = FloatParams.paper(v_exact)
    y, altered_f = algorithm1_float(x, fp, rng=rng)
    in_window_f = (x.max(axis=1) > 0.9) & (x.max(axis=1) < 1.0)
    one = params.one
    # j frequencies for the favoured index of class 0's table, over all draws
    v_fixed = params.v_tables()
    rows = [
        ("vectors in the window", f"{in_window_f.mean():.4%}", f"{d.in_window.mean():.4%}"),
        ("vectors altered (j ≠ i)", f"{altered_f.mean():.4%}", f"{d.altered.mean():.4%}"),
        ("mean Δ of altered vectors", f"{(x - y).max(axis=1)[altered_f].mean():.5f}",
         f"{d.delta[d.altered].mean() / one:.5f}"),
        ("P(j = favoured index)", f"{2 / 11:.6f}", f"{v_fixed.max(axis=1).mean():.6f}"),
        ("P(j = other index)", f"{1 / 11:.6f}", f"{np.sort(v_fixed, axis=1)[:, 0].mean():.6f}"),
        ("max |fixed − float input| per entry", "0", f"{np.abs(to_float(fixed) - x).max():.2e}"),
        ("rows whose window decision differs", "-",
         f"{int((d.in_window != in_window_f).sum())} of {m}"),
    ]
    lines = [
        f"Fashion-MNIST-like softmax outputs (`dynamarks.host.synthetic`), {m:,} vectors, "
        f"seed {seed}, W = {width}:",
        "",
        "| quantity | float Algorithm 1 | fixed point (this spec) |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--vectors", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--update-spec", action="store_true", help="write the table into docs/SPEC.md")
    args = ap.parse_args()
    table = measure(args.vectors, args.seed, args.width)
    print(table)
    if args.update_spec:
        text = SPEC.read_text()
        new = re.sub(
            r"(<!-- quantization-effect:begin -->\n).*?(\n<!-- quantization-effect:end -->)",
            lambda mt: mt.group(1) + table + mt.group(2), text, flags=re.S,
        )
        SPEC.write_text(new)
        print(f"updated {SPEC}")


if __name__ == "__main__":
    main()
