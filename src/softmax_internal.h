/* softmax_internal.h - internal interface shared by the softmax API files (softmax.c, softmax_backward.c,
 * softmax_merge.c): view checks, the row-task runner, and the split-K statistics of the forward call. */
#ifndef POSENC_SOFTMAX_INTERNAL_H
#define POSENC_SOFTMAX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "posenc.h"

/* A tensor view's own fields: POSENC_ERR_NULL (view or data NULL), POSENC_ERR_ENUM (unknown dtype, reserved
 * != 0), POSENC_ERR_PARAM (data not aligned to its element size); POSENC_OK otherwise. */
posenc_status posenc_softmax_check_view(const posenc_tensor *t);

/* rows(ctx, u0, u1) processes rows [u0, u1) of a flattened (head, row) grid of n_units rows of n_cols columns. */
typedef void (*posenc_softmax_rows_fn)(void *ctx, size_t u0, size_t u1);

/* Run rows over [0, n_units): whole rows per task, each task worth a task switch, on the caller's pool when it
 * has more than one thread (par may be NULL); small work runs on the calling thread. The result never depends on
 * the split. */
void posenc_softmax_run_rows(const posenc_parallel *par, size_t n_units, size_t n_cols, posenc_softmax_rows_fn rows,
                             void *ctx);

/* ---- split-K statistics of posenc_softmax_forward (desc->stats) ---- */

/* Checks desc->stats (non-NULL) for a non-empty forward call whose other arguments passed validation: its
 * n_heads * n_rows * 2 floats fit (POSENC_ERR_SHAPE), and it overlaps none of what the call reads or writes
 * (POSENC_ERR_OVERLAP): src, dst and the mask (their extents in bytes), the custom slopes and the sinks
 * (n_heads floats each, when used), q_positions (n_rows int64) and k_positions (n_cols int64), when given. */
posenc_status posenc_softmax_stats_check(const posenc_softmax_desc *d, size_t n_heads, size_t n_rows,
                                         size_t n_cols, const void *src, size_t src_bytes, const void *dst, size_t dst_bytes,
                                         size_t mask_bytes);

#endif /* POSENC_SOFTMAX_INTERNAL_H */
