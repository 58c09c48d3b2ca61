/* cpu_arm.c - AArch64 feature detection from the ELF auxiliary vector. Debian's arm64 cpu_features prints to
 * stdout on ARMv8.0 cores, and a library must never write to its user's stdout, so it is not used here. */
#include <sys/auxv.h>

#include "kernels.h"

#if !defined(__aarch64__)
#error "cpu_arm.c is for AArch64 builds only"
#endif

#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif

uint32_t posenc_cpu_detect(void)
{
    unsigned long hwcap = getauxval(AT_HWCAP);
    uint32_t bits = 0;
    if (hwcap & HWCAP_ASIMD)
        bits |= POSENC_CPU_NEON;
    return bits;
}
