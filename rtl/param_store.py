"""Write-only store of the secret parameter set (SPEC §3) and the configuration port.

Address map of the configuration port (``B = max(2, ceil(log2 N))``, address width ``2 + 2B``)::

    addr[2B+1:2B]  space   0: C table    1: window/Δ table    2: key/IV    3: ignored
    addr[2B-1:B]   class i (spaces 0 and 1)
    addr[B-1:0]    k       space 0: C[i][k] (k < N);  space 1: 0 alpha, 1 beta, 2 a, 3 b
    space 2: addr[2B-1:0] = key/IV word w (0…4): the 20 bytes K0..K9, IV0..IV9 as five
             little-endian 32-bit words (bytes 8…27 of the SPEC §3.2 encoding).

``data`` is always 32 bits; a table entry takes its low bits (W for alpha/beta/a/b, 17 for C).
:func:`config_writes` turns a parameter set into the list of ``(addr, data)`` writes.
"""

from amaranth import Array, Cat, Module, Signal, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .family import fpga_family

__all__ = [
    "ConfigSignature", "TableReadSignature", "ParamStore", "memory_attrs", "c_table_by_index",
    "complemented_field",
    "SPACE_C",
    "SPACE_WINDOW", "SPACE_KEY",
    "class_bits", "config_addr_width", "config_address", "config_writes",
]

SPACE_C, SPACE_WINDOW, SPACE_KEY = 0, 1, 2
C_BITS = 17  # C[i][k] ≤ 65536


def class_bits(classes: int) -> int:
    """``B``: bits of the class and of the index fields of a configuration address."""
    return max(2, ceil_log2(classes))


def config_addr_width(classes: int) -> int:
    return 2 + 2 * class_bits(classes)


def config_address(classes: int, space: int, cls: int = 0, index: int = 0) -> int:
    """The configuration address of one table entry (or of key/IV word ``index``)."""
    b = class_bits(classes)
    if space == SPACE_KEY:
        if cls != 0 or not 0 <= index < 5:
            raise ValueError("key/IV words are 0…4")
        return (SPACE_KEY << 2 * b) | index
    if not (0 <= cls < classes):
        raise ValueError(f"class {cls} out of range")
    if space == SPACE_C and not 0 <= index < classes:
        raise ValueError(f"C index {index} out of range")
    if space == SPACE_WINDOW and not 0 <= index < 4:
        raise ValueError("window/Δ fields are 0…3")
    return (space << 2 * b) | (cls << b) | index


def _field(params, *names):
    for name in names:
        if isinstance(params, dict):
            if name in params:
                return params[name]
        elif hasattr(params, name):
            return getattr(params, name)
    raise KeyError(f"parameter set has no {' / '.join(names)}")


def config_writes(params, classes: int | None = None) -> list[tuple[int, int]]:
    """``(addr, data)`` writes that load ``params`` (key and IV words first, then the tables).

    ``params`` is anything with ``key``, ``iv`` (10 bytes each), ``alpha``, ``beta``, ``a``,
    ``b`` (length N) and ``C`` or ``thresholds`` (N×N) as attributes or dict keys — the host's
    :class:`dynamarks.host.params.Params` works as is. After these writes, pulse ``start``
    (and optionally ``lock``).
    """
    alpha, beta = list(_field(params, "alpha")), list(_field(params, "beta"))
    a, b = list(_field(params, "a")), list(_field(params, "b"))
    c = _field(params, "C", "thresholds")
    n = len(alpha) if classes is None else classes
    key, iv = bytes(_field(params, "key")), bytes(_field(params, "iv"))
    if len(key) != 10 or len(iv) != 10:
        raise ValueError("key and iv are 10 bytes each")
    blob = key + iv
    writes = [(config_address(n, SPACE_KEY, 0, w), int.from_bytes(blob[4 * w:4 * w + 4], "little"))
              for w in range(5)]
    for i in range(n):
        for f, v in enumerate((alpha[i], beta[i], a[i], b[i])):
            writes.append((config_address(n, SPACE_WINDOW, i, f), int(v)))
        row = [int(x) for x in c[i]]
        if len(row) != n:
            raise ValueError(f"C[{i}] has {len(row)} entries, not {n}")
        for k, v in enumerate(row):
            writes.append((config_address(n, SPACE_C, i, k), v))
    return writes


def memory_attrs(platform, *, fast_read: bool = False) -> dict:
    """Synthesis attributes of the unit's memories.

    ``no_rw_check``: the unit never reads a row in the cycle it is written (see the users), so
    yosys need not emulate read-during-write behaviour. ``ram_style``: on the iCE40 (and when
    no platform is given) every table goes into block RAM, even a small one that yosys would
    otherwise build from flip-flops — logic cells are the scarce resource there. On the ECP5 a
    ``fast_read`` table (read straight into logic, not into a register) is built from LUT RAM
    (distributed), because the ECP5's block RAM output is slow (≈ 6 ns clock-to-out).
    """
    attrs = {"no_rw_check": 1}
    family = fpga_family(platform)
    if family == "ecp5":
        if fast_read:
            attrs["ram_style"] = "distributed"
    else:
        attrs["ram_style"] = "block"
    return attrs


def c_table_by_index(platform) -> bool:
    """Whether the C table is organised by word index (one row ``C[0…N−1][k]`` per ``k``):
    on the ECP5, whose LUT RAM is 16 words deep, so that a table organised by class needs a
    class multiplexer behind the RAM in the read cycle. Elsewhere (the iCE40's block RAM) it
    is organised by class (one 17-bit word per entry). :class:`ParamStore` and
    :class:`~dynamarks.rtl.sampler.Sampler` both ask this, so they agree."""
    return fpga_family(platform) == "ecp5"


def complemented_field(platform) -> int:
    """The window/Δ table's field stored complemented: 2 (``a``) on the ECP5, whose Δ chain
    ``b + ~a + 1`` then reads both operands as stored, 3 (``b``) elsewhere, where the iCE40
    Δ chain ``~(a + ~b + 1)`` does and ``a`` also goes as stored into the DSP (see
    :class:`ParamStore`). The read port always shows the true values."""
    return 2 if fpga_family(platform) == "ecp5" else 3


class ConfigSignature(wiring.Signature):
    """The unit's configuration port, seen from the controller that drives it.

    Members: ``addr`` (out), ``data`` (out, 32), ``we`` (out), ``start`` (out), ``lock`` (out),
    ``locked`` (in), ``running`` (in). See :class:`ParamStore` and ``WatermarkUnit``.
    """

    def __init__(self, classes: int):
        self.classes = classes
        super().__init__({
            "addr": Out(config_addr_width(classes)),
            "data": Out(32),
            "we": Out(1),
            "start": Out(1),
            "lock": Out(1),
            "locked": In(1),
            "running": In(1),
        })

    def __eq__(self, other):
        return type(other) is type(self) and other.classes == self.classes

    def __repr__(self):
        return f"ConfigSignature({self.classes})"


class TableReadSignature(wiring.Signature):
    """The tables' read ports, seen from the reader: ``win_addr``, ``win_en``, ``c_cls``,
    ``c_index``, ``c_en`` (out); ``alpha``, ``beta``, ``a``, ``b``, ``c_data`` (in); and, when
    the C table is organised by word index (:func:`c_table_by_index`), ``c_row`` (in): the
    whole registered row ``C[0…N−1][c_index]``, read with ``c_en`` like ``c_data`` (zero
    otherwise), so that a reader can compare every class's entry and choose the class after
    a register."""

    def __init__(self, classes: int, width: int):
        super().__init__({
            "win_addr": Out(range(classes)), "win_en": Out(1),
            "alpha": In(width), "beta": In(width), "a": In(width), "b": In(width),
            "c_cls": Out(range(classes)), "c_index": Out(range(classes)), "c_en": Out(1),
            "c_data": In(C_BITS),
            "c_row": In(data.ArrayLayout(unsigned(C_BITS), classes)),
        })


class ParamStore(wiring.Component):
    """The secret tables, write-only from outside, with a lock.

    What it does
        Decodes configuration writes (address map in the module docstring) into two
        ``lib.memory.Memory`` tables with synchronous read ports:

        * the window/Δ table: N rows of ``alpha, beta, a, ~b`` (``~a, b`` on the ECP5; an
          ``ArrayLayout(W, 4)`` row, written one field at a time through a granular write
          port), read one row per vector. One field is stored complemented
          (:func:`complemented_field`) and the read port inverts it back, so that the Δ
          generator's chain takes both operands from the table's output as they are
          (synthesis cancels the two inversions): on the iCE40 ``b − a − 1 = ~(a + ~b + 1)``
          (an iCE40 carry input cannot invert: the inverter would be a LUT level between the
          block RAM and the multiplier), with ``a`` as it is into the DSP's addend register;
          on the ECP5 ``b − a = b + ~a + 1``. (The iCE40's write-side ``~data`` is shared
          with the C table's.)
        * the C table, read one entry per output word, in one of two organisations
          (:func:`c_table_by_index`; ``c_by_index`` forces one):

          - by class (iCE40, no platform): row ``i`` at addresses ``i·2^B … i·2^B + N−1``,
            17 bits, stored complemented as ``a`` is (the sampler's chains take ``~C``
            straight from the block RAM output; ``c_data`` is ``C``);
          - by word index (ECP5): ``2^B`` rows of N 17-bit fields, row ``k`` holding
            ``C[0][k] … C[N−1][k]`` (written one field at a time). The read port's address is
            ``c_index`` alone and its register holds the whole row (``c_row``); ``c_data`` is
            the field of the class registered with it (``c_cls`` at ``c_en``). The ECP5's LUT
            RAM is 16 words deep: by class, a read passes a RAM and an N-way class
            multiplexer in one cycle (≈ 7 ns, the unit's critical path); by index it passes
            the RAM alone, and a reader that compares every field (the sampler) chooses the
            class after a register.

        Both tables are block RAM on the iCE40 (``ram_style = "block"``, even when small); on
        the ECP5 both are LUT RAM, whose reads feed comparators directly (see
        :func:`memory_attrs`).
        Key/IV writes are forwarded to the Trivium block (``key_we``,
        ``key_addr``, ``key_data``), which loads them straight into its state; ``cfg_start``
        becomes ``start``.

    Interface
        ``cfg_addr``, ``cfg_data``, ``cfg_we``, ``cfg_start``, ``cfg_lock`` (in), ``locked``
        (out). Internal read side ``read`` (:class:`TableReadSignature`): ``win_addr``/
        ``win_en`` → ``alpha``, ``beta``, ``a``, ``b``; ``c_cls``/``c_index``/``c_en`` →
        ``c_data`` (and ``c_row`` by word index). Trivium side: ``key_we``, ``key_addr``,
        ``key_data`` (one LUT of registers), ``start`` (a register).

    Latency
        A table write presented in cycle t lands at the end of cycle t+1 (decoded and
        registered); a key/IV write is passed on to the Trivium in cycle t+1 (``key_we``,
        ``key_addr``, ``key_data`` are registers or one LUT of registers; the Trivium's key
        memory takes it then). A start presented in cycle t reaches the Trivium in cycle t+1,
        or in t+2 when a key/IV write was presented in cycle t−1 (the Trivium counts a word
        towards a start two cycles after it sees the write): writes and starts reach the
        Trivium in the order they were presented, and a start in the cycle after the last
        key/IV write is taken.
        ``locked`` is high from cycle t+1 after ``lock`` in cycle t. Reads are synchronous: data
        is valid the cycle after ``*_en`` with the address, and holds while ``*_en`` is low.

    Invariants
        Nothing leaves the block but the two internal read ports, whose data goes only into the
        datapath: no register, port or status returns a parameter or the key.
        ``lock`` sets ``locked``; writes and starts presented in the cycle of ``lock`` or later
        are ignored until the domain reset, which alone clears ``locked``. The tables keep
        their contents across reset (block RAM); the key does not survive (see
        :class:`~dynamarks.rtl.trivium.Trivium`). Writes while vectors are in flight take effect
        between words and the memories are marked ``no_rw_check``: write a parameter set only
        while the unit is idle. The store does not validate the set (SPEC §3.1 is the host's
        job); the unit's invariants assume a valid one.
    """

    def __init__(self, classes: int, width: int, *, c_by_index: bool | None = None):
        self.classes, self.width = classes, width
        self.field_bits = class_bits(classes)
        #: the C table's organisation: None = by the platform (by index on the ECP5, by class
        #: elsewhere), or forced (tests and proofs check both)
        self.c_by_index = c_by_index
        super().__init__({
            "cfg_addr": In(config_addr_width(classes)),
            "cfg_data": In(32),
            "cfg_we": In(1),
            "cfg_start": In(1),
            "cfg_lock": In(1),
            "locked": Out(1),
            "read": In(TableReadSignature(classes, width)),
            "key_we": Out(1),
            "key_addr": Out(3),
            "key_data": Out(32),
            "start": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        n, w, b = self.classes, self.width, self.field_bits

        # The tables are written only while the unit is idle (see Invariants): no read-during-
        # write emulation. The window/Δ row feeds comparators and a subtractor directly.
        m.submodules.win_mem = win_mem = memory.Memory(
            shape=data.ArrayLayout(unsigned(w), 4), depth=n, init=[],
            attrs=memory_attrs(platform, fast_read=True))
        by_index = (self.c_by_index if self.c_by_index is not None
                    else c_table_by_index(platform))
        neg = complemented_field(platform)
        if by_index:
            # One row per word index k: C[0][k] … C[N−1][k] (17 bits each, written one class at
            # a time). The row is read by k alone into its read register; the class is chosen
            # after that register (a multiplexer of registers), so no read passes a LUT RAM
            # and a class multiplexer in one cycle.
            m.submodules.c_mem = c_mem = memory.Memory(
                shape=data.ArrayLayout(unsigned(C_BITS), n), depth=1 << b, init=[],
                attrs=memory_attrs(platform, fast_read=True))
        else:
            # Row i at i·2^B … i·2^B + N−1 (block RAM on the iCE40).
            m.submodules.c_mem = c_mem = memory.Memory(
                shape=unsigned(C_BITS), depth=n << b, init=[],
                attrs=memory_attrs(platform, fast_read=True))
        win_wr = win_mem.write_port(granularity=1)
        win_rd = win_mem.read_port()
        c_wr = c_mem.write_port(granularity=1 if by_index else None)
        c_rd = c_mem.read_port()

        # Table writes: the port is decoded in two halves, each registered — what and whether
        # (`wr_win`: an allowed write to the window/Δ space with a field index < 4; `wr_c`: to
        # the C space with an entry index < N) and where (`cls_ok`: the class is < N) — with the
        # address and the data. The write enables are one LUT of these registers (and of the
        # field index for the window table), so the write lands one cycle after it is
        # presented and no path from the port passes more than two LUTs. Key/IV words are
        # decoded the same way (`wr_key`: an allowed write to the key space; `key_ok`: word
        # 0…4) and go on to the Trivium, whose key memory takes them directly, a cycle after
        # they are presented.
        space = self.cfg_addr[2 * b:2 * b + 2]
        cls = self.cfg_addr[b:2 * b]
        index = self.cfg_addr[0:b]
        refuse = self.locked | self.cfg_lock
        we = self.cfg_we & ~refuse

        wr_win, wr_c, cls_ok, wr_key, key_ok = Signal(), Signal(), Signal(), Signal(), Signal()
        wdata = Signal(32, reset_less=True)
        waddr = Signal(2 * b, reset_less=True)
        m.d.sync += [
            # (ANDs, not Muxes to 0: yosys would fold the decode into the flip-flops'
            # synchronous reset, behind the domain reset — a long path on the iCE40.)
            wr_win.eq(we & (space == SPACE_WINDOW) & (index < 4)),
            wr_c.eq(we & (space == SPACE_C) & (index < n)),
            cls_ok.eq(cls < n),
            wr_key.eq(we & (space == SPACE_KEY)),
            # (words 0…4: the bits above the low three are zero and not 5, 6, 7; no comparator)
            key_ok.eq((self.cfg_addr[3:2 * b] == 0)
                      & ~(self.cfg_addr[2] & (self.cfg_addr[1] | self.cfg_addr[0]))),
            wdata.eq(self.cfg_data),
            waddr.eq(self.cfg_addr[:2 * b]),
        ]
        win_en = Signal(4)
        m.d.comb += win_en.eq((1 << waddr[:2])[:4] & (wr_win & cls_ok).replicate(4))
        with m.If(self.cfg_lock):
            m.d.sync += self.locked.eq(1)

        # Starts: registered like the writes. The Trivium counts a key/IV word towards a start
        # from two cycles after it sees the write; it sees both a cycle after the port, so a
        # start presented in the cycle after the last key/IV write would reach it a cycle too
        # early: that start (and only that one) is held one more cycle. So the
        # port's rule stays "start at the earliest in the cycle after the last key/IV write",
        # and a start reaches the Trivium in the cycle after it is presented otherwise.
        # `start` itself is a register (its input computes what start_r & ~key_we_prev |
        # start_late will be in the next cycle), so that the Trivium's control flags see a
        # flip-flop: its start/stop logic is then two LUT levels deep.
        start_r, key_we_prev, start_q = Signal(), Signal(), Signal()
        start_now = self.cfg_start & ~refuse
        m.d.sync += [
            start_r.eq(start_now),
            key_we_prev.eq(self.key_we),
            # start_r' & ~key_we_prev' = start_now & ~key_we; start_late' = start_r & key_we_prev
            start_q.eq((start_now & ~self.key_we) | (start_r & key_we_prev)),
        ]
        m.d.comb += self.start.eq(start_q)

        m.d.comb += [
            win_wr.addr.eq(waddr[b:2 * b]),
            # a (ECP5) or b (elsewhere) is stored complemented (see the class docstring)
            win_wr.data.eq(Cat(*(~wdata[:w] if k == neg else wdata[:w] for k in range(4)))),
            win_wr.en.eq(win_en),
            # (by class, C is stored complemented: see the class docstring)
            c_wr.data.eq(Cat(*([wdata[:C_BITS]] * n)) if by_index else ~wdata[:C_BITS]),
            self.key_we.eq(wr_key & key_ok),
            self.key_addr.eq(waddr[:3]),
            self.key_data.eq(wdata),
        ]

        m.d.comb += [
            win_rd.addr.eq(self.read.win_addr),
            win_rd.en.eq(self.read.win_en),
            self.read.alpha.eq(win_rd.data[0]),
            self.read.beta.eq(win_rd.data[1]),
            self.read.a.eq(~win_rd.data[2] if neg == 2 else win_rd.data[2]),
            self.read.b.eq(~win_rd.data[3] if neg == 3 else win_rd.data[3]),
        ]
        if by_index:
            # Write: the class's field of row k (a registered one-hot field enable).
            c_cls_en = Signal(n)
            m.d.sync += c_cls_en.eq((1 << cls)[:n] & (we & (space == SPACE_C) & (index < n))
                                    .replicate(n))
            m.d.comb += [c_wr.addr.eq(waddr[:b]), c_wr.en.eq(c_cls_en)]
            # Read: row c_index into the read register, the class into its own register (both
            # on c_en); c_data is the class's field of the registered row.
            c_cls_r = Signal(b)
            with m.If(self.read.c_en):
                m.d.sync += c_cls_r.eq(self.read.c_cls)
            m.d.comb += [
                c_rd.addr.eq(self.read.c_index),
                c_rd.en.eq(self.read.c_en),
                self.read.c_data.eq(Array(c_rd.data[k] for k in range(n))[c_cls_r]),
                self.read.c_row.eq(c_rd.data),
            ]
        else:
            # C table address {class, index}, each field B bits wide (the read port's fields
            # are narrower when N is not a power of two ≥ 4: widened first).
            c_en = Signal()
            c_index, c_cls = Signal(b), Signal(b)
            m.d.comb += c_en.eq(wr_c & cls_ok)
            m.d.comb += [
                c_wr.addr.eq(waddr), c_wr.en.eq(c_en),
                c_index.eq(self.read.c_index), c_cls.eq(self.read.c_cls),
                c_rd.addr.eq(Cat(c_index, c_cls)),
                c_rd.en.eq(self.read.c_en),
                self.read.c_data.eq(~c_rd.data),
            ]
        return m
