/* softmax_scalar.c - scalar reference of one fused (ALiBi-biased) softmax row, f32/f16/bf16: the spec of the bits. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"
#include "numerics.h"

/* exp(r) = 1 + r + r^2 * p(r) for the reduced argument (numerics.h): the polynomial both exps share. */
static float exp_poly(float r)
{
    float p = POSENC_EXP_E5;
    p = fmaf(p, r, POSENC_EXP_E4);
    p = fmaf(p, r, POSENC_EXP_E3);
    p = fmaf(p, r, POSENC_EXP_E2);
    p = fmaf(p, r, POSENC_EXP_E1);
    p = fmaf(p, r, POSENC_EXP_E0);
    float y = fmaf(p, r * r, r);
    y = y + 1.0f;
    return y;
}

/* exp(x) for a double x <= ~0 (or NaN), exactly as numerics.h specifies. */
float posenc_softmax_exp_scalar(double x)
{
    x = x < -POSENC_EXP_CLAMP ? -POSENC_EXP_CLAMP : x;   /* NaN stays NaN */
    x = x > POSENC_EXP_CLAMP ? POSENC_EXP_CLAMP : x;
    double t = fma(x, POSENC_EXP_LOG2E_D, POSENC_EXP_SHIFT_D);
    double n = t - POSENC_EXP_SHIFT_D;
    double r = fma(n, -POSENC_EXP_LN2_D, x);
    float rf = (float)r;
    float y = exp_poly(rf);
    uint64_t t_bits;
    memcpy(&t_bits, &t, sizeof t_bits);
    uint32_t k = (uint32_t)t_bits;   /* n + 127 */
    int32_t k_signed;
    memcpy(&k_signed, &k, sizeof k_signed);
    uint32_t bits = k_signed > 1 ? k << 23 : 0u;   /* n <= -126: 2^n = +0 (the cutoff); n = 128: +inf */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return y * scale;
}

/* expf_fast(x) of numerics.h ("the FAST softmax row") for a float x <= 0 (or NaN). */
float posenc_softmax_expf_fast_scalar(float x)
{
    x = x < -POSENC_EXP_CLAMP_F ? -POSENC_EXP_CLAMP_F : x;   /* NaN stays NaN */
    float t = fmaf(x, POSENC_EXP_LOG2E_F, POSENC_EXP_SHIFT_F);
    float n = t - POSENC_EXP_SHIFT_F;
    float r = fmaf(n, -POSENC_EXP_LN2_HI_F, x);
    r = fmaf(n, -POSENC_EXP_LN2_LO_F, r);
    float y = exp_poly(r);
    int32_t t_bits;
    memcpy(&t_bits, &t, sizeof t_bits);
    uint32_t bits = t_bits > POSENC_EXP_SHIFT_BITS + 1 ? (uint32_t)t_bits << 23 : 0u;   /* k > 1, else +0 */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return y * scale;
}

/* Element j of a row of `type`, widened exactly to float32 (numerics.h, "element types"). */
static float load_elem(int32_t type, const void *p, size_t j)
{
    float f;
    if (type == POSENC_ELEM_F32)
        memcpy(&f, (const char *)p + 4 * j, sizeof f);
    else
        posenc_widen_scalar(type, (const char *)p + 2 * j, &f, 1);
    return f;
}

/* v rounded once to `type` into element j. */
static void store_elem(int32_t type, void *p, size_t j, float v)
{
    if (type == POSENC_ELEM_F32)
        memcpy((char *)p + 4 * j, &v, sizeof v);
    else
        posenc_narrow_scalar(type, &v, (char *)p + 2 * j, 1);
}

/* The bias term b_j of column j (numerics.h) from the distance d0 + j (LINEAR, ABS). */
static int32_t bias_of(const posenc_softmax_row *row, size_t j)
{
    int32_t d = row->d0 + (int32_t)j;
    if (posenc_bias_case(row->bias) == POSENC_BIAS_ABS)
        d = d < 0 ? d : -d;
    return d;
}

/* b_j as pass 1 uses it: the float of bias_of, or the given term (TERMS). */
static float bias_f(const posenc_softmax_row *row, size_t j)
{
    return posenc_bias_case(row->bias) == POSENC_BIAS_TERMS ? row->terms[j] : (float)bias_of(row, j);
}

/* b_j as pass 2 uses it, exactly: the int32 distance's or the given term's value in double. */
static double bias_d(const posenc_softmax_row *row, size_t j)
{
    return posenc_bias_case(row->bias) == POSENC_BIAS_TERMS ? (double)row->terms[j] : (double)bias_of(row, j);
}

/* A column masked by its term (TERMS: b_j = -inf): its logit is -inf (numerics.h). */
static int masked_by_term(const posenc_softmax_row *row, size_t j)
{
    return posenc_bias_case(row->bias) == POSENC_BIAS_TERMS && row->terms[j] == -INFINITY;
}

/* Pass 1's float logit of column j. */
static float logit_f(const posenc_softmax_row *row, size_t j)
{
    float z = row->scale * load_elem(row->src_type, row->src, j);
    if (posenc_bias_case(row->bias) != POSENC_BIAS_NONE)
        z = fmaf(row->slope, bias_f(row, j), z);
    if (row->mask)
        z = z + load_elem(row->mask_type, row->mask, j);
    return masked_by_term(row, j) ? -INFINITY : z;
}

/* Pass 2's exp argument of column j: the double logit minus the row maximum max_d (max_d = 0: the double logit
 * of pass 1's double max, exactly: fma(scale, s, -0.0) is the product with its sign). */
static double exp_arg(const posenc_softmax_row *row, size_t j, double max_d)
{
    double z = fma((double)row->scale, (double)load_elem(row->src_type, row->src, j), -max_d);
    if (posenc_bias_case(row->bias) != POSENC_BIAS_NONE)
        z = fma((double)row->slope, bias_d(row, j), z);
    if (row->mask)
        z = z + (double)load_elem(row->mask_type, row->mask, j);
    return masked_by_term(row, j) ? -INFINITY : z;
}

/* Pass 2's e_j: the exact row's exp of the double argument, or the FAST row's expf_fast of the float one (max
 * is then pass 1's float max, exactly). */
static float exp_of_column(const posenc_softmax_row *row, size_t j, double max)
{
    if (row->fast)
        return posenc_softmax_expf_fast_scalar(logit_f(row, j) - (float)max);
    return posenc_softmax_exp_scalar(exp_arg(row, j, max));
}

/* The row filled with +0, or with the NaN of dst's type if `nan`: the M == -inf outcome of pass 1. */
static void fill_row(const posenc_softmax_row *row, int nan)
{
    float fill = nan ? posenc_nan_value() : 0.0f;
    for (size_t j = 0; j < row->n_cols; j++)
        store_elem(row->dst_type, row->dst, j, fill);
}

void posenc_softmax_row_scalar(const posenc_softmax_row *row)
{
    size_t n_valid = row->n_valid;
    double max;
    if (!row->max_in_double) {
        float max_f = row->sink;   /* z > max ignores NaN; a NaN logit makes the sum NaN below */
        for (size_t j = 0; j < n_valid; j++) {
            float z = logit_f(row, j);
            max_f = z > max_f ? z : max_f;
        }
        if (max_f == -INFINITY) {
            /* Every live entry is -inf or NaN (max ignores NaN): zeros, or the NaN row if any entry is NaN. */
            int nan = 0;
            for (size_t j = 0; j < n_valid; j++)
                nan |= isnan(logit_f(row, j));
            posenc_softmax_put_stats(row->stats, max_f, nan ? posenc_nan_value() : 0.0f);
            fill_row(row, nan);
            return;
        }
        max = (double)max_f;
    } else {
        /* The double max: pass 2's argument with M = 0 is the double logit itself. */
        max = (double)row->sink;
        int nan = 0;
        for (size_t j = 0; j < n_valid; j++) {
            double z = exp_arg(row, j, 0.0);
            max = z > max ? z : max;
            nan |= isnan(z);
        }
        if (max == -INFINITY) {
            posenc_softmax_put_stats(row->stats, max, nan ? posenc_nan_value() : 0.0f);
            fill_row(row, nan);
            return;
        }
    }

    /* Logits are recomputed (not stored) so that src == dst works and the pass order is fixed. A float32 dst
     * keeps e_j until pass 3; a 16-bit one cannot hold it, and pass 3 computes it again (the same operations
     * give the same bits; the SIMD variants keep the first POSENC_SOFTMAX_E_KEEP, split between dst and a stack
     * buffer). */
    const int keep_e = row->dst_type == POSENC_ELEM_F32;
    float acc[POSENC_SUM_LANES] = {0};
    for (size_t j = 0; j < n_valid; j++) {
        float e = exp_of_column(row, j, max);
        if (keep_e)
            store_elem(POSENC_ELEM_F32, row->dst, j, e);
        acc[j % POSENC_SUM_LANES] += e;
    }
    for (size_t w = POSENC_SUM_LANES / 2; w >= 1; w /= 2)
        for (size_t k = 0; k < w; k++)
            acc[k] = acc[k] + acc[k + w];
    float sink_e = row->fast ? posenc_softmax_expf_fast_scalar(row->sink - (float)max)
                             : posenc_softmax_exp_scalar((double)row->sink - max);
    float sum = acc[0] + sink_e;
    posenc_softmax_put_stats(row->stats, max, sum);

    float inv, thr;
    if (!posenc_softmax_row_scales(sum, &inv, &thr)) {
        /* The NaN row: NaN or +inf logit, float logit overflow, or a sum out of range (numerics.h). */
        fill_row(row, 1);
        return;
    }
    /* Pass 3: results below 2^-125 are zeroed before the multiply, so no product is ever subnormal; each
     * output is rounded once to dst's type. */
    for (size_t j = 0; j < n_valid; j++) {
        float e = keep_e ? load_elem(POSENC_ELEM_F32, row->dst, j) : exp_of_column(row, j, max);
        store_elem(row->dst_type, row->dst, j, (e < thr ? 0.0f : e) * inv);
    }
    for (size_t j = n_valid; j < row->n_cols; j++)
        store_elem(row->dst_type, row->dst, j, 0.0f);
}
