"""Algorithm 2: is a suspect model a surrogate stolen through the watermarked API?

The owner loads the original model F_org (white-box), recomputes F_alt on the verification set
with the secret parameters (``--params`` file or TPM-sealed ``--secrets``), queries the
suspect (only its output probabilities are used), and compares the response distributions:
δ_org, δ_alt, η = δ_org / δ_alt, verdict η > τ. Beyond the paper it prints the 1–99% range of
η over half-size subsets of the queries, the subsampling p-value of H0 "η ≤ τ", the number of
queries a 99%-confidence decision needs, and — with ``--calibration results.json`` from
``dynamarks experiment table1`` — p-values against benign models.

Writes verdict.json, jsd.png (per-(label, class) JSD maps), top_class.png and queries.png into
the output folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dynamarks.cli.options import add_backend_options, add_secret_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suspect", required=True, metavar="MODEL.pt", help="suspect checkpoint")
    parser.add_argument("--original", required=True, metavar="MODEL.pt",
                        help="the owner's original model F_org")
    add_secret_options(parser)
    parser.add_argument("--dataset", default=None,
                        help="verification data set (default: the original's, from its metadata)")
    parser.add_argument("--data", metavar="DIR", default=None, help="data folder")
    parser.add_argument("--queries", type=int, default=None,
                        help="use this many test samples (default: the whole test split)")
    add_backend_options(parser, extra=("float",))
    parser.add_argument("--tau", type=float, default=1.0, help="detection threshold (paper: 1)")
    parser.add_argument("--calibration", metavar="results.json", default=None,
                        help="benign η from a table1 run, for p-values")
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("-o", "--out", default="out/verify", help="output folder")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from dynamarks.cli.options import params_from_args
    from dynamarks.host.errors import DynamarksError
    from dynamarks.models import plots
    from dynamarks.models.api import ProtectedAPI
    from dynamarks.models.checkpoint import load_checkpoint
    from dynamarks.models.datasets import load_dataset, subset
    from dynamarks.models.progress import Reporter
    from dynamarks.models.training import predict_proba, set_determinism
    from dynamarks.models.verification import (
        algorithm2,
        bootstrap_eta,
        calibrate,
        queries_needed,
    )

    set_determinism(0)
    rep = Reporter()
    params = params_from_args(args)  # unseal first: a TPM failure leaves nothing half done
    original, meta = load_checkpoint(args.original)
    suspect, smeta = load_checkpoint(args.suspect)
    dataset = args.dataset or meta.get("dataset")
    if not dataset:
        raise DynamarksError("the original's checkpoint names no data set: pass --dataset")
    x, y = load_dataset(dataset, "test", args.data)
    x, y = subset(x, y, count=args.queries, seed=2)
    labels = y.numpy()
    if int(labels.max()) >= params.classes:
        raise DynamarksError("the parameter set has fewer classes than the data set")
    with ProtectedAPI(original, params, args.backend, fallback=True) as api:
        if api.fallback_reason:
            rep.say(f"[yellow]{api.fallback_reason}[/]")
        p = api.clean(x)
        q = api.alter(p)
    s = predict_proba(suspect, x)
    n = params.classes
    v = algorithm2(s, p, q, labels, n, tau=args.tau)
    bs = bootstrap_eta(s, p, q, labels, n, resamples=args.resamples, tau=args.tau)
    qn = queries_needed(s, p, q, labels, n, watermarked=v.detected, tau=args.tau)
    result = {
        "suspect": str(args.suspect), "suspect_sha256": smeta["sha256"],
        "original": str(args.original), "original_sha256": meta["sha256"],
        "dataset": dataset, **v.summary(),
        "suspect_accuracy": float((s.argmax(1) == labels).mean()),
        "eta_subsample_1pct": bs.low, "eta_subsample_99pct": bs.high, "p_boot": bs.p_boot,
        "queries_needed_99pct": qn["needed"],
    }
    if args.calibration:
        try:
            bench = json.loads(Path(args.calibration).read_text())["calibration"]["benign_etas"]
        except (OSError, KeyError, ValueError) as exc:
            raise DynamarksError(f"cannot read benign η from {args.calibration}: {exc}") from None
        result.update(calibrate(bench, args.tau).p_values(v.eta))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "verdict.json").write_text(json.dumps(result, indent=2))
    plots.fig_jsd(np.asarray(v.jsd_org), np.asarray(v.jsd_alt), out / "jsd.png")
    plots.fig_top_class(p, q, s, labels, out / "top_class.png")
    plots.fig_queries({"suspect": qn}, out / "queries.png")

    rep.say(f"suspect {args.suspect} (accuracy {100 * result['suspect_accuracy']:.2f}%) on "
            f"{len(labels)} verification queries of {dataset}:")
    rep.say(f"  δ_org = {v.delta_org:.2f}   δ_alt = {v.delta_alt:.2f}   η = {v.eta:.2f}   "
            f"(η over half-size subsets: {bs.low:.2f}–{bs.high:.2f}, p_boot = {bs.p_boot:.3f})")
    if "p_empirical" in result:
        rep.say(f"  against benign models: p = {result['p_empirical']:.3f} (empirical), "
                f"{result['p_lognormal']:.2g} (log-normal)")
    rep.say(f"  queries needed for a 99% decision: {qn['needed'] or 'more than available'}")
    verdict = "WATERMARK DETECTED" if v.detected else "no watermark detected"
    rep.say(f"[bold]{verdict}[/] (η {'>' if v.detected else '≤'} τ = {args.tau:g}); "
            f"figures and verdict.json in {out}")
    return 0
