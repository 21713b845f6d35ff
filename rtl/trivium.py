"""Trivium keystream generator (SPEC §5), as an Amaranth component.

The primitive follows the shape of OpenTitan's ``prim_trivium``: the number of cipher clocks
computed per FPGA cycle is a parameter, the key/IV load and the 4·288-clock warm-up happen
inside the block, and the output is a stream of keystream words. Key and IV enter the state by
shifting, through the registers' inputs.
"""

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = [
    "Trivium", "KEY_WORDS", "state_bit_of_key_word", "startup_cycles", "trivium_clocks",
]

STATE_BITS = 288
WARMUP_CLOCKS = 4 * 288
#: Key and IV are written as five little-endian 32-bit words: bytes K0..K9 then IV0..IV9
#: (the 20 bytes at offset 8 of the SPEC §3.2 encoding).
KEY_WORDS = 5


def state_bit_of_key_word(word: int, bit: int) -> int:
    """0-based state index (``s1`` is index 0) loaded by bit ``bit`` of key/IV word ``word``.

    Word ``w`` holds bytes ``4w … 4w+3`` of ``K0..K9, IV0..IV9`` (little endian). Key byte
    ``B`` bit ``n`` (LSB = 0) sets ``s(80 − 8B − n)``; IV byte ``m`` bit ``n`` sets
    ``s(173 − 8m − n)`` (SPEC §5: the eSTREAM reference implementation's convention, under
    which the published ``trivium-80.80.test-vectors`` come out — checked in
    tests/test_rtl_trivium.py against Set 1 vectors 0/9/18, Set 2 vectors 0/9 and Set 6
    vector 0). Key ``80 00 … 00`` sets ``s73``.
    """
    byte, n = 4 * word + bit // 8, bit % 8
    if byte < 10:
        return 79 - (8 * byte + n)
    return 172 - (8 * (byte - 10) + n)


# Maximal-length Fibonacci LFSR taps (bit positions, 0-based, of the XOR feedback), by width.
_LFSR_TAPS = {2: (0, 1), 3: (0, 1), 4: (0, 1), 5: (0, 2), 6: (0, 1), 7: (0, 1), 8: (0, 2, 3, 4),
              9: (0, 4), 10: (0, 3), 11: (0, 2), 12: (0, 1, 4, 6)}


def _lfsr_step(state, width, taps):
    fb = 0
    for t in taps:
        fb ^= (state >> t) & 1
    return (state >> 1) | (fb << (width - 1))


def _lfsr_for(steps):
    """(width, taps, states S_0 … S_(steps−1)) of an LFSR whose first `steps` states differ."""
    for width in sorted(_LFSR_TAPS):
        if (1 << width) - 1 >= steps:
            taps, seq, s = _LFSR_TAPS[width], [], 1
            for _ in range(steps):
                seq.append(s)
                s = _lfsr_step(s, width, taps)
            assert len(set(seq)) == steps
            return width, taps, seq
    raise ValueError("warm-up too long for the LFSR table")


def _parity(value, taps):
    bit = value[taps[0]]
    for t in taps[1:]:
        bit = bit ^ value[t]
    return bit


def trivium_clocks(state, clocks):
    """Unroll ``clocks`` Trivium clocks over a list of 288 bit expressions.

    ``state[0]`` is ``s1``. Works on anything with ``^`` and ``&`` (Amaranth values, Python
    ints). Returns ``(new_state, z)`` where ``z[c]`` is the output bit of clock ``c``.
    """
    s = list(state)
    z = []
    for _ in range(clocks):
        t1 = s[65] ^ s[92]
        t2 = s[161] ^ s[176]
        t3 = s[242] ^ s[287]
        z.append(t1 ^ t2 ^ t3)
        t1 = t1 ^ (s[90] & s[91]) ^ s[170]
        t2 = t2 ^ (s[174] & s[175]) ^ s[263]
        t3 = t3 ^ (s[285] & s[286]) ^ s[68]
        s = [t3] + s[0:92] + [t1] + s[93:176] + [t2] + s[177:287]
    return s, z


class Trivium(wiring.Component):
    """Trivium keystream generator, ``bits_per_cycle`` cipher clocks per FPGA cycle.

    What it does
        Holds the 288-bit Trivium state. Key/IV words are written into a five-word memory
        (block RAM on the iCE40); ``start`` clears the state (``s286…s288 = 1``) and shifts the
        80 key bits into the first register and the 80 IV bits into the second through the
        registers' own inputs — the state flip-flops are plain shift-register stages with an
        enable and a synchronous clear, and only the ``bits_per_cycle`` input bits of each
        register choose between the cipher's feedback and the load data (no per-bit load
        multiplexer). Then it runs the 1152-clock warm-up and produces the keystream
        ``z_1, z_2, …`` (SPEC §5) as ``word_width``-bit words: bit ``k`` of word ``w`` is
        ``z_(w·word_width + k + 1)`` (so 32-bit words are the little-endian keystream words
        ``R_v`` of SPEC §6).

    Parameters
        ``bits_per_cycle`` — cipher clocks per cycle, a power of two, 1 … 16, dividing
        ``word_width``. The unrolled update is one XOR/AND level deep (Trivium's taps are
        ≥ 66 bits from each register's input).
        ``word_width`` — keystream word width (default 32).

    Interface
        ``key_we``, ``key_addr`` (0…4), ``key_data`` (32): write key/IV word ``key_addr``
        (bytes ``K0..K9, IV0..IV9`` little endian, five words), in any order, one per cycle at
        most. A write lands in the key memory in its cycle and stops the keystream from the cycle
        after (``running`` and ``keystream.valid`` are low two cycles after the write) until the
        next ``start``; a word counts towards a start two cycles after its write (a start
        earlier than that is refused; the unit's registered ``start`` makes this "one cycle
        after the last write" at its configuration port).
        ``start``: load key and IV, then warm up. Ignored unless all five key/IV words were
        written since the last start (so a used key/IV can never be loaded twice).
        ``running`` (out): the warm-up is done and the first word has been ready; it stays high
        until the next key write, start or reset.
        ``keystream`` (out, ``stream.Signature(word_width)``): keystream words. The generator
        stops when a word is ready and not taken.

    Latency
        ``160/bits_per_cycle`` cycles of load and ``1152/bits_per_cycle`` of warm-up after
        ``start`` (:func:`startup_cycles`), then a word is ready ``word_width/bits_per_cycle``
        cycles after the previous one was taken.

    Invariants
        The word sequence equals the SPEC §5 keystream whatever the timing of ``ready``.
        Reset stops the keystream (``running`` low) and forgets which key/IV words were
        written: a start after reset needs all five words written again, so no key, IV or
        state from before the reset can produce keystream. (The state flip-flops and the key
        memory are not cleared by reset, to keep them plain enable flip-flops and block RAM;
        neither is readable.)
    """

    def __init__(self, bits_per_cycle=4, word_width=32):
        if not (1 <= bits_per_cycle <= 16 and bits_per_cycle & (bits_per_cycle - 1) == 0
                and word_width % bits_per_cycle == 0):
            self._MustUse__silence = True    # no "created but never used" warning for it
            raise ValueError(
                f"bits_per_cycle must be a power of two, 1 … 16, dividing word_width "
                f"({word_width}), not {bits_per_cycle}")
        self.bits_per_cycle = bits_per_cycle
        self.word_width = word_width
        super().__init__({
            "key_we": In(1),
            "key_addr": In(3),
            "key_data": In(32),
            "start": In(1),
            "running": Out(1),
            "keystream": Out(stream.Signature(word_width)),
        })

    def elaborate(self, platform):
        from .param_store import memory_attrs

        m = Module()
        bpc, ww = self.bits_per_cycle, self.word_width

        # No reset on the state and word registers (plain enable flip-flops); after reset the
        # keystream is stopped and a start needs five fresh key/IV writes, so old state bits
        # never reach the output.
        state = Signal(STATE_BITS, reset_less=True)
        word = Signal(ww, reset_less=True)
        warm_steps = WARMUP_CLOCKS // bpc
        fill_steps = ww // bpc
        # Key/IV words wait in a small memory until `start` (written at most one per cycle).
        m.submodules.key_mem = key_mem = memory.Memory(
            shape=unsigned(32), depth=8, init=[], attrs=memory_attrs(platform))
        key_wr = key_mem.write_port()
        key_rd = key_mem.read_port()
        # Load: chunk `ld` (bpc bits of the 160-bit K0..K9 IV0..IV9 string, in order) enters
        # the first register (key, chunks 0 … 80/bpc − 1) or the second (IV, the rest).
        n_chunks, half, per_word = 160 // bpc, 80 // bpc, 32 // bpc
        ld = Signal(range(n_chunks), reset_less=True)
        load1 = Signal()            # the key is shifting into s1…s93
        load2 = Signal()            # the IV is shifting into s94…s177
        ld_half = Signal(reset_less=True)   # register: ld == half − 1
        ld_end = Signal(reset_less=True)    # register: ld == n_chunks − 1
        # Warm-up counter: a maximal-length LFSR (no carry chain), loaded with state S_0 when
        # the load ends and stepped once per warm-up cycle; `warm_last` (a register) marks the
        # last warm-up cycle, when the LFSR holds S_(warm_steps−1).
        lfsr_w, taps, seq = _lfsr_for(warm_steps)
        # The LFSR, `warm_last`, `fill_cnt` and `full` have no reset: each is loaded before it
        # is used (the LFSR and `warm_last` at the end of the load, which alone starts
        # `warming`; `fill_cnt` and `full` at `warm_done`, which alone starts `generating`),
        # and every use is gated by `warming` / `generating`, which reset clears.
        lfsr = Signal(lfsr_w, init=seq[0], reset_less=True)
        warm_last = Signal(reset_less=True)
        warming = Signal()          # the 1152 warm-up clocks are running
        generating = Signal()       # warm-up done: keystream words are being produced
        fill_cnt = Signal(range(fill_steps + 1), reset_less=True)
        full = Signal(reset_less=True)  # register: fill_cnt == fill_steps (a word is ready)
        written = Signal(KEY_WORDS)  # key/IV words written since the last start
        armed = Signal()            # register: all five written since the last start

        new_state, z = trivium_clocks([state[k] for k in range(STATE_BITS)], bpc)

        m.d.comb += [
            self.keystream.valid.eq(generating & full),
            self.keystream.payload.eq(word),
        ]
        take = self.keystream.valid & self.keystream.ready
        # The cipher clocks while warming up, and afterwards whenever the word register is not
        # full or is being emptied this cycle.
        step = Signal()
        m.d.comb += step.eq(warming | (generating & (~full | self.keystream.ready)))
        # The key memory takes a write in the cycle it is presented; the control sees it one
        # cycle later, from a register (`key_sel`), so that no path runs from the write port's
        # inputs to the state's enables or to `armed`.
        key_sel = Signal(KEY_WORDS)      # key/IV word written last cycle (one-hot)
        key_wen = Signal()
        start_ok = Signal()
        m.d.sync += key_sel.eq(Mux(key_wen, 1 << self.key_addr, 0))
        m.d.comb += [
            key_wen.eq(self.key_we & (self.key_addr < KEY_WORDS)),
            start_ok.eq(self.start & armed),
            key_wr.addr.eq(self.key_addr),
            key_wr.data.eq(self.key_data),
            key_wr.en.eq(key_wen),
            # Read the word of the chunk used next cycle: word 0 at start, then that of ld + 1.
            key_rd.addr.eq(Mux(start_ok, 0, (ld + 1) // per_word)),
        ]
        chunk = key_rd.data.word_select(ld % per_word, bpc)

        # State update. Every bit is a shift-register stage: at `start` it takes its constant
        # (s286…s288 = 1, the rest 0: a synchronous set/clear), otherwise, when its register
        # is enabled, the cipher's next value. Only the first `bpc` bits of the first two
        # registers choose between the feedback and the load chunk (the bit fed first ends
        # deepest: chunk bit c goes to input bit bpc − 1 − c).
        regs = ((0, 93, load1), (93, 177, load2), (177, STATE_BITS, None))
        for lo, hi, load in regs:
            en = start_ok | step if load is None else start_ok | step | load
            with m.If(en):
                for i in range(lo, hi):
                    nxt = new_state[i]
                    if load is not None and i < lo + bpc:
                        nxt = Mux(load, chunk[bpc - 1 - (i - lo)], nxt)
                    m.d.sync += state[i].eq(Mux(start_ok, int(i >= 285), nxt))

        with m.If(step):
            # word[k] = z of the k-th clock since the word was started (z_1 in bit 0).
            m.d.sync += word.eq(Cat(word[bpc:], *z))

        # Control, as flat next-state equations (no priority chain: short paths).
        kw = key_sel != 0
        load_done = load2 & ld_end
        warm_done = warming & warm_last
        stop = kw | start_ok
        written_next = Signal(KEY_WORDS)
        m.d.comb += written_next.eq(Mux(start_ok, 0, written | key_sel))
        m.d.sync += [
            written.eq(written_next),
            armed.eq(written_next == (1 << KEY_WORDS) - 1),
            load1.eq(start_ok | (load1 & ~ld_half & ~kw)),
            load2.eq(~stop & ((load1 & ld_half) | (load2 & ~ld_end))),
            warming.eq(~stop & (load_done | (warming & ~warm_done))),
            generating.eq(~stop & (generating | warm_done)),
            self.running.eq(~stop & (self.running |
                                     (generating & step & (fill_cnt == fill_steps - 1)))),
        ]
        with m.If(start_ok):
            m.d.sync += [ld.eq(0), ld_half.eq(half == 1), ld_end.eq(0)]
        with m.Elif(load1 | load2):
            m.d.sync += [ld.eq(ld + 1), ld_half.eq(ld == half - 2),
                         ld_end.eq(ld == n_chunks - 2)]
        lfsr_next = Cat(lfsr[1:], _parity(lfsr, taps))
        with m.If(load_done):
            m.d.sync += [lfsr.eq(seq[0]), warm_last.eq(warm_steps == 1)]
        with m.Elif(warming):
            m.d.sync += [lfsr.eq(lfsr_next),
                         warm_last.eq(~kw & (lfsr == seq[max(warm_steps - 2, 0)]))]
        # (Cleared at `warm_done` only: after a stop they matter again only once `generating`
        # is back, which takes a `warm_done`. Keeps `stop` off their enables.)
        with m.If(warm_done):
            m.d.sync += [fill_cnt.eq(0), full.eq(0)]
        with m.Elif(generating & step):
            m.d.sync += [
                fill_cnt.eq(Mux(take, 1, fill_cnt + 1)),
                full.eq(Mux(take, fill_steps == 1, fill_cnt == fill_steps - 1)),
            ]
        return m


def startup_cycles(bits_per_cycle: int, word_width: int = 32) -> int:
    """Cycles from an accepted ``start`` to ``running``: load, warm-up, first word."""
    return (160 + WARMUP_CLOCKS + word_width) // bits_per_cycle
