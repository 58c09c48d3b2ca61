"""combine.py - worked example: RoPE on q and k, then an ALiBi-biased causal softmax of their scores, in one head.

Run it alone to see the checks:  /usr/bin/python3 docs/figures/combine.py [--build DIR]
It rotates q and k with posenc.RopePlan, forms the scores q.k, and runs posenc.softmax three ways (RoPE only:
causal softmax of the rotated scores; ALiBi only: ALiBi softmax of the unrotated scores; both: ALiBi softmax of
the rotated scores). The content of every token is the same vector, so what the maps show is position alone.
Checks (exit status 1 if one fails):
  1. RoPE scores depend on i - j only (q_i . k_j with q_i = R_i c, k_j = R_j c is a function of i - j);
  2. ALiBi only: the library's weights equal softmax(scale * s - slope * (i - j)) computed here in float64;
  3. both: log p_both - log p_rope = -slope * (i - j) + a constant per row, i.e. the two encodings add in the logit.
"""

import argparse
import sys

import numpy as np

from _common import build_library, load_posenc, pyplot, save

HEAD_DIM = 64
SLOPE = 1.0 / 16.0     # head 3 of an 8-head ALiBi model


def compute(posenc, n_tokens):
    """The scores and weights of the three variants for n_tokens tokens."""
    rng = np.random.default_rng(3)
    content = rng.standard_normal(HEAD_DIM).astype(np.float32)
    q = np.tile(content, (n_tokens, 1, 1))          # [tokens, 1 head, head_dim], every token the same content
    k = q.copy()
    plan = posenc.RopePlan(head_dim=HEAD_DIM, base=10000.0)
    q_rot = plan.apply(q, start=0)
    k_rot = plan.apply(k, start=0)
    scale = HEAD_DIM ** -0.5
    s_rope = (q_rot[:, 0, :].astype(np.float64) @ k_rot[:, 0, :].astype(np.float64).T).astype(np.float32)
    s_plain = (q[:, 0, :].astype(np.float64) @ k[:, 0, :].astype(np.float64).T).astype(np.float32)
    p_rope = posenc.softmax(s_rope, scale=scale, causal=True, q_start=0)
    p_alibi = posenc.softmax(s_plain, scale=scale, slopes=[SLOPE], causal=True, q_start=0)
    p_both = posenc.softmax(s_rope, scale=scale, slopes=[SLOPE], causal=True, q_start=0)
    i, j = np.indices((n_tokens, n_tokens))
    causal = j <= i
    bias = -SLOPE * (i - j)
    logits = {"rope": np.where(causal, scale * s_rope, np.nan),
              "alibi": np.where(causal, scale * s_plain + bias, np.nan),
              "both": np.where(causal, scale * s_rope + bias, np.nan)}
    weights = {"rope": p_rope, "alibi": p_alibi, "both": p_both}
    return dict(s_rope=s_rope, s_plain=s_plain, scale=scale, causal=causal, bias=bias, logits=logits,
                weights=weights, i=i, j=j)


def check(r):
    """The three checks of the module docstring: a list of (name, value, limit)."""
    s_rope, causal, scale = r["s_rope"], r["causal"], r["scale"]
    toeplitz = np.abs(s_rope[1:, 1:] - s_rope[:-1, :-1]).max() / np.abs(s_rope).max()

    z = np.where(causal, scale * r["s_plain"].astype(np.float64) + r["bias"], -np.inf)
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    alibi_err = np.abs(r["weights"]["alibi"] - expected).max() / expected.max()

    p_rope, p_both = r["weights"]["rope"].astype(np.float64), r["weights"]["both"].astype(np.float64)
    ok = causal & (p_rope > 1e-30) & (p_both > 1e-30)
    diff = np.where(ok, np.log(np.where(ok, p_both, 1)) - np.log(np.where(ok, p_rope, 1)) - r["bias"], np.nan)
    spread = np.nanmax(np.nanmax(diff, axis=1) - np.nanmin(diff, axis=1))
    return [("RoPE scores depend on i - j only (max relative deviation)", toeplitz, 1e-5),
            ("ALiBi weights = float64 softmax(scale*s - slope*(i-j)) (max error / max weight)", alibi_err, 1e-5),
            ("log p_both - log p_rope + slope*(i-j) is constant per row (max spread)", spread, 1e-4)]


def make(posenc, out_dir, quick):
    plt = pyplot()
    n = 24 if quick else 48
    r = compute(posenc, n)
    results = check(r)
    titles = {"rope": "RoPE only", "alibi": "ALiBi only (slope 1/16)", "both": "RoPE + ALiBi"}
    fig, axes = plt.subplots(2, 3, figsize=(12, 7.4))
    finite = np.concatenate([v[np.isfinite(v)] for v in r["logits"].values()])
    lo, hi = np.floor(finite.min()), np.ceil(finite.max())
    for col, key in enumerate(("rope", "alibi", "both")):
        ax = axes[0, col]
        im = ax.imshow(r["logits"][key], cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title("%s: logit" % titles[key])
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        ax = axes[1, col]
        w = r["weights"][key].astype(np.float64)
        shown = np.where(r["causal"], np.log10(np.maximum(w, 1e-12)), np.nan)
        im = ax.imshow(shown, cmap="magma", vmin=-6, vmax=0, interpolation="nearest")
        ax.set_title("%s: log10 weight (posenc.softmax)" % titles[key])
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    for ax in axes.ravel():
        ax.set_xlabel("key position j")
        ax.set_ylabel("query position i")
        ax.grid(False)
    fig.suptitle("One head, head_dim %d, every token the same content (so only position shows), causal. Top: "
                 "scale*q.k [+ ALiBi bias]; bottom: the library's softmax. combine.py's three checks: %s"
                 % (HEAD_DIM, "passed" if all(v <= limit for _, v, limit in results) else "FAILED"), fontsize=9)
    fig.tight_layout()
    path = save(fig, out_dir, "combine.png")
    numbers = {name: float(v) for name, v, _ in results}
    numbers["all_ok"] = all(v <= limit for _, v, limit in results)
    return path, numbers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", help="a meson build directory holding libposenc.so (default: build-figures/)")
    args = parser.parse_args()
    posenc = load_posenc(build_library(args.build, need_bench=False))
    r = compute(posenc, 48)
    failed = 0
    for name, value, limit in check(r):
        ok = value <= limit
        failed += not ok
        print("%-4s %s: %.2e (limit %.0e)" % ("ok" if ok else "FAIL", name, value, limit))
    i = 40
    row = r["weights"]["both"][i, :i + 1]
    print("row %d of RoPE + ALiBi: weight on itself %.3f, on the key 8 back %.3f, on key 0 %.2e"
          % (i, row[i], row[i - 8], row[0]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
