/* test_isa_env.c - POSENC_ISA is read case-insensitively, its refusal is reported by posenc_isa_forced(). posenc_set_isa too.
 *
 * meson runs this once per POSENC_ISA value (isa-env-<case>): "AVX2", "Scalar", "SCALAR", "bogus", "avx2 ", "".
 * The expected outcome is derived from the value and from which variants this build and CPU run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common.h"

static const char *env_value;   /* POSENC_ISA as this process was started, or NULL */

/* Index of the compiled-in variant whose name equals `name` exactly, or -1. */
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

/* `name` in lower case (ASCII) into buf; names longer than the buffer are cut, which only makes them unknown. */
static const char *lower(const char *name, char *buf, size_t size)
{
    size_t i = 0;
    for (; name[i] && i + 1 < size; i++)
        buf[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
    buf[i] = '\0';
    return buf;
}

/* Runs first, before any test switches the variant. */
static void test_load_time_choice(void **state)
{
    (void)state;
    const char *best = best_supported();
    assert_non_null(best);
    int forced = posenc_isa_forced();
    fprintf(stderr, "# POSENC_ISA=%s%s%s -> forced %d, active %s (best %s)\n", env_value ? "\"" : "",
            env_value ? env_value : "(unset)", env_value ? "\"" : "", forced, posenc_isa(), best);

    if (!env_value || env_value[0] == '\0') {
        assert_int_equal(forced, 0);
        assert_string_equal(posenc_isa(), best);
        return;
    }
    char buf[32];
    int index = compiled_index(lower(env_value, buf, sizeof buf));
    if (index >= 0 && posenc_isa_supported((size_t)index)) {
        assert_int_equal(forced, 1);
        assert_string_equal(posenc_isa(), posenc_isa_name((size_t)index));
    } else {
        assert_int_equal(forced, POSENC_ERR_UNSUPPORTED);
        assert_string_equal(posenc_isa(), best);
    }

    /* Values whose outcome does not depend on the CPU. */
    if (strcmp(buf, "scalar") == 0) {           /* "Scalar", "SCALAR": the reference runs everywhere */
        assert_int_equal(forced, 1);
        assert_string_equal(posenc_isa(), "scalar");
    }
    if (strcmp(env_value, "bogus") == 0 || strcmp(env_value, "avx2 ") == 0)
        assert_int_equal(forced, POSENC_ERR_UNSUPPORTED);
#if !defined(__x86_64__)
    if (strcmp(buf, "avx2") == 0)               /* not compiled off x86 */
        assert_int_equal(forced, POSENC_ERR_UNSUPPORTED);
#endif
}

static void test_set_isa_ignores_case(void **state)
{
    (void)state;
    int forced_at_load = posenc_isa_forced();
    assert_int_equal(posenc_set_isa("SCALAR"), POSENC_OK);
    assert_string_equal(posenc_isa(), "scalar");             /* the canonical, lower-case name */
    assert_int_equal(posenc_set_isa("sCaLaR"), POSENC_OK);
    assert_string_equal(posenc_isa(), "scalar");

    /* Every variant this CPU runs, by its upper-case name. */
    for (size_t i = 0; i < posenc_isa_count(); i++) {
        if (!posenc_isa_supported(i))
            continue;
        char upper[32];
        const char *name = posenc_isa_name(i);
        size_t n = 0;
        for (; name[n] && n + 1 < sizeof upper; n++)
            upper[n] = (name[n] >= 'a' && name[n] <= 'z') ? (char)(name[n] - 'a' + 'A') : name[n];
        upper[n] = '\0';
        assert_int_equal(posenc_set_isa(upper), POSENC_OK);
        assert_string_equal(posenc_isa(), name);
    }

    /* Case folding does not make other near-misses acceptable; the variant stays put. */
    const char *current = posenc_isa();
    static const char *const refused[] = { "bogus", "", "scalar ", " SCALAR", "AVX", "avx-512", "Scalar\n", "SVE" };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(posenc_set_isa(refused[i]), POSENC_ERR_UNSUPPORTED);
        assert_string_equal(posenc_isa(), current);
    }
    assert_int_equal(posenc_set_isa(NULL), POSENC_ERR_NULL);

    /* A load-time fact: switching does not change it. */
    assert_int_equal(posenc_isa_forced(), forced_at_load);
}

int main(void)
{
    env_value = getenv("POSENC_ISA");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_time_choice),
        cmocka_unit_test(test_set_isa_ignores_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
