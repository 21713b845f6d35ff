"""Is a suspect model a surrogate stolen through the watermarked API? The owner's verdict.

    dynamarks verify --suspect MODEL --original VICTIM.pt (--params P | --secrets S)
                     [--queries K] [--json OUT.json] [-o FOLDER]
    dynamarks verify export-queries --original VICTIM.pt [--queries K] -o inputs.npy

MODEL is a TorchScript file, an ONNX file, a project checkpoint (all through
``dynamarks.models.model_file.open_model``), a ``.npy`` of the suspect's probability answers
to the verification inputs in order (``export-queries`` writes those inputs, float32
[K, C, H, W]), or an ``http(s)://`` Open Inference Protocol endpoint. The owner never needs
the suspect's weights or code: only its answers to the verification inputs are used.

Two tests, both on the same answers (docs/VERIFICATION.md):

* **keyed test** — exact p-value of H0 "the suspect is independent of the key" from the ranks
  of the favoured indices of V_i, each class scored by how many places the suspect moves it up
  among the non-top classes against F_org (the position change); ``detected`` = p ≤
  ``--alpha`` (default 0.01). It has power only with a key whose V_i carries signal
  (``keygen --preset robust``).
* **Algorithm 2** (the paper) — δ_org, δ_alt, η; ``eta_detected`` = η > τ. Beside it, the 1–99%
  range of η over half-size subsets of the queries, the subsampling p_boot, and — with
  ``--calibration results.json`` from ``dynamarks experiment table1`` — p-values against
  benign models.

Writes the JSON verdict to ``--json`` and, with ``-o FOLDER``, verdict.json and the figures
(jsd.png, top_class.png, queries.png); with neither, to out/verify/. Nothing is written when
an input is wrong.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dynamarks.cli.options import add_backend_options, add_secret_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["export-queries"], default=None,
                        help="export-queries: write the verification inputs to -o FILE.npy")
    parser.add_argument("--suspect", metavar="MODEL",
                        help="suspect: .pt/.ts (checkpoint or TorchScript), .onnx, answers .npy, "
                        "or http(s)://host:port/v2/models/NAME")
    parser.add_argument("--original", required=True, metavar="MODEL.pt",
                        help="the owner's original model F_org (project checkpoint)")
    add_secret_options(parser)
    parser.add_argument("--dataset", default=None,
                        help="verification data set (default: the original's, from its metadata)")
    parser.add_argument("--data", metavar="DIR", default=None, help="data folder")
    parser.add_argument("--queries", type=int, default=None,
                        help="use this many test samples (default: the whole test split)")
    add_backend_options(parser, extra=("float",))
    parser.add_argument("--alpha", type=float, default=0.01,
                        help="level of the keyed test (default 0.01)")
    parser.add_argument("--tau", type=float, default=1.0, help="η threshold (paper: 1)")
    parser.add_argument("--keyed-statistic", default="position-t",
                        choices=["position-t", "position", "share"],
                        help="the keyed test's statistic (docs/VERIFICATION.md; default "
                        "position-t, the others are the earlier rank-sum tests)")
    parser.add_argument("--calibration", metavar="results.json", default=None,
                        help="benign η from a table1 run, for p-values of η")
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--json", metavar="OUT.json", type=Path, default=None,
                        help="write the verdict here")
    parser.add_argument("-o", "--out", default=None,
                        help="folder for verdict.json and figures (export-queries: the .npy)")


def _verification_set(args: argparse.Namespace, meta: dict):
    from dynamarks.host.errors import DynamarksError
    from dynamarks.models.datasets import load_dataset, subset

    dataset = args.dataset or meta.get("dataset")
    if not dataset:
        raise DynamarksError("the original's checkpoint names no data set: pass --dataset")
    if args.queries is not None and args.queries < 1:
        raise DynamarksError("--queries must be at least 1")
    x, y = load_dataset(dataset, "test", args.data)
    x, y = subset(x, y, count=args.queries, seed=2)
    return dataset, x, y


def _suspect_answers(spec: str, x, classes: int):
    """The suspect's probability rows for the verification inputs ``x`` (float64 [K, N])."""
    import numpy as np

    from dynamarks.host.errors import DynamarksError

    if spec.startswith(("http://", "https://")):
        from dynamarks.host.oip_client import OipClient

        s = OipClient(spec).infer(x.numpy())
        ident = spec
    elif spec.endswith(".npy"):
        try:
            s = np.load(spec, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DynamarksError(f"cannot read suspect answers {spec}: {exc}") from None
        ident = spec
    else:
        from dynamarks.models.model_file import open_model

        model = open_model(spec)
        s = model.predict_proba(x.numpy())
        ident = model.meta.get("sha256", spec) if isinstance(model.meta, dict) else spec
    s = np.asarray(s, dtype=np.float64)
    if s.shape != (len(x), classes):
        raise DynamarksError(
            f"suspect answers have shape {s.shape}; expected {(len(x), classes)} (one "
            "probability row per verification input, in the order export-queries wrote them)"
        )
    if not np.isfinite(s).all() or (s < 0).any():
        raise DynamarksError("suspect answers must be finite, non-negative probabilities")
    return s / s.sum(axis=1, keepdims=True), ident


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from dynamarks.host.errors import DynamarksError
    from dynamarks.models.checkpoint import load_checkpoint

    if args.action == "export-queries":
        if not args.out or not args.out.endswith(".npy"):
            raise DynamarksError("export-queries needs -o FILE.npy")
        from dynamarks.host.atomic import atomic_output, check_writable

        check_writable(args.out)
        _, meta = load_checkpoint(args.original)
        _, x, _ = _verification_set(args, meta)
        with atomic_output(args.out) as tmp, open(tmp, "wb") as f:
            np.save(f, x.numpy().astype(np.float32))
        print(f"wrote {args.out}: {len(x)} verification inputs of shape {tuple(x.shape[1:])}")
        return 0
    if not args.suspect:
        raise DynamarksError("give --suspect MODEL (or the action export-queries)")

    from dynamarks.cli.options import backend_opts_from_args, params_from_args
    from dynamarks.models import plots
    from dynamarks.models.api import ProtectedAPI
    from dynamarks.models.progress import Reporter
    from dynamarks.models.training import set_determinism
    from dynamarks.models.verification import (
        algorithm2,
        bootstrap_eta,
        calibrate,
        favoured_indices,
        keyed_queries_needed,
        keyed_test,
        keyed_window,
        queries_needed,
    )

    set_determinism(0)
    rep = Reporter()
    backend_opts = backend_opts_from_args(args)  # refuse bad options before the TPM is asked
    params = params_from_args(args)  # unseal first: a TPM failure leaves nothing half done
    original, meta = load_checkpoint(args.original)
    dataset, x, y = _verification_set(args, meta)
    labels = y.numpy()
    if int(labels.max()) >= params.classes:
        raise DynamarksError("the parameter set has fewer classes than the data set")
    bench = None
    if args.calibration:
        try:
            bench = json.loads(Path(args.calibration).read_text())["calibration"]["benign_etas"]
        except (OSError, KeyError, ValueError) as exc:
            raise DynamarksError(f"cannot read benign η from {args.calibration}: {exc}") from None
    s, ident = _suspect_answers(args.suspect, x, params.classes)
    with ProtectedAPI(original, params, args.backend, fallback=True,
                      backend_opts=backend_opts) as api:
        if api.fallback_reason:
            rep.say(f"[yellow]{api.fallback_reason}[/]")
        p = api.clean(x)
        q = api.alter(p)
    n = params.classes
    fav, win = favoured_indices(params), keyed_window(params)
    stat = args.keyed_statistic
    k = keyed_test(s, p, fav, window=win, statistic=stat)
    kq = keyed_queries_needed(s, p, fav, levels=(0.05, 0.01), repeats=20, window=win,
                              statistic=stat)
    v = algorithm2(s, p, q, labels, n, tau=args.tau)
    bs = bootstrap_eta(s, p, q, labels, n, resamples=args.resamples, tau=args.tau)
    qn = queries_needed(s, p, q, labels, n, watermarked=v.detected, tau=args.tau)
    result = {
        "suspect": str(args.suspect), "suspect_id": ident,
        "original": str(args.original), "original_sha256": meta["sha256"], "dataset": dataset,
        "queries": len(labels),
        "p_value": k.p_value, "alpha": args.alpha, "detected": bool(k.p_value <= args.alpha),
        "keyed": {**k.summary(), "statistic_name": stat},
        "keyed_queries_needed": kq["needed"],
        "eta": v.eta, "delta_org": v.delta_org, "delta_alt": v.delta_alt, "tau": args.tau,
        "eta_detected": v.detected,
        "suspect_accuracy": float((s.argmax(1) == labels).mean()),
        "eta_subsample_1pct": bs.low, "eta_subsample_99pct": bs.high, "p_boot": bs.p_boot,
        "eta_queries_needed_99pct": qn["needed"],
    }
    if bench is not None:
        result.update(calibrate(bench, args.tau).p_values(v.eta))

    text = json.dumps(result, indent=2)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    out = Path(args.out) if args.out else (None if args.json else Path("out/verify"))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "verdict.json").write_text(text)
        plots.fig_jsd(np.asarray(v.jsd_org), np.asarray(v.jsd_alt), out / "jsd.png")
        plots.fig_top_class(p, q, s, labels, out / "top_class.png")
        plots.fig_queries({"suspect": qn}, out / "queries.png")

    rep.say(f"suspect {args.suspect} (accuracy {100 * result['suspect_accuracy']:.2f}%) on "
            f"{len(labels)} verification queries of {dataset}:")
    kn = kq["needed"]
    rep.say(f"  keyed test ({stat}): p = {k.p_value:.3g} (T = {k.statistic:.4g} over "
            f"{len(k.classes_used)} classes; smallest possible p {k.min_p:.2g}); queries for "
            f"p ≤ 0.05: {kn['0.05'] or 'more than available'}, p ≤ 0.01: "
            f"{kn['0.01'] or 'more than available'}")
    rep.say(f"  Algorithm 2: δ_org = {v.delta_org:.2f}   δ_alt = {v.delta_alt:.2f}   "
            f"η = {v.eta:.2f} (η over half-size subsets: {bs.low:.2f}–{bs.high:.2f}, "
            f"p_boot = {bs.p_boot:.3f}) → {'η > τ' if v.detected else 'η ≤ τ'} = {args.tau:g}")
    if "p_empirical" in result:
        rep.say(f"  η against benign models: p = {result['p_empirical']:.3f} (empirical), "
                f"{result['p_lognormal']:.2g} (log-normal)")
    verdict = "WATERMARK DETECTED" if result["detected"] else "no watermark detected"
    rep.say(f"[bold]{verdict}[/] by the keyed test at α = {args.alpha:g}; "
            f"{'η also detects it' if v.detected else 'η does not'}"
            + (f"; verdict in {args.json}" if args.json else "")
            + (f"; figures in {out}" if out else ""))
    return 0
