/* validate.h - shape, stride and aliasing checks shared by the RoPE and softmax API layers. */
#ifndef POSENC_VALIDATE_H
#define POSENC_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "posenc.h"

/* A 2-D grid of rows: row (a, b) starts at a*stride_a + b*stride_b and holds row_len floats.
 * Computes the extent in elements (0 when a count is 0). Returns POSENC_ERR_SHAPE if it overflows or exceeds
 * PTRDIFF_MAX bytes; with `distinct_rows`, POSENC_ERR_STRIDE if two rows overlap. */
posenc_status posenc_grid_extent(size_t count_a, size_t stride_a, size_t count_b, size_t stride_b,
                                 size_t row_len, int distinct_rows, size_t *extent);

/* 1 if the float ranges [a, a+na) and [b, b+nb) share a byte. */
int posenc_ranges_overlap(const float *a, size_t na, const float *b, size_t nb);

/* 1 if the byte ranges [a, a+a_bytes) and [b, b+b_bytes) share a byte (arrays of other element types). */
int posenc_bytes_overlap(const void *a, size_t a_bytes, const void *b, size_t b_bytes);

/* 1 if two tensors of n_tokens token blocks may share a byte. Block t of tensor a is the float range
 * [a + t*a_token_stride, + a_span), likewise b; every block of a tensor lies inside its extent
 * (n_tokens-1)*token_stride + span, which the caller has validated with posenc_grid_extent. With equal token
 * strides (a fused QKV buffer: per token q heads, k heads, v heads) blocks are compared exactly, so tensors
 * that interleave token by token are not mistaken for overlapping; otherwise the whole extents are compared. */
int posenc_token_blocks_overlap(const float *a, size_t a_token_stride, size_t a_span, const float *b,
                                size_t b_token_stride, size_t b_span, size_t n_tokens);

/* The same in bytes, for tensors of any element size (strides and spans in bytes). */
int posenc_token_blocks_overlap_bytes(const void *a, size_t a_token_stride, size_t a_span, const void *b,
                                      size_t b_token_stride, size_t b_span, size_t n_tokens);

/* A size-tagged struct's struct_size (docs/design.md section 6): from the first-release size up to this
 * library's sizeof, and a multiple of 8 (every field boundary of these structs is), so that the caller's bytes
 * never end inside a field. */
static inline int posenc_struct_size_ok(size_t size, size_t first_release, size_t current)
{
    return size >= first_release && size <= current && size % 8 == 0;
}

#endif
