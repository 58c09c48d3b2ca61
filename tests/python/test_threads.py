"""test_threads.py - calls from a ThreadPoolExecutor (ctypes releases the GIL) give the serial results, bit for bit."""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import posenc
from conftest import supported_variants


def rand(rng, *shape):
    return rng.uniform(-1, 1, shape).astype(np.float32)


def test_rope_and_softmax_from_threads_match_serial(rng):
    plan = posenc.RopePlan(head_dim=128, scaling="yarn", factor=4.0, original_max_position=32768, base=1e6)
    xs = [rand(rng, 48, 8, 128) for _ in range(12)]
    scores = [(rng.standard_normal((8, 4, 700)) * 6).astype(np.float32) for _ in range(12)]
    serial_rope = [plan.apply(x, start=1000 * i) for i, x in enumerate(xs)]
    serial_softmax = [posenc.softmax(s, alibi=True, causal=True, scale=0.088) for s in scores]

    def work(i):
        y = plan.apply(xs[i], start=1000 * i)
        q, k = xs[i].copy(), xs[i][:, :2].copy()
        plan.apply_qk(q, k, start=1000 * i)
        p = posenc.softmax(scores[i], alibi=True, causal=True, scale=0.088)
        return y, q, k, p

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(12)))
    for i, (y, q, k, p) in enumerate(results):
        assert np.array_equal(y, serial_rope[i])
        assert np.array_equal(q, serial_rope[i])
        assert np.array_equal(k, serial_rope[i][:, :2])
        assert np.array_equal(p, serial_softmax[i])


def test_plans_created_and_used_concurrently(rng):
    configs = [dict(head_dim=64, scaling="llama3", factor=8.0, original_max_position=8192),
               dict(head_dim=96, scaling="longrope", factor=32.0, original_max_position=4096,
                    short_factors=np.linspace(1, 3, 48), use_long_factors=0),
               dict(head_dim=128, axes="mrope", sections=[16, 24, 24])]
    expected = [posenc.RopePlan(**c).frequencies.copy() for c in configs]

    def build(i):
        plan = posenc.RopePlan(**configs[i % 3])
        freqs = plan.frequencies.copy()
        plan.close()
        return freqs

    with ThreadPoolExecutor(max_workers=4) as pool:
        for i, freqs in enumerate(pool.map(build, range(30))):
            assert np.array_equal(freqs, expected[i % 3])


def test_switching_variants_while_threads_compute(rng):
    """posenc.set_isa is an atomic swap: calls running on any variant give the same bits."""
    plan = posenc.RopePlan(head_dim=64, pairing="interleaved")
    xs = [rand(rng, 32, 4, 64) for _ in range(16)]
    serial = [plan.apply(x, positions=np.arange(32) * (i + 1)).tobytes() for i, x in enumerate(xs)]
    variants = supported_variants()
    stop = threading.Event()

    def flip():
        i = 0
        while not stop.is_set():
            posenc.set_isa(variants[i % len(variants)])
            i += 1

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            got = list(pool.map(lambda i: plan.apply(xs[i], positions=np.arange(32) * (i + 1)).tobytes(),
                                list(range(16)) * 4))
    finally:
        stop.set()
        flipper.join()
    assert got == serial * 4
