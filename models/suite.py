"""The removal-attack suite, the benign-model calibration and the preset sweep, as jobs.

Every trained model is the result of a **job**: a small frozen description (what to train,
from what, with which seeds) whose SHA-256 over (profile, job) names its checkpoint in the
cache (``$DYNAMARKS_CACHE/suite/<hash>.pt``). A rerun finds finished models there and only
evaluates them, so an interrupted sweep resumes. Jobs run one after another in this process
(:func:`run_jobs` without Ray: the path the tests take) or as Ray tasks (``ray_address``:
``"local"`` starts a local Ray with ``workers`` CPUs, anything else connects to that cluster);
either way one progress bar counts finished jobs.

The attacker knows the algorithm, not the key. Attacks (``ATTACKS``), all starting from the
protected API's probability answers on the attacker's pool (``pool_count`` training images,
never the verification set):

* ``stolen`` — the victim's architecture trained on the answers (soft cross-entropy);
* ``ft{n}`` / ``ft{n}-lr{lr}`` — the stolen model fine-tuned on n true labels (attacker's own
  labelled data) for ``ft_epochs`` epochs; ``prune10`` — 10% global magnitude pruning (Table
  I); ``prune-ft`` — 30% pruning, then fine-tuning on 1,000 labels;
* ``distill-T4`` — a fresh student distilled from the stolen model at temperature 4;
* ``sharpen`` — trained on answers raised to the power 3 and renormalised; ``smooth`` — on
  answers mixed 0.9/0.1 with the uniform distribution (label smoothing); ``top3`` — on the three
  largest entries renormalised; ``average`` — on the mean of ``repeats`` queries per input;
* ``resnet18`` / ``vgg11`` — other surrogate architectures on the answers; ``resnet18-2x`` —
  the ResNet-18 thief trained as many epochs again (Adam restarted);
* ``hard`` — hard-label extraction (argmax only) at the same query budget.

Benign models (``BENIGN``) never see the protected API: true labels with other seeds and data
fractions, other architectures, distilled from the *unprotected* F_org, and stolen from the
unprotected F_org then fine-tuned. Each is evaluated against several keys of both presets
(their η and keyed p) — the models do not depend on the key, so one model serves every key.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dynamarks.host.params import Params
from dynamarks.host.presets import keygen_preset
from dynamarks.models.api import ProtectedAPI
from dynamarks.models.attacks import AnswerTransform, prune_global
from dynamarks.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from dynamarks.models.datasets import dataset_info, load_dataset, subset
from dynamarks.models.networks import build
from dynamarks.models.training import TrainConfig, predict_proba, set_threads, train
from dynamarks.models.verification import (
    algorithm2,
    favoured_indices,
    keyed_queries_needed,
    keyed_test,
    keyed_window,
)


@dataclass(frozen=True)
class SuiteProfile:
    """Sizes of one suite run (see docs/results for which figures came from which)."""

    name: str
    victim_count: int | None  # training images of F_org (None: all)
    pool_count: int  # the attacker's query pool (from the training split)
    test_count: int | None  # verification queries (None: the whole test split)
    epochs: int  # the victim's
    attack_epochs: int = 0  # surrogates and benign models (0: same as the victim's)
    ft_epochs: int = 3
    batch_size: int = 128
    lr: float = 1e-3
    arch_width: int = 8  # ResNet-18 / VGG-11 width
    victim_arch: str | None = None  # None: the data set's (the paper's CNN); "mlp" for tests
    repeats: int = 10  # averaging attack
    backend: str = "reference"


SUITE_PROFILES = {
    "tiny": SuiteProfile("tiny", None, 400, None, epochs=8, ft_epochs=1, batch_size=64,
                         lr=3e-3, arch_width=4, repeats=3, victim_arch="mlp"),
    "small": SuiteProfile("small", 20000, 5000, None, epochs=3, attack_epochs=2),
    "full": SuiteProfile("full", None, 30000, None, epochs=8, arch_width=16, repeats=30),
}


@dataclass(frozen=True)
class Job:
    """One model to obtain: ``attack`` against the API of (``preset``, ``key_seed``), or a
    benign recipe when ``preset`` is ``"none"``; ``seed`` seeds its training."""

    attack: str
    preset: str = "none"
    key_seed: int = 0
    seed: int = 1

    @property
    def name(self) -> str:
        if self.preset == "none":
            return f"{self.attack} s{self.seed}"
        seed = "" if self.seed == 1 else f" s{self.seed}"
        return f"{self.attack} [{self.preset} k{self.key_seed}{seed}]"


def cache_root() -> Path:
    return Path(os.environ.get("DYNAMARKS_CACHE", Path.home() / ".cache" / "dynamarks")) / "suite"


def job_hash(profile: SuiteProfile, job: Job, dataset: str) -> str:
    """Content key of a job's model: the job, the data set and the profile fields it depends
    on (the victim only on its own training; the suite name is a label, not content)."""
    prof = {k: v for k, v in asdict(profile).items()
            if k != "name" and not (k == "victim_arch" and v is None)}  # keep old keys valid
    if job.attack == "victim":
        prof = {k: prof[k] for k in ("victim_count", "epochs", "batch_size", "lr")}
    extra: Any = None
    if job.preset != "none":  # the preset's values, not just its name, shape the model
        from dynamarks.host.presets import get_preset

        extra = asdict(get_preset(job.preset))
    blob = json.dumps([prof, asdict(job), dataset] + ([extra] if extra else []),
                      sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


@dataclass
class Context:
    """Data, victim and APIs of one suite run (built once per process)."""

    dataset: str
    profile: SuiteProfile
    data_root: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict)

    # ---- data ---------------------------------------------------------------------------
    def _data(self) -> dict[str, torch.Tensor]:
        if "data" not in self._cache:
            info = dataset_info(self.dataset)
            x, y = load_dataset(info.name, "train", self.data_root)
            xt, yt = load_dataset(info.name, "test", self.data_root)
            xv, yv = subset(x, y, count=self.profile.victim_count, seed=1)
            # the attacker's pool and labelled sets: other seeds of the same split
            xp, yp = subset(x, y, count=self.profile.pool_count, seed=5)
            xt, yt = subset(xt, yt, count=self.profile.test_count, seed=2)
            self._cache["data"] = {"xv": xv, "yv": yv, "xp": xp, "yp": yp, "x": x, "y": y,
                                   "xt": xt, "yt": yt}
        return self._cache["data"]

    def labelled(self, n: int, seed: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
        d = self._data()
        return subset(d["x"], d["y"], count=n, seed=seed)

    @property
    def info(self):
        return dataset_info(self.dataset)

    def new_model(self, arch: str | None, seed: int) -> nn.Module:
        info = self.info
        arch = arch or self.profile.victim_arch or info.victim_arch
        kw = {"width": self.profile.arch_width} if arch in ("resnet18", "vgg11") else {}
        if arch == "mlp" and self.profile.victim_arch == "mlp":
            kw = {"hidden": 64}
        return build(arch, info.channels, info.classes, info.image_size, seed=seed, **kw)

    def cfg(self, seed: int, epochs: int | None = None, lr: float | None = None) -> TrainConfig:
        """Training of surrogates and benign models (``attack_epochs``) unless ``epochs``."""
        p = self.profile
        return TrainConfig(epochs=epochs or p.attack_epochs or p.epochs, batch_size=p.batch_size,
                           lr=lr or p.lr, seed=seed)

    # ---- victim and APIs ------------------------------------------------------------------
    def victim(self) -> nn.Module:
        if "victim" not in self._cache:
            d = self._data()
            self._cache["victim"] = self.cached(
                "victim", lambda: train(self.new_model(None, 0), d["xv"], d["yv"],
                                        self.cfg(0, self.profile.epochs)))
        return self._cache["victim"]

    def params(self, preset: str, key_seed: int) -> Params:
        return keygen_preset(preset, self.info.classes, seed=1000 + key_seed)

    def answers(self, preset: str, key_seed: int, averaged: bool = False) -> np.ndarray:
        """The protected API's answers on the attacker's pool (or F_org's for "none")."""
        k = ("ans", preset, key_seed, averaged)
        if k not in self._cache:
            d = self._data()
            if preset == "none":
                self._cache[k] = predict_proba(self.victim(), d["xp"])
            else:
                with ProtectedAPI(self.victim(), self.params(preset, key_seed),
                                  self.profile.backend, seed=key_seed) as api:
                    self._cache[k] = (api.query_averaged(d["xp"], self.profile.repeats)
                                      if averaged else api.query(d["xp"]))
        return self._cache[k]

    def owner_view(self, preset: str, key_seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(p, q): F_org and F_alt on the verification set for this key."""
        k = ("owner", preset, key_seed)
        if k not in self._cache:
            p = self.test_proba(self.victim())
            with ProtectedAPI(self.victim(), self.params(preset, key_seed), self.profile.backend,
                              seed=10_000 + key_seed) as api:
                self._cache[k] = (p, api.alter(p))
        return self._cache[k]

    def test_proba(self, model: nn.Module) -> np.ndarray:
        return predict_proba(model, self._data()["xt"])

    # ---- content-addressed model cache --------------------------------------------------
    def cached(self, what: str | Job, make: Callable[[], nn.Module]) -> nn.Module:
        job = what if isinstance(what, Job) else Job(what)
        path = cache_root() / f"{job_hash(self.profile, job, self.dataset)}.pt"
        if path.is_file():
            try:
                return load_checkpoint(path)[0]
            except CheckpointError:
                pass
        model = make()
        save_checkpoint(path, model, job=asdict(job), profile=self.profile.name,
                        dataset=self.dataset)
        return model


def _soft(ctx: Context, targets: np.ndarray, seed: int, arch: str | None = None,
          epochs: int | None = None) -> nn.Module:
    d = ctx._data()
    t = torch.from_numpy(np.asarray(targets, dtype=np.float32))
    return train(ctx.new_model(arch, seed), d["xp"], t, ctx.cfg(seed, epochs))


def _stolen(ctx: Context, job: Job) -> nn.Module:
    """The surrogate every other attack of ``job`` starts from (seeded by ``job.seed``)."""
    base = Job("stolen", job.preset, job.key_seed, job.seed)
    return ctx.cached(base, lambda: _soft(ctx, ctx.answers(job.preset, job.key_seed), job.seed))


def _finetune(n: int, lr: float | None = None, prune: float = 0.0) -> Callable:
    def make(ctx: Context, job: Job) -> nn.Module:
        base = prune_global(_stolen(ctx, job), prune) if prune else copy.deepcopy(_stolen(ctx, job))
        x, y = ctx.labelled(n, seed=9)
        return train(base, x, y, ctx.cfg(job.seed + 20, ctx.profile.ft_epochs, lr))
    return make


def _transformed(fn: Callable[[np.ndarray], np.ndarray], arch: str | None = None) -> Callable:
    def make(ctx: Context, job: Job) -> nn.Module:
        return _soft(ctx, fn(ctx.answers(job.preset, job.key_seed)), job.seed + 2, arch)
    return make


def _longer(attack: str) -> Callable:
    """``attack``'s (cached) model trained for as many epochs again on the same answers
    (Adam restarted): the thief who trains twice as long."""
    def make(ctx: Context, job: Job) -> nn.Module:
        base = Job(attack, job.preset, job.key_seed, job.seed)
        model = copy.deepcopy(obtain(ctx, base))
        d = ctx._data()
        t = torch.from_numpy(np.asarray(ctx.answers(job.preset, job.key_seed), dtype=np.float32))
        return train(model, d["xp"], t, ctx.cfg(job.seed + 6))
    return make


def _distill(temperature: float) -> Callable:
    def make(ctx: Context, job: Job) -> nn.Module:
        teacher = _stolen(ctx, job)
        logits = torch.log(torch.from_numpy(predict_proba(teacher, ctx._data()["xp"])) + 1e-12)
        soft = torch.softmax(logits / temperature, dim=1).numpy()
        return _soft(ctx, soft, job.seed + 3)
    return make


def _average(ctx: Context, job: Job) -> nn.Module:
    return _soft(ctx, ctx.answers(job.preset, job.key_seed, averaged=True), job.seed + 4)


def _power(k: float) -> Callable[[np.ndarray], np.ndarray]:
    def f(a: np.ndarray) -> np.ndarray:
        b = np.power(np.clip(a, 0, None), k)
        return b / b.sum(1, keepdims=True)
    return f


def _smooth(eps: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda a: (1 - eps) * a + eps / a.shape[1]


ATTACKS: dict[str, Callable[[Context, Job], nn.Module]] = {
    "stolen": _stolen,
    "ft1000": _finetune(1000),
    "ft1000-lr3e-3": _finetune(1000, 3e-3),
    "ft5000": _finetune(5000),
    "ft10000": _finetune(10000),
    "prune10": lambda ctx, job: prune_global(_stolen(ctx, job), 0.1),
    "prune-ft": _finetune(1000, prune=0.3),
    "distill-T4": _distill(4.0),
    "sharpen": _transformed(_power(3.0)),
    "smooth": _transformed(_smooth(0.1)),
    "top3": _transformed(AnswerTransform("topk", 3)),
    "average": _average,
    "resnet18": _transformed(lambda a: a, "resnet18"),
    "resnet18-2x": _longer("resnet18"),
    "mlp": _transformed(lambda a: a, "mlp"),
    "vgg11": _transformed(lambda a: a, "vgg11"),
    "hard": _transformed(AnswerTransform("hard")),
}


def _benign_labels(fraction: float, arch: str | None = None) -> Callable:
    def make(ctx: Context, job: Job) -> nn.Module:
        d = ctx._data()
        x, y = subset(d["x"], d["y"], count=int(fraction * ctx.profile.pool_count),
                      seed=100 + job.seed)
        return train(ctx.new_model(arch, job.seed), x, y, ctx.cfg(job.seed))
    return make


def _benign_distilled(ctx: Context, job: Job) -> nn.Module:
    return _soft(ctx, ctx.answers("none", 0), job.seed)


def _benign_distilled_ft(ctx: Context, job: Job) -> nn.Module:
    base = ctx.cached(Job("distilled-F_org", seed=job.seed), lambda: _benign_distilled(ctx, job))
    x, y = ctx.labelled(1000, seed=9)
    return train(copy.deepcopy(base), x, y, ctx.cfg(job.seed + 20, ctx.profile.ft_epochs))


BENIGN: dict[str, Callable[[Context, Job], nn.Module]] = {
    "labels-100%": _benign_labels(1.0),
    "labels-50%": _benign_labels(0.5),
    "labels-25%": _benign_labels(0.25),
    "labels-mlp": _benign_labels(0.5, "mlp"),
    "labels-resnet18": _benign_labels(0.5, "resnet18"),
    "labels-vgg11": _benign_labels(0.5, "vgg11"),
    "distilled-F_org": _benign_distilled,
    "distilled-F_org-ft1000": _benign_distilled_ft,
}


#: The benign recipes that are cheap enough to repeat for every seed (the deep architectures
#: ResNet-18 and VGG-11 run with the first seed only unless ``all_seeds``).
CHEAP_BENIGN = ("labels-100%", "labels-50%", "labels-25%", "labels-mlp", "distilled-F_org",
                "distilled-F_org-ft1000")


def benign_jobs(seeds: Sequence[int] = (1, 2, 3), all_seeds: bool = False,
                recipes: Iterable[str] | None = None) -> list[Job]:
    """Six cheap recipes × ``seeds`` + ResNet-18 and VGG-11 (20 models with three seeds);
    ``recipes`` picks a subset (tests)."""
    if recipes is not None:
        return [Job(name, "none", 0, s) for s in seeds for name in recipes]
    jobs = [Job(name, "none", 0, s) for s in seeds for name in CHEAP_BENIGN]
    deep = [n for n in BENIGN if n not in CHEAP_BENIGN]
    return jobs + [Job(n, "none", 0, s) for n in deep for s in (seeds if all_seeds else seeds[:1])]


def attack_jobs(presets: Sequence[str] = ("robust", "paper"), key_seeds: Sequence[int] = (0,),
                attacks: Iterable[str] | None = None,
                seeds: Sequence[int] = (1,)) -> list[Job]:
    """Every attack × preset × key × training seed (the seed of the stolen surrogate and of
    what is trained from it)."""
    names = list(attacks) if attacks is not None else list(ATTACKS)
    return [Job(a, pr, k, sd) for pr in presets for k in key_seeds for sd in seeds
            for a in names]


def obtain(ctx: Context, job: Job) -> nn.Module:
    """The model of ``job`` from the cache, or trained (and cached)."""
    table = BENIGN if job.preset == "none" else ATTACKS
    if job.attack not in table:
        raise KeyError(f"unknown {'benign recipe' if job.preset == 'none' else 'attack'} "
                       f"{job.attack!r}")
    if job.attack == "stolen":
        return _stolen(ctx, job)
    return ctx.cached(job, lambda: table[job.attack](ctx, job))


def evaluate(ctx: Context, model: nn.Module, keys: Sequence[tuple[str, int]],
             queries: Sequence[int] = (100, 1000)) -> dict[str, Any]:
    """Accuracy, and per key (preset, key seed): η, keyed p on all queries, median keyed p on
    random subsets of ``queries``, and the queries needed for 95%/99% decisions."""
    s = ctx.test_proba(model)
    y = ctx._data()["yt"].numpy()
    row: dict[str, Any] = {"accuracy": float((s.argmax(1) == y).mean()), "keys": {}}
    for preset, k in keys:
        p, q = ctx.owner_view(preset, k)
        fav = favoured_indices(ctx.params(preset, k))
        win = keyed_window(ctx.params(preset, k))
        kt = keyed_test(s, p, fav, window=win)
        need = keyed_queries_needed(s, p, fav, levels=(0.05, 0.01, 1e-3), repeats=10,
                                    sizes=(25, 50, 100, 200, 500, 1000, 2000, 5000), seed=k,
                                    window=win)
        med = {c["queries"]: c["median_p"] for c in need["curve"]}
        row["keys"][f"{preset}:{k}"] = {
            "eta": algorithm2(s, p, q, y, ctx.info.classes).eta,
            "p_value": kt.p_value, "statistic": kt.statistic,
            **{f"p_at_{n}": med.get(n) for n in queries},
            "needed": need["needed"],
        }
    return row


def run_job(dataset: str, profile: SuiteProfile, job: Job, keys: Sequence[tuple[str, int]],
            data_root: str | None = None, threads: int = 1,
            _ctx: dict[tuple, Context] = {}) -> dict[str, Any]:  # noqa: B006 (process cache)
    """Obtain and evaluate one job (the unit of work of a Ray task)."""
    set_threads(threads)
    ck = (dataset, profile, data_root)
    ctx = _ctx.get(ck) or _ctx.setdefault(ck, Context(dataset, profile, data_root))
    model = obtain(ctx, job)
    if job.preset != "none":  # a suspect is evaluated against its own key only
        keys = [(job.preset, job.key_seed)]
    return {"job": asdict(job), "name": job.name, **evaluate(ctx, model, keys)}


def run_jobs(dataset: str, profile: SuiteProfile, jobs: Sequence[Job],
             keys: Sequence[tuple[str, int]], *, data_root: str | None = None,
             ray_address: str | None = None, workers: int = 2,
             progress: Callable[[str], None] | None = None,
             on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run ``jobs`` (see module doc); results in the order of ``jobs``.

    Stolen models are run first (every other attack starts from one), then the rest.
    ``progress(name)`` is called as each job finishes, ``on_result(row)`` with its result
    (to save results as they come: an interrupted run keeps them).
    """
    first = [j for j in jobs if j.attack == "stolen"]
    rest = [j for j in jobs if j.attack != "stolen"]
    done: dict[Job, dict[str, Any]] = {}
    if ray_address is None:
        for j in first + rest:
            done[j] = run_job(dataset, profile, j, keys, data_root)
            if on_result:
                on_result(done[j])
            if progress:
                progress(j.name)
        return [done[j] for j in jobs]
    # a loaded machine can take over the default 10 s to register the local raylet
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "120")
    import ray

    if not ray.is_initialized():
        if ray_address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"DYNAMARKS_CACHE": str(cache_root().parent)}})
        else:
            ray.init(address=ray_address, log_to_driver=False)
    task = ray.remote(num_cpus=1)(run_job)
    for wave in (first, rest):
        pending = {task.remote(dataset, profile, j, keys, data_root): j for j in wave}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                j = pending.pop(ref)
                done[j] = ray.get(ref)
                if on_result:
                    on_result(done[j])
                if progress:
                    progress(j.name)
    return [done[j] for j in jobs]


def with_backend(profile: SuiteProfile, backend: str) -> SuiteProfile:
    return replace(profile, backend=backend)


def run_suite(
    dataset: str,
    out_dir: str | os.PathLike[str],
    profile: SuiteProfile | str = "small",
    *,
    presets: Sequence[str] = ("robust", "paper"),
    attack_keys: Sequence[int] = (0,),
    attack_seeds: Sequence[int] = (1,),
    calibration_keys: Sequence[int] = (0, 1, 2),
    benign_seeds: Sequence[int] = (1, 2, 3),
    attacks: Iterable[str] | None = None,
    benign: Iterable[str] | None = None,
    data_root: str | None = None,
    ray_address: str | None = None,
    workers: int = 2,
    reporter: Any = None,
    sweep: bool = False,
    jobs: Sequence[Job] | None = None,
) -> dict[str, Any]:
    """The whole suite: attacks against ``presets`` × ``attack_keys``, benign models against
    ``presets`` × ``calibration_keys``, optionally the preset sweep; writes ``results.json``,
    ``results.jsonl`` (one line per finished job, kept by an interrupted run), ``report.md``
    and (with the sweep) ``sweep.json`` and ``tradeoff.png`` into ``out_dir``. ``jobs``, when
    given, is the explicit list of attack jobs (instead of every attack × preset × key ×
    seed; see :mod:`dynamarks.models.headline`)."""
    from dynamarks.models import suite_report
    from dynamarks.models.progress import Reporter

    prof = SUITE_PROFILES[profile] if isinstance(profile, str) else profile
    rep = reporter or Reporter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    a_jobs = (list(jobs) if jobs is not None
              else attack_jobs(presets, attack_keys, attacks, attack_seeds))
    b_jobs = benign_jobs(benign_seeds, recipes=benign)
    keys = [(pr, k) for pr in presets for k in calibration_keys]
    log = (out / "results.jsonl").open("a")

    def save(row: dict[str, Any]) -> None:
        log.write(json.dumps(row, default=str) + "\n")
        log.flush()

    total = len(a_jobs) + len(b_jobs)
    where = f"Ray {ray_address}" if ray_address else "one process"
    rep.say(f"[bold]suite[/] {dataset}, profile {prof.name}: {len(a_jobs)} attacks, "
            f"{len(b_jobs)} benign models, {where}")
    with rep.bar("models trained or loaded and verified", total) as adv:
        res_a = run_jobs(dataset, prof, a_jobs, keys, data_root=data_root,
                         ray_address=ray_address, workers=workers,
                         progress=lambda _n: adv(1), on_result=save)
        res_b = run_jobs(dataset, prof, b_jobs, keys, data_root=data_root,
                         ray_address=ray_address, workers=workers,
                         progress=lambda _n: adv(1), on_result=save)
    log.close()
    rows_sweep = None
    if sweep:
        from dynamarks.models import sweep as sweep_mod

        ctx = Context(dataset, prof, data_root)
        rows_sweep = sweep_mod.run_sweep(ctx)
        (out / "sweep.json").write_text(json.dumps(rows_sweep, indent=1))
        sweep_mod.fig_tradeoff(rows_sweep, out / "tradeoff.png")
    setup = {"profile": prof.name, "detail": json.dumps(asdict(prof))}
    results = {"setup": setup, "attacks": res_a, "benign": res_b, "sweep": rows_sweep,
               "calibration": suite_report.calibration(res_b)}
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (out / "report.md").write_text(suite_report.render(res_a, res_b, rows_sweep, setup))
    return results
