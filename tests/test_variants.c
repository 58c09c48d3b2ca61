/* test_variants.c - every kernel variant this CPU supports against the scalar reference, byte for byte (NaN
 * bits included): random shapes with every tail length, partial rotary, strides, misaligned pointers, in and
 * out of place, positions up to 2^31-1, softmax rows of 0..40000 columns with bias, masks, sinks, underflow;
 * no subnormal softmax output; every kind of NaN row and NaN rotation giving the one canonical NaN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common.h"
#include "rope_scheme_cases.h"

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

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static float float_of(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* The one NaN pattern every variant returns (src/numerics.h). */
#define CANONICAL_NAN 0x7fc00000u

/* Byte-for-byte equality, NaN bits included (no NaN exemption); prints the first difference to stderr. */
static int same_bytes(const float *want, const float *got, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        if (bits_of(want[i]) != bits_of(got[i])) {
            fprintf(stderr, "%s: first difference at %zu: 0x%08x (%a) vs 0x%08x (%a)\n", what, i,
                    bits_of(want[i]), (double)want[i], bits_of(got[i]), (double)got[i]);
            return 0;
        }
    }
    return 1;
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
    if (!same_bytes(ref, got, cmp_n, isa) || !same_bytes(ref_k, got_k, k_n, "k")) {
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

/* ---- RoPE frequency schemes and multi-axis positions ------------------------------------------------------- */

/* One tensor [n_tokens][n_heads][head_dim] with padded strides inside a guarded buffer, values in [-2, 2). */
typedef struct scheme_tensor {
    test_buf buf;
    size_t n_tokens, n_heads, head_dim, token_stride, head_stride;
} scheme_tensor;

static scheme_tensor scheme_tensor_new(size_t n_tokens, size_t n_heads, size_t head_dim, size_t misalign)
{
    scheme_tensor t = { .n_tokens = n_tokens, .n_heads = n_heads, .head_dim = head_dim };
    t.head_stride = head_dim + test_rand_below(3);
    t.token_stride = n_heads * t.head_stride + test_rand_below(5);
    t.buf = test_buf_new(n_tokens * t.token_stride, misalign);
    test_fill(t.buf.data, t.buf.n, -2.0f, 2.0f);
    return t;
}

/* Every entry point that touches a plan's frequencies, on fresh copies of the same input; out holds 5 results
 * back to back, each src->buf.n floats. */
static void run_all_entry_points(const posenc_rope_plan *plan, const scheme_tensor *src, const int64_t *positions,
                                 const float *cos_table, const float *sin_table, size_t table_stride, float *out)
{
    size_t n = src->buf.n, tokens = src->n_tokens, heads = src->n_heads;
    size_t ts = src->token_stride, hs = src->head_stride;
    float *y = out;
    memcpy(y, src->buf.data, n * sizeof(float));
    assert_int_equal(posenc_rope_apply(plan, y, tokens, heads, ts, hs, positions, 0, 0), POSENC_OK);
    y += n;
    memcpy(y, src->buf.data, n * sizeof(float));   /* out of place writes heads only: pad with known bits */
    assert_int_equal(posenc_rope_apply_to(plan, src->buf.data, ts, hs, y, ts, hs, tokens, heads, NULL, 77,
                                          POSENC_ROPE_INVERSE), POSENC_OK);
    y += n;
    /* q = the tensor, k = its first head only (GQA shape), in one buffer region each */
    memcpy(y, src->buf.data, n * sizeof(float));
    float k_heads[8 * POSENC_MAX_HEAD_DIM];
    for (size_t t = 0; t < tokens; t++)
        memcpy(k_heads + t * src->head_dim, src->buf.data + t * ts, src->head_dim * sizeof(float));
    assert_int_equal(posenc_rope_apply_qk(plan, y, heads, ts, hs, k_heads, 1, src->head_dim, src->head_dim,
                                          tokens, positions, 0, POSENC_ROPE_NO_MSCALE), POSENC_OK);
    for (size_t t = 0; t < tokens; t++)     /* fold k into q's first head so one comparison covers both */
        for (size_t e = 0; e < src->head_dim; e++)
            y[t * ts + e] += k_heads[t * src->head_dim + e];
    y += n;
    memcpy(y, src->buf.data, n * sizeof(float));
    assert_int_equal(posenc_rope_shift(plan, y, tokens, heads, ts, hs, -123456789, 0), POSENC_OK);
    y += n;
    memcpy(y, src->buf.data, n * sizeof(float));
    assert_int_equal(posenc_rope_apply_tables(plan, src->buf.data, ts, hs, y, ts, hs, tokens, heads, cos_table,
                                              sin_table, table_stride, POSENC_ROPE_INVERSE), POSENC_OK);
}

/* Every scheme and axis layout of rope_scheme_cases.h (mscale != 1, multi-axis positions, partial rotary)
 * through every entry point, on `isa` and on scalar: all bytes equal. */
static void rope_schemes_match_scalar(void **state)
{
    const char *isa = *state;
    scheme_case cases[MAX_CASES];
    size_t n_cases = make_cases(cases);
    for (size_t k = 0; k < n_cases; k++) {
        const posenc_rope_config *cfg = &cases[k].cfg;
        posenc_rope_plan *plan = create_plan(cfg);
        size_t n_axes = posenc_rope_plan_axes(plan), n = n_pairs_of(cfg);
        size_t n_tokens = 1 + test_rand_below(8), n_heads = 1 + test_rand_below(5);
        scheme_tensor src = scheme_tensor_new(n_tokens, n_heads, cfg->head_dim, test_rand_below(16));
        int64_t positions[8 * 3];
        for (size_t i = 0; i < n_tokens * n_axes; i++)
            positions[i] = random_position();
        size_t table_stride = n + test_rand_below(3);
        float *cos_table = malloc(n_tokens * table_stride * sizeof(float));
        float *sin_table = malloc(n_tokens * table_stride * sizeof(float));
        assert_non_null(cos_table);
        assert_non_null(sin_table);
        test_fill(cos_table, n_tokens * table_stride, -1.2f, 1.2f);
        test_fill(sin_table, n_tokens * table_stride, -1.2f, 1.2f);

        size_t total = 5 * src.buf.n;
        float *want = malloc(total * sizeof(float)), *got = malloc(total * sizeof(float));
        assert_non_null(want);
        assert_non_null(got);
        use("scalar");
        run_all_entry_points(plan, &src, positions, cos_table, sin_table, table_stride, want);
        use(isa);
        run_all_entry_points(plan, &src, positions, cos_table, sin_table, table_stride, got);
        assert_true(test_guard_ok(&src.buf));
        if (!same_bytes(want, got, total, isa)) {
            fprintf(stderr, "scheme %s\n", cases[k].name);
            fail();
        }
        free(want);
        free(got);
        free(cos_table);
        free(sin_table);
        test_buf_free(&src.buf);
        posenc_rope_plan_destroy(plan);
    }
}

/* ---- softmax ---------------------------------------------------------------------------------------------- */

typedef struct softmax_case {
    size_t n_heads, n_rows, n_cols;
    posenc_softmax_desc desc;
    int in_place, kind;    /* kind: 0 random, 1 underflow-heavy, 2 large 90..100, 3 with -inf, 4 NaN */
    float slope_range;     /* custom slopes in [-slope_range, slope_range); 0: in [0, 1) */
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
        if (sc->slope_range > 0.0f)
            test_fill(slopes, sc->n_heads, -sc->slope_range, sc->slope_range);
        else
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
        if (!same_bytes(ref + r * row_stride, got + r * row_stride, sc->n_cols, isa)) {
            fprintf(stderr, "softmax case: isa %s heads %zu rows %zu cols %zu kind %d position %d slopes %d "
                    "precision %d mask %d sinks %d in_place %d q0 %lld k0 %lld row %zu\n", isa, sc->n_heads,
                    sc->n_rows, sc->n_cols, sc->kind, sc->desc.position, sc->desc.slopes_mode, sc->desc.precision,
                    mask != NULL, sinks != NULL, sc->in_place, (long long)sc->desc.q_pos0,
                    (long long)sc->desc.k_pos0, r);
            fail();
        }
    }
    free(src0); free(mask); free(slopes); free(sinks); free(ref); free(got);
}

/* Per-column key positions for the random cases (up to the longest row), and the grid and key-position modes
 * (include/posenc.h): a tenth of the cases each. The positions stay within the range random_softmax_case gives. */
static int64_t case_k_positions[40200];

static void random_position_layout(posenc_softmax_desc *d, size_t n_cols)
{
    assert_true(n_cols <= sizeof case_k_positions / sizeof case_k_positions[0]);
    switch (test_rand_below(10)) {
    case 0:   /* keys in any order around the queries (eviction, packing, trees) */
        for (size_t j = 0; j < n_cols; j++) {
            int64_t k = d->k_pos0 + (int64_t)test_rand_below(n_cols + 20);
            case_k_positions[j] = k > POSENC_MAX_POSITION ? POSENC_MAX_POSITION : k;
        }
        d->k_positions = case_k_positions;
        break;
    case 1:   /* 2-D ALiBi: a grid of patches after 0..2 prefix tokens */
        d->position = test_rand_below(2) ? POSENC_POSITION_GRID_EUCLIDEAN : POSENC_POSITION_GRID_MANHATTAN;
        d->grid_width = 1 + (int32_t)test_rand_below(40);
        d->grid_prefix = (int32_t)test_rand_below(3);
        break;
    default:
        break;
    }
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
    sc->desc.precision = (int32_t)test_rand_below(2);   /* POSENC_SOFTMAX_EXACT or _FAST */
    sc->desc.k_pos0 = (int64_t)test_rand_below(3000);
    /* queries around the keys: some rows fully masked, some partial, some see everything */
    sc->desc.q_pos0 = sc->desc.k_pos0 + (int64_t)test_rand_below(n_cols + 10) - 5;
    if (sc->desc.q_pos0 < 0)
        sc->desc.q_pos0 = 0;
    if (test_rand_below(10) == 0) {
        sc->desc.k_pos0 = POSENC_MAX_POSITION - (int64_t)n_cols - 1;
        sc->desc.q_pos0 = POSENC_MAX_POSITION - (int64_t)sc->n_rows;
    }
    random_position_layout(&sc->desc, n_cols);
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

/* ---- no subnormal output, one NaN pattern ---------------------------------------------------------------- */

/* n_rows contiguous rows of n_cols (one head) of src0 through posenc_softmax on `isa`, into out. */
static void softmax_rows_on(const char *isa, const posenc_softmax_desc *d, const float *src0, size_t n_rows,
                            size_t n_cols, size_t misalign, int in_place, float *out)
{
    use(isa);
    size_t n = n_rows * n_cols;
    test_buf src = test_buf_new(n, misalign);
    test_buf dst = test_buf_new(n, (misalign + 3) % 16);
    memcpy(src.data, src0, n * sizeof(float));
    memset(dst.data, 0, n * sizeof(float));
    float *y = in_place ? src.data : dst.data;
    assert_int_equal(posenc_softmax(d, src.data, n, n_cols, y, n, n_cols, 1, n_rows, n_cols), POSENC_OK);
    assert_true(test_guard_ok(&src));
    assert_true(test_guard_ok(&dst));
    memcpy(out, y, n * sizeof(float));
    test_buf_free(&src);
    test_buf_free(&dst);
}

/* The rows on scalar and on `isa`: every byte equal. got receives isa's output. */
static void softmax_rows_vs_scalar(const char *isa, const posenc_softmax_desc *d, const float *src0,
                                   size_t n_rows, size_t n_cols, float *got, const char *what)
{
    size_t n = n_rows * n_cols;
    float *want = malloc(n * sizeof(float));
    assert_non_null(want);
    size_t misalign = test_rand_below(16);
    int in_place = (int)test_rand_below(2);
    softmax_rows_on("scalar", d, src0, n_rows, n_cols, misalign, in_place, want);
    softmax_rows_on(isa, d, src0, n_rows, n_cols, misalign, in_place, got);
    if (!same_bytes(want, got, n, isa)) {
        fprintf(stderr, "%s: %zu rows x %zu columns, position %d slopes %d mask %d\n", what, n_rows, n_cols,
                d->position, d->slopes_mode, d->mask != NULL);
        fail();
    }
    free(want);
}

/* Far rows (numerics.h): a bias |slope * d| above 2^24 is shifted by its row maximum (rows without a sink) and
 * takes pass 1's max in double when still above 2^24. Queries far after the keys, or keys far from the queries,
 * every tail length, large custom slopes (the double max), sinks (unshifted rows), every value kind. */
static void far_positions(softmax_case *sc)
{
    sc->desc.grid_width = sc->desc.grid_prefix = 0;   /* 1-D positions (key positions, if any, stay) */
    sc->desc.position = 1 + (int32_t)test_rand_below(2);
    sc->desc.slopes_mode = 1 + (int32_t)test_rand_below(2);
    int64_t room = POSENC_MAX_POSITION - (int64_t)(sc->n_rows + sc->n_cols) - 1000;
    int64_t far = ((int64_t)1 << 24) + (int64_t)test_rand_below((size_t)(room - ((int64_t)1 << 24)));
    switch (test_rand_below(4)) {
    case 0: sc->slope_range = 2.0f; break;
    case 1: sc->slope_range = 1e6f; break;    /* |slope| * n_cols above 2^24: the double max */
    case 2: far = (int64_t)test_rand_below(1u << 25); break;    /* around the 2^24 threshold */
    default: break;
    }
    if (test_rand_below(3)) {
        sc->desc.k_pos0 = (int64_t)test_rand_below(1000);
        sc->desc.q_pos0 = sc->desc.k_pos0 + far;
    } else {
        sc->desc.q_pos0 = (int64_t)test_rand_below(1000);
        sc->desc.k_pos0 = sc->desc.q_pos0 + far;
    }
}

static void softmax_far_rows(void **state)
{
    const char *isa = *state;
    softmax_case sc;
    for (size_t n_cols = 0; n_cols <= 129; n_cols++)
        for (int rep = 0; rep < 3; rep++) {
            random_softmax_case(&sc, n_cols);
            far_positions(&sc);
            check_softmax_case(isa, &sc);
        }
    for (int iter = 0; iter < 20; iter++) {
        random_softmax_case(&sc, 130 + test_rand_below(iter < 15 ? 3000 : 40000));
        sc.n_heads = sc.n_rows = 1;
        far_positions(&sc);
        check_softmax_case(isa, &sc);
    }
    /* The differential fuzzer's case (every variant used to give NaN): causal, slope 0.515625, query at 2^31 - 1,
     * keys at 61..64 of score 0, without and with a mask; any length of the same kind of row. */
    const float slope = 0.515625f;
    for (size_t n_cols = 1; n_cols <= 70; n_cols++) {
        float *src = calloc(n_cols, sizeof(float)), *got = malloc(n_cols * sizeof(float));
        float *mask = calloc(n_cols, sizeof(float));
        assert_non_null(src);
        assert_non_null(got);
        assert_non_null(mask);
        posenc_softmax_desc d;
        posenc_softmax_desc_init(&d, sizeof d);
        d.position = POSENC_POSITION_CAUSAL;
        d.slopes_mode = POSENC_SLOPES_CUSTOM;
        d.slopes = &slope;
        d.q_pos0 = POSENC_MAX_POSITION;
        d.k_pos0 = 61;
        d.mask = n_cols % 2 ? mask : NULL;
        softmax_rows_vs_scalar(isa, &d, src, 1, n_cols, got, "far row");
        for (size_t j = 0; j < n_cols; j++)
            assert_true(got[j] > 0.0f && got[j] <= 1.0f);   /* finite, never NaN */
        assert_true(got[n_cols - 1] > got[0] || n_cols == 1);
        free(src);
        free(got);
        free(mask);
    }
}

/* ---- element types: every (src, dst, mask) combination ----------------------------------------------------- */

static size_t type_size(int dtype)
{
    return dtype == POSENC_F32 ? 4 : 2;
}

/* A random element of `dtype` as its bit pattern: mostly values in [-lo_hi, lo_hi], with `special` one in
 * that many a special value of the type (subnormals, zeros, infinities, NaNs with payloads, quiet and
 * signalling, the largest finite values, values beyond f16's range). */
static uint32_t random_elem_bits(int dtype, float lo_hi, size_t special)
{
    static const uint32_t f32_specials[] = { 0x00000001u, 0x80000001u, 0x007fffffu, 0x00000000u, 0x80000000u,
                                             0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc12345u, 0x7f800001u,
                                             0x7f7fffffu, 0x477ff000u, 0x47800000u, 0xc7000000u, 0x33000000u };
    static const uint16_t f16_specials[] = { 0x0001, 0x8001, 0x03ff, 0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00,
                                             0xfe12, 0x7c01, 0x7bff, 0xfbff, 0x0400, 0x3c00 };
    static const uint16_t bf16_specials[] = { 0x0001, 0x8001, 0x007f, 0x0000, 0x8000, 0x7f80, 0xff80, 0x7fc0,
                                              0xffc5, 0x7f81, 0x7f7f, 0xff7f, 0x0080, 0x3f80 };
    float v = test_rand_float(-lo_hi, lo_hi);
    if (special && test_rand_below(special) == 0) {
        if (dtype == POSENC_F32)
            return f32_specials[test_rand_below(sizeof f32_specials / sizeof f32_specials[0])];
        if (dtype == POSENC_F16)
            return f16_specials[test_rand_below(sizeof f16_specials / sizeof f16_specials[0])];
        return bf16_specials[test_rand_below(sizeof bf16_specials / sizeof bf16_specials[0])];
    }
    uint32_t b = bits_of(v);
    if (dtype == POSENC_BF16)
        return b >> 16;
    if (dtype == POSENC_F16) {   /* truncate to a nearby f16 (values stay in [-lo_hi, lo_hi], lo_hi < 65504) */
        int e = (int)((b >> 23) & 0xff) - 127 + 15;
        uint32_t sign = (b >> 16) & 0x8000u;
        if (e <= 0)
            return sign;
        return sign | ((uint32_t)e << 10) | ((b >> 13) & 0x3ffu);
    }
    return b;
}

static void store_bits(int dtype, void *base, size_t i, uint32_t bits)
{
    if (dtype == POSENC_F32) {
        memcpy((char *)base + 4 * i, &bits, 4);
    } else {
        uint16_t h = (uint16_t)bits;
        memcpy((char *)base + 2 * i, &h, 2);
    }
}

/* A guarded byte buffer: `bytes` bytes at `data`, `misalign` bytes past a 64-byte boundary, canary bytes around. */
typedef struct byte_buf {
    unsigned char *base, *data;
    size_t bytes;
} byte_buf;

static byte_buf byte_buf_new(size_t bytes, size_t misalign)
{
    byte_buf b;
    b.base = aligned_alloc(64, (bytes + misalign + 256 + 63) / 64 * 64);
    assert_non_null(b.base);
    memset(b.base, 0x5a, (bytes + misalign + 256 + 63) / 64 * 64);
    b.data = b.base + 128 + misalign;
    b.bytes = bytes;
    return b;
}

static int byte_guard_ok(const byte_buf *b)
{
    for (size_t i = 0; i < 128; i++)
        if (b->data[-1 - (ptrdiff_t)i] != 0x5a || b->data[b->bytes + i] != 0x5a)
            return 0;
    return 1;
}

typedef struct typed_case {
    int src_type, dst_type, mask_type;      /* mask_type -1: no mask */
    size_t n_heads, n_rows, n_cols, row_stride, head_stride, mask_row_stride, misalign;
    int in_place;
    int with_stats;                          /* desc.stats set by run_typed_case (rows within 2^24 of bias) */
    posenc_softmax_desc desc;
    float slopes[4], sinks[4];
    unsigned char *src0, *mask;              /* the inputs, as the variants get them */
} typed_case;

/* Runs the case on `isa` from fresh copies of the inputs; returns dst's bytes (malloc'd), and the split-K
 * statistics in stats (2 * n_heads * n_rows floats, NaN-filled first) when tc->with_stats. */
static unsigned char *run_typed_case(const char *isa, const typed_case *tc, float *stats)
{
    use(isa);
    posenc_softmax_desc desc = tc->desc;
    if (tc->with_stats) {
        for (size_t k = 0; k < 2 * tc->n_heads * tc->n_rows; k++)
            stats[k] = -1.0f;
        desc.stats = stats;
    }
    size_t n = tc->n_heads * tc->head_stride;
    size_t src_bytes = n * type_size(tc->src_type), dst_bytes = n * type_size(tc->dst_type);
    byte_buf src = byte_buf_new(src_bytes, tc->misalign * type_size(tc->src_type));
    byte_buf dst = byte_buf_new(dst_bytes, (tc->misalign + 3) % 16 * type_size(tc->dst_type));
    memcpy(src.data, tc->src0, src_bytes);
    memset(dst.data, 0x33, dst_bytes);
    byte_buf *out = tc->in_place ? &src : &dst;
    posenc_tensor sv = { src.data, tc->src_type, 0, tc->head_stride, tc->row_stride };
    posenc_tensor dv = { out->data, tc->dst_type, 0, tc->head_stride, tc->row_stride };
    assert_int_equal(posenc_softmax_forward(&desc, &sv, &dv, tc->n_heads, tc->n_rows, tc->n_cols), POSENC_OK);
    assert_true(byte_guard_ok(&src));
    assert_true(byte_guard_ok(&dst));
    unsigned char *got = malloc(dst_bytes + 1);
    assert_non_null(got);
    memcpy(got, out->data, dst_bytes);
    free(src.base);
    free(dst.base);
    return got;
}

static void check_typed_case(const char *isa, typed_case *tc, size_t special)
{
    size_t n = tc->n_heads * tc->head_stride;
    tc->src0 = malloc(n * 4 + 1);
    assert_non_null(tc->src0);
    float spread = test_rand_below(4) == 0 ? 300.0f : 12.0f;   /* wide spreads reach exp's cutoff */
    for (size_t i = 0; i < n; i++)
        store_bits(tc->src_type, tc->src0, i, random_elem_bits(tc->src_type, spread, special));
    tc->mask = NULL;
    if (tc->mask_type >= 0) {
        size_t mask_n = tc->n_rows * tc->mask_row_stride + tc->n_cols;
        tc->mask = malloc(mask_n * 4 + 1 + 64);
        assert_non_null(tc->mask);
        /* aligned to its element size, at a random element offset */
        unsigned char *m = tc->mask + type_size(tc->mask_type) * test_rand_below(8);
        for (size_t i = 0; i < mask_n; i++)
            store_bits(tc->mask_type, m, i,
                       test_rand_below(10) == 0 ? (tc->mask_type == POSENC_F32 ? 0xff800000u
                                                   : tc->mask_type == POSENC_F16 ? 0xfc00u : 0xff80u)
                                                : random_elem_bits(tc->mask_type, 4.0f, special));
        tc->desc.mask = (const float *)(const void *)m;
        tc->desc.mask_dtype = tc->mask_type;
        tc->desc.mask_row_stride = tc->mask_row_stride;
        tc->desc.mask_head_stride = 0;
    }
    float want_stats[2 * 2 * 3], got_stats[2 * 2 * 3];   /* n_heads <= 2, n_rows <= 3 */
    assert_true(tc->n_heads <= 2 && tc->n_rows <= 3);
    unsigned char *want = run_typed_case("scalar", tc, want_stats), *got = run_typed_case(isa, tc, got_stats);
    if (tc->with_stats && memcmp(want_stats, got_stats, 2 * tc->n_heads * tc->n_rows * sizeof(float)) != 0)
        fail_msg("%s: types src %d dst %d mask %d, %zu cols, precision %d: statistics differ from scalar", isa,
                 tc->src_type, tc->dst_type, tc->mask_type, tc->n_cols, tc->desc.precision);
    size_t es = type_size(tc->dst_type);
    for (size_t h = 0; h < tc->n_heads; h++)
        for (size_t r = 0; r < tc->n_rows; r++) {
            size_t at = (h * tc->head_stride + r * tc->row_stride) * es;
            if (memcmp(want + at, got + at, tc->n_cols * es) != 0) {
                size_t j = 0;
                while (memcmp(want + at + j * es, got + at + j * es, es) == 0)
                    j++;
                uint32_t w = 0, g = 0;
                memcpy(&w, want + at + j * es, es);
                memcpy(&g, got + at + j * es, es);
                fail_msg("%s: types src %d dst %d mask %d, %zu cols (head %zu row %zu), position %d slopes %d "
                         "precision %d q0 %lld k0 %lld in place %d: column %zu is 0x%x, scalar 0x%x", isa,
                         tc->src_type, tc->dst_type, tc->mask_type, tc->n_cols, h, r, tc->desc.position,
                         tc->desc.slopes_mode, tc->desc.precision, (long long)tc->desc.q_pos0,
                         (long long)tc->desc.k_pos0, tc->in_place, j, g, w);
            }
        }
    free(want);
    free(got);
    free(tc->src0);
    free(tc->mask);
}

static void random_typed_case(typed_case *tc, int s, int d, int m, size_t n_cols)
{
    memset(tc, 0, sizeof *tc);
    tc->src_type = s, tc->dst_type = d, tc->mask_type = m;
    tc->n_cols = n_cols;
    tc->n_heads = 1 + test_rand_below(2);
    tc->n_rows = 1 + test_rand_below(3);
    tc->row_stride = n_cols + test_rand_below(4);
    tc->head_stride = tc->n_rows * tc->row_stride + test_rand_below(3);
    tc->mask_row_stride = test_rand_below(3) ? n_cols : 0;
    tc->misalign = test_rand_below(16);
    tc->in_place = s == d && test_rand_below(2);
    posenc_softmax_desc_init(&tc->desc, sizeof tc->desc);
    tc->desc.position = (int32_t)test_rand_below(3);
    tc->desc.slopes_mode = (int32_t)test_rand_below(3);
    tc->desc.scale = test_rand_below(2) ? 0.08838834764831845f : test_rand_float(0.1f, 2.0f);
    tc->desc.precision = (int32_t)test_rand_below(2);   /* POSENC_SOFTMAX_EXACT or _FAST */
    tc->with_stats = test_rand_below(2);
    for (int h = 0; h < 4; h++) {
        tc->slopes[h] = test_rand_float(0.0f, 1.0f);
        tc->sinks[h] = test_rand_below(4) ? test_rand_float(-4.0f, 4.0f) : -INFINITY;
    }
    tc->desc.slopes = tc->slopes;
    if (test_rand_below(3) == 0)
        tc->desc.sinks = tc->sinks;
    tc->desc.k_pos0 = (int64_t)test_rand_below(3000);
    tc->desc.q_pos0 = tc->desc.k_pos0 + (int64_t)test_rand_below(n_cols + 10) - 5;
    if (tc->desc.q_pos0 < 0)
        tc->desc.q_pos0 = 0;
    if (test_rand_below(8) == 0) {     /* far rows (statistics refuse them) */
        tc->desc.k_pos0 = (int64_t)test_rand_below(100);
        tc->desc.q_pos0 = POSENC_MAX_POSITION - (int64_t)tc->n_rows - (int64_t)test_rand_below(1000);
        tc->with_stats = 0;
    }
    random_position_layout(&tc->desc, n_cols);
}

/* Every variant x every (src, dst, mask) type combination against the scalar reference, byte for byte: every
 * tail up to 2 * 64 + 1, rows beyond POSENC_SOFTMAX_E_KEEP (16384: a 16-bit dst keeps e_j only that far, pass 3
 * computes the rest again), strides, unaligned pointers, in place, special values of every type. */
static void softmax_types_match_scalar(void **state)
{
    const char *isa = *state;
    static const size_t long_cols[] = { 4097, 16383, 16384, 16385, 16448, 17000, 20000 };
    size_t cases = 0;
    for (int s = POSENC_F32; s <= POSENC_BF16; s++)
        for (int d = POSENC_F32; d <= POSENC_BF16; d++)
            for (int m = -1; m <= POSENC_BF16; m++) {
                typed_case tc;
                for (size_t n_cols = 0; n_cols <= 129; n_cols += n_cols < 34 ? 1 : 1 + test_rand_below(3)) {
                    random_typed_case(&tc, s, d, m, n_cols);
                    check_typed_case(isa, &tc, n_cols % 5 == 0 ? 0 : 40);
                    cases++;
                }
                for (size_t k = 0; k < 2; k++) {
                    random_typed_case(&tc, s, d, m, long_cols[test_rand_below(sizeof long_cols / sizeof long_cols[0])]);
                    tc.n_heads = 1;
                    check_typed_case(isa, &tc, k ? 2000 : 0);
                    cases++;
                }
            }
    fprintf(stderr, "# %zu typed softmax cases, every (src, dst, mask) type combination\n", cases);
}

/* Every output is +0 or at least 2^-125 - 2^-149 (src/numerics.h): never subnormal. */
static void assert_no_subnormal(const float *y, size_t n, const char *what)
{
    for (size_t j = 0; j < n; j++) {
        if (fpclassify(y[j]) == FP_SUBNORMAL || !(bits_of(y[j]) == 0 || y[j] >= 0x1.fffffep-126f)) {
            fprintf(stderr, "%s: output %zu is %a (0x%08x)\n", what, j, (double)y[j], bits_of(y[j]));
            fail();
        }
    }
}

/* One of the six (bias, mask) specialisations of the kernels: config k in 0..5. The mask, when used, holds
 * `mask_value` everywhere; slopes are tiny so that the row's values stay where the caller put them. */
static void special_desc(posenc_softmax_desc *d, int k, const float *mask, const float *slope)
{
    posenc_softmax_desc_init(d, sizeof *d);
    d->position = k / 2 == 0 ? POSENC_POSITION_NONE : k / 2 == 1 ? POSENC_POSITION_CAUSAL
                                                                  : POSENC_POSITION_SYMMETRIC;
    d->slopes_mode = k / 2 == 0 ? POSENC_SLOPES_NONE : POSENC_SLOPES_CUSTOM;
    d->slopes = slope;
    if (k % 2) {
        d->mask = mask;
        d->mask_row_stride = 0;    /* one mask row for every row */
    }
}

/* Rows whose outputs would be subnormal if e * (1/S) were formed unguarded: scores 0 and -86.5 alternating
 * (e(-86.5) ~ 2.6e-38, times 1/S ~ 2/n), scores across the exp cutoff (-87 .. -86.9, around -125.5 ln2 =
 * -86.99) next to many zeros, and scores around ln(2^-125) = -86.64 next to a single 0 (e / S straddles the
 * flush threshold). */
static void softmax_never_subnormal(void **state)
{
    const char *isa = *state;
    static const size_t long_rows[] = { 1000, 4097, 32768 };
    size_t max_cols = 32768;
    float *src = malloc(max_cols * sizeof(float)), *got = malloc(max_cols * sizeof(float));
    float *mask = malloc(max_cols * sizeof(float));
    assert_non_null(src);
    assert_non_null(got);
    assert_non_null(mask);
    for (size_t j = 0; j < max_cols; j++)
        mask[j] = 0.0f;
    const float slope = 0x1p-20f;
    size_t checked = 0, nonzero_tiny = 0;
    for (size_t c = 0; c < 130 + sizeof long_rows / sizeof long_rows[0]; c++) {
        size_t n_cols = c < 130 ? c + 1 : long_rows[c - 130];
        for (int pattern = 0; pattern < 3; pattern++) {
            for (size_t j = 0; j < n_cols; j++) {
                switch (pattern) {
                case 0: src[j] = j % 2 ? -86.5f : 0.0f; break;
                case 1: src[j] = j % 3 ? test_rand_float(-87.0f, -86.9f) : 0.0f; break;
                default: src[j] = j ? -86.643f + test_rand_float(-2e-3f, 2e-3f) : 0.0f; break;
                }
            }
            for (int k = 0; k < 6; k++) {
                posenc_softmax_desc d;
                special_desc(&d, k, mask, &slope);
                d.q_pos0 = n_cols - 1;    /* causal: every column live */
                softmax_rows_vs_scalar(isa, &d, src, 1, n_cols, got, "never subnormal");
                assert_no_subnormal(got, n_cols, isa);
                for (size_t j = 0; j < n_cols; j++)
                    nonzero_tiny += got[j] > 0.0f && got[j] < 1e-30f;
                checked++;
            }
        }
    }
    /* The same through the mask (scores 0, mask 0 / -86.5) and with scale 0.5 (scores doubled). */
    for (size_t n_cols = 1; n_cols <= 200; n_cols++) {
        posenc_softmax_desc d;
        for (size_t j = 0; j < n_cols; j++) {
            src[j] = 0.0f;
            mask[j] = j % 2 ? -86.5f : 0.0f;
        }
        special_desc(&d, 1 + 2 * (int)test_rand_below(3), mask, &slope);
        d.q_pos0 = n_cols - 1;
        softmax_rows_vs_scalar(isa, &d, src, 1, n_cols, got, "subnormal via mask");
        assert_no_subnormal(got, n_cols, isa);
        for (size_t j = 0; j < n_cols; j++) {
            src[j] = j % 2 ? -173.0f : 0.0f;
            mask[j] = 0.0f;
        }
        special_desc(&d, 2 * (int)test_rand_below(3), mask, &slope);
        d.scale = 0.5f;
        d.q_pos0 = n_cols - 1;
        softmax_rows_vs_scalar(isa, &d, src, 1, n_cols, got, "subnormal via scale");
        assert_no_subnormal(got, n_cols, isa);
        checked += 2;
    }
    /* The rows must have produced tiny (but normal) outputs, or the test would prove nothing. */
    assert_true(nonzero_tiny > 0);
    fprintf(stderr, "# %zu rows without a subnormal output (%zu outputs below 1e-30)\n", checked, nonzero_tiny);
    free(src);
    free(got);
    free(mask);
}

/* NaN inputs with payloads and signs, quiet and signalling: hardware would pass these payloads through. */
static const uint32_t nan_inputs[] = { 0x7fc00000u, 0xffc00000u, 0x7fc12345u, 0xffbfffffu, 0x7f800001u,
                                       0xff812345u };
#define N_NAN_INPUTS (sizeof nan_inputs / sizeof nan_inputs[0])

static float random_nan(void)
{
    return float_of(nan_inputs[test_rand_below(N_NAN_INPUTS)]);
}

/* A float s near `around` whose product with `scale` rounds in float32 by min_error .. max_error below
 * (direction > 0: the double product exceeds the float one) or above (direction < 0) the exact product. */
static float rounding_outlier(float scale, float around, double min_error, double max_error, int direction)
{
    for (int attempt = 0; attempt < 1000000; attempt++) {
        float s = test_rand_float(around, around * 1.1f);
        double exact = (double)scale * (double)s;
        double rounded = (double)(scale * s);
        double error = (exact - rounded) * direction;
        if (error > min_error && error < max_error)
            return s;
    }
    fail_msg("no float found whose product rounds by %g", min_error);
    return 0.0f;
}

/* Kinds of NaN row (src/numerics.h): each must come out as POSENC_NAN_BITS in every column, live and masked. */
enum {
    NAN_SCORE,          /* a NaN score in a live column */
    PLUS_INF_SCORE,     /* +inf: M = +inf, its argument inf - inf */
    MINUS_INF_NEGATED,  /* -inf score with scale -1: a +inf logit */
    ZERO_TIMES_INF,     /* scale 0 on an infinite score */
    LOGIT_OVERFLOW,     /* finite score, float logit scale * s > FLT_MAX */
    NAN_MASK,           /* a NaN mask entry in a live column */
    ALL_MASKED_NAN,     /* every live logit -inf except a NaN: the M == -inf path */
    EXP_OVERFLOW,       /* a double logit above the float32 max by more than 88.5: exp = +inf */
    SUM_TOO_LARGE,      /* exp arguments ~80 in thousands of columns: S > 2^126 */
    SUM_ZERO,           /* the float32 max rounds above every double logit by more than 87: S = 0 */
    N_NAN_KINDS
};

/* Fill one row (and the mask row) for `kind`; returns the scale to use. Column `at` is the special one. */
static float nan_row(int kind, float *src, float *mask, size_t n_cols, size_t at)
{
    float scale = 1.0f;
    test_fill(src, n_cols, -5.0f, 5.0f);
    for (size_t j = 0; j < n_cols; j++)
        mask[j] = test_rand_below(4) ? 0.0f : -INFINITY;
    mask[at] = 0.0f;
    switch (kind) {
    case NAN_SCORE: src[at] = random_nan(); break;
    case PLUS_INF_SCORE: src[at] = INFINITY; break;
    case MINUS_INF_NEGATED: src[at] = -INFINITY; scale = -1.0f; break;
    case ZERO_TIMES_INF: src[at] = test_rand_below(2) ? INFINITY : -INFINITY; scale = 0.0f; break;
    case LOGIT_OVERFLOW: src[at] = 3e38f; scale = 2.0f; break;
    case NAN_MASK: mask[at] = random_nan(); break;
    case ALL_MASKED_NAN:
        for (size_t j = 0; j < n_cols; j++)
            src[j] = -INFINITY;
        src[at] = random_nan();
        break;
    case EXP_OVERFLOW:
        scale = 0.08838835f;
        src[at] = rounding_outlier(scale, 3.3e10f, 89.0, 1e9, 1);
        break;
    case SUM_TOO_LARGE: {
        scale = 0.08838835f;
        float s = rounding_outlier(scale, 3.3e10f, 81.0, 88.0, 1);
        double x = (double)scale * (double)s - (double)(scale * s);
        for (size_t j = 0; j < n_cols; j++) {
            src[j] = s;
            mask[j] = 0.0f;
        }
        assert_true((double)n_cols * exp(x) > 0x1.8p126);   /* each e finite, their sum beyond 2^126 */
        break;
    }
    default: /* SUM_ZERO */
        scale = 0.08838835f;
        src[at] = rounding_outlier(scale, 3.3e10f, 88.0, 1e9, -1);
        break;
    }
    return scale;
}

static void assert_all_canonical_nan(const float *y, size_t n, const char *what, int kind)
{
    for (size_t j = 0; j < n; j++) {
        if (bits_of(y[j]) != CANONICAL_NAN) {
            fprintf(stderr, "%s, NaN row kind %d: column %zu of %zu is 0x%08x, not 0x%08x\n", what, kind, j, n,
                    bits_of(y[j]), CANONICAL_NAN);
            fail();
        }
    }
}

static void softmax_nan_rows(void **state)
{
    const char *isa = *state;
    static const size_t sizes[] = { 1, 2, 3, 5, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 129, 1000 };
    const float slope = 0x1p-20f;
    size_t rows = 0;
    for (int kind = 0; kind < N_NAN_KINDS; kind++) {
        for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
            size_t n_cols = kind == SUM_TOO_LARGE ? 3000 + sizes[c] : sizes[c];
            float *src = malloc(n_cols * sizeof(float)), *mask = malloc(n_cols * sizeof(float));
            float *got = malloc(n_cols * sizeof(float));
            assert_non_null(src);
            assert_non_null(mask);
            assert_non_null(got);
            for (int k = 0; k < 6; k++) {
                if (kind == NAN_MASK && k % 2 == 0)
                    continue;    /* configurations without a mask */
                /* SUM_TOO_LARGE needs every column live: its special column is the last */
                size_t at = kind == SUM_TOO_LARGE ? n_cols - 1 : test_rand_below(n_cols);
                posenc_softmax_desc d;
                special_desc(&d, k, mask, &slope);
                d.scale = nan_row(kind, src, mask, n_cols, at);
                /* causal: columns up to a random live count, which includes `at`; the rest are masked */
                d.q_pos0 = (int64_t)(at + test_rand_below(n_cols - at));
                float sink = test_rand_below(2) ? -INFINITY : test_rand_float(-2.0f, 2.0f);
                if (test_rand_below(3) == 0)
                    d.sinks = &sink;
                softmax_rows_vs_scalar(isa, &d, src, 1, n_cols, got, "NaN row");
                assert_all_canonical_nan(got, n_cols, isa, kind);
                rows++;
            }
            free(src);
            free(mask);
            free(got);
        }
    }
    /* A NaN or +inf score in a causally masked column is never read: the row is finite. */
    for (size_t n_cols = 2; n_cols <= 140; n_cols++) {
        float *src = malloc(n_cols * sizeof(float)), *got = malloc(n_cols * sizeof(float));
        assert_non_null(src);
        assert_non_null(got);
        test_fill(src, n_cols, -5.0f, 5.0f);
        size_t live = 1 + test_rand_below(n_cols - 1);
        for (size_t j = live; j < n_cols; j++)
            src[j] = test_rand_below(2) ? random_nan() : INFINITY;
        posenc_softmax_desc d;
        special_desc(&d, 2, NULL, &slope);    /* causal ALiBi, no mask */
        d.q_pos0 = (int64_t)live - 1;
        softmax_rows_vs_scalar(isa, &d, src, 1, n_cols, got, "NaN in masked columns");
        for (size_t j = 0; j < n_cols; j++)
            assert_true(j < live ? got[j] > 0.0f : bits_of(got[j]) == 0);
        free(src);
        free(got);
    }
    fprintf(stderr, "# %zu NaN rows, every column 0x%08x\n", rows, CANONICAL_NAN);
}

/* RoPE on inputs with NaN (payloads, signs, signalling), +inf and -inf, and tables with 0, inf and NaN: every
 * rotated NaN is exactly POSENC_NAN_BITS and all bytes equal scalar's; the copied tail keeps its input bits.
 * Token 0 at position 0 has sin = 0 exactly, so an infinite element there meets inf * 0. */
static void rope_nan_bits(void **state)
{
    const char *isa = *state;
    static const uint32_t specials[] = { 0x7fc00000u, 0xffc00000u, 0x7fc12345u, 0xffbfffffu, 0x7f800001u,
                                         0x7f800000u, 0xff800000u, 0x7f800000u, 0xff800000u };
    size_t nan_outputs = 0;
    for (int iter = 0; iter < 300; iter++) {
        size_t n_pairs = 1 + test_rand_below(iter < 100 ? 40 : 250);
        size_t head_dim = 2 * n_pairs + (test_rand_below(2) ? test_rand_below(9) : 0);
        int pairing = (int)test_rand_below(2);
        size_t n_tokens = 1 + test_rand_below(4), n_heads = 1 + test_rand_below(5);
        int entry = (int)test_rand_below(3);    /* 0 apply_to, 1 apply in place, 2 apply_tables */
        uint32_t flags = (uint32_t)test_rand_below(2) * POSENC_ROPE_INVERSE;
        size_t n = n_tokens * n_heads * head_dim, table_n = n_tokens * n_pairs;
        posenc_rope_plan *plan = make_plan(head_dim, 2 * n_pairs, pairing, 10000.0);
        float *src0 = malloc(n * sizeof(float)), *cos_t = malloc(table_n * sizeof(float));
        float *sin_t = malloc(table_n * sizeof(float));
        float *out[2] = { malloc(n * sizeof(float)), malloc(n * sizeof(float)) };
        assert_non_null(src0);
        assert_non_null(cos_t);
        assert_non_null(sin_t);
        assert_non_null(out[0]);
        assert_non_null(out[1]);
        test_fill(src0, n, -4.0f, 4.0f);
        for (size_t i = 0; i < n; i++)
            if (test_rand_below(8) == 0)
                src0[i] = float_of(specials[test_rand_below(sizeof specials / sizeof specials[0])]);
        test_fill(cos_t, table_n, -1.0f, 1.0f);
        test_fill(sin_t, table_n, -1.0f, 1.0f);
        for (size_t i = 0; i < table_n; i++) {
            switch (test_rand_below(16)) {
            case 0: cos_t[i] = 0.0f; break;
            case 1: sin_t[i] = -0.0f; break;
            case 2: cos_t[i] = INFINITY; break;
            case 3: sin_t[i] = -INFINITY; break;
            case 4: sin_t[i] = random_nan(); break;
            default: break;
            }
        }
        size_t misalign = test_rand_below(16);
        for (int v = 0; v < 2; v++) {
            use(v == 0 ? "scalar" : isa);
            test_buf src = test_buf_new(n, misalign);
            test_buf dst = test_buf_new(n, (misalign + 7) % 16);
            memcpy(src.data, src0, n * sizeof(float));
            memset(dst.data, 0, n * sizeof(float));
            size_t hs = head_dim, ts = n_heads * head_dim;
            posenc_status st;
            float *y = dst.data;
            if (entry == 0) {
                st = posenc_rope_apply_to(plan, src.data, ts, hs, dst.data, ts, hs, n_tokens, n_heads, NULL, 0,
                                          flags);
            } else if (entry == 1) {
                st = posenc_rope_apply(plan, src.data, n_tokens, n_heads, ts, hs, NULL, 0, flags);
                y = src.data;
            } else {
                st = posenc_rope_apply_tables(plan, src.data, ts, hs, dst.data, ts, hs, n_tokens, n_heads, cos_t,
                                              sin_t, n_pairs, flags);
            }
            assert_int_equal(st, POSENC_OK);
            assert_true(test_guard_ok(&src));
            assert_true(test_guard_ok(&dst));
            memcpy(out[v], y, n * sizeof(float));
            test_buf_free(&src);
            test_buf_free(&dst);
        }
        if (!same_bytes(out[0], out[1], n, isa)) {
            fprintf(stderr, "rope NaN case: entry %d pairing %d head_dim %zu pairs %zu tokens %zu heads %zu\n",
                    entry, pairing, head_dim, n_pairs, n_tokens, n_heads);
            fail();
        }
        for (size_t i = 0; i < n; i++) {
            size_t e = i % head_dim;
            if (e >= 2 * n_pairs) {
                assert_int_equal(bits_of(out[1][i]), bits_of(src0[i]));   /* copied or untouched: input bits */
            } else if (isnan(out[1][i])) {
                assert_int_equal(bits_of(out[1][i]), CANONICAL_NAN);
                nan_outputs++;
            }
        }
        free(src0);
        free(cos_t);
        free(sin_t);
        free(out[0]);
        free(out[1]);
        posenc_rope_plan_destroy(plan);
    }
    assert_true(nan_outputs > 0);
    fprintf(stderr, "# %zu rotated NaN outputs, every one 0x%08x\n", nan_outputs, CANONICAL_NAN);
}

/* argv[1] names the variant under test; meson registers one test per variant (variants-avx512, ...). */
int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s scalar|avx2|avx512|neon\n", argv[0]);
        return 2;
    }
    test_seed_init();
    fill_factor_lists();
    if (!variant_supported(argv[1])) {
        /* TAP skip-all: meson reports SKIP */
        printf("1..0 # SKIP variant %s is not supported by this CPU or build\n", argv[1]);
        return 0;
    }
    fprintf(stderr, "# testing variant %s against scalar\n", argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(rope_matches_scalar, argv[1]),
        cmocka_unit_test_prestate(rope_schemes_match_scalar, argv[1]),
        cmocka_unit_test_prestate(softmax_matches_scalar, argv[1]),
        cmocka_unit_test_prestate(softmax_far_rows, argv[1]),
        cmocka_unit_test_prestate(softmax_types_match_scalar, argv[1]),
        cmocka_unit_test_prestate(softmax_never_subnormal, argv[1]),
        cmocka_unit_test_prestate(softmax_nan_rows, argv[1]),
        cmocka_unit_test_prestate(rope_nan_bits, argv[1]),
    };
    return cmocka_run_group_tests_name(argv[1], tests, NULL, NULL);
}
