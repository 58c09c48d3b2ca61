/* oracle.c - float64 reference computations (libm, double) the library is checked against. */
#include <math.h>
#include <stdlib.h>

#include "oracle.h"

void oracle_rope_omega(double base, size_t rotary_dim, double *omega)
{
    for (size_t i = 0; i < rotary_dim / 2; i++)
        omega[i] = pow(base, -(double)(2 * i) / (double)rotary_dim);
}

void oracle_rope_head(const float *x, size_t head_dim, size_t rotary_dim, int interleaved, const double *omega,
                      const double *pos, double mscale, double sign, double *y64)
{
    size_t n = rotary_dim / 2;
    for (size_t e = 0; e < head_dim; e++)
        y64[e] = x[e];
    for (size_t i = 0; i < n; i++) {
        size_t a = interleaved ? 2 * i : i;
        size_t b = interleaved ? 2 * i + 1 : i + n;
        double theta = pos[i] * omega[i];
        double c = cos(theta) * mscale, s = sin(theta) * mscale * sign;
        y64[a] = (double)x[a] * c - (double)x[b] * s;
        y64[b] = (double)x[b] * c + (double)x[a] * s;
    }
}

double oracle_rel_l2(const float *y, const double *y64, size_t n)
{
    double err = 0, ref = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)y[i] - y64[i];
        err += d * d;
        ref += y64[i] * y64[i];
    }
    return ref > 0 ? sqrt(err / ref) : sqrt(err);
}

/* The exp and the sum over logits z (long double) with the row max: y64 = exp(z - max) / sum (sink included). */
static void oracle_softmax_finish(long double *z, size_t n_cols, long double max, double sink, double *y64)
{
    if (max == -INFINITY) {
        for (size_t j = 0; j < n_cols; j++)
            y64[j] = 0;
        return;
    }
    double sum = exp((double)((long double)sink - max));
    for (size_t j = 0; j < n_cols; j++) {
        y64[j] = exp((double)(z[j] - max));
        sum += y64[j];
    }
    for (size_t j = 0; j < n_cols; j++)
        y64[j] /= sum;
}

void oracle_softmax_row(const float *s, size_t n_cols, double scale, double slope, int mode, int64_t d0,
                        const float *mask, double sink, double *y64)
{
    /* Logits in long double (64-bit significand on x86, 113 on AArch64): a bias slope * d of ~2^31 keeps
     * ~1e-10 absolute accuracy, where double's 2^-53 would leave ~3e-7, too close to the 1e-6 bound checked. */
    long double max = sink;
    long double *z = malloc((n_cols + 1) * sizeof *z);
    for (size_t j = 0; j < n_cols; j++) {
        int64_t d = d0 + (int64_t)j;
        long double zj = (long double)scale * (long double)s[j];
        if (mode == 1)
            zj = d > 0 ? -INFINITY : zj + (long double)slope * (long double)d;
        else if (mode == 2)
            zj += (long double)slope * -(long double)llabs(d);
        if (mask)
            zj += mask[j];
        z[j] = zj;
        if (zj > max)
            max = zj;
    }
    oracle_softmax_finish(z, n_cols, max, sink, y64);
    free(z);
}

void oracle_softmax_row_terms(const float *s, size_t n_cols, double scale, double slope, const double *b,
                              const float *mask, double sink, double *y64)
{
    long double max = sink;
    long double *z = malloc((n_cols + 1) * sizeof *z);
    for (size_t j = 0; j < n_cols; j++) {
        long double zj = (long double)scale * (long double)s[j] + (long double)slope * (long double)b[j];
        if (mask)
            zj += mask[j];
        if (b[j] == -INFINITY)
            zj = -INFINITY;
        z[j] = zj;
        if (zj > max)
            max = zj;
    }
    oracle_softmax_finish(z, n_cols, max, sink, y64);
    free(z);
}
