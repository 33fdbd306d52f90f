"""The unfold and the fold of one chunk, split along the channels over convmm's threads.

NumPy's copies release the GIL, so the parts of a chunk's unfold (or fold) run on every core
while the BLAS threads are idle between products.  Measured on 2-core VMs: two threads gain
~10% on large stride-1 unfolds (long contiguous copies) on an Intel Xeon and lose ~13% on
strided ones, so only the first are split, and only chunks of at least
:data:`PARALLEL_ENTRIES` entries.  A float16 chunk is converted to the compute dtype once
before its unfold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._geometry import Window
from ._im2col import fold_into, unfold_into
from ._workspace import buffer, num_threads, run_parallel

__all__ = ["fold_chunk", "unfold_chunk"]

#: Below this many P entries (4 MiB of float32) a chunk is unfolded and folded on the calling
#: thread alone.  Handing parts to the pool costs more than it gains on small chunks: on a
#: 2-core AMD EPYC VM the digits network's layers (P of 0.3M entries, rows of 4-8 numbers)
#: ran 15% slower split in two, and even 14M-entry chunks 2-3% slower; on the 2-core Intel
#: Xeon the split gained ~10% on long stride-1 copies.
PARALLEL_ENTRIES = 1 << 20


def _split(length: int, parts: int) -> list[tuple[int, int]]:
    step = -(-length // parts)
    return [(lo, min(lo + step, length)) for lo in range(0, length, step)]


def _along_channels(
    work: Callable[[np.ndarray, np.ndarray], None], a: np.ndarray, b: np.ndarray, entries: int
) -> None:
    """``work(a, b)`` split over the threads along the shared lead axis with most entries.

    ``a`` and ``b`` have logical axes ``(n, groups, channels/groups, ...)``; each part works on
    the same slice of the first three axes of both, so parts never write the same cell.
    """
    threads = num_threads() if entries >= PARALLEL_ENTRIES else 1
    # the axis that splits most evenly (a multiple of the threads), not the innermost
    # (channels-last: halves of every channel run), then the longest
    innermost = [abs(a.strides[i]) == a.itemsize for i in range(3)]
    axis = max(range(3), key=lambda i: (a.shape[i] % threads == 0, not innermost[i], a.shape[i]))
    if threads <= 1 or a.shape[axis] <= 1:
        work(a, b)
        return
    index: list[Any] = [slice(None)] * 3
    tasks = []
    for lo, hi in _split(a.shape[axis], threads):
        index[axis] = slice(lo, hi)
        part = tuple(index)
        tasks.append(lambda part=part: work(a[part], b[part]))
    run_parallel(tasks)


def unfold_chunk(
    x: np.ndarray,
    window: Window,
    out: np.ndarray,
    rows: tuple[int, int],
    convert: bool,
    phases: bool = True,
) -> None:
    """Unfold output rows ``rows`` of ``x`` into ``out``.

    ``convert``: the plan has room for a copy of the chunk's images in ``out``'s dtype;
    ``phases``: for the phase copies of a strided layer.
    """
    if convert and x.dtype != out.dtype and rows == (0, window.output_shape[0]):
        # convert the chunk's images once: strided copies that also convert are ~3x slower
        converted = buffer(x.size, out.dtype, "converted-input").reshape(x.shape)
        converted[...] = x
        x = converted
    _unfold_same_dtype(x, window, out, rows, phases)


def _unfold_same_dtype(
    x: np.ndarray, window: Window, out: np.ndarray, rows: tuple[int, int], phases: bool
) -> None:
    entries = out.size if all(s == 1 for s in window.stride) else 0
    _along_channels(lambda s, o: unfold_into(s, window, o, rows, phases), x, out, entries)


def fold_chunk(columns: np.ndarray, window: Window, out: np.ndarray, rows: tuple[int, int]) -> None:
    """Add the columns of output rows ``rows`` back into ``out`` (the adjoint)."""
    _along_channels(lambda c, o: fold_into(c, window, o, rows), columns, out, columns.size)
