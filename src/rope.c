/* rope.c - RoPE API layer: configuration, plans, validation, and the per-token driver over the kernels. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "rope_plan.h"
#include "validate.h"

posenc_status posenc_rope_config_init(posenc_rope_config *config, size_t size)
{
    if (!config)
        return POSENC_ERR_NULL;
    if (!posenc_struct_size_ok(size, POSENC_ROPE_CONFIG_MIN_SIZE, sizeof(posenc_rope_config)))
        return POSENC_ERR_STRUCT_SIZE;
    posenc_rope_config defaults;
    memset(&defaults, 0, sizeof defaults);
    defaults.struct_size = (uint32_t)size;
    defaults.pairing = POSENC_ROPE_HALF;
    defaults.base = 10000.0;
    defaults.scaling = POSENC_SCALING_NONE;
    defaults.axes = POSENC_AXES_1D;
    defaults.factor = 1.0;
    defaults.beta_fast = 32.0;
    defaults.beta_slow = 1.0;
    defaults.low_freq_factor = 1.0;
    defaults.high_freq_factor = 4.0;
    defaults.truncate = 1;
    memcpy(config, &defaults, size);
    return POSENC_OK;
}

posenc_status posenc_rope_plan_create(const posenc_rope_config *config, posenc_rope_plan **plan_out)
{
    if (!config || !plan_out)
        return POSENC_ERR_NULL;
    if (!posenc_struct_size_ok(config->struct_size, POSENC_ROPE_CONFIG_MIN_SIZE, sizeof(posenc_rope_config)))
        return POSENC_ERR_STRUCT_SIZE;
    /* Read only the fields the caller's struct has; later fields keep their defaults. */
    posenc_rope_config cfg;
    posenc_rope_config_init(&cfg, sizeof cfg);
    memcpy(&cfg, config, config->struct_size);

    size_t head_dim = cfg.head_dim;
    size_t rotary_dim = cfg.rotary_dim ? cfg.rotary_dim : cfg.head_dim;
    if (head_dim == 0 || head_dim > POSENC_MAX_HEAD_DIM || rotary_dim % 2 != 0 || rotary_dim > head_dim)
        return POSENC_ERR_DIM;
    if (cfg.pairing != POSENC_ROPE_HALF && cfg.pairing != POSENC_ROPE_INTERLEAVED)
        return POSENC_ERR_ENUM;

    size_t n_pairs = rotary_dim / 2;
    posenc_rope_plan *plan = calloc(1, sizeof *plan + n_pairs * sizeof(double));
    if (!plan)
        return POSENC_ERR_NOMEM;
    double mscale = 1.0;
    posenc_status st = posenc_rope_frequencies(&cfg, n_pairs, plan->omega, plan->axis_of_pair, &plan->n_axes,
                                               &mscale);
    /* mscale multiplies cos and sin as a float: it must be a finite, positive, normal float (attention_factor
     * 1e39 or 1e-300 is a valid double but an inf or 0 float). */
    if (st == POSENC_OK && (!isfinite(mscale) || mscale <= 0.0 || !isfinite((float)mscale) ||
                            (float)mscale < FLT_MIN))
        st = POSENC_ERR_PARAM;
    if (st != POSENC_OK) {
        free(plan);
        return st;
    }
    plan->head_dim = head_dim;
    plan->n_pairs = n_pairs;
    plan->pairing = cfg.pairing;
    plan->axes = cfg.axes;
    plan->mscale_d = mscale;
    plan->mscale = (float)mscale;
    *plan_out = plan;
    return POSENC_OK;
}

void posenc_rope_plan_destroy(posenc_rope_plan *plan)
{
    free(plan);
}

posenc_status posenc_rope_plan_info(const posenc_rope_plan *plan, double *out, size_t n, double *mscale)
{
    if (!plan)
        return POSENC_ERR_NULL;
    if (out && n != plan->n_pairs)
        return POSENC_ERR_SHAPE;
    if (out)
        memcpy(out, plan->omega, n * sizeof(double));
    if (mscale)
        *mscale = plan->mscale_d;
    return POSENC_OK;
}

size_t posenc_rope_plan_axes(const posenc_rope_plan *plan)
{
    return plan ? plan->n_axes : 0;
}

/* ---- apply ------------------------------------------------------------------------------------------------ */

/* Work (elements rotated) below which a task is not worth a task switch. */
#define MIN_TASK_ELEMENTS 32768

#define KNOWN_FLAGS (POSENC_ROPE_INVERSE | POSENC_ROPE_NO_MSCALE | POSENC_ROPE_SAME_POSITION)

_Static_assert(POSENC_F32 == POSENC_ELEM_F32 && POSENC_F16 == POSENC_ELEM_F16 && POSENC_BF16 == POSENC_ELEM_BF16,
               "public and kernel element types agree");

static size_t elem_size(int32_t dtype)
{
    return dtype == POSENC_F32 ? 4 : 2;
}

/* One tensor to rotate: n_heads rows of head_dim per token, src into dst (validated). */
typedef struct rope_view {
    const char *src;
    char *dst;
    int32_t src_dtype, dst_dtype;
    size_t n_heads;
    size_t src_token_stride, src_head_stride;   /* elements of src_dtype */
    size_t dst_token_stride, dst_head_stride;   /* elements of dst_dtype */
} rope_view;

/* Everything a task needs; read-only while tasks run. */
typedef struct rope_job {
    const posenc_rope_plan *plan;
    const posenc_kernels *k;
    rope_view views[2];
    size_t n_views;
    size_t n_tokens;
    const int64_t *positions;
    size_t axis_stride;            /* 0: token-major positions */
    int64_t start_pos;
    uint32_t flags;
    const float *cos_table, *sin_table;   /* caller tables (posenc_rope_rotate_tables), else NULL */
    size_t table_stride;
    size_t n_tasks;
} rope_job;

/* Bytes spanned by one token's heads of a view side (the extents were validated, so this fits). */
static size_t token_span_bytes(const posenc_rope_plan *plan, size_t n_heads, size_t head_stride, int32_t dtype)
{
    return ((n_heads - 1) * head_stride + plan->head_dim) * elem_size(dtype);
}

static posenc_status check_tensor_view(const posenc_tensor *t)
{
    if (!t || !t->data)
        return POSENC_ERR_NULL;
    if (t->reserved != 0 || (t->dtype != POSENC_F32 && t->dtype != POSENC_F16 && t->dtype != POSENC_BF16))
        return POSENC_ERR_ENUM;
    if ((uintptr_t)t->data % elem_size(t->dtype) != 0)
        return POSENC_ERR_PARAM;
    return POSENC_OK;
}

/* Validate one src/dst pair and fill *v. */
static posenc_status check_view(const posenc_rope_plan *plan, const posenc_tensor *src, const posenc_tensor *dst,
                                size_t n_tokens, size_t n_heads, rope_view *v)
{
    posenc_status st = check_tensor_view(src);
    if (st == POSENC_OK)
        st = check_tensor_view(dst);
    if (st != POSENC_OK)
        return st;
    if (n_heads == 0)
        return POSENC_ERR_SHAPE;
    size_t src_extent, dst_extent;
    st = posenc_grid_extent(n_tokens, src->stride_a, n_heads, src->stride_b, plan->head_dim, 1, &src_extent);
    if (st == POSENC_OK)
        st = posenc_grid_extent(n_tokens, dst->stride_a, n_heads, dst->stride_b, plan->head_dim, 1, &dst_extent);
    if (st != POSENC_OK)
        return st;
    if (src->data == dst->data) {
        if (src->dtype != dst->dtype || (n_tokens > 1 && src->stride_a != dst->stride_a) ||
            (n_heads > 1 && src->stride_b != dst->stride_b))
            return POSENC_ERR_OVERLAP;
    } else if (posenc_token_blocks_overlap_bytes(
                   src->data, src->stride_a * elem_size(src->dtype),
                   token_span_bytes(plan, n_heads, src->stride_b, src->dtype), dst->data,
                   dst->stride_a * elem_size(dst->dtype), token_span_bytes(plan, n_heads, dst->stride_b, dst->dtype),
                   n_tokens)) {
        return POSENC_ERR_OVERLAP;
    }
    *v = (rope_view){
        .src = src->data, .dst = dst->data, .src_dtype = src->dtype, .dst_dtype = dst->dtype, .n_heads = n_heads,
        .src_token_stride = src->stride_a, .src_head_stride = src->stride_b,
        .dst_token_stride = dst->stride_a, .dst_head_stride = dst->stride_b,
    };
    return POSENC_OK;
}

/* 1 if the destination of view a may share a byte with the source or destination of view b. */
static int views_collide(const posenc_rope_plan *plan, size_t n_tokens, const rope_view *a, const rope_view *b)
{
    size_t a_span = token_span_bytes(plan, a->n_heads, a->dst_head_stride, a->dst_dtype);
    size_t a_stride = a->dst_token_stride * elem_size(a->dst_dtype);
    return posenc_token_blocks_overlap_bytes(a->dst, a_stride, a_span, b->src,
                                             b->src_token_stride * elem_size(b->src_dtype),
                                             token_span_bytes(plan, b->n_heads, b->src_head_stride, b->src_dtype),
                                             n_tokens) ||
           posenc_token_blocks_overlap_bytes(a->dst, a_stride, a_span, b->dst,
                                             b->dst_token_stride * elem_size(b->dst_dtype),
                                             token_span_bytes(plan, b->n_heads, b->dst_head_stride, b->dst_dtype),
                                             n_tokens);
}

static int position_ok(int64_t p)
{
    return p >= -POSENC_MAX_POSITION && p <= POSENC_MAX_POSITION;
}

/* Flags, positions (layout, range, aliasing with every destination) and the pool. */
static posenc_status check_args(const posenc_rope_plan *plan, const posenc_rope_args *a, rope_job *job)
{
    if (a->flags & ~KNOWN_FLAGS)
        return POSENC_ERR_ENUM;
    if (a->positions && (a->flags & POSENC_ROPE_SAME_POSITION))
        return POSENC_ERR_ENUM;
    if (a->parallel && !a->parallel->parallel_for)
        return POSENC_ERR_NULL;
    size_t n_tokens = job->n_tokens, axes = plan->n_axes;
    if ((a->flags & POSENC_ROPE_SAME_POSITION) && !position_ok(a->start_pos))
        return POSENC_ERR_RANGE;      /* a shift's delta is checked even when there is nothing to shift */
    if (n_tokens == 0)
        return POSENC_OK;
    if (!a->positions) {
        if (!position_ok(a->start_pos))
            return POSENC_ERR_RANGE;
        if (!(a->flags & POSENC_ROPE_SAME_POSITION) &&
            n_tokens - 1 > (uint64_t)(POSENC_MAX_POSITION - a->start_pos))
            return POSENC_ERR_RANGE;
        return POSENC_OK;
    }
    size_t extent;
    if (a->position_axis_stride == 0) {
        if (__builtin_mul_overflow(n_tokens, axes, &extent))
            return POSENC_ERR_SHAPE;
    } else {
        if (axes > 1 && a->position_axis_stride < n_tokens)
            return POSENC_ERR_STRIDE;
        if (__builtin_mul_overflow(axes - 1, a->position_axis_stride, &extent) ||
            __builtin_add_overflow(extent, n_tokens, &extent))
            return POSENC_ERR_SHAPE;
    }
    if (extent > PTRDIFF_MAX / sizeof(int64_t))
        return POSENC_ERR_SHAPE;
    for (size_t i = 0; i < job->n_views; i++) {
        const rope_view *v = &job->views[i];
        size_t span = token_span_bytes(plan, v->n_heads, v->dst_head_stride, v->dst_dtype);
        size_t stride = v->dst_token_stride * elem_size(v->dst_dtype);
        if (posenc_bytes_overlap(a->positions, extent * sizeof(int64_t), v->dst, (n_tokens - 1) * stride + span))
            return POSENC_ERR_OVERLAP;
    }
    for (size_t t = 0; t < n_tokens; t++)
        for (size_t ax = 0; ax < axes; ax++) {
            size_t at = a->position_axis_stride ? ax * a->position_axis_stride + t : t * axes + ax;
            if (!position_ok(a->positions[at]))
                return POSENC_ERR_RANGE;
        }
    return POSENC_OK;
}

/* Rotate every head of token t of every view: one kernel call per view, which reads src's element type and writes
 * dst's (numerics.h, "element types"). */
static void rotate_token(const rope_job *job, size_t t, const float *cos, const float *sin)
{
    const posenc_rope_plan *plan = job->plan;
    for (size_t i = 0; i < job->n_views; i++) {
        const rope_view *v = &job->views[i];
        posenc_rope_heads heads = {
            .cos = cos, .sin = sin, .n_pairs = plan->n_pairs, .head_dim = plan->head_dim, .n_heads = v->n_heads,
            .src = v->src + t * v->src_token_stride * elem_size(v->src_dtype),
            .src_head_stride = v->src_head_stride,
            .dst = v->dst + t * v->dst_token_stride * elem_size(v->dst_dtype),
            .dst_head_stride = v->dst_head_stride,
            .src_type = v->src_dtype, .dst_type = v->dst_dtype,
        };
        if (plan->pairing == POSENC_ROPE_HALF)
            job->k->rope_rotate_half(&heads);
        else
            job->k->rope_rotate_interleaved(&heads);
    }
}

/* Fill the per-pair positions of token t. */
static void pair_positions(const rope_job *job, size_t t, double *pos)
{
    const posenc_rope_plan *plan = job->plan;
    int64_t token_pos[3];
    for (size_t a = 0; a < plan->n_axes; a++) {
        if (!job->positions)
            token_pos[a] = job->flags & POSENC_ROPE_SAME_POSITION ? job->start_pos : job->start_pos + (int64_t)t;
        else
            token_pos[a] = job->axis_stride ? job->positions[a * job->axis_stride + t]
                                            : job->positions[t * plan->n_axes + a];
    }
    for (size_t i = 0; i < plan->n_pairs; i++)
        pos[i] = (double)token_pos[plan->axis_of_pair[i]];
}

/* Tokens [t0, t1): per token cos/sin once (or the caller's tables), then every view. */
static void run_tokens(const rope_job *job, size_t t0, size_t t1)
{
    const posenc_rope_plan *plan = job->plan;
    float cos[POSENC_MAX_PAIRS], sin[POSENC_MAX_PAIRS];
    double pos[POSENC_MAX_PAIRS];
    if (job->cos_table) {
        for (size_t t = t0; t < t1; t++) {
            const float *c = job->cos_table + t * job->table_stride;
            const float *s = job->sin_table + t * job->table_stride;
            if (job->flags & POSENC_ROPE_INVERSE) {
                for (size_t i = 0; i < plan->n_pairs; i++)
                    sin[i] = -s[i];
                s = sin;
            }
            rotate_token(job, t, c, s);
        }
        return;
    }
    float cos_scale = (job->flags & POSENC_ROPE_NO_MSCALE) ? 1.0f : plan->mscale;
    float sin_scale = (job->flags & POSENC_ROPE_INVERSE) ? -cos_scale : cos_scale;
    int same = (job->flags & POSENC_ROPE_SAME_POSITION) != 0;
    for (size_t t = t0; t < t1; t++) {
        if (!same || t == t0) {
            pair_positions(job, t, pos);
            job->k->rope_sincos(plan->omega, pos, plan->n_pairs, cos_scale, sin_scale, cos, sin);
        }
        rotate_token(job, t, cos, sin);
    }
}

static void rope_task(void *arg, size_t task)
{
    const rope_job *job = arg;
    if (task >= job->n_tasks)
        return;
    size_t t0 = job->n_tokens * task / job->n_tasks, t1 = job->n_tokens * (task + 1) / job->n_tasks;
    run_tokens(job, t0, t1);
}

/* Split by tokens into tasks worth a switch each (every token computes its own tables, so the bits never
 * depend on the split), or run on the calling thread. */
static void run(rope_job *job, const posenc_parallel *parallel)
{
    size_t per_token = 0;
    for (size_t i = 0; i < job->n_views; i++)
        per_token += job->views[i].n_heads * job->plan->head_dim;
    size_t n_tasks = 1;
    if (parallel && parallel->max_tasks > 1 && job->n_tokens > 1) {
        size_t by_work = per_token >= MIN_TASK_ELEMENTS ? job->n_tokens
                                                        : job->n_tokens / (MIN_TASK_ELEMENTS / per_token);
        n_tasks = parallel->max_tasks;
        if (n_tasks > by_work)
            n_tasks = by_work;
    }
    if (n_tasks <= 1) {
        run_tokens(job, 0, job->n_tokens);
        return;
    }
    job->n_tasks = n_tasks;
    parallel->parallel_for(parallel->pool, n_tasks, rope_task, job);
}

posenc_status posenc_rope_args_init(posenc_rope_args *args, size_t size)
{
    if (!args)
        return POSENC_ERR_NULL;
    if (!posenc_struct_size_ok(size, POSENC_ROPE_ARGS_SIZE_V1, sizeof(posenc_rope_args)))
        return POSENC_ERR_STRUCT_SIZE;
    posenc_rope_args defaults;
    memset(&defaults, 0, sizeof defaults);
    defaults.struct_size = (uint32_t)size;
    memcpy(args, &defaults, size);
    return POSENC_OK;
}

/* The caller's args (or the defaults when NULL), fields past its struct_size reading as defaults. */
static posenc_status read_args(const posenc_rope_args *args, posenc_rope_args *out)
{
    posenc_rope_args_init(out, sizeof *out);
    if (!args)
        return POSENC_OK;
    if (!posenc_struct_size_ok(args->struct_size, POSENC_ROPE_ARGS_SIZE_V1, sizeof(posenc_rope_args)))
        return POSENC_ERR_STRUCT_SIZE;
    memcpy(out, args, args->struct_size);
    return POSENC_OK;
}

/* Validate and run n_views (1 or 2) src/dst pairs. */
static posenc_status rotate_views(const posenc_rope_plan *plan, const posenc_rope_args *args,
                                  const posenc_tensor *const *srcs, const posenc_tensor *const *dsts,
                                  const size_t *n_heads, size_t n_views, size_t n_tokens, const float *cos_table,
                                  const float *sin_table, size_t table_stride)
{
    if (!plan)
        return POSENC_ERR_NULL;
    posenc_rope_args a;
    posenc_status st = read_args(args, &a);
    if (st != POSENC_OK)
        return st;
    rope_job job = { .plan = plan, .n_views = n_views, .n_tokens = n_tokens };
    for (size_t i = 0; i < n_views; i++) {
        st = check_view(plan, srcs[i], dsts[i], n_tokens, n_heads[i], &job.views[i]);
        if (st != POSENC_OK)
            return st;
    }
    if (n_views == 2 && (views_collide(plan, n_tokens, &job.views[0], &job.views[1]) ||
                         views_collide(plan, n_tokens, &job.views[1], &job.views[0])))
        return POSENC_ERR_OVERLAP;
    if (cos_table) {
        /* Tables: only flags and the pool matter; positions play no part. */
        a.positions = NULL;
        a.flags &= ~POSENC_ROPE_SAME_POSITION;
        a.start_pos = 0;
    }
    st = check_args(plan, &a, &job);
    if (st != POSENC_OK)
        return st;
    if (cos_table) {
        if (n_tokens > 1 && table_stride < plan->n_pairs)
            return POSENC_ERR_STRIDE;
        size_t table_extent;
        st = posenc_grid_extent(n_tokens, table_stride, 1, 0, plan->n_pairs, 0, &table_extent);
        if (st != POSENC_OK)
            return st;
        const rope_view *v = &job.views[0];
        size_t span = token_span_bytes(plan, v->n_heads, v->dst_head_stride, v->dst_dtype);
        size_t dst_bytes = n_tokens ? (n_tokens - 1) * v->dst_token_stride * elem_size(v->dst_dtype) + span : 0;
        if (posenc_bytes_overlap(cos_table, table_extent * sizeof(float), v->dst, dst_bytes) ||
            posenc_bytes_overlap(sin_table, table_extent * sizeof(float), v->dst, dst_bytes))
            return POSENC_ERR_OVERLAP;
    }
    if (n_tokens == 0)
        return POSENC_OK;
    job.k = posenc_active_kernels();
    job.positions = a.positions;
    job.axis_stride = a.position_axis_stride;
    job.start_pos = a.start_pos;
    job.flags = a.flags;
    job.cos_table = cos_table;
    job.sin_table = sin_table;
    job.table_stride = table_stride;
    run(&job, a.parallel);
    return POSENC_OK;
}

posenc_status posenc_rope_rotate(const posenc_rope_plan *plan, const posenc_rope_args *args,
                                 const posenc_tensor *src, const posenc_tensor *dst,
                                 size_t n_tokens, size_t n_heads)
{
    const posenc_tensor *srcs[1] = { src }, *dsts[1] = { dst };
    return rotate_views(plan, args, srcs, dsts, &n_heads, 1, n_tokens, NULL, NULL, 0);
}

posenc_status posenc_rope_rotate_qk(const posenc_rope_plan *plan, const posenc_rope_args *args,
                                    const posenc_tensor *q_src, const posenc_tensor *k_src,
                                    const posenc_tensor *q_dst, const posenc_tensor *k_dst,
                                    size_t n_tokens, size_t n_q_heads, size_t n_k_heads)
{
    const posenc_tensor *srcs[2] = { q_src, k_src }, *dsts[2] = { q_dst, k_dst };
    size_t n_heads[2] = { n_q_heads, n_k_heads };
    return rotate_views(plan, args, srcs, dsts, n_heads, 2, n_tokens, NULL, NULL, 0);
}

posenc_status posenc_rope_rotate_tables(const posenc_rope_plan *plan, const posenc_rope_args *args,
                                        const posenc_tensor *src, const float *cos_table,
                                        const float *sin_table, size_t table_stride,
                                        const posenc_tensor *dst, size_t n_tokens, size_t n_heads)
{
    if (!plan || !cos_table || !sin_table)
        return POSENC_ERR_NULL;
    const posenc_tensor *srcs[1] = { src }, *dsts[1] = { dst };
    return rotate_views(plan, args, srcs, dsts, &n_heads, 1, n_tokens, cos_table, sin_table, table_stride);
}

/* ---- the 0.1 calls: float32 views over the 0.2 driver ---------------------------------------------------- */

#define V01_FLAGS (POSENC_ROPE_INVERSE | POSENC_ROPE_NO_MSCALE)

static posenc_tensor f32_view(const float *data, size_t token_stride, size_t head_stride)
{
    return (posenc_tensor){ .data = (void *)(uintptr_t)data, .dtype = POSENC_F32, .reserved = 0,
                            .stride_a = token_stride, .stride_b = head_stride };
}

static posenc_rope_args v01_args(const int64_t *positions, int64_t start_pos, uint32_t flags)
{
    posenc_rope_args a;
    posenc_rope_args_init(&a, sizeof a);
    a.positions = positions;
    a.start_pos = start_pos;
    /* 0.1 knew two flags: SAME_POSITION is not one of them, so it becomes a bit no version knows and the
     * validation refuses it (POSENC_ERR_ENUM), as 0.1 did. */
    a.flags = flags & ~POSENC_ROPE_SAME_POSITION;
    if (flags & POSENC_ROPE_SAME_POSITION)
        a.flags |= 0x80000000u;
    return a;
}

posenc_status posenc_rope_apply_to(const posenc_rope_plan *plan, const float *src, size_t src_token_stride,
                                   size_t src_head_stride, float *dst, size_t dst_token_stride,
                                   size_t dst_head_stride, size_t n_tokens, size_t n_heads,
                                   const int64_t *positions, int64_t start_pos, uint32_t flags)
{
    if (!plan || !src || !dst)
        return POSENC_ERR_NULL;
    posenc_tensor s = f32_view(src, src_token_stride, src_head_stride);
    posenc_tensor d = f32_view(dst, dst_token_stride, dst_head_stride);
    posenc_rope_args a = v01_args(positions, start_pos, flags);
    return posenc_rope_rotate(plan, &a, &s, &d, n_tokens, n_heads);
}

posenc_status posenc_rope_apply(const posenc_rope_plan *plan, float *x, size_t n_tokens, size_t n_heads,
                                size_t token_stride, size_t head_stride,
                                const int64_t *positions, int64_t start_pos, uint32_t flags)
{
    return posenc_rope_apply_to(plan, x, token_stride, head_stride, x, token_stride, head_stride, n_tokens,
                                n_heads, positions, start_pos, flags);
}

posenc_status posenc_rope_apply_qk(const posenc_rope_plan *plan,
                                   float *q, size_t n_q_heads, size_t q_token_stride, size_t q_head_stride,
                                   float *k, size_t n_k_heads, size_t k_token_stride, size_t k_head_stride,
                                   size_t n_tokens, const int64_t *positions, int64_t start_pos,
                                   uint32_t flags)
{
    if (!plan || !q || !k)
        return POSENC_ERR_NULL;
    posenc_tensor qv = f32_view(q, q_token_stride, q_head_stride);
    posenc_tensor kv = f32_view(k, k_token_stride, k_head_stride);
    posenc_rope_args a = v01_args(positions, start_pos, flags);
    return posenc_rope_rotate_qk(plan, &a, &qv, &kv, &qv, &kv, n_tokens, n_q_heads, n_k_heads);
}

posenc_status posenc_rope_shift(const posenc_rope_plan *plan, float *x, size_t n_tokens, size_t n_heads,
                                size_t token_stride, size_t head_stride, int64_t delta, uint32_t flags)
{
    if (!plan || !x)
        return POSENC_ERR_NULL;
    posenc_tensor v = f32_view(x, token_stride, head_stride);
    posenc_rope_args a = v01_args(NULL, delta, flags);
    if (!(a.flags & ~V01_FLAGS))
        a.flags |= POSENC_ROPE_SAME_POSITION | POSENC_ROPE_NO_MSCALE;
    return posenc_rope_rotate(plan, &a, &v, &v, n_tokens, n_heads);
}

posenc_status posenc_rope_apply_tables(const posenc_rope_plan *plan, const float *src, size_t src_token_stride,
                                       size_t src_head_stride, float *dst, size_t dst_token_stride,
                                       size_t dst_head_stride, size_t n_tokens, size_t n_heads,
                                       const float *cos_table, const float *sin_table, size_t table_stride,
                                       uint32_t flags)
{
    if (!plan || !src || !dst || !cos_table || !sin_table)
        return POSENC_ERR_NULL;
    posenc_tensor s = f32_view(src, src_token_stride, src_head_stride);
    posenc_tensor d = f32_view(dst, dst_token_stride, dst_head_stride);
    posenc_rope_args a = v01_args(NULL, 0, flags);
    return posenc_rope_rotate_tables(plan, &a, &s, cos_table, sin_table, table_stride, &d, n_tokens, n_heads);
}
