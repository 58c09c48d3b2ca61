/* simd_avx512.h - the avx512 bundle's vector types and the template primitives of src/tpl/primitives.h over them
 * (-mavx512f -mavx512bw -mavx512dq -mavx512vl only), plus the bundle's own helpers (lane masks, negation). */
#ifndef POSENC_SIMD_AVX512_H
#define POSENC_SIMD_AVX512_H

#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__)
#error "simd_avx512.h belongs to the avx512 bundle: compile with -mavx512f -mavx512bw -mavx512dq -mavx512vl"
#endif

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define SIMD_INLINE static inline __attribute__((always_inline))

/* ---- the template primitives (src/tpl/primitives.h) ----------------------------------------------------- */

#define F32_LANES 16
typedef __m512 vf32;
typedef __m512d vf64;
typedef __m512i vi32;
typedef __mmask16 vmask;

SIMD_INLINE vf64 f64_set1(double x) { return _mm512_set1_pd(x); }
SIMD_INLINE vf64 f64_add(vf64 a, vf64 b) { return _mm512_add_pd(a, b); }
SIMD_INLINE vf64 f64_sub(vf64 a, vf64 b) { return _mm512_sub_pd(a, b); }
SIMD_INLINE vf64 f64_mul(vf64 a, vf64 b) { return _mm512_mul_pd(a, b); }
SIMD_INLINE vf64 f64_fma(vf64 a, vf64 b, vf64 c) { return _mm512_fmadd_pd(a, b, c); }
/* -(a*b) + c with one rounding: the value of fma(-a, b, c). */
SIMD_INLINE vf64 f64_fnma(vf64 a, vf64 b, vf64 c) { return _mm512_fnmadd_pd(a, b, c); }
/* x < lo ? lo : x > hi ? hi : x; vmaxpd / vminpd return their second operand when either is NaN: NaN stays.
 * (vrangepd would clamp in one instruction, but it turns a quiet NaN into the bound.) */
SIMD_INLINE vf64 f64_clamp(vf64 x, vf64 lo, vf64 hi) { return _mm512_min_pd(hi, _mm512_max_pd(lo, x)); }

/* Two vectors of 8 doubles rounded to one vector of 16 floats (lo lanes first), like (float)d per lane. */
SIMD_INLINE vf32 f32_narrow(vf64 lo, vf64 hi)
{
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi), 1);
}

/* The low 32 bits of each 64-bit lane of lo then hi: the even 32-bit words of the two vectors, one permute. */
SIMD_INLINE vi32 i32_low_words(vf64 lo, vf64 hi)
{
    const __m512i even_words = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    return _mm512_permutex2var_epi32(_mm512_castpd_si512(lo), even_words, _mm512_castpd_si512(hi));
}

SIMD_INLINE vf32 f32_set1(float x) { return _mm512_set1_ps(x); }
SIMD_INLINE vf32 f32_add(vf32 a, vf32 b) { return _mm512_add_ps(a, b); }
SIMD_INLINE vf32 f32_sub(vf32 a, vf32 b) { return _mm512_sub_ps(a, b); }
SIMD_INLINE vf32 f32_mul(vf32 a, vf32 b) { return _mm512_mul_ps(a, b); }
/* x < lo ? lo : x: vmaxps returns its second operand (x) when either is NaN, so a NaN x stays NaN. */
SIMD_INLINE vf32 f32_clamp_below(vf32 x, vf32 lo) { return _mm512_max_ps(lo, x); }
SIMD_INLINE vi32 f32_bits(vf32 v) { return _mm512_castps_si512(v); }
SIMD_INLINE vf32 f32_fma(vf32 a, vf32 b, vf32 c) { return _mm512_fmadd_ps(a, b, c); }
SIMD_INLINE vf32 f32_select(vmask m, vf32 if_set, vf32 if_clear) { return _mm512_mask_blend_ps(m, if_clear, if_set); }
SIMD_INLINE vf32 f32_xor(vf32 v, vi32 bits)
{
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), bits));
}
SIMD_INLINE vf32 f32_from_bits(vi32 bits) { return _mm512_castsi512_ps(bits); }
SIMD_INLINE vmask f32_ge(vf32 a, vf32 b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
SIMD_INLINE vf32 f32_mul_where(vmask m, vf32 a, vf32 b) { return _mm512_maskz_mul_ps(m, a, b); }

SIMD_INLINE vi32 i32_set1(int32_t x) { return _mm512_set1_epi32(x); }
SIMD_INLINE vi32 i32_add(vi32 a, vi32 b) { return _mm512_add_epi32(a, b); }
SIMD_INLINE vi32 i32_and(vi32 a, vi32 b) { return _mm512_and_si512(a, b); }
SIMD_INLINE vmask i32_test_bit(vi32 v, vi32 bit) { return _mm512_test_epi32_mask(v, bit); }
SIMD_INLINE vmask i32_gt(vi32 a, vi32 b) { return _mm512_cmpgt_epi32_mask(a, b); }
#define I32_SLLI(v, n) _mm512_slli_epi32((v), (n))
#define I32_SLLI_WHERE(m, v, n) _mm512_maskz_slli_epi32((m), (v), (n))

/* ---- the bundle's own helpers ----------------------------------------------------------------------------- */

/* Lanes [0, count) of a 16-lane vector; count >= 16 gives all lanes. */
static inline __mmask16 avx512_lanes16(size_t count)
{
    return count >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << count) - 1u);
}

/* Lanes [0, count) of a 32-lane (16-bit element) vector; count >= 32 gives all lanes. */
static inline __mmask32 avx512_lanes32(size_t count)
{
    return count >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << count) - 1u);
}

/* -x as the scalar code computes it: a flip of the sign bit. */
static inline __m512 avx512_negate(__m512 x)
{
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN)));
}

/* Keep a loaded vector in a register. Without it gcc folds the load into each of the value's two uses (a
 * multiply and an fma), doubling the loads of a loop that is bound by load/store bandwidth. */
static inline __m512 avx512_in_register(__m512 x)
{
    __asm__("" : "+v"(x));
    return x;
}

static inline __m512i avx512_in_register_si(__m512i x)
{
    __asm__("" : "+v"(x));
    return x;
}

#endif /* POSENC_SIMD_AVX512_H */
