/* test_dispatch.c - the variant forced by POSENC_ISA is the active one; the variant list; posenc_set_isa.
 *
 * meson runs this once per POSENC_ISA value (dispatch-<isa>). A known name that this build or CPU lacks exits
 * with 77 (meson SKIP); an unknown name must fall back to the best supported variant. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common.h"

/* Every ISA token the library knows, in the dispatcher's best-first order. */
static const char *const known_isas[] = { "avx512", "avx2", "neon", "scalar" };
#define N_KNOWN (sizeof known_isas / sizeof known_isas[0])

static const char *forced_name;   /* the POSENC_ISA value this process was started with, or NULL */

/* Rank of a name in known_isas, or -1. */
static int known_rank(const char *name)
{
    for (size_t i = 0; i < N_KNOWN; i++)
        if (strcmp(known_isas[i], name) == 0)
            return (int)i;
    return -1;
}

/* Index of a name in the library's compiled-in list, or -1. */
static int compiled_index(const char *name)
{
    for (size_t i = 0; i < posenc_isa_count(); i++)
        if (strcmp(posenc_isa_name(i), name) == 0)
            return (int)i;
    return -1;
}

static const char *best_supported(void)
{
    for (size_t i = 0; i < posenc_isa_count(); i++)
        if (posenc_isa_supported(i))
            return posenc_isa_name(i);
    return NULL;
}

/* Runs first, before anything switches the variant: the load-time choice honours POSENC_ISA. */
static void test_forced_variant_is_active(void **state)
{
    (void)state;
    const char *expected = best_supported();
    if (forced_name && known_rank(forced_name) >= 0) {
        int index = compiled_index(forced_name);
        /* main() skipped every case where the forced variant cannot run here. */
        assert_true(index >= 0 && posenc_isa_supported((size_t)index));
        expected = forced_name;
    }
    assert_non_null(expected);
    fprintf(stderr, "# POSENC_ISA=%s -> active %s (best supported %s)\n", forced_name ? forced_name : "(unset)",
            posenc_isa(), best_supported());
    assert_string_equal(posenc_isa(), expected);
}

static void test_list_is_best_first_scalar_last(void **state)
{
    (void)state;
    size_t count = posenc_isa_count();
    assert_true(count >= 1);
    int previous_rank = -1;
    for (size_t i = 0; i < count; i++) {
        const char *name = posenc_isa_name(i);
        assert_non_null(name);
        int rank = known_rank(name);
        assert_true(rank >= 0);                 /* a known token */
        assert_true(rank > previous_rank);      /* best first, no duplicates */
        previous_rank = rank;
    }
    assert_string_equal(posenc_isa_name(count - 1), "scalar");
    assert_true(posenc_isa_supported(count - 1));   /* the reference runs everywhere */

    assert_null(posenc_isa_name(count));
    assert_null(posenc_isa_name(SIZE_MAX));
    assert_int_equal(posenc_isa_supported(count), 0);
    assert_int_equal(posenc_isa_supported(SIZE_MAX), 0);

    /* Each architecture builds exactly its own variants; Advanced SIMD is baseline on AArch64. */
#if defined(__aarch64__)
    int neon = compiled_index("neon");
    assert_true(neon >= 0);
    assert_true(posenc_isa_supported((size_t)neon));
    assert_int_equal(compiled_index("avx2"), -1);
    assert_int_equal(compiled_index("avx512"), -1);
#elif defined(__x86_64__)
    assert_int_equal(compiled_index("neon"), -1);
#endif
}

static void test_set_isa_to_every_supported_variant(void **state)
{
    (void)state;
    size_t switched = 0;
    for (size_t i = 0; i < posenc_isa_count(); i++) {
        if (!posenc_isa_supported(i))
            continue;
        const char *name = posenc_isa_name(i);
        assert_int_equal(posenc_set_isa(name), POSENC_OK);
        assert_string_equal(posenc_isa(), name);
        switched++;
    }
    assert_true(switched >= 1);
    /* Switching back and forth works too. */
    assert_int_equal(posenc_set_isa("scalar"), POSENC_OK);
    assert_string_equal(posenc_isa(), "scalar");
    assert_int_equal(posenc_set_isa(best_supported()), POSENC_OK);
    assert_string_equal(posenc_isa(), best_supported());
}

/* Every name set_isa must refuse, and the variant it must leave in place. */
static void check_rejections_keep(const char *current)
{
    static const char *const unknown[] = { "bogus", "", "avx2 ", " avx2", "avx", "avx-512",
                                           "sse2", "sve", "scalar\n" };   /* case: test_isa_env.c */
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_int_equal(posenc_set_isa(unknown[i]), POSENC_ERR_UNSUPPORTED);
        assert_string_equal(posenc_isa(), current);
    }
    /* Known tokens this build or this CPU lacks. */
    for (size_t i = 0; i < N_KNOWN; i++) {
        int index = compiled_index(known_isas[i]);
        if (index >= 0 && posenc_isa_supported((size_t)index))
            continue;
        fprintf(stderr, "# %s: not %s here, set_isa must refuse it\n", known_isas[i],
                index < 0 ? "compiled" : "supported");
        assert_int_equal(posenc_set_isa(known_isas[i]), POSENC_ERR_UNSUPPORTED);
        assert_string_equal(posenc_isa(), current);
    }
    assert_int_equal(posenc_set_isa(NULL), POSENC_ERR_NULL);
    assert_string_equal(posenc_isa(), current);
}

static void test_set_isa_rejects_and_keeps_variant(void **state)
{
    (void)state;
    /* From two different starting variants, so "unchanged" cannot be a coincidence of the fallback. */
    assert_int_equal(posenc_set_isa("scalar"), POSENC_OK);
    check_rejections_keep("scalar");
    const char *best = best_supported();
    assert_int_equal(posenc_set_isa(best), POSENC_OK);
    check_rejections_keep(best);
}

int main(void)
{
    forced_name = getenv("POSENC_ISA");
    if (forced_name && known_rank(forced_name) >= 0) {
        int index = compiled_index(forced_name);
        if (index < 0) {
            fprintf(stderr, "SKIP: variant %s is not compiled into this build\n", forced_name);
            return 77;
        }
        if (!posenc_isa_supported((size_t)index)) {
            fprintf(stderr, "SKIP: this CPU does not support variant %s\n", forced_name);
            return 77;
        }
    }
    /* Order matters: the load-time check runs before any test switches the variant. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forced_variant_is_active),
        cmocka_unit_test(test_list_is_best_first_scalar_last),
        cmocka_unit_test(test_set_isa_to_every_supported_variant),
        cmocka_unit_test(test_set_isa_rejects_and_keeps_variant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
