#!/usr/bin/python3
"""table.py - prints posenc_bench's Google Benchmark JSON as one table: workload x variant, with its baselines.

Usage: /usr/bin/python3 bench/table.py RESULTS.json   (standard library only)
"""
import json
import sys

FAR_SUFFIX = "-pos1e6"  # accuracy workloads; their roofline is the same workload at ordinary positions
# Value-independence rows: the same softmax on scores chosen to stress the kernel's value paths, each timed
# against the random-score row of the same implementation in the same run.
VALUE_BASE = "decode-32768"
VALUE_ROWS = ("cutoff", "denormal", "nan")
VALUE_TARGET = 1.15


def load_runs(path):
    """name -> run, preferring the median aggregate when the suite ran with repetitions."""
    try:
        with open(path) as handle:
            report = json.load(handle)
    except (OSError, ValueError) as error:
        sys.exit("table.py: cannot read %s: %s" % (path, error))
    runs = {}
    # Registration order (family_index), whatever order random interleaving ran them in.
    ordered = sorted(report.get("benchmarks", []),
                     key=lambda run: (run.get("family_index", 0), run.get("per_family_instance_index", 0)))
    for run in ordered:
        name = run.get("run_name", run["name"]).replace("/real_time", "")
        if run.get("run_type") == "aggregate":
            if run.get("aggregate_name") == "median":
                runs[name] = run
        elif name not in runs or runs[name].get("run_type") != "aggregate":
            runs[name] = run
    return report.get("context", {}), runs


def split_name(name):
    """rope_f32/avx2/prefill-512/half -> ("rope_f32", "avx2", "prefill-512", "half")."""
    parts = [part for part in name.split("/") if part != "real_time"]   # wall-clock rows (threads)
    return parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else ""


def ns_per_element(run):
    rate = run.get("items_per_second")
    return 1e9 / rate if rate else None


def fmt_ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator == 0:
        return ""
    return "%.2fx" % (numerator / denominator)


def fmt_ns(value):
    if value is None:
        return ""
    return "%.3f" % value if value < 100 else "%.1f" % value


GROUP_TITLES = {
    "rope_f32": "RoPE f32, head_dim 128, base 10000, in place (an element is one float of q or k)",
    "rope_bf16": "RoPE bf16 in place (an element is one bf16 of q or k; roofline: the stream over the same bytes)",
    "rope_f16": "RoPE f16 in place (an element is one f16 of q or k; roofline: the stream over the same bytes)",
    "rope_f32-bf16": "RoPE f32 -> bf16 out of place, the KV-cache write (6 bytes per element)",
    "softmax_f32": "softmax f32, in place (an element is one score); ALiBi workloads are causal, scale 1/sqrt(128);\n"
                   "  '/fast': the FAST precision (all float32); x exp: time over the exp limit of the same variant\n"
                   "  (exp_f32 below); vision-32x32: 2-D ALiBi on 32x32 patches + CLS; decode-evicted-4096: keys at\n"
                   "  given positions (4 sinks + 4092 recent, StreamingLLM)",
    "exp_f32": "exp limit: the FAST softmax's float32 exp alone (src/tpl/softmax_tpl.h) over 2048 floats in L1",
    "softmax_bf16": "softmax bf16 in place (an element is one bf16 score; roofline: the stream over the same bytes)",
    "softmax_f16": "softmax f16 in place (an element is one f16 score; roofline: the stream over the same bytes)",
    "rope_f32_mt": "RoPE f32 on the caller's thread pool (posenc_parallel), wall-clock time; stream on 2 threads",
    "softmax_f32_mt": "softmax f32 on the caller's thread pool (posenc_parallel), wall-clock time; stream on 2 threads",
    "softmax_f32_backward": "softmax f32 backward: dx from y and dy, out of place (an element is one score)",
    "softmax_f32_stats": "softmax f32 forward with split-K statistics (desc->stats), in place",
    "softmax_f32_merge": "softmax f32 split-K merges: concatenation in place (an element is one score); "
                         "flash-decode: weighted sum (an element is one block value)",
}
COMPARE_HEADER = {"f32": "vs text", "reduced": "vs f32", "threads": "vs 1 thr", "training": "vs fwd"}


def kernel_kind(kernel):
    """f32 (baselines: textbook, oneDNN), reduced (compared per element with the f32 row), threads."""
    if kernel.endswith("_mt"):
        return "threads"
    if kernel.endswith(("_backward", "_stats", "_merge")):
        return "training"   # compared per element with the forward row of the same variant and workload
    if kernel.endswith("_f32"):
        return "f32"
    return "reduced"


def print_table(context, runs):
    dispatch = context.get("posenc_dispatch", "?")
    print()
    print("libposenc %s on %s (%s CPUs reported, %s MHz), single thread"
          % (context.get("posenc_version", "?"), context.get("cpu_model", "unknown CPU"),
             context.get("num_cpus", "?"), context.get("mhz_per_cpu", "?")))
    print("variants compiled: %s; this CPU runs: %s; the dispatcher picked: %s"
          % (context.get("posenc_variants_compiled", "?"), context.get("posenc_variants_supported", "?"), dispatch))
    print("peer: %s" % context.get("onednn", "oneDNN absent"))
    repetitions = max((run.get("repetitions", 1) for run in runs.values()), default=1)
    if repetitions > 1:
        print("each figure: the median of %d repetitions, run in random interleaved order" % repetitions)

    # Index the baselines, and the exp limit of each variant.
    stream, textbook, onednn, exp_limit = {}, {}, {}, {}
    groups = []  # (kernel, workload, pairing) in the order the suite ran them
    for name, run in runs.items():
        kernel, implementation, workload, pairing = split_name(name)
        if implementation == "stream":
            stream[(kernel, workload)] = run
            continue
        if implementation == "textbook":
            textbook[(kernel, workload, pairing)] = run
        if implementation == "onednn":
            onednn[(kernel, workload)] = run
        if kernel == "exp_f32" and not run.get("error_occurred"):
            exp_limit[implementation] = ns_per_element(run)
        if (kernel, workload, pairing) not in groups:
            groups.append((kernel, workload, pairing))

    current_kernel = None
    for kernel, workload, pairing in groups:
        kind = kernel_kind(kernel)
        if kernel != current_kernel:
            current_kernel = kernel
            print()
            print(GROUP_TITLES.get(kernel, kernel))
            columns = ("%-31s %-16s %9s %8s %9s %9s %9s %9s"
                       % ("workload", "variant", "ns/elem", "GB/s", "roofline", COMPARE_HEADER[kind], "vs oneDNN",
                          "x exp" if kernel == "softmax_f32" else "rel.err"))
            print(columns)
            print("-" * len(columns))
        base_workload = workload[:-len(FAR_SUFFIX)] if workload.endswith(FAR_SUFFIX) else workload
        roof = stream.get((kernel, base_workload))
        roof_bytes = roof.get("bytes_per_second") if roof else None
        text_run = textbook.get((kernel, workload, pairing)) or textbook.get((kernel, workload, ""))   # '/fast'
        text_ns = ns_per_element(text_run) if text_run else None
        peer = onednn.get((kernel, workload))
        peer_ns = ns_per_element(peer) if peer else None

        title = workload + ("/" + pairing if pairing else "")
        rows = []
        if roof and not workload.endswith(FAR_SUFFIX):
            rows.append(("stream", roof))
        for name, run in runs.items():
            k, implementation, w, p = split_name(name)
            if (k, w, p) == (kernel, workload, pairing) and implementation != "stream":
                rows.append((implementation, run))
        for implementation, run in rows:
            label = implementation
            if implementation == "dispatch":
                label = "dispatch(%s)" % run.get("label", dispatch)
            if run.get("error_occurred"):
                print("%-31s %-16s   skipped: %s" % (title, label, run.get("error_message", "")))
                title = ""
                continue
            ours_ns = ns_per_element(run)
            gbytes = run.get("bytes_per_second", 0) / 1e9
            roofline = "%.0f%%" % (100 * run["bytes_per_second"] / roof_bytes) if roof_bytes else ""
            is_ours = implementation not in ("stream", "textbook", "onednn")
            versus_text = fmt_ratio(text_ns, ours_ns) if is_ours or implementation == "onednn" else ""
            if kind in ("reduced", "training") and is_ours:   # per element against the float32 forward row
                f32 = runs.get("/".join(x for x in (kernel.split("_")[0] + "_f32", implementation, workload, pairing) if x))
                versus_text = fmt_ratio(ns_per_element(f32), ours_ns) if f32 and not f32.get("error_occurred") else ""
            elif kind == "threads" and implementation.startswith("threads-"):   # against one thread
                one = runs.get("/".join(x for x in (kernel, "threads-1", workload, pairing) if x))
                versus_text = fmt_ratio(ns_per_element(one), ours_ns) if one else ""
            versus_peer = fmt_ratio(peer_ns, ours_ns) if is_ours else ""
            error = "%.1e" % run["rel_err"] if "rel_err" in run else ""
            isa = run.get("label", dispatch) if implementation == "dispatch" else implementation
            if kernel == "softmax_f32" and is_ours and exp_limit.get(isa):
                error = "%.2f" % (ours_ns / exp_limit[isa])
            print("%-31s %-16s %9s %8.2f %9s %9s %9s %9s"
                  % (title, label, fmt_ns(ours_ns), gbytes, roofline, versus_text, versus_peer, error))
            title = ""
    print_value_ratios(runs)
    print()
    print("ns/elem: time per element (lower is better). GB/s: bytes read + written per second.")
    print("roofline: that rate as a share of the stream kernel reading and writing the same bytes in place at the")
    print("  same working-set size (memory-bound work approaches 100%; cache-resident work may exceed it).")
    print("vs text / vs oneDNN: speed-up, the baseline's time divided by this row's (above 1x: this row is faster).")
    print("vs f32 / vs fwd: per-element speed-up over the float32 (forward) row of the same variant and workload;")
    print("  vs 1 thr: over one thread.")
    print("  textbook: the loop a user writes, -O3 -march=native. oneDNN computes a plain softmax (no ALiBi, no mask).")
    print("rel.err: RoPE max per-head ||y - y64|| / ||y64|| against a float64 rotation; '-pos1e6' rows start at 1e6.")


def print_value_ratios(runs):
    """Each implementation's time on the value rows over its time on random scores (same run)."""
    times = {}  # implementation -> {row: ns/elem}
    for name, run in runs.items():
        kernel, implementation, workload, pairing = split_name(name)
        if kernel != "softmax_f32" or not workload.startswith(VALUE_BASE + "-") or run.get("error_occurred"):
            continue
        label = "dispatch(%s)" % run.get("label", "?") if implementation == "dispatch" else implementation
        label += "/" + pairing if pairing else ""
        times.setdefault(label, {})[workload[len(VALUE_BASE) + 1:]] = ns_per_element(run)
    rows = [(label, t) for label, t in times.items() if t.get("random")]
    if not rows:
        return
    print()
    print("softmax value independence: %s out of place, time over the same variant's random-score row "
          "(target <= %.2fx)" % (VALUE_BASE, VALUE_TARGET))
    header = "%-22s %14s" % ("variant", "random ns/elem") + "".join(" %10s" % row for row in VALUE_ROWS)
    print(header)
    print("-" * len(header))
    worst = 0.0
    for label, t in rows:
        cells = ""
        for row in VALUE_ROWS:
            if t.get(row) is None:
                cells += " %10s" % ""
                continue
            ratio = t[row] / t["random"]
            worst = max(worst, ratio)
            cells += " %10s" % ("%.2fx%s" % (ratio, "!" if ratio > VALUE_TARGET else " "))
        print("%-22s %14s" % (label, fmt_ns(t["random"])) + cells)
    print("cutoff: scores in [-10000, 0), ~90%% of the exponentials below the cutoff; denormal: logits alternating "
          "0 and -86.5\n  (exp / sum below FLT_MIN); nan: one NaN per row. '!' marks a ratio above %.2fx "
          "(worst here %.2fx)." % (VALUE_TARGET, worst))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: table.py RESULTS.json")
    context, runs = load_runs(sys.argv[1])
    if not runs:
        sys.exit("table.py: no benchmark results in %s" % sys.argv[1])
    print_table(context, runs)


if __name__ == "__main__":
    main()
