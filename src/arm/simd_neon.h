/* simd_neon.h - the neon bundle's vector types and the template primitives of src/tpl/primitives.h over them
 * (AArch64 Advanced SIMD: baseline, no extra flags). */
#ifndef POSENC_SIMD_NEON_H
#define POSENC_SIMD_NEON_H

#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "simd_neon.h needs AArch64 Advanced SIMD (float64x2 and vfmaq_f64 are AArch64-only)"
#endif

#include <arm_neon.h>
#include <stdint.h>

#define SIMD_INLINE static inline __attribute__((always_inline))

/* ---- the template primitives (src/tpl/primitives.h) ----------------------------------------------------- */
/* Operand roles: C's fma(a, b, c) is vfmaq_f64(c, a, b) and c - a*b is vfmsq_f64(c, a, b); both are one fused
 * multiply-add with a single rounding. */

#define F32_LANES 4
typedef float32x4_t vf32;
typedef float64x2_t vf64;
typedef int32x4_t vi32;
typedef uint32x4_t vmask;   /* all-ones / all-zeros lanes */

SIMD_INLINE vf64 f64_set1(double x) { return vdupq_n_f64(x); }
SIMD_INLINE vf64 f64_add(vf64 a, vf64 b) { return vaddq_f64(a, b); }
SIMD_INLINE vf64 f64_sub(vf64 a, vf64 b) { return vsubq_f64(a, b); }
SIMD_INLINE vf64 f64_mul(vf64 a, vf64 b) { return vmulq_f64(a, b); }
SIMD_INLINE vf64 f64_fma(vf64 a, vf64 b, vf64 c) { return vfmaq_f64(c, a, b); }
SIMD_INLINE vf64 f64_fnma(vf64 a, vf64 b, vf64 c) { return vfmsq_f64(c, a, b); }
/* FMAX / FMIN return a NaN when either operand is NaN: a NaN x stays NaN. */
SIMD_INLINE vf64 f64_clamp(vf64 x, vf64 lo, vf64 hi) { return vminq_f64(vmaxq_f64(x, lo), hi); }

SIMD_INLINE vf32 f32_narrow(vf64 lo, vf64 hi) { return vcvt_high_f32_f64(vcvt_f32_f64(lo), hi); }
/* vmovn keeps exactly the low 32 bits of each 64-bit lane. */
SIMD_INLINE vi32 i32_low_words(vf64 lo, vf64 hi)
{
    uint32x2_t low = vmovn_u64(vreinterpretq_u64_f64(lo));
    return vreinterpretq_s32_u32(vmovn_high_u64(low, vreinterpretq_u64_f64(hi)));
}

SIMD_INLINE vf32 f32_set1(float x) { return vdupq_n_f32(x); }
SIMD_INLINE vf32 f32_add(vf32 a, vf32 b) { return vaddq_f32(a, b); }
SIMD_INLINE vf32 f32_sub(vf32 a, vf32 b) { return vsubq_f32(a, b); }
SIMD_INLINE vf32 f32_mul(vf32 a, vf32 b) { return vmulq_f32(a, b); }
/* x < lo ? lo : x: FMAX returns a NaN when either operand is NaN, so a NaN x stays NaN. */
SIMD_INLINE vf32 f32_clamp_below(vf32 x, vf32 lo) { return vmaxq_f32(x, lo); }
SIMD_INLINE vi32 f32_bits(vf32 v) { return vreinterpretq_s32_f32(v); }
SIMD_INLINE vf32 f32_fma(vf32 a, vf32 b, vf32 c) { return vfmaq_f32(c, a, b); }
SIMD_INLINE vf32 f32_select(vmask m, vf32 if_set, vf32 if_clear) { return vbslq_f32(m, if_set, if_clear); }
SIMD_INLINE vf32 f32_xor(vf32 v, vi32 bits)
{
    return vreinterpretq_f32_s32(veorq_s32(vreinterpretq_s32_f32(v), bits));
}
SIMD_INLINE vf32 f32_from_bits(vi32 bits) { return vreinterpretq_f32_s32(bits); }
SIMD_INLINE vmask f32_ge(vf32 a, vf32 b) { return vcgeq_f32(a, b); }
SIMD_INLINE vf32 f32_mul_where(vmask m, vf32 a, vf32 b)
{
    return vmulq_f32(vreinterpretq_f32_u32(vandq_u32(m, vreinterpretq_u32_f32(a))), b);
}

SIMD_INLINE vi32 i32_set1(int32_t x) { return vdupq_n_s32(x); }
SIMD_INLINE vi32 i32_add(vi32 a, vi32 b)   /* wrapping: in unsigned arithmetic */
{
    return vreinterpretq_s32_u32(vaddq_u32(vreinterpretq_u32_s32(a), vreinterpretq_u32_s32(b)));
}
SIMD_INLINE vi32 i32_and(vi32 a, vi32 b) { return vandq_s32(a, b); }
SIMD_INLINE vmask i32_test_bit(vi32 v, vi32 bit) { return vtstq_s32(v, bit); }
SIMD_INLINE vmask i32_gt(vi32 a, vi32 b) { return vcgtq_s32(a, b); }
/* Shifts in unsigned arithmetic: a left shift of a negative int32 would be undefined in C's model. */
#define I32_SLLI(v, n) vreinterpretq_s32_u32(vshlq_n_u32(vreinterpretq_u32_s32(v), (n)))
#define I32_SLLI_WHERE(m, v, n) vreinterpretq_s32_u32(vandq_u32((m), vshlq_n_u32(vreinterpretq_u32_s32(v), (n))))

#endif /* POSENC_SIMD_NEON_H */
