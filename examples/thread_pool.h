/* thread_pool.h - a minimal persistent pthread pool that implements posenc_parallel.parallel_for: workers sleep
 * until a batch is posted, then claim task indices; the posting thread works on the batch too. Header-only so
 * that the examples and the benchmark share it; copy it into your program if it suits you. */
#ifndef POSENC_EXAMPLE_THREAD_POOL_H
#define POSENC_EXAMPLE_THREAD_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "posenc.h"

typedef struct pool {
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    pthread_t *threads;
    size_t n_workers;
    unsigned long generation;       /* bumped for every batch */
    int stop;
    posenc_task_fn fn;              /* the current batch */
    void *arg;
    size_t n_tasks;
    atomic_size_t next;             /* next unclaimed task index */
    size_t busy;                    /* workers still inside the batch */
} pool;

static inline void pool_run_tasks(pool *p)
{
    for (size_t i; (i = atomic_fetch_add(&p->next, 1)) < p->n_tasks;)
        p->fn(p->arg, i);
}

static void *pool_worker(void *arg)
{
    pool *p = arg;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stop)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        pool_run_tasks(p);
        pthread_mutex_lock(&p->lock);
        if (--p->busy == 0)
            pthread_cond_signal(&p->idle);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* posenc_parallel.parallel_for: post the batch, work on it from the calling thread too, wait for the rest. */
static inline void pool_parallel_for(void *pool_ptr, size_t n_tasks, posenc_task_fn fn, void *task_arg)
{
    pool *p = pool_ptr;
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->arg = task_arg;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    p->busy = p->n_workers;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pool_run_tasks(p);
    pthread_mutex_lock(&p->lock);
    while (p->busy > 0)
        pthread_cond_wait(&p->idle, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

static inline int pool_start(pool *p, size_t n_threads)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->idle, NULL);
    p->n_workers = n_threads - 1;        /* the caller is the last thread */
    p->threads = calloc(p->n_workers + 1, sizeof *p->threads);
    if (!p->threads)
        return -1;
    for (size_t i = 0; i < p->n_workers; i++)
        if (pthread_create(&p->threads[i], NULL, pool_worker, p) != 0)
            return -1;
    return 0;
}

static inline void pool_stop(pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < p->n_workers; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
}

#endif
