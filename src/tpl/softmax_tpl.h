/* softmax_tpl.h - the softmax exp and pass-3 cores of numerics.h, written once over the primitives of
 * src/tpl/primitives.h: included by softmax_avx2.c, softmax_avx512.c and softmax_neon.c after their ISA's vector
 * header. */
#ifndef POSENC_TPL_SOFTMAX_H
#define POSENC_TPL_SOFTMAX_H

#include "numerics.h"
#include "tpl/primitives.h"

/* exp(r) = 1 + r + r^2 * p(r) of numerics.h for the reduced argument |r| <= ~0.347, in float: the polynomial both
 * exps share. */
SIMD_INLINE vf32 tpl_exp_poly(vf32 r)
{
    vf32 p = f32_set1(POSENC_EXP_E5);
    p = f32_fma(p, r, f32_set1(POSENC_EXP_E4));
    p = f32_fma(p, r, f32_set1(POSENC_EXP_E3));
    p = f32_fma(p, r, f32_set1(POSENC_EXP_E2));
    p = f32_fma(p, r, f32_set1(POSENC_EXP_E1));
    p = f32_fma(p, r, f32_set1(POSENC_EXP_E0));
    vf32 y = f32_fma(p, f32_mul(r, r), r);
    y = f32_add(y, f32_set1(1.0f));
    return y;
}

/* exp(x) of numerics.h for F32_LANES double arguments (x_lo: the first lanes): the clamp and the reduction in
 * double, the polynomial in float. The clamp and the cutoff are selects, not branches: speed never depends on
 * the values. */
SIMD_INLINE vf32 tpl_exp(vf64 x_lo, vf64 x_hi)
{
    const vf64 shift = f64_set1(POSENC_EXP_SHIFT_D);   /* the round-to-integer magic plus 127 */
    const vf64 log2e = f64_set1(POSENC_EXP_LOG2E_D);
    const vf64 ln2 = f64_set1(POSENC_EXP_LN2_D);
    const vf64 clamp_lo = f64_set1(-POSENC_EXP_CLAMP), clamp_hi = f64_set1(POSENC_EXP_CLAMP);
    x_lo = f64_clamp(x_lo, clamp_lo, clamp_hi);
    x_hi = f64_clamp(x_hi, clamp_lo, clamp_hi);
    vf64 t_lo = f64_fma(x_lo, log2e, shift), t_hi = f64_fma(x_hi, log2e, shift);
    vf64 n_lo = f64_sub(t_lo, shift), n_hi = f64_sub(t_hi, shift);
    vf64 r_lo = f64_fnma(n_lo, ln2, x_lo), r_hi = f64_fnma(n_hi, ln2, x_hi);   /* fma(n, -ln2, x) */
    vf32 r = f32_narrow(r_lo, r_hi);
    /* k = n + 127, t's low word. Formed here, before the polynomial: in this order gcc interleaves the integer
     * work with the fma chain (measured ~3% faster on avx512). */
    vi32 k = i32_low_words(t_lo, t_hi);

    vf32 y = tpl_exp_poly(r);

    /* 2^n = k > 1 ? k << 23 : +0 (the cutoff). */
    vi32 two_n = I32_SLLI_WHERE(i32_gt(k, i32_set1(1)), k, 23);
    return f32_mul(y, f32_from_bits(two_n));
}

/* expf_fast(x) of numerics.h ("the FAST softmax row") for F32_LANES float arguments x <= 0 (or NaN): all in
 * float32, the clamp and the cutoff selects, not branches. */
SIMD_INLINE vf32 tpl_expf_fast(vf32 x)
{
    const vf32 shift = f32_set1(POSENC_EXP_SHIFT_F);
    x = f32_clamp_below(x, f32_set1(-POSENC_EXP_CLAMP_F));
    vf32 t = f32_fma(x, f32_set1(POSENC_EXP_LOG2E_F), shift);
    vf32 n = f32_sub(t, shift);
    vf32 r = f32_fma(n, f32_set1(-POSENC_EXP_LN2_HI_F), x);
    r = f32_fma(n, f32_set1(-POSENC_EXP_LN2_LO_F), r);

    vf32 y = tpl_exp_poly(r);

    /* 2^n = k > 1 ? k << 23 : +0, with k = bits(t) - bits(0x1.8p23): the shift drops the magic's bits. */
    vi32 t_bits = f32_bits(t);
    vi32 two_n = I32_SLLI_WHERE(i32_gt(t_bits, i32_set1(POSENC_EXP_SHIFT_BITS + 1)), t_bits, 23);
    return f32_mul(y, f32_from_bits(two_n));
}

/* Pass 3 of F32_LANES live columns: (e < thr ? 0 : e) * inv, the zeroing before the multiply (e is never NaN
 * here, so e >= thr is its exact complement). */
SIMD_INLINE vf32 tpl_scale_flushed(vf32 e, vf32 thr, vf32 inv)
{
    return f32_mul_where(f32_ge(e, thr), e, inv);
}

#endif /* POSENC_TPL_SOFTMAX_H */
