/* convert_avx512.c - f16 / bf16 <-> f32 conversions, avx512 bundle (-mavx512f -mavx512bw -mavx512dq -mavx512vl). */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__)
#error "convert_avx512.c needs -mavx512f -mavx512bw -mavx512dq -mavx512vl"
#endif

#include <immintrin.h>
#include <stdint.h>

#include "x86/simd_avx512.h"
#include "numerics.h"
#include "x86/x86_kernels.h"

/* 16 elements at src (lanes outside `lanes` are not read) widened exactly; NaN -> 0x7fc00000. */
static inline __m512 widen16(int32_t elem, const uint16_t *src, __mmask16 lanes)
{
    __m256i h = _mm256_maskz_loadu_epi16(lanes, src);
    __m512 x = elem == POSENC_ELEM_BF16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
                                        : _mm512_cvtph_ps(h);
    __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    return _mm512_mask_mov_ps(x, nan, _mm512_castsi512_ps(_mm512_set1_epi32((int32_t)POSENC_NAN_BITS)));
}

/* 16 floats rounded to elem, nearest even; NaN -> the type's canonical NaN. */
static inline __m256i narrow16(int32_t elem, __m512 x)
{
    __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    if (elem == POSENC_ELEM_BF16) {
        /* VCVTNEPS2BF16 flushes subnormal inputs: round on the bit pattern instead (numerics.h). */
        __m512i b = _mm512_castps_si512(x);
        __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), lsb), 16);
        r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(POSENC_BF16_NAN_BITS));
        return _mm512_cvtepi32_epi16(r);
    }
    __m256i h = _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm256_mask_mov_epi16(h, nan, _mm256_set1_epi16((short)POSENC_F16_NAN_BITS));
}

void posenc_widen_avx512(int32_t elem, const void *src, float *dst, size_t n)
{
    const uint16_t *h = src;
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 lanes = avx512_lanes16(n - i);
        _mm512_mask_storeu_ps(dst + i, lanes, widen16(elem, h + i, lanes));
    }
}

void posenc_narrow_avx512(int32_t elem, const float *src, void *dst, size_t n)
{
    uint16_t *h = dst;
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 lanes = avx512_lanes16(n - i);
        _mm256_mask_storeu_epi16(h + i, lanes, narrow16(elem, _mm512_maskz_loadu_ps(lanes, src + i)));
    }
}
