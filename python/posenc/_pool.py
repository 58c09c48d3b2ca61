"""posenc._pool - the caller's thread pool: posenc_parallel.parallel_for over a concurrent.futures executor."""

import concurrent.futures
import ctypes
import itertools
import operator
import os
import threading

from . import _lib

__all__ = ["ThreadPool", "parallel_hook"]

# posenc_task_fn and posenc_parallel.parallel_for as ctypes types. Calling a CFUNCTYPE function pointer releases
# the GIL for the duration of the call, so the library's tasks run on several threads at once.
_TaskFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t)
_ParallelFor = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p)


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class ThreadPool:
    """The caller's thread pool for libposenc calls (posenc_parallel), over concurrent.futures threads.

    Pass it as ``pool=`` to RopePlan.apply / apply_qk / shift / apply_tables, posenc.softmax,
    softmax_backward, softmax_merge and softmax_merge_concat: the library splits the call into at most
    ``max_tasks`` independent tasks (small work stays on the calling thread) and this pool runs them, the calling
    thread taking its share, on up to ``workers`` threads in all. The tasks are C functions called through ctypes,
    which releases the GIL, so they run on several cores at once; results are bit-identical to a call without a
    pool.

    workers: threads working on one call, the calling thread included (default: the CPUs this process may run
    on, or the executor's max_workers when one is given). 1 runs everything on the calling thread.
    executor: a concurrent.futures.Executor whose threads do the helping (yours, shared with other work; it is
    never shut down by this pool). Default: a ThreadPoolExecutor of workers - 1 threads owned by this pool,
    started on first use. A ProcessPoolExecutor cannot run C function pointers and is refused.
    max_tasks: the most tasks worth making per call (posenc_parallel.max_tasks; default workers). Tasks are
    claimed dynamically, so more tasks than workers can balance threads that a busy machine slows down.

    One pool serves any number of concurrent calls from any threads, and calls made from inside its own
    executor's threads (helpers a busy executor cannot start are withdrawn and the caller runs their tasks).
    ``pool.parallel_for(n_tasks, fn, task_arg)`` is the hook itself, callable from Python too.
    """

    def __init__(self, workers=None, executor=None, max_tasks=None):
        if executor is not None:
            if isinstance(executor, concurrent.futures.ProcessPoolExecutor):
                raise TypeError("a ProcessPoolExecutor cannot run the library's tasks (C function pointers into "
                                "this process): use threads (concurrent.futures.ThreadPoolExecutor)")
            if not isinstance(executor, concurrent.futures.Executor):
                raise TypeError("executor must be a concurrent.futures.Executor, not %s" % type(executor).__name__)
            if workers is None:
                workers = getattr(executor, "_max_workers", None) or _cpus()
        elif workers is None:
            workers = _cpus()
        workers = self._count(workers, "workers")
        max_tasks = workers if max_tasks is None else self._count(max_tasks, "max_tasks")
        self._workers = workers
        self._max_tasks = max_tasks
        self._executor = executor
        self._owned = executor is None
        self._closed = False
        self._lock = threading.Lock()

    @staticmethod
    def _count(value, name):
        if isinstance(value, bool):
            raise TypeError("%s must be an int, not %r" % (name, value))
        try:
            value = operator.index(value)
        except TypeError:
            raise TypeError("%s must be an int, not %r" % (name, value)) from None
        if value < 1:
            raise ValueError("%s must be >= 1, not %d" % (name, value))
        return value

    @property
    def workers(self):
        """Threads working on one call, the calling thread included."""
        return self._workers

    @property
    def max_tasks(self):
        """The most tasks the library makes of one call (posenc_parallel.max_tasks)."""
        return self._max_tasks

    @property
    def executor(self):
        """The concurrent.futures.Executor running the helpers (None until an owned one is first needed)."""
        return self._executor

    def _helpers(self):
        """The executor to submit helpers to, starting an owned one on first use."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this ThreadPool has been closed")
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=max(self._workers - 1, 1),
                                                                       thread_name_prefix="posenc-pool")
            return self._executor

    def close(self, wait=True):
        """Shut down the pool's own executor (not one you passed in). Later calls with this pool raise
        RuntimeError. Also done by ``with ThreadPool(...) as pool:``."""
        with self._lock:
            self._closed = True
            executor = self._executor if self._owned else None
        if executor is not None:
            executor.shutdown(wait=wait)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "ThreadPool(workers=%d, max_tasks=%d%s%s)" % (
            self._workers, self._max_tasks, "" if self._owned else ", executor=%r" % (self._executor,),
            ", closed" if self._closed else "")

    def parallel_for(self, n_tasks, fn, task_arg=None):
        """Run fn(task_arg, i) exactly once for every i in range(n_tasks) and return when all have finished:
        the calling thread and up to workers - 1 helpers on the executor claim indices until none is left.
        An exception from fn (or from the executor, e.g. a shut-down one) does not stop the other tasks: every
        task still runs, and the first exception is raised once all have finished. A KeyboardInterrupt while
        waiting is held back the same way, so the function never returns while a task still runs."""
        n = operator.index(n_tasks)
        if n <= 0:
            return
        errors = []
        done = bytearray(n)
        claim = itertools.count().__next__

        def run(i):
            try:
                fn(task_arg, i)
            except BaseException as exc:   # noqa: B036 - recorded, raised after every task ran
                errors.append(exc)
            finally:
                done[i] = 1

        def runner():
            while True:
                i = claim()
                if i >= n:
                    return
                run(i)

        helpers = []
        try:
            if min(n, self._workers) > 1:
                executor = self._helpers()
                for _ in range(min(n, self._workers) - 1):
                    helpers.append(executor.submit(runner))
        except BaseException as exc:      # noqa: B036 - the calling thread runs what no helper took
            errors.append(exc)
        try:
            runner()
        except BaseException as exc:      # noqa: B036 - e.g. KeyboardInterrupt: finish below, raise after
            errors.append(exc)
        # Helpers that have not started are not needed any more (and may never start: a busy executor, or a
        # call from inside one of its own threads). Wait for the others: none may run after this returns.
        # (Future.exception() waits for one future at a fraction of concurrent.futures.wait's cost.)
        pending, withdrawn = helpers, False
        while pending:
            try:
                if not withdrawn:
                    pending = [f for f in pending if not f.cancel()]
                    withdrawn = True
                for f in pending:
                    f.exception()
                pending = []
            except BaseException as exc:  # noqa: B036
                errors.append(exc)
                pending = [f for f in pending if not f.done()]
        # A task the calling thread claimed but an exception cut short before it started (never one a helper
        # claimed: helpers finish every task they take).
        i = 0
        while i < n:
            try:
                while i < n:
                    if not done[i]:
                        run(i)
                    i += 1
            except BaseException as exc:  # noqa: B036
                errors.append(exc)
        if errors:
            raise errors[0]


def as_pool(pool):
    """A ThreadPool for the pool= argument: a ThreadPool, a concurrent.futures.Executor (wrapped), or None."""
    if pool is None or isinstance(pool, ThreadPool):
        return pool
    if isinstance(pool, concurrent.futures.Executor):
        return ThreadPool(executor=pool)
    raise TypeError("pool must be a posenc.ThreadPool or a concurrent.futures.Executor, not %s"
                    % type(pool).__name__)


# ---- the C side: one trampoline for every pool -----------------------------------------------------------------
# posenc_parallel.pool carries a key into _calls: the pool and the exception list of one library call. The
# trampoline never lets an exception escape into C; the call's hook raises it once the library has returned.
_calls = {}
_next_key = itertools.count(1).__next__


def _parallel_for(key, n_tasks, fn, task_arg):
    call = _calls.get(key)
    try:
        task = _TaskFn(fn)
        if call is None:       # not a key of ours: still honour the contract
            for i in range(n_tasks):
                task(task_arg, i)
            return
        call.pool.parallel_for(n_tasks, task, task_arg)
    except BaseException as exc:  # noqa: B036 - never into C
        if call is not None:
            call.errors.append(exc)


_TRAMPOLINE = _ParallelFor(_parallel_for)          # alive as long as the module
_TRAMPOLINE_ADDRESS = ctypes.cast(_TRAMPOLINE, ctypes.c_void_p).value


class parallel_hook:
    """``with parallel_hook(pool) as address:`` around one library call: address is that of a posenc_parallel
    for `pool` (None when pool is None, for the descriptor's NULL default). On leaving, the first exception the
    pool met during the call is raised."""

    __slots__ = ("pool", "errors", "key", "struct")

    def __init__(self, pool):
        self.pool = as_pool(pool)
        self.errors = []
        self.key = None
        self.struct = None

    def __enter__(self):
        if self.pool is None:
            return None
        if self.pool._closed:
            raise RuntimeError("this ThreadPool has been closed")
        self.key = _next_key()
        self.struct = _lib.ParallelHook(_TRAMPOLINE_ADDRESS, self.key, self.pool.max_tasks)
        _calls[self.key] = self
        return ctypes.addressof(self.struct)

    def __exit__(self, exc_type, exc, tb):
        if self.key is not None:
            _calls.pop(self.key, None)
        if self.errors:
            raise self.errors[0]
        return False
