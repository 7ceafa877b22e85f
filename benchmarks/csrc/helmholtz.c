/* Hand-written Helmholtz free energy (survey Table 4) and its hand-derived gradient.
 *
 *   f(x) = RT sum_i x_i log(x_i / (1 - b.x)) - x.Ax / (sqrt8 b.x) log((1 + (1+sqrt2) b.x)
 *                                                                    / (1 + (1-sqrt2) b.x))
 * A is symmetric, so grad(x.Ax) = 2 Ax: f and its gradient need one pass over A each, and
 * helm_fg shares that pass between them. Plain loops, strict IEEE (no -ffast-math), the way a
 * careful C programmer writes it: A x is computed as x^T A (A is symmetric), row by row as
 * axpy updates of a vector, which the compiler vectorises without reassociating anything; a dot
 * product per row would be one serial chain of n^2 dependent additions (10x slower at n=1000).
 */
#include <math.h>

#define RT (8.314 * 273.0)
#define SQRT2 1.4142135623730951
#define SQRT8 2.8284271247461903

/* Ax = A x (= x^T A), and returns x . Ax */
static double quadratic(int n, const double *A, const double *x, double *Ax) {
    for (int j = 0; j < n; j++) Ax[j] = 0.0;
    for (int i = 0; i < n; i++) {
        const double *row = A + (long)i * n;
        double xi = x[i];
        for (int j = 0; j < n; j++) Ax[j] += xi * row[j];
    }
    double q = 0.0;
    for (int i = 0; i < n; i++) q += x[i] * Ax[i];
    return q;
}

/* f alone; work holds n doubles (A x). */
double helm_f(int n, const double *x, const double *b, const double *A, double *work) {
    double bx = 0.0;
    for (int i = 0; i < n; i++) bx += b[i] * x[i];
    double entropy = 0.0;
    for (int i = 0; i < n; i++) entropy += x[i] * log(x[i] / (1.0 - bx));
    double q = quadratic(n, A, x, work);
    double L = log((1.0 + (1.0 + SQRT2) * bx) / (1.0 + (1.0 - SQRT2) * bx));
    return RT * entropy - q / (SQRT8 * bx) * L;
}

/* f and its gradient g; work holds n doubles (A x). */
double helm_fg(int n, const double *x, const double *b, const double *A, double *g, double *work) {
    double bx = 0.0, sx = 0.0;
    for (int i = 0; i < n; i++) {
        bx += b[i] * x[i];
        sx += x[i];
    }
    double entropy = 0.0;
    for (int i = 0; i < n; i++) entropy += x[i] * log(x[i] / (1.0 - bx));
    double q = quadratic(n, A, x, work);
    double up = 1.0 + (1.0 + SQRT2) * bx, down = 1.0 + (1.0 - SQRT2) * bx;
    double L = log(up / down), s = SQRT8 * bx;
    double f = RT * entropy - q / s * L;
    /* d/dbx of L/s, and of the entropy through log(1 - bx) */
    double dL = (1.0 + SQRT2) / up - (1.0 - SQRT2) / down;
    double dLs = (dL * s - L * SQRT8) / (s * s);
    double cb = RT * sx / (1.0 - bx) - q * dLs;
    for (int i = 0; i < n; i++)
        g[i] = RT * (log(x[i] / (1.0 - bx)) + 1.0) - 2.0 * work[i] / s * L + cb * b[i];
    return f;
}

/* The same for any A (not symmetric): grad(x.Ax) = A x + A^T x. quadratic() gives x^T A = A^T x
 * as axpy updates; A x takes a second pass over A, four rows at a time so that four independent
 * in-order dot products keep the adders busy. work holds 2n doubles. */
double helm_fg_general(int n, const double *x, const double *b, const double *A, double *g,
                       double *work) {
    double bx = 0.0, sx = 0.0;
    for (int i = 0; i < n; i++) {
        bx += b[i] * x[i];
        sx += x[i];
    }
    double entropy = 0.0;
    for (int i = 0; i < n; i++) entropy += x[i] * log(x[i] / (1.0 - bx));
    double *ATx = work, *Ax = work + n;
    double q = quadratic(n, A, x, ATx);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        const double *r0 = A + (long)i * n, *r1 = r0 + n, *r2 = r1 + n, *r3 = r2 + n;
        double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
        for (int j = 0; j < n; j++) {
            a0 += r0[j] * x[j];
            a1 += r1[j] * x[j];
            a2 += r2[j] * x[j];
            a3 += r3[j] * x[j];
        }
        Ax[i] = a0, Ax[i + 1] = a1, Ax[i + 2] = a2, Ax[i + 3] = a3;
    }
    for (; i < n; i++) {
        const double *row = A + (long)i * n;
        double acc = 0.0;
        for (int j = 0; j < n; j++) acc += row[j] * x[j];
        Ax[i] = acc;
    }
    double up = 1.0 + (1.0 + SQRT2) * bx, down = 1.0 + (1.0 - SQRT2) * bx;
    double L = log(up / down), s = SQRT8 * bx;
    double f = RT * entropy - q / s * L;
    double dL = (1.0 + SQRT2) / up - (1.0 - SQRT2) / down;
    double dLs = (dL * s - L * SQRT8) / (s * s);
    double cb = RT * sx / (1.0 - bx) - q * dLs;
    for (int k = 0; k < n; k++)
        g[k] = RT * (log(x[k] / (1.0 - bx)) + 1.0) - (Ax[k] + ATx[k]) / s * L + cb * b[k];
    return f;
}
