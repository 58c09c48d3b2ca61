/* rope_neon.c - RoPE kernels for the neon bundle (AArch64 Advanced SIMD, baseline: no extra flags): sin/cos of
 * the per-pair angles and the half / interleaved rotations, bit-identical to src/rope_scalar.c. */
#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "arm/arm_kernels.h"
#include "numerics.h"

#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "rope_neon.c needs AArch64 Advanced SIMD (float64x2 and vfmaq_f64 are AArch64-only)"
#endif

/* Operand roles: C's fmaf(a, b, c) is vfmaq_f32(c, a, b) and fma(a, b, c) is vfmaq_f64(c, a, b); both are one
 * fused multiply-add with a single rounding, so each line below mirrors one line of rope_scalar.c. */

/* Reduce two angles modulo pi/2 in double: the float remainder and the quadrant (two's complement mod 4). */
static inline float64x2_t reduce_pio2(float64x2_t theta, uint64x2_t *quadrant)
{
    const float64x2_t magic = vdupq_n_f64(POSENC_ROUND_MAGIC_D);
    float64x2_t t = vmulq_f64(theta, vdupq_n_f64(POSENC_2_OVER_PI));
    float64x2_t shifted = vaddq_f64(t, magic);
    float64x2_t kd = vsubq_f64(shifted, magic);
    *quadrant = vreinterpretq_u64_f64(shifted);
    float64x2_t neg_kd = vnegq_f64(kd);
    float64x2_t r = vfmaq_f64(theta, neg_kd, vdupq_n_f64(POSENC_PIO2_HI));
    return vfmaq_f64(r, neg_kd, vdupq_n_f64(POSENC_PIO2_LO));
}

/* sin and cos of four angles (two float64x2 halves), exactly as numerics.h specifies. */
static inline void sincos4(float64x2_t theta_lo, float64x2_t theta_hi, float32x4_t *sin_out,
                           float32x4_t *cos_out)
{
    uint64x2_t q_lo, q_hi;
    float64x2_t r_lo = reduce_pio2(theta_lo, &q_lo);
    float64x2_t r_hi = reduce_pio2(theta_hi, &q_hi);
    /* Only the low two bits matter, so narrowing the 64-bit patterns to 32 bits keeps the quadrant. */
    uint32x4_t quadrant = vcombine_u32(vmovn_u64(q_lo), vmovn_u64(q_hi));
    float32x4_t x = vcombine_f32(vcvt_f32_f64(r_lo), vcvt_f32_f64(r_hi));
    float32x4_t z = vmulq_f32(x, x);

    float32x4_t ps = vfmaq_f32(vdupq_n_f32(POSENC_SIN_S2), vdupq_n_f32(POSENC_SIN_S3), z);
    ps = vfmaq_f32(vdupq_n_f32(POSENC_SIN_S1), ps, z);
    ps = vmulq_f32(ps, z);
    float32x4_t s = vfmaq_f32(x, ps, x);

    float32x4_t pc = vfmaq_f32(vdupq_n_f32(POSENC_COS_C2), vdupq_n_f32(POSENC_COS_C3), z);
    pc = vfmaq_f32(vdupq_n_f32(POSENC_COS_C1), pc, z);
    pc = vfmaq_f32(vdupq_n_f32(-0.5f), pc, z);
    float32x4_t c = vfmaq_f32(vdupq_n_f32(1.0f), pc, z);

    /* Quadrant q: odd q swaps sin and cos; sin is negated for q in {2, 3} (bit 1 of q), cos for q in {1, 2}
     * (bit 1 of q + 1). Negation is a sign-bit flip, the same bits as the scalar's unary minus. */
    const uint32x4_t one = vdupq_n_u32(1), two = vdupq_n_u32(2);
    uint32x4_t swap = vceqq_u32(vandq_u32(quadrant, one), one);
    uint32x4_t sin_sign = vshlq_n_u32(vandq_u32(quadrant, two), 30);
    uint32x4_t cos_sign = vshlq_n_u32(vandq_u32(vaddq_u32(quadrant, one), two), 30);
    float32x4_t sin_base = vbslq_f32(swap, c, s);
    float32x4_t cos_base = vbslq_f32(swap, s, c);
    *sin_out = vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(sin_base), sin_sign));
    *cos_out = vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(cos_base), cos_sign));
}

/* Four pairs starting at omega/pos: theta = pos * omega in double, then the scaled sin/cos. */
static inline void sincos_block(const double *omega, const double *pos, float32x4_t cos_scale,
                                float32x4_t sin_scale, float *cos_out, float *sin_out)
{
    float64x2_t theta_lo = vmulq_f64(vld1q_f64(pos), vld1q_f64(omega));
    float64x2_t theta_hi = vmulq_f64(vld1q_f64(pos + 2), vld1q_f64(omega + 2));
    float32x4_t s, c;
    sincos4(theta_lo, theta_hi, &s, &c);
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
