/* softmax_neon.c - the fused (ALiBi-biased) softmax row, f32/f16/bf16, for the neon bundle (AArch64 Advanced SIMD,
 * baseline: no extra flags), bit-identical to src/softmax_scalar.c. */
#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "softmax_neon.c needs AArch64 Advanced SIMD"
#endif

#include <arm_neon.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "arm/arm_kernels.h"
#include "arm/simd_neon.h"
#include "numerics.h"
#include "tpl/softmax_tpl.h"

/* Four float lanes per vector, 64 sum lanes: sum accumulator vector a holds columns j with j % 64 in
 * [4a, 4a + 4), as numerics.h requires for a 4-lane variant. */
#define LANES 4
#define N_ACC (POSENC_SUM_LANES / LANES)

#define FORCE_INLINE inline __attribute__((always_inline))

/* Row constants, broadcast once. */
typedef struct logit_params {
    float32x4_t scale;
    float32x4_t slope;
    float64x2_t scale_d;
    float64x2_t slope_d;
    float64x2_t neg_max_d;    /* -M, pass 1's maximum widened and negated (pass 2 only) */
    int32_t bias;
    int32_t d0;
    int32_t src_type;         /* POSENC_ELEM_* of src and of the mask */
    int32_t mask_type;
} logit_params;

static const uint32_t lane_index[LANES] = {0, 1, 2, 3};

/* ---- element types (numerics.h, "element types"): loads widen exactly, stores round once ----------------- */

static inline size_t elem_size(int type)
{
    return type == POSENC_ELEM_F32 ? 4 : 2;
}

/* Element j of a row of `type`. */
static inline const void *elem_at(const void *p, int type, size_t j)
{
    return (const char *)p + j * elem_size(type);
}

/* 4 elements of `type` at p, widened exactly: FCVTL for f16 (exact for every value; a NaN stays a NaN, all the
 * softmax needs), a shift for bf16. */
static inline float32x4_t load4(int type, const void *p)
{
    if (type == POSENC_ELEM_F32)
        return vld1q_f32(p);
    uint16x4_t h = vld1_u16(p);
    if (type == POSENC_ELEM_F16)
        return vcvt_f32_f16(vreinterpret_f16_u16(h));
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

/* 4 pass-3 outputs (finite, >= +0) rounded to nearest even into `type`: FCVTN for f16 (round to nearest even as
 * FPCR sets it on Linux, no flush), integer rounding for bf16. */
static inline uint16x4_t narrow4(int type, float32x4_t y)
{
    if (type == POSENC_ELEM_F16)
        return vreinterpret_u16_f16(vcvt_f16_f32(y));
    uint32x4_t b = vreinterpretq_u32_f32(y);
    uint32x4_t lsb = vandq_u32(vshrq_n_u32(b, 16), vdupq_n_u32(1));
    return vshrn_n_u32(vaddq_u32(vaddq_u32(b, vdupq_n_u32(0x7fff)), lsb), 16);
}

/* The first `count` (1..4) outputs of y into a 16-bit dst of `type` at column j. */
static inline void store_narrow(int type, void *dst, size_t j, size_t count, float32x4_t y)
{
    uint16_t *out = (uint16_t *)dst + j;
    uint16x4_t h = narrow4(type, y);
    if (count >= LANES) {
        vst1_u16(out, h);
    } else {
        uint16_t tail[LANES];
        vst1_u16(tail, h);
        memcpy(out, tail, count * sizeof(uint16_t));
    }
}

/* Where pass 2 keeps e_j for pass 3 (src/kernels.h, POSENC_SOFTMAX_E_KEEP): a float32 dst itself; for a 16-bit
 * dst, whole floats in row->e_keep (rows of up to POSENC_SOFTMAX_E_KEEP / 2 live columns), or split: the high
 * halves in dst (src[j] has been read), the low halves in row->e_keep. */
enum { KEEP_IN_DST, KEEP_WHOLE, KEEP_SPLIT };

/* Pass 2's e of columns [j, j + 4) (the first `count`) kept for pass 3. Floats go to the uint16_t scratch by
 * memcpy (a plain vector store after optimisation, without aliasing the scratch's type). */
static inline void keep_e4(const posenc_softmax_row *row, int keep, size_t j, size_t count, float32x4_t e)
{
    if (keep != KEEP_SPLIT) {
        float tail[LANES];
        vst1q_f32(tail, e);
        void *at = keep == KEEP_IN_DST ? (void *)((float *)row->dst + j) : (void *)(row->e_keep + 2 * j);
        memcpy(at, tail, (count < LANES ? count : LANES) * sizeof(float));
        return;
    }
    uint32x4_t b = vreinterpretq_u32_f32(e);
    uint16_t hi[LANES], lo[LANES];
    vst1_u16(hi, vshrn_n_u32(b, 16));
    vst1_u16(lo, vmovn_u32(b));
    memcpy((uint16_t *)row->dst + j, hi, (count < LANES ? count : LANES) * sizeof(uint16_t));
    memcpy(row->e_keep + j, lo, (count < LANES ? count : LANES) * sizeof(uint16_t));
}

/* The e that keep_e4 kept for a 16-bit dst (KEEP_WHOLE or KEEP_SPLIT; the first `count` lanes, the others 0). */
static inline float32x4_t kept_e4(const posenc_softmax_row *row, int keep, size_t j, size_t count)
{
    size_t n = count < LANES ? count : LANES;
    if (keep == KEEP_WHOLE) {
        float whole[LANES] = {0};
        memcpy(whole, row->e_keep + 2 * j, n * sizeof(float));
        return vld1q_f32(whole);
    }
    uint16_t hi[LANES] = {0}, lo[LANES] = {0};
    memcpy(hi, (const uint16_t *)row->dst + j, n * sizeof(uint16_t));
    memcpy(lo, row->e_keep + j, n * sizeof(uint16_t));
    return vreinterpretq_f32_u32(vorrq_u32(vshll_n_u16(vld1_u16(hi), 16), vmovl_u16(vld1_u16(lo))));
}

/* dst[from, to) of `type` = value (+0 or the NaN row: POSENC_NAN_BITS narrowed is the type's canonical NaN). */
static void fill(void *dst, int type, size_t from, size_t to, float value)
{
    if (type == POSENC_ELEM_F32) {
        for (size_t j = from; j < to; j++)
            ((float *)dst)[j] = value;
        return;
    }
    uint16_t bits = value == 0.0f ? 0 : type == POSENC_ELEM_F16 ? POSENC_F16_NAN_BITS : POSENC_BF16_NAN_BITS;
    for (size_t j = from; j < to; j++)
        ((uint16_t *)dst)[j] = bits;
}

/* ---- the logits ------------------------------------------------------------------------------------------- */

/* Bias terms b_j of columns j .. j+3. d0 + j is formed with wrapping unsigned arithmetic: in padding lanes past
 * n_valid it may leave int32 range, and those lanes are discarded. -|d| as neg(abs(d)) equals the scalar's
 * `d < 0 ? d : -d` for every d (abs and neg both wrap at INT32_MIN). */
static inline int32x4_t bias4(const logit_params *lp, size_t j)
{
    uint32_t d_first = (uint32_t)lp->d0 + (uint32_t)j;
    int32x4_t d = vreinterpretq_s32_u32(vaddq_u32(vdupq_n_u32(d_first), vld1q_u32(lane_index)));
    return lp->bias == POSENC_BIAS_ABS ? vnegq_s32(vabsq_s32(d)) : d;
}

/* Pass 1's float logits of columns j .. j+3; src, mask (or NULL) and terms (TERMS: b_j of the live columns;
 * otherwise unused) point at column j. A -inf term masks its column (numerics.h): its logit is -inf. */
static inline float32x4_t logit4(const logit_params *lp, const void *src, const void *mask, const float *terms,
                                 size_t j)
{
    float32x4_t z = vmulq_f32(lp->scale, load4(lp->src_type, src));
    float32x4_t b = vdupq_n_f32(0.0f);
    if (lp->bias == POSENC_BIAS_TERMS)
        b = vld1q_f32(terms);
    else if (lp->bias != POSENC_BIAS_NONE)
        b = vcvtq_f32_s32(bias4(lp, j));
    if (lp->bias != POSENC_BIAS_NONE)
        z = vfmaq_f32(z, lp->slope, b);
    if (mask)
        z = vaddq_f32(z, load4(lp->mask_type, mask));
    if (lp->bias == POSENC_BIAS_TERMS) {
        const float32x4_t neg_inf = vdupq_n_f32(-INFINITY);
        z = vbslq_f32(vceqq_f32(b, neg_inf), neg_inf, z);
    }
    return z;
}

/* Pass 2's arguments x = z_d - M of columns j .. j+3, the logit formed in double (two lanes per half; lp->neg_max_d
 * = -0.0 gives the double logit itself, pass 1's double max). Every float and int32 converts to double exactly. */
static inline void exp_args4(const logit_params *lp, const void *src, const void *mask, const float *terms,
                             size_t j, float64x2_t *x_lo, float64x2_t *x_hi)
{
    float32x4_t s = load4(lp->src_type, src);
    /* fma(scale, s, -M): one rounding of the exact product minus M. */
    float64x2_t z_lo = vfmaq_f64(lp->neg_max_d, lp->scale_d, vcvt_f64_f32(vget_low_f32(s)));
    float64x2_t z_hi = vfmaq_f64(lp->neg_max_d, lp->scale_d, vcvt_high_f64_f32(s));
    float64x2_t t_lo = vdupq_n_f64(0.0), t_hi = t_lo;
    if (lp->bias == POSENC_BIAS_TERMS) {   /* the given terms, exact in double */
        float32x4_t t = vld1q_f32(terms);
        t_lo = vcvt_f64_f32(vget_low_f32(t));
        t_hi = vcvt_high_f64_f32(t);
        z_lo = vfmaq_f64(z_lo, lp->slope_d, t_lo);
        z_hi = vfmaq_f64(z_hi, lp->slope_d, t_hi);
    } else if (lp->bias != POSENC_BIAS_NONE) {
        int32x4_t b = bias4(lp, j);
        z_lo = vfmaq_f64(z_lo, lp->slope_d, vcvtq_f64_s64(vmovl_s32(vget_low_s32(b))));
        z_hi = vfmaq_f64(z_hi, lp->slope_d, vcvtq_f64_s64(vmovl_high_s32(b)));
    }
    if (mask) {
        float32x4_t m = load4(lp->mask_type, mask);
        z_lo = vaddq_f64(z_lo, vcvt_f64_f32(vget_low_f32(m)));
        z_hi = vaddq_f64(z_hi, vcvt_high_f64_f32(m));
    }
    if (lp->bias == POSENC_BIAS_TERMS) {   /* a -inf term masks its column (numerics.h) */
        const float64x2_t neg_inf = vdupq_n_f64(-INFINITY);
        z_lo = vbslq_f64(vceqq_f64(t_lo, neg_inf), neg_inf, z_lo);
        z_hi = vbslq_f64(vceqq_f64(t_hi, neg_inf), neg_inf, z_hi);
    }
    *x_lo = z_lo;
    *x_hi = z_hi;
}

/* Pass 2: e = exp(z_d - M) of columns j .. j+3. */
static inline float32x4_t exp_logit4(const logit_params *lp, const void *src, const void *mask,
                                     const float *terms, size_t j)
{
    float64x2_t x_lo, x_hi;
    exp_args4(lp, src, mask, terms, j, &x_lo, &x_hi);
    return tpl_exp(x_lo, x_hi);
}

/* The FAST row's pass 2 (numerics.h, "the FAST softmax row"): e = expf_fast(zf - Mf) of columns j .. j+3, zf
 * pass 1's float logit formed again (logit4: the same operations) and max_f pass 1's float max. */
static FORCE_INLINE float32x4_t expf_fast_logit4(const logit_params *lp, const void *src, const void *mask,
                                                 const float *terms, size_t j, float32x4_t max_f)
{
    return tpl_expf_fast(vsubq_f32(logit4(lp, src, mask, terms, j), max_f));
}

/* Pass 2's e of columns j .. j+3 of either row: `fast` is a compile-time constant after inlining. */
static FORCE_INLINE float32x4_t exp_any4(const logit_params *lp, const void *src, const void *mask,
                                         const float *terms, size_t j, int fast, float32x4_t max_f)
{
    return fast ? expf_fast_logit4(lp, src, mask, terms, j, max_f) : exp_logit4(lp, src, mask, terms, j);
}

/* The scalar's `max = z > max ? z : max` on doubles: a NaN z never replaces max. */
static inline float64x2_t max_ignoring_nan_d(float64x2_t max, float64x2_t z)
{
    return vbslq_f64(vcgtq_f64(z, max), z, max);
}

/* Lanes below count (1..3) of a partial block. */
static inline uint32x4_t live_lanes(size_t count)
{
    return vcltq_u32(vld1q_u32(lane_index), vdupq_n_u32((uint32_t)count));
}

/* The last count (1..3) live columns, as zero-padded copies of src, mask (in their own types) and terms: the
 * row is never read past n_valid. */
typedef struct tail_copy {
    _Alignas(16) unsigned char src[LANES * 4];
    _Alignas(16) unsigned char mask[LANES * 4];
    _Alignas(16) float terms[LANES];
} tail_copy;

static inline void copy_tail_in(tail_copy *tc, const logit_params *lp, const void *src, const void *mask,
                                const float *terms, size_t count)
{
    memset(tc, 0, sizeof *tc);
    memcpy(tc->src, src, count * elem_size(lp->src_type));
    if (mask)
        memcpy(tc->mask, mask, count * elem_size(lp->mask_type));
    if (terms)
        memcpy(tc->terms, terms, count * sizeof(float));
}

/* All bits flipped (Advanced SIMD has no vmvnq_u64). */
static inline uint64x2_t not_u64(uint64x2_t v)
{
    return vreinterpretq_u64_u32(vmvnq_u32(vreinterpretq_u32_u64(v)));
}

/* The scalar's `max = z > max ? z : max`, per lane: a NaN z never replaces max (vmaxq_f32 would propagate it). */
static inline float32x4_t max_ignoring_nan(float32x4_t max, float32x4_t z)
{
    return vbslq_f32(vcgtq_f32(z, max), z, max);
}

/* The row, in the three passes of numerics.h. `fast` (the FAST row: pass 2 in float32) is a compile-time
 * constant in each of the two instantiations below, so the loops carry no branch on it. */
static FORCE_INLINE void softmax_row(const posenc_softmax_row *row, int fast)
{
    const size_t n_valid = row->n_valid;
    const size_t n_full = n_valid & ~(size_t)(LANES - 1);
    const size_t rest = n_valid - n_full;
    const void *src = row->src;
    const void *mask = row->mask;
    const int dst_type = row->dst_type;
    logit_params lp = {
        .scale = vdupq_n_f32(row->scale), .slope = vdupq_n_f32(row->slope),
        .scale_d = vdupq_n_f64((double)row->scale), .slope_d = vdupq_n_f64((double)row->slope),
        .bias = posenc_bias_case(row->bias), .d0 = row->d0,
        .src_type = row->src_type, .mask_type = row->mask_type,
    };
#define SRC_AT(j) elem_at(src, lp.src_type, (j))
#define MASK_AT(j) (mask ? elem_at(mask, lp.mask_type, (j)) : NULL)
#define TERMS_AT(j) (terms ? terms + (j) : NULL)
    const float *const terms = lp.bias == POSENC_BIAS_TERMS ? row->terms : NULL;
    tail_copy tc;
    if (rest)
        copy_tail_in(&tc, &lp, SRC_AT(n_full), MASK_AT(n_full), TERMS_AT(n_full), rest);
    const void *tail_mask = mask ? tc.mask : NULL;
    const float *tail_terms = terms ? tc.terms : NULL;

    double max_d;
    if (!row->max_in_double) {
        /* ---- pass 1: M = max(sink, float logits). The maximum is exact, so lane order does not matter (a -0/+0
         * tie cannot change any later bit: exp gives 1 for either zero). ---- */
        float32x4_t max_v = vdupq_n_f32(row->sink);
        for (size_t j = 0; j < n_full; j += LANES)
            max_v = max_ignoring_nan(max_v, logit4(&lp, SRC_AT(j), MASK_AT(j), TERMS_AT(j), j));
        if (rest) {
            float32x4_t z = logit4(&lp, tc.src, tail_mask, tail_terms, n_full);
            max_v = max_ignoring_nan(max_v, vbslq_f32(live_lanes(rest), z, vdupq_n_f32(-INFINITY)));
        }
        float32x2_t max_2 = vget_low_f32(max_v), max_hi = vget_high_f32(max_v);
        max_2 = vbsl_f32(vcgt_f32(max_hi, max_2), max_hi, max_2);
        float max = vget_lane_f32(max_2, 0), max_b = vget_lane_f32(max_2, 1);
        max = max_b > max ? max_b : max;

        if (max == -INFINITY) {
            /* Every live logit is -inf or NaN (the max ignores NaN): all zeros, or all NaN if a logit is NaN. */
            uint32x4_t any_nan = vdupq_n_u32(0);
            for (size_t j = 0; j < n_full; j += LANES) {
                float32x4_t z = logit4(&lp, SRC_AT(j), MASK_AT(j), TERMS_AT(j), j);
                any_nan = vorrq_u32(any_nan, vmvnq_u32(vceqq_f32(z, z)));
            }
            if (rest) {
                float32x4_t z = logit4(&lp, tc.src, tail_mask, tail_terms, n_full);
                any_nan = vorrq_u32(any_nan, vandq_u32(live_lanes(rest), vmvnq_u32(vceqq_f32(z, z))));
            }
            const float fill_value = vmaxvq_u32(any_nan) ? posenc_nan_value() : 0.0f;
            posenc_softmax_put_stats(row->stats, max, fill_value);
            fill(row->dst, dst_type, 0, row->n_cols, fill_value);
            return;
        }
        max_d = (double)max;
    } else {
        /* ---- pass 1 in double (far rows, row->max_in_double): the double logits are pass 2's arguments with
         * M = 0 (fma(scale, s, -0.0) is the exact product). ---- */
        lp.neg_max_d = vdupq_n_f64(-0.0);
        float64x2_t max_v = vdupq_n_f64((double)row->sink), minus_inf = vdupq_n_f64(-INFINITY);
        uint64x2_t any_nan = vdupq_n_u64(0);
        for (size_t j = 0; j < n_valid; j += LANES) {
            float64x2_t z_lo, z_hi;
            if (j < n_full) {
                exp_args4(&lp, SRC_AT(j), MASK_AT(j), TERMS_AT(j), j, &z_lo, &z_hi);
            } else {
                exp_args4(&lp, tc.src, tail_mask, tail_terms, j, &z_lo, &z_hi);
                /* all-ones / zero 32-bit lanes sign-extended to 64-bit lane masks */
                int32x4_t live_s = vreinterpretq_s32_u32(live_lanes(rest));
                uint64x2_t live_lo = vreinterpretq_u64_s64(vmovl_s32(vget_low_s32(live_s)));
                uint64x2_t live_hi = vreinterpretq_u64_s64(vmovl_high_s32(live_s));
                z_lo = vbslq_f64(live_lo, z_lo, minus_inf);
                z_hi = vbslq_f64(live_hi, z_hi, minus_inf);
            }
            any_nan = vorrq_u64(any_nan, not_u64(vceqq_f64(z_lo, z_lo)));
            any_nan = vorrq_u64(any_nan, not_u64(vceqq_f64(z_hi, z_hi)));
            max_v = max_ignoring_nan_d(max_ignoring_nan_d(max_v, z_lo), z_hi);
        }
        double max_a = vgetq_lane_f64(max_v, 0), max_b = vgetq_lane_f64(max_v, 1);
        max_d = max_b > max_a ? max_b : max_a;
        if (max_d == -INFINITY) {
            int nan = (vgetq_lane_u64(any_nan, 0) | vgetq_lane_u64(any_nan, 1)) != 0;
            posenc_softmax_put_stats(row->stats, max_d, nan ? posenc_nan_value() : 0.0f);
            fill(row->dst, dst_type, 0, row->n_cols, nan ? posenc_nan_value() : 0.0f);
            return;
        }
    }

    /* ---- pass 2: e_j = exp(z_j - M) (the FAST row: expf_fast(zf_j - Mf), in float), kept (keep_e4) for
     * j < n_keep (a multiple of 64 or n_valid), summed in 64 float lanes (16 vectors). Logits are recomputed so
     * that src == dst works: each block is loaded before it is stored. ---- */
    const int keep = dst_type == POSENC_ELEM_F32 ? KEEP_IN_DST
                   : n_valid <= POSENC_SOFTMAX_E_KEEP / 2 ? KEEP_WHOLE : KEEP_SPLIT;
    const size_t n_keep = keep == KEEP_SPLIT && n_valid > POSENC_SOFTMAX_E_KEEP ? POSENC_SOFTMAX_E_KEEP : n_valid;
    lp.neg_max_d = vdupq_n_f64(-max_d);
    const float32x4_t max_f = vdupq_n_f32((float)max_d);   /* FAST: pass 1's float max, exactly */
    float32x4_t acc[N_ACC];
    for (int a = 0; a < N_ACC; a++)
        acc[a] = vdupq_n_f32(0.0f);
    const size_t n_chunks = n_valid / POSENC_SUM_LANES;
    for (size_t chunk = 0; chunk < n_chunks; chunk++) {
        size_t j0 = chunk * POSENC_SUM_LANES;
        const int store = j0 < n_keep;
        for (int a = 0; a < N_ACC; a++) {
            size_t j = j0 + (size_t)a * LANES;
            float32x4_t e = exp_any4(&lp, SRC_AT(j), MASK_AT(j), TERMS_AT(j), j, fast, max_f);
            if (store)
                keep_e4(row, keep, j, LANES, e);
            acc[a] = vaddq_f32(acc[a], e);
        }
    }
    const size_t j_last = n_chunks * POSENC_SUM_LANES;
    if (j_last < n_valid) {
        /* The last partial chunk: every accumulator still gets a constant index (so all 16 stay in registers);
         * blocks past n_valid add +0, which leaves an accumulator unchanged (accumulators start at +0 and every e
         * is >= +0 or NaN, so none is ever -0). */
        const int store = j_last < n_keep;
        for (int a = 0; a < N_ACC; a++) {
            size_t j = j_last + (size_t)a * LANES;
            float32x4_t e = vdupq_n_f32(0.0f);
            if (j + LANES <= n_valid) {
                e = exp_any4(&lp, SRC_AT(j), MASK_AT(j), TERMS_AT(j), j, fast, max_f);
                if (store)
                    keep_e4(row, keep, j, LANES, e);
            } else if (j < n_valid) {
                e = vbslq_f32(live_lanes(rest), exp_any4(&lp, tc.src, tail_mask, tail_terms, j, fast, max_f),
                              vdupq_n_f32(0.0f));
                if (store)
                    keep_e4(row, keep, j, rest, e);
            }
            acc[a] = vaddq_f32(acc[a], e);
        }
    }

    /* The scalar's halving tree over 64 lanes: w = 32, 16, 8, 4 pair whole vectors, w = 2, 1 pair lanes. */
    for (int w = N_ACC / 2; w >= 1; w /= 2)
        for (int a = 0; a < w; a++)
            acc[a] = vaddq_f32(acc[a], acc[a + w]);
    float32x2_t sum_2 = vadd_f32(vget_low_f32(acc[0]), vget_high_f32(acc[0]));
    float sum = vget_lane_f32(sum_2, 0) + vget_lane_f32(sum_2, 1);
    float64x2_t sink_x = vdupq_n_f64((double)row->sink - max_d);
    float sink_term = fast ? vgetq_lane_f32(tpl_expf_fast(vsubq_f32(vdupq_n_f32(row->sink), max_f)), 0)
                           : vgetq_lane_f32(tpl_exp(sink_x, sink_x), 0);
    sum = sum + sink_term;
    posenc_softmax_put_stats(row->stats, max_d, sum);

    float inv, thr;
    if (!posenc_softmax_row_scales(sum, &inv, &thr)) {
        fill(row->dst, dst_type, 0, row->n_cols, posenc_nan_value());   /* the NaN row */
        return;
    }

    /* ---- pass 3: y = (e < thr ? 0 : e) * inv, zeroed before the multiply; masked columns get +0. ---- */
    const float32x4_t inv_v = vdupq_n_f32(inv), thr_v = vdupq_n_f32(thr);
    size_t j = 0;
    if (dst_type == POSENC_ELEM_F32) {
        float *dst = row->dst;
        for (; j + LANES <= n_valid; j += LANES)
            vst1q_f32(dst + j, tpl_scale_flushed(vld1q_f32(dst + j), thr_v, inv_v));
        for (; j < n_valid; j++)
            dst[j] = (dst[j] < thr ? 0.0f : dst[j]) * inv;
    } else {
        for (; j < n_keep; j += LANES) {
            float32x4_t y = tpl_scale_flushed(kept_e4(row, keep, j, n_keep - j), thr_v, inv_v);
            store_narrow(dst_type, row->dst, j, n_keep - j, y);
        }
        /* Past the kept columns (n_keep is a multiple of 64 here): e again, from src, as pass 2 made it. */
        for (; j < n_valid; j += LANES) {
            float32x4_t e = j < n_full ? exp_any4(&lp, SRC_AT(j), MASK_AT(j), TERMS_AT(j), j, fast, max_f)
                                       : exp_any4(&lp, tc.src, tail_mask, tail_terms, j, fast, max_f);
            store_narrow(dst_type, row->dst, j, n_valid - j, tpl_scale_flushed(e, thr_v, inv_v));
        }
    }
    fill(row->dst, dst_type, n_valid, row->n_cols, 0.0f);
#undef SRC_AT
#undef MASK_AT
#undef TERMS_AT
}

/* One body per precision: the EXACT row and the FAST row (numerics.h). */
static void row_exact(const posenc_softmax_row *row) { softmax_row(row, 0); }
static void row_fast(const posenc_softmax_row *row) { softmax_row(row, 1); }

void posenc_softmax_row_neon(const posenc_softmax_row *row)
{
    if (row->fast)
        row_fast(row);
    else
        row_exact(row);
}
