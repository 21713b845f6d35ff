"""The quick chapter of the demo: secrets, realistic softmax rows through the bit-exact unit.

No model and no TPM; seconds. ``dynamarks demo --quick`` runs it; the full story
(:mod:`dynamarks.models.story`) starts with the same chapter's ideas on a real model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from dynamarks.host.fixedpoint import to_fixed, to_float
from dynamarks.host.params import keygen, save_params
from dynamarks.host.reference import ReferenceUnit
from dynamarks.host.synthetic import realistic_softmax


def reference_chapter(out: Path, vectors: int, seed: int | None, console: Console) -> dict:
    """Generate secrets, alter realistic softmax vectors with the reference, show the effect."""
    out.mkdir(parents=True, exist_ok=True)
    params = keygen(10, 16, seed=seed)
    save_params(params, out / "params.dmk")
    console.print(f"[bold]1. secrets[/] generated (paper defaults, CSPRNG key/IV) → "
                  f"{out / 'params.dmk'} (mode 0600)")
    x, labels = realistic_softmax(vectors, 10, np.random.default_rng(seed))
    fixed = to_fixed(x, 16)
    d = ReferenceUnit(params).process_detailed(fixed)
    y = to_float(d.out, 16)
    assert (d.out.sum(axis=1) == params.one).all() and (d.out.argmax(1) == fixed.argmax(1)).all()
    console.print(f"[bold]2. streamed[/] {vectors:,} softmax vectors through the bit-exact unit: "
                  f"{d.altered.sum():,} altered ({d.altered.mean():.1%}); every sum is exactly "
                  "1.0 and no top-1 class changed")

    t = Table(title="a few altered vectors (class i loses Δ to class j)")
    for col in ("#", "i", "p_i before", "p_i after", "j", "p_j before", "p_j after", "Δ"):
        t.add_column(col, justify="right")
    rows = np.flatnonzero(d.altered)[:6]
    x_q = to_float(fixed, 16)
    for r in rows:
        i, j = int(d.argmax[r]), int(d.j[r])
        t.add_row(str(r), str(i), f"{x_q[r, i]:.4f}", f"{y[r, i]:.4f}", str(j),
                  f"{x_q[r, j]:.4f}", f"{y[r, j]:.4f}", f"{d.delta[r] / params.one:.4f}")
    console.print(t)

    per = Table(title="per predicted class")
    for col in ("class", "vectors", "in window", "altered", "mean Δ"):
        per.add_column(col, justify="right")
    for c in range(10):
        m = d.argmax == c
        alt = d.altered & m
        per.add_row(str(c), f"{m.sum():,}", f"{(d.in_window & m).sum():,}", f"{alt.sum():,}",
                    f"{(d.delta[alt].mean() / params.one) if alt.any() else 0:.4f}")
    console.print(per)
    np.save(out / "softmax.npy", x)
    np.save(out / "altered.npy", y)
    np.save(out / "labels.npy", labels)
    console.print(f"wrote {out / 'softmax.npy'}, {out / 'altered.npy'}")
    return {"altered": int(d.altered.sum()), "vectors": vectors}
