/* softmax_backward_scalar.c - scalar reference for one softmax backward row: the spec of the bits. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"
#include "numerics.h"

/* out(v) of numerics.h: the float32 result of a double, NaN canonical, what would be subnormal flushed to +0. */
static float out_f32(double v)
{
    if (isnan(v)) {
        uint32_t bits = POSENC_NAN_BITS;
        float nan_value;
        memcpy(&nan_value, &bits, sizeof nan_value);
        return nan_value;
    }
    return fabs(v) < POSENC_OUT_MIN_D ? 0.0f : (float)v;
}

void posenc_softmax_backward_row_scalar(const posenc_softmax_backward_row *row)
{
    const float *y = row->y, *dy = row->dy;
    double acc[POSENC_DOT_LANES] = {0};
    for (size_t j = 0; j < row->n_cols; j++)
        acc[j % POSENC_DOT_LANES] = acc[j % POSENC_DOT_LANES] + (double)dy[j] * (double)y[j];
    for (size_t w = POSENC_DOT_LANES / 2; w >= 1; w /= 2)
        for (size_t k = 0; k < w; k++)
            acc[k] = acc[k] + acc[k + w];
    const double dot = acc[0];
    const double scale = (double)row->scale;
    /* y_j and dy_j are read before dx_j is written: dx == dy works. */
    for (size_t j = 0; j < row->n_cols; j++) {
        double a = scale * (double)y[j];
        double t = (double)dy[j] - dot;
        row->dx[j] = out_f32(a * t);
    }
}
