/* rope_scalar.c - scalar reference RoPE kernels: per-token sin/cos and the rotation (the spec of the bits). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"
#include "numerics.h"

/* sin and cos of one angle, exactly as numerics.h specifies. */
static void sincos_one(double theta, float *sin_out, float *cos_out)
{
    double t = theta * POSENC_2_OVER_PI;
    double shifted = t + POSENC_ROUND_MAGIC_D;
    double kd = shifted - POSENC_ROUND_MAGIC_D;
    uint64_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    unsigned quadrant = (unsigned)(bits & 3u);

    double r = fma(-kd, POSENC_PIO2_HI, theta);
    r = fma(-kd, POSENC_PIO2_LO, r);
    float x = (float)r;
    float z = x * x;

    float ps = fmaf(POSENC_SIN_S3, z, POSENC_SIN_S2);
    ps = fmaf(ps, z, POSENC_SIN_S1);
    ps = ps * z;
    float s = fmaf(ps, x, x);

    float pc = fmaf(POSENC_COS_C3, z, POSENC_COS_C2);
    pc = fmaf(pc, z, POSENC_COS_C1);
    pc = fmaf(pc, z, -0.5f);
    float c = fmaf(pc, z, 1.0f);

    switch (quadrant) {
    case 0: *sin_out = s;  *cos_out = c;  break;
    case 1: *sin_out = c;  *cos_out = -s; break;
    case 2: *sin_out = -s; *cos_out = -c; break;
    default: *sin_out = -c; *cos_out = s; break;
    }
}

void posenc_rope_sincos_scalar(const double *omega, const double *pos, size_t n_pairs, float cos_scale,
                               float sin_scale, float *cos_out, float *sin_out)
{
    for (size_t i = 0; i < n_pairs; i++) {
        float s, c;
        sincos_one(pos[i] * omega[i], &s, &c);
        cos_out[i] = c * cos_scale;
        sin_out[i] = s * sin_scale;
    }
}

/* A rotated element: NaN results become POSENC_NAN_BITS (numerics.h). */
static inline float canonical(float y)
{
    return isnan(y) ? posenc_nan_value() : y;
}

/* Copy the unrotated tail of each head when out of place: its bits as they are (a copy is not arithmetic). */
static void copy_tail(const posenc_rope_heads *job, const float *x, float *y)
{
    size_t rotary_dim = 2 * job->n_pairs;
    if (x != y && job->head_dim > rotary_dim)
        memcpy(y + rotary_dim, x + rotary_dim, (job->head_dim - rotary_dim) * sizeof(float));
}

void posenc_rope_canonicalize_nans(const posenc_rope_heads *job)
{
    for (size_t h = 0; h < job->n_heads; h++) {
        float *y = job->dst + h * job->dst_head_stride;
        for (size_t i = 0; i < 2 * job->n_pairs; i++)
            y[i] = canonical(y[i]);
    }
}

void posenc_rope_rotate_half_scalar(const posenc_rope_heads *job)
{
    size_t n = job->n_pairs;
    for (size_t h = 0; h < job->n_heads; h++) {
        const float *x = job->src + h * job->src_head_stride;
        float *y = job->dst + h * job->dst_head_stride;
        for (size_t i = 0; i < n; i++) {
            float a = x[i], b = x[i + n], c = job->cos[i], s = job->sin[i];
            y[i] = canonical(fmaf(a, c, b * -s));
            y[i + n] = canonical(fmaf(b, c, a * s));
        }
        copy_tail(job, x, y);
    }
}

void posenc_rope_rotate_interleaved_scalar(const posenc_rope_heads *job)
{
    size_t n = job->n_pairs;
    for (size_t h = 0; h < job->n_heads; h++) {
        const float *x = job->src + h * job->src_head_stride;
        float *y = job->dst + h * job->dst_head_stride;
        for (size_t i = 0; i < n; i++) {
            float a = x[2 * i], b = x[2 * i + 1], c = job->cos[i], s = job->sin[i];
            y[2 * i] = canonical(fmaf(a, c, b * -s));
            y[2 * i + 1] = canonical(fmaf(b, c, a * s));
        }
        copy_tail(job, x, y);
    }
}
