/* rope_freq.c - RoPE frequencies, magnitude factor and position axes per scheme, in double (formulas: posenc.h).
 *
 * Semantics follow Hugging Face transformers' modeling_rope_utils (rope_type "linear", "dynamic", "yarn",
 * "llama3", "longrope"; the older static "ntk") and ggml's rope (freq_factors, MROPE, IMROPE, VISION). Where the
 * two differ the choice is HF's and is written next to the code; docs/rope-scaling.md maps the config keys.
 */
#include <math.h>
#include <string.h>

#include "rope_plan.h"

/* -std=c11 hides M_PI. */
#define TWO_PI 6.283185307179586476925286766559

static int finite_positive(double v)
{
    return isfinite(v) && v > 0.0;
}

/* A list of n per-pair divisors (LongRoPE factors, ggml freq_factors): present, each finite and > 0. */
static posenc_status check_divisors(const double *divisors, size_t n_pairs)
{
    if (!divisors)
        return POSENC_ERR_NULL;
    for (size_t i = 0; i < n_pairs; i++)
        if (!finite_positive(divisors[i]))
            return POSENC_ERR_PARAM;
    return POSENC_OK;
}

/* Where each pair's position and frequency exponent come from. omega_i = base^(-2 * exponent_index[i] /
 * exponent_dim): the global pair index over rotary_dim for 1-D and both M-RoPE layouts (Qwen2-VL keeps the
 * global index), the index within its section over rotary_dim/2 for 2-D vision (ggml VISION computes
 * theta_scale = base^(-2/n_dims) with n_dims = head_dim/2 and restarts theta at each section; HF Qwen2-VL's
 * vision tower builds its table with dim = head_dim/2 - the same numbers). */
typedef struct axis_layout {
    size_t n_axes;
    double exponent_dim;
    int vision;
} axis_layout;

static posenc_status lay_out_axes(const posenc_rope_config *cfg, size_t n_pairs, uint8_t *axis_of_pair,
                                  uint32_t *exponent_index, axis_layout *layout)
{
    layout->exponent_dim = (double)(2 * n_pairs);
    layout->vision = 0;
    for (size_t i = 0; i < n_pairs; i++)
        exponent_index[i] = (uint32_t)i;

    if (cfg->axes == POSENC_AXES_1D) {
        memset(axis_of_pair, 0, n_pairs);
        layout->n_axes = 1;
        return POSENC_OK;
    }

    int32_t want_sections;
    if (cfg->axes == POSENC_AXES_MROPE || cfg->axes == POSENC_AXES_MROPE_INTERLEAVED)
        want_sections = 3;
    else if (cfg->axes == POSENC_AXES_VISION_2D)
        want_sections = 2;
    else
        return POSENC_ERR_ENUM;
    if (cfg->n_sections != want_sections)
        return POSENC_ERR_PARAM;
    /* Entries past n_sections are ignored, so ggml's 4-entry sections array with a trailing 0 works as is. */
    size_t section_sum = 0;
    for (int32_t a = 0; a < want_sections; a++) {
        if (cfg->sections[a] < 0)
            return POSENC_ERR_PARAM;
        section_sum += (size_t)cfg->sections[a];
    }
    if (section_sum != n_pairs)
        return POSENC_ERR_PARAM;

    size_t s0 = (size_t)cfg->sections[0], s1 = (size_t)cfg->sections[1], s2 = (size_t)cfg->sections[2];
    layout->n_axes = (size_t)want_sections;
    for (size_t i = 0; i < n_pairs; i++) {
        uint8_t axis;
        switch (cfg->axes) {
        case POSENC_AXES_MROPE:                 /* contiguous blocks: t, then h, then w */
            axis = i < s0 ? 0 : i < s0 + s1 ? 1 : 2;
            break;
        case POSENC_AXES_MROPE_INTERLEAVED:     /* Qwen3-VL: t h w t h w ..., t where h/w have run out */
            axis = (i % 3 == 1 && i < 3 * s1) ? 1 : (i % 3 == 2 && i < 3 * s2) ? 2 : 0;
            break;
        default:                                /* VISION_2D: y block then x block, exponent restarts */
            axis = i < s0 ? 0 : 1;
            if (axis == 1)
                exponent_index[i] = (uint32_t)(i - s0);
            break;
        }
        axis_of_pair[i] = axis;
    }
    if (cfg->axes == POSENC_AXES_VISION_2D) {
        layout->exponent_dim = (double)n_pairs;
        layout->vision = 1;
    }
    return POSENC_OK;
}

/* 0.1 * m * ln(s) + 1 for s > 1, else 1: YaRN's attention temperature (HF get_mscale, DeepSeek's m). */
static double yarn_get_mscale(double scale, double m)
{
    return scale <= 1.0 ? 1.0 : 0.1 * m * log(scale) + 1.0;
}

/* YaRN correction dimension: the (fractional) pair-dimension whose wavelength makes n_rotations turns over the
 * original context. */
static double yarn_correction_dim(double n_rotations, double rotary_dim, double base, double original_max)
{
    return rotary_dim * log(original_max / (n_rotations * TWO_PI)) / (2.0 * log(base));
}

static posenc_status yarn(const posenc_rope_config *cfg, size_t n_pairs, double *omega, double *mscale)
{
    double factor = cfg->factor, rotary_dim = (double)(2 * n_pairs);
    if (!isfinite(factor) || factor < 1.0 || !finite_positive(cfg->original_max_position))
        return POSENC_ERR_PARAM;
    /* HF warns when beta_fast < beta_slow; the ramp then runs backwards, which no model uses: refuse it. */
    if (!finite_positive(cfg->beta_fast) || !finite_positive(cfg->beta_slow) || cfg->beta_fast < cfg->beta_slow)
        return POSENC_ERR_PARAM;
    if (!isfinite(cfg->attention_factor) || cfg->attention_factor < 0.0 || !isfinite(cfg->mscale) ||
        cfg->mscale < 0.0 || !isfinite(cfg->mscale_all_dim) || cfg->mscale_all_dim < 0.0)
        return POSENC_ERR_PARAM;

    /* HF's default truncate = True (floor / ceil of the correction dims; ggml does the same). gpt-oss's
     * truncate = False has no field here. The upper clamp is rotary_dim - 1 (not n_pairs - 1), as in HF and
     * ggml, even though the ramp only spans n_pairs indices. */
    double low = floor(yarn_correction_dim(cfg->beta_fast, rotary_dim, cfg->base, cfg->original_max_position));
    double high = ceil(yarn_correction_dim(cfg->beta_slow, rotary_dim, cfg->base, cfg->original_max_position));
    if (low < 0.0)
        low = 0.0;
    if (high > rotary_dim - 1.0)
        high = rotary_dim - 1.0;
    if (low == high)
        high += 0.001;                          /* HF: avoid a zero-width ramp */
    for (size_t i = 0; i < n_pairs; i++) {
        /* ramp 0 below low (fast dims keep omega: extrapolation), 1 above high (slow dims: omega/factor).
         * When the clamp leaves high < low, HF's formula (kept here) gives ramp 1 below high; ggml's
         * MAX(0.001, high - low) would give 0 there. */
        double ramp = ((double)i - low) / (high - low);
        ramp = ramp < 0.0 ? 0.0 : ramp > 1.0 ? 1.0 : ramp;
        omega[i] = (omega[i] / factor) * ramp + omega[i] * (1.0 - ramp);
    }

    if (cfg->attention_factor > 0.0)
        *mscale = cfg->attention_factor;
    else if (cfg->mscale > 0.0 && cfg->mscale_all_dim > 0.0)   /* DeepSeek: both keys set and non-zero */
        *mscale = yarn_get_mscale(factor, cfg->mscale) / yarn_get_mscale(factor, cfg->mscale_all_dim);
    else
        *mscale = yarn_get_mscale(factor, 1.0);
    return POSENC_OK;
}

static posenc_status llama3(const posenc_rope_config *cfg, size_t n_pairs, double *omega)
{
    double factor = cfg->factor, original_max = cfg->original_max_position;
    double low_ff = cfg->low_freq_factor, high_ff = cfg->high_freq_factor;
    if (!isfinite(factor) || factor < 1.0 || !finite_positive(original_max))
        return POSENC_ERR_PARAM;
    /* high > low: the smooth band divides by (high - low). */
    if (!finite_positive(low_ff) || !isfinite(high_ff) || high_ff <= low_ff)
        return POSENC_ERR_PARAM;
    double short_wavelen = original_max / high_ff;   /* shorter than this: unchanged */
    double long_wavelen = original_max / low_ff;     /* longer than this: divided by factor */
    for (size_t i = 0; i < n_pairs; i++) {
        double w = omega[i], wavelen = TWO_PI / w;
        if (wavelen < short_wavelen)
            continue;
        if (wavelen > long_wavelen) {
            omega[i] = w / factor;
        } else {
            double smooth = (original_max / wavelen - low_ff) / (high_ff - low_ff);
            omega[i] = (1.0 - smooth) * w / factor + smooth * w;
        }
    }
    return POSENC_OK;
}

static posenc_status longrope(const posenc_rope_config *cfg, size_t n_pairs, double *omega, double *mscale)
{
    if (cfg->use_long_factors != 0 && cfg->use_long_factors != 1)
        return POSENC_ERR_ENUM;
    /* Only the chosen list is read: a caller may build the short and the long plan from separate arrays. */
    const double *factors = cfg->use_long_factors ? cfg->long_factors : cfg->short_factors;
    posenc_status st = check_divisors(factors, n_pairs);
    if (st != POSENC_OK)
        return st;
    /* factor = max_position / original_max_position; original_max > 1 so that ln(original_max) > 0. */
    if (!finite_positive(cfg->factor) || !isfinite(cfg->original_max_position) ||
        cfg->original_max_position <= 1.0)
        return POSENC_ERR_PARAM;
    if (!isfinite(cfg->attention_factor) || cfg->attention_factor < 0.0)
        return POSENC_ERR_PARAM;
    for (size_t i = 0; i < n_pairs; i++)
        omega[i] /= factors[i];
    if (cfg->attention_factor > 0.0)
        *mscale = cfg->attention_factor;
    else if (cfg->factor <= 1.0)
        *mscale = 1.0;
    else
        *mscale = sqrt(1.0 + log(cfg->factor) / log(cfg->original_max_position));
    return POSENC_OK;
}

/* NTK-aware exponent R/(R-2) needs R > 2. */
static posenc_status ntk_base(const posenc_rope_config *cfg, size_t n_pairs, double *base_out)
{
    double rotary_dim = (double)(2 * n_pairs), factor = cfg->factor;
    if (n_pairs < 2 || !isfinite(factor) || factor < 1.0)
        return POSENC_ERR_PARAM;
    double stretch = factor;
    if (cfg->scaling == POSENC_SCALING_DYNAMIC_NTK) {
        double original_max = cfg->original_max_position, length = cfg->sequence_length;
        if (!finite_positive(original_max) || !isfinite(length) || length < 0.0)
            return POSENC_ERR_PARAM;
        if (length < original_max)              /* 0 (unset) and short sequences: the original context */
            length = original_max;
        stretch = factor * length / original_max - (factor - 1.0);
    }
    *base_out = cfg->base * pow(stretch, rotary_dim / (rotary_dim - 2.0));
    if (!finite_positive(*base_out))
        return POSENC_ERR_PARAM;
    return POSENC_OK;
}

posenc_status posenc_rope_frequencies(const posenc_rope_config *cfg, size_t n_pairs, double *omega,
                                      uint8_t *axis_of_pair, size_t *n_axes, double *mscale)
{
    if (cfg->scaling < POSENC_SCALING_NONE || cfg->scaling > POSENC_SCALING_FREQ_FACTORS)
        return POSENC_ERR_ENUM;
    if (!finite_positive(cfg->base) || cfg->base <= 1.0)
        return POSENC_ERR_PARAM;

    uint32_t exponent_index[POSENC_MAX_PAIRS];
    axis_layout layout;
    posenc_status st = lay_out_axes(cfg, n_pairs, axis_of_pair, exponent_index, &layout);
    if (st != POSENC_OK)
        return st;
    /* The vision layout restarts the exponent per section; the schemes whose formulas depend on the pair index
     * over the whole rotary_dim (NTK, YaRN, Llama 3, LongRoPE) have no agreed meaning there. */
    if (layout.vision && cfg->scaling != POSENC_SCALING_NONE && cfg->scaling != POSENC_SCALING_LINEAR &&
        cfg->scaling != POSENC_SCALING_FREQ_FACTORS)
        return POSENC_ERR_PARAM;

    double base = cfg->base;
    if (cfg->scaling == POSENC_SCALING_NTK || cfg->scaling == POSENC_SCALING_DYNAMIC_NTK) {
        st = ntk_base(cfg, n_pairs, &base);
        if (st != POSENC_OK)
            return st;
    }
    for (size_t i = 0; i < n_pairs; i++)
        omega[i] = pow(base, -2.0 * (double)exponent_index[i] / layout.exponent_dim);

    double magnitude = 1.0;
    switch (cfg->scaling) {
    case POSENC_SCALING_NONE:
    case POSENC_SCALING_NTK:
    case POSENC_SCALING_DYNAMIC_NTK:
        break;
    case POSENC_SCALING_LINEAR:
        if (!isfinite(cfg->factor) || cfg->factor < 1.0)
            return POSENC_ERR_PARAM;
        for (size_t i = 0; i < n_pairs; i++)
            omega[i] /= cfg->factor;
        break;
    case POSENC_SCALING_YARN:
        st = yarn(cfg, n_pairs, omega, &magnitude);
        break;
    case POSENC_SCALING_LLAMA3:
        st = llama3(cfg, n_pairs, omega);
        break;
    case POSENC_SCALING_LONGROPE:
        st = longrope(cfg, n_pairs, omega, &magnitude);
        break;
    case POSENC_SCALING_FREQ_FACTORS:
        st = check_divisors(cfg->freq_factors, n_pairs);
        if (st == POSENC_OK)
            for (size_t i = 0; i < n_pairs; i++)
                omega[i] /= cfg->freq_factors[i];
        break;
    default:                                    /* a scheme added to the range check but not here */
        return POSENC_ERR_ENUM;
    }
    if (st != POSENC_OK)
        return st;
    /* w_i <= POSENC_MAX_FREQUENCY = 2^19 keeps every angle |p * w_i| <= 2^50, where the reduction's remainder
     * stays within pi/4 + 2^50 * 1.73e-16 = 0.98 and the sin/cos polynomials within 4.6e-7 (the derivation is
     * at posenc_rope_plan_create in posenc.h). A divisor list is the only way past it (base > 1 and the other
     * schemes keep w_i <= 1). A frequency that underflows to 0 is refused too: no scheme means it. */
    for (size_t i = 0; i < n_pairs; i++)
        if (!finite_positive(omega[i]) || omega[i] > POSENC_MAX_FREQUENCY)
            return POSENC_ERR_PARAM;
    *n_axes = layout.n_axes;
    *mscale = magnitude;
    return POSENC_OK;
}
