/* test_errors_general.c - status sentences, version queries and ISA selection: every status they return. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common.h"

/* ================================================================================================ status text */

static const posenc_status all_codes[] = {
    POSENC_OK, POSENC_ERR_NULL, POSENC_ERR_DIM, POSENC_ERR_SHAPE, POSENC_ERR_STRIDE, POSENC_ERR_OVERLAP,
    POSENC_ERR_ENUM, POSENC_ERR_PARAM, POSENC_ERR_RANGE, POSENC_ERR_STRUCT_SIZE, POSENC_ERR_NOMEM,
    POSENC_ERR_UNSUPPORTED,
};
#define N_CODES (sizeof all_codes / sizeof all_codes[0])

static void test_strerror_distinct_sentences(void **state)
{
    (void)state;
    const char *generic = posenc_strerror(-12345);
    assert_non_null(generic);
    assert_true(strlen(generic) > 0);
    for (size_t i = 0; i < N_CODES; i++) {
        const char *text = posenc_strerror(all_codes[i]);
        assert_non_null(text);
        assert_true(strlen(text) > 3);
        assert_string_not_equal(text, generic);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(text, posenc_strerror(all_codes[j]));
    }
    const posenc_status unknown[] = { 1, 2, -12, -13, -100, INT32_MIN, INT32_MAX };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        assert_string_equal(posenc_strerror(unknown[i]), generic);
}

static void test_version_queries(void **state)
{
    (void)state;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", POSENC_VERSION_MAJOR, POSENC_VERSION_MINOR, POSENC_VERSION_PATCH);
    assert_string_equal(posenc_version(), want);
    assert_int_equal(posenc_version_number(),
                     POSENC_VERSION_MAJOR * 10000 + POSENC_VERSION_MINOR * 100 + POSENC_VERSION_PATCH);
}

/* ================================================================================================ ISA selection */

static void test_isa_queries_out_of_range(void **state)
{
    (void)state;
    size_t count = posenc_isa_count();
    assert_true(count >= 1);
    assert_string_equal(posenc_isa_name(count - 1), "scalar");
    assert_int_equal(posenc_isa_supported(count - 1), 1);
    assert_null(posenc_isa_name(count));
    assert_null(posenc_isa_name(SIZE_MAX));
    assert_int_equal(posenc_isa_supported(count), 0);
    assert_int_equal(posenc_isa_supported(SIZE_MAX), 0);
    int active_listed = 0;
    for (size_t i = 0; i < count; i++)
        active_listed |= strcmp(posenc_isa(), posenc_isa_name(i)) == 0;
    assert_true(active_listed);
}

static void test_set_isa_errors(void **state)
{
    (void)state;
    char before[32];
    snprintf(before, sizeof before, "%s", posenc_isa());
    assert_int_equal(posenc_set_isa(NULL), POSENC_ERR_NULL);
    assert_string_equal(posenc_isa(), before);
    const char *unknown[] = { "", "bogus", "scalar ", " scalar", "avx", "avx512f", "sve" };  /* case: test_isa_env.c */
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_int_equal(posenc_set_isa(unknown[i]), POSENC_ERR_UNSUPPORTED);
        assert_string_equal(posenc_isa(), before);
    }
    /* Names this build or CPU cannot run (e.g. neon on x86, avx512 on an AVX2-only CPU). */
    const char *every[] = { "scalar", "avx2", "avx512", "neon" };
    for (size_t i = 0; i < sizeof every / sizeof every[0]; i++) {
        int runnable = 0;
        for (size_t j = 0; j < posenc_isa_count(); j++)
            runnable |= strcmp(posenc_isa_name(j), every[i]) == 0 && posenc_isa_supported(j);
        if (runnable)
            continue;
        assert_int_equal(posenc_set_isa(every[i]), POSENC_ERR_UNSUPPORTED);
        assert_string_equal(posenc_isa(), before);
    }
    assert_int_equal(posenc_set_isa("scalar"), POSENC_OK);
    assert_string_equal(posenc_isa(), "scalar");
    assert_int_equal(posenc_set_isa(before), POSENC_OK);
    assert_string_equal(posenc_isa(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_distinct_sentences),
        cmocka_unit_test(test_version_queries),
        cmocka_unit_test(test_isa_queries_out_of_range),
        cmocka_unit_test(test_set_isa_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
