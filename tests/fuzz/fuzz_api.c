/* fuzz_api.c - libFuzzer harness over the public API with hostile arguments: random shapes, strides, positions,
 * flags, plan configurations (every scheme and axes, special doubles in every field) and softmax descriptors, on
 * every supported variant. Buffers are allocated to exactly the extent the arguments address (an independent
 * 128-bit computation), so ASan flags any access outside them. A refused call must leave its output untouched;
 * an accepted one must keep the header's promises (frequencies <= POSENC_MAX_FREQUENCY, a normal float mscale,
 * normal ALiBi slopes, rotations that keep the norm, the scalar reference's bits on every variant).
 * Build and run: tests/fuzz/README.md. */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posenc.h"

#define CAP_FLOATS (1u << 18)

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

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

/* A size that is usually small, sometimes at an edge (0, huge, SIZE_MAX). */
static size_t take_size(reader *r, size_t small)
{
    switch (take(r, 1) % 16) {
    case 0: return 0;
    case 1: return SIZE_MAX;
    case 2: return (size_t)1 << (take(r, 1) % 64);
    case 3: return (size_t)take(r, 8);
    default: return (size_t)(take(r, 2) % (small + 1));
    }
}

/* The last float addressed by a [n_a][n_b][row] grid, plus one; 0 for an empty grid; UINT64_MAX if > cap. */
static uint64_t grid_floats(size_t n_a, size_t s_a, size_t n_b, size_t s_b, size_t row)
{
    if (n_a == 0 || n_b == 0 || row == 0)
        return 0;
    unsigned __int128 end = (unsigned __int128)(n_a - 1) * s_a + (unsigned __int128)(n_b - 1) * s_b + row;
    return end > CAP_FLOATS ? UINT64_MAX : (uint64_t)end;
}

static float *alloc_floats(uint64_t n, reader *r)
{
    float *x = malloc((size_t)(n ? n : 1) * sizeof(float));
    for (uint64_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)take(r, 1) * 0x01010101u;
        float f = (float)(int32_t)bits * 0x1p-28f;
        x[i] = take(r, 1) % 31 == 0 ? -INFINITY : f;
    }
    return x;
}

/* A failed expectation: say which, then abort (libFuzzer saves the input). */
#define must(cond)                                                                                             \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            fprintf(stderr, "fuzz_api: %s:%d: expected %s\n", __FILE__, __LINE__, #cond);                    \
            abort();                                                                                           \
        }                                                                                                      \
    } while (0)

/* A double from the input: plausible values and the ones that break parsers of numbers (NaN, infinities,
 * zeros, subnormals, float and double range edges, random bit patterns). */
static double take_double(reader *r)
{
    static const double special[] = { NAN, INFINITY, -INFINITY, 0.0, -0.0, DBL_TRUE_MIN, DBL_MIN, DBL_MAX, -1.0,
                                      1e-300, 1e300, 1e-8, 1e8, 1e39, 1e-39, 1e-45, (double)FLT_MAX,
                                      (double)FLT_MIN, 0.5, 1.0, 2.0, 4.0, 32.0, 4096.0, 1e4, 5e5 };
    uint8_t kind = (uint8_t)take(r, 1);
    if (kind % 4 == 0) {
        uint64_t bits = take(r, 8);
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    if (kind % 4 == 1)
        return special[take(r, 1) % (sizeof special / sizeof special[0])];
    return (double)(int32_t)(uint32_t)take(r, 4) * 0x1p-16;
}

/* A float for a softmax field: plausible, special, or random bits. */
static float take_float(reader *r)
{
    static const float special[] = { NAN, INFINITY, -INFINITY, 0.0f, -0.0f, FLT_TRUE_MIN, FLT_MIN, FLT_MAX, 1e38f,
                                     126.0f, 127.0f, 8.0f, 1.0f, 0.125f, -1.0f };
    uint8_t kind = (uint8_t)take(r, 1);
    if (kind % 4 == 0) {
        uint32_t bits = (uint32_t)take(r, 4);
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    if (kind % 4 == 1)
        return special[take(r, 1) % (sizeof special / sizeof special[0])];
    return (float)(int16_t)(uint16_t)take(r, 2) * 0x1p-8f;
}

static const char *pick_isa(reader *r)
{
    size_t n = posenc_isa_count();
    size_t i = (size_t)take(r, 1) % n;
    return posenc_isa_supported(i) ? posenc_isa_name(i) : "scalar";
}

static void fuzz_rope(reader *r)
{
    posenc_rope_config cfg;
    posenc_rope_config_init(&cfg, sizeof cfg);
    cfg.head_dim = (uint32_t)take_size(r, 300);
    cfg.rotary_dim = (uint32_t)take_size(r, 300);
    cfg.pairing = (int32_t)(take(r, 1) % 3);
    cfg.base = take(r, 1) % 8 ? 10000.0 : (double)(int64_t)take(r, 8);
    posenc_rope_plan *plan = NULL;
    if (posenc_rope_plan_create(&cfg, &plan) != POSENC_OK)
        return;
    size_t head_dim = cfg.head_dim;
    size_t n_tokens = take_size(r, 6), n_heads = take_size(r, 6);
    size_t sts = take_size(r, 2000), shs = take_size(r, 400), dts = take_size(r, 2000), dhs = take_size(r, 400);
    int in_place = (int)(take(r, 1) % 2);
    uint32_t flags = (uint32_t)take(r, 1) % 5;
    uint64_t src_n = grid_floats(n_tokens, sts, n_heads, shs, head_dim);
    uint64_t dst_n = in_place ? src_n : grid_floats(n_tokens, dts, n_heads, dhs, head_dim);
    if (src_n == UINT64_MAX || dst_n == UINT64_MAX) {
        posenc_rope_plan_destroy(plan);
        return;
    }
    int64_t *positions = NULL;
    size_t axes = posenc_rope_plan_axes(plan);
    if (take(r, 1) % 2 && n_tokens <= 64) {
        positions = malloc((n_tokens * axes + 1) * sizeof(int64_t));
        for (size_t i = 0; i < n_tokens * axes; i++)
            positions[i] = (int64_t)take(r, 8) >> (take(r, 1) % 64);
    }
    int positions_in_dst = positions && take(r, 1) % 8 == 0;   /* aliasing an output: refused, see below */
    int64_t start = (int64_t)take(r, 8) >> (take(r, 1) % 64);
    const char *isa = pick_isa(r);

    float *src = alloc_floats(src_n, r);
    float *dst = in_place ? src : alloc_floats(dst_n, r);
    float *src0 = malloc((size_t)(src_n + 1) * sizeof(float)), *dst0 = malloc((size_t)(dst_n + 1) * sizeof(float));
    memcpy(src0, src, (size_t)src_n * sizeof(float));
    memcpy(dst0, dst, (size_t)dst_n * sizeof(float));

    const int64_t *call_positions = positions;
    if (positions_in_dst && dst_n * sizeof(float) >= 8 * (n_tokens * axes + 1)) {
        /* The positions live inside dst (int64-aligned): read token by token while dst is written. */
        uintptr_t at = (uintptr_t)(dst + take(r, 1) % (dst_n - 2 * (n_tokens * axes + 1) + 1));
        at += at % 8 ? 8 - at % 8 : 0;
        memcpy((void *)at, positions, n_tokens * axes * sizeof(int64_t));
        memcpy(dst0, dst, (size_t)dst_n * sizeof(float));
        call_positions = (const int64_t *)at;
    } else {
        positions_in_dst = 0;
    }

    must(posenc_set_isa(isa) == POSENC_OK);
    posenc_status st = posenc_rope_apply_to(plan, src, sts, shs, dst, in_place ? sts : dts, in_place ? shs : dhs,
                                            n_tokens, n_heads, call_positions, start, flags);
    must(!(positions_in_dst && n_tokens > 0 && st == POSENC_OK));
    if (st != POSENC_OK) {
        must(memcmp(dst, dst0, (size_t)dst_n * sizeof(float)) == 0);
    } else if (!in_place) {
        /* The same call on the reference gives the same bits (NaN-ness for NaN). */
        float *ref = malloc((size_t)(dst_n + 1) * sizeof(float));
        memcpy(ref, dst0, (size_t)dst_n * sizeof(float));
        must(posenc_set_isa("scalar") == POSENC_OK);
        must(posenc_rope_apply_to(plan, src, sts, shs, ref, dts, dhs, n_tokens, n_heads, positions, start, flags) ==
             POSENC_OK);
        for (uint64_t i = 0; i < dst_n; i++)
            must(memcmp(&ref[i], &dst[i], sizeof(float)) == 0 || (isnan(ref[i]) && isnan(dst[i])));
        free(ref);
    }
    must(in_place || memcmp(src, src0, (size_t)src_n * sizeof(float)) == 0);
    free(positions);
    free(src0);
    free(dst0);
    if (!in_place)
        free(dst);
    free(src);
    posenc_rope_plan_destroy(plan);
}

static void fuzz_softmax(reader *r)
{
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    d.position = (int32_t)(take(r, 1) % 6);   /* 3, 4: the grids (0.2); 5: unknown */
    d.slopes_mode = (int32_t)(take(r, 1) % 4);
    d.precision = take(r, 1) % 8 ? (int32_t)(take(r, 1) % 2) : (int32_t)take(r, 4);
    if (take(r, 1) % 4 == 0) {   /* grid fields, with or without a grid mode, hostile sometimes */
        d.grid_width = take(r, 1) % 4 ? (int32_t)(take(r, 1) % 40) : (int32_t)take(r, 4);
        d.grid_prefix = take(r, 1) % 4 ? (int32_t)(take(r, 1) % 3) : (int32_t)take(r, 4);
    }
    d.scale = take(r, 1) % 8 ? 0.125f : take(r, 1) % 2 ? (float)(int32_t)take(r, 4) : take_float(r);
    d.max_bias = take(r, 1) % 8 ? 8.0f : take(r, 1) % 2 ? (float)(int8_t)take(r, 1) : take_float(r);
    d.q_pos0 = (int64_t)take(r, 8) >> (take(r, 1) % 64);
    d.k_pos0 = (int64_t)take(r, 8) >> (take(r, 1) % 64);
    size_t n_heads = take_size(r, 4), n_rows = take_size(r, 4), n_cols = take_size(r, 300);
    size_t shs = take_size(r, 2000), srs = take_size(r, 400), dhs = take_size(r, 2000), drs = take_size(r, 400);
    int in_place = (int)(take(r, 1) % 2);
    uint64_t src_n = grid_floats(n_heads, shs, n_rows, srs, n_cols);
    uint64_t dst_n = in_place ? src_n : grid_floats(n_heads, dhs, n_rows, drs, n_cols);
    float *slopes = NULL, *sinks = NULL, *mask = NULL;
    /* An empty call may name any n_heads: the per-head arrays it must not read are then only 64 long. */
    int empty = n_rows == 0 || n_cols == 0;
    if (src_n == UINT64_MAX || dst_n == UINT64_MAX || (n_heads > 64 && !empty))
        return;
    size_t n_entries = n_heads < 64 ? n_heads : 64;
    if (d.slopes_mode == POSENC_SLOPES_CUSTOM) {
        slopes = alloc_floats(n_entries, r);
        d.slopes = slopes;
    }
    if (take(r, 1) % 3 == 0) {
        sinks = alloc_floats(n_entries, r);
        d.sinks = sinks;
    }
    int64_t *k_positions = NULL;   /* exactly n_cols entries (ASan sees a read past them) */
    if (take(r, 1) % 4 == 0 && n_cols > 0 && n_cols <= 4096) {
        k_positions = malloc(n_cols * sizeof *k_positions);
        for (size_t j = 0; j < n_cols; j++)
            k_positions[j] = take(r, 1) % 8 ? (int64_t)(take(r, 2) % 600) : (int64_t)take(r, 8) >> (take(r, 1) % 64);
        d.k_positions = k_positions;
    }
    int arrays_in_dst = (slopes || sinks) && take(r, 1) % 8 == 0;   /* aliasing dst: refused, see below */
    if (take(r, 1) % 3 == 0) {
        d.mask_row_stride = take_size(r, 400);
        d.mask_head_stride = take_size(r, 2000);
        uint64_t mask_n = grid_floats(n_heads, d.mask_head_stride, n_rows, d.mask_row_stride, n_cols);
        if (mask_n == UINT64_MAX)
            goto out;
        mask = alloc_floats(mask_n, r);
        d.mask = mask;
    }
    const char *isa = pick_isa(r);
    float *src = alloc_floats(src_n, r);
    float *dst = in_place ? src : alloc_floats(dst_n, r);
    if (arrays_in_dst && dst_n >= n_entries) {
        float *at = dst + take(r, 2) % (dst_n - n_entries + 1);
        memcpy(at, slopes ? slopes : sinks, n_entries * sizeof(float));
        if (slopes)
            d.slopes = at;
        else
            d.sinks = at;
    } else {
        arrays_in_dst = 0;
    }
    float *dst0 = malloc((size_t)(dst_n + 1) * sizeof(float));
    memcpy(dst0, dst, (size_t)dst_n * sizeof(float));
    must(posenc_set_isa(isa) == POSENC_OK);
    posenc_status st = posenc_softmax(&d, src, shs, srs, dst, in_place ? shs : dhs, in_place ? srs : drs, n_heads,
                                      n_rows, n_cols);
    must(!(arrays_in_dst && !empty && st == POSENC_OK));
    if (st != POSENC_OK) {
        must(memcmp(dst, dst0, (size_t)dst_n * sizeof(float)) == 0);
    } else if (!in_place) {
        float *ref = malloc((size_t)(dst_n + 1) * sizeof(float));
        memcpy(ref, dst0, (size_t)dst_n * sizeof(float));
        must(posenc_set_isa("scalar") == POSENC_OK);
        must(posenc_softmax(&d, src, shs, srs, ref, dhs, drs, n_heads, n_rows, n_cols) == POSENC_OK);
        for (uint64_t i = 0; i < dst_n; i++)
            must(memcmp(&ref[i], &dst[i], sizeof(float)) == 0 || (isnan(ref[i]) && isnan(dst[i])));
        free(ref);
    }
    free(dst0);
    if (!in_place)
        free(dst);
    free(src);
out:
    free(slopes);
    free(sinks);
    free(mask);
    free(k_positions);
}

/* Plan creation with every scheme and axes and hostile numbers in every field. An accepted plan keeps the
 * header's promises: 0 < w_i <= POSENC_MAX_FREQUENCY, an mscale that is a normal float, and rotations at the
 * extreme positions that keep a head's norm (times mscale) on every variant, with the scalar reference's bits. */
static void fuzz_plan(reader *r)
{
    posenc_rope_config cfg;
    posenc_rope_config_init(&cfg, sizeof cfg);
    cfg.head_dim = (uint32_t)(take(r, 1) % 8 ? take(r, 1) % 65 : take_size(r, 1100));
    cfg.rotary_dim = (uint32_t)(take(r, 1) % 2 ? 0 : take(r, 1) % 65);
    cfg.pairing = (int32_t)(take(r, 1) % 3);
    cfg.scaling = (int32_t)(take(r, 1) % 9);
    cfg.axes = (int32_t)(take(r, 1) % 5);
    double *fields[] = { &cfg.base, &cfg.factor, &cfg.original_max_position, &cfg.sequence_length,
                         &cfg.beta_fast, &cfg.beta_slow, &cfg.attention_factor, &cfg.mscale, &cfg.mscale_all_dim,
                         &cfg.low_freq_factor, &cfg.high_freq_factor };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (take(r, 1) % 3 == 0)
            *fields[i] = take_double(r);
    cfg.use_long_factors = (int32_t)(take(r, 1) % 3);
    cfg.n_sections = (int32_t)(take(r, 1) % 5);
    for (size_t a = 0; a < 4; a++)
        cfg.sections[a] = take(r, 1) % 4 ? (int32_t)(take(r, 1) % 40) : (int32_t)(uint32_t)take(r, 4);
    /* Lists of exactly rotary_dim/2 entries (or NULL): ASan sees a read past them. */
    size_t n_pairs = (cfg.rotary_dim ? cfg.rotary_dim : cfg.head_dim) / 2;
    double *lists[3] = { NULL, NULL, NULL };
    for (size_t l = 0; l < 3; l++) {
        if (take(r, 1) % 4 == 0 || n_pairs > 512)
            continue;
        lists[l] = malloc((n_pairs ? n_pairs : 1) * sizeof(double));
        must(lists[l] != NULL);
        for (size_t i = 0; i < n_pairs; i++)
            lists[l][i] = take(r, 1) % 2 ? 1.0 + (double)(take(r, 1) % 64) : take_double(r);
    }
    cfg.short_factors = lists[0];
    cfg.long_factors = lists[1];
    cfg.freq_factors = lists[2];

    posenc_rope_plan *sentinel = (posenc_rope_plan *)(uintptr_t)0x5eed, *plan = sentinel;
    posenc_status st = posenc_rope_plan_create(&cfg, &plan);
    if (st != POSENC_OK) {
        must(plan == sentinel);
        goto out;
    }
    double omega[512], mscale = 0.0;
    must(posenc_rope_plan_info(plan, omega, n_pairs, &mscale) == POSENC_OK);
    for (size_t i = 0; i < n_pairs; i++)
        must(omega[i] > 0.0 && omega[i] <= POSENC_MAX_FREQUENCY);
    must(isfinite(mscale) && isfinite((float)mscale) && (float)mscale >= FLT_MIN);

    /* One head of random values at the extreme positions on every axis: |y| = mscale * |x| (a rotation). */
    size_t head_dim = cfg.head_dim, axes = posenc_rope_plan_axes(plan);
    float x[1024], y[1024], ref[1024];
    for (size_t e = 0; e < head_dim; e++)
        x[e] = (float)(int16_t)(uint16_t)take(r, 2) * 0x1p-12f;
    int64_t positions[3];
    for (size_t a = 0; a < axes; a++)
        positions[a] = take(r, 1) % 2 ? POSENC_MAX_POSITION - (int64_t)(take(r, 1) % 8)
                                      : -POSENC_MAX_POSITION + (int64_t)(take(r, 1) % 8);
    must(posenc_set_isa("scalar") == POSENC_OK);
    must(posenc_rope_apply_to(plan, x, head_dim, head_dim, ref, head_dim, head_dim, 1, 1, positions, 0, 0) ==
         POSENC_OK);
    /* The rotated part scales by mscale (the rest is copied). */
    double rot_x = 0.0, rot_y = 0.0;
    for (size_t e = 0; e < 2 * n_pairs; e++) {
        rot_x += (double)x[e] * (double)x[e];
        rot_y += (double)ref[e] * (double)ref[e];
    }
    /* (Only where every product stays a normal float: an mscale near FLT_MAX overflows a rotated 8 to inf, one
     * near FLT_MIN makes subnormal outputs with fewer bits; |x| is in [2^-12, 8].) */
    if (rot_x > 0.0 && mscale > 0x1p-60 && mscale < 0x1p60)
        must(fabs(sqrt(rot_y / rot_x) - (double)(float)mscale) <= 1e-5 * (double)(float)mscale);
    for (size_t v = 0; v < posenc_isa_count(); v++) {
        if (!posenc_isa_supported(v))
            continue;
        must(posenc_set_isa(posenc_isa_name(v)) == POSENC_OK);
        must(posenc_rope_apply_to(plan, x, head_dim, head_dim, y, head_dim, head_dim, 1, 1, positions, 0, 0) ==
             POSENC_OK);
        must(memcmp(y, ref, head_dim * sizeof(float)) == 0);
    }
    posenc_rope_plan_destroy(plan);
out:
    for (size_t l = 0; l < 3; l++)
        free(lists[l]);
}

/* ALiBi slopes for any count (huge ones must return promptly) and max_bias: accepted slopes are normal floats
 * in (0, 1]. */
static void fuzz_alibi(reader *r)
{
    size_t n_heads = take(r, 1) % 4 ? (size_t)(take(r, 2) % 3000) : take_size(r, 4096);
    float max_bias = take(r, 1) % 2 ? (float)(take(r, 1) % 130) : take_float(r);
    if (n_heads > (size_t)PTRDIFF_MAX / sizeof(float)) {
        float small[4] = { 1.0f, 2.0f, 3.0f, 4.0f };
        must(posenc_alibi_slopes(n_heads, max_bias, small) == POSENC_ERR_SHAPE);
        must(small[0] == 1.0f && small[3] == 4.0f);
        return;
    }
    if (n_heads > 4096)
        return;                                  /* a real array that large is not worth allocating here */
    float *slopes = malloc((n_heads ? n_heads : 1) * sizeof(float));
    must(slopes != NULL);
    for (size_t h = 0; h < n_heads; h++)
        slopes[h] = -7.0f;
    posenc_status st = posenc_alibi_slopes(n_heads, max_bias, slopes);
    if (st == POSENC_OK) {
        for (size_t h = 0; h < n_heads; h++)
            must(fpclassify(slopes[h]) == FP_NORMAL && slopes[h] > 0.0f && slopes[h] <= 1.0f);
    } else {
        for (size_t h = 0; h < n_heads; h++)
            must(slopes[h] == -7.0f);
    }
    free(slopes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = { data, size };
    switch (take(&r, 1) % 4) {
    case 0: fuzz_rope(&r); break;
    case 1: fuzz_softmax(&r); break;
    case 2: fuzz_plan(&r); break;
    default: fuzz_alibi(&r); break;
    }
    return 0;
}
