/* softmax.c - ALiBi softmax API layer: argument block, slopes, validation (element types), and the row driver. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "softmax_internal.h"
#include "numerics.h"
#include "validate.h"

/* The smallest struct_size accepted: the first-release layout (docs/design.md section 6). */
#define SOFTMAX_DESC_MIN_SIZE POSENC_SOFTMAX_DESC_SIZE_V1
_Static_assert(POSENC_SOFTMAX_DESC_SIZE_V1 <= sizeof(posenc_softmax_desc), "fields are only appended");
_Static_assert(POSENC_F32 == POSENC_ELEM_F32 && POSENC_F16 == POSENC_ELEM_F16 && POSENC_BF16 == POSENC_ELEM_BF16,
               "the public element types are the kernels' own");
#if SIZE_MAX == UINT64_MAX
/* 0.1's sizeof(posenc_softmax_desc) on LP64: a change here means a 0.1 field moved, grew or was removed. */
_Static_assert(POSENC_SOFTMAX_DESC_SIZE_V1 == 80, "the 0.1 layout of posenc_softmax_desc must never change");
#endif

/* Largest max_bias: the smallest ALiBi slope is 2^-max_bias (head c - 1), so every slope stays a normal float. */
#define ALIBI_MAX_BIAS 126.0f

static int max_bias_ok(float max_bias)
{
    return isfinite(max_bias) && max_bias > 0.0f && max_bias <= ALIBI_MAX_BIAS;
}

posenc_status posenc_softmax_desc_init(posenc_softmax_desc *desc, size_t size)
{
    if (!desc)
        return POSENC_ERR_NULL;
    if (!posenc_struct_size_ok(size, SOFTMAX_DESC_MIN_SIZE, sizeof(posenc_softmax_desc)))
        return POSENC_ERR_STRUCT_SIZE;
    posenc_softmax_desc defaults;
    memset(&defaults, 0, sizeof defaults);
    defaults.struct_size = (uint32_t)size;
    defaults.position = POSENC_POSITION_NONE;
    defaults.slopes_mode = POSENC_SLOPES_NONE;
    defaults.scale = 1.0f;
    defaults.max_bias = 8.0f;
    memcpy(desc, &defaults, size);
    return POSENC_OK;
}

/* The ALiBi slopes' c: the largest power of two <= n_heads (n_heads >= 1), in closed form so that no count can
 * make a doubling search wrap. */
static size_t alibi_power_of_two(size_t n_heads)
{
    return (size_t)(1ull << (63 - __builtin_clzll((unsigned long long)n_heads)));
}

/* Slope of head h with c = alibi_power_of_two(n_heads) (formula: posenc_alibi_slopes in posenc.h), in double,
 * rounded once. */
static float alibi_slope(size_t h, size_t c, double max_bias)
{
    double exponent = h < c ? -max_bias / (double)c * (double)(h + 1)
                            : -(max_bias / 2.0) / (double)c * (double)(2 * (h - c) + 1);
    return (float)exp2(exponent);
}

posenc_status posenc_alibi_slopes(size_t n_heads, float max_bias, float *slopes)
{
    if (!slopes)
        return POSENC_ERR_NULL;
    /* The slopes array holds n_heads floats: a count beyond PTRDIFF_MAX bytes cannot be a real array. */
    if (n_heads == 0 || n_heads > (size_t)PTRDIFF_MAX / sizeof(float))
        return POSENC_ERR_SHAPE;
    if (!max_bias_ok(max_bias))
        return POSENC_ERR_PARAM;
    size_t c = alibi_power_of_two(n_heads);
    for (size_t h = 0; h < n_heads; h++)
        slopes[h] = alibi_slope(h, c, max_bias);
    return POSENC_OK;
}

static int is_grid(int32_t position)
{
    return position == POSENC_POSITION_GRID_EUCLIDEAN || position == POSENC_POSITION_GRID_MANHATTAN;
}

/* The descriptor's own fields: enums, pointers it needs, scalars and position ranges. Reads no array. */
static posenc_status check_desc(const posenc_softmax_desc *d, size_t n_rows, size_t n_cols)
{
    if (d->position != POSENC_POSITION_NONE && d->position != POSENC_POSITION_CAUSAL &&
        d->position != POSENC_POSITION_SYMMETRIC && !is_grid(d->position))
        return POSENC_ERR_ENUM;
    if (d->slopes_mode != POSENC_SLOPES_NONE && d->slopes_mode != POSENC_SLOPES_ALIBI &&
        d->slopes_mode != POSENC_SLOPES_CUSTOM)
        return POSENC_ERR_ENUM;
    if (d->reserved0 != 0)
        return POSENC_ERR_ENUM;
    if (d->mask_dtype != POSENC_F32 && d->mask_dtype != POSENC_F16 && d->mask_dtype != POSENC_BF16)
        return POSENC_ERR_ENUM;
    if (d->precision != POSENC_SOFTMAX_EXACT && d->precision != POSENC_SOFTMAX_FAST)
        return POSENC_ERR_ENUM;
    if (d->slopes_mode == POSENC_SLOPES_CUSTOM && !d->slopes)
        return POSENC_ERR_NULL;
    if (!isfinite(d->scale))
        return POSENC_ERR_PARAM;
    if (is_grid(d->position) ? d->grid_width < 1 || d->grid_prefix < 0 : d->grid_width != 0 || d->grid_prefix != 0)
        return POSENC_ERR_PARAM;
    if (d->slopes_mode == POSENC_SLOPES_ALIBI && !max_bias_ok(d->max_bias))
        return POSENC_ERR_PARAM;
    if (d->q_pos0 < 0 || d->k_pos0 < 0 || d->q_pos0 > POSENC_MAX_POSITION || d->k_pos0 > POSENC_MAX_POSITION)
        return POSENC_ERR_RANGE;
    if ((n_rows > 0 && n_rows - 1 > (uint64_t)(POSENC_MAX_POSITION - d->q_pos0)) ||
        (n_cols > 0 && n_cols - 1 > (uint64_t)(POSENC_MAX_POSITION - d->k_pos0)))
        return POSENC_ERR_RANGE;
    return POSENC_OK;
}

/* The per-head arrays (custom slopes, sinks). Only for a non-empty call: then n_heads is bounded by the
 * validated extent of src, which holds n_heads head blocks; an empty call bounds nothing and reads neither.
 * They are read head by head after earlier heads wrote dst, so they must not overlap it. */
static posenc_status check_head_arrays(const posenc_softmax_desc *d, size_t n_heads, const void *dst,
                                       size_t dst_bytes)
{
    if ((d->slopes_mode == POSENC_SLOPES_CUSTOM &&
         posenc_bytes_overlap(d->slopes, n_heads * sizeof(float), dst, dst_bytes)) ||
        (d->sinks && posenc_bytes_overlap(d->sinks, n_heads * sizeof(float), dst, dst_bytes)))
        return POSENC_ERR_OVERLAP;
    if (d->slopes_mode == POSENC_SLOPES_CUSTOM)
        for (size_t h = 0; h < n_heads; h++)
            if (!isfinite(d->slopes[h]))
                return POSENC_ERR_PARAM;
    if (d->sinks)
        for (size_t h = 0; h < n_heads; h++)
            if (isnan(d->sinks[h]) || d->sinks[h] == INFINITY)
                return POSENC_ERR_PARAM;
    return POSENC_OK;
}

/* Work (scores) below which a task is not worth a task switch. */
#define MIN_TASK_ELEMENTS 16384

/* Everything the row tasks need; read-only while they run. */
typedef struct softmax_job {
    posenc_softmax_desc d;         /* the caller's fields, defaults past its struct_size */
    const posenc_kernels *k;
    const char *src;
    char *dst;
    const char *mask;
    size_t src_head_stride, src_row_stride, dst_head_stride, dst_row_stride;   /* bytes */
    size_t mask_head_stride, mask_row_stride;                                   /* bytes */
    int32_t src_type, dst_type, mask_type;                                      /* POSENC_ELEM_* */
    size_t n_heads, n_rows, n_cols;
    int32_t bias;                  /* POSENC_BIAS_TERMS: each row's b_j are computed into a task's terms buffer */
    size_t alibi_c;
    size_t n_tasks;
    float *terms;                  /* TERMS: n_tasks buffers of n_cols floats */
} softmax_job;

static size_t elem_size(int32_t dtype)
{
    return dtype == POSENC_F32 ? 4 : 2;
}

/* The distance of column 0 (key minus query position) and the live columns of a row at query position qpos. */
static void row_span(const posenc_softmax_desc *d, size_t n_cols, int64_t qpos, int32_t *d0, size_t *n_valid)
{
    *d0 = (int32_t)(d->k_pos0 - qpos);
    *n_valid = n_cols;
    if (d->position == POSENC_POSITION_CAUSAL) {
        int64_t live = qpos - d->k_pos0 + 1;      /* keys with kpos <= qpos */
        *n_valid = live <= 0 ? 0 : (uint64_t)live < n_cols ? (size_t)live : n_cols;
    }
}

/* b between patches dx, dy apart (include/posenc.h, POSITION_GRID_*). */
static float grid_distance_term(int32_t position, int64_t dx, int64_t dy)
{
    if (position == POSENC_POSITION_GRID_MANHATTAN)
        return -(float)((dx < 0 ? -dx : dx) + (dy < 0 ? -dy : dy));
    return -(float)sqrt((double)dx * (double)dx + (double)dy * (double)dy);
}

/* b of a key at kpos for a query at qpos on the grid of d. */
static float grid_term(const posenc_softmax_desc *d, int64_t qpos, int64_t kpos)
{
    if (qpos < d->grid_prefix || kpos < d->grid_prefix)
        return 0.0f;
    int64_t w = d->grid_width, q = qpos - d->grid_prefix, k = kpos - d->grid_prefix;
    return grid_distance_term(d->position, k % w - q % w, k / w - q / w);
}

/* The grid's terms of a row whose keys are consecutive (k_pos0 + j): the key's patch steps along its line instead
 * of being divided out per column (the same values as grid_term). Returns max |b_j|. */
static double fill_grid_line_terms(const posenc_softmax_desc *d, size_t n_cols, int64_t qpos, float *terms)
{
    const int64_t w = d->grid_width, first = d->k_pos0 - d->grid_prefix;   /* column 0's place on the grid */
    size_t j = 0;
    for (; j < n_cols && (qpos < d->grid_prefix || first + (int64_t)j < 0); j++)
        terms[j] = 0.0f;   /* a prefix token on either side */
    float biggest = 0.0f;
    if (j < n_cols) {
        const int64_t q = qpos - d->grid_prefix, qx = q % w, qy = q / w;
        int64_t k = first + (int64_t)j, kx = k % w, ky = k / w;
        for (; j < n_cols; j++) {
            float b = grid_distance_term(d->position, kx - qx, ky - qy);
            terms[j] = b;
            biggest = -b > biggest ? -b : biggest;
            if (++kx == w)
                kx = 0, ky++;
        }
    }
    return (double)biggest;
}

/* The terms b_j of row i (query position qpos) for POSENC_BIAS_TERMS (numerics.h): the grid's, or from the key
 * positions, -inf for a key the causal rule masks. Returns max |b_j| over the live columns (0 if none). */
static double fill_terms(const posenc_softmax_desc *d, size_t n_cols, int64_t qpos, float *terms)
{
    if (is_grid(d->position) && !d->k_positions)
        return fill_grid_line_terms(d, n_cols, qpos, terms);
    float biggest = 0.0f;
    for (size_t j = 0; j < n_cols; j++) {
        int64_t kpos = d->k_positions ? d->k_positions[j] : d->k_pos0 + (int64_t)j;
        float b;
        if (is_grid(d->position)) {
            b = grid_term(d, qpos, kpos);
        } else {
            int64_t dist = kpos - qpos;
            if (d->position == POSENC_POSITION_CAUSAL && dist > 0) {
                terms[j] = -INFINITY;
                continue;
            }
            b = d->slopes_mode == POSENC_SLOPES_NONE ? 0.0f
              : d->position == POSENC_POSITION_CAUSAL ? (float)dist : (float)(dist <= 0 ? dist : -dist);
        }
        terms[j] = b;
        biggest = fabsf(b) > biggest ? fabsf(b) : biggest;
    }
    return (double)biggest;
}

static float head_slope(const softmax_job *job, size_t h)
{
    const posenc_softmax_desc *d = &job->d;
    return d->slopes_mode == POSENC_SLOPES_CUSTOM ? d->slopes[h]
         : d->slopes_mode == POSENC_SLOPES_ALIBI  ? alibi_slope(h, job->alibi_c, d->max_bias)
                                                   : 0.0f;
}

static int64_t query_position(const posenc_softmax_desc *d, size_t i)
{
    return d->q_positions ? d->q_positions[i] : d->q_pos0 + (int64_t)i;
}

/* Split-K statistics are float (max, sum) pairs that another block's merge rescales by exp(M_b - M): a row whose
 * bias magnitude exceeds POSENC_SOFTMAX_FLOAT_MAX_BIAS has no such float frame (numerics.h, far rows), so a call
 * asking for statistics must keep every row within it. terms: n_cols floats of scratch (TERMS calls). */
static posenc_status check_stats_rows(const softmax_job *job, size_t n_heads, size_t n_rows, float *terms)
{
    const posenc_softmax_desc *d = &job->d;
    if (job->bias == POSENC_BIAS_NONE)
        return POSENC_OK;
    double max_slope = 0.0;
    for (size_t h = 0; h < n_heads; h++)
        max_slope = fmax(max_slope, fabs((double)head_slope(job, h)));
    for (size_t i = 0; i < n_rows; i++) {
        int64_t qpos = query_position(d, i);
        if (job->bias == POSENC_BIAS_TERMS) {
            if (max_slope * fill_terms(d, job->n_cols, qpos, terms) > POSENC_SOFTMAX_FLOAT_MAX_BIAS)
                return POSENC_ERR_RANGE;
            continue;
        }
        for (size_t h = 0; h < n_heads; h++) {
            int32_t d0;
            size_t n_valid;
            row_span(d, job->n_cols, qpos, &d0, &n_valid);
            if (posenc_softmax_bias_magnitude(job->bias, head_slope(job, h), d0, n_valid) >
                POSENC_SOFTMAX_FLOAT_MAX_BIAS)
                return POSENC_ERR_RANGE;
        }
    }
    return POSENC_OK;
}

/* Rows [u0, u1) of the flattened grid, in order: (head, row) = (u / n_rows, u % n_rows), or for TERMS calls
 * (row, head) = (u / n_heads, u % n_heads), so that each row's terms are computed once for every head. terms:
 * the task's n_cols floats (TERMS). */
static void run_rows(const softmax_job *job, size_t u0, size_t u1, float *terms)
{
    const posenc_softmax_desc *d = &job->d;
    const int by_row = job->bias == POSENC_BIAS_TERMS;
    _Alignas(64) uint16_t e_keep[POSENC_SOFTMAX_E_KEEP];   /* pass 2's e_j of a row with a 16-bit dst (kernels.h) */
    posenc_softmax_row row;
    row.e_keep = e_keep;
    row.n_cols = job->n_cols;
    row.scale = d->scale;
    row.src_type = job->src_type;
    row.dst_type = job->dst_type;
    row.mask_type = job->mask_type;
    row.terms = terms;
    size_t head = SIZE_MAX, query = SIZE_MAX;
    double terms_max = 0.0;
    for (size_t u = u0; u < u1; u++) {
        size_t h = by_row ? u % job->n_heads : u / job->n_rows, i = by_row ? u / job->n_heads : u % job->n_rows;
        if (h != head) {
            head = h;
            row.slope = head_slope(job, h);
            row.sink = d->sinks ? d->sinks[h] : -INFINITY;
        }
        int64_t qpos = query_position(d, i);
        row.src = job->src + h * job->src_head_stride + i * job->src_row_stride;
        row.dst = job->dst + h * job->dst_head_stride + i * job->dst_row_stride;
        row.mask = job->mask ? job->mask + h * job->mask_head_stride + i * job->mask_row_stride : NULL;
        row.bias = job->bias;
        if (by_row) {
            if (i != query) {
                query = i;
                terms_max = fill_terms(d, job->n_cols, qpos, terms);
            }
            row.d0 = 0;
            row.n_valid = job->n_cols;
            /* No shift for given terms: a bias beyond 2^24 takes the double max (numerics.h). */
            row.max_in_double = fabs((double)row.slope) * terms_max > POSENC_SOFTMAX_FLOAT_MAX_BIAS;
        } else {
            row_span(d, job->n_cols, qpos, &row.d0, &row.n_valid);
            /* Far rows: the bias shift, and which max pass 1 takes (numerics.h, "softmax row"). */
            row.max_in_double = posenc_softmax_far_row(&row.bias, &row.d0, row.slope, row.sink, row.n_valid);
        }
        row.fast = d->precision == POSENC_SOFTMAX_FAST && !row.max_in_double;   /* numerics.h: FAST row */
        row.stats = d->stats ? d->stats + 2 * (h * job->n_rows + i) : NULL;   /* split-K statistics */
        if (u + 1 < u1) {   /* the task's next row, for the kernel to prefetch while it computes this one */
            size_t h1 = by_row ? (u + 1) % job->n_heads : (u + 1) / job->n_rows;
            size_t i1 = by_row ? (u + 1) / job->n_heads : (u + 1) % job->n_rows;
            row.next_src = job->src + h1 * job->src_head_stride + i1 * job->src_row_stride;
        } else {
            row.next_src = NULL;
        }
        job->k->softmax_row(&row);
    }
}

static void softmax_task(void *arg, size_t task)
{
    const softmax_job *job = arg;
    if (task >= job->n_tasks)
        return;
    size_t n_units = job->n_heads * job->n_rows;
    run_rows(job, n_units * task / job->n_tasks, n_units * (task + 1) / job->n_tasks,
             job->terms ? job->terms + task * job->n_cols : NULL);
}

static posenc_status check_view(const posenc_tensor *t)
{
    if (!t || !t->data)
        return POSENC_ERR_NULL;
    if (t->reserved != 0 || (t->dtype != POSENC_F32 && t->dtype != POSENC_F16 && t->dtype != POSENC_BF16))
        return POSENC_ERR_ENUM;
    if ((uintptr_t)t->data % elem_size(t->dtype) != 0)
        return POSENC_ERR_PARAM;
    return POSENC_OK;
}

posenc_status posenc_softmax_forward(const posenc_softmax_desc *desc, const posenc_tensor *src_view,
                                     const posenc_tensor *dst_view, size_t n_heads, size_t n_rows, size_t n_cols)
{
    if (!desc)
        return POSENC_ERR_NULL;
    posenc_status st = check_view(src_view);
    if (st == POSENC_OK)
        st = check_view(dst_view);
    if (st != POSENC_OK)
        return st;
    if (!posenc_struct_size_ok(desc->struct_size, SOFTMAX_DESC_MIN_SIZE, sizeof(posenc_softmax_desc)))
        return POSENC_ERR_STRUCT_SIZE;
    softmax_job job;
    posenc_softmax_desc_init(&job.d, sizeof job.d);
    memcpy(&job.d, desc, desc->struct_size);
    const posenc_softmax_desc *d = &job.d;
    if (n_heads == 0 || n_cols > INT32_MAX)
        return POSENC_ERR_SHAPE;
    const size_t src_head_stride = src_view->stride_a, src_row_stride = src_view->stride_b;
    const size_t dst_head_stride = dst_view->stride_a, dst_row_stride = dst_view->stride_b;
    const size_t src_size = elem_size(src_view->dtype), dst_size = elem_size(dst_view->dtype);
    const void *src = src_view->data;
    void *dst = dst_view->data;

    /* Extents in elements of each tensor's own type (the grid check bounds them by PTRDIFF_MAX float32 bytes,
     * more than enough for 16-bit elements); overlaps are then compared in bytes. */
    size_t src_extent, dst_extent, mask_extent = 0;
    st = posenc_grid_extent(n_heads, src_head_stride, n_rows, src_row_stride, n_cols, 1, &src_extent);
    if (st == POSENC_OK)
        st = posenc_grid_extent(n_heads, dst_head_stride, n_rows, dst_row_stride, n_cols, 1, &dst_extent);
    if (st == POSENC_OK && d->mask)
        st = posenc_grid_extent(n_heads, d->mask_head_stride, n_rows, d->mask_row_stride, n_cols, 0,
                                &mask_extent);
    if (st != POSENC_OK)
        return st;
    /* The mask is only read, so its rows may repeat: stride 0 broadcasts one row (or one head's mask); any
     * other stride must step past a whole row (head block), which catches a row stride passed as n_cols - 1. */
    if (mask_extent > 0) {
        if (n_rows > 1 && d->mask_row_stride != 0 && d->mask_row_stride < n_cols)
            return POSENC_ERR_STRIDE;
        if (n_heads > 1 && d->mask_head_stride != 0 &&
            d->mask_head_stride < (n_rows - 1) * d->mask_row_stride + n_cols)
            return POSENC_ERR_STRIDE;
    }
    const size_t src_bytes = src_extent * src_size, dst_bytes = dst_extent * dst_size;
    if (src == (const void *)dst) {
        if (src_view->dtype != dst_view->dtype || (n_heads > 1 && src_head_stride != dst_head_stride) ||
            (n_rows > 1 && src_row_stride != dst_row_stride))
            return POSENC_ERR_OVERLAP;
    } else if (posenc_bytes_overlap(src, src_bytes, dst, dst_bytes)) {
        return POSENC_ERR_OVERLAP;
    }
    st = check_desc(d, n_rows, n_cols);
    if (st != POSENC_OK)
        return st;
    const size_t mask_size = elem_size(d->mask_dtype);
    if (d->mask && (uintptr_t)d->mask % mask_size != 0)
        return POSENC_ERR_PARAM;
    if (d->mask && posenc_bytes_overlap(d->mask, mask_extent * mask_size, dst, dst_bytes))
        return POSENC_ERR_OVERLAP;
    if (d->parallel && !d->parallel->parallel_for)
        return POSENC_ERR_NULL;
    if (n_rows == 0 || n_cols == 0)
        return POSENC_OK;
    st = check_head_arrays(d, n_heads, dst, dst_bytes);
    if (st != POSENC_OK)
        return st;
    if (d->q_positions) {
        /* n_rows is bounded by src's validated extent; the positions are read row by row after earlier rows
         * were written. */
        if (posenc_bytes_overlap(d->q_positions, n_rows * sizeof(int64_t), dst, dst_bytes))
            return POSENC_ERR_OVERLAP;
        for (size_t i = 0; i < n_rows; i++)
            if (d->q_positions[i] < 0 || d->q_positions[i] > POSENC_MAX_POSITION)
                return POSENC_ERR_RANGE;
    }
    if (d->k_positions) {   /* n_cols is bounded by src's validated extent, like n_rows above */
        if (posenc_bytes_overlap(d->k_positions, n_cols * sizeof(int64_t), dst, dst_bytes))
            return POSENC_ERR_OVERLAP;
        for (size_t j = 0; j < n_cols; j++)
            if (d->k_positions[j] < 0 || d->k_positions[j] > POSENC_MAX_POSITION)
                return POSENC_ERR_RANGE;
    }
    /* The bias of every row: from the distance d0 + j (LINEAR, ABS), or per-column terms (numerics.h) for key
     * positions with a bias or a causal mask, and for grids with a bias. */
    const int has_slopes = d->slopes_mode != POSENC_SLOPES_NONE;
    job.bias = POSENC_BIAS_NONE;
    if (has_slopes && d->position == POSENC_POSITION_CAUSAL)
        job.bias = POSENC_BIAS_LINEAR;
    if (has_slopes && d->position == POSENC_POSITION_SYMMETRIC)
        job.bias = POSENC_BIAS_ABS;
    if ((is_grid(d->position) && has_slopes) ||
        (d->k_positions && (d->position == POSENC_POSITION_CAUSAL || job.bias != POSENC_BIAS_NONE)))
        job.bias = POSENC_BIAS_TERMS;
    job.alibi_c = alibi_power_of_two(n_heads);
    job.n_cols = n_cols;
    job.terms = NULL;

    /* Whole rows per task, each worth a task switch; small work stays on the calling thread. */
    size_t n_units = n_heads * n_rows, n_tasks = 1;
    const posenc_parallel *par = d->parallel;
    if (par && par->max_tasks > 1 && n_units > 1) {
        size_t by_work = n_cols >= MIN_TASK_ELEMENTS ? n_units : n_units / (MIN_TASK_ELEMENTS / n_cols);
        n_tasks = par->max_tasks < by_work ? par->max_tasks : by_work;
    }
    n_tasks = n_tasks < 1 ? 1 : n_tasks;
    if (job.bias == POSENC_BIAS_TERMS) {   /* each task's row of terms (n_cols <= INT32_MAX floats) */
        size_t floats;
        if (__builtin_mul_overflow(n_tasks, n_cols, &floats) || floats > (size_t)PTRDIFF_MAX / sizeof(float))
            return POSENC_ERR_NOMEM;
        job.terms = malloc(floats * sizeof(float));
        if (!job.terms)
            return POSENC_ERR_NOMEM;
    }
    if (d->stats) {
        st = posenc_softmax_stats_check(d, n_heads, n_rows, n_cols, src, src_bytes, dst, dst_bytes,
                                        mask_extent * mask_size);
        if (st == POSENC_OK)
            st = check_stats_rows(&job, n_heads, n_rows, job.terms);
        if (st != POSENC_OK) {
            free(job.terms);
            return st;
        }
    }

    job.k = posenc_active_kernels();
    job.src = (const char *)src;
    job.dst = (char *)dst;
    job.mask = (const char *)d->mask;
    job.src_head_stride = src_head_stride * src_size, job.src_row_stride = src_row_stride * src_size;
    job.dst_head_stride = dst_head_stride * dst_size, job.dst_row_stride = dst_row_stride * dst_size;
    job.mask_head_stride = d->mask_head_stride * mask_size, job.mask_row_stride = d->mask_row_stride * mask_size;
    job.src_type = src_view->dtype, job.dst_type = dst_view->dtype, job.mask_type = d->mask_dtype;
    job.n_heads = n_heads, job.n_rows = n_rows, job.n_cols = n_cols;

    job.n_tasks = n_tasks;
    if (n_tasks == 1)
        run_rows(&job, 0, n_units, job.terms);
    else
        par->parallel_for(par->pool, n_tasks, softmax_task, &job);
    free(job.terms);
    return POSENC_OK;
}

posenc_status posenc_softmax(const posenc_softmax_desc *desc, const float *src, size_t src_head_stride,
                             size_t src_row_stride, float *dst, size_t dst_head_stride, size_t dst_row_stride,
                             size_t n_heads, size_t n_rows, size_t n_cols)
{
    if (!desc || !src || !dst)
        return POSENC_ERR_NULL;
    posenc_tensor s = { (void *)(uintptr_t)src, POSENC_F32, 0, src_head_stride, src_row_stride };
    posenc_tensor d = { dst, POSENC_F32, 0, dst_head_stride, dst_row_stride };
    return posenc_softmax_forward(desc, &s, &d, n_heads, n_rows, n_cols);
}
