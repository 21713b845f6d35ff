"""Variants of the keyed test, measured against the one the project ships (issue 9, step 2).

The keyed test (:func:`dynamarks.models.verification.keyed_test`) ranks the favoured index
f_i among the non-top classes of ``score_i(j)`` and sums the ranks. It ships with the
``position`` score below (chosen here on the sweep's models, confirmed on the headline
models; docs/VERIFICATION.md); ``rank`` is its earlier share score. The variants keep its
null hypothesis and its exactness — under H0 every f_i is uniform over class i's candidates
and independent of the scores and of the other classes — and change only what is summed or
what the scores are taken against:

* ``magnitude`` — T = Σ_i z_i(f_i), with z_i the candidates' scores standardised within class
  i's row (mean 0, standard deviation 1): a favoured index far ahead of the others counts
  more than one just ahead;
* ``t`` — T = Σ_i t_i(f_i), with t_i(j) the score divided by its standard error over the
  group's inputs (a per-class Welch-free t statistic; the noise of each cell is estimated
  from the data, which is key-free);
* ``rank`` — the rank test on the change of j's renormalised non-top share (``keyed_test``
  with ``statistic="share"``, the test shipped before);
* ``position`` — the rank test on ``score_i(j)`` = mean over the group of (position of j in
  F_org's ordering of the non-top classes) − (its position in the suspect's): how many places
  the suspect moves j up (``keyed_test`` as shipped). Any monotone change of the suspect's
  answers (a sharper or flatter thief) leaves it unchanged;
* ``reference`` (``base``) — the rank test with the scores taken against the mean of
  reference models the owner trained without the key instead of against F_org alone.

The null of a magnitude sum is the distribution of Σ_i V_i, V_i uniform over class i's own
k_i values. :func:`pick_sum_sf` computes P0(T ≥ t) **exactly** by meeting in the middle (the
classes split in two halves, each half's sums enumerated — 9^5 = 59,049 for ten classes —
one half sorted, the other counted against it by binary search: all 9^10 ≈ 3.5·10⁹
combinations counted without listing them), or, when a half would exceed ``max_half``
combinations, by convolution on a grid with every value rounded *up* (which can only raise
the p-value: a valid, conservative bound).

``python -m dynamarks.models.keyed_variants`` evaluates the variants on the suite's cached
models (``dynamarks experiment suite --profile small`` first) and prints one row per model;
docs/VERIFICATION.md has the figures and what was concluded.
"""

from __future__ import annotations

import numpy as np

from dynamarks.models.verification import _non_top, _positions, keyed_test, pick_sum_sf

__all__ = ["pick_sum_sf", "variant_p"]


def _cells(s: np.ndarray, p: np.ndarray, base: np.ndarray | None = None,
           position: bool = False):
    """Per class i: (candidate indices, per-input differences [n_i, k_i]); the differences are
    the suspect's renormalised non-top shares minus F_org's (or ``base``'s rows), or with
    ``position`` the places the suspect moves each class up."""
    top = np.argmax(p, axis=1)
    n = p.shape[1]
    if position:
        r = _positions(p, top) - _positions(s, top)
    else:
        r = _non_top(s, top) - (_non_top(p, top) if base is None else base)
    for i in range(n):
        g = r[top == i]
        if len(g) < 2:
            continue
        idx = [j for j in range(n) if j != i]
        yield i, idx, g[:, idx]


def variant_p(s: np.ndarray, p: np.ndarray, favoured: np.ndarray, kind: str,
              base: np.ndarray | None = None) -> float:
    """p-value of the variant ``kind`` ("rank", "position", "magnitude", "t"); ``base``
    replaces F_org's renormalised non-top shares as the reference (rows, aligned with ``s``).
    "rank" and "position" without ``base`` are :func:`keyed_test` itself (groups of at least
    two inputs, like the other variants)."""
    from dynamarks.models.verification import rank_sum_cdf

    if kind in ("rank", "position") and base is None:
        stat = "share" if kind == "rank" else "position"
        return keyed_test(s, p, favoured, min_group=2, statistic=stat).p_value
    vals, obs, ranks, ks = [], 0.0, [], []
    for i, idx, g in _cells(s, p, base, position=kind == "position"):
        f = int(favoured[i])
        if f < 0 or f == i:
            continue
        x = g.mean(0)
        at = idx.index(f)
        if kind in ("rank", "position"):
            ranks.append(int(np.sum(x >= x[at])))
            ks.append(len(x))
            continue
        if kind == "magnitude":
            sd = x.std()
            z = (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)
        elif kind == "t":
            se = g.std(0, ddof=1) / np.sqrt(len(g))
            z = np.where(se > 0, x / np.where(se > 0, se, 1.0), 0.0)
        else:
            raise ValueError(f"unknown variant {kind!r}")
        vals.append(z)
        obs += float(z[at])
    if kind in ("rank", "position"):
        return rank_sum_cdf(ks, sum(ranks)) if ks else 1.0
    return pick_sum_sf(vals, obs) if vals else 1.0


def main() -> None:  # pragma: no cover - an experiment over cached models, not a unit
    """Evaluate the variants on the small profile's cached models (module doc)."""
    import argparse

    import torch

    from dynamarks.host import presets as preset_mod
    from dynamarks.models.suite import SUITE_PROFILES, Context, Job, cache_root, job_hash, obtain
    from dynamarks.models.sweep import KEYED_CANDIDATES
    from dynamarks.models.training import predict_proba, set_threads
    from dynamarks.models.verification import favoured_indices

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="robust",
                    help="paper, robust or a key-sweep candidate (models/sweep.py)")
    ap.add_argument("--keys", default="0", help="comma-separated key seeds (default 0)")
    ap.add_argument("--seeds", default="1", help="comma-separated training seeds (default 1)")
    ap.add_argument("--attacks", default="stolen,ft1000,ft1000-lr3e-3,prune-ft,ft5000,ft10000,"
                    "distill-T4,sharpen")
    ap.add_argument("--heldout", action="store_true",
                    help="add the training images no model of the suite saw (not the victim's, "
                    "not the attacker's pool or labelled sets) to the verification inputs")
    args = ap.parse_args()
    set_threads(1)
    for c in KEYED_CANDIDATES:  # the key sweep's candidates by name (v0.9, v0.9-d25, …)
        preset_mod.PRESETS.setdefault(c.name, c)
    ctx = Context("fmnist", SUITE_PROFILES["small"])
    d = ctx._data()
    xs = d["xt"]
    if args.heldout:
        n = len(d["x"])
        used = torch.zeros(n, dtype=torch.bool)
        for seed, k in ((1, ctx.profile.victim_count), (5, ctx.profile.pool_count), (9, 10000)):
            used[torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k]] = True
        xs = torch.cat([xs, d["x"][~used]])
    p = predict_proba(ctx.victim(), xs)
    kinds = ("rank", "position", "magnitude", "t")
    cached = lambda j: (cache_root() / f"{job_hash(ctx.profile, j, 'fmnist')}.pt").is_file()  # noqa: E731
    print(f"{'model':34} " + " ".join(f"{k:>9}" for k in kinds) + f"  ({len(xs)} inputs)")
    table: dict[str, dict[str, list[float]]] = {}
    for key in (int(k) for k in args.keys.split(",")):
        fav = favoured_indices(ctx.params(args.preset, key))
        for seed in (int(s) for s in args.seeds.split(",")):
            for att in args.attacks.split(","):
                j = Job(att, args.preset, key, seed)
                if not cached(j):
                    continue
                s = predict_proba(obtain(ctx, j), xs)
                row = [variant_p(s, p, fav, k) for k in kinds]
                print(f"{j.name:34} " + " ".join(f"{v:9.2g}" for v in row))
                for k, v in zip(kinds, row, strict=True):
                    table.setdefault(att, {}).setdefault(k, []).append(v)
    print("\n| attack | runs | " + " | ".join(f"{k}: median p [worst]" for k in kinds) + " |")
    print("|---|---|" + "---|" * len(kinds))
    for att, by in table.items():
        print(f"| {att} | {len(by['rank'])} | " + " | ".join(
            f"{np.median(by[k]):.1g} [{max(by[k]):.1g}]" for k in kinds) + " |")


if __name__ == "__main__":  # pragma: no cover
    main()
