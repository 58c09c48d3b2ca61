/* numerics.h - the spec of libposenc's bits: angle reduction, sin/cos and exp, the softmax row, NaN results.
 *
 * Every kernel variant (scalar reference, avx2, avx512, neon) includes this file and performs exactly the
 * operation sequence documented here, with the same constants, so results are bit-identical everywhere.
 * The scalar reference kernels (rope_scalar.c, softmax_scalar.c) are the executable form of this spec; the SIMD
 * variants take the sin/cos and exp sequences from templates written once (src/tpl/sincos_tpl.h, softmax_tpl.h)
 * and share the row-level helpers below. Coefficients: minimax polynomials published with the Cephes math
 * library (sinf, cosf, expf).
 */
#ifndef POSENC_NUMERICS_H
#define POSENC_NUMERICS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels.h"   /* POSENC_BIAS_NONE, _LINEAR, _ABS */

/* ---- RoPE sin/cos of theta = pos * omega (double) --------------------------------------------------------
 *   t  = theta * POSENC_2_OVER_PI                      (double mul)
 *   kd = (t + POSENC_ROUND_MAGIC_D) - POSENC_ROUND_MAGIC_D   (round to nearest even; |t| < 2^51)
 *   q  = low 2 bits of the bit pattern of (t + POSENC_ROUND_MAGIC_D)   (quadrant, two's complement mod 4)
 *   r  = fma(-kd, POSENC_PIO2_HI, theta); r = fma(-kd, POSENC_PIO2_LO, r)   (double, |r| <~ pi/4)
 *   x  = (float)r;  z = x*x
 *   sin: ps = fma(S3, z, S2); ps = fma(ps, z, S1); ps = ps*z; s = fma(ps, x, x)
 *   cos: pc = fma(C3, z, C2); pc = fma(pc, z, C1); pc = fma(pc, z, -0.5f); c = fma(pc, z, 1.0f)
 *   quadrant q: 0 -> (sin, cos) = ( s,  c); 1 -> ( c, -s); 2 -> (-s, -c); 3 -> (-c,  s)
 *   cos_out = cos * cos_scale;  sin_out = sin * sin_scale    (float muls; cos_scale = mscale,
 *                                                             sin_scale = +-mscale, negative = inverse)
 */
#define POSENC_2_OVER_PI      0x1.45f306dc9c883p-1
#define POSENC_ROUND_MAGIC_D  0x1.8p52
#define POSENC_PIO2_HI        0x1.921fb54442d18p+0
#define POSENC_PIO2_LO        0x1.1a62633145c07p-54
#define POSENC_SIN_S1        -1.6666654611e-1f
#define POSENC_SIN_S2         8.3321608736e-3f
#define POSENC_SIN_S3        -1.9515295891e-4f
#define POSENC_COS_C1         4.166664568298827e-2f
#define POSENC_COS_C2        -1.388731625493765e-3f
#define POSENC_COS_C3         2.443315711809948e-5f

/* ---- RoPE rotation of one pair (a, b) with c, s from the tables ------------------------------------------
 *   a' = fma(a, c, b * -s)      b' = fma(b, c, a * s)
 * i.e. every element y = fma(x, c, partner * signed_s) with signed_s = -s for the first element of a pair,
 * then y = isnan(y) ? POSENC_NAN_BITS : y  (NaN results, below).
 */

/* ---- exp(x) for softmax, x = z - max (double, <= ~0, or NaN) -----------------------------------------------
 * The argument is formed and reduced in double: a float x = z - max would carry an absolute rounding error of
 * up to |x| * 2^-24 (2e-6 at x = -69, where exp(x) = 1e-30), which the 1e-6 relative accuracy bound forbids.
 *   x  = x < -POSENC_EXP_CLAMP ? -POSENC_EXP_CLAMP : x;  x = x > POSENC_EXP_CLAMP ? POSENC_EXP_CLAMP : x
 *                                                     (double; NaN stays NaN)
 *   t  = fma(x, LOG2E_D, POSENC_EXP_SHIFT_D)          (POSENC_ROUND_MAGIC_D + 127: t is an integer in
 *                                                      [2^52, 2^53), and its low mantissa bits hold
 *                                                      k = n + 127 with n = round(x*log2e))
 *   n  = t - POSENC_EXP_SHIFT_D
 *   r  = fma(n, -LN2_D, x)          (double, |r| <= ~0.347; ln2's own rounding, n * 2^-54, is far below the
 *                                    float rounding of r that follows)
 *   rf = (float)r
 *   p  = E5; p = fma(p, rf, E4); p = fma(p, rf, E3); p = fma(p, rf, E2); p = fma(p, rf, E1); p = fma(p, rf, E0)
 *   y  = fma(p, rf*rf, rf);  y = y + 1.0f                        (float)
 *   k  = low 32 bits of bits(t), as int32                        (= n + 127: the magic's low bits are 0)
 *   2^n as float bits: k > 1 ? k << 23 : 0                       (the cutoff: n <= -126 gives +0)
 *   e  = y * 2^n
 * What e can be (no subnormal is ever made):
 *   The clamp keeps |x * log2e| <= 127.7, so n lies in [-128, 128] and k = n + 127 is exact in t's low word.
 *   y = exp(r) (1 +- 2^-22) lies in [0.70, 1.42] and is finite and positive.
 *   n <= -126 (x <= -125.5 ln2 = -86.99, also -inf and every x below -88.5): 2^n is +0 and e = +0.
 *   -125 <= n <= 127: e = y * 2^n is exact and normal: 0.70 * 2^-125 > FLT_MIN, 1.42 * 2^127 < FLT_MAX.
 *   n = 128 (x >= 127.5 ln2 = 88.38, also +inf): k << 23 is the bits of +inf, e = +inf. (x > 0 only arises when
 *   pass 1's float32 max rounds below a double logit: logit terms of magnitude above ~2^22 * x.)
 *   NaN: y is NaN, so e is NaN whatever 2^n is (NaN * 0 is NaN).
 * Without the clamp, the cutoff would misread t's low word for x = -inf (t = -inf, r = NaN) or x < -2^31 ln2
 * (n beyond int32), and n >= 129 (x > 89.1) would wrap 2^n's exponent field into negative or subnormal values.
 * Intermediates: t, n and r are doubles far from the subnormal range. rf is subnormal only when n = 0 and
 * 0 < |x| < 2^-126 (for n != 0, r is a nonzero multiple of 2^-54), i.e. when the logit terms (scale * s,
 * slope * b, mask, max) are themselves tiny; only then can rf and rf * rf be subnormal (e is 1 either way).
 */
#define POSENC_EXP_LOG2E_D  0x1.71547652b82fep+0
#define POSENC_EXP_LN2_D    0x1.62e42fefa39efp-1
#define POSENC_EXP_E5       1.9875691500e-4f
#define POSENC_EXP_E4       1.3981999507e-3f
#define POSENC_EXP_E3       8.3334519073e-3f
#define POSENC_EXP_E2       4.1665795894e-2f
#define POSENC_EXP_E1       1.6666665459e-1f
#define POSENC_EXP_E0       5.0000001201e-1f
#define POSENC_EXP_CLAMP    88.5
#define POSENC_EXP_SHIFT_D  (POSENC_ROUND_MAGIC_D + 127.0)   /* exact: an integer below 2^53 */

/* ---- softmax row (columns [0, n_valid) live; [n_valid, n_cols) causally masked) --------------------------
 * The bias term: b_j = d_j (causal, POSENC_BIAS_LINEAR) or -|d_j| (symmetric, POSENC_BIAS_ABS), d_j = d0 + j as
 * int32. Far rows (numerics of the position, done once per row by the API layer, src/softmax.c, before any
 * variant's row kernel runs: posenc_softmax_far_row below): when a row without a sink has a bias
 * magnitude |slope| * max_live |d_j| above POSENC_SOFTMAX_FLOAT_MAX_BIAS (2^24), the bias is taken relative to
 * its largest live value, b_j - max_live b_k, an exact integer shift that leaves the softmax unchanged (a
 * constant per row cancels) and bounds the term by |slope| * (n_valid - 1) instead of |slope| * 2^31. As
 * (d0, bias):
 *   LINEAR: d0 = 1 - n_valid;  ABS with every live d >= 0: d0 = 0 (b = -j);  ABS with every live d <= 0: LINEAR
 *   with d0 = 1 - n_valid;  ABS with live d of both signs: unchanged (max b = 0 already).
 * A row with a sink keeps its bias (the sink is a logit on the unshifted scale, and sink - slope * max b is not
 * a float): it takes the double max below, accurate to ~2^-52 of |slope * d|. Rows within the bound keep their
 * bias as it is (the bits of 0.1).
 * Bias terms given per column (POSENC_BIAS_TERMS: per-column key positions, the 2-D grid distances): b_j =
 * terms[j], a float32 the API layer computed (src/softmax.c: an exact integer for key positions within 2^24 of
 * the query, the float32 rounding of the distance otherwise), used wherever b_j appears below, as float in pass 1
 * and as (double)b_j in pass 2 (exact). terms[j] = -inf marks a column that the position rule masks (causal with
 * key positions): its logit is -inf in either pass, whatever the score, slope or mask (so a NaN score there
 * stays out of the row, as past n_valid). Such rows are never shifted: when |slope| * max |b_j| > 2^24 they take
 * the double max.
 * Pass 1, the max M (a double), is taken in one of two ways, chosen per row (posenc_softmax_far_row, passed
 * to the kernels as posenc_softmax_row.max_in_double) from the row's bias magnitude after the shift above:
 * Float max (bias magnitude <= 2^24, which includes every row without a bias):
 *   zf_j = scale * s_j;  if bias: zf_j = fma(slope, (float)b_j, zf_j);   if mask: zf_j = zf_j + mask_j
 *   Mf = max(max_j zf_j, sink)   (order free: max is exact; `z > M ? z : M` ignores NaN, the sum catches it);
 *   M = (double)Mf
 * Double max (a bias magnitude still above 2^24 after the shift: |slope| * n_valid > 2^24): the float logit's
 * error, 2^-24 of its terms, could exceed the exp range (a bias of ~2^30 rounds by ~64: a finite row would come
 * out NaN), so the max is taken over the double logits that pass 2 forms, the max not yet subtracted:
 *   zd_j = fma((double)slope, (double)b_j, (double)scale * (double)s_j);  if mask: zd_j = zd_j + (double)mask_j
 *   M = max(max_j zd_j, (double)sink)       (zd_j is pass 2's x_j below with M = 0: fma(scale, s, -0.0) is
 *                                            the exact product, whatever its sign)
 *   Pass 2's arguments are then zd_j - M to within 2^-53 of the logit terms: <= ~0, never beyond exp's range.
 * Either way, if M == -inf: every live logit (of the kind the max was taken over) is -inf or NaN: the row is
 *   all +0, or all POSENC_NAN_BITS (every column, live and masked) if such a logit is NaN
 * Pass 2 forms the exp argument in double, the max subtracted first (scale*s is exact in double, so the first
 * fma rounds once, at 2^-53 of the argument):
 *   x_j = fma((double)scale, (double)s_j, -M);  if bias: x_j = fma((double)slope, (double)b_j, x_j);
 *   if mask: x_j = x_j + (double)mask_j;   e_j = exp(x_j) as above, written to dst
 *   sum: acc[j % POSENC_SUM_LANES] += e_j (float, acc starts at +0), then for w = LANES/2 .. 1 (halving):
 *   acc[k] = acc[k] + acc[k + w] for k < w;  S = acc[0] + exp((double)sink - M)
 * Row check (once per row, posenc_softmax_row_scales): unless 0 < S <= 2^126, the row is a NaN row: every
 * column, live and masked, is POSENC_NAN_BITS. Every e_j is +0, normal, +inf or NaN (exp above), so:
 *   S is NaN when a live logit is NaN, or +inf (then M = +inf and its argument is inf - inf);
 *   S = 0 when a float logit overflows on a float-max row (M = +inf while every double logit is finite: every
 *   argument is -inf; a double-max row has no such overflow: its logits are finite);
 *   S = +inf or S > 2^126 (1/S would be subnormal) only when some argument exceeds 126 ln2 - ln(n_cols + 1),
 *   more than 65: a float max then rounds below a double logit by that much (scores or mask terms above
 *   ~3e8; the bias term is bounded by 2^24 on float-max rows), never on a double-max row.
 * Pass 3 (S in (0, 2^126]):
 *   inv = 1.0f / S;  thr = (S > 0.5f ? S : 0.5f) * 0x1p-125f;
 *   live:   y_j = (e_j < thr ? 0.0f : e_j) * inv      (the zeroing comes before the multiply)
 *   masked: y_j = +0.0f
 * Why no output and no product is subnormal: inv >= 2^-126 since S <= 2^126. thr is exact and normal
 * (S * 2^-125 >= 2^-126 for S >= 0.5). Normally S >= 1: the column attaining M (or the sink) has an argument
 * within the float rounding of its logit of 0, so its e is ~1 (the sink's is exactly 1); S < 0.5 needs that
 * rounding to exceed ln 2, i.e. logit terms (scale * s, slope * b, mask) above ~4e6 on a float-max row.
 *   S >= 0.5: e_j >= thr = S * 2^-125 gives e_j * inv >= 2^-125 (1 - 2^-24) before rounding, so
 *   y_j >= 2^-125 - 2^-149 > FLT_MIN.
 *   S < 0.5: thr = 2^-126 zeroes nothing (a nonzero e is >= 1.41 * 2^-126), and inv > 2 makes every nonzero
 *   y_j >= 2.8 * 2^-126.
 * So every output is +0 or >= 0x1.fffffep-126: results whose exact value e_j / S is below 2^-125 (~2.35e-38)
 * are flushed to +0, and exp's own cutoff gives 0 for arguments at or below -86.99.
 * A variant with V-lane float vectors keeps LANES/V accumulator vectors: vector a holds lanes a*V .. a*V+V-1.
 */
#define POSENC_SUM_LANES 64

/* ---- the FAST softmax row (posenc_softmax_desc.precision = POSENC_SOFTMAX_FAST) ---------------------------
 * Everything in float32: the row above with pass 2's argument formed and reduced in float, for throughput (a
 * float32 vector holds twice the lanes of a double one, and the reduction needs no conversions). Pass 1 (the
 * float max Mf), the sum's lane order and tree, the row check and pass 3 are the row above, unchanged.
 * Rows that take the double max (posenc_softmax_far_row returns 1) are computed as above (the exact row): the
 * API layer clears posenc_softmax_row.fast for them, so FAST never meets a logit beyond 2^24.
 * Pass 2:  x_j = zf_j - Mf       (float; zf_j is pass 1's float logit, formed again with the same operations,
 *                                 so x_j <= 0, x_j = 0 at the max, or NaN)
 *          e_j = expf_fast(x_j);  the sum as above;  S = acc[0] + expf_fast(sink - Mf)
 * expf_fast(x), for x <= 0 or NaN (float throughout):
 *   x  = x < -POSENC_EXP_CLAMP_F ? -POSENC_EXP_CLAMP_F : x       (NaN stays NaN)
 *   t  = fma(x, LOG2E_F, POSENC_EXP_SHIFT_F)       (0x1.8p23 + 127: t is an integer in [2^23, 2^24) whose
 *                                                   bits are 0x4b400000 + k, k = n + 127, n = round(x*log2e))
 *   n  = t - POSENC_EXP_SHIFT_F                     (exact)
 *   r  = fma(n, -LN2_HI_F, x)                       (exact: |r| < 0.5 and both terms are multiples of 2^-25
 *                                                    within 24 bits of it)
 *   r  = fma(n, -LN2_LO_F, r)                       (|r| <= ~0.347)
 *   p, y as the exact row's exp with rf = r
 *   2^n as float bits: bits(t) > 0x4b400001 ? bits(t) << 23 : 0   (k > 1; the shift drops the magic's bits,
 *                                                   leaving k << 23; n <= -126 gives +0, the cutoff)
 *   e  = y * 2^n
 * What e can be: x is in [-88.5, 0], so n is in [-128, 0]: e is +0 (n <= -126) or exact and normal, as above;
 * a NaN x gives a NaN e. S is in [1, n_valid + 1] for a finite row (the max column's e is exactly 1), NaN
 * otherwise (a NaN logit; Mf = +inf makes its own argument inf - inf): the row check gives the NaN row.
 * Accuracy: x_j carries the float rounding of the logits, up to 2^-24 of each of their terms' magnitudes
 * (|scale * s_j|, |slope * b_j|, |mask_j|, and those of the max column, through Mf) plus 2^-24 |x_j|, and
 * exp of a perturbed argument is perturbed by as much, relatively. So FAST's per-element relative error is
 * about 2^-23 (A_j + A_max) + 2^-22 (1 + |x_j|), A the sum of a logit's term magnitudes; the header states the
 * bound the tests check (include/posenc.h, "precision").
 */
#define POSENC_EXP_CLAMP_F   88.5f
#define POSENC_EXP_LOG2E_F   0x1.715476p+0f
#define POSENC_EXP_SHIFT_F   12583039.0f        /* 0x1.8p23 + 127, exact */
#define POSENC_EXP_SHIFT_BITS 0x4b400000        /* bits of 0x1.8p23: bits(t) - this = k */
#define POSENC_EXP_LN2_HI_F  0x1.62e430p-1f     /* ln 2 rounded to float */
#define POSENC_EXP_LN2_LO_F  -0x1.05c610p-29f   /* ln 2 - LN2_HI_F, rounded to float */

/* Largest bias magnitude |slope| * max_live |b_j| of a row that keeps its bias unshifted, and that takes pass 1's
 * float max (numerics.h, "softmax row"): the float rounding of such a bias, 2^-24 of it plus that of (float)d,
 * stays below ~2, far inside exp's range. */
#define POSENC_SOFTMAX_FLOAT_MAX_BIAS 0x1p24

/* |slope| * max |d_j| over the live columns j < n_valid of a row with a bias (|b_j| = |d_j| either way; |d| is
 * largest at an end of the row): the product of a float and an integer below 2^32, rounded once in double, the
 * same way everywhere. 0 without a bias or live column. */
static inline double posenc_softmax_bias_magnitude(int32_t bias_case, float slope, int32_t d0, size_t n_valid)
{
    if (bias_case == POSENC_BIAS_NONE || n_valid == 0)
        return 0.0;
    int64_t first = d0, last = (int64_t)d0 + (int64_t)(n_valid - 1);
    int64_t far = first < 0 ? -first : first, far_last = last < 0 ? -last : last;
    far = far_last > far ? far_last : far;
    return (double)(slope < 0.0f ? -slope : slope) * (double)far;
}

/* The far-row treatment of numerics.h, "softmax row", once per row by the API layer (src/softmax.c) for every
 * variant: rewrites *bias_case (as posenc_bias_case reads it) and *d0 of a row without a sink (sink == -inf)
 * whose bias magnitude exceeds POSENC_SOFTMAX_FLOAT_MAX_BIAS so that b_j becomes b_j - max_live b_k (the new
 * d0 + j fits int32 for every live j); leaves any other row as it is. Returns 1 when the row, as rewritten,
 * takes pass 1's double max (its bias magnitude still exceeds the bound), else 0 (the float max). */
static inline int posenc_softmax_far_row(int32_t *bias_case, int32_t *d0, float slope, float sink, size_t n_valid)
{
    if (!(posenc_softmax_bias_magnitude(*bias_case, slope, *d0, n_valid) > POSENC_SOFTMAX_FLOAT_MAX_BIAS))
        return 0;   /* every ordinary row: one multiply and compare */
    if (sink != -INFINITY)
        return 1;   /* the sink is a logit on the unshifted scale: the double max instead */
    int64_t last = (int64_t)*d0 + (int64_t)(n_valid - 1);
    int32_t to_last = (int32_t)(1 - (int64_t)n_valid);   /* b_j = j - (n_valid - 1) */
    if (*bias_case == POSENC_BIAS_LINEAR || last <= 0) {
        *bias_case = POSENC_BIAS_LINEAR;   /* b = d rising to its max at the last live column */
        *d0 = to_last;
    } else if (*d0 >= 0) {
        *d0 = 0;                           /* b = -d falling from its max at column 0: -j */
    }                                      /* d of both signs: max b = -0 = 0 already */
    return posenc_softmax_bias_magnitude(*bias_case, slope, *d0, n_valid) > POSENC_SOFTMAX_FLOAT_MAX_BIAS;
}

/* The row check and pass 3's constants from the row sum S (numerics.h, "softmax row"), shared by every
 * variant. Returns 0 for a NaN row (S outside (0, 2^126]); otherwise 1 with *inv = 1/S and *thr. */
static inline int posenc_softmax_row_scales(float sum, float *inv, float *thr)
{
    if (!(sum > 0.0f && sum <= 0x1p126f))
        return 0;
    *inv = 1.0f / sum;
    *thr = (sum > 0.5f ? sum : 0.5f) * 0x1p-125f;
    return 1;
}

/* The split-K statistics (numerics.h, "split-K statistics") of a row into stats[0], stats[1] when stats is not
 * NULL: max as pass 1 holds it (float, or double on a far row, which statistics calls never have) and sum, the
 * pass-2 sum S; or, for a row with max == -inf, sum = +0 (or NaN when a live logit is NaN). Every variant's row
 * kernel calls it at the same points: after pass 1 for a max of -inf, else after pass 2 (before the row check).
 * A NaN row's S (outside (0, 2^126]) is stored as POSENC_NAN_BITS; a zero max as +0. */
static inline void posenc_softmax_put_stats(float *stats, double max, float sum)
{
    if (!stats)
        return;
    float m = (float)max;
    union { uint32_t bits; float value; } nan = { 0x7fc00000u };
    int nan_row = max == -INFINITY ? sum != sum : !(sum > 0.0f && sum <= 0x1p126f);
    stats[0] = m == 0.0f ? 0.0f : m;   /* whichever zero the max kept */
    stats[1] = nan_row ? nan.value : sum;
}

/* ---- NaN results -----------------------------------------------------------------------------------------
 * Wherever arithmetic makes a NaN, every variant returns the bits POSENC_NAN_BITS: the positive quiet NaN with
 * no payload (C's NAN with gcc, Arm's default NaN). Hardware alone would differ: x86 makes 0xffc00000 for an
 * invalid operation and propagates an input NaN's payload by its own operand priority, Arm by another. So:
 *   RoPE: every rotated element is y = isnan(y) ? POSENC_NAN_BITS : y (a compare and a blend per output
 *   vector). The unrotated tail [2 * n_pairs, head_dim) that an out-of-place call copies keeps its input bits,
 *   NaN payloads included: a copy is not arithmetic (float32 to float32; other element types convert it, below).
 *   Softmax: a NaN row is filled with POSENC_NAN_BITS (above); no other output can be NaN.
 */
#define POSENC_NAN_BITS 0x7fc00000u

/* POSENC_NAN_BITS as a float. */
static inline float posenc_nan_value(void)
{
    union { uint32_t bits; float value; } u = { POSENC_NAN_BITS };
    return u.value;
}

/* ---- element types (f16, bf16) ----------------------------------------------------------------------------
 * Widening to float32 is exact: bf16 b -> bits b << 16; f16 -> the float32 of the same value (subnormals
 * included). A NaN of either type widens to the canonical float32 NaN 0x7fc00000.
 * Narrowing from float32 rounds to nearest, ties to even, on the bit pattern:
 *   bf16: b = (x + 0x7fff + ((x >> 16) & 1)) >> 16 on the 32-bit pattern x (finite inputs; overflow carries
 *         into the exponent and gives +-inf exactly as RNE does; subnormals round the same way, never flushed)
 *   f16:  |v| >= 65520 -> +-inf (0x7c00); |v| < 2^-14 -> subnormal: round(|v| * 2^24) to an integer, ties to
 *         even (|v| <= 2^-25 gives +-0); otherwise the usual exponent rebias with the 13 dropped mantissa bits
 *         rounded to nearest even (a carry steps into the next binade; 65520 and up were caught above).
 *   A NaN becomes the destination type's canonical quiet NaN: f16 0x7e00, bf16 0x7fc0 (sign dropped); these
 *   are POSENC_NAN_BITS narrowed, so a canonical float32 NaN narrows to them with no special case.
 * Hardware conversions are used only where they give these bits for every input: F16C / AVX-512 VCVTPS2PH
 * with round-to-nearest-even and VCVTPH2PS are exact for every non-NaN input (NaN lanes are replaced);
 * AVX-512 BF16's VCVTNEPS2BF16 flushes float32 subnormals to zero, so bf16 is narrowed with integer ops.
 *
 * RoPE with element types (src type S, dst type D, each f32, f16 or bf16; in place only when S == D):
 *   rotated element:  y = narrow_D(canonical(fma(widen_S(a), c, widen_S(b) * -s)))  and likewise for b', i.e.
 *                     the float32 rotation above on the widened inputs, its NaN step, then one rounding. For
 *                     S = D = f32 these are the float32 bits exactly.
 *   unrotated element [2 * n_pairs, head_dim):  narrow_D(widen_S(x)), a conversion: the value when D holds it
 *                     (always when S = D), else its rounding; a NaN becomes D's canonical NaN, in place too. The
 *                     one exception is S = D = f32: a copy of the bits (NaN payloads kept), nothing in place.
 * What a variant may do instead, with the same bits:
 *   - widen a NaN input of a rotated pair to any float32 NaN (a bf16 shift, VCVTPH2PS): a NaN input makes both
 *     results of its pair NaN, and the NaN step replaces them.
 *   - canonicalize after narrowing to f16 (a pass over the destination when the results held a NaN): the f16
 *     conversion instructions narrow every NaN to a NaN and nothing else to one.
 *   - not so for bf16: the rounding above applied to a NaN pattern can carry through the exponent into the
 *     sign (0x7fffffff gives 0x8000, -0), so a bf16 destination needs canonical float32 results first.
 *
 * Softmax: src and the mask (each f32, f16 or bf16) are widened element by element where the row kernels load
 * them (no staging pass); the row is the float32 row above; each output y_j (and each +0 of a masked column or
 * a zero row, and the NaN row's POSENC_NAN_BITS) is rounded once to dst's type where it is stored. A NaN input
 * may widen to any NaN: it only ever makes a NaN row, whose bits are fixed. Pass 3's outputs are finite and
 * >= +0, so their hardware narrowing needs no NaN case; f16 outputs below 2^-14 are f16 subnormals (RNE on the
 * bits, no flush: the "no subnormal" rule is about float32 arithmetic, and none is done on them).
 * A 16-bit dst cannot hold pass 2's float32 e_j until pass 3. They are kept in a 32-KiB scratch buffer on the
 * caller's stack (src/kernels.h, POSENC_SOFTMAX_E_KEEP): whole for rows of up to 8192 live columns; for longer
 * rows the first 16384 split, the high 16 bits in dst[j] itself (pass 2 has read src[j] by then, so in place
 * works) and the low 16 bits in the buffer. Pass 3 forms every later e_j again from src with the same
 * operations as pass 2 (the same bits: nothing in the row changes in between, and past the kept columns dst is
 * written only in pass 3, column j after its src element is read). The scalar reference recomputes every e_j;
 * which ones are kept is speed, never bits. Measured (avx512, bf16 in place, decode rows): keeping e is ~1.8x
 * faster than forming it again, and whole floats ~10% faster than split ones.
 */
#define POSENC_F16_NAN_BITS   0x7e00u
#define POSENC_BF16_NAN_BITS  0x7fc0u

#endif /* POSENC_NUMERICS_H */

/* ==== softmax backward, split-K statistics and merge (src/softmax_backward_*.c, src/softmax_merge_*.c) ====
 * A section of its own, after the guard above, so that it stays independent of the forward sections. */
#ifndef POSENC_NUMERICS_SPLIT_H
#define POSENC_NUMERICS_SPLIT_H

/* ---- float32 output of a double result (backward and merge) -----------------------------------------------
 *   out(v) = isnan(v) ? POSENC_NAN_BITS      (the canonical quiet NaN 0x7fc00000, whatever made the NaN)
 *          : |v| < POSENC_OUT_MIN_D ? +0.0f        (flushed before the conversion: no subnormal is made)
 *          : (float)v                              (round to nearest even; |v| >= 2^-126 rounds to a normal
 *                                                   float, beyond FLT_MAX to +-inf)
 * Every intermediate of these kernels is a double formed from float32 values, far from double's subnormal
 * range, so speed never depends on the values.
 */
#define POSENC_OUT_MIN_D 0x1p-126

/* ---- softmax backward row: dx = scale * y * (dy - <dy, y>) --------------------------------------------------
 *   dot: acc[k] = +0.0 (double, k < POSENC_DOT_LANES); for every column j of the row (masked ones too, whose y
 *   is 0): acc[j % LANES] = acc[j % LANES] + (double)dy_j * (double)y_j   (the product of two floats is exact
 *   in double, so an FMA gives the same bits); then for w = LANES/2 .. 1 (halving): acc[k] = acc[k] + acc[k + w]
 *   for k < w;  dot = acc[0]
 *   per column: a = (double)scale * (double)y_j   (exact)
 *               t = (double)dy_j - dot            (double, rounded)
 *               dx_j = out(a * t)                 (double product, rounded, then out() above)
 * NaN: a NaN or infinite y or dy makes dot NaN or infinite and so every dx of the row NaN (canonical) or
 * infinite; a NaN in column j alone (with dot finite) makes dx_j NaN. out() makes every NaN canonical.
 * A variant with V-lane double vectors keeps LANES/V accumulator vectors: vector a holds lanes a*V .. a*V+V-1.
 * Lanes past the row's end add +0; that can only turn a -0 partial sum into +0, and the sign of a zero dot
 * never reaches an output (t = dy - dot differs only for dy = +-0, and then a * t is a zero, flushed to +0).
 */
#define POSENC_DOT_LANES 32

/* ---- split-K statistics of one forward row ------------------------------------------------------------------
 * M and S exactly as the forward row computes them ("softmax row" above, passes 1 and 2, the sink included):
 *   M = max(sink, float logits);  if M == -inf: S = 0, or NaN when a live logit is NaN (the row's every y is
 *   0, or NaN); otherwise S = the pass-2 sum acc[0] + exp((double)sink - (double)M), computed with the same
 *   64-lane tree. A NaN S is stored as POSENC_NAN_BITS. M is never NaN (the max skips NaN); a zero M is
 *   stored as +0 (which of -0 and +0 a vector max keeps is not fixed; neither changes any e_j).
 * For every finite row, y_j = e_j * (1/S) with e_j = exp(x_j) and x_j = z_j - M: so S_b and M_b of a block of
 * columns are what the merge below needs to rescale that block's probabilities into the whole row's.
 */

/* ---- merge of n_blocks partial rows (the flash-decoding combine) --------------------------------------------
 * Per row, from the blocks' (M_b, S_b) and the optional sink (the API layer, scalar code shared by every
 * variant):
 *   M   = -inf; for b = 0 .. n_blocks-1: M = M_b > M ? M_b : M;  if sink: M = sink > M ? sink : M   (float)
 *   e_b = M_b == -inf ? 0 : exp((double)M_b - (double)M)     (the exp above, double argument, float result;
 *                                                            M_b == M gives exactly 1)
 *   f_b = (double)S_b * (double)e_b                          (exact)
 *   S   = +0.0; for b in order: S = S + f_b;  if sink > -inf: S = S + (double)exp((double)sink - (double)M)
 *   S == 0 (no block has a live column): every output is +0.  S NaN, negative or infinite: every output is
 *   POSENC_NAN_BITS.  Otherwise w_b = f_b / S (double).
 * Per column j (the kernel): acc = +0.0; for every block b with w_b != 0, in order b = 0, 1, ...:
 *   acc = fma(w_b, (double)x_bj, acc)   (double)
 *   dst_j = out(acc)
 * A block whose weight is 0 is not read (its values, even NaN, do not matter). The concatenating merge runs
 * the same with one block per column: dst_j = out(fma(w_b, x_j, +0.0)), +0 for a block whose weight is 0.
 * One block and no sink: w = S_0 / S_0 = 1 exactly, so dst_j = out(x_j): the block's own bits (normal values
 * and +0; -0 and subnormals become +0, NaN the canonical NaN).
 */

#endif /* POSENC_NUMERICS_SPLIT_H */
