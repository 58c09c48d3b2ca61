"""bench_threads.py - posenc calls from 1 vs N Python threads: ctypes releases the GIL, so the work runs in parallel.

Usage: python bench_threads.py [--threads 2] [--repeat 5]
(from the source tree: PYTHONPATH=python POSENC_LIBRARY=build/libposenc.so python python/examples/bench_threads.py)

Each workload is a list of independent calls (chunks of a prefill); it is timed run serially on one thread and
spread over a ThreadPoolExecutor. The printed ratio is serial time / threaded time (2.00x = twice as fast);
CPU/wall is the process's CPU time over the wall time of the threaded run (up to the thread count; above 1
only if calls overlapped, which a call holding the GIL would prevent). On a busy machine read CPU/wall.
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
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

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
    print("libposenc %s, variant %s, %d CPUs reported, %d threads, median of %d" % (
        posenc.version(), posenc.isa(), os.cpu_count(), args.threads, args.repeat))
    print("%-34s %10s %10s %8s %12s" % ("workload (16 calls)", "1 thread", "%d threads" % args.threads, "ratio",
                                         "CPU/wall"))
    for name, call in (("rope 256 tok x 32 heads x 128", rope_call), ("softmax 32 x 8 x 4096 causal ALiBi",
                                                                      softmax_call)):
        serial, _ = timed(lambda: [call(i) for i in range(16)], args.repeat)
        threaded, usage = timed(lambda: list(pool.map(call, range(16))), args.repeat)
        print("%-34s %8.2f ms %8.2f ms %7.2fx %11.2f" % (name, serial * 1e3, threaded * 1e3, serial / threaded,
                                                        usage))
    pool.shutdown()

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
    print("GIL: a Python thread ran %d loop iterations during one %.0f ms scalar softmax call "
          "(a call holding the GIL would leave it a few at most)" % (iterations[0], elapsed * 1e3))


if __name__ == "__main__":
    main()
