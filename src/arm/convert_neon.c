/* convert_neon.c - f16 / bf16 <-> f32 conversions, neon bundle (AArch64 Advanced SIMD, no extra flags). */
#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "convert_neon.c is for AArch64 with Advanced SIMD"
#endif

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "arm/arm_kernels.h"
#include "numerics.h"

/* 4 elements widened exactly (FCVTL is exact for every f16; bf16 is a shift); NaN -> 0x7fc00000. */
static inline float32x4_t widen4(int32_t elem, uint16x4_t h)
{
    float32x4_t x = elem == POSENC_ELEM_BF16 ? vreinterpretq_f32_u32(vshll_n_u16(h, 16))
                                             : vcvt_f32_f16(vreinterpret_f16_u16(h));
    uint32x4_t ordered = vceqq_f32(x, x);
    return vbslq_f32(ordered, x, vreinterpretq_f32_u32(vdupq_n_u32(POSENC_NAN_BITS)));
}

/* 4 floats rounded to elem, nearest even (FCVTN follows FPCR: round to nearest, no flush, as Linux sets it);
 * NaN -> the type's canonical NaN. */
static inline uint16x4_t narrow4(int32_t elem, float32x4_t x)
{
    uint16x4_t ordered = vmovn_u32(vceqq_f32(x, x));
    uint16x4_t h;
    if (elem == POSENC_ELEM_BF16) {
        uint32x4_t b = vreinterpretq_u32_f32(x);
        uint32x4_t lsb = vandq_u32(vshrq_n_u32(b, 16), vdupq_n_u32(1));
        h = vshrn_n_u32(vaddq_u32(vaddq_u32(b, vdupq_n_u32(0x7fff)), lsb), 16);
        return vbsl_u16(ordered, h, vdup_n_u16(POSENC_BF16_NAN_BITS));
    }
    h = vreinterpret_u16_f16(vcvt_f16_f32(x));
    return vbsl_u16(ordered, h, vdup_n_u16(POSENC_F16_NAN_BITS));
}

void posenc_widen_neon(int32_t elem, const void *src, float *dst, size_t n)
{
    const uint16_t *h = src;
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, widen4(elem, vld1_u16(h + i)));
    if (i < n) {
        uint16_t in[4] = {0};
        float out[4];
        memcpy(in, h + i, (n - i) * sizeof *h);
        vst1q_f32(out, widen4(elem, vld1_u16(in)));
        memcpy(dst + i, out, (n - i) * sizeof *dst);
    }
}

void posenc_narrow_neon(int32_t elem, const float *src, void *dst, size_t n)
{
    uint16_t *h = dst;
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(h + i, narrow4(elem, vld1q_f32(src + i)));
    if (i < n) {
        float in[4] = {0};
        uint16_t out[4];
        memcpy(in, src + i, (n - i) * sizeof *src);
        vst1_u16(out, narrow4(elem, vld1q_f32(in)));
        memcpy(h + i, out, (n - i) * sizeof *h);
    }
}
