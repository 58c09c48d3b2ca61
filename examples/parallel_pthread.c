/* parallel_pthread.c - libposenc calls spread over a small pthread pool of the caller's (posenc_parallel),
 * with the same bits at every thread count. Usage: posenc_parallel_pthread [threads] (default: 2). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "posenc.h"
#include "thread_pool.h"

/* ---- the example: a 4096-token prefill of q (32 heads) and k (8 heads) in bf16, 1 thread vs the pool ----- */
#define N_TOKENS 4096
#define N_Q 32
#define N_K 8
#define HEAD_DIM 128

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double rotate(const posenc_rope_plan *plan, const posenc_parallel *parallel, uint16_t *q, uint16_t *k)
{
    posenc_rope_args args;
    posenc_rope_args_init(&args, sizeof args);
    args.parallel = parallel;        /* NULL: the calling thread */
    posenc_tensor qv = { q, POSENC_BF16, 0, N_Q * HEAD_DIM, HEAD_DIM };
    posenc_tensor kv = { k, POSENC_BF16, 0, N_K * HEAD_DIM, HEAD_DIM };
    double t0 = seconds();
    posenc_status st = posenc_rope_rotate_qk(plan, &args, &qv, &kv, &qv, &kv, N_TOKENS, N_Q, N_K);
    double t = seconds() - t0;
    if (st != POSENC_OK) {
        fprintf(stderr, "posenc_rope_rotate_qk: %s\n", posenc_strerror(st));
        exit(1);
    }
    return t;
}

int main(int argc, char **argv)
{
    size_t n_threads = argc > 1 ? strtoul(argv[1], NULL, 10) : 2;
    if (n_threads < 1)
        n_threads = 1;
    posenc_rope_config cfg;
    posenc_rope_config_init(&cfg, sizeof cfg);
    cfg.head_dim = HEAD_DIM;
    cfg.base = 500000.0;
    posenc_rope_plan *plan;
    if (posenc_rope_plan_create(&cfg, &plan) != POSENC_OK)
        return 1;
    size_t nq = (size_t)N_TOKENS * N_Q * HEAD_DIM, nk = (size_t)N_TOKENS * N_K * HEAD_DIM;
    uint16_t *q1 = malloc(nq * 2), *k1 = malloc(nk * 2), *qn = malloc(nq * 2), *kn = malloc(nk * 2);
    if (!q1 || !k1 || !qn || !kn)
        return 1;
    srand(1);
    for (size_t i = 0; i < nq; i++)
        q1[i] = (uint16_t)(0x3c00 + rand() % 0x300);   /* bf16 values in [0.0078, 0.03) */
    for (size_t i = 0; i < nk; i++)
        k1[i] = (uint16_t)(0xbc00 + rand() % 0x300);
    memcpy(qn, q1, nq * 2);
    memcpy(kn, k1, nk * 2);

    pool p;
    if (pool_start(&p, n_threads) != 0)
        return 1;
    posenc_parallel parallel = { pool_parallel_for, &p, n_threads };
    double t1 = rotate(plan, NULL, q1, k1);
    double tn = rotate(plan, &parallel, qn, kn);
    pool_stop(&p);

    int same = memcmp(q1, qn, nq * 2) == 0 && memcmp(k1, kn, nk * 2) == 0;
    printf("libposenc %s (%s): bf16 RoPE prefill, %d tokens x (%d q + %d k) heads x %d\n", posenc_version(),
           posenc_isa(), N_TOKENS, N_Q, N_K, HEAD_DIM);
    printf("1 thread %.2f ms, %zu threads %.2f ms (%.2fx); results %s\n", 1e3 * t1, n_threads, 1e3 * tn, t1 / tn,
           same ? "bit-identical" : "DIFFER");
    free(q1), free(k1), free(qn), free(kn);
    posenc_rope_plan_destroy(plan);
    return same ? 0 : 1;
}
