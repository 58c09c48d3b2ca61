/* oracle.h - float64 reference computations (libm, double) the library is checked against. */
#ifndef POSENC_TEST_ORACLE_H
#define POSENC_TEST_ORACLE_H

#include <stddef.h>
#include <stdint.h>

/* Plain RoPE frequencies w_i = base^(-2i/rotary_dim), in double. */
void oracle_rope_omega(double base, size_t rotary_dim, double *omega);

/* Rotate one head x[head_dim] (float inputs) at per-pair positions pos[i] into y64 (double), with frequencies
 * omega[rotary_dim/2], pairing 0 = half, 1 = interleaved, magnitude factor mscale, sign +1 forward / -1 inverse. */
void oracle_rope_head(const float *x, size_t head_dim, size_t rotary_dim, int interleaved, const double *omega,
                      const double *pos, double mscale, double sign, double *y64);

/* ||y - y64|| / ||y64|| (or ||y - y64|| when y64 is zero). */
double oracle_rel_l2(const float *y, const double *y64, size_t n);

/* One softmax row in double: z_j = scale*s_j + slope*b_j + mask_j (b_j from the causal/symmetric mode,
 * 0 none / 1 causal / 2 symmetric, with d_j = d0 + j), masked (-inf) where mode is causal and d_j > 0;
 * sink = -INFINITY for none. */
void oracle_softmax_row(const float *s, size_t n_cols, double scale, double slope, int mode, int64_t d0,
                        const float *mask, double sink, double *y64);

/* The same with the bias term of each column given: z_j = scale*s_j + slope*b[j] + mask_j, a column with
 * b[j] = -INFINITY masked (y = 0). */
void oracle_softmax_row_terms(const float *s, size_t n_cols, double scale, double slope, const double *b,
                              const float *mask, double sink, double *y64);

#endif
