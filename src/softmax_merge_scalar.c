/* softmax_merge_scalar.c - scalar reference of the split-K merge step. */
#include <math.h>
#include <stdint.h>

#include "kernels.h"
#include "numerics.h"

/* ---- the merge step (numerics.h, "merge") ---- */

/* out(v) of numerics.h. */
static float out_f32(double v)
{
    if (isnan(v))
        return posenc_nan_value();
    return fabs(v) < POSENC_OUT_MIN_D ? 0.0f : (float)v;
}

void posenc_softmax_merge_step_scalar(double w, const float *x, double *acc, float *dst, size_t n, uint32_t flags)
{
    const int first = (flags & POSENC_MERGE_FIRST) != 0, last = (flags & POSENC_MERGE_LAST) != 0;
    for (size_t j = 0; j < n; j++) {
        double sum = fma(w, (double)x[j], first ? 0.0 : acc[j]);
        if (last)
            dst[j] = out_f32(sum);
        else
            acc[j] = sum;
    }
}
