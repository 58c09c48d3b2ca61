/* kernels_neon.c - the neon bundle's kernel table (src/kernels.h), next to its kernels (AArch64 Advanced SIMD). */
#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "kernels_neon.c belongs to the neon bundle: AArch64 Advanced SIMD"
#endif

#include "arm/arm_kernels.h"

const posenc_kernels posenc_kernels_neon = {
    .name = "neon",
    .rope_sincos = posenc_rope_sincos_neon,
    .rope_rotate_half = posenc_rope_rotate_half_neon,
    .rope_rotate_interleaved = posenc_rope_rotate_interleaved_neon,
    .softmax_row = posenc_softmax_row_neon,
    .widen = posenc_widen_neon,
    .narrow = posenc_narrow_neon,
    /* softmax backward and split-K (softmax_backward_neon.c, softmax_merge_neon.c) */
    .softmax_backward_row = posenc_softmax_backward_row_neon,
    .softmax_merge_step = posenc_softmax_merge_step_neon,
};
