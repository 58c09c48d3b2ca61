/* softmax_avx512.c - fused (ALiBi-biased) softmax row, avx512 bundle (-mavx512f -mavx512bw -mavx512dq -mavx512vl). */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__)
#error "softmax_avx512.c needs -mavx512f -mavx512bw -mavx512dq -mavx512vl"
#endif

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "avx512_common.h"
#include "numerics.h"
#include "x86/x86_kernels.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* exp(x) for x <= 0 (or NaN), 16 lanes, exactly the operation sequence of numerics.h. No branch: the cutoff
 * is a select, so the time never depends on the values. */
static ALWAYS_INLINE __m512 exp16(__m512 x)
{
    __m512 magic = _mm512_set1_ps(POSENC_EXP_MAGIC);
    __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(POSENC_EXP_LOG2E), magic);
    __m512 n = _mm512_sub_ps(t, magic);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-POSENC_EXP_LN2_HI), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(-POSENC_EXP_LN2_LO), r);
    __m512 p = _mm512_set1_ps(POSENC_EXP_E5);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(POSENC_EXP_E4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(POSENC_EXP_E3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(POSENC_EXP_E2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(POSENC_EXP_E1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(POSENC_EXP_E0));
    __m512 y = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
    y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
    __m512i two_n = _mm512_slli_epi32(_mm512_add_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(127)), 23);
    /* !(x < cutoff): NaN keeps its (NaN) value, as the scalar select does. */
    __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(POSENC_EXP_CUTOFF), _CMP_NLT_UQ);
    return _mm512_maskz_mul_ps(keep, y, _mm512_castsi512_ps(two_n));
}

/* Row constants for the logit of numerics.h: z = fma(slope, (float)b_j, scale * s_j) [+ mask_j]. */
typedef struct logit_ctx {
    __m512 scale;
    __m512 slope;
    __m512i lane_index;   /* 0..15 */
    int32_t d0;
} logit_ctx;

/* The 16 logits of columns [j, j + 16) (lanes outside `lanes` are not read). BIAS and HAS_MASK are
 * compile-time constants in each instantiation, so the loops carry no per-element branches. */
static ALWAYS_INLINE __m512 logit16(const logit_ctx *ctx, const float *src, const float *mask, size_t j,
                                    __mmask16 lanes, int full, int bias, int has_mask)
{
    __m512 s = full ? _mm512_loadu_ps(src + j) : _mm512_maskz_loadu_ps(lanes, src + j);
    __m512 z = _mm512_mul_ps(ctx->scale, s);
    if (bias != POSENC_BIAS_NONE) {
        /* d_j = d0 + j in int32 (validated not to overflow for live columns). */
        __m512i d = _mm512_add_epi32(_mm512_set1_epi32(ctx->d0 + (int32_t)j), ctx->lane_index);
        if (bias == POSENC_BIAS_ABS)
            d = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_abs_epi32(d));
        z = _mm512_fmadd_ps(ctx->slope, _mm512_cvtepi32_ps(d), z);
    }
    if (has_mask) {
        __m512 mk = full ? _mm512_loadu_ps(mask + j) : _mm512_maskz_loadu_ps(lanes, mask + j);
        z = _mm512_add_ps(z, mk);
    }
    return z;
}

/* Sum of 4 accumulators (64 lanes) in the halving tree of numerics.h: w = 32, 16, 8, 4, 2, 1. */
static inline float sum_tree64(__m512 acc0, __m512 acc1, __m512 acc2, __m512 acc3)
{
    __m512 w32_lo = _mm512_add_ps(acc0, acc2);   /* lanes 0..15  (+ lanes 32..47) */
    __m512 w32_hi = _mm512_add_ps(acc1, acc3);   /* lanes 16..31 (+ lanes 48..63) */
    __m512 w16 = _mm512_add_ps(w32_lo, w32_hi);
    __m256 w8 = _mm256_add_ps(_mm512_castps512_ps256(w16), _mm512_extractf32x8_ps(w16, 1));
    __m128 w4 = _mm_add_ps(_mm256_castps256_ps128(w8), _mm256_extractf128_ps(w8, 1));
    __m128 w2 = _mm_add_ps(w4, _mm_movehl_ps(w4, w4));
    __m128 w1 = _mm_add_ss(w2, _mm_movehdup_ps(w2));
    return _mm_cvtss_f32(w1);
}

/* The row. Pass 1 writes the logits to dst and finds the max; pass 2 overwrites them with e_j and sums;
 * pass 3 scales. Logits are exact whether stored or recomputed, so storing them only saves arithmetic; dst
 * may equal src because column j of src is read before column j of dst is written. */
static ALWAYS_INLINE void softmax_row(const posenc_softmax_row *row, int bias, int has_mask)
{
    const size_t n_valid = row->n_valid;
    const float *src = row->src;
    const float *mask = row->mask;
    float *dst = row->dst;
    logit_ctx ctx = {
        .scale = _mm512_set1_ps(row->scale),
        .slope = _mm512_set1_ps(row->slope),
        .lane_index = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
        .d0 = row->d0,
    };
    const size_t n_full = n_valid / 64 * 64;

    /* Pass 1. max(z, m) returns m when z is NaN, the scalar `z > max ? z : max`; the max is exact, so four
     * independent running maxima and any final order give the same value. */
    __m512 m0 = _mm512_set1_ps(row->sink), m1 = m0, m2 = m0, m3 = m0;
    size_t j = 0;
    for (; j < n_full; j += 64) {
        __m512 z0 = logit16(&ctx, src, mask, j, 0xffff, 1, bias, has_mask);
        __m512 z1 = logit16(&ctx, src, mask, j + 16, 0xffff, 1, bias, has_mask);
        __m512 z2 = logit16(&ctx, src, mask, j + 32, 0xffff, 1, bias, has_mask);
        __m512 z3 = logit16(&ctx, src, mask, j + 48, 0xffff, 1, bias, has_mask);
        _mm512_storeu_ps(dst + j, z0);
        _mm512_storeu_ps(dst + j + 16, z1);
        _mm512_storeu_ps(dst + j + 32, z2);
        _mm512_storeu_ps(dst + j + 48, z3);
        m0 = _mm512_max_ps(z0, m0);
        m1 = _mm512_max_ps(z1, m1);
        m2 = _mm512_max_ps(z2, m2);
        m3 = _mm512_max_ps(z3, m3);
    }
    for (; j < n_valid; j += 16) {
        __mmask16 lanes = avx512_lanes16(n_valid - j);
        __m512 z = logit16(&ctx, src, mask, j, lanes, 0, bias, has_mask);
        _mm512_mask_storeu_ps(dst + j, lanes, z);
        m0 = _mm512_mask_max_ps(m0, lanes, z, m0);
    }
    float max = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));

    if (max == -INFINITY) {
        /* Every live logit is -inf or NaN: zeros, or NaN if any is NaN (the max ignored them). */
        __mmask16 any_nan = 0;
        for (size_t k = 0; k < n_valid; k += 16) {
            __mmask16 lanes = avx512_lanes16(n_valid - k);
            __m512 z = _mm512_maskz_loadu_ps(lanes, dst + k);
            any_nan |= _mm512_mask_cmp_ps_mask(lanes, z, z, _CMP_UNORD_Q);
        }
        __m512 fill = _mm512_set1_ps(any_nan ? NAN : 0.0f);
        for (size_t k = 0; k < row->n_cols; k += 16)
            _mm512_mask_storeu_ps(dst + k, avx512_lanes16(row->n_cols - k), fill);
        return;
    }

    /* Pass 2. Accumulator a holds the columns with j % 64 in [16a, 16a + 16), as numerics.h requires. */
    __m512 vmax = _mm512_set1_ps(max);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (j = 0; j < n_full; j += 64) {
        __m512 e0 = exp16(_mm512_sub_ps(_mm512_loadu_ps(dst + j), vmax));
        __m512 e1 = exp16(_mm512_sub_ps(_mm512_loadu_ps(dst + j + 16), vmax));
        __m512 e2 = exp16(_mm512_sub_ps(_mm512_loadu_ps(dst + j + 32), vmax));
        __m512 e3 = exp16(_mm512_sub_ps(_mm512_loadu_ps(dst + j + 48), vmax));
        _mm512_storeu_ps(dst + j, e0);
        _mm512_storeu_ps(dst + j + 16, e1);
        _mm512_storeu_ps(dst + j + 32, e2);
        _mm512_storeu_ps(dst + j + 48, e3);
        acc0 = _mm512_add_ps(acc0, e0);
        acc1 = _mm512_add_ps(acc1, e1);
        acc2 = _mm512_add_ps(acc2, e2);
        acc3 = _mm512_add_ps(acc3, e3);
    }
    if (j < n_valid) {
        __m512 *acc[4] = { &acc0, &acc1, &acc2, &acc3 };
        for (int a = 0; a < 4 && j < n_valid; a++, j += 16) {
            __mmask16 lanes = avx512_lanes16(n_valid - j);
            __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, dst + j), vmax));
            _mm512_mask_storeu_ps(dst + j, lanes, e);
            *acc[a] = _mm512_mask_add_ps(*acc[a], lanes, *acc[a], e);
        }
    }
    __m512 e_sink = exp16(_mm512_sub_ps(_mm512_set1_ps(row->sink), vmax));
    float sum = sum_tree64(acc0, acc1, acc2, acc3) + _mm512_cvtss_f32(e_sink);

    /* Pass 3. */
    float inv = 1.0f / sum;
    __m512 vinv = _mm512_set1_ps(inv);
    for (j = 0; j < n_full; j += 64) {
        _mm512_storeu_ps(dst + j, _mm512_mul_ps(_mm512_loadu_ps(dst + j), vinv));
        _mm512_storeu_ps(dst + j + 16, _mm512_mul_ps(_mm512_loadu_ps(dst + j + 16), vinv));
        _mm512_storeu_ps(dst + j + 32, _mm512_mul_ps(_mm512_loadu_ps(dst + j + 32), vinv));
        _mm512_storeu_ps(dst + j + 48, _mm512_mul_ps(_mm512_loadu_ps(dst + j + 48), vinv));
    }
    for (; j < n_valid; j += 16) {
        __mmask16 lanes = avx512_lanes16(n_valid - j);
        _mm512_mask_storeu_ps(dst + j, lanes, _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, dst + j), vinv));
    }
    __m512 masked = _mm512_set1_ps(0.0f * inv);
    for (j = n_valid; j < row->n_cols; j += 16)
        _mm512_mask_storeu_ps(dst + j, avx512_lanes16(row->n_cols - j), masked);
}

static void row_plain(const posenc_softmax_row *row) { softmax_row(row, POSENC_BIAS_NONE, 0); }
static void row_plain_mask(const posenc_softmax_row *row) { softmax_row(row, POSENC_BIAS_NONE, 1); }
static void row_linear(const posenc_softmax_row *row) { softmax_row(row, POSENC_BIAS_LINEAR, 0); }
static void row_linear_mask(const posenc_softmax_row *row) { softmax_row(row, POSENC_BIAS_LINEAR, 1); }
static void row_abs(const posenc_softmax_row *row) { softmax_row(row, POSENC_BIAS_ABS, 0); }
static void row_abs_mask(const posenc_softmax_row *row) { softmax_row(row, POSENC_BIAS_ABS, 1); }

void posenc_softmax_row_avx512(const posenc_softmax_row *row)
{
    int has_mask = row->mask != NULL;
    switch (row->bias) {
    case POSENC_BIAS_LINEAR:
        has_mask ? row_linear_mask(row) : row_linear(row);
        break;
    case POSENC_BIAS_ABS:
        has_mask ? row_abs_mask(row) : row_abs(row);
        break;
    default:
        has_mask ? row_plain_mask(row) : row_plain(row);
        break;
    }
}
