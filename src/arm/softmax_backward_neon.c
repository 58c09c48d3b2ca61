/* softmax_backward_neon.c - softmax backward row for the neon bundle (AArch64 Advanced SIMD, no extra flags),
 * bit-identical to src/softmax_backward_scalar.c. */
#include <arm_neon.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "arm/arm_kernels.h"
#include "numerics.h"

#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "softmax_backward_neon.c needs AArch64 Advanced SIMD"
#endif

/* POSENC_DOT_LANES double lanes in 2-lane vectors: vector a holds lanes 2a, 2a + 1. */
#define DOT_VECTORS (POSENC_DOT_LANES / 2)

/* out() of numerics.h, one value. */
static inline float out_f32(double v)
{
    if (isnan(v)) {
        uint32_t bits = POSENC_NAN_BITS;
        float nan_value;
        memcpy(&nan_value, &bits, sizeof nan_value);
        return nan_value;
    }
    return fabs(v) < POSENC_OUT_MIN_D ? 0.0f : (float)v;
}

/* out() of numerics.h on 4 doubles (lo: lanes 0, 1; hi: 2, 3): flush below 2^-126 to +0 before narrowing,
 * then canonical NaN. */
static inline float32x4_t out4(float64x2_t lo, float64x2_t hi)
{
    const float64x2_t min = vdupq_n_f64(POSENC_OUT_MIN_D), zero = vdupq_n_f64(0.0);
    lo = vbslq_f64(vcltq_f64(vabsq_f64(lo), min), zero, lo);
    hi = vbslq_f64(vcltq_f64(vabsq_f64(hi), min), zero, hi);
    float32x4_t f = vcombine_f32(vcvt_f32_f64(lo), vcvt_f32_f64(hi));
    uint32x4_t nan = vmvnq_u32(vceqq_f32(f, f));
    return vbslq_f32(nan, vreinterpretq_f32_u32(vdupq_n_u32(POSENC_NAN_BITS)), f);
}

void posenc_softmax_backward_row_neon(const posenc_softmax_backward_row *row)
{
    const float *y = row->y, *dy = row->dy;
    float *dx = row->dx;
    const size_t n = row->n_cols;

    /* <dy, y>: 32 columns per step, column j into lane j % 32 (vfmaq of exact products is the spec's add). */
    float64x2_t acc[DOT_VECTORS];
    for (int a = 0; a < DOT_VECTORS; a++)
        acc[a] = vdupq_n_f64(0.0);
    size_t j = 0;
    for (; j + POSENC_DOT_LANES <= n; j += POSENC_DOT_LANES) {
        for (int q = 0; q < DOT_VECTORS / 2; q++) {
            float32x4_t yv = vld1q_f32(y + j + 4 * q), gv = vld1q_f32(dy + j + 4 * q);
            acc[2 * q] = vfmaq_f64(acc[2 * q], vcvt_f64_f32(vget_low_f32(gv)), vcvt_f64_f32(vget_low_f32(yv)));
            acc[2 * q + 1] = vfmaq_f64(acc[2 * q + 1], vcvt_high_f64_f32(gv), vcvt_high_f64_f32(yv));
        }
    }
    /* The last partial step lane by lane, then the halving tree: the same operations in scalar form. */
    double lanes[POSENC_DOT_LANES];
    for (int a = 0; a < DOT_VECTORS; a++)
        vst1q_f64(lanes + 2 * a, acc[a]);
    for (; j < n; j++)
        lanes[j % POSENC_DOT_LANES] = lanes[j % POSENC_DOT_LANES] + (double)dy[j] * (double)y[j];
    for (size_t w = POSENC_DOT_LANES / 2; w >= 1; w /= 2)
        for (size_t k = 0; k < w; k++)
            lanes[k] = lanes[k] + lanes[k + w];
    const double dot = lanes[0];
    const float64x2_t dot_v = vdupq_n_f64(dot), scale_v = vdupq_n_f64((double)row->scale);

    /* dx = out(scale * y * (dy - dot)); a block's y and dy are loaded before its dx is stored (dx == dy). */
    for (j = 0; j + 4 <= n; j += 4) {
        float32x4_t yv = vld1q_f32(y + j), gv = vld1q_f32(dy + j);
        float64x2_t v_lo = vmulq_f64(vmulq_f64(scale_v, vcvt_f64_f32(vget_low_f32(yv))),
                                     vsubq_f64(vcvt_f64_f32(vget_low_f32(gv)), dot_v));
        float64x2_t v_hi = vmulq_f64(vmulq_f64(scale_v, vcvt_high_f64_f32(yv)),
                                     vsubq_f64(vcvt_high_f64_f32(gv), dot_v));
        vst1q_f32(dx + j, out4(v_lo, v_hi));
    }
    for (; j < n; j++) {
        double a = (double)row->scale * (double)y[j];
        dx[j] = out_f32(a * ((double)dy[j] - dot));
    }
}
