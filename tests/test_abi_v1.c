/* test_abi_v1.c - callers built against the first-release (0.1) struct layouts keep working (docs/design.md s. 6).
 *
 * The structs below are copies of posenc_rope_config and posenc_softmax_desc as 0.1 released them: a program
 * compiled against the 0.1 header passes exactly these. The library must accept them, read only their
 * struct_size bytes and give every later field its default, so their results equal a full-sized caller's. Sizes
 * below the first-release size or above the library's sizeof are refused with POSENC_ERR_STRUCT_SIZE and
 * nothing is written. Every expectation is computed from sizeof / the V1 constants, so the test keeps passing
 * (and starts covering the sizes in between) when fields are appended. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common.h"

/* ---- the 0.1 layouts, frozen: never edit these two structs -------------------------------------------------- */

typedef struct rope_config_v1 {
    uint32_t struct_size;
    uint32_t head_dim;
    uint32_t rotary_dim;
    int32_t  pairing;
    double   base;
    int32_t  scaling;
    int32_t  axes;
    double   factor;
    double   original_max_position;
    double   sequence_length;
    double   beta_fast;
    double   beta_slow;
    double   attention_factor;
    double   mscale;
    double   mscale_all_dim;
    double   low_freq_factor;
    double   high_freq_factor;
    const double *short_factors;
    const double *long_factors;
    int32_t  use_long_factors;
    int32_t  n_sections;
    int32_t  sections[4];
    const double *freq_factors;
} rope_config_v1;

typedef struct softmax_desc_v1 {
    uint32_t struct_size;
    int32_t  position;
    int32_t  slopes_mode;
    float    scale;
    float    max_bias;
    int32_t  reserved0;
    const float *slopes;
    int64_t  q_pos0;
    int64_t  k_pos0;
    const float *mask;
    size_t   mask_row_stride;
    size_t   mask_head_stride;
    const float *sinks;
} softmax_desc_v1;

/* The public constants are the 0.1 sizes, and every 0.1 field sits where 0.1 put it. */
_Static_assert(sizeof(rope_config_v1) == POSENC_ROPE_CONFIG_SIZE_V1, "POSENC_ROPE_CONFIG_SIZE_V1 is not 0.1's");
_Static_assert(sizeof(softmax_desc_v1) == POSENC_SOFTMAX_DESC_SIZE_V1, "POSENC_SOFTMAX_DESC_SIZE_V1 is not 0.1's");
_Static_assert(sizeof(rope_config_v1) <= sizeof(posenc_rope_config), "fields are only appended");
_Static_assert(sizeof(softmax_desc_v1) <= sizeof(posenc_softmax_desc), "fields are only appended");

#define SAME_FIELD(v1type, type, field)                                                                      \
    _Static_assert(offsetof(v1type, field) == offsetof(type, field) &&                                      \
                       sizeof(((v1type *)0)->field) == sizeof(((type *)0)->field),                           \
                   #field " moved or changed size since 0.1")
#define SAME_ROPE(field) SAME_FIELD(rope_config_v1, posenc_rope_config, field)
#define SAME_SOFTMAX(field) SAME_FIELD(softmax_desc_v1, posenc_softmax_desc, field)
SAME_ROPE(struct_size); SAME_ROPE(head_dim); SAME_ROPE(rotary_dim); SAME_ROPE(pairing); SAME_ROPE(base);
SAME_ROPE(scaling); SAME_ROPE(axes); SAME_ROPE(factor); SAME_ROPE(original_max_position);
SAME_ROPE(sequence_length); SAME_ROPE(beta_fast); SAME_ROPE(beta_slow); SAME_ROPE(attention_factor);
SAME_ROPE(mscale); SAME_ROPE(mscale_all_dim); SAME_ROPE(low_freq_factor); SAME_ROPE(high_freq_factor);
SAME_ROPE(short_factors); SAME_ROPE(long_factors); SAME_ROPE(use_long_factors); SAME_ROPE(n_sections);
SAME_ROPE(sections); SAME_ROPE(freq_factors);
SAME_SOFTMAX(struct_size); SAME_SOFTMAX(position); SAME_SOFTMAX(slopes_mode); SAME_SOFTMAX(scale);
SAME_SOFTMAX(max_bias); SAME_SOFTMAX(reserved0); SAME_SOFTMAX(slopes); SAME_SOFTMAX(q_pos0); SAME_SOFTMAX(k_pos0);
SAME_SOFTMAX(mask); SAME_SOFTMAX(mask_row_stride); SAME_SOFTMAX(mask_head_stride); SAME_SOFTMAX(sinks);

/* A caller built against a header newer than this library: the current struct plus a field the library lacks. */
typedef struct rope_config_grown {
    posenc_rope_config current;
    double test_only_field;
} rope_config_grown;
typedef struct softmax_desc_grown {
    posenc_softmax_desc current;
    double test_only_field;
} softmax_desc_grown;

#define ROPE_SIZE sizeof(posenc_rope_config)
#define SOFTMAX_SIZE sizeof(posenc_softmax_desc)
#define GARBAGE 0xa5
#define TAIL 64   /* bytes of every caller buffer past the library's struct, to catch writes beyond it */

/* Caller memory: the struct at offset 0, aligned for either layout, followed by TAIL spare bytes. */
typedef union rope_caller {
    posenc_rope_config cfg;
    rope_config_v1 v1;
    rope_config_grown grown;
    unsigned char bytes[sizeof(rope_config_grown) + TAIL];
} rope_caller;
typedef union softmax_caller {
    posenc_softmax_desc desc;
    softmax_desc_v1 v1;
    softmax_desc_grown grown;
    unsigned char bytes[sizeof(softmax_desc_grown) + TAIL];
} softmax_caller;

static int all_bytes_are(const unsigned char *p, size_t n, unsigned char value)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != value)
            return 0;
    return 1;
}

/* ---- RoPE configurations: each written once, applied to either layout (their fields share names) ---------- */

static const double short_factors[32] = { 1.0, 1.1, 1.2, 1.3, 1.5, 1.7, 2.0, 2.3, 2.6, 3.0, 3.4, 3.9, 4.5, 5.1,
                                          5.8, 6.6, 7.5, 8.5, 9.6, 11, 12, 14, 16, 18, 20, 23, 26, 29, 33, 37,
                                          42, 47 };
static const double long_factors[32] = { 1.0, 1.2, 1.5, 2.0, 2.5, 3.1, 3.8, 4.6, 5.5, 6.5, 7.6, 8.8, 10, 12, 14,
                                         16, 18, 20, 23, 26, 29, 32, 36, 40, 45, 50, 55, 61, 67, 74, 81, 89 };
static const double divisors[24] = { 1, 1, 1, 1, 1, 1, 1, 1, 1.5, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8 };

#define N_ROPE_CASES 6
/* Set case k's fields on *c (a posenc_rope_config or a rope_config_v1), after its _init. */
#define CONFIGURE_ROPE(c, k)                                                                                   \
    do {                                                                                                       \
        switch (k) {                                                                                           \
        case 0: /* plain, partial rotary, interleaved */                                                      \
            (c)->head_dim = 80; (c)->rotary_dim = 48; (c)->pairing = POSENC_ROPE_INTERLEAVED;                  \
            (c)->base = 500000.0;                                                                              \
            break;                                                                                             \
        case 1: /* YaRN with DeepSeek's mscale ratio */                                                       \
            (c)->head_dim = 64; (c)->scaling = POSENC_SCALING_YARN; (c)->factor = 40.0;                        \
            (c)->original_max_position = 4096.0; (c)->beta_fast = 32.0; (c)->beta_slow = 1.0;                  \
            (c)->mscale = 1.0; (c)->mscale_all_dim = 0.707;                                                    \
            break;                                                                                             \
        case 2: /* Llama 3 */                                                                                  \
            (c)->head_dim = 128; (c)->base = 500000.0; (c)->scaling = POSENC_SCALING_LLAMA3;                   \
            (c)->factor = 8.0; (c)->original_max_position = 8192.0; (c)->low_freq_factor = 1.0;                \
            (c)->high_freq_factor = 4.0;                                                                       \
            break;                                                                                             \
        case 3: /* LongRoPE, long list */                                                                      \
            (c)->head_dim = 64; (c)->scaling = POSENC_SCALING_LONGROPE; (c)->factor = 32.0;                    \
            (c)->original_max_position = 4096.0; (c)->short_factors = short_factors;                           \
            (c)->long_factors = long_factors; (c)->use_long_factors = 1;                                       \
            break;                                                                                             \
        case 4: /* M-RoPE (Qwen2-VL sections) with dynamic NTK */                                            \
            (c)->head_dim = 128; (c)->axes = POSENC_AXES_MROPE; (c)->n_sections = 3;                           \
            (c)->sections[0] = 16; (c)->sections[1] = 24; (c)->sections[2] = 24;                               \
            (c)->scaling = POSENC_SCALING_DYNAMIC_NTK; (c)->factor = 2.0;                                      \
            (c)->original_max_position = 2048.0; (c)->sequence_length = 6000.0;                                \
            break;                                                                                             \
        default: /* frequency factors */                                                                       \
            (c)->head_dim = 48; (c)->scaling = POSENC_SCALING_FREQ_FACTORS; (c)->freq_factors = divisors;      \
            break;                                                                                             \
        }                                                                                                      \
    } while (0)

/* The full-sized caller's plan for case k. */
static posenc_rope_plan *full_plan(int k)
{
    posenc_rope_config cfg;
    assert_int_equal(posenc_rope_config_init(&cfg, sizeof cfg), POSENC_OK);
    CONFIGURE_ROPE(&cfg, k);
    posenc_rope_plan *plan = NULL;
    assert_int_equal(posenc_rope_plan_create(&cfg, &plan), POSENC_OK);
    return plan;
}

/* Two plans agree when their frequencies, magnitude factor, axes and rotations are bit-identical. */
static void assert_same_plan(const posenc_rope_plan *a, const posenc_rope_plan *b, size_t head_dim,
                             size_t rotary_dim)
{
    double omega_a[POSENC_MAX_HEAD_DIM / 2], omega_b[POSENC_MAX_HEAD_DIM / 2], ms_a, ms_b;
    size_t n = (rotary_dim ? rotary_dim : head_dim) / 2;
    assert_int_equal(posenc_rope_plan_info(a, omega_a, n, &ms_a), POSENC_OK);
    assert_int_equal(posenc_rope_plan_info(b, omega_b, n, &ms_b), POSENC_OK);
    assert_memory_equal(omega_a, omega_b, n * sizeof(double));
    assert_memory_equal(&ms_a, &ms_b, sizeof ms_a);
    size_t axes = posenc_rope_plan_axes(a);
    assert_int_equal(axes, posenc_rope_plan_axes(b));

    enum { N_TOKENS = 5, N_HEADS = 3 };
    float xa[N_TOKENS * N_HEADS * 128], xb[N_TOKENS * N_HEADS * 128];
    int64_t positions[N_TOKENS * 3];
    assert_true(head_dim <= 128);
    test_fill(xa, N_TOKENS * N_HEADS * head_dim, -2.0f, 2.0f);
    memcpy(xb, xa, sizeof xa);
    for (size_t i = 0; i < N_TOKENS * axes; i++)
        positions[i] = (int64_t)test_rand_below(100000);
    assert_int_equal(posenc_rope_apply(a, xa, N_TOKENS, N_HEADS, N_HEADS * head_dim, head_dim, positions, 0, 0),
                     POSENC_OK);
    assert_int_equal(posenc_rope_apply(b, xb, N_TOKENS, N_HEADS, N_HEADS * head_dim, head_dim, positions, 0, 0),
                     POSENC_OK);
    assert_memory_equal(xa, xb, N_TOKENS * N_HEADS * head_dim * sizeof(float));
}

/* ---- RoPE ------------------------------------------------------------------------------------------------ */

/* _init with every accepted size writes exactly that many bytes: struct_size, then the full init's bytes. */
static void test_rope_config_init_every_accepted_size(void **state)
{
    (void)state;
    posenc_rope_config full;
    assert_int_equal(posenc_rope_config_init(&full, sizeof full), POSENC_OK);
    for (size_t size = POSENC_ROPE_CONFIG_SIZE_V1; size <= ROPE_SIZE; size += 8) {
        rope_caller c;
        memset(c.bytes, GARBAGE, sizeof c.bytes);
        assert_int_equal(posenc_rope_config_init(&c.cfg, size), POSENC_OK);
        assert_int_equal(c.cfg.struct_size, size);
        assert_memory_equal(c.bytes + 4, (const unsigned char *)&full + 4, size - 4);
        assert_true(all_bytes_are(c.bytes + size, sizeof c.bytes - size, GARBAGE));
    }
    /* The 0.1 caller, through its own type: the 0.1 defaults. */
    rope_caller c;
    memset(c.bytes, GARBAGE, sizeof c.bytes);
    assert_int_equal(posenc_rope_config_init((posenc_rope_config *)&c.v1, sizeof c.v1), POSENC_OK);
    assert_int_equal(c.v1.struct_size, sizeof(rope_config_v1));
    assert_int_equal(c.v1.head_dim, 0);
    assert_int_equal(c.v1.rotary_dim, 0);
    assert_int_equal(c.v1.pairing, POSENC_ROPE_HALF);
    assert_true(c.v1.base == 10000.0);
    assert_int_equal(c.v1.scaling, POSENC_SCALING_NONE);
    assert_int_equal(c.v1.axes, POSENC_AXES_1D);
    assert_true(c.v1.factor == 1.0 && c.v1.beta_fast == 32.0 && c.v1.beta_slow == 1.0);
    assert_true(c.v1.low_freq_factor == 1.0 && c.v1.high_freq_factor == 4.0);
    assert_true(c.v1.attention_factor == 0.0 && c.v1.mscale == 0.0 && c.v1.mscale_all_dim == 0.0);
    assert_null(c.v1.short_factors);
    assert_null(c.v1.long_factors);
    assert_null(c.v1.freq_factors);
    assert_true(all_bytes_are(c.bytes + sizeof c.v1, sizeof c.bytes - sizeof c.v1, GARBAGE));
}

/* A 0.1 caller's plan equals a full-sized caller's, whatever lies in its memory past its struct. */
static void test_rope_v1_caller_matches_full(void **state)
{
    (void)state;
    for (int k = 0; k < N_ROPE_CASES; k++) {
        rope_caller c;
        memset(c.bytes, GARBAGE, sizeof c.bytes);
        assert_int_equal(posenc_rope_config_init((posenc_rope_config *)&c.v1, sizeof c.v1), POSENC_OK);
        CONFIGURE_ROPE(&c.v1, k);
        posenc_rope_plan *v1_plan = NULL;
        assert_int_equal(posenc_rope_plan_create((const posenc_rope_config *)&c.v1, &v1_plan), POSENC_OK);
        posenc_rope_plan *full = full_plan(k);
        fprintf(stderr, "# rope case %d: 0.1 caller (%zu bytes) vs full (%zu bytes)\n", k, sizeof c.v1, ROPE_SIZE);
        assert_same_plan(v1_plan, full, c.v1.head_dim, c.v1.rotary_dim);
        posenc_rope_plan_destroy(v1_plan);
        posenc_rope_plan_destroy(full);
    }
}

/* Every size between the 0.1 layout and the library's (a caller built against any header in between): the
 * bytes the caller's size covers come from its struct, the rest are garbage the library must not read. */
static void test_rope_every_accepted_size_matches_full(void **state)
{
    (void)state;
    for (int k = 0; k < N_ROPE_CASES; k++) {
        posenc_rope_plan *full = full_plan(k);
        for (size_t size = POSENC_ROPE_CONFIG_SIZE_V1; size <= ROPE_SIZE; size += 8) {
            rope_caller c;
            assert_int_equal(posenc_rope_config_init(&c.cfg, ROPE_SIZE), POSENC_OK);
            CONFIGURE_ROPE(&c.cfg, k);
            c.cfg.struct_size = (uint32_t)size;
            memset(c.bytes + size, GARBAGE, sizeof c.bytes - size);
            posenc_rope_plan *plan = NULL;
            assert_int_equal(posenc_rope_plan_create(&c.cfg, &plan), POSENC_OK);
            assert_same_plan(plan, full, c.cfg.head_dim, c.cfg.rotary_dim);
            posenc_rope_plan_destroy(plan);
        }
        posenc_rope_plan_destroy(full);
    }
}

static const size_t too_small[] = { 0, 1, 4, 8, POSENC_ROPE_CONFIG_SIZE_V1 - 8, POSENC_ROPE_CONFIG_SIZE_V1 - 1 };

static void test_rope_refuses_sizes_outside(void **state)
{
    (void)state;
    const size_t too_large[] = { ROPE_SIZE + 1, ROPE_SIZE + 8, sizeof(rope_config_grown), UINT32_MAX, SIZE_MAX };
    const size_t n_small = sizeof too_small / sizeof too_small[0], n_large = sizeof too_large / sizeof too_large[0];
    for (size_t i = 0; i < n_small + n_large; i++) {
        size_t size = i < n_small ? too_small[i] : too_large[i - n_small];
        /* _init writes nothing. */
        rope_caller c, want;
        memset(c.bytes, GARBAGE, sizeof c.bytes);
        memcpy(&want, &c, sizeof c);
        assert_int_equal(posenc_rope_config_init(&c.cfg, size), POSENC_ERR_STRUCT_SIZE);
        assert_memory_equal(c.bytes, want.bytes, sizeof c.bytes);
        if (size > UINT32_MAX)
            continue;
        /* _create leaves *plan_out alone, even with every field valid. */
        assert_int_equal(posenc_rope_config_init(&c.cfg, ROPE_SIZE), POSENC_OK);
        c.cfg.head_dim = 64;
        c.cfg.struct_size = (uint32_t)size;
        posenc_rope_plan *sentinel = (posenc_rope_plan *)(uintptr_t)0x5eed, *plan = sentinel;
        assert_int_equal(posenc_rope_plan_create(&c.cfg, &plan), POSENC_ERR_STRUCT_SIZE);
        assert_ptr_equal(plan, sentinel);
    }
}

/* A caller built against a newer header (one more field than this library knows) is refused, not misread. */
static void test_rope_newer_caller_refused(void **state)
{
    (void)state;
    rope_caller c, want;
    memset(c.bytes, GARBAGE, sizeof c.bytes);
    memcpy(&want, &c, sizeof c);
    assert_int_equal(posenc_rope_config_init(&c.grown.current, sizeof c.grown), POSENC_ERR_STRUCT_SIZE);
    assert_memory_equal(c.bytes, want.bytes, sizeof c.bytes);
    assert_int_equal(posenc_rope_config_init(&c.grown.current, sizeof c.grown.current), POSENC_OK);
    c.grown.current.head_dim = 64;
    c.grown.current.struct_size = (uint32_t)sizeof c.grown;
    c.grown.test_only_field = 1.0;
    posenc_rope_plan *sentinel = (posenc_rope_plan *)(uintptr_t)0x5eed, *plan = sentinel;
    assert_int_equal(posenc_rope_plan_create(&c.grown.current, &plan), POSENC_ERR_STRUCT_SIZE);
    assert_ptr_equal(plan, sentinel);
}

/* ---- softmax --------------------------------------------------------------------------------------------- */

enum { SM_HEADS = 4, SM_ROWS = 3, SM_COLS = 37 };
static float sm_src[SM_HEADS * SM_ROWS * SM_COLS], sm_mask[SM_ROWS * SM_COLS], sm_sinks[SM_HEADS];
static const float sm_custom_slopes[SM_HEADS] = { 0.5f, 0.25f, -0.125f, 0.0f };

#define N_SOFTMAX_CASES 3
#define CONFIGURE_SOFTMAX(d, k)                                                                                \
    do {                                                                                                       \
        switch (k) {                                                                                           \
        case 0: /* causal ALiBi, scaled, queries at the last keys */                                          \
            (d)->position = POSENC_POSITION_CAUSAL; (d)->slopes_mode = POSENC_SLOPES_ALIBI;                    \
            (d)->scale = 0.125f; (d)->max_bias = 8.0f; (d)->q_pos0 = SM_COLS - SM_ROWS;                        \
            break;                                                                                             \
        case 1: /* symmetric, custom slopes, a mask shared by the heads, sinks */                             \
            (d)->position = POSENC_POSITION_SYMMETRIC; (d)->slopes_mode = POSENC_SLOPES_CUSTOM;                \
            (d)->slopes = sm_custom_slopes; (d)->mask = sm_mask; (d)->mask_row_stride = SM_COLS;               \
            (d)->sinks = sm_sinks; (d)->k_pos0 = 7; (d)->q_pos0 = 20;                                          \
            break;                                                                                             \
        default: /* plain */                                                                                   \
            (d)->scale = 0.75f;                                                                                \
            break;                                                                                             \
        }                                                                                                      \
    } while (0)

static void run_softmax(const posenc_softmax_desc *desc, posenc_status want, float *dst)
{
    assert_int_equal(posenc_softmax(desc, sm_src, SM_ROWS * SM_COLS, SM_COLS, dst, SM_ROWS * SM_COLS, SM_COLS,
                                    SM_HEADS, SM_ROWS, SM_COLS),
                     want);
}

static void full_softmax(int k, float *dst)
{
    posenc_softmax_desc desc;
    assert_int_equal(posenc_softmax_desc_init(&desc, sizeof desc), POSENC_OK);
    CONFIGURE_SOFTMAX(&desc, k);
    run_softmax(&desc, POSENC_OK, dst);
}

static int softmax_setup(void **state)
{
    (void)state;
    test_fill(sm_src, sizeof sm_src / sizeof sm_src[0], -8.0f, 8.0f);
    test_fill(sm_mask, sizeof sm_mask / sizeof sm_mask[0], -4.0f, 0.0f);
    sm_mask[5] = -INFINITY;
    test_fill(sm_sinks, SM_HEADS, -1.0f, 1.0f);
    return 0;
}

static void test_softmax_desc_init_every_accepted_size(void **state)
{
    (void)state;
    posenc_softmax_desc full;
    assert_int_equal(posenc_softmax_desc_init(&full, sizeof full), POSENC_OK);
    for (size_t size = POSENC_SOFTMAX_DESC_SIZE_V1; size <= SOFTMAX_SIZE; size += 8) {
        softmax_caller c;
        memset(c.bytes, GARBAGE, sizeof c.bytes);
        assert_int_equal(posenc_softmax_desc_init(&c.desc, size), POSENC_OK);
        assert_int_equal(c.desc.struct_size, size);
        assert_memory_equal(c.bytes + 4, (const unsigned char *)&full + 4, size - 4);
        assert_true(all_bytes_are(c.bytes + size, sizeof c.bytes - size, GARBAGE));
    }
    softmax_caller c;
    memset(c.bytes, GARBAGE, sizeof c.bytes);
    assert_int_equal(posenc_softmax_desc_init((posenc_softmax_desc *)&c.v1, sizeof c.v1), POSENC_OK);
    assert_int_equal(c.v1.struct_size, sizeof(softmax_desc_v1));
    assert_int_equal(c.v1.position, POSENC_POSITION_NONE);
    assert_int_equal(c.v1.slopes_mode, POSENC_SLOPES_NONE);
    assert_true(c.v1.scale == 1.0f && c.v1.max_bias == 8.0f);
    assert_int_equal(c.v1.reserved0, 0);
    assert_true(c.v1.q_pos0 == 0 && c.v1.k_pos0 == 0);
    assert_true(c.v1.mask_row_stride == 0 && c.v1.mask_head_stride == 0);
    assert_null(c.v1.slopes);
    assert_null(c.v1.mask);
    assert_null(c.v1.sinks);
    assert_true(all_bytes_are(c.bytes + sizeof c.v1, sizeof c.bytes - sizeof c.v1, GARBAGE));
}

static void test_softmax_v1_caller_matches_full(void **state)
{
    (void)state;
    static float want[SM_HEADS * SM_ROWS * SM_COLS], got[SM_HEADS * SM_ROWS * SM_COLS];
    for (int k = 0; k < N_SOFTMAX_CASES; k++) {
        full_softmax(k, want);
        softmax_caller c;
        memset(c.bytes, GARBAGE, sizeof c.bytes);
        assert_int_equal(posenc_softmax_desc_init((posenc_softmax_desc *)&c.v1, sizeof c.v1), POSENC_OK);
        CONFIGURE_SOFTMAX(&c.v1, k);
        memset(got, 0, sizeof got);
        run_softmax((const posenc_softmax_desc *)&c.v1, POSENC_OK, got);
        assert_memory_equal(got, want, sizeof want);
    }
}

static void test_softmax_every_accepted_size_matches_full(void **state)
{
    (void)state;
    static float want[SM_HEADS * SM_ROWS * SM_COLS], got[SM_HEADS * SM_ROWS * SM_COLS];
    for (int k = 0; k < N_SOFTMAX_CASES; k++) {
        full_softmax(k, want);
        for (size_t size = POSENC_SOFTMAX_DESC_SIZE_V1; size <= SOFTMAX_SIZE; size += 8) {
            softmax_caller c;
            assert_int_equal(posenc_softmax_desc_init(&c.desc, SOFTMAX_SIZE), POSENC_OK);
            CONFIGURE_SOFTMAX(&c.desc, k);
            c.desc.struct_size = (uint32_t)size;
            memset(c.bytes + size, GARBAGE, sizeof c.bytes - size);
            memset(got, 0, sizeof got);
            run_softmax(&c.desc, POSENC_OK, got);
            assert_memory_equal(got, want, sizeof want);
        }
    }
}

static void test_softmax_refuses_sizes_outside(void **state)
{
    (void)state;
    const size_t small[] = { 0, 1, 4, 8, POSENC_SOFTMAX_DESC_SIZE_V1 - 8, POSENC_SOFTMAX_DESC_SIZE_V1 - 1 };
    const size_t large[] = { SOFTMAX_SIZE + 1, SOFTMAX_SIZE + 8, sizeof(softmax_desc_grown), UINT32_MAX, SIZE_MAX };
    const size_t n_small = sizeof small / sizeof small[0], n_large = sizeof large / sizeof large[0];
    static float dst[SM_HEADS * SM_ROWS * SM_COLS], untouched[SM_HEADS * SM_ROWS * SM_COLS];
    for (size_t i = 0; i < n_small + n_large; i++) {
        size_t size = i < n_small ? small[i] : large[i - n_small];
        softmax_caller c, want;
        memset(c.bytes, GARBAGE, sizeof c.bytes);
        memcpy(&want, &c, sizeof c);
        assert_int_equal(posenc_softmax_desc_init(&c.desc, size), POSENC_ERR_STRUCT_SIZE);
        assert_memory_equal(c.bytes, want.bytes, sizeof c.bytes);
        if (size > UINT32_MAX)
            continue;
        assert_int_equal(posenc_softmax_desc_init(&c.desc, SOFTMAX_SIZE), POSENC_OK);
        c.desc.struct_size = (uint32_t)size;
        memset(dst, GARBAGE, sizeof dst);
        memcpy(untouched, dst, sizeof dst);
        run_softmax(&c.desc, POSENC_ERR_STRUCT_SIZE, dst);
        assert_memory_equal(dst, untouched, sizeof dst);
    }
}

static void test_softmax_newer_caller_refused(void **state)
{
    (void)state;
    static float dst[SM_HEADS * SM_ROWS * SM_COLS], untouched[SM_HEADS * SM_ROWS * SM_COLS];
    softmax_caller c, want;
    memset(c.bytes, GARBAGE, sizeof c.bytes);
    memcpy(&want, &c, sizeof c);
    assert_int_equal(posenc_softmax_desc_init(&c.grown.current, sizeof c.grown), POSENC_ERR_STRUCT_SIZE);
    assert_memory_equal(c.bytes, want.bytes, sizeof c.bytes);
    assert_int_equal(posenc_softmax_desc_init(&c.grown.current, sizeof c.grown.current), POSENC_OK);
    c.grown.current.struct_size = (uint32_t)sizeof c.grown;
    c.grown.test_only_field = 1.0;
    memset(dst, GARBAGE, sizeof dst);
    memcpy(untouched, dst, sizeof dst);
    run_softmax(&c.grown.current, POSENC_ERR_STRUCT_SIZE, dst);
    assert_memory_equal(dst, untouched, sizeof dst);
}

int main(void)
{
    test_seed_init();
    fprintf(stderr, "# posenc_rope_config: 0.1 size %zu, this library %zu; posenc_softmax_desc: 0.1 size %zu, "
                    "this library %zu\n",
            (size_t)POSENC_ROPE_CONFIG_SIZE_V1, ROPE_SIZE, (size_t)POSENC_SOFTMAX_DESC_SIZE_V1, SOFTMAX_SIZE);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rope_config_init_every_accepted_size),
        cmocka_unit_test(test_rope_v1_caller_matches_full),
        cmocka_unit_test(test_rope_every_accepted_size_matches_full),
        cmocka_unit_test(test_rope_refuses_sizes_outside),
        cmocka_unit_test(test_rope_newer_caller_refused),
        cmocka_unit_test_setup(test_softmax_desc_init_every_accepted_size, softmax_setup),
        cmocka_unit_test_setup(test_softmax_v1_caller_matches_full, softmax_setup),
        cmocka_unit_test_setup(test_softmax_every_accepted_size_matches_full, softmax_setup),
        cmocka_unit_test_setup(test_softmax_refuses_sizes_outside, softmax_setup),
        cmocka_unit_test_setup(test_softmax_newer_caller_refused, softmax_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
