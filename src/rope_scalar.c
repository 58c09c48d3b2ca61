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

static inline size_t elem_size(int32_t type)
{
    return type == POSENC_ELEM_F32 ? sizeof(float) : sizeof(uint16_t);
}

/* Element i of a row of `type`, widened to float32 (numerics.h, "element types": exact, a NaN canonical). */
static inline float load_widened(int32_t type, const void *row, size_t i)
{
    float v;
    if (type == POSENC_ELEM_F32)
        memcpy(&v, (const float *)row + i, sizeof v);
    else
        posenc_widen_scalar(type, (const uint16_t *)row + i, &v, 1);
    return v;
}

/* v rounded to `type` (numerics.h, "element types") into element i of a row. */
static inline void store_narrowed(int32_t type, void *row, size_t i, float v)
{
    if (type == POSENC_ELEM_F32)
        memcpy((float *)row + i, &v, sizeof v);
    else
        posenc_narrow_scalar(type, &v, (uint16_t *)row + i, 1);
}

/* The head rows of h: src and dst, addressed in bytes of their element types. */
static inline const void *src_row(const posenc_rope_heads *job, size_t h)
{
    return (const char *)job->src + h * job->src_head_stride * elem_size(job->src_type);
}

static inline void *dst_row(const posenc_rope_heads *job, size_t h)
{
    return (char *)job->dst + h * job->dst_head_stride * elem_size(job->dst_type);
}

/* The unrotated tail of a head (numerics.h, "element types"): float32 to float32 copies its bits when out of
 * place (a copy is not arithmetic) and leaves them in place; every other pair of types converts each element. */
static void convert_tail(const posenc_rope_heads *job, const void *x, void *y)
{
    size_t rotary_dim = 2 * job->n_pairs;
    if (job->head_dim <= rotary_dim)
        return;
    if (job->src_type == POSENC_ELEM_F32 && job->dst_type == POSENC_ELEM_F32) {
        if (x != y)
            memcpy((float *)y + rotary_dim, (const float *)x + rotary_dim,
                   (job->head_dim - rotary_dim) * sizeof(float));
        return;
    }
    for (size_t e = rotary_dim; e < job->head_dim; e++)
        store_narrowed(job->dst_type, y, e, load_widened(job->src_type, x, e));
}

void posenc_rope_canonicalize_nans(const posenc_rope_heads *job)
{
    for (size_t h = 0; h < job->n_heads; h++) {
        void *y = dst_row(job, h);
        for (size_t i = 0; i < 2 * job->n_pairs; i++) {
            if (job->dst_type == POSENC_ELEM_F32) {
                float *f = (float *)y + i;
                *f = canonical(*f);
                continue;
            }
            uint16_t *b = (uint16_t *)y + i;
            int bf16 = job->dst_type == POSENC_ELEM_BF16;
            if ((*b & 0x7fffu) > (bf16 ? 0x7f80u : 0x7c00u))
                *b = bf16 ? POSENC_BF16_NAN_BITS : POSENC_F16_NAN_BITS;
        }
    }
}

/* Pair i of a head is elements (first(i), second(i)): (i, i + n) for half pairing, (2i, 2i + 1) interleaved.
 * Both are read before either is written, so in place is safe. */
static void rotate(const posenc_rope_heads *job, int interleaved)
{
    size_t n = job->n_pairs;
    int32_t st = job->src_type, dt = job->dst_type;
    for (size_t h = 0; h < job->n_heads; h++) {
        const void *x = src_row(job, h);
        void *y = dst_row(job, h);
        for (size_t i = 0; i < n; i++) {
            size_t first = interleaved ? 2 * i : i, second = interleaved ? 2 * i + 1 : i + n;
            float a = load_widened(st, x, first), b = load_widened(st, x, second);
            float c = job->cos[i], s = job->sin[i];
            store_narrowed(dt, y, first, canonical(fmaf(a, c, b * -s)));
            store_narrowed(dt, y, second, canonical(fmaf(b, c, a * s)));
        }
        convert_tail(job, x, y);
    }
}

void posenc_rope_rotate_half_scalar(const posenc_rope_heads *job)
{
    rotate(job, 0);
}

void posenc_rope_rotate_interleaved_scalar(const posenc_rope_heads *job)
{
    rotate(job, 1);
}
