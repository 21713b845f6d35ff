"""The watermark unit as drop-in IP: AXI4-Stream data path, AXI4-Lite registers, an interrupt.

Verilog ports of ``WatermarkAxi(classes=N, width=W)`` (``D`` = W rounded up to a byte multiple,
``AW`` = the register map's address width, 13 for N = 10)::

    aclk, aresetn                 clock; reset, active low, synchronous to aclk
    s_axis_tdata   in  D          probability words in: one word per beat, bits [W-1:0]
    s_axis_tvalid  in  1          (the pad bits above W are ignored)
    s_axis_tready  out 1
    s_axis_tlast   in  1          on the last word (N-th) of a vector
    m_axis_tdata   out D          the (possibly altered) words out, pad bits 0
    m_axis_tvalid  out 1
    m_axis_tready  in  1
    m_axis_tlast   out 1          on the last word of a vector
    s_axil_awaddr  in  AW         AXI4-Lite slave: all five channels; AWPROT/ARPROT are
    s_axil_awprot  in  3          accepted and ignored
    s_axil_awvalid/awready, s_axil_wdata (32), s_axil_wstrb (4), s_axil_wvalid/wready,
    s_axil_bresp (2), s_axil_bvalid/bready, s_axil_araddr (AW), s_axil_arprot (3),
    s_axil_arvalid/arready, s_axil_rdata (32), s_axil_rresp (2), s_axil_rvalid/rready
    irq            out 1          level interrupt: IRQ.ENABLE & IRQ.PENDING (a registered output)

Registers: :mod:`dynamarks.rtl.regmap` (the single source of the map, also rendered by PeakRDL).

Behaviour
    AXI4-Stream: a vector is one packet of N beats with ``tlast`` on the last. The wrapper
    derives the unit's ``first`` mark from the packet boundary (the first beat after reset or
    after a ``tlast``), so the unit's framing rules (SPEC §10) apply to packets: a packet
    shorter or longer than N beats is dropped whole and counted in REJECTED (and sets
    IRQ.PENDING); the next packet is processed normally. One beat per clock in and out is
    sustained (the unit's throughput); latency N + ``LATENCY_EXTRA`` cycles (the unit's).
    ``s_axis_tready`` and ``m_axis_tvalid``/``tdata``/``tlast`` come from the unit's registers
    (tests/test_axi.py checks that no output of the IP depends combinationally on an input).

    AXI4-Lite: one transaction at a time per direction. The slave waits for both AWVALID and
    WVALID, raises AWREADY and WREADY together for one cycle (registered), performs the write
    and answers on B; reads raise ARREADY (registered) one cycle after ARVALID and answer on R
    in the next cycle. So a write takes 3 cycles and a read 3 cycles when the master is ready.
    Responses (OKAY / SLVERR) follow the register map's rules: writes refused while locked,
    writes to unmapped or read-only addresses, and writes with WSTRB != 0b1111 get SLVERR and
    change nothing; unmapped reads get SLVERR; reads of write-only registers return 0.

Invariants
    No read path reaches a secret: RDATA is a function of the read address, constants, STATUS,
    IRQ and the three counters only (tests/test_axi.py checks that reads are identical for any
    two secret sets, and that every secret read returns 0). The key/IV and tables go from
    WDATA into the unit's write-only configuration port and nowhere else.

Resources (iCE40UP5K, N = 10, W = 16, ``python -m dynamarks.rtl.axi --stats``): see the README's
"Integrating the IP" section for the measured LCs over the bare unit.
"""

from __future__ import annotations

from amaranth import Cat, ClockDomain, ClockSignal, Const, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .param_store import SPACE_C, SPACE_KEY, SPACE_WINDOW, class_bits, config_addr_width
from .regmap import RegisterMap, register_map
from .unit import WatermarkUnit

__all__ = ["WatermarkAxi", "OKAY", "SLVERR", "generate_axi_verilog", "tdata_width"]

OKAY, SLVERR = 0b00, 0b10


def tdata_width(width: int) -> int:
    """AXI4-Stream TDATA width for W-bit words: W rounded up to whole bytes."""
    return -(-width // 8) * 8


class WatermarkAxi(wiring.Component):
    """:class:`~dynamarks.rtl.unit.WatermarkUnit` behind AXI4-Stream and AXI4-Lite (see the
    module docstring for ports, behaviour and invariants).

    Parameters: ``classes`` N, ``width`` W (as the unit), ``unit_kwargs`` passed to the unit.
    The component defines its own ``sync`` clock domain from ``aclk``/``aresetn``.
    """

    def __init__(self, classes: int = 10, width: int = 16, **unit_kwargs):
        self.classes, self.width = classes, width
        self.unit_kwargs = unit_kwargs
        self.regmap: RegisterMap = register_map(classes, width)
        dw = tdata_width(width)
        aw = self.regmap.addr_width
        super().__init__({
            "aclk": In(1),
            "aresetn": In(1),
            "s_axis_tdata": In(dw),
            "s_axis_tvalid": In(1),
            "s_axis_tready": Out(1),
            "s_axis_tlast": In(1),
            "m_axis_tdata": Out(dw),
            "m_axis_tvalid": Out(1),
            "m_axis_tready": In(1),
            "m_axis_tlast": Out(1),
            "s_axil_awaddr": In(aw),
            "s_axil_awprot": In(3),
            "s_axil_awvalid": In(1),
            "s_axil_awready": Out(1),
            "s_axil_wdata": In(32),
            "s_axil_wstrb": In(4),
            "s_axil_wvalid": In(1),
            "s_axil_wready": Out(1),
            "s_axil_bresp": Out(2),
            "s_axil_bvalid": Out(1),
            "s_axil_bready": In(1),
            "s_axil_araddr": In(aw),
            "s_axil_arprot": In(3),
            "s_axil_arvalid": In(1),
            "s_axil_arready": Out(1),
            "s_axil_rdata": Out(32),
            "s_axil_rresp": Out(2),
            "s_axil_rvalid": Out(1),
            "s_axil_rready": In(1),
            "irq": Out(1),
        })

    def _secret_ok(self, word_addr):
        """The word address is a mapped configuration (secret) word (param_store's map)."""
        n, b = self.classes, class_bits(self.classes)
        a = config_addr_width(n)
        space, cls, idx = word_addr[2 * b:2 * b + 2], word_addr[b:2 * b], word_addr[:b]
        return word_addr[a] & (
            ((space == SPACE_C) & (cls < n) & (idx < n))
            | ((space == SPACE_WINDOW) & (cls < n) & (idx < 4))
            | ((space == SPACE_KEY) & (word_addr[:2 * b] < 5)))   # 5 words, may cross B

    def _reg_at(self, word_addr, name: str):
        """The word address is control register ``name`` (exact compare of every bit)."""
        return word_addr == (self.regmap[name].offset >> 2)

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain("sync")
        m.d.comb += [ClockSignal("sync").eq(self.aclk), ResetSignal("sync").eq(~self.aresetn)]
        m.submodules.unit = unit = WatermarkUnit(self.classes, self.width, **self.unit_kwargs)
        rmap, w = self.regmap, self.width
        a = config_addr_width(self.classes)

        # ---- AXI4-Stream ------------------------------------------------------------------
        sof = Signal(init=1)        # the next beat starts a packet
        with m.If(self.s_axis_tvalid & self.s_axis_tready):
            m.d.sync += sof.eq(self.s_axis_tlast)
        m.d.comb += [
            unit.sink.valid.eq(self.s_axis_tvalid),
            unit.sink.payload.data.eq(self.s_axis_tdata[:w]),
            unit.sink.payload.first.eq(sof),
            unit.sink.payload.last.eq(self.s_axis_tlast),
            self.s_axis_tready.eq(unit.sink.ready),
            self.m_axis_tvalid.eq(unit.source.valid),
            self.m_axis_tdata.eq(unit.source.payload.data),     # zero-extended to D bits
            self.m_axis_tlast.eq(unit.source.payload.last),
            unit.source.ready.eq(self.m_axis_tready),
        ]

        # ---- AXI4-Lite write channel ------------------------------------------------------
        wr_go = Signal()            # AWREADY = WREADY: the write happens in this cycle
        bvalid = Signal()
        berr = Signal()
        m.d.comb += [
            self.s_axil_awready.eq(wr_go), self.s_axil_wready.eq(wr_go),
            self.s_axil_bvalid.eq(bvalid), self.s_axil_bresp.eq(Cat(Const(0, 1), berr)),
        ]
        m.d.sync += wr_go.eq(self.s_axil_awvalid & self.s_axil_wvalid & ~wr_go & ~bvalid)
        waddr = self.s_axil_awaddr[2:]
        wdata = self.s_axil_wdata
        whole = self.s_axil_wstrb == 0b1111
        locked = unit.config.locked
        w_secret = Signal()
        w_ctrl = Signal()
        w_irq = Signal()
        m.d.comb += [
            w_secret.eq(self._secret_ok(waddr) & whole & ~locked),
            w_ctrl.eq(self._reg_at(waddr, "CTRL") & whole & ~locked),
            w_irq.eq(self._reg_at(waddr, "IRQ") & whole),
        ]
        ctrl = rmap["CTRL"]
        start_bit, lock_bit = ctrl.field("START").lsb, ctrl.field("LOCK").lsb
        m.d.comb += [
            unit.config.addr.eq(waddr[:a]),
            unit.config.data.eq(wdata),
            unit.config.we.eq(wr_go & w_secret),
            unit.config.start.eq(wr_go & w_ctrl & wdata[start_bit]),
            unit.config.lock.eq(wr_go & w_ctrl & wdata[lock_bit]),
        ]
        with m.If(wr_go):
            m.d.sync += [bvalid.eq(1), berr.eq(~(w_secret | w_ctrl | w_irq))]
        with m.Elif(self.s_axil_bready):
            m.d.sync += bvalid.eq(0)

        # ---- interrupt: a vector was rejected ---------------------------------------------
        irq = rmap["IRQ"]
        en_bit, pend_bit = irq.field("ENABLE").lsb, irq.field("PENDING").lsb
        irq_en = Signal()
        irq_pending = Signal()
        rej_seen = Signal(2)        # low bits of REJECTED: a change is a rejection (≤ 3/cycle)
        rejected_now = unit.rejected[:2] != rej_seen
        clear = wr_go & w_irq & wdata[pend_bit]
        m.d.sync += [
            rej_seen.eq(unit.rejected[:2]),
            irq_pending.eq(rejected_now | (irq_pending & ~clear)),
            self.irq.eq(irq_en & irq_pending),
        ]
        with m.If(wr_go & w_irq):
            m.d.sync += irq_en.eq(wdata[en_bit])

        # ---- AXI4-Lite read channel -------------------------------------------------------
        rd_go = Signal()            # ARREADY: the read address is taken in this cycle
        rvalid = Signal()
        rerr = Signal()
        rdata = Signal(32, reset_less=True)
        m.d.comb += [
            self.s_axil_arready.eq(rd_go),
            self.s_axil_rvalid.eq(rvalid), self.s_axil_rdata.eq(rdata),
            self.s_axil_rresp.eq(Cat(Const(0, 1), rerr)),
        ]
        m.d.sync += rd_go.eq(self.s_axil_arvalid & ~rd_go & ~rvalid)
        raddr = self.s_axil_araddr[2:]
        status = rmap["STATUS"]
        hw = {   # the hardware value of each readable, non-constant register
            "STATUS": (unit.config.running << status.field("RUNNING").lsb)
            | (locked << status.field("LOCKED").lsb),
            "IRQ": (irq_en << en_bit) | (irq_pending << pend_bit),
            "VECTORS_IN": unit.vectors_in,
            "VECTORS_OUT": unit.vectors_out,
            "REJECTED": unit.rejected,
        }
        with m.If(rd_go):
            m.d.sync += [rvalid.eq(1), rdata.eq(0), rerr.eq(0)]
            with m.Switch(raddr):
                for reg in rmap.registers:
                    with m.Case(reg.offset >> 2):
                        if reg.name in hw:
                            m.d.sync += rdata.eq(hw[reg.name])
                        elif reg.readable:
                            m.d.sync += rdata.eq(reg.value)
                with m.Default():
                    m.d.sync += rerr.eq(~self._secret_ok(raddr))
        with m.Elif(self.s_axil_rready):
            m.d.sync += rvalid.eq(0)
        assert set(hw) | {r.name for r in rmap.registers if r.fields[0].access == "const"} \
            | {r.name for r in rmap.registers if not r.readable} \
            == {r.name for r in rmap.registers}, "register map and hardware disagree"
        return m


def generate_axi_verilog(classes: int = 10, width: int = 16,
                         name: str = "dynamarks_wm_axi", **unit_kwargs) -> str:
    """Verilog text of ``WatermarkAxi(classes, width)`` as module ``name`` (ports: the module
    docstring). Submodules are prefixed with ``name`` so that several builds can coexist."""
    from amaranth.back import verilog

    top = WatermarkAxi(classes, width, **unit_kwargs)
    return verilog.convert(top, name=name, emit_src=False)


def main(argv: list[str] | None = None) -> int:
    """``python -m dynamarks.rtl.axi [--classes N] [--width W] [-o FILE] [--stats]``: write the
    Verilog, or (``--stats``) print the iCE40UP5K cost of the wrapper over the bare unit."""
    import argparse
    import sys
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m dynamarks.rtl.axi")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("-o", "--output", type=Path, default=None)
    parser.add_argument("--stats", action="store_true",
                        help="yosys synth_ice40 of the unit and of the AXI IP; print LC/LUT/FF")
    args = parser.parse_args(argv)
    if args.stats:
        from .synth import yosys_stats

        unit = yosys_stats(WatermarkUnit(args.classes, args.width), name="unit")
        axi = yosys_stats(WatermarkAxi(args.classes, args.width), name="axi")
        print(f"iCE40UP5K (synth_ice40 -dsp estimate), N={args.classes} W={args.width}")
        for key in ("lc_estimate", "luts", "ffs", "dsps", "brams"):
            print(f"  {key:12s} unit {unit[key]:6d}   AXI IP {axi[key]:6d}   "
                  f"wrapper {axi[key] - unit[key]:+d}")
        return 0
    text = generate_axi_verilog(args.classes, args.width)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
