/* test_variants.c - every kernel variant this CPU supports against the scalar reference, bit for bit:
 * random shapes with every tail length, partial rotary, strides, misaligned pointers, in and out of place,
 * positions up to 2^31-1, softmax rows of 0..40000 columns with bias, masks, sinks, underflow and NaN rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common.h"

/* ---- helpers ---------------------------------------------------------------------------------------------- */

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

static int64_t random_position(void)
{
    switch (test_rand_below(6)) {
    case 0: return (int64_t)test_rand_below(4096);
    case 1: return (int64_t)test_rand_below(2000000);
    case 2: return POSENC_MAX_POSITION - (int64_t)test_rand_below(1000);
    case 3: return -(int64_t)test_rand_below(1u << 31);
    case 4: return (int64_t)test_rand_below(1u << 31);
    default: return (int64_t)test_rand_below(100000000);
    }
}

static posenc_rope_plan *make_plan(size_t head_dim, size_t rotary_dim, int pairing, double base)
{
    posenc_rope_plan *plan = test_plain_plan(head_dim, rotary_dim, pairing, base);
    assert_non_null(plan);
    return plan;
}

/* One random RoPE case through one public entry point, run on `isa` and on scalar, compared bitwise. */
typedef struct rope_case {
    size_t head_dim, rotary_dim, n_tokens, n_heads, n_k_heads;
    int pairing, head_major, in_place, entry;  /* entry: 0 apply_to, 1 qk, 2 shift, 3 tables */
    uint32_t flags;
    size_t src_ts, src_hs, dst_ts, dst_hs, k_ts, k_hs;
    size_t misalign_src, misalign_dst, misalign_k;
    int64_t start_pos, delta;
    int use_positions;
} rope_case;

static void layout(size_t n_tokens, size_t n_heads, size_t head_dim, int head_major, size_t *ts, size_t *hs,
                   size_t *extent)
{
    size_t pad = test_rand_below(3) == 0 ? test_rand_below(20) : 0;
    if (head_major) {
        *ts = head_dim + pad;
        *hs = n_tokens * *ts + test_rand_below(5);
    } else {
        *hs = head_dim + pad;
        *ts = n_heads * *hs + test_rand_below(5);
    }
    *extent = (n_tokens - 1) * *ts + (n_heads - 1) * *hs + head_dim;
}

static void run_rope_case(const char *isa, const rope_case *rc, posenc_rope_plan *plan, const int64_t *positions,
                          const float *cos_t, const float *sin_t, const float *src0, size_t src_n,
                          const float *k0, size_t k_n, float *out_dst, float *out_k, size_t dst_n)
{
    use(isa);
    test_buf src = test_buf_new(src_n, rc->misalign_src);
    test_buf dst = test_buf_new(dst_n, rc->misalign_dst);
    test_buf kb = test_buf_new(k_n ? k_n : 1, rc->misalign_k);
    memcpy(src.data, src0, src_n * sizeof(float));
    memset(dst.data, 0, dst_n * sizeof(float));
    if (k_n)
        memcpy(kb.data, k0, k_n * sizeof(float));
    float *d = rc->in_place ? src.data : dst.data;
    size_t dts = rc->in_place ? rc->src_ts : rc->dst_ts, dhs = rc->in_place ? rc->src_hs : rc->dst_hs;
    const int64_t *pos = rc->use_positions ? positions : NULL;
    posenc_status st;
    switch (rc->entry) {
    case 0:
        st = posenc_rope_apply_to(plan, src.data, rc->src_ts, rc->src_hs, d, dts, dhs, rc->n_tokens, rc->n_heads,
                                  pos, rc->start_pos, rc->flags);
        break;
    case 1:
        st = posenc_rope_apply_qk(plan, src.data, rc->n_heads, rc->src_ts, rc->src_hs, kb.data, rc->n_k_heads,
                                  rc->k_ts, rc->k_hs, rc->n_tokens, pos, rc->start_pos, rc->flags);
        d = src.data;
        break;
    case 2:
        st = posenc_rope_shift(plan, src.data, rc->n_tokens, rc->n_heads, rc->src_ts, rc->src_hs, rc->delta,
                               rc->flags);
        d = src.data;
        break;
    default:
        st = posenc_rope_apply_tables(plan, src.data, rc->src_ts, rc->src_hs, d, dts, dhs, rc->n_tokens,
                                      rc->n_heads, cos_t, sin_t, rc->rotary_dim / 2 + 3, rc->flags);
        break;
    }
    assert_int_equal(st, POSENC_OK);
    assert_true(test_guard_ok(&src));
    assert_true(test_guard_ok(&dst));
    assert_true(test_guard_ok(&kb));
    if (d == src.data)
        memcpy(out_dst, src.data, src_n * sizeof(float));
    else
        memcpy(out_dst, dst.data, dst_n * sizeof(float));
    if (k_n)
        memcpy(out_k, kb.data, k_n * sizeof(float));
    test_buf_free(&src);
    test_buf_free(&dst);
    test_buf_free(&kb);
}

static void check_rope_case(const char *isa, rope_case *rc)
{
    posenc_rope_plan *plan = make_plan(rc->head_dim, rc->rotary_dim, rc->pairing,
                                       test_rand_below(4) ? 10000.0 : 500000.0);
    size_t src_n, dst_n, k_n = 0;
    layout(rc->n_tokens, rc->n_heads, rc->head_dim, rc->head_major, &rc->src_ts, &rc->src_hs, &src_n);
    layout(rc->n_tokens, rc->n_heads, rc->head_dim, !rc->head_major, &rc->dst_ts, &rc->dst_hs, &dst_n);
    if (rc->entry == 1)
        layout(rc->n_tokens, rc->n_k_heads, rc->head_dim, rc->head_major, &rc->k_ts, &rc->k_hs, &k_n);
    if (rc->in_place)
        dst_n = src_n;

    int64_t *positions = malloc(rc->n_tokens * sizeof(int64_t));
    for (size_t t = 0; t < rc->n_tokens; t++)
        positions[t] = random_position();
    rc->start_pos = random_position();
    if (rc->start_pos > 0 && rc->start_pos > POSENC_MAX_POSITION - (int64_t)rc->n_tokens)
        rc->start_pos -= (int64_t)rc->n_tokens;
    rc->delta = random_position();
    size_t table_stride = rc->rotary_dim / 2 + 3;
    float *cos_t = malloc(rc->n_tokens * table_stride * sizeof(float));
    float *sin_t = malloc(rc->n_tokens * table_stride * sizeof(float));
    test_fill(cos_t, rc->n_tokens * table_stride, -1.0f, 1.0f);
    test_fill(sin_t, rc->n_tokens * table_stride, -1.0f, 1.0f);

    float *src0 = malloc(src_n * sizeof(float)), *k0 = malloc((k_n + 1) * sizeof(float));
    test_fill(src0, src_n, -4.0f, 4.0f);
    test_fill(k0, k_n, -4.0f, 4.0f);
    size_t out_n = src_n > dst_n ? src_n : dst_n;
    float *ref = calloc(out_n, sizeof(float)), *got = calloc(out_n, sizeof(float));
    float *ref_k = calloc(k_n + 1, sizeof(float)), *got_k = calloc(k_n + 1, sizeof(float));
    run_rope_case("scalar", rc, plan, positions, cos_t, sin_t, src0, src_n, k0, k_n, ref, ref_k, dst_n);
    run_rope_case(isa, rc, plan, positions, cos_t, sin_t, src0, src_n, k0, k_n, got, got_k, dst_n);
    size_t cmp_n = (rc->in_place || rc->entry == 1 || rc->entry == 2) ? src_n : dst_n;
    if (!test_same_bits(ref, got, cmp_n, isa) || !test_same_bits(ref_k, got_k, k_n, "k")) {
        fprintf(stderr, "rope case: isa %s head_dim %zu rotary %zu pairing %d tokens %zu heads %zu entry %d "
                "flags %u in_place %d head_major %d\n", isa, rc->head_dim, rc->rotary_dim, rc->pairing,
                rc->n_tokens, rc->n_heads, rc->entry, rc->flags, rc->in_place, rc->head_major);
        fail();
    }
    free(positions); free(cos_t); free(sin_t); free(src0); free(k0);
    free(ref); free(got); free(ref_k); free(got_k);
    posenc_rope_plan_destroy(plan);
}

static void random_rope_case(rope_case *rc, size_t head_dim, size_t rotary_dim)
{
    memset(rc, 0, sizeof *rc);
    rc->head_dim = head_dim;
    rc->rotary_dim = rotary_dim;
    rc->pairing = (int)test_rand_below(2);
    rc->n_tokens = 1 + test_rand_below(4);
    rc->n_heads = 1 + test_rand_below(4);
    rc->n_k_heads = 1 + test_rand_below(3);
    rc->head_major = (int)test_rand_below(2);
    rc->in_place = (int)test_rand_below(2);
    rc->entry = (int)test_rand_below(4);
    rc->flags = (uint32_t)test_rand_below(4);
    rc->misalign_src = test_rand_below(16);
    rc->misalign_dst = test_rand_below(16);
    rc->misalign_k = test_rand_below(16);
    rc->use_positions = (int)test_rand_below(2);
}

/* ---- RoPE ---------------------------------------------------------------------------------------------------- */

static void rope_matches_scalar(void **state)
{
    const char *isa = *state;
    rope_case rc;
    /* Every pair count from 1 to 2*16+1 (twice the widest vector + 1) with full and partial rotary. */
    for (size_t n_pairs = 1; n_pairs <= 33; n_pairs++) {
        for (int partial = 0; partial < 2; partial++) {
            size_t head_dim = 2 * n_pairs + (partial ? 1 + test_rand_below(40) : 0);
            random_rope_case(&rc, head_dim, 2 * n_pairs);
            check_rope_case(isa, &rc);
        }
    }
    /* Random head dims 2..512, rotary_dim even <= head_dim. */
    for (int iter = 0; iter < 300; iter++) {
        size_t head_dim = 2 + test_rand_below(511);
        size_t rotary_dim = test_rand_below(3) ? (head_dim & ~(size_t)1) : 2 + 2 * test_rand_below(head_dim / 2);
        random_rope_case(&rc, head_dim, rotary_dim);
        check_rope_case(isa, &rc);
    }
    /* The common shape: head_dim 128, many heads and tokens. */
    for (int iter = 0; iter < 20; iter++) {
        random_rope_case(&rc, 128, 128);
        rc.n_tokens = 1 + test_rand_below(40);
        rc.n_heads = 1 + test_rand_below(40);
        check_rope_case(isa, &rc);
    }
}

/* ---- softmax ---------------------------------------------------------------------------------------------- */

typedef struct softmax_case {
    size_t n_heads, n_rows, n_cols;
    posenc_softmax_desc desc;
    int in_place, kind;    /* kind: 0 random, 1 underflow-heavy, 2 large 90..100, 3 with -inf, 4 NaN */
} softmax_case;

static void run_softmax_case(const char *isa, const softmax_case *sc, const float *src0, size_t n,
                             size_t misalign, float *out)
{
    use(isa);
    test_buf src = test_buf_new(n, misalign);
    test_buf dst = test_buf_new(n, (misalign + 5) % 16);
    memcpy(src.data, src0, n * sizeof(float));
    memset(dst.data, 0, n * sizeof(float));
    float *d = sc->in_place ? src.data : dst.data;
    size_t row_stride = sc->n_cols + 3, head_stride = sc->n_rows * row_stride;
    assert_int_equal(posenc_softmax(&sc->desc, src.data, head_stride, row_stride, d, head_stride, row_stride,
                                    sc->n_heads, sc->n_rows, sc->n_cols), POSENC_OK);
    assert_true(test_guard_ok(&src));
    assert_true(test_guard_ok(&dst));
    memcpy(out, d, n * sizeof(float));
    test_buf_free(&src);
    test_buf_free(&dst);
}

static void check_softmax_case(const char *isa, softmax_case *sc)
{
    size_t row_stride = sc->n_cols + 3;
    size_t n = sc->n_heads * sc->n_rows * row_stride;
    float *src0 = malloc((n + 1) * sizeof(float));
    test_fill(src0, n, -20.0f, 20.0f);
    for (size_t i = 0; i < n; i++) {
        switch (sc->kind) {
        case 1: src0[i] = test_rand_below(50) ? test_rand_float(-400.0f, -100.0f) : test_rand_float(0, 5); break;
        case 2: src0[i] = test_rand_float(90.0f, 100.0f); break;
        case 3: if (test_rand_below(4) == 0) src0[i] = -INFINITY; break;
        case 4: if (test_rand_below(200) == 0) src0[i] = NAN; break;
        default: break;
        }
    }
    float *mask = NULL, *slopes = NULL, *sinks = NULL;
    if (test_rand_below(3) == 0) {
        size_t mask_n = sc->n_heads * sc->n_rows * sc->n_cols;
        mask = malloc((mask_n + 1) * sizeof(float));
        test_fill(mask, mask_n, -3.0f, 3.0f);
        for (size_t i = 0; i < mask_n; i++)
            if (test_rand_below(10) == 0)
                mask[i] = -INFINITY;
        sc->desc.mask = mask;
        sc->desc.mask_row_stride = sc->n_cols;
        sc->desc.mask_head_stride = test_rand_below(2) ? sc->n_rows * sc->n_cols : 0;
    }
    if (sc->desc.slopes_mode == POSENC_SLOPES_CUSTOM) {
        slopes = malloc(sc->n_heads * sizeof(float));
        test_fill(slopes, sc->n_heads, 0.0f, 1.0f);
        sc->desc.slopes = slopes;
    }
    if (test_rand_below(3) == 0) {
        sinks = malloc(sc->n_heads * sizeof(float));
        test_fill(sinks, sc->n_heads, -5.0f, 5.0f);
        if (test_rand_below(4) == 0)
            sinks[0] = -INFINITY;
        sc->desc.sinks = sinks;
    }
    float *ref = malloc((n + 1) * sizeof(float)), *got = malloc((n + 1) * sizeof(float));
    size_t misalign = test_rand_below(16);
    run_softmax_case("scalar", sc, src0, n, misalign, ref);
    run_softmax_case(isa, sc, src0, n, misalign, got);
    /* Compare only the rows (the padding between rows is untouched by both). */
    for (size_t r = 0; r < sc->n_heads * sc->n_rows; r++) {
        if (!test_same_bits(ref + r * row_stride, got + r * row_stride, sc->n_cols, isa)) {
            fprintf(stderr, "softmax case: isa %s heads %zu rows %zu cols %zu kind %d position %d slopes %d "
                    "mask %d sinks %d in_place %d q0 %lld k0 %lld row %zu\n", isa, sc->n_heads, sc->n_rows,
                    sc->n_cols, sc->kind, sc->desc.position, sc->desc.slopes_mode, mask != NULL, sinks != NULL,
                    sc->in_place, (long long)sc->desc.q_pos0, (long long)sc->desc.k_pos0, r);
            fail();
        }
    }
    free(src0); free(mask); free(slopes); free(sinks); free(ref); free(got);
}

static void random_softmax_case(softmax_case *sc, size_t n_cols)
{
    memset(sc, 0, sizeof *sc);
    posenc_softmax_desc_init(&sc->desc, sizeof sc->desc);
    sc->n_cols = n_cols;
    sc->n_heads = 1 + test_rand_below(3);
    sc->n_rows = 1 + test_rand_below(3);
    sc->in_place = (int)test_rand_below(2);
    sc->kind = (int)test_rand_below(5);
    sc->desc.position = (int32_t)test_rand_below(3);
    sc->desc.slopes_mode = (int32_t)test_rand_below(3);
    sc->desc.scale = test_rand_below(2) ? 0.08838834764831845f : test_rand_float(0.1f, 2.0f);
    sc->desc.max_bias = test_rand_below(2) ? 8.0f : test_rand_float(1.0f, 16.0f);
    sc->desc.k_pos0 = (int64_t)test_rand_below(3000);
    /* queries around the keys: some rows fully masked, some partial, some see everything */
    sc->desc.q_pos0 = sc->desc.k_pos0 + (int64_t)test_rand_below(n_cols + 10) - 5;
    if (sc->desc.q_pos0 < 0)
        sc->desc.q_pos0 = 0;
    if (test_rand_below(10) == 0) {
        sc->desc.k_pos0 = POSENC_MAX_POSITION - (int64_t)n_cols - 1;
        sc->desc.q_pos0 = POSENC_MAX_POSITION - (int64_t)sc->n_rows;
    }
}

static void softmax_matches_scalar(void **state)
{
    const char *isa = *state;
    softmax_case sc;
    /* Every row length from 0 to 2*64+1 (twice the 64-lane sum block + 1), several modes each. */
    for (size_t n_cols = 0; n_cols <= 129; n_cols++)
        for (int rep = 0; rep < 4; rep++) {
            random_softmax_case(&sc, n_cols);
            check_softmax_case(isa, &sc);
        }
    /* Long rows up to 40000 columns. */
    for (int iter = 0; iter < 40; iter++) {
        random_softmax_case(&sc, 130 + test_rand_below(iter < 35 ? 3000 : 40000));
        sc.n_heads = sc.n_rows = 1;
        check_softmax_case(isa, &sc);
    }
}

/* argv[1] names the variant under test; meson registers one test per variant (variants-avx512, ...). */
int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s scalar|avx2|avx512|neon\n", argv[0]);
        return 2;
    }
    test_seed_init();
    if (!variant_supported(argv[1])) {
        /* TAP skip-all: meson reports SKIP */
        printf("1..0 # SKIP variant %s is not supported by this CPU or build\n", argv[1]);
        return 0;
    }
    fprintf(stderr, "# testing variant %s against scalar\n", argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(rope_matches_scalar, argv[1]),
        cmocka_unit_test_prestate(softmax_matches_scalar, argv[1]),
    };
    return cmocka_run_group_tests_name(argv[1], tests, NULL, NULL);
}
