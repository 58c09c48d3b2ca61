/* rope_avx2.c - RoPE kernels for the avx2 bundle (AVX2 + FMA + F16C; -mavx2 -mfma -mf16c): sincos, rotations. */
#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "rope_avx2.c belongs to the avx2 bundle: compile with -mavx2 -mfma -mf16c"
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

/* ---- element types in registers (numerics.h, "element types") ---------------------------------------------- */

/* Every rotation below is one always-inline body instantiated per (src type, dst type, pairing): the type
 * arguments are constants at each call, so each combination compiles to its own loop with no type tests. */
#define T_F32  POSENC_ELEM_F32
#define T_F16  POSENC_ELEM_F16
#define T_BF16 POSENC_ELEM_BF16

static inline size_t elem_size(int32_t type)
{
    return type == T_F32 ? sizeof(float) : sizeof(uint16_t);
}

/* 8 consecutive elements of `type` at p, widened. A NaN widens to some NaN: enough for rotated elements, whose
 * NaN step follows (numerics.h). */
SIMD_INLINE __m256 load8(int32_t type, const void *p)
{
    if (type == T_F32)
        return _mm256_loadu_ps(p);
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (type == T_F16)
        return _mm256_cvtph_ps(h);   /* VCVTPH2PS (F16C): exact */
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* y with every NaN lane made POSENC_NAN_BITS. */
SIMD_INLINE __m256 canonical(__m256 y)
{
    return _mm256_blendv_ps(y, _mm256_castsi256_ps(_mm256_set1_epi32((int32_t)POSENC_NAN_BITS)),
                            _mm256_cmp_ps(y, y, _CMP_UNORD_Q));
}

/* numerics.h's bf16 rounding on the bit pattern, x + 0x7fff + bit 16 of x: the bf16 is the high half of each
 * lane. A NaN must be canonical first (the callers' NaN step, see rotate_typed). */
SIMD_INLINE __m256i bf16_round(__m256 y)
{
    __m256i x = _mm256_castps_si256(y);
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    return _mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)), odd);
}

/* 8 float32 results rounded to `type` and stored as consecutive elements at p. f16: VCVTPS2PH rounds every
 * non-NaN as numerics.h does and keeps a NaN a NaN. */
SIMD_INLINE void store8(int32_t type, void *p, __m256 y)
{
    if (type == T_F32) {
        _mm256_storeu_ps(p, y);
    } else if (type == T_F16) {
        _mm_storeu_si128((__m128i *)p, _mm256_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    } else {
        __m256i t = _mm256_srli_epi32(bf16_round(y), 16);
        _mm_storeu_si128((__m128i *)p, _mm_packus_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1)));
    }
}

/* bf16 -> bf16, split layout: 16 bf16 (one 256-bit load) are two float vectors without a shuffle, the even
 * elements (word << 16) and the odd ones (word & 0xffff0000); store16_split rounds and interleaves them back. A
 * NaN element widens to a NaN whose low 16 bits are 0, and so does every NaN the rotation makes of them (x86
 * keeps an operand's payload, or makes 0xffc00000): the rounding keeps such a NaN a NaN, and the post-pass
 * rewrites it canonically. */
SIMD_INLINE void load16_split(const uint16_t *p, __m256 *even, __m256 *odd)
{
    __m256i w = _mm256_castps_si256(avx2_in_register(_mm256_loadu_ps((const float *)(const void *)p)));
    *even = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
    *odd = _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32((int32_t)0xffff0000u)));
}

/* The inverse: the even and odd results rounded to bf16 (numerics.h) in 16-bit lanes and stored as 16 words.
 * With hi and lo the halves of a float32 pattern, its bf16 is hi + 1 when lo > 0x8000, or lo == 0x8000 and hi
 * is odd, i.e. when (lo | (hi & 1)) > 0x8000 unsigned, else hi: the same bits as (x + 0x7fff + lsb) >> 16. Two
 * blends gather the halves of both vectors; the unsigned compare is a signed one on lo ^ 0x8000. */
SIMD_INLINE void store16_split(uint16_t *p, __m256 even, __m256 odd)
{
    __m256i e = _mm256_castps_si256(even), o = _mm256_castps_si256(odd);
    __m256i hi = _mm256_blend_epi16(_mm256_srli_epi32(e, 16), o, 0xAA);
    __m256i lo = _mm256_blend_epi16(e, _mm256_slli_epi32(o, 16), 0xAA);
    __m256i t = _mm256_or_si256(lo, _mm256_and_si256(hi, _mm256_set1_epi16(1)));
    __m256i up = _mm256_cmpgt_epi16(_mm256_xor_si256(t, _mm256_set1_epi16((short)0x8000)), _mm256_setzero_si256());
    _mm256_storeu_si256((__m256i *)p, _mm256_sub_epi16(hi, up));   /* hi - (-1) where it rounds up */
}

/* ---- rotations ---------------------------------------------------------------------------------------------- */

/* NaN results (numerics.h): every rotated vector is added into a running sum, which a NaN result makes NaN for
 * good (so may inf - inf: a false alarm costs a second pass, nothing else). When the call's sum is NaN: float32
 * and f16 destinations, and bf16 ones from bf16 (whose NaNs round to NaNs), get posenc_rope_canonicalize_nans;
 * a bf16 destination from float32 or f16 (out of place: src is intact) is rotated again with `careful` set,
 * which makes each result canonical before it is rounded. One add per vector on the fast path. */
static inline int witness_is_nan(__m256 witness)
{
    return _mm256_movemask_ps(_mm256_cmp_ps(witness, witness, _CMP_UNORD_Q)) != 0;
}

/* Elements the tails go through: a block's partial vectors are copied into zero-padded buffers of this many
 * bytes, rotated by the very same vector code, and copied back. */
#define PAD_BYTES 64

/* Half pairing, consecutive elements: a = x[i], b = x[i + n], a' = fma(a, c, b * -s), b' = fma(b, c, a * s).
 * The 8 pairs at element i of the rows x, y (bytes) with tables c, s; returns a' + b' for the witness. Both
 * halves are loaded before either is stored, and the blocks of a and b never overlap, so in place is safe. */
SIMD_INLINE __m256 half8(const char *x, char *y, size_t i, size_t n, const float *c, const float *s, int32_t st,
                         int32_t dt, int careful)
{
    const size_t ss = elem_size(st), ds = elem_size(dt);
    __m256 a = avx2_in_register(load8(st, x + i * ss)), b = avx2_in_register(load8(st, x + (i + n) * ss));
    __m256 cv = _mm256_loadu_ps(c), sv = _mm256_loadu_ps(s);
    __m256 ya = _mm256_fmadd_ps(a, cv, _mm256_mul_ps(b, avx2_negate(sv)));
    __m256 yb = _mm256_fmadd_ps(b, cv, _mm256_mul_ps(a, sv));
    __m256 sum = _mm256_add_ps(ya, yb);
    if (careful) {
        ya = canonical(ya);
        yb = canonical(yb);
    }
    store8(dt, y + i * ds, ya);
    store8(dt, y + (i + n) * ds, yb);
    return sum;
}

SIMD_INLINE __m256 rotate_half(const posenc_rope_heads *job, int32_t st, int32_t dt, int careful)
{
    /* The job's fields in locals: a store through y may alias *job as far as the compiler knows, and a reload of
     * job->cos after every store would also wait on that store. */
    const size_t n = job->n_pairs, full = n & ~(size_t)7, ss = elem_size(st), ds = elem_size(dt);
    const size_t n_heads = job->n_heads, src_stride = job->src_head_stride * ss;
    const size_t dst_stride = job->dst_head_stride * ds;
    const float *cos = job->cos, *sin = job->sin;
    const char *src = job->src;
    char *dst = job->dst;
    /* Two witness sums, each fed every other block, so that the adds' latency never paces the loop. */
    __m256 witness = _mm256_setzero_ps(), witness2 = _mm256_setzero_ps();
    for (size_t h = 0; h < n_heads; h++) {
        const char *x = src + h * src_stride;
        char *y = dst + h * dst_stride;
        size_t i = 0;
        for (; i + 16 <= full; i += 16) {
            witness = _mm256_add_ps(witness, half8(x, y, i, n, cos + i, sin + i, st, dt, careful));
            witness2 = _mm256_add_ps(witness2, half8(x, y, i + 8, n, cos + i + 8, sin + i + 8, st, dt, careful));
        }
        if (i < full)
            witness = _mm256_add_ps(witness, half8(x, y, i, n, cos + i, sin + i, st, dt, careful));
        if (full < n) {
            /* The last r < 8 pairs: a and b zero-padded to 8 each (padding rotates to 0 and is never stored). */
            size_t r = n - full;
            _Alignas(32) char in[PAD_BYTES] = { 0 }, out[PAD_BYTES];
            float c[8] = { 0 }, s[8] = { 0 };
            memcpy(in, x + full * ss, r * ss);
            memcpy(in + 8 * ss, x + (full + n) * ss, r * ss);
            memcpy(c, cos + full, r * sizeof(float));
            memcpy(s, sin + full, r * sizeof(float));
            witness2 = _mm256_add_ps(witness2, half8(in, out, 0, 8, c, s, st, dt, careful));
            memcpy(y + full * ds, out, r * ds);
            memcpy(y + (full + n) * ds, out + 8 * ds, r * ds);
        }
    }
    return _mm256_add_ps(witness, witness2);
}

/* Interleaved pairing: a = x[2i], b = x[2i+1]. Every element is y = fma(x, c, partner * signed_s), so one
 * vector of 4 pairs needs c duplicated per pair, s duplicated with the even (first) lanes negated, and the
 * partners swapped within each pair. The duplicated tables are built once per call (per block of pairs) and
 * reused by every head; the tables stay on the stack. */
#define INTERLEAVED_BLOCK_PAIRS 256

/* 8 elements (4 pairs) at x with the duplicated tables at c_dup / s_dup (aligned) into y. */
SIMD_INLINE __m256 interleaved8(const char *x, char *y, const float *c_dup, const float *s_dup, int32_t st, int32_t dt,
                                int careful)
{
    __m256 v = avx2_in_register(load8(st, x));
    __m256 partner = _mm256_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1));
    __m256 r = _mm256_fmadd_ps(v, _mm256_load_ps(c_dup), _mm256_mul_ps(partner, _mm256_load_ps(s_dup)));
    store8(dt, y, careful ? canonical(r) : r);
    return r;
}

SIMD_INLINE __m256 rotate_interleaved(const posenc_rope_heads *job, int32_t st, int32_t dt, int careful)
{
    _Alignas(32) float cos_dup[2 * INTERLEAVED_BLOCK_PAIRS];
    _Alignas(32) float sin_dup[2 * INTERLEAVED_BLOCK_PAIRS];
    const __m256i dup_lo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    const __m256i dup_hi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
    const __m256 even_sign = _mm256_setr_ps(-0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f);
    const size_t ss = elem_size(st), ds = elem_size(dt);

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
        const size_t n_heads = job->n_heads, src_stride = job->src_head_stride * ss;
        const size_t dst_stride = job->dst_head_stride * ds;
        const char *src = (const char *)job->src + 2 * first * ss;
        char *dst = (char *)job->dst + 2 * first * ds;
        for (size_t h = 0; h < n_heads; h++) {
            const char *x = src + h * src_stride;
            char *y = dst + h * dst_stride;
            /* Two witness sums, each fed every other block, so that the adds' latency never paces the loop. */
            size_t k = 0;
            for (; k + 16 <= full; k += 16) {
                witness = _mm256_add_ps(witness, interleaved8(x + k * ss, y + k * ds, cos_dup + k, sin_dup + k,
                                                              st, dt, careful));
                witness2 = _mm256_add_ps(witness2, interleaved8(x + (k + 8) * ss, y + (k + 8) * ds,
                                                                cos_dup + k + 8, sin_dup + k + 8, st, dt, careful));
            }
            if (k < full)
                witness = _mm256_add_ps(witness, interleaved8(x + k * ss, y + k * ds, cos_dup + k, sin_dup + k, st,
                                                              dt, careful));
            if (full < elems) {
                /* An even count below 8 (pairs are never split), zero-padded; the duplicated tables' lanes past
                 * `pairs` are 0, so the padding rotates to 0 and is never stored. */
                _Alignas(32) char in[PAD_BYTES] = { 0 }, out[PAD_BYTES];
                memcpy(in, x + full * ss, (elems - full) * ss);
                witness2 = _mm256_add_ps(witness2, interleaved8(in, out, cos_dup + full, sin_dup + full, st, dt,
                                                                careful));
                memcpy(y + full * ds, out, (elems - full) * ds);
            }
        }
    }
    return _mm256_add_ps(witness, witness2);
}

/* bf16 -> bf16 in the split layout. Half pairing: 16 pairs of each half per block, cos/sin split into even and
 * odd pairs once per call (on the stack); interleaved: 16 words are 8 pairs, (even, odd) = (a, b), so cos/sin
 * are used as they are and the partners need no swap. */
SIMD_INLINE __m256 rotate16_split(const uint16_t *x, uint16_t *y, size_t b_offset, const float *ce, const float *co,
                                  const float *se, const float *so, int interleaved)
{
    __m256 ae, ao, be, bo, yae, yao, ybe, ybo;
    if (interleaved) {
        load16_split(x, &ae, &be);   /* even words are first elements (a), odd words second (b) */
        __m256 c = _mm256_loadu_ps(ce), s = _mm256_loadu_ps(se);
        yae = _mm256_fmadd_ps(ae, c, _mm256_mul_ps(be, avx2_negate(s)));
        ybe = _mm256_fmadd_ps(be, c, _mm256_mul_ps(ae, s));
        store16_split(y, yae, ybe);
        return _mm256_add_ps(yae, ybe);
    }
    load16_split(x, &ae, &ao);
    load16_split(x + b_offset, &be, &bo);
    __m256 c_e = _mm256_loadu_ps(ce), c_o = _mm256_loadu_ps(co), s_e = _mm256_loadu_ps(se), s_o = _mm256_loadu_ps(so);
    yae = _mm256_fmadd_ps(ae, c_e, _mm256_mul_ps(be, avx2_negate(s_e)));
    yao = _mm256_fmadd_ps(ao, c_o, _mm256_mul_ps(bo, avx2_negate(s_o)));
    ybe = _mm256_fmadd_ps(be, c_e, _mm256_mul_ps(ae, s_e));
    ybo = _mm256_fmadd_ps(bo, c_o, _mm256_mul_ps(ao, s_o));
    store16_split(y, yae, yao);
    store16_split(y + b_offset, ybe, ybo);
    return _mm256_add_ps(_mm256_add_ps(yae, yao), _mm256_add_ps(ybe, ybo));
}

SIMD_INLINE __m256 rotate_bf16(const posenc_rope_heads *job, int interleaved)
{
    const size_t n = job->n_pairs;
    /* Pairs per block: 16 of each half (half pairing) or 8 (interleaved: 16 words). */
    const size_t block = interleaved ? 8 : 16, full = n - n % block;
    _Alignas(32) float split[4][POSENC_MAX_PAIRS / 2 + 8];   /* cos even, cos odd, sin even, sin odd per block */
    const float *ce = job->cos, *co = job->cos, *se = job->sin, *so = job->sin;
    if (!interleaved) {
        const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);   /* evens to the low lane, odds high */
        for (size_t i = 0; i < n; i += 16) {
            float c[16] = { 0 }, s[16] = { 0 };
            memcpy(c, job->cos + i, (n - i < 16 ? n - i : 16) * sizeof(float));
            memcpy(s, job->sin + i, (n - i < 16 ? n - i : 16) * sizeof(float));
            for (int t = 0; t < 2; t++) {
                const float *src = t ? s : c;
                __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(src), even);
                __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(src + 8), even);
                _mm256_store_ps(split[2 * t] + i / 2, _mm256_permute2f128_ps(lo, hi, 0x20));
                _mm256_store_ps(split[2 * t + 1] + i / 2, _mm256_permute2f128_ps(lo, hi, 0x31));
            }
        }
        ce = split[0], co = split[1], se = split[2], so = split[3];
    }
    __m256 witness = _mm256_setzero_ps(), witness2 = _mm256_setzero_ps();
    const size_t n_heads = job->n_heads, src_stride = job->src_head_stride, dst_stride = job->dst_head_stride;
    const uint16_t *src = job->src;
    uint16_t *dst = job->dst;
    for (size_t h = 0; h < n_heads; h++) {
        const uint16_t *x = src + h * src_stride;
        uint16_t *y = dst + h * dst_stride;
        for (size_t i = 0; i < full; i += block) {
            size_t at = interleaved ? 2 * i : i, t = interleaved ? i : i / 2;
            __m256 r = rotate16_split(x + at, y + at, n, ce + t, co + t, se + t, so + t, interleaved);
            if ((i / block) & 1)
                witness2 = _mm256_add_ps(witness2, r);
            else
                witness = _mm256_add_ps(witness, r);
        }
        if (full < n) {
            /* The last pairs zero-padded to a block (the tables' lanes past n are 0 too). */
            size_t r = (n - full) * (interleaved ? 2 : 1), t = interleaved ? full : full / 2;
            uint16_t in[32] = { 0 }, out[32];
            size_t at = interleaved ? 2 * full : full;
            float c[8] = { 0 }, s[8] = { 0 };
            const float *tce = ce + t, *tse = se + t;
            if (interleaved) {
                memcpy(c, job->cos + full, (n - full) * sizeof(float));
                memcpy(s, job->sin + full, (n - full) * sizeof(float));
                tce = c, tse = s;
            }
            memcpy(in, x + at, r * sizeof(uint16_t));
            if (!interleaved)
                memcpy(in + 16, x + at + n, r * sizeof(uint16_t));
            witness2 = _mm256_add_ps(witness2, rotate16_split(in, out, 16, tce, co + t, tse, so + t, interleaved));
            memcpy(y + at, out, r * sizeof(uint16_t));
            if (!interleaved)
                memcpy(y + at + n, out + 16, r * sizeof(uint16_t));
        }
    }
    return _mm256_add_ps(witness, witness2);
}

/* Elements [2 * n_pairs, head_dim) of every head: float32 to float32 copies the bits out of place (nothing in
 * place); any other pair of types converts them through a float32 stage with the conversion kernels (widen
 * with the canonical NaN, round). */
static void convert_tails(const posenc_rope_heads *job)
{
    const size_t from = 2 * job->n_pairs, count = job->head_dim - from;
    const int32_t st = job->src_type, dt = job->dst_type;
    const size_t ss = elem_size(st), ds = elem_size(dt);
    if (count == 0 || (st == T_F32 && dt == T_F32 && job->src == job->dst))
        return;
    float stage[POSENC_MAX_PAIRS * 2];
    for (size_t h = 0; h < job->n_heads; h++) {
        const char *x = (const char *)job->src + (h * job->src_head_stride + from) * ss;
        char *y = (char *)job->dst + (h * job->dst_head_stride + from) * ds;
        if (st == T_F32 && dt == T_F32)
            memcpy(y, x, count * sizeof(float));
        else if (st == T_F32)
            posenc_narrow_avx2(dt, (const float *)(const void *)x, y, count);
        else if (dt == T_F32)
            posenc_widen_avx2(st, x, (float *)(void *)y, count);
        else {
            posenc_widen_avx2(st, x, stage, count);
            posenc_narrow_avx2(dt, stage, y, count);
        }
    }
}

SIMD_INLINE __m256 rotate_all(const posenc_rope_heads *job, int interleaved, int32_t st, int32_t dt, int careful)
{
    if (st == T_BF16 && dt == T_BF16)
        return rotate_bf16(job, interleaved);
    return interleaved ? rotate_interleaved(job, st, dt, careful) : rotate_half(job, st, dt, careful);
}

/* The rotation, the NaN step (above), then the unrotated head tails. */
SIMD_INLINE void rotate_typed(const posenc_rope_heads *job, int interleaved, int32_t st, int32_t dt)
{
    if (witness_is_nan(rotate_all(job, interleaved, st, dt, 0))) {
        if (dt == T_BF16 && st != T_BF16)
            rotate_all(job, interleaved, st, dt, 1);
        else
            posenc_rope_canonicalize_nans(job);
    }
    convert_tails(job);
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

void posenc_rope_rotate_half_avx2(const posenc_rope_heads *job)
{
    ROTATE_TYPED(job, 0)
}

void posenc_rope_rotate_interleaved_avx2(const posenc_rope_heads *job)
{
    ROTATE_TYPED(job, 1)
}
