/* test_errors_rope.c - every status of the RoPE entry points (config init, plan creation per scheme and axes,
 * the apply family), and proof that a failed call leaves its outputs untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <float.h>
#include <stdint.h>

#include <cmocka.h>

#include "errors_common.h"
#include "oracle.h"

/* ---- failing allocations, for POSENC_ERR_NOMEM: the executable's calloc/malloc interpose the library's (glibc
 * exports its own as __libc_calloc/__libc_malloc). Not under a sanitizer that replaces the allocator (ASan, TSan,
 * MSan): it must see every block. gcc announces them with __SANITIZE_*__, clang 14 only through __has_feature. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_OWNS_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define SANITIZER_OWNS_ALLOCATOR 1
#endif
#endif
#if defined(__GLIBC__) && !defined(SANITIZER_OWNS_ALLOCATOR)
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

/* ================================================================================================ config init */

static void test_rope_config_init_errors(void **state)
{
    (void)state;
    assert_int_equal(posenc_rope_config_init(NULL, sizeof(posenc_rope_config)), POSENC_ERR_NULL);
    /* Room past the struct so an oversized request that wrongly writes would be seen. */
    unsigned char buf[sizeof(posenc_rope_config) + 64], want[sizeof buf];
    memset(buf, 0xab, sizeof buf);
    memcpy(want, buf, sizeof buf);
    const size_t bad[] = { 0, 1, 4, POSENC_ROPE_CONFIG_SIZE_V1 - 8, POSENC_ROPE_CONFIG_SIZE_V1 + 4, sizeof(posenc_rope_config) - 1,
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


/* ================================================================================================ plans */

/* Creating from cfg must fail with `want` and leave *plan_out as it was. */
static void expect_plan_error_at(const posenc_rope_config *cfg, posenc_status want, const char *what,
                                 const char *file, int line)
{
    posenc_rope_plan *sentinel = (posenc_rope_plan *)(uintptr_t)0x5eed;
    posenc_rope_plan *plan = sentinel;
    posenc_status got = posenc_rope_plan_create(cfg, &plan);
    if (got == POSENC_OK && plan != sentinel)
        posenc_rope_plan_destroy(plan);
    expect_status_at(got, want, plan == sentinel, what, file, line);
}
#define EXPECT_PLAN_ERROR(cfg, want) \
    expect_plan_error_at((cfg), (want), "posenc_rope_plan_create", __FILE__, __LINE__)
/* The same with a description of the bad field. */
#define EXPECT_PLAN_ERROR_WHAT(cfg, want, what) expect_plan_error_at((cfg), (want), (what), __FILE__, __LINE__)

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


/* Issue 9.5: positions are read token by token while earlier tokens' rows are written; positions overlapping a
 * tensor the call writes (x, dst, q or k) are POSENC_ERR_OVERLAP. Overlapping a read-only source is fine. */
static int64_t *positions_at(float *where)
{
    uintptr_t p = (uintptr_t)where;
    return (int64_t *)(p + (p % 8 ? 8 - p % 8 : 0));   /* int64-aligned, at most one float further */
}

static void test_rope_positions_overlap_output(void **state)
{
    (void)state;
    const size_t extent = (N_TOKENS - 1) * N_HEADS * HEAD_DIM + N_HEADS * HEAD_DIM;
    const size_t offsets[] = { 0, HEAD_DIM, extent - 2 * N_TOKENS - 1, extent - 3 };
    for (int op = 0; op < N_OPS; op++) {
        if (!op_takes_positions(op))
            continue;
        for (int target = 0; target < (op == OP_APPLY_QK ? 2 : 1); target++) {
            for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
                rope_args a = valid_args();
                float *written = op == OP_APPLY ? a.x : target == 0 && op == OP_APPLY_QK ? a.x : a.y;
                int64_t *positions = positions_at(written + offsets[i]);
                for (size_t t = 0; t < N_TOKENS; t++)
                    positions[t] = (int64_t)t;
                a.positions = positions;
                EXPECT_OP(op, &a, POSENC_ERR_OVERLAP);
            }
        }
        /* Just past the written tensors, and (out of place) inside the read-only source: fine. */
        rope_args a = valid_args();
        float *after = (op == OP_APPLY ? a.x : a.y) + extent + 1;
        int64_t *positions = positions_at(after);
        for (size_t t = 0; t < N_TOKENS; t++)
            positions[t] = (int64_t)t;
        a.positions = positions;
        EXPECT_OP(op, &a, POSENC_OK);
        if (op == OP_APPLY_TO) {
            a = valid_args();
            positions = positions_at(a.x + 5);
            for (size_t t = 0; t < N_TOKENS; t++)
                positions[t] = (int64_t)t;
            a.positions = positions;
            EXPECT_OP(op, &a, POSENC_OK);
        }
    }
}

/* ================================================================================================ schemes */

/* rotary_dim/2 at most. */
#define MAX_PAIRS (POSENC_MAX_HEAD_DIM / 2)

static posenc_rope_config make_config(uint32_t head_dim, uint32_t rotary_dim, int32_t pairing, double base,
                                      int32_t scaling)
{
    posenc_rope_config cfg;
    assert_int_equal(posenc_rope_config_init(&cfg, sizeof cfg), POSENC_OK);
    cfg.head_dim = head_dim;
    cfg.rotary_dim = rotary_dim;
    cfg.pairing = pairing;
    cfg.base = base;
    cfg.scaling = scaling;
    return cfg;
}

static void set_sections(posenc_rope_config *cfg, int32_t axes, int32_t n, int32_t s0, int32_t s1, int32_t s2)
{
    cfg->axes = axes;
    cfg->n_sections = n;
    cfg->sections[0] = s0;
    cfg->sections[1] = s1;
    cfg->sections[2] = s2;
    cfg->sections[3] = 0;
}

static posenc_rope_plan *create_plan(const posenc_rope_config *cfg)
{
    posenc_rope_plan *plan = NULL;
    assert_int_equal(posenc_rope_plan_create(cfg, &plan), POSENC_OK);
    assert_non_null(plan);
    return plan;
}

static double plan_mscale(const posenc_rope_config *cfg)
{
    posenc_rope_plan *plan = create_plan(cfg);
    double mscale = 0.0;
    assert_int_equal(posenc_rope_plan_info(plan, NULL, 0, &mscale), POSENC_OK);
    posenc_rope_plan_destroy(plan);
    return mscale;
}

/* Per-pair lists shaped like Phi-3's (short near 1, long rising to ~60) and ggml rope_freqs. */
static double short_factors[MAX_PAIRS], long_factors[MAX_PAIRS], divisors[MAX_PAIRS];

static int schemes_setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < MAX_PAIRS; i++) {
        short_factors[i] = 1.0 + 0.01 * (double)(i % 17);
        long_factors[i] = 1.0 + 59.0 * (double)(i * i % 2304) / 2304.0;
        divisors[i] = 0.5 + (double)(test_rand_u64() % 1000) / 100.0;
    }
    return 0;
}

#define BAD(cfg_expr, field_assignment, want)                                                             \
    do {                                                                                                  \
        posenc_rope_config bad_cfg = (cfg_expr);                                                          \
        bad_cfg.field_assignment;                                                                         \
        EXPECT_PLAN_ERROR_WHAT(&bad_cfg, (want), #field_assignment);                                      \
    } while (0)

static const double bad_numbers[] = { NAN, INFINITY, -INFINITY, 0.0, -1.0 };
#define N_BAD_NUMBERS (sizeof bad_numbers / sizeof bad_numbers[0])

static posenc_rope_config good_yarn(void)
{
    posenc_rope_config c = make_config(128, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_YARN);
    c.factor = 4.0;
    c.original_max_position = 4096;
    return c;
}

static posenc_rope_config good_llama3(void)
{
    posenc_rope_config c = make_config(128, 0, POSENC_ROPE_HALF, 500000.0, POSENC_SCALING_LLAMA3);
    c.factor = 8.0;
    c.original_max_position = 8192;
    return c;
}

static posenc_rope_config good_longrope(void)
{
    posenc_rope_config c = make_config(96, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_LONGROPE);
    c.short_factors = short_factors;
    c.long_factors = long_factors;
    c.factor = 32.0;
    c.original_max_position = 4096;
    return c;
}

static posenc_rope_config good_dynamic(void)
{
    posenc_rope_config c = make_config(128, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_DYNAMIC_NTK);
    c.factor = 2.0;
    c.original_max_position = 2048;
    return c;
}

static posenc_rope_config with_scaling(int32_t scaling, double factor)
{
    posenc_rope_config c = make_config(64, 0, POSENC_ROPE_HALF, 10000.0, scaling);
    c.factor = factor;
    if (scaling == POSENC_SCALING_FREQ_FACTORS)
        c.freq_factors = divisors;
    return c;
}

static posenc_rope_config with_axes(int32_t axes, int32_t n, int32_t s0, int32_t s1, int32_t s2)
{
    posenc_rope_config c = make_config(128, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_NONE);
    set_sections(&c, axes, n, s0, s1, s2);
    return c;
}

static void test_scheme_base_and_enums(void **state)
{
    (void)state;
    posenc_rope_config c = make_config(64, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_NONE);
    for (size_t i = 0; i < N_BAD_NUMBERS; i++)
        BAD(c, base = bad_numbers[i], POSENC_ERR_PARAM);
    BAD(c, base = 1.0, POSENC_ERR_PARAM);                /* base^(-x) would be constant 1 */
    BAD(c, base = 0.5, POSENC_ERR_PARAM);
    BAD(c, scaling = 8, POSENC_ERR_ENUM);
    BAD(c, scaling = -1, POSENC_ERR_ENUM);
    BAD(c, scaling = INT32_MAX, POSENC_ERR_ENUM);
    BAD(c, axes = 4, POSENC_ERR_ENUM);
    BAD(c, axes = -1, POSENC_ERR_ENUM);
    /* every scaling scheme checks the base too */
    for (int32_t s = POSENC_SCALING_LINEAR; s <= POSENC_SCALING_FREQ_FACTORS; s++) {
        posenc_rope_config g = s == POSENC_SCALING_YARN ? good_yarn() : s == POSENC_SCALING_LLAMA3 ? good_llama3()
                             : s == POSENC_SCALING_LONGROPE ? good_longrope()
                             : s == POSENC_SCALING_DYNAMIC_NTK ? good_dynamic() : with_scaling(s, 2.0);
        posenc_rope_plan *plan = create_plan(&g);       /* the good configs are good */
        posenc_rope_plan_destroy(plan);
        BAD(g, base = NAN, POSENC_ERR_PARAM);
    }
}

static void test_scheme_linear_ntk_dynamic(void **state)
{
    (void)state;
    int32_t schemes[] = { POSENC_SCALING_LINEAR, POSENC_SCALING_NTK, POSENC_SCALING_DYNAMIC_NTK };
    for (size_t k = 0; k < 3; k++) {
        posenc_rope_config c = schemes[k] == POSENC_SCALING_DYNAMIC_NTK ? good_dynamic()
                                                                        : with_scaling(schemes[k], 2.0);
        for (size_t i = 0; i < N_BAD_NUMBERS; i++)
            BAD(c, factor = bad_numbers[i], POSENC_ERR_PARAM);
        BAD(c, factor = 0.5, POSENC_ERR_PARAM);          /* documented range: factor >= 1 */
    }
    /* the NTK exponent R/(R-2) needs rotary_dim > 2 */
    posenc_rope_config c = with_scaling(POSENC_SCALING_NTK, 2.0);
    BAD(c, rotary_dim = 2, POSENC_ERR_PARAM);
    c = good_dynamic();
    BAD(c, rotary_dim = 2, POSENC_ERR_PARAM);
    for (size_t i = 0; i < N_BAD_NUMBERS; i++)
        BAD(c, original_max_position = bad_numbers[i], POSENC_ERR_PARAM);
    BAD(c, sequence_length = NAN, POSENC_ERR_PARAM);
    BAD(c, sequence_length = INFINITY, POSENC_ERR_PARAM);
    BAD(c, sequence_length = -1.0, POSENC_ERR_PARAM);
}

static void test_scheme_yarn(void **state)
{
    (void)state;
    posenc_rope_config c = good_yarn();
    for (size_t i = 0; i < N_BAD_NUMBERS; i++) {
        BAD(c, factor = bad_numbers[i], POSENC_ERR_PARAM);
        BAD(c, original_max_position = bad_numbers[i], POSENC_ERR_PARAM);
        BAD(c, beta_fast = bad_numbers[i], POSENC_ERR_PARAM);
        BAD(c, beta_slow = bad_numbers[i], POSENC_ERR_PARAM);
    }
    BAD(c, factor = 0.5, POSENC_ERR_PARAM);
    BAD(c, beta_fast = 0.5, POSENC_ERR_PARAM);           /* beta_fast < beta_slow */
    double negative_or_nonfinite[] = { NAN, INFINITY, -INFINITY, -1.0 };
    for (size_t i = 0; i < 4; i++) {
        BAD(c, attention_factor = negative_or_nonfinite[i], POSENC_ERR_PARAM);
        BAD(c, mscale = negative_or_nonfinite[i], POSENC_ERR_PARAM);
        BAD(c, mscale_all_dim = negative_or_nonfinite[i], POSENC_ERR_PARAM);
    }
    /* huge but finite factors stay valid: DeepSeek's ratio is exactly 1 here */
    c.mscale = 1.0;
    c.mscale_all_dim = 1.0;
    c.factor = 1e300;
    assert_true(plan_mscale(&c) == 1.0);
}

static void test_scheme_llama3(void **state)
{
    (void)state;
    posenc_rope_config c = good_llama3();
    for (size_t i = 0; i < N_BAD_NUMBERS; i++) {
        BAD(c, factor = bad_numbers[i], POSENC_ERR_PARAM);
        BAD(c, original_max_position = bad_numbers[i], POSENC_ERR_PARAM);
        BAD(c, low_freq_factor = bad_numbers[i], POSENC_ERR_PARAM);
        BAD(c, high_freq_factor = bad_numbers[i], POSENC_ERR_PARAM);
    }
    BAD(c, factor = 0.5, POSENC_ERR_PARAM);
    BAD(c, high_freq_factor = 1.0, POSENC_ERR_PARAM);    /* high == low: the smooth band divides by 0 */
    BAD(c, low_freq_factor = 5.0, POSENC_ERR_PARAM);     /* high < low */
}

static void test_scheme_longrope_and_freq_factors(void **state)
{
    (void)state;
    posenc_rope_config c = good_longrope();
    BAD(c, short_factors = NULL, POSENC_ERR_NULL);
    c.use_long_factors = 1;
    BAD(c, long_factors = NULL, POSENC_ERR_NULL);
    c.use_long_factors = 0;
    BAD(c, use_long_factors = 2, POSENC_ERR_ENUM);
    BAD(c, use_long_factors = -1, POSENC_ERR_ENUM);
    for (size_t i = 0; i < N_BAD_NUMBERS; i++)
        BAD(c, factor = bad_numbers[i], POSENC_ERR_PARAM);
    double bad_orig[] = { NAN, INFINITY, 0.0, -5.0, 1.0 };   /* ln(original_max) must be > 0 */
    for (size_t i = 0; i < 5; i++)
        BAD(c, original_max_position = bad_orig[i], POSENC_ERR_PARAM);
    BAD(c, attention_factor = -1.0, POSENC_ERR_PARAM);
    BAD(c, attention_factor = NAN, POSENC_ERR_PARAM);

    /* one bad entry anywhere in the list in use (first, middle, last) */
    double list[48];
    size_t where[] = { 0, 23, 47 };
    for (size_t w = 0; w < 3; w++) {
        for (size_t i = 0; i < N_BAD_NUMBERS; i++) {
            memcpy(list, short_factors, sizeof list);
            list[where[w]] = bad_numbers[i];
            posenc_rope_config s = good_longrope();
            s.short_factors = list;
            EXPECT_PLAN_ERROR_WHAT(&s, POSENC_ERR_PARAM, "bad short factor");
            s.short_factors = short_factors;         /* a bad unused list is not read */
            s.long_factors = list;
            posenc_rope_plan *plan = create_plan(&s);
            posenc_rope_plan_destroy(plan);
            s.use_long_factors = 1;
            EXPECT_PLAN_ERROR_WHAT(&s, POSENC_ERR_PARAM, "bad long factor");

            posenc_rope_config f = make_config(96, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_FREQ_FACTORS);
            f.freq_factors = list;
            EXPECT_PLAN_ERROR_WHAT(&f, POSENC_ERR_PARAM, "bad freq factor");
        }
    }
    posenc_rope_config f = make_config(96, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_FREQ_FACTORS);
    EXPECT_PLAN_ERROR_WHAT(&f, POSENC_ERR_NULL, "freq_factors NULL");
    f.freq_factors = (const double[]){ 1e-320 };   /* omega / tiny overflows to inf: refused */
    f.head_dim = 2;
    EXPECT_PLAN_ERROR_WHAT(&f, POSENC_ERR_PARAM, "freq factor that overflows omega");
    f.head_dim = 4;                                /* 1e300^(-1/2) / 1e308 underflows to 0: refused */
    f.base = 1e300;
    f.freq_factors = (const double[]){ 1.0, 1e308 };
    EXPECT_PLAN_ERROR_WHAT(&f, POSENC_ERR_PARAM, "freq factor that underflows omega");
}

static void test_scheme_sections(void **state)
{
    (void)state;
    int32_t layouts[] = { POSENC_AXES_MROPE, POSENC_AXES_MROPE_INTERLEAVED };
    for (size_t k = 0; k < 2; k++) {
        int32_t a = layouts[k];
        posenc_rope_config ok = with_axes(a, 3, 16, 24, 24);
        posenc_rope_plan *plan = create_plan(&ok);
        posenc_rope_plan_destroy(plan);
        posenc_rope_config c = with_axes(a, 3, 16, 24, 24);
        BAD(c, n_sections = 2, POSENC_ERR_PARAM);
        BAD(c, n_sections = 4, POSENC_ERR_PARAM);
        BAD(c, n_sections = 0, POSENC_ERR_PARAM);
        BAD(c, n_sections = -3, POSENC_ERR_PARAM);
        BAD(c, sections[2] = 23, POSENC_ERR_PARAM);      /* sum 63 */
        BAD(c, sections[0] = 17, POSENC_ERR_PARAM);      /* sum 65 */
        c = with_axes(a, 3, 70, -6, 0);                  /* sums to 64 with a negative entry */
        EXPECT_PLAN_ERROR_WHAT(&c, POSENC_ERR_PARAM, "negative section");
        c = with_axes(a, 3, INT32_MAX, INT32_MAX, 2);    /* sum overflows int32 */
        EXPECT_PLAN_ERROR_WHAT(&c, POSENC_ERR_PARAM, "huge sections");
        c = with_axes(a, 3, 64, 0, 0);                   /* empty sections are fine */
        plan = create_plan(&c);
        posenc_rope_plan_destroy(plan);
        c = with_axes(a, 3, 16, 24, 24);
        c.rotary_dim = 64;                               /* sections cover rotary_dim/2, not head_dim/2 */
        EXPECT_PLAN_ERROR_WHAT(&c, POSENC_ERR_PARAM, "sections vs rotary_dim");
    }
    posenc_rope_config v = with_axes(POSENC_AXES_VISION_2D, 2, 32, 32, 0);
    posenc_rope_plan *plan = create_plan(&v);
    posenc_rope_plan_destroy(plan);
    v.sections[2] = 99;                                  /* past n_sections: ignored */
    plan = create_plan(&v);
    posenc_rope_plan_destroy(plan);
    BAD(v, n_sections = 3, POSENC_ERR_PARAM);
    BAD(v, sections[1] = 31, POSENC_ERR_PARAM);
    v = with_axes(POSENC_AXES_VISION_2D, 2, 66, -2, 0);
    EXPECT_PLAN_ERROR_WHAT(&v, POSENC_ERR_PARAM, "negative vision section");
    /* vision restarts the exponent per section: only schemes that act per pair combine with it */
    int32_t refused[] = { POSENC_SCALING_NTK, POSENC_SCALING_DYNAMIC_NTK, POSENC_SCALING_YARN,
                          POSENC_SCALING_LLAMA3, POSENC_SCALING_LONGROPE };
    for (size_t k = 0; k < 5; k++) {
        posenc_rope_config g = refused[k] == POSENC_SCALING_YARN ? good_yarn()
                             : refused[k] == POSENC_SCALING_LLAMA3 ? good_llama3()
                             : refused[k] == POSENC_SCALING_DYNAMIC_NTK ? good_dynamic()
                             : refused[k] == POSENC_SCALING_LONGROPE ? good_longrope()
                             : with_scaling(refused[k], 2.0);
        g.head_dim = 128;
        g.rotary_dim = 0;
        set_sections(&g, POSENC_AXES_VISION_2D, 2, 32, 32, 0);
        EXPECT_PLAN_ERROR_WHAT(&g, POSENC_ERR_PARAM, "vision with a global-index scheme");
    }
}

/* ---- issue 9.3: frequencies the angle reduction cannot carry ------------------------------------------------
 * The reduction (numerics.h) computes k = round(theta * 2/pi) in double: t's rounding (2^-53) and the constant
 * 2/pi (6.2e-17) can put k one off, so |r| reaches pi/4 + |theta| * 1.73e-16, and the float polynomials are
 * accurate within pi/4 only. A divisor of 1e-8 (w = 1e8) gave garbage at 2^31 - 1, 1e-300 an infinite angle
 * and NaN; even w = 1.6e6, where t still fits the 2^51 rounding range, errs by 5e-6. POSENC_MAX_FREQUENCY = 2^19
 * keeps |r| <= 0.98 (polynomial error <= 4.6e-7). */

/* Divisors so that the plan's w_i = base^(-2i/R) / divisor_i lands on target_i, or on the nearest double below
 * it when the division cannot hit it exactly (above it when `above`). */
static void divisors_for(double base, size_t n_pairs, const double *target, int above, double *divisor)
{
    for (size_t i = 0; i < n_pairs; i++) {
        double w = pow(base, -2.0 * (double)i / (double)(2 * n_pairs));
        double d = w / target[i];
        while (above ? !(w / d > target[i]) : w / d > target[i])
            d = nextafter(d, above ? 0.0 : INFINITY);
        divisor[i] = d;
    }
}

static posenc_status frequency_plan(double base, size_t n_pairs, const double *divisor, posenc_rope_plan **plan)
{
    posenc_rope_config cfg = make_config((uint32_t)(2 * n_pairs), 0, POSENC_ROPE_HALF, base,
                                         POSENC_SCALING_FREQ_FACTORS);
    cfg.freq_factors = divisor;
    *plan = NULL;
    return posenc_rope_plan_create(&cfg, plan);
}

/* Largest per-head error against the float64 oracle over positions at and near +-POSENC_MAX_POSITION, on every
 * variant this CPU runs. Pairs whose x entries are zero do not count (`skip_pair0` zeroes pair 0). */
static double max_error_at_edges(const posenc_rope_plan *plan, size_t n_pairs, int skip_pair0)
{
    const int64_t P = POSENC_MAX_POSITION;
    const int64_t positions[] = { P, -P, P - 1, -(P - 1), P - 2, (INT64_C(1) << 30) + 1, 3, -3, 1, 0,
                                  P - 12345, -(P - 98765) };
    const size_t head_dim = 2 * n_pairs;
    double omega[MAX_PAIRS];
    assert_int_equal(posenc_rope_plan_info(plan, omega, n_pairs, NULL), POSENC_OK);
    float x[2 * MAX_PAIRS], y[2 * MAX_PAIRS];
    double y64[2 * MAX_PAIRS], pos[MAX_PAIRS];
    test_fill(x, head_dim, -1.0f, 1.0f);
    if (skip_pair0)
        x[0] = x[n_pairs] = 0.0f;
    char before[32];
    snprintf(before, sizeof before, "%s", posenc_isa());
    double worst = 0.0;
    for (size_t v = 0; v < posenc_isa_count(); v++) {
        if (!posenc_isa_supported(v))
            continue;
        assert_int_equal(posenc_set_isa(posenc_isa_name(v)), POSENC_OK);
        for (size_t k = 0; k < sizeof positions / sizeof positions[0]; k++) {
            assert_int_equal(posenc_rope_apply_to(plan, x, head_dim, head_dim, y, head_dim, head_dim, 1, 1,
                                                  &positions[k], 0, 0), POSENC_OK);
            for (size_t i = 0; i < n_pairs; i++)
                pos[i] = (double)positions[k];
            oracle_rope_head(x, head_dim, head_dim, 0, omega, pos, 1.0, 1.0, y64);
            double e = oracle_rel_l2(y, y64, head_dim);
            if (!(e <= worst))
                worst = e;   /* NaN sticks */
        }
    }
    assert_int_equal(posenc_set_isa(before), POSENC_OK);
    return worst;
}

/* The same for a one-pair plan over every position within `window` of +-POSENC_MAX_POSITION: the quotient's
 * misrounding shows only where theta * 2/pi lies near a half-integer, so the edge needs many positions. */
static double max_error_near_edges(const posenc_rope_plan *plan, int64_t window)
{
    double omega;
    assert_int_equal(posenc_rope_plan_info(plan, &omega, 1, NULL), POSENC_OK);
    const float x[2] = { 0.6f, 0.8f };
    char before[32];
    snprintf(before, sizeof before, "%s", posenc_isa());
    double worst = 0.0;
    for (size_t v = 0; v < posenc_isa_count(); v++) {
        if (!posenc_isa_supported(v))
            continue;
        assert_int_equal(posenc_set_isa(posenc_isa_name(v)), POSENC_OK);
        for (int64_t d = 0; d < window; d++) {
            for (int sign = -1; sign <= 1; sign += 2) {
                int64_t p = sign * (POSENC_MAX_POSITION - d);
                float y[2];
                assert_int_equal(posenc_rope_apply_to(plan, x, 2, 2, y, 2, 2, 1, 1, &p, 0, 0), POSENC_OK);
                double pos = (double)p, y64[2];
                oracle_rope_head(x, 2, 2, 0, &omega, &pos, 1.0, 1.0, y64);
                double e = oracle_rel_l2(y, y64, 2);
                if (!(e <= worst))
                    worst = e;
            }
        }
    }
    assert_int_equal(posenc_set_isa(before), POSENC_OK);
    return worst;
}

static void test_scheme_frequency_bound(void **state)
{
    (void)state;
    const double W = POSENC_MAX_FREQUENCY;
    assert_true(W == 0x1p19);
    /* The analysis behind it: |theta| <= 2^50, so |r| <= pi/4 + 2^50 * (2^-53 + 6.2e-17) < 0.99. */
    assert_true((double)POSENC_MAX_POSITION * W <= 0x1p50);
    assert_true(0.7853981633974483 + 0x1p50 * (0x1p-53 + 6.2e-17) < 0.99);

    /* The largest accepted frequency, in one pair and in 32 pairs (vector paths of every variant), rotates
     * within the documented 1e-6 at +-(2^31 - 1). */
    const size_t pair_counts[] = { 1, 32, 37 };
    for (size_t c = 0; c < sizeof pair_counts / sizeof pair_counts[0]; c++) {
        size_t n = pair_counts[c];
        double target[MAX_PAIRS], divisor[MAX_PAIRS];
        for (size_t i = 0; i < n; i++)
            target[i] = i % 2 ? W * (1.0 - 1e-9 * (double)i) : W;
        divisors_for(10000.0, n, target, 0, divisor);
        posenc_rope_plan *plan;
        assert_int_equal(frequency_plan(10000.0, n, divisor, &plan), POSENC_OK);
        double omega[MAX_PAIRS];
        assert_int_equal(posenc_rope_plan_info(plan, omega, n, NULL), POSENC_OK);
        assert_true(omega[0] == W);
        double e = max_error_at_edges(plan, n, 0);
        if (n == 1)
            e = fmax(e, max_error_near_edges(plan, 40000));
        fprintf(stderr, "# w = POSENC_MAX_FREQUENCY, %zu pairs: max error %.3g near +-(2^31 - 1)\n", n, e);
        assert_true(e <= 1e-6);
        posenc_rope_plan_destroy(plan);
        /* One pair a single ulp above the edge: refused. */
        for (size_t bad = 0; bad < n; bad += n > 1 ? n - 1 : 1) {
            double above[MAX_PAIRS];
            memcpy(above, divisor, sizeof above);
            double one_target = W, one_divisor;
            divisors_for(1.0, 1, &one_target, 1, &one_divisor);     /* 1 / d > W */
            double w = pow(10000.0, -2.0 * (double)bad / (double)(2 * n));
            above[bad] = w * one_divisor;
            while (!(w / above[bad] > W))
                above[bad] = nextafter(above[bad], 0.0);
            posenc_rope_config cfg = make_config((uint32_t)(2 * n), 0, POSENC_ROPE_HALF, 10000.0,
                                                 POSENC_SCALING_FREQ_FACTORS);
            cfg.freq_factors = above;
            EXPECT_PLAN_ERROR_WHAT(&cfg, POSENC_ERR_PARAM, "a frequency one ulp above POSENC_MAX_FREQUENCY");
            if (n == 1)
                break;
        }
    }

    /* The audit's divisors 1e-8 (w = 1e8: garbage at 2^31 - 1) and 1e-300 (an infinite angle), w = 2^20 and the
     * old 2^51 rounding edge, in FREQ_FACTORS and in both LongRoPE lists, at the first or the last pair. */
    const double tiny[] = { 1e-8, 1e-300, 1.0 / (2.0 * W), 1.0 / 1647099.3, 5e-324 };
    for (size_t t = 0; t < sizeof tiny / sizeof tiny[0]; t++) {
        for (size_t where = 0; where < 2; where++) {
            double list[32];
            for (size_t i = 0; i < 32; i++)
                list[i] = 1.0;
            list[where ? 31 : 0] = tiny[t] * (where ? pow(10000.0, -62.0 / 64.0) : 1.0);   /* w = 1 / tiny */
            posenc_rope_config f = make_config(64, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_FREQ_FACTORS);
            f.freq_factors = list;
            EXPECT_PLAN_ERROR_WHAT(&f, POSENC_ERR_PARAM, "freq factor making w > POSENC_MAX_FREQUENCY");
            posenc_rope_config l = make_config(64, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_LONGROPE);
            l.factor = 2.0;
            l.original_max_position = 4096;
            l.short_factors = list;
            l.long_factors = long_factors;
            EXPECT_PLAN_ERROR_WHAT(&l, POSENC_ERR_PARAM, "short LongRoPE factor making w too large");
            l.short_factors = short_factors;
            l.long_factors = list;
            l.use_long_factors = 1;
            EXPECT_PLAN_ERROR_WHAT(&l, POSENC_ERR_PARAM, "long LongRoPE factor making w too large");
        }
    }

    /* The whole accepted range, one power of two at a time down to the smallest subnormal: accepted and
     * accurate at the edges. Normal w = 2^k through one pair and divisor 2^-k; subnormal w through pair 1 of
     * base 2^1000 (w_1 = 2^-500), pair 0 zeroed so only pair 1 counts. */
    double worst = 0.0;
    for (int k = 19; k >= -1074; k--) {
        posenc_rope_plan *plan;
        double divisor[2];
        size_t n_pairs = k >= -1022 ? 1 : 2;
        if (n_pairs == 1) {
            divisor[0] = ldexp(1.0, -k);
            assert_int_equal(frequency_plan(10000.0, 1, divisor, &plan), POSENC_OK);
        } else {
            divisor[0] = 1.0;
            divisor[1] = ldexp(1.0, -500 - k);
            assert_int_equal(frequency_plan(0x1p1000, 2, divisor, &plan), POSENC_OK);
        }
        double omega[2];
        assert_int_equal(posenc_rope_plan_info(plan, omega, n_pairs, NULL), POSENC_OK);
        assert_true(omega[n_pairs - 1] == ldexp(1.0, k));
        double e = max_error_at_edges(plan, n_pairs, n_pairs == 2);
        if (!(e <= worst))
            worst = e;
        if (!(e <= 1e-6))
            fprintf(stderr, "w = 2^%d: error %.3g\n", k, e);
        assert_true(e <= 1e-6);
        posenc_rope_plan_destroy(plan);
    }
    fprintf(stderr, "# w = 2^19 .. 2^-1074: max error %.3g at +-(2^31 - 1)\n", worst);
}

/* Issue 9.4: the magnitude factor is checked in double but used as a float: attention_factor 1e39 made the float
 * mscale inf, 1e-300 made it 0. The float mscale must be finite, positive and normal, whichever way it arises
 * (attention_factor, DeepSeek's ratio, LongRoPE's sqrt). */
static void test_scheme_magnitude_in_float(void **state)
{
    (void)state;
    const double flt_max = (double)FLT_MAX, flt_min = (double)FLT_MIN;
    /* Values whose float is inf, 0 or subnormal. FLT_MAX + 2^103 (half its ulp) is the tie that rounds to inf. */
    const double bad[] = { 1e39, 3.5e38, flt_max + 0x1p103, 1e300, DBL_MAX, 1e-300, 1e-39, 1e-45,
                           nextafter(flt_min, 0.0) * 0.75, DBL_TRUE_MIN };
    /* Edges that stay normal floats: FLT_MAX + 2^102 rounds down to FLT_MAX; just under FLT_MIN rounds up. */
    const double good[] = { flt_max, flt_max + 0x1p102, flt_min, flt_min * (1.0 - 0x1p-26), 1.0, 1e-30 };
    posenc_rope_config configs[2] = { good_yarn(), good_longrope() };
    for (size_t c = 0; c < 2; c++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            BAD(configs[c], attention_factor = bad[i], POSENC_ERR_PARAM);
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
            posenc_rope_config g = configs[c];
            g.attention_factor = good[i];
            assert_true(plan_mscale(&g) == good[i]);   /* reported in double, as given */
        }
    }
    /* DeepSeek's ratio g(mscale) / g(mscale_all_dim), g(m) = 0.1 m ln(factor) + 1, overflowing or vanishing as a
     * float although both fields are finite. */
    posenc_rope_config y = good_yarn();
    y.mscale = 1e300;
    y.mscale_all_dim = 1.0;
    EXPECT_PLAN_ERROR_WHAT(&y, POSENC_ERR_PARAM, "DeepSeek ratio above FLT_MAX");
    y.mscale = 1.0;
    y.mscale_all_dim = 1e300;
    EXPECT_PLAN_ERROR_WHAT(&y, POSENC_ERR_PARAM, "DeepSeek ratio below FLT_MIN");
    y.mscale = 1e30;                       /* ratio ~1.2e29: a normal float */
    y.mscale_all_dim = 1.0;
    posenc_rope_plan_destroy(create_plan(&y));
    /* The derived defaults stay normal floats for every finite factor. */
    y = good_yarn();
    y.factor = DBL_MAX;
    posenc_rope_plan_destroy(create_plan(&y));
    posenc_rope_config l = good_longrope();
    l.factor = DBL_MAX;
    l.original_max_position = nextafter(1.0, 2.0);   /* ln(original) = 2.2e-16: mscale = sqrt(1 + 3.2e18) */
    assert_true(plan_mscale(&l) < 2e9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rope_config_init_errors),
        cmocka_unit_test(test_plan_create_null_and_struct_size),
        cmocka_unit_test(test_plan_create_dims),
        cmocka_unit_test(test_plan_create_enums),
        cmocka_unit_test(test_plan_create_base),
#ifdef CAN_FAIL_ALLOCATIONS
        cmocka_unit_test(test_plan_create_nomem),   /* not under ASan: its allocator must see every block */
#endif
        cmocka_unit_test(test_plan_info_errors),
        cmocka_unit_test_setup(test_scheme_base_and_enums, schemes_setup),
        cmocka_unit_test_setup(test_scheme_linear_ntk_dynamic, schemes_setup),
        cmocka_unit_test_setup(test_scheme_yarn, schemes_setup),
        cmocka_unit_test_setup(test_scheme_llama3, schemes_setup),
        cmocka_unit_test_setup(test_scheme_longrope_and_freq_factors, schemes_setup),
        cmocka_unit_test_setup(test_scheme_sections, schemes_setup),
        cmocka_unit_test_setup(test_scheme_frequency_bound, schemes_setup),
        cmocka_unit_test_setup(test_scheme_magnitude_in_float, schemes_setup),
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
        cmocka_unit_test_setup_teardown(test_rope_positions_overlap_output, rope_setup, rope_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
