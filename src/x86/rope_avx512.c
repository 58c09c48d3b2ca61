/* rope_avx512.c - RoPE sin/cos and rotations, avx512 bundle (-mavx512f -mavx512bw -mavx512dq -mavx512vl). */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__)
#error "rope_avx512.c needs -mavx512f -mavx512bw -mavx512dq -mavx512vl"
#endif

#include <immintrin.h>
#include <stdint.h>

#include "kernels.h"
#include "numerics.h"
#include "x86/simd_avx512.h"
#include "tpl/sincos_tpl.h"
#include "x86/x86_kernels.h"

/* ---- sin/cos ------------------------------------------------------------------------------------------ */

/* cos/sin of pairs [0, 16) at omega/pos, lanes outside `lanes` neither read nor written (they compute the
 * sin/cos of 0). Two double vectors are reduced and then joined, so the float polynomials run 16 wide. */
static inline void sincos16(const double *omega, const double *pos, __mmask16 lanes, __m512 cos_scale,
                            __m512 sin_scale, float *cos_out, float *sin_out)
{
    __mmask8 lo = (__mmask8)lanes, hi = (__mmask8)(lanes >> 8);
    __m512d theta_lo = _mm512_mul_pd(_mm512_maskz_loadu_pd(lo, pos), _mm512_maskz_loadu_pd(lo, omega));
    __m512d theta_hi = _mm512_mul_pd(_mm512_maskz_loadu_pd(hi, pos + 8), _mm512_maskz_loadu_pd(hi, omega + 8));
    __m512 sin_v, cos_v;
    tpl_sincos(theta_lo, theta_hi, &sin_v, &cos_v);
    _mm512_mask_storeu_ps(cos_out, lanes, _mm512_mul_ps(cos_v, cos_scale));
    _mm512_mask_storeu_ps(sin_out, lanes, _mm512_mul_ps(sin_v, sin_scale));
}

void posenc_rope_sincos_avx512(const double *omega, const double *pos, size_t n_pairs, float cos_scale,
                               float sin_scale, float *cos, float *sin)
{
    __m512 cs = _mm512_set1_ps(cos_scale), ss = _mm512_set1_ps(sin_scale);
    for (size_t i = 0; i < n_pairs; i += 16)
        sincos16(omega + i, pos + i, avx512_lanes16(n_pairs - i), cs, ss, cos + i, sin + i);
}

/* ---- rotations ---------------------------------------------------------------------------------------- */

/* Pairs are processed in chunks of 64 (4 vectors; head_dim 128 is one chunk), heads inside a chunk, so each
 * chunk's cos/sin stay in registers across all heads. */
#define CHUNK_PAIRS 64

/* Copy elements [from, head_dim) of every head when out of place. */
static void copy_head_tails(const posenc_rope_heads *job, size_t from)
{
    if (job->src == job->dst || job->head_dim <= from)
        return;
    for (size_t h = 0; h < job->n_heads; h++) {
        const float *x = job->src + h * job->src_head_stride;
        float *y = job->dst + h * job->dst_head_stride;
        for (size_t j = from; j < job->head_dim; j += 16) {
            __mmask16 m = avx512_lanes16(job->head_dim - j);
            _mm512_mask_storeu_ps(y + j, m, _mm512_maskz_loadu_ps(m, x + j));
        }
    }
}

/* NaN results (numerics.h): every rotated vector is added into a running sum, which a NaN result makes NaN
 * for good (so may inf - inf: a false alarm costs a scan, nothing else); when the job's sum is NaN,
 * posenc_rope_canonicalize_nans rewrites its NaN results. The adds run on the FP adder ports, which the
 * multiplies and fmas leave idle, where a compare and a blend per vector would compete with them. */

/* One chunk of half pairing: pairs [base, base + 64) clipped to n_pairs, for all heads. `full` chunks take
 * unmasked loads and stores. Returns the chunk's sum of results (the NaN witness). */
static inline __attribute__((always_inline)) __m512 half_chunk(const posenc_rope_heads *job, size_t base,
                                                               int full)
{
    size_t n = job->n_pairs;
    __mmask16 m[4];
    __m512 c[4], s[4], neg_s[4];
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++) {
        size_t at = base + 16 * (size_t)v;
        m[v] = full ? (__mmask16)0xffff : at < n ? avx512_lanes16(n - at) : (__mmask16)0;
        c[v] = _mm512_maskz_loadu_ps(m[v], job->cos + at);
        s[v] = _mm512_maskz_loadu_ps(m[v], job->sin + at);
        neg_s[v] = avx512_negate(s[v]);
    }
    const float *src = job->src + base;
    float *dst = job->dst + base;
    const size_t n_heads = job->n_heads, src_stride = job->src_head_stride, dst_stride = job->dst_head_stride;
    __m512 sum[4] = { _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps() };
    for (size_t h = 0; h < n_heads; h++) {
        const float *x = src + h * src_stride;
        float *y = dst + h * dst_stride;
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            __m512 a, b;
            if (full) {
                a = avx512_in_register(_mm512_loadu_ps(x + 16 * v));
                b = avx512_in_register(_mm512_loadu_ps(x + n + 16 * v));
            } else {
                a = _mm512_maskz_loadu_ps(m[v], x + 16 * v);
                b = _mm512_maskz_loadu_ps(m[v], x + n + 16 * v);
            }
            __m512 ya = _mm512_fmadd_ps(a, c[v], _mm512_mul_ps(b, neg_s[v]));
            __m512 yb = _mm512_fmadd_ps(b, c[v], _mm512_mul_ps(a, s[v]));
            if (full) {
                _mm512_storeu_ps(y + 16 * v, ya);
                _mm512_storeu_ps(y + n + 16 * v, yb);
            } else {
                _mm512_mask_storeu_ps(y + 16 * v, m[v], ya);
                _mm512_mask_storeu_ps(y + n + 16 * v, m[v], yb);
            }
            sum[v] = _mm512_add_ps(sum[v], _mm512_add_ps(ya, yb));   /* masked-off lanes are 0 */
        }
    }
    return _mm512_add_ps(_mm512_add_ps(sum[0], sum[1]), _mm512_add_ps(sum[2], sum[3]));
}

/* One chunk of interleaved pairing: elements [2*base, 2*base + 128) clipped to 2*n_pairs (8 vectors of 8
 * pairs). cos and sin are duplicated per pair; sin gets the sign of -s on even lanes, so each element is
 * fma(x, c, partner * signed_s) with the partner from swapping adjacent lanes. Returns the NaN witness. */
static inline __attribute__((always_inline)) __m512 interleaved_chunk(const posenc_rope_heads *job, size_t base,
                                                                      int full)
{
    size_t n_elems = 2 * job->n_pairs;
    const __m512i dup_lo = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __m512i dup_hi = _mm512_set_epi32(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8);
    const __m512i even_sign = _mm512_set_epi32(0, INT32_MIN, 0, INT32_MIN, 0, INT32_MIN, 0, INT32_MIN,
                                               0, INT32_MIN, 0, INT32_MIN, 0, INT32_MIN, 0, INT32_MIN);
    __mmask16 m[8];
    __m512 c[8], s[8];
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        size_t at = base + 16 * (size_t)k;
        __mmask16 pairs = full ? (__mmask16)0xffff : at < job->n_pairs ? avx512_lanes16(job->n_pairs - at)
                                                                        : (__mmask16)0;
        __m512 c16 = _mm512_maskz_loadu_ps(pairs, job->cos + at);
        __m512 s16 = _mm512_maskz_loadu_ps(pairs, job->sin + at);
        c[2 * k] = _mm512_permutexvar_ps(dup_lo, c16);
        c[2 * k + 1] = _mm512_permutexvar_ps(dup_hi, c16);
        s[2 * k] = _mm512_castsi512_ps(
            _mm512_xor_si512(_mm512_castps_si512(_mm512_permutexvar_ps(dup_lo, s16)), even_sign));
        s[2 * k + 1] = _mm512_castsi512_ps(
            _mm512_xor_si512(_mm512_castps_si512(_mm512_permutexvar_ps(dup_hi, s16)), even_sign));
    }
#pragma GCC unroll 8
    for (int v = 0; v < 8; v++) {
        size_t at = 2 * base + 16 * (size_t)v;
        m[v] = full ? (__mmask16)0xffff : at < n_elems ? avx512_lanes16(n_elems - at) : (__mmask16)0;
    }
    const float *src = job->src + 2 * base;
    float *dst = job->dst + 2 * base;
    const size_t n_heads = job->n_heads, src_stride = job->src_head_stride, dst_stride = job->dst_head_stride;
    __m512 sum[4] = { _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps() };
    for (size_t h = 0; h < n_heads; h++) {
        const float *x = src + h * src_stride;
        float *y = dst + h * dst_stride;
#pragma GCC unroll 8
        for (int v = 0; v < 8; v++) {
            __m512 xv = full ? avx512_in_register(_mm512_loadu_ps(x + 16 * v))
                             : _mm512_maskz_loadu_ps(m[v], x + 16 * v);
            __m512 partner = _mm512_permute_ps(xv, 0xB1);   /* lanes (1,0,3,2,...): swap within each pair */
            __m512 yv = _mm512_fmadd_ps(xv, c[v], _mm512_mul_ps(partner, s[v]));
            if (full)
                _mm512_storeu_ps(y + 16 * v, yv);
            else
                _mm512_mask_storeu_ps(y + 16 * v, m[v], yv);
            sum[v / 2] = _mm512_add_ps(sum[v / 2], yv);   /* masked-off lanes are 0 */
        }
    }
    return _mm512_add_ps(_mm512_add_ps(sum[0], sum[1]), _mm512_add_ps(sum[2], sum[3]));
}

/* Full chunks of 64 pairs unmasked, the last partial one masked, then the unrotated head tails. `interleaved`
 * is a constant at each call, so each pairing keeps its own specialised loops. */
static inline __attribute__((always_inline)) void rotate_chunks(const posenc_rope_heads *job, int interleaved)
{
    size_t n = job->n_pairs;
    size_t base = 0;
    __m512 witness = _mm512_setzero_ps();
    for (; base + CHUNK_PAIRS <= n; base += CHUNK_PAIRS)
        witness = _mm512_add_ps(witness, interleaved ? interleaved_chunk(job, base, 1) : half_chunk(job, base, 1));
    if (base < n)
        witness = _mm512_add_ps(witness, interleaved ? interleaved_chunk(job, base, 0) : half_chunk(job, base, 0));
    if (_mm512_cmp_ps_mask(witness, witness, _CMP_UNORD_Q))
        posenc_rope_canonicalize_nans(job);
    copy_head_tails(job, 2 * n);
}

void posenc_rope_rotate_half_avx512(const posenc_rope_heads *job)
{
    rotate_chunks(job, 0);
}

void posenc_rope_rotate_interleaved_avx512(const posenc_rope_heads *job)
{
    rotate_chunks(job, 1);
}
