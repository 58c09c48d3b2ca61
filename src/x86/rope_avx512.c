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

/* ---- element types in registers (numerics.h, "element types") ---------------------------------------- */

/* Every rotation below is one always-inline body instantiated per (src type, dst type, pairing): the type
 * arguments are constants at each call, so each combination compiles to its own loop with no type tests. */
#define T_F32  POSENC_ELEM_F32
#define T_F16  POSENC_ELEM_F16
#define T_BF16 POSENC_ELEM_BF16

static inline size_t elem_size(int32_t type)
{
    return type == T_F32 ? sizeof(float) : sizeof(uint16_t);
}

/* 16 consecutive elements of `type` at p, widened (lanes outside m read as 0 unless full). A NaN widens to some
 * NaN: enough for rotated elements, whose NaN step follows (numerics.h); tails use load16_canonical. */
SIMD_INLINE __m512 load16(int32_t type, const void *p, __mmask16 m, int full)
{
    if (type == T_F32)
        return full ? avx512_in_register(_mm512_loadu_ps(p)) : _mm512_maskz_loadu_ps(m, p);
    __m256i h = full ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskz_loadu_epi16(m, p);
    if (type == T_F16)
        return _mm512_cvtph_ps(h);   /* VCVTPH2PS: exact */
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* y with every NaN lane made POSENC_NAN_BITS. */
SIMD_INLINE __m512 canonical(__m512 y)
{
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(y, y, _CMP_UNORD_Q),
                              _mm512_castsi512_ps(_mm512_set1_epi32((int32_t)POSENC_NAN_BITS)));
}

/* Masked load16 with every NaN made POSENC_NAN_BITS, float32 ones too: the first half of converting an
 * unrotated element to another type, whose rounding then gives the canonical NaN of its type. */
SIMD_INLINE __m512 load16_canonical(int32_t type, const void *p, __mmask16 m)
{
    return canonical(load16(type, p, m, 0));
}

/* Word indices (into the 64 words of two vectors x, y) that gather 32 bf16 roundings at once.
 * CONSECUTIVE: x holds elements 0..15, y 16..31 (as float32 lanes); SPLIT: x the even elements, y the odd. */
static const uint16_t consecutive_idx[2][32] = {
    { 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
      32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 62 },
    { 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31,
      33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63 },
};
static const uint16_t split_idx[2][32] = {
    { 0, 32, 2, 34, 4, 36, 6, 38, 8, 40, 10, 42, 12, 44, 14, 46,
      16, 48, 18, 50, 20, 52, 22, 54, 24, 56, 26, 58, 28, 60, 30, 62 },
    { 1, 33, 3, 35, 5, 37, 7, 39, 9, 41, 11, 43, 13, 45, 15, 47,
      17, 49, 19, 51, 21, 53, 23, 55, 25, 57, 27, 59, 29, 61, 31, 63 },
};
#define CONSECUTIVE 0
#define SPLIT 1

/* 32 float32 rounded to bf16 with numerics.h's rounding on the bit pattern, in 16-bit lanes: with hi and lo the
 * upper and lower halves of a float32's pattern, its bf16 is hi + 1 when lo > 0x8000, or lo == 0x8000 and hi is
 * odd, i.e. when (lo | (hi & 1)) > 0x8000 (unsigned), else hi; the same bits as (x + 0x7fff + lsb) >> 16. Two
 * word permutes gather the halves of both vectors, an OR-AND, a compare and a masked add round 32 at once.
 * Finite and infinite inputs give numerics.h's bits; a NaN input must be canonical first (the caller's NaN
 * step: bf16 destinations check the results' sum and redo or rewrite, see rotate_chunks), which gives 0x7fc0. */
SIMD_INLINE __m512i bf16_pack(__m512 x, __m512 y, int layout)
{
    const uint16_t(*idx)[32] = layout == SPLIT ? split_idx : consecutive_idx;
    __m512i xi = _mm512_castps_si512(x), yi = _mm512_castps_si512(y);
    __m512i lo = _mm512_permutex2var_epi16(xi, _mm512_loadu_si512(idx[0]), yi);
    __m512i hi = _mm512_permutex2var_epi16(xi, _mm512_loadu_si512(idx[1]), yi);
    __m512i t = _mm512_ternarylogic_epi32(lo, hi, _mm512_set1_epi16(1), 0xF8);   /* lo | (hi & 1) */
    __mmask32 up = _mm512_cmpgt_epu16_mask(t, _mm512_set1_epi16((short)0x8000));
    return _mm512_mask_add_epi16(hi, up, hi, _mm512_set1_epi16(1));
}

/* `count` (1, 2 or 4) vectors of 16 consecutive float32 results rounded to `type` and stored at p, vector v
 * under mask m[v] (unless full). f16: VCVTPS2PH rounds every non-NaN as numerics.h does and keeps a NaN a NaN;
 * bf16: rounded two vectors at a time (a lone vector is paired with zeros). */
SIMD_INLINE void store_run(int32_t type, void *p, const __m512 *y, const __mmask16 *m, int count, int full)
{
    for (int v = 0; v < count; v++) {
        char *at = (char *)p + 16 * (size_t)v * elem_size(type);
        if (type == T_F32) {
            if (full)
                _mm512_storeu_ps(at, y[v]);
            else
                _mm512_mask_storeu_ps(at, m[v], y[v]);
        } else if (type == T_F16) {
            __m256i h = _mm512_cvtps_ph(y[v], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            if (full)
                _mm256_storeu_si256((__m256i *)(void *)at, h);
            else
                _mm256_mask_storeu_epi16(at, m[v], h);
        } else if (v + 1 < count) {
            __m512i w = bf16_pack(y[v], y[v + 1], CONSECUTIVE);
            if (full)
                _mm512_storeu_si512(at, w);
            else
                _mm512_mask_storeu_epi16(at, (__mmask32)m[v] | (__mmask32)m[v + 1] << 16, w);
            v++;
        } else {
            __m512i w = bf16_pack(y[v], _mm512_setzero_ps(), CONSECUTIVE);
            _mm256_mask_storeu_epi16(at, full ? (__mmask16)0xffff : m[v], _mm512_castsi512_si256(w));
        }
    }
}

/* bf16 -> bf16, split layout: 32 bf16 (one 512-bit load) are two float vectors without a shuffle, the even
 * elements (word << 16) and the odd ones (word & 0xffff0000); interleaved pairs are exactly (even, odd), and
 * half pairing splits its cos/sin the same way once per chunk. A NaN element widens to a NaN whose low 16 bits
 * are 0, and so does every NaN the rotation makes of them (x86 keeps an operand's payload, or makes 0xffc00000):
 * bf16_pack rounds such a NaN to a NaN, and the post-pass rewrites it canonically. */
SIMD_INLINE void load32_split(const uint16_t *p, __mmask32 m, int full, __m512 *even, __m512 *odd)
{
    __m512i w = full ? avx512_in_register_si(_mm512_loadu_si512(p)) : _mm512_maskz_loadu_epi16(m, p);
    *even = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    *odd = _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32((int32_t)0xffff0000u)));
}

SIMD_INLINE void store32_split(uint16_t *p, __m512 even, __m512 odd, __mmask32 m, int full)
{
    __m512i w = bf16_pack(even, odd, SPLIT);
    if (full)
        _mm512_storeu_si512(p, w);
    else
        _mm512_mask_storeu_epi16(p, m, w);
}

/* ---- rotations ---------------------------------------------------------------------------------------- */

/* Pairs are processed in chunks of 64 (head_dim 128 is one chunk), heads inside a chunk, so each chunk's cos/sin
 * stay in registers across all heads. */
#define CHUNK_PAIRS 64

/* NaN results (numerics.h): every rotated vector is added into a running sum, which a NaN result makes NaN for
 * good (so may inf - inf: a false alarm costs a second pass, nothing else). The adds run on the FP adder ports,
 * which the multiplies and fmas leave idle, where a compare and a blend per vector would compete with them.
 * When the job's sum is NaN: float32 and f16 destinations, and bf16 ones from bf16 (whose NaNs round to NaNs),
 * get posenc_rope_canonicalize_nans; a bf16 destination from float32 or f16 (out of place: src is intact) is
 * rotated again with `careful` set, which makes each result canonical before it is rounded. */

/* One chunk of half pairing, consecutive elements in each vector: pairs [base, base + 64) clipped to n_pairs,
 * for all heads. `full` chunks take unmasked loads and stores. Returns the chunk's sum of results. */
SIMD_INLINE __m512 half_chunk(const posenc_rope_heads *job, size_t base, int full, int32_t st, int32_t dt,
                              int careful)
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
    const size_t ss = elem_size(st), ds = elem_size(dt);
    const char *src = (const char *)job->src + base * ss;
    char *dst = (char *)job->dst + base * ds;
    const size_t n_heads = job->n_heads, src_stride = job->src_head_stride * ss;
    const size_t dst_stride = job->dst_head_stride * ds;
    __m512 sum[4] = { _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps() };
    for (size_t h = 0; h < n_heads; h++) {
        const char *x = src + h * src_stride;
        char *y = dst + h * dst_stride;
        __m512 ya[4], yb[4];
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            __m512 a = load16(st, x + 16 * v * ss, m[v], full);
            __m512 b = load16(st, x + (n + 16 * v) * ss, m[v], full);
            ya[v] = _mm512_fmadd_ps(a, c[v], _mm512_mul_ps(b, neg_s[v]));
            yb[v] = _mm512_fmadd_ps(b, c[v], _mm512_mul_ps(a, s[v]));
            sum[v] = _mm512_add_ps(sum[v], _mm512_add_ps(ya[v], yb[v]));   /* masked-off lanes are 0 */
            if (careful) {
                ya[v] = canonical(ya[v]);
                yb[v] = canonical(yb[v]);
            }
        }
        store_run(dt, y, ya, m, 4, full);
        store_run(dt, y + n * ds, yb, m, 4, full);
    }
    return _mm512_add_ps(_mm512_add_ps(sum[0], sum[1]), _mm512_add_ps(sum[2], sum[3]));
}

/* One chunk of interleaved pairing, consecutive elements: elements [2*base, 2*base + 128) clipped to
 * 2*n_pairs (8 vectors of 8 pairs). cos and sin are duplicated per pair; sin gets the sign of -s on even lanes,
 * so each element is fma(x, c, partner * signed_s) with the partner from swapping adjacent lanes. Returns the
 * chunk's sum of results. */
SIMD_INLINE __m512 interleaved_chunk(const posenc_rope_heads *job, size_t base, int full, int32_t st, int32_t dt,
                                     int careful)
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
    const size_t ss = elem_size(st), ds = elem_size(dt);
    const char *src = (const char *)job->src + 2 * base * ss;
    char *dst = (char *)job->dst + 2 * base * ds;
    const size_t n_heads = job->n_heads, src_stride = job->src_head_stride * ss;
    const size_t dst_stride = job->dst_head_stride * ds;
    __m512 sum[4] = { _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps() };
    for (size_t h = 0; h < n_heads; h++) {
        const char *x = src + h * src_stride;
        char *y = dst + h * dst_stride;
        __m512 yv[8];
#pragma GCC unroll 8
        for (int v = 0; v < 8; v++) {
            __m512 xv = load16(st, x + 16 * v * ss, m[v], full);
            __m512 partner = _mm512_permute_ps(xv, 0xB1);   /* lanes (1,0,3,2,...): swap within each pair */
            yv[v] = _mm512_fmadd_ps(xv, c[v], _mm512_mul_ps(partner, s[v]));
            sum[v / 2] = _mm512_add_ps(sum[v / 2], yv[v]);   /* masked-off lanes are 0 */
            if (careful)
                yv[v] = canonical(yv[v]);
        }
        store_run(dt, y, yv, m, 4, full);
        store_run(dt, y + 64 * ds, yv + 4, m + 4, 4, full);
    }
    return _mm512_add_ps(_mm512_add_ps(sum[0], sum[1]), _mm512_add_ps(sum[2], sum[3]));
}

/* bf16 -> bf16, half pairing, split layout: pairs [base, base + 64) are two 32-word vectors of each half; the
 * chunk's cos/sin are split into even and odd pairs once (a permute each), then no shuffle per head. */
SIMD_INLINE __m512 half_chunk_bf16(const posenc_rope_heads *job, size_t base, int full)
{
    const size_t n = job->n_pairs;
    const __m512i even_idx = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd_idx = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    __mmask32 m[2];
    __m512 ce[2], co[2], se[2], so[2], neg_se[2], neg_so[2];
#pragma GCC unroll 2
    for (int k = 0; k < 2; k++) {
        size_t at = base + 32 * (size_t)k;
        m[k] = full ? (__mmask32)0xffffffffu : at < n ? avx512_lanes32(n - at) : (__mmask32)0;
        __mmask16 lo = (__mmask16)m[k], hi = (__mmask16)(m[k] >> 16);
        __m512 c_lo = _mm512_maskz_loadu_ps(lo, job->cos + at), c_hi = _mm512_maskz_loadu_ps(hi, job->cos + at + 16);
        __m512 s_lo = _mm512_maskz_loadu_ps(lo, job->sin + at), s_hi = _mm512_maskz_loadu_ps(hi, job->sin + at + 16);
        ce[k] = _mm512_permutex2var_ps(c_lo, even_idx, c_hi);
        co[k] = _mm512_permutex2var_ps(c_lo, odd_idx, c_hi);
        se[k] = _mm512_permutex2var_ps(s_lo, even_idx, s_hi);
        so[k] = _mm512_permutex2var_ps(s_lo, odd_idx, s_hi);
        neg_se[k] = avx512_negate(se[k]);
        neg_so[k] = avx512_negate(so[k]);
    }
    const uint16_t *src = (const uint16_t *)job->src + base;
    uint16_t *dst = (uint16_t *)job->dst + base;
    const size_t n_heads = job->n_heads, src_stride = job->src_head_stride, dst_stride = job->dst_head_stride;
    __m512 sum[2] = { _mm512_setzero_ps(), _mm512_setzero_ps() };
    for (size_t h = 0; h < n_heads; h++) {
        const uint16_t *x = src + h * src_stride;
        uint16_t *y = dst + h * dst_stride;
#pragma GCC unroll 2
        for (int k = 0; k < 2; k++) {
            __m512 ae, ao, be, bo;
            load32_split(x + 32 * k, m[k], full, &ae, &ao);
            load32_split(x + n + 32 * k, m[k], full, &be, &bo);
            __m512 yae = _mm512_fmadd_ps(ae, ce[k], _mm512_mul_ps(be, neg_se[k]));
            __m512 yao = _mm512_fmadd_ps(ao, co[k], _mm512_mul_ps(bo, neg_so[k]));
            __m512 ybe = _mm512_fmadd_ps(be, ce[k], _mm512_mul_ps(ae, se[k]));
            __m512 ybo = _mm512_fmadd_ps(bo, co[k], _mm512_mul_ps(ao, so[k]));
            sum[k] = _mm512_add_ps(sum[k], _mm512_add_ps(_mm512_add_ps(yae, yao), _mm512_add_ps(ybe, ybo)));
            store32_split(y + 32 * k, yae, yao, m[k], full);
            store32_split(y + n + 32 * k, ybe, ybo, m[k], full);
        }
    }
    return _mm512_add_ps(sum[0], sum[1]);
}

/* bf16 -> bf16, interleaved pairing, split layout: 32 words are 16 pairs, the even words their first elements
 * and the odd words their second, so cos/sin need no duplication and the partners no swap. */
SIMD_INLINE __m512 interleaved_chunk_bf16(const posenc_rope_heads *job, size_t base, int full)
{
    const size_t n = job->n_pairs;
    __mmask32 m[4];
    __m512 c[4], s[4], neg_s[4];
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        size_t at = base + 16 * (size_t)k;
        __mmask16 pairs = full ? (__mmask16)0xffff : at < n ? avx512_lanes16(n - at) : (__mmask16)0;
        m[k] = full ? (__mmask32)0xffffffffu : at < n ? avx512_lanes32(2 * (n - at)) : (__mmask32)0;
        c[k] = _mm512_maskz_loadu_ps(pairs, job->cos + at);
        s[k] = _mm512_maskz_loadu_ps(pairs, job->sin + at);
        neg_s[k] = avx512_negate(s[k]);
    }
    const uint16_t *src = (const uint16_t *)job->src + 2 * base;
    uint16_t *dst = (uint16_t *)job->dst + 2 * base;
    const size_t n_heads = job->n_heads, src_stride = job->src_head_stride, dst_stride = job->dst_head_stride;
    __m512 sum[2] = { _mm512_setzero_ps(), _mm512_setzero_ps() };
    for (size_t h = 0; h < n_heads; h++) {
        const uint16_t *x = src + h * src_stride;
        uint16_t *y = dst + h * dst_stride;
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            __m512 a, b;
            load32_split(x + 32 * k, m[k], full, &a, &b);
            __m512 ya = _mm512_fmadd_ps(a, c[k], _mm512_mul_ps(b, neg_s[k]));
            __m512 yb = _mm512_fmadd_ps(b, c[k], _mm512_mul_ps(a, s[k]));
            sum[k / 2] = _mm512_add_ps(sum[k / 2], _mm512_add_ps(ya, yb));
            store32_split(y + 32 * k, ya, yb, m[k], full);
        }
    }
    return _mm512_add_ps(sum[0], sum[1]);
}

/* Elements [from, head_dim) of every head: float32 to float32 copies the bits out of place (nothing in place);
 * any other pair of types converts them (widen with the canonical NaN, round). */
SIMD_INLINE void convert_tails(const posenc_rope_heads *job, size_t from, int32_t st, int32_t dt)
{
    if (job->head_dim <= from || (st == T_F32 && dt == T_F32 && job->src == job->dst))
        return;
    const size_t ss = elem_size(st), ds = elem_size(dt);
    for (size_t h = 0; h < job->n_heads; h++) {
        const char *x = (const char *)job->src + h * job->src_head_stride * ss;
        char *y = (char *)job->dst + h * job->dst_head_stride * ds;
        for (size_t j = from; j < job->head_dim; j += 16) {
            __mmask16 m = avx512_lanes16(job->head_dim - j);
            if (st == T_F32 && dt == T_F32) {
                _mm512_mask_storeu_ps(y + j * ds, m, _mm512_maskz_loadu_ps(m, x + j * ss));
            } else {
                __m512 v = load16_canonical(st, x + j * ss, m);
                store_run(dt, y + j * ds, &v, &m, 1, 0);
            }
        }
    }
}

/* Every chunk of the job: full chunks of 64 pairs unmasked, the last partial one masked. Returns the sum of
 * every result (the NaN witness). */
SIMD_INLINE __m512 rotate_all(const posenc_rope_heads *job, int interleaved, int32_t st, int32_t dt, int careful)
{
    size_t n = job->n_pairs, base = 0;
    __m512 witness = _mm512_setzero_ps();
    if (st == T_BF16 && dt == T_BF16) {
        for (; base + CHUNK_PAIRS <= n; base += CHUNK_PAIRS)
            witness = _mm512_add_ps(witness, interleaved ? interleaved_chunk_bf16(job, base, 1)
                                                         : half_chunk_bf16(job, base, 1));
        if (base < n)
            witness = _mm512_add_ps(witness, interleaved ? interleaved_chunk_bf16(job, base, 0)
                                                         : half_chunk_bf16(job, base, 0));
        return witness;
    }
    for (; base + CHUNK_PAIRS <= n; base += CHUNK_PAIRS)
        witness = _mm512_add_ps(witness, interleaved ? interleaved_chunk(job, base, 1, st, dt, careful)
                                                     : half_chunk(job, base, 1, st, dt, careful));
    if (base < n)
        witness = _mm512_add_ps(witness, interleaved ? interleaved_chunk(job, base, 0, st, dt, careful)
                                                     : half_chunk(job, base, 0, st, dt, careful));
    return witness;
}

/* The rotation, the NaN step (above), then the unrotated head tails. The pairing and the types are constants at
 * each call, so every combination keeps its own specialised loops. */
SIMD_INLINE void rotate_typed(const posenc_rope_heads *job, int interleaved, int32_t st, int32_t dt)
{
    __m512 witness = rotate_all(job, interleaved, st, dt, 0);
    if (_mm512_cmp_ps_mask(witness, witness, _CMP_UNORD_Q)) {
        if (dt == T_BF16 && st != T_BF16)
            rotate_all(job, interleaved, st, dt, 1);
        else
            posenc_rope_canonicalize_nans(job);
    }
    convert_tails(job, 2 * job->n_pairs, st, dt);
}

/* One instantiation per (src type, dst type) for a pairing. */
#define ROTATE_TYPED(job, interleaved)                                                                      \
    switch ((job)->src_type * 3 + (job)->dst_type) {                                                        \
    case T_F32 * 3 + T_F32: rotate_typed(job, interleaved, T_F32, T_F32); break;                            \
    case T_F32 * 3 + T_F16: rotate_typed(job, interleaved, T_F32, T_F16); break;                            \
    case T_F32 * 3 + T_BF16: rotate_typed(job, interleaved, T_F32, T_BF16); break;                          \
    case T_F16 * 3 + T_F32: rotate_typed(job, interleaved, T_F16, T_F32); break;                            \
    case T_F16 * 3 + T_F16: rotate_typed(job, interleaved, T_F16, T_F16); break;                            \
    case T_F16 * 3 + T_BF16: rotate_typed(job, interleaved, T_F16, T_BF16); break;                          \
    case T_BF16 * 3 + T_F32: rotate_typed(job, interleaved, T_BF16, T_F32); break;                          \
    case T_BF16 * 3 + T_F16: rotate_typed(job, interleaved, T_BF16, T_F16); break;                          \
    default: rotate_typed(job, interleaved, T_BF16, T_BF16); break;                                         \
    }

void posenc_rope_rotate_half_avx512(const posenc_rope_heads *job)
{
    ROTATE_TYPED(job, 0)
}

void posenc_rope_rotate_interleaved_avx512(const posenc_rope_heads *job)
{
    ROTATE_TYPED(job, 1)
}
