"""Trivium keystream generator (SPEC §5), as an Amaranth component.

The primitive follows the shape of OpenTitan's ``prim_trivium``: the number of cipher clocks
computed per FPGA cycle is a parameter, the key/IV load and the 4·288-clock warm-up happen
inside the block, and the output is a stream of keystream words.
"""

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Trivium", "KEY_WORDS", "state_bit_of_key_word", "trivium_clocks"]

STATE_BITS = 288
WARMUP_CLOCKS = 4 * 288
#: Key and IV are written as five little-endian 32-bit words: bytes K0..K9 then IV0..IV9
#: (the 20 bytes at offset 8 of the SPEC §3.2 encoding).
KEY_WORDS = 5


def state_bit_of_key_word(word: int, bit: int) -> int:
    """0-based state index (``s1`` is index 0) loaded by bit ``bit`` of key/IV word ``word``.

    Word ``w`` holds bytes ``4w … 4w+3`` of ``K0..K9, IV0..IV9`` (little endian). Key byte
    ``B`` bit ``n`` (LSB = 0) sets ``s(80 − 8B − n)``; IV byte ``m`` bit ``n`` sets
    ``s(173 − 8m − n)``. This is the eSTREAM reference implementation's convention: it is the
    mapping under which the published ``trivium-80.80.test-vectors`` come out (checked in
    tests/test_rtl_trivium.py against Set 1 vectors 0/9/18, Set 2 vectors 0/9 and Set 6
    vector 0). Key ``80 00 … 00`` sets ``s73``.

    NOTE: SPEC §5 (draft) writes ``s(8m + n + 1)``; that mapping does *not* reproduce the
    published vectors, which §5 also requires. The RTL follows the vectors.
    """
    byte, n = 4 * word + bit // 8, bit % 8
    if byte < 10:
        return 79 - (8 * byte + n)
    return 172 - (8 * (byte - 10) + n)


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
        Holds the 288-bit Trivium state. Key/IV words are written straight into the state bits
        they occupy (no copy of the key is kept anywhere else); ``start`` sets the constant bits,
        runs the 1152-clock warm-up and then produces the keystream ``z_1, z_2, …`` (SPEC §5)
        as ``word_width``-bit words: bit ``k`` of word ``w`` is ``z_(w·word_width + k + 1)``
        (so 32-bit words are the little-endian keystream words ``R_v`` of SPEC §6).

    Parameters
        ``bits_per_cycle`` — cipher clocks per cycle, a power of two dividing ``word_width``
        (1 … 32 for 32-bit words). Up to 64 clocks the unrolled update is one XOR/AND level
        deep (Trivium's taps are ≥ 66 bits from each register's input).
        ``word_width`` — keystream word width (default 32).

    Interface
        ``key_we``, ``key_addr`` (0…4), ``key_data`` (32): write key/IV word ``key_addr``
        (bytes ``K0..K9, IV0..IV9`` little endian, five words). A write stops the keystream
        (``running`` falls) until the next ``start``.
        ``start``: begin the warm-up. Ignored unless all five key/IV words were written since the
        last start (so the state can never be re-warmed from a used state).
        ``running`` (out): the warm-up is done and the first word has been ready; it stays high
        until the next key write, start or reset.
        ``keystream`` (out, ``stream.Signature(word_width)``): keystream words. The generator
        stops when a word is ready and not taken.

    Latency
        ``1152/bits_per_cycle`` cycles of warm-up after ``start``, then a word is ready
        ``word_width/bits_per_cycle`` cycles after the previous one was taken.

    Invariants
        The word sequence equals the SPEC §5 keystream whatever the timing of ``ready``.
        Reset zeroes the state (the key is gone) and clears ``running``.
    """

    def __init__(self, bits_per_cycle=4, word_width=32):
        if bits_per_cycle < 1 or word_width % bits_per_cycle or WARMUP_CLOCKS % bits_per_cycle:
            raise ValueError(
                f"bits_per_cycle must divide word_width ({word_width}) and 1152, "
                f"not {bits_per_cycle}")
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
        m = Module()
        bpc, ww = self.bits_per_cycle, self.word_width

        state = Signal(STATE_BITS)
        word = Signal(ww)
        warm_steps = WARMUP_CLOCKS // bpc
        fill_steps = ww // bpc
        warm_cnt = Signal(range(warm_steps + 1))
        warming = Signal()          # the 1152 warm-up clocks are running
        generating = Signal()       # warm-up done: keystream words are being produced
        fill_cnt = Signal(range(fill_steps + 1))
        written = Signal(KEY_WORDS)  # key/IV words written since the last start

        new_state, z = trivium_clocks([state[k] for k in range(STATE_BITS)], bpc)

        full = fill_cnt == fill_steps
        take = self.keystream.valid & self.keystream.ready
        m.d.comb += [
            self.keystream.valid.eq(generating & full),
            self.keystream.payload.eq(word),
        ]
        # The cipher clocks while warming up, and afterwards whenever the word register is not
        # full or is being emptied this cycle.
        step = Signal()
        m.d.comb += step.eq(warming | (generating & (~full | take)))
        with m.If(step):
            m.d.sync += state.eq(Cat(*new_state))

        with m.If(warming):
            m.d.sync += warm_cnt.eq(warm_cnt - 1)
            with m.If(warm_cnt == 1):
                m.d.sync += [warming.eq(0), generating.eq(1), fill_cnt.eq(0)]
        with m.Elif(step):
            # word[k] = z of the k-th clock since the word was started (z_1 in bit 0).
            m.d.sync += word.eq(Cat(word[bpc:], *z))
            m.d.sync += fill_cnt.eq(Mux(take, 1, fill_cnt + 1))
            with m.If(fill_cnt == fill_steps - 1):
                m.d.sync += self.running.eq(1)

        # Key/IV load and start (after the datapath above: these assignments win).
        key_map = [[state_bit_of_key_word(w, b) for b in range(32)] for w in range(KEY_WORDS)]
        key_bits = {i for row in key_map for i in row}
        with m.If(self.key_we & (self.key_addr < KEY_WORDS)):
            with m.Switch(self.key_addr):
                for w in range(KEY_WORDS):
                    with m.Case(w):
                        m.d.sync += [state[key_map[w][b]].eq(self.key_data[b]) for b in range(32)]
                        m.d.sync += written[w].eq(1)
            m.d.sync += [self.running.eq(0), warming.eq(0), generating.eq(0), fill_cnt.eq(0)]
        with m.Elif(self.start & (written == (1 << KEY_WORDS) - 1)):
            m.d.sync += [state[i].eq(1 if i >= 285 else 0)
                         for i in range(STATE_BITS) if i not in key_bits]
            m.d.sync += [
                written.eq(0), self.running.eq(0), warming.eq(1), generating.eq(0),
                warm_cnt.eq(warm_steps), fill_cnt.eq(0),
            ]
        return m
