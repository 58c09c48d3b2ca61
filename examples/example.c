/* example.c - rotate a batch of q/k heads with RoPE, run a causal ALiBi softmax, print what was used. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "posenc.h"

#define N_TOKENS 16
#define N_Q_HEADS 8
#define N_K_HEADS 2
#define HEAD_DIM 128

static int check(posenc_status st, const char *what)
{
    if (st != POSENC_OK)
        fprintf(stderr, "%s: %s\n", what, posenc_strerror(st));
    return st != POSENC_OK;
}

int main(void)
{
    static float q[N_TOKENS][N_Q_HEADS][HEAD_DIM], k[N_TOKENS][N_K_HEADS][HEAD_DIM];
    static float scores[N_Q_HEADS][N_TOKENS][N_TOKENS], probs[N_Q_HEADS][N_TOKENS][N_TOKENS];
    srand(1);
    for (size_t i = 0; i < sizeof q / sizeof(float); i++) ((float *)q)[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (size_t i = 0; i < sizeof k / sizeof(float); i++) ((float *)k)[i] = (float)rand() / (float)RAND_MAX - 0.5f;

    printf("libposenc %s, kernel variant: %s\n", posenc_version(), posenc_isa());

    /* RoPE: LLaMA-style half pairing, base 10000, q and k together starting at position 4000. */
    posenc_rope_config cfg;
    posenc_rope_config_init(&cfg, sizeof cfg);
    cfg.head_dim = HEAD_DIM;
    posenc_rope_plan *plan;
    if (check(posenc_rope_plan_create(&cfg, &plan), "plan"))
        return 1;
    if (check(posenc_rope_apply_qk(plan, &q[0][0][0], N_Q_HEADS, N_Q_HEADS * HEAD_DIM, HEAD_DIM,
                                   &k[0][0][0], N_K_HEADS, N_K_HEADS * HEAD_DIM, HEAD_DIM,
                                   N_TOKENS, NULL, 4000, 0), "rope"))
        return 1;

    /* Attention scores q.k (GQA: 4 q heads share a k head), then a causal ALiBi softmax. */
    for (int h = 0; h < N_Q_HEADS; h++)
        for (int i = 0; i < N_TOKENS; i++)
            for (int j = 0; j < N_TOKENS; j++) {
                float dot = 0;
                for (int e = 0; e < HEAD_DIM; e++)
                    dot += q[i][h][e] * k[j][h / (N_Q_HEADS / N_K_HEADS)][e];
                scores[h][i][j] = dot;
            }
    posenc_softmax_desc sd;
    posenc_softmax_desc_init(&sd, sizeof sd);
    sd.position = POSENC_POSITION_CAUSAL;
    sd.slopes_mode = POSENC_SLOPES_ALIBI;
    sd.scale = 1.0f / sqrtf((float)HEAD_DIM);
    if (check(posenc_softmax(&sd, &scores[0][0][0], N_TOKENS * N_TOKENS, N_TOKENS, &probs[0][0][0],
                             N_TOKENS * N_TOKENS, N_TOKENS, N_Q_HEADS, N_TOKENS, N_TOKENS), "softmax"))
        return 1;

    float slopes[N_Q_HEADS];
    posenc_alibi_slopes(N_Q_HEADS, 8.0f, slopes);
    printf("rotated %d tokens x (%d q + %d k heads) x %d dims at positions 4000..%d\n", N_TOKENS, N_Q_HEADS,
           N_K_HEADS, HEAD_DIM, 4000 + N_TOKENS - 1);
    printf("ALiBi slopes: ");
    for (int h = 0; h < N_Q_HEADS; h++)
        printf("%g ", slopes[h]);
    printf("\nhead 0, last query row (probabilities over %d keys):\n ", N_TOKENS);
    double sum = 0;
    for (int j = 0; j < N_TOKENS; j++) {
        printf(" %.4f", probs[0][N_TOKENS - 1][j]);
        sum += probs[0][N_TOKENS - 1][j];
    }
    printf("\n  row sum %.7f; row 0 keeps only key 0: %.1f, then %.1f\n", sum, probs[0][0][0], probs[0][0][1]);
    posenc_rope_plan_destroy(plan);
    return 0;
}
