"""Workspace buffers reused across chunks and calls, and the small thread pool of the unfold.

Buffers.  A P chunk is sized to the caches (see ``_plan``), so one buffer per thread and purpose
serves every chunk of every call: :func:`buffer` hands out the thread's cached array when it is
large enough, and caches a new one only up to :data:`CACHED_BYTES`, and while the thread's
cached buffers hold at most :data:`CACHED_TOTAL_BYTES` (a larger buffer is allocated for the
call and freed after it).  :func:`clear_buffers` frees them.
The cache is thread-local, so concurrent calls from several threads never share a buffer.

Threads.  NumPy's copies and ufuncs release the GIL, so an unfold or a fold split along the
channels runs on every core while OpenBLAS's own threads are idle between products.
:func:`run_parallel` runs a list of independent tasks on a process-wide pool of
:func:`num_threads` workers (the calling thread takes a share), and returns when all are done.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from ._errors import ConvmmTypeError, ConvmmValueError

__all__ = [
    "CACHED_BYTES",
    "buffer",
    "clear_buffers",
    "num_threads",
    "run_parallel",
    "set_num_threads",
]

#: The most bytes one cached buffer may keep between calls (per thread and purpose), and the
#: most all of a thread's cached buffers may keep together.
CACHED_BYTES = 32 * 2**20
CACHED_TOTAL_BYTES = 64 * 2**20


class _Buffers(threading.local):
    def __init__(self) -> None:
        self.arrays: dict[tuple[str, str], np.ndarray] = {}


_BUFFERS = _Buffers()


def buffer(elements: int, dtype: np.dtype[Any], purpose: str) -> np.ndarray:
    """A 1-D array of at least ``elements`` of ``dtype``, reused by this thread for ``purpose``.

    Its contents are undefined.  Two buffers of different purposes never overlap, so a call may
    hold one of each at once.
    """
    key = (purpose, np.dtype(dtype).str)
    cached = _BUFFERS.arrays.get(key)
    if cached is not None and cached.size >= elements:
        return cached[:elements]
    array = np.empty(elements, dtype=dtype)
    if cached is not None:  # replaced by the larger one, or dropped
        del _BUFFERS.arrays[key]
    held = sum(a.nbytes for a in _BUFFERS.arrays.values())
    if array.nbytes <= CACHED_BYTES and held + array.nbytes <= CACHED_TOTAL_BYTES:
        _BUFFERS.arrays[key] = array
    return array


def clear_buffers() -> None:
    """Drop this thread's cached buffers (the next call allocates afresh)."""
    _BUFFERS.arrays.clear()


def _default_threads() -> int:
    value = os.environ.get("CONVMM_NUM_THREADS")
    if value and value.isdigit() and int(value) >= 1:
        return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


_THREADS = _default_threads()
_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_LOCK = threading.Lock()


def num_threads() -> int:
    """The threads convmm's own unfold and fold use (``CONVMM_NUM_THREADS``, else the cores)."""
    return _THREADS


def set_num_threads(threads: int) -> int:
    """Use ``threads`` threads for the unfold and fold from now on; returns the previous count."""
    global _THREADS
    if not isinstance(threads, int) or isinstance(threads, bool):
        raise ConvmmTypeError(f"set_num_threads: threads must be a positive int; got {threads!r}")
    if threads < 1:
        raise ConvmmValueError(f"set_num_threads: threads must be a positive int; got {threads}")
    previous, _THREADS = _THREADS, threads
    return previous


def _pool(workers: int) -> ThreadPoolExecutor:
    """The pool, grown to ``workers`` threads if needed.  Call with ``_LOCK`` held: a pool
    being replaced is shut down only after every submission to it (made under the lock), and
    its queued tasks still run."""
    global _POOL, _POOL_SIZE
    if _POOL is None or workers > _POOL_SIZE:
        if _POOL is not None:
            _POOL.shutdown(wait=False)
        _POOL, _POOL_SIZE = ThreadPoolExecutor(workers, thread_name_prefix="convmm"), workers
    return _POOL


def run_parallel(tasks: Sequence[Callable[[], None]]) -> None:
    """Run independent ``tasks`` on the pool and the calling thread; re-raise the first error."""
    if len(tasks) <= 1:
        for task in tasks:
            task()
        return
    with _LOCK:  # submit under the lock: no other call can shut this pool down meanwhile
        pool = _pool(len(tasks) - 1)
        futures: list[Future[None]] = [pool.submit(task) for task in tasks[1:]]
    try:
        tasks[0]()
    finally:
        for future in futures:
            future.result()
