/* test_softmax.c - ALiBi slopes and the softmax reference against the float64 oracle and its properties. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common.h"
#include "oracle.h"

/* n = 8 gives the ALiBi paper's 1/2, 1/4, ..., 1/256 exactly. */
static void slopes_match_paper(void **state)
{
    (void)state;
    float slopes[8];
    assert_int_equal(posenc_alibi_slopes(8, 8.0f, slopes), POSENC_OK);
    for (int h = 0; h < 8; h++)
        assert_true(slopes[h] == ldexpf(1.0f, -(h + 1)));
}

/* BLOOM's rule (build_alibi_tensor), written independently: closest power of two cp; base 2^(-8/cp) for the
 * first cp heads (powers 1..cp); extra base 2^(-4/cp) with odd powers 1, 3, 5, ... for the rest. */
static void slopes_match_bloom(void **state)
{
    (void)state;
    static const size_t counts[] = { 1, 2, 3, 12, 32, 40, 71 };
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        size_t n = counts[c];
        float slopes[71];
        assert_int_equal(posenc_alibi_slopes(n, 8.0f, slopes), POSENC_OK);
        size_t cp = (size_t)1 << (size_t)floor(log2((double)n));
        double base = pow(2.0, -pow(2.0, -(log2((double)cp) - 3)));
        double extra_base = pow(2.0, -pow(2.0, -(log2(2.0 * (double)cp) - 3)));
        for (size_t h = 0; h < n; h++) {
            double want = h < cp ? pow(base, (double)(h + 1)) : pow(extra_base, (double)(2 * (h - cp) + 1));
            assert_true(fabs(slopes[h] - want) <= 1e-7 * want);
        }
    }
    /* n = 12 ends 0.7071, 0.3536, 0.1768, 0.0884 (not monotonic, by design) */
    float s12[12];
    posenc_alibi_slopes(12, 8.0f, s12);
    assert_true(fabsf(s12[8] - 0.70710678f) < 1e-6f && fabsf(s12[11] - 0.08838835f) < 1e-6f);
}

/* The magnitude of the terms of the logit of column j (FAST's bound, include/posenc.h): |scale * s_j| +
 * |slope * b_j| + |mask_j|, in double. */
static double logit_terms(const posenc_softmax_desc *desc, const float *row, const float *mask, double slope,
                          int64_t d0, size_t j)
{
    double a = fabs((double)desc->scale * (double)row[j]);
    if (desc->position != POSENC_POSITION_NONE && desc->slopes_mode != POSENC_SLOPES_NONE)
        a += fabs(slope * (double)(d0 + (int64_t)j));
    if (mask)
        a += fabs((double)mask[j]);
    return a;
}

/* Largest relative error seen, and (FAST) the largest share of its bound. */
static double worst_fast_share;

/* Run one softmax on [n_heads][n_rows][n_cols] contiguous data and compare every row with the oracle: EXACT
 * within 1e-6 relative, FAST within its bound of include/posenc.h. */
static void check_against_oracle(const posenc_softmax_desc *desc, const float *s, size_t n_heads, size_t n_rows,
                                 size_t n_cols, double *worst)
{
    const int fast = desc->precision == POSENC_SOFTMAX_FAST;
    size_t n = n_heads * n_rows * n_cols;
    float *y = malloc((n + 1) * sizeof(float));
    double *y64 = malloc((n_cols + 1) * sizeof(double));
    float *slopes = malloc(n_heads * sizeof(float));
    assert_int_equal(posenc_softmax(desc, s, n_rows * n_cols, n_cols, y, n_rows * n_cols, n_cols, n_heads, n_rows,
                                    n_cols), POSENC_OK);
    if (desc->slopes_mode == POSENC_SLOPES_ALIBI)
        posenc_alibi_slopes(n_heads, desc->max_bias, slopes);
    for (size_t h = 0; h < n_heads; h++) {
        for (size_t i = 0; i < n_rows; i++) {
            const float *row = s + (h * n_rows + i) * n_cols;
            const float *out = y + (h * n_rows + i) * n_cols;
            double slope = desc->slopes_mode == POSENC_SLOPES_ALIBI ? slopes[h]
                         : desc->slopes_mode == POSENC_SLOPES_CUSTOM ? desc->slopes[h] : 0.0;
            int mode = desc->position;
            const float *mask = desc->mask ? desc->mask + h * desc->mask_head_stride + i * desc->mask_row_stride
                                           : NULL;
            int64_t d0 = desc->k_pos0 - (desc->q_pos0 + (int64_t)i);
            double sink = desc->sinks ? desc->sinks[h] : -INFINITY;
            oracle_softmax_row(row, n_cols, desc->scale, slope, mode, d0, mask, sink, y64);
            /* FAST: the terms of the largest logit (the oracle's largest y) and its logit, to measure z_j - max */
            double a_max = 0.0, y_max = 0.0;
            size_t j_max = 0;
            for (size_t j = 0; j < n_cols; j++)
                if (y64[j] > y_max)
                    y_max = y64[j], j_max = j;
            if (fast && y_max > 0.0)
                a_max = logit_terms(desc, row, mask, slope, d0, j_max);
            if (fast && desc->sinks)
                a_max = fmax(a_max, fabs(sink));
            double sum = 0, sum64 = 0;
            for (size_t j = 0; j < n_cols; j++) {
                sum += out[j];
                sum64 += y64[j];
                if (isnan(out[j]) && !isnan(y64[j])) {
                    fprintf(stderr, "head %zu row %zu col %zu: NaN where the oracle gives %.9g\n", h, i, j,
                            y64[j]);
                    fail();
                }
                if (y64[j] == 0.0 && out[j] != 0.0f) {      /* masked: exactly zero */
                    fprintf(stderr, "head %zu row %zu col %zu: %a where the oracle gives 0 (position %d, slope "
                            "%a, q_pos0 %lld, k_pos0 %lld)\n", h, i, j, (double)out[j], mode, slope,
                            (long long)desc->q_pos0, (long long)desc->k_pos0);
                    fail();
                }
                if (y64[j] >= 1e-30) {
                    double rel = fabs(out[j] - y64[j]) / y64[j];
                    double bound = 1e-6;
                    if (fast) {   /* |z_j - max| = -ln(y_j / y_max), from the oracle */
                        double distance = log(y_max / y64[j]);
                        bound += 0x1p-22 * (logit_terms(desc, row, mask, slope, d0, j) + a_max + distance);
                        worst_fast_share = fmax(worst_fast_share, rel / bound);
                    }
                    if (rel > *worst)
                        *worst = rel;
                    if (rel > bound) {
                        fprintf(stderr, "head %zu row %zu col %zu: %.9g vs %.9g (rel %.3g, bound %.3g, "
                                "precision %d; slope %a, position %d, q0 %lld, k0 %lld, cols %zu, sink %g, "
                                "mask %d)\n", h, i, j, (double)out[j], y64[j], rel, bound, desc->precision, slope,
                                mode, (long long)desc->q_pos0, (long long)desc->k_pos0, n_cols, sink,
                                mask != NULL);
                        fail();
                    }
                }
            }
            if (sum64 > 0.5 && !desc->sinks)
                assert_true(fabs(sum - 1.0) <= 1e-6);
            if (sum64 == 0.0)
                assert_true(sum == 0.0);
        }
    }
    free(y); free(y64); free(slopes);
}

static void softmax_matches_oracle(void **state)
{
    (void)state;
    double worst = 0, worst_fast = 0;
    worst_fast_share = 0;
    for (int iter = 0; iter < 300; iter++) {
        size_t n_heads = 1 + test_rand_below(4), n_rows = 1 + test_rand_below(5);
        size_t n_cols = 1 + test_rand_below(iter < 280 ? 300 : 40000);
        size_t n = n_heads * n_rows * n_cols;
        float *s = malloc(n * sizeof(float)), *mask = NULL, *custom = NULL, *sinks = NULL;
        float lo = iter % 4 == 0 ? 90.0f : -30.0f, hi = iter % 4 == 0 ? 100.0f : 30.0f;   /* 90..100 overflows
                                                                                            unless max is subtracted */
        test_fill(s, n, lo, hi);
        posenc_softmax_desc d;
        posenc_softmax_desc_init(&d, sizeof d);
        d.position = (int32_t)test_rand_below(3);
        d.slopes_mode = (int32_t)test_rand_below(3);
        d.scale = test_rand_below(2) ? 1.0f : 0.08838834764831845f;
        d.k_pos0 = (int64_t)test_rand_below(100);
        d.q_pos0 = d.k_pos0 + (int64_t)test_rand_below(n_cols + 2);
        if (d.slopes_mode == POSENC_SLOPES_CUSTOM) {
            custom = malloc(n_heads * sizeof(float));
            test_fill(custom, n_heads, 0.0f, 0.5f);
            d.slopes = custom;
        }
        if (test_rand_below(3) == 0) {
            mask = malloc(n_rows * n_cols * sizeof(float));
            test_fill(mask, n_rows * n_cols, -5.0f, 5.0f);
            for (size_t k = 0; k < n_rows * n_cols; k++)
                if (test_rand_below(8) == 0)
                    mask[k] = -INFINITY;
            d.mask = mask;
            d.mask_row_stride = n_cols;
            d.mask_head_stride = 0;
        }
        if (test_rand_below(4) == 0) {
            sinks = malloc(n_heads * sizeof(float));
            test_fill(sinks, n_heads, -3.0f, 3.0f);
            d.sinks = sinks;
        }
        check_against_oracle(&d, s, n_heads, n_rows, n_cols, &worst);
        d.precision = POSENC_SOFTMAX_FAST;
        check_against_oracle(&d, s, n_heads, n_rows, n_cols, &worst_fast);
        free(s); free(mask); free(custom); free(sinks);
    }
    fprintf(stderr, "# worst softmax relative error vs float64 oracle (y64 >= 1e-30): %.3g (bound 1e-6)\n", worst);
    fprintf(stderr, "# FAST: worst relative error %.3g, at most %.3g of its bound\n", worst_fast, worst_fast_share);
}

/* FAST on rows where large scores and large ALiBi biases cancel (logit terms of 1e2 .. 1e4 around a logit near 0):
 * the float logit loses ~2^-24 of its terms, which FAST's bound allows and EXACT does not (checked within 1e-6
 * on the same rows). Reports the worst error of each. */
static void fast_cancellation_rows(void **state)
{
    (void)state;
    double worst_exact = 0, worst_fast = 0;
    worst_fast_share = 0;
    static const float magnitudes[] = { 100.0f, 1000.0f, 10000.0f };
    for (int iter = 0; iter < 60; iter++) {
        float big = magnitudes[iter % 3];
        size_t n_cols = 1 + test_rand_below(2000), n_rows = 1 + test_rand_below(3);
        float slope = test_rand_float(0.5f, 2.0f);
        posenc_softmax_desc d;
        posenc_softmax_desc_init(&d, sizeof d);
        d.position = POSENC_POSITION_CAUSAL;
        d.slopes_mode = POSENC_SLOPES_CUSTOM;
        d.slopes = &slope;
        d.scale = 0.08838834764831845f;   /* 1/sqrt(128): scale * s rounds, at 2^-24 of its magnitude */
        /* keys far behind the queries: slope * d ~ -big; the scores add it back, up to a few units */
        int64_t gap = (int64_t)(big / slope);
        d.k_pos0 = 10;
        d.q_pos0 = d.k_pos0 + gap + (int64_t)n_cols;
        float *s = malloc(n_rows * n_cols * sizeof(float));
        for (size_t i = 0; i < n_rows; i++)
            for (size_t j = 0; j < n_cols; j++) {
                double bias = (double)slope * (double)(d.k_pos0 + (int64_t)j - (d.q_pos0 + (int64_t)i));
                s[i * n_cols + j] = (float)((-bias + test_rand_float(-4.0f, 4.0f)) / (double)d.scale);
            }
        check_against_oracle(&d, s, 1, n_rows, n_cols, &worst_exact);
        d.precision = POSENC_SOFTMAX_FAST;
        check_against_oracle(&d, s, 1, n_rows, n_cols, &worst_fast);
        free(s);
    }
    fprintf(stderr, "# cancelling logits of 1e2..1e4: worst relative error EXACT %.3g, FAST %.3g (%.3g of its "
            "bound)\n", worst_exact, worst_fast, worst_fast_share);
}

/* ---- per-column key positions and 2-D grids: the bias of every (row, column) given by the test ---------------- */

/* Runs desc on scores [n_heads][n_rows][n_cols] (float32, contiguous) and checks every row against the float64
 * oracle with b[i * n_cols + j] the bias term of (row i, column j) (-inf: masked): EXACT within 1e-6 relative,
 * FAST within its bound. slopes: the n_heads slopes the call uses. Returns the worst relative error. */
static double check_terms_rows(const posenc_softmax_desc *desc, const float *s, size_t n_heads, size_t n_rows,
                               size_t n_cols, const float *slopes, const double *b)
{
    size_t n = n_heads * n_rows * n_cols;
    float *y = malloc((n + 1) * sizeof(float));
    double *y64 = malloc((n_cols + 1) * sizeof(double));
    posenc_tensor sv = { (void *)(uintptr_t)s, POSENC_F32, 0, n_rows * n_cols, n_cols };
    posenc_tensor yv = { y, POSENC_F32, 0, n_rows * n_cols, n_cols };
    assert_int_equal(posenc_softmax_forward(desc, &sv, &yv, n_heads, n_rows, n_cols), POSENC_OK);
    double worst = 0.0;
    for (size_t h = 0; h < n_heads; h++)
        for (size_t i = 0; i < n_rows; i++) {
            const float *row = s + (h * n_rows + i) * n_cols, *out = y + (h * n_rows + i) * n_cols;
            const double *bi = b + i * n_cols;
            const float *mask = desc->mask ? desc->mask + i * desc->mask_row_stride : NULL;
            double slope = slopes ? slopes[h] : 0.0, sink = desc->sinks ? desc->sinks[h] : -INFINITY;
            oracle_softmax_row_terms(row, n_cols, desc->scale, slope, bi, mask, sink, y64);
            double y_max = 0.0, a_max = desc->sinks ? fabs(sink) : 0.0;
            size_t j_max = 0;
            for (size_t j = 0; j < n_cols; j++)
                if (y64[j] > y_max)
                    y_max = y64[j], j_max = j;
            if (y_max > 0.0)
                a_max = fmax(a_max, fabs(desc->scale * (double)row[j_max]) + fabs(slope * bi[j_max]) +
                                        (mask ? fabs((double)mask[j_max]) : 0.0));
            for (size_t j = 0; j < n_cols; j++) {
                if (y64[j] == 0.0 && out[j] != 0.0f)
                    fail_msg("head %zu row %zu col %zu: %a where the oracle gives 0", h, i, j, (double)out[j]);
                if (!(y64[j] >= 1e-30))
                    continue;
                double rel = fabs(out[j] - y64[j]) / y64[j], bound = 1e-6;
                if (desc->precision == POSENC_SOFTMAX_FAST)
                    bound += 0x1p-22 * (fabs(desc->scale * (double)row[j]) + fabs(slope * bi[j]) +
                                        (mask ? fabs((double)mask[j]) : 0.0) + a_max + log(y_max / y64[j]));
                if (!(rel <= bound))
                    fail_msg("head %zu row %zu col %zu: %.9g vs %.9g (rel %.3g, bound %.3g, precision %d)", h, i,
                             j, (double)out[j], y64[j], rel, bound, desc->precision);
                worst = fmax(worst, rel);
            }
        }
    free(y);
    free(y64);
    return worst;
}

/* Keys at arbitrary positions (a KV cache after eviction, packed sequences, trees): causal and symmetric, ALiBi
 * and custom slopes and none, masks, sinks, both precisions, per-row query positions too. */
static void key_positions_match_oracle(void **state)
{
    (void)state;
    double worst[2] = { 0, 0 };
    for (int iter = 0; iter < 200; iter++) {
        size_t n_heads = 1 + test_rand_below(4), n_rows = 1 + test_rand_below(4);
        size_t n_cols = 1 + test_rand_below(iter < 180 ? 300 : 5000);
        size_t n = n_heads * n_rows * n_cols;
        float *s = malloc(n * sizeof(float)), *mask = NULL, slopes[4], sinks[4];
        int64_t *kpos = malloc(n_cols * sizeof(int64_t)), qpos[4];
        double *b = malloc(n_rows * n_cols * sizeof(double));
        test_fill(s, n, -20.0f, 20.0f);
        int64_t span = 1 + (int64_t)test_rand_below(iter % 5 == 0 ? 1u << 30 : 10000);
        int64_t base = test_rand_below(3) ? 0 : POSENC_MAX_POSITION - span;
        for (size_t j = 0; j < n_cols; j++)
            kpos[j] = base + (int64_t)test_rand_below((size_t)span);
        for (size_t i = 0; i < n_rows; i++)
            qpos[i] = base + (int64_t)test_rand_below((size_t)span);
        posenc_softmax_desc d;
        posenc_softmax_desc_init(&d, sizeof d);
        d.position = 1 + (int32_t)test_rand_below(2);
        d.slopes_mode = (int32_t)test_rand_below(3);
        d.scale = 0.125f;
        d.k_positions = kpos;
        d.q_positions = qpos;
        d.precision = (int32_t)test_rand_below(2);
        if (d.slopes_mode == POSENC_SLOPES_CUSTOM) {
            test_fill(slopes, n_heads, 0.0f, 0.5f);
            d.slopes = slopes;
        } else if (d.slopes_mode == POSENC_SLOPES_ALIBI) {
            posenc_alibi_slopes(n_heads, 8.0f, slopes);
        }
        if (test_rand_below(3) == 0) {
            mask = malloc(n_rows * n_cols * sizeof(float));
            test_fill(mask, n_rows * n_cols, -3.0f, 3.0f);
            d.mask = mask;
            d.mask_row_stride = n_cols;
        }
        if (test_rand_below(4) == 0) {
            test_fill(sinks, n_heads, -3.0f, 3.0f);
            d.sinks = sinks;
        }
        for (size_t i = 0; i < n_rows; i++)
            for (size_t j = 0; j < n_cols; j++) {
                int64_t dist = kpos[j] - qpos[i];
                double term = d.position == POSENC_POSITION_CAUSAL ? (double)dist : -(double)llabs(dist);
                if (d.slopes_mode == POSENC_SLOPES_NONE)
                    term = 0.0;
                /* the header's rounding of a distance beyond 2^24 to float32 is part of the definition */
                b[i * n_cols + j] = d.position == POSENC_POSITION_CAUSAL && dist > 0 ? -INFINITY : (double)(float)term;
            }
        double w = check_terms_rows(&d, s, n_heads, n_rows, n_cols,
                                    d.slopes_mode == POSENC_SLOPES_NONE ? NULL : slopes, b);
        worst[d.precision] = fmax(worst[d.precision], w);
        free(s); free(mask); free(kpos); free(b);
    }
    fprintf(stderr, "# key positions vs float64: worst relative error EXACT %.3g, FAST %.3g\n", worst[0], worst[1]);
}

/* k_positions = k_pos0 + j gives the bits of k_pos0 (rows within 2^24 of bias), with and without statistics. */
static void consecutive_key_positions_are_k_pos0(void **state)
{
    (void)state;
    for (int iter = 0; iter < 100; iter++) {
        size_t n_heads = 1 + test_rand_below(3), n_rows = 1 + test_rand_below(3), n_cols = 1 + test_rand_below(700);
        size_t n = n_heads * n_rows * n_cols;
        float *s = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
        float st_want[2 * 9], st_got[2 * 9];
        int64_t *kpos = malloc(n_cols * sizeof(int64_t));
        test_fill(s, n, -30.0f, 30.0f);
        posenc_softmax_desc d;
        posenc_softmax_desc_init(&d, sizeof d);
        d.position = 1 + (int32_t)test_rand_below(2);
        d.slopes_mode = (int32_t)test_rand_below(2);
        d.precision = (int32_t)test_rand_below(2);
        d.k_pos0 = (int64_t)test_rand_below(1000);
        d.q_pos0 = d.k_pos0 + (int64_t)test_rand_below(n_cols + 10) - 5;
        d.q_pos0 = d.q_pos0 < 0 ? 0 : d.q_pos0;
        d.stats = st_want;
        for (size_t j = 0; j < n_cols; j++)
            kpos[j] = d.k_pos0 + (int64_t)j;
        posenc_tensor sv = { s, POSENC_F32, 0, n_rows * n_cols, n_cols };
        posenc_tensor wv = { want, POSENC_F32, 0, n_rows * n_cols, n_cols }, gv = { got, POSENC_F32, 0, n_rows * n_cols, n_cols };
        assert_int_equal(posenc_softmax_forward(&d, &sv, &wv, n_heads, n_rows, n_cols), POSENC_OK);
        d.k_positions = kpos;
        d.k_pos0 = 0;
        d.stats = st_got;
        assert_int_equal(posenc_softmax_forward(&d, &sv, &gv, n_heads, n_rows, n_cols), POSENC_OK);
        assert_memory_equal(want, got, n * sizeof(float));
        assert_memory_equal(st_want, st_got, 2 * n_heads * n_rows * sizeof(float));
        free(s); free(want); free(got); free(kpos);
    }
}

/* 2-D ALiBi on a patch grid (raster order, grid_width per line, grid_prefix leading tokens off the grid):
 * Euclidean and Manhattan, ALiBi slopes, CLS prefixes, both precisions, against the float64 oracle with
 * b = -(float)sqrt(dx^2 + dy^2) or -(|dx| + |dy|) (include/posenc.h), 0 next to a prefix token. */
static void grid_alibi_matches_oracle(void **state)
{
    (void)state;
    double worst[2] = { 0, 0 };
    for (int iter = 0; iter < 120; iter++) {
        int32_t width = 1 + (int32_t)test_rand_below(iter < 100 ? 12 : 40), lines = 1 + (int32_t)test_rand_below(12);
        int32_t prefix = (int32_t)test_rand_below(3);
        size_t n_cols = (size_t)(prefix + width * lines), n_heads = 1 + test_rand_below(4);
        size_t n_rows = 1 + test_rand_below(n_cols < 6 ? n_cols : 6);
        size_t n = n_heads * n_rows * n_cols;
        float *s = malloc(n * sizeof(float)), slopes[4];
        int64_t qpos[6];
        double *b = malloc(n_rows * n_cols * sizeof(double));
        test_fill(s, n, -10.0f, 10.0f);
        posenc_softmax_desc d;
        posenc_softmax_desc_init(&d, sizeof d);
        d.position = test_rand_below(2) ? POSENC_POSITION_GRID_EUCLIDEAN : POSENC_POSITION_GRID_MANHATTAN;
        d.slopes_mode = POSENC_SLOPES_ALIBI;
        d.grid_width = width;
        d.grid_prefix = prefix;
        d.scale = 0.125f;
        d.precision = (int32_t)test_rand_below(2);
        posenc_alibi_slopes(n_heads, 8.0f, slopes);
        for (size_t i = 0; i < n_rows; i++)
            qpos[i] = (int64_t)test_rand_below(n_cols);
        d.q_positions = qpos;
        for (size_t i = 0; i < n_rows; i++)
            for (size_t j = 0; j < n_cols; j++) {
                int64_t q = qpos[i] - prefix, k = (int64_t)j - prefix;
                double term = 0.0;
                if (q >= 0 && k >= 0) {
                    int64_t dx = k % width - q % width, dy = k / width - q / width;
                    term = d.position == POSENC_POSITION_GRID_MANHATTAN ? -(double)(llabs(dx) + llabs(dy))
                                                                         : -(double)(float)sqrt((double)(dx * dx + dy * dy));
                }
                b[i * n_cols + j] = term;
            }
        double w = check_terms_rows(&d, s, n_heads, n_rows, n_cols, slopes, b);
        worst[d.precision] = fmax(worst[d.precision], w);
        free(s); free(b);
    }
    fprintf(stderr, "# 2-D ALiBi vs float64: worst relative error EXACT %.3g, FAST %.3g\n", worst[0], worst[1]);
}

/* Rows whose ALiBi bias |slope * d| exceeds 2^24 take pass 1's max in double (numerics.h): before that, the
 * float max rounded by more than the exp range and such rows came out NaN. The differential fuzzer's case first:
 * causal, slope 0.515625, query at 2^31 - 1, keys at 61..64 of score 0: y_j = e^(0.515625 j) / sum. */
static void far_rows_match_oracle(void **state)
{
    (void)state;
    float s[4] = { 0, 0, 0, 0 }, y[4], slope = 0.515625f;
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    d.position = POSENC_POSITION_CAUSAL;
    d.slopes_mode = POSENC_SLOPES_CUSTOM;
    d.slopes = &slope;
    d.q_pos0 = POSENC_MAX_POSITION;
    d.k_pos0 = 61;
    assert_int_equal(posenc_softmax(&d, s, 4, 4, y, 4, 4, 1, 1, 4), POSENC_OK);
    double denom = 0;
    for (int j = 0; j < 4; j++)
        denom += exp(0.515625 * j);
    for (int j = 0; j < 4; j++)
        assert_true(fabs(y[j] - exp(0.515625 * j) / denom) <= 1e-6 * exp(0.515625 * j) / denom);

    /* Random far rows: queries far after the keys (causal: every key live) or keys far from the queries, ALiBi
     * or custom slopes, masks, sinks, rows straddling the 2^24 bias threshold. */
    double worst = 0;
    for (int iter = 0; iter < 300; iter++) {
        size_t n_heads = 1 + test_rand_below(4), n_rows = 1 + test_rand_below(4);
        size_t n_cols = 1 + test_rand_below(iter < 280 ? 200 : 20000);
        size_t n = n_heads * n_rows * n_cols;
        float *src = malloc(n * sizeof(float)), *mask = NULL, *custom = NULL, *sinks = NULL;
        test_fill(src, n, -30.0f, 30.0f);
        posenc_softmax_desc fd;
        posenc_softmax_desc_init(&fd, sizeof fd);
        fd.position = 1 + (int32_t)test_rand_below(2);
        fd.slopes_mode = 1 + (int32_t)test_rand_below(2);
        fd.scale = test_rand_below(2) ? 1.0f : 0.08838834764831845f;
        fd.max_bias = test_rand_below(2) ? 8.0f : test_rand_float(1.0f, 16.0f);
        int64_t room = POSENC_MAX_POSITION - (int64_t)(n_rows + n_cols) - 1000;
        int64_t far = ((int64_t)1 << 24) + (int64_t)test_rand_below((size_t)(room - ((int64_t)1 << 24)));
        if (fd.slopes_mode == POSENC_SLOPES_CUSTOM) {
            custom = malloc(n_heads * sizeof(float));
            test_fill(custom, n_heads, -2.0f, 2.0f);
            fd.slopes = custom;
            if (iter % 3 == 0) {   /* |slope * d| within n_cols of 2^24: shifted and unshifted rows in one call */
                custom[0] = test_rand_float(0.25f, 2.0f);
                far = (int64_t)(0x1p24 / custom[0]) - (int64_t)test_rand_below(n_cols + n_rows);
            }
            if (iter % 5 == 1)     /* |slope| * n_cols above 2^24 even after the shift: the double max */
                custom[n_heads - 1] = test_rand_float(0.3f, 3.0f) * 0x1p24f / (float)(n_cols > 8 ? 8 : n_cols);
        }
        if (test_rand_below(2)) {
            fd.k_pos0 = (int64_t)test_rand_below(1000);
            fd.q_pos0 = fd.k_pos0 + far;
        } else {
            fd.q_pos0 = (int64_t)test_rand_below(1000);
            fd.k_pos0 = fd.q_pos0 + far;
        }
        if (test_rand_below(3) == 0) {
            mask = malloc(n_rows * n_cols * sizeof(float));
            test_fill(mask, n_rows * n_cols, -5.0f, 5.0f);
            for (size_t k = 0; k < n_rows * n_cols; k++)
                if (test_rand_below(8) == 0)
                    mask[k] = -INFINITY;
            fd.mask = mask;
            fd.mask_row_stride = n_cols;
        }
        if (test_rand_below(4) == 0) {
            sinks = malloc(n_heads * sizeof(float));
            test_fill(sinks, n_heads, -3.0f, 3.0f);
            fd.sinks = sinks;
        }
        check_against_oracle(&fd, src, n_heads, n_rows, n_cols, &worst);
        free(src); free(mask); free(custom); free(sinks);
    }
    fprintf(stderr, "# worst far-row relative error vs float64 oracle (y64 >= 1e-30): %.3g (bound 1e-6)\n", worst);
}

/* Causal masking: keys after the query get exactly 0; the first query sees only key 0. */
static void causal_is_exact(void **state)
{
    (void)state;
    enum { N = 37 };
    float s[N * N], y[N * N];
    test_fill(s, N * N, -5, 5);
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    d.position = POSENC_POSITION_CAUSAL;
    d.slopes_mode = POSENC_SLOPES_ALIBI;
    assert_int_equal(posenc_softmax(&d, s, N * N, N, y, N * N, N, 1, N, N), POSENC_OK);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (j > i)
                assert_true(y[i * N + j] == 0.0f && !signbit(y[i * N + j]));
            else
                assert_true(y[i * N + j] > 0.0f);
    assert_true(y[0] == 1.0f);
}

/* Symmetric bias: equal scores give probabilities that fall off with |q - k|, symmetric around the query. */
static void symmetric_bias(void **state)
{
    (void)state;
    enum { N = 21 };
    float s[N], y[N];
    for (int j = 0; j < N; j++)
        s[j] = 0.25f;
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    float slope = 0.5f;
    d.position = POSENC_POSITION_SYMMETRIC;
    d.slopes_mode = POSENC_SLOPES_CUSTOM;
    d.slopes = &slope;
    d.q_pos0 = 10;
    assert_int_equal(posenc_softmax(&d, s, N, N, y, N, N, 1, 1, N), POSENC_OK);
    for (int j = 0; j < 10; j++) {
        assert_true(y[10 - j] == y[10 + j]);
        assert_true(y[10 - j - 1] < y[10 - j]);
    }
    /* slope 1/2: neighbours differ by e^(-1/2) */
    assert_true(fabs(y[11] / y[10] - exp(-0.5)) < 1e-6);
}

/* -inf entries and mask entries are masked; an all-masked row gives zeros; a NaN input gives a NaN row. */
static void special_rows(void **state)
{
    (void)state;
    enum { N = 70 };
    float s[3 * N], y[3 * N], mask[3 * N];
    test_fill(s, 3 * N, -1, 1);
    for (int j = 0; j < 3 * N; j++)
        mask[j] = 0.0f;
    s[5] = -INFINITY;
    mask[7] = -INFINITY;
    for (int j = 0; j < N; j++)
        s[N + j] = -INFINITY;           /* row 1: all masked */
    s[2 * N + 33] = NAN;                /* row 2: NaN */
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    d.mask = mask;
    d.mask_row_stride = N;
    assert_int_equal(posenc_softmax(&d, s, 3 * N, N, y, 3 * N, N, 1, 3, N), POSENC_OK);
    assert_true(y[5] == 0.0f && y[7] == 0.0f && y[6] > 0.0f);
    for (int j = 0; j < N; j++) {
        assert_true(y[N + j] == 0.0f);
        assert_true(isnan(y[2 * N + j]));
    }
    /* causal rows that see no key at all (query before every key) are zeros too */
    d.mask = NULL;
    d.position = POSENC_POSITION_CAUSAL;
    d.q_pos0 = 0;
    d.k_pos0 = 5;
    test_fill(s, N, -1, 1);
    assert_int_equal(posenc_softmax(&d, s, N, N, y, N, N, 1, 1, N), POSENC_OK);
    for (int j = 0; j < N; j++)
        assert_true(y[j] == 0.0f);
}

/* Sinks join the max and the denominator but produce no column: outputs sum to 1 - p_sink. */
static void sinks_take_probability(void **state)
{
    (void)state;
    enum { N = 50 };
    float s[N], y[N], sink = 2.0f;
    test_fill(s, N, -1, 1);
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    d.sinks = &sink;
    assert_int_equal(posenc_softmax(&d, s, N, N, y, N, N, 1, 1, N), POSENC_OK);
    double denom = exp(2.0), sum = 0;
    for (int j = 0; j < N; j++)
        denom += exp(s[j]);
    for (int j = 0; j < N; j++) {
        sum += y[j];
        assert_true(fabs(y[j] - exp(s[j]) / denom) <= 1e-6 * exp(s[j]) / denom);
    }
    assert_true(fabs(sum - (1.0 - exp(2.0) / denom)) < 1e-6);
    /* a sink with every column masked: all zeros, no NaN */
    for (int j = 0; j < N; j++)
        s[j] = -INFINITY;
    assert_int_equal(posenc_softmax(&d, s, N, N, y, N, N, 1, 1, N), POSENC_OK);
    for (int j = 0; j < N; j++)
        assert_true(y[j] == 0.0f);
}

/* In place equals out of place. */
static void in_place_matches(void **state)
{
    (void)state;
    enum { H = 3, R = 4, C = 100 };
    float s[H * R * C], y[H * R * C];
    test_fill(s, H * R * C, -10, 10);
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    d.position = POSENC_POSITION_CAUSAL;
    d.slopes_mode = POSENC_SLOPES_ALIBI;
    d.q_pos0 = 96;
    assert_int_equal(posenc_softmax(&d, s, R * C, C, y, R * C, C, H, R, C), POSENC_OK);
    assert_int_equal(posenc_softmax(&d, s, R * C, C, s, R * C, C, H, R, C), POSENC_OK);
    assert_memory_equal(s, y, sizeof s);
}

int main(void)
{
    test_seed_init();
    assert_int_equal(posenc_set_isa("scalar"), POSENC_OK);   /* the reference; variants are compared to it */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slopes_match_paper),
        cmocka_unit_test(slopes_match_bloom),
        cmocka_unit_test(softmax_matches_oracle),
        cmocka_unit_test(fast_cancellation_rows),
        cmocka_unit_test(key_positions_match_oracle),
        cmocka_unit_test(consecutive_key_positions_are_k_pos0),
        cmocka_unit_test(grid_alibi_matches_oracle),
        cmocka_unit_test(far_rows_match_oracle),
        cmocka_unit_test(causal_is_exact),
        cmocka_unit_test(symmetric_bias),
        cmocka_unit_test(special_rows),
        cmocka_unit_test(sinks_take_probability),
        cmocka_unit_test(in_place_matches),
    };
    return cmocka_run_group_tests_name("softmax", tests, NULL, NULL);
}
