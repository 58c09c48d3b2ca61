/* primitives.h - the contract between the numeric-core templates (src/tpl/<core>_tpl.h) and an ISA's vector header.
 *
 * Each numeric core of numerics.h (the RoPE sin/cos, the softmax exp) is written once, as a template over a
 * handful of vector primitives; each ISA header (src/x86/simd_avx2.h, src/x86/simd_avx512.h,
 * src/arm/simd_neon.h) defines the types and primitives below, and an ISA's kernel file includes its header and
 * then the templates it needs (the pattern of zlib-ng's *_tpl.h files). Loops, tails, masks and reductions stay
 * in the ISA files, where they differ for real reasons.
 *
 * Types. A float vector holds F32_LANES lanes; the double vectors that feed it come in pairs (lo, hi) of
 * F32_LANES / 2 lanes each, lo holding the float vector's first lanes.
 *   vf32    float vector          vf64    double vector        vi32    int32 vector (F32_LANES lanes)
 *   vmask   a per-lane predicate over the F32_LANES lanes (a register mask or an all-ones / all-zeros vector)
 * Primitives (static inline, every one an exactly rounded IEEE operation or a bitwise one, so a template gives
 * the scalar reference's bits on every ISA):
 *   f64_set1(d)  f64_add(a, b)  f64_sub(a, b)  f64_mul(a, b)
 *   f64_fma(a, b, c)    a*b + c, one rounding       f64_fnma(a, b, c)   c - a*b, one rounding (= fma(-a, b, c))
 *   f64_clamp(x, lo, hi)   x < lo ? lo : x > hi ? hi : x, a NaN x staying NaN
 *   f32_narrow(lo, hi)     (float) of every lane of lo then hi
 *   i32_low_words(lo, hi)  the low 32 bits of every 64-bit lane's bit pattern, lo's lanes first
 *   f32_set1(f)  f32_add(a, b)  f32_sub(a, b)  f32_mul(a, b)  f32_fma(a, b, c) (a*b + c, one rounding)
 *   f32_clamp_below(x, lo)   x < lo ? lo : x, a NaN x staying NaN      f32_bits(v) -> vi32 (the bit patterns)
 *   f32_select(m, if_set, if_clear)   f32_xor(v, bits) (bitwise, e.g. sign flips)   f32_from_bits(vi32)
 *   f32_ge(a, b) -> vmask (ordered: false for NaN)  f32_mul_where(m, a, b)   m ? a*b : +0
 *   i32_set1(i)  i32_add(a, b) (wrapping)  i32_and(a, b)
 *   i32_test_bit(v, bit) -> vmask: (v & bit) != 0 for a one-bit `bit`     i32_gt(a, b) -> vmask (signed)
 *   I32_SLLI(v, n)  v << n      I32_SLLI_WHERE(m, v, n)  m ? v << n : 0      (macros: n must be a constant)
 *   SIMD_INLINE   the always-inline storage class the templates' functions use
 */
#ifndef POSENC_TPL_PRIMITIVES_H
#define POSENC_TPL_PRIMITIVES_H

#if !defined(F32_LANES) || !defined(SIMD_INLINE) || !defined(I32_SLLI) || !defined(I32_SLLI_WHERE)
#error "include an ISA's vector header (src/x86/simd_avx2.h, src/x86/simd_avx512.h, src/arm/simd_neon.h) first"
#endif

#endif /* POSENC_TPL_PRIMITIVES_H */
