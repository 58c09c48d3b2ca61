/* posenc.h - libposenc public API: SIMD RoPE and ALiBi-biased softmax kernels (C99, extern "C").
 *
 * This header is the documentation of record. Conventions used throughout:
 *   - Every function that can fail returns a posenc_status (an int; POSENC_OK = 0, errors < 0).
 *     A failed call writes nothing to any output buffer.
 *   - Tensors are float32. Shapes and strides are counted in ELEMENTS (floats), not bytes.
 *   - Positions are int64 token indices. RoPE accepts |position| <= POSENC_MAX_POSITION.
 *   - Calls never allocate, lock, print or make system calls, except the plan create/destroy functions
 *     (which allocate), posenc_softmax_forward with per-column key positions or a grid (one row of bias terms
 *     per task, allocated before any output is written and freed before it returns) and posenc_set_isa (an
 *     atomic store).
 *   - Results are bit-identical on every CPU and every kernel variant (scalar, avx2, avx512, neon) for all
 *     finite inputs: the scalar reference defines the bits, and every SIMD variant reproduces them.
 *   - Everything is callable through a C FFI (Python ctypes, Rust, Java FFM): no struct is passed by value,
 *     and the argument structs are size-tagged so they can grow without breaking the ABI.
 *
 * Size-tagged structs (posenc_rope_config, posenc_softmax_desc, posenc_rope_args) start with uint32_t
 * struct_size, which their _init call fills with the size the caller passes (sizeof as the caller compiled it).
 * Fields are only ever appended, never moved, resized or removed. Each struct's first-release size is frozen as
 * POSENC_ROPE_CONFIG_SIZE_V1 / POSENC_SOFTMAX_DESC_SIZE_V1 (0.1) / POSENC_ROPE_ARGS_SIZE_V1 (0.2); the library
 * accepts any struct_size from that constant up to its own sizeof that is a multiple of 8 (so the caller's bytes
 * never end inside a field), reads only the caller's struct_size bytes, and gives every field past them its
 * default. A program built against an older header therefore keeps working with a newer library; any other
 * struct_size gets POSENC_ERR_STRUCT_SIZE.
 */
#ifndef POSENC_H
#define POSENC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the exported functions (the library is built with hidden visibility). Callers need define nothing. */
#if defined(__GNUC__) && !defined(_WIN32)
#define POSENC_API __attribute__((visibility("default")))
#else
#define POSENC_API
#endif

/* ------------------------------------------------------------------------------------------------------------
 * Status codes, version, variant selection
 * ------------------------------------------------------------------------------------------------------------ */

typedef int posenc_status;

#define POSENC_OK                 0   /* success */
#define POSENC_ERR_NULL          -1   /* a required pointer argument is NULL */
#define POSENC_ERR_DIM           -2   /* head_dim / rotary_dim invalid: zero, odd rotary_dim, rotary_dim > head_dim,
                                         head_dim > POSENC_MAX_HEAD_DIM */
#define POSENC_ERR_SHAPE         -3   /* a head count is zero, or sizes/extents overflow size_t or PTRDIFF_MAX */
#define POSENC_ERR_STRIDE        -4   /* strides make two rows (heads/tokens/score rows) overlap */
#define POSENC_ERR_OVERLAP       -5   /* out of place: destination partially overlaps a source (in place needs
                                         dst == src with identical strides) */
#define POSENC_ERR_ENUM          -6   /* unknown enum value or flag bit */
#define POSENC_ERR_PARAM         -7   /* a numeric parameter is non-finite, non-positive or inconsistent */
#define POSENC_ERR_RANGE         -8   /* a position (or position offset) lies outside the documented range */
#define POSENC_ERR_STRUCT_SIZE   -9   /* a size-tagged struct has a struct_size this library does not accept */
#define POSENC_ERR_NOMEM        -10   /* memory allocation failed (plan creation; the softmax's bias terms) */
#define POSENC_ERR_UNSUPPORTED  -11   /* unknown ISA name, or an ISA this CPU / build does not support */

/* A sentence describing a status code (static storage, never NULL; unknown codes get a generic sentence). */
POSENC_API
const char *posenc_strerror(posenc_status status);

#define POSENC_VERSION_MAJOR 0
#define POSENC_VERSION_MINOR 2
#define POSENC_VERSION_PATCH 0

/* Library version as "MAJOR.MINOR.PATCH" (static storage). */
POSENC_API
const char *posenc_version(void);
/* Library version as MAJOR*10000 + MINOR*100 + PATCH. */
POSENC_API
uint32_t posenc_version_number(void);

/* Kernel variants ("ISAs"). One is chosen at load time: the best one this CPU supports, or the one named by the
 * environment variable POSENC_ISA=scalar|avx2|avx512|neon (any letter case) if this build and CPU run it. An
 * unknown or unsupported name falls back to the best one, and posenc_isa_forced() reports the refusal; an empty
 * POSENC_ISA counts as unset. Bundles: avx2 = AVX2+FMA; avx512 = AVX-512 F+BW+DQ+VL (with OS support);
 * neon = AArch64 Advanced SIMD. */

/* Name of the variant in use ("scalar", "avx2", "avx512" or "neon"; static storage). */
POSENC_API
const char *posenc_isa(void);
/* Number of variants compiled into this build (scalar included). */
POSENC_API
size_t posenc_isa_count(void);
/* Name of compiled-in variant `index` (0 = best ... last = "scalar"), or NULL if index >= posenc_isa_count(). */
POSENC_API
const char *posenc_isa_name(size_t index);
/* 1 if compiled-in variant `index` can run on this CPU, 0 if not or if index is out of range. */
POSENC_API
int posenc_isa_supported(size_t index);
/* Switch every later call to the named variant (any letter case: "AVX2" selects "avx2"). Thread-safe (an atomic
 * pointer swap); calls already running finish on the variant they started with. Since all variants give
 * identical bits, switching never changes results, only speed.
 * Returns POSENC_OK; POSENC_ERR_NULL if name is NULL; POSENC_ERR_UNSUPPORTED if the name is unknown or the
 * CPU lacks that variant (the active variant is then unchanged). */
POSENC_API
posenc_status posenc_set_isa(const char *name);
/* Whether the POSENC_ISA environment variable decided the variant selected at load (a load-time fact: later
 * posenc_set_isa calls do not change the answer).
 * Returns 1 if POSENC_ISA named a variant (any letter case) that this build and CPU run, and that variant was
 * selected; 0 if POSENC_ISA was unset or empty (the best variant was selected); POSENC_ERR_UNSUPPORTED if
 * POSENC_ISA named an unknown variant or one this build or CPU cannot run (the best variant was selected
 * instead, as posenc_isa() shows). */
POSENC_API
int posenc_isa_forced(void);

/* ------------------------------------------------------------------------------------------------------------
 * Element types, tensor views, the caller's thread pool (0.2)
 *
 * Every 0.2 call takes its arguments in one order: the plan, the operation's descriptor, input tensors, output
 * tensors, then counts from the outermost axis to the innermost. Strides live in tensor views, never as loose
 * arguments, so a count and a stride cannot be swapped. The 0.1 calls are thin wrappers over the 0.2 ones.
 * ------------------------------------------------------------------------------------------------------------ */

/* Element types. Reduced-precision elements are widened to float32 exactly, computed exactly as the float32
 * path computes them (float32 elements keep their 0.1 bits), and rounded once to the destination type with
 * round-to-nearest-even: f16 overflows to +-inf, subnormals of every type are kept (never flushed). Every NaN
 * that reaches a destination is that type's canonical quiet NaN: f32 0x7fc00000, f16 0x7e00, bf16 0x7fc0. */
#define POSENC_F32   0   /* IEEE binary32 */
#define POSENC_F16   1   /* IEEE binary16 (numpy float16, _Float16, ggml f16) */
#define POSENC_BF16  2   /* bfloat16: the upper 16 bits of a binary32 (torch.bfloat16) */

/* A strided view of a [A][B][E] tensor whose last axis is contiguous: element (a, b, e) lives at element
 * offset a*stride_a + b*stride_b + e from data, counted in elements of the view's own dtype. Which axes A and
 * B are is the call's to say (RoPE: tokens, heads; softmax: heads, rows). Inputs are only read through data.
 * This struct is frozen: it never grows; `reserved` must be 0 (POSENC_ERR_ENUM otherwise). */
typedef struct posenc_tensor {
    void    *data;       /* the first element; must be aligned to its dtype's size (POSENC_ERR_PARAM) */
    int32_t  dtype;      /* POSENC_F32, POSENC_F16 or POSENC_BF16 */
    uint32_t reserved;   /* 0 */
    size_t   stride_a;   /* elements between consecutive indices of the outer axis */
    size_t   stride_b;   /* elements between consecutive indices of the middle axis */
} posenc_tensor;

/* The caller's thread pool (the OpenBLAS / pthreadpool pattern). A call given one splits its work into
 * independent tasks and hands them to parallel_for; it never starts threads of its own.
 * parallel_for must run fn(task_arg, i) exactly once for every i in [0, n_tasks), in any order, on any threads
 * (the calling thread included), and return only when every task has finished. The library calls it at most
 * once per call and never from inside a task. Tasks allocate nothing, take no lock of the library's and may
 * run concurrently; each writes a disjoint part of the outputs. Small work runs on the calling thread without
 * calling parallel_for. Results are bit-identical for every split: a softmax row is never divided, and every
 * RoPE token's cos/sin are computed the same way wherever it lands. This struct is frozen: it never grows. */
typedef void (*posenc_task_fn)(void *task_arg, size_t task_index);
typedef struct posenc_parallel {
    void   (*parallel_for)(void *pool, size_t n_tasks, posenc_task_fn fn, void *task_arg);
    void    *pool;        /* passed back to parallel_for unchanged */
    size_t   max_tasks;   /* the most tasks worth making (e.g. the pool's thread count); 0 or 1: no split */
} posenc_parallel;

/* ------------------------------------------------------------------------------------------------------------
 * RoPE: rotary position embedding
 *
 * A head vector x of head_dim floats at position p: its first rotary_dim elements form rotary_dim/2 pairs
 * (a, b); pair i is rotated by the angle p * w_i (radians), the remaining head_dim - rotary_dim elements are
 * copied unchanged:
 *     x'_a = x_a*cos - x_b*sin        x'_b = x_b*cos + x_a*sin      (cos, sin multiplied by the plan's mscale)
 * Pairing HALF (GPT-NeoX, HF LLaMA): a = i, b = i + rotary_dim/2.  INTERLEAVED (GPT-J, Meta LLaMA): a = 2i,
 * b = 2i+1. Frequencies w_i = base^(-2i/rotary_dim), modified by the plan's scaling scheme.
 *
 * Accuracy: angles are formed (p * w_i) and reduced modulo pi/2 in double precision; sin/cos are then evaluated
 * in float. For every |p| <= POSENC_MAX_POSITION the result y of one head satisfies
 * ||y - y64|| / ||y64|| <= 1e-6 against a float64 computation with the same frequencies.
 * ------------------------------------------------------------------------------------------------------------ */

#define POSENC_MAX_HEAD_DIM   1024
#define POSENC_MAX_POSITION   INT64_C(2147483647)   /* 2^31 - 1 */
#define POSENC_MAX_FREQUENCY  524288.0              /* 2^19 radians per position: the largest accepted w_i */

/* Pairing of the rotated elements. */
#define POSENC_ROPE_HALF         0
#define POSENC_ROPE_INTERLEAVED  1

/* Frequency scaling schemes (Hugging Face rope_type in parentheses; docs/rope-scaling.md maps HF, ggml and vLLM
 * parameters to the fields). R = rotary_dim, w_i = base^(-2i/R). Each yields per-pair frequencies and a
 * magnitude factor mscale (1 unless stated) that multiplies cos and sin. */
#define POSENC_SCALING_NONE          0  /* ("default") w_i */
#define POSENC_SCALING_LINEAR        1  /* ("linear") position interpolation: w_i / factor */
#define POSENC_SCALING_NTK           2  /* (older HF "ntk"; vLLM "dynamic" with alpha = factor) static NTK-aware:
                                           base' = base * factor^(R/(R-2)); needs R > 2 */
#define POSENC_SCALING_DYNAMIC_NTK   3  /* ("dynamic") base' = base * (factor*L/orig - (factor-1))^(R/(R-2)),
                                           L = max(sequence_length, orig); rebuild the plan as L grows */
#define POSENC_SCALING_YARN          4  /* ("yarn") ramp between w_i (fast pairs) and w_i/factor (slow pairs) over
                                           the correction dims of beta_fast / beta_slow, floored / ceiled when
                                           truncate = 1 (HF's default), fractional when 0; mscale = attention_factor, or DeepSeek's
                                           ratio from mscale / mscale_all_dim, or 0.1 ln(factor) + 1 */
#define POSENC_SCALING_LLAMA3        5  /* ("llama3") wavelength > orig/low_freq_factor: w_i / factor; wavelength
                                           < orig/high_freq_factor: w_i; smooth blend between */
#define POSENC_SCALING_LONGROPE      6  /* ("longrope", Phi-3) w_i / f_i with the short or long list, the caller
                                           choosing; mscale = attention_factor, or sqrt(1 + ln(factor) /
                                           ln(original_max_position)) when factor > 1 */
#define POSENC_SCALING_FREQ_FACTORS  7  /* (ggml freq_factors / rope_freqs) w_i / freq_factors[i] */

/* Position axes. They decide which of a token's positions drives each pair (and, for VISION_2D, the frequency
 * exponent); the rotation and both pairings work unchanged with every layout. */
#define POSENC_AXES_1D                0  /* one position per token */
#define POSENC_AXES_MROPE             1  /* Qwen2-VL M-RoPE: positions (t, h, w); pair i uses t if i < s0, h if
                                            i < s0+s1, else w; w_i keeps the global index i (ggml MROPE) */
#define POSENC_AXES_MROPE_INTERLEAVED 2  /* Qwen3-VL: positions (t, h, w); pair i uses h if i%3 == 1 and
                                            i < 3*s1, w if i%3 == 2 and i < 3*s2, else t (ggml IMROPE) */
#define POSENC_AXES_VISION_2D         3  /* 2-D vision RoPE: positions (y, x); pairs i < s0 use y, the rest x;
                                            the index j restarts at each section and w = base^(-2j/(R/2))
                                            (ggml VISION, HF Qwen2-VL vision tower). Combines only with
                                            scaling NONE, LINEAR or FREQ_FACTORS (POSENC_ERR_PARAM otherwise) */

/* Plan configuration. Initialise with posenc_rope_config_init (sets struct_size and every default), then set
 * the fields you need. Fields are only read by posenc_rope_plan_create; pointed-to arrays are copied. Fields a
 * scheme does not use are ignored. Frequencies and mscale are computed once, in double. */
typedef struct posenc_rope_config {
    uint32_t struct_size;          /* sizeof(posenc_rope_config) as compiled by the caller */
    uint32_t head_dim;             /* elements per head, 2..POSENC_MAX_HEAD_DIM (no default: 0 is an error) */
    uint32_t rotary_dim;           /* rotated elements, even, 2..head_dim (0 at init means "= head_dim"); HF's
                                      head_dim * partial_rotary_factor, ggml's n_dims. Every formula's R */
    int32_t  pairing;              /* POSENC_ROPE_HALF (default) or POSENC_ROPE_INTERLEAVED */
    double   base;                 /* frequency base theta, finite > 1 (default 10000) */
    int32_t  scaling;              /* POSENC_SCALING_* (default NONE) */
    int32_t  axes;                 /* POSENC_AXES_* (default 1D) */
    double   factor;               /* scaling factor, finite >= 1 for LINEAR, NTK, DYNAMIC_NTK, YARN, LLAMA3; for
                                      LONGROPE finite > 0, max_position / original_max_position, used only to
                                      derive mscale (default 1) */
    double   original_max_position;/* original training context: finite > 0 for DYNAMIC_NTK, YARN, LLAMA3;
                                      finite > 1 for LONGROPE (default 0 = not set, required by those schemes) */
    double   sequence_length;      /* DYNAMIC_NTK: current sequence length L, finite >= 0; values below
                                      original_max_position (and the default 0) mean original_max_position */
    double   beta_fast;            /* YARN: finite > 0, >= beta_slow (default 32) */
    double   beta_slow;            /* YARN: finite > 0 (default 1) */
    double   attention_factor;     /* YARN / LONGROPE magnitude factor, finite >= 0; 0 = derive it (default 0).
                                      mscale, given or derived, is used as a float: it must round to a normal
                                      float, FLT_MIN .. FLT_MAX */
    double   mscale;               /* YARN DeepSeek-style mscale, finite >= 0 (default 0 = unused) */
    double   mscale_all_dim;       /* YARN DeepSeek-style mscale_all_dim, finite >= 0 (default 0 = unused). When
                                      both are > 0 (and attention_factor is 0): mscale = g(mscale) /
                                      g(mscale_all_dim), g(m) = 0.1 m ln(factor) + 1 */
    double   low_freq_factor;      /* LLAMA3: finite > 0 (default 1) */
    double   high_freq_factor;     /* LLAMA3: finite > low_freq_factor (default 4) */
    const double *short_factors;   /* LONGROPE: rotary_dim/2 per-pair factors for short contexts, each finite > 0;
                                      read only when use_long_factors = 0 (may be NULL otherwise) */
    const double *long_factors;    /* LONGROPE: rotary_dim/2 per-pair factors for long contexts, each finite > 0;
                                      read only when use_long_factors = 1 (may be NULL otherwise) */
    int32_t  use_long_factors;     /* LONGROPE: 0 = short_factors, 1 = long_factors (the caller chooses; HF picks
                                      long once the sequence exceeds original_max_position) */
    int32_t  n_sections;           /* MROPE / MROPE_INTERLEAVED: 3; VISION_2D: 2 */
    int32_t  sections[4];          /* pairs per axis, each >= 0, the first n_sections summing to rotary_dim/2
                                      (later entries ignored, so ggml's 4-entry arrays work as they are) */
    const double *freq_factors;    /* FREQ_FACTORS: rotary_dim/2 divisors, each finite > 0 */
    /* ---- appended in 0.2; the defaults keep the 0.1 behaviour ---- */
    int32_t  truncate;             /* YARN: 1 (default, HF's truncate = true) floors / ceils the correction dims;
                                      0 keeps them fractional (gpt-oss). 0 or 1 */
} posenc_rope_config;

/* First-release (0.1) size of posenc_rope_config: the smallest struct_size any later library accepts. */
#define POSENC_ROPE_CONFIG_SIZE_V1 (offsetof(posenc_rope_config, freq_factors) + sizeof(const double *))

/* Fill *config with struct_size = size and every default listed above (head_dim = 0, which the caller sets).
 * Pass size = sizeof(posenc_rope_config).
 * Returns POSENC_OK; POSENC_ERR_NULL if config is NULL; POSENC_ERR_STRUCT_SIZE if size is smaller than
 * POSENC_ROPE_CONFIG_SIZE_V1 or larger than this library's sizeof (nothing is written then). */
POSENC_API
posenc_status posenc_rope_config_init(posenc_rope_config *config, size_t size);

/* An immutable RoPE plan: dimensions, pairing, per-pair frequencies (double) and mscale. Share freely across
 * threads; destroy once no call uses it. */
typedef struct posenc_rope_plan posenc_rope_plan;

/* Validate config, precompute frequencies in double, and return a new plan in *plan_out.
 * Returns POSENC_OK; POSENC_ERR_NULL (config or plan_out NULL, or a factor/sections array the scheme needs is
 * NULL); POSENC_ERR_STRUCT_SIZE (config->struct_size not accepted); POSENC_ERR_DIM (head_dim 0 or >
 * POSENC_MAX_HEAD_DIM, rotary_dim odd or > head_dim); POSENC_ERR_ENUM (unknown pairing, scaling or axes,
 * use_long_factors or YARN's truncate not 0 or 1); POSENC_ERR_PARAM (a field the scheme uses outside the range listed at
 * posenc_rope_config, a non-finite or non-positive list entry, n_sections wrong for the axes, a negative
 * section, sections not summing to rotary_dim/2, VISION_2D with a scheme other than NONE / LINEAR /
 * FREQ_FACTORS, a frequency w_i that underflows to 0 or exceeds POSENC_MAX_FREQUENCY, an mscale that is not a
 * normal float); POSENC_ERR_NOMEM. On error *plan_out is left untouched.
 * The frequency bound keeps the accuracy bound above: with w_i <= 2^19 and |p| <= 2^31 - 1, |p * w_i| <= 2^50.
 * The reduction's quotient k = round(theta * 2/pi) is computed in double (rounding 2^-53 plus 6.2e-17 in the
 * constant 2/pi), so it may be one off and the remainder reaches |r| <= pi/4 + |theta| * 1.73e-16 <= 0.98
 * radians, where the float sin/cos polynomials err by <= 4.6e-7 (8.4e-8 within pi/4); the two-constant pi/2
 * adds |k| * 1.5e-33 <= 1.1e-18. At w = 2^20 the error reaches 2.4e-6. Subnormal frequencies are accepted
 * (their angles are below 2^-991: cos = 1, sin = 0). */
POSENC_API
posenc_status posenc_rope_plan_create(const posenc_rope_config *config, posenc_rope_plan **plan_out);

/* Free a plan. NULL is a no-op. */
POSENC_API
void posenc_rope_plan_destroy(posenc_rope_plan *plan);

/* Copy the plan's per-pair angular frequencies w_i (radians per position, after scaling) into out[0..n-1],
 * n = rotary_dim/2, and its magnitude factor into *mscale (either may be NULL to skip).
 * Returns POSENC_OK; POSENC_ERR_NULL if plan is NULL; POSENC_ERR_SHAPE if out is given and n != rotary_dim/2. */
POSENC_API
posenc_status posenc_rope_plan_info(const posenc_rope_plan *plan, double *out, size_t n, double *mscale);

/* Number of int64 positions each token takes with this plan: 1 (1D), 3 (M-RoPE), 2 (vision 2-D); 0 if NULL. */
POSENC_API
size_t posenc_rope_plan_axes(const posenc_rope_plan *plan);

/* Flags for the apply calls. */
#define POSENC_ROPE_INVERSE     1u  /* rotate by -angle (backward pass; undo a rotation) */
#define POSENC_ROPE_NO_MSCALE   2u  /* do not multiply by the plan's mscale (inverse / re-rotation of values
                                       that already carry it) */

/* Tensor layout for every apply call: element (t, h, e) of a [n_tokens][n_heads][head_dim] tensor lives at
 * data[t*token_stride + h*head_stride + e]. Strides are in elements; head rows must not overlap (if
 * n_heads > 1, head_stride >= head_dim, etc.; token-major and head-major layouts both work).
 *
 * Positions: if positions != NULL it holds n_tokens * axes int64 values (token-major: positions[t*axes + a]);
 * otherwise token t has position start_pos + t on every axis. Every position must satisfy
 * |p| <= POSENC_MAX_POSITION.
 *
 * Common status codes of the apply calls: POSENC_OK (also for n_tokens == 0); POSENC_ERR_NULL (plan or a
 * tensor pointer NULL); POSENC_ERR_SHAPE (n_heads == 0, extents overflow); POSENC_ERR_STRIDE (head rows
 * overlap); POSENC_ERR_OVERLAP (out of place and dst overlaps src; positions overlap a tensor the call writes);
 * POSENC_ERR_ENUM (unknown flag bit); POSENC_ERR_RANGE (a position, or start_pos + n_tokens - 1, outside
 * +-POSENC_MAX_POSITION). */

/* Rotate x in place. */
POSENC_API
posenc_status posenc_rope_apply(const posenc_rope_plan *plan, float *x, size_t n_tokens, size_t n_heads,
                                size_t token_stride, size_t head_stride,
                                const int64_t *positions, int64_t start_pos, uint32_t flags);

/* Rotate src into dst (e.g. straight into a KV cache), each with its own strides. dst == src with identical
 * strides is in place; any other overlap is POSENC_ERR_OVERLAP. */
POSENC_API
posenc_status posenc_rope_apply_to(const posenc_rope_plan *plan, const float *src, size_t src_token_stride,
                                   size_t src_head_stride, float *dst, size_t dst_token_stride,
                                   size_t dst_head_stride, size_t n_tokens, size_t n_heads,
                                   const int64_t *positions, int64_t start_pos, uint32_t flags);

/* Rotate q and k in place in one pass (GQA: n_q_heads and n_k_heads may differ); each token's cos/sin are
 * computed once and used for both. q and k must not overlap (POSENC_ERR_OVERLAP); they may interleave token by
 * token with a shared token stride (q and k views of one fused QKV buffer). n_k_heads == 0 is an error
 * (POSENC_ERR_SHAPE); use posenc_rope_apply for q alone. */
POSENC_API
posenc_status posenc_rope_apply_qk(const posenc_rope_plan *plan,
                                   float *q, size_t n_q_heads, size_t q_token_stride, size_t q_head_stride,
                                   float *k, size_t n_k_heads, size_t k_token_stride, size_t k_head_stride,
                                   size_t n_tokens, const int64_t *positions, int64_t start_pos,
                                   uint32_t flags);

/* Re-rotate every token of x by the same position delta (on every axis): KV-cache shift. cos/sin are computed
 * once for the whole call. The plan's mscale is never applied (cached keys already carry it); pass
 * POSENC_ROPE_INVERSE to rotate by -delta. Returns the apply status codes; POSENC_ERR_RANGE if
 * |delta| > POSENC_MAX_POSITION. */
POSENC_API
posenc_status posenc_rope_shift(const posenc_rope_plan *plan, float *x, size_t n_tokens, size_t n_heads,
                                size_t token_stride, size_t head_stride, int64_t delta, uint32_t flags);

/* Escape hatch: rotate src into dst with caller-supplied tables cos[t*table_stride + i], sin[...] for
 * i < rotary_dim/2 (already including any magnitude factor). The plan supplies head_dim, rotary_dim and pairing
 * only (its frequencies and mscale are ignored; POSENC_ROPE_NO_MSCALE is accepted and has no effect).
 * POSENC_ROPE_INVERSE negates sin. table_stride >= rotary_dim/2 when n_tokens > 1 (POSENC_ERR_STRIDE
 * otherwise); the tables must not overlap dst (POSENC_ERR_OVERLAP). Returns the apply status codes (positions
 * play no part). */
POSENC_API
posenc_status posenc_rope_apply_tables(const posenc_rope_plan *plan, const float *src, size_t src_token_stride,
                                       size_t src_head_stride, float *dst, size_t dst_token_stride,
                                       size_t dst_head_stride, size_t n_tokens, size_t n_heads,
                                       const float *cos_table, const float *sin_table, size_t table_stride,
                                       uint32_t flags);

/* Flag for posenc_rope_args: every token at start_pos (one cos/sin computation for the whole call). With
 * POSENC_ROPE_NO_MSCALE and start_pos = delta this is a KV-cache shift (posenc_rope_shift). Not combinable
 * with a positions array (POSENC_ERR_ENUM). */
#define POSENC_ROPE_SAME_POSITION  4u

/* Per-call RoPE arguments. Initialise with posenc_rope_args_init (sets struct_size and the defaults), then set
 * the fields you need. Size-tagged like the configuration structs. */
typedef struct posenc_rope_args {
    uint32_t struct_size;            /* sizeof(posenc_rope_args) as compiled by the caller */
    uint32_t flags;                  /* POSENC_ROPE_INVERSE | POSENC_ROPE_NO_MSCALE | POSENC_ROPE_SAME_POSITION
                                        (default 0) */
    const int64_t *positions;        /* NULL (default): token t at start_pos + t on every axis. Else
                                        posenc_rope_plan_axes(plan) positions per token, each |p| <=
                                        POSENC_MAX_POSITION, laid out as position_axis_stride says; must not
                                        overlap any destination (POSENC_ERR_OVERLAP) */
    size_t   position_axis_stride;   /* 0 (default): token-major, positions[t*axes + a]. Else axis-major,
                                        positions[a*position_axis_stride + t] (HF's [3][n_tokens] M-RoPE
                                        position_ids), >= n_tokens when axes > 1 (POSENC_ERR_STRIDE) */
    int64_t  start_pos;              /* used when positions is NULL (default 0) */
    const posenc_parallel *parallel; /* the caller's pool, or NULL (default): the calling thread */
} posenc_rope_args;

/* The first released size of posenc_rope_args (0.2); the library accepts any struct_size from it up to its own
 * sizeof, fields past the caller's size reading as their defaults. */
#define POSENC_ROPE_ARGS_SIZE_V1 (offsetof(posenc_rope_args, parallel) + sizeof(const posenc_parallel *))

/* Fill *args with struct_size = size and the defaults above. Pass size = sizeof(posenc_rope_args).
 * Returns POSENC_OK; POSENC_ERR_NULL; POSENC_ERR_STRUCT_SIZE (size outside [POSENC_ROPE_ARGS_SIZE_V1,
 * sizeof(posenc_rope_args)]; nothing written). */
POSENC_API
posenc_status posenc_rope_args_init(posenc_rope_args *args, size_t size);

/* Rotate src into dst, both [n_tokens][n_heads][head_dim] views (stride_a: tokens, stride_b: heads), each of
 * any element type (bf16 in place; f32 -> bf16 or f16 straight into a KV cache; f16 -> f32). dst may be the
 * same memory as src only with the same dtype and strides (in place); any other overlap is POSENC_ERR_OVERLAP.
 * args may be NULL (the defaults). Accuracy: the float32 bound of the RoPE section on the widened input, plus
 * the destination's rounding (per head ||y - y64|| / ||y64|| <= 1e-6 + 2^-8 for bf16, 1e-6 + 2^-11 for f16).
 * Returns POSENC_OK (also for n_tokens == 0); POSENC_ERR_NULL (plan, src, dst or a data pointer NULL);
 * POSENC_ERR_STRUCT_SIZE; POSENC_ERR_ENUM (unknown dtype or flag bit, reserved != 0, SAME_POSITION with a
 * positions array); POSENC_ERR_PARAM (data not aligned to its element size; parallel given without
 * parallel_for); POSENC_ERR_SHAPE (n_heads == 0, extents overflow); POSENC_ERR_STRIDE (head rows overlap,
 * position axes overlap); POSENC_ERR_OVERLAP; POSENC_ERR_RANGE (a position outside +-POSENC_MAX_POSITION). */
POSENC_API
posenc_status posenc_rope_rotate(const posenc_rope_plan *plan, const posenc_rope_args *args,
                                 const posenc_tensor *src, const posenc_tensor *dst,
                                 size_t n_tokens, size_t n_heads);

/* q and k together (GQA: the head counts may differ), each token's cos/sin computed once for both; each view
 * of any element type, in place or out of place as for posenc_rope_rotate. The four outputs' memory must not
 * overlap each other or another input, except that q_dst may be q_src and k_dst k_src (in place); q and k may
 * interleave token by token (views of one fused QKV buffer). n_k_heads == 0 is POSENC_ERR_SHAPE.
 * Returns the posenc_rope_rotate status codes. */
POSENC_API
posenc_status posenc_rope_rotate_qk(const posenc_rope_plan *plan, const posenc_rope_args *args,
                                    const posenc_tensor *q_src, const posenc_tensor *k_src,
                                    const posenc_tensor *q_dst, const posenc_tensor *k_dst,
                                    size_t n_tokens, size_t n_q_heads, size_t n_k_heads);

/* Rotate with caller-supplied float32 tables cos_table[t*table_stride + i], sin_table[...] (i < rotary_dim/2,
 * magnitude factor included); the plan supplies head_dim, rotary_dim and pairing only, args only flags
 * (POSENC_ROPE_INVERSE negates sin; positions, start_pos and SAME_POSITION play no part) and parallel.
 * table_stride >= rotary_dim/2 when n_tokens > 1 (POSENC_ERR_STRIDE); the tables must not overlap dst
 * (POSENC_ERR_OVERLAP). Returns the posenc_rope_rotate status codes; POSENC_ERR_NULL if a table is NULL. */
POSENC_API
posenc_status posenc_rope_rotate_tables(const posenc_rope_plan *plan, const posenc_rope_args *args,
                                        const posenc_tensor *src, const float *cos_table,
                                        const float *sin_table, size_t table_stride,
                                        const posenc_tensor *dst, size_t n_tokens, size_t n_heads);

/* ------------------------------------------------------------------------------------------------------------
 * ALiBi-biased fused softmax
 *
 * For head h, query row i (position q_pos0 + i) and key column j (position k_pos0 + j), d = kpos - qpos:
 *     z_ij = scale * s_ij  [+ slope_h * b(d)]  [+ mask_ij]            y_ij = exp(z_ij - max) / sum
 *     POSITION_CAUSAL:    b = d (<= 0); keys with d > 0 are masked: y = exactly 0
 *     POSITION_SYMMETRIC: b = -|d|
 *     POSITION_NONE:      no bias, no causal mask
 *     POSITION_GRID_EUCLIDEAN, POSITION_GRID_MANHATTAN (0.2, 2-D ALiBi for image patches, as CROMA's): queries
 *       and keys are patches of a grid in raster order, grid_width patches per line, after grid_prefix leading
 *       tokens that are not on the grid (e.g. a CLS token). Position t >= grid_prefix is the patch
 *       (x, y) = ((t - grid_prefix) % grid_width, (t - grid_prefix) / grid_width);
 *       b = -sqrt(dx^2 + dy^2) (Euclidean: computed in double, rounded once to float32) or -(|dx| + |dy|)
 *       (Manhattan), dx, dy the differences of the key's and the query's patch; b = 0 between a prefix token and
 *       any other. No causal mask.
 * Per-column key positions (0.2, desc.k_positions): key j sits at k_positions[j] instead of k_pos0 + j, in any
 * order (a KV cache after eviction, packed sequences, tree decoding); CAUSAL then masks each key with kpos > qpos
 * (y = exactly 0) wherever it is in the row. A distance |d| above 2^24 enters b rounded to float32 (relative
 * 2^-24), which matters only for |slope| below ~1e-6; nearer keys are exact.
 * -inf mask entries, and -inf scores when scale > 0, are masked (y = 0). A row whose every entry is masked gives
 * all zeros. A NaN (or +inf) score makes its whole row NaN, and so does a -inf score when scale <= 0 (its logit
 * scale * s is NaN or +inf) and a finite score whose float32 logit overflows (|z| > FLT_MAX, e.g. scale 2 on a
 * score of 3e38: the row maximum is computed in float32, except on some far rows: below). Optional per-head
 * sink logits join the max and the denominator but produce no column.
 * Accuracy: per-element relative error <= 1e-6 wherever the exact result is >= 1e-30 (the exp argument z - max
 * is formed and reduced in double); rows sum to 1 +- 1e-6. Results below ~1e-38 are flushed to 0 (exp of
 * arguments below -87 is exactly 0, never a denormal), so speed never depends on the values.
 * Far positions keep that accuracy: a row whose bias |slope * d| exceeds 2^24 (e.g. a query at 2^31 - 1 and keys
 * near 0) takes its bias relative to the row's largest one, an exact integer shift that leaves the softmax
 * unchanged; with a sink, or when |slope| times the row length still exceeds 2^24, the row maximum is taken in
 * float64 instead of float32 (then no finite score makes the row NaN), accurate to ~2^-52 |slope * d|.
 * ------------------------------------------------------------------------------------------------------------ */

#define POSENC_POSITION_NONE       0
#define POSENC_POSITION_CAUSAL     1
#define POSENC_POSITION_SYMMETRIC  2
#define POSENC_POSITION_GRID_EUCLIDEAN  3   /* 0.2: 2-D ALiBi, Euclidean patch distance (grid_width, grid_prefix) */
#define POSENC_POSITION_GRID_MANHATTAN  4   /* 0.2: 2-D ALiBi, Manhattan patch distance */

/* Precision (posenc_softmax_desc.precision). Both are bit-identical on every variant, deterministic and
 * value-independent in speed, flush results below ~1e-38 to 0 (no denormal anywhere), give NaN rows and masked
 * zeros alike, and take sinks; they differ in how the exp argument z - max is formed:
 *   POSENC_SOFTMAX_EXACT (0, the default): in float64. Per-element relative error <= 1e-6 wherever the exact
 *     result is >= 1e-30, whatever the logit magnitudes (the accuracy paragraph above). The default because a
 *     zero-initialised descriptor, and every 0.1 caller, then keeps 0.1's bits and its bound.
 *   POSENC_SOFTMAX_FAST (1): everything in float32, as every engine's softmax is; 1.2-1.7x the EXACT
 *     throughput (measured: docs/benchmarks.md). The float logit z = scale*s + slope*b + mask carries the
 *     rounding of its terms, so the error grows with their magnitudes: with A_j = |scale*s_j| + |slope*b_j| +
 *     |mask_j| and A_max the same for the row's largest logit, each result y_j satisfies
 *         |y_j - y64_j| <= y64_j * (2^-22 * (A_j + A_max + |z_j - max|) + 1e-6)
 *     (y64: the float64 softmax of the same float inputs), wherever y64_j >= 1e-30. Measured: 1e-5 relative on
 *     logits of tens; 5e-4 where scores of 1e4 cancel ALiBi biases of 1e4 (EXACT: 2e-7 on those rows). Rows
 *     whose bias needs the float64 maximum (far positions with a sink, or |slope| * n_cols > 2^24: below) are
 *     computed as EXACT. */
#define POSENC_SOFTMAX_EXACT  0
#define POSENC_SOFTMAX_FAST   1

#define POSENC_SLOPES_NONE    0   /* no bias term (plain fused softmax, optionally causal-masked) */
#define POSENC_SLOPES_ALIBI   1   /* the ALiBi geometric slopes for n_heads with max_bias (posenc_alibi_slopes) */
#define POSENC_SLOPES_CUSTOM  2   /* caller-given slopes[n_heads] */

/* Softmax arguments. Initialise with posenc_softmax_desc_init, then set fields. */
typedef struct posenc_softmax_desc {
    uint32_t struct_size;       /* sizeof(posenc_softmax_desc) as compiled by the caller */
    int32_t  position;          /* POSENC_POSITION_* (default NONE) */
    int32_t  slopes_mode;       /* POSENC_SLOPES_* (default NONE) */
    float    scale;             /* multiplies the scores, finite (default 1; e.g. 1/sqrt(head_dim)) */
    float    max_bias;          /* SLOPES_ALIBI: 0 < max_bias <= 126 (default 8); the smallest slope, 2^-max_bias,
                                   stays a normal float */
    int32_t  reserved0;         /* must be 0 */
    const float *slopes;        /* SLOPES_CUSTOM: n_heads finite slopes (must not overlap dst) */
    int64_t  q_pos0;            /* position of row 0, 0 <= q_pos0, q_pos0 + n_rows - 1 <= POSENC_MAX_POSITION */
    int64_t  k_pos0;            /* position of column 0, same range with n_cols */
    const float *mask;          /* optional additive mask, element (h, i, j) at
                                   mask[h*mask_head_stride + i*mask_row_stride + j]; NULL = none. Its elements are
                                   of mask_dtype (0.2): cast an f16 / bf16 mask's address to const float *; it
                                   must be aligned to its element size */
    size_t   mask_row_stride;   /* elements of mask_dtype; 0 = one mask row shared by all rows, else >= n_cols
                                   when n_rows > 1 */
    size_t   mask_head_stride;  /* elements; 0 = one mask shared by all heads, else >= (n_rows - 1) *
                                   mask_row_stride + n_cols when n_heads > 1 */
    const float *sinks;         /* optional per-head sink logits [n_heads] (finite or -inf; must not overlap
                                   dst); NULL = none */
    /* ---- appended in 0.2; the defaults keep the 0.1 behaviour ---- */
    const int64_t *q_positions; /* optional per-row query positions [n_rows], shared by every head, each in
                                   [0, POSENC_MAX_POSITION] (packed sequences, tree / speculative decoding); NULL
                                   (default) = q_pos0 + i. Must not overlap dst */
    const posenc_parallel *parallel; /* the caller's pool, or NULL (default): the calling thread. Rows are split
                                   between tasks, never divided, so the bits do not depend on the split */
    float   *stats;             /* optional output of posenc_softmax_forward: [n_heads][n_rows][2] floats, row
                                   (h, i)'s max M and sum S at stats[2*(h*n_rows + i)] and [... + 1] (split-K, see
                                   posenc_softmax_merge); NULL (default) = none. With statistics every
                                   row's bias magnitude |slope| * max |kpos - qpos| over its live keys must be
                                   <= 2^24 (POSENC_ERR_RANGE otherwise): beyond it a float (max, sum) pair cannot
                                   carry the row's frame to another block's merge */
    int32_t  mask_dtype;        /* element type of *mask: POSENC_F32 (default), POSENC_F16 (ggml's mask) or
                                   POSENC_BF16; widened exactly to float32 */
    int32_t  precision;         /* POSENC_SOFTMAX_EXACT (default) or POSENC_SOFTMAX_FAST: see "Precision" above */
    const int64_t *k_positions; /* optional per-column key positions [n_cols], shared by every head and row, each
                                   in [0, POSENC_MAX_POSITION]; NULL (default) = k_pos0 + j. Must not overlap dst */
    int32_t  grid_width;        /* POSITION_GRID_*: patches per grid line, >= 1; otherwise must be 0 (default) */
    int32_t  grid_prefix;       /* POSITION_GRID_*: leading tokens not on the grid (CLS), >= 0; otherwise 0 */
} posenc_softmax_desc;

/* First-release (0.1) size of posenc_softmax_desc: the smallest struct_size any later library accepts. */
#define POSENC_SOFTMAX_DESC_SIZE_V1 (offsetof(posenc_softmax_desc, sinks) + sizeof(const float *))

/* Fill *desc with struct_size = size and the defaults above. Pass size = sizeof(posenc_softmax_desc).
 * Returns POSENC_OK; POSENC_ERR_NULL; POSENC_ERR_STRUCT_SIZE (size below POSENC_SOFTMAX_DESC_SIZE_V1 or above
 * this library's sizeof; nothing written). */
POSENC_API
posenc_status posenc_softmax_desc_init(posenc_softmax_desc *desc, size_t size);

/* Write the ALiBi slopes for n_heads heads into slopes[0..n_heads-1]: with c = 2^floor(log2 n_heads),
 * m0 = 2^(-max_bias/c), m1 = 2^(-(max_bias/2)/c): slope_h = m0^(h+1) for h < c, else m1^(2(h-c)+1).
 * max_bias = 8 gives the ALiBi paper / BLOOM / MPT slopes. Computed in double, rounded once to float.
 * Returns POSENC_OK; POSENC_ERR_NULL; POSENC_ERR_SHAPE (n_heads == 0, or n_heads floats exceed PTRDIFF_MAX
 * bytes); POSENC_ERR_PARAM (max_bias not finite, <= 0 or > 126: every slope is a normal float). */
POSENC_API
posenc_status posenc_alibi_slopes(size_t n_heads, float max_bias, float *slopes);

/* Softmax over the last axis of scores [n_heads][n_rows][n_cols]: element (h, i, j) of src at
 * src[h*src_head_stride + i*src_row_stride + j], likewise dst. dst == src with identical strides is in place;
 * any other overlap is POSENC_ERR_OVERLAP.
 * An empty call (n_rows or n_cols 0) reads and writes no tensor or array: it checks desc's own fields (enums,
 * pointers, scale, max_bias, positions) and n_heads != 0, but neither the strides nor the slopes and sinks
 * entries, since no extent bounds n_heads then.
 * Returns POSENC_OK (also for an empty call); POSENC_ERR_NULL (desc, src, dst, or a pointer the desc
 * needs: slopes for SLOPES_CUSTOM); POSENC_ERR_STRUCT_SIZE; POSENC_ERR_SHAPE (n_heads == 0, n_cols >
 * INT32_MAX, extents overflow); POSENC_ERR_STRIDE (rows overlap: row stride < n_cols, head stride too small,
 * mask strides too small); POSENC_ERR_OVERLAP (dst overlaps src other than in place, or overlaps the mask, the
 * custom slopes or the sinks); POSENC_ERR_ENUM (unknown position or slopes mode, reserved0 != 0);
 * POSENC_ERR_PARAM (scale or max_bias non-finite, max_bias <= 0 or > 126, a custom slope or sink non-finite /
 * +inf); POSENC_ERR_RANGE (q_pos0/k_pos0 negative or rows/columns beyond POSENC_MAX_POSITION). */
POSENC_API
posenc_status posenc_softmax(const posenc_softmax_desc *desc, const float *src, size_t src_head_stride,
                             size_t src_row_stride, float *dst, size_t dst_head_stride, size_t dst_row_stride,
                             size_t n_heads, size_t n_rows, size_t n_cols);

/* The softmax on tensor views: src and dst are [n_heads][n_rows][n_cols] (stride_a: heads, stride_b: rows), the
 * rest as posenc_softmax (which is this call on float32 views). Element types: src, dst and the mask
 * (desc->mask_dtype) are each POSENC_F32, POSENC_F16 or POSENC_BF16, in any combination. Every input element is
 * widened exactly to float32, the row is computed exactly as the float32 call computes it (float32 tensors
 * give the bits of posenc_softmax), and each output is rounded once to dst's type (round to nearest even; f16
 * results below 2^-14 are f16 subnormals, never flushed; a NaN row is the type's canonical NaN: f16 0x7e00,
 * bf16 0x7fc0). Accuracy: the float32 bound plus that one rounding: per-element relative error
 * <= 1e-6 + 2^-8 (bf16) or 1e-6 + 2^-11 (f16, outputs >= 2^-14; below, absolute error <= 2^-25). Strides count
 * elements of each tensor's own type. dst may be the same memory as src only with
 * the same dtype and strides (in place).
 * Returns the posenc_softmax status codes, and: POSENC_ERR_NULL (a view or its data NULL, parallel given
 * without parallel_for); POSENC_ERR_ENUM (unknown dtype, mask_dtype or precision, reserved != 0);
 * POSENC_ERR_PARAM (data or the mask not aligned to its element size; grid_width < 1 or grid_prefix < 0 with a
 * grid position, either nonzero without one); POSENC_ERR_OVERLAP (dst shares a byte with src other than in
 * place, which needs the same dtype and strides, or with the mask, the custom slopes, the sinks, q_positions or
 * k_positions); POSENC_ERR_RANGE (statistics asked for a row whose bias magnitude exceeds 2^24, a q_positions
 * or k_positions entry outside [0, POSENC_MAX_POSITION]); POSENC_ERR_NOMEM (per-column key positions and grids
 * need n_cols floats of scratch per task). */
POSENC_API
posenc_status posenc_softmax_forward(const posenc_softmax_desc *desc, const posenc_tensor *src,
                                     const posenc_tensor *dst, size_t n_heads, size_t n_rows, size_t n_cols);

/* Row statistics (desc->stats, split-K / paged attention). With desc->stats set, posenc_softmax_forward also
 * writes each row's M and S exactly as it used them (src/numerics.h, "split-K statistics"): M = the largest
 * float32 logit (and sink; a zero M is stored as +0), S = sum_j exp(z_j - M) (plus exp(sink - M)), so that
 * y_j = exp(z_j - M) / S. A row with no live column and no sink (all masked) has M = -inf and S = 0; a NaN row
 * has S = NaN (0x7fc00000). Any element types and either precision: the statistics are the very M and S of the
 * row's own passes. Accuracy: S within 1e-6 relative of float64 with EXACT (measured: 2.2e-7); with FAST, its
 * bound (above). The stats array
 * must not overlap src, dst, the mask, the slopes, the sinks, q_positions or k_positions (POSENC_ERR_OVERLAP), and its
 * n_heads * n_rows * 2 floats must fit in PTRDIFF_MAX bytes (POSENC_ERR_SHAPE). An empty call writes none.
 * For split-K, run the forward once per block of key columns [c, c + w) (src, dst and the mask offset by c
 * columns, k_pos0 + c, n_cols = w, no sinks), each with its own slice of a [n_blocks][n_heads][n_rows][2]
 * array, then merge with one of the calls below (the sinks go to the merge, so that they count once). The
 * statistics cost nothing measurable: the row kernel stores the two values it computes anyway. */

/* Backward pass of the softmax (training): for each row of [n_heads][n_rows][n_cols], given the forward output
 * y and dy = dL/dy, writes dx = dL/d(scores) = scale * y * (dy - <dy, y>), with scale = desc->scale (the logit
 * is scale * s + bias + mask, so only the scale reaches the scores' gradient; masked columns, whose y is 0,
 * get dx = 0). Only desc's struct_size, scale and parallel are read: pass the forward's descriptor as it is.
 * Computed in double from the float32 inputs: <dy, y> summed over 32 fixed lanes (the order of
 * src/numerics.h, "softmax backward row", bit-identical on every variant and every split between tasks),
 * each dx rounded once to float32. Accuracy against the exact value dx64 from the same inputs, per element:
 * |dx - dx64| <= 2^-24 |dx64| + |scale * y_j| (n_cols/32 + 6) 2^-52 sum_k |dy_k y_k| (one float32 rounding,
 * plus the double dot's rounding, which matters only where dy_j - <dy, y> cancels). Results of magnitude below
 * 2^-126 are flushed to +0 (no subnormal is ever produced); every NaN result is 0x7fc00000: a NaN or infinite
 * y or dy makes its row's dot NaN or infinite, and with it every dx of the row NaN or infinite.
 * Views: y, dy and dx are [n_heads][n_rows][n_cols] (stride_a: heads, stride_b: rows), float32 in this version
 * (F16 and BF16 give POSENC_ERR_UNSUPPORTED). dx may be dy itself with the same strides (in place); dx must not
 * overlap y. y and dy may overlap each other (both are only read).
 * Returns POSENC_OK (also for an empty call: n_rows or n_cols 0, after the checks that read no element);
 * POSENC_ERR_NULL (desc, a view or its data NULL, parallel given without parallel_for); POSENC_ERR_ENUM
 * (unknown dtype, a view's reserved != 0); POSENC_ERR_PARAM (data not aligned to its element size, scale not
 * finite); POSENC_ERR_STRUCT_SIZE; POSENC_ERR_SHAPE (n_heads == 0, extents overflow or exceed PTRDIFF_MAX
 * bytes); POSENC_ERR_UNSUPPORTED (a view not float32); POSENC_ERR_STRIDE (rows of a view overlap: row stride <
 * n_cols, head stride too small); POSENC_ERR_OVERLAP (dx overlaps y, or overlaps dy other than in place). */
POSENC_API
posenc_status posenc_softmax_backward(const posenc_softmax_desc *desc, const posenc_tensor *y,
                                      const posenc_tensor *dy, const posenc_tensor *dx, size_t n_heads,
                                      size_t n_rows, size_t n_cols);

/* Merge of split-K partial results, weighted sum (flash-decoding's combine): block b (b < n_blocks) computed
 * its softmax over its own key columns, with row statistics (M_b, S_b) at
 * block_stats[2*((b*n_heads + h)*n_rows + i)] and [... + 1] (as posenc_softmax_forward writes them into
 * desc->stats, or any other implementation: M_b the largest logit, S_b = sum exp(logit - M_b), (-inf, 0) for
 * a block without a live column), and a partial result of n_cols values per row in blocks[b]: typically the
 * partial attention output P_b V_b with P_b that block's probabilities (n_cols = head_dim). dst receives
 *     M = max(M_b, sink_h),  S = sum_b S_b exp(M_b - M) + exp(sink_h - M),
 *     dst = sum_b w_b blocks_b  with  w_b = S_b exp(M_b - M) / S,
 * i.e. the result of the whole row's softmax (src/numerics.h, "merge": the weights in double with the
 * library's exp; the sum in double, in block order, rounded once). Sinks: desc->sinks (per head, finite or
 * -inf), added once here, so the blocks are computed without them. Only desc's struct_size, sinks and
 * parallel are read. A block whose weight is 0 is not read (a fully masked block may hold anything). A row
 * where every block's weight is 0 (no live column anywhere, or a sink outweighing every block) gets +0; a row
 * whose S is NaN (a NaN block) gets 0x7fc00000 everywhere. Results below 2^-126 in magnitude are flushed to +0; NaN
 * results are 0x7fc00000. With one block and no sink the weight is exactly 1: dst is the block's values
 * bit for bit (normal values and +0).
 * Accuracy (tested end to end: each block's forward, P_b V_b, the merge): against float64 attention over the
 * whole row, |dst - dst64| <= 1e-6 sum_j p_j |v_j| per element (measured: 2.3e-7).
 * Views: blocks points to n_blocks views, each [n_heads][n_rows][n_cols]; dst is [n_heads][n_rows][n_cols];
 * float32 in this version. dst may be one of the blocks with the same strides (in place); otherwise it must
 * not overlap any block, the statistics or the views array.
 * Returns POSENC_OK (also for an empty call: n_rows or n_cols 0); POSENC_ERR_NULL (desc, block_stats,
 * blocks, a view or its data NULL, parallel given without parallel_for); POSENC_ERR_ENUM (unknown dtype,
 * reserved != 0); POSENC_ERR_PARAM (data not aligned, a sink NaN or +inf); POSENC_ERR_STRUCT_SIZE;
 * POSENC_ERR_SHAPE (n_heads or n_blocks 0, n_blocks views beyond PTRDIFF_MAX bytes, extents or the
 * statistics' n_blocks * n_heads * n_rows * 2 floats overflow); POSENC_ERR_UNSUPPORTED (a view not float32);
 * POSENC_ERR_STRIDE (rows of a view overlap); POSENC_ERR_OVERLAP (dst partially overlaps a block, or overlaps
 * block_stats, the blocks array or the sinks). */
POSENC_API
posenc_status posenc_softmax_merge(const posenc_softmax_desc *desc, const float *block_stats,
                                   const posenc_tensor *blocks, const posenc_tensor *dst, size_t n_blocks,
                                   size_t n_heads, size_t n_rows, size_t n_cols);

/* Merge of split-K partial probabilities by concatenation: block b holds the softmax probabilities of its own
 * block_cols[b] key columns (columns [c_b, c_b + block_cols[b]) of the whole row, c_b the sum of the widths
 * before it), with statistics in block_stats as for posenc_softmax_merge (a block of width 0, which has no
 * forward call, needs statistics (-inf, 0)). dst, [n_heads][n_rows][n_cols] with
 * n_cols = the sum of the widths, receives the whole row's probabilities: block b's columns times its weight
 *     dst[c_b + j] = w_b * blocks_b[j],   w_b = S_b exp(M_b - M) / S   (M, S, sinks as posenc_softmax_merge),
 * each rounded once from double (src/numerics.h, "merge"). A block of weight 0 is not read and gets +0.
 * Rows without a live column get +0, NaN rows 0x7fc00000; results below 2^-126 are flushed to +0. With one
 * block and no sink, dst is the block bit for bit (normal values and +0).
 * Accuracy: per element relative difference <= 1e-6 from the unsplit posenc_softmax_forward and <= 1e-6 from
 * float64 wherever the probability is >= 1e-30 (measured: 3.9e-7 and 3.5e-7).
 * Views: blocks points to n_blocks views, block b [n_heads][n_rows][block_cols[b]]; float32 in this version.
 * Block b may be dst's own columns (data = dst's data + c_b elements, the same strides: in place, the usual
 * case of blocks written side by side into one score matrix); otherwise it must not overlap dst.
 * Returns the posenc_softmax_merge statuses, and POSENC_ERR_NULL (block_cols NULL), POSENC_ERR_SHAPE (the
 * widths overflow or do not add up to n_cols), POSENC_ERR_OVERLAP (dst overlaps block_cols, or a block other
 * than exactly its own columns). */
POSENC_API
posenc_status posenc_softmax_merge_concat(const posenc_softmax_desc *desc, const float *block_stats,
                                          const size_t *block_cols, const posenc_tensor *blocks,
                                          const posenc_tensor *dst, size_t n_blocks, size_t n_heads,
                                          size_t n_rows, size_t n_cols);

#ifdef __cplusplus
}
#endif

#endif /* POSENC_H */
