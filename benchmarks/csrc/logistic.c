/* The logistic map l(n+1) = 4 l(n) (1 - l(n)), l(1) = x, and dl(n)/dx by the hand-derived
 * recurrence dl(n+1) = 4 dl(n) (1 - 2 l(n)): what a programmer writes instead of a tree. */
double logistic_d(int n, double x, double *value) {
    double l = x, d = 1.0;
    for (int k = 1; k < n; k++) {
        d = 4.0 * d * (1.0 - 2.0 * l);
        l = 4.0 * l * (1.0 - l);
    }
    *value = l;
    return d;
}
