/* softmax_merge_neon.c - the split-K merge step for the neon bundle (AArch64
 * Advanced SIMD, no extra flags), bit-identical to src/softmax_merge_scalar.c. */
#include <arm_neon.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "arm/arm_kernels.h"
#include "numerics.h"
#include "arm/simd_neon.h"

#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "softmax_merge_neon.c needs AArch64 Advanced SIMD"
#endif


static inline float canonical_nan(void)
{
    uint32_t bits = POSENC_NAN_BITS;
    float nan_value;
    memcpy(&nan_value, &bits, sizeof nan_value);
    return nan_value;
}

/* ==== the merge step ============================================================================================ */

/* out() of numerics.h, one value. */
static inline float out_f32(double v)
{
    if (isnan(v))
        return canonical_nan();
    return fabs(v) < POSENC_OUT_MIN_D ? 0.0f : (float)v;
}

/* out() on 4 doubles. */
static inline float32x4_t out4(float64x2_t lo, float64x2_t hi)
{
    const float64x2_t min = vdupq_n_f64(POSENC_OUT_MIN_D), zero = vdupq_n_f64(0.0);
    lo = vbslq_f64(vcltq_f64(vabsq_f64(lo), min), zero, lo);
    hi = vbslq_f64(vcltq_f64(vabsq_f64(hi), min), zero, hi);
    float32x4_t f = vcombine_f32(vcvt_f32_f64(lo), vcvt_f32_f64(hi));
    uint32x4_t nan = vmvnq_u32(vceqq_f32(f, f));
    return vbslq_f32(nan, vreinterpretq_f32_u32(vdupq_n_u32(POSENC_NAN_BITS)), f);
}

void posenc_softmax_merge_step_neon(double w, const float *x, double *acc, float *dst, size_t n, uint32_t flags)
{
    const int first = (flags & POSENC_MERGE_FIRST) != 0, last = (flags & POSENC_MERGE_LAST) != 0;
    const float64x2_t wv = vdupq_n_f64(w), zero = vdupq_n_f64(0.0);
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        float32x4_t xv = vld1q_f32(x + j);
        float64x2_t a_lo = first ? zero : vld1q_f64(acc + j), a_hi = first ? zero : vld1q_f64(acc + j + 2);
        a_lo = vfmaq_f64(a_lo, wv, vcvt_f64_f32(vget_low_f32(xv)));
        a_hi = vfmaq_f64(a_hi, wv, vcvt_high_f64_f32(xv));
        if (last) {
            vst1q_f32(dst + j, out4(a_lo, a_hi));
        } else {
            vst1q_f64(acc + j, a_lo);
            vst1q_f64(acc + j + 2, a_hi);
        }
    }
    for (; j < n; j++) {
        double sum = fma(w, (double)x[j], first ? 0.0 : acc[j]);
        if (last)
            dst[j] = out_f32(sum);
        else
            acc[j] = sum;
    }
}
