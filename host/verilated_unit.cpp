// Batch harness around the Verilated WatermarkUnit (Vunit), called from Python via ctypes.
//
// One call streams a whole batch: the C++ loop below toggles the clock, offers one word per
// clock on the unit's sink (the source side of the harness is always ready), and collects
// every word of the unit's source. Python is called once per batch, never once per clock.
//
// Clocking, per cycle: set the inputs with clk low, eval (combinational outputs settle),
// sample valid/ready (a transfer happens at the coming rising edge exactly when both are
// high now), raise clk and eval (the registers update), lower clk. Two evals per cycle.
//
// The payload layout (offset of data, first and last in the flat payload) comes from the
// Amaranth signature through vu_new(), so nothing here hard-codes the field order.

#include <cstdint>
#include <memory>

#include "Vunit.h"
#include "verilated.h"

// Verilator escapes the double underscore of Amaranth's port names ("sink__valid").
#define SINK_VALID sink___05Fvalid
#define SINK_READY sink___05Fready
#define SINK_PAYLOAD sink___05Fpayload
#define SOURCE_VALID source___05Fvalid
#define SOURCE_READY source___05Fready
#define SOURCE_PAYLOAD source___05Fpayload
#define CFG_ADDR config___05Faddr
#define CFG_DATA config___05Fdata
#define CFG_WE config___05Fwe
#define CFG_START config___05Fstart
#define CFG_LOCK config___05Flock
#define CFG_RUNNING config___05Frunning
#define CFG_LOCKED config___05Flocked

namespace {

struct Harness {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vunit> top;
    uint32_t dmask;
    int doff, foff, loff;
    uint64_t cycles = 0;
};

inline void settle(Harness* h) {
    h->top->eval();
}

// The rising edge after the inputs have settled, then clk back low (evaluated together with
// the next cycle's inputs).
inline void edge(Harness* h) {
    h->top->clk = 1;
    h->top->eval();
    h->top->clk = 0;
    h->cycles++;
}

inline void tick(Harness* h) {
    settle(h);
    edge(h);
}

}  // namespace

extern "C" {

// width: W; doff/foff/loff: bit offsets of data, first and last in the flat payload.
void* vu_new(int width, int doff, int foff, int loff) {
    auto* h = new Harness;
    h->ctx = std::make_unique<VerilatedContext>();
    h->ctx->randReset(0);
    h->top = std::make_unique<Vunit>(h->ctx.get(), "unit");
    h->dmask = width >= 32 ? 0xFFFFFFFFu : ((1u << width) - 1u);
    h->doff = doff;
    h->foff = foff;
    h->loff = loff;
    Vunit* t = h->top.get();
    t->clk = 0;
    t->rst = 1;
    t->SINK_VALID = 0;
    t->SINK_PAYLOAD = 0;
    t->SOURCE_READY = 0;
    t->CFG_WE = 0;
    t->CFG_START = 0;
    t->CFG_LOCK = 0;
    t->CFG_ADDR = 0;
    t->CFG_DATA = 0;
    return h;
}

void vu_free(void* p) {
    auto* h = static_cast<Harness*>(p);
    if (h == nullptr) return;
    h->top->final();
    delete h;
}

uint64_t vu_cycles(void* p) {
    return static_cast<Harness*>(p)->cycles;
}

// Hold rst for `cycles` clocks, then release it (one more clock).
void vu_reset(void* p, int cycles) {
    auto* h = static_cast<Harness*>(p);
    Vunit* t = h->top.get();
    t->SINK_VALID = 0;
    t->SOURCE_READY = 0;
    t->CFG_WE = t->CFG_START = t->CFG_LOCK = 0;
    t->rst = 1;
    for (int i = 0; i < cycles; i++) tick(h);
    t->rst = 0;
    tick(h);
}

// Perform n config writes (addr[k], data[k]), strobe start, wait for running (at most
// `timeout` clocks), then strobe lock when `lock`. Returns the clocks from start to running,
// or -1 on time-out.
int64_t vu_configure(void* p, const uint32_t* addr, const uint32_t* data, int n, int lock,
                     int64_t timeout) {
    auto* h = static_cast<Harness*>(p);
    Vunit* t = h->top.get();
    for (int i = 0; i < n; i++) {
        t->CFG_ADDR = addr[i];
        t->CFG_DATA = data[i];
        t->CFG_WE = 1;
        tick(h);
    }
    t->CFG_WE = 0;
    t->CFG_START = 1;
    tick(h);
    t->CFG_START = 0;
    int64_t waited = 0;
    for (;;) {
        settle(h);
        if (t->CFG_RUNNING) break;
        if (++waited > timeout) return -1;
        edge(h);
    }
    if (lock) {
        t->CFG_LOCK = 1;
        tick(h);
        t->CFG_LOCK = 0;
        tick(h);
    }
    return waited;
}

// Stream m vectors of n words (in[m*n], row-major) through the unit and write the m*n output
// words to out. Returns m*n on success; -1 when the unit stalls for `max_stall` clocks (no
// word in or out); -2 - k when output word k carries wrong first/last marks.
int64_t vu_process(void* p, const uint32_t* in, uint32_t* out, int64_t m, int n,
                   int64_t max_stall) {
    auto* h = static_cast<Harness*>(p);
    Vunit* t = h->top.get();
    const int64_t total = m * n;
    const uint32_t dmask = h->dmask;
    const int doff = h->doff, foff = h->foff, loff = h->loff;
    int64_t sent = 0, got = 0, stall = 0;
    int kin = 0, kout = 0;  // word index inside the current input / output vector
    t->SOURCE_READY = 1;
    t->SINK_VALID = 0;
    settle(h);
    while (got < total) {
        // rtl/unit.py's stream contract: sink.ready and source.valid/payload depend on
        // registers only, so what settled after the last edge holds at the coming edge
        // whatever the sink inputs become now. Sample first, then set inputs and clock.
        const bool fire_in = sent < total && t->SINK_READY;
        const bool fire_out = t->SOURCE_VALID;
        if (fire_out) {
            const uint32_t word = t->SOURCE_PAYLOAD;
            const bool first = (word >> foff) & 1u, last = (word >> loff) & 1u;
            if (first != (kout == 0) || last != (kout == n - 1)) {
                t->SOURCE_READY = 0;
                t->SINK_VALID = 0;
                return -2 - got;
            }
            out[got++] = (word >> doff) & dmask;
            kout = kout == n - 1 ? 0 : kout + 1;
        }
        if (sent < total) {
            t->SINK_VALID = 1;
            t->SINK_PAYLOAD = ((in[sent] & dmask) << doff) | (uint32_t(kin == 0) << foff) |
                              (uint32_t(kin == n - 1) << loff);
        } else {
            t->SINK_VALID = 0;
        }
        t->clk = 1;
        t->eval();  // the inputs settle, then the rising edge
        t->clk = 0;
        t->eval();  // nothing is clocked on the falling edge; it re-arms the rising one
        h->cycles++;
        if (fire_in) {
            sent++;
            kin = kin == n - 1 ? 0 : kin + 1;
        }
        if (fire_in || fire_out) {
            stall = 0;
        } else if (++stall > max_stall) {
            t->SOURCE_READY = 0;
            t->SINK_VALID = 0;
            return -1;
        }
    }
    t->SINK_VALID = 0;
    t->SOURCE_READY = 0;
    return got;
}

// Status outputs: vectors_in, vectors_out, rejected, running, locked. Runs `idle` clocks first (both streams idle)
// so that counters registered a cycle or two after the last handshake have caught up.
void vu_status(void* p, int idle, uint32_t* out) {
    auto* h = static_cast<Harness*>(p);
    Vunit* t = h->top.get();
    t->SINK_VALID = 0;
    t->SOURCE_READY = 0;
    for (int i = 0; i < idle; i++) tick(h);
    settle(h);
    out[0] = t->vectors_in;
    out[1] = t->vectors_out;
    out[2] = t->rejected;
    out[3] = t->CFG_RUNNING;
    out[4] = t->CFG_LOCKED;
}

}  // extern "C"
