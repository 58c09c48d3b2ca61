/* fuzz_diff.c - differential libFuzzer harness: random VALID calls on every variant vs the scalar reference.
 *
 * Every input becomes one valid call: a RoPE plan (every scaling scheme and position axes, both pairings, partial
 * rotary) driven through one of the five apply entry points, or a softmax descriptor (every position and slopes
 * mode, mask with broadcast strides, sinks, in or out of place), with random shapes, strides, unaligned pointers
 * and positions up to +-POSENC_MAX_POSITION. The call runs on the scalar reference and on every other variant
 * this CPU supports (chosen by name through posenc_isa_name / posenc_isa_supported / posenc_set_isa); each must
 * return the same status and write the same bytes (memcmp of every buffer the call may write, whole
 * allocations). Buffers end exactly where the arguments' extent ends, so ASan reports any read or write past it.
 *
 * Values: the main path keeps every input finite and small enough that no intermediate overflows, so outputs
 * are finite and compared byte for byte. A second path (about one input in four) plants NaN / +inf / -inf in
 * the inputs; NaN outputs are compared byte for byte too (every variant writes the canonical quiet NaN,
 * src/numerics.h); -DFUZZ_DIFF_NAN_BY_CLASS relaxes that to NaN-ness, for bisecting a payload difference.
 *
 * Build and run: tests/fuzz/README.md. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posenc.h"

/* ---- input bytes -------------------------------------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    size_t n;
    uint64_t rng;      /* tensor values: splitmix64 seeded from the whole input (deterministic per input) */
} reader;

static uint64_t next_random(reader *r)
{
    uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The next `bytes` bytes, big-endian; zeros once the input is exhausted (so every input is a complete call). */
static uint64_t take(reader *r, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        v = (v << 8) | (r->n ? *r->p : 0);
        if (r->n)
            r->p++, r->n--;
    }
    return v;
}

/* Uniform-ish integer in [lo, hi]. */
static int64_t take_range(reader *r, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;
    unsigned bytes = span <= 0x100 ? 1 : span <= 0x10000 ? 2 : span <= 0x100000000ull ? 4 : 8;
    return span == 0 ? (int64_t)take(r, 8) : lo + (int64_t)(take(r, bytes) % span);
}

/* A double in [lo, hi], from 16 bits. */
static double take_unit(reader *r, double lo, double hi)
{
    return lo + (hi - lo) * (double)take(r, 2) / 65535.0;
}

/* log-uniform in [lo, hi], lo > 0 */
static double take_log(reader *r, double lo, double hi)
{
    return lo * pow(hi / lo, take_unit(r, 0.0, 1.0));
}

/* A count that is usually small and sometimes at a vector-width edge. */
static size_t take_count(reader *r, size_t lo, size_t hi)
{
    static const size_t edges[] = { 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129 };
    size_t n;
    switch (take(r, 1) % 4) {
    case 0: n = edges[take(r, 1) % (sizeof edges / sizeof edges[0])]; break;
    default: n = (size_t)take_range(r, (int64_t)lo, (int64_t)hi); break;
    }
    return n < lo ? lo : n > hi ? hi : n;
}

/* A finite float of the kind tensors hold: mostly in [-scale, scale], some exact zeros, subnormals, and values
 * near float edges that the call cannot overflow (the caller picks `scale`). Drawn from the input's random
 * stream, not its bytes, so that short inputs still fill large tensors with varied values. */
static float take_value(reader *r, float scale)
{
    uint64_t bits = next_random(r);
    switch (bits % 16) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: return (float)((int)(bits >> 8 & 7) - 3) * 0x1p-140f;                  /* subnormal */
    case 3: return (float)((int32_t)(bits >> 8 & 0x1ffff) - 0xffff) * 0x1p-16f * scale;
    default: return (float)(int32_t)(uint32_t)(bits >> 32) * 0x1p-31f * scale;
    }
}

/* 1 with probability 1 / n, from the input's random stream. */
static int one_in(reader *r, unsigned n)
{
    return next_random(r) % n == 0;
}

/* ---- exact-extent buffers ----------------------------------------------------------------------------------- */

/* Floats addressed by a [n_a][n_b][row] grid (last one + 1); 0 for an empty grid. Computed independently of the
 * library, in 128 bits. */
static size_t grid_floats(size_t n_a, size_t s_a, size_t n_b, size_t s_b, size_t row)
{
    if (n_a == 0 || n_b == 0 || row == 0)
        return 0;
    unsigned __int128 end = (unsigned __int128)(n_a - 1) * s_a + (unsigned __int128)(n_b - 1) * s_b + row;
    if (end > (1u << 22))
        abort();                              /* the generator keeps buffers small: a bug in this harness */
    return (size_t)end;
}

/* n floats ending exactly at the allocation's end (ASan sees a step past it), starting `misalign` floats into
 * the allocation (so SIMD loads meet unaligned pointers). */
typedef struct fbuf {
    float *base;
    float *data;
    size_t n;          /* floats from data to the end */
    size_t total;      /* floats from base to the end */
} fbuf;

static fbuf fbuf_new(size_t n, size_t misalign)
{
    fbuf b;
    b.total = n + misalign;
    b.base = malloc((b.total ? b.total : 1) * sizeof(float));
    if (!b.base)
        abort();
    b.data = b.base + misalign;
    b.n = n;
    for (size_t i = 0; i < b.total; i++)
        b.base[i] = (float)(int)(i % 7) - 3.0f;   /* defined bytes everywhere (untouched padding included) */
    return b;
}

static void fbuf_free(fbuf *b)
{
    free(b->base);
    b->base = b->data = NULL;
}

/* The call under test, in words, for failure reports. */
static char call_text[768];

/* A failed expectation: say which and on what call, then abort (libFuzzer saves the input). */
#define must(cond)                                                                                             \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            fprintf(stderr, "fuzz_diff: %s:%d: expected %s\n  call: %s\n", __FILE__, __LINE__, #cond,         \
                    call_text);                                                                                \
            abort();                                                                                           \
        }                                                                                                      \
    } while (0)

/* Equal outputs: byte equality, NaN bytes included. Built with -DFUZZ_DIFF_NAN_BY_CLASS, two NaNs on the
 * NaN-input path match whatever their payload (for bisecting a payload difference). */
static int same_outputs(const float *a, const float *b, size_t n, int nan_by_class)
{
#ifndef FUZZ_DIFF_NAN_BY_CLASS
    nan_by_class = 0;
#endif
    if (!nan_by_class)
        return memcmp(a, b, n * sizeof(float)) == 0;
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&a[i], &b[i], sizeof(float)) == 0)
            continue;
        if (!(isnan(a[i]) && isnan(b[i])))
            return 0;
    }
    return 1;
}

/* 1 if every non-finite value of out[0..n) was already there, bit for bit, in before[0..n) (unwritten padding
 * and read-only sources keep their -inf entries; a written output must be finite). */
static int no_new_non_finite(const float *out, const float *before, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(out[i]) && memcmp(&out[i], &before[i], sizeof(float)) != 0)
            return 0;
    return 1;
}

/* Plant NaN / +inf / -inf at a few places of x[0..n). */
static void plant_non_finite(reader *r, float *x, size_t n)
{
    if (n == 0)
        return;
    size_t count = 1 + (size_t)take(r, 1) % 3;
    for (size_t k = 0; k < count; k++) {
        size_t at = (size_t)take_range(r, 0, (int64_t)n - 1);
        switch (take(r, 1) % 3) {
        case 0: x[at] = NAN; break;
        case 1: x[at] = INFINITY; break;
        default: x[at] = -INFINITY; break;
        }
    }
}

/* ---- variants ----------------------------------------------------------------------------------------------- */

#define MAX_VARIANTS 8
static const char *variants[MAX_VARIANTS];   /* supported, other than scalar */
static size_t n_variants;

static void find_variants(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    for (size_t i = 0; i < posenc_isa_count() && n_variants < MAX_VARIANTS; i++)
        if (posenc_isa_supported(i) && strcmp(posenc_isa_name(i), "scalar") != 0)
            variants[n_variants++] = posenc_isa_name(i);
}

/* A call's writable state: up to three buffers the call may write, saved before the reference run so every
 * variant starts from the same bytes. */
#define MAX_OUT 3
typedef struct outputs {
    fbuf *buf[MAX_OUT];
    size_t n;
    float *initial[MAX_OUT];
    float *reference[MAX_OUT];
} outputs;

static void outputs_save(outputs *o)
{
    for (size_t i = 0; i < o->n; i++) {
        size_t bytes = o->buf[i]->total * sizeof(float);
        o->initial[i] = malloc(bytes ? bytes : 1);
        o->reference[i] = malloc(bytes ? bytes : 1);
        must(o->initial[i] && o->reference[i]);
        memcpy(o->initial[i], o->buf[i]->base, bytes);
    }
}

static void outputs_restore(outputs *o)
{
    for (size_t i = 0; i < o->n; i++)
        memcpy(o->buf[i]->base, o->initial[i], o->buf[i]->total * sizeof(float));
}

static void outputs_keep_reference(outputs *o)
{
    for (size_t i = 0; i < o->n; i++)
        memcpy(o->reference[i], o->buf[i]->base, o->buf[i]->total * sizeof(float));
}

static int outputs_match_reference(const outputs *o, int nan_by_class, const char *variant)
{
    for (size_t i = 0; i < o->n; i++) {
        const float *want = o->reference[i], *got = o->buf[i]->base;
        if (same_outputs(want, got, o->buf[i]->total, nan_by_class))
            continue;
        for (size_t j = 0; j < o->buf[i]->total; j++) {
            if (!same_outputs(&want[j], &got[j], 1, nan_by_class)) {
                fprintf(stderr, "fuzz_diff: %s differs from scalar in buffer %zu at float %zu (of %zu, data from "
                        "%zu): %a vs %a\n", variant, i, j, o->buf[i]->total,
                        (size_t)(o->buf[i]->data - o->buf[i]->base), (double)got[j], (double)want[j]);
                break;
            }
        }
        return 0;
    }
    return 1;
}

static void outputs_free(outputs *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->initial[i]);
        free(o->reference[i]);
    }
}

/* Runs `call` on scalar, then on every other variant from the same initial bytes; statuses and bytes must match.
 * Returns the status. */
typedef posenc_status (*call_fn)(void *ctx);

static posenc_status run_everywhere(call_fn call, void *ctx, outputs *o, int nan_by_class)
{
    find_variants();
    outputs_save(o);
    must(posenc_set_isa("scalar") == POSENC_OK);
    posenc_status want = call(ctx);
    outputs_keep_reference(o);
    if (!nan_by_class)                         /* finite inputs give finite outputs */
        for (size_t i = 0; i < o->n; i++)
            must(no_new_non_finite(o->buf[i]->base, o->initial[i], o->buf[i]->total));
    for (size_t v = 0; v < n_variants; v++) {
        outputs_restore(o);
        must(posenc_set_isa(variants[v]) == POSENC_OK);
        must(call(ctx) == want);
        must(outputs_match_reference(o, nan_by_class, variants[v]));
    }
    outputs_free(o);
    return want;
}

/* ---- RoPE --------------------------------------------------------------------------------------------------- */

/* Split `total` pairs into n sections (each >= 0). */
static void take_sections(reader *r, posenc_rope_config *cfg, size_t n, size_t total)
{
    size_t left = total;
    for (size_t a = 0; a + 1 < n; a++) {
        size_t s = (size_t)take_range(r, 0, (int64_t)left);
        cfg->sections[a] = (int32_t)s;
        left -= s;
    }
    cfg->sections[n - 1] = (int32_t)left;
    cfg->sections[3] = (int32_t)take_range(r, 0, 5);   /* past n_sections: ignored */
    cfg->n_sections = (int32_t)n;
}

static double list_a[POSENC_MAX_HEAD_DIM / 2], list_b[POSENC_MAX_HEAD_DIM / 2];

/* A valid plan configuration from the input (every scheme with parameters in their documented ranges). */
static posenc_rope_config take_rope_config(reader *r)
{
    posenc_rope_config cfg;
    posenc_rope_config_init(&cfg, sizeof cfg);
    size_t n_pairs = take_count(r, 1, 64);
    if (take(r, 1) % 16 == 0)
        n_pairs = (size_t)take_range(r, 1, POSENC_MAX_HEAD_DIM / 2);
    size_t head_dim = 2 * n_pairs + (take(r, 1) % 3 == 0 ? (size_t)take_range(r, 0, 9) : 0);
    if (head_dim > POSENC_MAX_HEAD_DIM)
        head_dim = POSENC_MAX_HEAD_DIM;
    cfg.head_dim = (uint32_t)head_dim;
    cfg.rotary_dim = head_dim == 2 * n_pairs && take(r, 1) % 2 ? 0 : (uint32_t)(2 * n_pairs);
    cfg.pairing = (int32_t)(take(r, 1) % 2);
    cfg.base = take(r, 1) % 4 ? 10000.0 : take_log(r, 1.5, 1e7);
    cfg.scaling = (int32_t)(take(r, 1) % 8);
    cfg.axes = (int32_t)(take(r, 1) % 4);
    if (cfg.axes == POSENC_AXES_VISION_2D && cfg.scaling != POSENC_SCALING_NONE &&
        cfg.scaling != POSENC_SCALING_LINEAR && cfg.scaling != POSENC_SCALING_FREQ_FACTORS)
        cfg.scaling = POSENC_SCALING_LINEAR;
    if (n_pairs < 2 && (cfg.scaling == POSENC_SCALING_NTK || cfg.scaling == POSENC_SCALING_DYNAMIC_NTK))
        cfg.scaling = POSENC_SCALING_LINEAR;
    if (cfg.axes == POSENC_AXES_MROPE || cfg.axes == POSENC_AXES_MROPE_INTERLEAVED)
        take_sections(r, &cfg, 3, n_pairs);
    else if (cfg.axes == POSENC_AXES_VISION_2D)
        take_sections(r, &cfg, 2, n_pairs);

    cfg.factor = take_log(r, 1.0, 64.0);
    cfg.original_max_position = (double)take_range(r, 256, 131072);
    switch (cfg.scaling) {
    case POSENC_SCALING_DYNAMIC_NTK:
        cfg.sequence_length = take(r, 1) % 4 ? take_unit(r, 0.0, 4.0 * cfg.original_max_position) : 0.0;
        break;
    case POSENC_SCALING_YARN:
        cfg.beta_fast = take_log(r, 1.0, 64.0);
        cfg.beta_slow = take_log(r, 0.25, cfg.beta_fast);
        if (cfg.beta_slow > cfg.beta_fast)
            cfg.beta_slow = cfg.beta_fast;
        cfg.attention_factor = take(r, 1) % 3 ? 0.0 : take_log(r, 0.1, 10.0);
        if (take(r, 1) % 3 == 0) {
            cfg.mscale = take_unit(r, 0.0, 2.0);
            cfg.mscale_all_dim = take_unit(r, 0.0, 2.0);
        }
        break;
    case POSENC_SCALING_LLAMA3:
        cfg.low_freq_factor = take_log(r, 0.5, 4.0);
        cfg.high_freq_factor = cfg.low_freq_factor + take_log(r, 0.1, 8.0);
        break;
    case POSENC_SCALING_LONGROPE:
        for (size_t i = 0; i < n_pairs; i++) {
            list_a[i] = take_log(r, 0.5, 64.0);
            list_b[i] = take_log(r, 0.5, 64.0);
        }
        cfg.short_factors = list_a;
        cfg.long_factors = list_b;
        cfg.use_long_factors = (int32_t)(take(r, 1) % 2);
        cfg.factor = take_log(r, 0.5, 64.0);
        cfg.attention_factor = take(r, 1) % 3 ? 0.0 : take_log(r, 0.1, 10.0);
        break;
    case POSENC_SCALING_FREQ_FACTORS:
        for (size_t i = 0; i < n_pairs; i++)
            list_a[i] = take_log(r, 1e-3, 1e3);
        cfg.freq_factors = list_a;
        break;
    default:
        break;
    }
    return cfg;
}

/* Strides of a [n_tokens][n_heads][head_dim] tensor: token-major or head-major, with padding. */
static void take_rope_layout(reader *r, size_t n_tokens, size_t n_heads, size_t head_dim, size_t *token_stride,
                             size_t *head_stride)
{
    size_t pad = take(r, 1) % 3 ? 0 : (size_t)take_range(r, 1, 9);
    size_t pad2 = take(r, 1) % 3 ? 0 : (size_t)take_range(r, 1, 9);
    if (take(r, 1) % 3) {
        *head_stride = head_dim + pad;
        *token_stride = n_heads * *head_stride + pad2;
    } else {
        *token_stride = head_dim + pad;
        *head_stride = n_tokens * *token_stride + pad2;
    }
    if (n_heads == 1 && take(r, 1) % 4 == 0)
        *head_stride = 0;                    /* irrelevant for one head */
    if (n_tokens == 1 && take(r, 1) % 4 == 0)
        *token_stride = 0;
}

static int64_t take_position(reader *r)
{
    switch (take(r, 1) % 6) {
    case 0: return POSENC_MAX_POSITION - take_range(r, 0, 100);
    case 1: return -POSENC_MAX_POSITION + take_range(r, 0, 100);
    case 2: return take_range(r, -POSENC_MAX_POSITION, POSENC_MAX_POSITION);
    default: return take_range(r, -100, 5000);
    }
}

typedef enum rope_op { OP_APPLY, OP_APPLY_TO, OP_APPLY_QK, OP_SHIFT, OP_TABLES } rope_op;

typedef struct rope_call {
    rope_op op;
    const posenc_rope_plan *plan;
    size_t n_tokens, n_heads, n_k_heads;
    fbuf *x, *y;                         /* x: src / q / in place; y: dst / k (may alias x's buffer) */
    float *x_ptr, *y_ptr;
    size_t x_ts, x_hs, y_ts, y_hs;
    const int64_t *positions;
    int64_t start_pos, delta;
    uint32_t flags;
    const float *cos_table, *sin_table;
    size_t table_stride;
} rope_call;

static posenc_status rope_call_run(void *ctx)
{
    const rope_call *c = ctx;
    switch (c->op) {
    case OP_APPLY:
        return posenc_rope_apply(c->plan, c->x_ptr, c->n_tokens, c->n_heads, c->x_ts, c->x_hs, c->positions,
                                 c->start_pos, c->flags);
    case OP_APPLY_TO:
        return posenc_rope_apply_to(c->plan, c->x_ptr, c->x_ts, c->x_hs, c->y_ptr, c->y_ts, c->y_hs, c->n_tokens,
                                    c->n_heads, c->positions, c->start_pos, c->flags);
    case OP_APPLY_QK:
        return posenc_rope_apply_qk(c->plan, c->x_ptr, c->n_heads, c->x_ts, c->x_hs, c->y_ptr, c->n_k_heads,
                                    c->y_ts, c->y_hs, c->n_tokens, c->positions, c->start_pos, c->flags);
    case OP_SHIFT:
        return posenc_rope_shift(c->plan, c->x_ptr, c->n_tokens, c->n_heads, c->x_ts, c->x_hs, c->delta,
                                 c->flags);
    default:
        return posenc_rope_apply_tables(c->plan, c->x_ptr, c->x_ts, c->x_hs, c->y_ptr, c->y_ts, c->y_hs,
                                        c->n_tokens, c->n_heads, c->cos_table, c->sin_table, c->table_stride,
                                        c->flags);
    }
}

static void fill(reader *r, fbuf *b, float scale)
{
    for (size_t i = 0; i < b->n; i++)
        b->data[i] = take_value(r, scale);
}

static void fuzz_rope(reader *r)
{
    posenc_rope_config cfg = take_rope_config(r);
    posenc_rope_plan *plan = NULL;
    must(posenc_rope_plan_create(&cfg, &plan) == POSENC_OK);   /* valid by construction */
    size_t head_dim = cfg.head_dim, n_pairs = (cfg.rotary_dim ? cfg.rotary_dim : cfg.head_dim) / 2;
    size_t n_axes = posenc_rope_plan_axes(plan);

    rope_call c;
    memset(&c, 0, sizeof c);
    c.op = (rope_op)(take(r, 1) % 5);
    c.plan = plan;
    c.n_tokens = take(r, 1) % 16 == 0 ? 0 : take_count(r, 1, 6);
    c.n_heads = (size_t)take_range(r, 1, 4);
    c.n_k_heads = (size_t)take_range(r, 1, 3);
    c.flags = (uint32_t)(take(r, 1) % 4);
    int nan_path = take(r, 1) % 4 == 0;
    float scale = take(r, 1) % 4 ? 4.0f : 1e30f;

    fbuf x, y, tables = { 0 };
    size_t x_misalign = (size_t)take_range(r, 0, 15), y_misalign = (size_t)take_range(r, 0, 15);
    outputs o;
    memset(&o, 0, sizeof o);
    int fused = c.op == OP_APPLY_QK && take(r, 1) % 3 == 0;
    if (fused) {
        /* One QKV buffer: per token [q heads | k heads | v heads], q and k sharing the token stride. */
        size_t n_v = (size_t)take_range(r, 0, 2);
        c.x_hs = c.y_hs = head_dim;
        c.x_ts = c.y_ts = (c.n_heads + c.n_k_heads + n_v) * head_dim;
        x = fbuf_new(grid_floats(c.n_tokens, c.x_ts, 1, 0, c.x_ts), x_misalign);
        fill(r, &x, scale);
        c.x_ptr = x.data;
        c.y_ptr = x.data + c.n_heads * head_dim;
        o.buf[o.n++] = &x;
        y = fbuf_new(0, 0);
    } else {
        take_rope_layout(r, c.n_tokens, c.n_heads, head_dim, &c.x_ts, &c.x_hs);
        x = fbuf_new(grid_floats(c.n_tokens, c.x_ts, c.n_heads, c.x_hs, head_dim), x_misalign);
        fill(r, &x, scale);
        c.x_ptr = x.data;
        size_t y_heads = c.op == OP_APPLY_QK ? c.n_k_heads : c.n_heads;
        int in_place = (c.op == OP_APPLY_TO || c.op == OP_TABLES) && take(r, 1) % 3 == 0;
        if (in_place) {
            c.y_ts = c.x_ts, c.y_hs = c.x_hs;
            c.y_ptr = x.data;
            y = fbuf_new(0, 0);
        } else {
            take_rope_layout(r, c.n_tokens, y_heads, head_dim, &c.y_ts, &c.y_hs);
            y = fbuf_new(grid_floats(c.n_tokens, c.y_ts, y_heads, c.y_hs, head_dim), y_misalign);
            fill(r, &y, scale);
            c.y_ptr = y.data;
        }
        o.buf[o.n++] = &x;
        if (c.op == OP_APPLY_TO || c.op == OP_APPLY_QK || c.op == OP_TABLES)
            o.buf[o.n++] = &y;
    }

    int64_t *positions = NULL;
    if ((c.op == OP_APPLY || c.op == OP_APPLY_TO || c.op == OP_APPLY_QK) && take(r, 1) % 2) {
        positions = malloc((c.n_tokens * n_axes ? c.n_tokens * n_axes : 1) * sizeof(int64_t));
        must(positions != NULL);
        for (size_t i = 0; i < c.n_tokens * n_axes; i++)
            positions[i] = take_position(r);
    }
    c.positions = positions;
    c.start_pos = take_position(r);
    if (c.n_tokens > 0 && c.start_pos > POSENC_MAX_POSITION - (int64_t)(c.n_tokens - 1))
        c.start_pos = POSENC_MAX_POSITION - (int64_t)(c.n_tokens - 1);
    c.delta = take_position(r);
    if (c.op == OP_TABLES) {
        c.table_stride = n_pairs + (take(r, 1) % 3 ? 0 : (size_t)take_range(r, 1, 5));
        if (c.n_tokens == 1 && take(r, 1) % 4 == 0)
            c.table_stride = 0;
        size_t table_n = grid_floats(c.n_tokens, c.table_stride, 1, 0, n_pairs);
        tables = fbuf_new(2 * table_n, (size_t)take_range(r, 0, 3));
        fill(r, &tables, 1.5f);
        c.cos_table = tables.data;
        c.sin_table = tables.data + table_n;
    }
    if (nan_path) {
        plant_non_finite(r, x.data, x.n);
        plant_non_finite(r, y.data, y.n);
        plant_non_finite(r, tables.data, tables.n);
    }

    snprintf(call_text, sizeof call_text,
             "rope op %d, head_dim %u rotary_dim %u pairing %d base %g scaling %d axes %d factor %g orig %g, "
             "tokens %zu heads %zu k_heads %zu, x strides %zu %zu, y strides %zu %zu, x %s y, positions %s, "
             "start %lld delta %lld flags %u, table stride %zu, nan path %d", (int)c.op, cfg.head_dim,
             cfg.rotary_dim, cfg.pairing, cfg.base, cfg.scaling, cfg.axes, cfg.factor, cfg.original_max_position,
             c.n_tokens, c.n_heads, c.n_k_heads, c.x_ts, c.x_hs, c.y_ts, c.y_hs, c.x_ptr == c.y_ptr ? "==" : "!=",
             positions ? "array" : "NULL", (long long)c.start_pos, (long long)c.delta, c.flags, c.table_stride,
             nan_path);
    must(run_everywhere(rope_call_run, &c, &o, nan_path) == POSENC_OK);

    free(positions);
    fbuf_free(&x);
    fbuf_free(&y);
    fbuf_free(&tables);
    posenc_rope_plan_destroy(plan);
}

/* ---- softmax ------------------------------------------------------------------------------------------------ */

typedef struct softmax_call {
    posenc_softmax_desc desc;
    const float *src;
    float *dst;
    size_t src_hs, src_rs, dst_hs, dst_rs;
    size_t n_heads, n_rows, n_cols;
} softmax_call;

static posenc_status softmax_call_run(void *ctx)
{
    const softmax_call *c = ctx;
    return posenc_softmax(&c->desc, c->src, c->src_hs, c->src_rs, c->dst, c->dst_hs, c->dst_rs, c->n_heads,
                          c->n_rows, c->n_cols);
}

/* Strides of [n_heads][n_rows][n_cols] scores: head-major or row-major over heads, padded. */
static void take_softmax_layout(reader *r, size_t n_heads, size_t n_rows, size_t n_cols, size_t *head_stride,
                                size_t *row_stride)
{
    size_t pad = take(r, 1) % 3 ? 0 : (size_t)take_range(r, 1, 17);
    size_t pad2 = take(r, 1) % 3 ? 0 : (size_t)take_range(r, 1, 17);
    if (take(r, 1) % 3) {
        *row_stride = n_cols + pad;
        *head_stride = n_rows * *row_stride + pad2;
    } else {
        *head_stride = n_cols + pad;
        *row_stride = n_heads * *head_stride + pad2;
    }
    if (n_rows == 1 && take(r, 1) % 4 == 0)
        *row_stride = 0;
    if (n_heads == 1 && take(r, 1) % 4 == 0)
        *head_stride = 0;
}

static void fuzz_softmax(reader *r)
{
    softmax_call c;
    memset(&c, 0, sizeof c);
    posenc_softmax_desc_init(&c.desc, sizeof c.desc);
    c.desc.position = (int32_t)(take(r, 1) % 3);
    c.desc.slopes_mode = (int32_t)(take(r, 1) % 3);
    switch (take(r, 1) % 4) {
    case 0: c.desc.scale = 1.0f; break;
    case 1: c.desc.scale = 0.08838835f; break;
    case 2: c.desc.scale = 0.0f; break;
    default: c.desc.scale = (float)take_unit(r, -4.0, 4.0); break;
    }
    c.desc.max_bias = take(r, 1) % 2 ? 8.0f : (float)take_unit(r, 1e-3, 126.0);
    c.n_heads = (size_t)take_range(r, 1, 4);
    c.n_rows = take(r, 1) % 16 == 0 ? 0 : take_count(r, 1, 5);
    c.n_cols = take(r, 1) % 16 == 0 ? 0 : take_count(r, 1, 300);
    if (take(r, 1) % 16 == 0)
        c.n_cols = (size_t)take_range(r, 1, 4096);
    int nan_path = take(r, 1) % 4 == 0;

    /* Positions: small, decode-like (queries at the last keys), or at the top of the range. */
    int64_t rows = (int64_t)c.n_rows, cols = (int64_t)c.n_cols;
    switch (take(r, 1) % 4) {
    case 0:
        c.desc.k_pos0 = take_range(r, 0, 50);
        c.desc.q_pos0 = c.desc.k_pos0 + cols - rows > 0 ? c.desc.k_pos0 + cols - rows : 0;
        break;
    case 1:
        c.desc.k_pos0 = POSENC_MAX_POSITION - (cols ? cols - 1 : 0) - take_range(r, 0, 3);
        c.desc.q_pos0 = take(r, 1) % 2 ? 0 : POSENC_MAX_POSITION - (rows ? rows - 1 : 0);
        break;
    default:
        c.desc.q_pos0 = take_range(r, 0, 400);
        c.desc.k_pos0 = take_range(r, 0, 400);
        break;
    }

    /* 0.2: the FAST precision, per-column key positions, the 2-D grid bias */
    c.desc.precision = (int32_t)(take(r, 1) % 2);
    int64_t *k_positions = NULL;
    switch (take(r, 1) % 6) {
    case 0:
        k_positions = malloc((c.n_cols ? c.n_cols : 1) * sizeof *k_positions);
        for (size_t j = 0; j < c.n_cols; j++)
            k_positions[j] = one_in(r, 8) ? take_range(r, 0, POSENC_MAX_POSITION)
                                          : c.desc.q_pos0 + take_range(r, -300, 300 < POSENC_MAX_POSITION - c.desc.q_pos0
                                                                                 ? 300 : 0);
        for (size_t j = 0; j < c.n_cols; j++)
            k_positions[j] = k_positions[j] < 0 ? 0 : k_positions[j];
        c.desc.k_positions = k_positions;
        break;
    case 1:
        c.desc.position = POSENC_POSITION_GRID_EUCLIDEAN + (int32_t)(take(r, 1) % 2);
        c.desc.grid_width = (int32_t)take_range(r, 1, 40);
        c.desc.grid_prefix = (int32_t)take_range(r, 0, 2);
        break;
    default:
        break;
    }

    fbuf slopes = { 0 }, sinks = { 0 }, mask = { 0 };
    float score_scale = take(r, 1) % 4 ? 30.0f : 1e4f;   /* large spreads drive exp below the cutoff */
    if (c.desc.slopes_mode == POSENC_SLOPES_CUSTOM) {
        slopes = fbuf_new(c.n_heads, (size_t)take_range(r, 0, 3));
        fill(r, &slopes, 2.0f);
        c.desc.slopes = slopes.data;
    }
    if (take(r, 1) % 3 == 0) {
        sinks = fbuf_new(c.n_heads, (size_t)take_range(r, 0, 3));
        fill(r, &sinks, 20.0f);
        for (size_t h = 0; h < c.n_heads; h++)
            if (one_in(r, 4))
                sinks.data[h] = -INFINITY;
        c.desc.sinks = sinks.data;
    }
    if (take(r, 1) % 3 == 0) {
        c.desc.mask_row_stride = take(r, 1) % 3 == 0 ? 0 : c.n_cols + (size_t)take_range(r, 0, 3);
        size_t block = c.n_rows ? (c.n_rows - 1) * c.desc.mask_row_stride + c.n_cols : 0;
        c.desc.mask_head_stride = take(r, 1) % 2 ? 0 : block + (size_t)take_range(r, 0, 3);
        mask = fbuf_new(grid_floats(c.n_heads, c.desc.mask_head_stride, c.n_rows, c.desc.mask_row_stride,
                                    c.n_cols), (size_t)take_range(r, 0, 15));
        fill(r, &mask, 50.0f);
        for (size_t i = 0; i < mask.n; i++)
            if (one_in(r, 8))
                mask.data[i] = -INFINITY;
        c.desc.mask = mask.data;
    }

    take_softmax_layout(r, c.n_heads, c.n_rows, c.n_cols, &c.src_hs, &c.src_rs);
    fbuf src = fbuf_new(grid_floats(c.n_heads, c.src_hs, c.n_rows, c.src_rs, c.n_cols),
                        (size_t)take_range(r, 0, 15));
    fill(r, &src, score_scale);
    if (c.desc.scale > 0.0f)                  /* -inf scores are masked only then (scale * -inf: NaN / +inf) */
        for (size_t i = 0; i < src.n; i++)
            if (one_in(r, 16))
                src.data[i] = -INFINITY;
    outputs o;
    memset(&o, 0, sizeof o);
    fbuf dst;
    if (take(r, 1) % 2) {
        c.dst_hs = c.src_hs, c.dst_rs = c.src_rs;
        c.dst = src.data;
        dst = fbuf_new(0, 0);
        o.buf[o.n++] = &src;
    } else {
        take_softmax_layout(r, c.n_heads, c.n_rows, c.n_cols, &c.dst_hs, &c.dst_rs);
        dst = fbuf_new(grid_floats(c.n_heads, c.dst_hs, c.n_rows, c.dst_rs, c.n_cols), (size_t)take_range(r, 0, 15));
        fill(r, &dst, 1.0f);
        c.dst = dst.data;
        o.buf[o.n++] = &dst;
        o.buf[o.n++] = &src;                  /* read-only: must come out as it went in, on every variant */
    }
    c.src = src.data;
    if (nan_path) {
        plant_non_finite(r, src.data, src.n);
        if (take(r, 1) % 2)
            plant_non_finite(r, mask.data, mask.n);
    }

    snprintf(call_text, sizeof call_text,
             "softmax position %d slopes %d scale %a max_bias %a q_pos0 %lld k_pos0 %lld, heads %zu rows %zu "
             "cols %zu, src strides %zu %zu, dst strides %zu %zu, %s, mask %s (strides %zu %zu), sinks %s, "
             "nan path %d, precision %d, key positions %s, grid %d + %d", c.desc.position, c.desc.slopes_mode,
             (double)c.desc.scale, (double)c.desc.max_bias, (long long)c.desc.q_pos0, (long long)c.desc.k_pos0,
             c.n_heads, c.n_rows, c.n_cols, c.src_hs, c.src_rs, c.dst_hs, c.dst_rs,
             c.dst == c.src ? "in place" : "out of place", c.desc.mask ? "yes" : "no", c.desc.mask_row_stride,
             c.desc.mask_head_stride, c.desc.sinks ? "yes" : "no", nan_path, c.desc.precision,
             k_positions ? "yes" : "no", c.desc.grid_width, c.desc.grid_prefix);
    must(run_everywhere(softmax_call_run, &c, &o, nan_path) == POSENC_OK);

    fbuf_free(&src);
    fbuf_free(&dst);
    fbuf_free(&slopes);
    fbuf_free(&sinks);
    fbuf_free(&mask);
    free(k_positions);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t hash = 0xcbf29ce484222325ull;        /* FNV-1a of the input seeds the value stream */
    for (size_t i = 0; i < size; i++)
        hash = (hash ^ data[i]) * 0x100000001b3ull;
    reader r = { data, size, hash };
    if (take(&r, 1) % 2)
        fuzz_rope(&r);
    else
        fuzz_softmax(&r);
    return 0;
}
