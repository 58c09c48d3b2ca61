/* avx2_common.h - static inline helpers shared by the avx2 bundle's files (-mavx2 -mfma) only. */
#ifndef POSENC_AVX2_COMMON_H
#define POSENC_AVX2_COMMON_H

#if !defined(__AVX2__) || !defined(__FMA__)
#error "avx2_common.h belongs to the avx2 bundle: compile with -mavx2 -mfma"
#endif

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

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

/* The low 32 bits of each 64-bit lane of lo (lanes 0..3) then hi (lanes 4..7), as 8 int32 in that order. This is
 * how AVX2 (which has no double -> int64 conversion) reads the integer that the round-to-nearest magic constant
 * leaves in a double's low mantissa bits, and how it narrows 64-bit compare masks. The in-lane shuffle gives
 * [lo0 lo1 hi0 hi1 | lo2 lo3 hi2 hi3]; the 64-bit permute restores [lo0..lo3 hi0..hi3]. */
static inline __m256i avx2_low_words(__m256d lo, __m256d hi)
{
    __m256 words = _mm256_shuffle_ps(_mm256_castpd_ps(lo), _mm256_castpd_ps(hi), _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_permute4x64_epi64(_mm256_castps_si256(words), _MM_SHUFFLE(3, 1, 2, 0));
}

/* Two vectors of 4 doubles rounded to one vector of 8 floats (lo lanes first), like (float)d per lane. */
static inline __m256 avx2_narrow_pd(__m256d lo, __m256d hi)
{
    return _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo));
}

/* Flip the sign bit: exactly the C unary minus on every lane (also for zeros and NaNs). */
static inline __m256 avx2_negate(__m256 v)
{
    return _mm256_xor_ps(v, _mm256_set1_ps(-0.0f));
}

#endif /* POSENC_AVX2_COMMON_H */
