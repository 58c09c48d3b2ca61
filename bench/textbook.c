/* textbook.c - baselines: the RoPE and ALiBi softmax loops a user would write, built -O3 -march=native. */
#include <math.h>

#include "baselines.h"

#define TEXTBOOK_MAX_PAIRS 512

static void rotate_heads(float *x, size_t n_heads, size_t head_dim, const float *cos_t, const float *sin_t,
                         int interleaved)
{
    const size_t half = head_dim / 2;
    for (size_t h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim;
        if (interleaved) {
            for (size_t i = 0; i < half; i++) {
                const float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * cos_t[i] - b * sin_t[i];
                v[2 * i + 1] = a * sin_t[i] + b * cos_t[i];
            }
        } else {
            for (size_t i = 0; i < half; i++) {
                const float a = v[i], b = v[i + half];
                v[i] = a * cos_t[i] - b * sin_t[i];
                v[i + half] = a * sin_t[i] + b * cos_t[i];
            }
        }
    }
}

void textbook_rope_qk(float *q, size_t n_q_heads, float *k, size_t n_k_heads, size_t n_tokens, size_t head_dim,
                      int64_t start_pos, float base, int interleaved)
{
    const size_t half = head_dim / 2;
    float inv_freq[TEXTBOOK_MAX_PAIRS], cos_t[TEXTBOOK_MAX_PAIRS], sin_t[TEXTBOOK_MAX_PAIRS];
    if (half == 0 || half > TEXTBOOK_MAX_PAIRS)
        return;
    for (size_t i = 0; i < half; i++)
        inv_freq[i] = 1.0f / powf(base, (float)(2 * i) / (float)head_dim);
    for (size_t t = 0; t < n_tokens; t++) {
        const float position = (float)(start_pos + (int64_t)t);
        for (size_t i = 0; i < half; i++) {
            const float angle = position * inv_freq[i];
            cos_t[i] = cosf(angle);
            sin_t[i] = sinf(angle);
        }
        rotate_heads(q + t * n_q_heads * head_dim, n_q_heads, head_dim, cos_t, sin_t, interleaved);
        if (k)
            rotate_heads(k + t * n_k_heads * head_dim, n_k_heads, head_dim, cos_t, sin_t, interleaved);
    }
}

void textbook_alibi_slopes(size_t n_heads, float *slopes)
{
    size_t closest_power_of_2 = 1;
    while (closest_power_of_2 * 2 <= n_heads)
        closest_power_of_2 *= 2;
    const float m0 = powf(2.0f, -8.0f / (float)closest_power_of_2);
    const float m1 = powf(2.0f, -4.0f / (float)closest_power_of_2);
    for (size_t h = 0; h < n_heads; h++)
        slopes[h] = h < closest_power_of_2 ? powf(m0, (float)(h + 1))
                                           : powf(m1, (float)(2 * (h - closest_power_of_2) + 1));
}

void textbook_softmax(float *scores, size_t n_heads, size_t n_rows, size_t n_cols, float scale,
                      const float *slopes, int64_t q_pos0)
{
    for (size_t h = 0; h < n_heads; h++) {
        const float slope = slopes ? slopes[h] : 0.0f;
        for (size_t r = 0; r < n_rows; r++) {
            float *row = scores + (h * n_rows + r) * n_cols;
            const int64_t query_position = q_pos0 + (int64_t)r;
            size_t n_valid = n_cols;
            if (slopes && query_position + 1 < (int64_t)n_cols)
                n_valid = (size_t)(query_position + 1);

            float max = -INFINITY;
            for (size_t j = 0; j < n_valid; j++) {
                float z = scale * row[j];
                if (slopes)
                    z += slope * (float)((int64_t)j - query_position);
                row[j] = z;
                max = z > max ? z : max;
            }
            float sum = 0.0f;
            for (size_t j = 0; j < n_valid; j++) {
                const float e = expf(row[j] - max);
                row[j] = e;
                sum += e;
            }
            const float inverse_sum = 1.0f / sum;
            for (size_t j = 0; j < n_valid; j++)
                row[j] *= inverse_sum;
            for (size_t j = n_valid; j < n_cols; j++)
                row[j] = 0.0f;
        }
    }
}
