/* avx512_common.h - static inline helpers for the avx512 files only (-mavx512f -mavx512bw -mavx512dq -mavx512vl). */
#ifndef POSENC_AVX512_COMMON_H
#define POSENC_AVX512_COMMON_H

#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__)
#error "avx512 kernels need -mavx512f -mavx512bw -mavx512dq -mavx512vl"
#endif

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

/* Lanes [0, count) of a 16-lane vector; count >= 16 gives all lanes. */
static inline __mmask16 avx512_lanes16(size_t count)
{
    return count >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << count) - 1u);
}

/* -x as the scalar code computes it: a flip of the sign bit. */
static inline __m512 avx512_negate(__m512 x)
{
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN)));
}

/* Keep a loaded vector in a register. Without it gcc folds the load into each of the value's two uses (a
 * multiply and an fma), doubling the loads of a loop that is bound by load/store bandwidth. */
static inline __m512 avx512_in_register(__m512 x)
{
    __asm__("" : "+v"(x));
    return x;
}

#endif /* POSENC_AVX512_COMMON_H */
