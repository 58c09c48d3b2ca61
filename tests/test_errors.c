/* test_errors.c - every status of every public entry point, and proof that a failed call leaves outputs untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common.h"

/* ---- failing allocations, for POSENC_ERR_NOMEM: the executable's calloc/malloc interpose the library's (glibc
 * exports its own as __libc_calloc/__libc_malloc). Not under ASan, whose allocator must see every block. ---- */
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#define CAN_FAIL_ALLOCATIONS 1
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_malloc(size_t size);
static int fail_allocations;
static size_t failed_allocations;

void *calloc(size_t count, size_t size)
{
    if (fail_allocations) {
        failed_allocations++;
        return NULL;
    }
    return __libc_calloc(count, size);
}

void *malloc(size_t size)
{
    if (fail_allocations) {
        failed_allocations++;
        return NULL;
    }
    return __libc_malloc(size);
}
#endif

/* ---- one guarded arena holds every tensor a call may write, so "untouched" means: whole arena and canaries
 * bit-identical before and after a failed call ---- */

#define ARENA_FLOATS 2048
static test_buf arena;
static float arena_before[ARENA_FLOATS];

static void arena_refill(void)
{
    test_fill(arena.data, ARENA_FLOATS, -1.0f, 1.0f);
}

static void arena_snapshot(void)
{
    memcpy(arena_before, arena.data, sizeof arena_before);
}

static int arena_untouched(void)
{
    return memcmp(arena_before, arena.data, sizeof arena_before) == 0 && test_guard_ok(&arena);
}

static int group_setup(void **state)
{
    (void)state;
    test_seed_init();
    arena = test_buf_new(ARENA_FLOATS, 3);   /* deliberately not 16-byte aligned */
    arena_refill();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    test_buf_free(&arena);
    return 0;
}

/* Reports the caller's line on failure (messages on stderr: stdout carries TAP). */
static void expect_status_at(posenc_status got, posenc_status want, int untouched, const char *what,
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

static posenc_rope_plan *make_plan(uint32_t head_dim, uint32_t rotary_dim, int32_t pairing)
{
    posenc_rope_config cfg;
    assert_int_equal(posenc_rope_config_init(&cfg, sizeof cfg), POSENC_OK);
    cfg.head_dim = head_dim;
    cfg.rotary_dim = rotary_dim;
    cfg.pairing = pairing;
    posenc_rope_plan *plan = NULL;
    assert_int_equal(posenc_rope_plan_create(&cfg, &plan), POSENC_OK);
    assert_non_null(plan);
    return plan;
}

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

/* ================================================================================================ struct init */

static void test_rope_config_init_errors(void **state)
{
    (void)state;
    assert_int_equal(posenc_rope_config_init(NULL, sizeof(posenc_rope_config)), POSENC_ERR_NULL);
    /* Room past the struct so an oversized request that wrongly writes would be seen. */
    unsigned char buf[sizeof(posenc_rope_config) + 64], want[sizeof buf];
    memset(buf, 0xab, sizeof buf);
    memcpy(want, buf, sizeof buf);
    const size_t bad[] = { 0, 1, 4, sizeof(posenc_rope_config) - 8, sizeof(posenc_rope_config) - 1,
                           sizeof(posenc_rope_config) + 1, sizeof(posenc_rope_config) + 64, SIZE_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(posenc_rope_config_init((posenc_rope_config *)(void *)buf, bad[i]),
                         POSENC_ERR_STRUCT_SIZE);
        assert_memory_equal(buf, want, sizeof buf);
    }
    posenc_rope_config cfg;
    memset(&cfg, 0xab, sizeof cfg);
    assert_int_equal(posenc_rope_config_init(&cfg, sizeof cfg), POSENC_OK);
    assert_int_equal(cfg.struct_size, sizeof cfg);
    assert_int_equal(cfg.head_dim, 0);
    assert_int_equal(cfg.rotary_dim, 0);
    assert_int_equal(cfg.pairing, POSENC_ROPE_HALF);
    assert_true(cfg.base == 10000.0);
    assert_int_equal(cfg.scaling, POSENC_SCALING_NONE);
    assert_int_equal(cfg.axes, POSENC_AXES_1D);
    assert_true(cfg.factor == 1.0);
    assert_null(cfg.short_factors);
    assert_null(cfg.freq_factors);
}

static void test_softmax_desc_init_errors(void **state)
{
    (void)state;
    assert_int_equal(posenc_softmax_desc_init(NULL, sizeof(posenc_softmax_desc)), POSENC_ERR_NULL);
    unsigned char buf[sizeof(posenc_softmax_desc) + 64], want[sizeof buf];
    memset(buf, 0xcd, sizeof buf);
    memcpy(want, buf, sizeof buf);
    const size_t bad[] = { 0, 1, 4, sizeof(posenc_softmax_desc) - 8, sizeof(posenc_softmax_desc) - 1,
                           sizeof(posenc_softmax_desc) + 1, sizeof(posenc_softmax_desc) + 64, SIZE_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(posenc_softmax_desc_init((posenc_softmax_desc *)(void *)buf, bad[i]),
                         POSENC_ERR_STRUCT_SIZE);
        assert_memory_equal(buf, want, sizeof buf);
    }
    posenc_softmax_desc desc;
    memset(&desc, 0xcd, sizeof desc);
    assert_int_equal(posenc_softmax_desc_init(&desc, sizeof desc), POSENC_OK);
    assert_int_equal(desc.struct_size, sizeof desc);
    assert_int_equal(desc.position, POSENC_POSITION_NONE);
    assert_int_equal(desc.slopes_mode, POSENC_SLOPES_NONE);
    assert_true(desc.scale == 1.0f);
    assert_true(desc.max_bias == 8.0f);
    assert_int_equal(desc.reserved0, 0);
    assert_null(desc.slopes);
    assert_null(desc.mask);
    assert_null(desc.sinks);
    assert_int_equal(desc.q_pos0, 0);
    assert_int_equal(desc.k_pos0, 0);
}

/* ================================================================================================ plans */

/* Creating from cfg must fail with `want` and leave *plan_out as it was. */
static void expect_plan_error_at(const posenc_rope_config *cfg, posenc_status want, const char *file, int line)
{
    posenc_rope_plan *sentinel = (posenc_rope_plan *)(uintptr_t)0x5eed;
    posenc_rope_plan *plan = sentinel;
    posenc_status got = posenc_rope_plan_create(cfg, &plan);
    if (got == POSENC_OK && plan != sentinel)
        posenc_rope_plan_destroy(plan);
    expect_status_at(got, want, plan == sentinel, "posenc_rope_plan_create", file, line);
}
#define EXPECT_PLAN_ERROR(cfg, want) expect_plan_error_at((cfg), (want), __FILE__, __LINE__)

static posenc_rope_config valid_config(void)
{
    posenc_rope_config cfg;
    posenc_rope_config_init(&cfg, sizeof cfg);
    cfg.head_dim = 64;
    return cfg;
}

static void test_plan_create_null_and_struct_size(void **state)
{
    (void)state;
    posenc_rope_config cfg = valid_config();
    EXPECT_PLAN_ERROR(NULL, POSENC_ERR_NULL);
    assert_int_equal(posenc_rope_plan_create(&cfg, NULL), POSENC_ERR_NULL);
    const uint32_t bad[] = { 0, 4, (uint32_t)sizeof cfg - 8, (uint32_t)sizeof cfg + 8, UINT32_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg = valid_config();
        cfg.struct_size = bad[i];
        EXPECT_PLAN_ERROR(&cfg, POSENC_ERR_STRUCT_SIZE);
    }
}

static void test_plan_create_dims(void **state)
{
    (void)state;
    const struct { uint32_t head_dim, rotary_dim; } bad[] = {
        { 0, 0 }, { 0, 2 }, { 1, 0 }, { 7, 0 }, { 8, 3 }, { 8, 7 }, { 8, 10 }, { 8, 16 },
        { POSENC_MAX_HEAD_DIM + 1, 0 }, { POSENC_MAX_HEAD_DIM + 2, 2 }, { UINT32_MAX, 0 }, { 64, UINT32_MAX },
        { UINT32_MAX - 1, UINT32_MAX - 1 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        posenc_rope_config cfg = valid_config();
        cfg.head_dim = bad[i].head_dim;
        cfg.rotary_dim = bad[i].rotary_dim;
        EXPECT_PLAN_ERROR(&cfg, POSENC_ERR_DIM);
    }
    /* Valid edges: smallest, largest, odd head_dim with an even rotary part, rotary_dim 0 = head_dim. */
    const struct { uint32_t head_dim, rotary_dim; size_t n_pairs; } good[] = {
        { 2, 0, 1 }, { 2, 2, 1 }, { 7, 6, 3 }, { 7, 2, 1 }, { POSENC_MAX_HEAD_DIM, 0, POSENC_MAX_HEAD_DIM / 2 },
        { 64, 0, 32 }, { 64, 16, 8 },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        posenc_rope_plan *plan = make_plan(good[i].head_dim, good[i].rotary_dim, POSENC_ROPE_INTERLEAVED);
        double omega[POSENC_MAX_HEAD_DIM / 2];
        assert_int_equal(posenc_rope_plan_info(plan, omega, good[i].n_pairs, NULL), POSENC_OK);
        posenc_rope_plan_destroy(plan);
    }
}

static void test_plan_create_enums(void **state)
{
    (void)state;
    const int32_t bad_pairing[] = { -1, 2, 99, INT32_MIN, INT32_MAX };
    const int32_t bad_scaling[] = { -1, 8, 99, INT32_MIN, INT32_MAX };
    const int32_t bad_axes[] = { -1, 4, 99, INT32_MIN, INT32_MAX };
    for (size_t i = 0; i < 5; i++) {
        posenc_rope_config cfg = valid_config();
        cfg.pairing = bad_pairing[i];
        EXPECT_PLAN_ERROR(&cfg, POSENC_ERR_ENUM);
        cfg = valid_config();
        cfg.scaling = bad_scaling[i];
        EXPECT_PLAN_ERROR(&cfg, POSENC_ERR_ENUM);
        cfg = valid_config();
        cfg.axes = bad_axes[i];
        EXPECT_PLAN_ERROR(&cfg, POSENC_ERR_ENUM);
    }
}

static void test_plan_create_base(void **state)
{
    (void)state;
    const double bad[] = { NAN, -NAN, INFINITY, -INFINITY, 0.0, -0.0, -1.0, -10000.0, 0.5, 1.0 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        posenc_rope_config cfg = valid_config();
        cfg.base = bad[i];
        EXPECT_PLAN_ERROR(&cfg, POSENC_ERR_PARAM);
        cfg.pairing = POSENC_ROPE_INTERLEAVED;
        EXPECT_PLAN_ERROR(&cfg, POSENC_ERR_PARAM);
    }
    posenc_rope_config cfg = valid_config();
    cfg.base = 1.5;
    posenc_rope_plan *plan = NULL;
    assert_int_equal(posenc_rope_plan_create(&cfg, &plan), POSENC_OK);
    posenc_rope_plan_destroy(plan);
    cfg.base = 1e30;
    assert_int_equal(posenc_rope_plan_create(&cfg, &plan), POSENC_OK);
    posenc_rope_plan_destroy(plan);
}

#ifdef CAN_FAIL_ALLOCATIONS
static void test_plan_create_nomem(void **state)
{
    (void)state;
    posenc_rope_config cfg = valid_config();
    posenc_rope_plan *sentinel = (posenc_rope_plan *)(uintptr_t)0x5eed;
    posenc_rope_plan *plan = sentinel;
    failed_allocations = 0;
    fail_allocations = 1;
    posenc_status st = posenc_rope_plan_create(&cfg, &plan);
    fail_allocations = 0;
    if (failed_allocations == 0)
        fprintf(stderr, "plan creation did not allocate through the interposed calloc/malloc\n");
    assert_true(failed_allocations > 0);
    expect_status_at(st, POSENC_ERR_NOMEM, plan == sentinel, "posenc_rope_plan_create", __FILE__, __LINE__);
    /* And it recovers once memory is back. */
    assert_int_equal(posenc_rope_plan_create(&cfg, &plan), POSENC_OK);
    posenc_rope_plan_destroy(plan);
}
#endif

static void test_plan_info_errors(void **state)
{
    (void)state;
    posenc_rope_plan *plan = make_plan(16, 8, POSENC_ROPE_HALF);
    double out[8], out_before[8], mscale = -7.0;
    for (size_t i = 0; i < 8; i++)
        out[i] = out_before[i] = -1.0 - (double)i;
    assert_int_equal(posenc_rope_plan_info(NULL, out, 4, &mscale), POSENC_ERR_NULL);
    assert_int_equal(posenc_rope_plan_info(NULL, NULL, 0, NULL), POSENC_ERR_NULL);
    const size_t bad_n[] = { 0, 3, 5, 8, SIZE_MAX };
    for (size_t i = 0; i < sizeof bad_n / sizeof bad_n[0]; i++)
        assert_int_equal(posenc_rope_plan_info(plan, out, bad_n[i], &mscale), POSENC_ERR_SHAPE);
    assert_memory_equal(out, out_before, sizeof out);
    assert_true(mscale == -7.0);
    /* out NULL: n is ignored, mscale still reported. */
    assert_int_equal(posenc_rope_plan_info(plan, NULL, 12345, &mscale), POSENC_OK);
    assert_true(mscale == 1.0);
    assert_int_equal(posenc_rope_plan_info(plan, out, 4, NULL), POSENC_OK);
    assert_true(out[0] == 1.0);
    assert_memory_equal(out + 4, out_before + 4, 4 * sizeof(double));
    assert_int_equal(posenc_rope_plan_axes(NULL), 0);
    assert_int_equal(posenc_rope_plan_axes(plan), 1);
    posenc_rope_plan_destroy(plan);
    posenc_rope_plan_destroy(NULL);
}

/* ================================================================================================ RoPE apply */

/* Every apply-family entry point, called through one argument block so each bad argument is tried on all. */
typedef enum rope_op { OP_APPLY, OP_APPLY_TO, OP_APPLY_QK, OP_SHIFT, OP_APPLY_TABLES, N_OPS } rope_op;
static const char *const op_names[N_OPS] = { "apply", "apply_to", "apply_qk", "shift", "apply_tables" };

typedef struct rope_args {
    const posenc_rope_plan *plan;
    float *x;                      /* apply/shift: x; apply_to/tables: src; qk: q */
    size_t x_token_stride, x_head_stride, n_heads;
    float *y;                      /* apply_to/tables: dst; qk: k; unused otherwise */
    size_t y_token_stride, y_head_stride, n_y_heads;   /* n_y_heads: qk only (others use n_heads) */
    size_t n_tokens;
    const int64_t *positions;
    int64_t start_pos, delta;
    uint32_t flags;
    const float *cos_table, *sin_table;
    size_t table_stride;
} rope_args;

static int op_has_y(rope_op op)
{
    return op == OP_APPLY_TO || op == OP_APPLY_QK || op == OP_APPLY_TABLES;
}

static int op_takes_positions(rope_op op)
{
    return op == OP_APPLY || op == OP_APPLY_TO || op == OP_APPLY_QK;
}

static posenc_status run_op(rope_op op, const rope_args *a)
{
    switch (op) {
    case OP_APPLY:
        return posenc_rope_apply(a->plan, a->x, a->n_tokens, a->n_heads, a->x_token_stride, a->x_head_stride,
                                 a->positions, a->start_pos, a->flags);
    case OP_APPLY_TO:
        return posenc_rope_apply_to(a->plan, a->x, a->x_token_stride, a->x_head_stride, a->y, a->y_token_stride,
                                    a->y_head_stride, a->n_tokens, a->n_heads, a->positions, a->start_pos,
                                    a->flags);
    case OP_APPLY_QK:
        return posenc_rope_apply_qk(a->plan, a->x, a->n_heads, a->x_token_stride, a->x_head_stride, a->y,
                                    a->n_y_heads, a->y_token_stride, a->y_head_stride, a->n_tokens, a->positions,
                                    a->start_pos, a->flags);
    case OP_SHIFT:
        return posenc_rope_shift(a->plan, a->x, a->n_tokens, a->n_heads, a->x_token_stride, a->x_head_stride,
                                 a->delta, a->flags);
    case OP_APPLY_TABLES:
        return posenc_rope_apply_tables(a->plan, a->x, a->x_token_stride, a->x_head_stride, a->y,
                                        a->y_token_stride, a->y_head_stride, a->n_tokens, a->n_heads,
                                        a->cos_table, a->sin_table, a->table_stride, a->flags);
    default:
        return -999;
    }
}

#define HEAD_DIM 8
#define N_TOKENS 3
#define N_HEADS 2
#define X_OFFSET 0
#define Y_OFFSET 256
#define COS_OFFSET 1024
#define SIN_OFFSET 1280

static posenc_rope_plan *plan_half, *plan_partial;

static int rope_setup(void **state)
{
    (void)state;
    plan_half = make_plan(HEAD_DIM, 0, POSENC_ROPE_HALF);
    plan_partial = make_plan(HEAD_DIM, 4, POSENC_ROPE_INTERLEAVED);
    arena_refill();
    return 0;
}

static int rope_teardown(void **state)
{
    (void)state;
    posenc_rope_plan_destroy(plan_half);
    posenc_rope_plan_destroy(plan_partial);
    plan_half = plan_partial = NULL;
    return 0;
}

/* A valid call: 3 tokens x 2 heads x 8, token-major, x and y in separate parts of the arena. */
static rope_args valid_args(void)
{
    rope_args a = {
        .plan = plan_half,
        .x = arena.data + X_OFFSET, .x_token_stride = N_HEADS * HEAD_DIM, .x_head_stride = HEAD_DIM,
        .n_heads = N_HEADS,
        .y = arena.data + Y_OFFSET, .y_token_stride = N_HEADS * HEAD_DIM, .y_head_stride = HEAD_DIM,
        .n_y_heads = N_HEADS,
        .n_tokens = N_TOKENS, .positions = NULL, .start_pos = 5, .delta = 7, .flags = 0,
        .cos_table = arena.data + COS_OFFSET, .sin_table = arena.data + SIN_OFFSET, .table_stride = HEAD_DIM / 2,
    };
    return a;
}

#define EXPECT_OP(op, args, want)                                                                              \
    do {                                                                                                       \
        arena_snapshot();                                                                                      \
        posenc_status got_ = run_op((op), (args));                                                             \
        char what_[96];                                                                                        \
        snprintf(what_, sizeof what_, "posenc_rope_%s", op_names[op]);                                         \
        expect_status_at(got_, (want), arena_untouched(), what_, __FILE__, __LINE__);                          \
    } while (0)

static void test_rope_valid_baseline(void **state)
{
    (void)state;
    for (int op = 0; op < N_OPS; op++) {
        rope_args a = valid_args();
        EXPECT_OP(op, &a, POSENC_OK);
        assert_true(test_guard_ok(&arena));
        a.plan = plan_partial;
        a.table_stride = 2;
        EXPECT_OP(op, &a, POSENC_OK);
    }
}

static void test_rope_null_pointers(void **state)
{
    (void)state;
    for (int op = 0; op < N_OPS; op++) {
        rope_args a = valid_args();
        a.plan = NULL;
        EXPECT_OP(op, &a, POSENC_ERR_NULL);
        a = valid_args();
        a.x = NULL;
        EXPECT_OP(op, &a, POSENC_ERR_NULL);
        if (op_has_y(op)) {
            a = valid_args();
            a.y = NULL;
            EXPECT_OP(op, &a, POSENC_ERR_NULL);
        }
        if (op == OP_APPLY_TABLES) {
            a = valid_args();
            a.cos_table = NULL;
            EXPECT_OP(op, &a, POSENC_ERR_NULL);
            a = valid_args();
            a.sin_table = NULL;
            EXPECT_OP(op, &a, POSENC_ERR_NULL);
        }
    }
}

static void test_rope_zero_heads(void **state)
{
    (void)state;
    for (int op = 0; op < N_OPS; op++) {
        rope_args a = valid_args();
        a.n_heads = 0;
        EXPECT_OP(op, &a, POSENC_ERR_SHAPE);
        if (op == OP_APPLY_QK) {
            a = valid_args();
            a.n_y_heads = 0;
            EXPECT_OP(op, &a, POSENC_ERR_SHAPE);
        }
    }
}

/* Sizes whose products overflow size_t, or whose byte extent exceeds PTRDIFF_MAX. Nothing may be touched: a
 * missed check would write far outside the arena and crash. */
static void test_rope_size_overflow(void **state)
{
    (void)state;
    const size_t beyond_ptrdiff = ((size_t)PTRDIFF_MAX / sizeof(float)) + 1;   /* elements */
    for (int op = 0; op < N_OPS; op++) {
        rope_args a = valid_args();
        a.x_token_stride = SIZE_MAX / 2;
        EXPECT_OP(op, &a, POSENC_ERR_SHAPE);
        a = valid_args();
        a.n_tokens = SIZE_MAX;
        EXPECT_OP(op, &a, POSENC_ERR_SHAPE);
        a = valid_args();
        a.n_tokens = SIZE_MAX / 8;            /* product with the stride overflows */
        EXPECT_OP(op, &a, POSENC_ERR_SHAPE);
        a = valid_args();
        a.n_heads = SIZE_MAX;
        EXPECT_OP(op, &a, POSENC_ERR_SHAPE);
        a = valid_args();
        a.x_head_stride = SIZE_MAX;
        a.x_token_stride = HEAD_DIM;
        EXPECT_OP(op, &a, POSENC_ERR_SHAPE);
        a = valid_args();
        a.x_token_stride = beyond_ptrdiff;   /* fits size_t in elements, not in bytes / ptrdiff_t */
        EXPECT_OP(op, &a, POSENC_ERR_SHAPE);
        a = valid_args();
        a.n_tokens = 2;
        a.x_token_stride = beyond_ptrdiff / 2;   /* sum of offsets and row crosses PTRDIFF_MAX bytes */
        a.x_head_stride = beyond_ptrdiff / 2;
        a.n_heads = 2;
        EXPECT_OP(op, &a, POSENC_ERR_SHAPE);
        if (op_has_y(op)) {
            a = valid_args();
            a.y_token_stride = SIZE_MAX / 2;
            EXPECT_OP(op, &a, POSENC_ERR_SHAPE);
            a = valid_args();
            a.y_head_stride = beyond_ptrdiff;
            a.y_token_stride = 4 * HEAD_DIM;
            EXPECT_OP(op, &a, POSENC_ERR_SHAPE);
        }
        if (op == OP_APPLY_QK) {
            a = valid_args();
            a.n_y_heads = SIZE_MAX;
            EXPECT_OP(op, &a, POSENC_ERR_SHAPE);
        }
        if (op == OP_APPLY_TABLES) {
            a = valid_args();
            a.table_stride = SIZE_MAX / 2;
            EXPECT_OP(op, &a, POSENC_ERR_SHAPE);
            a.table_stride = beyond_ptrdiff;
            EXPECT_OP(op, &a, POSENC_ERR_SHAPE);
        }
    }
}

/* Strides of one tensor (x side or y side) that make head rows or token blocks overlap. */
typedef struct stride_case { size_t token_stride, head_stride; } stride_case;

static const stride_case bad_strides[] = {
    /* token-major ([t][h][e]: token stride >= n_heads*head_dim, head stride >= head_dim) */
    { N_HEADS * HEAD_DIM, HEAD_DIM - 1 },
    { N_HEADS * HEAD_DIM - 1, HEAD_DIM },
    { N_HEADS * HEAD_DIM, 0 },
    { 0, HEAD_DIM },
    { HEAD_DIM + 1, HEAD_DIM + 1 },              /* equal strides: token t+1 head 0 = token t head 1 */
    { 2 * HEAD_DIM + 4, HEAD_DIM + 6 },          /* padded heads: token 1 head 0 overlaps token 0 head 1 */
    /* head-major ([h][t][e]: token stride >= head_dim, head stride >= n_tokens*token stride) */
    { HEAD_DIM, N_TOKENS * HEAD_DIM - 1 },
    { HEAD_DIM - 1, N_TOKENS * HEAD_DIM },
    { 0, N_TOKENS * HEAD_DIM },
    { HEAD_DIM, (N_TOKENS - 1) * HEAD_DIM },     /* last token of head 0 is head 1's first */
    { 2 * HEAD_DIM, 4 * HEAD_DIM },              /* interleaved: token 2 head 0 is token 0 head 1 */
    { 0, 0 },
};

static const stride_case good_strides[] = {
    { N_HEADS * HEAD_DIM, HEAD_DIM },            /* token-major, dense */
    { N_HEADS * HEAD_DIM + 5, HEAD_DIM + 2 },    /* token-major, padded */
    { HEAD_DIM, N_TOKENS * HEAD_DIM },           /* head-major, dense */
    { HEAD_DIM + 1, N_TOKENS * (HEAD_DIM + 1) + 3 },
};

static void test_rope_overlapping_strides(void **state)
{
    (void)state;
    for (int op = 0; op < N_OPS; op++) {
        for (size_t i = 0; i < sizeof bad_strides / sizeof bad_strides[0]; i++) {
            rope_args a = valid_args();
            a.x_token_stride = bad_strides[i].token_stride;
            a.x_head_stride = bad_strides[i].head_stride;
            EXPECT_OP(op, &a, POSENC_ERR_STRIDE);
            if (op_has_y(op)) {
                rope_args b = valid_args();
                b.y_token_stride = a.x_token_stride;
                b.y_head_stride = a.x_head_stride;
                b.n_heads = a.n_heads;
                b.n_y_heads = a.n_y_heads;
                b.x_token_stride = b.n_heads * HEAD_DIM;
                EXPECT_OP(op, &b, POSENC_ERR_STRIDE);
            }
        }
        for (size_t i = 0; i < sizeof good_strides / sizeof good_strides[0]; i++) {
            rope_args a = valid_args();
            a.x_token_stride = a.y_token_stride = good_strides[i].token_stride;
            a.x_head_stride = a.y_head_stride = good_strides[i].head_stride;
            EXPECT_OP(op, &a, POSENC_OK);
        }
        /* A stride is irrelevant when its count is 1. */
        rope_args a = valid_args();
        a.n_heads = a.n_y_heads = 1;
        a.x_head_stride = a.y_head_stride = 0;
        EXPECT_OP(op, &a, POSENC_OK);
        a = valid_args();
        a.n_tokens = 1;
        a.x_token_stride = a.y_token_stride = 0;
        a.table_stride = 0;
        EXPECT_OP(op, &a, POSENC_OK);
        /* Rows are head_dim long even when only part is rotated (the rest is copied). */
        a = valid_args();
        a.plan = plan_partial;
        a.table_stride = 2;
        a.x_head_stride = 4;
        EXPECT_OP(op, &a, POSENC_ERR_STRIDE);
    }
}

static void test_rope_src_dst_overlap(void **state)
{
    (void)state;
    const rope_op ops[] = { OP_APPLY_TO, OP_APPLY_TABLES };
    const size_t extent = (N_TOKENS - 1) * N_HEADS * HEAD_DIM + (N_HEADS - 1) * HEAD_DIM + HEAD_DIM;
    for (size_t k = 0; k < 2; k++) {
        rope_op op = ops[k];
        const ptrdiff_t shifts[] = { 1, 4, HEAD_DIM, (ptrdiff_t)extent - 1, -1, -HEAD_DIM, -(ptrdiff_t)extent + 1 };
        for (size_t i = 0; i < sizeof shifts / sizeof shifts[0]; i++) {
            rope_args a = valid_args();
            a.x = arena.data + 512;
            a.y = a.x + shifts[i];
            EXPECT_OP(op, &a, POSENC_ERR_OVERLAP);
        }
        /* Same pointer, different strides: not in place, and overlapping. */
        rope_args a = valid_args();
        a.y = a.x;
        a.y_token_stride = a.x_token_stride + 1;
        EXPECT_OP(op, &a, POSENC_ERR_OVERLAP);
        a = valid_args();
        a.y = a.x;
        a.y_head_stride = a.x_head_stride + 1;
        a.y_token_stride = 3 * HEAD_DIM;
        EXPECT_OP(op, &a, POSENC_ERR_OVERLAP);
        /* Head-major dst over token-major src at the same address. */
        a = valid_args();
        a.y = a.x;
        a.y_token_stride = HEAD_DIM;
        a.y_head_stride = N_TOKENS * HEAD_DIM;
        EXPECT_OP(op, &a, POSENC_ERR_OVERLAP);
        /* Adjacent, not overlapping: fine. */
        a = valid_args();
        a.y = a.x + extent;
        EXPECT_OP(op, &a, POSENC_OK);
        a = valid_args();
        a.x = arena.data + 512;
        a.y = a.x - extent;
        EXPECT_OP(op, &a, POSENC_OK);
    }
}

static void test_rope_in_place_equal_strides(void **state)
{
    (void)state;
    /* apply_to with dst == src and equal strides is in place and gives apply's bits. */
    const stride_case layouts[] = { { N_HEADS * HEAD_DIM, HEAD_DIM }, { HEAD_DIM, N_TOKENS * HEAD_DIM } };
    for (size_t l = 0; l < 2; l++) {
        float reference[ARENA_FLOATS];
        rope_args a = valid_args();
        a.x_token_stride = a.y_token_stride = layouts[l].token_stride;
        a.x_head_stride = a.y_head_stride = layouts[l].head_stride;
        a.y = a.x;
        memcpy(reference, arena.data, sizeof reference);
        assert_int_equal(posenc_rope_apply(a.plan, reference + X_OFFSET, a.n_tokens, a.n_heads, a.x_token_stride,
                                           a.x_head_stride, NULL, a.start_pos, 0), POSENC_OK);
        EXPECT_OP(OP_APPLY_TO, &a, POSENC_OK);
        assert_memory_equal(arena.data, reference, sizeof reference);
        assert_memory_not_equal(arena.data, arena_before, sizeof arena_before);
        /* Same for apply_tables in place: the x region changes, nothing else. */
        EXPECT_OP(OP_APPLY_TABLES, &a, POSENC_OK);
        assert_memory_equal(arena.data + Y_OFFSET, arena_before + Y_OFFSET,
                            (ARENA_FLOATS - Y_OFFSET) * sizeof(float));
        assert_true(test_guard_ok(&arena));
    }
}

static void test_rope_tables_overlap_and_stride(void **state)
{
    (void)state;
    rope_args a = valid_args();
    a.cos_table = a.y + 3;
    EXPECT_OP(OP_APPLY_TABLES, &a, POSENC_ERR_OVERLAP);
    a = valid_args();
    a.sin_table = a.y + 40;
    EXPECT_OP(OP_APPLY_TABLES, &a, POSENC_ERR_OVERLAP);
    a = valid_args();
    a.sin_table = a.y - 2 * (HEAD_DIM / 2);   /* last token's row reaches into dst */
    EXPECT_OP(OP_APPLY_TABLES, &a, POSENC_ERR_OVERLAP);
    /* Tables overlapping the (read-only) source are fine. */
    a = valid_args();
    a.cos_table = a.x;
    a.sin_table = a.x + 1;
    EXPECT_OP(OP_APPLY_TABLES, &a, POSENC_OK);
    /* table_stride < rotary_dim/2 with more than one token. */
    const size_t bad[] = { 0, 1, HEAD_DIM / 2 - 1 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        a = valid_args();
        a.table_stride = bad[i];
        EXPECT_OP(OP_APPLY_TABLES, &a, POSENC_ERR_STRIDE);
    }
    a = valid_args();
    a.plan = plan_partial;
    a.table_stride = 1;
    EXPECT_OP(OP_APPLY_TABLES, &a, POSENC_ERR_STRIDE);
    a.table_stride = 2;
    EXPECT_OP(OP_APPLY_TABLES, &a, POSENC_OK);
}

static void test_rope_qk_overlap(void **state)
{
    (void)state;
    const size_t q_extent = (N_TOKENS - 1) * N_HEADS * HEAD_DIM + N_HEADS * HEAD_DIM;
    const ptrdiff_t shifts[] = { 0, 1, HEAD_DIM, (ptrdiff_t)q_extent - 1, -1, -(ptrdiff_t)q_extent + 1 };
    for (size_t i = 0; i < sizeof shifts / sizeof shifts[0]; i++) {
        rope_args a = valid_args();
        a.x = arena.data + 512;
        a.y = a.x + shifts[i];
        EXPECT_OP(OP_APPLY_QK, &a, POSENC_ERR_OVERLAP);
    }
    /* k's rows land on q's rows through different strides. */
    rope_args a = valid_args();
    a.y = a.x + HEAD_DIM * N_HEADS;   /* token 1 of q */
    a.y_token_stride = 4 * N_HEADS * HEAD_DIM;
    a.n_y_heads = 1;
    EXPECT_OP(OP_APPLY_QK, &a, POSENC_ERR_OVERLAP);
    /* GQA, adjacent buffers: fine. */
    a = valid_args();
    a.y = a.x + q_extent;
    a.n_y_heads = 1;
    a.y_token_stride = HEAD_DIM;
    EXPECT_OP(OP_APPLY_QK, &a, POSENC_OK);
}

/* Fused QKV (llama.cpp, vLLM): per token [q heads | k heads | v heads] in one buffer. q and k share the token
 * stride and interleave without a common element: valid, and equal to rotating each separately. */
static void test_rope_qk_fused_layout(void **state)
{
    (void)state;
    enum { NQ = 4, NK = 2, NV = 2, T = 5, STRIDE = (NQ + NK + NV) * HEAD_DIM };
    float reference[ARENA_FLOATS];
    memcpy(reference, arena.data, sizeof reference);
    float *q = arena.data + 100, *k = q + NQ * HEAD_DIM;
    rope_args a = valid_args();
    a.x = q;
    a.n_heads = NQ;
    a.x_token_stride = STRIDE;
    a.x_head_stride = HEAD_DIM;
    a.y = k;
    a.n_y_heads = NK;
    a.y_token_stride = STRIDE;
    a.y_head_stride = HEAD_DIM;
    a.n_tokens = T;
    EXPECT_OP(OP_APPLY_QK, &a, POSENC_OK);
    assert_int_equal(posenc_rope_apply(plan_half, reference + 100, T, NQ, STRIDE, HEAD_DIM, NULL, a.start_pos, 0),
                     POSENC_OK);
    assert_int_equal(posenc_rope_apply(plan_half, reference + 100 + NQ * HEAD_DIM, T, NK, STRIDE, HEAD_DIM, NULL,
                                       a.start_pos, 0), POSENC_OK);
    assert_memory_equal(arena.data, reference, sizeof reference);
    /* k reaching one element into the v block of the same token is still fine; one into q's next token is not. */
    a.n_y_heads = NK + NV;
    EXPECT_OP(OP_APPLY_QK, &a, POSENC_OK);
    a.y_head_stride = HEAD_DIM + 1;
    a.n_y_heads = NK + NV;
    a.y = k - 1;
    EXPECT_OP(OP_APPLY_QK, &a, POSENC_ERR_OVERLAP);
    a.y = k;
    a.y_head_stride = HEAD_DIM;
    a.n_y_heads = NK + NV + 1;
    EXPECT_OP(OP_APPLY_QK, &a, POSENC_ERR_OVERLAP);
    /* Out of place from the fused buffer's k part into its v part of the same token (token stride shared). */
    a = valid_args();
    a.x = k;
    a.n_heads = NK;
    a.x_token_stride = a.y_token_stride = STRIDE;
    a.x_head_stride = a.y_head_stride = HEAD_DIM;
    a.y = k + NK * HEAD_DIM;
    a.n_tokens = T;
    EXPECT_OP(OP_APPLY_TO, &a, POSENC_OK);
    a.y = k + NK * HEAD_DIM - 1;
    EXPECT_OP(OP_APPLY_TO, &a, POSENC_ERR_OVERLAP);
}

static void test_rope_unknown_flags(void **state)
{
    (void)state;
    const uint32_t bad[] = { 4, 8, 4 | POSENC_ROPE_INVERSE, 0x80000000u, UINT32_MAX };
    for (int op = 0; op < N_OPS; op++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            rope_args a = valid_args();
            a.flags = bad[i];
            EXPECT_OP(op, &a, POSENC_ERR_ENUM);
        }
        for (uint32_t f = 0; f < 4; f++) {
            rope_args a = valid_args();
            a.flags = f;
            EXPECT_OP(op, &a, POSENC_OK);
        }
    }
}

static void test_rope_positions_array(void **state)
{
    (void)state;
    const int64_t bad[] = { POSENC_MAX_POSITION + 1, -POSENC_MAX_POSITION - 1, INT64_MAX, INT64_MIN,
                            INT64_C(1) << 40, -(INT64_C(1) << 32) };
    for (int op = 0; op < N_OPS; op++) {
        if (!op_takes_positions(op))
            continue;
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            for (size_t t = 0; t < N_TOKENS; t++) {   /* the bad one first, middle, last */
                int64_t positions[N_TOKENS] = { 0, 1, 2 };
                positions[t] = bad[i];
                rope_args a = valid_args();
                a.positions = positions;
                EXPECT_OP(op, &a, POSENC_ERR_RANGE);
            }
        }
        int64_t edges[N_TOKENS] = { POSENC_MAX_POSITION, -POSENC_MAX_POSITION, 0 };
        rope_args a = valid_args();
        a.positions = edges;
        a.start_pos = INT64_MIN;   /* ignored when positions are given */
        EXPECT_OP(op, &a, POSENC_OK);
    }
}

/* Multi-axis plans take n_tokens * axes positions; every axis of every token is range-checked. */
static void test_rope_positions_multi_axis(void **state)
{
    (void)state;
    const struct { int32_t axes; int32_t n_sections; size_t n_axes; } layouts[] = {
        { POSENC_AXES_MROPE, 3, 3 }, { POSENC_AXES_MROPE_INTERLEAVED, 3, 3 }, { POSENC_AXES_VISION_2D, 2, 2 },
    };
    for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++) {
        posenc_rope_config cfg;
        posenc_rope_config_init(&cfg, sizeof cfg);
        cfg.head_dim = HEAD_DIM;
        cfg.axes = layouts[l].axes;
        cfg.n_sections = layouts[l].n_sections;
        cfg.sections[0] = 2;                      /* HEAD_DIM / 2 = 4 pairs */
        cfg.sections[1] = layouts[l].n_sections == 3 ? 1 : 2;
        cfg.sections[2] = layouts[l].n_sections == 3 ? 1 : 0;
        posenc_rope_plan *plan = NULL;
        assert_int_equal(posenc_rope_plan_create(&cfg, &plan), POSENC_OK);
        assert_int_equal(posenc_rope_plan_axes(plan), layouts[l].n_axes);
        const size_t n_values = N_TOKENS * layouts[l].n_axes;
        for (int op = 0; op < N_OPS; op++) {
            if (!op_takes_positions(op))
                continue;
            for (size_t i = 0; i < n_values; i++) {
                int64_t positions[N_TOKENS * 3] = { 0 };
                positions[i] = (i % 2) ? POSENC_MAX_POSITION + 1 : -POSENC_MAX_POSITION - 1;
                rope_args a = valid_args();
                a.plan = plan;
                a.positions = positions;
                EXPECT_OP(op, &a, POSENC_ERR_RANGE);
            }
            int64_t edges[N_TOKENS * 3];
            for (size_t i = 0; i < n_values; i++)
                edges[i] = (i % 2) ? POSENC_MAX_POSITION : -POSENC_MAX_POSITION;
            rope_args a = valid_args();
            a.plan = plan;
            a.positions = edges;
            EXPECT_OP(op, &a, POSENC_OK);
            a.positions = NULL;
            a.start_pos = POSENC_MAX_POSITION - 1;    /* token 2 at 2^31 on every axis */
            EXPECT_OP(op, &a, POSENC_ERR_RANGE);
        }
        rope_args a = valid_args();
        a.plan = plan;
        a.delta = -POSENC_MAX_POSITION - 1;
        EXPECT_OP(OP_SHIFT, &a, POSENC_ERR_RANGE);
        posenc_rope_plan_destroy(plan);
    }
}

static void test_rope_start_pos_range(void **state)
{
    (void)state;
    const struct { int64_t start_pos; size_t n_tokens; } bad[] = {
        { POSENC_MAX_POSITION + 1, 1 }, { -POSENC_MAX_POSITION - 1, 1 }, { INT64_MAX, 1 }, { INT64_MIN, 1 },
        { POSENC_MAX_POSITION, 2 }, { POSENC_MAX_POSITION - 1, 3 }, { INT64_MIN, 3 }, { INT64_MAX - 1, 3 },
    };
    const struct { int64_t start_pos; size_t n_tokens; } good[] = {
        { POSENC_MAX_POSITION, 1 }, { POSENC_MAX_POSITION - 2, 3 }, { -POSENC_MAX_POSITION, 3 }, { -1, 3 },
    };
    for (int op = 0; op < N_OPS; op++) {
        if (!op_takes_positions(op))
            continue;
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            rope_args a = valid_args();
            a.start_pos = bad[i].start_pos;
            a.n_tokens = bad[i].n_tokens;
            EXPECT_OP(op, &a, POSENC_ERR_RANGE);
        }
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
            rope_args a = valid_args();
            a.start_pos = good[i].start_pos;
            a.n_tokens = good[i].n_tokens;
            EXPECT_OP(op, &a, POSENC_OK);
        }
    }
}

static void test_rope_shift_delta_range(void **state)
{
    (void)state;
    const int64_t bad[] = { POSENC_MAX_POSITION + 1, -POSENC_MAX_POSITION - 1, INT64_MAX, INT64_MIN };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rope_args a = valid_args();
        a.delta = bad[i];
        EXPECT_OP(OP_SHIFT, &a, POSENC_ERR_RANGE);
        a.flags = POSENC_ROPE_INVERSE;
        EXPECT_OP(OP_SHIFT, &a, POSENC_ERR_RANGE);
    }
    const int64_t good[] = { POSENC_MAX_POSITION, -POSENC_MAX_POSITION, 0 };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        rope_args a = valid_args();
        a.delta = good[i];
        EXPECT_OP(OP_SHIFT, &a, POSENC_OK);
    }
}

static void test_rope_zero_tokens(void **state)
{
    (void)state;
    for (int op = 0; op < N_OPS; op++) {
        rope_args a = valid_args();
        a.n_tokens = 0;
        arena_snapshot();
        assert_int_equal(run_op(op, &a), POSENC_OK);
        assert_true(arena_untouched());
        /* Token strides do not matter without tokens; a positions pointer is not read. */
        a.x_token_stride = a.y_token_stride = 0;
        a.positions = (const int64_t *)(uintptr_t)8;
        a.table_stride = 0;
        assert_int_equal(run_op(op, &a), POSENC_OK);
        assert_true(arena_untouched());
    }
}

/* ================================================================================================ ALiBi slopes */

static void test_alibi_slopes_errors(void **state)
{
    (void)state;
    float *slopes = arena.data;
    EXPECT(posenc_alibi_slopes(8, 8.0f, NULL), POSENC_ERR_NULL);
    EXPECT(posenc_alibi_slopes(0, 8.0f, slopes), POSENC_ERR_SHAPE);
    EXPECT(posenc_alibi_slopes(0, 8.0f, NULL), POSENC_ERR_NULL);
    const float bad[] = { NAN, INFINITY, -INFINITY, 0.0f, -0.0f, -1.0f, -8.0f };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EXPECT(posenc_alibi_slopes(8, bad[i], slopes), POSENC_ERR_PARAM);
    EXPECT(posenc_alibi_slopes(8, 8.0f, slopes), POSENC_OK);
    assert_true(slopes[0] == 0.5f && slopes[7] == 1.0f / 256.0f);
    assert_memory_equal(arena.data + 8, arena_before + 8, (ARENA_FLOATS - 8) * sizeof(float));
    EXPECT(posenc_alibi_slopes(1, 1e-30f, slopes), POSENC_OK);
}

/* ================================================================================================ softmax */

typedef struct softmax_args {
    posenc_softmax_desc desc;
    const posenc_softmax_desc *desc_ptr;   /* NULL tests; else &desc */
    const float *src;
    size_t src_head_stride, src_row_stride;
    float *dst;
    size_t dst_head_stride, dst_row_stride;
    size_t n_heads, n_rows, n_cols;
} softmax_args;

#define SM_HEADS 2
#define SM_ROWS 3
#define SM_COLS 5
#define SM_SRC 0
#define SM_DST 256
#define SM_MASK 512
#define SM_SLOPES 768
#define SM_SINKS 800

static softmax_args valid_softmax(void)
{
    softmax_args a;
    posenc_softmax_desc_init(&a.desc, sizeof a.desc);
    a.desc.position = POSENC_POSITION_CAUSAL;
    a.desc.slopes_mode = POSENC_SLOPES_ALIBI;
    a.desc.scale = 0.125f;
    a.desc.q_pos0 = 2;
    a.desc_ptr = NULL;
    a.src = arena.data + SM_SRC;
    a.src_head_stride = SM_ROWS * SM_COLS;
    a.src_row_stride = SM_COLS;
    a.dst = arena.data + SM_DST;
    a.dst_head_stride = SM_ROWS * SM_COLS;
    a.dst_row_stride = SM_COLS;
    a.n_heads = SM_HEADS;
    a.n_rows = SM_ROWS;
    a.n_cols = SM_COLS;
    return a;
}

static int softmax_setup(void **state)
{
    (void)state;
    arena_refill();
    for (size_t h = 0; h < 16; h++) {
        arena.data[SM_SLOPES + h] = 0.25f;
        arena.data[SM_SINKS + h] = 0.5f;
    }
    return 0;
}

static posenc_status run_softmax(const softmax_args *a, int null_desc)
{
    return posenc_softmax(null_desc ? NULL : &a->desc, a->src, a->src_head_stride, a->src_row_stride, a->dst,
                          a->dst_head_stride, a->dst_row_stride, a->n_heads, a->n_rows, a->n_cols);
}

#define EXPECT_SOFTMAX(args, want) EXPECT(run_softmax(&(args), 0), (want))

static void test_softmax_valid_baseline(void **state)
{
    (void)state;
    softmax_args a = valid_softmax();
    EXPECT_SOFTMAX(a, POSENC_OK);
    a.desc.mask = arena.data + SM_MASK;
    a.desc.mask_row_stride = SM_COLS;
    a.desc.sinks = arena.data + SM_SINKS;
    a.desc.slopes_mode = POSENC_SLOPES_CUSTOM;
    a.desc.slopes = arena.data + SM_SLOPES;
    EXPECT_SOFTMAX(a, POSENC_OK);
    assert_true(test_guard_ok(&arena));
}

static void test_softmax_null_pointers(void **state)
{
    (void)state;
    softmax_args a = valid_softmax();
    EXPECT(run_softmax(&a, 1), POSENC_ERR_NULL);
    a.src = NULL;
    EXPECT_SOFTMAX(a, POSENC_ERR_NULL);
    a = valid_softmax();
    a.dst = NULL;
    EXPECT_SOFTMAX(a, POSENC_ERR_NULL);
    a = valid_softmax();
    a.desc.slopes_mode = POSENC_SLOPES_CUSTOM;
    a.desc.slopes = NULL;
    EXPECT_SOFTMAX(a, POSENC_ERR_NULL);
    a.desc.position = POSENC_POSITION_NONE;
    EXPECT_SOFTMAX(a, POSENC_ERR_NULL);
}

static void test_softmax_struct_size(void **state)
{
    (void)state;
    const uint32_t bad[] = { 0, 4, (uint32_t)sizeof(posenc_softmax_desc) - 8, (uint32_t)sizeof(posenc_softmax_desc) - 1,
                             (uint32_t)sizeof(posenc_softmax_desc) + 8, UINT32_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        softmax_args a = valid_softmax();
        a.desc.struct_size = bad[i];
        EXPECT_SOFTMAX(a, POSENC_ERR_STRUCT_SIZE);
    }
}

static void test_softmax_shape(void **state)
{
    (void)state;
    const size_t beyond_ptrdiff = ((size_t)PTRDIFF_MAX / sizeof(float)) + 1;
    softmax_args a = valid_softmax();
    a.n_heads = 0;
    EXPECT_SOFTMAX(a, POSENC_ERR_SHAPE);
    a.n_rows = 0;
    EXPECT_SOFTMAX(a, POSENC_ERR_SHAPE);
    a = valid_softmax();
    a.n_cols = (size_t)INT32_MAX + 1;
    a.n_rows = 1;
    a.n_heads = 1;
    EXPECT_SOFTMAX(a, POSENC_ERR_SHAPE);
    a.n_cols = SIZE_MAX;
    EXPECT_SOFTMAX(a, POSENC_ERR_SHAPE);
    a = valid_softmax();
    a.n_rows = SIZE_MAX;
    EXPECT_SOFTMAX(a, POSENC_ERR_SHAPE);
    a = valid_softmax();
    a.n_heads = SIZE_MAX / 4;
    EXPECT_SOFTMAX(a, POSENC_ERR_SHAPE);
    a = valid_softmax();
    a.src_head_stride = SIZE_MAX / 2;
    EXPECT_SOFTMAX(a, POSENC_ERR_SHAPE);
    a = valid_softmax();
    a.dst_head_stride = beyond_ptrdiff;
    EXPECT_SOFTMAX(a, POSENC_ERR_SHAPE);
    a = valid_softmax();
    a.src_row_stride = beyond_ptrdiff / 2;
    a.src_head_stride = beyond_ptrdiff;
    EXPECT_SOFTMAX(a, POSENC_ERR_SHAPE);
    a = valid_softmax();
    a.desc.mask = arena.data + SM_MASK;
    a.desc.mask_row_stride = SIZE_MAX / 2;
    EXPECT_SOFTMAX(a, POSENC_ERR_SHAPE);
    a.desc.mask_row_stride = SM_COLS;
    a.desc.mask_head_stride = beyond_ptrdiff;
    EXPECT_SOFTMAX(a, POSENC_ERR_SHAPE);
}

static void test_softmax_strides(void **state)
{
    (void)state;
    /* [h][r][c] layout broken on each side, and [r][h][c] (head stride n_cols, row stride n_heads*n_cols). */
    const struct { size_t head_stride, row_stride; } bad[] = {
        { SM_ROWS * SM_COLS, SM_COLS - 1 }, { SM_ROWS * SM_COLS, 0 }, { SM_ROWS * SM_COLS - 1, SM_COLS },
        { 0, SM_COLS }, { SM_COLS, SM_COLS }, { SM_COLS - 1, SM_HEADS * SM_COLS }, { SM_COLS, SM_HEADS * SM_COLS - 1 },
        { 0, 0 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        softmax_args a = valid_softmax();
        a.src_head_stride = bad[i].head_stride;
        a.src_row_stride = bad[i].row_stride;
        EXPECT_SOFTMAX(a, POSENC_ERR_STRIDE);
        a = valid_softmax();
        a.dst_head_stride = bad[i].head_stride;
        a.dst_row_stride = bad[i].row_stride;
        EXPECT_SOFTMAX(a, POSENC_ERR_STRIDE);
    }
    /* Row-major over heads ([r][h][c]) and padded layouts are fine; so are strides of single rows/heads. */
    softmax_args a = valid_softmax();
    a.src_head_stride = a.dst_head_stride = SM_COLS;
    a.src_row_stride = a.dst_row_stride = SM_HEADS * SM_COLS;
    EXPECT_SOFTMAX(a, POSENC_OK);
    a = valid_softmax();
    a.src_row_stride = 7;
    a.src_head_stride = 40;
    EXPECT_SOFTMAX(a, POSENC_OK);
    a = valid_softmax();
    a.n_rows = 1;
    a.src_row_stride = a.dst_row_stride = 0;
    EXPECT_SOFTMAX(a, POSENC_OK);
    a = valid_softmax();
    a.n_heads = 1;
    a.src_head_stride = a.dst_head_stride = 0;
    EXPECT_SOFTMAX(a, POSENC_OK);
}

static void test_softmax_mask_strides(void **state)
{
    (void)state;
    softmax_args a = valid_softmax();
    a.desc.mask = arena.data + SM_MASK;
    /* Row stride shorter than a row (but not the broadcast 0). */
    const size_t bad_row[] = { 1, SM_COLS - 1 };
    for (size_t i = 0; i < sizeof bad_row / sizeof bad_row[0]; i++) {
        a.desc.mask_row_stride = bad_row[i];
        a.desc.mask_head_stride = 0;
        EXPECT_SOFTMAX(a, POSENC_ERR_STRIDE);
    }
    /* Per-head masks whose blocks overlap (head stride not 0 but inside one head's block). */
    a.desc.mask_row_stride = SM_COLS;
    a.desc.mask_head_stride = SM_ROWS * SM_COLS - 1;
    EXPECT_SOFTMAX(a, POSENC_ERR_STRIDE);
    a.desc.mask_head_stride = 1;
    EXPECT_SOFTMAX(a, POSENC_ERR_STRIDE);
    /* Valid: shared by heads (0), one row broadcast over rows (row stride 0), per head broadcast rows. */
    const struct { size_t row_stride, head_stride; } good[] = {
        { SM_COLS, 0 }, { SM_COLS, SM_ROWS * SM_COLS }, { 0, 0 }, { 0, SM_COLS }, { SM_COLS + 3, 64 },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        a.desc.mask_row_stride = good[i].row_stride;
        a.desc.mask_head_stride = good[i].head_stride;
        EXPECT_SOFTMAX(a, POSENC_OK);
    }
    /* A single row needs no row stride. */
    a = valid_softmax();
    a.desc.mask = arena.data + SM_MASK;
    a.n_rows = 1;
    a.desc.mask_row_stride = 1;
    EXPECT_SOFTMAX(a, POSENC_OK);
}

static void test_softmax_overlap(void **state)
{
    (void)state;
    const size_t extent = (SM_HEADS - 1) * SM_ROWS * SM_COLS + (SM_ROWS - 1) * SM_COLS + SM_COLS;
    const ptrdiff_t shifts[] = { 1, SM_COLS, (ptrdiff_t)extent - 1, -1, -(ptrdiff_t)extent + 1 };
    for (size_t i = 0; i < sizeof shifts / sizeof shifts[0]; i++) {
        softmax_args a = valid_softmax();
        a.src = arena.data + 400;
        a.dst = arena.data + 400 + shifts[i];
        EXPECT_SOFTMAX(a, POSENC_ERR_OVERLAP);
    }
    softmax_args a = valid_softmax();
    a.dst = arena.data + SM_SRC;
    a.dst_row_stride = SM_COLS + 1;
    a.dst_head_stride = 40;
    EXPECT_SOFTMAX(a, POSENC_ERR_OVERLAP);
    a = valid_softmax();
    a.dst = arena.data + SM_SRC;
    a.dst_head_stride = 40;
    EXPECT_SOFTMAX(a, POSENC_ERR_OVERLAP);
    /* The mask is read while dst is written. */
    a = valid_softmax();
    a.desc.mask = a.dst + 2;
    a.desc.mask_row_stride = SM_COLS;
    EXPECT_SOFTMAX(a, POSENC_ERR_OVERLAP);
    a.desc.mask = a.dst - SM_COLS + 1;
    a.desc.mask_head_stride = 0;
    EXPECT_SOFTMAX(a, POSENC_ERR_OVERLAP);
    /* In place with identical strides, and adjacent buffers, are fine. */
    a = valid_softmax();
    a.dst = arena.data + SM_SRC;
    EXPECT_SOFTMAX(a, POSENC_OK);
    a = valid_softmax();
    a.dst = arena.data + SM_SRC + extent;
    EXPECT_SOFTMAX(a, POSENC_OK);
    a.desc.mask = a.src;   /* mask may alias the (read-only) source */
    a.desc.mask_row_stride = SM_COLS;
    EXPECT_SOFTMAX(a, POSENC_OK);
}

static void test_softmax_enums(void **state)
{
    (void)state;
    const int32_t bad[] = { -1, 3, 99, INT32_MIN, INT32_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        softmax_args a = valid_softmax();
        a.desc.position = bad[i];
        EXPECT_SOFTMAX(a, POSENC_ERR_ENUM);
        a = valid_softmax();
        a.desc.slopes_mode = bad[i];
        EXPECT_SOFTMAX(a, POSENC_ERR_ENUM);
        a = valid_softmax();
        a.desc.reserved0 = bad[i];
        EXPECT_SOFTMAX(a, POSENC_ERR_ENUM);
    }
    softmax_args a = valid_softmax();
    a.desc.reserved0 = 1;
    EXPECT_SOFTMAX(a, POSENC_ERR_ENUM);
}

static void test_softmax_params(void **state)
{
    (void)state;
    const float non_finite[] = { NAN, -NAN, INFINITY, -INFINITY };
    for (size_t i = 0; i < 4; i++) {
        softmax_args a = valid_softmax();
        a.desc.scale = non_finite[i];
        EXPECT_SOFTMAX(a, POSENC_ERR_PARAM);
        a = valid_softmax();
        a.desc.max_bias = non_finite[i];
        EXPECT_SOFTMAX(a, POSENC_ERR_PARAM);
    }
    const float non_positive[] = { 0.0f, -0.0f, -1.0f };
    for (size_t i = 0; i < 3; i++) {
        softmax_args a = valid_softmax();
        a.desc.max_bias = non_positive[i];
        EXPECT_SOFTMAX(a, POSENC_ERR_PARAM);
        a.desc.position = POSENC_POSITION_SYMMETRIC;
        EXPECT_SOFTMAX(a, POSENC_ERR_PARAM);
    }
    /* A bad custom slope or sink in the last head is found too. */
    for (size_t i = 0; i < 4; i++) {
        for (size_t h = 0; h < SM_HEADS; h++) {
            softmax_setup(NULL);
            softmax_args a = valid_softmax();
            a.desc.slopes_mode = POSENC_SLOPES_CUSTOM;
            a.desc.slopes = arena.data + SM_SLOPES;
            arena.data[SM_SLOPES + h] = non_finite[i];
            EXPECT_SOFTMAX(a, POSENC_ERR_PARAM);
        }
    }
    const float bad_sinks[] = { NAN, -NAN, INFINITY };
    for (size_t i = 0; i < 3; i++) {
        for (size_t h = 0; h < SM_HEADS; h++) {
            softmax_setup(NULL);
            softmax_args a = valid_softmax();
            a.desc.sinks = arena.data + SM_SINKS;
            arena.data[SM_SINKS + h] = bad_sinks[i];
            EXPECT_SOFTMAX(a, POSENC_ERR_PARAM);
        }
    }
    /* Valid: zero and negative scale, a -inf sink (no sink), any finite slope. */
    softmax_setup(NULL);
    softmax_args a = valid_softmax();
    a.desc.scale = 0.0f;
    EXPECT_SOFTMAX(a, POSENC_OK);
    a.desc.scale = -2.0f;
    a.desc.sinks = arena.data + SM_SINKS;
    arena.data[SM_SINKS] = -INFINITY;
    EXPECT_SOFTMAX(a, POSENC_OK);
    a.desc.slopes_mode = POSENC_SLOPES_CUSTOM;
    a.desc.slopes = arena.data + SM_SLOPES;
    arena.data[SM_SLOPES] = -3.0f;
    arena.data[SM_SLOPES + 1] = 0.0f;
    EXPECT_SOFTMAX(a, POSENC_OK);
}

static void test_softmax_position_range(void **state)
{
    (void)state;
    const int64_t bad[] = { -1, INT64_MIN, POSENC_MAX_POSITION + 1, INT64_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        softmax_args a = valid_softmax();
        a.desc.q_pos0 = bad[i];
        EXPECT_SOFTMAX(a, POSENC_ERR_RANGE);
        a = valid_softmax();
        a.desc.k_pos0 = bad[i];
        EXPECT_SOFTMAX(a, POSENC_ERR_RANGE);
        a.desc.position = POSENC_POSITION_NONE;   /* positions are checked whatever the mode */
        a.desc.slopes_mode = POSENC_SLOPES_NONE;
        EXPECT_SOFTMAX(a, POSENC_ERR_RANGE);
    }
    /* Rows / columns running past the maximum position. */
    softmax_args a = valid_softmax();
    a.desc.q_pos0 = POSENC_MAX_POSITION - SM_ROWS + 2;
    EXPECT_SOFTMAX(a, POSENC_ERR_RANGE);
    a.desc.q_pos0 = POSENC_MAX_POSITION - SM_ROWS + 1;
    EXPECT_SOFTMAX(a, POSENC_OK);
    a = valid_softmax();
    a.desc.k_pos0 = POSENC_MAX_POSITION - SM_COLS + 2;
    EXPECT_SOFTMAX(a, POSENC_ERR_RANGE);
    a.desc.k_pos0 = POSENC_MAX_POSITION - SM_COLS + 1;
    a.desc.q_pos0 = POSENC_MAX_POSITION - SM_ROWS + 1;
    EXPECT_SOFTMAX(a, POSENC_OK);
    a.desc.position = POSENC_POSITION_SYMMETRIC;
    a.desc.q_pos0 = 0;   /* |d| up to 2^31 - 1 - (n_cols - 1): fits */
    EXPECT_SOFTMAX(a, POSENC_OK);
}

static void test_softmax_empty(void **state)
{
    (void)state;
    softmax_args a = valid_softmax();
    a.n_rows = 0;
    EXPECT_SOFTMAX(a, POSENC_OK);
    assert_true(arena_untouched());
    a = valid_softmax();
    a.n_cols = 0;
    EXPECT_SOFTMAX(a, POSENC_OK);
    assert_true(arena_untouched());
    /* Strides do not matter for an empty tensor. */
    a.src_row_stride = a.dst_row_stride = 0;
    a.src_head_stride = a.dst_head_stride = 0;
    EXPECT_SOFTMAX(a, POSENC_OK);
    assert_true(arena_untouched());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_distinct_sentences),
        cmocka_unit_test(test_version_queries),
        cmocka_unit_test(test_isa_queries_out_of_range),
        cmocka_unit_test(test_set_isa_errors),
        cmocka_unit_test(test_rope_config_init_errors),
        cmocka_unit_test(test_softmax_desc_init_errors),
        cmocka_unit_test(test_plan_create_null_and_struct_size),
        cmocka_unit_test(test_plan_create_dims),
        cmocka_unit_test(test_plan_create_enums),
        cmocka_unit_test(test_plan_create_base),
#ifdef CAN_FAIL_ALLOCATIONS
        cmocka_unit_test(test_plan_create_nomem),   /* not under ASan: its allocator must see every block */
#endif
        cmocka_unit_test(test_plan_info_errors),
        cmocka_unit_test_setup_teardown(test_rope_valid_baseline, rope_setup, rope_teardown),
        cmocka_unit_test_setup_teardown(test_rope_null_pointers, rope_setup, rope_teardown),
        cmocka_unit_test_setup_teardown(test_rope_zero_heads, rope_setup, rope_teardown),
        cmocka_unit_test_setup_teardown(test_rope_size_overflow, rope_setup, rope_teardown),
        cmocka_unit_test_setup_teardown(test_rope_overlapping_strides, rope_setup, rope_teardown),
        cmocka_unit_test_setup_teardown(test_rope_src_dst_overlap, rope_setup, rope_teardown),
        cmocka_unit_test_setup_teardown(test_rope_in_place_equal_strides, rope_setup, rope_teardown),
        cmocka_unit_test_setup_teardown(test_rope_tables_overlap_and_stride, rope_setup, rope_teardown),
        cmocka_unit_test_setup_teardown(test_rope_qk_overlap, rope_setup, rope_teardown),
        cmocka_unit_test_setup_teardown(test_rope_qk_fused_layout, rope_setup, rope_teardown),
        cmocka_unit_test_setup_teardown(test_rope_unknown_flags, rope_setup, rope_teardown),
        cmocka_unit_test_setup_teardown(test_rope_positions_array, rope_setup, rope_teardown),
        cmocka_unit_test_setup_teardown(test_rope_positions_multi_axis, rope_setup, rope_teardown),
        cmocka_unit_test_setup_teardown(test_rope_start_pos_range, rope_setup, rope_teardown),
        cmocka_unit_test_setup_teardown(test_rope_shift_delta_range, rope_setup, rope_teardown),
        cmocka_unit_test_setup_teardown(test_rope_zero_tokens, rope_setup, rope_teardown),
        cmocka_unit_test_setup(test_alibi_slopes_errors, softmax_setup),
        cmocka_unit_test_setup(test_softmax_valid_baseline, softmax_setup),
        cmocka_unit_test_setup(test_softmax_null_pointers, softmax_setup),
        cmocka_unit_test_setup(test_softmax_struct_size, softmax_setup),
        cmocka_unit_test_setup(test_softmax_shape, softmax_setup),
        cmocka_unit_test_setup(test_softmax_strides, softmax_setup),
        cmocka_unit_test_setup(test_softmax_mask_strides, softmax_setup),
        cmocka_unit_test_setup(test_softmax_overlap, softmax_setup),
        cmocka_unit_test_setup(test_softmax_enums, softmax_setup),
        cmocka_unit_test_setup(test_softmax_params, softmax_setup),
        cmocka_unit_test_setup(test_softmax_position_range, softmax_setup),
        cmocka_unit_test_setup(test_softmax_empty, softmax_setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
