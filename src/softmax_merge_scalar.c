/* softmax_merge_scalar.c - scalar reference for the split-K statistics of a forward row and the merge step. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"
#include "numerics.h"

/* ---- the forward row's passes 1 and 2 (numerics.h, "softmax row"), without writing e_j ---- */

/* exp: posenc_softmax_exp_scalar (softmax_scalar.c), the forward row's own. */

static float canonical_nan(void)
{
    uint32_t bits = POSENC_NAN_BITS;
    float nan_value;
    memcpy(&nan_value, &bits, sizeof nan_value);
    return nan_value;
}

/* The bias term b_j of column j. */
static int32_t bias_of(const posenc_softmax_row *row, size_t j)
{
    int32_t d = row->d0 + (int32_t)j;
    if (row->bias == POSENC_BIAS_ABS)
        d = d < 0 ? d : -d;
    return d;
}

/* Pass 1's float logit of column j. */
static float logit_f(const posenc_softmax_row *row, size_t j)
{
    float z = row->scale * ((const float *)row->src)[j];
    if (row->bias != POSENC_BIAS_NONE)
        z = fmaf(row->slope, (float)bias_of(row, j), z);
    if (row->mask)
        z = z + ((const float *)row->mask)[j];
    return z;
}

/* Pass 2's exp argument of column j: the double logit minus the row maximum max_d. */
static double exp_arg(const posenc_softmax_row *row, size_t j, double max_d)
{
    double z = fma((double)row->scale, (double)((const float *)row->src)[j], -max_d);
    if (row->bias != POSENC_BIAS_NONE)
        z = fma((double)row->slope, (double)bias_of(row, j), z);
    if (row->mask)
        z = z + (double)((const float *)row->mask)[j];
    return z;
}

void posenc_softmax_stats_scalar(const posenc_softmax_row *row, float *stats)
{
    const size_t n_valid = row->n_valid;
    float max = row->sink;
    for (size_t j = 0; j < n_valid; j++) {
        float z = logit_f(row, j);
        max = z > max ? z : max;
    }
    float sum;
    if (max == -INFINITY) {
        sum = 0.0f;
        for (size_t j = 0; j < n_valid; j++)
            if (isnan(logit_f(row, j)))
                sum = canonical_nan();
    } else {
        float acc[POSENC_SUM_LANES] = {0};
        for (size_t j = 0; j < n_valid; j++)
            acc[j % POSENC_SUM_LANES] += posenc_softmax_exp_scalar(exp_arg(row, j, (double)max));
        for (size_t w = POSENC_SUM_LANES / 2; w >= 1; w /= 2)
            for (size_t k = 0; k < w; k++)
                acc[k] = acc[k] + acc[k + w];
        sum = acc[0] + posenc_softmax_exp_scalar((double)row->sink - (double)max);
        if (!(sum > 0.0f && sum <= 0x1p126f))   /* the forward row's NaN-row test (posenc_softmax_row_scales) */
            sum = canonical_nan();
    }
    stats[0] = max == 0.0f ? 0.0f : max;
    stats[1] = sum;
}

/* ---- the merge step (numerics.h, "merge") ---- */

/* out(v) of numerics.h. */
static float out_f32(double v)
{
    if (isnan(v))
        return canonical_nan();
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
