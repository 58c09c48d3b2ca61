/* rope_avx2.c - RoPE kernels for the avx2 bundle (AVX2 + FMA; built with -mavx2 -mfma): sincos, rotations. */
#if !defined(__AVX2__) || !defined(__FMA__)
#error "rope_avx2.c belongs to the avx2 bundle: compile with -mavx2 -mfma"
#endif

#include <immintrin.h>
#include <string.h>

#include "kernels.h"
#include "numerics.h"
#include "x86/simd_avx2.h"
#include "tpl/sincos_tpl.h"
#include "x86/x86_kernels.h"

/* ---- sin/cos ------------------------------------------------------------------------------------------------ */

/* cos/sin of 8 angles: pairs [0, live) of omega/pos; lanes beyond live are neither read nor written. */
static inline void sincos8(const double *omega, const double *pos, size_t live, __m256 cos_scale,
                           __m256 sin_scale, float *cos_out, float *sin_out)
{
    __m256d om_lo, om_hi, pos_lo, pos_hi;
    if (live >= 8) {
        om_lo = _mm256_loadu_pd(omega);
        om_hi = _mm256_loadu_pd(omega + 4);
        pos_lo = _mm256_loadu_pd(pos);
        pos_hi = _mm256_loadu_pd(pos + 4);
    } else {
        /* Masked-off lanes read as 0.0: theta = 0, harmless, and never stored. */
        __m256i m_lo = avx2_lanes_below_pd(live);
        __m256i m_hi = avx2_lanes_below_pd(live > 4 ? live - 4 : 0);
        om_lo = _mm256_maskload_pd(omega, m_lo);
        om_hi = _mm256_maskload_pd(omega + 4, m_hi);
        pos_lo = _mm256_maskload_pd(pos, m_lo);
        pos_hi = _mm256_maskload_pd(pos + 4, m_hi);
    }
    __m256 sin_v, cos_v;
    tpl_sincos(_mm256_mul_pd(pos_lo, om_lo), _mm256_mul_pd(pos_hi, om_hi), &sin_v, &cos_v);
    __m256 cos_res = _mm256_mul_ps(cos_v, cos_scale);
    __m256 sin_res = _mm256_mul_ps(sin_v, sin_scale);
    if (live >= 8) {
        _mm256_storeu_ps(cos_out, cos_res);
        _mm256_storeu_ps(sin_out, sin_res);
    } else {
        __m256i m = avx2_lanes_below(live);
        _mm256_maskstore_ps(cos_out, m, cos_res);
        _mm256_maskstore_ps(sin_out, m, sin_res);
    }
}

void posenc_rope_sincos_avx2(const double *omega, const double *pos, size_t n_pairs, float cos_scale,
                             float sin_scale, float *cos, float *sin)
{
    const __m256 cs = _mm256_set1_ps(cos_scale), ss = _mm256_set1_ps(sin_scale);
    size_t i = 0;
    for (; i + 8 <= n_pairs; i += 8)
        sincos8(omega + i, pos + i, 8, cs, ss, cos + i, sin + i);
    if (i < n_pairs)
        sincos8(omega + i, pos + i, n_pairs - i, cs, ss, cos + i, sin + i);
}

/* ---- rotations ---------------------------------------------------------------------------------------------- */

/* Copy the unrotated rest of a head when out of place (as the scalar reference does). */
static inline void copy_unrotated(const posenc_rope_heads *job, const float *x, float *y)
{
    size_t rotary_dim = 2 * job->n_pairs;
    if (x != y && job->head_dim > rotary_dim)
        memcpy(y + rotary_dim, x + rotary_dim, (job->head_dim - rotary_dim) * sizeof(float));
}

/* NaN results (numerics.h): every rotated vector is added into a running sum, which a NaN result makes NaN
 * for good (so may inf - inf: a false alarm costs a scan, nothing else); when the call's sum is NaN,
 * posenc_rope_canonicalize_nans rewrites its NaN results. One add per vector on the fast path. */
static inline int witness_is_nan(__m256 witness)
{
    return _mm256_movemask_ps(_mm256_cmp_ps(witness, witness, _CMP_UNORD_Q)) != 0;
}

/* Half pairing: a = x[i], b = x[i + n]. a' = fma(a, c, b * -s), b' = fma(b, c, a * s). Within one block both
 * halves are loaded before either is stored, and the blocks of a and b never overlap, so in place is safe. */

/* The 8 pairs at x[i], x[i + n] into y; returns a' + b' for the witness. */
static inline __m256 rotate8_half(const float *x, float *y, size_t i, size_t n, const float *cos, const float *sin)
{
    __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + n);
    __m256 c = _mm256_loadu_ps(cos + i), s = _mm256_loadu_ps(sin + i);
    __m256 ya = _mm256_fmadd_ps(a, c, _mm256_mul_ps(b, avx2_negate(s)));
    __m256 yb = _mm256_fmadd_ps(b, c, _mm256_mul_ps(a, s));
    _mm256_storeu_ps(y + i, ya);
    _mm256_storeu_ps(y + i + n, yb);
    return _mm256_add_ps(ya, yb);
}

void posenc_rope_rotate_half_avx2(const posenc_rope_heads *job)
{
    const size_t n = job->n_pairs;
    const size_t full = n & ~(size_t)7;
    const __m256i tail = avx2_lanes_below(n - full);
    /* Two witness sums, each fed every other block, so that the adds' latency never paces the loop. */
    __m256 witness = _mm256_setzero_ps(), witness2 = _mm256_setzero_ps();
    for (size_t h = 0; h < job->n_heads; h++) {
        const float *x = job->src + h * job->src_head_stride;
        float *y = job->dst + h * job->dst_head_stride;
        size_t i = 0;
        for (; i + 16 <= full; i += 16) {
            witness = _mm256_add_ps(witness, rotate8_half(x, y, i, n, job->cos, job->sin));
            witness2 = _mm256_add_ps(witness2, rotate8_half(x, y, i + 8, n, job->cos, job->sin));
        }
        if (i < full)
            witness = _mm256_add_ps(witness, rotate8_half(x, y, i, n, job->cos, job->sin));
        if (full < n) {
            __m256 a = _mm256_maskload_ps(x + full, tail), b = _mm256_maskload_ps(x + full + n, tail);
            __m256 c = _mm256_maskload_ps(job->cos + full, tail), s = _mm256_maskload_ps(job->sin + full, tail);
            __m256 ya = _mm256_fmadd_ps(a, c, _mm256_mul_ps(b, avx2_negate(s)));
            __m256 yb = _mm256_fmadd_ps(b, c, _mm256_mul_ps(a, s));
            _mm256_maskstore_ps(y + full, tail, ya);
            _mm256_maskstore_ps(y + full + n, tail, yb);
            witness2 = _mm256_add_ps(witness2, _mm256_add_ps(ya, yb));   /* masked-off lanes are 0 */
        }
        copy_unrotated(job, x, y);
    }
    if (witness_is_nan(_mm256_add_ps(witness, witness2)))
        posenc_rope_canonicalize_nans(job);
}

/* Interleaved pairing: a = x[2i], b = x[2i+1]. Every element is y = fma(x, c, partner * signed_s), so one
 * vector of 4 pairs needs c duplicated per pair, s duplicated with the even (first) lanes negated, and the
 * partners swapped within each pair. The duplicated tables are built once per call (per block of pairs) and
 * reused by every head; the tables stay on the stack. */
#define INTERLEAVED_BLOCK_PAIRS 256

/* 8 elements (4 pairs) at x with the duplicated tables at c_dup / s_dup (aligned). */
static inline __m256 rotate8_interleaved(const float *x, const float *c_dup, const float *s_dup)
{
    __m256 v = _mm256_loadu_ps(x);
    __m256 partner = _mm256_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1));
    return _mm256_fmadd_ps(v, _mm256_load_ps(c_dup), _mm256_mul_ps(partner, _mm256_load_ps(s_dup)));
}

void posenc_rope_rotate_interleaved_avx2(const posenc_rope_heads *job)
{
    _Alignas(32) float cos_dup[2 * INTERLEAVED_BLOCK_PAIRS];
    _Alignas(32) float sin_dup[2 * INTERLEAVED_BLOCK_PAIRS];
    const __m256i dup_lo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    const __m256i dup_hi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
    const __m256 even_sign = _mm256_setr_ps(-0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f);

    __m256 witness = _mm256_setzero_ps(), witness2 = _mm256_setzero_ps();
    for (size_t first = 0; first < job->n_pairs; first += INTERLEAVED_BLOCK_PAIRS) {
        size_t pairs = job->n_pairs - first;
        if (pairs > INTERLEAVED_BLOCK_PAIRS)
            pairs = INTERLEAVED_BLOCK_PAIRS;

        /* Lanes past `pairs` in the last 8-pair group load as 0 and are never stored to a head. */
        for (size_t i = 0; i < pairs; i += 8) {
            __m256i m = avx2_lanes_below(pairs - i);
            __m256 c = _mm256_maskload_ps(job->cos + first + i, m);
            __m256 s = _mm256_maskload_ps(job->sin + first + i, m);
            _mm256_store_ps(cos_dup + 2 * i, _mm256_permutevar8x32_ps(c, dup_lo));
            _mm256_store_ps(cos_dup + 2 * i + 8, _mm256_permutevar8x32_ps(c, dup_hi));
            _mm256_store_ps(sin_dup + 2 * i, _mm256_xor_ps(_mm256_permutevar8x32_ps(s, dup_lo), even_sign));
            _mm256_store_ps(sin_dup + 2 * i + 8, _mm256_xor_ps(_mm256_permutevar8x32_ps(s, dup_hi), even_sign));
        }

        const size_t elems = 2 * pairs;
        const size_t full = elems & ~(size_t)7;
        const __m256i tail = avx2_lanes_below(elems - full);   /* an even count: pairs are never split */
        for (size_t h = 0; h < job->n_heads; h++) {
            const float *x = job->src + h * job->src_head_stride + 2 * first;
            float *y = job->dst + h * job->dst_head_stride + 2 * first;
            /* Two witness sums, each fed every other block, so that the adds' latency never paces the loop. */
            size_t k = 0;
            for (; k + 16 <= full; k += 16) {
                __m256 r = rotate8_interleaved(x + k, cos_dup + k, sin_dup + k);
                __m256 r2 = rotate8_interleaved(x + k + 8, cos_dup + k + 8, sin_dup + k + 8);
                _mm256_storeu_ps(y + k, r);
                _mm256_storeu_ps(y + k + 8, r2);
                witness = _mm256_add_ps(witness, r);
                witness2 = _mm256_add_ps(witness2, r2);
            }
            if (k < full) {
                __m256 r = rotate8_interleaved(x + k, cos_dup + k, sin_dup + k);
                _mm256_storeu_ps(y + k, r);
                witness = _mm256_add_ps(witness, r);
            }
            if (full < elems) {
                __m256 v = _mm256_maskload_ps(x + full, tail);
                __m256 partner = _mm256_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1));
                __m256 r = _mm256_fmadd_ps(v, _mm256_load_ps(cos_dup + full),
                                           _mm256_mul_ps(partner, _mm256_load_ps(sin_dup + full)));
                _mm256_maskstore_ps(y + full, tail, r);
                witness2 = _mm256_add_ps(witness2, r);   /* masked-off lanes are 0 */
            }
        }
    }
    if (witness_is_nan(_mm256_add_ps(witness, witness2)))
        posenc_rope_canonicalize_nans(job);
    for (size_t h = 0; h < job->n_heads; h++)
        copy_unrotated(job, job->src + h * job->src_head_stride, job->dst + h * job->dst_head_stride);
}
