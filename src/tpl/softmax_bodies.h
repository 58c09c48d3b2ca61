/* softmax_bodies.h - the specialised row bodies of a SIMD softmax variant and the choice between them, written once:
 * included by softmax_avx2.c and softmax_avx512.c after their always-inline row template, which they name with
 * SOFTMAX_ROW_TEMPLATE (called as template(row, bias, has_mask, src_type, fast), every argument after row a
 * compile-time constant). One body per (bias case, mask, src type, precision), so the inner loops carry no
 * per-column branch; softmax_row_dispatch picks the body of a row. */
#ifndef POSENC_TPL_SOFTMAX_BODIES_H
#define POSENC_TPL_SOFTMAX_BODIES_H

#ifndef SOFTMAX_ROW_TEMPLATE
#error "define SOFTMAX_ROW_TEMPLATE (the variant's always-inline row template) before including softmax_bodies.h"
#endif

#include "kernels.h"

#define ROW_BODY(name, bias, has_mask, src_type, fast) \
    static void name(const posenc_softmax_row *row) { SOFTMAX_ROW_TEMPLATE(row, bias, has_mask, src_type, fast); }
#define ROW_BODIES_OF(suffix, src_type, fast) \
    ROW_BODY(row_plain_##suffix, POSENC_BIAS_NONE, 0, src_type, fast) \
    ROW_BODY(row_plain_mask_##suffix, POSENC_BIAS_NONE, 1, src_type, fast) \
    ROW_BODY(row_linear_##suffix, POSENC_BIAS_LINEAR, 0, src_type, fast) \
    ROW_BODY(row_linear_mask_##suffix, POSENC_BIAS_LINEAR, 1, src_type, fast) \
    ROW_BODY(row_abs_##suffix, POSENC_BIAS_ABS, 0, src_type, fast) \
    ROW_BODY(row_abs_mask_##suffix, POSENC_BIAS_ABS, 1, src_type, fast) \
    ROW_BODY(row_terms_##suffix, POSENC_BIAS_TERMS, 0, src_type, fast) \
    ROW_BODY(row_terms_mask_##suffix, POSENC_BIAS_TERMS, 1, src_type, fast)
/* Body index: 2 * bias case + has_mask (bias cases NONE, LINEAR, ABS, TERMS: 0 .. 3), plus 8 for the FAST row. */
#define ROW_BODIES(suffix, src_type) \
    ROW_BODIES_OF(suffix, src_type, 0) \
    ROW_BODIES_OF(fast_##suffix, src_type, 1) \
    static void (*const rows_##suffix[16])(const posenc_softmax_row *) = { \
        row_plain_##suffix, row_plain_mask_##suffix, row_linear_##suffix, row_linear_mask_##suffix, \
        row_abs_##suffix, row_abs_mask_##suffix, row_terms_##suffix, row_terms_mask_##suffix, \
        row_plain_fast_##suffix, row_plain_mask_fast_##suffix, row_linear_fast_##suffix, \
        row_linear_mask_fast_##suffix, row_abs_fast_##suffix, row_abs_mask_fast_##suffix, \
        row_terms_fast_##suffix, row_terms_mask_fast_##suffix };
ROW_BODIES(f32, POSENC_ELEM_F32)
ROW_BODIES(f16, POSENC_ELEM_F16)
ROW_BODIES(bf16, POSENC_ELEM_BF16)

/* The row through its body; the bias read as every variant reads it (posenc_bias_case). */
static inline void softmax_row_dispatch(const posenc_softmax_row *row)
{
    int32_t bias = posenc_bias_case(row->bias);
    size_t body = 2 * (size_t)bias + (row->mask != NULL) + (row->fast ? 8 : 0);
    switch (row->src_type) {
    case POSENC_ELEM_F16: rows_f16[body](row); break;
    case POSENC_ELEM_BF16: rows_bf16[body](row); break;
    default: rows_f32[body](row); break;
    }
}

#endif /* POSENC_TPL_SOFTMAX_BODIES_H */
