/* test_dlopen.c - loads libposenc.so with dlopen (path in argv[1]) and checks RoPE and softmax through dlsym only. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posenc.h"   /* types and constants only: every function is resolved with dlsym */

static int failures;

#define CHECK(cond, ...)                                                                                       \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            fprintf(stderr, "test_dlopen.c:%d: check failed: %s: ", __LINE__, #cond);                          \
            fprintf(stderr, __VA_ARGS__);                                                                      \
            fputc('\n', stderr);                                                                               \
            failures++;                                                                                        \
        }                                                                                                      \
    } while (0)

/* The public functions, each resolved into a pointer of its declared type. */
static struct {
    __typeof__(posenc_strerror) *strerror_;
    __typeof__(posenc_version) *version;
    __typeof__(posenc_version_number) *version_number;
    __typeof__(posenc_isa) *isa;
    __typeof__(posenc_isa_count) *isa_count;
    __typeof__(posenc_isa_name) *isa_name;
    __typeof__(posenc_rope_config_init) *rope_config_init;
    __typeof__(posenc_rope_plan_create) *rope_plan_create;
    __typeof__(posenc_rope_plan_destroy) *rope_plan_destroy;
    __typeof__(posenc_rope_plan_info) *rope_plan_info;
    __typeof__(posenc_rope_apply) *rope_apply;
    __typeof__(posenc_rope_apply_qk) *rope_apply_qk;
    __typeof__(posenc_softmax_desc_init) *softmax_desc_init;
    __typeof__(posenc_alibi_slopes) *alibi_slopes;
    __typeof__(posenc_softmax) *softmax;
} api;

static int resolve(void *lib, const char *name, void *fn_slot)
{
    dlerror();
    void *sym = dlsym(lib, name);
    if (!sym) {
        const char *err = dlerror();
        fprintf(stderr, "dlsym(%s) failed: %s\n", name, err ? err : "NULL symbol");
        return 0;
    }
    memcpy(fn_slot, &sym, sizeof sym);   /* POSIX: a data pointer from dlsym converts to a function pointer */
    return 1;
}

#define RESOLVE(lib, field, name) ok &= resolve((lib), (name), &api.field)

static int resolve_all(void *lib)
{
    int ok = 1;
    RESOLVE(lib, strerror_, "posenc_strerror");
    RESOLVE(lib, version, "posenc_version");
    RESOLVE(lib, version_number, "posenc_version_number");
    RESOLVE(lib, isa, "posenc_isa");
    RESOLVE(lib, isa_count, "posenc_isa_count");
    RESOLVE(lib, isa_name, "posenc_isa_name");
    RESOLVE(lib, rope_config_init, "posenc_rope_config_init");
    RESOLVE(lib, rope_plan_create, "posenc_rope_plan_create");
    RESOLVE(lib, rope_plan_destroy, "posenc_rope_plan_destroy");
    RESOLVE(lib, rope_plan_info, "posenc_rope_plan_info");
    RESOLVE(lib, rope_apply, "posenc_rope_apply");
    RESOLVE(lib, rope_apply_qk, "posenc_rope_apply_qk");
    RESOLVE(lib, softmax_desc_init, "posenc_softmax_desc_init");
    RESOLVE(lib, alibi_slopes, "posenc_alibi_slopes");
    RESOLVE(lib, softmax, "posenc_softmax");
    return ok;
}

/* ---- the float64 references, written straight from the formulas in posenc.h ---- */

/* One head at position p: pairs (a, b) rotated by p * base^(-2i/rotary_dim); the rest copied. */
static void rope_head_ref(const float *x, double *y, size_t head_dim, size_t rotary_dim, int interleaved,
                          double base, double p)
{
    for (size_t e = 0; e < head_dim; e++)
        y[e] = x[e];
    for (size_t i = 0; i < rotary_dim / 2; i++) {
        size_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + rotary_dim / 2;
        double angle = p * pow(base, -(double)(2 * i) / (double)rotary_dim);
        double c = cos(angle), s = sin(angle);
        y[a] = (double)x[a] * c - (double)x[b] * s;
        y[b] = (double)x[b] * c + (double)x[a] * s;
    }
}

/* ||y - ref|| / ||ref|| over one head. */
static double head_rel_error(const float *y, const double *ref, size_t head_dim)
{
    double err = 0.0, norm = 0.0;
    for (size_t e = 0; e < head_dim; e++) {
        err += ((double)y[e] - ref[e]) * ((double)y[e] - ref[e]);
        norm += ref[e] * ref[e];
    }
    return norm > 0.0 ? sqrt(err / norm) : sqrt(err);
}

static unsigned long long rng_state = 0x2545f4914f6cdd1dull;

static float random_float(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

enum { N_TOKENS = 5, N_Q_HEADS = 4, N_K_HEADS = 2, HEAD_DIM = 64 };

static void check_rope(size_t rotary_dim, int32_t pairing, int64_t start_pos)
{
    posenc_rope_config cfg;
    CHECK(api.rope_config_init(&cfg, sizeof cfg) == POSENC_OK, "config init");
    cfg.head_dim = HEAD_DIM;
    cfg.rotary_dim = (uint32_t)rotary_dim;
    cfg.pairing = pairing;
    cfg.base = 10000.0;
    posenc_rope_plan *plan = NULL;
    posenc_status st = api.rope_plan_create(&cfg, &plan);
    CHECK(st == POSENC_OK && plan, "plan create: %s", api.strerror_(st));
    if (st != POSENC_OK)
        return;
    double mscale = 0.0;
    CHECK(api.rope_plan_info(plan, NULL, 0, &mscale) == POSENC_OK && mscale == 1.0, "mscale %g", mscale);

    static float q[N_TOKENS][N_Q_HEADS][HEAD_DIM], k[N_TOKENS][N_K_HEADS][HEAD_DIM];
    static float q0[N_TOKENS][N_Q_HEADS][HEAD_DIM], k0[N_TOKENS][N_K_HEADS][HEAD_DIM];
    for (size_t i = 0; i < sizeof q / sizeof(float); i++)
        ((float *)q)[i] = ((float *)q0)[i] = random_float();
    for (size_t i = 0; i < sizeof k / sizeof(float); i++)
        ((float *)k)[i] = ((float *)k0)[i] = random_float();

    /* q alone with apply, positions as a start offset; then k with apply_qk against a copy of q0. */
    st = api.rope_apply(plan, &q[0][0][0], N_TOKENS, N_Q_HEADS, N_Q_HEADS * HEAD_DIM, HEAD_DIM, NULL, start_pos, 0);
    CHECK(st == POSENC_OK, "apply: %s", api.strerror_(st));
    static float q_again[N_TOKENS][N_Q_HEADS][HEAD_DIM];
    memcpy(q_again, q0, sizeof q0);
    int64_t positions[N_TOKENS];
    for (size_t t = 0; t < N_TOKENS; t++)
        positions[t] = start_pos + (int64_t)t;
    st = api.rope_apply_qk(plan, &q_again[0][0][0], N_Q_HEADS, N_Q_HEADS * HEAD_DIM, HEAD_DIM, &k[0][0][0],
                           N_K_HEADS, N_K_HEADS * HEAD_DIM, HEAD_DIM, N_TOKENS, positions, 0, 0);
    CHECK(st == POSENC_OK, "apply_qk: %s", api.strerror_(st));
    CHECK(memcmp(q, q_again, sizeof q) == 0, "apply and apply_qk disagree on q (rotary %zu, pairing %d)",
          rotary_dim, pairing);

    double ref[HEAD_DIM], worst = 0.0;
    for (size_t t = 0; t < N_TOKENS; t++) {
        double p = (double)(start_pos + (int64_t)t);
        for (size_t h = 0; h < N_Q_HEADS; h++) {
            rope_head_ref(q0[t][h], ref, HEAD_DIM, rotary_dim, pairing == POSENC_ROPE_INTERLEAVED, 10000.0, p);
            worst = fmax(worst, head_rel_error(q[t][h], ref, HEAD_DIM));
            for (size_t e = rotary_dim; e < HEAD_DIM; e++)
                CHECK(memcmp(&q[t][h][e], &q0[t][h][e], sizeof(float)) == 0, "pass-through element changed");
        }
        for (size_t h = 0; h < N_K_HEADS; h++) {
            rope_head_ref(k0[t][h], ref, HEAD_DIM, rotary_dim, pairing == POSENC_ROPE_INTERLEAVED, 10000.0, p);
            worst = fmax(worst, head_rel_error(k[t][h], ref, HEAD_DIM));
        }
    }
    CHECK(worst <= 1e-6, "RoPE rel error %.3g > 1e-6 (rotary %zu, pairing %d, start %lld)", worst, rotary_dim,
          pairing, (long long)start_pos);
    /* A rotation must have happened at all (guards against a no-op that trivially matches p = 0). */
    CHECK(start_pos == 0 || memcmp(q, q0, sizeof q) != 0, "q unchanged");
    api.rope_plan_destroy(plan);
}

enum { SM_HEADS = 3, SM_ROWS = 4, SM_COLS = 7 };

static void check_softmax(void)
{
    float slopes[SM_HEADS];
    CHECK(api.alibi_slopes(SM_HEADS, 8.0f, slopes) == POSENC_OK, "slopes");
    /* 3 heads: c = 2, m0 = 2^-4, m1 = 2^-2: slope_0 = 1/16, slope_1 = 1/256, slope_2 = m1^1 = 1/4. */
    CHECK(slopes[0] == 0.0625f && slopes[1] == 0.00390625f && slopes[2] == 0.25f, "slopes %g %g %g",
          (double)slopes[0], (double)slopes[1], (double)slopes[2]);

    posenc_softmax_desc desc;
    CHECK(api.softmax_desc_init(&desc, sizeof desc) == POSENC_OK, "desc init");
    desc.position = POSENC_POSITION_CAUSAL;
    desc.slopes_mode = POSENC_SLOPES_ALIBI;
    desc.scale = 0.125f;
    desc.q_pos0 = 3;   /* decode-like: rows 3..6 see keys 0..q */
    desc.k_pos0 = 0;
    static float src[SM_HEADS][SM_ROWS][SM_COLS], dst[SM_HEADS][SM_ROWS][SM_COLS];
    for (size_t i = 0; i < sizeof src / sizeof(float); i++)
        ((float *)src)[i] = 40.0f * random_float();
    posenc_status st = api.softmax(&desc, &src[0][0][0], SM_ROWS * SM_COLS, SM_COLS, &dst[0][0][0],
                                   SM_ROWS * SM_COLS, SM_COLS, SM_HEADS, SM_ROWS, SM_COLS);
    CHECK(st == POSENC_OK, "softmax: %s", api.strerror_(st));

    double worst = 0.0;
    for (size_t h = 0; h < SM_HEADS; h++) {
        for (size_t i = 0; i < SM_ROWS; i++) {
            long long qpos = desc.q_pos0 + (long long)i;
            double z[SM_COLS], max = -INFINITY, sum = 0.0, row_sum = 0.0;
            for (size_t j = 0; j < SM_COLS; j++) {
                long long kpos = desc.k_pos0 + (long long)j;
                z[j] = kpos > qpos ? -INFINITY
                                   : 0.125 * src[h][i][j] + (double)slopes[h] * (double)(kpos - qpos);
                max = fmax(max, z[j]);
            }
            for (size_t j = 0; j < SM_COLS; j++)
                sum += exp(z[j] - max);
            for (size_t j = 0; j < SM_COLS; j++) {
                double want = exp(z[j] - max) / sum;
                double got = dst[h][i][j];
                row_sum += got;
                if (isinf(z[j]))
                    CHECK(got == 0.0, "masked (%zu,%zu,%zu) = %g", h, i, j, got);
                else if (want >= 1e-30)
                    worst = fmax(worst, fabs(got - want) / want);
            }
            CHECK(fabs(row_sum - 1.0) <= 1e-6, "row (%zu,%zu) sums to %.9g", h, i, row_sum);
        }
    }
    CHECK(worst <= 1e-6, "softmax rel error %.3g > 1e-6", worst);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s path/to/libposenc.so\n", argv[0]);
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen(%s): %s\n", argv[1], dlerror());
        return 1;
    }
    if (!resolve_all(lib))
        return 1;

    /* Internals stay hidden from dlsym too. */
    const char *hidden[] = { "posenc_active_kernels", "posenc_kernels_scalar", "posenc_grid_extent",
                             "posenc_rope_frequencies", "GetX86Info", "posenc_cpu_detect" };
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++)
        CHECK(dlsym(lib, hidden[i]) == NULL, "internal symbol %s is visible", hidden[i]);

    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", POSENC_VERSION_MAJOR, POSENC_VERSION_MINOR, POSENC_VERSION_PATCH);
    CHECK(strcmp(api.version(), want) == 0, "version %s, header says %s", api.version(), want);
    CHECK(api.version_number() == POSENC_VERSION_MAJOR * 10000u + POSENC_VERSION_MINOR * 100u + POSENC_VERSION_PATCH,
          "version number %u", api.version_number());
    const char *isa = api.isa();
    int listed = 0;
    for (size_t i = 0; i < api.isa_count(); i++)
        listed |= strcmp(api.isa_name(i), isa) == 0;
    CHECK(isa && listed, "active ISA %s not among the compiled-in ones", isa ? isa : "(null)");
    CHECK(strcmp(api.isa_name(api.isa_count() - 1), "scalar") == 0, "last variant is not scalar");
    CHECK(strcmp(api.strerror_(POSENC_ERR_NULL), api.strerror_(POSENC_OK)) != 0, "strerror");

    check_rope(HEAD_DIM, POSENC_ROPE_HALF, 0);
    check_rope(HEAD_DIM, POSENC_ROPE_HALF, 4095);
    check_rope(HEAD_DIM, POSENC_ROPE_INTERLEAVED, 100000);
    check_rope(HEAD_DIM / 2, POSENC_ROPE_HALF, 12345678);
    check_rope(HEAD_DIM / 4, POSENC_ROPE_INTERLEAVED, -77);
    check_softmax();

    fprintf(stderr, "libposenc %s via dlopen, variant %s: %s\n", api.version(), isa, failures ? "FAILED" : "ok");
    if (dlclose(lib) != 0) {
        fprintf(stderr, "dlclose: %s\n", dlerror());
        failures++;
    }
    return failures ? 1 : 0;
}
