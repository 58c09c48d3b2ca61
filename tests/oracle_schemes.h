/* oracle_schemes.h - float64 oracle of docs/design.md appendix A (RoPE schemes, axes) and of the rotation itself. */
#ifndef POSENC_TEST_ORACLE_SCHEMES_H
#define POSENC_TEST_ORACLE_SCHEMES_H

#include <stddef.h>
#include <stdint.h>

#include "posenc.h"

/* Per-pair frequencies omega[rotary_dim/2] and magnitude factor of a VALID config, straight from appendix A.
 * rotary_dim 0 means head_dim. Returns 0, or -1 if the oracle does not know the config (never for a config
 * the library accepts). */
int oracle_rope_frequencies(const posenc_rope_config *cfg, double *omega, double *mscale);

/* Which of a token's positions drives pair i (0 = t / y, 1 = h / x, 2 = w), and how many positions a token
 * has. Returns the number of axes, or 0 for a config the oracle does not know. */
size_t oracle_rope_axes(const posenc_rope_config *cfg, int *axis_of_pair);

/* Rotate one head x[head_dim] (float, converted exactly) into y[head_dim] in double:
 * pair i turns by angle pos_of_pair[i] * omega[i] (negated if inverse), cos and sin times mscale; elements past
 * 2*n_pairs are copied. pairing is POSENC_ROPE_HALF or POSENC_ROPE_INTERLEAVED. */
void oracle_rope_rotate(const float *x, double *y, size_t head_dim, size_t n_pairs, int pairing,
                        const double *omega, const double *pos_of_pair, double mscale, int inverse);

/* Rotate one head with given cos/sin tables (as posenc_rope_apply_tables defines them), in double. */
void oracle_rope_rotate_tables(const float *x, double *y, size_t head_dim, size_t n_pairs, int pairing,
                               const float *cos_table, const float *sin_table, int inverse);

/* ||y - y64|| / ||y64|| over n elements (0 when both are zero). */
double oracle_relative_error(const float *y, const double *y64, size_t n);

#endif
