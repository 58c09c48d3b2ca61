/* kernels_scalar.c - the scalar reference's kernel table (src/kernels.h), next to its kernels. */
#include "kernels.h"

const posenc_kernels posenc_kernels_scalar = {
    .name = "scalar",
    .rope_sincos = posenc_rope_sincos_scalar,
    .rope_rotate_half = posenc_rope_rotate_half_scalar,
    .rope_rotate_interleaved = posenc_rope_rotate_interleaved_scalar,
    .softmax_row = posenc_softmax_row_scalar,
    .widen = posenc_widen_scalar,
    .narrow = posenc_narrow_scalar,
    /* softmax backward and split-K (softmax_backward_scalar.c, softmax_merge_scalar.c) */
    .softmax_backward_row = posenc_softmax_backward_row_scalar,
    .softmax_merge_step = posenc_softmax_merge_step_scalar,
};
