/* cpu_x86.c - x86 feature detection with Google's cpu_features: the only file that includes it. */
#include <cpu_features/cpu_features_macros.h>

#include "kernels.h"

#if defined(CPU_FEATURES_ARCH_X86)
#include <cpu_features/cpuinfo_x86.h>

uint32_t posenc_cpu_detect(void)
{
    /* GetX86Info() reports AVX/AVX-512 only when the OS saves their state (XCR0). Fields are signed 1-bit
     * bitfields: a present feature reads as -1, so test for non-zero. */
    const X86Features f = GetX86Info().features;
    uint32_t bits = 0;
    if (f.avx2 && f.fma3 && f.f16c)
        bits |= POSENC_CPU_AVX2;
    if (f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl)
        bits |= POSENC_CPU_AVX512;
    return bits;
}
#else
#error "cpu_x86.c is for x86 builds only"
#endif
