"""PNG figures of the experiments and of a verification (matplotlib, Agg backend, no display).

* ``fig_eta_vs`` — Fig. 1 / Fig. 2 of the paper: η (red, left axis, with τ = 1 dashed) and
  δ_org / δ_alt (blue solid / dashed, right axis) against γ or κ;
* ``fig_queries`` — η's 1st–99th percentile band against the number of verification queries;
* ``fig_top_class`` — histograms of the true-class probability for F_org, F_alt and a suspect:
  the watermark made visible (F_alt and a stolen model move mass from ~1.0 to 0.8–1.0);
* ``fig_jsd`` — the per-(label, class) JSD matrices against F_org and F_alt.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dynamarks.models.verification import BINS, TAU  # noqa: E402


def fig_eta_vs(rows: Sequence[dict[str, Any]], key: str, xlabel: str, path: Path,
               title: str) -> None:
    """η and both δ against ``rows[*][key]``."""
    x = [r[key] * (100 if key == "kappa" else 1) for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(x, [r["eta"] for r in rows], "o-", color="tab:red", label="η")
    ax.axhline(TAU, color="grey", ls=":", lw=1, label="τ = 1")
    ax.set_xlabel(xlabel + (" [%]" if key == "kappa" else ""))
    ax.set_ylabel("η = δ_org / δ_alt", color="tab:red")
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    ax2.plot(x, [r["delta_org"] for r in rows], "s-", color="tab:blue", label="δ_org")
    ax2.plot(x, [r["delta_alt"] for r in rows], "s--", color="tab:blue", label="δ_alt")
    ax2.set_ylabel("δ (sum of JSD, bits)", color="tab:blue")
    ax2.set_ylim(bottom=0)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="lower right", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def fig_queries(curves: dict[str, dict[str, Any]], path: Path) -> None:
    """η band (1st–99th percentile over subsets) against the number of verification queries."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for (name, qn), color in zip(curves.items(), ("tab:red", "tab:green", "tab:blue"),
                                 strict=False):
        c = qn["curve"]
        if not c:
            continue
        n = [r["queries"] for r in c]
        ax.fill_between(n, [r["low"] for r in c], [r["high"] for r in c], color=color, alpha=0.25)
        ax.plot(n, [r["median"] for r in c], "o-", color=color, label=name)
    ax.axhline(TAU, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("verification queries")
    ax.set_ylabel("η (median, 1–99% band)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def fig_top_class(p: np.ndarray, q: np.ndarray, s: np.ndarray, y: np.ndarray, path: Path,
                  suspect: str = "suspect") -> None:
    """Histograms (the verification binning) of the true-class probability."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    edges = np.linspace(0, 1, BINS + 1)
    rows = np.arange(len(y))
    for arr, name, color in ((p, "F_org", "tab:blue"), (q, "F_alt", "tab:orange"),
                             (s, suspect, "tab:red")):
        ax.hist(arr[rows, y], bins=edges, histtype="step", lw=1.5, label=name, color=color)
    ax.set_yscale("log")
    ax.set_xlabel("probability of the true class")
    ax.set_ylabel("verification inputs")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def fig_jsd(jsd_org: np.ndarray, jsd_alt: np.ndarray, path: Path) -> None:
    """Side-by-side heat maps of JSD(D_org || D_sm) and JSD(D_alt || D_sm) per (label, class)."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    vmax = max(float(np.max(jsd_org)), float(np.max(jsd_alt)), 1e-9)
    for ax, m, name in ((axes[0], jsd_org, "JSD(D_org ‖ D_sm)"),
                        (axes[1], jsd_alt, "JSD(D_alt ‖ D_sm)")):
        im = ax.imshow(np.asarray(m), vmin=0, vmax=vmax, cmap="viridis")
        ax.set_title(f"{name}: Σ = {np.sum(m):.2f}", fontsize=9)
        ax.set_xlabel("output class j")
        ax.set_ylabel("true label y")
    fig.colorbar(im, ax=axes, shrink=0.8)
    fig.savefig(path, dpi=120)
    plt.close(fig)
