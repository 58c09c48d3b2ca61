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
    if (size < POSENC_ROPE_CONFIG_MIN_SIZE || size > sizeof(posenc_rope_config))
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
    memcpy(config, &defaults, size);
    return POSENC_OK;
}

posenc_status posenc_rope_plan_create(const posenc_rope_config *config, posenc_rope_plan **plan_out)
{
    if (!config || !plan_out)
        return POSENC_ERR_NULL;
    if (config->struct_size < POSENC_ROPE_CONFIG_MIN_SIZE || config->struct_size > sizeof(posenc_rope_config))
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

/* One tensor to rotate: n_heads rows of head_dim per token, src into dst. */
typedef struct rope_tensor {
    const float *src;
    float *dst;
    size_t n_heads;
    size_t src_token_stride, src_head_stride;
    size_t dst_token_stride, dst_head_stride;
    size_t src_extent, dst_extent;          /* filled by check_tensor */
} rope_tensor;

#define KNOWN_FLAGS (POSENC_ROPE_INVERSE | POSENC_ROPE_NO_MSCALE)

/* Floats spanned by one token's heads (fits: the extents were validated). */
static size_t token_span(const posenc_rope_plan *plan, const rope_tensor *t, size_t head_stride)
{
    return (t->n_heads - 1) * head_stride + plan->head_dim;
}

static posenc_status check_tensor(const posenc_rope_plan *plan, size_t n_tokens, rope_tensor *t)
{
    if (!t->src || !t->dst)
        return POSENC_ERR_NULL;
    if (t->n_heads == 0)
        return POSENC_ERR_SHAPE;
    posenc_status st = posenc_grid_extent(n_tokens, t->src_token_stride, t->n_heads, t->src_head_stride,
                                          plan->head_dim, 1, &t->src_extent);
    if (st == POSENC_OK)
        st = posenc_grid_extent(n_tokens, t->dst_token_stride, t->n_heads, t->dst_head_stride, plan->head_dim,
                                1, &t->dst_extent);
    if (st != POSENC_OK)
        return st;
    if (t->src == t->dst) {
        if (n_tokens > 1 && t->src_token_stride != t->dst_token_stride)
            return POSENC_ERR_OVERLAP;
        if (t->n_heads > 1 && t->src_head_stride != t->dst_head_stride)
            return POSENC_ERR_OVERLAP;
    } else if (posenc_token_blocks_overlap(t->src, t->src_token_stride, token_span(plan, t, t->src_head_stride),
                                           t->dst, t->dst_token_stride, token_span(plan, t, t->dst_head_stride),
                                           n_tokens)) {
        return POSENC_ERR_OVERLAP;
    }
    return POSENC_OK;
}

static int position_ok(int64_t p)
{
    return p >= -POSENC_MAX_POSITION && p <= POSENC_MAX_POSITION;
}

/* Positions are read token by token while earlier tokens are written: the array must not overlap a written
 * tensor (the first n_written of `tensors`, each validated by check_tensor). */
static posenc_status check_positions(const posenc_rope_plan *plan, size_t n_tokens, const int64_t *positions,
                                     int64_t start_pos, const rope_tensor *tensors, size_t n_written)
{
    if (n_tokens == 0)
        return POSENC_OK;
    if (positions) {
        size_t bytes;
        if (__builtin_mul_overflow(n_tokens, plan->n_axes * sizeof(int64_t), &bytes) || bytes > (size_t)PTRDIFF_MAX)
            return POSENC_ERR_SHAPE;
        for (size_t i = 0; i < n_written; i++)
            if (posenc_bytes_overlap(positions, bytes, tensors[i].dst, tensors[i].dst_extent * sizeof(float)))
                return POSENC_ERR_OVERLAP;
        for (size_t i = 0; i < n_tokens * plan->n_axes; i++)
            if (!position_ok(positions[i]))
                return POSENC_ERR_RANGE;
        return POSENC_OK;
    }
    if (!position_ok(start_pos) || n_tokens - 1 > (uint64_t)(POSENC_MAX_POSITION - start_pos))
        return POSENC_ERR_RANGE;
    return POSENC_OK;
}

static void rotate(const posenc_kernels *k, const posenc_rope_plan *plan, const rope_tensor *t, size_t token,
                   const float *cos, const float *sin)
{
    posenc_rope_heads job = {
        .cos = cos, .sin = sin, .n_pairs = plan->n_pairs, .head_dim = plan->head_dim, .n_heads = t->n_heads,
        .src = t->src + token * t->src_token_stride, .src_head_stride = t->src_head_stride,
        .dst = t->dst + token * t->dst_token_stride, .dst_head_stride = t->dst_head_stride,
    };
    if (plan->pairing == POSENC_ROPE_HALF)
        k->rope_rotate_half(&job);
    else
        k->rope_rotate_interleaved(&job);
}

/* Fill the per-pair positions of one token. */
static void pair_positions(const posenc_rope_plan *plan, const int64_t *token_pos, double *pos)
{
    if (plan->n_axes == 1) {
        double p = (double)token_pos[0];
        for (size_t i = 0; i < plan->n_pairs; i++)
            pos[i] = p;
    } else {
        for (size_t i = 0; i < plan->n_pairs; i++)
            pos[i] = (double)token_pos[plan->axis_of_pair[i]];
    }
}

/* The driver: per token, cos/sin once, then every tensor. All arguments are valid. */
static void run(const posenc_rope_plan *plan, const rope_tensor *tensors, size_t n_tensors, size_t n_tokens,
                const int64_t *positions, int64_t start_pos, uint32_t flags)
{
    const posenc_kernels *k = posenc_active_kernels();
    float cos_scale = (flags & POSENC_ROPE_NO_MSCALE) ? 1.0f : plan->mscale;
    float sin_scale = (flags & POSENC_ROPE_INVERSE) ? -cos_scale : cos_scale;
    double pos[POSENC_MAX_PAIRS];
    float cos[POSENC_MAX_PAIRS], sin[POSENC_MAX_PAIRS];
    int64_t token_pos[3];
    for (size_t t = 0; t < n_tokens; t++) {
        const int64_t *tp = positions ? positions + t * plan->n_axes : token_pos;
        if (!positions)
            token_pos[0] = token_pos[1] = token_pos[2] = start_pos + (int64_t)t;
        pair_positions(plan, tp, pos);
        k->rope_sincos(plan->omega, pos, plan->n_pairs, cos_scale, sin_scale, cos, sin);
        for (size_t i = 0; i < n_tensors; i++)
            rotate(k, plan, &tensors[i], t, cos, sin);
    }
}

posenc_status posenc_rope_apply_to(const posenc_rope_plan *plan, const float *src, size_t src_token_stride,
                                   size_t src_head_stride, float *dst, size_t dst_token_stride,
                                   size_t dst_head_stride, size_t n_tokens, size_t n_heads,
                                   const int64_t *positions, int64_t start_pos, uint32_t flags)
{
    if (!plan)
        return POSENC_ERR_NULL;
    rope_tensor t = { src, dst, n_heads, src_token_stride, src_head_stride, dst_token_stride, dst_head_stride,
                      0, 0 };
    posenc_status st = check_tensor(plan, n_tokens, &t);
    if (st != POSENC_OK)
        return st;
    if (flags & ~KNOWN_FLAGS)
        return POSENC_ERR_ENUM;
    st = check_positions(plan, n_tokens, positions, start_pos, &t, 1);
    if (st != POSENC_OK)
        return st;
    run(plan, &t, 1, n_tokens, positions, start_pos, flags);
    return POSENC_OK;
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
    if (!plan)
        return POSENC_ERR_NULL;
    rope_tensor t[2] = {
        { q, q, n_q_heads, q_token_stride, q_head_stride, q_token_stride, q_head_stride, 0, 0 },
        { k, k, n_k_heads, k_token_stride, k_head_stride, k_token_stride, k_head_stride, 0, 0 },
    };
    for (int i = 0; i < 2; i++) {
        posenc_status st = check_tensor(plan, n_tokens, &t[i]);
        if (st != POSENC_OK)
            return st;
    }
    if (posenc_token_blocks_overlap(q, q_token_stride, token_span(plan, &t[0], q_head_stride), k, k_token_stride,
                                    token_span(plan, &t[1], k_head_stride), n_tokens))
        return POSENC_ERR_OVERLAP;
    if (flags & ~KNOWN_FLAGS)
        return POSENC_ERR_ENUM;
    posenc_status st = check_positions(plan, n_tokens, positions, start_pos, t, 2);
    if (st != POSENC_OK)
        return st;
    run(plan, t, 2, n_tokens, positions, start_pos, flags);
    return POSENC_OK;
}

posenc_status posenc_rope_shift(const posenc_rope_plan *plan, float *x, size_t n_tokens, size_t n_heads,
                                size_t token_stride, size_t head_stride, int64_t delta, uint32_t flags)
{
    if (!plan)
        return POSENC_ERR_NULL;
    rope_tensor t = { x, x, n_heads, token_stride, head_stride, token_stride, head_stride, 0, 0 };
    posenc_status st = check_tensor(plan, n_tokens, &t);
    if (st != POSENC_OK)
        return st;
    if (flags & ~KNOWN_FLAGS)
        return POSENC_ERR_ENUM;
    if (!position_ok(delta))
        return POSENC_ERR_RANGE;
    if (n_tokens == 0)
        return POSENC_OK;

    const posenc_kernels *k = posenc_active_kernels();
    float sin_scale = (flags & POSENC_ROPE_INVERSE) ? -1.0f : 1.0f;
    double pos[POSENC_MAX_PAIRS];
    float cos[POSENC_MAX_PAIRS], sin[POSENC_MAX_PAIRS];
    int64_t token_pos[3] = { delta, delta, delta };
    pair_positions(plan, token_pos, pos);
    k->rope_sincos(plan->omega, pos, plan->n_pairs, 1.0f, sin_scale, cos, sin);
    for (size_t i = 0; i < n_tokens; i++)
        rotate(k, plan, &t, i, cos, sin);
    return POSENC_OK;
}

posenc_status posenc_rope_apply_tables(const posenc_rope_plan *plan, const float *src, size_t src_token_stride,
                                       size_t src_head_stride, float *dst, size_t dst_token_stride,
                                       size_t dst_head_stride, size_t n_tokens, size_t n_heads,
                                       const float *cos_table, const float *sin_table, size_t table_stride,
                                       uint32_t flags)
{
    if (!plan || !cos_table || !sin_table)
        return POSENC_ERR_NULL;
    rope_tensor t = { src, dst, n_heads, src_token_stride, src_head_stride, dst_token_stride, dst_head_stride,
                      0, 0 };
    posenc_status st = check_tensor(plan, n_tokens, &t);
    if (st != POSENC_OK)
        return st;
    if (flags & ~KNOWN_FLAGS)
        return POSENC_ERR_ENUM;
    if (n_tokens > 1 && table_stride < plan->n_pairs)
        return POSENC_ERR_STRIDE;
    size_t table_extent;
    st = posenc_grid_extent(n_tokens, table_stride, 1, 0, plan->n_pairs, 0, &table_extent);
    if (st != POSENC_OK)
        return st;
    if (posenc_ranges_overlap(cos_table, table_extent, dst, t.dst_extent) ||
        posenc_ranges_overlap(sin_table, table_extent, dst, t.dst_extent))
        return POSENC_ERR_OVERLAP;

    const posenc_kernels *k = posenc_active_kernels();
    float neg_sin[POSENC_MAX_PAIRS];
    for (size_t i = 0; i < n_tokens; i++) {
        const float *c = cos_table + i * table_stride;
        const float *s = sin_table + i * table_stride;
        if (flags & POSENC_ROPE_INVERSE) {
            for (size_t j = 0; j < plan->n_pairs; j++)
                neg_sin[j] = -s[j];
            s = neg_sin;
        }
        rotate(k, plan, &t, i, c, s);
    }
    return POSENC_OK;
}
