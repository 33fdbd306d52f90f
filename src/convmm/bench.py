"""Benchmarks: convmm against the alternatives, measured side by side in one process.

:func:`run` times each layer of a :func:`suite` with every candidate that applies to it
(:func:`candidates_for`, from :mod:`convmm._bench_candidates`): convmm's default plan and each
of its formulations forced, torch, onnxruntime, the bare GEMM of the same products and a naive
NumPy im2col.

Measurement: every round visits the candidates in turn (A B C A B C ...), and each candidate is
warmed up right before its timed sample, so that slow drifts of a shared machine hit all of them
alike; a sample repeats the call until it lasts at least ``min_sample_seconds``.  The record is
the median over rounds, with the fastest and slowest round as its spread.  The BLAS, torch,
onnxruntime and convmm's own threads are all set to the same count.  Peak extra memory is
measured once per NumPy candidate with tracemalloc (outside the timed samples).

This module owns the suite, the measuring and :func:`run`; the records it returns
(:class:`Layer`, :class:`Record`, :class:`Report`, from :mod:`convmm._bench_records`) are
re-exported here.  Printing, plotting and JSON are the command line's (``convmm bench``) and
:mod:`convmm._bench_report`'s.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np

from ._bench_candidates import Candidate, candidates_for
from ._bench_records import KINDS, Layer, Record, Report
from ._errors import ConvmmValueError
from ._workspace import num_threads, set_num_threads

__all__ = ["KINDS", "Layer", "Record", "Report", "candidates_for", "run", "suite"]


# ---- the suite ------------------------------------------------------------------------------


def _seed_layers() -> list[Layer]:
    from .examples import SEED_EXAMPLES

    layers = []
    for example in SEED_EXAMPLES:
        options = example.options
        layers.append(
            Layer(
                f"article-{example.name}",
                tuple(example.input.shape),
                tuple(example.weight.shape),
                stride=int(np.max(options.get("stride", 1))),
                padding=int(np.max(options.get("padding", 0))),
                dtype="float64",
            )
        )
    return layers


def suite(quick: bool = False) -> list[Layer]:
    """The default layers: the article's examples, ResNet-style and other layer kinds.

    ``quick`` keeps one layer of each family at batch 2 (about a minute in all).
    """
    n = 2 if quick else 8
    f = [
        Layer("resnet-56", (n, 64, 56, 56), (64, 64, 3, 3), padding=1),
        Layer("resnet-28", (n, 128, 28, 28), (128, 128, 3, 3), padding=1),
        Layer("resnet-14", (n, 256, 14, 14), (256, 256, 3, 3), padding=1),
        Layer("resnet-7", (n, 512, 7, 7), (512, 512, 3, 3), padding=1),
        Layer("1x1", (n, 64, 56, 56), (256, 64, 1, 1)),
        Layer("1x1-s2", (n, 256, 56, 56), (128, 256, 1, 1), stride=2),
        Layer("stem-7x7-s2", (n, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3),
        Layer("5x5", (n, 64, 28, 28), (64, 64, 5, 5), padding=2),
        Layer("depthwise-3x3", (n, 128, 56, 56), (128, 1, 3, 3), padding=1, groups=128),
        Layer("grouped-3x3-g8", (n, 128, 28, 28), (128, 16, 3, 3), padding=1, groups=8),
        Layer("dilated-3x3-d2", (n, 128, 28, 28), (128, 128, 3, 3), padding=2, dilation=2),
        Layer("1d-k9", (n, 64, 4096), (64, 64, 9), padding=4),
        Layer("3d-3x3x3", (max(1, n // 4), 32, 16, 16, 16), (32, 32, 3, 3, 3), padding=1),
        Layer("resnet-28-f64", (n, 128, 28, 28), (128, 128, 3, 3), padding=1, dtype="float64"),
        Layer("resnet-28-f16", (n, 128, 28, 28), (128, 128, 3, 3), padding=1, dtype="float16"),
        Layer("resnet-28-nhwc", (n, 128, 28, 28), (128, 128, 3, 3), padding=1, channels_last=True),
    ]
    backward = [
        replace(layer, name=layer.name + "-bwd", kind="backward")
        for layer in f
        if layer.name
        in {"resnet-56", "resnet-28", "resnet-14", "resnet-7", "1x1", "1x1-s2", "stem-7x7-s2"}
        | {"5x5", "depthwise-3x3"}
    ]
    transpose = [
        Layer(
            "up-4x4-s2", (n, 128, 28, 28), (128, 64, 4, 4), kind="transpose", stride=2, padding=1
        ),
        Layer("transpose-3x3", (n, 64, 28, 28), (64, 64, 3, 3), kind="transpose", padding=1),
    ]
    if quick:
        keep = {"resnet-28", "1x1", "stem-7x7-s2", "depthwise-3x3", "1d-k9", "3d-3x3x3"}
        f = [layer for layer in f if layer.name in keep]
        backward = [layer for layer in backward if layer.name in {"resnet-28-bwd"}]
        transpose = transpose[:1]
        return f + backward + transpose
    return _seed_layers() + f + backward + transpose


# ---- measuring ------------------------------------------------------------------------------


@contextmanager
def _threads(threads: int) -> Iterator[None]:
    """The BLAS (threadpoolctl), convmm and torch all at ``threads`` threads."""
    previous = set_num_threads(threads)
    limits = None
    torch_threads = None
    try:
        import torch

        torch_threads = torch.get_num_threads()
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        limits = threadpool_limits(limits=threads)
    except ImportError:
        pass
    try:
        yield
    finally:
        set_num_threads(previous)
        if limits is not None:
            limits.restore_original_limits()
        if torch_threads is not None:
            import torch

            torch.set_num_threads(torch_threads)


def _warm_up(call: Candidate, seconds: float) -> None:
    start = time.perf_counter()
    call()
    while time.perf_counter() - start < seconds:
        call()


def _sample(call: Candidate, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls


def _peak(call: Candidate) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - base
        del result
    finally:
        tracemalloc.stop()
    return int(peak)


def machine_info(threads: int) -> dict[str, Any]:
    """The CPU, core count, library versions and BLAS of this process."""
    info: dict[str, Any] = {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for p in threadpool_info()
            if p.get("user_api") == "blas"
        ]
    except ImportError:
        info["blas"] = "unknown (threadpoolctl is not installed)"
    for name in ("torch", "onnxruntime"):
        try:
            module = __import__(name)
            info[name] = module.__version__
        except ImportError:
            info[name] = None
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run(
    layers: Sequence[Layer] | None = None,
    *,
    rounds: int = 5,
    threads: int | None = None,
    quick: bool = False,
    only: Sequence[str] | None = None,
    min_sample_seconds: float = 0.02,
    warmup_seconds: float = 0.15,
    memory: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
) -> Report:
    """Measure every candidate on every layer; return the records.

    Parameters
    ----------
    layers : sequence of Layer, optional
        Default :func:`suite` (``quick`` picks the quick one).
    rounds : int
        Interleaved rounds; each record is the median over them.
    threads : int, optional
        Threads for every library (default: convmm's, the cores).
    only : sequence of str, optional
        Keep only the layers whose name contains one of these.
    min_sample_seconds : float
        A sample repeats a fast call until it lasts this long.
    warmup_seconds : float
        Each sample is preceded by calls of the same candidate for this long: long enough for
        the previous candidate's idle threads to stop spinning (OpenBLAS and OpenMP spin for
        about 0.1 s after a call, taking the cores from whoever runs next).
    memory : bool
        Measure each NumPy candidate's peak extra memory (tracemalloc, untimed).
    progress : callable, optional
        Called as ``progress(done, total, what)`` after every sample.

    Examples
    --------
    >>> from convmm import bench
    >>> layer = bench.Layer("tiny", (1, 2, 8, 8), (3, 2, 3, 3), padding=1)
    >>> report = bench.run(
    ...     [layer], rounds=1, min_sample_seconds=0, warmup_seconds=0, memory=False
    ... )
    >>> {r.candidate for r in report.records} >= {"convmm", "gemm", "naive"}
    True
    """
    if not isinstance(rounds, int) or rounds < 1:
        raise ConvmmValueError(f"convmm.bench.run: rounds must be a positive int; got {rounds!r}")
    threads = threads or num_threads()
    chosen = list(layers if layers is not None else suite(quick))
    if only:
        chosen = [layer for layer in chosen if any(name in layer.name for name in only)]
        if not chosen:
            raise ConvmmValueError(
                f"convmm.bench.run: no layer matches {list(only)!r}; the layers are "
                f"{', '.join(layer.name for layer in (layers or suite(quick)))}"
            )
    report = Report(
        machine_info(threads),
        {
            "rounds": rounds,
            "threads": threads,
            "min_sample_seconds": min_sample_seconds,
            "warmup_seconds": warmup_seconds,
        },
        chosen,
    )
    with _threads(threads):
        report.machine = machine_info(threads)
        plans = [(layer, candidates_for(layer, threads)) for layer in chosen]
        total = sum(len(c) for _, c in plans) * rounds
        done = 0
        for layer, candidates in plans:
            samples: dict[str, list[float]] = {name: [] for name in candidates}
            calls: dict[str, int] = {}
            first = _first_call(candidates["convmm"]) if "convmm" in candidates else None
            for name, call in candidates.items():  # calibrate: one call, then enough calls
                start = time.perf_counter()
                call()
                once = time.perf_counter() - start
                calls[name] = max(1, min(1000, math.ceil(min_sample_seconds / max(once, 1e-7))))
            for _ in range(rounds):
                for name, call in candidates.items():
                    _warm_up(call, warmup_seconds)  # right before the sample
                    samples[name].append(_sample(call, calls[name]))
                    done += 1
                    if progress is not None:
                        progress(done, total, f"{layer.name}: {name}")
            peaks = {}
            if memory:
                for name, call in candidates.items():
                    if name.startswith(("convmm", "naive")):
                        peaks[name] = _peak(call)
            report.records.extend(_records(layer, samples, calls, peaks, first))
    return report


def _first_call(call: Candidate) -> float:
    """The time of a call of a shape never seen: plans, caches and buffers made afresh."""
    from . import _geometry, _offset_steps, _plan, _planner, _workspace

    _workspace.clear_buffers()
    _geometry._GEOMETRIES.clear()
    for cached in (_plan._chunks, _planner._choose, _offset_steps._cached_steps):
        cached.cache_clear()
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _records(
    layer: Layer,
    samples: dict[str, list[float]],
    calls: dict[str, int],
    peaks: dict[str, int],
    first: float | None = None,
) -> list[Record]:
    medians = {name: float(np.median(times)) for name, times in samples.items()}
    torch_time, gemm_time = medians.get("torch"), medians.get("gemm")
    records = []
    for name, times in samples.items():
        median = medians[name]
        records.append(
            Record(
                layer=layer.name,
                kind=layer.kind,
                candidate=name,
                median=median,
                fastest=float(min(times)),
                slowest=float(max(times)),
                rounds=len(times),
                calls_per_sample=calls[name],
                gflops=layer.flops / median / 1e9 if median > 0 else 0.0,
                peak_bytes=peaks.get(name),
                ratio_torch=median / torch_time if torch_time else None,
                ratio_gemm=median / gemm_time if gemm_time else None,
                first_call=first if name == "convmm" else None,
            )
        )
    return records
