/* simd_avx2.h - the avx2 bundle's vector types and the template primitives of src/tpl/primitives.h over them
 * (-mavx2 -mfma only), plus the bundle's own helpers (tail masks, negation). */
#ifndef POSENC_SIMD_AVX2_H
#define POSENC_SIMD_AVX2_H

#if !defined(__AVX2__) || !defined(__FMA__)
#error "simd_avx2.h belongs to the avx2 bundle: compile with -mavx2 -mfma"
#endif

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define SIMD_INLINE static inline __attribute__((always_inline))

/* ---- the template primitives (src/tpl/primitives.h) ----------------------------------------------------- */

#define F32_LANES 8
typedef __m256 vf32;
typedef __m256d vf64;
typedef __m256i vi32;
typedef __m256i vmask;   /* all-ones / all-zeros 32-bit lanes */

SIMD_INLINE vf64 f64_set1(double x) { return _mm256_set1_pd(x); }
SIMD_INLINE vf64 f64_add(vf64 a, vf64 b) { return _mm256_add_pd(a, b); }
SIMD_INLINE vf64 f64_sub(vf64 a, vf64 b) { return _mm256_sub_pd(a, b); }
SIMD_INLINE vf64 f64_mul(vf64 a, vf64 b) { return _mm256_mul_pd(a, b); }
SIMD_INLINE vf64 f64_fma(vf64 a, vf64 b, vf64 c) { return _mm256_fmadd_pd(a, b, c); }
/* -(a*b) + c with one rounding: the value of fma(-a, b, c). */
SIMD_INLINE vf64 f64_fnma(vf64 a, vf64 b, vf64 c) { return _mm256_fnmadd_pd(a, b, c); }
/* x < lo ? lo : x > hi ? hi : x; maxpd / minpd return their second operand when either is NaN: NaN stays. */
SIMD_INLINE vf64 f64_clamp(vf64 x, vf64 lo, vf64 hi) { return _mm256_min_pd(hi, _mm256_max_pd(lo, x)); }

/* Two vectors of 4 doubles rounded to one vector of 8 floats (lo lanes first), like (float)d per lane. */
SIMD_INLINE vf32 f32_narrow(vf64 lo, vf64 hi)
{
    return _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo));
}

/* The low 32 bits of each 64-bit lane of lo (lanes 0..3) then hi (lanes 4..7), as 8 int32 in that order. This is
 * how AVX2 (which has no double -> int64 conversion) reads the integer that the round-to-nearest magic constant
 * leaves in a double's low mantissa bits, and how it narrows 64-bit compare masks. The in-lane shuffle gives
 * [lo0 lo1 hi0 hi1 | lo2 lo3 hi2 hi3]; the 64-bit permute restores [lo0..lo3 hi0..hi3]. */
SIMD_INLINE vi32 i32_low_words(vf64 lo, vf64 hi)
{
    __m256 words = _mm256_shuffle_ps(_mm256_castpd_ps(lo), _mm256_castpd_ps(hi), _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_permute4x64_epi64(_mm256_castps_si256(words), _MM_SHUFFLE(3, 1, 2, 0));
}

SIMD_INLINE vf32 f32_set1(float x) { return _mm256_set1_ps(x); }
SIMD_INLINE vf32 f32_add(vf32 a, vf32 b) { return _mm256_add_ps(a, b); }
SIMD_INLINE vf32 f32_sub(vf32 a, vf32 b) { return _mm256_sub_ps(a, b); }
SIMD_INLINE vf32 f32_mul(vf32 a, vf32 b) { return _mm256_mul_ps(a, b); }
/* x < lo ? lo : x: vmaxps returns its second operand (x) when either is NaN, so a NaN x stays NaN. */
SIMD_INLINE vf32 f32_clamp_below(vf32 x, vf32 lo) { return _mm256_max_ps(lo, x); }
SIMD_INLINE vi32 f32_bits(vf32 v) { return _mm256_castps_si256(v); }
SIMD_INLINE vf32 f32_fma(vf32 a, vf32 b, vf32 c) { return _mm256_fmadd_ps(a, b, c); }
SIMD_INLINE vf32 f32_select(vmask m, vf32 if_set, vf32 if_clear)
{
    return _mm256_blendv_ps(if_clear, if_set, _mm256_castsi256_ps(m));
}
SIMD_INLINE vf32 f32_xor(vf32 v, vi32 bits) { return _mm256_xor_ps(v, _mm256_castsi256_ps(bits)); }
SIMD_INLINE vf32 f32_from_bits(vi32 bits) { return _mm256_castsi256_ps(bits); }
SIMD_INLINE vmask f32_ge(vf32 a, vf32 b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_GE_OQ)); }
SIMD_INLINE vf32 f32_mul_where(vmask m, vf32 a, vf32 b)
{
    return _mm256_mul_ps(_mm256_and_ps(_mm256_castsi256_ps(m), a), b);
}

SIMD_INLINE vi32 i32_set1(int32_t x) { return _mm256_set1_epi32(x); }
SIMD_INLINE vi32 i32_add(vi32 a, vi32 b) { return _mm256_add_epi32(a, b); }
SIMD_INLINE vi32 i32_and(vi32 a, vi32 b) { return _mm256_and_si256(a, b); }
/* Lanes where (v & bit) != 0, for a single-bit `bit`. */
SIMD_INLINE vmask i32_test_bit(vi32 v, vi32 bit) { return _mm256_cmpeq_epi32(_mm256_and_si256(v, bit), bit); }
SIMD_INLINE vmask i32_gt(vi32 a, vi32 b) { return _mm256_cmpgt_epi32(a, b); }
#define I32_SLLI(v, n) _mm256_slli_epi32((v), (n))
#define I32_SLLI_WHERE(m, v, n) _mm256_and_si256((m), _mm256_slli_epi32((v), (n)))

/* ---- the bundle's own helpers ----------------------------------------------------------------------------- */

/* Lane mask for maskload/maskstore: lanes [0, live) all-ones, the rest zero. Any live >= 8 means all lanes.
 * Tails go through masks (not a scalar loop) so that they run the very same vector arithmetic. */
static inline __m256i avx2_lanes_below(size_t live)
{
    int32_t n = live > 8 ? 8 : (int32_t)live;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The same for 4 double lanes (each 64-bit lane all-ones or zero). */
static inline __m256i avx2_lanes_below_pd(size_t live)
{
    int64_t n = live > 4 ? 4 : (int64_t)live;
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}

/* Keep a loaded vector in a register. Without it gcc folds the load into each of the value's two uses (a
 * multiply and an fma), doubling the loads of a loop that is bound by load/store bandwidth. */
static inline __m256 avx2_in_register(__m256 x)
{
    __asm__("" : "+x"(x));
    return x;
}

/* Flip the sign bit: exactly the C unary minus on every lane (also for zeros and NaNs). */
static inline __m256 avx2_negate(__m256 v)
{
    return _mm256_xor_ps(v, _mm256_set1_ps(-0.0f));
}

#endif /* POSENC_SIMD_AVX2_H */
