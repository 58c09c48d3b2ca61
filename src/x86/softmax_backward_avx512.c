/* softmax_backward_avx512.c - softmax backward row, avx512 bundle (-mavx512f -mavx512bw -mavx512dq -mavx512vl). */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__)
#error "softmax_backward_avx512.c needs -mavx512f -mavx512bw -mavx512dq -mavx512vl"
#endif

#include <immintrin.h>
#include <stdint.h>

#include "kernels.h"
#include "numerics.h"
#include "x86/x86_kernels.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* POSENC_DOT_LANES double lanes in 8-lane vectors: vector a holds lanes 8a .. 8a + 7. */
#define DOT_VECTORS (POSENC_DOT_LANES / 8)
#if DOT_VECTORS != 4
#error "the dot loop and its tree below are written for 4 accumulator vectors"
#endif

static ALWAYS_INLINE __m512d lo8_pd(__m512 v)
{
    return _mm512_cvtps_pd(_mm512_castps512_ps256(v));
}

static ALWAYS_INLINE __m512d hi8_pd(__m512 v)
{
    return _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
}

/* out() of numerics.h on 8 doubles: flush below 2^-126 to +0 before narrowing, then canonical NaN. */
static ALWAYS_INLINE __m256 out8(__m512d v)
{
    __mmask8 tiny = _mm512_cmp_pd_mask(_mm512_abs_pd(v), _mm512_set1_pd(POSENC_OUT_MIN_D), _CMP_LT_OQ);
    __m256 f = _mm512_cvtpd_ps(_mm512_mask_mov_pd(v, tiny, _mm512_setzero_pd()));
    __mmask8 nan = _mm256_cmp_ps_mask(f, f, _CMP_UNORD_Q);
    return _mm256_mask_mov_ps(f, nan, _mm256_castsi256_ps(_mm256_set1_epi32((int32_t)POSENC_F32_QNAN_BITS)));
}

static ALWAYS_INLINE __mmask16 lanes16(size_t count)
{
    return count >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << count) - 1u);
}

void posenc_softmax_backward_row_avx512(const posenc_softmax_backward_row *row)
{
    const float *y = row->y, *dy = row->dy;
    float *dx = row->dx;
    const size_t n = row->n_cols;

    /* <dy, y>: 32 columns per step, column j into lane j % 32 (the products are exact in double, so the FMA
     * is the spec's add of the product). Tail lanes load as +0 and add +0. */
    __m512d acc[DOT_VECTORS];
    for (int a = 0; a < DOT_VECTORS; a++)
        acc[a] = _mm512_setzero_pd();
    size_t j = 0;
    for (; j + POSENC_DOT_LANES <= n; j += POSENC_DOT_LANES) {
        __m512 y0 = _mm512_loadu_ps(y + j), y1 = _mm512_loadu_ps(y + j + 16);
        __m512 g0 = _mm512_loadu_ps(dy + j), g1 = _mm512_loadu_ps(dy + j + 16);
        acc[0] = _mm512_fmadd_pd(lo8_pd(g0), lo8_pd(y0), acc[0]);
        acc[1] = _mm512_fmadd_pd(hi8_pd(g0), hi8_pd(y0), acc[1]);
        acc[2] = _mm512_fmadd_pd(lo8_pd(g1), lo8_pd(y1), acc[2]);
        acc[3] = _mm512_fmadd_pd(hi8_pd(g1), hi8_pd(y1), acc[3]);
    }
    if (j < n) {
        __mmask16 m0 = lanes16(n - j), m1 = n - j > 16 ? lanes16(n - j - 16) : 0;
        __m512 y0 = _mm512_maskz_loadu_ps(m0, y + j), y1 = _mm512_maskz_loadu_ps(m1, y + j + 16);
        __m512 g0 = _mm512_maskz_loadu_ps(m0, dy + j), g1 = _mm512_maskz_loadu_ps(m1, dy + j + 16);
        acc[0] = _mm512_fmadd_pd(lo8_pd(g0), lo8_pd(y0), acc[0]);
        acc[1] = _mm512_fmadd_pd(hi8_pd(g0), hi8_pd(y0), acc[1]);
        acc[2] = _mm512_fmadd_pd(lo8_pd(g1), lo8_pd(y1), acc[2]);
        acc[3] = _mm512_fmadd_pd(hi8_pd(g1), hi8_pd(y1), acc[3]);
    }
    /* The halving tree: w = 16, 8 across vectors, then 4, 2, 1 within one. */
    __m512d w16_lo = _mm512_add_pd(acc[0], acc[2]), w16_hi = _mm512_add_pd(acc[1], acc[3]);
    __m512d w8 = _mm512_add_pd(w16_lo, w16_hi);
    __m256d w4 = _mm256_add_pd(_mm512_castpd512_pd256(w8), _mm512_extractf64x4_pd(w8, 1));
    __m128d w2 = _mm_add_pd(_mm256_castpd256_pd128(w4), _mm256_extractf128_pd(w4, 1));
    __m128d w1 = _mm_add_sd(w2, _mm_unpackhi_pd(w2, w2));
    const __m512d dot = _mm512_broadcastsd_pd(w1);
    const __m512d scale = _mm512_set1_pd((double)row->scale);

    /* dx = out(scale * y * (dy - dot)): y and dy of a block are loaded before its dx is stored (dx == dy). */
    for (j = 0; j < n; j += 16) {
        __mmask16 m = lanes16(n - j);
        __m512 yv = _mm512_maskz_loadu_ps(m, y + j), gv = _mm512_maskz_loadu_ps(m, dy + j);
        __m512d v_lo = _mm512_mul_pd(_mm512_mul_pd(scale, lo8_pd(yv)), _mm512_sub_pd(lo8_pd(gv), dot));
        __m512d v_hi = _mm512_mul_pd(_mm512_mul_pd(scale, hi8_pd(yv)), _mm512_sub_pd(hi8_pd(gv), dot));
        __m512 r = _mm512_insertf32x8(_mm512_castps256_ps512(out8(v_lo)), out8(v_hi), 1);
        _mm512_mask_storeu_ps(dx + j, m, r);
    }
}
