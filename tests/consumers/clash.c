/* clash.c - a static consumer that defines names the library uses internally (kernels, the dispatcher's helpers,
 * cpu_features). Linking it with libposenc.a proves those names are local to the archive: a duplicate definition
 * would fail the link, and the library calling one of these instead of its own would bump `clash_calls`. */
#include <stdio.h>

int consumer_check(void);

static int clash_calls;

/* Same names as static or hidden functions and data inside libposenc, and as cpu_features' entry point. */
double sincos_one(double x);
double exp16(double x);
int posenc_rope_sincos_scalar(void);
int posenc_grid_extent(void);
int GetX86Info(void);
int posenc_kernels_avx2 = 42;

double sincos_one(double x) { clash_calls++; return x; }
double exp16(double x) { clash_calls++; return x; }
int posenc_rope_sincos_scalar(void) { clash_calls++; return -1; }
int posenc_grid_extent(void) { clash_calls++; return -1; }
int GetX86Info(void) { clash_calls++; return -1; }

int main(void)
{
    if (consumer_check() != 0)
        return 1;
    if (clash_calls != 0 || posenc_kernels_avx2 != 42) {
        fprintf(stderr, "libposenc.a used the consumer's own symbols (%d calls)\n", clash_calls);
        return 1;
    }
    /* The consumer's own definitions are the ones it gets. */
    if (sincos_one(1.0) != 1.0 || exp16(2.0) != 2.0 || posenc_grid_extent() != -1 || GetX86Info() != -1 ||
        posenc_rope_sincos_scalar() != -1 || clash_calls != 5) {
        fprintf(stderr, "the consumer's own symbols did not resolve to its definitions\n");
        return 1;
    }
    printf("static archive: no clash with the consumer's sincos_one, exp16, posenc_grid_extent, GetX86Info\n");
    return 0;
}
