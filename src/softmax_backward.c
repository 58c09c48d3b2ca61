/* softmax_backward.c - softmax backward API layer: validation and the row driver; the shared view check and
 * row-task runner of the softmax calls (softmax_internal.h). */
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "softmax_internal.h"
#include "validate.h"

posenc_status posenc_softmax_check_view(const posenc_tensor *t)
{
    if (!t || !t->data)
        return POSENC_ERR_NULL;
    if (t->reserved != 0 || (t->dtype != POSENC_F32 && t->dtype != POSENC_F16 && t->dtype != POSENC_BF16))
        return POSENC_ERR_ENUM;
    if ((uintptr_t)t->data % (t->dtype == POSENC_F32 ? 4u : 2u) != 0)
        return POSENC_ERR_PARAM;
    return POSENC_OK;
}

/* Work (row elements) below which a task is not worth a task switch (as posenc_softmax_forward). */
#define MIN_TASK_ELEMENTS 16384

typedef struct row_tasks {
    posenc_softmax_rows_fn rows;
    void *ctx;
    size_t n_units, n_tasks;
} row_tasks;

static void row_task(void *arg, size_t task)
{
    const row_tasks *rt = arg;
    if (task >= rt->n_tasks)
        return;
    rt->rows(rt->ctx, rt->n_units * task / rt->n_tasks, rt->n_units * (task + 1) / rt->n_tasks);
}

void posenc_softmax_run_rows(const posenc_parallel *par, size_t n_units, size_t n_cols, posenc_softmax_rows_fn rows,
                             void *ctx)
{
    size_t n_tasks = 1;
    if (par && par->max_tasks > 1 && n_units > 1) {
        size_t by_work = n_cols >= MIN_TASK_ELEMENTS ? n_units : n_units / (MIN_TASK_ELEMENTS / n_cols);
        n_tasks = par->max_tasks < by_work ? par->max_tasks : by_work;
    }
    if (n_tasks <= 1) {
        rows(ctx, 0, n_units);
        return;
    }
    row_tasks rt = { rows, ctx, n_units, n_tasks };
    par->parallel_for(par->pool, n_tasks, row_task, &rt);
}

/* Everything the backward row tasks need; read-only while they run. */
typedef struct backward_job {
    const posenc_kernels *k;
    const float *y, *dy;
    float *dx;
    size_t y_head_stride, y_row_stride, dy_head_stride, dy_row_stride, dx_head_stride, dx_row_stride;
    size_t n_rows, n_cols;
    float scale;
} backward_job;

static void backward_rows(void *arg, size_t u0, size_t u1)
{
    const backward_job *job = arg;
    posenc_softmax_backward_row row;
    row.n_cols = job->n_cols;
    row.scale = job->scale;
    for (size_t u = u0; u < u1; u++) {
        size_t h = u / job->n_rows, i = u % job->n_rows;
        row.y = job->y + h * job->y_head_stride + i * job->y_row_stride;
        row.dy = job->dy + h * job->dy_head_stride + i * job->dy_row_stride;
        row.dx = job->dx + h * job->dx_head_stride + i * job->dx_row_stride;
        job->k->softmax_backward_row(&row);
    }
}

posenc_status posenc_softmax_backward(const posenc_softmax_desc *desc, const posenc_tensor *y_view,
                                      const posenc_tensor *dy_view, const posenc_tensor *dx_view, size_t n_heads,
                                      size_t n_rows, size_t n_cols)
{
    if (!desc)
        return POSENC_ERR_NULL;
    posenc_status st = posenc_softmax_check_view(y_view);
    if (st == POSENC_OK)
        st = posenc_softmax_check_view(dy_view);
    if (st == POSENC_OK)
        st = posenc_softmax_check_view(dx_view);
    if (st != POSENC_OK)
        return st;
    if (!posenc_struct_size_ok(desc->struct_size, POSENC_SOFTMAX_DESC_SIZE_V1, sizeof(posenc_softmax_desc)))
        return POSENC_ERR_STRUCT_SIZE;
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    memcpy(&d, desc, desc->struct_size);
    if (n_heads == 0)
        return POSENC_ERR_SHAPE;
    if (y_view->dtype != POSENC_F32 || dy_view->dtype != POSENC_F32 || dx_view->dtype != POSENC_F32)
        return POSENC_ERR_UNSUPPORTED;
    const float *y = y_view->data, *dy = dy_view->data;
    float *dx = dx_view->data;

    size_t y_extent, dy_extent, dx_extent;
    st = posenc_grid_extent(n_heads, y_view->stride_a, n_rows, y_view->stride_b, n_cols, 1, &y_extent);
    if (st == POSENC_OK)
        st = posenc_grid_extent(n_heads, dy_view->stride_a, n_rows, dy_view->stride_b, n_cols, 1, &dy_extent);
    if (st == POSENC_OK)
        st = posenc_grid_extent(n_heads, dx_view->stride_a, n_rows, dx_view->stride_b, n_cols, 1, &dx_extent);
    if (st != POSENC_OK)
        return st;
    /* dx may be dy itself (same strides): each row reads dy before writing it. y is read after dx was written
     * (by earlier rows, and within a row after pass 1), so dx never overlaps y. */
    if ((const void *)dx == (const void *)dy) {
        if ((n_heads > 1 && dx_view->stride_a != dy_view->stride_a) ||
            (n_rows > 1 && dx_view->stride_b != dy_view->stride_b))
            return POSENC_ERR_OVERLAP;
    } else if (posenc_ranges_overlap(dx, dx_extent, dy, dy_extent)) {
        return POSENC_ERR_OVERLAP;
    }
    if (posenc_ranges_overlap(dx, dx_extent, y, y_extent))
        return POSENC_ERR_OVERLAP;
    if (!isfinite(d.scale))
        return POSENC_ERR_PARAM;
    if (d.parallel && !d.parallel->parallel_for)
        return POSENC_ERR_NULL;
    if (n_rows == 0 || n_cols == 0)
        return POSENC_OK;

    backward_job job = {
        .k = posenc_active_kernels(),
        .y = y, .dy = dy, .dx = dx,
        .y_head_stride = y_view->stride_a, .y_row_stride = y_view->stride_b,
        .dy_head_stride = dy_view->stride_a, .dy_row_stride = dy_view->stride_b,
        .dx_head_stride = dx_view->stride_a, .dx_row_stride = dx_view->stride_b,
        .n_rows = n_rows, .n_cols = n_cols,
        .scale = d.scale,
    };
    posenc_softmax_run_rows(d.parallel, n_heads * n_rows, n_cols, backward_rows, &job);
    return POSENC_OK;
}
