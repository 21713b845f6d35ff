"""Run time of the Table I experiment, per stage (a figure, never pass/fail).

    python bench/bench_table1.py [--profile fast|full] [--threads 2] [--backend reference]
                                 [--epoch-costs] [--data DIR] [-o out/bench-table1]

Runs ``dynamarks experiment table1 --dataset fmnist`` with the given profile on the CPU with
``--threads`` torch threads (default 2, the target machine) and prints the seconds of every
stage and the total. ``--epoch-costs`` also times one training epoch on the 60,000 training
images of each architecture the full profile trains (the paper's CNN and the ResNet-18 at the
profile's width) and prints the full profile's estimated 2-core run time from them — useful
where a full run does not fit in the time at hand. The victim is trained afresh (no cache).
On a shared machine run it when the machine is otherwise idle.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import torch


def epoch_costs(threads: int) -> dict[str, float]:
    """Seconds per epoch over 60,000 images for each architecture of the full profile."""
    from dynamarks.models.experiments import PROFILES
    from dynamarks.models.networks import build
    from dynamarks.models.training import TrainConfig, train

    prof = PROFILES["full"]
    x = torch.rand(6000, 1, 28, 28)
    y = torch.randint(0, 10, (6000,))
    out = {}
    for arch, kw in (("fmnist_cnn", {}), ("resnet18", {"width": prof.resnet_width})):
        model = build(arch, 1, 10, 28, seed=0, **kw)
        t0 = time.perf_counter()
        train(model, x, y, TrainConfig(epochs=1, batch_size=prof.batch_size))
        out[arch] = (time.perf_counter() - t0) * 10  # 6,000 → 60,000 images
    return out


def estimate_full(costs: dict[str, float]) -> float:
    """Training-dominated estimate of the full profile's time from per-epoch costs."""
    from dynamarks.models.experiments import PROFILES

    p = PROFILES["full"]
    cnn_epochs_of_60k = p.epochs * (
        1  # victim
        + 3  # surrogate γ=1 (unit), surrogate on float Algorithm 1, averaging attack
        + sum(g for g in p.gammas if g != 1.0)  # η vs γ
        + 5  # CopycatCNN, round 2, round 1, top-3, hard labels
        + sum(f for f, _ in p.benign)  # benign models
        + 1  # distilled from unprotected F_org
    )
    return cnn_epochs_of_60k * costs["fmnist_cnn"] + p.resnet_epochs * costs["resnet18"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="fast", choices=["fast", "full"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backend", default="reference")
    ap.add_argument("--epoch-costs", action="store_true")
    ap.add_argument("--data", default=None, help="Fashion-MNIST folder (default: Debian's)")
    ap.add_argument("-o", "--out", default=None)
    args = ap.parse_args()

    os.environ["DYNAMARKS_DEVICE"] = "cpu"
    from dynamarks.models.experiments import run_table1
    from dynamarks.models.progress import Reporter
    from dynamarks.models.training import set_threads

    set_threads(args.threads)
    out = args.out or tempfile.mkdtemp(prefix="bench-table1-")
    res = run_table1("fmnist", out, backend=args.backend, profile=args.profile,
                     data_root=args.data, reporter=Reporter(quiet=True), use_cache=False)
    print(f"Table I ({args.profile} profile), fmnist, backend {res['setup']['backend']}, "
          f"{args.threads} torch threads, torch {torch.__version__}, {os.cpu_count()} CPUs")
    print(f"{'stage':<40} {'seconds':>9}")
    for stage, secs in res["times_s"].items():
        print(f"{stage:<40} {secs:9.1f}")
    print(f"{'total':<40} {res['total_s']:9.1f}")
    t = res["table1"]
    print(f"acc F_org {t['acc_org']:.4f} F_alt {t['acc_alt']:.4f}; η averaging "
          f"{t['averaging']['eta']:.2f}, pruning 10% {t['pruning10']['eta']:.2f}, "
          f"ResNet-18 {t['diff_arch']['eta']:.2f}; benign {t['benign_eta']:.2f}")
    if args.epoch_costs:
        costs = epoch_costs(args.threads)
        for arch, secs in costs.items():
            print(f"one epoch of 60,000 images, {arch:<12} {secs:9.1f} s")
        print(f"estimated full profile (training only)   {estimate_full(costs):9.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
