/* rope_neon.c - RoPE kernels for the neon bundle (AArch64 Advanced SIMD, baseline: no extra flags): sin/cos of
 * the per-pair angles and the half / interleaved rotations, bit-identical to src/rope_scalar.c. */
#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "rope_neon.c needs AArch64 Advanced SIMD (float64x2 and vfmaq_f64 are AArch64-only)"
#endif

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "arm/arm_kernels.h"
#include "arm/simd_neon.h"
#include "numerics.h"
#include "tpl/sincos_tpl.h"

/* Operand roles: C's fmaf(a, b, c) is vfmaq_f32(c, a, b); one fused multiply-add with a single rounding. */

/* Four pairs starting at omega/pos: theta = pos * omega in double, then the scaled sin/cos. */
static inline void sincos_block(const double *omega, const double *pos, float32x4_t cos_scale,
                                float32x4_t sin_scale, float *cos_out, float *sin_out)
{
    float64x2_t theta_lo = vmulq_f64(vld1q_f64(pos), vld1q_f64(omega));
    float64x2_t theta_hi = vmulq_f64(vld1q_f64(pos + 2), vld1q_f64(omega + 2));
    float32x4_t s, c;
    tpl_sincos(theta_lo, theta_hi, &s, &c);
    vst1q_f32(cos_out, vmulq_f32(c, cos_scale));
    vst1q_f32(sin_out, vmulq_f32(s, sin_scale));
}

void posenc_rope_sincos_neon(const double *omega, const double *pos, size_t n_pairs, float cos_scale,
                             float sin_scale, float *cos_out, float *sin_out)
{
    float32x4_t cos_scale_v = vdupq_n_f32(cos_scale), sin_scale_v = vdupq_n_f32(sin_scale);
    size_t i = 0;
    for (; i + 4 <= n_pairs; i += 4)
        sincos_block(omega + i, pos + i, cos_scale_v, sin_scale_v, cos_out + i, sin_out + i);
    size_t rest = n_pairs - i;
    if (rest) {
        /* The same block on a zero-padded copy: unused lanes compute sin/cos of 0 and are dropped. */
        double omega_pad[4] = {0}, pos_pad[4] = {0};
        float cos_pad[4], sin_pad[4];
        memcpy(omega_pad, omega + i, rest * sizeof(double));
        memcpy(pos_pad, pos + i, rest * sizeof(double));
        sincos_block(omega_pad, pos_pad, cos_scale_v, sin_scale_v, cos_pad, sin_pad);
        memcpy(cos_out + i, cos_pad, rest * sizeof(float));
        memcpy(sin_out + i, sin_pad, rest * sizeof(float));
    }
}

/* ---- rotation: every element y = fma(x, c, partner * signed_s) (numerics.h) ---------------------------- */

/* Copy the unrotated tail of each head when out of place: its bits as they are (a copy is not arithmetic). */
static inline void copy_tail(const posenc_rope_heads *job, const float *x, float *y)
{
    size_t rotary_dim = 2 * job->n_pairs;
    if (x != y && job->head_dim > rotary_dim)
        memcpy(y + rotary_dim, x + rotary_dim, (job->head_dim - rotary_dim) * sizeof(float));
}

/* NaN results (numerics.h): every rotated vector is added into a running sum, which a NaN result makes NaN
 * for good (so may inf - inf: a false alarm costs a scan, nothing else); when the call's sum is NaN,
 * posenc_rope_canonicalize_nans rewrites its NaN results. One add per vector on the fast path. */
static inline int witness_is_nan(float32x4_t witness)
{
    return vminvq_u32(vceqq_f32(witness, witness)) == 0;
}

/* Rotate four pairs held as first elements a and second elements b; both results are formed before either
 * is stored, so in-place rotation reads only unrotated values. */
static inline void rotate4(float32x4_t a, float32x4_t b, float32x4_t c, float32x4_t s, float32x4_t *a_out,
                           float32x4_t *b_out)
{
    *a_out = vfmaq_f32(vmulq_f32(b, vnegq_f32(s)), a, c);
    *b_out = vfmaq_f32(vmulq_f32(a, s), b, c);
}

void posenc_rope_rotate_half_neon(const posenc_rope_heads *job)
{
    size_t n = job->n_pairs;
    size_t n_full = n & ~(size_t)3;
    size_t rest = n - n_full;
    float32x4_t witness = vdupq_n_f32(0.0f);
    for (size_t h = 0; h < job->n_heads; h++) {
        const float *x = job->src + h * job->src_head_stride;
        float *y = job->dst + h * job->dst_head_stride;
        for (size_t i = 0; i < n_full; i += 4) {
            float32x4_t ya, yb;
            rotate4(vld1q_f32(x + i), vld1q_f32(x + i + n), vld1q_f32(job->cos + i), vld1q_f32(job->sin + i),
                    &ya, &yb);
            vst1q_f32(y + i, ya);
            vst1q_f32(y + i + n, yb);
            witness = vaddq_f32(witness, vaddq_f32(ya, yb));
        }
        if (rest) {
            /* Pairs i and i + n are not contiguous for the last rest < 4 pairs: rotate padded copies. */
            float a_pad[4] = {0}, b_pad[4] = {0}, c_pad[4] = {0}, s_pad[4] = {0};
            memcpy(a_pad, x + n_full, rest * sizeof(float));
            memcpy(b_pad, x + n_full + n, rest * sizeof(float));
            memcpy(c_pad, job->cos + n_full, rest * sizeof(float));
            memcpy(s_pad, job->sin + n_full, rest * sizeof(float));
            float32x4_t ya, yb;
            rotate4(vld1q_f32(a_pad), vld1q_f32(b_pad), vld1q_f32(c_pad), vld1q_f32(s_pad), &ya, &yb);
            vst1q_f32(a_pad, ya);
            vst1q_f32(b_pad, yb);
            witness = vaddq_f32(witness, vaddq_f32(ya, yb));   /* padding lanes are 0 */
            memcpy(y + n_full, a_pad, rest * sizeof(float));
            memcpy(y + n_full + n, b_pad, rest * sizeof(float));
        }
        copy_tail(job, x, y);
    }
    if (witness_is_nan(witness))
        posenc_rope_canonicalize_nans(job);
}

void posenc_rope_rotate_interleaved_neon(const posenc_rope_heads *job)
{
    size_t n = job->n_pairs;
    size_t n_full = n & ~(size_t)3;
    size_t rest = n - n_full;
    float32x4_t witness = vdupq_n_f32(0.0f);
    for (size_t h = 0; h < job->n_heads; h++) {
        const float *x = job->src + h * job->src_head_stride;
        float *y = job->dst + h * job->dst_head_stride;
        for (size_t i = 0; i < n_full; i += 4) {
            /* vld2q splits four (a, b) pairs into a vector of a's and a vector of b's. */
            float32x4x2_t ab = vld2q_f32(x + 2 * i);
            float32x4x2_t out;
            rotate4(ab.val[0], ab.val[1], vld1q_f32(job->cos + i), vld1q_f32(job->sin + i), &out.val[0],
                    &out.val[1]);
            vst2q_f32(y + 2 * i, out);
            witness = vaddq_f32(witness, vaddq_f32(out.val[0], out.val[1]));
        }
        if (rest) {
            float ab_pad[8] = {0}, c_pad[4] = {0}, s_pad[4] = {0};
            memcpy(ab_pad, x + 2 * n_full, 2 * rest * sizeof(float));
            memcpy(c_pad, job->cos + n_full, rest * sizeof(float));
            memcpy(s_pad, job->sin + n_full, rest * sizeof(float));
            float32x4x2_t ab = vld2q_f32(ab_pad);
            float32x4x2_t out;
            rotate4(ab.val[0], ab.val[1], vld1q_f32(c_pad), vld1q_f32(s_pad), &out.val[0], &out.val[1]);
            vst2q_f32(ab_pad, out);
            witness = vaddq_f32(witness, vaddq_f32(out.val[0], out.val[1]));   /* padding lanes are 0 */
            memcpy(y + 2 * n_full, ab_pad, 2 * rest * sizeof(float));
        }
        copy_tail(job, x, y);
    }
    if (witness_is_nan(witness))
        posenc_rope_canonicalize_nans(job);
}
