/* rope_outside_attention.c - RoPE in a linear-attention recurrence (no softmax, no KV cache) through the public API.
 *
 * Linear attention keeps a fixed-size state instead of a KV cache (RoFormer, Su et al. 2021, section 3.3):
 *     S_t = S_{t-1} + R_t phi(k_t) v_t^T        z_t = z_{t-1} + phi(k_t)
 *     o_t = (R_t phi(q_t))^T S_t / (phi(q_t)^T z_t)                    phi(x) = elu(x) + 1
 * R_t is RoPE's rotation at position t, applied by posenc_rope_apply_qk to the new token's feature-mapped query
 * and key as it arrives. The product (R_m a)^T (R_n b) = a^T R_(n-m) b depends on n - m only, so the state needs
 * no positions and stays d x d_v however long the sequence. The program checks, and prints:
 *   1. (R_m a).(R_n b) == (R_{m+s} a).(R_{n+s} b) for shifts s up to 2^30 (the property the recurrence uses);
 *   2. the whole recurrence started at position 0 and at position 1,000,000 gives the same outputs;
 *   3. what the rotation buys: without it o_T is blind to the order of earlier tokens (S is a plain sum), with it
 *      swapping two earlier tokens changes o_T.
 * Exit status 0 if every check holds, 1 otherwise.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "posenc.h"

#define D 64       /* feature (head) dimension, rotated */
#define DV 32      /* value dimension */
#define T 64       /* tokens */

static float q_in[T][D], k_in[T][D], v_in[T][DV];
static unsigned lcg_state = 2024u;

static float uniform(void)   /* in [-1, 1) */
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return (float)(lcg_state >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

static float phi(float x)   /* elu(x) + 1: positive features, so the normaliser phi(q).z stays positive */
{
    return x > 0 ? x + 1.0f : expf(x);
}

static int failed(posenc_status st, const char *what)
{
    if (st != POSENC_OK)
        fprintf(stderr, "%s: %s\n", what, posenc_strerror(st));
    return st != POSENC_OK;
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * (double)b[i];
    return s;
}

/* Run the recurrence over tokens in the order `order` (positions start_pos + t for the t-th token processed),
 * with or without RoPE, and write the last output o_T into out[DV]. Returns nonzero on a library error. */
static int run(const posenc_rope_plan *plan, int64_t start_pos, const int order[T], int rotate, float out[DV])
{
    static float state[D][DV];
    float z[D] = {0};
    memset(state, 0, sizeof state);
    for (int t = 0; t < T; t++) {
        const int src = order[t];
        float q[D], k[D], fq[D];
        for (int e = 0; e < D; e++) {
            fq[e] = q[e] = phi(q_in[src][e]);
            k[e] = phi(k_in[src][e]);
            z[e] += k[e];
        }
        /* One token, one head each: rotate q and k in place, the cos/sin computed once for both. */
        if (rotate && failed(posenc_rope_apply_qk(plan, q, 1, D, D, k, 1, D, D, 1, NULL, start_pos + t, 0),
                             "posenc_rope_apply_qk"))
            return 1;
        for (int e = 0; e < D; e++)
            for (int c = 0; c < DV; c++)
                state[e][c] += k[e] * v_in[src][c];
        if (t == T - 1) {
            const double norm = dot(fq, z, D);
            for (int c = 0; c < DV; c++) {
                double num = 0;
                for (int e = 0; e < D; e++)
                    num += (double)q[e] * (double)state[e][c];
                out[c] = (float)(num / norm);
            }
        }
    }
    return 0;
}

static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - (double)b[i]) * ((double)a[i] - (double)b[i]);
        s += (double)b[i] * (double)b[i];
    }
    return sqrt(d / s);
}

int main(void)
{
    for (int t = 0; t < T; t++) {
        for (int e = 0; e < D; e++) {
            q_in[t][e] = uniform();
            k_in[t][e] = uniform();
        }
        for (int c = 0; c < DV; c++)
            v_in[t][c] = uniform();
    }
    posenc_rope_config cfg;
    posenc_rope_plan *plan;
    if (failed(posenc_rope_config_init(&cfg, sizeof cfg), "posenc_rope_config_init"))
        return 1;
    cfg.head_dim = D;   /* base 10000, half pairing: the defaults */
    if (failed(posenc_rope_plan_create(&cfg, &plan), "posenc_rope_plan_create"))
        return 1;
    printf("libposenc %s (%s): RoPE in a linear-attention recurrence, d = %d, d_v = %d, %d tokens\n",
           posenc_version(), posenc_isa(), D, DV, T);
    int ok = 1;

    /* 1. The rotated product depends on the position difference only, for any shift. */
    {
        const int64_t pairs[][2] = {{0, 0}, {5, 2}, {2, 5}, {1000, 7}, {0, 4096}};
        const int64_t shifts[] = {1, 1000, 1 << 20, 1 << 30};
        double worst = 0;
        for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
            float a[D], b[D], a0[D], b0[D];
            memcpy(a0, q_in[p], sizeof a0);
            memcpy(b0, k_in[p], sizeof b0);
            memcpy(a, a0, sizeof a);
            memcpy(b, b0, sizeof b);
            if (failed(posenc_rope_apply(plan, a, 1, 1, D, D, NULL, pairs[p][0], 0), "posenc_rope_apply") ||
                failed(posenc_rope_apply(plan, b, 1, 1, D, D, NULL, pairs[p][1], 0), "posenc_rope_apply"))
                return 1;
            const double base_dot = dot(a, b, D), scale = sqrt(dot(a0, a0, D) * dot(b0, b0, D));
            for (size_t s = 0; s < sizeof shifts / sizeof shifts[0]; s++) {
                memcpy(a, a0, sizeof a);
                memcpy(b, b0, sizeof b);
                if (failed(posenc_rope_apply(plan, a, 1, 1, D, D, NULL, pairs[p][0] + shifts[s], 0), "apply") ||
                    failed(posenc_rope_apply(plan, b, 1, 1, D, D, NULL, pairs[p][1] + shifts[s], 0), "apply"))
                    return 1;
                const double diff = fabs(dot(a, b, D) - base_dot) / scale;
                worst = diff > worst ? diff : worst;
            }
        }
        const int pass = worst <= 1e-5;
        ok &= pass;
        printf("%s 1. (R_m a).(R_n b) vs the same pair shifted by up to 2^30: worst |difference| / (|a||b|) = "
               "%.1e (limit 1e-5)\n", pass ? "ok  " : "FAIL", worst);
    }

    int order[T], swapped[T];
    for (int t = 0; t < T; t++)
        order[t] = swapped[t] = t;
    swapped[3] = 10;
    swapped[10] = 3;
    float o_0[DV], o_far[DV], o_swap[DV], o_plain[DV], o_plain_swap[DV];
    if (run(plan, 0, order, 1, o_0) || run(plan, 1000000, order, 1, o_far) || run(plan, 0, swapped, 1, o_swap) ||
        run(plan, 0, order, 0, o_plain) || run(plan, 0, swapped, 0, o_plain_swap))
        return 1;

    /* 2. Shifting every position leaves the outputs unchanged: the state depends on differences only. */
    {
        const double d = rel_diff(o_far, o_0, DV);
        const int pass = d <= 1e-5;
        ok &= pass;
        printf("%s 2. o_T with positions 1000000.. vs 0..: relative difference %.1e (limit 1e-5)\n",
               pass ? "ok  " : "FAIL", d);
    }
    /* 3. Order: without RoPE the state is a sum, blind to order; with RoPE it is not. */
    {
        const double plain = rel_diff(o_plain_swap, o_plain, DV), rope = rel_diff(o_swap, o_0, DV);
        const int pass = plain <= 1e-5 && rope >= 1e-3;
        ok &= pass;
        printf("%s 3. swapping tokens 3 and 10 changes o_T by %.1e without RoPE (order-blind, limit 1e-5) and by "
               "%.1e with RoPE (at least 1e-3)\n", pass ? "ok  " : "FAIL", plain, rope);
    }
    printf("state: %d x %d floats at every length (a KV cache would hold %d x %d after %d tokens)\n", D, DV, T,
           D + DV, T);
    posenc_rope_plan_destroy(plan);
    return ok ? 0 : 1;
}
