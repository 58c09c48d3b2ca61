/* fuzz_api.c - libFuzzer harness: random shapes, strides, positions, flags and softmax arguments through the
 * public API on every supported variant. Buffers are allocated to exactly the extent the arguments address (an
 * independent 128-bit computation), so ASan flags any access outside them; a refused call must leave its
 * output untouched, and every variant must give the scalar reference's bits.
 * Build: see .ci/run (clang -fsanitize=fuzzer,address,undefined). */
#include <math.h>
#include <stdint.h>
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

static void must(int ok)
{
    if (!ok)
        abort();
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
    int64_t start = (int64_t)take(r, 8) >> (take(r, 1) % 64);
    const char *isa = pick_isa(r);

    float *src = alloc_floats(src_n, r);
    float *dst = in_place ? src : alloc_floats(dst_n, r);
    float *src0 = malloc((size_t)(src_n + 1) * sizeof(float)), *dst0 = malloc((size_t)(dst_n + 1) * sizeof(float));
    memcpy(src0, src, (size_t)src_n * sizeof(float));
    memcpy(dst0, dst, (size_t)dst_n * sizeof(float));

    must(posenc_set_isa(isa) == POSENC_OK);
    posenc_status st = posenc_rope_apply_to(plan, src, sts, shs, dst, in_place ? sts : dts, in_place ? shs : dhs,
                                            n_tokens, n_heads, positions, start, flags);
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
    d.position = (int32_t)(take(r, 1) % 4);
    d.slopes_mode = (int32_t)(take(r, 1) % 4);
    d.scale = take(r, 1) % 8 ? 0.125f : (float)(int32_t)take(r, 4);
    d.max_bias = take(r, 1) % 8 ? 8.0f : (float)(int8_t)take(r, 1);
    d.q_pos0 = (int64_t)take(r, 8) >> (take(r, 1) % 64);
    d.k_pos0 = (int64_t)take(r, 8) >> (take(r, 1) % 64);
    size_t n_heads = take_size(r, 4), n_rows = take_size(r, 4), n_cols = take_size(r, 300);
    size_t shs = take_size(r, 2000), srs = take_size(r, 400), dhs = take_size(r, 2000), drs = take_size(r, 400);
    int in_place = (int)(take(r, 1) % 2);
    uint64_t src_n = grid_floats(n_heads, shs, n_rows, srs, n_cols);
    uint64_t dst_n = in_place ? src_n : grid_floats(n_heads, dhs, n_rows, drs, n_cols);
    float *slopes = NULL, *sinks = NULL, *mask = NULL;
    if (src_n == UINT64_MAX || dst_n == UINT64_MAX || n_heads > 64)
        return;
    if (d.slopes_mode == POSENC_SLOPES_CUSTOM) {
        slopes = alloc_floats(n_heads, r);
        d.slopes = slopes;
    }
    if (take(r, 1) % 3 == 0) {
        sinks = alloc_floats(n_heads, r);
        d.sinks = sinks;
    }
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
    float *dst0 = malloc((size_t)(dst_n + 1) * sizeof(float));
    memcpy(dst0, dst, (size_t)dst_n * sizeof(float));
    must(posenc_set_isa(isa) == POSENC_OK);
    posenc_status st = posenc_softmax(&d, src, shs, srs, dst, in_place ? shs : dhs, in_place ? srs : drs, n_heads,
                                      n_rows, n_cols);
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = { data, size };
    if (take(&r, 1) % 2)
        fuzz_rope(&r);
    else
        fuzz_softmax(&r);
    return 0;
}
