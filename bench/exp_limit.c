/* exp_limit.c - the exp throughput limit of this CPU for the FAST softmax: the library's own float32 exp
 * (src/tpl/softmax_tpl.h, tpl_expf_fast) over an L1-resident buffer, y = exp(x), nothing else. Compiled once per
 * SIMD variant with exactly that variant's flags (bench/meson.build), so each row measures the instruction
 * sequence that variant's FAST row runs. */
#include <stddef.h>
#include <string.h>

#if defined(__AVX512F__)
#include "x86/simd_avx512.h"
#define EXP_LIMIT_FN bench_exp_limit_avx512
#elif defined(__AVX2__)
#include "x86/simd_avx2.h"
#define EXP_LIMIT_FN bench_exp_limit_avx2
#elif defined(__aarch64__)
#include "arm/simd_neon.h"
#define EXP_LIMIT_FN bench_exp_limit_neon
#else
#error "exp_limit.c is built once per SIMD variant, with its flags"
#endif
#include "tpl/softmax_tpl.h"

#include "exp_limit.h"

/* n a multiple of 4 * F32_LANES; x and y do not overlap. Four independent vectors per step, as the row kernels
 * keep four accumulators. memcpy loads and stores: unaligned vector moves on every ISA. */
void EXP_LIMIT_FN(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i += 4 * F32_LANES) {
        vf32 a, b, c, d;
        memcpy(&a, x + i, sizeof a);
        memcpy(&b, x + i + F32_LANES, sizeof b);
        memcpy(&c, x + i + 2 * F32_LANES, sizeof c);
        memcpy(&d, x + i + 3 * F32_LANES, sizeof d);
        a = tpl_expf_fast(a);
        b = tpl_expf_fast(b);
        c = tpl_expf_fast(c);
        d = tpl_expf_fast(d);
        memcpy(y + i, &a, sizeof a);
        memcpy(y + i + F32_LANES, &b, sizeof b);
        memcpy(y + i + 2 * F32_LANES, &c, sizeof c);
        memcpy(y + i + 3 * F32_LANES, &d, sizeof d);
    }
}
