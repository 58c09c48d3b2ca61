/* baselines.h - what the benchmark compares libposenc against: textbook RoPE/softmax loops, the stream kernel. */
#ifndef POSENC_BENCH_BASELINES_H
#define POSENC_BENCH_BASELINES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* RoPE as a user writes it (HF-style per-token cos/sin cache): inv_freq_i = 1/powf(base, 2i/head_dim) in float,
 * angle = (float)position * inv_freq_i, cosf/sinf once per token and pair, reused by every q and k head.
 * q is [n_tokens][n_q_heads][head_dim], k is [n_tokens][n_k_heads][head_dim] (k may be NULL when n_k_heads is 0),
 * both rotated in place; token t has position start_pos + t. interleaved: 0 = half pairing, 1 = interleaved.
 * head_dim is even and at most 1024. */
void textbook_rope_qk(float *q, size_t n_q_heads, float *k, size_t n_k_heads, size_t n_tokens, size_t head_dim,
                      int64_t start_pos, float base, int interleaved);

/* The ALiBi slopes as a user computes them (BLOOM's rule, max_bias 8) in float. n_heads >= 1. */
void textbook_alibi_slopes(size_t n_heads, float *slopes);

/* Softmax as a user writes it, three passes over each row of scores [n_heads][n_rows][n_cols], in place:
 * (1) z = scale*s + slope*(kpos - qpos) and the row max, (2) expf(z - max) and the sum, (3) multiply by 1/sum.
 * slopes == NULL: no bias and no causal mask. Otherwise causal: key j (position j) is masked for j > qpos,
 * qpos = q_pos0 + row, and its output is 0. */
void textbook_softmax(float *scores, size_t n_heads, size_t n_rows, size_t n_cols, float scale,
                      const float *slopes, int64_t q_pos0);

/* The memory roofline: reads and writes data[0..n) in place (data[i] *= factor). Pass factor = 1 through a
 * value the compiler cannot see, so the pass keeps its loads and stores. */
void stream_scale_in_place(float *data, size_t n, float factor);

/* A pthread pool of n_threads (the caller counted: n_threads - 1 workers), kept for the whole run, and its
 * posenc_parallel.parallel_for (examples/thread_pool.h). NULL if the threads cannot be started. */
void *bench_pool_start(size_t n_threads);
void bench_pool_parallel_for(void *pool, size_t n_tasks, void (*fn)(void *, size_t), void *task_arg);

#ifdef __cplusplus
}
#endif

#endif /* POSENC_BENCH_BASELINES_H */
