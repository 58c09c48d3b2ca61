/* dispatch.c - the best-first table of kernel variants, selection at load time, the atomic switch. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "posenc.h"
#if defined(POSENC_HAVE_AVX2) || defined(POSENC_HAVE_AVX512)
#include "x86/x86_kernels.h"
#endif
#if defined(POSENC_HAVE_NEON)
#include "arm/arm_kernels.h"
#endif

#if defined(__AVX__) || defined(__AVX2__) || defined(__AVX512F__)
#error "dispatch.c must be compiled without ISA flags: it runs before the CPU is known"
#endif

/* Best first, scalar last. `needs` is exactly the bundle the variant's files are compiled for. */
typedef struct variant {
    const posenc_kernels *kernels;
    uint32_t needs;
} variant;

static const variant variants[] = {
#ifdef POSENC_HAVE_AVX512
    { &posenc_kernels_avx512, POSENC_CPU_AVX512 },
#endif
#ifdef POSENC_HAVE_AVX2
    { &posenc_kernels_avx2, POSENC_CPU_AVX2 },
#endif
#ifdef POSENC_HAVE_NEON
    { &posenc_kernels_neon, POSENC_CPU_NEON },
#endif
    { &posenc_kernels_scalar, 0 },
};
#define N_VARIANTS (sizeof variants / sizeof variants[0])

static _Atomic(const posenc_kernels *) active;
static uint32_t cpu_bits;
static pthread_once_t select_once = PTHREAD_ONCE_INIT;

static int supported(size_t index)
{
    return (variants[index].needs & cpu_bits) == variants[index].needs;
}

/* ASCII case-insensitive equality, independent of the locale: "AVX2" and "Scalar" name variants too. */
static int same_name(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca >= 'A' && ca <= 'Z')
            ca = (unsigned char)(ca - 'A' + 'a');
        if (ca != cb)                  /* variant names are lower case */
            return 0;
        if (ca == '\0')
            return 1;
    }
}

static const posenc_kernels *find(const char *name)
{
    for (size_t i = 0; i < N_VARIANTS; i++)
        if (same_name(name, variants[i].kernels->name) && supported(i))
            return variants[i].kernels;
    return NULL;
}

/* posenc_isa_forced's answer, decided once at load: 0 (POSENC_ISA unset or empty), 1 (honoured) or
 * POSENC_ERR_UNSUPPORTED (refused). */
static int isa_env_answer;

static void select_variant(void)
{
    cpu_bits = posenc_cpu_detect();
    const posenc_kernels *chosen = NULL;
    const char *forced = getenv("POSENC_ISA");
    if (forced && forced[0] != '\0') {
        chosen = find(forced);           /* unknown or unsupported: fall back to the best, and say so */
        isa_env_answer = chosen ? 1 : POSENC_ERR_UNSUPPORTED;
    }
    for (size_t i = 0; !chosen && i < N_VARIANTS; i++)
        if (supported(i))
            chosen = variants[i].kernels;
    atomic_store_explicit(&active, chosen, memory_order_release);
}

/* Select when the library is loaded (also inside dlopen); pthread_once covers loaders that skip constructors. */
__attribute__((constructor)) static void select_at_load(void)
{
    pthread_once(&select_once, select_variant);
}

const posenc_kernels *posenc_active_kernels(void)
{
    const posenc_kernels *k = atomic_load_explicit(&active, memory_order_acquire);
    if (__builtin_expect(k != NULL, 1))
        return k;
    pthread_once(&select_once, select_variant);
    return atomic_load_explicit(&active, memory_order_acquire);
}

const char *posenc_isa(void)
{
    return posenc_active_kernels()->name;
}

size_t posenc_isa_count(void)
{
    return N_VARIANTS;
}

const char *posenc_isa_name(size_t index)
{
    return index < N_VARIANTS ? variants[index].kernels->name : NULL;
}

int posenc_isa_supported(size_t index)
{
    pthread_once(&select_once, select_variant);
    return index < N_VARIANTS && supported(index);
}

int posenc_isa_forced(void)
{
    pthread_once(&select_once, select_variant);
    return isa_env_answer;
}

posenc_status posenc_set_isa(const char *name)
{
    if (!name)
        return POSENC_ERR_NULL;
    pthread_once(&select_once, select_variant);
    const posenc_kernels *k = find(name);
    if (!k)
        return POSENC_ERR_UNSUPPORTED;
    atomic_store_explicit(&active, k, memory_order_release);
    return POSENC_OK;
}

const posenc_kernels posenc_kernels_scalar = {
    .name = "scalar",
    .rope_sincos = posenc_rope_sincos_scalar,
    .rope_rotate_half = posenc_rope_rotate_half_scalar,
    .rope_rotate_interleaved = posenc_rope_rotate_interleaved_scalar,
    .softmax_row = posenc_softmax_row_scalar,
    .widen = posenc_widen_scalar,
    .narrow = posenc_narrow_scalar,
    /* softmax backward and split-K (softmax_backward_scalar.c, softmax_merge_scalar.c) */
    .softmax_backward_row = posenc_softmax_backward_row_scalar,
    .softmax_stats = posenc_softmax_stats_scalar,
    .softmax_merge_step = posenc_softmax_merge_step_scalar,
};

#ifdef POSENC_HAVE_AVX2
const posenc_kernels posenc_kernels_avx2 = {
    .name = "avx2",
    .rope_sincos = posenc_rope_sincos_avx2,
    .rope_rotate_half = posenc_rope_rotate_half_avx2,
    .rope_rotate_interleaved = posenc_rope_rotate_interleaved_avx2,
    .softmax_row = posenc_softmax_row_avx2,
    .widen = posenc_widen_avx2,
    .narrow = posenc_narrow_avx2,
    /* softmax backward and split-K (softmax_backward_avx2.c, softmax_merge_avx2.c) */
    .softmax_backward_row = posenc_softmax_backward_row_avx2,
    .softmax_stats = posenc_softmax_stats_avx2,
    .softmax_merge_step = posenc_softmax_merge_step_avx2,
};
#endif

#ifdef POSENC_HAVE_AVX512
const posenc_kernels posenc_kernels_avx512 = {
    .name = "avx512",
    .rope_sincos = posenc_rope_sincos_avx512,
    .rope_rotate_half = posenc_rope_rotate_half_avx512,
    .rope_rotate_interleaved = posenc_rope_rotate_interleaved_avx512,
    .softmax_row = posenc_softmax_row_avx512,
    .widen = posenc_widen_avx512,
    .narrow = posenc_narrow_avx512,
    /* softmax backward and split-K (softmax_backward_avx512.c, softmax_merge_avx512.c) */
    .softmax_backward_row = posenc_softmax_backward_row_avx512,
    .softmax_stats = posenc_softmax_stats_avx512,
    .softmax_merge_step = posenc_softmax_merge_step_avx512,
};
#endif

#ifdef POSENC_HAVE_NEON
const posenc_kernels posenc_kernels_neon = {
    .name = "neon",
    .rope_sincos = posenc_rope_sincos_neon,
    .rope_rotate_half = posenc_rope_rotate_half_neon,
    .rope_rotate_interleaved = posenc_rope_rotate_interleaved_neon,
    .softmax_row = posenc_softmax_row_neon,
    .widen = posenc_widen_neon,
    .narrow = posenc_narrow_neon,
    /* softmax backward and split-K (softmax_backward_neon.c, softmax_merge_neon.c) */
    .softmax_backward_row = posenc_softmax_backward_row_neon,
    .softmax_stats = posenc_softmax_stats_neon,
    .softmax_merge_step = posenc_softmax_merge_step_neon,
};
#endif
