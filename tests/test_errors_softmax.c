/* test_errors_softmax.c - every status of the softmax entry points (desc init, ALiBi slopes, posenc_softmax),
 * and proof that a failed call leaves its outputs untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <float.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "errors_common.h"

/* ================================================================================================ desc init */

static void test_softmax_desc_init_errors(void **state)
{
    (void)state;
    assert_int_equal(posenc_softmax_desc_init(NULL, sizeof(posenc_softmax_desc)), POSENC_ERR_NULL);
    unsigned char buf[sizeof(posenc_softmax_desc) + 64], want[sizeof buf];
    memset(buf, 0xcd, sizeof buf);
    memcpy(want, buf, sizeof buf);
    const size_t bad[] = { 0, 1, 4, POSENC_SOFTMAX_DESC_SIZE_V1 - 8, POSENC_SOFTMAX_DESC_SIZE_V1 + 4, sizeof(posenc_softmax_desc) - 1,
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
    assert_int_equal(desc.mask_dtype, POSENC_F32);
    assert_int_equal(desc.precision, POSENC_SOFTMAX_EXACT);
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

/* Issue 9.2: n_heads >= 2^63 made the search for the largest power of two <= n_heads wrap and loop for ever.
 * A slopes array of n_heads floats cannot exceed PTRDIFF_MAX bytes, so such counts are POSENC_ERR_SHAPE; every
 * call must return promptly (SIGALRM ends the test if one hangs). */
static void test_alibi_slopes_huge_counts(void **state)
{
    (void)state;
    float *slopes = arena.data;
    const size_t too_many = (size_t)PTRDIFF_MAX / sizeof(float) + 1;
    const size_t huge[] = { (size_t)1 << 63, ((size_t)1 << 63) + 1, SIZE_MAX, SIZE_MAX - 1, (size_t)1 << 62,
                            too_many, too_many + 1 };
    alarm(10);
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        EXPECT(posenc_alibi_slopes(huge[i], 8.0f, slopes), POSENC_ERR_SHAPE);
        EXPECT(posenc_alibi_slopes(huge[i], 1.0f, slopes), POSENC_ERR_SHAPE);
    }
    alarm(0);
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
    const uint32_t bad[] = { 0, 4, (uint32_t)POSENC_SOFTMAX_DESC_SIZE_V1 - 8, (uint32_t)POSENC_SOFTMAX_DESC_SIZE_V1 + 4, (uint32_t)sizeof(posenc_softmax_desc) - 1,
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
    const int32_t bad[] = { -1, 5, 99, INT32_MIN, INT32_MAX };   /* positions 3, 4: the grids (0.2) */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        softmax_args a = valid_softmax();
        a.desc.position = bad[i];
        EXPECT_SOFTMAX(a, POSENC_ERR_ENUM);
        a = valid_softmax();
        a.desc.slopes_mode = bad[i] == 5 ? 3 : bad[i];
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

/* Issue 9.1: an empty call (n_rows or n_cols 0) bounds no extent, so n_heads bounds nothing either: the slopes
 * and sinks arrays are not read (they were validated for all n_heads heads, reading past a 4-entry array, and
 * with n_heads = SIZE_MAX running off the address space). The scalar fields are still validated. */
static void test_softmax_empty_reads_no_arrays(void **state)
{
    (void)state;
    float *four = malloc(4 * sizeof(float));   /* exactly 4 entries: ASan sees any read past them */
    assert_non_null(four);
    for (size_t h = 0; h < 4; h++)
        four[h] = 0.25f;
    /* Past the 4 valid entries of the arena's lists sits a NaN: a read that strays there is refused. */
    arena.data[SM_SLOPES + 4] = NAN;
    arena.data[SM_SINKS + 4] = NAN;
    const size_t heads[] = { 5, 1000, SIZE_MAX / 4, SIZE_MAX };
    for (size_t k = 0; k < sizeof heads / sizeof heads[0]; k++) {
        for (int empty = 0; empty < 2; empty++) {
            for (int list = 0; list < 4; list++) {
                softmax_args a = valid_softmax();
                a.n_heads = heads[k];
                if (empty == 0)
                    a.n_rows = 0;
                else
                    a.n_cols = 0;
                const float *values = list < 2 ? four : arena.data + (list == 2 ? SM_SLOPES : SM_SINKS);
                if (list % 2 == 0) {
                    a.desc.slopes_mode = POSENC_SLOPES_CUSTOM;
                    a.desc.slopes = values;
                } else {
                    a.desc.sinks = values;
                }
                EXPECT_SOFTMAX(a, POSENC_OK);
                assert_true(arena_untouched());
            }
        }
    }
    free(four);
    /* What an empty call can check without reading an array it still checks. */
    softmax_args a = valid_softmax();
    a.n_rows = 0;
    a.n_heads = SIZE_MAX;
    a.desc.sinks = arena.data + SM_SINKS;
    a.desc.scale = NAN;
    EXPECT_SOFTMAX(a, POSENC_ERR_PARAM);
    a.desc.scale = 1.0f;
    a.desc.position = 7;
    EXPECT_SOFTMAX(a, POSENC_ERR_ENUM);
    a.desc.position = POSENC_POSITION_CAUSAL;
    a.desc.q_pos0 = -1;
    EXPECT_SOFTMAX(a, POSENC_ERR_RANGE);
    a.desc.q_pos0 = 0;
    a.desc.slopes_mode = POSENC_SLOPES_CUSTOM;
    a.desc.slopes = NULL;
    EXPECT_SOFTMAX(a, POSENC_ERR_NULL);
    a.desc.slopes_mode = POSENC_SLOPES_ALIBI;
    a.desc.max_bias = 0.0f;
    EXPECT_SOFTMAX(a, POSENC_ERR_PARAM);
    a.n_heads = 0;
    a.desc.max_bias = 8.0f;
    EXPECT_SOFTMAX(a, POSENC_ERR_SHAPE);
}

/* Issue 9.4: max_bias is a float, and so is every slope it makes. The smallest slope is 2^-max_bias (head c-1),
 * so max_bias <= 126 keeps every slope a normal float; 1e38 made slopes of 0 (the bias silently vanished). */
static void test_alibi_slopes_float_range(void **state)
{
    (void)state;
    float *slopes = arena.data;
    const float bad[] = { nextafterf(126.0f, INFINITY), 127.0f, 149.0f, 150.0f, 1000.0f, 1e38f, FLT_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT(posenc_alibi_slopes(8, bad[i], slopes), POSENC_ERR_PARAM);
        EXPECT(posenc_alibi_slopes(1, bad[i], slopes), POSENC_ERR_PARAM);
        softmax_args a = valid_softmax();
        a.desc.max_bias = bad[i];
        EXPECT_SOFTMAX(a, POSENC_ERR_PARAM);
        a.desc.position = POSENC_POSITION_SYMMETRIC;
        EXPECT_SOFTMAX(a, POSENC_ERR_PARAM);
        a.n_rows = 0;                          /* a scalar field: checked by an empty call too */
        EXPECT_SOFTMAX(a, POSENC_ERR_PARAM);
    }
    /* At the edge every slope of every head count is a normal float in (0, 1), the smallest exactly 2^-126. */
    const float edge[] = { 126.0f, 125.5f, 1e-30f, FLT_MIN, FLT_TRUE_MIN };
    for (size_t e = 0; e < sizeof edge / sizeof edge[0]; e++) {
        for (size_t n = 1; n <= 300; n += n < 40 ? 1 : 37) {
            EXPECT(posenc_alibi_slopes(n, edge[e], slopes), POSENC_OK);
            float smallest = 1.0f;
            for (size_t h = 0; h < n; h++) {
                assert_true(fpclassify(slopes[h]) == FP_NORMAL && slopes[h] > 0.0f && slopes[h] <= 1.0f);
                smallest = fminf(smallest, slopes[h]);
            }
            if (edge[e] == 126.0f && n > 1)
                assert_true(smallest == FLT_MIN);
        }
        softmax_args a = valid_softmax();
        a.desc.max_bias = edge[e];
        EXPECT_SOFTMAX(a, POSENC_OK);
    }
}

/* Issue 9.5: custom slopes and sinks are read head by head after earlier heads wrote dst, so an overlap with
 * dst made the result depend on the order of writes (they were validated before and read after). Refused like
 * the mask; overlapping the read-only src out of place is fine. */
static void test_softmax_head_arrays_overlap_dst(void **state)
{
    (void)state;
    const size_t extent = (SM_HEADS - 1) * SM_ROWS * SM_COLS + (SM_ROWS - 1) * SM_COLS + SM_COLS;
    const ptrdiff_t inside[] = { 0, 1, SM_COLS, (ptrdiff_t)extent - 1, -(ptrdiff_t)SM_HEADS + 1 };
    for (int in_place = 0; in_place < 2; in_place++) {
        for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++) {
            for (int list = 0; list < 2; list++) {
                softmax_setup(NULL);
                softmax_args a = valid_softmax();
                if (in_place)
                    a.src = a.dst;
                float *at = a.dst + inside[i];
                for (size_t h = 0; h < SM_HEADS; h++)
                    at[h] = 0.5f;            /* valid values: only the overlap is wrong */
                if (list == 0) {
                    a.desc.sinks = at;
                } else {
                    a.desc.slopes_mode = POSENC_SLOPES_CUSTOM;
                    a.desc.slopes = at;
                }
                EXPECT_SOFTMAX(a, POSENC_ERR_OVERLAP);
            }
        }
    }
    /* Adjacent to dst on either side, or inside the read-only src: fine. */
    const ptrdiff_t outside[] = { (ptrdiff_t)extent, -(ptrdiff_t)SM_HEADS };
    for (size_t i = 0; i < 3; i++) {
        for (int list = 0; list < 2; list++) {
            softmax_setup(NULL);
            softmax_args a = valid_softmax();
            float *at = i < 2 ? a.dst + outside[i] : (float *)a.src + 3;
            for (size_t h = 0; h < SM_HEADS; h++)
                at[h] = 0.5f;
            if (list == 0) {
                a.desc.sinks = at;
            } else {
                a.desc.slopes_mode = POSENC_SLOPES_CUSTOM;
                a.desc.slopes = at;
            }
            EXPECT_SOFTMAX(a, POSENC_OK);
        }
    }
}

/* ================================================================================ key positions and 2-D grids */

/* desc.k_positions: range, overlap with dst, statistics beyond 2^24 of bias; the grid positions: grid_width and
 * grid_prefix checked with a grid mode and refused without one; unknown position modes. Each failed call leaves
 * the arena untouched. */
static void test_softmax_key_positions_and_grids(void **state)
{
    (void)state;
    int64_t kpos[SM_COLS] = { 4, 0, 2, 9, 1 };
    softmax_args a = valid_softmax();
    a.desc.k_positions = kpos;
    EXPECT_SOFTMAX(a, POSENC_OK);
    a.desc.position = POSENC_POSITION_SYMMETRIC;
    EXPECT_SOFTMAX(a, POSENC_OK);
    const int64_t bad[] = { -1, POSENC_MAX_POSITION + 1, INT64_MIN, INT64_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kpos[3] = bad[i];
        EXPECT_SOFTMAX(a, POSENC_ERR_RANGE);
    }
    kpos[3] = POSENC_MAX_POSITION;
    EXPECT_SOFTMAX(a, POSENC_OK);
    /* statistics: a key 2^31 - 1 away with slope 2^-1 is a bias beyond 2^24 */
    float stats[2 * SM_HEADS * SM_ROWS];
    a.desc.stats = stats;
    EXPECT_SOFTMAX(a, POSENC_ERR_RANGE);
    kpos[3] = 9;
    EXPECT_SOFTMAX(a, POSENC_OK);
    a.desc.stats = (float *)(void *)(kpos + 2);   /* statistics written over the key positions they read */
    EXPECT_SOFTMAX(a, POSENC_ERR_OVERLAP);
    a.desc.stats = NULL;
    /* the positions must not overlap dst (they are read row after row) */
    softmax_args o = valid_softmax();
    o.desc.k_positions = (const int64_t *)(const void *)(o.dst + 2);
    EXPECT_SOFTMAX(o, POSENC_ERR_OVERLAP);
    /* an empty call reads no key position */
    o.n_rows = 0;
    EXPECT_SOFTMAX(o, POSENC_OK);

    /* grids */
    softmax_args g = valid_softmax();
    g.desc.position = POSENC_POSITION_GRID_EUCLIDEAN;
    g.desc.grid_width = 2;
    g.desc.grid_prefix = 1;
    EXPECT_SOFTMAX(g, POSENC_OK);
    g.desc.position = POSENC_POSITION_GRID_MANHATTAN;
    EXPECT_SOFTMAX(g, POSENC_OK);
    g.desc.k_positions = kpos;   /* a grid with keys at given positions */
    EXPECT_SOFTMAX(g, POSENC_OK);
    const int32_t bad_width[] = { 0, -1, INT32_MIN };
    for (size_t i = 0; i < sizeof bad_width / sizeof bad_width[0]; i++) {
        g.desc.grid_width = bad_width[i];
        EXPECT_SOFTMAX(g, POSENC_ERR_PARAM);
    }
    g.desc.grid_width = 3;
    g.desc.grid_prefix = -1;
    EXPECT_SOFTMAX(g, POSENC_ERR_PARAM);
    g.desc.grid_prefix = INT32_MIN;
    EXPECT_SOFTMAX(g, POSENC_ERR_PARAM);
    softmax_args n = valid_softmax();   /* grid fields without a grid mode */
    n.desc.grid_width = 4;
    EXPECT_SOFTMAX(n, POSENC_ERR_PARAM);
    n.desc.grid_width = 0;
    n.desc.grid_prefix = 1;
    EXPECT_SOFTMAX(n, POSENC_ERR_PARAM);
    const int32_t bad_position[] = { 5, -1, 99, INT32_MAX };
    for (size_t i = 0; i < sizeof bad_position / sizeof bad_position[0]; i++) {
        n = valid_softmax();
        n.desc.position = bad_position[i];
        EXPECT_SOFTMAX(n, POSENC_ERR_ENUM);
    }
}

/* ================================================================================================ element types */

/* posenc_softmax_forward with typed views into the arena (element offsets in bytes from the arena start). */
static posenc_status run_typed(const posenc_softmax_desc *desc, size_t src_byte, int src_type, size_t dst_byte,
                               int dst_type)
{
    posenc_tensor sv = { (char *)arena.data + src_byte, src_type, 0, SM_ROWS * SM_COLS, SM_COLS };
    posenc_tensor dv = { (char *)arena.data + dst_byte, dst_type, 0, SM_ROWS * SM_COLS, SM_COLS };
    return posenc_softmax_forward(desc, &sv, &dv, SM_HEADS, SM_ROWS, SM_COLS);
}

#define EXPECT_TYPED(desc, sb, st, db, dt, want) EXPECT(run_typed(&(desc), (sb), (st), (db), (dt)), (want))

/* Every new argument of the element types: mask_dtype, 16-bit alignment, in place across types, overlaps
 * counted in bytes. Each failed call leaves the arena untouched. */
static void test_softmax_element_types(void **state)
{
    (void)state;
    const size_t extent = (SM_HEADS - 1) * SM_ROWS * SM_COLS + (SM_ROWS - 1) * SM_COLS + SM_COLS;   /* 30 */
    const int types[] = { POSENC_F32, POSENC_F16, POSENC_BF16 };
    posenc_softmax_desc d = valid_softmax().desc;
    /* Every type combination is valid out of place, and same-type in place. */
    for (int s = 0; s < 3; s++)
        for (int t = 0; t < 3; t++) {
            EXPECT_TYPED(d, 0, types[s], 4 * SM_DST, types[t], POSENC_OK);
            if (s == t)
                EXPECT_TYPED(d, 0, types[s], 0, types[t], POSENC_OK);
            else   /* in place needs the same dtype */
                EXPECT_TYPED(d, 0, types[s], 0, types[t], POSENC_ERR_OVERLAP);
        }
    /* An unknown mask_dtype, with or without a mask. */
    const int32_t bad[] = { -1, 3, 99, INT32_MIN, INT32_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = valid_softmax().desc;
        d.mask_dtype = bad[i];
        EXPECT_TYPED(d, 0, POSENC_F32, 4 * SM_DST, POSENC_F32, POSENC_ERR_ENUM);
        d.mask = arena.data + SM_MASK;
        d.mask_row_stride = SM_COLS;
        EXPECT_TYPED(d, 0, POSENC_F16, 4 * SM_DST, POSENC_BF16, POSENC_ERR_ENUM);
    }
    /* An unknown precision; both known ones pass, with either element type. */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = valid_softmax().desc;
        d.precision = bad[i] == 3 ? 2 : bad[i];
        EXPECT_TYPED(d, 0, POSENC_F32, 4 * SM_DST, POSENC_F32, POSENC_ERR_ENUM);
        EXPECT_TYPED(d, 0, POSENC_BF16, 4 * SM_DST, POSENC_F16, POSENC_ERR_ENUM);
    }
    d = valid_softmax().desc;
    d.precision = POSENC_SOFTMAX_FAST;
    EXPECT_TYPED(d, 0, POSENC_F32, 4 * SM_DST, POSENC_F32, POSENC_OK);
    EXPECT_TYPED(d, 0, POSENC_BF16, 4 * SM_DST, POSENC_F16, POSENC_OK);
    /* 16-bit elements 2-byte aligned: src, dst, mask; float32 ones 4-byte aligned. */
    d = valid_softmax().desc;
    EXPECT_TYPED(d, 2, POSENC_F16, 4 * SM_DST, POSENC_F32, POSENC_OK);
    EXPECT_TYPED(d, 1, POSENC_F16, 4 * SM_DST, POSENC_F32, POSENC_ERR_PARAM);
    EXPECT_TYPED(d, 0, POSENC_F32, 4 * SM_DST + 3, POSENC_BF16, POSENC_ERR_PARAM);
    EXPECT_TYPED(d, 2, POSENC_F32, 4 * SM_DST, POSENC_F16, POSENC_ERR_PARAM);
    for (int m = 0; m < 3; m++) {
        d = valid_softmax().desc;
        d.mask_dtype = types[m];
        d.mask_row_stride = SM_COLS;
        d.mask = (const float *)(const void *)((const char *)(arena.data + SM_MASK) + (m == 0 ? 2 : 1));
        EXPECT_TYPED(d, 0, POSENC_F32, 4 * SM_DST, POSENC_F32, POSENC_ERR_PARAM);
        d.mask = (const float *)(const void *)((const char *)(arena.data + SM_MASK) + (m == 0 ? 4 : 2));
        EXPECT_TYPED(d, 0, POSENC_F32, 4 * SM_DST, POSENC_F32, POSENC_OK);
    }
    /* Overlaps in bytes: a bf16 dst over the end of a float32 src, and just past it. */
    d = valid_softmax().desc;
    EXPECT_TYPED(d, 0, POSENC_F32, 4 * extent - 2, POSENC_BF16, POSENC_ERR_OVERLAP);
    EXPECT_TYPED(d, 0, POSENC_F32, 4 * extent, POSENC_BF16, POSENC_OK);
    EXPECT_TYPED(d, 2 * extent - 2, POSENC_F16, 0, POSENC_F32, POSENC_ERR_OVERLAP);   /* f32 dst over f16 src */
    EXPECT_TYPED(d, 4 * extent, POSENC_F16, 0, POSENC_F32, POSENC_OK);
    /* An f16 mask over a 16-bit dst's last bytes, and just past them. */
    d.mask_dtype = POSENC_F16;
    d.mask_row_stride = SM_COLS;
    d.mask = (const float *)(const void *)((const char *)(arena.data + SM_DST) + 2 * extent - 2);
    EXPECT_TYPED(d, 0, POSENC_F32, 4 * SM_DST, POSENC_BF16, POSENC_ERR_OVERLAP);
    d.mask = (const float *)(const void *)((const char *)(arena.data + SM_DST) + 2 * extent);
    EXPECT_TYPED(d, 0, POSENC_F32, 4 * SM_DST, POSENC_BF16, POSENC_OK);
    /* Custom slopes and sinks must not share a byte with a 16-bit dst either. */
    d = valid_softmax().desc;
    d.sinks = (const float *)(const void *)((const char *)(arena.data + SM_DST) + 2 * extent - 4);
    EXPECT_TYPED(d, 0, POSENC_F32, 4 * SM_DST, POSENC_F16, POSENC_ERR_OVERLAP);
    d.sinks = (const float *)(const void *)((const char *)(arena.data + SM_DST) + 2 * extent);
    arena.data[SM_DST + extent / 2] = 0.5f;
    arena.data[SM_DST + extent / 2 + 1] = 0.5f;
    EXPECT_TYPED(d, 0, POSENC_F32, 4 * SM_DST, POSENC_F16, POSENC_OK);
    assert_true(test_guard_ok(&arena));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_desc_init_errors),
        cmocka_unit_test_setup(test_alibi_slopes_errors, softmax_setup),
        cmocka_unit_test_setup(test_alibi_slopes_huge_counts, softmax_setup),
        cmocka_unit_test_setup(test_alibi_slopes_float_range, softmax_setup),
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
        cmocka_unit_test_setup(test_softmax_empty_reads_no_arrays, softmax_setup),
        cmocka_unit_test_setup(test_softmax_head_arrays_overlap_dst, softmax_setup),
        cmocka_unit_test_setup(test_softmax_element_types, softmax_setup),
        cmocka_unit_test_setup(test_softmax_key_positions_and_grids, softmax_setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
