/* x86_kernels.h - prototypes of the x86 kernel variants. Bundles (compile flags = runtime check in cpu_x86.c):
 *   avx2   : -mavx2 -mfma -mf16c                        (POSENC_CPU_AVX2:   AVX2 + FMA + F16C, OS-enabled)
 *   avx512 : -mavx512f -mavx512bw -mavx512dq -mavx512vl  (POSENC_CPU_AVX512: F + BW + DQ + VL, OS-enabled)
 * Each function has the contract of the posenc_kernels member of the same name (src/kernels.h) and returns the
 * scalar reference's bits exactly. */
#ifndef POSENC_X86_KERNELS_H
#define POSENC_X86_KERNELS_H

#include "kernels.h"

void posenc_rope_sincos_avx2(const double *omega, const double *pos, size_t n_pairs, float cos_scale,
                             float sin_scale, float *cos, float *sin);
void posenc_rope_rotate_half_avx2(const posenc_rope_heads *job);
void posenc_rope_rotate_interleaved_avx2(const posenc_rope_heads *job);
void posenc_softmax_row_avx2(const posenc_softmax_row *row);
void posenc_widen_avx2(int32_t elem, const void *src, float *dst, size_t n);
void posenc_narrow_avx2(int32_t elem, const float *src, void *dst, size_t n);

void posenc_rope_sincos_avx512(const double *omega, const double *pos, size_t n_pairs, float cos_scale,
                               float sin_scale, float *cos, float *sin);
void posenc_rope_rotate_half_avx512(const posenc_rope_heads *job);
void posenc_rope_rotate_interleaved_avx512(const posenc_rope_heads *job);
void posenc_softmax_row_avx512(const posenc_softmax_row *row);
void posenc_widen_avx512(int32_t elem, const void *src, float *dst, size_t n);
void posenc_narrow_avx512(int32_t elem, const float *src, void *dst, size_t n);

/* softmax backward and split-K (softmax_backward_<isa>.c, softmax_merge_<isa>.c) */
void posenc_softmax_backward_row_avx2(const posenc_softmax_backward_row *row);
void posenc_softmax_merge_step_avx2(double w, const float *x, double *acc, float *dst, size_t n, uint32_t flags);
void posenc_softmax_backward_row_avx512(const posenc_softmax_backward_row *row);
void posenc_softmax_merge_step_avx512(double w, const float *x, double *acc, float *dst, size_t n,
                                      uint32_t flags);

#endif
