"""An out-of-core job: a Zarr image stack, larger than the workers' memory, through a filter bank.

The stack ``(N, 1, H, W)`` of float32 images is written to Zarr chunk by chunk (on the workers,
never whole in any process), convolved lazily by :func:`convmm.conv` with a bank of four 4x4
filters at stride 2 (an output the input's size: four half-resolution maps per image), and the
result is written back to Zarr.  Each block's workspace is bounded by ``max_workspace_bytes``,
each image is chunked in space too (so blocks read a halo across chunk borders), and sampled
images are checked against the in-memory result.  Used by ``examples/zarr_out_of_core.py``,
by ``convmm bench --dask`` and by the test suite (with a smaller stack).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["JobResult", "filter_bank", "run_job"]

#: Each block's bound on convmm's workspace (well under a worker's memory).
BLOCK_WORKSPACE = 16 * 2**20


def filter_bank() -> np.ndarray:
    """Four 4x4 filters ``(4, 1, 4, 4)``: a smoothing one and three edge ones (H, W, diagonal)."""
    smooth = np.array([1.0, 3.0, 3.0, 1.0]) / 8.0
    edge = np.array([-1.0, -1.0, 1.0, 1.0]) / 4.0
    pairs = [(smooth, smooth), (edge, smooth), (smooth, edge), (edge, edge)]
    return np.stack([np.outer(a, b) for a, b in pairs])[:, np.newaxis].astype(np.float32)


@dataclass(frozen=True)
class JobResult:
    """What one run measured: sizes, seconds, throughput, the cluster's peak memory, checks."""

    input_bytes: int
    output_bytes: int
    workers: int
    memory_limit: int
    write_seconds: float
    conv_seconds: float
    peak_cluster_bytes: int
    workers_restarted: int
    checked_images: int
    max_abs_error: float

    @property
    def throughput(self) -> float:
        """Input bytes convolved per second (MB/s with ``1e6``)."""
        return self.input_bytes / self.conv_seconds


def _shape_for(input_bytes: int, side: int) -> tuple[int, int, int, int]:
    images = max(1, math.ceil(input_bytes / (side * side * 4)))
    return images, 1, side, side


def run_job(
    path: str | Path,
    *,
    input_bytes: int,
    workers: int = 2,
    memory_limit: int = 512 * 2**20,
    side: int = 512,
    images_per_chunk: int = 8,
    checks: int = 3,
    progress: bool = False,
    client: Any = None,
    timeout: float | None = None,
) -> JobResult:
    """Write a random stack of ``input_bytes`` to Zarr under ``path``, convolve it with
    :func:`filter_bank` at stride 2 on a ``LocalCluster`` of ``workers`` processes limited to
    ``memory_limit`` bytes each, write the result to Zarr, and check ``checks`` images.

    ``timeout``: the most seconds the convolution may take (None: no limit).  Raises
    ``RuntimeError`` when a checked image differs from the in-memory result (beyond
    float32 rounding) or a worker was restarted (killed for memory) during the run.
    """
    import dask.array as da
    from distributed import Client, LocalCluster
    from distributed.diagnostics.memory_sampler import MemorySampler

    root = Path(path)
    source, target = str(root / "input.zarr"), str(root / "output.zarr")
    shape = _shape_for(input_bytes, side)
    chunks = (images_per_chunk, 1, side // 2, side // 2)
    bank = filter_bank()
    options = {"stride": 2, "padding": 1, "max_workspace_bytes": BLOCK_WORKSPACE}
    own = client is None
    cluster = None
    if own:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=None,
        )
        client = Client(cluster)
    try:
        client.wait_for_workers(workers if own else 1, timeout=120)
        before = set(client.nthreads())  # the workers' addresses (a restarted one gets a new one)
        started = time.perf_counter()
        stack = da.random.default_rng(0).random(shape, chunks=chunks, dtype=np.float32)
        da.to_zarr(stack, source, overwrite=True, compute=True, compressors=None)
        written = time.perf_counter()
        sampler = MemorySampler()
        x = da.from_zarr(source)
        lazy = _conv_lazy(x, bank, options)
        out_chunks = (images_per_chunk, 4, side // 4, side // 4)
        store = da.to_zarr(
            lazy.rechunk(out_chunks), target, overwrite=True, compute=False, compressors=None
        )
        with sampler.sample("conv", client=client, interval=0.2):
            future = client.compute(store)
            if progress:
                from distributed import progress as show_progress

                show_progress(future)
            future.result(timeout=timeout)
        finished = time.perf_counter()
        after = set(client.nthreads())
        peak = max((int(b) for _, b in sampler.samples["conv"]), default=0)
        # the check: whole images, in memory, against what was written
        out = da.from_zarr(target)
        picks = np.linspace(0, shape[0] - 1, num=min(checks, shape[0])).astype(int)
        error = 0.0
        for i in picks:
            image = np.asarray(x[i : i + 1].compute())
            want = _conv_numpy(image, bank, options)
            y = np.asarray(out[i : i + 1].compute())
            error = max(error, float(np.max(np.abs(y - want))))
        restarted = len(before - after)
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
    result = JobResult(
        input_bytes=math.prod(shape) * 4,
        output_bytes=math.prod((shape[0], 4, side // 2, side // 2)) * 4,
        workers=workers,
        memory_limit=memory_limit,
        write_seconds=written - started,
        conv_seconds=finished - written,
        peak_cluster_bytes=peak,
        workers_restarted=restarted,
        checked_images=len(picks),
        max_abs_error=error,
    )
    if restarted:
        raise RuntimeError(f"out-of-core job: {restarted} worker(s) restarted during the run")
    if error > 1e-5:
        raise RuntimeError(f"out-of-core job: the checked images differ by up to {error:.3g}")
    return result


def _conv_lazy(x: Any, bank: np.ndarray, options: dict[str, Any]) -> Any:
    from ._conv import conv

    return conv(x, bank, **options)


def _conv_numpy(image: np.ndarray, bank: np.ndarray, options: dict[str, Any]) -> np.ndarray:
    from ._conv import conv

    return conv(image, bank, **options)
