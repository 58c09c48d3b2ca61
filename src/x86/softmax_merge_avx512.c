/* softmax_merge_avx512.c - the split-K merge step, avx512 bundle
 * (-mavx512f -mavx512bw -mavx512dq -mavx512vl). */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__)
#error "softmax_merge_avx512.c needs -mavx512f -mavx512bw -mavx512dq -mavx512vl"
#endif

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "kernels.h"
#include "numerics.h"
#include "x86/simd_avx512.h"
#include "x86/x86_kernels.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE __mmask16 lanes16(size_t count)
{
    return count >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << count) - 1u);
}

static ALWAYS_INLINE __m512 canonical_nan16(void)
{
    return _mm512_castsi512_ps(_mm512_set1_epi32((int32_t)POSENC_NAN_BITS));
}

/* ==== the merge step ============================================================================================ */

/* out() of numerics.h on 8 doubles. */
static ALWAYS_INLINE __m256 out8(__m512d v)
{
    __mmask8 tiny = _mm512_cmp_pd_mask(_mm512_abs_pd(v), _mm512_set1_pd(POSENC_OUT_MIN_D), _CMP_LT_OQ);
    __m256 f = _mm512_cvtpd_ps(_mm512_mask_mov_pd(v, tiny, _mm512_setzero_pd()));
    __mmask8 nan = _mm256_cmp_ps_mask(f, f, _CMP_UNORD_Q);
    return _mm256_mask_mov_ps(f, nan, _mm512_castps512_ps256(canonical_nan16()));
}

static ALWAYS_INLINE void merge_body(double w, const float *x, double *acc, float *dst, size_t n, int first,
                                     int last)
{
    const __m512d wv = _mm512_set1_pd(w);
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 m = lanes16(n - j);
        __mmask8 m_lo = (__mmask8)m, m_hi = (__mmask8)(m >> 8);
        __m512 xv = _mm512_maskz_loadu_ps(m, x + j);
        __m512d a_lo = first ? _mm512_setzero_pd() : _mm512_maskz_loadu_pd(m_lo, acc + j);
        __m512d a_hi = first ? _mm512_setzero_pd() : _mm512_maskz_loadu_pd(m_hi, acc + j + 8);
        a_lo = _mm512_fmadd_pd(wv, _mm512_cvtps_pd(_mm512_castps512_ps256(xv)), a_lo);
        a_hi = _mm512_fmadd_pd(wv, _mm512_cvtps_pd(_mm512_extractf32x8_ps(xv, 1)), a_hi);
        if (last) {
            __m512 r = _mm512_insertf32x8(_mm512_castps256_ps512(out8(a_lo)), out8(a_hi), 1);
            _mm512_mask_storeu_ps(dst + j, m, r);
        } else {
            _mm512_mask_storeu_pd(acc + j, m_lo, a_lo);
            _mm512_mask_storeu_pd(acc + j + 8, m_hi, a_hi);
        }
    }
}

void posenc_softmax_merge_step_avx512(double w, const float *x, double *acc, float *dst, size_t n, uint32_t flags)
{
    switch (flags & (POSENC_MERGE_FIRST | POSENC_MERGE_LAST)) {
    case POSENC_MERGE_FIRST | POSENC_MERGE_LAST: merge_body(w, x, acc, dst, n, 1, 1); break;
    case POSENC_MERGE_FIRST: merge_body(w, x, acc, dst, n, 1, 0); break;
    case POSENC_MERGE_LAST: merge_body(w, x, acc, dst, n, 0, 1); break;
    default: merge_body(w, x, acc, dst, n, 0, 0); break;
    }
}
