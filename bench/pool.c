/* pool.c - the benchmark's caller-side thread pool: examples/thread_pool.h behind the C interface of baselines.h. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "baselines.h"
#include "thread_pool.h"

void *bench_pool_start(size_t n_threads)
{
    pool *p = malloc(sizeof *p);
    if (!p || pool_start(p, n_threads) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

void bench_pool_parallel_for(void *p, size_t n_tasks, void (*fn)(void *, size_t), void *task_arg)
{
    pool_parallel_for(p, n_tasks, fn, task_arg);
}
