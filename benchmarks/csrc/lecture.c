/* Call overhead and batch throughput baselines.
 *
 * mul_add: the scalar x*y + 1; vec_affine, vec_tanh: y = 2x + 1 and y = x tanh(x) + 1 over
 * n doubles; lecture_batch: the lecture's f(x1, x2) = (x1 + x2) ln(x1 + x2) with its gradient
 * (ln(x1 + x2) + 1, twice) over N points, one loop, the three outputs in separate arrays.
 */
#include <math.h>

double mul_add(double x, double y) { return x * y + 1.0; }

void vec_affine(int n, const double *x, double *y) {
    for (int i = 0; i < n; i++) y[i] = 2.0 * x[i] + 1.0;
}

void vec_tanh(int n, const double *x, double *y) {
    for (int i = 0; i < n; i++) y[i] = x[i] * tanh(x[i]) + 1.0;
}

void lecture_batch(long n, const double *x1, const double *x2, double *f, double *g1, double *g2) {
    for (long i = 0; i < n; i++) {
        double s = x1[i] + x2[i], l = log(s);
        f[i] = s * l;
        g1[i] = l + 1.0;
        g2[i] = l + 1.0;
    }
}
