/* rope_freq.c - RoPE frequencies and magnitude factor per scaling scheme, in double (DESIGN appendix A). */
#include <math.h>
#include <string.h>

#include "rope_plan.h"

static int finite_positive(double v)
{
    return isfinite(v) && v > 0.0;
}

posenc_status posenc_rope_frequencies(const posenc_rope_config *cfg, size_t n_pairs, double *omega,
                                      uint8_t *axis_of_pair, size_t *n_axes, double *mscale)
{
    double rotary_dim = (double)(2 * n_pairs);
    if (!finite_positive(cfg->base) || cfg->base <= 1.0)
        return POSENC_ERR_PARAM;
    if (cfg->axes != POSENC_AXES_1D)
        return POSENC_ERR_ENUM;
    if (cfg->scaling != POSENC_SCALING_NONE)
        return POSENC_ERR_ENUM;

    for (size_t i = 0; i < n_pairs; i++)
        omega[i] = pow(cfg->base, -(double)(2 * i) / rotary_dim);
    memset(axis_of_pair, 0, n_pairs);
    *n_axes = 1;
    *mscale = 1.0;
    return POSENC_OK;
}
