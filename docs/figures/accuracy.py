"""accuracy.py - figure: RoPE's error at long positions, a float32 textbook rotation vs libposenc, against float64."""

import numpy as np

from _common import ALIBI_COLOR, ROPE_COLOR, pyplot, save

HEAD_DIM = 128
BASE = 10000.0
N_HEADS = 8          # random head vectors per position; the figure shows the worst of them


def textbook_float32(x, positions, base=BASE):
    """RoPE as numpy float32 (or torch float32, Hugging Face's LlamaRotaryEmbedding) computes it: inv_freq in
    float32, angle = float32(position) * inv_freq, float32 cos/sin, half pairing. x: float32 [n, heads, d]."""
    d = x.shape[-1]
    inv_freq = np.float32(1.0) / (np.float32(base) ** (np.arange(0, d, 2, dtype=np.float32) / np.float32(d)))
    angle = positions.astype(np.float32)[:, None] * inv_freq[None, :]          # float32 [n, d/2]
    cos = np.cos(np.concatenate([angle, angle], axis=1))[:, None, :]
    sin = np.sin(np.concatenate([angle, angle], axis=1))[:, None, :]
    half = d // 2
    rotated_half = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return (x * cos + rotated_half * sin).astype(np.float32)


def reference_float64(x, positions, frequencies):
    """The float64 rotation with the plan's frequencies (half pairing): angles position * w formed and reduced in
    long double (x86: 64-bit significand, so the angle's error stays below 2^31 * 2^-64), cos/sin rounded to
    float64, the rotation in float64."""
    angle = positions.astype(np.longdouble)[:, None] * np.asarray(frequencies, np.longdouble)[None, :]
    cos = np.cos(angle).astype(np.float64)[:, None, :]
    sin = np.sin(angle).astype(np.float64)[:, None, :]
    half = x.shape[-1] // 2
    a, b = x[..., :half].astype(np.float64), x[..., half:].astype(np.float64)
    return np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=-1)


def head_error(y, y64):
    """Per position, the worst head's ||y - y64|| / ||y64||."""
    err = np.linalg.norm(y.astype(np.float64) - y64, axis=-1) / np.linalg.norm(y64, axis=-1)
    return err.max(axis=1)


def make(posenc, out_dir, quick):
    plt = pyplot()
    n_points = 60 if quick else 600
    positions = np.unique(np.geomspace(1, 2**31 - 1, n_points).astype(np.int64))
    rng = np.random.default_rng(7)
    x = rng.standard_normal((positions.shape[0], N_HEADS, HEAD_DIM)).astype(np.float32)
    plan = posenc.RopePlan(head_dim=HEAD_DIM, base=BASE)
    y_lib = plan.apply(x, positions=positions)
    y_textbook = textbook_float32(x, positions)
    y64 = reference_float64(x, positions, plan.frequencies)
    err_lib = head_error(y_lib, y64)
    err_textbook = head_error(y_textbook, y64)

    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.loglog(positions, err_textbook, "-", color=ALIBI_COLOR, lw=1.0,
              label="textbook float32 (inv_freq, angle, cos/sin in float32: numpy / HF)")
    ax.loglog(positions, err_lib, "-", color=ROPE_COLOR, lw=1.0, label="libposenc (angles in double)")
    ax.axhline(1e-6, color="k", lw=0.8, ls="--", label="libposenc's documented bound, 1e-6")
    ax.axvline(2**24, color="0.5", lw=0.8, ls=":")
    ax.text(2**24 * 1.15, 1.5e-7, "2^24: float32 integers\nstop being exact", fontsize=8, color="0.35",
            va="bottom")
    ax.set_xscale("log", base=2)
    ticks = [1 << k for k in range(0, 32, 3)]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["1", "8", "64", "512", "4K", "32K", "256K", "2M", "16M", "128M", "1G"])
    ax.minorticks_off()
    ax.set_ylim(1e-8, 3)
    ax.set_xlabel("position")
    ax.set_ylabel("||y - y64|| / ||y64|| (worst of %d heads)" % N_HEADS)
    ax.set_title("RoPE error vs a float64 rotation, head_dim %d, base %g, positions 1 to 2^31 - 1"
                 % (HEAD_DIM, BASE))
    ax.legend(loc="upper left")
    fig.tight_layout()
    path = save(fig, out_dir, "rope_accuracy.png")

    def at(p, err):
        return float(err[np.searchsorted(positions, p):][:max(1, len(positions) // 60)].max())

    numbers = {"library_max": float(err_lib.max()), "textbook_max": float(err_textbook.max())}
    for p in (4096, 32768, 131072, 1 << 20, 1 << 24, 1 << 27):
        numbers["textbook_at_%d" % p] = at(p, err_textbook)
        numbers["library_at_%d" % p] = at(p, err_lib)
    first = np.nonzero(err_textbook > 1e-6)[0]
    numbers["textbook_first_above_1e-6"] = int(positions[first[0]]) if first.size else None
    first = np.nonzero(err_textbook > 1e-3)[0]
    numbers["textbook_first_above_1e-3"] = int(positions[first[0]]) if first.size else None
    return path, numbers
