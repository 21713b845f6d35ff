/*
 * Fused float-row path of the reference unit (SPEC §2 float→fixed, then SPEC §4–§9), for
 * dynamarks.host.alter_float. A second implementation of the numpy reference, checked
 * against it bit for bit in tests/test_alter_core.py.
 *
 * alter_rows(x, s, words, alpha, beta, a, b, thr, n, one, out) -> altered
 *   x:      float64[M*n], rows already checked (SPEC §2 step 1), C order
 *   s:      float64[M], the row sums exactly as numpy's x.sum(axis=1) gives them
 *   words:  uint32[M], keystream word v for row v (SPEC §6)
 *   alpha, beta, a, b: int64[n]; thr: int64[n*n] (C[i][k] at i*n+k)
 *   one:    2**(W-1)
 *   out:    float64[M*n], written: the altered rows as code / ONE
 *   returns the number of rows altered (SPEC §9)
 *
 * Floating point: q = x / s * ONE is one IEEE division and one exact multiplication by a
 * power of two, as numpy computes it; floor and q - floor(q) are exact. Built with
 * -ffp-contract=off so that no step is fused.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define NMAX 64

static int64_t alter_rows(const double *x, const double *s, const uint32_t *words,
                          const int64_t *alpha, const int64_t *beta, const int64_t *a,
                          const int64_t *b, const int64_t *thr, Py_ssize_t m, int n,
                          int64_t one, double *out) {
    int64_t altered = 0;
    if (n < 1 || n > NMAX) return 0;
    const double fone = (double)one, inv = 1.0 / (double)one; /* exact: a power of two */
    for (Py_ssize_t v = 0; v < m; v++) {
        const double *xr = x + v * n;
        double *yr = out + v * n;
        double frac[NMAX];
        int64_t p[NMAX];
        int64_t fsum = 0;
        const double sv = s[v];
        /* SPEC §2 steps 2-3 */
        for (int k = 0; k < n; k++) {
            const double q = xr[k] / sv * fone;
            const int64_t f = (int64_t)q; /* floor: 0 <= q < 2**24 */
            frac[k] = q - (double)f;
            p[k] = f;
            fsum += f;
        }
        const int64_t r = one - fsum;
        /* step 4: +1 to the r largest fractions, ties to the lowest index: entry k's rank
           in that order is the number of entries before it (branch-free, vectorizable) */
        if (r > 0) {
            for (int k = 0; k < n; k++) {
                const double fk = frac[k];
                int rank = 0;
                for (int j = 0; j < n; j++)
                    rank += (frac[j] > fk) | ((frac[j] == fk) & (j < k));
                p[k] += rank < r;
            }
        }
        /* step 5: keep the float argmax when it is unique */
        int kx = 0;
        double xm = xr[0];
        for (int k = 1; k < n; k++) {
            const int gt = xr[k] > xm;
            kx = gt ? k : kx;
            xm = gt ? xr[k] : xm;
        }
        int ties = 0;
        for (int k = 0; k < n; k++) ties += xr[k] == xm;
        if (ties == 1) {
            for (;;) {
                int kp = 0;
                for (int k = 1; k < n; k++) if (p[k] > p[kp]) kp = k;
                if (kp == kx) break;
                p[kp] -= 1; p[kx] += 1;
            }
        }
        /* SPEC §4-§9 */
        int i = 0;
        int64_t sum = p[0];
        for (int k = 1; k < n; k++) { if (p[k] > p[i]) i = k; sum += p[k]; }
        const int64_t w = words[v], rr = w & 0xFFFF, u = w >> 16;
        const int64_t delta = a[i] + ((rr * (b[i] - a[i])) >> 16);
        int j = 0;
        for (int k = 0; k < n; k++) j += thr[i * n + k] <= u;
        const int64_t pi = p[i];
        if (sum == one && alpha[i] < pi && pi < beta[i] && j != i) {
            p[i] -= delta; p[j] += delta; altered++;
        }
        for (int k = 0; k < n; k++) yr[k] = (double)p[k] * inv;
    }
    return altered;
}

static int get(PyObject *o, Py_buffer *buf, int writable, Py_ssize_t itemsize, Py_ssize_t count,
               const char *what) {
    if (PyObject_GetBuffer(o, buf, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    if (buf->len != itemsize * count) {
        PyErr_Format(PyExc_ValueError, "alter_rows: %s has %zd bytes, expected %zd", what,
                     buf->len, itemsize * count);
        PyBuffer_Release(buf);
        return -1;
    }
    return 0;
}

static PyObject *py_alter_rows(PyObject *self, PyObject *args) {
    PyObject *ox, *os, *ow, *oal, *obe, *oa, *ob, *othr, *oout;
    Py_ssize_t m;
    int n;
    long long one;
    if (!PyArg_ParseTuple(args, "OOOOOOOOnLO", &ox, &os, &ow, &oal, &obe, &oa, &ob, &othr, &m,
                          &one, &oout))
        return NULL;
    /* n from the parameter arrays */
    Py_buffer bal;
    if (PyObject_GetBuffer(oal, &bal, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    n = (int)(bal.len / 8);
    PyBuffer_Release(&bal);
    if (n < 1 || n > NMAX || m < 0) {
        PyErr_SetString(PyExc_ValueError, "alter_rows: bad class count or row count");
        return NULL;
    }
    Py_buffer bx, bs, bw, b_al, b_be, b_a, b_b, b_thr, bout;
    Py_buffer *all[9] = {&bx, &bs, &bw, &b_al, &b_be, &b_a, &b_b, &b_thr, &bout};
    PyObject *objs[9] = {ox, os, ow, oal, obe, oa, ob, othr, oout};
    const Py_ssize_t sizes[9] = {8, 8, 4, 8, 8, 8, 8, 8, 8};
    const Py_ssize_t counts[9] = {m * n, m, m, n, n, n, n, (Py_ssize_t)n * n, m * n};
    const char *names[9] = {"x", "s", "words", "alpha", "beta", "a", "b", "thr", "out"};
    int got = 0;
    for (; got < 9; got++)
        if (get(objs[got], all[got], got == 8, sizes[got], counts[got], names[got]) < 0) break;
    if (got < 9) {
        for (int k = 0; k < got; k++) PyBuffer_Release(all[k]);
        return NULL;
    }
    int64_t altered;
    Py_BEGIN_ALLOW_THREADS
    altered = alter_rows(bx.buf, bs.buf, bw.buf, b_al.buf, b_be.buf, b_a.buf, b_b.buf, b_thr.buf,
                         m, n, (int64_t)one, bout.buf);
    Py_END_ALLOW_THREADS
    for (int k = 0; k < 9; k++) PyBuffer_Release(all[k]);
    return PyLong_FromLongLong(altered);
}

static PyMethodDef methods[] = {
    {"alter_rows", py_alter_rows, METH_VARARGS,
     "alter_rows(x, s, words, alpha, beta, a, b, thr, m, one, out) -> altered"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_alter_core",
                                    "fused float-row path of the reference unit", -1, methods};

PyMODINIT_FUNC PyInit__alter_core(void) { return PyModule_Create(&module); }
