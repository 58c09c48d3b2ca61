/* test_threads.c - dlopen the built libposenc.so, then 16 threads race their first RoPE/softmax calls while
 * another thread keeps switching variants; every result must equal the precomputed one, bit for bit.
 *
 * Usage: test_threads /path/to/libposenc.so   (meson passes posenc_lib.full_path()). Not run under qemu. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common.h"

#define N_WORKERS 16
#define ITERATIONS 200

/* The library's entry points, resolved with dlsym (the test does not link the library). */
typedef struct posenc_api {
    const char *(*isa)(void);
    size_t (*isa_count)(void);
    const char *(*isa_name)(size_t);
    int (*isa_supported)(size_t);
    posenc_status (*set_isa)(const char *);
    posenc_status (*rope_config_init)(posenc_rope_config *, size_t);
    posenc_status (*rope_plan_create)(const posenc_rope_config *, posenc_rope_plan **);
    void (*rope_plan_destroy)(posenc_rope_plan *);
    posenc_status (*rope_apply)(const posenc_rope_plan *, float *, size_t, size_t, size_t, size_t,
                                const int64_t *, int64_t, uint32_t);
    posenc_status (*rope_apply_to)(const posenc_rope_plan *, const float *, size_t, size_t, float *, size_t,
                                   size_t, size_t, size_t, const int64_t *, int64_t, uint32_t);
    posenc_status (*softmax_desc_init)(posenc_softmax_desc *, size_t);
    posenc_status (*softmax)(const posenc_softmax_desc *, const float *, size_t, size_t, float *, size_t, size_t,
                             size_t, size_t, size_t);
} posenc_api;

static posenc_api api;
static void *library;

/* dlsym returns an object pointer; copying its bytes into a function pointer is the POSIX-sanctioned way. */
static void resolve(void *fn_slot, size_t size, const char *symbol)
{
    void *address = dlsym(library, symbol);
    if (!address) {
        fprintf(stderr, "dlsym(%s) failed: %s\n", symbol, dlerror());
        exit(1);
    }
    memcpy(fn_slot, &address, size);
}
#define RESOLVE(field, symbol) resolve(&api.field, sizeof api.field, symbol)

/* ---- the workload: shapes small enough for ThreadSanitizer to finish in seconds ---- */
#define HEAD_DIM 128
#define ROPE_TOKENS 3
#define ROPE_HEADS 8
#define ROPE_ELEMS (ROPE_TOKENS * ROPE_HEADS * HEAD_DIM)
#define SM_HEADS 4
#define SM_ROWS 3
#define SM_COLS 203
#define SM_ELEMS (SM_HEADS * SM_ROWS * SM_COLS)

static posenc_rope_plan *plan_half;          /* rotary_dim = head_dim */
static posenc_rope_plan *plan_interleaved;   /* rotary_dim 100 < head_dim: the unrotated tail is copied */
static posenc_softmax_desc softmax_desc;
static float sinks[SM_HEADS];
static float rope_input[ROPE_ELEMS], scores[SM_ELEMS];
static float expected_half[ROPE_ELEMS], expected_interleaved[ROPE_ELEMS], expected_softmax[SM_ELEMS];
static const int64_t rope_start = 4095;

/* The three calls every worker repeats. Returns the number of non-OK statuses. */
static int run_workload(float *half, float *interleaved, float *probs)
{
    int bad = 0;
    memcpy(half, rope_input, sizeof rope_input);
    bad += api.rope_apply(plan_half, half, ROPE_TOKENS, ROPE_HEADS, ROPE_HEADS * HEAD_DIM, HEAD_DIM, NULL,
                          rope_start, 0) != POSENC_OK;
    bad += api.rope_apply_to(plan_interleaved, rope_input, ROPE_HEADS * HEAD_DIM, HEAD_DIM, interleaved,
                             ROPE_HEADS * HEAD_DIM, HEAD_DIM, ROPE_TOKENS, ROPE_HEADS, NULL, rope_start,
                             POSENC_ROPE_INVERSE) != POSENC_OK;
    bad += api.softmax(&softmax_desc, scores, SM_ROWS * SM_COLS, SM_COLS, probs, SM_ROWS * SM_COLS, SM_COLS,
                       SM_HEADS, SM_ROWS, SM_COLS) != POSENC_OK;
    return bad;
}

static pthread_barrier_t start_line;
static atomic_int workers_running;
static atomic_int status_errors, mismatches, switch_errors, switches;

static void *worker(void *arg)
{
    (void)arg;
    float half[ROPE_ELEMS], interleaved[ROPE_ELEMS], probs[SM_ELEMS];
    pthread_barrier_wait(&start_line);
    for (int it = 0; it < ITERATIONS; it++) {
        atomic_fetch_add(&status_errors, run_workload(half, interleaved, probs));
        /* NaN-free inputs: plain memcmp is the bitwise comparison. */
        if (memcmp(half, expected_half, sizeof half) != 0 ||
            memcmp(interleaved, expected_interleaved, sizeof interleaved) != 0 ||
            memcmp(probs, expected_softmax, sizeof probs) != 0)
            atomic_fetch_add(&mismatches, 1);
    }
    atomic_fetch_sub(&workers_running, 1);
    return NULL;
}

/* Cycles through every supported variant until the workers are done (at least one full cycle). */
static void *switcher(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start_line);
    size_t count = api.isa_count();
    int cycles = 0;
    while (atomic_load(&workers_running) > 0 || cycles == 0) {
        for (size_t i = 0; i < count; i++) {
            if (!api.isa_supported(i))
                continue;
            if (api.set_isa(api.isa_name(i)) != POSENC_OK)
                atomic_fetch_add(&switch_errors, 1);
            atomic_fetch_add(&switches, 1);
            /* Whatever another thread set in between, the active variant is always a supported one. */
            const char *now = api.isa();
            int known = 0;
            for (size_t k = 0; k < count; k++)
                known |= api.isa_supported(k) && strcmp(api.isa_name(k), now) == 0;
            if (!known)
                atomic_fetch_add(&switch_errors, 1);
        }
        cycles++;
    }
    return NULL;
}

static const char *library_path;

static void setup_workload(void)
{
    posenc_rope_config config;
    assert_int_equal(api.rope_config_init(&config, sizeof config), POSENC_OK);
    config.head_dim = HEAD_DIM;
    assert_int_equal(api.rope_plan_create(&config, &plan_half), POSENC_OK);
    config.rotary_dim = 100;
    config.pairing = POSENC_ROPE_INTERLEAVED;
    config.scaling = POSENC_SCALING_LINEAR;
    config.factor = 2.0;
    assert_int_equal(api.rope_plan_create(&config, &plan_interleaved), POSENC_OK);

    assert_int_equal(api.softmax_desc_init(&softmax_desc, sizeof softmax_desc), POSENC_OK);
    softmax_desc.position = POSENC_POSITION_CAUSAL;
    softmax_desc.slopes_mode = POSENC_SLOPES_ALIBI;
    softmax_desc.scale = 0.08838834764831845f;   /* 1/sqrt(128) */
    softmax_desc.q_pos0 = SM_COLS - SM_ROWS;     /* last rows of a square causal block: some keys masked */
    for (size_t h = 0; h < SM_HEADS; h++)
        sinks[h] = test_rand_float(-2.0f, 2.0f);
    softmax_desc.sinks = sinks;

    test_fill(rope_input, ROPE_ELEMS, -4.0f, 4.0f);
    test_fill(scores, SM_ELEMS, -30.0f, 30.0f);
}

static void test_racing_first_calls_while_switching(void **state)
{
    (void)state;
    library = dlopen(library_path, RTLD_NOW | RTLD_LOCAL);
    if (!library)
        fprintf(stderr, "dlopen(%s): %s\n", library_path, dlerror());
    assert_non_null(library);
    RESOLVE(isa, "posenc_isa");
    RESOLVE(isa_count, "posenc_isa_count");
    RESOLVE(isa_name, "posenc_isa_name");
    RESOLVE(isa_supported, "posenc_isa_supported");
    RESOLVE(set_isa, "posenc_set_isa");
    RESOLVE(rope_config_init, "posenc_rope_config_init");
    RESOLVE(rope_plan_create, "posenc_rope_plan_create");
    RESOLVE(rope_plan_destroy, "posenc_rope_plan_destroy");
    RESOLVE(rope_apply, "posenc_rope_apply");
    RESOLVE(rope_apply_to, "posenc_rope_apply_to");
    RESOLVE(softmax_desc_init, "posenc_softmax_desc_init");
    RESOLVE(softmax, "posenc_softmax");

    const char *loaded = api.isa();
    fprintf(stderr, "# %s loaded with variant %s; %zu compiled in\n", library_path, loaded, api.isa_count());
    setup_workload();

    /* Expected output from the reference, then back to the load-time variant for the race. */
    assert_int_equal(api.set_isa("scalar"), POSENC_OK);
    assert_int_equal(run_workload(expected_half, expected_interleaved, expected_softmax), 0);
    assert_int_equal(api.set_isa(loaded), POSENC_OK);

    atomic_store(&workers_running, N_WORKERS);
    assert_int_equal(pthread_barrier_init(&start_line, NULL, N_WORKERS + 1), 0);
    pthread_t threads[N_WORKERS + 1];
    for (int i = 0; i < N_WORKERS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, worker, NULL), 0);
    assert_int_equal(pthread_create(&threads[N_WORKERS], NULL, switcher, NULL), 0);
    for (int i = 0; i <= N_WORKERS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    pthread_barrier_destroy(&start_line);

    fprintf(stderr, "# %d variant switches during %d x %d calls\n", atomic_load(&switches), N_WORKERS,
            ITERATIONS);
    assert_int_equal(atomic_load(&status_errors), 0);
    assert_int_equal(atomic_load(&mismatches), 0);
    assert_int_equal(atomic_load(&switch_errors), 0);
    assert_true(atomic_load(&switches) > 0);

    api.rope_plan_destroy(plan_half);
    api.rope_plan_destroy(plan_interleaved);
    assert_int_equal(dlclose(library), 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s /path/to/libposenc.so\n", argv[0]);
        return 2;
    }
    library_path = argv[1];
    test_seed_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_racing_first_calls_while_switching),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
