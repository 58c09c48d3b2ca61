/* parallel_openmp.c - libposenc calls spread over OpenMP threads through posenc_parallel, with the same bits
 * at every thread count (OMP_NUM_THREADS picks the count). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posenc.h"

/* posenc_parallel.parallel_for on OpenMP: every task once, any thread, returns when all are done. */
static void omp_parallel_for(void *pool, size_t n_tasks, posenc_task_fn fn, void *task_arg)
{
    (void)pool;
#pragma omp parallel for schedule(dynamic, 1)
    for (long i = 0; i < (long)n_tasks; i++)
        fn(task_arg, (size_t)i);
}

#define N_TOKENS 2048
#define N_HEADS 32
#define HEAD_DIM 128

static int rotate(const posenc_rope_plan *plan, const posenc_parallel *parallel, const float *src, uint16_t *dst)
{
    posenc_rope_args args;
    posenc_rope_args_init(&args, sizeof args);
    args.parallel = parallel;
    args.start_pos = 100000;
    posenc_tensor s = { (void *)src, POSENC_F32, 0, N_HEADS * HEAD_DIM, HEAD_DIM };
    posenc_tensor d = { dst, POSENC_F16, 0, N_HEADS * HEAD_DIM, HEAD_DIM };   /* f32 keys into an f16 cache */
    posenc_status st = posenc_rope_rotate(plan, &args, &s, &d, N_TOKENS, N_HEADS);
    if (st != POSENC_OK)
        fprintf(stderr, "posenc_rope_rotate: %s\n", posenc_strerror(st));
    return st == POSENC_OK;
}

int main(void)
{
    posenc_rope_config cfg;
    posenc_rope_config_init(&cfg, sizeof cfg);
    cfg.head_dim = HEAD_DIM;
    posenc_rope_plan *plan;
    if (posenc_rope_plan_create(&cfg, &plan) != POSENC_OK)
        return 1;
    size_t n = (size_t)N_TOKENS * N_HEADS * HEAD_DIM;
    float *x = malloc(n * sizeof *x);
    uint16_t *one = malloc(n * 2), *many = malloc(n * 2);
    if (!x || !one || !many)
        return 1;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((i * 2654435761u) % 2000) / 1000.0f - 1.0f;
    posenc_parallel parallel = { omp_parallel_for, NULL, (size_t)omp_get_max_threads() };
    if (!rotate(plan, NULL, x, one) || !rotate(plan, &parallel, x, many))
        return 1;
    int same = memcmp(one, many, n * 2) == 0;
    printf("libposenc %s (%s): f32 -> f16 RoPE of %d tokens x %d heads on %d OpenMP threads: %s\n",
           posenc_version(), posenc_isa(), N_TOKENS, N_HEADS, omp_get_max_threads(),
           same ? "bit-identical to 1 thread" : "DIFFERENT from 1 thread");
    free(x), free(one), free(many);
    posenc_rope_plan_destroy(plan);
    return same ? 0 : 1;
}
