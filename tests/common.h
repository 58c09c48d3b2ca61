/* common.h - shared test helpers: seeded RNG (POSENC_TEST_SEED), guarded buffers with canaries, variants. */
#ifndef POSENC_TEST_COMMON_H
#define POSENC_TEST_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posenc.h"

/* ---- seeded RNG: the seed is printed (stderr) and overridable with POSENC_TEST_SEED ---- */
static uint64_t test_rng_state;

static inline void test_seed_init(void)
{
    const char *env = getenv("POSENC_TEST_SEED");
    test_rng_state = env ? strtoull(env, NULL, 0) : 0x9e3779b97f4a7c15ull;
    fprintf(stderr, "# POSENC_TEST_SEED=%llu\n", (unsigned long long)test_rng_state);
}

static inline uint64_t test_rand_u64(void)
{
    uint64_t z = (test_rng_state += 0x9e3779b97f4a7c15ull);   /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* uniform in [0, n) */
static inline size_t test_rand_below(size_t n)
{
    return n ? (size_t)(test_rand_u64() % n) : 0;
}

/* uniform float in [lo, hi) */
static inline float test_rand_float(float lo, float hi)
{
    return lo + (hi - lo) * (float)((test_rand_u64() >> 40) * 0x1.0p-24);
}

static inline void test_fill(float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = test_rand_float(lo, hi);
}

/* A plain (unscaled, 1-D) RoPE plan, or NULL if the library refuses the configuration. */
static inline posenc_rope_plan *test_plain_plan(size_t head_dim, size_t rotary_dim, int pairing, double base)
{
    posenc_rope_config cfg;
    posenc_rope_config_init(&cfg, sizeof cfg);
    cfg.head_dim = (uint32_t)head_dim;
    cfg.rotary_dim = (uint32_t)rotary_dim;
    cfg.pairing = pairing;
    cfg.base = base;
    posenc_rope_plan *plan = NULL;
    return posenc_rope_plan_create(&cfg, &plan) == POSENC_OK ? plan : NULL;
}

/* ---- guarded buffers: `n` floats starting `misalign` floats past a 64-byte boundary, with canary floats
 * before and after; test_guard_ok checks they survived. ---- */
#define TEST_GUARD 16
#define TEST_CANARY_BITS 0x7fa5a5a5u   /* a NaN pattern no kernel produces */

typedef struct test_buf {
    float *base;      /* allocation */
    float *data;      /* user pointer */
    size_t n;
} test_buf;

static inline float test_canary(void)
{
    float f;
    uint32_t b = TEST_CANARY_BITS;
    memcpy(&f, &b, sizeof f);
    return f;
}

static inline test_buf test_buf_new(size_t n, size_t misalign)
{
    test_buf b;
    size_t total = n + misalign + 2 * TEST_GUARD + 16;
    b.base = aligned_alloc(64, ((total * sizeof(float)) + 63) / 64 * 64);
    if (!b.base) {
        fprintf(stderr, "out of memory\n");
        abort();
    }
    float c = test_canary();
    for (size_t i = 0; i < total; i++)
        b.base[i] = c;
    b.data = b.base + TEST_GUARD + misalign;
    b.n = n;
    return b;
}

static inline int test_guard_ok(const test_buf *b)
{
    uint32_t want = TEST_CANARY_BITS;
    for (size_t i = 0; i < TEST_GUARD; i++) {
        if (memcmp(&b->data[-1 - (ptrdiff_t)i], &want, 4) != 0 || memcmp(&b->data[b->n + i], &want, 4) != 0)
            return 0;
    }
    return 1;
}

static inline void test_buf_free(test_buf *b)
{
    free(b->base);
    b->base = b->data = NULL;
}

/* Bitwise comparison, NaN bytes included (every variant writes the canonical NaN); prints the first difference
 * to stderr. */
static inline int test_same_bits(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            fprintf(stderr, "%s: first difference at %zu: %a vs %a\n", what, i, (double)a[i], (double)b[i]);
            return 0;
        }
    }
    return 1;
}

#endif
