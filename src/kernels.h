/* kernels.h - the internal kernel interface: argument blocks, the per-ISA kernel table, the dispatcher. */
#ifndef POSENC_KERNELS_H
#define POSENC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Upper bound on rotary_dim/2 (POSENC_MAX_HEAD_DIM / 2): per-token tables live on the stack. */
#define POSENC_MAX_PAIRS 512

/* Element types of the RoPE and conversion kernels (the API layer maps the public POSENC_F32/F16/BF16 onto these). */
#define POSENC_ELEM_F32   0
#define POSENC_ELEM_F16   1
#define POSENC_ELEM_BF16  2

/* Rotate n_heads head rows of one token with one pair of cos/sin tables (numerics.h, "rotation" and "element
 * types"): elements of src_type are widened, rotated as float32, and rounded to dst_type; the unrotated rest of
 * each head, [2*n_pairs, head_dim), is converted from src_type to dst_type (numerics.h, "element types"; float32
 * to float32 out of place copies the bits, in place leaves them). Heads never overlap; src == dst is allowed (in
 * place: same type and head stride). Every variant implements every (src_type, dst_type) combination. */
typedef struct posenc_rope_heads {
    const float *cos;          /* n_pairs entries */
    const float *sin;          /* n_pairs entries, already signed for the direction */
    size_t n_pairs;            /* rotary_dim / 2, >= 1 */
    size_t head_dim;           /* >= 2 * n_pairs */
    size_t n_heads;            /* >= 1 */
    const void *src;           /* aligned to its element size */
    size_t src_head_stride;    /* elements of src_type */
    void *dst;                 /* aligned to its element size */
    size_t dst_head_stride;    /* elements of dst_type */
    int32_t src_type;          /* POSENC_ELEM_F32, _F16 or _BF16 */
    int32_t dst_type;
} posenc_rope_heads;

/* One softmax row (numerics.h, "softmax row" and "element types"). Validated by the API layer: n_valid <= n_cols,
 * d0 + j fits int32 for every j < n_valid, pointers aligned to their element size, dst == src only with the
 * same type. */
typedef struct posenc_softmax_row {
    const void *src;           /* n_cols scores of src_type */
    void *dst;                 /* n_cols outputs of dst_type; may equal src */
    const void *mask;          /* n_cols additive mask values of mask_type, or NULL */
    size_t n_cols;
    size_t n_valid;            /* columns >= n_valid are causally masked */
    float scale;
    float slope;               /* used when bias != POSENC_BIAS_NONE */
    float sink;                /* -INFINITY when there is no sink */
    int32_t bias;              /* POSENC_BIAS_NONE, _LINEAR, _ABS or _TERMS (posenc_bias_case) */
    int32_t d0;                /* key position minus query position at column 0 (LINEAR, ABS) */
    const float *terms;        /* TERMS: b_j of the n_valid live columns, -inf marking a masked one */
    int32_t max_in_double;     /* pass 1 takes the double max (numerics.h: posenc_softmax_far_row) */
    int32_t fast;              /* the FAST row (numerics.h): pass 2 in float32; never with max_in_double */
    float *stats;              /* NULL, or 2 floats: the row's split-K statistics M, S (numerics.h), written by
                                  the row kernel (posenc_softmax_put_stats) */
    const void *next_src;      /* NULL, or the next row's src (n_cols of src_type): a hint the SIMD kernels may
                                  prefetch from while they compute, never read otherwise */
    int32_t src_type;          /* POSENC_ELEM_F32, _F16 or _BF16, likewise below */
    int32_t dst_type;
    int32_t mask_type;
    uint16_t *e_keep;          /* POSENC_SOFTMAX_E_KEEP halves of scratch (the driver's stack) for a 16-bit dst,
                                  64-byte aligned */
} posenc_softmax_row;

/* A row with a 16-bit dst cannot keep pass 2's float32 e_j in dst. The SIMD variants keep them in row->e_keep:
 * whole (as floats, through may_alias vector stores) when the row has at most POSENC_SOFTMAX_E_KEEP / 2 live
 * columns; otherwise the first POSENC_SOFTMAX_E_KEEP split, the high 16 bits in dst[j] (src[j] has been read by
 * then) and the low 16 bits in e_keep[j]. Pass 3 reads them back, and forms the others again (the same
 * operations give the same bits: numerics.h, "element types"). A multiple of 128; 32 KiB of stack. */
#define POSENC_SOFTMAX_E_KEEP 16384

#define POSENC_BIAS_NONE      0
#define POSENC_BIAS_LINEAR    1   /* b = d          (causal ALiBi) */
#define POSENC_BIAS_ABS       2   /* b = -|d|       (symmetric ALiBi) */
#define POSENC_BIAS_TERMS     3   /* b = terms[j]   (per-column key positions, 2-D grids; -inf masks) */


/* The one reading of posenc_softmax_row.bias that every variant, the reference included, dispatches on: NONE, ABS
 * and TERMS as themselves, any other value as LINEAR. The API layer (softmax.c) only ever passes the four defined
 * values; this pins down the rest so that no variant can drift from another. */
static inline int32_t posenc_bias_case(int32_t bias)
{
    return bias == POSENC_BIAS_NONE || bias == POSENC_BIAS_ABS || bias == POSENC_BIAS_TERMS ? bias
                                                                                            : POSENC_BIAS_LINEAR;
}

/* ---- softmax backward and split-K (numerics.h, the section after the forward's) ---- */

/* One row of the softmax backward pass. y, dy and dx hold n_cols floats; dx may equal dy (in place), never y. */
typedef struct posenc_softmax_backward_row {
    const float *y;            /* the forward output */
    const float *dy;           /* dL/dy */
    float *dx;                 /* dL/d(scores) */
    size_t n_cols;             /* >= 1 */
    float scale;               /* the forward's score scale */
} posenc_softmax_backward_row;

/* softmax_merge_step flags. FIRST: acc is not read (the sum starts at +0). LAST: the result goes to dst through
 * out() (numerics.h) and acc is not written; otherwise it goes to acc. FIRST | LAST: a single term. x and dst may
 * be the same memory (in place); acc holds n doubles unless the flags are FIRST | LAST (then it may be NULL). */
#define POSENC_MERGE_FIRST 1u
#define POSENC_MERGE_LAST  2u

typedef struct posenc_kernels {
    const char *name;   /* the ISA token: "scalar", "avx2", "avx512", "neon" */
    /* cos[i], sin[i] of theta_i = pos[i] * omega[i], times cos_scale / sin_scale (numerics.h). */
    void (*rope_sincos)(const double *omega, const double *pos, size_t n_pairs, float cos_scale,
                        float sin_scale, float *cos, float *sin);
    void (*rope_rotate_half)(const posenc_rope_heads *job);
    void (*rope_rotate_interleaved)(const posenc_rope_heads *job);
    void (*softmax_row)(const posenc_softmax_row *row);
    /* n elements of type elem (POSENC_ELEM_F16 or _BF16) at src to float32 (numerics.h, "element types"). */
    void (*widen)(int32_t elem, const void *src, float *dst, size_t n);
    /* n float32 at src rounded to elem (POSENC_ELEM_F16 or _BF16) at dst (numerics.h, "element types"). */
    void (*narrow)(int32_t elem, const float *src, void *dst, size_t n);
    /* ---- softmax backward and split-K (softmax_backward_*.c, softmax_merge_*.c) ---- */
    /* dx of one row (numerics.h, "softmax backward row"). */
    void (*softmax_backward_row)(const posenc_softmax_backward_row *row);
    /* One block's term of the merge over n columns (numerics.h, "merge"), flags POSENC_MERGE_FIRST / _LAST. */
    void (*softmax_merge_step)(double w, const float *x, double *acc, float *dst, size_t n, uint32_t flags);
} posenc_kernels;

/* Per-ISA tables, each defined next to its ISA's kernels: src/kernels_scalar.c, src/x86/kernels_avx2.c,
 * src/x86/kernels_avx512.c, src/arm/kernels_neon.c. A new variant adds its files (kernels, table, and the vector
 * header of src/tpl/primitives.h), one static library in meson.build and one row in dispatch.c's list. */
extern const posenc_kernels posenc_kernels_scalar;
extern const posenc_kernels posenc_kernels_avx2;
extern const posenc_kernels posenc_kernels_avx512;
extern const posenc_kernels posenc_kernels_neon;

/* The table in use (selected at load; atomically switchable). Never NULL. */
const posenc_kernels *posenc_active_kernels(void);

/* CPU capability bits reported by cpu_x86.c / cpu_arm.c / cpu_other.c. */
#define POSENC_CPU_AVX2    (1u << 0)   /* AVX2 + FMA + F16C, OS-enabled */
#define POSENC_CPU_AVX512  (1u << 1)   /* AVX-512 F + BW + DQ + VL, OS-enabled */
#define POSENC_CPU_NEON    (1u << 2)   /* AArch64 Advanced SIMD */
uint32_t posenc_cpu_detect(void);

/* Replace every NaN among the rotated elements [0, 2 * n_pairs) of each head of job->dst by the canonical NaN of
 * job->dst_type (numerics.h, "NaN results"). The SIMD rotations keep a running sum of their float32 results and
 * call this only when that sum is NaN: one add per vector on the fast path instead of a compare and a blend. A
 * NaN must stay a NaN (of any pattern) through the variant's rounding for this to be exact: true of float32 (no
 * rounding) and of the f16 conversion instructions, not of the bf16 rounding on the bit pattern (numerics.h). */
void posenc_rope_canonicalize_nans(const posenc_rope_heads *job);

/* Scalar reference kernels (the specification of the bits); also used by tests directly. */
void posenc_rope_sincos_scalar(const double *omega, const double *pos, size_t n_pairs, float cos_scale,
                               float sin_scale, float *cos, float *sin);
void posenc_rope_rotate_half_scalar(const posenc_rope_heads *job);
void posenc_rope_rotate_interleaved_scalar(const posenc_rope_heads *job);
void posenc_softmax_row_scalar(const posenc_softmax_row *row);
void posenc_widen_scalar(int32_t elem, const void *src, float *dst, size_t n);
void posenc_narrow_scalar(int32_t elem, const float *src, void *dst, size_t n);

/* Scalar reference of the softmax backward and split-K kernels (softmax_backward_scalar.c,
 * softmax_merge_scalar.c), and numerics.h's exp, which the API layer uses for the merge weights. */
void posenc_softmax_backward_row_scalar(const posenc_softmax_backward_row *row);
void posenc_softmax_merge_step_scalar(double w, const float *x, double *acc, float *dst, size_t n, uint32_t flags);
float posenc_softmax_exp_scalar(double x);
float posenc_softmax_expf_fast_scalar(float x);

#endif /* POSENC_KERNELS_H */
