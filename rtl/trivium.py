"""Trivium keystream generator (SPEC §5), as an Amaranth component.

The primitive follows the shape of OpenTitan's ``prim_trivium``: the number of cipher clocks
computed per FPGA cycle is a parameter, the key/IV load and the 4·288-clock warm-up happen
inside the block, and the output is a stream of keystream words. Key and IV enter the state by
shifting, through the registers' inputs.
"""

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
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


# The three shift registers of the state, as lanes: lane-local position i (1-based) is the bit
# that entered the lane i clocks ago. A = s1…s93 (head t3), B = s94…s177 (head t1),
# C = s178…s288 (head t2).
_LANE_LEN = {"A": 93, "B": 84, "C": 111}
#: Lowest tap of every lane (A: s66, s69; B: s162 = B69; C: s243 = C66): positions below it
#: (minus the clocks unrolled per cycle) are a pure delay line.
_LOWEST_TAP = 66
#: Taps per lane (lane-local positions): s66 s69 s91 s92 s93 | s162 s171 s175 s176 s177 |
#: s243 s264 s286 s287 s288.
_TAPS = {"A": (66, 69, 91, 92, 93), "B": (69, 78, 82, 83, 84), "C": (66, 87, 109, 110, 111)}
#: Lanes A and B take the 80 key and the 80 IV bits at positions 1…80; C holds 1 at 109…111.
_KEY_BITS = 80


class _Geometry:
    """Word layout of the state for ``bits`` cipher clocks per cycle (see :class:`Trivium`).

    Every cycle each lane takes one ``bits``-bit word at its head; word ``j`` cycles old
    ("offset j") holds positions ``(j−1)·bits+1 … j·bits`` (bit ``b`` is position
    ``j·bits − b``). A tap at position ``t`` reads, over the ``bits`` clocks of a step, the
    words holding ``t − bits + 1 … t``: ``need[lane]``. Only those words must be registers;
    every other word is a pure delay. The head word (offset 1) is a flip-flop (its LUT is the
    feedback). Every other word that must exist is either a flip-flop fed by the word before it
    or the read register of a ring (a memory written every step, read ``D`` rows behind the
    write: a word written from offset ``s`` comes out of the read register as offset
    ``s + D + 1``), :attr:`rings`: ``(D, depth, [(lane, k), …])``, one slot (``bits`` bits of a
    row) per word ``k`` it produces, written from word ``k − D − 1``. :meth:`_plan` chooses the
    rings greedily, each the delay and slots (at most 16 bits a row: one iCE40 block RAM
    port) that leave the fewest state flip-flops, while a ring saves at least ``2·bits`` of
    them; for 4 bits: 276 state bits in flip-flops without rings, 12 with four (the head
    words aside). ``present[lane]``: the words ≥ 2 that exist, in order; ``ring_of[(lane,
    k)]``: (ring, slot) of a word read from a ring; every other present word ≥ 2 is a
    flip-flop fed by word ``k − 1`` (present too).
    """

    #: Rings at most (each is one block RAM on the iCE40, a little LUT RAM on the ECP5).
    MAX_RINGS = 4
    #: Row width of a ring (an iCE40 block RAM port is 16 bits wide at 256 rows).
    ROW_BITS = 16

    def __init__(self, bits: int):
        self.bits = bits
        self.last = {lane: -(-n // bits) for lane, n in _LANE_LEN.items()}
        self.need = {lane: {-(-(t - c) // bits) for t in _TAPS[lane] for c in range(bits)}
                     for lane in "ABC"}
        self.width = {lane: [0] + [min(bits, n - (j - 1) * bits)
                                   for j in range(1, self.last[lane] + 1)]
                      for lane, n in _LANE_LEN.items()}
        # No rings for 16 bits (the pure delay before the first tap is 2 words there).
        outs, plan = self._plan() if bits <= 8 else ({lane: {} for lane in "ABC"}, [])
        self.rings = []
        self.ring_of = {}
        for d, slots in plan:
            for s, key in enumerate(slots):
                self.ring_of[key] = (len(self.rings), s)
            self.rings.append((d, 1 << d.bit_length(), slots))
        self.present = {lane: self._present(lane, outs[lane]) for lane in "ABC"}
        #: flip-flops of the state outside the head words
        self.state_ffs = sum(self.width[lane][j] for lane in "ABC" for j in self.present[lane]
                             if (lane, j) not in self.ring_of)
        # Load: `steps` cycles of injection cover the longest lane; injection step s ends at
        # offset steps − s, so the key/IV chunk injected at step s is chunk s − lead.
        self.steps = self.last["C"]
        self.lead = (self.steps * bits - _KEY_BITS) // bits
        # C's three ones: per load step, the head bits that end at C109…C111.
        top = self.steps * bits
        self.ones = [sum(1 << c for c in range(bits) if 109 <= top - s * bits - c <= 111)
                     for s in range(self.steps)]
        while not self.ones[-1]:
            self.ones.pop()

    def _present(self, lane, outs):
        """The words ≥ 2 of ``lane`` that must exist, given ring outputs ``outs`` {k: D}."""
        srcs = {}
        for k, d in outs.items():
            srcs.setdefault(k - d - 1, []).append(k)
        last = self.last[lane]
        present = [False] * (last + 2)
        for j in range(last, 0, -1):
            present[j] = (j in self.need[lane] or j == 1
                          or (present[j + 1] and j + 1 not in outs)
                          or any(present[k] for k in srcs.get(j, ())))
        return [j for j in range(2, last + 1) if present[j]]

    def _cost(self, lane, outs):
        return sum(self.width[lane][j] for j in self._present(lane, outs) if j not in outs)

    def _plan(self):
        """Greedy ring plan: ({lane: {word k read from a ring: that ring's D}}, the rings as
        [(D, [(lane, k), …])] in the order chosen)."""
        outs = {lane: {} for lane in "ABC"}
        plan = []
        cost = {lane: self._cost(lane, outs[lane]) for lane in "ABC"}
        slots = max(1, self.ROW_BITS // self.bits)
        for _ in range(self.MAX_RINGS):
            delays = set()   # D that carry a needed word from a needed word or the head
            for lane in "ABC":
                srcs = self.need[lane] | {1} | set(outs[lane])
                delays |= {k - s - 1 for k in self.need[lane] - set(outs[lane]) for s in srcs
                           if k - s - 1 >= 1}
            best = None
            for d in sorted(delays):
                cur, cc, chosen = {lane: dict(outs[lane]) for lane in "ABC"}, dict(cost), []
                while len(chosen) < slots:
                    pick = None
                    for lane in "ABC":
                        for k in sorted(self.need[lane]):
                            if k in cur[lane] or k - d - 1 < 1:
                                continue
                            gain = cc[lane] - self._cost(lane, {**cur[lane], k: d})
                            if gain > 0 and (pick is None or gain > pick[0]):
                                pick = (gain, lane, k)
                    if pick is None:
                        break
                    gain, lane, k = pick
                    cur[lane][k] = d
                    cc[lane] -= gain
                    chosen.append((lane, k))
                gain = sum(cost.values()) - sum(cc.values())
                if chosen and (best is None or gain > best[0]):
                    best = (gain, cur, cc, (d, chosen))
            if best is None or best[0] < 2 * self.bits:
                break
            _, outs, cost, ring = best
            plan.append(ring)
        return outs, plan



class Trivium(wiring.Component):
    """Trivium keystream generator, ``bits_per_cycle`` cipher clocks per FPGA cycle.

    What it does
        Holds the 288-bit Trivium state as three lanes (the cipher's registers A = s1…s93,
        B = s94…s177, C = s178…s288) advanced ``bits`` = ``bits_per_cycle`` positions per
        step, as ``bits``-bit words: the word a lane takes at its head in one step is read back
        ``k`` steps later as positions ``(k−1)·bits+1 … k·bits`` ("offset k"). Only the words
        a tap reads must be registers (every tap lies at or above s66 of its lane, so most of
        the state is pure delay): the head word (offset 1) is a flip-flop, its LUT the
        feedback; every other word a tap needs is either a flip-flop fed by the word before it
        or the read register of a ring — a small memory (block RAM on the iCE40, LUT RAM on
        the ECP5) written every step at one pointer and read ``D`` rows behind it (never the
        row being written), so a ``bits``-bit slot written from offset ``s`` is offset
        ``s + D + 1`` in the read register. The rings (each with its ``D`` and up to 16 bits
        of slots) are planned greedily by ``_Geometry`` to leave the fewest state flip-flops:
        for 4 bits, four rings (``D`` = 15, 14, 4, 1) and 12 state flip-flops besides the 12
        head bits; none for 16 bits (all 288 bits flip-flops). Every lane stays exactly a
        shift register of its length.
        Key/IV words are written into two key memories, the low and the high halves, each
        holding a half word at the block of the load that reads it and one ``bits``-bit chunk
        a row, so both are read at one counter's row and the chunks need no multiplexer but
        the swap between lanes A and B. ``start`` loads the
        initial state by running the lanes for ``⌈111/bits⌉`` steps while the heads take the
        initial-state bits instead of the feedback (A: 0 then K0…K9; B: 0 then IV0…IV9; C: the
        ones of s286…s288 then 0; the first bits of the shorter lanes fall off their ends), so
        nothing but the lanes' ``bits`` head bits chooses between load data and feedback. Then
        it runs the 1152-clock warm-up and produces the keystream ``z_1, z_2, …`` (SPEC §5) as
        ``word_width``-bit words: bit ``k`` of word ``w`` is ``z_(w·word_width + k + 1)`` (so
        32-bit words are the little-endian keystream words ``R_v`` of SPEC §6).

    Parameters
        ``bits_per_cycle`` — cipher clocks per cycle, a power of two, 1 … 16, dividing
        ``word_width``. The unrolled update is one XOR/AND level deep (every tap is ≥ 66
        positions from its lane's head).
        ``word_width`` — keystream word width (default 32).

    Interface
        ``key_we``, ``key_addr`` (0…4), ``key_data`` (32): write key/IV word ``key_addr``
        (bytes ``K0..K9, IV0..IV9`` little endian, five words), in any order, one per cycle at
        most (a write with ``key_addr`` 5…7 is stored where nothing reads it and counts for no
        word, but stops the keystream like any key write). A write lands in the key memory in
        its cycle and stops the keystream from the cycle after (``running`` and
        ``keystream.valid`` are low two cycles after the write) until the next ``start``; a
        word counts towards a start two cycles after its write (a start earlier than that is
        refused; the unit's registered ``start`` makes this "one cycle
        after the last write" at its configuration port).
        ``start``: load key and IV, then warm up. Ignored unless all five key/IV words were
        written since the last start (so a used key/IV can never be loaded twice).
        ``running`` (out): the warm-up is done and the first word has been ready; it stays high
        until the next key write, start or reset.
        ``keystream`` (out, ``stream.Signature(word_width)``): keystream words. ``payload`` is a
        register, ``valid`` the AND of two.

    Latency and throughput
        One cycle to take the start (the control acts on registered starts and key writes),
        ``⌈111/bits⌉`` cycles of load and ``1152/bits`` of warm-up, then the first word fills
        in ``word_width/bits`` (:func:`startup_cycles`: 325 cycles for 4 bits, 82 for 16).
        A word is valid again ``word_width/bits`` cycles after the previous one was taken:
        the word is a shift register, the state stands still while a whole word waits, and
        the step that takes it shifts the next word's first chunk in, so a consumer taking a
        word every ``word_width/bits`` cycles never waits.
        A whole word not taken at once lets the lanes make one chunk more, into a spare
        chunk register, and then stand still: the lanes' step is a function of registers
        only, and ``keystream.ready`` reaches just the word's shift, ``fill``, ``full``, the
        spare's flag and the stall register's input (in the unit ``ready`` is the
        sequencer's ``head1`` register). The spare costs no throughput: a take shifts it
        in, and the next word is complete ``word_width/bits`` cycles after the take as before.

    Invariants
        The word sequence equals the SPEC §5 keystream whatever the timing of ``ready``.
        Reset stops the keystream (``running`` low) and forgets which key/IV words were
        written: a start after reset needs all five words written again, so no key, IV or
        state from before the reset can produce keystream. (The state, its rings and the key
        memories are not cleared by reset, to keep them plain enable flip-flops and RAM; none is
        readable, and the load overwrites every state bit a tap can reach.)

    Four-state simulation
        Every register the keystream depends on is defined after reset and a start, whatever
        it held at power-up: the state words and the rings' read registers are overwritten by
        the load (every word present at the start has left its lane after the
        ``⌈111/bits⌉`` load steps), the step counter is set by the start and the last-step
        flags at every step, and ``fill``, ``full`` and the step counter have a reset although
        the logic would not need one. (Without it Icarus kept them X: their next-state logic,
        an ``always @*`` block in the emitted Verilog, runs only when an input changes, and
        none did before the first clock edge, so the first load after power-up gave X or a
        wrong keystream; tests/test_trivium_icarus.py checks this on the emitted Verilog.)
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
        geo = _Geometry(bpc)
        # LUT RAM on the ECP5 (its block RAM's clock-to-out is slow), block RAM on the iCE40.
        attrs = memory_attrs(platform, fast_read=True)

        step = Signal()         # the lanes advance one word (registered conditions only)
        load = Signal()         # loading: the heads take the initial state
        warming = Signal()      # the 1152 warm-up clocks are running
        generating = Signal()   # warm-up done: keystream words are being produced
        active = Signal()       # load | warming | generating (a register of its own)

        # ---- the state: three lanes of words -------------------------------------------
        heads = {lane: Signal(bpc, name=f"head_{lane}") for lane in "ABC"}
        words = {lane: {0: heads[lane]} for lane in "ABC"}     # offset → bpc-bit value
        for lane in "ABC":
            words[lane][1] = Signal(bpc, name=f"{lane.lower()}1", reset_less=True)
            with m.If(step):
                m.d.sync += words[lane][1].eq(heads[lane])
        # `cnt`: one counter for the load, the warm-up and the rings. Set at `go` to 2 − lead,
        # it counts steps: load step s (0 … steps − 1) at cnt = 2 − lead + s, warm-up step w
        # at cnt = steps + 2 − lead + w; its low bits are the key memories' read row (below)
        # and the rings' pointer. Between loads it rests at 1 − lead. Its width keeps every
        # value from 1 − lead to steps + warm_steps + 1 − lead distinct. (It has a reset
        # although the logic would not need one: see "Four-state simulation".)
        warm_steps = WARMUP_CLOCKS // bpc
        cnt_bits = (geo.steps + warm_steps + 1).bit_length()
        cnt_rest = (1 - geo.lead) % (1 << cnt_bits)
        cnt = Signal(cnt_bits, init=cnt_rest)
        # The rings: one memory each, all written every step at `cnt`, read `D` rows behind
        # (never the row being written: 1 ≤ D < depth), so a slot's read register is its
        # source word D + 1 steps on. (`cnt` jumps at `go`: the rows read in the first D load
        # steps are stale, but every word a tap reads after the load was injected by it.)
        rings = []
        for r, (d, depth, slots) in enumerate(geo.rings):
            m.submodules[f"ring{r}"] = mem = memory.Memory(
                shape=unsigned(len(slots) * bpc), depth=depth, init=[], attrs=attrs)
            wr, rd = mem.write_port(), mem.read_port()   # read port not transparent
            abits = len(wr.addr)
            m.d.comb += [wr.addr.eq(cnt[:abits]), wr.en.eq(step),
                         rd.addr.eq((cnt + depth - d)[:abits]), rd.en.eq(step)]
            rings.append((wr, rd))
        for lane in "ABC":
            for j in geo.present[lane]:
                if (lane, j) in geo.ring_of:
                    r, slot = geo.ring_of[(lane, j)]
                    words[lane][j] = rings[r][1].data[slot * bpc:(slot + 1) * bpc]
                else:
                    word_j = Signal(bpc, name=f"{lane.lower()}{j}", reset_less=True)
                    with m.If(step):
                        m.d.sync += word_j.eq(words[lane][j - 1])
                    words[lane][j] = word_j
        for (d, _, slots), (wr, _) in zip(geo.rings, rings, strict=True):
            m.d.comb += wr.data.eq(Cat(*(words[lane][k - d - 1] for lane, k in slots)))

        def pos(lane, i):
            j = -(-i // bpc)
            return words[lane][j][j * bpc - i]

        # `bpc` cipher clocks: clock c sees position i where the step began with i − c.
        z, new = [], {lane: [] for lane in "ABC"}
        for c in range(bpc):
            def s(lane, i, c=c):
                return pos(lane, i - c)
            t1 = s("A", 66) ^ s("A", 93)
            t2 = s("B", 69) ^ s("B", 84)
            t3 = s("C", 66) ^ s("C", 111)
            z.append(t1 ^ t2 ^ t3)
            new["B"].append(t1 ^ (s("A", 91) & s("A", 92)) ^ s("B", 78))
            new["C"].append(t2 ^ (s("B", 82) & s("B", 83)) ^ s("C", 87))
            new["A"].append(t3 ^ (s("C", 109) & s("C", 110)) ^ s("A", 69))

        # ---- key/IV memory and the load -------------------------------------------------
        # The load injects key chunk u (blob bits u·bpc … +bpc−1 of K0..K9 IV0..IV9) into A
        # and IV chunk u + 80/bpc into B at load step u + lead. They are 80 bits apart, so in
        # opposite 16-bit halves of the key/IV words: with u·bpc = 32·wa + 16·h + bpc·sel,
        # block t = 2·wa + h of the load reads the low half of word wa (h = 0, for A) or
        # wa + 3 (h = 1, for B) and the high half of word wa + 2 (h = 0, for B) or wa (h = 1,
        # for A). So there are two memories, the low and the high halves, each keeping the
        # half of word w at the block where the load reads it (row per_half·t + sel, one
        # chunk a row): both are read at row u, a counter, and no multiplexer picks a chunk
        # out of a wider word or a word out of the memory. A half is written at once through
        # 16/bpc write ports to adjacent rows, which yosys merges into one wide port (one block
        # RAM, 16-bit write, bpc-bit read).
        lg = bpc.bit_length() - 1
        per_half = 16 // bpc            # chunks in a half word
        blocks = {"lo": {}, "hi": {}}   # word → block
        for t in range(KEY_WORDS):   # 5 blocks of 16 bits each: 80 key (or IV) bits
            wa, h_ = t >> 1, t & 1
            blocks["lo"][wa + 3 * h_] = t
            blocks["hi"][wa + 2 * (1 - h_)] = t
        # `ld`: the row read in this cycle, u = s + 2 − lead at load step s (read two cycles
        # ahead: memory, then the chunk register). Between loads it rests at 1 − lead (for the
        # cycle before `go` and that of `go`, read for load steps 0 and 1). Every value it
        # takes other than 0 … 80/bpc − 1 is a row never written, all zeros from the memory's
        # initial value: A and B take zeros before the key and IV chunks.
        ld_bits = geo.steps.bit_length()     # every value from 1 − lead to steps + 1 − lead
        ld = cnt[:ld_bits]
        # Words 5…7 (not key/IV words) are written at blocks 8 + word, rows the load never
        # reads (ld < 8·per_half), so `key_we` needs no address comparison in front of the
        # block RAMs' write enables.
        assert 1 << ld_bits <= 8 * per_half
        key_mem = {}
        for half in ("lo", "hi"):
            m.submodules[f"key_{half}"] = key_mem[half] = memory.Memory(
                shape=unsigned(bpc), depth=16 * per_half, init=[], attrs=attrs)
        key_wen = self.key_we
        for k, (half, mem) in enumerate(key_mem.items()):
            # A constant table indexed by the address (a shift, emitted as a continuous
            # assignment), not a Switch: the emitted `always @*` of a Switch runs only when
            # `key_addr` changes, and when `key_addr` is a register that still holds its
            # initial 0 at the first write (word 0 first), four-state simulation kept the
            # block X and dropped that write.
            block = Signal(4, name=f"block_{half}")
            table = Cat(*(Const(blocks[half].get(w, 8 + w), 4) for w in range(8)))
            m.d.comb += block.eq(table.word_select(self.key_addr, 4))
            for c in range(per_half):
                wr = mem.write_port()
                base = 16 * k + bpc * c
                m.d.comb += [wr.addr.eq(Cat(Const(c, 4 - lg), block)),
                             wr.en.eq(key_wen), wr.data.eq(self.key_data[base:base + bpc])]
        key_rd = {half: mem.read_port() for half, mem in key_mem.items()}
        m.d.comb += [key_rd["lo"].addr.eq(ld), key_rd["hi"].addr.eq(ld)]   # (zero-extended)
        h_d = Signal(reset_less=True)             # h of the chunks now in the read data
        m.d.sync += h_d.eq(ld[4 - lg])
        lo_c, hi_c = key_rd["lo"].data, key_rd["hi"].data
        chunk_a = Signal(bpc, reset_less=True)
        chunk_b = Signal(bpc, reset_less=True)
        m.d.sync += [chunk_a.eq(Mux(h_d, hi_c, lo_c)), chunk_b.eq(Mux(h_d, lo_c, hi_c))]
        ld_last = Signal(reset_less=True)    # register: the last load step
        ones = Signal(len(geo.ones), reset_less=True)   # one-hot: load step s < len(ones)
        ones_c = 0
        for s_, pattern in enumerate(geo.ones):
            ones_c = ones_c | Mux(ones[s_], pattern, 0)
        m.d.comb += [
            heads["A"].eq(Mux(load, chunk_a, Cat(*new["A"]))),
            heads["B"].eq(Mux(load, chunk_b, Cat(*new["B"]))),
            heads["C"].eq(Mux(load, ones_c, Cat(*new["C"]))),
        ]

        # ---- control -----------------------------------------------------------------------
        written = Signal(KEY_WORDS)  # key/IV words written since the last start
        armed = Signal()            # register: all five written since the last start
        # The control sees key writes and starts one cycle later, from registers (`kw`, `go`),
        # so that every next-state equation has only flip-flops as inputs and no path runs
        # from the write port's inputs to the state's enables.
        kw = Signal()                     # register: a key/IV word was written last cycle
        ka_r = Signal(3, reset_less=True)  # … at this address
        go = Signal()                     # register: a start was accepted last cycle
        key_sel = Signal(KEY_WORDS)       # the word written last cycle (one-hot)
        start_ok = Signal()
        written_next = Signal(KEY_WORDS)
        m.d.comb += [
            key_sel.eq(Mux(kw, 1 << ka_r, 0)),
            start_ok.eq(self.start & armed),
            written_next.eq(Mux(start_ok, 0, written | key_sel)),
        ]
        m.d.sync += [kw.eq(key_wen), ka_r.eq(self.key_addr), go.eq(start_ok),
                     written.eq(written_next),
                     armed.eq(written_next == (1 << KEY_WORDS) - 1)]
        stop = kw | go

        warm_last = Signal(reset_less=True)  # register: the last warm-up step
        load_done = load & ld_last
        warm_done = warming & warm_last

        # Keystream word: a shift register of `chunks` chunks of bpc bits, the newest entering
        # at the top, so after `chunks` steps the first is at the bottom (bit 0 = z of its first
        # clock). While a complete word waits (`full`) the state stands still; the step that
        # takes it shifts the next word's first chunk in. `fill` (chunks shifted in, mod
        # `chunks`) and `full` are cleared whenever the generator is not producing.
        chunks = ww // bpc
        word = Signal(ww, reset_less=True)
        # (These two and `cnt` have a reset although the logic would not need one: see
        # "Four-state simulation" in the class docstring.)
        fill = Signal(range(chunks))
        full = Signal()                     # register: the word is complete
        # A whole word that is not taken at once lets the lanes make one chunk more, into
        # `spare`, and then stand still (`stall`, a register): so the lanes' step is a function
        # of registers only, and `ready` reaches just the word, `fill`, `full`, `spare_ok` and
        # the `stall` register's input. A take shifts in the spare chunk when there is one,
        # else the chunk the lanes make in that cycle.
        spare = Signal(bpc, reset_less=True)
        spare_ok = Signal()                 # register: `spare` holds the next chunk
        stall = Signal()                    # register: full & spare_ok
        shift, to_spare = Signal(), Signal()
        full_next, spare_ok_next = Signal(), Signal()
        m.d.comb += [
            self.keystream.valid.eq(generating & full),
            self.keystream.payload.eq(word),
            shift.eq(generating & (~full | self.keystream.ready)),
            to_spare.eq(generating & full & ~self.keystream.ready & ~spare_ok),
            step.eq(active & ~stall),
            full_next.eq(generating & Mux(shift, fill == chunks - 1, full)),
            spare_ok_next.eq(generating & ~shift & (spare_ok | to_spare)),
        ]
        zc = Cat(*z)
        m.d.sync += [full.eq(full_next), spare_ok.eq(spare_ok_next),
                     stall.eq(full_next & spare_ok_next)]
        with m.If(shift):
            m.d.sync += [word.eq(Cat(word[bpc:], Mux(spare_ok, spare, zc))),
                         fill.eq(Mux(fill == chunks - 1, 0, fill + 1))]
        # `spare_free` == ~spare_ok, a register of its own: the spare's clock enable (a DFFE
        # with D = z, so the choice is not a LUT level after the keystream bit).
        spare_free = Signal(init=1)
        m.d.sync += spare_free.eq(~spare_ok_next)
        with m.If(spare_free):   # (read only once `spare_ok` is set, which `to_spare` does)
            m.d.sync += spare.eq(zc)
        with m.If(~generating):
            m.d.sync += fill.eq(0)

        load_next, warming_next, generating_next = Signal(), Signal(), Signal()
        m.d.comb += [
            load_next.eq(~kw & (go | (load & ~ld_last))),
            warming_next.eq(~stop & (load_done | (warming & ~warm_last))),
            # (An accepted start ends the keystream at once, as a key write does one cycle
            # after it: `valid` and `running` are low from the cycle after the start.)
            # (`start` is a register in the unit: ~stop & ~start_ok is one LUT of kw, go,
            # start and armed, and generating's input one more.)
            generating_next.eq(~(stop | start_ok) & (generating | warm_done)),
        ]
        m.d.sync += [
            load.eq(load_next), warming.eq(warming_next), generating.eq(generating_next),
            active.eq(load_next | warming_next | generating_next),
            self.running.eq(~stop & ~start_ok &
                            (self.running | (generating & (fill == chunks - 1)))),
            ones.eq(Cat(go, ones[:-1])),
        ]
        with m.If(go):
            m.d.sync += [cnt.eq((2 - geo.lead) % (1 << cnt_bits)), ld_last.eq(geo.steps == 1)]
        with m.Elif(step):
            m.d.sync += cnt.eq(cnt + 1)
        with m.Elif(~active):
            m.d.sync += cnt.eq(cnt_rest)
        # The next step is the last of the load, of the warm-up. Each flag is used only in its
        # phase, where `full` is low and so `step` is `active`: the flags follow `cnt` on
        # `active & ~full`, which equals `step` there and does not read `ready` (the consumer's
        # `ready` reaches only `cnt`, the lanes, the rings and the word).
        with m.If(~go & active & ~full):
            m.d.sync += [ld_last.eq(cnt == geo.steps - geo.lead),
                         warm_last.eq(cnt == geo.steps + warm_steps - geo.lead)]
        return m


def startup_cycles(bits_per_cycle: int, word_width: int = 32) -> int:
    """Cycles from an accepted ``start`` to ``running``: load, warm-up, first word."""
    return 1 + -(-111 // bits_per_cycle) + (WARMUP_CLOCKS + word_width) // bits_per_cycle
