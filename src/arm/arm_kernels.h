/* arm_kernels.h - prototypes of the AArch64 kernel variants. Bundle: neon = Advanced SIMD (baseline on
 * AArch64, no extra flags; runtime check HWCAP_ASIMD in cpu_arm.c). An SVE variant adds its own block here,
 * plus: src/arm/{rope,softmax,kernels}_sve.c (the numeric cores from src/tpl over a src/arm/simd_sve.h of
 * fixed-length vectors) in a static library with -march=armv8-a+sve (meson.build), a POSENC_CPU_SVE bit set from
 * HWCAP_SVE (kernels.h, cpu_arm.c), and a row above neon in dispatch.c's list.
 * Each function has the contract of the posenc_kernels member of the same name (src/kernels.h) and returns the
 * scalar reference's bits exactly. */
#ifndef POSENC_ARM_KERNELS_H
#define POSENC_ARM_KERNELS_H

#include "kernels.h"

void posenc_rope_sincos_neon(const double *omega, const double *pos, size_t n_pairs, float cos_scale,
                             float sin_scale, float *cos, float *sin);
void posenc_rope_rotate_half_neon(const posenc_rope_heads *job);
void posenc_rope_rotate_interleaved_neon(const posenc_rope_heads *job);
void posenc_softmax_row_neon(const posenc_softmax_row *row);
void posenc_widen_neon(int32_t elem, const void *src, float *dst, size_t n);
void posenc_narrow_neon(int32_t elem, const float *src, void *dst, size_t n);

/* softmax backward and split-K (softmax_backward_neon.c, softmax_merge_neon.c) */
void posenc_softmax_backward_row_neon(const posenc_softmax_backward_row *row);
void posenc_softmax_merge_step_neon(double w, const float *x, double *acc, float *dst, size_t n, uint32_t flags);

#endif
