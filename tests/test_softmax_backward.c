/* test_softmax_backward.c - the softmax backward pass, the forward call's split-K statistics and the two merges
 * on one variant (argv[1]) against the scalar reference bit for bit (random shapes with every tail, strides,
 * misaligned pointers, in and out of place, special values, the parallel hook) and against float64 oracles; and
 * every status of posenc_softmax_backward, posenc_softmax_merge, posenc_softmax_merge_concat and desc->stats,
 * with outputs untouched on failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <float.h>
#include <stdint.h>

#include <cmocka.h>

#include "errors_common.h"

/* ==== helpers ================================================================================================= */

static int variant_supported(const char *name)
{
    for (size_t i = 0; i < posenc_isa_count(); i++)
        if (strcmp(posenc_isa_name(i), name) == 0)
            return posenc_isa_supported(i);
    return 0;
}

static void use(const char *isa)
{
    assert_int_equal(posenc_set_isa(isa), POSENC_OK);
    assert_string_equal(posenc_isa(), isa);
}

static uint32_t bits_of(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static float float_of(uint32_t b)
{
    float x;
    memcpy(&x, &b, sizeof x);
    return x;
}

#define CANONICAL_NAN 0x7fc00000u

/* Every NaN among x[0..n) is the canonical 0x7fc00000, and no value is subnormal. */
static int outputs_clean(const float *x, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]) && bits_of(x[i]) != CANONICAL_NAN) {
            fprintf(stderr, "%s: NaN at %zu has bits 0x%08x, not 0x7fc00000\n", what, i, bits_of(x[i]));
            return 0;
        }
        if (x[i] != 0.0f && fabsf(x[i]) < FLT_MIN) {
            fprintf(stderr, "%s: subnormal %a at %zu\n", what, (double)x[i], i);
            return 0;
        }
    }
    return 1;
}

/* memcmp with a report of the first difference. */
static int same_bytes(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (bits_of(a[i]) != bits_of(b[i])) {
            fprintf(stderr, "%s: first difference at %zu: %a (0x%08x) vs %a (0x%08x)\n", what, i, (double)a[i],
                    bits_of(a[i]), (double)b[i], bits_of(b[i]));
            return 0;
        }
    return 1;
}

static posenc_tensor view(void *data, size_t head_stride, size_t row_stride)
{
    posenc_tensor t = { data, POSENC_F32, 0, head_stride, row_stride };
    return t;
}

/* A value that exercises the special paths: NaNs of several payloads, infinities, zeros, subnormals, huge. */
static float special_value(void)
{
    static const uint32_t specials[] = { 0x7fc00000u, 0xffc00000u, 0x7fc12345u, 0x7f800001u, 0x7f800000u,
                                         0xff800000u, 0x00000000u, 0x80000000u, 0x00000001u, 0x807fffffu,
                                         0x7f7fffffu, 0xff7fffffu, 0x00800000u };
    return float_of(specials[test_rand_below(sizeof specials / sizeof specials[0])]);
}

/* A pool that runs the tasks on the calling thread in reverse order: the bits must not depend on the split. */
static void reverse_pool(void *pool, size_t n_tasks, posenc_task_fn fn, void *task_arg)
{
    size_t *calls = pool;
    (*calls)++;
    for (size_t i = n_tasks; i-- > 0;)
        fn(task_arg, i);
}

/* Row layout of a [n_heads][n_rows][n_cols] tensor: row stride >= n_cols, head stride >= the head's rows,
 * with random padding. Returns the extent in floats. */
static size_t random_layout(size_t n_heads, size_t n_rows, size_t n_cols, size_t *hs, size_t *rs)
{
    *rs = n_cols + (test_rand_below(3) == 0 ? test_rand_below(20) : 0);
    *hs = n_rows * *rs + (test_rand_below(2) ? test_rand_below(9) : 0);
    if (n_rows == 0 || n_cols == 0)
        return 0;
    return (n_heads - 1) * *hs + (n_rows - 1) * *rs + n_cols;
}

/* ==== backward: every variant against scalar ================================================================== */

typedef struct bw_case {
    size_t n_heads, n_rows, n_cols;
    size_t y_hs, y_rs, dy_hs, dy_rs, dx_hs, dx_rs;
    size_t y_n, dy_n, dx_n;               /* extents */
    size_t mis_y, mis_dy, mis_dx;
    int in_place, specials, pool;
    float scale;
} bw_case;

/* y rows: probabilities of random logits (some rows peaked, some flat, some with zeros); dy in [-1, 1]. */
static void fill_backward_inputs(const bw_case *bc, float *y, float *dy)
{
    for (size_t i = 0; i < bc->y_n; i++)
        y[i] = test_rand_float(-1.0f, 1.0f);
    for (size_t i = 0; i < bc->dy_n; i++)
        dy[i] = test_rand_float(-1.0f, 1.0f);
    for (size_t h = 0; h < bc->n_heads; h++)
        for (size_t r = 0; r < bc->n_rows; r++) {
            float *yr = y + h * bc->y_hs + r * bc->y_rs;
            float *dyr = dy + h * bc->dy_hs + r * bc->dy_rs;
            double spread = (double)test_rand_float(0.0f, 30.0f), sum = 0.0;
            for (size_t j = 0; j < bc->n_cols; j++) {
                double e = exp(spread * (double)test_rand_float(-1.0f, 0.0f));
                if (test_rand_below(8) == 0)
                    e = 0.0;                                   /* masked columns */
                yr[j] = (float)e;
                sum += e;
            }
            for (size_t j = 0; j < bc->n_cols; j++)
                yr[j] = sum > 0 ? (float)((double)yr[j] / sum) : 0.0f;
            switch (test_rand_below(6)) {
            case 0:                                            /* dy of a magnitude far from 1 */
                for (size_t j = 0; j < bc->n_cols; j++)
                    dyr[j] *= test_rand_below(2) ? 1e-30f : 1e30f;
                break;
            case 1: {
                /* y sums to exactly 1 and dy is constant: dy - dot is the dot's rounding alone, so every bit of
                 * the summation order shows in dx. */
                uint32_t left = 1u << 20;
                for (size_t j = 0; j < bc->n_cols; j++) {
                    uint32_t k = j + 1 == bc->n_cols ? left : (uint32_t)test_rand_below(left / 4 + 1);
                    yr[j] = (float)k * 0x1p-20f;
                    left -= k;
                }
                float c = test_rand_float(-3.0f, 3.0f);
                for (size_t j = 0; j < bc->n_cols; j++)
                    dyr[j] = c;
                break;
            }
            case 2:
                /* Pairs of terms +-2^52 that cancel in the dot (equal y, opposite dy), in different lanes: what
                 * is left is the rounding of the other terms against them, so every bit of the summation order
                 * shows in dot and so in dx. */
                for (int pair = 0; pair < 4 && bc->n_cols >= 2; pair++) {
                    size_t a = test_rand_below(bc->n_cols), b = test_rand_below(bc->n_cols);
                    if (a == b || !(yr[a] > 1e-6f))
                        continue;
                    yr[b] = yr[a];
                    dyr[a] = (float)(ldexp(1.0, 52) / (double)yr[a] * (double)test_rand_float(1.0f, 4.0f));
                    dyr[b] = -dyr[a];
                }
                break;
            default:
                break;
            }
            if (bc->specials) {
                for (size_t j = 0; j < bc->n_cols; j++) {
                    if (test_rand_below(50) == 0)
                        yr[j] = special_value();
                    if (test_rand_below(50) == 0)
                        dyr[j] = special_value();
                }
            }
        }
}

/* Runs one case on `isa`; out receives dx's whole extent (rows and the padding between them). */
static void run_backward(const char *isa, const bw_case *bc, const float *y0, const float *dy0, const float *dx0,
                         float *out)
{
    use(isa);
    test_buf y = test_buf_new(bc->y_n, bc->mis_y);
    test_buf dy = test_buf_new(bc->dy_n, bc->mis_dy);
    test_buf dx = test_buf_new(bc->dx_n, bc->mis_dx);
    memcpy(y.data, y0, bc->y_n * sizeof(float));
    memcpy(dy.data, dy0, bc->dy_n * sizeof(float));
    memcpy(dx.data, dx0, bc->dx_n * sizeof(float));
    posenc_softmax_desc desc;
    posenc_softmax_desc_init(&desc, sizeof desc);
    desc.scale = bc->scale;
    size_t calls = 0;
    posenc_parallel par = { reverse_pool, &calls, 3 };
    if (bc->pool)
        desc.parallel = &par;
    posenc_tensor yv = view(y.data, bc->y_hs, bc->y_rs), dyv = view(dy.data, bc->dy_hs, bc->dy_rs);
    posenc_tensor dxv = bc->in_place ? dyv : view(dx.data, bc->dx_hs, bc->dx_rs);
    assert_int_equal(posenc_softmax_backward(&desc, &yv, &dyv, &dxv, bc->n_heads, bc->n_rows, bc->n_cols),
                     POSENC_OK);
    assert_true(test_guard_ok(&y) && test_guard_ok(&dy) && test_guard_ok(&dx));
    assert_memory_equal(y.data, y0, bc->y_n * sizeof(float));        /* y is only read */
    if (!bc->in_place)
        assert_memory_equal(dy.data, dy0, bc->dy_n * sizeof(float));
    memcpy(out, bc->in_place ? dy.data : dx.data, bc->dx_n * sizeof(float));
    test_buf_free(&y);
    test_buf_free(&dy);
    test_buf_free(&dx);
}

static void random_bw_case(bw_case *bc, size_t n_cols)
{
    memset(bc, 0, sizeof *bc);
    bc->n_heads = 1 + test_rand_below(3);
    bc->n_rows = 1 + test_rand_below(3);
    bc->n_cols = n_cols;
    bc->y_n = random_layout(bc->n_heads, bc->n_rows, n_cols, &bc->y_hs, &bc->y_rs);
    bc->dy_n = random_layout(bc->n_heads, bc->n_rows, n_cols, &bc->dy_hs, &bc->dy_rs);
    bc->in_place = (int)test_rand_below(2);
    if (bc->in_place) {
        bc->dx_hs = bc->dy_hs, bc->dx_rs = bc->dy_rs, bc->dx_n = bc->dy_n;
    } else {
        bc->dx_n = random_layout(bc->n_heads, bc->n_rows, n_cols, &bc->dx_hs, &bc->dx_rs);
    }
    bc->mis_y = test_rand_below(16), bc->mis_dy = test_rand_below(16), bc->mis_dx = test_rand_below(16);
    bc->specials = test_rand_below(4) == 0;
    bc->pool = test_rand_below(3) == 0;
    switch (test_rand_below(4)) {
    case 0: bc->scale = 1.0f; break;
    case 1: bc->scale = 0.08838834764831845f; break;
    case 2: bc->scale = test_rand_float(-3.0f, 3.0f); break;
    default: bc->scale = test_rand_below(2) ? 1e-30f : 3e30f; break;
    }
}

static void check_bw_case(const char *isa, const bw_case *bc)
{
    size_t ny = bc->y_n + 1, ndy = bc->dy_n + 1, ndx = bc->dx_n + 1;
    float *y0 = malloc(ny * sizeof(float)), *dy0 = malloc(ndy * sizeof(float)), *dx0 = malloc(ndx * sizeof(float));
    float *ref = malloc(ndx * sizeof(float)), *got = malloc(ndx * sizeof(float));
    assert_true(y0 && dy0 && dx0 && ref && got);
    fill_backward_inputs(bc, y0, dy0);
    test_fill(dx0, bc->dx_n, 5.0f, 6.0f);
    run_backward("scalar", bc, y0, dy0, dx0, ref);
    run_backward(isa, bc, y0, dy0, dx0, got);
    if (!same_bytes(ref, got, bc->dx_n, isa) || !outputs_clean(ref, bc->dx_n, "backward scalar")) {
        fprintf(stderr, "backward case: heads %zu rows %zu cols %zu in_place %d specials %d pool %d scale %a\n",
                bc->n_heads, bc->n_rows, bc->n_cols, bc->in_place, bc->specials, bc->pool, (double)bc->scale);
        fail();
    }
    /* Padding between dx rows (out of place) keeps its bytes. */
    if (!bc->in_place && bc->dx_n > 0)
        for (size_t h = 0; h < bc->n_heads; h++)
            for (size_t r = 0; r < bc->n_rows; r++) {
                size_t row = h * bc->dx_hs + r * bc->dx_rs, next = r + 1 < bc->n_rows ? row + bc->dx_rs
                                                                   : (h + 1) * bc->dx_hs;
                for (size_t i = row + bc->n_cols; i < next && i < bc->dx_n; i++)
                    assert_true(bits_of(got[i]) == bits_of(dx0[i]));
            }
    free(y0); free(dy0); free(dx0); free(ref); free(got);
}

static void backward_matches_scalar(void **state)
{
    const char *isa = *state;
    bw_case bc;
    /* Every row length up to 2 * 32 dot lanes + 1 (and the widest vector's multiples around it). */
    for (size_t n_cols = 0; n_cols <= 2 * 32 + 1 + 64; n_cols++)
        for (int rep = 0; rep < 3; rep++) {
            random_bw_case(&bc, n_cols);
            check_bw_case(isa, &bc);
        }
    for (int iter = 0; iter < 30; iter++) {
        random_bw_case(&bc, 130 + test_rand_below(iter < 25 ? 3000 : 40000));
        check_bw_case(isa, &bc);
    }
}

/* ==== backward against float64 ================================================================================= */

/* |dx - dx64| <= 2^-24 |dx64| + |scale y_j| (n/32 + 6) 2^-52 sum|dy y| + 2^-126 (posenc.h), where dx64 is the
 * long double value of scale * y * (dy - sum dy y). Prints the largest share of the bound used. */
static void backward_vs_oracle(void **state)
{
    const char *isa = *state;
    use(isa);
    double worst = 0.0, worst_rel = 0.0;
    for (int iter = 0; iter < 60; iter++) {
        bw_case bc;
        random_bw_case(&bc, 1 + test_rand_below(iter < 50 ? 2000 : 40000));
        bc.specials = 0, bc.in_place = 0, bc.pool = 0;
        bc.n_heads = bc.n_rows = 1;
        bc.y_n = bc.dy_n = bc.dx_n = bc.n_cols;
        bc.y_hs = bc.y_rs = bc.dy_hs = bc.dy_rs = bc.dx_hs = bc.dx_rs = bc.n_cols;
        float *y = malloc(bc.n_cols * sizeof(float)), *dy = malloc(bc.n_cols * sizeof(float));
        float *dx = malloc(bc.n_cols * sizeof(float)), *dx0 = calloc(bc.n_cols, sizeof(float));
        assert_true(y && dy && dx && dx0);
        fill_backward_inputs(&bc, y, dy);
        run_backward(isa, &bc, y, dy, dx0, dx);
        long double dot = 0, abs_dot = 0;
        for (size_t j = 0; j < bc.n_cols; j++) {
            dot += (long double)dy[j] * y[j];
            abs_dot += fabsl((long double)dy[j] * y[j]);
        }
        for (size_t j = 0; j < bc.n_cols; j++) {
            long double want = (long double)bc.scale * y[j] * ((long double)dy[j] - dot);
            if (fabsl(want) > (long double)FLT_MAX * (1 + 0x1p-24L)) {   /* beyond float: +-inf */
                assert_true(isinf(dx[j]) && (dx[j] > 0) == (want > 0));
                continue;
            }
            long double err = fabsl((long double)dx[j] - want);
            long double bound = 0x1p-24L * (1 + 0x1p-20L) * fabsl(want) +
                                fabsl((long double)bc.scale * y[j]) * ((long double)bc.n_cols / 32 + 6) *
                                    0x1p-52L * abs_dot + 0x1p-126L;
            if (!(err <= bound)) {
                fprintf(stderr, "backward vs float64: col %zu of %zu: got %a want %La (bound %La)\n", j,
                        bc.n_cols, (double)dx[j], want, bound);
                fail();
            }
            if ((double)(err / bound) > worst)
                worst = (double)(err / bound);
            if (bc.n_cols >= 2 && fabsl(want) > 1e-30L && (double)(err / fabsl(want)) > worst_rel &&
                fabsl((long double)dy[j] - dot) > 1e-3L * fabsl(dy[j]))   /* no cancellation */
                worst_rel = (double)(err / fabsl(want));
        }
        free(y); free(dy); free(dx); free(dx0);
    }
    fprintf(stderr, "# backward vs float64 (%s): largest error %.3g of the bound; %.3g relative where dy - dot "
            "does not cancel\n", isa, worst,
            worst_rel);
}

/* ==== forward problems (shared by the statistics and merge tests) ============================================== */

typedef struct problem {
    size_t n_heads, n_rows, n_cols, hs, rs, extent;
    posenc_softmax_desc desc;       /* the whole row's forward (sinks included) */
    float *scores;                  /* extent floats */
    float *mask, *slopes, *sinks;   /* owned, or NULL */
    float alibi[64];                /* the slopes in use (0 without bias) */
    int kind;                       /* 0 random, 1 underflow-heavy, 2 large, 3 with -inf, 4 NaN, 5 exact */
} problem;

static void problem_free(problem *p)
{
    free(p->scores); free(p->mask); free(p->slopes); free(p->sinks);
    memset(p, 0, sizeof *p);
}

/* kind 5 ("exact"): every logit term a multiple of 2^-8 below 2^12, so that the float32 logit equals the double
 * one: the column attaining M has e = exp(0) = 1 exactly, and y there is 1/S exactly. */
static void random_problem(problem *p, size_t n_cols, int kind, int long_row)
{
    memset(p, 0, sizeof *p);
    posenc_softmax_desc_init(&p->desc, sizeof p->desc);
    p->kind = kind;
    p->n_cols = n_cols;
    /* Long rows: one row per head, at most 2 heads. */
    p->n_heads = kind == 5 ? (size_t)1 << test_rand_below(long_row ? 2 : 4) : 1 + test_rand_below(long_row ? 2 : 3);
    p->n_rows = long_row ? 1 : 1 + test_rand_below(3);
    p->rs = n_cols + test_rand_below(4);
    p->hs = p->n_rows * p->rs + test_rand_below(3);
    p->extent = (p->n_heads - 1) * p->hs + (p->n_rows - 1) * p->rs + n_cols;
    posenc_softmax_desc *d = &p->desc;
    d->position = (int32_t)test_rand_below(3);
    d->slopes_mode = kind == 5 ? (int32_t)test_rand_below(2) : (int32_t)test_rand_below(3);
    d->scale = kind == 5 ? 1.0f / (float)(1 << test_rand_below(3))
             : test_rand_below(2) ? 0.08838834764831845f : test_rand_float(0.1f, 2.0f);
    d->max_bias = kind == 5 ? 8.0f : test_rand_below(2) ? 8.0f : test_rand_float(1.0f, 16.0f);
    d->k_pos0 = (int64_t)test_rand_below(3000);
    d->q_pos0 = d->k_pos0 + (int64_t)test_rand_below(n_cols + 10) - 5;
    if (d->q_pos0 < 0)
        d->q_pos0 = 0;
    p->scores = malloc((p->extent + 1) * sizeof(float));
    assert_non_null(p->scores);
    for (size_t i = 0; i < p->extent; i++) {
        float s = test_rand_float(-20.0f, 20.0f);
        switch (kind) {
        case 1: s = test_rand_below(50) ? test_rand_float(-400.0f, -100.0f) : test_rand_float(0, 5); break;
        case 2: s = test_rand_float(90.0f, 100.0f); break;
        case 3: if (test_rand_below(4) == 0) s = -INFINITY; break;
        case 4: if (test_rand_below(200) == 0) s = NAN; break;
        case 5: s = test_rand_below(50) ? (float)((int)test_rand_below(4097) - 2048) / 64.0f
                  : test_rand_below(2) ? -0.0f : 0.0f; break;
        default: break;
        }
        p->scores[i] = s;
    }
    if (test_rand_below(3) == 0) {
        size_t mask_n = p->n_heads * p->n_rows * n_cols;
        p->mask = malloc((mask_n + 1) * sizeof(float));
        assert_non_null(p->mask);
        for (size_t i = 0; i < mask_n; i++)
            p->mask[i] = test_rand_below(10) == 0 ? -INFINITY
                       : kind == 5 ? (float)((int)test_rand_below(65) - 32) / 8.0f : test_rand_float(-3.0f, 3.0f);
        d->mask = p->mask;
        d->mask_row_stride = n_cols;
        d->mask_head_stride = test_rand_below(2) ? p->n_rows * n_cols : 0;
    }
    if (d->slopes_mode == POSENC_SLOPES_CUSTOM) {
        p->slopes = malloc(p->n_heads * sizeof(float));
        assert_non_null(p->slopes);
        test_fill(p->slopes, p->n_heads, 0.0f, 1.0f);
        d->slopes = p->slopes;
    }
    if (test_rand_below(3) == 0) {
        p->sinks = malloc(p->n_heads * sizeof(float));
        assert_non_null(p->sinks);
        for (size_t h = 0; h < p->n_heads; h++)
            p->sinks[h] = kind == 5 ? (float)((int)test_rand_below(17) - 8) : test_rand_float(-5.0f, 5.0f);
        if (test_rand_below(4) == 0)
            p->sinks[0] = -INFINITY;
        d->sinks = p->sinks;
    }
    for (size_t h = 0; h < p->n_heads && h < 64; h++)
        p->alibi[h] = 0.0f;
    if (d->slopes_mode == POSENC_SLOPES_ALIBI)
        assert_int_equal(posenc_alibi_slopes(p->n_heads, d->max_bias, p->alibi), POSENC_OK);
    if (d->slopes_mode == POSENC_SLOPES_CUSTOM)
        memcpy(p->alibi, p->slopes, p->n_heads * sizeof(float));
}

static int has_bias(const problem *p)
{
    return p->desc.slopes_mode != POSENC_SLOPES_NONE && p->desc.position != POSENC_POSITION_NONE;
}

/* Whether column j of row (h, i) is live (not causally masked), and its logit in float (pass 1) and in long
 * double (the oracle). */
static int logit_of(const problem *p, size_t h, size_t i, size_t j, float *zf, long double *zl)
{
    const posenc_softmax_desc *d = &p->desc;
    int64_t qpos = d->q_pos0 + (int64_t)i, kpos = d->k_pos0 + (int64_t)j;
    if (d->position == POSENC_POSITION_CAUSAL && kpos > qpos)
        return 0;
    float s = p->scores[h * p->hs + i * p->rs + j];
    float z = d->scale * s;
    long double zd = (long double)d->scale * s;
    if (has_bias(p)) {
        int32_t b = (int32_t)(kpos - qpos);
        if (d->position == POSENC_POSITION_SYMMETRIC)
            b = b < 0 ? b : -b;
        z = fmaf(p->alibi[h], (float)b, z);
        zd += (long double)p->alibi[h] * b;
    }
    if (d->mask) {
        float m = d->mask[h * d->mask_head_stride + i * d->mask_row_stride + j];
        z = z + m;
        zd += m;
    }
    *zf = z;
    *zl = zd;
    return 1;
}

/* Oracle of one row: probabilities p64[0..n_cols) in long double and M, S as the forward defines them.
 * Returns 0 for a row the oracle does not cover (NaN or overflowing logits). */
static int oracle_row(const problem *p, size_t h, size_t i, long double *p64, float *max_out, long double *sum_out)
{
    float max = p->sinks ? p->sinks[h] : -INFINITY;
    long double max_l = max;
    for (size_t j = 0; j < p->n_cols; j++) {
        float zf;
        long double zl;
        if (!logit_of(p, h, i, j, &zf, &zl))
            continue;
        if (isnan(zf) || (isinf(zf) && zf > 0))
            return 0;
        max = zf > max ? zf : max;
        max_l = zl > max_l ? zl : max_l;
    }
    *max_out = max;
    long double sum = 0;
    for (size_t j = 0; j < p->n_cols; j++) {
        float zf;
        long double zl;
        p64[j] = 0;
        if (logit_of(p, h, i, j, &zf, &zl) && zl > -INFINITY)
            p64[j] = expl(zl - max_l);
        sum += p64[j];
    }
    if (p->sinks && p->sinks[h] > -INFINITY)
        sum += expl((long double)p->sinks[h] - max_l);
    for (size_t j = 0; j < p->n_cols; j++)
        p64[j] = sum > 0 ? p64[j] / sum : 0;
    /* The forward's S is relative to its float max M, not to the exact maximum. */
    *sum_out = max_l > -INFINITY ? sum * expl(max_l - (long double)max) : 0;
    return 1;
}

/* posenc_softmax_forward of problem p (desc overridable) on the active variant. */
static posenc_status forward(const problem *p, const posenc_softmax_desc *d, float *src, float *dst,
                             size_t n_cols)
{
    posenc_tensor s = view(src, p->hs, p->rs), o = view(dst, p->hs, p->rs);
    return posenc_softmax_forward(d, &s, &o, p->n_heads, p->n_rows, n_cols);
}

/* ==== split-K statistics ========================================================================================= */

/* The whole row's forward with desc->stats on `isa`: y (extent floats) and stats (n_heads * n_rows * 2). */
static void run_stats(const char *isa, const problem *p, int in_place, float *y, float *stats)
{
    use(isa);
    size_t n_stats = p->n_heads * p->n_rows * 2;
    test_buf src = test_buf_new(p->extent, test_rand_below(16));
    test_buf dst = test_buf_new(p->extent, test_rand_below(16));
    test_buf st = test_buf_new(n_stats, test_rand_below(4));
    memcpy(src.data, p->scores, p->extent * sizeof(float));
    memset(dst.data, 0, p->extent * sizeof(float));
    posenc_softmax_desc d = p->desc;
    d.stats = st.data;
    size_t calls = 0;
    posenc_parallel par = { reverse_pool, &calls, 2 };
    if (test_rand_below(3) == 0)
        d.parallel = &par;
    assert_int_equal(forward(p, &d, src.data, in_place ? src.data : dst.data, p->n_cols), POSENC_OK);
    assert_true(test_guard_ok(&src) && test_guard_ok(&dst) && test_guard_ok(&st));
    memcpy(y, in_place ? src.data : dst.data, p->extent * sizeof(float));
    memcpy(stats, st.data, n_stats * sizeof(float));
    test_buf_free(&src);
    test_buf_free(&dst);
    test_buf_free(&st);
}

static double stats_worst_rel;

static void check_stats_case(const char *isa, problem *p)
{
    size_t n_stats = p->n_heads * p->n_rows * 2;
    int in_place = (int)test_rand_below(2);
    float *y_ref = malloc((p->extent + 1) * sizeof(float)), *y_got = malloc((p->extent + 1) * sizeof(float));
    float *s_ref = malloc(n_stats * sizeof(float)), *s_got = malloc(n_stats * sizeof(float));
    float *y_plain = malloc((p->extent + 1) * sizeof(float));
    long double *p64 = malloc((p->n_cols + 1) * sizeof(long double));
    assert_true(y_ref && y_got && s_ref && s_got && y_plain && p64);
    run_stats("scalar", p, in_place, y_ref, s_ref);
    run_stats(isa, p, in_place, y_got, s_got);
    if (!same_bytes(s_ref, s_got, n_stats, "stats")) {
        fprintf(stderr, "stats case: isa %s heads %zu rows %zu cols %zu kind %d position %d slopes %d mask %d "
                "sinks %d\n", isa, p->n_heads, p->n_rows, p->n_cols, p->kind, p->desc.position,
                p->desc.slopes_mode, p->mask != NULL, p->sinks != NULL);
        fail();
    }
    for (size_t r = 0; r < p->n_heads * p->n_rows; r++)
        assert_true(test_same_bits(y_ref + (r / p->n_rows) * p->hs + (r % p->n_rows) * p->rs,
                                   y_got + (r / p->n_rows) * p->hs + (r % p->n_rows) * p->rs, p->n_cols, "y"));
    /* The statistics do not change the forward's output. */
    use(isa);
    memcpy(y_plain, p->scores, p->extent * sizeof(float));
    assert_int_equal(forward(p, &p->desc, y_plain, y_plain, p->n_cols), POSENC_OK);
    for (size_t r = 0; r < p->n_heads * p->n_rows; r++) {
        size_t off = (r / p->n_rows) * p->hs + (r % p->n_rows) * p->rs;
        assert_true(test_same_bits(y_plain + off, y_got + off, p->n_cols, "y with/without stats"));
    }
    for (size_t h = 0; h < p->n_heads; h++)
        for (size_t i = 0; i < p->n_rows; i++) {
            float M = s_got[2 * (h * p->n_rows + i)], S = s_got[2 * (h * p->n_rows + i) + 1];
            /* M is pass 1's float maximum (sink included), NaN logits skipped. */
            float want_max = p->sinks ? p->sinks[h] : -INFINITY;
            int any_nan = 0;
            for (size_t j = 0; j < p->n_cols; j++) {
                float zf;
                long double zl;
                if (logit_of(p, h, i, j, &zf, &zl)) {
                    any_nan |= isnan(zf);
                    want_max = zf > want_max ? zf : want_max;
                }
            }
            if (want_max == 0.0f)
                want_max = 0.0f;       /* a zero maximum is stored as +0 */
            if (bits_of(M) != bits_of(want_max)) {
                fprintf(stderr, "stats: M %a, want %a (kind %d cols %zu position %d slopes %d sinks %d)\n", (double)M,
                        (double)want_max, p->kind, p->n_cols, p->desc.position, p->desc.slopes_mode, p->sinks != NULL);
                fail();
            }
            assert_false(isnan(M));
            if (isnan(S))
                assert_true(bits_of(S) == CANONICAL_NAN);
            if (M == -INFINITY) {
                assert_true(any_nan ? bits_of(S) == CANONICAL_NAN : bits_of(S) == 0);
                continue;
            }
            if (any_nan) {
                assert_true(isnan(S));
                continue;
            }
            float oracle_max;
            long double oracle_sum;
            if (!oracle_row(p, h, i, p64, &oracle_max, &oracle_sum))
                continue;
            double rel = (double)fabsl((S - oracle_sum) / oracle_sum);
            if (!(rel <= 1e-6)) {
                fprintf(stderr, "stats: S %a vs float64 %La (rel %.3g), kind %d cols %zu\n", (double)S,
                        oracle_sum, rel, p->kind, p->n_cols);
                fail();
            }
            stats_worst_rel = rel > stats_worst_rel ? rel : stats_worst_rel;
            /* Exact logits: the column attaining M has e = 1, so its y is 1/S bit for bit (unless M is the sink). */
            if (p->kind == 5 && !(p->sinks && p->sinks[h] == M)) {
                for (size_t j = 0; j < p->n_cols; j++) {
                    float zf;
                    long double zl;
                    if (logit_of(p, h, i, j, &zf, &zl) && zf == M) {
                        float yj = y_got[h * p->hs + i * p->rs + j];
                        if (bits_of(yj) != bits_of(1.0f / S)) {
                            fprintf(stderr, "stats: y at the max %a != 1/S %a (S %a)\n", (double)yj,
                                    (double)(1.0f / S), (double)S);
                            fail();
                        }
                        break;
                    }
                }
            }
        }
    free(y_ref); free(y_got); free(s_ref); free(s_got); free(y_plain); free(p64);
}

static void stats_match_scalar(void **state)
{
    const char *isa = *state;
    problem p;
    stats_worst_rel = 0;
    for (size_t n_cols = 1; n_cols <= 2 * 64 + 1; n_cols++)
        for (int rep = 0; rep < 2; rep++) {
            random_problem(&p, n_cols, (int)test_rand_below(6), 0);
            check_stats_case(isa, &p);
            problem_free(&p);
        }
    for (int iter = 0; iter < 30; iter++) {
        random_problem(&p, 130 + test_rand_below(iter < 25 ? 3000 : 40000), (int)test_rand_below(6), 1);
        check_stats_case(isa, &p);
        problem_free(&p);
    }
    fprintf(stderr, "# stats S vs float64 (%s): largest relative error %.3g\n", isa, stats_worst_rel);
}

/* ==== merges ====================================================================================================== */

/* Random widths (some 0) adding up to n_cols; returns n_blocks (1..max_blocks). */
static size_t random_split(size_t n_cols, size_t *widths, size_t max_blocks)
{
    size_t n_blocks = 1 + test_rand_below(max_blocks);
    size_t cuts[16];
    for (size_t b = 0; b + 1 < n_blocks; b++)
        cuts[b] = test_rand_below(n_cols + 1);
    for (size_t a = 1; a + 1 < n_blocks; a++)           /* insertion sort */
        for (size_t b = a; b > 0 && cuts[b - 1] > cuts[b]; b--) {
            size_t t = cuts[b];
            cuts[b] = cuts[b - 1], cuts[b - 1] = t;
        }
    size_t prev = 0;
    for (size_t b = 0; b < n_blocks; b++) {
        size_t end = b + 1 < n_blocks ? cuts[b] : n_cols;
        widths[b] = end - prev;
        prev = end;
    }
    return n_blocks;
}

/* Each block's forward (no sinks) with its statistics: the blocks' probabilities side by side in probs (the
 * problem's layout), statistics [n_blocks][n_heads][n_rows][2] in stats. A block of width 0 has no forward
 * call: its statistics are (-inf, 0). */
static void block_forwards(const problem *p, const size_t *widths, size_t n_blocks, float *probs, float *stats)
{
    memcpy(probs, p->scores, p->extent * sizeof(float));
    size_t per_block = p->n_heads * p->n_rows * 2, c = 0;
    for (size_t b = 0; b < n_blocks; b++) {
        posenc_softmax_desc d = p->desc;
        d.sinks = NULL;
        d.k_pos0 = p->desc.k_pos0 + (int64_t)c;
        if (d.mask)
            d.mask = p->desc.mask + c;
        d.stats = stats + b * per_block;
        for (size_t k = 0; k < per_block; k += 2)
            d.stats[k] = -INFINITY, d.stats[k + 1] = 0.0f;
        assert_int_equal(forward(p, &d, probs + c, probs + c, widths[b]), POSENC_OK);
        c += widths[b];
    }
}

/* Concatenating merge on `isa`: out = the merged whole rows (problem layout). */
static void run_concat(const char *isa, const problem *p, const size_t *widths, size_t n_blocks, int in_place,
                       int pool, float *out, float *block_probs)
{
    use(isa);
    size_t n_stats = n_blocks * p->n_heads * p->n_rows * 2;
    test_buf probs = test_buf_new(p->extent, test_rand_below(16));
    test_buf dst = test_buf_new(p->extent, test_rand_below(16));
    test_buf st = test_buf_new(n_stats, 1);
    block_forwards(p, widths, n_blocks, probs.data, st.data);
    if (block_probs)
        memcpy(block_probs, probs.data, p->extent * sizeof(float));
    memset(dst.data, 0xee, p->extent * sizeof(float));
    posenc_tensor blocks[16];
    size_t c = 0;
    for (size_t b = 0; b < n_blocks; b++) {
        blocks[b] = view(probs.data + c, p->hs, p->rs);
        c += widths[b];
    }
    posenc_tensor dv = view(in_place ? probs.data : dst.data, p->hs, p->rs);
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    d.sinks = p->sinks;
    size_t calls = 0;
    posenc_parallel par = { reverse_pool, &calls, 3 };
    if (pool)
        d.parallel = &par;
    assert_int_equal(posenc_softmax_merge_concat(&d, st.data, widths, blocks, &dv, n_blocks, p->n_heads, p->n_rows,
                                                 p->n_cols), POSENC_OK);
    assert_true(test_guard_ok(&probs) && test_guard_ok(&dst) && test_guard_ok(&st));
    memcpy(out, in_place ? probs.data : dst.data, p->extent * sizeof(float));
    test_buf_free(&probs);
    test_buf_free(&dst);
    test_buf_free(&st);
}

static double concat_worst_vs_forward, concat_worst_vs_oracle;

static void check_concat_case(const char *isa, problem *p, size_t max_blocks)
{
    size_t widths[16];
    size_t n_blocks = random_split(p->n_cols, widths, max_blocks);
    int in_place = (int)test_rand_below(2), pool = test_rand_below(3) == 0;
    size_t n = p->extent + 1;
    float *ref = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float)), *full = malloc(n * sizeof(float));
    float *block_probs = malloc(n * sizeof(float));
    long double *p64 = malloc((p->n_cols + 1) * sizeof(long double));
    assert_true(ref && got && full && block_probs && p64);
    run_concat("scalar", p, widths, n_blocks, in_place, pool, ref, NULL);
    run_concat(isa, p, widths, n_blocks, in_place, pool, got, block_probs);
    for (size_t r = 0; r < p->n_heads * p->n_rows; r++) {
        size_t off = (r / p->n_rows) * p->hs + (r % p->n_rows) * p->rs;
        if (!same_bytes(ref + off, got + off, p->n_cols, "concat merge") ||
            !outputs_clean(got + off, p->n_cols, "concat merge")) {
            fprintf(stderr, "concat case: isa %s blocks %zu heads %zu rows %zu cols %zu kind %d in_place %d\n", isa,
                    n_blocks, p->n_heads, p->n_rows, p->n_cols, p->kind, in_place);
            fail();
        }
    }
    /* Against the unsplit forward (sinks included) and float64. */
    memcpy(full, p->scores, p->extent * sizeof(float));
    assert_int_equal(forward(p, &p->desc, full, full, p->n_cols), POSENC_OK);
    for (size_t h = 0; h < p->n_heads; h++)
        for (size_t i = 0; i < p->n_rows; i++) {
            size_t off = h * p->hs + i * p->rs;
            const float *m = got + off, *f = full + off;
            float oracle_max;
            long double oracle_sum;
            int covered = oracle_row(p, h, i, p64, &oracle_max, &oracle_sum);
            int forward_nan = isnan(f[0]);
            if (forward_nan) {
                /* A NaN row stays a NaN row. */
                for (size_t j = 0; j < p->n_cols; j++)
                    assert_true(bits_of(m[j]) == CANONICAL_NAN);
                continue;
            }
            if (!covered)
                continue;
            for (size_t j = 0; j < p->n_cols; j++) {
                if (p64[j] >= 1e-30L) {
                    double rel_f = fabs((double)m[j] - (double)f[j]) / (double)f[j];
                    double rel_o = (double)(fabsl((long double)m[j] - p64[j]) / p64[j]);
                    if (!(rel_f <= 1e-6) || !(rel_o <= 1e-6)) {
                        fprintf(stderr, "concat merge: col %zu: merged %a forward %a float64 %La (blocks %zu)\n", j,
                                (double)m[j], (double)f[j], p64[j], n_blocks);
                        fail();
                    }
                    concat_worst_vs_forward = rel_f > concat_worst_vs_forward ? rel_f : concat_worst_vs_forward;
                    concat_worst_vs_oracle = rel_o > concat_worst_vs_oracle ? rel_o : concat_worst_vs_oracle;
                } else {
                    assert_true(m[j] >= 0.0f && m[j] <= 1e-29f);
                }
            }
        }
    /* One block and no sink: the block's own bits (normal values and +0; subnormals and -0 become +0). */
    if (n_blocks == 1 && !p->sinks)
        for (size_t r = 0; r < p->n_heads * p->n_rows; r++) {
            size_t off = (r / p->n_rows) * p->hs + (r % p->n_rows) * p->rs;
            for (size_t j = 0; j < p->n_cols; j++) {
                float x = block_probs[off + j];
                float want = isnan(x) ? float_of(CANONICAL_NAN) : fabsf(x) < FLT_MIN ? 0.0f : x;
                assert_true(bits_of(got[off + j]) == bits_of(want));
            }
        }
    free(ref); free(got); free(full); free(block_probs); free(p64);
}

static void merge_concat_matches(void **state)
{
    const char *isa = *state;
    problem p;
    concat_worst_vs_forward = concat_worst_vs_oracle = 0;
    for (size_t n_cols = 1; n_cols <= 2 * 16 + 1 + 40; n_cols++)
        for (int rep = 0; rep < 3; rep++) {
            random_problem(&p, n_cols, (int)test_rand_below(6), 0);
            check_concat_case(isa, &p, rep == 0 ? 1 : 6);
            problem_free(&p);
        }
    for (int iter = 0; iter < 30; iter++) {
        random_problem(&p, 80 + test_rand_below(iter < 25 ? 3000 : 40000), (int)test_rand_below(6), 1);
        check_concat_case(isa, &p, iter % 5 == 0 ? 1 : 8);
        problem_free(&p);
    }
    fprintf(stderr, "# concat merge (%s): largest relative difference %.3g vs the unsplit forward, %.3g vs "
            "float64\n", isa, concat_worst_vs_forward, concat_worst_vs_oracle);
}

/* ---- the summing merge: partial attention outputs O_b = P_b V_b ---- */

typedef struct attention {
    size_t head_dim, n_blocks;
    size_t widths[16];
    float *v;        /* [n_heads][n_cols][head_dim] */
    float *outs;     /* n_blocks blocks of [n_heads][n_rows][o_rs] */
    float *stats;
    size_t o_rs, o_hs, o_n;
} attention;

/* The blocks' partial outputs and statistics on the active variant. A row of a block whose statistics are
 * (-inf, 0) (no live column) is filled with NaN: the merge must not read it. */
static void attention_blocks(const problem *p, attention *a)
{
    float *probs = malloc((p->extent + 1) * sizeof(float));
    assert_non_null(probs);
    block_forwards(p, a->widths, a->n_blocks, probs, a->stats);
    size_t c = 0;
    for (size_t b = 0; b < a->n_blocks; b++) {
        for (size_t h = 0; h < p->n_heads; h++)
            for (size_t i = 0; i < p->n_rows; i++) {
                float *o = a->outs + b * a->o_n + h * a->o_hs + i * a->o_rs;
                const float *st = a->stats + 2 * ((b * p->n_heads + h) * p->n_rows + i);
                for (size_t e = 0; e < a->head_dim; e++) {
                    double acc = 0;
                    for (size_t j = 0; j < a->widths[b]; j++)
                        acc += (double)probs[h * p->hs + i * p->rs + c + j] *
                               (double)a->v[(h * p->n_cols + c + j) * a->head_dim + e];
                    o[e] = st[0] == -INFINITY && st[1] == 0.0f ? NAN : (float)acc;
                }
            }
        c += a->widths[b];
    }
    free(probs);
}

static void run_sum(const char *isa, const problem *p, attention *a, int in_place, int pool, float *out)
{
    use(isa);
    attention_blocks(p, a);
    test_buf dst = test_buf_new(a->o_n, test_rand_below(16));
    memset(dst.data, 0xee, a->o_n * sizeof(float));
    posenc_tensor blocks[16];
    for (size_t b = 0; b < a->n_blocks; b++)
        blocks[b] = view(a->outs + b * a->o_n, a->o_hs, a->o_rs);
    posenc_tensor dv = in_place ? blocks[a->n_blocks - 1] : view(dst.data, a->o_hs, a->o_rs);
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    d.sinks = p->sinks;
    size_t calls = 0;
    posenc_parallel par = { reverse_pool, &calls, 2 };
    if (pool)
        d.parallel = &par;
    assert_int_equal(posenc_softmax_merge(&d, a->stats, blocks, &dv, a->n_blocks, p->n_heads, p->n_rows,
                                          a->head_dim), POSENC_OK);
    assert_true(test_guard_ok(&dst));
    memcpy(out, dv.data, a->o_n * sizeof(float));
    test_buf_free(&dst);
}

static double sum_worst;

static void check_sum_case(const char *isa, problem *p, size_t max_blocks)
{
    attention a;
    memset(&a, 0, sizeof a);
    a.head_dim = 1 + test_rand_below(test_rand_below(2) ? 40 : 200);
    a.n_blocks = random_split(p->n_cols, a.widths, max_blocks);
    a.o_rs = a.head_dim + test_rand_below(3);
    a.o_hs = p->n_rows * a.o_rs + test_rand_below(3);
    a.o_n = (p->n_heads - 1) * a.o_hs + (p->n_rows - 1) * a.o_rs + a.head_dim;
    size_t nv = p->n_heads * p->n_cols * a.head_dim;
    a.v = malloc((nv + 1) * sizeof(float));
    a.outs = malloc(a.n_blocks * a.o_n * sizeof(float));
    a.stats = malloc(a.n_blocks * p->n_heads * p->n_rows * 2 * sizeof(float));
    float *ref = malloc(a.o_n * sizeof(float)), *got = malloc(a.o_n * sizeof(float));
    long double *p64 = malloc((p->n_cols + 1) * sizeof(long double));
    assert_true(a.v && a.outs && a.stats && ref && got && p64);
    test_fill(a.v, nv, -1.0f, 1.0f);
    int in_place = (int)test_rand_below(2), pool = test_rand_below(3) == 0;
    run_sum("scalar", p, &a, in_place, pool, ref);
    run_sum(isa, p, &a, in_place, pool, got);
    for (size_t r = 0; r < p->n_heads * p->n_rows; r++) {
        size_t off = (r / p->n_rows) * a.o_hs + (r % p->n_rows) * a.o_rs;
        if (!same_bytes(ref + off, got + off, a.head_dim, "sum merge") ||
            !outputs_clean(got + off, a.head_dim, "sum merge")) {
            fprintf(stderr, "sum case: isa %s blocks %zu heads %zu rows %zu cols %zu head_dim %zu kind %d\n", isa,
                    a.n_blocks, p->n_heads, p->n_rows, p->n_cols, a.head_dim, p->kind);
            fail();
        }
    }
    /* Against float64 attention over the whole row: |O - O64| <= 1e-6 sum_j p_j |v_j| (+ the flush). */
    for (size_t h = 0; h < p->n_heads; h++)
        for (size_t i = 0; i < p->n_rows; i++) {
            const float *o = got + h * a.o_hs + i * a.o_rs;
            float oracle_max;
            long double oracle_sum;
            if (!oracle_row(p, h, i, p64, &oracle_max, &oracle_sum)) {
                int nan_row = 0;
                for (size_t j = 0; j < p->n_cols; j++) {
                    float zf;
                    long double zl;
                    nan_row |= logit_of(p, h, i, j, &zf, &zl) && isnan(zf);
                }
                if (nan_row)   /* a NaN logit: the block's S is NaN, so is the merged row */
                    for (size_t e = 0; e < a.head_dim; e++)
                        assert_true(bits_of(o[e]) == CANONICAL_NAN);
                continue;
            }
            for (size_t e = 0; e < a.head_dim; e++) {
                long double want = 0, scale = 0;
                for (size_t j = 0; j < p->n_cols; j++) {
                    long double v = a.v[(h * p->n_cols + j) * a.head_dim + e];
                    want += p64[j] * v;
                    scale += p64[j] * fabsl(v);
                }
                long double err = fabsl((long double)o[e] - want);
                if (!(err <= 1e-6L * scale + 0x1p-126L)) {
                    fprintf(stderr, "sum merge: element %zu: got %a want %La (scale %La)\n", e, (double)o[e], want,
                            scale);
                    fail();
                }
                if (scale > 1e-30L && (double)(err / scale) > sum_worst)
                    sum_worst = (double)(err / scale);
            }
        }
    /* One block and no sink: the block's own values. */
    if (a.n_blocks == 1 && !p->sinks && !in_place) {
        for (size_t r = 0; r < p->n_heads * p->n_rows; r++) {
            size_t off = (r / p->n_rows) * a.o_hs + (r % p->n_rows) * a.o_rs;
            const float *st = a.stats + 2 * r;
            if (!(st[1] > 0.0f))
                continue;      /* no live column (zeros) or a NaN row */
            for (size_t e = 0; e < a.head_dim; e++) {
                float x = a.outs[off + e];
                float want = isnan(x) ? float_of(CANONICAL_NAN) : fabsf(x) < FLT_MIN ? 0.0f : x;
                assert_true(bits_of(got[off + e]) == bits_of(want));
            }
        }
    }
    free(a.v); free(a.outs); free(a.stats); free(ref); free(got); free(p64);
}

static void merge_sum_matches(void **state)
{
    const char *isa = *state;
    problem p;
    sum_worst = 0;
    for (int iter = 0; iter < 150; iter++) {
        random_problem(&p, 1 + test_rand_below(iter < 120 ? 100 : 2000), (int)test_rand_below(6), 0);
        check_sum_case(isa, &p, iter % 6 == 0 ? 1 : 8);
        problem_free(&p);
    }
    fprintf(stderr, "# sum merge (%s): largest error %.3g of sum_j p_j |v_j| vs float64\n", isa, sum_worst);
}

/* The summing merge where blocks cancel: pairs of blocks with the same statistics and opposite values, so the
 * result is the rounding of the fma chain alone and any other order or FMA placement shows. All M_b equal, so
 * the weights are f_b = S_b, w_b = S_b / sum S (exp(0) = 1): the test recomputes numerics.h's chain itself. */
static float out_of(double v)
{
    if (isnan(v))
        return float_of(CANONICAL_NAN);
    return fabs(v) < 0x1p-126 ? 0.0f : (float)v;
}

static void merge_sum_cancellation(void **state)
{
    const char *isa = *state;
    for (int iter = 0; iter < 200; iter++) {
        size_t n_blocks = 2 + test_rand_below(7), n_cols = 1 + test_rand_below(70);
        float stats[2 * 8], x[8][80], ref[80], got[80];
        posenc_tensor blocks[8];
        float max = test_rand_float(-5.0f, 5.0f);
        for (size_t b = 0; b < n_blocks; b++) {
            stats[2 * b] = max;
            stats[2 * b + 1] = b % 2 && test_rand_below(4) ? stats[2 * b - 1] : test_rand_float(0.5f, 40.0f);
            for (size_t j = 0; j < n_cols; j++)
                x[b][j] = b % 2 && test_rand_below(8) ? -x[b - 1][j] : test_rand_float(-1.0f, 1.0f);
            blocks[b] = view(x[b], n_cols, n_cols);
        }
        double sum = 0.0;
        for (size_t b = 0; b < n_blocks; b++)
            sum = sum + (double)stats[2 * b + 1];
        float want[80];
        for (size_t j = 0; j < n_cols; j++) {
            double acc = 0.0;
            for (size_t b = 0; b < n_blocks; b++)
                acc = fma((double)stats[2 * b + 1] / sum, (double)x[b][j], acc);
            want[j] = out_of(acc);
        }
        posenc_softmax_desc d;
        posenc_softmax_desc_init(&d, sizeof d);
        posenc_tensor rv = view(ref, n_cols, n_cols), gv = view(got, n_cols, n_cols);
        use("scalar");
        assert_int_equal(posenc_softmax_merge(&d, stats, blocks, &rv, n_blocks, 1, 1, n_cols), POSENC_OK);
        use(isa);
        assert_int_equal(posenc_softmax_merge(&d, stats, blocks, &gv, n_blocks, 1, 1, n_cols), POSENC_OK);
        assert_true(same_bytes(want, ref, n_cols, "sum merge: scalar vs the spec"));
        assert_true(same_bytes(ref, got, n_cols, "sum merge with cancellation"));
    }
}

/* Hand-made statistics: the weights' special cases. */
static void merge_special_rows(void **state)
{
    use(*state);
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    float x0[3] = { 1.0f, 2.0f, 3.0f }, x1[3] = { NAN, NAN, NAN }, out[3];
    posenc_tensor blocks[2] = { view(x0, 3, 3), view(x1, 3, 3) };
    posenc_tensor dv = view(out, 3, 3);
    /* Block 1 has no live column: its values (NaN) are not read; block 0's weight is exactly 1. */
    float st1[4] = { 0.5f, 2.0f, -INFINITY, 0.0f };
    assert_int_equal(posenc_softmax_merge(&d, st1, blocks, &dv, 2, 1, 1, 3), POSENC_OK);
    assert_true(out[0] == 1.0f && out[1] == 2.0f && out[2] == 3.0f);
    /* No live column anywhere: +0. */
    float st2[4] = { -INFINITY, 0.0f, -INFINITY, 0.0f };
    assert_int_equal(posenc_softmax_merge(&d, st2, blocks, &dv, 2, 1, 1, 3), POSENC_OK);
    for (int e = 0; e < 3; e++)
        assert_true(bits_of(out[e]) == 0);
    /* A NaN block (S NaN): the canonical NaN everywhere. */
    float st3[4] = { 0.5f, 2.0f, 0.25f, NAN };
    assert_int_equal(posenc_softmax_merge(&d, st3, blocks, &dv, 2, 1, 1, 3), POSENC_OK);
    for (int e = 0; e < 3; e++)
        assert_true(bits_of(out[e]) == CANONICAL_NAN);
    /* Equal maxima and sums: weights 1/2 each (exact), in block order. */
    float x2[3] = { 3.0f, -2.0f, 1e-38f };
    blocks[1] = view(x2, 3, 3);
    float st4[4] = { 1.5f, 3.0f, 1.5f, 3.0f };
    assert_int_equal(posenc_softmax_merge(&d, st4, blocks, &dv, 2, 1, 1, 3), POSENC_OK);
    assert_true(out[0] == 2.0f && out[1] == 0.0f && out[2] == 1.5f);
    /* A sink alone outweighing everything: the blocks' weights underflow the output to +0. */
    float sink = 200.0f;
    d.sinks = &sink;
    assert_int_equal(posenc_softmax_merge(&d, st4, blocks, &dv, 2, 1, 1, 3), POSENC_OK);
    for (int e = 0; e < 3; e++)
        assert_true(bits_of(out[e]) == 0);
    /* A sink of -inf changes nothing; the sink never makes a NaN. */
    sink = -INFINITY;
    assert_int_equal(posenc_softmax_merge(&d, st4, blocks, &dv, 2, 1, 1, 3), POSENC_OK);
    assert_true(out[0] == 2.0f && out[1] == 0.0f && out[2] == 1.5f);
    /* Concatenation: block 0 (weight 1/3 after a sink with the same max), block 1 not read (weight 0). */
    sink = 1.5f;
    float st5[4] = { 1.5f, 2.0f, -INFINITY, 0.0f }, cat[3];
    size_t widths[2] = { 2, 1 };
    float y0[2] = { 0.75f, 0.25f }, y1[1] = { NAN };
    posenc_tensor cblocks[2] = { view(y0, 2, 2), view(y1, 1, 1) };
    posenc_tensor cv = view(cat, 3, 3);
    assert_int_equal(posenc_softmax_merge_concat(&d, st5, widths, cblocks, &cv, 2, 1, 1, 3), POSENC_OK);
    assert_true(cat[0] == (float)(0.75 * (2.0 / 3.0)) && cat[1] == (float)(0.25 * (2.0 / 3.0)) &&
                bits_of(cat[2]) == 0);
}

/* ==== the parallel hook: work big enough to be split, the same bits as on the calling thread ==================== */

static void parallel_split_matches(void **state)
{
    use(*state);
    const size_t nh = 4, nr = 3, nc = 20000, n = nh * nr * nc;   /* 12 rows of 20000: split into 3 tasks */
    float *y = malloc(n * sizeof(float)), *dy = malloc(n * sizeof(float));
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    float *st_a = malloc(nh * nr * 2 * sizeof(float)), *st_b = malloc(nh * nr * 2 * sizeof(float));
    assert_true(y && dy && a && b && st_a && st_b);
    test_fill(y, n, 0.0f, 1e-4f);
    test_fill(dy, n, -1.0f, 1.0f);
    size_t calls = 0;
    posenc_parallel par = { reverse_pool, &calls, 3 };
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    d.scale = 0.125f;
    posenc_tensor yv = view(y, nr * nc, nc), dyv = view(dy, nr * nc, nc), av = view(a, nr * nc, nc);
    posenc_tensor bv = view(b, nr * nc, nc);
    /* backward */
    assert_int_equal(posenc_softmax_backward(&d, &yv, &dyv, &av, nh, nr, nc), POSENC_OK);
    d.parallel = &par;
    assert_int_equal(posenc_softmax_backward(&d, &yv, &dyv, &bv, nh, nr, nc), POSENC_OK);
    assert_int_equal(calls, 1);
    assert_memory_equal(a, b, n * sizeof(float));
    /* forward with statistics (causal ALiBi) */
    d.position = POSENC_POSITION_CAUSAL;
    d.slopes_mode = POSENC_SLOPES_ALIBI;
    d.q_pos0 = (int64_t)nc - 2;
    d.parallel = NULL;
    d.stats = st_a;
    assert_int_equal(posenc_softmax_forward(&d, &dyv, &av, nh, nr, nc), POSENC_OK);
    d.parallel = &par;
    d.stats = st_b;
    assert_int_equal(posenc_softmax_forward(&d, &dyv, &bv, nh, nr, nc), POSENC_OK);
    assert_int_equal(calls, 2);
    assert_memory_equal(a, b, n * sizeof(float));
    assert_memory_equal(st_a, st_b, nh * nr * 2 * sizeof(float));
    /* the summing merge of two blocks (a and y, the statistics above for both) and the concatenation of one */
    float *stats2 = malloc(2 * nh * nr * 2 * sizeof(float)), *m_a = malloc(n * sizeof(float));
    float *m_b = malloc(n * sizeof(float));
    assert_true(stats2 && m_a && m_b);
    memcpy(stats2, st_a, nh * nr * 2 * sizeof(float));
    memcpy(stats2 + nh * nr * 2, st_a, nh * nr * 2 * sizeof(float));
    posenc_tensor blocks[2] = { av, yv }, mav = view(m_a, nr * nc, nc), mbv = view(m_b, nr * nc, nc);
    posenc_softmax_desc md;
    posenc_softmax_desc_init(&md, sizeof md);
    assert_int_equal(posenc_softmax_merge(&md, stats2, blocks, &mav, 2, nh, nr, nc), POSENC_OK);
    md.parallel = &par;
    assert_int_equal(posenc_softmax_merge(&md, stats2, blocks, &mbv, 2, nh, nr, nc), POSENC_OK);
    assert_int_equal(calls, 3);
    assert_memory_equal(m_a, m_b, n * sizeof(float));
    size_t width = nc;
    md.parallel = NULL;
    assert_int_equal(posenc_softmax_merge_concat(&md, st_a, &width, &av, &mav, 1, nh, nr, nc), POSENC_OK);
    md.parallel = &par;
    assert_int_equal(posenc_softmax_merge_concat(&md, st_a, &width, &av, &mbv, 1, nh, nr, nc), POSENC_OK);
    assert_int_equal(calls, 4);
    assert_memory_equal(m_a, m_b, n * sizeof(float));
    for (size_t i = 0; i < n; i++)      /* one block, no sink: the block itself (a subnormal flushed to +0) */
        assert_true(bits_of(m_a[i]) == bits_of(fabsf(a[i]) < FLT_MIN ? 0.0f : a[i]));
    free(y); free(dy); free(a); free(b); free(st_a); free(st_b); free(stats2); free(m_a); free(m_b);
}

/* ==== statuses ===================================================================================================== */

/* Arena layout (floats): [0, 48) y, [100, 148) dy, [200, 248) dx; 2 heads x 3 rows x 8 columns, row stride 8. */
#define NH 2
#define NR 3
#define NC 8

static void backward_statuses(void **state)
{
    use(*state);
    arena_refill();
    float *y = arena.data, *dy = arena.data + 100, *dx = arena.data + 200;
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    posenc_tensor yv = view(y, NR * NC, NC), dyv = view(dy, NR * NC, NC), dxv = view(dx, NR * NC, NC);

    EXPECT(posenc_softmax_backward(NULL, &yv, &dyv, &dxv, NH, NR, NC), POSENC_ERR_NULL);
    EXPECT(posenc_softmax_backward(&d, NULL, &dyv, &dxv, NH, NR, NC), POSENC_ERR_NULL);
    EXPECT(posenc_softmax_backward(&d, &yv, NULL, &dxv, NH, NR, NC), POSENC_ERR_NULL);
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, NULL, NH, NR, NC), POSENC_ERR_NULL);
    posenc_tensor bad = dxv;
    bad.data = NULL;
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, &bad, NH, NR, NC), POSENC_ERR_NULL);
    EXPECT(posenc_softmax_backward(&d, &bad, &dyv, &dxv, NH, NR, NC), POSENC_ERR_NULL);
    bad = dyv;
    bad.dtype = 7;
    EXPECT(posenc_softmax_backward(&d, &yv, &bad, &dxv, NH, NR, NC), POSENC_ERR_ENUM);
    bad = dxv;
    bad.reserved = 1;
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, &bad, NH, NR, NC), POSENC_ERR_ENUM);
    bad = yv;
    bad.data = (char *)y + 1;
    EXPECT(posenc_softmax_backward(&d, &bad, &dyv, &dxv, NH, NR, NC), POSENC_ERR_PARAM);
    /* struct sizes */
    const uint32_t sizes[] = { 0, 4, POSENC_SOFTMAX_DESC_SIZE_V1 - 8, POSENC_SOFTMAX_DESC_SIZE_V1 + 4,
                               (uint32_t)sizeof d + 8 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        posenc_softmax_desc bd = d;
        bd.struct_size = sizes[i];
        EXPECT(posenc_softmax_backward(&bd, &yv, &dyv, &dxv, NH, NR, NC), POSENC_ERR_STRUCT_SIZE);
    }
    /* shapes */
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, &dxv, 0, NR, NC), POSENC_ERR_SHAPE);
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, &dxv, NH, SIZE_MAX, NC), POSENC_ERR_SHAPE);
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, &dxv, SIZE_MAX, NR, NC), POSENC_ERR_SHAPE);
    bad = yv;
    bad.stride_a = SIZE_MAX / 2;
    EXPECT(posenc_softmax_backward(&d, &bad, &dyv, &dxv, NH, NR, NC), POSENC_ERR_SHAPE);
    /* element types */
    bad = yv;
    bad.dtype = POSENC_BF16;
    EXPECT(posenc_softmax_backward(&d, &bad, &dyv, &dxv, NH, NR, NC), POSENC_ERR_UNSUPPORTED);
    bad = dxv;
    bad.dtype = POSENC_F16;
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, &bad, NH, NR, NC), POSENC_ERR_UNSUPPORTED);
    /* strides: rows or heads that overlap */
    bad = dxv;
    bad.stride_b = NC - 1;
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, &bad, NH, NR, NC), POSENC_ERR_STRIDE);
    bad = yv;
    bad.stride_a = NC;
    EXPECT(posenc_softmax_backward(&d, &bad, &dyv, &dxv, NH, NR, NC), POSENC_ERR_STRIDE);
    bad = dyv;
    bad.stride_b = 0;
    EXPECT(posenc_softmax_backward(&d, &yv, &bad, &dxv, NH, NR, NC), POSENC_ERR_STRIDE);
    /* overlaps: dx with y (even exactly), dx with dy other than in place */
    posenc_tensor on_y = view(y + 4, NR * NC, NC);
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, &on_y, NH, NR, NC), POSENC_ERR_OVERLAP);
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, &yv, NH, NR, NC), POSENC_ERR_OVERLAP);
    posenc_tensor on_dy = view(dy + 1, NR * NC, NC);
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, &on_dy, NH, NR, NC), POSENC_ERR_OVERLAP);
    posenc_tensor restrided = view(dy, NR * NC + 1, NC);
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, &restrided, NH, NR, NC), POSENC_ERR_OVERLAP);
    /* numeric parameters */
    const float scales[] = { NAN, INFINITY, -INFINITY };
    for (size_t i = 0; i < 3; i++) {
        posenc_softmax_desc bd = d;
        bd.scale = scales[i];
        EXPECT(posenc_softmax_backward(&bd, &yv, &dyv, &dxv, NH, NR, NC), POSENC_ERR_PARAM);
    }
    posenc_parallel no_fn = { NULL, NULL, 2 };
    posenc_softmax_desc pd = d;
    pd.parallel = &no_fn;
    EXPECT(posenc_softmax_backward(&pd, &yv, &dyv, &dxv, NH, NR, NC), POSENC_ERR_NULL);
    /* empty calls, then real ones: out of place, in place, y and dy the same memory; the first-release size */
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, &dxv, NH, 0, NC), POSENC_OK);
    assert_true(arena_untouched());
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, &dxv, NH, NR, 0), POSENC_OK);
    assert_true(arena_untouched());
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, &dxv, NH, NR, NC), POSENC_OK);
    EXPECT(posenc_softmax_backward(&d, &yv, &dyv, &dyv, NH, NR, NC), POSENC_OK);
    EXPECT(posenc_softmax_backward(&d, &yv, &yv, &dxv, NH, NR, NC), POSENC_OK);
    posenc_softmax_desc v1 = d;
    v1.struct_size = POSENC_SOFTMAX_DESC_SIZE_V1;
    EXPECT(posenc_softmax_backward(&v1, &yv, &dyv, &dxv, NH, NR, NC), POSENC_OK);
    /* Tiny values give +0, never a subnormal; a row with NaN gives the canonical NaN everywhere. */
    float ty[4] = { 1.5e-38f, 0.5f, 0.25f, 0.25f }, tdy[4] = { 0.0f, 1.0f, 0.0f, 0.0f }, tdx[4];
    posenc_tensor tyv = view(ty, 4, 4), tdyv = view(tdy, 4, 4), tdxv = view(tdx, 4, 4);
    assert_int_equal(posenc_softmax_backward(&d, &tyv, &tdyv, &tdxv, 1, 1, 4), POSENC_OK);
    /* dot = 0.5: dx = 1.5e-38 * -0.5 would be subnormal: +0; then 0.5 * 0.5 and 0.25 * -0.5 exactly */
    assert_true(bits_of(tdx[0]) == 0 && tdx[1] == 0.25f && tdx[2] == -0.125f && tdx[3] == -0.125f);
    tdy[2] = NAN;
    assert_int_equal(posenc_softmax_backward(&d, &tyv, &tdyv, &tdxv, 1, 1, 4), POSENC_OK);
    for (int j = 0; j < 4; j++)
        assert_true(bits_of(tdx[j]) == CANONICAL_NAN);
}

/* desc->stats in posenc_softmax_forward. Arena: scores [0, 48), dst [100, 148), mask [300, 348). */
static void stats_statuses(void **state)
{
    use(*state);
    arena_refill();
    float *src = arena.data, *dst = arena.data + 100, *mask = arena.data + 300, *stats = arena.data + 400;
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    assert_null(d.stats);
    posenc_tensor sv = view(src, NR * NC, NC), dv = view(dst, NR * NC, NC);
    d.stats = src + 3;
    EXPECT(posenc_softmax_forward(&d, &sv, &dv, NH, NR, NC), POSENC_ERR_OVERLAP);
    d.stats = dst + 40;
    EXPECT(posenc_softmax_forward(&d, &sv, &dv, NH, NR, NC), POSENC_ERR_OVERLAP);
    d.mask = mask;
    d.mask_row_stride = NC;
    d.mask_head_stride = NR * NC;
    d.stats = mask + 47;
    EXPECT(posenc_softmax_forward(&d, &sv, &dv, NH, NR, NC), POSENC_ERR_OVERLAP);
    float sink_area[16] = { 0 };
    d.sinks = sink_area + 11;
    d.stats = sink_area;       /* its 12 floats end on sinks[0] */
    EXPECT(posenc_softmax_forward(&d, &sv, &dv, NH, NR, NC), POSENC_ERR_OVERLAP);
    d.sinks = NULL;
    float slopes[NH] = { 0.5f, 0.25f };
    d.slopes_mode = POSENC_SLOPES_CUSTOM;
    d.position = POSENC_POSITION_CAUSAL;
    d.slopes = slopes;
    d.stats = slopes + 1;
    EXPECT(posenc_softmax_forward(&d, &sv, &dv, NH, NR, NC), POSENC_ERR_OVERLAP);
    int64_t qpos[NR] = { 3, 4, 5 };
    d.q_positions = qpos;
    d.stats = (float *)(void *)(qpos + 2);
    EXPECT(posenc_softmax_forward(&d, &sv, &dv, NH, NR, NC), POSENC_ERR_OVERLAP);
    /* n_heads * n_rows * 2 floats beyond PTRDIFF_MAX bytes (one-column rows at stride 1 in place) */
    posenc_softmax_desc big;
    posenc_softmax_desc_init(&big, sizeof big);
    big.stats = stats;
    posenc_tensor one_col = view(src, 1, 0);
    EXPECT(posenc_softmax_forward(&big, &one_col, &one_col, (size_t)1 << 60, 1, 1), POSENC_ERR_SHAPE);
    /* Rows whose bias magnitude exceeds 2^24 have no float frame to merge in: statistics refused, nothing
     * written (without statistics the same call is valid). */
    d.stats = stats;
    d.q_positions = NULL;
    int64_t far_q_pos0 = POSENC_MAX_POSITION - (int64_t)NR;
    d.q_pos0 = far_q_pos0;
    arena_snapshot();
    EXPECT(posenc_softmax_forward(&d, &sv, &dv, NH, NR, NC), POSENC_ERR_RANGE);
    assert_true(arena_untouched());
    d.stats = NULL;
    assert_int_equal(posenc_softmax_forward(&d, &sv, &dv, NH, NR, NC), POSENC_OK);
    d.q_pos0 = 0;
    d.q_positions = qpos;
    arena_refill();
    /* A valid call writes exactly n_heads * n_rows * 2 floats; an empty one none. */
    d.stats = stats;
    arena_snapshot();
    assert_int_equal(posenc_softmax_forward(&d, &sv, &dv, NH, 0, NC), POSENC_OK);
    assert_true(arena_untouched());
    assert_int_equal(posenc_softmax_forward(&d, &sv, &dv, NH, NR, NC), POSENC_OK);
    for (size_t i = 0; i < ARENA_FLOATS; i++)
        if (i < 400 || i >= 400 + NH * NR * 2)
            assert_true((i >= 100 && i < 148) || bits_of(arena.data[i]) == bits_of(arena_before[i]));
    assert_true(test_guard_ok(&arena));
}

/* Merges. Arena: block 0 [0, 48), block 1 [100, 148), dst [200, 248), stats [300, 324). */
static void merge_statuses(void **state)
{
    use(*state);
    arena_refill();
    float *b0 = arena.data, *b1 = arena.data + 100, *dst = arena.data + 200, *stats = arena.data + 300;
    for (size_t k = 0; k < 2 * NH * NR * 2; k += 2)
        stats[k] = 0.5f, stats[k + 1] = 1.5f;
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    posenc_tensor blocks[2] = { view(b0, NR * NC, NC), view(b1, NR * NC, NC) };
    posenc_tensor dv = view(dst, NR * NC, NC);

    EXPECT(posenc_softmax_merge(NULL, stats, blocks, &dv, 2, NH, NR, NC), POSENC_ERR_NULL);
    EXPECT(posenc_softmax_merge(&d, NULL, blocks, &dv, 2, NH, NR, NC), POSENC_ERR_NULL);
    EXPECT(posenc_softmax_merge(&d, stats, NULL, &dv, 2, NH, NR, NC), POSENC_ERR_NULL);
    EXPECT(posenc_softmax_merge(&d, stats, blocks, NULL, 2, NH, NR, NC), POSENC_ERR_NULL);
    posenc_tensor bad[2] = { blocks[0], blocks[1] };
    bad[1].data = NULL;
    EXPECT(posenc_softmax_merge(&d, stats, bad, &dv, 2, NH, NR, NC), POSENC_ERR_NULL);
    bad[1] = blocks[1];
    bad[1].reserved = 2;
    EXPECT(posenc_softmax_merge(&d, stats, bad, &dv, 2, NH, NR, NC), POSENC_ERR_ENUM);
    bad[1] = blocks[1];
    bad[1].dtype = -1;
    EXPECT(posenc_softmax_merge(&d, stats, bad, &dv, 2, NH, NR, NC), POSENC_ERR_ENUM);
    bad[1] = blocks[1];
    bad[1].data = (char *)b1 + 2;
    EXPECT(posenc_softmax_merge(&d, stats, bad, &dv, 2, NH, NR, NC), POSENC_ERR_PARAM);
    posenc_tensor bdv = dv;
    bdv.data = (char *)dst + 1;
    EXPECT(posenc_softmax_merge(&d, stats, blocks, &bdv, 2, NH, NR, NC), POSENC_ERR_PARAM);
    posenc_softmax_desc bd = d;
    bd.struct_size = POSENC_SOFTMAX_DESC_SIZE_V1 - 8;
    EXPECT(posenc_softmax_merge(&bd, stats, blocks, &dv, 2, NH, NR, NC), POSENC_ERR_STRUCT_SIZE);
    bd.struct_size = (uint32_t)sizeof d + 8;
    EXPECT(posenc_softmax_merge(&bd, stats, blocks, &dv, 2, NH, NR, NC), POSENC_ERR_STRUCT_SIZE);
    EXPECT(posenc_softmax_merge(&d, stats, blocks, &dv, 0, NH, NR, NC), POSENC_ERR_SHAPE);
    EXPECT(posenc_softmax_merge(&d, stats, blocks, &dv, 2, 0, NR, NC), POSENC_ERR_SHAPE);
    EXPECT(posenc_softmax_merge(&d, stats, blocks, &dv, SIZE_MAX, NH, NR, NC), POSENC_ERR_SHAPE);
    EXPECT(posenc_softmax_merge(&d, stats, blocks, &dv, 2, NH, SIZE_MAX / 2, NC), POSENC_ERR_SHAPE);
    EXPECT(posenc_softmax_merge(&d, stats, blocks, &dv, 2, NH, NR, SIZE_MAX / 2), POSENC_ERR_SHAPE);
    bad[1] = blocks[1];
    bad[1].dtype = POSENC_F16;
    EXPECT(posenc_softmax_merge(&d, stats, bad, &dv, 2, NH, NR, NC), POSENC_ERR_UNSUPPORTED);
    bdv = dv;
    bdv.dtype = POSENC_BF16;
    EXPECT(posenc_softmax_merge(&d, stats, blocks, &bdv, 2, NH, NR, NC), POSENC_ERR_UNSUPPORTED);
    bad[1] = blocks[1];
    bad[1].stride_b = NC - 1;
    EXPECT(posenc_softmax_merge(&d, stats, bad, &dv, 2, NH, NR, NC), POSENC_ERR_STRIDE);
    bdv = dv;
    bdv.stride_a = 1;
    EXPECT(posenc_softmax_merge(&d, stats, blocks, &bdv, 2, NH, NR, NC), POSENC_ERR_STRIDE);
    /* overlaps: a block partially on dst, the statistics, the views array, the sinks */
    bad[1] = view(dst + 1, NR * NC, NC);
    EXPECT(posenc_softmax_merge(&d, stats, bad, &dv, 2, NH, NR, NC), POSENC_ERR_OVERLAP);
    bad[1] = view(dst, NR * NC + 1, NC);
    EXPECT(posenc_softmax_merge(&d, stats, bad, &dv, 2, NH, NR, NC), POSENC_ERR_OVERLAP);
    EXPECT(posenc_softmax_merge(&d, dst + 40, blocks, &dv, 2, NH, NR, NC), POSENC_ERR_OVERLAP);
    posenc_tensor *views_in_dst = (posenc_tensor *)(void *)(arena.data + 1025);   /* 8-byte aligned (arena is 3 floats off) */
    memcpy(views_in_dst, blocks, sizeof blocks);
    posenc_tensor dv_views = view(arena.data + 1025, NR * NC, NC);
    EXPECT(posenc_softmax_merge(&d, stats, views_in_dst, &dv_views, 2, NH, NR, NC), POSENC_ERR_OVERLAP);
    posenc_softmax_desc sd = d;
    sd.sinks = dst + 5;
    EXPECT(posenc_softmax_merge(&sd, stats, blocks, &dv, 2, NH, NR, NC), POSENC_ERR_OVERLAP);
    float sinks[NH] = { 0.0f, NAN };
    sd.sinks = sinks;
    EXPECT(posenc_softmax_merge(&sd, stats, blocks, &dv, 2, NH, NR, NC), POSENC_ERR_PARAM);
    sinks[1] = INFINITY;
    EXPECT(posenc_softmax_merge(&sd, stats, blocks, &dv, 2, NH, NR, NC), POSENC_ERR_PARAM);
    posenc_parallel no_fn = { NULL, NULL, 2 };
    posenc_softmax_desc pd = d;
    pd.parallel = &no_fn;
    EXPECT(posenc_softmax_merge(&pd, stats, blocks, &dv, 2, NH, NR, NC), POSENC_ERR_NULL);
    /* empty, then real calls: out of place, in place on block 1, -inf sinks */
    EXPECT(posenc_softmax_merge(&d, stats, blocks, &dv, 2, NH, 0, NC), POSENC_OK);
    assert_true(arena_untouched());
    EXPECT(posenc_softmax_merge(&d, stats, blocks, &dv, 2, NH, NR, NC), POSENC_OK);
    posenc_tensor in_place[2] = { blocks[0], dv };
    EXPECT(posenc_softmax_merge(&d, stats, in_place, &dv, 2, NH, NR, NC), POSENC_OK);
    sinks[0] = sinks[1] = -INFINITY;
    EXPECT(posenc_softmax_merge(&sd, stats, blocks, &dv, 2, NH, NR, NC), POSENC_OK);

    /* ---- the concatenating merge: widths 5 + 3 of the 8 columns ---- */
    size_t widths[2] = { 5, 3 };
    posenc_tensor cb[2] = { view(b0, NR * NC, NC), view(b1, NR * NC, NC) };
    EXPECT(posenc_softmax_merge_concat(&d, stats, NULL, cb, &dv, 2, NH, NR, NC), POSENC_ERR_NULL);
    EXPECT(posenc_softmax_merge_concat(NULL, stats, widths, cb, &dv, 2, NH, NR, NC), POSENC_ERR_NULL);
    size_t wrong[2] = { 5, 2 };
    EXPECT(posenc_softmax_merge_concat(&d, stats, wrong, cb, &dv, 2, NH, NR, NC), POSENC_ERR_SHAPE);
    size_t overflow[2] = { SIZE_MAX, 9 };
    EXPECT(posenc_softmax_merge_concat(&d, stats, overflow, cb, &dv, 2, NH, NR, NC), POSENC_ERR_SHAPE);
    size_t *widths_in_dst = (size_t *)(void *)(arena.data + 1025);
    widths_in_dst[0] = 5, widths_in_dst[1] = 3;
    EXPECT(posenc_softmax_merge_concat(&d, stats, widths_in_dst, cb, &dv_views, 2, NH, NR, NC), POSENC_ERR_OVERLAP);
    /* in place: block b must be exactly dst's columns [c_b, c_b + w_b) */
    posenc_tensor cin[2] = { view(dst, NR * NC, NC), view(dst + 5, NR * NC, NC) };
    EXPECT(posenc_softmax_merge_concat(&d, stats, widths, cin, &dv, 2, NH, NR, NC), POSENC_OK);
    cin[1] = view(dst + 4, NR * NC, NC);
    EXPECT(posenc_softmax_merge_concat(&d, stats, widths, cin, &dv, 2, NH, NR, NC), POSENC_ERR_OVERLAP);
    cin[1] = view(dst, NR * NC, NC);
    EXPECT(posenc_softmax_merge_concat(&d, stats, widths, cin, &dv, 2, NH, NR, NC), POSENC_ERR_OVERLAP);
    cin[1] = view(dst + 5, NR * NC, NC - 1);
    EXPECT(posenc_softmax_merge_concat(&d, stats, widths, cin, &dv, 2, NH, NR, NC), POSENC_ERR_OVERLAP);
    cb[1].stride_b = 2;
    EXPECT(posenc_softmax_merge_concat(&d, stats, widths, cb, &dv, 2, NH, NR, NC), POSENC_ERR_STRIDE);
    cb[1].stride_b = NC;
    EXPECT(posenc_softmax_merge_concat(&d, stats, widths, cb, &dv, 2, NH, NR, 0), POSENC_ERR_SHAPE);
    size_t none[2] = { 0, 0 };
    EXPECT(posenc_softmax_merge_concat(&d, stats, none, cb, &dv, 2, NH, NR, 0), POSENC_OK);
    assert_true(arena_untouched());
    EXPECT(posenc_softmax_merge_concat(&d, stats, widths, cb, &dv, 2, NH, NR, NC), POSENC_OK);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s scalar|avx2|avx512|neon\n", argv[0]);
        return 2;
    }
    if (!variant_supported(argv[1])) {
        printf("1..0 # SKIP variant %s is not supported by this CPU or build\n", argv[1]);
        return 0;
    }
    fprintf(stderr, "# testing variant %s against scalar\n", argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(backward_matches_scalar, argv[1]),
        cmocka_unit_test_prestate(backward_vs_oracle, argv[1]),
        cmocka_unit_test_prestate(stats_match_scalar, argv[1]),
        cmocka_unit_test_prestate(merge_concat_matches, argv[1]),
        cmocka_unit_test_prestate(merge_sum_matches, argv[1]),
        cmocka_unit_test_prestate(merge_sum_cancellation, argv[1]),
        cmocka_unit_test_prestate(merge_special_rows, argv[1]),
        cmocka_unit_test_prestate(parallel_split_matches, argv[1]),
        cmocka_unit_test_prestate(backward_statuses, argv[1]),
        cmocka_unit_test_prestate(stats_statuses, argv[1]),
        cmocka_unit_test_prestate(merge_statuses, argv[1]),
    };
    return cmocka_run_group_tests_name(argv[1], tests, group_setup, group_teardown);
}
