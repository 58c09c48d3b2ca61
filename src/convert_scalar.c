/* convert_scalar.c - scalar reference for the element-type conversions (f16, bf16 <-> f32): the spec of the bits. */
#include <stdint.h>
#include <string.h>

#include "kernels.h"
#include "numerics.h"

static float float_of_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static uint32_t bits_of_float(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static uint32_t widen_bf16(uint16_t h)
{
    if ((h & 0x7fffu) > 0x7f80u)
        return POSENC_NAN_BITS;
    return (uint32_t)h << 16;
}

static uint32_t widen_f16(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
    if (exponent == 0x1f)
        return mantissa ? POSENC_NAN_BITS : sign | 0x7f800000u;
    if (exponent == 0) {
        /* zero or subnormal: mantissa * 2^-24, exact in float32 */
        return sign | bits_of_float((float)mantissa * 0x1p-24f);
    }
    return sign | ((exponent + 112u) << 23) | (mantissa << 13);
}

static uint16_t narrow_bf16(uint32_t x)
{
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return POSENC_BF16_NAN_BITS;
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

static uint16_t narrow_f16(uint32_t x)
{
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u)
        return POSENC_F16_NAN_BITS;
    if (a >= 0x477ff000u)                  /* >= 65520 (65504 + half an ulp, which ties to the odd 65504 up) */
        return sign | 0x7c00u;
    if (a < 0x38800000u) {                 /* below 2^-14: an f16 subnormal (or zero) */
        if (a <= 0x33000000u)              /* <= 2^-25: rounds to zero (the tie at 2^-25 goes to even 0) */
            return sign;
        uint32_t exponent = a >> 23;       /* 102 .. 112 */
        uint32_t mantissa = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - exponent;  /* value in units of 2^-24 is mantissa >> shift; shift in 14 .. 24 */
        uint32_t r = mantissa >> shift, rem = mantissa & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u)))
            r++;
        return sign | (uint16_t)r;         /* r == 0x400 is the smallest normal, correctly */
    }
    return sign | (uint16_t)(((a + 0x0fffu + ((a >> 13) & 1u)) >> 13) - (112u << 10));
}

void posenc_widen_scalar(int32_t elem, const void *src, float *dst, size_t n)
{
    const uint16_t *h = src;
    for (size_t i = 0; i < n; i++) {
        uint16_t v;
        memcpy(&v, &h[i], sizeof v);
        dst[i] = float_of_bits(elem == POSENC_ELEM_BF16 ? widen_bf16(v) : widen_f16(v));
    }
}

void posenc_narrow_scalar(int32_t elem, const float *src, void *dst, size_t n)
{
    uint16_t *h = dst;
    for (size_t i = 0; i < n; i++) {
        uint32_t x = bits_of_float(src[i]);
        uint16_t v = elem == POSENC_ELEM_BF16 ? narrow_bf16(x) : narrow_f16(x);
        memcpy(&h[i], &v, sizeof v);
    }
}
