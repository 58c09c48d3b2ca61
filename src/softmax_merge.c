/* softmax_merge.c - split-K API layer: the forward call's statistics (softmax_internal.h) and the merges of
 * per-block softmax results (posenc_softmax_merge, posenc_softmax_merge_concat). */
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "numerics.h"
#include "softmax_internal.h"
#include "validate.h"

/* ==== statistics of posenc_softmax_forward ==================================================================== */

posenc_status posenc_softmax_stats_check(const posenc_softmax_desc *d, size_t n_heads, size_t n_rows,
                                         size_t n_cols, const void *src, size_t src_bytes, const void *dst, size_t dst_bytes,
                                         size_t mask_bytes)
{
    size_t n_stats, bytes;
    if (__builtin_mul_overflow(n_heads, n_rows, &n_stats) || __builtin_mul_overflow(n_stats, 2, &n_stats) ||
        __builtin_mul_overflow(n_stats, sizeof(float), &bytes) || bytes > (size_t)PTRDIFF_MAX)
        return POSENC_ERR_SHAPE;
    const float *stats = d->stats;
    if (posenc_bytes_overlap(stats, bytes, src, src_bytes) || posenc_bytes_overlap(stats, bytes, dst, dst_bytes) ||
        (d->mask && posenc_bytes_overlap(stats, bytes, d->mask, mask_bytes)) ||
        (d->slopes_mode == POSENC_SLOPES_CUSTOM && posenc_ranges_overlap(stats, n_stats, d->slopes, n_heads)) ||
        (d->sinks && posenc_ranges_overlap(stats, n_stats, d->sinks, n_heads)) ||
        (d->q_positions && posenc_bytes_overlap(stats, bytes, d->q_positions, n_rows * sizeof(int64_t))) ||
        (d->k_positions && posenc_bytes_overlap(stats, bytes, d->k_positions, n_cols * sizeof(int64_t))))
        return POSENC_ERR_OVERLAP;
    return POSENC_OK;
}

/* ==== merges ==================================================================================================== */

/* Column chunk of the summing merge: its double accumulator lives on the stack (4 KiB). */
#define MERGE_CHUNK 512
/* Blocks whose f_b is kept from the weight pass (numerics.h, "merge"); later ones are recomputed, same bits. */
#define MERGE_CACHED_BLOCKS 32

typedef struct merge_job {
    const posenc_kernels *k;
    const float *block_stats;     /* [n_blocks][n_heads][n_rows][2] */
    const posenc_tensor *blocks;  /* n_blocks views, float32 */
    const size_t *block_cols;     /* concat: block widths; NULL: the summing merge */
    float *dst;
    size_t dst_head_stride, dst_row_stride;
    const float *sinks;           /* per head, or NULL */
    size_t n_blocks, n_heads, n_rows, n_cols;
} merge_job;

/* The merge weights of one row (numerics.h, "merge"). */
typedef struct row_weights {
    float max;
    double sum;
    size_t first, last;           /* blocks with f_b != 0: the first and the last (first > last: none) */
    double f[MERGE_CACHED_BLOCKS];
} row_weights;

static const float *stats_of(const merge_job *job, size_t b, size_t u)
{
    return job->block_stats + 2 * (b * job->n_heads * job->n_rows + u);
}

/* f_b = S_b * e_b, e_b = exp(M_b - M) (0 for M_b == -inf). */
static double block_term(const float *st, float max)
{
    float e = st[0] == -INFINITY ? 0.0f : posenc_softmax_exp_scalar((double)st[0] - (double)max);
    return (double)st[1] * (double)e;
}

static double cached_term(const merge_job *job, const row_weights *rw, size_t b, size_t u)
{
    return b < MERGE_CACHED_BLOCKS ? rw->f[b] : block_term(stats_of(job, b, u), rw->max);
}

/* 1: weights usable; 0: every output +0 (S == 0); -1: a NaN row. */
static int row_weights_of(const merge_job *job, size_t u, size_t h, row_weights *rw)
{
    float max = -INFINITY;
    for (size_t b = 0; b < job->n_blocks; b++) {
        float m = stats_of(job, b, u)[0];
        max = m > max ? m : max;
    }
    float sink = job->sinks ? job->sinks[h] : -INFINITY;
    max = sink > max ? sink : max;
    rw->max = max;
    double sum = 0.0;
    rw->first = 1, rw->last = 0;
    for (size_t b = 0; b < job->n_blocks; b++) {
        double f = block_term(stats_of(job, b, u), max);
        if (b < MERGE_CACHED_BLOCKS)
            rw->f[b] = f;
        if (f != 0.0) {
            if (rw->first > rw->last)
                rw->first = b;
            rw->last = b;
        }
        sum = sum + f;
    }
    if (sink > -INFINITY)
        sum = sum + (double)posenc_softmax_exp_scalar((double)sink - (double)max);
    rw->sum = sum;
    if (sum == 0.0)
        return 0;
    return sum > 0.0 && sum < INFINITY ? 1 : -1;
}

static void fill_row(float *dst, size_t n, float value)
{
    for (size_t j = 0; j < n; j++)
        dst[j] = value;
}

static float canonical_nan(void)
{
    uint32_t bits = POSENC_NAN_BITS;
    float nan_value;
    memcpy(&nan_value, &bits, sizeof nan_value);
    return nan_value;
}

static const float *block_row(const merge_job *job, size_t b, size_t h, size_t i)
{
    const posenc_tensor *t = &job->blocks[b];
    return (const float *)t->data + h * t->stride_a + i * t->stride_b;
}

static void merge_rows(void *arg, size_t u0, size_t u1)
{
    const merge_job *job = arg;
    double acc[MERGE_CHUNK];
    row_weights rw;
    for (size_t u = u0; u < u1; u++) {
        size_t h = u / job->n_rows, i = u % job->n_rows;
        float *dst = job->dst + h * job->dst_head_stride + i * job->dst_row_stride;
        int kind = row_weights_of(job, u, h, &rw);
        if (kind <= 0 || rw.first > rw.last) {
            fill_row(dst, job->n_cols, kind < 0 ? canonical_nan() : 0.0f);
            continue;
        }
        if (job->block_cols) {
            /* Concatenation: block b's columns scaled by its weight. */
            size_t c = 0;
            for (size_t b = 0; b < job->n_blocks; b++) {
                size_t width = job->block_cols[b];
                double f = cached_term(job, &rw, b, u);
                if (f == 0.0)
                    fill_row(dst + c, width, 0.0f);
                else if (width > 0)
                    job->k->softmax_merge_step(f / rw.sum, block_row(job, b, h, i), NULL, dst + c, width,
                                               POSENC_MERGE_FIRST | POSENC_MERGE_LAST);
                c += width;
            }
            continue;
        }
        /* Sum: per column chunk, the weighted blocks accumulated in double, in block order. */
        for (size_t c0 = 0; c0 < job->n_cols; c0 += MERGE_CHUNK) {
            size_t n = job->n_cols - c0 < MERGE_CHUNK ? job->n_cols - c0 : MERGE_CHUNK;
            for (size_t b = rw.first; b <= rw.last; b++) {
                double f = cached_term(job, &rw, b, u);
                if (f == 0.0)
                    continue;
                uint32_t flags = (b == rw.first ? POSENC_MERGE_FIRST : 0u) | (b == rw.last ? POSENC_MERGE_LAST : 0u);
                job->k->softmax_merge_step(f / rw.sum, block_row(job, b, h, i) + c0, acc, dst + c0, n, flags);
            }
        }
    }
}

/* Validation shared by both merges (docs/design.md section 5 order) and the run. block_cols: NULL for the sum. */
static posenc_status merge(const posenc_softmax_desc *desc, const float *block_stats, const size_t *block_cols,
                           const posenc_tensor *blocks, const posenc_tensor *dst_view, size_t n_blocks,
                           size_t n_heads, size_t n_rows, size_t n_cols, int concat)
{
    if (!desc || !block_stats || !blocks || (concat && !block_cols))
        return POSENC_ERR_NULL;
    posenc_status st = posenc_softmax_check_view(dst_view);
    if (st != POSENC_OK)
        return st;
    if (!posenc_struct_size_ok(desc->struct_size, POSENC_SOFTMAX_DESC_SIZE_V1, sizeof(posenc_softmax_desc)))
        return POSENC_ERR_STRUCT_SIZE;
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    memcpy(&d, desc, desc->struct_size);
    /* The views (and widths) are arrays of n_blocks entries: a count beyond PTRDIFF_MAX bytes is no array. */
    if (n_heads == 0 || n_blocks == 0 || n_blocks > (size_t)PTRDIFF_MAX / sizeof(posenc_tensor))
        return POSENC_ERR_SHAPE;
    for (size_t b = 0; b < n_blocks; b++) {
        st = posenc_softmax_check_view(&blocks[b]);
        if (st != POSENC_OK)
            return st;
    }
    if (dst_view->dtype != POSENC_F32)
        return POSENC_ERR_UNSUPPORTED;
    for (size_t b = 0; b < n_blocks; b++)
        if (blocks[b].dtype != POSENC_F32)
            return POSENC_ERR_UNSUPPORTED;

    /* Shapes and extents: the statistics, the widths, dst and every block. */
    size_t n_stats, stats_bytes;
    if (__builtin_mul_overflow(n_blocks, n_heads, &n_stats) || __builtin_mul_overflow(n_stats, n_rows, &n_stats) ||
        __builtin_mul_overflow(n_stats, 2, &n_stats) ||
        __builtin_mul_overflow(n_stats, sizeof(float), &stats_bytes) || stats_bytes > (size_t)PTRDIFF_MAX)
        return POSENC_ERR_SHAPE;
    if (concat) {
        size_t total = 0;
        for (size_t b = 0; b < n_blocks; b++)
            if (__builtin_add_overflow(total, block_cols[b], &total))
                return POSENC_ERR_SHAPE;
        if (total != n_cols)
            return POSENC_ERR_SHAPE;
    }
    float *dst = dst_view->data;
    size_t dst_extent;
    st = posenc_grid_extent(n_heads, dst_view->stride_a, n_rows, dst_view->stride_b, n_cols, 1, &dst_extent);
    if (st != POSENC_OK)
        return st;
    size_t col = 0;
    for (size_t b = 0; b < n_blocks; b++) {
        size_t width = concat ? block_cols[b] : n_cols, extent;
        st = posenc_grid_extent(n_heads, blocks[b].stride_a, n_rows, blocks[b].stride_b, width, 1, &extent);
        if (st != POSENC_OK)
            return st;
        /* A block is read row by row after earlier rows of dst were written: it is either exactly dst's own
         * columns (in place: the same rows at the same strides) or disjoint from dst. */
        const float *data = blocks[b].data;
        int same = data == dst + col && (n_heads == 1 || blocks[b].stride_a == dst_view->stride_a) &&
                   (n_rows == 1 || blocks[b].stride_b == dst_view->stride_b);
        if (!same && posenc_ranges_overlap(data, extent, dst, dst_extent))
            return POSENC_ERR_OVERLAP;
        if (concat)
            col += width;
    }
    /* Everything else read while dst is written: the statistics, the views, the widths. */
    if (posenc_ranges_overlap(block_stats, n_stats, dst, dst_extent) ||
        posenc_bytes_overlap(blocks, n_blocks * sizeof(posenc_tensor), dst, dst_extent * sizeof(float)) ||
        (concat && posenc_bytes_overlap(block_cols, n_blocks * sizeof(size_t), dst, dst_extent * sizeof(float))))
        return POSENC_ERR_OVERLAP;
    if (d.parallel && !d.parallel->parallel_for)
        return POSENC_ERR_NULL;
    if (n_rows == 0 || n_cols == 0)
        return POSENC_OK;
    /* The sinks: n_heads is bounded by dst's validated extent now. */
    if (d.sinks) {
        if (posenc_ranges_overlap(d.sinks, n_heads, dst, dst_extent))
            return POSENC_ERR_OVERLAP;
        for (size_t h = 0; h < n_heads; h++)
            if (isnan(d.sinks[h]) || d.sinks[h] == INFINITY)
                return POSENC_ERR_PARAM;
    }

    merge_job job = {
        .k = posenc_active_kernels(),
        .block_stats = block_stats,
        .blocks = blocks,
        .block_cols = concat ? block_cols : NULL,
        .dst = dst,
        .dst_head_stride = dst_view->stride_a, .dst_row_stride = dst_view->stride_b,
        .sinks = d.sinks,
        .n_blocks = n_blocks, .n_heads = n_heads, .n_rows = n_rows, .n_cols = n_cols,
    };
    /* A row of the sum reads n_blocks block rows: that is its work. */
    size_t work = n_cols;
    if (!concat && __builtin_mul_overflow(n_cols, n_blocks, &work))
        work = SIZE_MAX;
    posenc_softmax_run_rows(d.parallel, n_heads * n_rows, work, merge_rows, &job);
    return POSENC_OK;
}

posenc_status posenc_softmax_merge(const posenc_softmax_desc *desc, const float *block_stats,
                                   const posenc_tensor *blocks, const posenc_tensor *dst, size_t n_blocks,
                                   size_t n_heads, size_t n_rows, size_t n_cols)
{
    return merge(desc, block_stats, NULL, blocks, dst, n_blocks, n_heads, n_rows, n_cols, 0);
}

posenc_status posenc_softmax_merge_concat(const posenc_softmax_desc *desc, const float *block_stats,
                                          const size_t *block_cols, const posenc_tensor *blocks,
                                          const posenc_tensor *dst, size_t n_blocks, size_t n_heads,
                                          size_t n_rows, size_t n_cols)
{
    return merge(desc, block_stats, block_cols, blocks, dst, n_blocks, n_heads, n_rows, n_cols, 1);
}
