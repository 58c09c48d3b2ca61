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

#endif
