/* Hand-written training step of a one-hidden-layer perceptron, for float and double.
 *
 *   Z1 = X W1 + b1, H = tanh(Z1), Z2 = H W2 + b2,
 *   loss = mean_b(logsumexp(Z2[b]) - Z2[b].Y[b])
 * and the backward pass derived by hand: dZ2 = (softmax(Z2) - Y) / B, dW2 = H^T dZ2,
 * db2 = sum_b dZ2, dZ1 = (dZ2 W2^T) (1 - H^2), dW1 = X^T dZ1, db1 = sum_b dZ1.
 * Loops are ordered so the innermost runs along contiguous rows (axpy, no reductions), which
 * -O3 -march=native vectorizes without -ffast-math. work holds 2 B H + B O elements.
 */
#include <math.h>
#include <string.h>

#define MLP_STEP(NAME, T, EXP, LOG, TANH)                                                       \
    T NAME(int B, int I, int Hn, int O, const T *W1, const T *b1, const T *W2, const T *b2,   \
           const T *X, const T *Y, T *dW1, T *db1, T *dW2, T *db2, T *work) {                  \
        T *Hh = work, *dZ1 = work + (long)B * Hn, *dZ2 = dZ1 + (long)B * Hn;                    \
        T loss = 0;                                                                            \
        for (int b = 0; b < B; b++) {                                                          \
            T *h = Hh + (long)b * Hn;                                                          \
            memcpy(h, b1, sizeof(T) * Hn);                                                     \
            for (int k = 0; k < I; k++) {                                                      \
                T xk = X[(long)b * I + k];                                                     \
                const T *w = W1 + (long)k * Hn;                                                \
                for (int j = 0; j < Hn; j++) h[j] += xk * w[j];                                \
            }                                                                                  \
            for (int j = 0; j < Hn; j++) h[j] = TANH(h[j]);                                    \
            T *z = dZ2 + (long)b * O;                                                          \
            memcpy(z, b2, sizeof(T) * O);                                                      \
            for (int j = 0; j < Hn; j++)                                                       \
                for (int o = 0; o < O; o++) z[o] += h[j] * W2[(long)j * O + o];                \
            T m = z[0];                                                                        \
            for (int o = 1; o < O; o++) m = z[o] > m ? z[o] : m;                               \
            T s = 0, zy = 0;                                                                   \
            for (int o = 0; o < O; o++) {                                                      \
                s += EXP(z[o] - m);                                                            \
                zy += z[o] * Y[(long)b * O + o];                                               \
            }                                                                                  \
            loss += m + LOG(s) - zy;                                                           \
            for (int o = 0; o < O; o++)                                                        \
                z[o] = (EXP(z[o] - m) / s - Y[(long)b * O + o]) / (T)B;                        \
        }                                                                                      \
        memset(dW1, 0, sizeof(T) * (long)I * Hn);                                              \
        memset(db1, 0, sizeof(T) * Hn);                                                        \
        memset(dW2, 0, sizeof(T) * (long)Hn * O);                                              \
        memset(db2, 0, sizeof(T) * O);                                                         \
        for (int b = 0; b < B; b++) {                                                          \
            const T *h = Hh + (long)b * Hn, *dz2 = dZ2 + (long)b * O;                          \
            T *dz1 = dZ1 + (long)b * Hn;                                                       \
            for (int o = 0; o < O; o++) db2[o] += dz2[o];                                      \
            for (int j = 0; j < Hn; j++) {                                                     \
                T acc = 0;                                                                     \
                for (int o = 0; o < O; o++) {                                                  \
                    dW2[(long)j * O + o] += h[j] * dz2[o];                                     \
                    acc += dz2[o] * W2[(long)j * O + o];                                       \
                }                                                                              \
                dz1[j] = acc * (1 - h[j] * h[j]);                                              \
                db1[j] += dz1[j];                                                              \
            }                                                                                  \
            for (int k = 0; k < I; k++) {                                                      \
                T xk = X[(long)b * I + k];                                                     \
                T *w = dW1 + (long)k * Hn;                                                     \
                for (int j = 0; j < Hn; j++) w[j] += xk * dz1[j];                              \
            }                                                                                  \
        }                                                                                      \
        return loss / (T)B;                                                                    \
    }

MLP_STEP(mlp_step_f64, double, exp, log, tanh)
MLP_STEP(mlp_step_f32, float, expf, logf, tanhf)
