/* errors_common.h - shared harness of the error suites (test_errors_*.c): a guarded arena that holds every
 * tensor a call may write, and EXPECT, which checks a status and that a failed call wrote nothing. Include after
 * <cmocka.h>. */
#ifndef POSENC_ERRORS_COMMON_H
#define POSENC_ERRORS_COMMON_H

#include "common.h"

/* ---- one guarded arena holds every tensor a call may write, so "untouched" means: whole arena and canaries
 * bit-identical before and after a failed call ---- */

#define ARENA_FLOATS 2048
static test_buf arena;
static float arena_before[ARENA_FLOATS];

static inline void arena_refill(void)
{
    test_fill(arena.data, ARENA_FLOATS, -1.0f, 1.0f);
}

static inline void arena_snapshot(void)
{
    memcpy(arena_before, arena.data, sizeof arena_before);
}

static inline int arena_untouched(void)
{
    return memcmp(arena_before, arena.data, sizeof arena_before) == 0 && test_guard_ok(&arena);
}

static inline int group_setup(void **state)
{
    (void)state;
    test_seed_init();
    arena = test_buf_new(ARENA_FLOATS, 3);   /* deliberately not 16-byte aligned */
    arena_refill();
    return 0;
}

static inline int group_teardown(void **state)
{
    (void)state;
    test_buf_free(&arena);
    return 0;
}

/* Reports the caller's line on failure (messages on stderr: stdout carries TAP). */
static inline void expect_status_at(posenc_status got, posenc_status want, int untouched, const char *what,
                             const char *file, int line)
{
    if (got != want) {
        fprintf(stderr, "%s:%d: %s: got %d (%s), want %d (%s)\n", file, line, what, got, posenc_strerror(got),
                want, posenc_strerror(want));
        _fail(file, line);
    }
    if (want != POSENC_OK && !untouched) {
        fprintf(stderr, "%s:%d: %s: failed call with status %d wrote to its output\n", file, line, what, got);
        _fail(file, line);
    }
}

/* Snapshot the arena, evaluate `call`, check its status and, for a failure, that nothing was written. */
#define EXPECT(call, want)                                                                                     \
    do {                                                                                                       \
        arena_snapshot();                                                                                      \
        posenc_status got_ = (call);                                                                           \
        expect_status_at(got_, (want), arena_untouched(), #call, __FILE__, __LINE__);                          \
    } while (0)

#endif
