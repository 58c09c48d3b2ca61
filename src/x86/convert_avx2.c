/* convert_avx2.c - f16 / bf16 <-> f32 conversions, avx2 bundle (-mavx2 -mfma -mf16c). */
#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "convert_avx2.c needs -mavx2 -mfma -mf16c"
#endif

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "numerics.h"
#include "x86/x86_kernels.h"

/* 8 elements widened exactly; NaN -> 0x7fc00000. */
static inline __m256 widen8(int32_t elem, __m128i h)
{
    __m256 x = elem == POSENC_ELEM_BF16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
                                        : _mm256_cvtph_ps(h);
    __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    return _mm256_blendv_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32((int32_t)POSENC_NAN_BITS)), nan);
}

/* 8 floats rounded to elem, nearest even; NaN -> the type's canonical NaN. */
static inline __m128i narrow8(int32_t elem, __m256 x)
{
    __m256i nan32 = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    __m128i nan16 = _mm_packs_epi32(_mm256_castsi256_si128(nan32), _mm256_extracti128_si256(nan32, 1));
    __m128i h;
    if (elem == POSENC_ELEM_BF16) {
        __m256i b = _mm256_castps_si256(x);
        __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
        __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7fff)), lsb), 16);
        h = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        return _mm_blendv_epi8(h, _mm_set1_epi16((short)POSENC_BF16_NAN_BITS), nan16);
    }
    h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm_blendv_epi8(h, _mm_set1_epi16((short)POSENC_F16_NAN_BITS), nan16);
}

void posenc_widen_avx2(int32_t elem, const void *src, float *dst, size_t n)
{
    const uint16_t *h = src;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, widen8(elem, _mm_loadu_si128((const __m128i *)(h + i))));
    if (i < n) {
        /* The tail through a zero-padded copy: the same lane operations as a full vector. */
        uint16_t in[8] = {0};
        float out[8];
        memcpy(in, h + i, (n - i) * sizeof *h);
        _mm256_storeu_ps(out, widen8(elem, _mm_loadu_si128((const __m128i *)in)));
        memcpy(dst + i, out, (n - i) * sizeof *dst);
    }
}

void posenc_narrow_avx2(int32_t elem, const float *src, void *dst, size_t n)
{
    uint16_t *h = dst;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i), narrow8(elem, _mm256_loadu_ps(src + i)));
    if (i < n) {
        float in[8] = {0};
        uint16_t out[8];
        memcpy(in, src + i, (n - i) * sizeof *src);
        _mm_storeu_si128((__m128i *)out, narrow8(elem, _mm256_loadu_ps(in)));
        memcpy(h + i, out, (n - i) * sizeof *h);
    }
}
