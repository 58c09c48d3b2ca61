"""test_pool.py - posenc.ThreadPool: every task once, the serial bits with a pool, exceptions held back, shared pools."""
import ctypes
import signal
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import posenc
from posenc import _pool

WATCHDOG = 120   # seconds: a deadlock fails the test instead of hanging the suite


def rand(rng, *shape):
    return rng.uniform(-1, 1, shape).astype(np.float32)


def in_thread(fn):
    """Run fn() on a thread; fail (instead of hanging) if it does not finish in WATCHDOG seconds."""
    result, error = [], []

    def body():
        try:
            result.append(fn())
        except BaseException as exc:  # noqa: B036
            error.append(exc)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(WATCHDOG)
    assert not t.is_alive(), "deadlock: the call did not return"
    if error:
        raise error[0]
    return result[0]


class CountingPool(posenc.ThreadPool):
    """Records every batch the library hands over and which task indices ran, on which thread."""

    def __init__(self, *args, fail_after=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches = []
        self.fail_after = fail_after      # raise ValueError after running this task index
        self._lock = threading.Lock()

    def parallel_for(self, n_tasks, fn, task_arg=None):
        ran = []
        with self._lock:
            self.batches.append((n_tasks, ran))

        def counted(arg, i):
            fn(arg, i)                       # the library's C task (ctypes releases the GIL)
            ran.append((i, threading.get_ident()))
            if i == self.fail_after:
                raise ValueError("task %d failed on purpose" % i)

        super().parallel_for(n_tasks, counted, task_arg)

    def check_every_task_once(self, min_batches=1):
        assert len(self.batches) >= min_batches
        for n_tasks, ran in self.batches:
            assert 1 < n_tasks <= self.max_tasks
            assert sorted(i for i, _ in ran) == list(range(n_tasks))


# ---- parallel_for itself ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("workers", [1, 2, 3, 8])
@pytest.mark.parametrize("n_tasks", [0, 1, 2, 5, 64, 1000])
def test_parallel_for_runs_every_index_once_before_returning(workers, n_tasks):
    ran = []
    with posenc.ThreadPool(workers) as pool:
        pool.parallel_for(n_tasks, lambda arg, i: ran.append((arg, i)), "arg")
        seen = list(ran)
    assert sorted(i for _, i in seen) == list(range(n_tasks))
    assert all(arg == "arg" for arg, _ in seen)
    assert len(ran) == n_tasks    # nothing ran after parallel_for returned


def test_parallel_for_uses_helper_threads():
    """Tasks 0 and 1 meet at a barrier: the call returns only if two threads ran tasks at the same time."""
    barrier = threading.Barrier(2, timeout=WATCHDOG)
    threads = set()

    def task(arg, i):
        threads.add(threading.get_ident())
        barrier.wait()

    with posenc.ThreadPool(2) as pool:
        in_thread(lambda: pool.parallel_for(2, task))
    assert len(threads) == 2


def test_parallel_for_runs_every_task_when_some_raise():
    ran = []

    def task(arg, i):
        ran.append(i)
        if i % 7 == 3:
            raise KeyError(i)
        if i == 50:
            raise KeyboardInterrupt   # a BaseException is held back too

    with posenc.ThreadPool(3) as pool:
        with pytest.raises((KeyError, KeyboardInterrupt)):
            pool.parallel_for(100, task)
        assert sorted(ran) == list(range(100))
        ran.clear()
        pool.parallel_for(10, lambda arg, i: ran.append(i))   # still usable
        assert sorted(ran) == list(range(10))


def test_ctrl_c_while_waiting_is_raised_after_every_task_finished():
    """SIGALRM's handler raises KeyboardInterrupt in the calling thread while a helper still runs a task: the
    pool keeps waiting, and raises it once the helper's task is done."""
    main = threading.get_ident()
    helper_started, release, helper_done = threading.Event(), threading.Event(), threading.Event()
    ran = []

    def task(arg, i):
        ran.append(i)
        if threading.get_ident() == main:
            helper_started.wait(WATCHDOG)     # the helper holds the other task now
            timer = threading.Timer(0.3, release.set)
            timer.daemon = True
            timer.start()
            signal.setitimer(signal.ITIMER_REAL, 0.05)
        else:
            helper_started.set()
            release.wait(WATCHDOG)
            helper_done.set()

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        with posenc.ThreadPool(2) as pool:
            with pytest.raises(KeyboardInterrupt):
                pool.parallel_for(2, task)
            assert helper_done.is_set()        # raised only after the helper's task had finished
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert sorted(ran) == [0, 1]


def test_a_shut_down_executor_leaves_the_work_to_the_calling_thread():
    ex = ThreadPoolExecutor(2)
    ex.shutdown()
    pool = posenc.ThreadPool(executor=ex, workers=3)
    ran = []
    with pytest.raises(RuntimeError):
        pool.parallel_for(20, lambda arg, i: ran.append((i, threading.get_ident())))
    assert sorted(i for i, _ in ran) == list(range(20))
    assert {t for _, t in ran} == {threading.get_ident()}


def test_nested_calls_from_the_pools_own_threads_do_not_deadlock(rng):
    """Tasks of the pool call the library with the same pool, one of them on the pool's only helper thread: the
    helper that call asks for cannot start while that thread is busy, so the caller withdraws it and runs every
    task itself."""
    plan = posenc.RopePlan(head_dim=128)
    xs = [rand(rng, 256, 8, 128) for _ in range(2)]
    expected = [plan.apply(x, start=7) for x in xs]
    got = [None, None]
    with CountingPool(2) as pool:
        def task(arg, i):
            got[i] = plan.apply(xs[i], start=7, pool=pool)

        in_thread(lambda: pool.parallel_for(2, task))
    assert all(np.array_equal(g, e) for g, e in zip(got, expected))
    pool.check_every_task_once(min_batches=2)


def test_pool_arguments_are_checked():
    with pytest.raises(ValueError):
        posenc.ThreadPool(0)
    with pytest.raises(TypeError):
        posenc.ThreadPool(2.0)
    with pytest.raises(TypeError):
        posenc.ThreadPool(True)
    with pytest.raises(ValueError):
        posenc.ThreadPool(2, max_tasks=0)
    with pytest.raises(TypeError):
        posenc.ThreadPool(executor=object())
    with ProcessPoolExecutor(1) as ex:
        with pytest.raises(TypeError, match="ProcessPoolExecutor"):
            posenc.ThreadPool(executor=ex)
    with ThreadPoolExecutor(5) as ex:
        pool = posenc.ThreadPool(executor=ex)
        assert (pool.workers, pool.max_tasks, pool.executor) == (5, 5, ex)
        pool.close()                    # a borrowed executor is not shut down
        ex.submit(int).result()
    assert posenc.ThreadPool(3, max_tasks=12).max_tasks == 12
    with pytest.raises(TypeError, match="pool must be"):
        posenc.softmax(np.zeros((2, 3), np.float32), pool="threads")


def test_the_trampoline_keeps_the_c_contract_for_an_unknown_key():
    """parallel_for called from C with a pool pointer that is no call of ours still runs every task."""
    ran = []
    task = _pool._TaskFn(lambda arg, i: ran.append(i))
    _pool._TRAMPOLINE(987654321, 5, ctypes.cast(task, ctypes.c_void_p).value, None)
    assert sorted(ran) == list(range(5))


# ---- library calls with a pool ----------------------------------------------------------------------------------
def rope_cases(rng):
    plan = posenc.RopePlan(head_dim=128, scaling="llama3", factor=8.0, original_max_position=8192, base=5e5)
    x = rand(rng, 300, 8, 128)
    k = rand(rng, 300, 2, 128)
    positions = rng.integers(0, 100000, 300)
    cos = rand(rng, 300, 64)
    sin = rand(rng, 300, 64)

    def apply(pool):
        return plan.apply(x, positions=positions, pool=pool)

    def apply_strided_f16(pool):
        out = np.zeros((300, 8, 256), np.float16)[:, :, 64:192]
        plan.apply(x, start=1000, out=out, pool=pool)
        return out

    def apply_qk(pool):
        q2, k2 = x.copy(), k.copy()
        plan.apply_qk(q2, k2, start=123, inverse=True, pool=pool)
        return np.concatenate([q2.ravel(), k2.ravel()])

    def shift(pool):
        return plan.shift(x.copy(), -4096, pool=pool)

    def tables(pool):
        return plan.apply_tables(x, cos, sin, pool=pool)

    return [apply, apply_strided_f16, apply_qk, shift, tables]


def softmax_cases(rng):
    scores = (rng.standard_normal((8, 6, 4096)) * 4).astype(np.float32)
    y = posenc.softmax(scores, alibi=True, causal=True)
    dy = rand(rng, 8, 6, 4096)
    blocks = rand(rng, 3, 8, 6, 4096)
    stats = np.stack([posenc.softmax(scores, causal=True, stats=True, k_start=1000 * b)[1] for b in range(3)])
    mask = rand(rng, 6, 4096)

    def forward(pool):
        return posenc.softmax(scores, alibi=True, causal=True, mask=mask, sinks=np.ones(8), pool=pool)

    def forward_stats(pool):
        y2, s = posenc.softmax(scores, symmetric=True, alibi=True, stats=True, scale=0.1, pool=pool)
        return np.concatenate([y2.ravel(), s.ravel()])

    def backward(pool):
        return posenc.softmax_backward(y, dy, scale=0.125, pool=pool)

    def merge(pool):
        return posenc.softmax_merge(stats, blocks, sinks=np.zeros(8), pool=pool)

    def merge_concat(pool):
        return posenc.softmax_merge_concat(stats, [b[..., :1500] for b in blocks], pool=pool)

    return [forward, forward_stats, backward, merge, merge_concat]


@pytest.mark.parametrize("cases", [rope_cases, softmax_cases])
@pytest.mark.parametrize("workers,max_tasks", [(2, None), (3, 7), (4, 64)])
def test_results_identical_with_and_without_a_pool(rng, cases, workers, max_tasks):
    for case in cases(rng):
        expected = case(None).tobytes()
        with CountingPool(workers, max_tasks=max_tasks) as pool:
            got = case(pool).tobytes()
        assert got == expected, case.__name__
        pool.check_every_task_once()


def test_an_executor_passed_as_pool(rng):
    plan = posenc.RopePlan(head_dim=64)
    x = rand(rng, 512, 8, 64)
    expected = plan.apply(x, start=3).tobytes()
    with ThreadPoolExecutor(3) as ex:
        assert plan.apply(x, start=3, pool=ex).tobytes() == expected
        assert plan.apply(x, start=3, pool=posenc.ThreadPool(executor=ex, max_tasks=9)).tobytes() == expected


def test_an_exception_in_a_task_is_raised_after_the_call_and_every_task_ran(rng):
    plan = posenc.RopePlan(head_dim=128)
    x = rand(rng, 256, 8, 128)
    expected = plan.apply(x, start=11)
    out = np.zeros_like(x)
    with CountingPool(4, fail_after=1) as pool:
        with pytest.raises(ValueError, match="task 1 failed on purpose"):
            plan.apply(x, start=11, out=out, pool=pool)
        pool.check_every_task_once()
        assert np.array_equal(out, expected)        # every task ran, exactly once
        scores = (rng.standard_normal((8, 8, 4096))).astype(np.float32)
        with pytest.raises(ValueError, match="failed on purpose"):
            posenc.softmax(scores, pool=pool)
        pool.fail_after = None
        assert np.array_equal(posenc.softmax(scores, pool=pool), posenc.softmax(scores))


def test_a_shut_down_executor_still_gives_the_result_and_raises(rng):
    plan = posenc.RopePlan(head_dim=128)
    x = rand(rng, 256, 8, 128)
    ex = ThreadPoolExecutor(2)
    ex.shutdown()
    out = np.zeros_like(x)
    with pytest.raises(RuntimeError):
        plan.apply(x, start=5, out=out, pool=posenc.ThreadPool(executor=ex, workers=4))
    assert np.array_equal(out, plan.apply(x, start=5))


def test_a_closed_pool_is_refused_before_the_call(rng):
    plan = posenc.RopePlan(head_dim=64)
    x = rand(rng, 64, 4, 64)
    pool = posenc.ThreadPool(2)
    pool.close()
    before = x.copy()
    with pytest.raises(RuntimeError, match="closed"):
        plan.apply(x, out=x, pool=pool)
    assert np.array_equal(x, before)
    with pytest.raises(RuntimeError, match="closed"):
        plan.shift(x, 5, pool=pool)
    assert np.array_equal(x, before)


def test_small_work_stays_on_the_calling_thread(rng):
    with CountingPool(4) as pool:
        posenc.RopePlan(head_dim=64).apply(rand(rng, 2, 4, 64), pool=pool)
        posenc.softmax(rand(rng, 2, 3, 100), pool=pool)
        with CountingPool(1) as one:
            posenc.softmax(rand(rng, 8, 64, 4096), pool=one)
            assert one.batches == []
    assert pool.batches == []


def test_the_0_1_calls_have_no_pool(rng, api):
    plan = posenc.RopePlan(head_dim=64)
    x = rand(rng, 64, 4, 64)
    with posenc.ThreadPool(2) as pool:
        if api == "0.1":
            for call in (lambda: plan.apply(x, pool=pool), lambda: plan.apply_qk(x.copy(), x.copy(), pool=pool),
                         lambda: plan.shift(x.copy(), 3, pool=pool),
                         lambda: plan.apply_tables(x, np.ones((64, 32), np.float32), np.zeros((64, 32), np.float32),
                                                   pool=pool)):
                with pytest.raises(NotImplementedError):
                    call()
        else:
            plan.apply(x, pool=pool)
        # the softmax's 0.1 entry point reads the same descriptor: the pool works through both
        s = rand(rng, 4, 16, 4096)
        assert np.array_equal(posenc.softmax(s, pool=pool), posenc.softmax(s))


def test_many_calls_from_several_threads_share_one_pool(rng):
    plan = posenc.RopePlan(head_dim=128, scaling="yarn", factor=4.0, original_max_position=4096)
    xs = [rand(rng, 128, 8, 128) for _ in range(6)]
    scores = [(rng.standard_normal((4, 8, 4096)) * 3).astype(np.float32) for _ in range(6)]
    expected = [(plan.apply(x, start=100 * i).tobytes(), posenc.softmax(s, alibi=True, causal=True).tobytes())
                for i, (x, s) in enumerate(zip(xs, scores))]
    with CountingPool(3, max_tasks=5) as pool:
        def caller(i):
            out = []
            for _ in range(15):
                out.append((plan.apply(xs[i], start=100 * i, pool=pool).tobytes(),
                            posenc.softmax(scores[i], alibi=True, causal=True, pool=pool).tobytes()))
            return out

        with ThreadPoolExecutor(6) as callers:
            results = in_thread(lambda: list(callers.map(caller, range(6))))
        for i, calls in enumerate(results):
            assert calls == [expected[i]] * 15
        pool.check_every_task_once(min_batches=6 * 15 * 2)
