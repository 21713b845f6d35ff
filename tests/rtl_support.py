"""Shared helpers for the Amaranth-simulator tests of dynamarks.rtl (tests/test_rtl_*.py).

An independent, deliberately plain model of SPEC §4–§10 at the word level (framing included),
a bit-serial Trivium written from the cipher's description, random parameter sets that pass
SPEC §3.1, and a cycle-level driver for the unit. When ``dynamarks.host`` provides the bit-exact
reference, the unit tests check against it as well.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# ---- Trivium, bit-serial, 1-based like the cipher's description --------------------------


def trivium_keystream_bits(key: bytes, iv: bytes, nbits: int) -> list[int]:
    """z_1 … z_nbits with the eSTREAM reference implementation's key/IV bit order."""
    s = [0] * 289  # s[1..288]
    for m in range(10):
        for n in range(8):
            s[80 - 8 * m - n] = (key[m] >> n) & 1
            s[173 - 8 * m - n] = (iv[m] >> n) & 1
    s[286] = s[287] = s[288] = 1
    out = []
    for clock in range(1152 + nbits):
        t1 = s[66] ^ s[93]
        t2 = s[162] ^ s[177]
        t3 = s[243] ^ s[288]
        if clock >= 1152:
            out.append(t1 ^ t2 ^ t3)
        t1 ^= (s[91] & s[92]) ^ s[171]
        t2 ^= (s[175] & s[176]) ^ s[264]
        t3 ^= (s[286] & s[287]) ^ s[69]
        s[1:94] = [t3] + s[1:93]
        s[94:178] = [t1] + s[94:177]
        s[178:289] = [t2] + s[178:288]
    return out


def trivium_keystream_bytes(key: bytes, iv: bytes, nbytes: int) -> bytes:
    z = trivium_keystream_bits(key, iv, 8 * nbytes)
    return bytes(sum(z[8 * m + k] << k for k in range(8)) for m in range(nbytes))


def keystream_words(key: bytes, iv: bytes, count: int) -> list[int]:
    """R_0 … R_(count−1) of SPEC §6."""
    ks = trivium_keystream_bytes(key, iv, 4 * count)
    return [int.from_bytes(ks[4 * v:4 * v + 4], "little") for v in range(count)]


# ---- SPEC §4–§9 for one vector -------------------------------------------------------------


@dataclass
class Params:
    key: bytes
    iv: bytes
    alpha: list[int]
    beta: list[int]
    a: list[int]
    b: list[int]
    C: list[list[int]]


def alter_vector(p: list[int], prm: Params, width: int, r_word: int) -> list[int]:
    one = 1 << (width - 1)
    n = len(p)
    i = max(range(n), key=lambda k: (p[k], -k))
    r, u = r_word & 0xFFFF, r_word >> 16
    delta = prm.a[i] + ((r * (prm.b[i] - prm.a[i])) >> 16)
    j = sum(1 for k in range(n) if prm.C[i][k] <= u)
    out = list(p)
    if sum(p) == one and prm.alpha[i] < p[i] < prm.beta[i] and j != i:
        out[i] -= delta
        out[j] += delta
    return out


def random_params(rng: random.Random, classes: int, width: int) -> Params:
    """A random set that passes SPEC §3.1, windows wide enough that many vectors alter."""
    one = 1 << (width - 1)
    alpha, beta, a, b, c = [], [], [], [], []
    for _ in range(classes):
        al = rng.randint(one // 2 + 2, one - 3)
        be = rng.choice([one, rng.randint(al + 1, one)])
        # top-1 safety: 2·(alpha + 1 − (b − 1)) > ONE  ⇔  b < alpha + 2 − ONE/2
        b_max = min(one, al + 1 - one // 2)          # largest b with the strict inequality
        bb = rng.randint(1, b_max)
        aa = rng.randint(0, bb - 1)
        cuts = sorted(rng.randint(0, 65536) for _ in range(classes - 1))
        if rng.random() < 0.2 and classes > 2:
            cuts[rng.randrange(classes - 1)] = cuts[0]   # repeated thresholds (empty bins)
            cuts.sort()
        row = cuts + [65536]
        alpha.append(al), beta.append(be), a.append(aa), b.append(bb), c.append(row)
        assert 2 * (al + 1 - (bb - 1)) > one
    return Params(bytes(rng.randrange(256) for _ in range(10)),
                  bytes(rng.randrange(256) for _ in range(10)), alpha, beta, a, b, c)


def random_vector(rng: random.Random, prm: Params, classes: int, width: int) -> list[int]:
    """Mostly well-formed vectors, many with the maximum inside its window; some corner cases."""
    one = 1 << (width - 1)
    kind = rng.random()
    if kind < 0.08:                      # all equal (ties) or equal split
        base = one // classes
        p = [base] * classes
        p[rng.randrange(classes)] += one - base * classes
        if rng.random() < 0.5:
            p = [base] * classes
        return p
    if kind < 0.14:                      # arbitrary words (mostly malformed)
        return [rng.randrange(1 << width) for _ in range(classes)]
    if kind < 0.18:                      # exactly 1.0 on one entry
        p = [0] * classes
        p[rng.randrange(classes)] = one
        return p
    if kind < 0.24:                      # a two-way tie for the maximum
        p = [0] * classes
        x, y = rng.sample(range(classes), 2)
        p[x] = p[y] = one // 2
        return p
    i = rng.randrange(classes)
    lo, hi = prm.alpha[i], prm.beta[i]
    choice = rng.random()
    if choice < 0.1:
        pmax = lo                         # at the window's low end (outside)
    elif choice < 0.15:
        pmax = min(hi, one)               # at the high end
    else:
        pmax = rng.randint(min(lo + 1, one), min(max(hi - 1, lo + 1), one))
    rest = one - pmax
    p = [0] * classes
    p[i] = pmax
    others = [k for k in range(classes) if k != i]
    cuts = sorted(rng.randint(0, rest) for _ in range(len(others) - 1))
    parts = [y - x for x, y in zip([0] + cuts, cuts + [rest], strict=True)]
    for k, v in zip(others, parts, strict=True):
        p[k] = v
    if rng.random() < 0.05:
        p[rng.randrange(classes)] ^= 1    # off by one LSB: not well formed
    return p


# ---- framing (SPEC §10 as the unit implements it) -----------------------------------------


def frame_words(words: list[tuple[int, int, int]], classes: int):
    """Parse (data, first, last) words as the unit does. Returns (vectors, rejected)."""
    state, cur, vectors, rejected = "IDLE", [], [], 0
    for d, f, last in words:
        if f:
            if state == "IN":
                rejected += 1
            if last:
                rejected += 1
                state, cur = "IDLE", []
            else:
                state, cur = "IN", [d]
        elif state == "IN":
            if len(cur) == classes - 1:
                if last:
                    vectors.append(cur + [d])
                    state, cur = "IDLE", []
                else:
                    rejected += 1
                    state, cur = "DROP", []
            elif last:
                rejected += 1
                state, cur = "IDLE", []
            else:
                cur.append(d)
        elif state == "IDLE":
            rejected += 1
            state = "IDLE" if last else "DROP"
        else:
            if last:
                state = "IDLE"
    return vectors, rejected


def vector_words(p: list[int]) -> list[tuple[int, int, int]]:
    n = len(p)
    return [(x, int(k == 0), int(k == n - 1)) for k, x in enumerate(p)]


# ---- driving the unit in the Amaranth simulator -------------------------------------------


async def configure(ctx, dut, prm: Params, classes: int, *, start: bool = True,
                    writes: list[tuple[int, int]] | None = None, gap: int = 0):
    """Write ``prm`` through the config port (``writes``: those ``(addr, data)`` writes in
    their order instead), pulse start ``gap`` idle cycles after the last write, wait until
    the keystream runs; returns the cycles from start to running."""
    from dynamarks.rtl.param_store import config_writes

    for addr, value in (config_writes(prm, classes) if writes is None else writes):
        ctx.set(dut.config.addr, addr)
        ctx.set(dut.config.data, value)
        ctx.set(dut.config.we, 1)
        await ctx.tick()
    ctx.set(dut.config.we, 0)
    if not start:
        return 0
    for _ in range(gap):
        await ctx.tick()
    ctx.set(dut.config.start, 1)
    await ctx.tick()
    ctx.set(dut.config.start, 0)
    cycles = 0
    while not ctx.get(dut.config.running):
        await ctx.tick()
        cycles += 1
        assert cycles < 5000, "keystream never started"
    return cycles


@dataclass
class StreamResult:
    words: list           # (data, first, last) handed over on source
    in_first_cycles: list  # cycle of each accepted word with `first`
    out_first_cycles: list  # cycle of each source handshake with `first`
    in_cycles: list       # cycle of each accepted word
    cycles: int
    ks_underflow: int     # keystream takes without a valid word (must be 0)


async def stream(ctx, dut, words, *, rng=None, p_in=1.0, p_out=1.0, expect_out=None,
                 max_cycles=None, check_ready_stable=True):
    """Offer ``words`` on sink (valid with probability ``p_in`` each cycle) and take source words
    (ready with probability ``p_out``). Stops after ``expect_out`` output words (default: run
    until the input is exhausted and the output has been quiet for 40 cycles).
    Checks the stream rules: source payload stable while valid & ~ready."""
    rng = rng or random.Random(0)
    res = StreamResult([], [], [], [], 0, 0)
    wi = 0
    quiet = 0
    held = None
    max_cycles = max_cycles or (len(words) * 8 + 400)
    cyc = 0
    while cyc < max_cycles:
        offer = wi < len(words) and rng.random() < p_in
        if offer:
            d, f, last = words[wi]
            ctx.set(dut.sink.payload, {"data": d, "first": f, "last": last})
        ctx.set(dut.sink.valid, int(offer))
        take = rng.random() < p_out
        ctx.set(dut.source.ready, int(take))
        if offer and ctx.get(dut.sink.ready):
            if words[wi][1]:
                res.in_first_cycles.append(cyc)
            res.in_cycles.append(cyc)
            wi += 1
        if ctx.get(dut.probe.ks_take) and not ctx.get(dut.probe.ks_valid):
            res.ks_underflow += 1
        valid = ctx.get(dut.source.valid)
        if valid:
            pl = ctx.get(dut.source.payload)
            word = (pl["data"], pl["first"], pl["last"])
            if check_ready_stable and held is not None:
                assert word == held, "source payload changed while valid and not ready"
            if take:
                res.words.append(word)
                if word[1]:
                    res.out_first_cycles.append(cyc)
                held = None
                quiet = 0
            else:
                held = word
        else:
            assert held is None, "source valid dropped before the word was taken"
            quiet += 1
        await ctx.tick()
        cyc += 1
        if expect_out is not None and len(res.words) >= expect_out:
            break
        if expect_out is None and wi >= len(words) and quiet > 40:
            break
    ctx.set(dut.sink.valid, 0)
    res.cycles = cyc
    return res


def expected_output(vectors, prm: Params, width: int, r_words) -> list[tuple[int, int, int]]:
    out = []
    for v, r in zip(vectors, r_words, strict=True):
        out += vector_words(alter_vector(v, prm, width, r))
    return out


def run_sim(dut, testbench, *, vcd=None, domain=None):
    """Simulate ``dut`` with ``testbench``. Pass ``domain=ClockDomain("sync")`` to control its
    reset from the testbench."""
    from amaranth.hdl import Module
    from amaranth.sim import Simulator

    top = dut
    if domain is not None:
        top = Module()
        top.domains.sync = domain
        top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
