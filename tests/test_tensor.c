/* test_tensor.c - the 0.2 tensor-view RoPE and softmax calls on one variant (argv[1]) against the specification:
 * element types f32 / f16 / bf16 in every combination (widen exactly, the float32 computation, one RNE rounding), the
 * conversions themselves against an independent oracle, axis-major positions, SAME_POSITION, the parallel hook
 * (every split and order gives the same bits), and every new status. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common.h"

static const char *isa = "scalar";

/* ---- an independent oracle of the element types (numerics.h "element types"), in double ---------------- */

static float f32_of_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static uint32_t bits_of_f32(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* Exact value of an f16 pattern (NaN for NaN patterns). */
static double f16_value(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Round a float to f16 by searching the two neighbours among all patterns (ties to the even pattern). */
static uint16_t oracle_f16(float x)
{
    if (isnan(x))
        return 0x7e00;
    double a = fabs((double)x);
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    if (a >= 65520.0)
        return sign | 0x7c00;
    uint16_t lo = 0, hi = 0x7bff;        /* largest finite pattern with value <= a, by bisection */
    while (lo < hi) {
        uint16_t mid = (uint16_t)((lo + hi + 1) / 2);
        if (f16_value(mid) <= a)
            lo = mid;
        else
            hi = (uint16_t)(mid - 1);
    }
    uint16_t below = lo, above = (uint16_t)(lo + 1);
    double up = above == 0x7c00 ? 65536.0 : f16_value(above);
    double d_lo = a - f16_value(below), d_hi = up - a;
    uint16_t r = d_lo < d_hi ? below : d_hi < d_lo ? above : (below & 1 ? above : below);
    return sign | r;
}

static uint16_t oracle_bf16(float x)
{
    if (isnan(x))
        return 0x7fc0;
    uint32_t b = bits_of_f32(x);
    uint32_t below = b & 0xffff0000u, above = below + 0x10000u;
    double v = fabs((double)x);
    double lo = fabs((double)f32_of_bits(below));
    /* above may be the inf pattern: its "value" for rounding is the next power of two step, 2^128. */
    double hi = (above & 0x7fffffffu) == 0x7f800000u ? ldexp(1.0, 128) : fabs((double)f32_of_bits(above));
    if (isinf(x))
        return (uint16_t)(b >> 16);
    double d_lo = v - lo, d_hi = hi - v;
    uint32_t r = d_lo < d_hi ? below : d_hi < d_lo ? above : ((below >> 16) & 1 ? above : below);
    return (uint16_t)(r >> 16);
}

static float oracle_widen(int dtype, uint16_t h)
{
    if (dtype == POSENC_BF16)
        return ((h & 0x7fff) > 0x7f80) ? f32_of_bits(0x7fc00000u) : f32_of_bits((uint32_t)h << 16);
    double v = f16_value(h);
    return isnan(v) ? f32_of_bits(0x7fc00000u) : (float)v;
}

static size_t dtype_size(int dtype)
{
    return dtype == POSENC_F32 ? 4 : 2;
}

/* Element i of a typed buffer as float (widened by the oracle), and the store of a float (rounded by it). */
static float load_elem(int dtype, const void *base, size_t i)
{
    if (dtype == POSENC_F32) {
        float f;
        memcpy(&f, (const char *)base + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, (const char *)base + 2 * i, 2);
    return oracle_widen(dtype, h);
}

static void store_elem(int dtype, void *base, size_t i, float v)
{
    if (dtype == POSENC_F32) {
        memcpy((char *)base + 4 * i, &v, 4);
        return;
    }
    uint16_t h = dtype == POSENC_BF16 ? oracle_bf16(v) : oracle_f16(v);
    memcpy((char *)base + 2 * i, &h, 2);
}

/* ---- helpers ------------------------------------------------------------------------------------------- */

static void use(const char *name)
{
    assert_int_equal(posenc_set_isa(name), POSENC_OK);
    assert_string_equal(posenc_isa(), name);
}

static posenc_tensor view(void *data, int dtype, size_t stride_a, size_t stride_b)
{
    posenc_tensor t = { data, dtype, 0, stride_a, stride_b };
    return t;
}

/* A random element: mostly normal values, sometimes one of the type's special values. */
static float random_value(int dtype, int specials)
{
    if (specials && test_rand_below(8) == 0) {
        static const float f32_specials[] = { 0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, -3e-39f,
                                              1e-45f, 70000.0f, -1e5f, 65519.0f, 65520.0f, 6e-8f, 3e-8f,
                                              3.3895e38f, 1.0f / 3.0f };
        return f32_specials[test_rand_below(sizeof f32_specials / sizeof f32_specials[0])];
    }
    (void)dtype;
    return test_rand_float(-4.0f, 4.0f);
}

/* ---- conversions ------------------------------------------------------------------------------------------ */

/* Every f16 and bf16 pattern round-trips the library's widening as the oracle says, and rounding of a million
 * float patterns (all classes, plus the f16 boundaries) matches the oracle bit for bit. The library is reached
 * through a RoPE call that rotates nothing (rotary_dim 2 of a wide head: the tail is converted, never
 * rotated) and through the rotated part with an identity rotation (position 0). */
static void conversions_match_oracle(void **state)
{
    (void)state;
    use(isa);
    /* head_dim 1024 with rotary_dim 2: elements 2..1023 are only converted. */
    posenc_rope_plan *plan = test_plain_plan(1024, 2, POSENC_ROPE_HALF, 10000.0);
    assert_non_null(plan);
    size_t n_tokens = 64, n = n_tokens * 1024;
    uint16_t *h = malloc(n * 2), *h_out = malloc(n * 2);
    float *f = malloc(n * 4), *f_out = malloc(n * 4);
    assert_true(h && h_out && f && f_out);
    posenc_rope_args args;
    posenc_rope_args_init(&args, sizeof args);
    args.flags = POSENC_ROPE_SAME_POSITION;     /* position 0: the rotated pair is exact too (cos 1, sin 0) */
    for (int dtype = POSENC_F16; dtype <= POSENC_BF16; dtype++) {
        /* widen: all 65536 patterns (the first pair of each head is rotated by 0, which keeps finite values) */
        for (size_t i = 0; i < n; i++)
            h[i] = (uint16_t)(i & 0xffff);
        posenc_tensor src = view(h, dtype, 1024, 1024), dst = view(f_out, POSENC_F32, 1024, 1024);
        assert_int_equal(posenc_rope_rotate(plan, &args, &src, &dst, n_tokens, 1), POSENC_OK);
        for (size_t i = 0; i < n; i++) {
            if (i % 1024 < 2)
                continue;
            float want = oracle_widen(dtype, h[i]);
            if (memcmp(&want, &f_out[i], 4) != 0)
                fail_msg("%s widen dtype %d of 0x%04x: got 0x%08x want 0x%08x", isa, dtype, h[i],
                         bits_of_f32(f_out[i]), bits_of_f32(want));
        }
        /* narrow: random patterns of every class, and values at every f16 rounding boundary */
        for (int round = 0; round < 4; round++) {   /* 4 x 64K random float patterns per type */
            for (size_t i = 0; i < n; i++) {
                uint32_t b = (uint32_t)test_rand_u64();
                switch (test_rand_below(4)) {
                case 0: break;                                            /* any pattern */
                case 1: b = (b & 0x807fffffu) | ((uint32_t)(102 + test_rand_below(40)) << 23); break;
                case 2: b &= 0x807fffffu; break;                          /* f32 subnormals */
                default: {                                                /* ties and neighbours */
                    uint16_t p = (uint16_t)test_rand_u64();
                    float base = oracle_widen(dtype, p);
                    b = bits_of_f32(base);
                    if (dtype == POSENC_BF16)
                        b = (b & 0xffff0000u) + 0x8000u + (uint32_t)((int)test_rand_below(3) - 1);
                    else
                        b += (uint32_t)((int)test_rand_below(3) - 1);
                    if (dtype == POSENC_F16 && !isnan(base) && !isinf(base)) {
                        double v = f16_value(p), next = f16_value((uint16_t)(p + 1));
                        if (!isnan(next) && !isinf(next))
                            b = bits_of_f32((float)((v + next) / 2)) + (uint32_t)((int)test_rand_below(3) - 1);
                    }
                }
                }
                f[i] = f32_of_bits(b);
            }
            posenc_tensor fsrc = view(f, POSENC_F32, 1024, 1024), hdst = view(h_out, dtype, 1024, 1024);
            assert_int_equal(posenc_rope_rotate(plan, &args, &fsrc, &hdst, n_tokens, 1), POSENC_OK);
            for (size_t i = 0; i < n; i++) {
                if (i % 1024 < 2)
                    continue;
                uint16_t want = dtype == POSENC_BF16 ? oracle_bf16(f[i]) : oracle_f16(f[i]);
                if (want != h_out[i])
                    fail_msg("%s narrow dtype %d of 0x%08x: got 0x%04x want 0x%04x", isa, dtype, bits_of_f32(f[i]),
                             h_out[i], want);
            }
        }
    }
    free(h), free(h_out), free(f), free(f_out);
    posenc_rope_plan_destroy(plan);
}

/* ---- RoPE in every type combination against the specification -------------------------------------------- */

typedef struct typed_buf {
    char *base;
    void *data;
    size_t bytes;
} typed_buf;

static typed_buf typed_new(size_t n_elems, int dtype, size_t misalign_elems)
{
    typed_buf b;
    b.bytes = n_elems * dtype_size(dtype);
    b.base = malloc(b.bytes + 64 + 64);
    assert_non_null(b.base);
    memset(b.base, 0xa5, b.bytes + 128);
    b.data = b.base + 64 + misalign_elems * dtype_size(dtype);
    return b;
}

static void guard_ok(const typed_buf *b, size_t misalign_bytes)
{
    for (size_t i = 0; i < 64 + misalign_bytes; i++)
        assert_int_equal((unsigned char)b->base[i], 0xa5);
    for (size_t i = 64 + misalign_bytes + b->bytes; i < b->bytes + 128; i++)
        assert_int_equal((unsigned char)b->base[i], 0xa5);
}

/* Raw bit patterns of every class for element i of a `dtype` buffer: mostly ordinary values, then any pattern,
 * subnormals, NaNs with payloads of either sign (which every destination must turn into its canonical NaN),
 * infinities, the extremes, and float32 patterns that a bf16 rounding ties on. */
static void store_raw(int dtype, void *base, size_t i)
{
    static const uint32_t f32_specials[] = { 0x7fffffffu, 0xffffffffu, 0x7f800001u, 0xff800001u, 0x7fc00000u,
                                             0xffc00000u, 0x7fbfffffu, 0x7f800000u, 0xff800000u, 0x00000001u,
                                             0x807fffffu, 0x7f7fffffu, 0xff7fffffu, 0x00000000u, 0x80000000u };
    static const uint16_t f16_specials[] = { 0x7c01, 0x7fff, 0xfe01, 0xffff, 0x7e00, 0x7c00, 0xfc00, 0x0001,
                                             0x83ff, 0x7bff, 0xfbff, 0x8000, 0x0000 };
    static const uint16_t bf16_specials[] = { 0x7f81, 0x7fff, 0xff81, 0xffff, 0x7fc0, 0x7f80, 0xff80, 0x0001,
                                              0x807f, 0x7f7f, 0xff7f, 0x8000, 0x0000 };
    size_t kind = test_rand_below(10);
    if (kind < 5) {
        store_elem(dtype, base, i, test_rand_float(-4.0f, 4.0f));
        return;
    }
    if (dtype == POSENC_F32) {
        uint32_t b = (uint32_t)test_rand_u64();
        if (kind == 6)
            b &= 0x807fffffu;                                                /* subnormal */
        else if (kind == 7)
            b = f32_specials[test_rand_below(sizeof f32_specials / sizeof f32_specials[0])];
        else if (kind >= 8)
            b = (b & 0x807f0000u) | ((uint32_t)(120 + test_rand_below(16)) << 23) | 0x8000u;   /* a bf16 tie */
        memcpy((char *)base + 4 * i, &b, 4);
        return;
    }
    uint16_t h = (uint16_t)test_rand_u64();
    if (kind == 6)
        h &= dtype == POSENC_F16 ? 0x83ff : 0x807f;                          /* subnormal */
    else if (kind >= 7)
        h = dtype == POSENC_F16 ? f16_specials[test_rand_below(sizeof f16_specials / sizeof f16_specials[0])]
                                : bf16_specials[test_rand_below(sizeof bf16_specials / sizeof bf16_specials[0])];
    memcpy((char *)base + 2 * i, &h, 2);
}

/* Values of a case: ordinary ones, some of the f32 special values, or raw patterns of every class (store_raw). */
#define VALUES_PLAIN 0
#define VALUES_SPECIALS 1
#define VALUES_RAW 2

typedef struct rope_shape {
    size_t head_dim, rotary_dim, n_tokens, n_heads, head_stride, token_stride;
    int pairing;
} rope_shape;

/* One case: src (dtype s) -> dst (dtype d) through posenc_rope_rotate on `isa`, against the specification:
 * widen with the oracle, posenc_rope_apply_to in float32 on the scalar reference, round with the oracle (in place
 * too: every element of a reduced-precision head is written). Unaligned data, guard bytes around both buffers,
 * gaps between rows that must stay untouched. */
static void rope_case_shaped(int s, int d, int in_place, int values, const rope_shape *sh, int64_t start,
                             uint32_t flags)
{
    const size_t head_dim = sh->head_dim, n_tokens = sh->n_tokens, n_heads = sh->n_heads;
    const size_t head_stride = sh->head_stride, token_stride = sh->token_stride, n = n_tokens * token_stride;
    posenc_rope_plan *plan = test_plain_plan(head_dim, sh->rotary_dim, sh->pairing, 10000.0);
    assert_non_null(plan);
    size_t mis_s = test_rand_below(3), mis_d = in_place ? mis_s : test_rand_below(3);
    typed_buf src = typed_new(n, s, mis_s), dst = in_place ? src : typed_new(n, d, mis_d);
    float *wide = malloc(n * 4), *want_f = malloc(n * 4);
    assert_true(wide && want_f);
    for (size_t i = 0; i < n; i++) {
        if (values == VALUES_RAW)
            store_raw(s, src.data, i);
        else
            store_elem(s, src.data, i, random_value(s, values == VALUES_SPECIALS));
    }
    for (size_t i = 0; i < n; i++)
        wide[i] = load_elem(s, src.data, i);
    /* float32 result on the scalar reference, then the oracle's rounding into the expected dst bytes */
    memcpy(want_f, wide, n * 4);
    use("scalar");
    assert_int_equal(posenc_rope_apply_to(plan, wide, token_stride, head_stride, want_f, token_stride, head_stride,
                                          n_tokens, n_heads, NULL, start, flags), POSENC_OK);
    typed_buf want = typed_new(n, d, 0);
    if (!in_place)
        memcpy(want.data, dst.data, want.bytes);        /* the gaps between rows stay as they were */
    else
        memcpy(want.data, src.data, want.bytes);
    for (size_t t = 0; t < n_tokens; t++)
        for (size_t h = 0; h < n_heads; h++)
            for (size_t e = 0; e < head_dim; e++) {
                size_t i = t * token_stride + h * head_stride + e;
                store_elem(d, want.data, i, want_f[i]);
            }

    use(isa);
    posenc_rope_args args;
    posenc_rope_args_init(&args, sizeof args);
    args.start_pos = start;
    args.flags = flags;
    posenc_tensor sv = view(src.data, s, token_stride, head_stride), dv = view(dst.data, d, token_stride, head_stride);
    assert_int_equal(posenc_rope_rotate(plan, &args, &sv, &dv, n_tokens, n_heads), POSENC_OK);
    if (memcmp(dst.data, want.data, want.bytes) != 0) {
        for (size_t i = 0; i < n; i++) {
            size_t size = dtype_size(d);
            if (memcmp((char *)dst.data + i * size, (char *)want.data + i * size, size)) {
                uint32_t got = 0, exp = 0, in = 0;
                memcpy(&got, (char *)dst.data + i * size, size);
                memcpy(&exp, (char *)want.data + i * size, size);
                memcpy(&in, (char *)src.data + i * dtype_size(s), in_place ? 0 : dtype_size(s));
                fail_msg("%s %d->%d in_place %d head_dim %zu rotary %zu pairing %d tokens %zu heads %zu: element "
                         "%zu (head offset %zu) is 0x%x, want 0x%x (input 0x%x)", isa, s, d, in_place, head_dim,
                         sh->rotary_dim, sh->pairing, n_tokens, n_heads, i, i % token_stride % head_stride, got, exp,
                         in);
            }
        }
    }
    guard_ok(&src, mis_s * dtype_size(s));
    if (!in_place) {
        guard_ok(&dst, mis_d * dtype_size(d));
        free(dst.base);
    }
    free(src.base), free(want.base), free(wide), free(want_f);
    posenc_rope_plan_destroy(plan);
}

/* A random shape of the given head_dim and rotary_dim: 1-2 tokens of 1-3 heads, rows with small gaps. */
static rope_shape small_shape(size_t head_dim, size_t rotary_dim, int pairing)
{
    rope_shape sh = { head_dim, rotary_dim, 1 + test_rand_below(2), 1 + test_rand_below(3), 0, 0, pairing };
    sh.head_stride = head_dim + test_rand_below(3);
    sh.token_stride = sh.n_heads * sh.head_stride + test_rand_below(5);
    return sh;
}

/* One random case of any shape (up to head_dim 160, 9 tokens, 7 heads). */
static void rope_case(int s, int d, int in_place, int specials)
{
    size_t head_dim = 2 + 2 * test_rand_below(80);
    size_t rotary_dim = test_rand_below(3) == 0 ? 2 + 2 * test_rand_below(head_dim / 2) : head_dim;
    rope_shape sh = { head_dim, rotary_dim, 1 + test_rand_below(9), 1 + test_rand_below(7), 0, 0,
                      (int)test_rand_below(2) };
    sh.head_stride = head_dim + test_rand_below(3);
    sh.token_stride = sh.n_heads * sh.head_stride + test_rand_below(5);
    int64_t start = (int64_t)test_rand_below(1u << 31) - (1 << 30);
    rope_case_shaped(s, d, in_place, specials ? VALUES_SPECIALS : VALUES_PLAIN, &sh, start,
                     test_rand_below(2) ? POSENC_ROPE_INVERSE : 0);
}

static void rope_types_match_spec(void **state)
{
    (void)state;
    for (int s = POSENC_F32; s <= POSENC_BF16; s++)
        for (int d = POSENC_F32; d <= POSENC_BF16; d++)
            for (int rep = 0; rep < 30; rep++) {
                rope_case(s, d, 0, rep % 3 == 0);
                if (s == d)
                    rope_case(s, d, 1, rep % 3 == 1);
            }
}

/* Every head_dim from 2 to 130 (n_pairs 1..65: every tail of every vector width and of the 64-pair chunks, odd
 * head_dims with an unrotated element), rotary over the whole head and over part of it, both pairings, every
 * type combination, in place and out of place, with raw patterns of every class (NaN payloads, subnormals,
 * infinities, bf16 ties) and at position 0 (cos 1, sin 0: the rotated elements are the inputs rounded, so the
 * roundings of every pattern class are checked where the rotation writes them). */
static void rope_every_tail(void **state)
{
    (void)state;
    for (size_t head_dim = 2; head_dim <= 130; head_dim++)
        for (int pairing = POSENC_ROPE_HALF; pairing <= POSENC_ROPE_INTERLEAVED; pairing++)
            for (int s = POSENC_F32; s <= POSENC_BF16; s++)
                for (int d = POSENC_F32; d <= POSENC_BF16; d++)
                    for (int in_place = 0; in_place <= (s == d); in_place++) {
                        size_t full = head_dim & ~(size_t)1;
                        size_t rotary = head_dim % 3 == 0 && full > 2 ? 2 + 2 * test_rand_below(full / 2 - 1) : full;
                        rope_shape sh = small_shape(head_dim, rotary, pairing);
                        int values = (int)((head_dim + (size_t)s + (size_t)d) % 3);
                        int64_t start = head_dim % 4 == 0 ? 0 : (int64_t)test_rand_below(1u << 20);
                        uint32_t flags = head_dim % 5 == 0 ? POSENC_ROPE_INVERSE : 0;
                        rope_case_shaped(s, d, in_place, values, &sh, start, flags);
                    }
}

/* q and k of different types in one call equal two single calls; f32 -> bf16 into a "KV cache". */
static void rope_qk_types(void **state)
{
    (void)state;
    use(isa);
    posenc_rope_plan *plan = test_plain_plan(128, 128, POSENC_ROPE_HALF, 500000.0);
    assert_non_null(plan);
    size_t n_tokens = 37, nq = 8, nk = 2;
    float *q = malloc(n_tokens * nq * 128 * 4), *k = malloc(n_tokens * nk * 128 * 4);
    uint16_t *q16 = malloc(n_tokens * nq * 128 * 2), *k16 = malloc(n_tokens * nk * 128 * 2);
    uint16_t *q16b = malloc(n_tokens * nq * 128 * 2), *k16b = malloc(n_tokens * nk * 128 * 2);
    test_fill(q, n_tokens * nq * 128, -1, 1);
    test_fill(k, n_tokens * nk * 128, -1, 1);
    posenc_rope_args args;
    posenc_rope_args_init(&args, sizeof args);
    args.start_pos = 4000;
    posenc_tensor qs = view(q, POSENC_F32, nq * 128, 128), ks = view(k, POSENC_F32, nk * 128, 128);
    posenc_tensor qd = view(q16, POSENC_F16, nq * 128, 128), kd = view(k16, POSENC_BF16, nk * 128, 128);
    posenc_tensor qd2 = view(q16b, POSENC_F16, nq * 128, 128), kd2 = view(k16b, POSENC_BF16, nk * 128, 128);
    assert_int_equal(posenc_rope_rotate_qk(plan, &args, &qs, &ks, &qd, &kd, n_tokens, nq, nk), POSENC_OK);
    assert_int_equal(posenc_rope_rotate(plan, &args, &qs, &qd2, n_tokens, nq), POSENC_OK);
    assert_int_equal(posenc_rope_rotate(plan, &args, &ks, &kd2, n_tokens, nk), POSENC_OK);
    assert_memory_equal(q16, q16b, n_tokens * nq * 128 * 2);
    assert_memory_equal(k16, k16b, n_tokens * nk * 128 * 2);
    free(q), free(k), free(q16), free(k16), free(q16b), free(k16b);
    posenc_rope_plan_destroy(plan);
}

/* Accuracy against float64 for bf16 and f16 destinations: per head within 1e-6 + the type's rounding. */
static void rope_reduced_accuracy(void **state)
{
    (void)state;
    use(isa);
    const size_t head_dim = 128, n_tokens = 16, n_heads = 4;
    posenc_rope_plan *plan = test_plain_plan(head_dim, head_dim, POSENC_ROPE_INTERLEAVED, 10000.0);
    double omega[64];
    assert_int_equal(posenc_rope_plan_info(plan, omega, 64, NULL), POSENC_OK);
    float *x = malloc(n_tokens * n_heads * head_dim * 4);
    uint16_t *y = malloc(n_tokens * n_heads * head_dim * 2);
    test_fill(x, n_tokens * n_heads * head_dim, -1, 1);
    const double bound[3] = { 0, 1e-6 + 0x1p-11, 1e-6 + 0x1p-8 };
    for (int d = POSENC_F16; d <= POSENC_BF16; d++) {
        posenc_rope_args args;
        posenc_rope_args_init(&args, sizeof args);
        args.start_pos = POSENC_MAX_POSITION - (int64_t)n_tokens;
        posenc_tensor sv = view(x, POSENC_F32, n_heads * head_dim, head_dim);
        posenc_tensor dv = view(y, d, n_heads * head_dim, head_dim);
        assert_int_equal(posenc_rope_rotate(plan, &args, &sv, &dv, n_tokens, n_heads), POSENC_OK);
        double worst = 0;
        for (size_t t = 0; t < n_tokens; t++)
            for (size_t h = 0; h < n_heads; h++) {
                const float *xh = x + (t * n_heads + h) * head_dim;
                const uint16_t *yh = y + (t * n_heads + h) * head_dim;
                double err = 0, norm = 0, p = (double)(args.start_pos + (int64_t)t);
                for (size_t i = 0; i < head_dim / 2; i++) {
                    long double th = (long double)p * (long double)omega[i];
                    double c = (double)cosl(th), s = (double)sinl(th);
                    double a = xh[2 * i], b = xh[2 * i + 1];
                    double ya = a * c - b * s, yb = b * c + a * s;
                    double ga = oracle_widen(d, yh[2 * i]), gb = oracle_widen(d, yh[2 * i + 1]);
                    err += (ga - ya) * (ga - ya) + (gb - yb) * (gb - yb);
                    norm += ya * ya + yb * yb;
                }
                double rel = sqrt(err / norm);
                worst = rel > worst ? rel : worst;
            }
        fprintf(stderr, "# %s dtype %d: worst per-head relative error %.3g (bound %.3g)\n", isa, d, worst, bound[d]);
        assert_true(worst <= bound[d]);
    }
    free(x), free(y);
    posenc_rope_plan_destroy(plan);
}

/* ---- positions: axis-major equals token-major; SAME_POSITION equals the shift ---------------------------- */

static void rope_positions_layouts(void **state)
{
    (void)state;
    use(isa);
    posenc_rope_config cfg;
    posenc_rope_config_init(&cfg, sizeof cfg);
    cfg.head_dim = 128;
    cfg.axes = POSENC_AXES_MROPE;
    cfg.n_sections = 3;
    cfg.sections[0] = 16, cfg.sections[1] = 24, cfg.sections[2] = 24;
    posenc_rope_plan *plan;
    assert_int_equal(posenc_rope_plan_create(&cfg, &plan), POSENC_OK);
    size_t n_tokens = 23, n_heads = 3, n = n_tokens * n_heads * 128;
    int64_t token_major[23 * 3], axis_major[3 * 30];
    for (size_t t = 0; t < n_tokens; t++)
        for (size_t a = 0; a < 3; a++) {
            token_major[t * 3 + a] = (int64_t)test_rand_below(100000);
            axis_major[a * 30 + t] = token_major[t * 3 + a];
        }
    float *x = malloc(n * 4), *y1 = malloc(n * 4), *y2 = malloc(n * 4);
    test_fill(x, n, -1, 1);
    posenc_rope_args args;
    posenc_rope_args_init(&args, sizeof args);
    posenc_tensor sv = view(x, POSENC_F32, n_heads * 128, 128);
    posenc_tensor d1 = view(y1, POSENC_F32, n_heads * 128, 128), d2 = view(y2, POSENC_F32, n_heads * 128, 128);
    args.positions = token_major;
    assert_int_equal(posenc_rope_rotate(plan, &args, &sv, &d1, n_tokens, n_heads), POSENC_OK);
    args.positions = axis_major;
    args.position_axis_stride = 30;
    assert_int_equal(posenc_rope_rotate(plan, &args, &sv, &d2, n_tokens, n_heads), POSENC_OK);
    assert_memory_equal(y1, y2, n * 4);
    /* SAME_POSITION + NO_MSCALE is the 0.1 shift */
    memcpy(y1, x, n * 4);
    memcpy(y2, x, n * 4);
    assert_int_equal(posenc_rope_shift(plan, y1, n_tokens, n_heads, n_heads * 128, 128, -77777, 0), POSENC_OK);
    posenc_rope_args_init(&args, sizeof args);
    args.flags = POSENC_ROPE_SAME_POSITION | POSENC_ROPE_NO_MSCALE;
    args.start_pos = -77777;
    assert_int_equal(posenc_rope_rotate(plan, &args, &d2, &d2, n_tokens, n_heads), POSENC_OK);
    assert_memory_equal(y1, y2, n * 4);
    free(x), free(y1), free(y2);
    posenc_rope_plan_destroy(plan);
}

/* ---- the parallel hook ------------------------------------------------------------------------------------- */

typedef struct test_pool {
    int mode;               /* 0 in order, 1 reverse, 2 concurrent on threads */
    size_t calls, tasks_run;
} test_pool;

typedef struct thread_arg {
    posenc_task_fn fn;
    void *arg;
    size_t first, step, n;
} thread_arg;

static void *thread_main(void *p)
{
    thread_arg *a = p;
    for (size_t i = a->first; i < a->n; i += a->step)
        a->fn(a->arg, i);
    return NULL;
}

static void test_parallel_for(void *pool, size_t n_tasks, posenc_task_fn fn, void *task_arg)
{
    test_pool *tp = pool;
    tp->calls++;
    tp->tasks_run += n_tasks;
    if (tp->mode == 0) {
        for (size_t i = 0; i < n_tasks; i++)
            fn(task_arg, i);
    } else if (tp->mode == 1) {
        for (size_t i = n_tasks; i-- > 0;)
            fn(task_arg, i);
    } else {
        pthread_t th[3];
        thread_arg ta[3];
        for (size_t i = 0; i < 3; i++) {
            ta[i] = (thread_arg){ fn, task_arg, i, 3, n_tasks };
            assert_int_equal(pthread_create(&th[i], NULL, thread_main, &ta[i]), 0);
        }
        for (size_t i = 0; i < 3; i++)
            pthread_join(th[i], NULL);
    }
}

static void rope_parallel_same_bits(void **state)
{
    (void)state;
    use(isa);
    posenc_rope_plan *plan = test_plain_plan(128, 96, POSENC_ROPE_HALF, 10000.0);
    size_t n_tokens = 301, nq = 8, nk = 2;
    size_t nqe = n_tokens * nq * 128, nke = n_tokens * nk * 128;
    float *q = malloc(nqe * 4), *k = malloc(nke * 4), *q_ref = malloc(nqe * 4);
    uint16_t *k_ref = malloc(nke * 2), *k_out = malloc(nke * 2);
    float *q_out = malloc(nqe * 4);
    test_fill(q, nqe, -1, 1);
    test_fill(k, nke, -1, 1);
    posenc_rope_args args;
    posenc_rope_args_init(&args, sizeof args);
    args.start_pos = 12345;
    posenc_tensor qs = view(q, POSENC_F32, nq * 128, 128), ks = view(k, POSENC_F32, nk * 128, 128);
    posenc_tensor qr = view(q_ref, POSENC_F32, nq * 128, 128), kr = view(k_ref, POSENC_BF16, nk * 128, 128);
    assert_int_equal(posenc_rope_rotate_qk(plan, &args, &qs, &ks, &qr, &kr, n_tokens, nq, nk), POSENC_OK);
    const size_t task_counts[] = { 1, 2, 3, 7, 64, 1000 };
#ifdef POSENC_TEST_NO_THREADS
    const int n_modes = 2;   /* in order and reversed on this thread only (qemu-user cannot start threads) */
#else
    const int n_modes = 3;
#endif
    for (int mode = 0; mode < n_modes; mode++)
        for (size_t c = 0; c < sizeof task_counts / sizeof task_counts[0]; c++) {
            test_pool pool = { mode, 0, 0 };
            posenc_parallel par = { test_parallel_for, &pool, task_counts[c] };
            args.parallel = &par;
            memset(q_out, 0, nqe * 4);
            memset(k_out, 0, nke * 2);
            posenc_tensor qo = view(q_out, POSENC_F32, nq * 128, 128), ko = view(k_out, POSENC_BF16, nk * 128, 128);
            assert_int_equal(posenc_rope_rotate_qk(plan, &args, &qs, &ks, &qo, &ko, n_tokens, nq, nk), POSENC_OK);
            assert_memory_equal(q_out, q_ref, nqe * 4);
            assert_memory_equal(k_out, k_ref, nke * 2);
            /* max_tasks 1 never calls the pool; more does, once, with at most max_tasks tasks */
            assert_int_equal(pool.calls, task_counts[c] > 1 ? 1 : 0);
            assert_true(pool.tasks_run <= task_counts[c]);
        }
    /* small work stays on the calling thread */
    test_pool pool = { 0, 0, 0 };
    posenc_parallel par = { test_parallel_for, &pool, 8 };
    args.parallel = &par;
    assert_int_equal(posenc_rope_rotate(plan, &args, &qs, &qs, 2, nq), POSENC_OK);
    assert_int_equal(pool.calls, 0);
    free(q), free(k), free(q_ref), free(k_ref), free(k_out), free(q_out);
    posenc_rope_plan_destroy(plan);
}

/* ---- statuses of the 0.2 RoPE calls (each leaves the outputs untouched) ---------------------------------- */

static void rope_v2_errors(void **state)
{
    (void)state;
    use(isa);
    posenc_rope_plan *plan = test_plain_plan(8, 8, POSENC_ROPE_HALF, 10000.0);
    float x[64], y[64], before[64];
    uint16_t h[128];
    test_fill(x, 64, -1, 1);
    memcpy(before, x, sizeof x);
    memset(y, 0, sizeof y);
    posenc_rope_args args;
    posenc_rope_args_init(&args, sizeof args);
    posenc_tensor xv = view(x, POSENC_F32, 16, 8), yv = view(y, POSENC_F32, 16, 8);

    assert_int_equal(posenc_rope_args_init(NULL, sizeof args), POSENC_ERR_NULL);
    assert_int_equal(posenc_rope_args_init(&args, POSENC_ROPE_ARGS_SIZE_V1 - 1), POSENC_ERR_STRUCT_SIZE);
    assert_int_equal(posenc_rope_args_init(&args, sizeof args + 1), POSENC_ERR_STRUCT_SIZE);
    assert_int_equal(posenc_rope_args_init(&args, sizeof args), POSENC_OK);
    assert_int_equal(posenc_rope_rotate(NULL, &args, &xv, &yv, 4, 2), POSENC_ERR_NULL);
    assert_int_equal(posenc_rope_rotate(plan, &args, NULL, &yv, 4, 2), POSENC_ERR_NULL);
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, NULL, 4, 2), POSENC_ERR_NULL);
    posenc_tensor bad = xv;
    bad.data = NULL;
    assert_int_equal(posenc_rope_rotate(plan, &args, &bad, &yv, 4, 2), POSENC_ERR_NULL);
    bad = xv;
    bad.dtype = 3;
    assert_int_equal(posenc_rope_rotate(plan, &args, &bad, &yv, 4, 2), POSENC_ERR_ENUM);
    bad = xv;
    bad.reserved = 1;
    assert_int_equal(posenc_rope_rotate(plan, &args, &bad, &yv, 4, 2), POSENC_ERR_ENUM);
    posenc_tensor odd = view((char *)h + 1, POSENC_BF16, 16, 8);
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, &odd, 4, 2), POSENC_ERR_PARAM);
    odd = view((char *)y + 2, POSENC_F32, 16, 8);
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, &odd, 1, 1), POSENC_ERR_PARAM);
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, &yv, 4, 0), POSENC_ERR_SHAPE);
    posenc_tensor tight = view(y, POSENC_F32, 16, 7);
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, &tight, 4, 2), POSENC_ERR_STRIDE);
    /* in place needs the same type and strides */
    posenc_tensor x16 = view(x, POSENC_BF16, 16, 8);
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, &x16, 4, 2), POSENC_ERR_OVERLAP);
    posenc_tensor shifted = view(x + 1, POSENC_F32, 16, 8);
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, &shifted, 3, 2), POSENC_ERR_OVERLAP);
    /* a bf16 destination inside the f32 source */
    posenc_tensor inside = view((char *)x + 8, POSENC_BF16, 16, 8);
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, &inside, 2, 1), POSENC_ERR_OVERLAP);
    /* flags and positions */
    args.flags = 8;
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, &yv, 4, 2), POSENC_ERR_ENUM);
    int64_t pos[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    args.flags = POSENC_ROPE_SAME_POSITION;
    args.positions = pos;
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, &yv, 4, 2), POSENC_ERR_ENUM);
    args.flags = POSENC_ROPE_SAME_POSITION;
    args.positions = NULL;
    args.start_pos = POSENC_MAX_POSITION + 1;
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, &yv, 0, 2), POSENC_ERR_RANGE);
    posenc_rope_args_init(&args, sizeof args);
    args.start_pos = POSENC_MAX_POSITION - 2;
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, &yv, 4, 2), POSENC_ERR_RANGE);
    args.start_pos = 0;
    pos[3] = -POSENC_MAX_POSITION - 1;
    args.positions = pos;
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, &yv, 4, 2), POSENC_ERR_RANGE);
    pos[3] = 3;
    /* positions that a destination would overwrite */
    int64_t *pos_in_y = (int64_t *)(void *)(y + 32);
    for (int i = 0; i < 4; i++)
        pos_in_y[i] = i;
    args.positions = pos_in_y;
    memcpy(before, y, sizeof y);
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, &yv, 4, 2), POSENC_ERR_OVERLAP);
    assert_memory_equal(y, before, sizeof y);
    /* axis-major positions of a multi-axis plan need a stride >= n_tokens */
    posenc_rope_config cfg;
    posenc_rope_config_init(&cfg, sizeof cfg);
    cfg.head_dim = 8;
    cfg.axes = POSENC_AXES_VISION_2D;
    cfg.n_sections = 2;
    cfg.sections[0] = 2, cfg.sections[1] = 2;
    posenc_rope_plan *plan2;
    assert_int_equal(posenc_rope_plan_create(&cfg, &plan2), POSENC_OK);
    posenc_rope_args_init(&args, sizeof args);
    args.positions = pos;
    args.position_axis_stride = 3;
    assert_int_equal(posenc_rope_rotate(plan2, &args, &xv, &yv, 4, 2), POSENC_ERR_STRIDE);
    args.position_axis_stride = SIZE_MAX / 2;
    assert_int_equal(posenc_rope_rotate(plan2, &args, &xv, &yv, 4, 2), POSENC_ERR_SHAPE);
    posenc_rope_plan_destroy(plan2);
    /* a pool without its function */
    posenc_rope_args_init(&args, sizeof args);
    posenc_parallel par = { NULL, NULL, 4 };
    args.parallel = &par;
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, &yv, 4, 2), POSENC_ERR_NULL);
    /* args struct size */
    posenc_rope_args_init(&args, sizeof args);
    args.struct_size = 8;
    assert_int_equal(posenc_rope_rotate(plan, &args, &xv, &yv, 4, 2), POSENC_ERR_STRUCT_SIZE);
    /* q and k: k's destination inside q's source; n_k_heads 0 */
    posenc_rope_args_init(&args, sizeof args);
    posenc_tensor kin = view(x + 8, POSENC_F32, 16, 8);
    assert_int_equal(posenc_rope_rotate_qk(plan, &args, &xv, &yv, &yv, &kin, 2, 1, 1), POSENC_ERR_OVERLAP);
    assert_int_equal(posenc_rope_rotate_qk(plan, &args, &xv, &yv, &xv, &yv, 4, 1, 0), POSENC_ERR_SHAPE);
    /* tables */
    float cosv[4] = { 1, 1, 1, 1 }, sinv[4] = { 0, 0, 0, 0 };
    assert_int_equal(posenc_rope_rotate_tables(plan, &args, &xv, NULL, sinv, 4, &yv, 1, 2), POSENC_ERR_NULL);
    assert_int_equal(posenc_rope_rotate_tables(plan, &args, &xv, cosv, sinv, 3, &yv, 2, 2), POSENC_ERR_STRIDE);
    assert_int_equal(posenc_rope_rotate_tables(plan, &args, &xv, y, sinv, 4, &yv, 1, 2), POSENC_ERR_OVERLAP);
    /* nothing was written by any refused call; x was never a destination of a refused call that passed checks */
    for (int i = 0; i < 32; i++)
        assert_true(y[i] == 0.0f);
    posenc_rope_plan_destroy(plan);
}

/* ---- the softmax on tensor views: per-row query positions, the parallel hook, statuses ------------------- */

static posenc_softmax_desc alibi_desc(void)
{
    posenc_softmax_desc d;
    posenc_softmax_desc_init(&d, sizeof d);
    d.position = POSENC_POSITION_CAUSAL;
    d.slopes_mode = POSENC_SLOPES_ALIBI;
    d.scale = 0.125f;
    return d;
}

/* q_positions: each row equals a one-row call with q_pos0 = its position; q_pos0 + i equals no array. */
static void softmax_q_positions(void **state)
{
    (void)state;
    use(isa);
    const size_t n_heads = 5, n_rows = 9, n_cols = 333;
    size_t n = n_heads * n_rows * n_cols;
    float *src = malloc(n * 4), *y = malloc(n * 4), *want = malloc(n * 4);
    test_fill(src, n, -8, 8);
    int64_t qpos[9];
    for (size_t i = 0; i < n_rows; i++)
        qpos[i] = 40 + (int64_t)test_rand_below(400);     /* some rows see no key, some see all */
    posenc_softmax_desc d = alibi_desc();
    d.k_pos0 = 100;
    for (size_t i = 0; i < n_rows; i++) {
        posenc_softmax_desc one = d;
        one.q_pos0 = qpos[i];
        assert_int_equal(posenc_softmax(&one, src + i * n_cols, n_rows * n_cols, n_cols, want + i * n_cols,
                                        n_rows * n_cols, n_cols, n_heads, 1, n_cols), POSENC_OK);
    }
    d.q_positions = qpos;
    posenc_tensor sv = view(src, POSENC_F32, n_rows * n_cols, n_cols), yv = view(y, POSENC_F32, n_rows * n_cols, n_cols);
    assert_int_equal(posenc_softmax_forward(&d, &sv, &yv, n_heads, n_rows, n_cols), POSENC_OK);
    assert_memory_equal(y, want, n * 4);
    /* consecutive positions through the array equal q_pos0 */
    for (size_t i = 0; i < n_rows; i++)
        qpos[i] = 250 + (int64_t)i;
    assert_int_equal(posenc_softmax_forward(&d, &sv, &yv, n_heads, n_rows, n_cols), POSENC_OK);
    d.q_positions = NULL;
    d.q_pos0 = 250;
    assert_int_equal(posenc_softmax_forward(&d, &sv, &sv, n_heads, n_rows, n_cols), POSENC_OK);
    assert_memory_equal(y, src, n * 4);
    free(src), free(y), free(want);
}

static void softmax_parallel_same_bits(void **state)
{
    (void)state;
    use(isa);
    const size_t shapes[][3] = { { 32, 1, 32768 }, { 7, 97, 517 }, { 1, 4096, 64 } };
    /* layouts: 0 consecutive keys, EXACT; 1 keys at given positions (per-task bias terms), FAST, statistics;
     * 2 a 2-D grid with a CLS token (rows outer, heads inner), EXACT, statistics */
    for (int layout = 0; layout < 3; layout++)
    for (size_t sh = 0; sh < 3; sh++) {
        size_t n_heads = shapes[sh][0], n_rows = shapes[sh][1], n_cols = shapes[sh][2], n = n_heads * n_rows * n_cols;
        float *src = malloc(n * 4), *ref = malloc(n * 4), *out = malloc(n * 4);
        float *stats_ref = malloc(2 * n_heads * n_rows * 4), *stats_out = malloc(2 * n_heads * n_rows * 4);
        int64_t *keys = malloc(n_cols * sizeof *keys);
        test_fill(src, n, -20, 20);
        posenc_softmax_desc d = alibi_desc();
        d.q_pos0 = n_cols > n_rows ? (int64_t)(n_cols - n_rows) : 0;
        if (layout == 1) {
            for (size_t j = 0; j < n_cols; j++)
                keys[j] = (int64_t)test_rand_below(n_cols + 8);
            d.k_positions = keys;
            d.precision = POSENC_SOFTMAX_FAST;
        } else if (layout == 2) {
            d.position = POSENC_POSITION_GRID_EUCLIDEAN;
            d.grid_width = 1 + (int32_t)test_rand_below(64);
            d.grid_prefix = 1;
            d.q_pos0 = 0;
        }
        d.stats = layout ? stats_ref : NULL;
        posenc_tensor sv = view(src, POSENC_F32, n_rows * n_cols, n_cols);
        posenc_tensor rv = view(ref, POSENC_F32, n_rows * n_cols, n_cols), ov = view(out, POSENC_F32, n_rows * n_cols, n_cols);
        assert_int_equal(posenc_softmax_forward(&d, &sv, &rv, n_heads, n_rows, n_cols), POSENC_OK);
        const size_t task_counts[] = { 1, 2, 3, 7, 1000 };
#ifdef POSENC_TEST_NO_THREADS
        const int n_modes = 2;
#else
        const int n_modes = 3;
#endif
        for (int mode = 0; mode < n_modes; mode++)
            for (size_t c = 0; c < sizeof task_counts / sizeof task_counts[0]; c++) {
                test_pool pool = { mode, 0, 0 };
                posenc_parallel par = { test_parallel_for, &pool, task_counts[c] };
                d.parallel = &par;
                d.stats = layout ? stats_out : NULL;
                memset(out, 0, n * 4);
                assert_int_equal(posenc_softmax_forward(&d, &sv, &ov, n_heads, n_rows, n_cols), POSENC_OK);
                assert_memory_equal(out, ref, n * 4);
                if (layout)
                    assert_memory_equal(stats_out, stats_ref, 2 * n_heads * n_rows * 4);
                assert_int_equal(pool.calls, task_counts[c] > 1 ? 1 : 0);
                assert_true(pool.tasks_run <= task_counts[c]);
            }
        d.parallel = NULL;
        free(src), free(ref), free(out), free(stats_ref), free(stats_out), free(keys);
    }
}

/* Element types: for every (src, dst, mask) type combination, posenc_softmax_forward on `isa` gives exactly the
 * float32 softmax (posenc_softmax on the scalar reference) of the inputs widened by the oracle, each output
 * rounded once by the oracle: special values of every type (subnormals, infinities, NaN, values beyond f16's
 * range), causal and symmetric ALiBi, sinks, strides, in place. */
static void softmax_case_types(int s, int d, int m, int in_place, int specials)
{
    size_t n_heads = 1 + test_rand_below(3), n_rows = 1 + test_rand_below(4);
    /* rows past POSENC_SOFTMAX_E_KEEP (16384, src/kernels.h) take pass 3's recomputation for a 16-bit dst */
    size_t n_cols = test_rand_below(4) ? 1 + test_rand_below(150)
                  : test_rand_below(2) ? 4000 + test_rand_below(300) : 16300 + test_rand_below(300);
    size_t row_stride = n_cols + test_rand_below(3), head_stride = n_rows * row_stride + test_rand_below(3);
    size_t n = n_heads * head_stride;
    posenc_softmax_desc desc = alibi_desc();
    desc.position = (int32_t)test_rand_below(3);
    desc.slopes_mode = test_rand_below(4) ? POSENC_SLOPES_ALIBI : POSENC_SLOPES_NONE;
    desc.k_pos0 = (int64_t)test_rand_below(50);
    desc.q_pos0 = desc.k_pos0 + (int64_t)test_rand_below(n_cols + 4);
    float sinks[3] = { 0.5f, -1.0f, 2.0f };
    if (test_rand_below(3) == 0)
        desc.sinks = sinks;

    size_t mis_s = test_rand_below(3), mis_d = in_place ? mis_s : test_rand_below(3);
    typed_buf src = typed_new(n, s, mis_s), dst = in_place ? src : typed_new(n, d, mis_d);
    float *wide = malloc(n * 4), *want_f = malloc(n * 4), *wide_mask = NULL;
    assert_true(wide && want_f);
    for (size_t i = 0; i < n; i++)
        store_elem(s, src.data, i, random_value(s, specials) * 4.0f);
    for (size_t i = 0; i < n; i++)
        wide[i] = load_elem(s, src.data, i);
    typed_buf mask = { NULL, NULL, 0 };
    size_t mask_n = n_rows * n_cols;
    if (m >= 0) {
        mask = typed_new(mask_n, m, test_rand_below(3));
        wide_mask = malloc(mask_n * 4);
        assert_non_null(wide_mask);
        for (size_t i = 0; i < mask_n; i++)
            store_elem(m, mask.data, i, test_rand_below(8) ? random_value(m, specials) : -INFINITY);
        for (size_t i = 0; i < mask_n; i++)
            wide_mask[i] = load_elem(m, mask.data, i);
    }

    /* The float32 computation on the widened inputs, on the scalar reference, then the oracle's rounding. */
    use("scalar");
    posenc_softmax_desc wide_desc = desc;
    if (m >= 0) {
        wide_desc.mask = wide_mask;
        wide_desc.mask_row_stride = n_cols;
    }
    assert_int_equal(posenc_softmax(&wide_desc, wide, head_stride, row_stride, want_f, head_stride, row_stride,
                                    n_heads, n_rows, n_cols), POSENC_OK);
    typed_buf want = typed_new(n, d, 0);
    memcpy(want.data, in_place ? src.data : dst.data, want.bytes);   /* the gaps between rows stay as they were */
    for (size_t h = 0; h < n_heads; h++)
        for (size_t r = 0; r < n_rows; r++)
            for (size_t j = 0; j < n_cols; j++) {
                size_t i = h * head_stride + r * row_stride + j;
                store_elem(d, want.data, i, want_f[i]);
            }

    use(isa);
    if (m >= 0) {
        desc.mask = (const float *)mask.data;
        desc.mask_dtype = m;
        desc.mask_row_stride = n_cols;
    }
    posenc_tensor sv = view(src.data, s, head_stride, row_stride), dv = view(dst.data, d, head_stride, row_stride);
    assert_int_equal(posenc_softmax_forward(&desc, &sv, &dv, n_heads, n_rows, n_cols), POSENC_OK);
    if (memcmp(dst.data, want.data, want.bytes) != 0) {
        for (size_t i = 0; i < n; i++)
            if (memcmp((char *)dst.data + i * dtype_size(d), (char *)want.data + i * dtype_size(d), dtype_size(d)))
                fail_msg("%s softmax %d->%d mask %d in_place %d, %zu x %zu x %zu: element %zu differs", isa, s, d,
                         m, in_place, n_heads, n_rows, n_cols, i);
    }
    guard_ok(&src, mis_s * dtype_size(s));
    if (!in_place) {
        guard_ok(&dst, mis_d * dtype_size(d));
        free(dst.base);
    }
    free(src.base), free(want.base), free(mask.base), free(wide), free(want_f), free(wide_mask);
}

static void softmax_types_match_spec(void **state)
{
    (void)state;
    for (int s = POSENC_F32; s <= POSENC_BF16; s++)
        for (int d = POSENC_F32; d <= POSENC_BF16; d++)
            for (int m = -1; m <= POSENC_BF16; m++)
                for (int rep = 0; rep < 8; rep++) {
                    softmax_case_types(s, d, m, 0, rep % 2);
                    if (s == d)
                        softmax_case_types(s, d, m, 1, rep % 2);
                }
}

static void softmax_v2_errors(void **state)
{
    (void)state;
    use(isa);
    float x[64], y[64];
    test_fill(x, 64, -1, 1);
    memset(y, 0, sizeof y);
    posenc_softmax_desc d = alibi_desc();
    d.q_pos0 = 7;
    posenc_tensor xv = view(x, POSENC_F32, 32, 8), yv = view(y, POSENC_F32, 32, 8);
    assert_int_equal(posenc_softmax_forward(NULL, &xv, &yv, 2, 4, 8), POSENC_ERR_NULL);
    assert_int_equal(posenc_softmax_forward(&d, NULL, &yv, 2, 4, 8), POSENC_ERR_NULL);
    assert_int_equal(posenc_softmax_forward(&d, &xv, NULL, 2, 4, 8), POSENC_ERR_NULL);
    posenc_tensor bad = xv;
    bad.dtype = -1;
    assert_int_equal(posenc_softmax_forward(&d, &bad, &yv, 2, 4, 8), POSENC_ERR_ENUM);
    bad = yv;
    bad.reserved = 7;
    assert_int_equal(posenc_softmax_forward(&d, &xv, &bad, 2, 4, 8), POSENC_ERR_ENUM);
    bad = view((char *)y + 1, POSENC_F32, 32, 8);
    assert_int_equal(posenc_softmax_forward(&d, &xv, &bad, 2, 4, 8), POSENC_ERR_PARAM);
    bad = view((char *)y + 1, POSENC_BF16, 32, 8);     /* 16-bit elements must be 2-byte aligned */
    assert_int_equal(posenc_softmax_forward(&d, &xv, &bad, 2, 4, 8), POSENC_ERR_PARAM);
    bad = view((char *)x + 1, POSENC_F16, 32, 8);
    assert_int_equal(posenc_softmax_forward(&d, &bad, &yv, 2, 4, 8), POSENC_ERR_PARAM);
    posenc_tensor in_place_other_type = view(x, POSENC_F16, 32, 8);   /* in place needs the same dtype */
    assert_int_equal(posenc_softmax_forward(&d, &xv, &in_place_other_type, 2, 4, 8), POSENC_ERR_OVERLAP);
    posenc_tensor half_over_src = view((char *)x + 100, POSENC_BF16, 32, 8);   /* bytes shared with x */
    assert_int_equal(posenc_softmax_forward(&d, &xv, &half_over_src, 2, 4, 8), POSENC_ERR_OVERLAP);
    d.mask_dtype = 3;
    assert_int_equal(posenc_softmax_forward(&d, &xv, &yv, 2, 4, 8), POSENC_ERR_ENUM);
    d.mask_dtype = -1;
    assert_int_equal(posenc_softmax_forward(&d, &xv, &yv, 2, 4, 8), POSENC_ERR_ENUM);
    d.mask_dtype = POSENC_F16;
    d.mask = (const float *)(const void *)((const char *)x + 1);   /* an f16 mask must be 2-byte aligned */
    assert_int_equal(posenc_softmax_forward(&d, &xv, &yv, 2, 4, 8), POSENC_ERR_PARAM);
    d.mask = (const float *)(const void *)((const char *)y + 62);  /* an f16 mask over dst's bytes */
    d.mask_row_stride = 8;
    assert_int_equal(posenc_softmax_forward(&d, &xv, &yv, 2, 4, 8), POSENC_ERR_OVERLAP);
    d.mask = NULL;
    d.mask_row_stride = 0;
    d.mask_dtype = POSENC_F32;
    int64_t qpos[4] = { 7, 8, 9, 10 };
    d.q_positions = qpos;
    qpos[2] = -1;
    assert_int_equal(posenc_softmax_forward(&d, &xv, &yv, 2, 4, 8), POSENC_ERR_RANGE);
    qpos[2] = POSENC_MAX_POSITION + 1;
    assert_int_equal(posenc_softmax_forward(&d, &xv, &yv, 2, 4, 8), POSENC_ERR_RANGE);
    d.q_positions = (const int64_t *)(const void *)(y + 40);
    assert_int_equal(posenc_softmax_forward(&d, &xv, &yv, 2, 4, 8), POSENC_ERR_OVERLAP);
    d.q_positions = NULL;
    posenc_parallel no_fn = { NULL, NULL, 2 };
    d.parallel = &no_fn;
    assert_int_equal(posenc_softmax_forward(&d, &xv, &yv, 2, 4, 8), POSENC_ERR_NULL);
    for (int i = 0; i < 64; i++)
        assert_true(y[i] == 0.0f);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        isa = argv[1];
    test_seed_init();
    int supported = 0;
    for (size_t i = 0; i < posenc_isa_count(); i++)
        if (strcmp(posenc_isa_name(i), isa) == 0)
            supported = posenc_isa_supported(i);
    if (!supported) {
        fprintf(stderr, "variant %s is not supported by this CPU or build\n", isa);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conversions_match_oracle),
        cmocka_unit_test(rope_types_match_spec),
        cmocka_unit_test(rope_every_tail),
        cmocka_unit_test(rope_qk_types),
        cmocka_unit_test(rope_reduced_accuracy),
        cmocka_unit_test(rope_positions_layouts),
        cmocka_unit_test(rope_parallel_same_bits),
        cmocka_unit_test(rope_v2_errors),
        cmocka_unit_test(softmax_q_positions),
        cmocka_unit_test(softmax_parallel_same_bits),
        cmocka_unit_test(softmax_types_match_spec),
        cmocka_unit_test(softmax_v2_errors),
    };
    return cmocka_run_group_tests_name(isa, tests, NULL, NULL);
}
