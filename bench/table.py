#!/usr/bin/python3
"""table.py - prints posenc_bench's Google Benchmark JSON as one table: workload x variant, with its baselines.

Usage: /usr/bin/python3 bench/table.py RESULTS.json   (standard library only)
"""
import json
import sys

FAR_SUFFIX = "-pos1e6"  # accuracy workloads; their roofline is the same workload at ordinary positions
# Softmax backward and split-K groups (bench_posenc.cc, "softmax backward, split-K statistics and merges").
SPLIT_GROUPS = {
    "softmax_f32_backward": "softmax f32 backward: dx from y and dy, out of place (an element is one score)",
    "softmax_f32_stats": "softmax f32 forward with split-K statistics (desc->stats), in place",
    "softmax_f32_merge": "softmax f32 split-K merges: concatenation in place (an element is one score); "
                         "flash-decode: weighted sum (an element is one block value)",
}


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
        name = run.get("run_name", run["name"])
        if run.get("run_type") == "aggregate":
            if run.get("aggregate_name") == "median":
                runs[name] = run
        elif name not in runs or runs[name].get("run_type") != "aggregate":
            runs[name] = run
    return report.get("context", {}), runs


def split_name(name):
    """rope_f32/avx2/prefill-512/half -> ("rope_f32", "avx2", "prefill-512", "half")."""
    parts = name.split("/")
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

    # Index the baselines.
    stream, textbook, onednn = {}, {}, {}
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
        if (kernel, workload, pairing) not in groups:
            groups.append((kernel, workload, pairing))

    columns = ("%-31s %-16s %9s %8s %9s %9s %9s %9s"
               % ("workload", "variant", "ns/elem", "GB/s", "roofline", "vs text", "vs oneDNN", "rel.err"))
    current_kernel = None
    for kernel, workload, pairing in groups:
        if kernel != current_kernel:
            current_kernel = kernel
            print()
            if kernel.startswith("rope"):
                print("RoPE f32, head_dim 128, base 10000, in place (an element is one float of q or k)")
            elif kernel in SPLIT_GROUPS:
                print(SPLIT_GROUPS[kernel])
            else:
                print("softmax f32, in place (an element is one score); ALiBi workloads are causal, scale 1/sqrt(128)")
            print(columns)
            print("-" * len(columns))
        base_workload = workload[:-len(FAR_SUFFIX)] if workload.endswith(FAR_SUFFIX) else workload
        roof = stream.get((kernel, base_workload))
        roof_bytes = roof.get("bytes_per_second") if roof else None
        text_ns = ns_per_element(textbook[(kernel, workload, pairing)]) if (kernel, workload, pairing) in textbook else None
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
            versus_peer = fmt_ratio(peer_ns, ours_ns) if is_ours else ""
            error = "%.1e" % run["rel_err"] if "rel_err" in run else ""
            print("%-31s %-16s %9s %8.2f %9s %9s %9s %9s"
                  % (title, label, fmt_ns(ours_ns), gbytes, roofline, versus_text, versus_peer, error))
            title = ""
    print()
    print("ns/elem: time per element (lower is better). GB/s: bytes read + written per second.")
    print("roofline: that rate as a share of the stream kernel reading and writing the same bytes in place at the")
    print("  same working-set size (memory-bound work approaches 100%; cache-resident work may exceed it).")
    print("vs text / vs oneDNN: speed-up, the baseline's time divided by this row's (above 1x: this row is faster).")
    print("  textbook: the loop a user writes, -O3 -march=native. oneDNN computes a plain softmax (no ALiBi, no mask).")
    print("rel.err: RoPE max per-head ||y - y64|| / ||y64|| against a float64 rotation; '-pos1e6' rows start at 1e6.")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: table.py RESULTS.json")
    context, runs = load_runs(sys.argv[1])
    if not runs:
        sys.exit("table.py: no benchmark results in %s" % sys.argv[1])
    print_table(context, runs)


if __name__ == "__main__":
    main()
