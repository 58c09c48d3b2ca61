/* test_dispatch.c - the variant forced by POSENC_ISA is the active one; the variant list; posenc_set_isa.
 *
 * Usage: test_dispatch BUILD_VARIANTS OTHER_VARIANTS   (comma-separated; meson passes them from its ISA list)
 *   BUILD_VARIANTS  the variants this build compiles, best first, scalar last: the library's list must be exactly
 *                   this one, in this order
 *   OTHER_VARIANTS  the variants of other CPU families (may be empty): set_isa must refuse them here
 * meson runs this once per POSENC_ISA value (dispatch-<isa>). A compiled variant this CPU lacks exits with 77
 * (meson SKIP); a name the build does not compile must fall back to the best supported variant. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common.h"

#define MAX_NAMES 32
#define MAX_NAME_LEN 32

/* A comma-separated list from the command line. */
typedef struct name_list {
    size_t count;
    char names[MAX_NAMES][MAX_NAME_LEN];
} name_list;

static name_list build_variants;   /* this build's, best first, scalar last */
static name_list other_variants;   /* other CPU families' */
static const char *forced_name;    /* the POSENC_ISA value this process was started with, or NULL */

static int parse_list(const char *text, name_list *list)
{
    list->count = 0;
    while (*text) {
        size_t len = strcspn(text, ",");
        if (len == 0 || len >= MAX_NAME_LEN || list->count == MAX_NAMES)
            return -1;
        memcpy(list->names[list->count], text, len);
        list->names[list->count][len] = '\0';
        list->count++;
        text += len;
        if (*text == ',')
            text++;
    }
    return 0;
}

static int in_list(const name_list *list, const char *name)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->names[i], name) == 0)
            return 1;
    return 0;
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
    if (forced_name && in_list(&build_variants, forced_name)) {
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

/* The library's list is the build's (meson's ISA list, best first), scalar last and always supported. */
static void test_list_is_the_builds(void **state)
{
    (void)state;
    size_t count = posenc_isa_count();
    assert_int_equal(count, build_variants.count);
    for (size_t i = 0; i < count; i++) {
        const char *name = posenc_isa_name(i);
        assert_non_null(name);
        assert_string_equal(name, build_variants.names[i]);
        assert_false(in_list(&other_variants, name));
    }
    assert_string_equal(posenc_isa_name(count - 1), "scalar");
    assert_true(posenc_isa_supported(count - 1));   /* the reference runs everywhere */

    assert_null(posenc_isa_name(count));
    assert_null(posenc_isa_name(SIZE_MAX));
    assert_int_equal(posenc_isa_supported(count), 0);
    assert_int_equal(posenc_isa_supported(SIZE_MAX), 0);

#if defined(__aarch64__)
    /* Advanced SIMD is baseline on AArch64: some SIMD variant runs on every AArch64 CPU. */
    int simd_supported = 0;
    for (size_t i = 0; i + 1 < count; i++)
        simd_supported |= posenc_isa_supported(i);
    assert_true(simd_supported);
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

/* set_isa(name) must fail with POSENC_ERR_UNSUPPORTED and leave `current` active. */
static void expect_refused(const char *name, const char *current)
{
    assert_int_equal(posenc_set_isa(name), POSENC_ERR_UNSUPPORTED);
    assert_string_equal(posenc_isa(), current);
}

/* Every name set_isa must refuse, and the variant it must leave in place. */
static void check_rejections_keep(const char *current)
{
    expect_refused("bogus", current);
    expect_refused("", current);
    /* Near misses of every compiled name: case, spaces, a newline, a prefix. */
    for (size_t i = 0; i < build_variants.count; i++) {
        const char *name = build_variants.names[i];
        size_t len = strlen(name);
        char near[MAX_NAME_LEN + 2];
        /* Letter case does not matter (POSENC_ISA and set_isa compare case-insensitively): the upper-case
         * name selects the variant when this CPU runs it. */
        for (size_t c = 0; c <= len; c++)
            near[c] = (char)toupper((unsigned char)name[c]);
        if (posenc_isa_supported(i) && strcmp(name, near) != 0) {
            assert_int_equal(posenc_set_isa(near), POSENC_OK);
            assert_string_equal(posenc_isa(), name);
            assert_int_equal(posenc_set_isa(current), POSENC_OK);
        }
        snprintf(near, sizeof near, "%s ", name);
        expect_refused(near, current);
        snprintf(near, sizeof near, " %s", name);
        expect_refused(near, current);
        snprintf(near, sizeof near, "%s\n", name);
        expect_refused(near, current);
        snprintf(near, sizeof near, "%.*s", (int)(len - 1), name);
        if (!in_list(&build_variants, near))
            expect_refused(near, current);
    }
    /* Other CPU families' variants, and compiled ones this CPU lacks. */
    for (size_t i = 0; i < other_variants.count; i++) {
        fprintf(stderr, "# %s: not compiled here, set_isa must refuse it\n", other_variants.names[i]);
        expect_refused(other_variants.names[i], current);
    }
    for (size_t i = 0; i < posenc_isa_count(); i++) {
        if (posenc_isa_supported(i))
            continue;
        fprintf(stderr, "# %s: not supported by this CPU, set_isa must refuse it\n", posenc_isa_name(i));
        expect_refused(posenc_isa_name(i), current);
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

int main(int argc, char **argv)
{
    if (argc != 3 || parse_list(argv[1], &build_variants) != 0 || parse_list(argv[2], &other_variants) != 0 ||
        build_variants.count == 0) {
        fprintf(stderr, "usage: %s BUILD_VARIANTS OTHER_VARIANTS (comma-separated, best first, scalar last)\n",
                argv[0]);
        return 2;
    }
    forced_name = getenv("POSENC_ISA");
    if (forced_name && in_list(&build_variants, forced_name)) {
        int index = compiled_index(forced_name);
        if (index >= 0 && !posenc_isa_supported((size_t)index)) {
            fprintf(stderr, "SKIP: this CPU does not support variant %s\n", forced_name);
            return 77;
        }
    }
    /* Order matters: the load-time check runs before any test switches the variant. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forced_variant_is_active),
        cmocka_unit_test(test_list_is_the_builds),
        cmocka_unit_test(test_set_isa_to_every_supported_variant),
        cmocka_unit_test(test_set_isa_rejects_and_keeps_variant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
