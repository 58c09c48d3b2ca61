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

/* Flip the sign bit: exactly the C unary minus on every lane (also for zeros and NaNs). */
static inline __m256 avx2_negate(__m256 v)
{
    return _mm256_xor_ps(v, _mm256_set1_ps(-0.0f));
}

#endif /* POSENC_AVX2_COMMON_H */
