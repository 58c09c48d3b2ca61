/* kernels_avx2.c - the avx2 bundle's kernel table (src/kernels.h), next to its kernels (-mavx2 -mfma -mf16c). */
#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "kernels_avx2.c belongs to the avx2 bundle: compile with -mavx2 -mfma -mf16c"
#endif

#include "x86/x86_kernels.h"

const posenc_kernels posenc_kernels_avx2 = {
    .name = "avx2",
    .rope_sincos = posenc_rope_sincos_avx2,
    .rope_rotate_half = posenc_rope_rotate_half_avx2,
    .rope_rotate_interleaved = posenc_rope_rotate_interleaved_avx2,
    .softmax_row = posenc_softmax_row_avx2,
    .widen = posenc_widen_avx2,
    .narrow = posenc_narrow_avx2,
    /* softmax backward and split-K (softmax_backward_avx2.c, softmax_merge_avx2.c) */
    .softmax_backward_row = posenc_softmax_backward_row_avx2,
    .softmax_merge_step = posenc_softmax_merge_step_avx2,
};
