"""vision.py - figure: position on a patch grid: 2-D RoPE (libposenc's AXES_VISION_2D plan) and 2-D ALiBi's bias
(libposenc's fused 2-D ALiBi softmax)."""

import math

import numpy as np

from _common import pyplot, save

HEAD_DIM = 64
SECTIONS = [16, 16]          # pairs driven by the row (y) and by the column (x); sum = HEAD_DIM / 2
ALIBI_SLOPE = 0.25           # head 1 of an 8-head ALiBi model


def rope_2d_logits(posenc, grid, query):
    """q.k / (q.q) for a constant q = k = ones, q at patch `query` and k at every patch, both rotated by the
    library's 2-D vision plan (pairs i < 16 by the row, the rest by the column)."""
    plan = posenc.RopePlan(head_dim=HEAD_DIM, axes="vision_2d", sections=SECTIONS, base=10000.0)
    ys, xs = np.indices((grid, grid))
    positions = np.stack([ys.ravel(), xs.ravel()], axis=1).astype(np.int64)     # token-major (y, x)
    k = np.ones((grid * grid, 1, HEAD_DIM), np.float32)
    q = np.ones((1, 1, HEAD_DIM), np.float32)
    k_rot = plan.apply(k, positions=positions)
    q_rot = plan.apply(q, positions=np.array([query], np.int64))
    logits = (k_rot[:, 0, :].astype(np.float64) @ q_rot[0, 0, :].astype(np.float64)) / HEAD_DIM
    return logits.reshape(grid, grid), plan


def alibi_2d_bias(posenc, grid, query, metric, slope=ALIBI_SLOPE):
    """The bias libposenc's 2-D ALiBi softmax adds around the query patch, read back from its output: with all
    scores 0, y_j / y_query = exp(slope * b_j), so log(y_j / y_query) is the bias (b_query = 0). Checked against
    -slope * distance (CROMA's 2-D ALiBi uses the Euclidean distance)."""
    n = grid * grid
    q = query[0] * grid + query[1]
    y = posenc.softmax(np.zeros((1, 1, n), np.float32), slopes=[slope], grid_width=grid, grid_metric=metric,
                       q_positions=[q], k_start=0)[0, 0].astype(np.float64)
    bias = np.log(y / y[q]).reshape(grid, grid)
    ys, xs = np.indices((grid, grid))
    dy, dx = ys - query[0], xs - query[1]
    distance = np.hypot(dy, dx) if metric == "euclidean" else np.abs(dy) + np.abs(dx)
    assert np.allclose(bias, -slope * distance, rtol=0, atol=1e-5), "the kernel's bias is not -slope * distance"
    return bias


def make(posenc, out_dir, quick):
    plt = pyplot()
    grid = 16 if quick else 32
    query = (grid // 2, grid // 2)
    rope, plan = rope_2d_logits(posenc, grid, query)
    euclid = alibi_2d_bias(posenc, grid, query, "euclidean")
    manhattan = alibi_2d_bias(posenc, grid, query, "manhattan")

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.3))
    ax = axes[0]
    im = ax.imshow(rope, cmap="viridis", vmin=min(0.0, math.floor(rope.min() * 10) / 10), vmax=1.0,
                   interpolation="nearest")
    ax.set_title("2-D RoPE: q.k / |q|^2 for constant q = k\n(AXES_VISION_2D, sections [16, 16], base 1e4)")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    lo = min(euclid.min(), manhattan.min())
    for ax, bias, name in ((axes[1], euclid, "Euclidean"), (axes[2], manhattan, "Manhattan")):
        im = ax.imshow(bias, cmap="magma", vmin=lo, vmax=0, interpolation="nearest")
        levels = [-8, -6, -4, -2]
        ax.contour(bias, levels=levels, colors="w", linewidths=0.6, linestyles="solid")
        ax.set_title("2-D ALiBi bias, %s distance:\n-slope x distance, slope 1/4 (contours every 2)" % name)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    for ax in axes:
        ax.plot(query[1], query[0], "r+", ms=10, mew=1.5)
        ax.set_xlabel("patch column x")
        ax.set_ylabel("patch row y")
        ax.grid(False)
    fig.suptitle("A %dx%d patch grid around the query patch (+). RoPE from libposenc's plan; the ALiBi maps are "
                 "the bias libposenc's 2-D ALiBi softmax adds (POSITION_GRID_*)" % (grid, grid), fontsize=9)
    fig.tight_layout()
    path = save(fig, out_dir, "vision_2d.png")

    # The axial structure: along the query's row or column half of the pairs keep their full product.
    qy, qx = query
    numbers = {
        "rope_same_row_8_away": float(rope[qy, qx + 8]) if qx + 8 < grid else None,
        "rope_diagonal_8_away": float(rope[qy + 8, qx + 8]) if qy + 8 < grid else None,
        "rope_min_off_axes": float(np.min(np.delete(np.delete(rope, qy, 0), qx, 1))),
        "rope_min_on_axes": float(min(np.delete(rope[qy, :], qx).min(), np.delete(rope[:, qx], qy).min())),
        "euclid_diag_8": float(euclid[qy + 8, qx + 8]) if qy + 8 < grid else None,
        "manhattan_diag_8": float(manhattan[qy + 8, qx + 8]) if qy + 8 < grid else None,
        "diag_ratio_manhattan_over_euclid": math.sqrt(2),
    }
    return path, numbers
