"""The index steps of the unfold and the fold: per kernel offset, which block of P it fills
and which strided slice of the source (or, for the fold, of the target) it reads.

Output position ``o`` at kernel offset ``k`` reads source index ``o*s + k*d + origin`` per dim;
for each offset the positions that read inside the source form a box, copied with one strided
slice, and the rest of the offset's block of P (its border strips) holds zeros.  The steps are
NumPy index tuples starting with ``...``, so one set serves any lead axes (batch, groups,
channels); they are cached for calls over all output rows.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from typing import Any

from ._geometry import Window

__all__ = ["Index", "Slices", "fold_steps", "offset_boxes", "trailing", "unfold_steps"]

Slices = tuple[slice, ...]
Index = tuple[Any, ...]


def trailing(*parts: Any) -> Index:
    """An index into the trailing dims: ``(..., *parts)`` flattened one level."""
    index: list[Any] = [Ellipsis]
    for part in parts:
        index.extend(part if isinstance(part, tuple) else (part,))
    return tuple(index)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def offset_boxes(
    window: Window,
    origin: tuple[int, ...],
    source_shape: tuple[int, ...],
    rows: tuple[int, int],
) -> Iterator[tuple[tuple[int, ...], Slices | None, Slices]]:
    """For each kernel offset: the source slices and the output box that reads inside the source.

    Output position ``o`` at kernel offset ``k`` reads source index ``o*s + k*d + origin`` per dim.
    Output positions run over ``rows`` along the first spatial dim and over everything in the
    others; the output box is relative to ``rows[0]``.  The source slices are None when the box is
    empty.
    """
    ranges = [rows, *((0, o) for o in window.output_shape[1:])]
    for offset in itertools.product(*(range(k) for k in window.kernel_size)):
        source: list[slice] = []
        box: list[slice] = []
        for k, s, d, org, n, (o_lo, o_hi) in zip(
            offset, window.stride, window.dilation, origin, source_shape, ranges, strict=True
        ):
            base = k * d + org
            lo = max(o_lo, _ceil_div(-base, s))
            hi = min(o_hi, (n - 1 - base) // s + 1)
            if hi <= lo:
                box.append(slice(0, 0))
                continue
            start = lo * s + base
            source.append(slice(start, start + (hi - lo - 1) * s + 1, s))
            box.append(slice(lo - o_lo, hi - o_lo))
        empty = len(source) < len(box)
        yield offset, (None if empty else tuple(source)), tuple(box)


_Step = tuple[Index, "Index | None", tuple[Index, ...]]


def unfold_steps(
    window: Window, origin: tuple[int, ...], source_shape: tuple[int, ...], rows: tuple[int, int]
) -> tuple[_Step, ...]:
    """The unfold as NumPy indices, one step per kernel offset: (the offset's block of P,
    the source slices it copies or None, the border strips of the block left as zeros).

    The indices start with ``...``, so they serve any lead axes; cached for calls over all
    output rows (the common case; runs of rows are many and each is visited once per call, so
    they are not kept).
    """
    if tuple(rows) != (0, window.output_shape[0]):
        return _compute_steps(window, origin, source_shape, rows)
    return _cached_steps(window, tuple(origin), tuple(source_shape), tuple(rows))


@functools.lru_cache(maxsize=256)
def _cached_steps(
    window: Window, origin: tuple[int, ...], source_shape: tuple[int, ...], rows: tuple[int, int]
) -> tuple[_Step, ...]:
    return _compute_steps(window, origin, source_shape, rows)


def _compute_steps(
    window: Window, origin: tuple[int, ...], source_shape: tuple[int, ...], rows: tuple[int, int]
) -> tuple[_Step, ...]:
    nd = window.ndim
    extent = (rows[1] - rows[0], *window.output_shape[1:])
    every = (slice(None),) * nd
    steps: list[_Step] = []
    for offset, read, box in offset_boxes(window, origin, source_shape, rows):
        if read is None:  # the whole block is zeros
            block = trailing(offset, every)
            steps.append((block, None, (block,)))
            continue
        zeros = []
        for dim in range(nd):
            before, after = (slice(None),) * dim, (slice(None),) * (nd - 1 - dim)
            if box[dim].start > 0:
                zeros.append(trailing(offset, before, slice(0, box[dim].start), after))
            if box[dim].stop < extent[dim]:
                zeros.append(trailing(offset, before, slice(box[dim].stop, None), after))
        steps.append((trailing(offset, box), trailing(read), tuple(zeros)))
    return tuple(steps)


def fold_steps(
    window: Window, origin: tuple[int, ...], target_shape: tuple[int, ...], rows: tuple[int, int]
) -> tuple[tuple[Index, Index], ...]:
    """The fold as NumPy indices: per kernel offset whose box is not empty, (the cells of the
    target it adds into, its block of the columns); cached like :func:`unfold_steps`."""
    return tuple(
        (read, block)
        for block, read, _ in unfold_steps(window, origin, target_shape, rows)
        if read is not None
    )
