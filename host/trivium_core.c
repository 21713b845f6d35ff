/*
 * Trivium keystream core (SPEC §5) for dynamarks.host.trivium.
 *
 * keystream(state, nbits_skip, nbytes) -> (keystream_bytes, new_state)
 *   state:      288 bytes, state[k-1] = s_k (0 or 1)
 *   nbits_skip: clocks run first with their z discarded (1152 for the warm-up, else 0)
 *   nbytes:     keystream bytes to produce; z_1 goes to bit 0 of byte 0 (eSTREAM order)
 *
 * Each register is kept as a history array in which the newest bit is appended, so a clock
 * is a handful of loads and three stores with no shifting; the history is compacted every
 * CHUNK clocks.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define LA 93
#define LB 84
#define LC 111
#define CHUNK 65536

typedef struct {
    uint8_t a[LA + CHUNK], b[LB + CHUNK], c[LC + CHUNK];
    long ta, tb, tc; /* index of s_1, s_94, s_178 in a, b, c */
} regs_t;

static void load(regs_t *r, const uint8_t *s) {
    for (int k = 1; k <= LA; k++) r->a[LA - k] = s[k - 1] & 1;
    for (int k = 1; k <= LB; k++) r->b[LB - k] = s[LA + k - 1] & 1;
    for (int k = 1; k <= LC; k++) r->c[LC - k] = s[LA + LB + k - 1] & 1;
    r->ta = LA - 1; r->tb = LB - 1; r->tc = LC - 1;
}

static void store(const regs_t *r, uint8_t *s) {
    for (int k = 1; k <= LA; k++) s[k - 1] = r->a[r->ta + 1 - k];
    for (int k = 1; k <= LB; k++) s[LA + k - 1] = r->b[r->tb + 1 - k];
    for (int k = 1; k <= LC; k++) s[LA + LB + k - 1] = r->c[r->tc + 1 - k];
}

static void compact(regs_t *r) {
    memmove(r->a, r->a + r->ta + 1 - LA, LA); r->ta = LA - 1;
    memmove(r->b, r->b + r->tb + 1 - LB, LB); r->tb = LB - 1;
    memmove(r->c, r->c + r->tc + 1 - LC, LC); r->tc = LC - 1;
}

/* Run n clocks (n <= CHUNK); if z != NULL store each output bit in z[0..n-1]. */
static void clocks(regs_t *r, long n, uint8_t *z) {
    uint8_t *a = r->a, *b = r->b, *c = r->c;
    long ta = r->ta, tb = r->tb, tc = r->tc;
    for (long t = 0; t < n; t++) {
        uint8_t t1 = a[ta - 65] ^ a[ta - 92];
        uint8_t t2 = b[tb - 68] ^ b[tb - 83];
        uint8_t t3 = c[tc - 65] ^ c[tc - 110];
        if (z) z[t] = t1 ^ t2 ^ t3;
        t1 ^= (a[ta - 90] & a[ta - 91]) ^ b[tb - 77];
        t2 ^= (b[tb - 81] & b[tb - 82]) ^ c[tc - 86];
        t3 ^= (c[tc - 108] & c[tc - 109]) ^ a[ta - 68];
        a[++ta] = t3; b[++tb] = t1; c[++tc] = t2;
    }
    r->ta = ta; r->tb = tb; r->tc = tc;
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
    uint8_t *z = PyMem_Malloc(CHUNK);
    if (!out || !new_state || !r || !z) {
        Py_XDECREF(out); Py_XDECREF(new_state); PyMem_Free(r); PyMem_Free(z);
        return PyErr_NoMemory();
    }
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    load(r, state);
    while (skip > 0) {
        long n = skip < CHUNK ? (long)skip : CHUNK;
        clocks(r, n, NULL); compact(r); skip -= n;
    }
    Py_ssize_t done = 0;
    while (done < nbytes) {
        Py_ssize_t nb = nbytes - done; if (nb > CHUNK / 8) nb = CHUNK / 8;
        clocks(r, nb * 8, z); compact(r);
        for (Py_ssize_t i = 0; i < nb; i++) {
            const uint8_t *q = z + 8 * i;
            o[done + i] = q[0] | q[1] << 1 | q[2] << 2 | q[3] << 3 | q[4] << 4 | q[5] << 5 | q[6] << 6 | q[7] << 7;
        }
        done += nb;
    }
    store(r, (uint8_t *)PyBytes_AS_STRING(new_state));
    Py_END_ALLOW_THREADS
    PyMem_Free(r); PyMem_Free(z);
    return Py_BuildValue("(NN)", out, new_state);
}

static PyMethodDef methods[] = {
    {"keystream", keystream, METH_VARARGS, "keystream(state288, skip, nbytes) -> (bytes, state288)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_trivium", "Trivium keystream core", -1, methods};

PyMODINIT_FUNC PyInit__trivium(void) { return PyModule_Create(&module); }
