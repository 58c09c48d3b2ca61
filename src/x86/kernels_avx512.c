/* kernels_avx512.c - the avx512 bundle's kernel table (src/kernels.h), next to its kernels. */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__)
#error "kernels_avx512.c belongs to the avx512 bundle: compile with -mavx512f -mavx512bw -mavx512dq -mavx512vl"
#endif

#include "x86/x86_kernels.h"

const posenc_kernels posenc_kernels_avx512 = {
    .name = "avx512",
    .rope_sincos = posenc_rope_sincos_avx512,
    .rope_rotate_half = posenc_rope_rotate_half_avx512,
    .rope_rotate_interleaved = posenc_rope_rotate_interleaved_avx512,
    .softmax_row = posenc_softmax_row_avx512,
    .widen = posenc_widen_avx512,
    .narrow = posenc_narrow_avx512,
    /* softmax backward and split-K (softmax_backward_avx512.c, softmax_merge_avx512.c) */
    .softmax_backward_row = posenc_softmax_backward_row_avx512,
    .softmax_merge_step = posenc_softmax_merge_step_avx512,
};
