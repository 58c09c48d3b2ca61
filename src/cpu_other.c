/* cpu_other.c - detection for architectures without SIMD variants: the scalar reference only. */
#include "kernels.h"

uint32_t posenc_cpu_detect(void)
{
    return 0;
}
