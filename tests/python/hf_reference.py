"""hf_reference.py - float64 numpy references written from Hugging Face transformers' published RoPE and BLOOM ALiBi formulas.

Each function follows the formula of the HF function it names (modeling_rope_utils.py rope init functions,
rotate_half / rotate_every_two, Qwen2-VL / Qwen3-VL M-RoPE, BLOOM's build_alibi_tensor), evaluated in float64
instead of HF's float32, so differences from the package measure the package, not HF's rounding.
"""
import math

import numpy as np


# ---- rope init functions: (inv_freq [dim/2] float64, attention_factor) ----------------------------------------
def rope_default(base, dim):
    return 1.0 / base ** (np.arange(0, dim, 2, dtype=np.float64) / dim), 1.0


def rope_linear(base, dim, factor):
    inv_freq, att = rope_default(base, dim)
    return inv_freq / factor, att


def rope_ntk(base, dim, factor):
    return rope_default(base * factor ** (dim / (dim - 2)), dim)


def rope_dynamic(base, dim, factor, max_position_embeddings, seq_len=None):
    seq_len = seq_len if seq_len is not None and seq_len > max_position_embeddings else max_position_embeddings
    base = base * ((factor * seq_len / max_position_embeddings) - (factor - 1)) ** (dim / (dim - 2))
    return rope_default(base, dim)


def rope_yarn(base, dim, factor, original_max_position_embeddings, beta_fast=32, beta_slow=1,
              attention_factor=None, mscale=None, mscale_all_dim=None, truncate=True):
    def get_mscale(scale, m=1.0):
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim)
        else:
            attention_factor = get_mscale(factor)

    def correction_dim(num_rotations):
        return (dim * math.log(original_max_position_embeddings / (num_rotations * 2 * math.pi))) / (
            2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0, 1)
    pos_freqs = base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    extrapolation, interpolation = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
    extrapolation_factor = 1 - ramp
    inv_freq = interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor
    return inv_freq, attention_factor


def rope_llama3(base, dim, factor, low_freq_factor, high_freq_factor, original_max_position_embeddings):
    inv_freq, att = rope_default(base, dim)
    old = original_max_position_embeddings
    low_freq_wavelen, high_freq_wavelen = old / low_freq_factor, old / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    llama = np.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed = (1 - smooth) * llama / factor + smooth * llama
    medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return np.where(medium, smoothed, llama), att


def rope_longrope(base, dim, short_factor, long_factor, max_position_embeddings,
                  original_max_position_embeddings=None, factor=None, attention_factor=None, seq_len=None):
    """Phi-3: with a top-level original_max_position_embeddings, factor = max / original."""
    if original_max_position_embeddings:
        orig = original_max_position_embeddings
        factor = max_position_embeddings / original_max_position_embeddings
    else:
        orig = max_position_embeddings
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(orig))
    ext = np.asarray(long_factor if seq_len and seq_len > orig else short_factor, dtype=np.float64)
    inv_freq = 1.0 / (ext * base ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    return inv_freq, attention_factor


# ---- applying: HF's cos/sin tables and rotations -------------------------------------------------------------
def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def rotate_every_two(x):
    out = np.empty_like(x)
    out[..., 0::2] = -x[..., 1::2]
    out[..., 1::2] = x[..., 0::2]
    return out


def cos_sin(freqs, attention_factor, interleaved=False):
    """freqs [T, dim/2] (angles) -> cos, sin [T, dim]: HF's cat(freqs, freqs), or GPT-J's repeat_interleave."""
    emb = np.repeat(freqs, 2, axis=-1) if interleaved else np.concatenate([freqs, freqs], axis=-1)
    return np.cos(emb) * attention_factor, np.sin(emb) * attention_factor


def apply_rotary(x, cos, sin, interleaved=False):
    """x [T, H, D] float; cos, sin [T, rotary_dim]: partial rotary as HF's Phi / NeoX (the rest passes)."""
    x = np.asarray(x, dtype=np.float64)
    rd = cos.shape[-1]
    rot, rest = x[..., :rd], x[..., rd:]
    c, s = cos[:, None, :], sin[:, None, :]
    turn = rotate_every_two(rot) if interleaved else rotate_half(rot)
    return np.concatenate([rot * c + turn * s, rest], axis=-1)


def rope_1d(x, inv_freq, positions, attention_factor=1.0, interleaved=False, inverse=False):
    freqs = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]
    cos, sin = cos_sin(freqs, attention_factor, interleaved)
    return apply_rotary(x, cos, -sin if inverse else sin, interleaved)


def mrope_freqs(inv_freq, positions_3xt, mrope_section):
    """Qwen2-VL: per-axis angles [3, T, dim/2], then pair chunks of mrope_section taken from axes t, h, w."""
    freqs = np.asarray(positions_3xt, dtype=np.float64)[:, :, None] * inv_freq[None, None, :]
    bounds = np.cumsum([0] + list(mrope_section))
    out = np.empty(freqs.shape[1:])
    for axis in range(3):
        out[:, bounds[axis]:bounds[axis + 1]] = freqs[axis, :, bounds[axis]:bounds[axis + 1]]
    return out


def mrope_interleaved_freqs(inv_freq, positions_3xt, mrope_section):
    """Qwen3-VL apply_interleaved_mrope: start from t, overwrite pairs offset::3 below 3*section with h, w."""
    freqs = np.asarray(positions_3xt, dtype=np.float64)[:, :, None] * inv_freq[None, None, :]
    out = freqs[0].copy()
    for axis, offset in ((1, 1), (2, 2)):
        idx = slice(offset, mrope_section[axis] * 3, 3)
        out[:, idx] = freqs[axis, :, idx]
    return out


def vision_2d_freqs(head_dim, theta, positions_tx2):
    """Qwen2-VL VisionRotaryEmbedding(head_dim // 2): cat(freqs[h], freqs[w]) over head_dim/2 pairs."""
    dim = head_dim // 2
    inv_freq = 1.0 / theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    p = np.asarray(positions_tx2, dtype=np.float64)
    return np.concatenate([p[:, :1] * inv_freq, p[:, 1:2] * inv_freq], axis=-1)


def head_rel_error(y, ref):
    """max over (token, head) of ||y - ref|| / ||ref||."""
    y = np.asarray(y, dtype=np.float64)
    num = np.linalg.norm(y - ref, axis=-1)
    den = np.linalg.norm(ref, axis=-1)
    return float(np.max(num / np.where(den == 0, 1, den)))


# ---- BLOOM ALiBi ----------------------------------------------------------------------------------------------
def bloom_slopes(num_heads):
    """build_alibi_tensor's slopes, in float64."""
    closest = 2 ** math.floor(math.log2(num_heads))
    base = 2 ** (-(2 ** -(math.log2(closest) - 3)))
    slopes = [base ** p for p in range(1, 1 + closest)]
    if closest != num_heads:
        extra_base = 2 ** (-(2 ** -(math.log2(2 * closest) - 3)))
        remaining = min(closest, num_heads - closest)
        slopes += [extra_base ** p for p in range(1, 1 + 2 * remaining, 2)]
    return np.array(slopes, dtype=np.float64)


def bloom_attention_probs(scores, slopes, inv_norm_factor, q_offset=0, causal=True):
    """BLOOM: softmax(inv_norm * q.k + slope * key_index) with the causal mask, in float64.
    scores [H, R, C]; query row i sits at key position q_offset + i. (slope * key_index differs from
    slope * (key - query) by a per-row constant, which the softmax cancels.)"""
    scores = np.asarray(scores, dtype=np.float64)
    h, r, c = scores.shape
    alibi = np.asarray(slopes, dtype=np.float64)[:, None, None] * np.arange(c, dtype=np.float64)[None, None, :]
    logits = scores * inv_norm_factor + alibi
    if causal:
        future = np.arange(c)[None, :] > (q_offset + np.arange(r))[:, None]
        logits = np.where(future[None], -np.inf, logits)
    return softmax64(logits)


def softmax64(logits):
    logits = np.asarray(logits, dtype=np.float64)
    m = np.max(logits, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(logits - m)
    s = np.sum(e, axis=-1, keepdims=True)
    return e / np.where(s == 0, 1, s)


def assert_probs_close(y, ref, rtol=2e-6):
    """The library's bound: per-element relative error <= 1e-6 where the exact result is >= 1e-30 (we allow
    the float32 output rounding on top); below that, |error| <= 1e-30."""
    y = np.asarray(y, dtype=np.float64)
    big = ref >= 1e-30
    rel = np.abs(y - ref)[big] / ref[big]
    assert rel.size == 0 or rel.max() <= rtol, "max relative error %.3g" % rel.max()
    assert np.all(np.abs(y - ref)[~big] <= 1e-30)
