/* sincos_tpl.h - the RoPE sin/cos core of numerics.h, written once over the primitives of src/tpl/primitives.h:
 * included by rope_avx2.c, rope_avx512.c and rope_neon.c after their ISA's vector header. */
#ifndef POSENC_TPL_SINCOS_H
#define POSENC_TPL_SINCOS_H

#include "numerics.h"
#include "tpl/primitives.h"

/* Reduce F32_LANES / 2 angles theta modulo pi/2 in double (numerics.h): returns r; *shifted = t + magic, whose
 * low mantissa bits hold the quadrant (two's complement mod 4). */
SIMD_INLINE vf64 tpl_reduce_pio2(vf64 theta, vf64 *shifted)
{
    const vf64 magic = f64_set1(POSENC_ROUND_MAGIC_D);
    vf64 t = f64_mul(theta, f64_set1(POSENC_2_OVER_PI));
    *shifted = f64_add(t, magic);
    vf64 kd = f64_sub(*shifted, magic);
    vf64 r = f64_fnma(kd, f64_set1(POSENC_PIO2_HI), theta);     /* fma(-kd, PIO2_HI, theta) */
    return f64_fnma(kd, f64_set1(POSENC_PIO2_LO), r);
}

/* sin and cos of the F32_LANES angles theta_lo (first lanes) and theta_hi, before cos_scale / sin_scale. */
SIMD_INLINE void tpl_sincos(vf64 theta_lo, vf64 theta_hi, vf32 *sin_out, vf32 *cos_out)
{
    vf64 shifted_lo, shifted_hi;
    vf64 r_lo = tpl_reduce_pio2(theta_lo, &shifted_lo);
    vf64 r_hi = tpl_reduce_pio2(theta_hi, &shifted_hi);
    vi32 quadrant = i32_low_words(shifted_lo, shifted_hi);   /* only the low two bits matter */
    vf32 x = f32_narrow(r_lo, r_hi);
    vf32 z = f32_mul(x, x);

    vf32 ps = f32_fma(f32_set1(POSENC_SIN_S3), z, f32_set1(POSENC_SIN_S2));
    ps = f32_fma(ps, z, f32_set1(POSENC_SIN_S1));
    ps = f32_mul(ps, z);
    vf32 s = f32_fma(ps, x, x);
    vf32 pc = f32_fma(f32_set1(POSENC_COS_C3), z, f32_set1(POSENC_COS_C2));
    pc = f32_fma(pc, z, f32_set1(POSENC_COS_C1));
    pc = f32_fma(pc, z, f32_set1(-0.5f));
    vf32 c = f32_fma(pc, z, f32_set1(1.0f));

    /* Quadrants 0..3 give (sin, cos) = (s, c), (c, -s), (-s, -c), (-c, s): odd quadrants swap s and c; sin is
     * negated when bit 1 of q is set, cos when bit 1 of q + 1 is. Bit 1 shifted to bit 31 flips the sign: an
     * exact negation, the bits of the scalar's unary minus. */
    const vi32 one = i32_set1(1), two = i32_set1(2);
    vmask swap = i32_test_bit(quadrant, one);
    vi32 sin_sign = I32_SLLI(i32_and(quadrant, two), 30);
    vi32 cos_sign = I32_SLLI(i32_and(i32_add(quadrant, one), two), 30);
    *sin_out = f32_xor(f32_select(swap, c, s), sin_sign);
    *cos_out = f32_xor(f32_select(swap, s, c), cos_sign);
}

#endif /* POSENC_TPL_SINCOS_H */
