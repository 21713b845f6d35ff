/*
 * Trivium keystream core (SPEC §5) for dynamarks.host.trivium.
 *
 * keystream(state, nbits_skip, nbytes) -> (keystream_bytes, new_state)
 *   state:      288 bytes, state[k-1] = s_k (0 or 1)
 *   nbits_skip: clocks run first with their z discarded (1152 for the warm-up, else 0)
 *   nbytes:     keystream bytes to produce; z_1 goes to bit 0 of byte 0 (eSTREAM order)
 *
 * Each register is kept as a bit history packed into 64-bit words, the newest bit appended
 * at the end, so bit k of register A at clock t+i is at history position ta + i + 1 - k. The
 * smallest tap is s66 (and s69, s162 = B's 69th, s243 = C's 66th), so the 64 new bits of
 * clocks t .. t+63 depend only on bits that exist before clock t: 64 clocks are a handful of
 * 64-bit shifts, ANDs and XORs. The history is compacted when its buffer fills.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define LA 93
#define LB 84
#define LC 111
#define WORDS 1024 /* history words per register (65536 bits) */

typedef struct {
    uint64_t a[WORDS + 4], b[WORDS + 4], c[WORDS + 4];
    long ta, tb, tc; /* history position of s_1, s_94, s_178 in a, b, c */
} regs_t;

static inline uint64_t get64(const uint64_t *h, long pos) {
    const long w = pos >> 6;
    const int sh = pos & 63;
    return sh ? (h[w] >> sh) | (h[w + 1] << (64 - sh)) : h[w];
}

static inline void put64(uint64_t *h, long pos, uint64_t v) {
    const long w = pos >> 6;
    const int sh = pos & 63;
    if (sh == 0) { h[w] = v; return; }
    h[w] = (h[w] & ((UINT64_C(1) << sh) - 1)) | (v << sh);
    h[w + 1] = v >> (64 - sh);
}

static inline int getbit(const uint64_t *h, long pos) { return (h[pos >> 6] >> (pos & 63)) & 1; }

static inline void setbit(uint64_t *h, long pos, int v) {
    h[pos >> 6] = (h[pos >> 6] & ~(UINT64_C(1) << (pos & 63))) | ((uint64_t)(v & 1) << (pos & 63));
}

static void load(regs_t *r, const uint8_t *s) {
    memset(r, 0, sizeof *r);
    for (int k = 1; k <= LA; k++) setbit(r->a, LA - k, s[k - 1]);
    for (int k = 1; k <= LB; k++) setbit(r->b, LB - k, s[LA + k - 1]);
    for (int k = 1; k <= LC; k++) setbit(r->c, LC - k, s[LA + LB + k - 1]);
    r->ta = LA - 1; r->tb = LB - 1; r->tc = LC - 1;
}

static void store(const regs_t *r, uint8_t *s) {
    for (int k = 1; k <= LA; k++) s[k - 1] = getbit(r->a, r->ta + 1 - k);
    for (int k = 1; k <= LB; k++) s[LA + k - 1] = getbit(r->b, r->tb + 1 - k);
    for (int k = 1; k <= LC; k++) s[LA + LB + k - 1] = getbit(r->c, r->tc + 1 - k);
}

/* Move the last len bits ending at *t to the start of h. */
static void compact1(uint64_t *h, long *t, int len) {
    uint64_t tmp[3];
    const long from = *t + 1 - len;
    for (int w = 0; w < 3; w++) tmp[w] = get64(h, from + 64 * w);
    memcpy(h, tmp, sizeof tmp);
    *t = len - 1;
}

static void compact(regs_t *r) {
    if (r->ta > 64 * (WORDS - 2)) compact1(r->a, &r->ta, LA);
    if (r->tb > 64 * (WORDS - 2)) compact1(r->b, &r->tb, LB);
    if (r->tc > 64 * (WORDS - 2)) compact1(r->c, &r->tc, LC);
}

/* Run n clocks (1 <= n <= 64); return their output bits, clock t+i in bit i. */
static uint64_t clock64(regs_t *r, int n) {
    const uint64_t *a = r->a, *b = r->b, *c = r->c;
    const long ta = r->ta + 1, tb = r->tb + 1, tc = r->tc + 1; /* s_k at ta - k */
    uint64_t t1 = get64(a, ta - 66) ^ get64(a, ta - 93);
    uint64_t t2 = get64(b, tb - 69) ^ get64(b, tb - 84);
    uint64_t t3 = get64(c, tc - 66) ^ get64(c, tc - 111);
    const uint64_t z = t1 ^ t2 ^ t3;
    t1 ^= (get64(a, ta - 91) & get64(a, ta - 92)) ^ get64(b, tb - 78);
    t2 ^= (get64(b, tb - 82) & get64(b, tb - 83)) ^ get64(c, tc - 87);
    t3 ^= (get64(c, tc - 109) & get64(c, tc - 110)) ^ get64(a, ta - 69);
    put64(r->a, ta, t3); put64(r->b, tb, t1); put64(r->c, tc, t2);
    r->ta += n; r->tb += n; r->tc += n;
    compact(r);
    return n == 64 ? z : z & ((UINT64_C(1) << n) - 1);
}

static PyObject *keystream(PyObject *self, PyObject *args) {
    const uint8_t *state; Py_ssize_t state_len, skip, nbytes;
    if (!PyArg_ParseTuple(args, "y#nn", &state, &state_len, &skip, &nbytes)) return NULL;
    if (state_len != LA + LB + LC || skip < 0 || nbytes < 0) {
        PyErr_SetString(PyExc_ValueError, "bad Trivium state length or count");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, nbytes);
    PyObject *new_state = PyBytes_FromStringAndSize(NULL, LA + LB + LC);
    regs_t *r = PyMem_Malloc(sizeof(regs_t));
    if (!out || !new_state || !r) {
        Py_XDECREF(out); Py_XDECREF(new_state); PyMem_Free(r);
        return PyErr_NoMemory();
    }
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    load(r, state);
    while (skip > 0) {
        const int n = skip < 64 ? (int)skip : 64;
        clock64(r, n);
        skip -= n;
    }
    for (Py_ssize_t done = 0; done < nbytes;) {
        const int nb = nbytes - done < 8 ? (int)(nbytes - done) : 8;
        const uint64_t z = clock64(r, 8 * nb);
        for (int k = 0; k < nb; k++) o[done + k] = (uint8_t)(z >> (8 * k));
        done += nb;
    }
    store(r, (uint8_t *)PyBytes_AS_STRING(new_state));
    Py_END_ALLOW_THREADS
    PyMem_Free(r);
    return Py_BuildValue("(NN)", out, new_state);
}

static PyMethodDef methods[] = {
    {"keystream", keystream, METH_VARARGS, "keystream(state288, skip, nbytes) -> (bytes, state288)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_trivium", "Trivium keystream core", -1, methods};

PyMODINIT_FUNC PyInit__trivium(void) { return PyModule_Create(&module); }
