/* test_rope_schemes.c - RoPE frequency schemes, multi-axis positions, cos/sin tables and mscale handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common.h"
#include "oracle_schemes.h"
#include "rope_scheme_cases.h"

/* Frequencies agree with the oracle to this relative error (pow vs exp/log and operation order differ). */
#define FREQ_TOLERANCE 1e-12
/* The public accuracy bound per head (include/posenc.h). */
#define HEAD_TOLERANCE 1e-6

/* ---- configurations ---------------------------------------------------------------------------------------- */

static double relative_difference(double a, double b)
{
    return fabs(a - b) / fabs(b);
}

static void frequencies_match_oracle(void **state)
{
    (void)state;
    scheme_case cases[MAX_CASES];
    size_t n_cases = make_cases(cases);
    for (size_t k = 0; k < n_cases; k++) {
        const posenc_rope_config *cfg = &cases[k].cfg;
        size_t n = n_pairs_of(cfg);
        posenc_rope_plan *plan = create_plan(cfg);
        double omega[MAX_PAIRS], want[MAX_PAIRS], mscale, want_mscale;
        assert_int_equal(posenc_rope_plan_info(plan, omega, n, &mscale), POSENC_OK);
        assert_int_equal(oracle_rope_frequencies(cfg, want, &want_mscale), 0);
        for (size_t i = 0; i < n; i++) {
            if (!(relative_difference(omega[i], want[i]) <= FREQ_TOLERANCE)) {
                fprintf(stderr, "%s: pair %zu: %.17g vs oracle %.17g\n", cases[k].name, i, omega[i], want[i]);
                fail();
            }
        }
        if (!(relative_difference(mscale, want_mscale) <= FREQ_TOLERANCE)) {
            fprintf(stderr, "%s: mscale %.17g vs oracle %.17g\n", cases[k].name, mscale, want_mscale);
            fail();
        }
        int axis[MAX_PAIRS];
        assert_int_equal(posenc_rope_plan_axes(plan), oracle_rope_axes(cfg, axis));
        posenc_rope_plan_destroy(plan);
    }
}

/* ---- applied results against float64 ---------------------------------------------------------------------- */

/* Positions within +-(2^31 - 1): small, near the original contexts, and huge, of both signs. */
static int64_t random_position(void)
{
    switch (test_rand_below(4)) {
    case 0: return (int64_t)test_rand_below(64);
    case 1: return (int64_t)test_rand_below(200000);
    case 2: return (int64_t)test_rand_below((size_t)POSENC_MAX_POSITION + 1);
    default: return -(int64_t)test_rand_below((size_t)POSENC_MAX_POSITION + 1);
    }
}

/* One tensor [n_tokens][n_heads][head_dim] with padded strides inside a guarded buffer. */
typedef struct tensor {
    test_buf buf;
    size_t n_tokens, n_heads, head_dim, token_stride, head_stride;
} tensor;

static tensor tensor_new(size_t n_tokens, size_t n_heads, size_t head_dim, size_t misalign)
{
    tensor t = { .n_tokens = n_tokens, .n_heads = n_heads, .head_dim = head_dim };
    t.head_stride = head_dim + test_rand_below(3);
    t.token_stride = n_heads * t.head_stride + test_rand_below(5);
    t.buf = test_buf_new(n_tokens * t.token_stride, misalign);
    test_fill(t.buf.data, t.buf.n, -2.0f, 2.0f);
    return t;
}

static const float *head_of(const tensor *t, const float *base, size_t token, size_t head)
{
    return base + token * t->token_stride + head * t->head_stride;
}

/* Check every head of y (rotated from x by plan with the given flags) against the float64 rotation built from
 * the plan's frequencies, the oracle's axis mapping and the oracle's mscale. Returns the worst error. */
static double check_heads(const posenc_rope_config *cfg, const posenc_rope_plan *plan, const tensor *t,
                          const float *x, const float *y, const int64_t *positions, int64_t start_pos,
                          uint32_t flags)
{
    size_t n = n_pairs_of(cfg);
    double omega[MAX_PAIRS], oracle_omega[MAX_PAIRS], mscale;
    int axis[MAX_PAIRS];
    assert_int_equal(posenc_rope_plan_info(plan, omega, n, NULL), POSENC_OK);
    assert_int_equal(oracle_rope_frequencies(cfg, oracle_omega, &mscale), 0);
    size_t n_axes = oracle_rope_axes(cfg, axis);
    if (flags & POSENC_ROPE_NO_MSCALE)
        mscale = 1.0;
    double worst = 0.0, y64[POSENC_MAX_HEAD_DIM], pos_of_pair[MAX_PAIRS];
    for (size_t tok = 0; tok < t->n_tokens; tok++) {
        for (size_t i = 0; i < n; i++)
            pos_of_pair[i] = positions ? (double)positions[tok * n_axes + (size_t)axis[i]]
                                       : (double)(start_pos + (int64_t)tok);
        for (size_t h = 0; h < t->n_heads; h++) {
            oracle_rope_rotate(head_of(t, x, tok, h), y64, t->head_dim, n, cfg->pairing, omega, pos_of_pair,
                               mscale, (flags & POSENC_ROPE_INVERSE) != 0);
            double err = oracle_relative_error(head_of(t, y, tok, h), y64, t->head_dim);
            if (err > worst)
                worst = err;
        }
    }
    return worst;
}

static void applied_matches_float64(void **state)
{
    (void)state;
    scheme_case cases[MAX_CASES];
    size_t n_cases = make_cases(cases);
    static const uint32_t flag_sets[] = { 0, POSENC_ROPE_INVERSE, POSENC_ROPE_NO_MSCALE,
                                          POSENC_ROPE_INVERSE | POSENC_ROPE_NO_MSCALE };
    double worst = 0.0;
    const char *worst_case = "";
    for (size_t k = 0; k < n_cases; k++) {
        const posenc_rope_config *cfg = &cases[k].cfg;
        posenc_rope_plan *plan = create_plan(cfg);
        size_t n_axes = posenc_rope_plan_axes(plan);
        for (size_t f = 0; f < sizeof flag_sets / sizeof flag_sets[0]; f++) {
            size_t n_tokens = 1 + test_rand_below(6), n_heads = 1 + test_rand_below(4);
            tensor src = tensor_new(n_tokens, n_heads, cfg->head_dim, test_rand_below(16));
            test_buf dst = test_buf_new(src.buf.n, test_rand_below(16));
            int64_t positions[8 * 3];
            for (size_t i = 0; i < n_tokens * n_axes; i++)
                positions[i] = random_position();
            int use_start = (f == 3);
            int64_t start_pos = use_start ? 2147483647 - (int64_t)n_tokens + 1 : 0;
            assert_int_equal(posenc_rope_apply_to(plan, src.buf.data, src.token_stride, src.head_stride,
                                                  dst.data, src.token_stride, src.head_stride, n_tokens, n_heads,
                                                  use_start ? NULL : positions, start_pos, flag_sets[f]),
                             POSENC_OK);
            assert_true(test_guard_ok(&dst));
            double err = check_heads(cfg, plan, &src, src.buf.data, dst.data, use_start ? NULL : positions,
                                     start_pos, flag_sets[f]);
            if (!(err <= HEAD_TOLERANCE)) {
                fprintf(stderr, "%s flags %u: relative error %.3g\n", cases[k].name, flag_sets[f], err);
                fail();
            }
            if (err > worst) {
                worst = err;
                worst_case = cases[k].name;
            }
            test_buf_free(&dst);
            test_buf_free(&src.buf);
        }
        posenc_rope_plan_destroy(plan);
    }
    fprintf(stderr, "# worst per-head relative error vs float64: %.3g (%s)\n", worst, worst_case);
}

/* ---- fixed reference points -------------------------------------------------------------------------------- */

/* Llama 3.1 (factor 8, low 1, high 4, original 8192, base 500000, rotary_dim 128): the fastest pair is left
 * alone, the slowest is divided by exactly 8. */
static void llama31_reference_points(void **state)
{
    (void)state;
    posenc_rope_config plain = make_config(128, 128, POSENC_ROPE_HALF, 500000.0, POSENC_SCALING_NONE);
    posenc_rope_config scaled = plain;
    scaled.scaling = POSENC_SCALING_LLAMA3;
    scaled.factor = 8.0;
    scaled.low_freq_factor = 1.0;
    scaled.high_freq_factor = 4.0;
    scaled.original_max_position = 8192;
    posenc_rope_plan *p0 = create_plan(&plain), *p1 = create_plan(&scaled);
    double w0[64], w1[64], mscale;
    assert_int_equal(posenc_rope_plan_info(p0, w0, 64, NULL), POSENC_OK);
    assert_int_equal(posenc_rope_plan_info(p1, w1, 64, &mscale), POSENC_OK);
    assert_true(w1[0] == w0[0]);
    assert_true(w1[0] == 1.0);
    assert_true(w1[63] == w0[63] / 8.0);
    assert_true(mscale == 1.0);
    /* and the three bands are where the formula puts them: unchanged, smoothed, divided */
    size_t unchanged = 0, smoothed = 0, divided = 0;
    for (size_t i = 0; i < 64; i++) {
        if (w1[i] == w0[i])
            unchanged++;
        else if (w1[i] == w0[i] / 8.0)
            divided++;
        else
            smoothed++;
    }
    fprintf(stderr, "# llama3.1 bands: %zu unchanged, %zu smoothed, %zu divided\n", unchanged, smoothed, divided);
    assert_true(unchanged > 0 && smoothed > 0 && divided > 0);
    posenc_rope_plan_destroy(p0);
    posenc_rope_plan_destroy(p1);
}

static double plan_mscale(const posenc_rope_config *cfg)
{
    posenc_rope_plan *plan = create_plan(cfg);
    double mscale = 0.0;
    assert_int_equal(posenc_rope_plan_info(plan, NULL, 0, &mscale), POSENC_OK);
    posenc_rope_plan_destroy(plan);
    return mscale;
}

/* YaRN factor 4: mscale = 0.1 ln 4 + 1 = 1.13863; attention_factor overrides it; DeepSeek's ratio. */
static void yarn_reference_points(void **state)
{
    (void)state;
    posenc_rope_config cfg = make_config(128, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_YARN);
    cfg.factor = 4.0;
    cfg.original_max_position = 4096;
    double mscale = plan_mscale(&cfg);
    assert_true(fabs(mscale - 1.13863) < 5e-6);
    assert_true(mscale == 0.1 * log(4.0) + 1.0);
    cfg.attention_factor = 1.25;
    assert_true(plan_mscale(&cfg) == 1.25);
    cfg.attention_factor = 0.0;
    cfg.mscale = 1.0;                   /* DeepSeek-V3: mscale == mscale_all_dim -> exactly 1 */
    cfg.mscale_all_dim = 1.0;
    cfg.factor = 40.0;
    assert_true(plan_mscale(&cfg) == 1.0);
    cfg.mscale = 1.0;                   /* only one of the pair: HF falls back to the plain formula */
    cfg.mscale_all_dim = 0.0;
    assert_true(plan_mscale(&cfg) == 0.1 * log(40.0) + 1.0);
    cfg.factor = 1.0;                   /* no stretch: no temperature */
    assert_true(plan_mscale(&cfg) == 1.0);

    /* factor 1 leaves every frequency alone */
    posenc_rope_plan *plan = create_plan(&cfg);
    cfg.scaling = POSENC_SCALING_NONE;
    posenc_rope_plan *plain = create_plan(&cfg);
    double w[64], w0[64];
    assert_int_equal(posenc_rope_plan_info(plan, w, 64, NULL), POSENC_OK);
    assert_int_equal(posenc_rope_plan_info(plain, w0, 64, NULL), POSENC_OK);
    for (size_t i = 0; i < 64; i++)           /* (w/1)*ramp + w*(1-ramp) rounds: within an ulp or two */
        assert_true(relative_difference(w[i], w0[i]) <= 0x1p-51);
    posenc_rope_plan_destroy(plan);
    posenc_rope_plan_destroy(plain);
}

/* LongRoPE 131072 / 4096: mscale = sqrt(1 + ln 32 / ln 4096) = 1.19024; the caller's list is the one used. */
static void longrope_reference_points(void **state)
{
    (void)state;
    posenc_rope_config cfg = make_config(96, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_LONGROPE);
    cfg.factor = 131072.0 / 4096.0;
    cfg.original_max_position = 4096;
    cfg.short_factors = short_factors;
    cfg.long_factors = NULL;            /* the unused list may be absent */
    double mscale = plan_mscale(&cfg);
    assert_true(fabs(mscale - 1.19024) < 5e-6);
    assert_true(relative_difference(mscale, sqrt(1.0 + log(32.0) / log(4096.0))) <= 1e-15);
    cfg.factor = 1.0;
    assert_true(plan_mscale(&cfg) == 1.0);
    cfg.attention_factor = 1.1;
    assert_true(plan_mscale(&cfg) == 1.1);

    posenc_rope_config plain = make_config(96, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_NONE);
    posenc_rope_plan *p0 = create_plan(&plain);
    cfg.use_long_factors = 1;
    cfg.long_factors = long_factors;
    cfg.short_factors = NULL;
    posenc_rope_plan *p1 = create_plan(&cfg);
    double w0[48], w1[48];
    assert_int_equal(posenc_rope_plan_info(p0, w0, 48, NULL), POSENC_OK);
    assert_int_equal(posenc_rope_plan_info(p1, w1, 48, NULL), POSENC_OK);
    for (size_t i = 0; i < 48; i++)
        assert_true(w1[i] == w0[i] / long_factors[i]);
    posenc_rope_plan_destroy(p0);
    posenc_rope_plan_destroy(p1);
}

/* Dynamic NTK: an unset or short sequence length means the original context (base stretched by factor 1, i.e.
 * unchanged); longer ones change the base as HF's formula says. */
static void dynamic_ntk_lengths(void **state)
{
    (void)state;
    posenc_rope_config cfg = make_config(64, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_DYNAMIC_NTK);
    cfg.factor = 4.0;
    cfg.original_max_position = 2048;
    posenc_rope_config plain = make_config(64, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_NONE);
    double w[32], w0[32], wshort[32], wlong[32];
    posenc_rope_plan *p = create_plan(&plain);
    assert_int_equal(posenc_rope_plan_info(p, w0, 32, NULL), POSENC_OK);
    posenc_rope_plan_destroy(p);
    p = create_plan(&cfg);
    assert_int_equal(posenc_rope_plan_info(p, w, 32, NULL), POSENC_OK);
    posenc_rope_plan_destroy(p);
    cfg.sequence_length = 100;
    p = create_plan(&cfg);
    assert_int_equal(posenc_rope_plan_info(p, wshort, 32, NULL), POSENC_OK);
    posenc_rope_plan_destroy(p);
    for (size_t i = 0; i < 32; i++) {
        assert_true(relative_difference(w[i], w0[i]) <= 1e-15);
        assert_true(w[i] == wshort[i]);
    }
    cfg.sequence_length = 8192;     /* factor*L/orig - (factor-1) = 13: base' = base * 13^(64/62) */
    p = create_plan(&cfg);
    assert_int_equal(posenc_rope_plan_info(p, wlong, 32, NULL), POSENC_OK);
    posenc_rope_plan_destroy(p);
    double base = 10000.0 * pow(13.0, 64.0 / 62.0);
    assert_true(wlong[0] == 1.0);
    assert_true(relative_difference(wlong[31], pow(base, -62.0 / 64.0)) <= 1e-13);
}

/* ---- multi-axis positions ---------------------------------------------------------------------------------- */

/* Rotate one token x (heads of head_dim, packed) with a 1-D plan at position p. */
static void rotate_1d(const posenc_rope_plan *plan, const float *x, float *y, size_t n_heads, size_t head_dim,
                      int64_t p)
{
    assert_int_equal(posenc_rope_apply_to(plan, x, n_heads * head_dim, head_dim, y, n_heads * head_dim, head_dim,
                                          1, n_heads, &p, 0, 0), POSENC_OK);
}

/* The elements of pair i in a head. */
static void pair_index(size_t i, size_t n_pairs, int pairing, size_t *a, size_t *b)
{
    *a = pairing == POSENC_ROPE_HALF ? i : 2 * i;
    *b = pairing == POSENC_ROPE_HALF ? i + n_pairs : 2 * i + 1;
}

/* With distinct t, h, w, each pair of the multi-axis result carries exactly the bits of the 1-D rotation at the
 * position its axis names - shown pair by pair against three 1-D runs (same frequencies, global index). */
static void check_axes_against_1d(const posenc_rope_config *cfg, const int *want_axis)
{
    size_t head_dim = cfg->head_dim, n = n_pairs_of(cfg), n_heads = 3;
    posenc_rope_config one_d = *cfg;
    one_d.axes = POSENC_AXES_1D;
    posenc_rope_plan *multi = create_plan(cfg), *plain = create_plan(&one_d);
    float x[3 * 256], y[3 * 256], y_axis[3][3 * 256];
    assert_true(n_heads * head_dim <= 3 * 256);
    test_fill(x, n_heads * head_dim, -1.0f, 1.0f);
    int64_t tpos[3] = { 7, 1000003, -2000000011 };
    assert_int_equal(posenc_rope_apply_to(multi, x, n_heads * head_dim, head_dim, y, n_heads * head_dim,
                                          head_dim, 1, n_heads, tpos, 0, 0), POSENC_OK);
    for (int a = 0; a < 3; a++)
        rotate_1d(plain, x, y_axis[a], n_heads, head_dim, tpos[a]);
    for (size_t h = 0; h < n_heads; h++) {
        for (size_t i = 0; i < n; i++) {
            size_t ea, eb;
            pair_index(i, n, cfg->pairing, &ea, &eb);
            const float *want = y_axis[want_axis[i]] + h * head_dim;
            const float *got = y + h * head_dim;
            if (memcmp(&got[ea], &want[ea], sizeof(float)) != 0 ||
                memcmp(&got[eb], &want[eb], sizeof(float)) != 0) {
                fprintf(stderr, "pair %zu does not follow axis %d\n", i, want_axis[i]);
                fail();
            }
        }
        for (size_t e = 2 * n; e < head_dim; e++)
            assert_true(y[h * head_dim + e] == x[h * head_dim + e]);
    }
    posenc_rope_plan_destroy(multi);
    posenc_rope_plan_destroy(plain);
}

/* M-RoPE sections [16, 24, 24]: pairs 0-15 follow t, 16-39 follow h, 40-63 follow w (both pairings). */
static void mrope_sections_drive_pairs(void **state)
{
    (void)state;
    int want[64];
    for (size_t i = 0; i < 64; i++)
        want[i] = i < 16 ? 0 : i < 40 ? 1 : 2;
    for (int pairing = 0; pairing < 2; pairing++) {
        posenc_rope_config cfg = make_config(128, 0, pairing, 1000000.0, POSENC_SCALING_NONE);
        set_sections(&cfg, POSENC_AXES_MROPE, 3, 16, 24, 24);
        check_axes_against_1d(&cfg, want);
        cfg.scaling = POSENC_SCALING_YARN;        /* a scheme changes frequencies, never the axis mapping */
        cfg.factor = 4.0;
        cfg.original_max_position = 32768;
        check_axes_against_1d(&cfg, want);
    }
    /* partial rotary: the tail stays, sections cover rotary_dim/2 */
    posenc_rope_config cfg = make_config(140, 128, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_NONE);
    set_sections(&cfg, POSENC_AXES_MROPE, 3, 16, 24, 24);
    check_axes_against_1d(&cfg, want);
}

/* Interleaved M-RoPE [24, 20, 20] (Qwen3-VL): t h w t h w ... for 60 pairs, then t for pairs 60-63. */
static void mrope_interleaved_drive_pairs(void **state)
{
    (void)state;
    int want[64];
    for (size_t i = 0; i < 64; i++)
        want[i] = i >= 60 ? 0 : (int)(i % 3);
    posenc_rope_config cfg = make_config(128, 0, POSENC_ROPE_HALF, 5000000.0, POSENC_SCALING_NONE);
    set_sections(&cfg, POSENC_AXES_MROPE_INTERLEAVED, 3, 24, 20, 20);
    check_axes_against_1d(&cfg, want);
    /* uneven: h runs out before w */
    int want2[20];
    for (size_t i = 0; i < 20; i++)
        want2[i] = (i % 3 == 1 && i < 6) ? 1 : (i % 3 == 2 && i < 21) ? 2 : 0;
    cfg = make_config(40, 0, POSENC_ROPE_INTERLEAVED, 10000.0, POSENC_SCALING_NONE);
    set_sections(&cfg, POSENC_AXES_MROPE_INTERLEAVED, 3, 11, 2, 7);
    check_axes_against_1d(&cfg, want2);
}

/* 2-D vision [y, x]: pair j of the x section has the frequency of pair j of the y section (the index restarts,
 * exponent over rotary_dim/2), and y / x positions drive their sections. */
static void vision_sections(void **state)
{
    (void)state;
    posenc_rope_config cfg = make_config(80, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_NONE);
    set_sections(&cfg, POSENC_AXES_VISION_2D, 2, 20, 20, 0);
    posenc_rope_plan *plan = create_plan(&cfg);
    assert_int_equal(posenc_rope_plan_axes(plan), 2);
    double w[40];
    assert_int_equal(posenc_rope_plan_info(plan, w, 40, NULL), POSENC_OK);
    for (size_t j = 0; j < 20; j++) {
        assert_true(w[j] == w[20 + j]);
        assert_true(relative_difference(w[j], pow(10000.0, -2.0 * (double)j / 40.0)) <= 1e-15);
    }
    /* y drives pairs 0-19, x pairs 20-39: moving x leaves the y half's bits alone */
    float x[80], y1[80], y2[80];
    test_fill(x, 80, -1.0f, 1.0f);
    int64_t pos1[2] = { 5, 9 }, pos2[2] = { 5, 31 };
    assert_int_equal(posenc_rope_apply_to(plan, x, 80, 80, y1, 80, 80, 1, 1, pos1, 0, 0), POSENC_OK);
    assert_int_equal(posenc_rope_apply_to(plan, x, 80, 80, y2, 80, 80, 1, 1, pos2, 0, 0), POSENC_OK);
    for (size_t i = 0; i < 20; i++) {
        assert_memory_equal(&y1[i], &y2[i], sizeof(float));
        assert_memory_equal(&y1[i + 40], &y2[i + 40], sizeof(float));
    }
    assert_true(memcmp(&y1[20], &y2[20], 20 * sizeof(float)) != 0);
    posenc_rope_plan_destroy(plan);
}

/* ---- caller-supplied cos/sin tables ----------------------------------------------------------------------- */

/* Tables built from the oracle (cos, sin of p*omega times mscale, rounded to float) reproduce the plan's own
 * rotation to the accuracy bound; the table path itself is checked against a float64 rotation with the same
 * tables; INVERSE negates sin; NO_MSCALE changes nothing. */
static void tables_against_oracle(void **state)
{
    (void)state;
    scheme_case cases[MAX_CASES];
    size_t n_cases = make_cases(cases);
    for (size_t k = 0; k < n_cases; k++) {
        const posenc_rope_config *cfg = &cases[k].cfg;
        size_t n = n_pairs_of(cfg), head_dim = cfg->head_dim;
        posenc_rope_plan *plan = create_plan(cfg);
        double omega[MAX_PAIRS], oracle_omega[MAX_PAIRS], mscale;
        int axis[MAX_PAIRS];
        assert_int_equal(posenc_rope_plan_info(plan, omega, n, NULL), POSENC_OK);
        assert_int_equal(oracle_rope_frequencies(cfg, oracle_omega, &mscale), 0);
        size_t n_axes = oracle_rope_axes(cfg, axis);

        size_t n_tokens = 1 + test_rand_below(5), n_heads = 1 + test_rand_below(3);
        tensor src = tensor_new(n_tokens, n_heads, head_dim, test_rand_below(16));
        test_buf dst = test_buf_new(src.buf.n, 0), dst2 = test_buf_new(src.buf.n, 3);
        size_t table_stride = n + test_rand_below(4);
        float *cos_table = calloc(n_tokens * table_stride, sizeof(float));
        float *sin_table = calloc(n_tokens * table_stride, sizeof(float));
        assert_non_null(cos_table);
        assert_non_null(sin_table);
        int64_t positions[8 * 3];
        double pos_of_pair[8][MAX_PAIRS];
        for (size_t t = 0; t < n_tokens; t++) {
            for (size_t a = 0; a < n_axes; a++)
                positions[t * n_axes + a] = random_position();
            for (size_t i = 0; i < n; i++) {
                pos_of_pair[t][i] = (double)positions[t * n_axes + (size_t)axis[i]];
                double angle = pos_of_pair[t][i] * omega[i];
                cos_table[t * table_stride + i] = (float)(cos(angle) * mscale);
                sin_table[t * table_stride + i] = (float)(sin(angle) * mscale);
            }
        }
        for (int inverse = 0; inverse < 2; inverse++) {
            uint32_t flags = inverse ? POSENC_ROPE_INVERSE : 0;
            assert_int_equal(posenc_rope_apply_tables(plan, src.buf.data, src.token_stride, src.head_stride,
                                                      dst.data, src.token_stride, src.head_stride, n_tokens,
                                                      n_heads, cos_table, sin_table, table_stride, flags),
                             POSENC_OK);
            assert_int_equal(posenc_rope_apply_tables(plan, src.buf.data, src.token_stride, src.head_stride,
                                                      dst2.data, src.token_stride, src.head_stride, n_tokens,
                                                      n_heads, cos_table, sin_table, table_stride,
                                                      flags | POSENC_ROPE_NO_MSCALE),
                             POSENC_OK);
            assert_true(test_guard_ok(&dst) && test_guard_ok(&dst2));
            assert_true(test_same_bits(dst.data, dst2.data, dst.n, "tables with NO_MSCALE"));
            double y64[POSENC_MAX_HEAD_DIM];
            for (size_t t = 0; t < n_tokens; t++) {
                for (size_t h = 0; h < n_heads; h++) {
                    const float *x = head_of(&src, src.buf.data, t, h), *y = head_of(&src, dst.data, t, h);
                    oracle_rope_rotate_tables(x, y64, head_dim, n, cfg->pairing, cos_table + t * table_stride,
                                              sin_table + t * table_stride, inverse);
                    assert_true(oracle_relative_error(y, y64, head_dim) <= HEAD_TOLERANCE);
                    oracle_rope_rotate(x, y64, head_dim, n, cfg->pairing, omega, pos_of_pair[t], mscale,
                                       inverse);
                    double err = oracle_relative_error(y, y64, head_dim);
                    if (!(err <= HEAD_TOLERANCE)) {
                        fprintf(stderr, "%s tables: relative error %.3g\n", cases[k].name, err);
                        fail();
                    }
                }
            }
        }
        free(cos_table);
        free(sin_table);
        test_buf_free(&dst);
        test_buf_free(&dst2);
        test_buf_free(&src.buf);
        posenc_rope_plan_destroy(plan);
    }
}

/* ---- the magnitude factor is applied once ----------------------------------------------------------------- */

/* A YaRN plan (mscale 1.13863) and an otherwise identical one with attention_factor 1 (mscale exactly 1). */
static void mscale_plans(int32_t pairing, posenc_rope_plan **scaled, posenc_rope_plan **unscaled)
{
    posenc_rope_config cfg = make_config(96, 80, pairing, 10000.0, POSENC_SCALING_YARN);
    cfg.factor = 4.0;
    cfg.original_max_position = 4096;
    *scaled = create_plan(&cfg);
    cfg.attention_factor = 1.0;
    *unscaled = create_plan(&cfg);
}

static double max_head_error(const tensor *t, const float *y, const double *want_all)
{
    double worst = 0.0;
    for (size_t tok = 0; tok < t->n_tokens; tok++)
        for (size_t h = 0; h < t->n_heads; h++) {
            size_t off = tok * t->token_stride + h * t->head_stride;
            double err = oracle_relative_error(y + off, want_all + off, t->head_dim);
            if (err > worst)
                worst = err;
        }
    return worst;
}

/* Relative difference per head between two float tensors (the second taken as exact). */
static double max_head_difference(const tensor *t, const float *y, const float *ref)
{
    double *ref64 = malloc(t->buf.n * sizeof(double));
    assert_non_null(ref64);
    for (size_t i = 0; i < t->buf.n; i++)
        ref64[i] = ref[i];
    double worst = max_head_error(t, y, ref64);
    free(ref64);
    return worst;
}

/* What is tested, precisely, with mscale m = 0.1 ln 4 + 1 (YaRN factor 4) and tokens at positions p_t:
 *  (a) shift(forward(x, p), d) equals forward(x, p + d) to <= 1e-6 relative per head - a second m would be off
 *      by m - 1 = 0.139;  also for d < 0 and for the INVERSE flag (= shift by -d);
 *  (b) shift by 0 returns the input bit for bit (m never enters a shift);
 *  (c) forward then INVERSE|NO_MSCALE at the same positions gives m*x (<= 1e-6), forward then INVERSE gives
 *      m^2*x: the flag decides, nothing else;
 *  (d) forward with NO_MSCALE on the YaRN plan is bit-identical to forward on the plan whose attention factor
 *      is 1: the flag removes m and nothing else. */
static void mscale_applied_once(void **state)
{
    (void)state;
    for (int pairing = 0; pairing < 2; pairing++) {
        posenc_rope_plan *scaled, *unscaled;
        mscale_plans(pairing, &scaled, &unscaled);
        double m;
        assert_int_equal(posenc_rope_plan_info(scaled, NULL, 0, &m), POSENC_OK);
        assert_true(fabs(m - 1.13863) < 5e-6);

        size_t n_tokens = 6, n_heads = 4;
        tensor t = tensor_new(n_tokens, n_heads, 96, 1);
        const float *x = t.buf.data;
        size_t n = t.buf.n;
        float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
        assert_non_null(a);
        assert_non_null(b);
        int64_t p[6] = { 0, 17, 4095, 100000, 123456789, -1000000 };
        static const int64_t deltas[] = { 1, 4096, -777, 1000000, -50000000 };
        for (size_t k = 0; k < sizeof deltas / sizeof deltas[0]; k++) {
            int64_t d = deltas[k], pd[6];
            for (size_t i = 0; i < n_tokens; i++)
                pd[i] = p[i] + d;
            /* (a) */
            memcpy(a, x, n * sizeof(float));
            assert_int_equal(posenc_rope_apply(scaled, a, n_tokens, n_heads, t.token_stride, t.head_stride, p,
                                               0, 0), POSENC_OK);
            memcpy(b, a, n * sizeof(float));
            assert_int_equal(posenc_rope_shift(scaled, a, n_tokens, n_heads, t.token_stride, t.head_stride, d, 0),
                             POSENC_OK);
            assert_int_equal(posenc_rope_shift(scaled, b, n_tokens, n_heads, t.token_stride, t.head_stride, -d,
                                               POSENC_ROPE_INVERSE), POSENC_OK);
            assert_true(test_same_bits(a, b, n, "shift by d vs inverse shift by -d"));
            memcpy(b, x, n * sizeof(float));
            assert_int_equal(posenc_rope_apply(scaled, b, n_tokens, n_heads, t.token_stride, t.head_stride, pd,
                                               0, 0), POSENC_OK);
            double err = max_head_difference(&t, a, b);
            if (!(err <= 1e-6)) {
                fprintf(stderr, "shift by %lld: relative error %.3g\n", (long long)d, err);
                fail();
            }
        }
        /* (b) */
        memcpy(a, x, n * sizeof(float));
        assert_int_equal(posenc_rope_shift(scaled, a, n_tokens, n_heads, t.token_stride, t.head_stride, 0, 0),
                         POSENC_OK);
        assert_true(test_same_bits(a, x, n, "shift by 0"));

        /* (c) */
        double *want = malloc(n * sizeof(double));
        assert_non_null(want);
        for (int twice = 0; twice < 2; twice++) {
            memcpy(a, x, n * sizeof(float));
            assert_int_equal(posenc_rope_apply(scaled, a, n_tokens, n_heads, t.token_stride, t.head_stride, p, 0,
                                               0), POSENC_OK);
            uint32_t flags = POSENC_ROPE_INVERSE | (twice ? 0u : POSENC_ROPE_NO_MSCALE);
            assert_int_equal(posenc_rope_apply(scaled, a, n_tokens, n_heads, t.token_stride, t.head_stride, p, 0,
                                               flags), POSENC_OK);
            double factor = twice ? m * m : m;
            for (size_t i = 0; i < n; i++)
                want[i] = factor * (double)x[i];
            /* the tail past rotary_dim is copied, never scaled */
            for (size_t tok = 0; tok < n_tokens; tok++)
                for (size_t h = 0; h < n_heads; h++)
                    for (size_t e = 80; e < 96; e++) {
                        size_t off = tok * t.token_stride + h * t.head_stride + e;
                        want[off] = x[off];
                    }
            double err = max_head_error(&t, a, want);
            if (!(err <= 1e-6)) {
                fprintf(stderr, "inverse (%s): relative error %.3g\n", twice ? "with mscale" : "NO_MSCALE", err);
                fail();
            }
        }
        free(want);

        /* (d) */
        memcpy(a, x, n * sizeof(float));
        memcpy(b, x, n * sizeof(float));
        assert_int_equal(posenc_rope_apply(scaled, a, n_tokens, n_heads, t.token_stride, t.head_stride, p, 0,
                                           POSENC_ROPE_NO_MSCALE), POSENC_OK);
        assert_int_equal(posenc_rope_apply(unscaled, b, n_tokens, n_heads, t.token_stride, t.head_stride, p, 0, 0),
                         POSENC_OK);
        assert_true(test_same_bits(a, b, n, "NO_MSCALE vs attention factor 1"));

        free(a);
        free(b);
        test_buf_free(&t.buf);
        posenc_rope_plan_destroy(scaled);
        posenc_rope_plan_destroy(unscaled);
    }
}

static int setup(void **state)
{
    (void)state;
    fill_factor_lists();
    return 0;
}

int main(void)
{
    test_seed_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frequencies_match_oracle),
        cmocka_unit_test(applied_matches_float64),
        cmocka_unit_test(llama31_reference_points),
        cmocka_unit_test(yarn_reference_points),
        cmocka_unit_test(longrope_reference_points),
        cmocka_unit_test(dynamic_ntk_lengths),
        cmocka_unit_test(mrope_sections_drive_pairs),
        cmocka_unit_test(mrope_interleaved_drive_pairs),
        cmocka_unit_test(vision_sections),
        cmocka_unit_test(tables_against_oracle),
        cmocka_unit_test(mscale_applied_once),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
