// Behavioural stand-in for the WatermarkUnit (docs/SPEC.md §4-§10, TEAM_BRIEF port contract).
//
// NOT the design: the real unit is Amaranth (rtl/unit.py). This model exists so that the
// cocotb infrastructure and the Verilator batch harness can be tested on their own, and so a
// deliberately broken copy (`define PLACEHOLDER_BUG) proves the scoreboard catches errors.
// It is written for clarity, not for synthesis: whole-vector work happens in one clock.
//
// Ports are those of rtl/unit.py: sink/source streams with a {last, first, data} payload,
// the config__* port (here addressed by config-word index, Params.config_words()), status
// outputs and counters; plus config__refused (sticky: a write or start came after the lock).
// Framing follows rtl/unit.py's state machine (IDLE / IN(k) / DROP).
// Timing: sink.ready is high whenever the output FIFO has room for a whole vector, so with a
// ready source it takes one word per clock; the altered vector leaves two clocks after its
// last word arrived.
(* top = 1 *)
module placeholder_unit #(parameter N = 10, parameter W = 16) (
    input clk, input rst,
    input sink__valid, output sink__ready, input [W+1:0] sink__payload,
    output source__valid, input source__ready, output [W+1:0] source__payload,
    input [15:0] config__addr, input [31:0] config__data, input config__we,
    input config__start, input config__lock,
    output config__running, output config__locked, output config__refused,
    output [31:0] vectors_in, output [31:0] vectors_out, output [31:0] rejected
);
    localparam NWORDS = 5 + N * (4 + N);
    localparam DEPTH = 4 * N;
    localparam ONE = 1 << (W - 1);

    reg [31:0] cfg [0:NWORDS-1];
    reg [1:288] s;
    reg warm, lock_r, refused_r;
    reg [31:0] n_in, n_out, n_rej;

    // input framing
    reg [W-1:0] buf_ [0:N-1];
    integer count;      // words of the current vector so far
    reg hunting;        // dropping words until the next `first`

    // output FIFO of {last, first, data}
    reg [W+1:0] fifo [0:DEPTH-1];
    integer rd, wr, fill;

    wire [W-1:0] in_data = sink__payload[W-1:0];
    wire in_first = sink__payload[W];
    wire in_last = sink__payload[W+1];
    assign sink__ready = warm && (fill <= DEPTH - N);
    assign source__valid = fill > 0;
    assign source__payload = fifo[rd];
    assign config__running = warm;
    assign config__locked = lock_r;
    assign config__refused = refused_r;
    assign vectors_in = n_in;
    assign vectors_out = n_out;
    assign rejected = n_rej;

    function automatic [1:288] trivium_step(input [1:288] st);
        reg t1, t2, t3;
        begin
            t1 = st[66] ^ st[93];
            t2 = st[162] ^ st[177];
            t3 = st[243] ^ st[288];
            t1 = t1 ^ (st[91] & st[92]) ^ st[171];
            t2 = t2 ^ (st[175] & st[176]) ^ st[264];
            t3 = t3 ^ (st[286] & st[287]) ^ st[69];
            trivium_step = {t3, st[1:92], t1, st[94:176], t2, st[178:287]};
        end
    endfunction

    function automatic z_of(input [1:288] st);
        z_of = st[66] ^ st[93] ^ st[162] ^ st[177] ^ st[243] ^ st[288];
    endfunction

    integer k, m, i, j, pushed, rej;
    reg take;
    reg [W+8:0] sum;
    reg [W-1:0] vec [0:N-1];
    reg [31:0] rword;
    reg [47:0] delta;
    reg [31:0] cw;
    reg alt;

    always @(posedge clk) begin
        if (rst) begin
            warm <= 0; lock_r <= 0; refused_r <= 0;
            n_in <= 0; n_out <= 0; n_rej <= 0;
            count = 0; hunting = 0; rd = 0; wr = 0; fill = 0;
            s = 0;
        end else begin
            pushed = 0;
            // ---- config port ----
            if ((config__we || config__start) && lock_r) refused_r <= 1;
            if (config__we && !lock_r && config__addr < NWORDS) cfg[config__addr] <= config__data;
            if (config__lock) lock_r <= 1;
            if (config__start && !lock_r) begin
                s = 0;
                for (m = 0; m < 80; m = m + 1) begin   // bit m%8 of byte m/8 -> s(80 - m)
                    s[80 - m] = cfg[m / 32][m % 32];
                    s[173 - m] = cfg[(80 + m) / 32][(80 + m) % 32];
                end
                s[286] = 1; s[287] = 1; s[288] = 1;
                for (m = 0; m < 1152; m = m + 1) s = trivium_step(s);
                warm <= 1;
                count = 0; hunting = 0;
            end
            // ---- input stream ----
            if (sink__valid && sink__ready) begin
                take = 0; rej = 0;
                if (in_first) begin
                    if (count != 0) rej = rej + 1;        // `first` cuts a vector short
                    count = 0; hunting = 0; take = 1;
                end else if (hunting) begin
                    if (in_last) hunting = 0;             // DROP ends with `last`
                end else if (count == 0) begin
                    rej = rej + 1;                        // word 0 without `first`
                    hunting = !in_last;
                end else begin
                    take = 1;
                end
                if (take) begin
                    buf_[count] = in_data;
                    count = count + 1;
                    if (in_last && count != N) begin
                        rej = rej + 1; count = 0;         // too few words
                    end else if (!in_last && count == N) begin
                        rej = rej + 1; count = 0; hunting = 1;   // too many words
                    end else if (in_last) begin
                        count = 0;
                        // ---- SPEC §4-§9 on the complete vector ----
                        sum = 0; i = 0;
                        for (k = 0; k < N; k = k + 1) begin
                            vec[k] = buf_[k];
                            sum = sum + buf_[k];
                            if (buf_[k] > buf_[i]) i = k;
                        end
                        rword = 0;
                        for (k = 0; k < 32; k = k + 1) begin
                            rword[k] = z_of(s);
                            s = trivium_step(s);
                        end
                        cw = 5 + i * (4 + N);
                        delta = cfg[cw + 2] + ((rword[15:0] * (cfg[cw + 3] - cfg[cw + 2])) >> 16);
                        j = 0;
                        for (k = 0; k < N; k = k + 1)
                            if (cfg[cw + 4 + k] <= rword[31:16]) j = j + 1;
                        alt = (sum == ONE) && (cfg[cw] < vec[i]) && (vec[i] < cfg[cw + 1]);
`ifdef PLACEHOLDER_BUG
                        alt = alt && (j != 0);     // forgets the j == i rule
`else
                        alt = alt && (j != i);
`endif
                        if (alt) begin
                            vec[i] = vec[i] - delta[W-1:0];
                            vec[j] = vec[j] + delta[W-1:0];
                        end
                        for (k = 0; k < N; k = k + 1)
                            fifo[(wr + k) % DEPTH] = {k == N - 1, k == 0, vec[k]};
                        wr = (wr + N) % DEPTH;
                        pushed = N;
                        n_in <= n_in + 1;
                    end
                end
                n_rej <= n_rej + rej;
            end
            // ---- output stream ----
            if (source__valid && source__ready) begin
                if (fifo[rd][W+1]) n_out <= n_out + 1;
                rd = (rd + 1) % DEPTH;
                fill = fill - 1;
            end
            fill = fill + pushed;
        end
    end
endmodule
