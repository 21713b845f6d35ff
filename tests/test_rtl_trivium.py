"""The Trivium block (rtl/trivium.py) against the published eSTREAM test vectors."""

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from rtl_support import run_sim, trivium_keystream_bytes  # noqa: E402

from dynamarks.rtl.trivium import (  # noqa: E402
    Trivium,
    state_bit_of_key_word,
    trivium_clocks,
)

# eSTREAM trivium-80.80.test-vectors: (key, iv, stream[0..15]) as published byte strings.
ESTREAM = [
    ("80000000000000000000", "00000000000000000000", "38EB86FF730D7A9CAF8DF13A4420540D"),
    ("00400000000000000000", "00000000000000000000", "61208D286BC1DC431171EDA5CAF79D95"),
    ("00002000000000000000", "00000000000000000000", "C8F9031DABF8DB03FF120D05512B5F24"),
    ("00000000000000000000", "00000000000000000000", "FBE0BF265859051B517A2E4E239FC97F"),
    ("09090909090909090909", "00000000000000000000", "AB97616E7BAF0921F424B2573BFA15BD"),
    ("0053A6F94C9FF24598EB", "0D74DB42A91077DE45AC", "F4CD954A717F26A7D6930830C4E7CF08"),
]


@pytest.mark.parametrize("key,iv,expected", ESTREAM)
def test_bit_serial_model_matches_estream(key, iv, expected):
    got = trivium_keystream_bytes(bytes.fromhex(key), bytes.fromhex(iv), 16)
    assert got.hex().upper() == expected


def test_unrolled_update_and_key_map_match_the_model():
    """trivium_clocks (what the RTL unrolls) and the key/IV word map agree with the model."""
    rng = random.Random(5)
    for _ in range(3):
        key, iv = rng.randbytes(10), rng.randbytes(10)
        s = [0] * 288
        blob = key + iv
        for w in range(5):
            word = int.from_bytes(blob[4 * w:4 * w + 4], "little")
            for bit in range(32):
                s[state_bit_of_key_word(w, bit)] = (word >> bit) & 1
        s[285] = s[286] = s[287] = 1
        s, _ = trivium_clocks(s, 1152)
        _, z = trivium_clocks(s, 64)
        expected = trivium_keystream_bytes(key, iv, 8)
        assert bytes(sum(z[8 * m + k] << k for k in range(8)) for m in range(8)) == expected


def _keystream_words(bits, key, iv, n_words, rng, p_ready=1.0, restart=False):
    dut = Trivium(bits)
    out = {}

    async def load(ctx, blob):
        for w in range(5):
            ctx.set(dut.key_addr, w)
            ctx.set(dut.key_data, int.from_bytes(blob[4 * w:4 * w + 4], "little"))
            ctx.set(dut.key_we, 1)
            await ctx.tick()
        ctx.set(dut.key_we, 0)
        await ctx.tick()                      # a word counts two cycles after its write
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)

    async def tb(ctx):
        blob = key + iv
        if restart:   # a first key, a few words, then the real key: the stream starts over
            await load(ctx, bytes(20))
            for _ in range(1152 // bits + 200):
                ctx.set(dut.keystream.ready, 1)
                await ctx.tick()
        await load(ctx, blob)
        cycles = 0
        while not ctx.get(dut.running):
            assert not ctx.get(dut.keystream.valid)
            await ctx.tick()
            cycles += 1
        out["warmup"] = cycles
        words = []
        while len(words) < n_words:
            ready = rng.random() < p_ready
            ctx.set(dut.keystream.ready, ready)
            if ready and ctx.get(dut.keystream.valid):
                words.append(ctx.get(dut.keystream.payload))
            await ctx.tick()
        out["words"] = words

    run_sim(dut, tb)
    return out


@pytest.mark.parametrize("bits", [1, 4, 8, 16])
def test_rtl_estream_vectors(bits):
    rng = random.Random(bits)
    for key, iv, expected in ESTREAM[bits % 3::3][:1] + [ESTREAM[5]]:
        out = _keystream_words(bits, bytes.fromhex(key), bytes.fromhex(iv), 4, rng,
                               p_ready=0.6)
        got = b"".join(w.to_bytes(4, "little") for w in out["words"])
        assert got.hex().upper() == expected
        # one cycle to take the start, load ⌈111/bits⌉ cycles (the registers shift until the
        # longest, s178…s288, holds only initial state), warm-up 1152/bits cycles, then the
        # first word fills in 32/bits
        assert out["warmup"] == 1 + -(-111 // bits) + 1152 // bits + 32 // bits


def test_rtl_long_stream_and_restart():
    rng = random.Random(7)
    key, iv = rng.randbytes(10), rng.randbytes(10)
    out = _keystream_words(4, key, iv, 40, rng, p_ready=0.5, restart=True)
    got = b"".join(w.to_bytes(4, "little") for w in out["words"])
    assert got == trivium_keystream_bytes(key, iv, 160)


def test_start_needs_all_five_key_words_and_key_write_stops():
    dut = Trivium(8)

    async def tb(ctx):
        for w in range(4):                    # only four words
            ctx.set(dut.key_addr, w)
            ctx.set(dut.key_we, 1)
            await ctx.tick()
        ctx.set(dut.key_we, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(200):
            await ctx.tick()
        assert not ctx.get(dut.running)        # refused
        ctx.set(dut.key_addr, 4)
        ctx.set(dut.key_we, 1)
        await ctx.tick()
        ctx.set(dut.key_we, 0)
        await ctx.tick()
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(200):
            await ctx.tick()
        assert ctx.get(dut.running) and ctx.get(dut.keystream.valid)
        ctx.set(dut.key_we, 1)                 # any key write stops the keystream
        await ctx.tick()
        ctx.set(dut.key_we, 0)
        await ctx.tick()                       # (the control sees the write a cycle later)
        assert not ctx.get(dut.running) and not ctx.get(dut.keystream.valid)
        ctx.set(dut.start, 1)                  # and a start right after it is refused again
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(200):
            await ctx.tick()
        assert not ctx.get(dut.running)

    run_sim(dut, tb)


def test_bits_per_cycle_must_divide_the_word():
    with pytest.raises(ValueError):
        Trivium(3)
    with pytest.raises(ValueError):
        Trivium(64)
    with pytest.raises(ValueError):     # the key/IV load works in chunks of ≤ 16 bits
        Trivium(32)


@pytest.mark.parametrize("bits", [2, 4, 16])
def test_word_every_32_over_bits_cycles_never_waits(bits):
    """A consumer taking a word exactly every 32/bits cycles (the unit's tightest schedule,
    N = 32/bits) always finds one, after any wait, and the words stay the keystream."""
    rng = random.Random(bits)
    key, iv = rng.randbytes(10), rng.randbytes(10)
    dut = Trivium(bits)
    period, n_words = 32 // bits, 12
    out = []

    async def tb(ctx):
        blob = key + iv
        for w in range(5):
            ctx.set(dut.key_addr, w)
            ctx.set(dut.key_data, int.from_bytes(blob[4 * w:4 * w + 4], "little"))
            ctx.set(dut.key_we, 1)
            await ctx.tick()
        ctx.set(dut.key_we, 0)
        await ctx.tick()
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        while not ctx.get(dut.running):
            await ctx.tick()
        for _ in range(3 * period):          # the generator runs ahead while nobody takes
            await ctx.tick()
        for _ in range(n_words):
            assert ctx.get(dut.keystream.valid)
            out.append(ctx.get(dut.keystream.payload))
            ctx.set(dut.keystream.ready, 1)
            await ctx.tick()
            ctx.set(dut.keystream.ready, 0)
            for _ in range(period - 1):
                await ctx.tick()

    run_sim(dut, tb)
    assert b"".join(w.to_bytes(4, "little") for w in out) == trivium_keystream_bytes(
        key, iv, 4 * n_words)


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 16])
def test_ring_plan_keeps_every_tap_and_lane_length(bits):
    """The state layout (rtl/trivium.py `_Geometry`) against the cipher's taps: every word a
    tap reads exists, every word is a flip-flop fed by the word before it or a ring's read
    register fed from a word that exists, each ring reads a row it did not just write and
    fits one iCE40 block RAM port; so every lane is a shift register of its full length
    (what the keystream tests above then check bit for bit)."""
    from dynamarks.rtl.trivium import _Geometry

    geo = _Geometry(bits)
    taps = {"A": (66, 69, 91, 92, 93), "B": (69, 78, 82, 83, 84), "C": (66, 87, 109, 110, 111)}
    for lane, positions in taps.items():
        present = {1, *geo.present[lane]}
        for t in positions:
            for c in range(bits):       # clock c of a step reads position t − c
                assert -(-(t - c) // bits) in present, (lane, t, c)
        for j in geo.present[lane]:
            if (lane, j) in geo.ring_of:
                r, _ = geo.ring_of[(lane, j)]
                d, depth, slots = geo.rings[r]
                assert j - d - 1 in present and 1 <= d < depth
            else:
                assert j - 1 in present
    for _d, depth, slots in geo.rings:
        assert len(slots) * bits <= 16 and depth & (depth - 1) == 0
    assert not geo.rings if bits == 16 else geo.rings
