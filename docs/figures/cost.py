"""cost.py - figure: a RoPE model's position work vs an ALiBi model's, per layer, measured by bench/position_cost."""

import csv
import io
import os
import subprocess

from _common import ALIBI_COLOR, ROOF_COLOR, ROPE_COLOR, pyplot, save


def run_position_cost(build, quick):
    """Run bench/position_cost and return its CSV text."""
    args = [os.path.join(build, "bench", "position_cost")] + (["--quick"] if quick else [])
    return subprocess.run(args, check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout


def parse(text):
    """(comments, {(phase, tokens, component): row}) from position_cost's CSV."""
    comments = [line[1:].strip() for line in text.splitlines() if line.startswith("#")]
    body = "\n".join(line for line in text.splitlines() if line and not line.startswith("#"))
    rows = {}
    for r in csv.DictReader(io.StringIO(body)):
        rows[(r["phase"], int(r["tokens"]), r["component"])] = r
    return comments, rows


def cpu_name(comments):
    for c in comments:
        if c.startswith("cpu:"):
            return c[4:].strip()
    return "unknown CPU"


def series(rows, phase):
    """tokens and per-layer seconds: RoPE model, ALiBi model, RoPE alone, their rooflines."""
    tokens = sorted({t for (p, t, _) in rows if p == phase})
    get = lambda t, c: float(rows[(phase, t, c)]["median_s"])
    rope = [get(t, "rope_qk") for t in tokens]
    plain = [get(t, "softmax_plain") for t in tokens]
    rope_model = [r + p for r, p in zip(rope, plain)]
    alibi_model = [get(t, "softmax_alibi") for t in tokens]
    roof_rope = [get(t, "stream_rope") + get(t, "stream_softmax") for t in tokens]
    roof_alibi = [get(t, "stream_softmax") for t in tokens]
    return dict(tokens=tokens, rope=rope, plain=plain, rope_model=rope_model, alibi_model=alibi_model,
                roof_rope=roof_rope, roof_alibi=roof_alibi)


def _label_tokens(n):
    return "%dM" % (n >> 20) if n >= 1 << 20 else "%dK" % (n >> 10) if n >= 1024 else str(n)


def library_name(line):
    """"libposenc 0.2.0 (avx512)" from position_cost's first comment line."""
    parts = [p.strip() for p in line.split(",")]
    if len(parts) >= 2 and parts[1].startswith("kernel variant "):
        return "%s (%s)" % (parts[0], parts[1][len("kernel variant "):])
    return parts[0] if parts else "libposenc"


def make(csv_text, out_dir):
    """Draw cost.png from position_cost's CSV; return (path, numbers for the page)."""
    plt = pyplot()
    comments, rows = parse(csv_text)
    cpu = cpu_name(comments)
    lib_line = comments[0] if comments else ""
    dec, pre = series(rows, "decode"), series(rows, "prefill")

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.0))
    for ax, s, title, unit, scale in ((axes[0], dec, "Decode: one new token, one layer", "µs", 1e6),
                                      (axes[1], pre, "Prefill: all tokens, one layer (scores in L2-sized blocks)", "ms", 1e3)):
        t = s["tokens"]
        ax.loglog(t, [v * scale for v in s["rope_model"]], "o-", color=ROPE_COLOR, ms=3,
                  label="RoPE model: rotate q,k + plain softmax")
        ax.loglog(t, [v * scale for v in s["alibi_model"]], "s-", color=ALIBI_COLOR, ms=3,
                  label="ALiBi model: ALiBi softmax")
        ax.loglog(t, [v * scale for v in s["rope"]], "o:", color=ROPE_COLOR, ms=3, alpha=0.7,
                  label="the rotation alone (posenc_rope_apply_qk)")
        ax.loglog(t, [v * scale for v in s["roof_alibi"]], "--", color=ROOF_COLOR,
                  label="stream roofline (read+write the scores once)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(t)
        ax.set_xticklabels([_label_tokens(n) for n in t], rotation=45 if len(t) > 6 else 0)
        ax.minorticks_off()
        ax.set_xlabel("context length (tokens)" if s is dec else "prompt length (tokens)")
        ax.set_ylabel("thread CPU time per layer (%s)" % unit)
        ax.set_title(title)
    axes[0].legend(loc="upper left")

    ax = axes[2]
    for s, name, marker in ((dec, "decode", "o-"), (pre, "prefill", "s-")):
        ratio = [r / a for r, a in zip(s["rope_model"], s["alibi_model"])]
        ax.semilogx(s["tokens"], ratio, marker, ms=3, label=name, base=2)
    ax.axhline(1.0, color="k", lw=0.8)
    ticks = sorted(set(dec["tokens"]) | set(pre["tokens"]))
    ticks = ticks[::2] if len(ticks) > 8 else ticks
    ax.set_xticks(ticks)
    ax.set_xticklabels([_label_tokens(n) for n in ticks], rotation=45 if len(ticks) > 6 else 0)
    ax.minorticks_off()
    ax.set_ylim(0.5, 1.5)
    ax.set_xlabel("tokens")
    ax.set_ylabel("RoPE model / ALiBi model (time)")
    ax.set_title("Ratio: below 1, RoPE's position work costs less")
    ax.legend(loc="upper right")
    fig.suptitle("Position work per layer: 32 heads (8 KV heads), head_dim 128, float32, one thread. CPU: %s; %s.\n"
                 "Medians of thread CPU time from one run on a shared 2-core VM: read the ratios, not the absolute "
                 "times"
                 % (cpu, library_name(lib_line)), fontsize=9)
    fig.tight_layout()
    path = save(fig, out_dir, "cost.png")

    numbers = {"cpu": cpu, "library": lib_line}
    for s, phase in ((dec, "decode"), (pre, "prefill")):
        for i, t in enumerate(s["tokens"]):
            numbers["%s_%d" % (phase, t)] = {
                "rope_model_over_alibi": s["rope_model"][i] / s["alibi_model"][i],
                "rotation_share_of_rope_model": s["rope"][i] / s["rope_model"][i],
                "alibi_over_plain_softmax": s["alibi_model"][i] / s["plain"][i],
                "alibi_over_roofline": s["alibi_model"][i] / s["roof_alibi"][i],
                "rope_model_over_roofline": s["rope_model"][i] / s["roof_rope"][i],
                "rope_model_s": s["rope_model"][i], "alibi_model_s": s["alibi_model"][i],
                "rotation_s": s["rope"][i],
            }
    return path, numbers
