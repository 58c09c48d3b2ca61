/* check.c - what every consumer project runs: the header matches the library, RoPE and softmax give known values. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <posenc.h>

int consumer_check(void);

int consumer_check(void)
{
    char header_version[32];
    snprintf(header_version, sizeof header_version, "%d.%d.%d", POSENC_VERSION_MAJOR, POSENC_VERSION_MINOR,
             POSENC_VERSION_PATCH);
    if (strcmp(header_version, posenc_version()) != 0) {
        fprintf(stderr, "header says %s, library says %s\n", header_version, posenc_version());
        return 1;
    }
    /* RoPE, half pairing, head_dim 4: pair 0 is (x0, x2), rotated by 1 rad at position 1. */
    posenc_rope_config cfg;
    posenc_rope_plan *plan = NULL;
    if (posenc_rope_config_init(&cfg, sizeof cfg) != POSENC_OK)
        return 1;
    cfg.head_dim = 4;
    if (posenc_rope_plan_create(&cfg, &plan) != POSENC_OK)
        return 1;
    float x[4] = { 1.0f, 0.0f, 0.0f, 0.0f };
    posenc_status st = posenc_rope_apply(plan, x, 1, 1, 4, 4, NULL, 1, 0);
    posenc_rope_plan_destroy(plan);
    if (st != POSENC_OK || fabs(x[0] - cos(1.0)) > 1e-6 || fabs(x[2] - sin(1.0)) > 1e-6 || x[1] != 0.0f) {
        fprintf(stderr, "rope: %s, x = %g %g %g %g\n", posenc_strerror(st), x[0], x[1], x[2], x[3]);
        return 1;
    }
    /* Softmax of a constant row: uniform. */
    posenc_softmax_desc desc;
    float s[3] = { 2.0f, 2.0f, 2.0f }, y[3] = { 0 };
    if (posenc_softmax_desc_init(&desc, sizeof desc) != POSENC_OK)
        return 1;
    st = posenc_softmax(&desc, s, 3, 3, y, 3, 3, 1, 1, 3);
    if (st != POSENC_OK || fabs(y[0] - 1.0 / 3.0) > 1e-7 || fabs(y[1] - 1.0 / 3.0) > 1e-7 || fabs(y[2] - 1.0 / 3.0) > 1e-7) {
        fprintf(stderr, "softmax: %s, y = %g %g %g\n", posenc_strerror(st), y[0], y[1], y[2]);
        return 1;
    }
    /* Bad input gets a status, never a crash. */
    if (posenc_rope_plan_create(NULL, &plan) != POSENC_ERR_NULL)
        return 1;
    printf("libposenc %s ok (variant %s)\n", posenc_version(), posenc_isa());
    return 0;
}
