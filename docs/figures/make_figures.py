#!/usr/bin/python3
"""make_figures.py - regenerate every figure of docs/rope-vs-alibi.md from data libposenc computes or measures.

    /usr/bin/python3 docs/figures/make_figures.py [--quick] [--build DIR] [--out DIR] [--cost-csv FILE]

Without --build it configures build-figures/ (a release build with the benchmark programs) the first time and
compiles libposenc.so and bench/position_cost there. It writes the PNGs, position_cost.csv (the measurement the
cost figure plots) and numbers.json (the ratios the page quotes) into --out (default docs/figures/).
--quick: small sizes for CI (proves the scripts run; its timings mean nothing); use it with --out elsewhere so
the committed figures stay. --cost-csv FILE redraws the cost figure from an earlier position_cost run instead of
measuring again. Needs Debian's python3-numpy and python3-matplotlib (.ci/deps.sh: POSENC_DEPS_FIGURES).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI): proves the scripts run")
    parser.add_argument("--build", help="a meson build directory (default: build-figures/, configured if absent)")
    parser.add_argument("--out", default=_common.FIGURES, help="output directory (default: docs/figures/)")
    parser.add_argument("--cost-csv", help="redraw the cost figure from this position_cost CSV")
    args = parser.parse_args()

    build = _common.build_library(args.build, need_bench=args.cost_csv is None)
    posenc = _common.load_posenc(build)
    import accuracy
    import combine
    import cost
    import distance
    import vision

    os.makedirs(args.out, exist_ok=True)
    numbers = {"library": posenc.version(), "variant": posenc.isa(), "quick": args.quick}
    started = time.time()

    if args.cost_csv:
        with open(args.cost_csv) as f:
            csv_text = f.read()
    else:
        print("measuring: %s%s" % (os.path.join(build, "bench", "position_cost"), " --quick" if args.quick else ""),
              flush=True)
        csv_text = cost.run_position_cost(build, args.quick)
    csv_path = os.path.join(args.out, "position_cost.csv")
    if not (args.cost_csv and os.path.abspath(args.cost_csv) == os.path.abspath(csv_path)):
        with open(csv_path, "w") as f:
            f.write(csv_text)
    steps = [
        ("cost", lambda: cost.make(csv_text, args.out)),
        ("rope_distance", lambda: distance.make_rope(posenc, args.out, args.quick)),
        ("alibi_distance", lambda: distance.make_alibi(posenc, args.out, args.quick)),
        ("accuracy", lambda: accuracy.make(posenc, args.out, args.quick)),
        ("combine", lambda: combine.make(posenc, args.out, args.quick)),
        ("vision_2d", lambda: vision.make(posenc, args.out, args.quick)),
    ]
    for name, step in steps:
        path, values = step()
        numbers[name] = values
        print("wrote %s (%d bytes)" % (path, os.path.getsize(path)), flush=True)
    if not numbers["combine"]["all_ok"]:
        print("combine.py's checks failed: %s" % numbers["combine"], file=sys.stderr)
        return 1
    with open(os.path.join(args.out, "numbers.json"), "w") as f:
        json.dump(numbers, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote %s; %.0f s" % (os.path.join(args.out, "numbers.json"), time.time() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
