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

/* The smallest struct_size accepted: the first-release layout (docs/design.md section 6). The library accepts
 * any size from it up to sizeof(posenc_rope_config); fields are only appended. */
#define POSENC_ROPE_CONFIG_MIN_SIZE POSENC_ROPE_CONFIG_SIZE_V1
_Static_assert(POSENC_ROPE_CONFIG_SIZE_V1 <= sizeof(posenc_rope_config), "fields are only appended");
#if SIZE_MAX == UINT64_MAX
/* 0.1's sizeof(posenc_rope_config) on LP64: a change here means a 0.1 field moved, grew or was removed. */
_Static_assert(POSENC_ROPE_CONFIG_SIZE_V1 == 160, "the 0.1 layout of posenc_rope_config must never change");
#endif

/* Validate the scheme-specific parts of cfg (dimensions are already valid: n_pairs = rotary_dim/2) and fill
 * omega[n_pairs], axis_of_pair[n_pairs], *n_axes and *mscale, all in double.
 * Returns POSENC_OK, POSENC_ERR_ENUM, POSENC_ERR_PARAM or POSENC_ERR_NULL. */
posenc_status posenc_rope_frequencies(const posenc_rope_config *cfg, size_t n_pairs, double *omega,
                                      uint8_t *axis_of_pair, size_t *n_axes, double *mscale);

#endif
