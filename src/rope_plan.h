/* rope_plan.h - the RoPE plan's layout and the frequency-scheme entry point (rope_freq.c). */
#ifndef POSENC_ROPE_PLAN_H
#define POSENC_ROPE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "posenc.h"

struct posenc_rope_plan {
    size_t head_dim;
    size_t n_pairs;                        /* rotary_dim / 2 */
    int32_t pairing;                       /* POSENC_ROPE_HALF / POSENC_ROPE_INTERLEAVED */
    int32_t axes;                          /* POSENC_AXES_* */
    size_t n_axes;                         /* positions per token: 1, 2 or 3 */
    float mscale;                          /* magnitude factor applied to cos and sin */
    double mscale_d;
    uint8_t axis_of_pair[POSENC_MAX_PAIRS]; /* which of the token's positions drives pair i */
    double omega[];                        /* n_pairs angular frequencies, radians per position */
};

/* The first released size of posenc_rope_config (the library accepts any size from this up to its own). */
#define POSENC_ROPE_CONFIG_MIN_SIZE sizeof(posenc_rope_config)

/* Validate the scheme-specific parts of cfg (dimensions are already valid: n_pairs = rotary_dim/2) and fill
 * omega[n_pairs], axis_of_pair[n_pairs], *n_axes and *mscale, all in double.
 * Returns POSENC_OK, POSENC_ERR_ENUM, POSENC_ERR_PARAM or POSENC_ERR_NULL. */
posenc_status posenc_rope_frequencies(const posenc_rope_config *cfg, size_t n_pairs, double *omega,
                                      uint8_t *axis_of_pair, size_t *n_axes, double *mscale);

#endif
