"""The attack/calibration suite on tiny synthetic data: plain path, resume from the content
cache, and the same jobs as Ray tasks on a 2-CPU local Ray.

Oracles: a surrogate stolen from the robust API is detected by the keyed test and a
hard-label one (which never saw the alteration) is not; a rerun trains nothing (training is
replaced by a function that fails) and reproduces the results; Ray returns the same rows as
the plain path.
"""

from __future__ import annotations

import json

import pytest
import torch

from dynamarks.models import suite
from dynamarks.models.datasets import write_idx
from dynamarks.models.progress import Reporter


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite")
    data = root / "data"
    data.mkdir()
    templates = torch.rand(10, 28, 28, generator=torch.Generator().manual_seed(99)) > 0.5
    for prefix, n, seed in (("train", 1200, 1), ("t10k", 400, 2)):
        g = torch.Generator().manual_seed(seed)
        y = torch.randint(0, 10, (n,), generator=g)
        x = (templates[y].float() + 0.7 * torch.randn(n, 28, 28, generator=g)).clamp(0, 1)
        write_idx(data / f"{prefix}-images-idx3-ubyte.gz", (x * 255).round().byte().numpy())
        write_idx(data / f"{prefix}-labels-idx1-ubyte.gz", y.byte().numpy())
    mp = pytest.MonkeyPatch()
    mp.setenv("DYNAMARKS_CACHE", str(root / "cache"))
    kw = dict(presets=("robust",), attacks=("stolen", "ft1000", "hard"), calibration_keys=(0, 1),
              benign_seeds=(1,), benign=("labels-100%", "distilled-F_org"),
              data_root=str(data), reporter=Reporter(quiet=True))
    res = suite.run_suite("fmnist", root / "out", "tiny", **kw)
    yield root, res, kw
    mp.undo()


def test_suite_detects_stolen_not_hard_label(env):
    root, res, _ = env
    by = {r["job"]["attack"]: r["keys"]["robust:0"] for r in res["attacks"]}
    assert by["stolen"]["p_value"] <= 1e-3
    assert 0 < by["ft1000"]["p_value"] <= 1  # 1,000 labels are most of this tiny pool
    assert by["hard"]["p_value"] > 0.01
    assert {r["name"] for r in res["benign"]} == {"labels-100% s1", "distilled-F_org s1"}
    for r in res["benign"]:
        assert set(r["keys"]) == {"robust:0", "robust:1"}
    cal = res["calibration"]["robust"]
    assert cal["pairs"] == 4 and 0 <= cal["keyed"]["fpr"] <= 1
    lines = (root / "out" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 5
    report = (root / "out" / "report.md").read_text()
    assert "| stolen | robust | 0 | 1 |" in report  # one run: key 0, seed 1
    assert "| stolen | robust | 1 |" in report  # the summary over runs: one run
    assert "Calibration on 2 benign models" in report


def test_rerun_resumes_from_cache(env, monkeypatch):
    root, res, kw = env

    def no_training(*a, **k):
        raise AssertionError("a cached model was retrained")

    monkeypatch.setattr(suite, "train", no_training)
    again = suite.run_suite("fmnist", root / "out2", "tiny", **kw)
    assert json.dumps(again["attacks"]) == json.dumps(res["attacks"])
    assert json.dumps(again["benign"]) == json.dumps(res["benign"])


def test_ray_tasks_match_plain_path(env):
    ray = pytest.importorskip("ray")
    root, res, kw = env
    jobs = [suite.Job("stolen", "robust", 0), suite.Job("labels-100%", "none", 0, 1)]
    keys = [("robust", 0), ("robust", 1)]
    seen = []
    try:
        rows = suite.run_jobs("fmnist", suite.SUITE_PROFILES["tiny"], jobs, keys,
                              data_root=kw["data_root"], ray_address="local", workers=2,
                              progress=seen.append)
    finally:
        ray.shutdown()
    assert sorted(seen) == sorted(j.name for j in jobs)
    plain = {r["name"]: r for r in res["attacks"] + res["benign"]}
    for r in rows:
        assert r["keys"] == plain[r["name"]]["keys"]
        assert r["accuracy"] == plain[r["name"]]["accuracy"]


def test_key_sweep_reads_the_suites_models(env, monkeypatch):
    """The key sweep (models/sweep.py) evaluates the suite's cached jobs: it trains nothing and
    its keyed p / η / accuracy equal the suite's own evaluation of the same models; the
    candidate presets it registers are gone afterwards."""
    from dynamarks.host.presets import PRESETS
    from dynamarks.models import sweep

    root, res, kw = env
    monkeypatch.setattr(suite, "train", lambda *a, **k: pytest.fail("a cached model was retrained"))
    before = dict(PRESETS)
    ctx = suite.Context("fmnist", suite.SUITE_PROFILES["tiny"], kw["data_root"])
    rows = sweep.run_key_sweep(ctx, (PRESETS["robust"],), keys=(0,), attacks=("stolen", "ft1000"))
    assert PRESETS == before
    by = {r["job"]["attack"]: r for r in res["attacks"]}
    (row,) = rows
    for att in ("stolen", "ft1000"):
        assert row[att]["p_value"] == by[att]["keys"]["robust:0"]["p_value"]
        assert row[att]["eta"] == by[att]["keys"]["robust:0"]["eta"]
        assert row[att]["accuracy"] == by[att]["accuracy"]
    assert row["org"]["accuracy"] == row["alt"]["accuracy"]  # the unit never changes the top-1
    table = sweep.key_sweep_table(rows, ("stolen", "ft1000"))
    assert table[2].startswith("| robust | ")


def test_benign_eta_candidates_reproduce_the_suite(env):
    """models/benign_eta re-derives F_alt from a preset + overrides: with no override it must
    give the η the suite measured for the same benign models and keys (another code path:
    Context.params / owner_view); every candidate it tries is a valid SPEC §3.1 set."""
    from dynamarks.host.presets import keygen_preset
    from dynamarks.models import benign_eta

    root, res, kw = env
    for _label, base, over in benign_eta.CANDIDATES:
        keygen_preset(base, 10, seed=3, **over)  # raises ParameterError if invalid
    shipped = [("robust", "robust", {})]
    out = benign_eta.analyse("tiny", keys=(0, 1), benign=("labels-100%", "distilled-F_org"),
                             candidates=shipped, bin_choices=(), data_root=kw["data_root"])
    suite_eta = {(r["job"]["attack"], k): v["eta"] for r in res["benign"]
                 for k, v in r["keys"].items()}
    for row in out["rows"][0]["keys"]:
        for name, m in row["models"].items():
            assert m["eta"] == pytest.approx(suite_eta[(name, f"robust:{row['key']}")], rel=1e-12)
            assert 0 <= m["approx"] < 1
        assert row["d_org_alt"] > 0 and 0 < row["altered"] <= 1
    assert "| robust |" in benign_eta.render(out, "cmd")


def test_table1_takes_the_lowest_key_and_the_papers_benign_model():
    """Table I: an attack cell shows the run with the lowest key (then seed), whatever order the
    rows came in; the benign cell is the median η [max] over every 50%-label model and key of
    the preset (the paper's F_bm), with the smallest p — values worked out by hand."""
    from dynamarks.models.suite_report import table1

    def attack(name, key, seed, eta, p):
        return {"job": {"attack": name, "preset": "robust", "key_seed": key, "seed": seed},
                "keys": {f"robust:{key}": {"eta": eta, "p_value": p}}}

    def benign(name, etas, ps):
        return {"name": name, "keys": {f"robust:{k}": {"eta": e, "p_value": p}
                                       for k, (e, p) in enumerate(zip(etas, ps, strict=True))}}

    attacks = [attack("resnet18", 2, 1, 9.0, 0.5), attack("resnet18", 0, 2, 8.0, 0.5),
               attack("resnet18", 0, 1, 2.46, 2.9e-10), attack("average", 1, 1, 3.0, 0.01)]
    rows = [benign("labels-50% s2", [0.10, 0.30], [0.4, 0.2]),
            benign("labels-50% s1", [0.20], [0.9]),
            benign("labels-25% s1", [5.0], [1e-9])]
    line = next(x for x in table1(attacks, rows) if x.startswith("| robust |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1] == "3.00 (0.010)"           # the only averaging run
    assert cells[2] == "—"                      # no pruning run
    assert cells[3] == "2.46 (2.9e-10)"         # key 0, seed 1 of the three ResNet runs
    assert cells[4] == "—"
    assert cells[5] == "0.20 [0.30] (0.200), 3 pairs"   # 25%-label model left out
