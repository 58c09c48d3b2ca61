/* rope_scheme_cases.h - the RoPE scheme configurations shared by test_rope_schemes.c (against the float64
 * oracle) and test_variants.c (every variant against scalar): every scheme and axis layout, both pairings, partial
 * rotary, small and odd pair counts. Include after <cmocka.h> and common.h; call fill_factor_lists() first. */
#ifndef POSENC_TEST_ROPE_SCHEME_CASES_H
#define POSENC_TEST_ROPE_SCHEME_CASES_H

/* rotary_dim/2 at most (the library's own bound is internal). */
#define MAX_PAIRS (POSENC_MAX_HEAD_DIM / 2)

/* ---- configurations ---------------------------------------------------------------------------------------- */

static inline posenc_rope_config make_config(uint32_t head_dim, uint32_t rotary_dim, int32_t pairing,
                                             double base, int32_t scaling)
{
    posenc_rope_config cfg;
    assert_int_equal(posenc_rope_config_init(&cfg, sizeof cfg), POSENC_OK);
    cfg.head_dim = head_dim;
    cfg.rotary_dim = rotary_dim;
    cfg.pairing = pairing;
    cfg.base = base;
    cfg.scaling = scaling;
    return cfg;
}

static inline void set_sections(posenc_rope_config *cfg, int32_t axes, int32_t n, int32_t s0, int32_t s1,
                                int32_t s2)
{
    cfg->axes = axes;
    cfg->n_sections = n;
    cfg->sections[0] = s0;
    cfg->sections[1] = s1;
    cfg->sections[2] = s2;
    cfg->sections[3] = 0;
}

static inline size_t n_pairs_of(const posenc_rope_config *cfg)
{
    return (cfg->rotary_dim ? cfg->rotary_dim : cfg->head_dim) / 2;
}

/* Per-pair lists, filled once: shaped like Phi-3's (short near 1, long rising to ~60) and ggml rope_freqs. */
static double short_factors[MAX_PAIRS], long_factors[MAX_PAIRS], divisors[MAX_PAIRS];

static inline void fill_factor_lists(void)
{
    for (size_t i = 0; i < MAX_PAIRS; i++) {
        short_factors[i] = 1.0 + 0.01 * (double)(i % 17);
        long_factors[i] = 1.0 + 59.0 * (double)(i * i % 2304) / 2304.0;
        divisors[i] = 0.5 + (double)(test_rand_u64() % 1000) / 100.0;
    }
}

typedef struct scheme_case {
    const char *name;
    posenc_rope_config cfg;
} scheme_case;

#define MAX_CASES 40

/* Every scheme and axis layout, both pairings, partial rotary, small and odd pair counts. */
static inline size_t make_cases(scheme_case *cases)
{
    size_t n = 0;
    posenc_rope_config c;

    c = make_config(128, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_NONE);
    cases[n++] = (scheme_case){ "none", c };
    c = make_config(2, 0, POSENC_ROPE_INTERLEAVED, 10000.0, POSENC_SCALING_NONE);
    cases[n++] = (scheme_case){ "none-d2", c };
    c = make_config(128, 0, POSENC_ROPE_INTERLEAVED, 10000.0, POSENC_SCALING_LINEAR);
    c.factor = 4.0;
    cases[n++] = (scheme_case){ "linear", c };
    c = make_config(80, 40, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_NTK);
    c.factor = 2.0;
    cases[n++] = (scheme_case){ "ntk-partial", c };
    c = make_config(128, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_DYNAMIC_NTK);
    c.factor = 2.0;
    c.original_max_position = 2048;
    cases[n++] = (scheme_case){ "dynamic-unset-length", c };
    c.sequence_length = 6000;
    cases[n++] = (scheme_case){ "dynamic-6000", c };
    c = make_config(128, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_YARN);
    c.factor = 4.0;
    c.original_max_position = 4096;
    cases[n++] = (scheme_case){ "yarn", c };
    c.pairing = POSENC_ROPE_INTERLEAVED;
    c.attention_factor = 1.5;
    cases[n++] = (scheme_case){ "yarn-attention-factor", c };
    c = make_config(192, 64, POSENC_ROPE_INTERLEAVED, 10000.0, POSENC_SCALING_YARN);   /* DeepSeek-V3 rope part */
    c.factor = 40.0;
    c.original_max_position = 4096;
    c.mscale = 0.707;
    c.mscale_all_dim = 1.0;
    cases[n++] = (scheme_case){ "yarn-deepseek-partial", c };
    c = make_config(64, 0, POSENC_ROPE_HALF, 150000.0, POSENC_SCALING_YARN);           /* gpt-oss-like */
    c.factor = 32.0;
    c.original_max_position = 4096;
    c.beta_fast = 32.0;
    c.beta_slow = 1.0;
    cases[n++] = (scheme_case){ "yarn-d64", c };
    c.truncate = 0;                                                                     /* gpt-oss: truncate false */
    cases[n++] = (scheme_case){ "yarn-d64-no-truncate", c };
    c = make_config(6, 4, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_YARN);             /* low == high corner */
    c.factor = 2.0;
    c.original_max_position = 8;
    cases[n++] = (scheme_case){ "yarn-tiny", c };
    c = make_config(128, 0, POSENC_ROPE_HALF, 500000.0, POSENC_SCALING_LLAMA3);
    c.factor = 8.0;
    c.low_freq_factor = 1.0;
    c.high_freq_factor = 4.0;
    c.original_max_position = 8192;
    cases[n++] = (scheme_case){ "llama3.1", c };
    c.pairing = POSENC_ROPE_INTERLEAVED;
    c.factor = 32.0;
    c.high_freq_factor = 2.5;
    cases[n++] = (scheme_case){ "llama3-interleaved", c };
    c = make_config(96, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_LONGROPE);        /* Phi-3 mini 128k */
    c.short_factors = short_factors;
    c.long_factors = long_factors;
    c.factor = 131072.0 / 4096.0;
    c.original_max_position = 4096;
    cases[n++] = (scheme_case){ "longrope-short", c };
    c.use_long_factors = 1;
    cases[n++] = (scheme_case){ "longrope-long", c };
    c = make_config(100, 98, POSENC_ROPE_INTERLEAVED, 10000.0, POSENC_SCALING_FREQ_FACTORS);
    c.freq_factors = divisors;
    cases[n++] = (scheme_case){ "freq-factors", c };
    c = make_config(128, 0, POSENC_ROPE_HALF, 1000000.0, POSENC_SCALING_NONE);         /* Qwen2-VL */
    set_sections(&c, POSENC_AXES_MROPE, 3, 16, 24, 24);
    cases[n++] = (scheme_case){ "mrope", c };
    c.scaling = POSENC_SCALING_YARN;
    c.factor = 4.0;
    c.original_max_position = 32768;
    cases[n++] = (scheme_case){ "mrope-yarn", c };
    c = make_config(128, 0, POSENC_ROPE_HALF, 5000000.0, POSENC_SCALING_NONE);         /* Qwen3-VL */
    set_sections(&c, POSENC_AXES_MROPE_INTERLEAVED, 3, 24, 20, 20);
    cases[n++] = (scheme_case){ "imrope", c };
    c = make_config(40, 34, POSENC_ROPE_INTERLEAVED, 10000.0, POSENC_SCALING_LINEAR);
    set_sections(&c, POSENC_AXES_MROPE_INTERLEAVED, 3, 3, 7, 7);
    c.factor = 2.0;
    cases[n++] = (scheme_case){ "imrope-odd", c };
    c = make_config(80, 0, POSENC_ROPE_HALF, 10000.0, POSENC_SCALING_NONE);            /* Qwen2-VL vision */
    set_sections(&c, POSENC_AXES_VISION_2D, 2, 20, 20, 0);
    cases[n++] = (scheme_case){ "vision", c };
    c = make_config(72, 60, POSENC_ROPE_INTERLEAVED, 10000.0, POSENC_SCALING_FREQ_FACTORS);
    set_sections(&c, POSENC_AXES_VISION_2D, 2, 12, 18, 0);
    c.freq_factors = divisors;
    cases[n++] = (scheme_case){ "vision-uneven-ff", c };
    c = make_config(64, 0, POSENC_ROPE_HALF, 100.0, POSENC_SCALING_LINEAR);
    set_sections(&c, POSENC_AXES_VISION_2D, 2, 16, 16, 0);
    c.factor = 3.0;
    cases[n++] = (scheme_case){ "vision-linear", c };
    assert_true(n <= MAX_CASES);
    return n;
}

static inline posenc_rope_plan *create_plan(const posenc_rope_config *cfg)
{
    posenc_rope_plan *plan = NULL;
    assert_int_equal(posenc_rope_plan_create(cfg, &plan), POSENC_OK);
    assert_non_null(plan);
    return plan;
}

#endif
