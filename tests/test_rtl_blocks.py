"""Unit tests of the unit's blocks in the Amaranth simulator: argmax, window, Δ, sampler, alter
stage, vector buffer, split counter and parameter store."""

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from rtl_support import random_params, run_sim  # noqa: E402

from dynamarks.rtl.alter import AlterStage, MacAlterStage  # noqa: E402
from dynamarks.rtl.argmax import Argmax  # noqa: E402
from dynamarks.rtl.counter import SplitCounter  # noqa: E402
from dynamarks.rtl.delta import DeltaGen  # noqa: E402
from dynamarks.rtl.param_store import (  # noqa: E402
    SPACE_C,
    SPACE_KEY,
    SPACE_WINDOW,
    ParamStore,
    config_address,
    config_writes,
)
from dynamarks.rtl.sampler import Sampler  # noqa: E402
from dynamarks.rtl.vector_buffer import VectorBuffer  # noqa: E402
from dynamarks.rtl.window import Window  # noqa: E402


def np_argmax(p):
    return max(range(len(p)), key=lambda k: (p[k], -k))


@pytest.mark.parametrize("classes,width", [(10, 16), (2, 12), (5, 20)])
def test_argmax_ties_and_stalls(classes, width):
    rng = random.Random(classes)
    vectors = []
    for _ in range(60):
        kind = rng.random()
        if kind < 0.3:                       # many ties
            v = [rng.choice([0, 3, 7]) for _ in range(classes)]
        elif kind < 0.4:
            v = [rng.randrange(1 << width)] * classes
        else:
            v = [rng.randrange(1 << width) for _ in range(classes)]
        vectors.append(v)
    dut = Argmax(classes, width)
    results = []

    async def tb(ctx):
        for v in vectors:
            for k, x in enumerate(v):
                while rng.random() < 0.3:      # stall cycles between words
                    ctx.set(dut.valid, 0)
                    await ctx.tick()
                ctx.set(dut.valid, 1)
                ctx.set(dut.first, int(k == 0))
                ctx.set(dut.data, x)
                await ctx.tick()
            ctx.set(dut.valid, 0)
            await ctx.tick()                   # latency 1; held through idle cycles
            results.append((ctx.get(dut.max_next), ctx.get(dut.index_next)))

    run_sim(dut, tb)
    for v, (mx, idx) in zip(vectors, results, strict=True):
        assert (mx, idx) == (max(v), np_argmax(v))


def test_argmax_back_to_back():
    """Vectors without any gap: the result of each is there the cycle after its last word."""
    classes, width = 3, 10
    rng = random.Random(3)
    vectors = [[rng.choice([1, 2, 900]) for _ in range(classes)] for _ in range(40)]
    dut = Argmax(classes, width)
    results = []

    async def tb(ctx):
        flat = [(x, int(k == 0)) for v in vectors for k, x in enumerate(v)]
        for t in range(len(flat) + 1):
            if t < len(flat):
                ctx.set(dut.valid, 1)
                ctx.set(dut.data, flat[t][0])
                ctx.set(dut.first, flat[t][1])
            else:
                ctx.set(dut.valid, 0)
            if t >= 1 and (t - 1) % classes == classes - 1:
                results.append((ctx.get(dut.max_next), ctx.get(dut.index_next)))
            await ctx.tick()

    run_sim(dut, tb)
    assert results == [(max(v), np_argmax(v)) for v in vectors]


def test_window_endpoints():
    width = 16
    one = 1 << 15
    rng = random.Random(1)
    cases = []
    for _ in range(150):
        alpha = rng.randrange(1 << width)
        beta = rng.randrange(1 << width)
        value = rng.choice([alpha, beta, alpha + 1, beta - 1, rng.randrange(1 << width)])
        cases.append((value % (1 << width), alpha, beta))
    cases += [(one, one * 9 // 10, one), (one * 9 // 10, one * 9 // 10, one),
              (one * 9 // 10 + 1, one * 9 // 10, one), (one - 1, one * 9 // 10, one),
              (5, 4, 6), (5, 5, 6), (5, 4, 5), (0, 0, 0)]
    dut = Window(width)
    got = []

    async def tb(ctx):
        for value, alpha, beta in cases:
            ctx.set(dut.value, value)
            ctx.set(dut.alpha, alpha)
            ctx.set(dut.beta, beta)
            await ctx.tick()
            got.append(ctx.get(dut.inside))

    run_sim(dut, tb)
    assert got == [int(a < v < b) for v, a, b in cases]


@pytest.mark.parametrize("width", [10, 16, 20, 24])
def test_delta_range_and_formula(width):
    one = 1 << (width - 1)
    rng = random.Random(width)
    cases = []
    for _ in range(200):
        b = rng.randint(1, one)
        a = rng.randint(0, b - 1)
        r = rng.choice([0, 0xFFFF, rng.randrange(1 << 16)])
        cases.append((a, b, r))
    cases += [(0, one, 0xFFFF), (0, one, 0), (one - 1, one, 0xFFFF), (0, 1, 0xFFFF)]
    dut = DeltaGen(width)
    got = []

    async def tb(ctx):
        for t in range(len(cases) + 2):       # fully pipelined: one new input per cycle
            ctx.set(dut.load, t < len(cases))
            ctx.set(dut.fire, 1 <= t <= len(cases))
            if t < len(cases):
                a, b, r = cases[t]
                ctx.set(dut.a, a)
                ctx.set(dut.b, b)
                ctx.set(dut.r, r)
            if t >= 2:
                got.append(ctx.get(dut.hi))
            await ctx.tick()
        ctx.set(dut.load, 1)                  # the result holds without `fire`
        ctx.set(dut.fire, 0)
        for _ in range(3):
            await ctx.tick()
            assert ctx.get(dut.hi) == got[-1]

    run_sim(dut, tb)
    for (a, b, r), hi in zip(cases, got, strict=True):
        d = a + hi                            # Δ
        assert d == a + ((r * (b - a)) >> 16)
        assert a <= d <= b - 1


@pytest.mark.parametrize("by_index", [False, True], ids=["c-by-class", "c-by-index"])
def test_sampler_against_thresholds(by_index):
    rng = random.Random(2)
    classes = 12
    rows = []
    for _ in range(60):
        n = rng.randint(2, 12)
        cuts = sorted(rng.choice([0, 1, 65535, 65536, rng.randrange(65537)])
                      for _ in range(n - 1))
        row = cuts + [65536]
        u = rng.choice([0, 65535, rng.randrange(65536)] + [c for c in row if c < 65536])
        rows.append((row, u))
    dut = Sampler(classes, by_index=by_index)
    hits = []

    async def tb(ctx):
        # The word enters S1 with `en`; its flag is `hit_now` in S2 (after that `en`), until
        # the next `en`. Word 0 compares with `u_head`, the others with `u` (set to garbage
        # while word 0 is in S1, as the keystream word is there only for word 0).
        for row, u in rows:
            for k, c in enumerate(row):
                ctx.set(dut.first, int(k == 0))
                ctx.set(dut.u_head, u if k == 0 else rng.randrange(65536))
                ctx.set(dut.u, u if k else rng.randrange(65536))
                ctx.set(dut.c, c)
                # by index: the word's threshold is the class's entry of a row whose other
                # entries are garbage (other classes' thresholds)
                cls = (len(row) * 7 + u) % classes
                ctx.set(dut.cls, cls)
                ctx.set(dut.c_row, [c if r == cls else rng.randrange(1 << 17)
                                    for r in range(classes)])
                if by_index:
                    ctx.set(dut.c, rng.randrange(1 << 17))
                ctx.set(dut.en, 1)
                await ctx.tick()
                ctx.set(dut.en, 0)
                if rng.random() < 0.3:             # a stall: the flag holds
                    await ctx.tick()
                hits.append(ctx.get(dut.hit_now))

    run_sim(dut, tb)
    want = [int(k == sum(1 for c in row if c <= u)) for row, u in rows for k in range(len(row))]
    assert hits == want


@pytest.mark.parametrize("width", [10, 16])
def test_delta_whole_is_a_plus_hi(width):
    """DeltaGen(whole=True) (the iCE40 form, Δ = a + hi added after the product): SPEC §7's
    Δ = a + ((r · (b − a)) >> 16) for valid sets, pipelined one per cycle, held without `fire`;
    for an invalid set with b < a the same value modulo 2^W as a + hi from the split form (the
    DSP multiplies r by b − a − 1 and adds r: exact while b − a ≢ 0 mod 2^W; a == b, which
    SPEC §3.1 refuses, is left out)."""
    one = 1 << (width - 1)
    mask = (1 << width) - 1
    rng = random.Random(width + 100)
    cases = []
    for _ in range(200):
        b = rng.randint(1, one)
        a = rng.randint(0, b - 1)
        r = rng.choice([0, 0xFFFF, rng.randrange(1 << 16)])
        cases.append((a, b, r))
    cases += [(0, one, 0xFFFF), (0, one, 0), (one - 1, one, 0xFFFF), (0, 1, 0xFFFF)]
    for _ in range(50):                               # any a ≠ b: modulo 2^W
        a, b = rng.sample(range(1 << width), 2)
        cases.append((a, b, rng.randrange(1 << 16)))
    dut = DeltaGen(width, whole=True)
    got = []

    async def tb(ctx):
        for t in range(len(cases) + 2):
            ctx.set(dut.load, t < len(cases))
            ctx.set(dut.fire, 1 <= t <= len(cases))
            if t < len(cases):
                a, b, r = cases[t]
                ctx.set(dut.a, a)
                ctx.set(dut.b, b)
                ctx.set(dut.r, r)
            if t >= 2:
                got.append(ctx.get(dut.delta))
            await ctx.tick()
        ctx.set(dut.load, 1)
        ctx.set(dut.fire, 0)
        for _ in range(3):
            await ctx.tick()
            assert ctx.get(dut.delta) == got[-1]

    run_sim(dut, tb)
    for (a, b, r), d in zip(cases, got, strict=True):
        assert d == (a + ((r * ((b - a) & mask)) >> 16)) & mask
        if a < b:
            assert a <= d <= b - 1


def test_mac_alter_stage():
    """MacAlterStage against SPEC §9 (p − Δ at i, p + Δ at j, p otherwise), Δ over the
    whole word range (results modulo 2^W), inputs disturbed after `en`."""
    width = 16
    rng = random.Random(5)
    cases = [(rng.randrange(1 << width), rng.randrange(2), rng.randrange(2), rng.randrange(2),
              rng.randrange(1 << width)) for _ in range(300)]
    dut = MacAlterStage(width)
    got = []

    async def tb(ctx):
        for p, is_i, hit, ok, delta in cases:
            ctx.set(dut.en, 1)
            ctx.set(dut.p, p)
            ctx.set(dut.is_i, is_i)
            ctx.set(dut.ok, ok)
            ctx.set(dut.hit, hit)
            await ctx.tick()
            ctx.set(dut.en, 0)
            ctx.set(dut.p, rng.randrange(1 << width))
            ctx.set(dut.is_i, rng.randrange(2))
            ctx.set(dut.ok, rng.randrange(2))
            ctx.set(dut.hit, rng.randrange(2))
            ctx.set(dut.delta, delta)
            got.append(ctx.get(dut.out))
            await ctx.tick()                        # holds while `en` is low
            assert ctx.get(dut.out) == got[-1]

    run_sim(dut, tb)
    mask = (1 << width) - 1
    for (p, is_i, hit, ok, delta), out in zip(cases, got, strict=True):
        if ok and is_i and not hit:
            assert out == (p - delta) & mask
        elif ok and hit and not is_i:
            assert out == (p + delta) & mask
        else:
            assert out == p


def test_alter_stage():
    width = 16
    rng = random.Random(4)
    cases = [(rng.randrange(1 << width), rng.randrange(2), rng.randrange(2), rng.randrange(2),
              rng.randrange(1 << 14)) for _ in range(300)]
    dut = AlterStage(width)
    got = []

    async def tb(ctx):
        for p, is_i, hit, ok, delta in cases:
            a = rng.randint(0, delta)         # Δ = a + hi, split anywhere
            ctx.set(dut.en, 1)
            ctx.set(dut.p, p)
            ctx.set(dut.a, a)
            ctx.set(dut.is_i, is_i)
            ctx.set(dut.ok, ok)
            ctx.set(dut.hit, hit)
            await ctx.tick()
            ctx.set(dut.en, 0)
            for sig in (dut.p, dut.a):              # only their values at `en` count
                ctx.set(sig, rng.randrange(1 << width))
            ctx.set(dut.hit, rng.randrange(2))
            ctx.set(dut.hi, delta - a)
            got.append(ctx.get(dut.out))

    run_sim(dut, tb)
    mask = (1 << width) - 1
    for (p, is_i, hit, ok, delta), out in zip(cases, got, strict=True):
        if ok and is_i and not hit:
            assert out == (p - delta) & mask
        elif ok and hit and not is_i:
            assert out == (p + delta) & mask
        else:
            assert out == p


def test_vector_buffer_commit_restart_and_order():
    """Vectors of `vector` words written at their positions, some cut short (restarted from
    position 0, never committed) or abandoned: the reader gets exactly the committed vectors'
    words, in order (the writer keeps committed-unread + current ≤ depth, the precondition)."""
    width, depth, vector = 12, 16, 5
    rng = random.Random(6)
    dut = VectorBuffer(width, depth, vector)
    out = {}

    async def tb(ctx):
        committed = []      # words the reader may read, in order
        current = []
        read = []
        for _ in range(800):
            readable = len(committed)          # committed before this cycle
            ctx.set(dut.write.en, 0)
            ctx.set(dut.write.commit, 0)
            unread = len(committed) - len(read)
            if rng.random() < 0.7:
                restart = not current or len(current) == vector or rng.random() < 0.1
                if rng.random() < 0.05:
                    current = []                # abandoned: the next vector starts over
                elif unread + (1 if restart else len(current) + 1) <= depth:
                    x = rng.randrange(1 << width)
                    current = [x] if restart else current + [x]
                    ctx.set(dut.write.data, x)
                    ctx.set(dut.write.en, 1)
                    ctx.set(dut.write.pos, len(current) - 1)
                    if len(current) == vector and rng.random() < 0.8:
                        ctx.set(dut.write.commit, 1)
                        committed += current
                        current = []
            # reader: reads committed words only
            nxt = rng.random() < 0.5 and readable > len(read)
            ctx.set(dut.read.next, int(nxt))
            ctx.set(dut.read.en, 1)
            await ctx.tick()
            if nxt:
                read.append(ctx.get(dut.read.data))
        out["read"], out["committed"] = read, committed

    run_sim(dut, tb)
    assert out["read"] == out["committed"][:len(out["read"])]
    assert len(out["read"]) > 100


@pytest.mark.parametrize("width,max_inc", [(8, 1), (8, 2), (12, 3)])
def test_split_counter_counts_exactly_through_wraps(width, max_inc):
    """Every cycle the value is the running total of the increments mod 2^width (one cycle
    later), also in the cycles where the low half carries into the high half and where the
    whole counter wraps; increments are biased towards the maximum to cross many carries."""
    rng = random.Random(width * 10 + max_inc)
    dut = SplitCounter(width, max_inc)
    incs = [rng.choice([0] + [max_inc] * 3 + list(range(1, max_inc + 1)))
            for _ in range(6 * (1 << width) // max_inc)]
    got = []

    async def tb(ctx):
        for x in incs:
            ctx.set(dut.inc, x)
            await ctx.tick()
            got.append(ctx.get(dut.value))

    run_sim(dut, tb)
    total, want = 0, []
    for x in incs:
        total = (total + x) % (1 << width)
        want.append(total)
    assert got == want


@pytest.mark.parametrize("c_by_index", [False, True], ids=["c-by-class", "c-by-index"])
@pytest.mark.parametrize("classes", [6, 2])      # 2: read fields narrower than B = 2 bits
def test_param_store_write_read_lock(c_by_index, classes):
    width = 16
    rng = random.Random(8)
    prm = random_params(rng, classes, width)
    dut = ParamStore(classes, width, c_by_index=c_by_index)
    out = {}

    async def write(ctx, addr, value):
        """One write; returns the key/IV write it passes on to the Trivium (in the next
        cycle), if any."""
        ctx.set(dut.cfg_addr, addr)
        ctx.set(dut.cfg_data, value)
        ctx.set(dut.cfg_we, 1)
        await ctx.tick()
        ctx.set(dut.cfg_we, 0)
        return (ctx.get(dut.key_addr), ctx.get(dut.key_data)) if ctx.get(dut.key_we) else None

    async def read_all(ctx):
        win, c = [], []
        for i in range(classes):
            ctx.set(dut.read.win_addr, i)
            ctx.set(dut.read.win_en, 1)
            await ctx.tick()
            win.append((ctx.get(dut.read.alpha), ctx.get(dut.read.beta), ctx.get(dut.read.a),
                        ctx.get(dut.read.b)))
            row = []
            for k in range(classes):
                ctx.set(dut.read.c_cls, i)
                ctx.set(dut.read.c_index, k)
                ctx.set(dut.read.c_en, 1)
                await ctx.tick()
                row.append(ctx.get(dut.read.c_data))
            c.append(row)
        return win, c

    async def tb(ctx):
        key_writes = []
        for addr, value in config_writes(prm, classes):
            key = await write(ctx, addr, value)
            if key is not None:
                key_writes.append(key)
        await ctx.tick()
        out["key_writes"] = key_writes
        out["before"] = await read_all(ctx)
        # out-of-range addresses do nothing
        assert await write(ctx, config_address(classes, SPACE_KEY, 0, 0) | 7, 123) is None
        await write(ctx, (3 << (2 * dut.field_bits)), 0xFFFF)
        # lock, then try to change everything and to start
        ctx.set(dut.cfg_lock, 1)
        await ctx.tick()
        ctx.set(dut.cfg_lock, 0)
        assert ctx.get(dut.locked)
        for i in range(classes):
            await write(ctx, config_address(classes, SPACE_WINDOW, i, 0), 1)
            await write(ctx, config_address(classes, SPACE_C, i, 0), 65536)
        assert await write(ctx, config_address(classes, SPACE_KEY, 0, 2), 0xDEAD) is None
        ctx.set(dut.cfg_start, 1)
        await ctx.tick()
        ctx.set(dut.cfg_start, 0)
        assert not ctx.get(dut.start)
        await ctx.tick()
        assert not ctx.get(dut.start) and ctx.get(dut.locked)
        out["after"] = await read_all(ctx)

    run_sim(dut, tb)
    win, c = out["before"]
    assert win == list(zip(prm.alpha, prm.beta, prm.a, prm.b, strict=True))
    assert c == prm.C
    assert out["after"] == out["before"]
    blob = prm.key + prm.iv
    assert out["key_writes"] == [(w, int.from_bytes(blob[4 * w:4 * w + 4], "little"))
                                 for w in range(5)]


def test_config_address_map():
    assert config_address(10, SPACE_C, 3, 7) == (0 << 8) | (3 << 4) | 7
    assert config_address(10, SPACE_WINDOW, 9, 3) == (1 << 8) | (9 << 4) | 3
    assert config_address(10, SPACE_KEY, 0, 4) == (2 << 8) | 4
    assert config_address(2, SPACE_WINDOW, 1, 2) == (1 << 4) | (1 << 2) | 2
    with pytest.raises(ValueError):
        config_address(10, SPACE_C, 10, 0)
    with pytest.raises(ValueError):
        config_address(10, SPACE_KEY, 0, 5)
