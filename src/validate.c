/* validate.c - shape, stride and aliasing checks shared by the RoPE and softmax API layers. */
#include <stdint.h>

#include "validate.h"

static int mul_overflows(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

posenc_status posenc_grid_extent(size_t count_a, size_t stride_a, size_t count_b, size_t stride_b,
                                 size_t row_len, int distinct_rows, size_t *extent)
{
    *extent = 0;
    if (count_a == 0 || count_b == 0 || row_len == 0)
        return POSENC_OK;
    size_t off_a, off_b, total, bytes;
    if (mul_overflows(count_a - 1, stride_a, &off_a) || mul_overflows(count_b - 1, stride_b, &off_b) ||
        __builtin_add_overflow(off_a, off_b, &total) || __builtin_add_overflow(total, row_len, &total) ||
        mul_overflows(total, sizeof(float), &bytes) || bytes > (size_t)PTRDIFF_MAX)
        return POSENC_ERR_SHAPE;
    if (distinct_rows) {
        /* Order the dimensions that have more than one row by stride: the inner one must step over a whole
         * row, the outer one over the whole inner block. Offsets fit (checked above). */
        size_t c1 = count_a, s1 = stride_a, c2 = count_b, s2 = stride_b;
        if (c1 == 1) c1 = c2, s1 = s2, c2 = 1;
        if (c2 > 1 && s2 < s1) {
            size_t tc = c1, ts = s1;
            c1 = c2, s1 = s2, c2 = tc, s2 = ts;
        }
        if (c1 > 1 && s1 < row_len)
            return POSENC_ERR_STRIDE;
        if (c2 > 1 && s2 < (c1 - 1) * s1 + row_len)
            return POSENC_ERR_STRIDE;
    }
    *extent = total;
    return POSENC_OK;
}

int posenc_bytes_overlap(const void *a, size_t a_bytes, const void *b, size_t b_bytes)
{
    if (a_bytes == 0 || b_bytes == 0)
        return 0;
    uintptr_t a0 = (uintptr_t)a, a1 = a0 + a_bytes;
    uintptr_t b0 = (uintptr_t)b, b1 = b0 + b_bytes;
    return a0 < b1 && b0 < a1;
}

int posenc_ranges_overlap(const float *a, size_t na, const float *b, size_t nb)
{
    return posenc_bytes_overlap(a, na * sizeof(float), b, nb * sizeof(float));
}

int posenc_token_blocks_overlap(const float *a, size_t a_token_stride, size_t a_span, const float *b,
                                size_t b_token_stride, size_t b_span, size_t n_tokens)
{
    return posenc_token_blocks_overlap_bytes(a, a_token_stride * sizeof(float), a_span * sizeof(float), b,
                                             b_token_stride * sizeof(float), b_span * sizeof(float), n_tokens);
}

int posenc_token_blocks_overlap_bytes(const void *a, size_t a_token_stride, size_t a_span, const void *b,
                                      size_t b_token_stride, size_t b_span, size_t n_tokens)
{
    if (n_tokens == 0 || a_span == 0 || b_span == 0)
        return 0;
    size_t a_extent = (n_tokens - 1) * a_token_stride + a_span;
    size_t b_extent = (n_tokens - 1) * b_token_stride + b_span;
    if (!posenc_bytes_overlap(a, a_extent, b, b_extent))
        return 0;
    if (n_tokens == 1 || a_token_stride != b_token_stride || a_token_stride == 0)
        return 1;
    /* Order so that b starts at or after a: d = b - a < a's extent <= PTRDIFF_MAX (the extents overlap), so
     * d + span and m * stride below cannot overflow size_t. */
    uintptr_t a0 = (uintptr_t)a, b0 = (uintptr_t)b;
    size_t a_len = a_span, b_len = b_span;
    if (b0 < a0) {
        uintptr_t t0 = a0;
        a0 = b0, b0 = t0;
        size_t tl = a_len;
        a_len = b_len, b_len = tl;
    }
    size_t d = (size_t)(b0 - a0), stride = a_token_stride;
    /* Block t1 of a, [t1*stride, +a_len), meets block t2 of b, [d + t2*stride, +b_len), iff
     * d - a_len < m*stride < d + b_len with m = t1 - t2 in [-(n-1), n-1]; only m >= 0 can satisfy it. */
    if (d < a_len)
        return 1;                                     /* m = 0: the same token's blocks meet */
    size_t m = (d - a_len) / stride + 1;              /* smallest m with m*stride > d - a_len */
    return m <= n_tokens - 1 && m * stride < d + b_len;
}
