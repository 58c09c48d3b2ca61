/* oracle_schemes.c - float64 oracle of docs/design.md appendix A, written from the appendix, not from src/. */
#include "oracle_schemes.h"

#include <math.h>

static const double oracle_pi = 3.14159265358979323846264338327950288;

/* base^(-k/d) through exp/log (the library uses pow: agreement to ~1e-15 shows the formula, not the code). */
static double inverse_power(double base, double k, double d)
{
    return exp(-(k / d) * log(base));
}

static double clamp01(double v)
{
    if (v < 0.0)
        return 0.0;
    if (v > 1.0)
        return 1.0;
    return v;
}

static size_t pairs_of(const posenc_rope_config *cfg)
{
    return (cfg->rotary_dim ? cfg->rotary_dim : cfg->head_dim) / 2;
}

size_t oracle_rope_axes(const posenc_rope_config *cfg, int *axis_of_pair)
{
    size_t n = pairs_of(cfg);
    const int32_t *s = cfg->sections;
    for (size_t i = 0; i < n; i++) {
        long pair = (long)i;
        switch (cfg->axes) {
        case POSENC_AXES_1D:
            axis_of_pair[i] = 0;
            break;
        case POSENC_AXES_MROPE:
            if (pair < s[0])
                axis_of_pair[i] = 0;
            else if (pair < s[0] + s[1])
                axis_of_pair[i] = 1;
            else
                axis_of_pair[i] = 2;
            break;
        case POSENC_AXES_MROPE_INTERLEAVED:
            axis_of_pair[i] = 0;
            if (pair % 3 == 1 && pair < 3L * s[1])
                axis_of_pair[i] = 1;
            if (pair % 3 == 2 && pair < 3L * s[2])
                axis_of_pair[i] = 2;
            break;
        case POSENC_AXES_VISION_2D:
            axis_of_pair[i] = pair < s[0] ? 0 : 1;
            break;
        default:
            return 0;
        }
    }
    switch (cfg->axes) {
    case POSENC_AXES_1D: return 1;
    case POSENC_AXES_VISION_2D: return 2;
    default: return 3;
    }
}

/* Appendix A, YaRN: the ramp over pair indices between the correction dims of beta_fast and beta_slow. */
static double yarn_ramp(const posenc_rope_config *cfg, double rotary_dim, size_t i)
{
    double to_dim = rotary_dim / (2.0 * log(cfg->base));
    double dim_fast = to_dim * log(cfg->original_max_position / (2.0 * oracle_pi * cfg->beta_fast));
    double dim_slow = to_dim * log(cfg->original_max_position / (2.0 * oracle_pi * cfg->beta_slow));
    double low = fmax(floor(dim_fast), 0.0);
    double high = fmin(ceil(dim_slow), rotary_dim - 1.0);
    if (high == low)
        high = high + 0.001;
    return clamp01(((double)i - low) / (high - low));
}

static double yarn_magnitude(const posenc_rope_config *cfg)
{
    double s = cfg->factor;
    if (cfg->attention_factor > 0.0)
        return cfg->attention_factor;
    double plain = s > 1.0 ? 1.0 + 0.1 * log(s) : 1.0;
    if (cfg->mscale > 0.0 && cfg->mscale_all_dim > 0.0) {
        double num = s > 1.0 ? 1.0 + 0.1 * cfg->mscale * log(s) : 1.0;
        double den = s > 1.0 ? 1.0 + 0.1 * cfg->mscale_all_dim * log(s) : 1.0;
        return num / den;
    }
    return plain;
}

/* Appendix A, Llama 3: banded by wavelength against the original context. */
static double llama3_frequency(const posenc_rope_config *cfg, double w)
{
    double wavelength = 2.0 * oracle_pi / w;
    double orig = cfg->original_max_position;
    if (wavelength < orig / cfg->high_freq_factor)
        return w;
    if (wavelength > orig / cfg->low_freq_factor)
        return w / cfg->factor;
    double s = (orig / wavelength - cfg->low_freq_factor) / (cfg->high_freq_factor - cfg->low_freq_factor);
    return (1.0 - s) * (w / cfg->factor) + s * w;
}

int oracle_rope_frequencies(const posenc_rope_config *cfg, double *omega, double *mscale)
{
    size_t n = pairs_of(cfg);
    double R = (double)(2 * n);
    double base = cfg->base;
    *mscale = 1.0;

    if (cfg->scaling == POSENC_SCALING_NTK)
        base = base * pow(cfg->factor, R / (R - 2.0));
    if (cfg->scaling == POSENC_SCALING_DYNAMIC_NTK) {
        double L = cfg->sequence_length > cfg->original_max_position ? cfg->sequence_length
                                                                      : cfg->original_max_position;
        double k = cfg->factor;
        base = base * pow(k * L / cfg->original_max_position - (k - 1.0), R / (R - 2.0));
    }

    for (size_t i = 0; i < n; i++) {
        /* 2-D vision: the index restarts in the x section and the exponent runs over R/2 (ggml VISION). */
        double w;
        if (cfg->axes == POSENC_AXES_VISION_2D) {
            size_t j = i < (size_t)cfg->sections[0] ? i : i - (size_t)cfg->sections[0];
            w = inverse_power(base, 2.0 * (double)j, R / 2.0);
        } else {
            w = inverse_power(base, 2.0 * (double)i, R);
        }
        switch (cfg->scaling) {
        case POSENC_SCALING_NONE:
        case POSENC_SCALING_NTK:
        case POSENC_SCALING_DYNAMIC_NTK:
            omega[i] = w;
            break;
        case POSENC_SCALING_LINEAR:
            omega[i] = w / cfg->factor;
            break;
        case POSENC_SCALING_YARN: {
            double ramp = yarn_ramp(cfg, R, i);
            omega[i] = ramp * (w / cfg->factor) + (1.0 - ramp) * w;
            break;
        }
        case POSENC_SCALING_LLAMA3:
            omega[i] = llama3_frequency(cfg, w);
            break;
        case POSENC_SCALING_LONGROPE:
            omega[i] = w / (cfg->use_long_factors ? cfg->long_factors[i] : cfg->short_factors[i]);
            break;
        case POSENC_SCALING_FREQ_FACTORS:
            omega[i] = w / cfg->freq_factors[i];
            break;
        default:
            return -1;
        }
    }
    if (cfg->scaling == POSENC_SCALING_YARN)
        *mscale = yarn_magnitude(cfg);
    if (cfg->scaling == POSENC_SCALING_LONGROPE) {
        if (cfg->attention_factor > 0.0)
            *mscale = cfg->attention_factor;
        else if (cfg->factor > 1.0)
            *mscale = sqrt(1.0 + log(cfg->factor) / log(cfg->original_max_position));
    }
    return 0;
}

/* Element indices (a, b) of pair i. */
static void pair_elements(size_t i, size_t n_pairs, int pairing, size_t *a, size_t *b)
{
    if (pairing == POSENC_ROPE_INTERLEAVED) {
        *a = 2 * i;
        *b = 2 * i + 1;
    } else {
        *a = i;
        *b = i + n_pairs;
    }
}

static void rotate_with(const float *x, double *y, size_t head_dim, size_t n_pairs, int pairing, size_t i,
                        double c, double s)
{
    size_t a, b;
    (void)head_dim;
    pair_elements(i, n_pairs, pairing, &a, &b);
    double xa = x[a], xb = x[b];
    y[a] = xa * c - xb * s;
    y[b] = xa * s + xb * c;
}

void oracle_rope_rotate(const float *x, double *y, size_t head_dim, size_t n_pairs, int pairing,
                        const double *omega, const double *pos_of_pair, double mscale, int inverse)
{
    for (size_t e = 2 * n_pairs; e < head_dim; e++)
        y[e] = x[e];
    for (size_t i = 0; i < n_pairs; i++) {
        double angle = pos_of_pair[i] * omega[i];
        double c = cos(angle) * mscale, s = sin(angle) * mscale;
        rotate_with(x, y, head_dim, n_pairs, pairing, i, c, inverse ? -s : s);
    }
}

void oracle_rope_rotate_tables(const float *x, double *y, size_t head_dim, size_t n_pairs, int pairing,
                               const float *cos_table, const float *sin_table, int inverse)
{
    for (size_t e = 2 * n_pairs; e < head_dim; e++)
        y[e] = x[e];
    for (size_t i = 0; i < n_pairs; i++) {
        double s = sin_table[i];
        rotate_with(x, y, head_dim, n_pairs, pairing, i, cos_table[i], inverse ? -s : s);
    }
}

double oracle_relative_error(const float *y, const double *y64, size_t n)
{
    double err = 0.0, ref = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)y[i] - y64[i];
        err += d * d;
        ref += y64[i] * y64[i];
    }
    if (ref == 0.0)
        return err == 0.0 ? 0.0 : INFINITY;
    return sqrt(err / ref);
}
