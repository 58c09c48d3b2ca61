/* test_rope.c - the RoPE reference against the float64 oracle, and the rotation's algebraic properties. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common.h"
#include "oracle.h"

static posenc_rope_plan *make_plan(size_t head_dim, size_t rotary_dim, int pairing, double base)
{
    posenc_rope_plan *plan = test_plain_plan(head_dim, rotary_dim, pairing, base);
    assert_non_null(plan);
    return plan;
}

static const int64_t test_positions[] = {
    0, 1, 4095, 100000, 1000000, 10000000, 2147483647, -1, -4095, -1000000, -2147483647, 123456789,
};
#define N_POSITIONS (sizeof test_positions / sizeof test_positions[0])

/* ||y - y64|| / ||y64|| <= 1e-6 per head at every test position, both pairings, partial rotary, head_dim 2..512. */
static void rope_matches_oracle(void **state)
{
    (void)state;
    double worst = 0;
    for (int iter = 0; iter < 400; iter++) {
        size_t head_dim = iter < 64 ? 2 + 2 * (size_t)iter : 2 + test_rand_below(511);
        size_t rotary_dim = (iter % 3 == 2) ? 2 + 2 * test_rand_below(head_dim / 2) : (head_dim & ~(size_t)1);
        int pairing = iter % 2;
        double base = (iter % 5 == 0) ? 500000.0 : 10000.0;
        posenc_rope_plan *plan = make_plan(head_dim, rotary_dim, pairing, base);
        size_t n_heads = 3;
        float *x = malloc(N_POSITIONS * n_heads * head_dim * sizeof(float));
        float *y = malloc(N_POSITIONS * n_heads * head_dim * sizeof(float));
        double *y64 = malloc(head_dim * sizeof(double));
        double *omega = malloc(rotary_dim / 2 * sizeof(double)), *pos = malloc(rotary_dim / 2 * sizeof(double));
        test_fill(x, N_POSITIONS * n_heads * head_dim, -2.0f, 2.0f);
        assert_int_equal(posenc_rope_apply_to(plan, x, n_heads * head_dim, head_dim, y, n_heads * head_dim,
                                              head_dim, N_POSITIONS, n_heads, test_positions, 0, 0), POSENC_OK);
        oracle_rope_omega(base, rotary_dim, omega);
        for (size_t t = 0; t < N_POSITIONS; t++) {
            for (size_t i = 0; i < rotary_dim / 2; i++)
                pos[i] = (double)test_positions[t];
            for (size_t h = 0; h < n_heads; h++) {
                size_t off = (t * n_heads + h) * head_dim;
                oracle_rope_head(x + off, head_dim, rotary_dim, pairing, omega, pos, 1.0, 1.0, y64);
                double err = oracle_rel_l2(y + off, y64, head_dim);
                if (err > worst)
                    worst = err;
                if (err > 1e-6) {
                    fprintf(stderr, "head_dim %zu rotary %zu pairing %d pos %lld: rel err %.3g\n", head_dim,
                            rotary_dim, pairing, (long long)test_positions[t], err);
                    fail();
                }
            }
        }
        free(x); free(y); free(y64); free(omega); free(pos);
        posenc_rope_plan_destroy(plan);
    }
    fprintf(stderr, "# worst RoPE relative error vs float64 oracle: %.3g (bound 1e-6)\n", worst);
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* Rotation preserves the norm of the rotated part and leaves the rest unchanged. */
static void rope_preserves_norm(void **state)
{
    (void)state;
    for (int pairing = 0; pairing < 2; pairing++) {
        posenc_rope_plan *plan = make_plan(128, 96, pairing, 10000.0);
        float x[128], y[128];
        for (size_t t = 0; t < N_POSITIONS; t++) {
            test_fill(x, 128, -3.0f, 3.0f);
            assert_int_equal(posenc_rope_apply_to(plan, x, 128, 128, y, 128, 128, 1, 1, &test_positions[t], 0, 0),
                             POSENC_OK);
            double nx = sqrt(dot(x, x, 96)), ny = sqrt(dot(y, y, 96));
            assert_true(fabs(nx - ny) <= 1e-6 * nx);
            assert_memory_equal(x + 96, y + 96, 32 * sizeof(float));
        }
        posenc_rope_plan_destroy(plan);
    }
}

/* <R(m)q, R(n)k> depends only on m - n: the same q, k at several (m, n) with a fixed offset. */
static void rope_dot_depends_on_offset(void **state)
{
    (void)state;
    static const int64_t offsets[] = { 0, 1, 17, 1000, -300 };
    static const int64_t bases[] = { 0, 5, 4096, 100000, 1000000, 50000000, 2000000000 };
    for (int pairing = 0; pairing < 2; pairing++) {
        posenc_rope_plan *plan = make_plan(128, 128, pairing, 10000.0);
        float q[128], k[128], rq[128], rk[128];
        test_fill(q, 128, -1.0f, 1.0f);
        test_fill(k, 128, -1.0f, 1.0f);
        double scale = sqrt(dot(q, q, 128) * dot(k, k, 128));
        for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++) {
            double first = 0;
            for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
                int64_t m = bases[b] + offsets[o], n = bases[b];
                assert_int_equal(posenc_rope_apply_to(plan, q, 128, 128, rq, 128, 128, 1, 1, &m, 0, 0), POSENC_OK);
                assert_int_equal(posenc_rope_apply_to(plan, k, 128, 128, rk, 128, 128, 1, 1, &n, 0, 0), POSENC_OK);
                double d = dot(rq, rk, 128);
                if (b == 0)
                    first = d;
                else if (fabs(d - first) > 2e-6 * scale) {
                    fprintf(stderr, "offset %lld base %lld: %.9g vs %.9g\n", (long long)offsets[o],
                            (long long)bases[b], d, first);
                    fail();
                }
            }
        }
        posenc_rope_plan_destroy(plan);
    }
}

/* |a - b| within `ulps` units in the last place relative to the pair's norm, i.e. <= ulps * 2^-23 * ||(x_a, x_b)||.
 * The two elements of a rotated pair share one error scale: each output mixes both inputs, so a small element
 * carries the rounding error of its larger partner (an elementwise ulp bound would be meaningless near 0). */
static void assert_close_ulps(const float *a, const float *b, size_t head_dim, size_t rotary_dim, int interleaved,
                              double ulps)
{
    size_t n = rotary_dim / 2;
    for (size_t i = 0; i < n; i++) {
        size_t ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + n;
        double ulp = 0x1p-23 * hypot(b[ia], b[ib]) + 0x1p-149;
        if (fabs((double)a[ia] - b[ia]) > ulps * ulp || fabs((double)a[ib] - b[ib]) > ulps * ulp) {
            fprintf(stderr, "pair %zu: (%a, %a) vs (%a, %a)\n", i, (double)a[ia], (double)a[ib], (double)b[ia],
                    (double)b[ib]);
            fail();
        }
    }
    for (size_t e = rotary_dim; e < head_dim; e++)
        assert_true(a[e] == b[e]);
}

/* The inverse after the forward rotation gives back the input within 2 ulp. */
static void rope_inverse_undoes_forward(void **state)
{
    (void)state;
    for (int pairing = 0; pairing < 2; pairing++) {
        posenc_rope_plan *plan = make_plan(160, 128, pairing, 10000.0);
        float x[160 * 4], y[160 * 4];
        for (size_t t = 0; t < N_POSITIONS; t++) {
            test_fill(x, 160 * 4, -2.0f, 2.0f);
            memcpy(y, x, sizeof x);
            assert_int_equal(posenc_rope_apply(plan, y, 1, 4, 640, 160, &test_positions[t], 0, 0), POSENC_OK);
            assert_int_equal(posenc_rope_apply(plan, y, 1, 4, 640, 160, &test_positions[t], 0, POSENC_ROPE_INVERSE),
                             POSENC_OK);
            for (int h = 0; h < 4; h++)
                assert_close_ulps(y + 160 * h, x + 160 * h, 160, 128, pairing, 2.0);
        }
        posenc_rope_plan_destroy(plan);
    }
}

/* R(a+b) equals R(b) after R(a) within 2 ulp; a KV-cache shift by b equals R(b). */
static void rope_composes(void **state)
{
    (void)state;
    static const int64_t pairs[][2] = { { 0, 1 }, { 100, 28 }, { 4000, 95 }, { 1000000, -17 }, { 5, 1000000 },
                                        { 2000000000, 100000000 }, { -7, 7 } };
    for (int pairing = 0; pairing < 2; pairing++) {
        posenc_rope_plan *plan = make_plan(128, 128, pairing, 10000.0);
        float x[128], once[128], twice[128], shifted[128];
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
            int64_t a = pairs[i][0], b = pairs[i][1], ab = a + b;
            test_fill(x, 128, -2.0f, 2.0f);
            assert_int_equal(posenc_rope_apply_to(plan, x, 128, 128, once, 128, 128, 1, 1, &ab, 0, 0), POSENC_OK);
            assert_int_equal(posenc_rope_apply_to(plan, x, 128, 128, twice, 128, 128, 1, 1, &a, 0, 0), POSENC_OK);
            memcpy(shifted, twice, sizeof shifted);
            assert_int_equal(posenc_rope_apply(plan, twice, 1, 1, 128, 128, &b, 0, 0), POSENC_OK);
            assert_close_ulps(twice, once, 128, 128, pairing, 2.0);
            assert_int_equal(posenc_rope_shift(plan, shifted, 1, 1, 128, 128, b, 0), POSENC_OK);
            assert_memory_equal(shifted, twice, sizeof twice);
        }
        posenc_rope_plan_destroy(plan);
    }
}

/* Positions from an array and from start_pos agree; q+k together equals q and k separately. */
static void rope_entry_points_agree(void **state)
{
    (void)state;
    posenc_rope_plan *plan = make_plan(64, 64, POSENC_ROPE_HALF, 10000.0);
    enum { T = 7, HQ = 4, HK = 2, D = 64 };
    float q[T][HQ][D], k[T][HK][D], q2[T][HQ][D], k2[T][HK][D];
    int64_t pos[T];
    for (int t = 0; t < T; t++)
        pos[t] = 999 + t;
    test_fill(&q[0][0][0], sizeof q / sizeof(float), -1, 1);
    test_fill(&k[0][0][0], sizeof k / sizeof(float), -1, 1);
    memcpy(q2, q, sizeof q);
    memcpy(k2, k, sizeof k);
    assert_int_equal(posenc_rope_apply_qk(plan, &q[0][0][0], HQ, HQ * D, D, &k[0][0][0], HK, HK * D, D, T, pos, 0, 0),
                     POSENC_OK);
    assert_int_equal(posenc_rope_apply(plan, &q2[0][0][0], T, HQ, HQ * D, D, NULL, 999, 0), POSENC_OK);
    assert_int_equal(posenc_rope_apply(plan, &k2[0][0][0], T, HK, HK * D, D, NULL, 999, 0), POSENC_OK);
    assert_memory_equal(q, q2, sizeof q);
    assert_memory_equal(k, k2, sizeof k);
    posenc_rope_plan_destroy(plan);
}

int main(void)
{
    test_seed_init();
    assert_int_equal(posenc_set_isa("scalar"), POSENC_OK);   /* the reference; variants are compared to it */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rope_matches_oracle),
        cmocka_unit_test(rope_preserves_norm),
        cmocka_unit_test(rope_dot_depends_on_offset),
        cmocka_unit_test(rope_inverse_undoes_forward),
        cmocka_unit_test(rope_composes),
        cmocka_unit_test(rope_entry_points_agree),
    };
    return cmocka_run_group_tests_name("rope", tests, NULL, NULL);
}
