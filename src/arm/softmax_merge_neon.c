/* softmax_merge_neon.c - split-K statistics of a forward row and the merge step for the neon bundle (AArch64
 * Advanced SIMD, no extra flags), bit-identical to src/softmax_merge_scalar.c. */
#include <arm_neon.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "arm/arm_kernels.h"
#include "numerics.h"
#include "arm/simd_neon.h"
#include "tpl/softmax_tpl.h"

#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "softmax_merge_neon.c needs AArch64 Advanced SIMD"
#endif

/* Four float lanes per vector; 64 sum lanes: accumulator vector a holds columns j with j % 64 in [4a, 4a + 4). */
#define LANES 4
#define N_ACC (POSENC_SUM_LANES / LANES)

static inline float canonical_nan(void)
{
    uint32_t bits = POSENC_NAN_BITS;
    float nan_value;
    memcpy(&nan_value, &bits, sizeof nan_value);
    return nan_value;
}

/* ==== statistics: the forward row's passes 1 and 2 (numerics.h), e_j summed but not stored ==================== */


typedef struct row_ctx {
    float32x4_t scale, slope;
    float64x2_t scale_d, slope_d, neg_max_d;
    int32_t bias, d0;
} row_ctx;

static const uint32_t lane_index[LANES] = { 0, 1, 2, 3 };

/* b_j of columns j .. j + 3 (wrapping past n_valid; those lanes are discarded), or -|d|. */
static inline int32x4_t bias4(const row_ctx *c, size_t j)
{
    uint32_t d_first = (uint32_t)c->d0 + (uint32_t)j;
    int32x4_t d = vreinterpretq_s32_u32(vaddq_u32(vdupq_n_u32(d_first), vld1q_u32(lane_index)));
    return c->bias == POSENC_BIAS_ABS ? vnegq_s32(vabsq_s32(d)) : d;
}

/* Pass 1's float logits of columns j .. j + 3; src and mask (or NULL) point at column j. */
static inline float32x4_t logit4(const row_ctx *c, const float *src, const float *mask, size_t j)
{
    float32x4_t z = vmulq_f32(c->scale, vld1q_f32(src));
    if (c->bias != POSENC_BIAS_NONE)
        z = vfmaq_f32(z, c->slope, vcvtq_f32_s32(bias4(c, j)));
    if (mask)
        z = vaddq_f32(z, vld1q_f32(mask));
    return z;
}

/* Pass 2's e of columns j .. j + 3. */
static inline float32x4_t exp_logit4(const row_ctx *c, const float *src, const float *mask, size_t j)
{
    float32x4_t s = vld1q_f32(src);
    float64x2_t z_lo = vfmaq_f64(c->neg_max_d, c->scale_d, vcvt_f64_f32(vget_low_f32(s)));
    float64x2_t z_hi = vfmaq_f64(c->neg_max_d, c->scale_d, vcvt_high_f64_f32(s));
    if (c->bias != POSENC_BIAS_NONE) {
        int32x4_t b = bias4(c, j);
        z_lo = vfmaq_f64(z_lo, c->slope_d, vcvtq_f64_s64(vmovl_s32(vget_low_s32(b))));
        z_hi = vfmaq_f64(z_hi, c->slope_d, vcvtq_f64_s64(vmovl_high_s32(b)));
    }
    if (mask) {
        float32x4_t m = vld1q_f32(mask);
        z_lo = vaddq_f64(z_lo, vcvt_f64_f32(vget_low_f32(m)));
        z_hi = vaddq_f64(z_hi, vcvt_high_f64_f32(m));
    }
    return tpl_exp(z_lo, z_hi);
}

static inline uint32x4_t live_lanes(size_t count)
{
    return vcltq_u32(vld1q_u32(lane_index), vdupq_n_u32((uint32_t)count));
}

/* `z > max ? z : max` per lane: a NaN z never replaces max. */
static inline float32x4_t max_ignoring_nan(float32x4_t max, float32x4_t z)
{
    return vbslq_f32(vcgtq_f32(z, max), z, max);
}

void posenc_softmax_stats_neon(const posenc_softmax_row *row, float *stats)
{
    const size_t n_valid = row->n_valid;
    const size_t n_full = n_valid & ~(size_t)(LANES - 1), rest = n_valid - n_full;
    const float *src = row->src, *mask = row->mask;
    row_ctx c = {
        .scale = vdupq_n_f32(row->scale), .slope = vdupq_n_f32(row->slope),
        .scale_d = vdupq_n_f64((double)row->scale), .slope_d = vdupq_n_f64((double)row->slope),
        .bias = row->bias, .d0 = row->d0,
    };
    /* The last 1..3 live columns on zero-padded copies (dead lanes are discarded). */
    float tail_src[LANES] = { 0 }, tail_mask[LANES] = { 0 };
    if (rest) {
        memcpy(tail_src, src + n_full, rest * sizeof(float));
        if (mask)
            memcpy(tail_mask, mask + n_full, rest * sizeof(float));
    }
    const float *tmask = mask ? tail_mask : NULL;

    /* Pass 1: M = max(sink, float logits); exact, so the lane order is free. */
    float32x4_t max_v = vdupq_n_f32(row->sink);
    for (size_t j = 0; j < n_full; j += LANES)
        max_v = max_ignoring_nan(max_v, logit4(&c, src + j, mask ? mask + j : NULL, j));
    if (rest) {
        float32x4_t z = logit4(&c, tail_src, tmask, n_full);
        max_v = max_ignoring_nan(max_v, vbslq_f32(live_lanes(rest), z, vdupq_n_f32(-INFINITY)));
    }
    const float max = vmaxvq_f32(max_v);   /* no NaN lane */

    if (max == -INFINITY) {
        /* S = 0, or NaN when a live logit is NaN. */
        uint32x4_t any_nan = vdupq_n_u32(0);
        for (size_t j = 0; j < n_full; j += LANES) {
            float32x4_t z = logit4(&c, src + j, mask ? mask + j : NULL, j);
            any_nan = vorrq_u32(any_nan, vmvnq_u32(vceqq_f32(z, z)));
        }
        if (rest) {
            float32x4_t z = logit4(&c, tail_src, tmask, n_full);
            any_nan = vorrq_u32(any_nan, vandq_u32(live_lanes(rest), vmvnq_u32(vceqq_f32(z, z))));
        }
        stats[0] = max;
        stats[1] = vmaxvq_u32(any_nan) ? canonical_nan() : 0.0f;
        return;
    }

    /* Pass 2: e summed in 64 float lanes (16 vectors); dead lanes add +0 (partial sums are +0, positive or NaN,
     * so their bits stay). */
    c.neg_max_d = vdupq_n_f64(-(double)max);
    float32x4_t acc[N_ACC];
    for (int a = 0; a < N_ACC; a++)
        acc[a] = vdupq_n_f32(0.0f);
    size_t j = 0;
    for (; j + POSENC_SUM_LANES <= n_valid; j += POSENC_SUM_LANES)
        for (int a = 0; a < N_ACC; a++) {
            size_t col = j + (size_t)a * LANES;
            acc[a] = vaddq_f32(acc[a], exp_logit4(&c, src + col, mask ? mask + col : NULL, col));
        }
    for (int a = 0; j + (size_t)a * LANES < n_valid; a++) {
        size_t col = j + (size_t)a * LANES;
        float32x4_t e;
        if (col < n_full)
            e = exp_logit4(&c, src + col, mask ? mask + col : NULL, col);
        else
            e = vbslq_f32(live_lanes(rest), exp_logit4(&c, tail_src, tmask, col), vdupq_n_f32(0.0f));
        acc[a] = vaddq_f32(acc[a], e);
    }
    /* The halving tree: w = 32, 16, 8, 4 across vectors, 2, 1 within one. */
    for (int w = N_ACC / 2; w >= 1; w /= 2)
        for (int k = 0; k < w; k++)
            acc[k] = vaddq_f32(acc[k], acc[k + w]);
    float32x2_t w2 = vadd_f32(vget_low_f32(acc[0]), vget_high_f32(acc[0]));
    float sum = vget_lane_f32(w2, 0) + vget_lane_f32(w2, 1);
    sum = sum + posenc_softmax_exp_scalar((double)row->sink - (double)max);
    if (!(sum > 0.0f && sum <= 0x1p126f))   /* the forward row's NaN-row test (posenc_softmax_row_scales) */
        sum = canonical_nan();
    stats[0] = max == 0.0f ? 0.0f : max;
    stats[1] = sum;
}

/* ==== the merge step ============================================================================================ */

/* out() of numerics.h, one value. */
static inline float out_f32(double v)
{
    if (isnan(v))
        return canonical_nan();
    return fabs(v) < POSENC_OUT_MIN_D ? 0.0f : (float)v;
}

/* out() on 4 doubles. */
static inline float32x4_t out4(float64x2_t lo, float64x2_t hi)
{
    const float64x2_t min = vdupq_n_f64(POSENC_OUT_MIN_D), zero = vdupq_n_f64(0.0);
    lo = vbslq_f64(vcltq_f64(vabsq_f64(lo), min), zero, lo);
    hi = vbslq_f64(vcltq_f64(vabsq_f64(hi), min), zero, hi);
    float32x4_t f = vcombine_f32(vcvt_f32_f64(lo), vcvt_f32_f64(hi));
    uint32x4_t nan = vmvnq_u32(vceqq_f32(f, f));
    return vbslq_f32(nan, vreinterpretq_f32_u32(vdupq_n_u32(POSENC_NAN_BITS)), f);
}

void posenc_softmax_merge_step_neon(double w, const float *x, double *acc, float *dst, size_t n, uint32_t flags)
{
    const int first = (flags & POSENC_MERGE_FIRST) != 0, last = (flags & POSENC_MERGE_LAST) != 0;
    const float64x2_t wv = vdupq_n_f64(w), zero = vdupq_n_f64(0.0);
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        float32x4_t xv = vld1q_f32(x + j);
        float64x2_t a_lo = first ? zero : vld1q_f64(acc + j), a_hi = first ? zero : vld1q_f64(acc + j + 2);
        a_lo = vfmaq_f64(a_lo, wv, vcvt_f64_f32(vget_low_f32(xv)));
        a_hi = vfmaq_f64(a_hi, wv, vcvt_high_f64_f32(xv));
        if (last) {
            vst1q_f32(dst + j, out4(a_lo, a_hi));
        } else {
            vst1q_f64(acc + j, a_lo);
            vst1q_f64(acc + j + 2, a_hi);
        }
    }
    for (; j < n; j++) {
        double sum = fma(w, (double)x[j], first ? 0.0 : acc[j]);
        if (last)
            dst[j] = out_f32(sum);
        else
            acc[j] = sum;
    }
}
