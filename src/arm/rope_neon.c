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

/* Element types in registers (numerics.h, "element types"). Every rotation below is one always-inline body
 * instantiated per (src type, dst type, pairing): the types are constants at each call. */
#define T_F32  POSENC_ELEM_F32
#define T_F16  POSENC_ELEM_F16
#define T_BF16 POSENC_ELEM_BF16

static inline size_t elem_size(int32_t type)
{
    return type == T_F32 ? sizeof(float) : sizeof(uint16_t);
}

/* 4 elements of `type` widened (FCVTL is exact for every f16; bf16 is a shift). A NaN widens to some NaN: enough
 * for rotated elements, whose NaN step follows. */
SIMD_INLINE float32x4_t widen4(int32_t type, uint16x4_t h)
{
    return type == T_F16 ? vcvt_f32_f16(vreinterpret_f16_u16(h)) : vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

/* y with every NaN lane made POSENC_NAN_BITS. */
SIMD_INLINE float32x4_t canonical(float32x4_t y)
{
    return vbslq_f32(vceqq_f32(y, y), y, vreinterpretq_f32_u32(vdupq_n_u32(POSENC_NAN_BITS)));
}

/* 4 float32 results rounded to a 16-bit type: f16 by FCVTN (round to nearest even as Linux sets FPCR, no flush;
 * a NaN stays a NaN, canonicalized after), bf16 on the bit pattern (numerics.h) after making NaNs canonical. */
SIMD_INLINE uint16x4_t narrow4(int32_t type, float32x4_t y)
{
    if (type == T_F16)
        return vreinterpret_u16_f16(vcvt_f16_f32(y));
    uint32x4_t b = vreinterpretq_u32_f32(canonical(y));
    uint32x4_t lsb = vandq_u32(vshrq_n_u32(b, 16), vdupq_n_u32(1));
    return vshrn_n_u32(vaddq_u32(vaddq_u32(b, vdupq_n_u32(0x7fff)), lsb), 16);
}

/* 4 consecutive elements at p, widened; and 4 results stored as consecutive elements. */
SIMD_INLINE float32x4_t load4(int32_t type, const void *p)
{
    return type == T_F32 ? vld1q_f32(p) : widen4(type, vld1_u16(p));
}

SIMD_INLINE void store4(int32_t type, void *p, float32x4_t y)
{
    if (type == T_F32)
        vst1q_f32(p, y);
    else
        vst1_u16(p, narrow4(type, y));
}

/* 4 interleaved pairs at p split into first elements *a and second elements *b (vld2), and the inverse. */
SIMD_INLINE void load4x2(int32_t type, const void *p, float32x4_t *a, float32x4_t *b)
{
    if (type == T_F32) {
        float32x4x2_t ab = vld2q_f32(p);
        *a = ab.val[0], *b = ab.val[1];
        return;
    }
    uint16x4x2_t ab = vld2_u16(p);
    *a = widen4(type, ab.val[0]), *b = widen4(type, ab.val[1]);
}

SIMD_INLINE void store4x2(int32_t type, void *p, float32x4_t a, float32x4_t b)
{
    if (type == T_F32) {
        float32x4x2_t ab = { { a, b } };
        vst2q_f32(p, ab);
        return;
    }
    uint16x4x2_t ab = { { narrow4(type, a), narrow4(type, b) } };
    vst2_u16(p, ab);
}

/* NaN results (numerics.h): every rotated vector is added into a running sum, which a NaN result makes NaN
 * for good (so may inf - inf: a false alarm costs a scan, nothing else); when the call's sum is NaN,
 * posenc_rope_canonicalize_nans rewrites the NaN results of a float32 or f16 destination (FCVTN keeps a NaN a
 * NaN). A bf16 destination is made canonical before its rounding (narrow4). One add per vector otherwise. */
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

/* Four pairs: half pairing at element i of x (a) and i + n (b), or interleaved at element 2i (x, y in bytes,
 * tables c, s); returns a' + b' for the witness. */
SIMD_INLINE float32x4_t pairs4(const char *x, char *y, size_t i, size_t n, const float *c, const float *s,
                               int interleaved, int32_t st, int32_t dt)
{
    const size_t ss = elem_size(st), ds = elem_size(dt);
    float32x4_t a, b, ya, yb;
    if (interleaved)
        load4x2(st, x + 2 * i * ss, &a, &b);
    else
        a = load4(st, x + i * ss), b = load4(st, x + (i + n) * ss);
    rotate4(a, b, vld1q_f32(c), vld1q_f32(s), &ya, &yb);
    if (interleaved) {
        store4x2(dt, y + 2 * i * ds, ya, yb);
    } else {
        store4(dt, y + i * ds, ya);
        store4(dt, y + (i + n) * ds, yb);
    }
    return vaddq_f32(ya, yb);
}

/* Elements [2 * n_pairs, head_dim) of every head: float32 to float32 copies the bits out of place (nothing in
 * place); any other pair of types converts them through a float32 stage with the conversion kernels (widen
 * with the canonical NaN, round). */
static void convert_tails(const posenc_rope_heads *job)
{
    const size_t from = 2 * job->n_pairs, count = job->head_dim - from;
    const int32_t st = job->src_type, dt = job->dst_type;
    const size_t ss = elem_size(st), ds = elem_size(dt);
    if (count == 0 || (st == T_F32 && dt == T_F32 && job->src == job->dst))
        return;
    float stage[POSENC_MAX_PAIRS * 2];
    for (size_t h = 0; h < job->n_heads; h++) {
        const char *x = (const char *)job->src + (h * job->src_head_stride + from) * ss;
        char *y = (char *)job->dst + (h * job->dst_head_stride + from) * ds;
        if (st == T_F32 && dt == T_F32)
            memcpy(y, x, count * sizeof(float));
        else if (st == T_F32)
            posenc_narrow_neon(dt, (const float *)(const void *)x, y, count);
        else if (dt == T_F32)
            posenc_widen_neon(st, x, (float *)(void *)y, count);
        else {
            posenc_widen_neon(st, x, stage, count);
            posenc_narrow_neon(dt, stage, y, count);
        }
    }
}

SIMD_INLINE void rotate_typed(const posenc_rope_heads *job, int interleaved, int32_t st, int32_t dt)
{
    const size_t n = job->n_pairs, n_full = n & ~(size_t)3, rest = n - n_full;
    const size_t ss = elem_size(st), ds = elem_size(dt);
    float32x4_t witness = vdupq_n_f32(0.0f);
    for (size_t h = 0; h < job->n_heads; h++) {
        const char *x = (const char *)job->src + h * job->src_head_stride * ss;
        char *y = (char *)job->dst + h * job->dst_head_stride * ds;
        for (size_t i = 0; i < n_full; i += 4)
            witness = vaddq_f32(witness, pairs4(x, y, i, n, job->cos + i, job->sin + i, interleaved, st, dt));
        if (rest) {
            /* The last pairs through zero-padded copies (padding rotates to 0 and is never stored): half pairing
             * puts a at elements [0, 4) and b at [4, 8) of the copy, interleaved the pairs at [0, 2 * rest). */
            char in[32] = { 0 }, out[32];
            float c[4] = { 0 }, s[4] = { 0 };
            memcpy(c, job->cos + n_full, rest * sizeof(float));
            memcpy(s, job->sin + n_full, rest * sizeof(float));
            if (interleaved) {
                memcpy(in, x + 2 * n_full * ss, 2 * rest * ss);
            } else {
                memcpy(in, x + n_full * ss, rest * ss);
                memcpy(in + 4 * ss, x + (n_full + n) * ss, rest * ss);
            }
            witness = vaddq_f32(witness, pairs4(in, out, 0, 4, c, s, interleaved, st, dt));
            if (interleaved) {
                memcpy(y + 2 * n_full * ds, out, 2 * rest * ds);
            } else {
                memcpy(y + n_full * ds, out, rest * ds);
                memcpy(y + (n_full + n) * ds, out + 4 * ds, rest * ds);
            }
        }
    }
    if (dt != T_BF16 && witness_is_nan(witness))
        posenc_rope_canonicalize_nans(job);
    convert_tails(job);
}

/* One instantiation per (src type, dst type) for a pairing. */
#define ROTATE_TYPED(job, interleaved)                                                                      \
    switch ((job)->src_type * 3 + (job)->dst_type) {                                                        \
    case T_F32 * 3 + T_F32: rotate_typed(job, interleaved, T_F32, T_F32); break;                            \
    case T_F32 * 3 + T_F16: rotate_typed(job, interleaved, T_F32, T_F16); break;                            \
    case T_F32 * 3 + T_BF16: rotate_typed(job, interleaved, T_F32, T_BF16); break;                          \
    case T_F16 * 3 + T_F32: rotate_typed(job, interleaved, T_F16, T_F32); break;                            \
    case T_F16 * 3 + T_F16: rotate_typed(job, interleaved, T_F16, T_F16); break;                            \
    case T_F16 * 3 + T_BF16: rotate_typed(job, interleaved, T_F16, T_BF16); break;                          \
    case T_BF16 * 3 + T_F32: rotate_typed(job, interleaved, T_BF16, T_F32); break;                          \
    case T_BF16 * 3 + T_F16: rotate_typed(job, interleaved, T_BF16, T_F16); break;                          \
    default: rotate_typed(job, interleaved, T_BF16, T_BF16); break;                                         \
    }

void posenc_rope_rotate_half_neon(const posenc_rope_heads *job)
{
    ROTATE_TYPED(job, 0)
}

void posenc_rope_rotate_interleaved_neon(const posenc_rope_heads *job)
{
    ROTATE_TYPED(job, 1)
}
