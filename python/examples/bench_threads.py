"""bench_threads.py - posenc on several cores from Python: one call split by posenc.ThreadPool, and many calls
from Python threads (ctypes releases the GIL, so both run in parallel).

Usage: python bench_threads.py [--threads 2] [--repeat 5] [--rounds 5] [--max-tasks N] [--only pool|calls|gil]
(from the source tree: PYTHONPATH=python POSENC_LIBRARY=build/libposenc.so python python/examples/bench_threads.py)

1. One call, its tasks on a posenc.ThreadPool (the library's posenc_parallel hook): a 4096-token x 32-head x 128
   RoPE prefill (64 MiB in place, three buffers cycled so every call reads DRAM, as bench/ does) and a 32-head x
   32768-key causal ALiBi decode softmax (4 MiB in place), each timed with pool=None (1 worker) and with
   ThreadPool(--threads) (the calling thread plus threads-1 helpers), alternately, --rounds times. The ratio is
   1-worker time / pooled time (2.00x = twice as fast); its spread over the rounds shows the machine's noise.
   CPU/wall below 1 for the 1-worker run means the machine took the core away (other load, a shared VM).
2. Many calls: a list of independent calls (chunks of a prefill), run serially and spread over a
   ThreadPoolExecutor.
CPU/wall is the process's CPU time over the wall time of the parallel run (up to the thread count; above 1 only
if work overlapped, which a call holding the GIL would prevent). On a busy machine read CPU/wall.
"""
import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import posenc


def timed(fn, repeat):
    """(median wall time, median process CPU time / wall time) of fn() over `repeat` runs, after a warm-up.
    CPU / wall above 1 means calls ran on several cores at once: they cannot while one holds the GIL."""
    fn()
    walls, usage = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
        walls.append(wall)
        usage.append((time.process_time() - c0) / wall)
    return sorted(walls)[len(walls) // 2], sorted(usage)[len(usage) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (the median counts)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating 1-worker / pooled measurements")
    parser.add_argument("--max-tasks", type=int, default=None, help="ThreadPool max_tasks (default: --threads)")
    parser.add_argument("--only", choices=("pool", "calls", "gil"), default=None)
    args = parser.parse_args()
    print("libposenc %s, variant %s, %d CPUs reported (%s), load average %s" % (
        posenc.version(), posenc.isa(), os.cpu_count(), cpu_model(), " ".join("%.1f" % v for v in os.getloadavg())))
    if args.only in (None, "pool"):
        bench_pool(args)
    if args.only in (None, "calls"):
        bench_calls(args)
    if args.only in (None, "gil"):
        bench_gil()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def bench_pool(args):
    """One call split into tasks by posenc.ThreadPool vs the same call on the calling thread alone."""
    rng = np.random.default_rng(0)
    plan = posenc.RopePlan(head_dim=128, base=500000.0, scaling="llama3", factor=8.0, original_max_position=8192)
    rope_buffers = [rng.uniform(-1, 1, (4096, 32, 128)).astype(np.float32) for _ in range(3)]
    scores = (rng.standard_normal((32, 1, 32768)) * 4).astype(np.float32)
    turn = [0]

    def rope(pool):
        x = rope_buffers[turn[0] % 3]
        turn[0] += 1
        plan.apply(x, start=0, out=x, pool=pool)

    def softmax(pool):
        posenc.softmax(scores, alibi=True, causal=True, scale=0.0884, out=scores, pool=pool)

    pool = posenc.ThreadPool(args.threads, max_tasks=args.max_tasks)
    print("\n1. one call, its tasks on posenc.ThreadPool(%d, max_tasks=%d) vs pool=None; median of %d runs, %d "
          "alternating rounds" % (pool.workers, pool.max_tasks, args.repeat, args.rounds))
    print("%-40s %10s %10s %8s %18s %14s" % ("workload", "1 worker", "%d workers" % pool.workers, "ratio",
                                               "ratio min..max", "CPU/wall 1, %d" % pool.workers))
    for name, call, repeat in (("rope 4096 tok x 32 heads x 128 (DRAM)", rope, args.repeat),
                               ("softmax 32 heads x 32768 keys (decode)", softmax, args.repeat * 10)):
        ones, pooled, one_usages, usages, ratios = [], [], [], [], []
        for _ in range(args.rounds):
            one, one_usage = timed(lambda: call(None), repeat)
            many, usage = timed(lambda: call(pool), repeat)
            ones.append(one)
            pooled.append(many)
            one_usages.append(one_usage)
            usages.append(usage)
            ratios.append(one / many)
        med = lambda v: sorted(v)[len(v) // 2]        # noqa: E731
        print("%-40s %7.3f ms %7.3f ms %7.2fx %9.2f..%.2fx %8.2f, %.2f" % (
            name, med(ones) * 1e3, med(pooled) * 1e3, med(ratios), min(ratios), max(ratios), med(one_usages),
            med(usages)))
    pool.close()


def bench_calls(args):
    """Independent calls from Python threads."""
    rng = np.random.default_rng(0)
    plan = posenc.RopePlan(head_dim=128, base=500000.0, scaling="llama3", factor=8.0, original_max_position=8192)
    # RoPE: 16 chunks of 256 tokens x 32 heads x 128 (4 MiB each), rotated in place.
    rope_chunks = [rng.uniform(-1, 1, (256, 32, 128)).astype(np.float32) for _ in range(16)]
    # Softmax: 16 chunks of 32 heads x 8 rows x 4096 keys, causal ALiBi (compute-bound).
    soft_chunks = [rng.standard_normal((32, 8, 4096)).astype(np.float32) for _ in range(16)]

    def rope_call(i):
        plan.apply(rope_chunks[i], start=256 * i, out=rope_chunks[i])

    def softmax_call(i):
        posenc.softmax(soft_chunks[i], alibi=True, causal=True, scale=0.0884, out=soft_chunks[i])

    pool = ThreadPoolExecutor(max_workers=args.threads)
    print("\n2. many calls from %d Python threads (a ThreadPoolExecutor), median of %d" % (args.threads, args.repeat))
    print("%-34s %10s %10s %8s %12s" % ("workload (16 calls)", "1 thread", "%d threads" % args.threads, "ratio",
                                         "CPU/wall"))
    for name, call in (("rope 256 tok x 32 heads x 128", rope_call), ("softmax 32 x 8 x 4096 causal ALiBi",
                                                                      softmax_call)):
        serial, _ = timed(lambda: [call(i) for i in range(16)], args.repeat)
        threaded, usage = timed(lambda: list(pool.map(call, range(16))), args.repeat)
        print("%-34s %8.2f ms %8.2f ms %7.2fx %11.2f" % (name, serial * 1e3, threaded * 1e3, serial / threaded,
                                                        usage))
    pool.shutdown()


def bench_gil():
    """A Python thread keeps running while one long call runs."""
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((32, 8, 4096)).astype(np.float32)

    def softmax_call(i):
        posenc.softmax(scores, alibi=True, causal=True, scale=0.0884, out=scores)

    # The GIL during one long call (the scalar variant, ~10-40x slower than SIMD): with the switch interval at
    # 10 s the main thread never hands the GIL over while it runs Python, so a second Python thread can only
    # run while a call has released it.
    calls_done = threading.Event()
    inside = threading.Event()
    iterations = [0]

    def count():
        while not calls_done.is_set():
            if inside.is_set():
                iterations[0] += 1
            time.sleep(0)

    old_interval = sys.getswitchinterval()
    before = posenc.isa()
    posenc.set_isa("scalar")
    sys.setswitchinterval(10.0)
    counter = threading.Thread(target=count)
    counter.start()
    try:
        inside.set()
        t0 = time.perf_counter()
        softmax_call(0)
        elapsed = time.perf_counter() - t0
        inside.clear()
    finally:
        calls_done.set()
        counter.join()
        sys.setswitchinterval(old_interval)
        posenc.set_isa(before)
    print("\n3. GIL: a Python thread ran %d loop iterations during one %.0f ms scalar softmax call "
          "(a call holding the GIL would leave it a few at most)" % (iterations[0], elapsed * 1e3))


if __name__ == "__main__":
    main()
