"""The end-to-end story that ``make demo`` tells (``dynamarks demo``), in about 3–6 minutes
on two cores once set-up is done.

1. **A TPM.** A software TPM 2.0 (``swtpm``) starts on a free loopback port with its state in
   the output folder.
2. **Secrets.** The owner generates a parameter set (paper defaults, key and IV from the OS
   CSPRNG), seals it with the TPM (``dynamarks.host.sealing``: an AES-256-GCM blob under a
   TPM-sealed key) and forgets it; the device is configured from the *unsealed* copy.
3. **The victim.** The paper's Fashion-MNIST CNN, trained on the 60,000 training images (or
   taken from the cache ``~/.cache/dynamarks``), is deployed behind the watermark unit.
4. **The device.** The unit runs on the ``rtl`` backend (the Amaranth design compiled by
   Verilator, the first time in about a minute); if that is not available the story says so
   and uses the bit-exact reference model.
5. **The attacker** queries the prediction API with half of the training images (γ = 0.5),
   records the probability answers and trains a surrogate on them (ART KnockoffNets).
6. **An honest competitor** trains a model of her own on real labels (the paper's benign
   model: 50% of the training set).
7. **The owner** runs Algorithm 2 on both with the unsealed secrets: δ_org, δ_alt, η, the
   verdict, the spread of η over half-size subsets of the queries, and how many verification
   queries a 99%-confidence decision needs.
8. **Report**: ``story.md``, ``story.json`` and figures in the output folder.

Every long step shows a progress bar. A step that cannot run here (no swtpm, no Verilator)
is replaced by the next best thing and the story says so.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from dynamarks.host.errors import DynamarksError
from dynamarks.host.params import Params, save_params
from dynamarks.host.presets import get_preset, keygen_preset
from dynamarks.models import plots
from dynamarks.models.api import ProtectedAPI
from dynamarks.models.checkpoint import save_checkpoint
from dynamarks.models.datasets import subset
from dynamarks.models.experiments import Data, Lab, Profile, altered_mask
from dynamarks.models.progress import Reporter
from dynamarks.models.training import predict_proba, set_determinism
from dynamarks.models.verification import (
    algorithm2,
    bootstrap_eta,
    favoured_indices,
    keyed_test,
    keyed_window,
    queries_needed,
)

DEMO = Profile(  # same victim training as the full table1 profile: they share the cache
    "demo", None, None, epochs=8, batch_size=128, resnet_width=16, resnet_epochs=2,
    gammas=(0.5,), kappas=(0.1,), benign=((0.5, 101),), finetune_count=0, finetune_epochs=0,
    resamples=100, extras=False,
)
ATTACK_GAMMA = 0.5


@contextlib.contextmanager
def software_tpm(state_dir: Path) -> Iterator[str]:
    """A software TPM (:class:`dynamarks.host.tpm.SoftwareTpm`: ``swtpm`` on a free loopback
    port pair) with its state in ``state_dir``; yields its TCTI string, stops it on exit.
    Raises a DynamarksError when swtpm is missing or does not come up."""
    from dynamarks.host.tpm import SoftwareTpm

    with SoftwareTpm(state_dir) as tpm:
        yield tpm.tcti


def _secrets(out: Path, rep: Reporter, stack: contextlib.ExitStack) -> tuple[Params, str]:
    """Chapters 1–2: start a TPM, seal fresh secrets, unseal them for the device."""
    rep.say("[bold]1. the TPM[/]")
    try:
        tcti = stack.enter_context(software_tpm(out / "swtpm-state"))
        from dynamarks.host.sealing import load_secret_params, seal_params

        rep.say(f"  software TPM 2.0 running ({tcti})")
    except (DynamarksError, ImportError) as exc:
        rep.say(f"  [yellow]no TPM here ({exc}): the secrets stay in a 0600 file[/]")
        params = keygen_preset("robust", 10)
        save_params(params, out / "params.dmk")
        return params, f"params file (no TPM: {exc})"
    rep.say("[bold]2. secrets[/]")
    params = keygen_preset("robust", 10)
    sealed = out / "secrets.sealed"
    sealed.unlink(missing_ok=True)
    seal_params(params, sealed, tcti=tcti)
    blob = sealed.read_bytes()
    leaked = params.encode()[8:-4] in blob or params.key in blob
    pre = get_preset("robust")
    rep.say(f"  parameter set generated (preset robust: α={pre.alpha:g}, β={pre.beta:g}, "
            f"a={pre.a:g}, b={pre.b:g}, V_i with {pre.concentration:g} on one other class; "
            f"Trivium key and IV from the OS CSPRNG) and sealed → {sealed} "
            f"({len(blob)} bytes, plaintext in file: {'YES' if leaked else 'no'})")
    del params
    params = load_secret_params(sealed, tcti=tcti)
    rep.say("  unsealed into memory only, to configure the device")
    return params, f"sealed in swtpm ({sealed.name})"


def run_story(
    out_dir: str | Path = "out/demo",
    console: Console | None = None,
    *,
    backend: str = "rtl",
    data_root: str | None = None,
    profile: Profile = DEMO,
    gamma: float = ATTACK_GAMMA,
    seed: int = 0,
    attacker_http: bool = False,
) -> int:
    """Tell the story (module doc) and write its report into ``out_dir``; returns 0.
    ``attacker_http``: the attacker queries the API served over loopback HTTP."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    rep = Reporter(console)
    rep.say(Panel.fit("DynaMarks in hardware: a model behind a watermark unit, an attacker who "
                      "steals it through the prediction API, and the owner who proves it.",
                      title="make demo"))
    set_determinism(seed)
    story: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        with rep.stage("TPM and secrets"):
            params, story["secrets"] = _secrets(out, rep, stack)

        rep.say("[bold]3. the victim[/] (the paper's Fashion-MNIST CNN)")
        with rep.stage("data"):
            data = Data.load("fmnist", profile, data_root)
        lab = Lab(data, profile, rep, out, seed)
        with rep.stage("victim"):
            victim = lab.get_victim()
        save_checkpoint(out / "checkpoints" / "victim.pt", victim, dataset="fmnist", seed=seed,
                        role="victim")

        rep.say(f"[bold]4. the device[/]: watermark unit on the {backend} backend"
                + (" (the first time, Verilator compiles the design: about a minute)"
                   if backend == "rtl" else ""))
        with rep.stage("device"):
            api = stack.enter_context(ProtectedAPI(victim, params, backend, fallback=True))
            owner = stack.enter_context(ProtectedAPI(victim, params, api.backend, fallback=True))
        if api.fallback_reason:
            rep.say(f"  [yellow]{api.fallback_reason}[/]")
        else:
            rep.say(f"  configured with the unsealed secrets; {api.backend} backend ready")
        lab.params = params
        with rep.stage("fidelity"):
            lab.p_test = owner.clean(data.x_test)
            lab.q_test = owner.alter(lab.p_test)
        y = data.y_test.numpy()
        acc_org = float((lab.p_test.argmax(1) == y).mean())
        acc_alt = float((lab.q_test.argmax(1) == y).mean())
        altered = float(np.mean(altered_mask(lab.p_test, lab.q_test)))
        rep.say(f"  fidelity: accuracy {100 * acc_org:.2f}% without, {100 * acc_alt:.2f}% with "
                f"the unit; {100 * altered:.1f}% of answers altered, no top-1 class changed: "
                f"{bool((lab.p_test.argmax(1) == lab.q_test.argmax(1)).all())}")
        story.update(backend=api.backend, fallback=api.fallback_reason, acc_org=acc_org,
                     acc_alt=acc_alt, altered_fraction=altered)

        rep.say(f"[bold]5. the attacker[/] queries the API with {gamma:.0%} of the training "
                "images and trains a surrogate on the probability answers")
        with rep.stage("extraction"):
            if attacker_http:  # the deployed path: OIP over HTTP (models.server_loopback)
                from dynamarks.models.server_loopback import served_api

                api = stack.enter_context(served_api(api))
            stolen = lab.steal("stolen surrogate", api, gamma=gamma, seed=1)
        frac, bseed = profile.benign[0]
        rep.say(f"[bold]6. an honest competitor[/] trains her own model on {frac:.0%} of the "
                "real labels")
        with rep.stage("benign model"):
            xb, yb = subset(data.x_train, data.y_train, fraction=frac, seed=bseed)
            benign = lab.train_labels("training the benign model", xb, yb, bseed)
            save_checkpoint(out / "checkpoints" / "benign.pt", benign, dataset="fmnist",
                            seed=bseed, role="benign")

        rep.say("[bold]7. the owner verifies[/] (keyed test at α = 0.01 and Algorithm 2 with "
                "τ = 1, whole test set as V)")
        with rep.stage("verification"):
            rows = {}
            fav, win = favoured_indices(params), keyed_window(params)
            for name, model in (("stolen surrogate", stolen), ("benign model", benign)):
                s = predict_proba(model, data.x_test)
                kt = keyed_test(s, lab.p_test, fav, window=win)
                v = algorithm2(s, lab.p_test, lab.q_test, y, 10)
                bs = bootstrap_eta(s, lab.p_test, lab.q_test, y, 10, resamples=profile.resamples)
                qn = queries_needed(s, lab.p_test, lab.q_test, y, 10, watermarked=v.detected,
                                    resamples=50)
                rows[name] = {**v.summary(), "accuracy": float((s.argmax(1) == y).mean()),
                              "p_value": kt.p_value, "keyed_detected": kt.p_value <= 0.01,
                              "eta_1pct": bs.low, "eta_99pct": bs.high, "p_boot": bs.p_boot,
                              "queries_needed_99pct": qn["needed"], "curve": qn["curve"],
                              "jsd_org": v.jsd_org, "jsd_alt": v.jsd_alt, "probs": s}
    _print_verdicts(rep, rows)
    story["models"] = {k: {kk: vv for kk, vv in r.items() if kk not in ("probs", "jsd_org",
                                                                          "jsd_alt")}
                       for k, r in rows.items()}
    story["times_s"] = dict(rep.times)
    story["total_s"] = time.perf_counter() - t0
    st = rows["stolen surrogate"]
    plots.fig_top_class(lab.p_test, lab.q_test, st["probs"], y, out / "top_class.png",
                        suspect="stolen surrogate")
    plots.fig_jsd(np.asarray(st["jsd_org"]), np.asarray(st["jsd_alt"]), out / "jsd_stolen.png")
    plots.fig_queries({k: {"curve": r["curve"]} for k, r in rows.items()}, out / "queries.png")
    (out / "story.json").write_text(json.dumps(story, indent=2))
    (out / "story.md").write_text(_report(story))
    rep.say(f"[bold]8. report[/] → {out / 'story.md'} (figures top_class.png, jsd_stolen.png, "
            f"queries.png); the whole story took {story['total_s']:.0f} s")
    return 0


def _print_verdicts(rep: Reporter, rows: dict[str, dict[str, Any]]) -> None:
    t = Table(title="Verdicts: keyed test (exact p) and Algorithm 2 (η)")
    for col in ("model", "accuracy", "keyed p", "δ_org", "δ_alt", "η", "η 1–99% (half V)",
                "p_boot", "queries for 99%", "verdict (η)"):
        t.add_column(col, justify="right")
    for name, r in rows.items():
        t.add_row(name, f"{100 * r['accuracy']:.2f}%",
                  f"[bold]{r['p_value']:.2g}[/]" + (" ✔" if r["keyed_detected"] else ""),
                  f"{r['delta_org']:.2f}",
                  f"{r['delta_alt']:.2f}", f"[bold]{r['eta']:.2f}[/]",
                  f"{r['eta_1pct']:.2f}–{r['eta_99pct']:.2f}", f"{r['p_boot']:.3f}",
                  str(r["queries_needed_99pct"] or "> 5000"),
                  "[red]WATERMARK DETECTED[/]" if r["detected"] else "[green]clean[/]")
    rep.say(t)


def _report(story: dict[str, Any]) -> str:
    lines = [
        "# DynaMarks demo — the story", "",
        f"Secrets: {story['secrets']}. Device: `{story['backend']}` backend"
        + (f" ({story['fallback']})" if story["fallback"] else "") + ".",
        f"Fidelity: accuracy {100 * story['acc_org']:.2f}% without the unit, "
        f"{100 * story['acc_alt']:.2f}% with it; {100 * story['altered_fraction']:.1f}% of "
        "answers altered.", "",
        "| model | accuracy | keyed p | δ_org | δ_alt | η | η 1–99% (half V) | p_boot | "
        "queries for 99% | verdict (η) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in story["models"].items():
        lines.append(
            f"| {name} | {100 * r['accuracy']:.2f}% | {r['p_value']:.2g} | {r['delta_org']:.2f} | "
            f"{r['delta_alt']:.2f} | {r['eta']:.2f} | {r['eta_1pct']:.2f}–{r['eta_99pct']:.2f} "
            f"| {r['p_boot']:.3f} | {r['queries_needed_99pct'] or '> 5000'} | "
            f"{'detected' if r['detected'] else 'not detected'} |")
    lines += ["", "![top class](top_class.png) ![JSD](jsd_stolen.png) ![queries](queries.png)",
              "", "| step | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in story["times_s"].items()]
    lines += [f"| **total** | {story['total_s']:.1f} |", ""]
    return "\n".join(lines)
