/* exp_limit.h - the FAST softmax's exp alone, per SIMD variant (bench/exp_limit.c): the throughput limit the
 * softmax rows are compared with. y[i] = exp(x[i]) for x <= 0, n a multiple of 64, x and y not overlapping. Only
 * the variants this build compiles exist (POSENC_BENCH_EXP_<ISA> says which). */
#ifndef POSENC_BENCH_EXP_LIMIT_H
#define POSENC_BENCH_EXP_LIMIT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

void bench_exp_limit_avx512(const float *x, float *y, size_t n);
void bench_exp_limit_avx2(const float *x, float *y, size_t n);
void bench_exp_limit_neon(const float *x, float *y, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* POSENC_BENCH_EXP_LIMIT_H */
