/* position_cost.c - the position work of a RoPE model vs an ALiBi model per layer (decode and prefill), as CSV.
 *
 * Usage: position_cost [--quick] [--reps N]
 *
 * One layer of a 32-head model (8 KV heads for RoPE's GQA keys), head_dim 128, float32, one thread, in place:
 *   decode, per generated token at context length L (the new token at position L-1):
 *     rope_qk         posenc_rope_apply_qk: the new token's 32 q heads and 8 k heads (cached keys are rotated)
 *     softmax_plain   posenc_softmax over the L scores of each of 32 heads, no bias (what a RoPE model runs)
 *     softmax_alibi   posenc_softmax, causal ALiBi slopes for 32 heads (what an ALiBi model runs instead)
 *     stream_rope / stream_softmax   the memory roofline: one in-place read+write pass over the same bytes
 *   prefill of N tokens (positions 0..N-1), as a blocked (flash-style) kernel sees it: work that stays in cache
 *     rope_qk         every token's q and k, 16 tokens per call (each block rotated while in cache)
 *     softmax_plain   the causal softmax of one head's scores in row blocks of B = 64Ki / N rows (at most 256 KiB
 *                     of scores), block r0 over keys 0..r0+B-1 (the keys up to its last row), scaled to 32 heads
 *     softmax_alibi   the same blocks with the causal ALiBi bias
 *     stream_rope / stream_softmax   as above, over the same blocks
 * Each figure is the median over --reps repetitions (components interleaved within each repetition) of this
 * thread's CPU time (CLOCK_THREAD_CPUTIME_ID: other processes on a shared machine are left out, their effect on
 * the caches is not); a repetition repeats the call for at least 20 ms. --quick: a few small sizes and 3
 * repetitions, for CI (proves it runs; its timings mean nothing).
 *
 * Output (stdout): '#' comment lines (library, variant, CPU), then
 *   phase,tokens,component,median_s,min_s,reps,heads_measured,bytes
 * with seconds per layer (all 32 heads; the prefill softmax is measured on one head: heads_measured) and bytes =
 * bytes read + written per layer.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "baselines.h"
#include "posenc.h"

#define N_Q_HEADS 32
#define N_K_HEADS 8
#define HEAD_DIM 128
#define MAX_REPS 64
#define ROPE_BLOCK 16                    /* prefill tokens rotated per call */
#define SCORE_BLOCK ((size_t)64 << 10)   /* prefill scores per softmax call (floats) */

typedef struct {
    posenc_rope_plan *plan;
    int prefill;               /* 0: decode, one call per component; 1: prefill, in blocks */
    float *q, *k;              /* [block tokens][N_Q_HEADS][HEAD_DIM], [block tokens][N_K_HEADS][HEAD_DIM] */
    float *scores;             /* decode: [N_Q_HEADS][1][L]; prefill: one block [rows][cols] */
    size_t tokens;             /* decode: 1 (at position L - 1); prefill: N */
    size_t heads, cols;        /* decode softmax: heads x 1 row x cols */
    size_t block_rows;         /* prefill softmax rows per block */
    posenc_softmax_desc plain, alibi;
} workload;

typedef enum { ROPE_QK, SOFTMAX_PLAIN, SOFTMAX_ALIBI, STREAM_ROPE, STREAM_SOFTMAX, N_COMPONENTS } component;
static const char *const component_name[N_COMPONENTS] = {
    "rope_qk", "softmax_plain", "softmax_alibi", "stream_rope", "stream_softmax"};

static volatile float stream_factor = 1.0f;   /* 1, through a value the compiler cannot see */

/* This thread's CPU time: on a shared machine it leaves out the time other processes hold the core (their
 * effect on the caches stays). */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fail(const char *what, posenc_status st)
{
    fprintf(stderr, "position_cost: %s: %s\n", what, posenc_strerror(st));
    exit(1);
}

static void check(posenc_status st, component c)
{
    if (st != POSENC_OK)
        fail(component_name[c], st);
}

static void rope_tokens(const workload *w, size_t n, int64_t pos, component c)
{
    check(posenc_rope_apply_qk(w->plan, w->q, N_Q_HEADS, N_Q_HEADS * HEAD_DIM, HEAD_DIM, w->k, N_K_HEADS,
                               N_K_HEADS * HEAD_DIM, HEAD_DIM, n, NULL, pos, 0), c);
}

static void softmax_block(const workload *w, component c, size_t heads, size_t rows, size_t cols, int64_t q_pos0)
{
    posenc_softmax_desc desc = c == SOFTMAX_PLAIN ? w->plain : w->alibi;
    desc.q_pos0 = q_pos0;
    check(posenc_softmax(&desc, w->scores, rows * cols, cols, w->scores, rows * cols, cols, heads, rows, cols), c);
}

static void run_once(const workload *w, component c)
{
    const size_t rope_floats = (N_Q_HEADS + N_K_HEADS) * HEAD_DIM;   /* q and k are one buffer */
    if (!w->prefill) {
        if (c == ROPE_QK)
            rope_tokens(w, 1, (int64_t)w->cols - 1, c);
        else if (c == SOFTMAX_PLAIN || c == SOFTMAX_ALIBI)
            softmax_block(w, c, w->heads, 1, w->cols, (int64_t)w->cols - 1);
        else if (c == STREAM_ROPE)
            stream_scale_in_place(w->q, rope_floats, stream_factor);
        else
            stream_scale_in_place(w->scores, w->heads * w->cols, stream_factor);
        return;
    }
    if (c == ROPE_QK || c == STREAM_ROPE) {
        for (size_t t0 = 0; t0 < w->tokens; t0 += ROPE_BLOCK) {
            const size_t n = w->tokens - t0 < ROPE_BLOCK ? w->tokens - t0 : ROPE_BLOCK;
            if (c == ROPE_QK)
                rope_tokens(w, n, (int64_t)t0, c);
            else
                stream_scale_in_place(w->q, n * rope_floats, stream_factor);
        }
        return;
    }
    for (size_t r0 = 0; r0 < w->tokens; r0 += w->block_rows) {   /* one head's causal scores, block by block */
        const size_t rows = w->tokens - r0 < w->block_rows ? w->tokens - r0 : w->block_rows, cols = r0 + rows;
        if (c == STREAM_SOFTMAX)
            stream_scale_in_place(w->scores, rows * cols, stream_factor);
        else
            softmax_block(w, c, 1, rows, cols, (int64_t)r0);
    }
}

/* Seconds for `calls` back-to-back calls. */
static double time_calls(const workload *w, component c, size_t calls)
{
    const double t0 = now();
    for (size_t i = 0; i < calls; i++)
        run_once(w, c);
    return now() - t0;
}

static int compare_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median and minimum seconds per call of every component, components interleaved within each repetition. */
static void measure(const workload *w, int reps, double min_rep, double median[N_COMPONENTS],
                    double minimum[N_COMPONENTS])
{
    size_t calls[N_COMPONENTS];
    double samples[N_COMPONENTS][MAX_REPS];
    for (int c = 0; c < N_COMPONENTS; c++) {   /* warm up, then calibrate the calls per repetition */
        const double once = time_calls(w, (component)c, 1);
        double n = once > 0 ? ceil(min_rep / once) : 1e6;
        calls[c] = n < 1 ? 1 : n > 1e6 ? 1000000 : (size_t)n;
    }
    for (int r = 0; r < reps; r++)
        for (int c = 0; c < N_COMPONENTS; c++)
            samples[c][r] = time_calls(w, (component)c, calls[c]) / (double)calls[c];
    for (int c = 0; c < N_COMPONENTS; c++) {
        qsort(samples[c], (size_t)reps, sizeof(double), compare_double);
        median[c] = reps % 2 ? samples[c][reps / 2] : 0.5 * (samples[c][reps / 2 - 1] + samples[c][reps / 2]);
        minimum[c] = samples[c][0];
    }
}

/* One CSV row per component. Softmax figures scale from the heads measured to all 32; RoPE is measured whole.
 * softmax_elements: scores per head the softmax reads and writes. */
static void print_rows(const char *phase, size_t tokens, const workload *w, double softmax_elements,
                       const double median[N_COMPONENTS], const double minimum[N_COMPONENTS], int reps)
{
    const double softmax_scale = (double)N_Q_HEADS / (double)w->heads;
    const double rope_bytes = 2.0 * sizeof(float) * (double)w->tokens * (N_Q_HEADS + N_K_HEADS) * HEAD_DIM;
    const double softmax_bytes = 2.0 * sizeof(float) * N_Q_HEADS * softmax_elements;
    for (int c = 0; c < N_COMPONENTS; c++) {
        const int is_rope = c == ROPE_QK || c == STREAM_ROPE;
        const double s = is_rope ? 1.0 : softmax_scale;
        printf("%s,%zu,%s,%.6e,%.6e,%d,%zu,%.0f\n", phase, tokens, component_name[c], median[c] * s,
               minimum[c] * s, reps, is_rope ? (size_t)N_Q_HEADS : w->heads, is_rope ? rope_bytes : softmax_bytes);
    }
    fflush(stdout);
}

static void fill(float *x, size_t n, float amplitude)
{
    uint32_t s = 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = amplitude * ((float)(s >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f);
    }
}

static void *alloc_floats(size_t n)
{
    void *p = aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
    if (!p) {
        fprintf(stderr, "position_cost: cannot allocate %zu floats\n", n);
        exit(1);
    }
    return p;
}

/* The CPU as /proc/cpuinfo names it (x86: model name, family, model; Arm: implementer and part). */
static void print_cpu(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512], name[256] = "", family[32] = "", model[32] = "", impl[32] = "", part[32] = "";
    if (f) {
        while (fgets(line, sizeof line, f)) {
            char *colon = strchr(line, ':');
            if (!colon)
                continue;
            char *value = colon + 1;
            while (*value == ' ' || *value == '\t')
                value++;
            value[strcspn(value, "\n")] = 0;
            if (!name[0] && strncmp(line, "model name", 10) == 0)
                snprintf(name, sizeof name, "%s", value);
            else if (!family[0] && strncmp(line, "cpu family", 10) == 0)
                snprintf(family, sizeof family, "%s", value);
            else if (!model[0] && strncmp(line, "model\t", 6) == 0)
                snprintf(model, sizeof model, "%s", value);
            else if (!impl[0] && strncmp(line, "CPU implementer", 15) == 0)
                snprintf(impl, sizeof impl, "%s", value);
            else if (!part[0] && strncmp(line, "CPU part", 8) == 0)
                snprintf(part, sizeof part, "%s", value);
        }
        fclose(f);
    }
    if (name[0])
        printf("# cpu: %s (family %s, model %s)\n", name, family[0] ? family : "?", model[0] ? model : "?");
    else if (impl[0])
        printf("# cpu: implementer %s, part %s\n", impl, part[0] ? part : "?");
    else
        printf("# cpu: unknown\n");
}

int main(int argc, char **argv)
{
    int quick = 0, reps = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            char *end;
            const long n = strtol(argv[++i], &end, 10);
            reps = *end == 0 && n >= 1 && n <= MAX_REPS ? (int)n : -1;
        } else {
            fprintf(stderr, "usage: %s [--quick] [--reps N (1..%d)]\n", argv[0], MAX_REPS);
            return 2;
        }
    }
    if (reps == 0)
        reps = quick ? 3 : 9;
    if (reps < 0) {
        fprintf(stderr, "position_cost: --reps must be 1..%d\n", MAX_REPS);
        return 2;
    }
    const double min_rep = quick ? 1e-3 : 2e-2;
    const size_t decode_max_log2 = quick ? 14 : 20, decode_step = quick ? 2 : 1;   /* 1K..1M or 1K, 4K, 16K */
    const size_t prefill_min = quick ? 256 : 512, prefill_max = quick ? 1024 : 8192;

    posenc_rope_config cfg;
    posenc_rope_config_init(&cfg, sizeof cfg);
    cfg.head_dim = HEAD_DIM;
    posenc_rope_plan *plan;
    posenc_status st = posenc_rope_plan_create(&cfg, &plan);
    if (st != POSENC_OK)
        fail("posenc_rope_plan_create", st);

    /* Buffers: scores for the largest decode (32 x L; a prefill block is smaller), q then k for ROPE_BLOCK tokens. */
    const size_t scores_n = (size_t)N_Q_HEADS << decode_max_log2;
    const size_t q_n = ROPE_BLOCK * N_Q_HEADS * HEAD_DIM, k_n = ROPE_BLOCK * N_K_HEADS * HEAD_DIM;
    float *scores = alloc_floats(scores_n), *qk = alloc_floats(q_n + k_n);
    fill(scores, scores_n, 4.0f);
    fill(qk, q_n + k_n, 1.0f);

    printf("# libposenc %s, kernel variant %s, one thread, float32, %d q heads, %d k heads, head_dim %d\n",
           posenc_version(), posenc_isa(), N_Q_HEADS, N_K_HEADS, HEAD_DIM);
    print_cpu();
    printf("# thread CPU seconds per layer (all %d heads); median and minimum over %d repetitions%s\n", N_Q_HEADS,
           reps, quick ? " (--quick: timings mean nothing)" : "");
    printf("phase,tokens,component,median_s,min_s,reps,heads_measured,bytes\n");

    double median[N_COMPONENTS], minimum[N_COMPONENTS];
    workload w;
    memset(&w, 0, sizeof w);
    w.plan = plan;
    w.q = qk;
    w.k = qk + q_n;
    w.scores = scores;
    posenc_softmax_desc_init(&w.plain, sizeof w.plain);
    posenc_softmax_desc_init(&w.alibi, sizeof w.alibi);
    w.plain.scale = w.alibi.scale = 1.0f / sqrtf((float)HEAD_DIM);
    w.alibi.slopes_mode = POSENC_SLOPES_ALIBI;   /* the geometric slopes for the heads measured, max_bias 8 */

    /* Decode: one query row per head over L keys, the new token at position L - 1 (it sees every key, so the
     * plain softmax needs no causal mask). */
    w.prefill = 0;
    w.tokens = 1;
    w.heads = N_Q_HEADS;
    w.plain.position = POSENC_POSITION_NONE;
    w.alibi.position = POSENC_POSITION_CAUSAL;
    for (size_t lg = 10; lg <= decode_max_log2; lg += decode_step) {
        w.cols = (size_t)1 << lg;
        measure(&w, reps, min_rep, median, minimum);
        print_rows("decode", w.cols, &w, (double)w.cols, median, minimum, reps);
    }

    /* Prefill: causal, one head's scores in blocks (scaled to 32 heads), RoPE 16 tokens at a time. The one head
     * measured gets the 1-head ALiBi slope (speed does not depend on the slope's value). */
    w.prefill = 1;
    w.heads = 1;
    w.plain.position = POSENC_POSITION_CAUSAL;
    for (size_t n = prefill_min; n <= prefill_max; n *= 2) {
        w.tokens = n;
        w.block_rows = SCORE_BLOCK / n < 1 ? 1 : SCORE_BLOCK / n;
        double elements = 0;
        for (size_t r0 = 0; r0 < n; r0 += w.block_rows) {
            const size_t rows = n - r0 < w.block_rows ? n - r0 : w.block_rows;
            elements += (double)rows * (double)(r0 + rows);
        }
        measure(&w, reps, min_rep, median, minimum);
        print_rows("prefill", n, &w, elements, median, minimum, reps);
    }

    posenc_rope_plan_destroy(plan);
    free(scores);
    free(qk);
    return 0;
}
