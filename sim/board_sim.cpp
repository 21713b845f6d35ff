// The simulated board: BoardTop under Verilator, its UART pins bridged to a pseudo-terminal.
//
// Usage: board_sim --divisor D
//
// Prints "PTY <path>" on stdout once the pseudo-terminal exists, then runs until SIGINT/SIGTERM.
// A host opens <path> with pyserial exactly as a USB-serial board (the baud rate it sets is
// ignored: the simulated line runs at one bit per D simulated clock cycles).
//
// The bridge works at the pins: bytes the host writes to the pty are shifted into the design's
// `uart_rx` bit by bit (start bit, 8 data bits LSB first, stop bit; D cycles each, back to back),
// and the design's `uart_tx` is sampled like a UART receiver (falling edge, then the middle of
// each bit) and every byte received is written to the pty. So the design's UartRx/UartTx are
// exercised exactly as on a board, at the exact nominal rate.
//
// Time: the simulation only advances while there is something to do. After IDLE_CYCLES cycles
// with no activity on either line (far longer than the design needs to process any frame and
// start its reply) the harness sleeps in poll() until the host writes again; the design is idle
// then, so pausing simulated time changes nothing it can observe.
//
// Simulated time for the host: on SIGUSR1 the harness prints one line on stdout,
// "STAT <cycle> <last> <asleep>": the current clock cycle, the cycle at which the last byte
// sent to the host ended (its stop bit sampled), and 1 when it is asleep with nothing left to
// send or shift in (every frame so far answered or dropped). Throughput and "no reply" are
// measured in these cycles, never in the host's wall-clock time.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <termios.h>
#include <unistd.h>

#include <deque>
#include <memory>
#include <vector>

#include "Vboard.h"
#include "verilated.h"

static volatile sig_atomic_t g_stop = 0;
static volatile sig_atomic_t g_stat = 0;
static void on_signal(int) { g_stop = 1; }
static void on_stat(int) { g_stat = 1; }

static const unsigned long IDLE_CYCLES = 200000;

int main(int argc, char **argv) {
    unsigned divisor = 4;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--divisor")) divisor = (unsigned)atoi(argv[i + 1]);
    }
    if (divisor < 4) {
        fprintf(stderr, "board_sim: divisor must be at least 4\n");
        return 2;
    }

    // Never outlive the process that started us (a crashed test must not leave a simulator).
    prctl(PR_SET_PDEATHSIG, SIGTERM);

    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) || unlockpt(master)) {
        perror("board_sim: posix_openpt");
        return 1;
    }
    const char *slave_name = ptsname(master);
    // Hold the slave open ourselves: the master then never sees EOF/EIO when the host closes
    // its end, and the line settings (raw, no echo) are in place before the host opens it.
    int slave = open(slave_name, O_RDWR | O_NOCTTY);
    if (slave < 0) {
        perror("board_sim: open slave");
        return 1;
    }
    struct termios tio;
    tcgetattr(slave, &tio);
    cfmakeraw(&tio);
    tcsetattr(slave, TCSANOW, &tio);
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    struct sigaction su;
    memset(&su, 0, sizeof su);
    su.sa_handler = on_stat;
    sigaction(SIGUSR1, &su, nullptr);
    signal(SIGPIPE, SIG_IGN);

    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(argc, argv);
    auto top = std::make_unique<Vboard>(ctx.get());
    top->uart_rx = 1;
    top->rst = 1;
    for (int i = 0; i < 8; i++) {
        top->clk = 0; top->eval();
        top->clk = 1; top->eval();
    }
    top->rst = 0;

    printf("PTY %s\n", slave_name);
    fflush(stdout);

    std::deque<unsigned char> to_device;  // host bytes not yet shifted in
    std::vector<unsigned char> to_host;   // device bytes not yet written to the pty
    // host -> device shifter
    unsigned tx_bits = 0, tx_count = 0;   // bits left in the current frame, cycles left in bit
    unsigned tx_shift = 0;
    // device -> host sampler
    int rx_state = -1;                    // -1 idle, 0..8 data bits / stop
    unsigned rx_count = 0, rx_byte = 0;
    unsigned last_tx = 1;
    unsigned long idle = 0;
    unsigned long long last_byte = 0;     // cycle at which the last byte to the host ended
    unsigned char chunk[4096];

    while (!g_stop) {
        if (g_stat) {
            g_stat = 0;
            int asleep = idle >= IDLE_CYCLES && to_device.empty() && to_host.empty() && !tx_bits;
            printf("STAT %llu %llu %d\n", (unsigned long long)ctx->time(), last_byte, asleep);
            fflush(stdout);
        }
        // ---- exchange bytes with the pty every 64 cycles, or block when idle
        if ((ctx->time() & 63) == 0 || idle >= IDLE_CYCLES) {
            if (!to_host.empty()) {
                ssize_t n = write(master, to_host.data(), to_host.size());
                if (n > 0) to_host.erase(to_host.begin(), to_host.begin() + n);
            }
            if (idle >= IDLE_CYCLES && to_device.empty()) {
                // Asleep: wait for the host to write, or to make room for our pending bytes.
                struct pollfd pfd = {master, (short)(POLLIN | (to_host.empty() ? 0 : POLLOUT)), 0};
                poll(&pfd, 1, 100);
            }
            if (to_device.size() < 65536) {
                ssize_t n = read(master, chunk, sizeof chunk);
                if (n > 0) {
                    to_device.insert(to_device.end(), chunk, chunk + n);
                    idle = 0;
                } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                    perror("board_sim: read");
                    break;
                }
            }
            if (idle >= IDLE_CYCLES) continue;  // nothing arrived: stay asleep
        }

        // ---- host -> device: drive uart_rx before the rising edge
        if (tx_bits == 0 && !to_device.empty()) {
            tx_shift = (1u << 9) | ((unsigned)to_device.front() << 1);  // stop, data, start
            to_device.pop_front();
            tx_bits = 10;
            tx_count = divisor;
        }
        if (tx_bits) {
            top->uart_rx = tx_shift & 1;
            if (--tx_count == 0) {
                tx_shift >>= 1;
                tx_bits--;
                tx_count = divisor;
            }
            idle = 0;
        } else {
            top->uart_rx = 1;
        }

        top->clk = 0; top->eval();
        top->clk = 1; top->eval();
        ctx->timeInc(1);

        // ---- device -> host: sample uart_tx like a UART receiver
        unsigned line = top->uart_tx & 1;
        if (rx_state < 0) {
            if (last_tx && !line) {          // falling edge: start bit
                rx_state = 0;
                rx_count = divisor + divisor / 2;  // to the middle of data bit 0
                rx_byte = 0;
            }
        } else if (--rx_count == 0) {
            if (rx_state < 8) {
                rx_byte |= line << rx_state;
                rx_state++;
                rx_count = divisor;
            } else {                          // middle of the stop bit
                if (line) to_host.push_back((unsigned char)rx_byte);
                else fprintf(stderr, "board_sim: stop bit error from the device\n");
                last_byte = ctx->time();
                rx_state = -1;
            }
        }
        if (line != last_tx || rx_state >= 0) idle = 0;
        last_tx = line;
        if (idle < IDLE_CYCLES) idle++;
    }
    // Flush what the device already sent.
    if (!to_host.empty()) {
        ssize_t n = write(master, to_host.data(), to_host.size());
        (void)n;
    }
    top->final();
    close(slave);
    close(master);
    return 0;
}
