/* softmax_merge_avx2.c - the split-K merge step, avx2 bundle
 * (-mavx2 -mfma -mf16c). */
#if !defined(__AVX2__) || !defined(__FMA__)
#error "softmax_merge_avx2.c belongs to the avx2 bundle: compile with -mavx2 -mfma"
#endif

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "kernels.h"
#include "numerics.h"
#include "x86/simd_avx2.h"
#include "x86/x86_kernels.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Lanes [0, live) of 8 float lanes (live >= 8: all). */
static ALWAYS_INLINE __m256i lanes8(size_t live)
{
    int32_t n = live > 8 ? 8 : (int32_t)live;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Lanes [0, live) of 4 double lanes (live >= 4: all). */
static ALWAYS_INLINE __m256i lanes4_pd(size_t live)
{
    int64_t n = live > 4 ? 4 : (int64_t)live;
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}

/* ==== the merge step ============================================================================================ */

/* out() of numerics.h on 4 doubles. */
static ALWAYS_INLINE __m128 out4(__m256d v)
{
    __m256d magnitude = _mm256_andnot_pd(_mm256_set1_pd(-0.0), v);
    __m256d tiny = _mm256_cmp_pd(magnitude, _mm256_set1_pd(POSENC_OUT_MIN_D), _CMP_LT_OQ);
    __m128 f = _mm256_cvtpd_ps(_mm256_andnot_pd(tiny, v));
    __m128 nan = _mm_cmpunord_ps(f, f);
    return _mm_blendv_ps(f, _mm_castsi128_ps(_mm_set1_epi32((int32_t)POSENC_NAN_BITS)), nan);
}

static ALWAYS_INLINE void merge_body(double w, const float *x, double *acc, float *dst, size_t n, int first,
                                     int last)
{
    const __m256d wv = _mm256_set1_pd(w);
    for (size_t j = 0; j < n; j += 8) {
        int full = j + 8 <= n;
        __m256i live = lanes8(n - j);
        __m256i live_lo = lanes4_pd(n - j), live_hi = lanes4_pd(n - j > 4 ? n - j - 4 : 0);
        __m256 xv = full ? _mm256_loadu_ps(x + j) : _mm256_maskload_ps(x + j, live);
        __m256d a_lo = _mm256_setzero_pd(), a_hi = _mm256_setzero_pd();
        if (!first) {
            a_lo = full ? _mm256_loadu_pd(acc + j) : _mm256_maskload_pd(acc + j, live_lo);
            a_hi = full ? _mm256_loadu_pd(acc + j + 4) : _mm256_maskload_pd(acc + j + 4, live_hi);
        }
        a_lo = _mm256_fmadd_pd(wv, _mm256_cvtps_pd(_mm256_castps256_ps128(xv)), a_lo);
        a_hi = _mm256_fmadd_pd(wv, _mm256_cvtps_pd(_mm256_extractf128_ps(xv, 1)), a_hi);
        if (last) {
            __m256 r = _mm256_set_m128(out4(a_hi), out4(a_lo));
            if (full)
                _mm256_storeu_ps(dst + j, r);
            else
                _mm256_maskstore_ps(dst + j, live, r);
        } else if (full) {
            _mm256_storeu_pd(acc + j, a_lo);
            _mm256_storeu_pd(acc + j + 4, a_hi);
        } else {
            _mm256_maskstore_pd(acc + j, live_lo, a_lo);
            _mm256_maskstore_pd(acc + j + 4, live_hi, a_hi);
        }
    }
}

void posenc_softmax_merge_step_avx2(double w, const float *x, double *acc, float *dst, size_t n, uint32_t flags)
{
    switch (flags & (POSENC_MERGE_FIRST | POSENC_MERGE_LAST)) {
    case POSENC_MERGE_FIRST | POSENC_MERGE_LAST: merge_body(w, x, acc, dst, n, 1, 1); break;
    case POSENC_MERGE_FIRST: merge_body(w, x, acc, dst, n, 1, 0); break;
    case POSENC_MERGE_LAST: merge_body(w, x, acc, dst, n, 0, 1); break;
    default: merge_body(w, x, acc, dst, n, 0, 0); break;
    }
}
