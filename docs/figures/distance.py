"""distance.py - figures: how RoPE (the RoFormer long-term decay bound) and ALiBi (per-head penalty and span) encode
distance, from the frequencies and slopes libposenc computes (RopePlan.frequencies, posenc.alibi_slopes)."""

import math

import numpy as np

from _common import ALIBI_COLOR, ROPE_COLOR, pyplot, save

HEAD_DIM = 128

# The plans of the RoPE panels: (label, RopePlan keywords, colour, line style).
BASES = [
    ("base 1e4 (LLaMA 1/2)", dict(base=1e4), "#1f77b4", "-"),
    ("base 5e5 (Llama 3)", dict(base=5e5), "#ff7f0e", "-"),
    ("base 1e6 (Qwen2, Mistral)", dict(base=1e6), "#2ca02c", "-"),
]
SCALINGS = [
    ("base 1e4, none", dict(base=1e4), "#1f77b4", "-"),
    ("linear x8", dict(base=1e4, scaling="linear", factor=8.0), "#8c564b", "-"),
    ("NTK x8", dict(base=1e4, scaling="ntk", factor=8.0), "#e377c2", "-"),
    ("YaRN x8, orig 4096", dict(base=1e4, scaling="yarn", factor=8.0, original_max_position=4096.0),
     "#17becf", "-"),
    ("base 5e5, none", dict(base=5e5), "#ff7f0e", ":"),
    ("Llama 3 x8, orig 8192 (base 5e5)", dict(base=5e5, scaling="llama3", factor=8.0,
                                             original_max_position=8192.0), "#bcbd22", "-"),
]
SPAN_LOG_RATIO = math.log(1000.0)   # a key's weight falls below 1e-3 of the nearest key's: slope * d = ln 1000


def rope_bound(theta, distances):
    """RoFormer (Su et al. 2021) section 3.4.3: the relative upper bound (1/(d/2)) sum_j |S_j| of the attention
    logit at relative distance m, S_j = sum_{k<j} e^{i m theta_k}, j = 1..d/2, divided by its value at m = 0
    ((d/2 + 1)/2), so that every curve starts at 1."""
    n = theta.shape[0]
    out = np.empty(distances.shape[0])
    for start in range(0, distances.shape[0], 512):   # in blocks: [block, n] complex matrices
        m = distances[start:start + 512, None].astype(np.float64)
        s = np.cumsum(np.exp(1j * (m * theta[None, :])), axis=1)
        out[start:start + 512] = np.abs(s).mean(axis=1)
    return out / ((n + 1) / 2.0)


def log_bin_mean(distances, values, per_decade=16):
    """The mean of values over log-spaced bins of distance: the bound oscillates fast, this is its level."""
    top = math.log10(distances[-1])
    edges = np.logspace(0, top + 1e-9, int(per_decade * top) + 2)
    x, y = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (distances >= lo) & (distances < hi)
        if sel.any():
            x.append(float(np.exp(np.log(distances[sel]).mean())))
            y.append(float(values[sel].mean()))
    return np.array(x), np.array(y)


def random_phase_level(n_pairs):
    """The bound's level when the n phases m*theta_k are independent and uniform: E|S_j| = sqrt(pi j)/2 (a sum
    of j random unit vectors has a Rayleigh-distributed length), relative to the value at distance 0."""
    j = np.arange(1, n_pairs + 1)
    return float((np.sqrt(math.pi * j) / 2).mean() / ((n_pairs + 1) / 2.0))


def first_below(x, y, level):
    """The first binned distance whose mean bound is below level (interpolated in log distance)."""
    below = np.nonzero(y < level)[0]
    if not below.size:
        return float("inf")
    i = below[0]
    if i == 0:
        return float(x[0])
    t = (y[i - 1] - level) / (y[i - 1] - y[i])
    return float(math.exp(math.log(x[i - 1]) + t * (math.log(x[i]) - math.log(x[i - 1]))))


def make_rope(posenc, out_dir, quick):
    plt = pyplot()
    max_distance = 1 << 20
    n_points = 2000 if quick else 30000
    distances = np.unique(np.concatenate([np.arange(1, 1 if quick else 4097),
                                          np.geomspace(1, max_distance, n_points).astype(np.int64)]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    numbers = {}
    floor = random_phase_level(HEAD_DIM // 2)
    for ax, plans, title in ((axes[0], BASES, "Bases (no scaling)"),
                             (axes[1], SCALINGS, "Scalings (factor 8)")):
        for label, kw, color, style in plans:
            plan = posenc.RopePlan(head_dim=HEAD_DIM, **kw)
            bound = rope_bound(np.asarray(plan.frequencies), distances)
            x, y = log_bin_mean(distances, bound)
            ax.semilogx(x, y, style, color=color, label=label)
            numbers[label] = {"below_0.5": first_below(x, y, 0.5), "below_0.3": first_below(x, y, 0.3),
                              "near_floor": first_below(x, y, 1.1 * floor), "at_1M": float(y[-1]),
                              "lowest_frequency": float(np.min(plan.frequencies)),
                              "longest_wavelength": float(2 * math.pi / np.min(plan.frequencies)),
                              "mscale": float(plan.mscale)}
        ax.set_xscale("log", base=2)
        ticks = [1 << k for k in range(0, 21, 2)]
        ax.set_xticks(ticks)
        ax.set_xticklabels(["1", "4", "16", "64", "256", "1K", "4K", "16K", "64K", "256K", "1M"])
        ax.minorticks_off()
        ax.set_xlabel("relative distance m - n (tokens)")
        ax.set_title(title)
        ax.axhline(floor, color="k", lw=0.8, ls="--")
        ax.text(1.2, floor + 0.015, "random phases: %.2f" % floor, fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.legend(loc="upper right")
    axes[0].set_ylabel("RoFormer bound  (1/(d/2)) Σ_j |S_j|, relative to distance 0")
    fig.suptitle("RoPE's long-term decay bound (Su et al. 2021, §3.4.3), head_dim 128, from libposenc's plan "
                 "frequencies (mean over 1/16-decade bins: the bound oscillates)", fontsize=9)
    fig.tight_layout()
    numbers["random_phase_level"] = floor
    return save(fig, out_dir, "rope_distance.png"), numbers


def make_alibi(posenc, out_dir, quick):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.0))
    ax = axes[0]
    slopes8 = np.asarray(posenc.alibi_slopes(8), np.float64)
    d = np.arange(0, 2049)
    cmap = plt.get_cmap("Reds")
    for h, s in enumerate(slopes8):
        ax.plot(d, -s * d, color=cmap(0.35 + 0.65 * (1 - h / 7)), label="head %d: slope 1/%d" % (h, round(1 / s)))
    ax.axhline(-SPAN_LOG_RATIO, color="k", lw=0.8, ls="--", label="-ln 1000: weight 1e-3 of the nearest key's")
    spans = SPAN_LOG_RATIO / slopes8
    ax.plot(spans, -SPAN_LOG_RATIO * np.ones_like(spans), "ko", ms=3)
    ax.set_ylim(-16, 0.5)
    ax.set_xlim(0, 2048)
    ax.set_xlabel("distance to the query (tokens)")
    ax.set_ylabel("ALiBi bias added to the logit (-slope x distance)")
    ax.set_title("ALiBi penalty per head (8 heads, max_bias 8)")
    ax.legend(loc="lower left", ncol=2)

    ax = axes[1]
    numbers = {}
    for n, marker, color in ((8, "o", ALIBI_COLOR), (32, "s", "#ff9896")):
        slopes = np.asarray(posenc.alibi_slopes(n), np.float64)
        span = SPAN_LOG_RATIO / slopes
        ax.semilogy(np.arange(n) / max(n - 1, 1), span, marker + "-", color=color, ms=4,
                    label="%d heads: %.1f to %.0f tokens" % (n, span.min(), span.max()))
        numbers["%d_heads" % n] = {"span_min": float(span.min()), "span_max": float(span.max()),
                                   "span_median": float(np.median(span))}
    ax.set_xlabel("head (0 = steepest slope, 1 = gentlest)")
    ax.set_ylabel("effective span: ln(1000) / slope (tokens)")
    ax.set_title("Effective span per head (equal scores, weight down to 1e-3)")
    ax.legend(loc="upper left")
    fig.suptitle("ALiBi: the slopes libposenc computes (posenc_alibi_slopes, max_bias 8 = the paper's, BLOOM's, "
                 "MPT's)", fontsize=9)
    fig.tight_layout()
    return save(fig, out_dir, "alibi_distance.png"), numbers
