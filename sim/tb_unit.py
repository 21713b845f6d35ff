"""cocotb benches of the WatermarkUnit against the bit-exact reference (issue 3, item 3).

Every test configures the unit through its config port and checks every output word with
:class:`~dynamarks.sim.unit_tb.UnitScoreboard`. Environment (set by ``BENCHES``):
``DMK_CLASSES``, ``DMK_WIDTH`` and ``DMK_VECTORS`` (random vectors in ``test_random_stream``).

Tests:

* ``test_random_stream`` — ``DMK_VECTORS`` random vectors (sim/vectors.py's mixture) over
  several random parameter sets, each phase with its own idle-gap and back-pressure rates;
* ``test_throughput_latency`` — no gaps, no back-pressure: one word per clock in and out,
  a vector every N cycles, latency from first word in to first word out ≤ N + 4;
* ``test_window_edges`` — maxima at alpha_i − 1, alpha_i, alpha_i + 1, beta_i − 1, beta_i,
  beta_i + 1 (strict window, SPEC §9);
* ``test_extremes`` — entries 0 and 1.0 (1.0 inside a window ending above ONE), j == i,
  vectors of equal entries, ties for the maximum;
* ``test_not_well_formed`` — vectors whose sum is not ONE pass unchanged;
* ``test_malformed_framing`` — too few / too many words, missing ``first``: rejected,
  counted, no keystream consumed, the next vector right;
* ``test_reset_mid_vector`` — reset with a vector half in, half out: counters and lock
  cleared, ready low until a new start, the new stream right from keystream position 0;
* ``test_lock`` — after ``config.lock`` every write and start is refused: outputs and
  keystream position are those of the locked parameter set (scoreboard), ``running`` stays
  high through a refused start; reset unlocks.
"""

from __future__ import annotations

import functools
import os

import cocotb
import numpy as np

from dynamarks.host.params import THRESHOLD_ONE, Params
from dynamarks.host.reference import ReferenceUnit
from dynamarks.sim.designs import config_writes, unit_verilog
from dynamarks.sim.runner import Bench, report_metric
from dynamarks.sim.unit_tb import UnitTB
from dynamarks.sim.vectors import compose, random_params, random_vectors

#: (N, W, random vectors on Icarus, on Verilator)
CONFIGS = ((10, 16, 2000, 100_000), (4, 12, 1000, 20_000), (16, 20, 600, 10_000))

BENCHES = [
    Bench(
        name=f"unit_n{n}_w{w}",
        verilog=functools.partial(unit_verilog, n, w),
        test_module="dynamarks.sim.tb_unit",
        env={"DMK_CLASSES": str(n), "DMK_WIDTH": str(w)},
        sim_env={"icarus": {"DMK_VECTORS": str(vi)}, "verilator": {"DMK_VECTORS": str(vv)}},
    )
    for n, w, vi, vv in CONFIGS
]

RATES = (0.0, 0.05, 0.2, 0.5)  # idle-gap and back-pressure probabilities, one per phase


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


async def _bench(dut, **kw) -> UnitTB:
    tb = UnitTB(
        dut,
        _env_int("DMK_CLASSES", 10),
        _env_int("DMK_WIDTH", 16),
        seed=cocotb.RANDOM_SEED,
        **kw,
    )
    await tb.reset()
    return tb


def _metric(name: str, value) -> None:
    cocotb.log.info("%s = %s", name, value)
    report_metric(name, value)


def _edge_params(tb: UnitTB, beta_above_one: bool) -> Params:
    """Windows and Δ ranges chosen so the corners are reachable, varied per class."""
    n, w, one = tb.n, tb.w, tb.one
    rng = tb.np_rng
    alpha = [one * 3 // 4 + int(rng.integers(0, one // 8)) for _ in range(n)]
    beta = [
        ((1 << w) - 1 if beta_above_one and k % 2 == 0 else al + (one - al) // 2 + 1)
        for k, al in enumerate(alpha)
    ]
    b = [al + 1 - one // 2 for al in alpha]  # the largest Δ range top-1 safety allows
    a = [int(rng.integers(0, bb)) for bb in b]
    thresholds = []
    for k in range(n):
        if k % 3 == 0:  # j == i always
            row = [0 if c < k else THRESHOLD_ONE for c in range(n)]
        else:
            cuts = sorted(int(x) for x in rng.integers(0, THRESHOLD_ONE, size=n - 1))
            row = cuts + [THRESHOLD_ONE]
        thresholds.append(tuple(row))
    return Params(
        classes=n,
        width=w,
        alpha=tuple(alpha),
        beta=tuple(beta),
        a=tuple(a),
        b=tuple(b),
        thresholds=tuple(thresholds),
        key=rng.bytes(10),
        iv=rng.bytes(10),
    ).validate()


async def _run(tb: UnitTB, p: np.ndarray) -> None:
    tb.send(p)
    await tb.drain()
    tb.check()


@cocotb.test()
async def test_random_stream(dut):
    """Random vectors, random parameter sets, random idle gaps and back-pressure."""
    total = _env_int("DMK_VECTORS", 2000)
    tb = await _bench(dut)
    phases = 8
    start = tb.cycle
    for phase in range(phases):
        m = total // phases + (1 if phase < total % phases else 0)
        tb.source.idle = RATES[phase % 4]
        tb.sink.backpressure = RATES[(phase // 2 + phase) % 4]
        if phase % 2 == 0:
            if phase:
                await tb.reset(cycles=1 + phase % 3)
            params = random_params(tb.np_rng, tb.n, tb.w)
            await tb.configure(params)
        await _run(tb, random_vectors(tb.np_rng, m, tb.scoreboard.params))
    t = tb.totals()
    assert t["vectors"] == total, t
    _metric("random.vectors", t["vectors"])
    _metric("random.altered", t["altered"])
    _metric("random.cycles", tb.cycle - start)


@cocotb.test()
async def test_throughput_latency(dut):
    """One word per clock sustained, a vector every N cycles, latency <= N + 4."""
    tb = await _bench(dut)
    warmup = await tb.configure(random_params(tb.np_rng, tb.n, tb.w))
    m = 200
    accepted: list[int] = []
    tb.source.on_accept.append(lambda cycle, word: accepted.append(cycle))
    await _run(tb, random_vectors(tb.np_rng, m, tb.scoreboard.params))
    sb = tb.scoreboard
    in_cpv = (accepted[-1] - accepted[0] + 1) / m
    out_cpv = (sb.out_cycles[-1] - sb.out_cycles[0]) / (m - 1)
    _metric("throughput.cycles_per_vector_in", in_cpv)
    _metric("throughput.cycles_per_vector_out", out_cpv)
    _metric("latency.first_in_to_first_out_min", min(sb.latencies))
    _metric("latency.first_in_to_first_out_max", max(sb.latencies))
    _metric("warmup.cycles_start_to_ready", warmup)
    assert in_cpv == tb.n, f"input side took {in_cpv} cycles per vector, not N = {tb.n}"
    assert out_cpv == tb.n, f"output side took {out_cpv} cycles per vector, not N = {tb.n}"
    assert max(sb.latencies) <= tb.n + 4, f"latency {max(sb.latencies)} > N + 4"


@cocotb.test()
async def test_window_edges(dut):
    """Maxima exactly at and next to alpha_i and beta_i."""
    tb = await _bench(dut, idle=0.2, backpressure=0.2)
    params = _edge_params(tb, beta_above_one=False)
    await tb.configure(params)
    n = tb.n
    idx = np.repeat(np.arange(n), 6 * 8)
    al, be = np.asarray(params.alpha)[idx], np.asarray(params.beta)[idx]
    offs = np.tile(np.repeat(np.arange(6), 8), n)
    top = np.choose(offs, [al - 1, al, al + 1, be - 1, be, be + 1])
    p = compose(tb.np_rng, top, idx, n, tb.w)
    await _run(tb, p)
    inside = (offs == 2) | (offs == 3)
    d = ReferenceUnit(params).process_detailed(p)
    assert not d.altered[~inside].any(), "a vector at or outside a window edge was altered"
    assert d.altered[inside].any(), "no vector inside a window was altered: test is vacuous"
    _metric("edges.altered", int(d.altered.sum()))


@cocotb.test()
async def test_extremes(dut):
    """Entries 0 and 1.0, j == i, equal entries, ties for the maximum."""
    tb = await _bench(dut, idle=0.1, backpressure=0.3)
    params = _edge_params(tb, beta_above_one=True)
    await tb.configure(params)
    n, one = tb.n, tb.one
    rows = []
    for k in range(n):
        for _ in range(6):
            v = np.zeros(n, dtype=np.int64)
            v[k] = one  # 1.0 and zeros
            rows.append(v)
    rows += [
        np.full(n, x, dtype=np.int64) for x in (0, one // n, one // n + 1, one, (1 << tb.w) - 1)
    ]
    for k in range(2, n + 1):  # ties: k entries share the maximum
        v = np.zeros(n, dtype=np.int64)
        where = tb.np_rng.choice(n, size=k, replace=False)
        v[where] = one // k  # well formed when k divides ONE
        rows.append(v)
    # j == i: classes k % 3 == 0 always draw j == k; confident vectors hit their windows
    idx = np.repeat(np.arange(n), 10)
    rows += list(compose(tb.np_rng, np.full(len(idx), one - 3), idx, n, tb.w))
    p = np.asarray(rows)
    await _run(tb, p)
    d = ReferenceUnit(params).process_detailed(p)
    onehot = (p == one).sum(axis=1) == 1
    assert d.altered[onehot].any(), "no 1.0 vector was altered: test is vacuous"
    jii = d.well_formed & d.in_window & (d.j == d.argmax)
    assert jii.any(), "no in-window vector drew j == i: test is vacuous"
    _metric("extremes.j_eq_i", int(jii.sum()))


@cocotb.test()
async def test_not_well_formed(dut):
    """Vectors whose sum is not ONE pass unchanged, even with the maximum in its window."""
    tb = await _bench(dut, idle=0.3, backpressure=0.1)
    params = random_params(tb.np_rng, tb.n, tb.w)
    await tb.configure(params)
    m = 300
    idx = tb.np_rng.integers(0, tb.n, size=m)
    p = compose(tb.np_rng, np.asarray(params.alpha)[idx] + 1, idx, tb.n, tb.w)
    bump = tb.np_rng.choice([-2, -1, 1, 2], size=m)
    others = (idx + 1 + tb.np_rng.integers(0, tb.n - 1, size=m)) % tb.n
    rows = np.arange(m)
    p[rows, others] += np.where(p[rows, others] >= 2, bump, np.abs(bump))
    assert (p.sum(axis=1) != tb.one).all()
    await _run(tb, p)
    assert tb.scoreboard.altered == 0 and tb.scoreboard.vectors_out == m


@cocotb.test()
async def test_malformed_framing(dut):
    """Too few / too many words, or no ``first``: rejected, counted, next vector right."""
    tb = await _bench(dut, idle=0.2, backpressure=0.4)
    params = random_params(tb.np_rng, tb.n, tb.w)
    await tb.configure(params)
    n, rng = tb.n, tb.np_rng
    expected_rejects = 0
    for _ in range(60):
        good = random_vectors(rng, int(rng.integers(1, 4)), params)
        tb.send(good)
        kind = int(rng.integers(3))
        data = [int(x) for x in rng.integers(0, 1 << tb.w, size=n + 3)]
        if kind == 0:  # too few words: `last` early
            k = int(rng.integers(1, n))
            words = [(data[i], int(i == 0), int(i == k - 1)) for i in range(k)]
        elif kind == 1:  # too many words: `last` late
            k = int(rng.integers(n + 1, n + 4))
            words = [(data[i], int(i == 0), int(i == k - 1)) for i in range(k)]
        else:  # a whole vector without `first`
            words = [(data[i], 0, int(i == n - 1)) for i in range(n)]
        tb.send_words(words)
        expected_rejects += 1
    tb.send(random_vectors(rng, 3, params))
    await tb.drain()
    tb.check()
    assert tb.scoreboard.rejected == expected_rejects
    _metric("framing.rejected", expected_rejects)


@cocotb.test()
async def test_reset_mid_vector(dut):
    """Reset with vectors in flight; the unit restarts clean."""
    tb = await _bench(dut, backpressure=0.5)
    params = random_params(tb.np_rng, tb.n, tb.w)
    await tb.configure(params, lock=True)
    tb.send(random_vectors(tb.np_rng, 40, params))
    half = 20 * tb.n + tb.n // 2
    await tb.wait_for(lambda: tb.source.accepted >= half, 100 * half, "half the stream")
    before = tb.scoreboard
    assert before.vectors_out > 0, "no vector came out before the reset"
    assert before.error_count == 0, before.errors
    await tb.reset(cycles=2)
    await tb.cycles(2)
    assert tb.counters() == {"vectors_in": 0, "vectors_out": 0, "rejected": 0}
    assert tb.flag("running") == 0 and int(dut.sink__ready.value) == 0
    assert tb.flag("locked") == 0
    params2 = random_params(tb.np_rng, tb.n, tb.w)
    await tb.configure(params2)
    await _run(tb, random_vectors(tb.np_rng, 50, params2))
    # The same parameters again start from keystream position 0 (checked by a fresh model).
    await tb.reset()
    await tb.configure(params)
    await _run(tb, random_vectors(tb.np_rng, 50, params))


@cocotb.test()
async def test_lock(dut):
    """Writes and starts after the lock are refused; nothing observable changes."""
    tb = await _bench(dut, idle=0.1, backpressure=0.2)
    params = random_params(tb.np_rng, tb.n, tb.w)
    await tb.configure(params)
    assert tb.flag("locked") == 0
    await tb.strobe("lock")
    await tb.cycles(1)
    assert tb.flag("locked") == 1
    tb.send(random_vectors(tb.np_rng, 100, params))
    # Overwrite every parameter word with another set's, and restart, while vectors flow.
    other = random_params(tb.np_rng, tb.n, tb.w)
    await tb.write_config(config_writes(other), start=True)
    await tb.cycles(1)
    assert tb.flag("locked") == 1 and tb.flag("running") == 1
    tb.send(random_vectors(tb.np_rng, 100, params))
    await tb.drain()
    tb.check()  # same scoreboard: outputs and keystream position as if no write happened
    # A start after the lock is refused too: the keystream keeps running from where it was
    # (a start would stop it for the warm-up and restart it from position 0).
    await tb.strobe("start")
    await tb.cycles(2)
    assert tb.flag("locked") == 1 and tb.flag("running") == 1
    await _run(tb, random_vectors(tb.np_rng, 20, params))
    await tb.reset()
    await tb.cycles(1)
    assert tb.flag("locked") == 0
    await tb.configure(other)
    await _run(tb, random_vectors(tb.np_rng, 50, other))
