"""The one unfold (im2col) and the one fold (col2im), N-D, with their padding modes.

Both work on *logical* views: the input is seen as ``(*lead, *spatial)`` and the patch matrix as
``(*lead, *kernel_size, *output)`` (lead is batch and channels, possibly channels split into
groups) whatever the physical layout of either (channels-last, grouped,
transposed for a single large product...).  The caller picks the memory layout; this module only
moves numbers.

Zero padding is never materialised: for each kernel offset the in-bounds box of output positions
is copied with one strided slice (the steps of ``_offset_steps``) and the border strips of P are
set to zero, or, for a small chunk, the whole chunk is zeroed first.  The other modes
gather a padded copy (only the rows that the requested output rows need) and then run the same
copy with no padding.

``fold`` is the exact adjoint: for each kernel offset it adds one strided slice of the columns
into the input-shaped result (as Chainer's col2im does), then folds a padded border back onto the
input for the non-zero modes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from ._geometry import Window
from ._offset_steps import Slices, fold_steps, trailing, unfold_steps

__all__ = [
    "fold_into",
    "gather_padded",
    "pad_into",
    "source_indices",
    "unfold_into",
    "uses_phases",
]

#: Up to this many P entries an unfold writes zeros over the whole chunk first and then only
#: the in-bounds boxes: on small chunks the border strips (up to 2 per dim and kernel offset)
#: cost more in NumPy calls than the one write saves.
ZERO_ALL_ENTRIES = 1 << 16


def source_indices(start: int, stop: int, size: int, before: int, mode: str) -> np.ndarray:
    """Source index of each padded index in ``[start, stop)`` along one dim (-1 for zeros).

    ``size`` is the unpadded length and ``before`` the padding before it.
    """
    i = np.arange(start - before, stop - before)
    if mode == "reflect":
        i = np.abs(i)
        i = np.where(i > size - 1, 2 * (size - 1) - i, i)
    elif mode == "replicate":
        i = np.clip(i, 0, size - 1)
    elif mode == "circular":
        i = np.mod(i, size)
    else:
        i = np.where((i < 0) | (i >= size), -1, i)
    return i


def slab_span(window: Window, rows: tuple[int, int]) -> tuple[int, int]:
    """The padded indices ``[first, last)`` along the first spatial dim that output rows read."""
    s0, d0, k0 = window.stride[0], window.dilation[0], window.kernel_size[0]
    return rows[0] * s0, (rows[1] - 1) * s0 + d0 * (k0 - 1) + 1


def gather_padded(
    x: np.ndarray, window: Window, rows: tuple[int, int]
) -> tuple[np.ndarray, tuple[int, ...]]:
    """The part of the padded input that output rows ``rows`` read, for a non-zero mode.

    ``x`` is ``(*lead, *spatial)``.  Returns the padded slab and its origin (the source index of
    output position 0 at kernel offset 0, per dim).
    """
    first, last = slab_span(window, rows)
    spans = [(first, last), *((0, p) for p in window.padded_shape[1:])]
    index = [
        source_indices(lo, hi, n, before, window.padding_mode)
        for (lo, hi), n, (before, _) in zip(spans, window.input_shape, window.padding, strict=True)
    ]
    slab = x[trailing(np.ix_(*index))]
    return slab, (-first, *(0 for _ in spans[1:]))


def pad_into(x: np.ndarray, window: Window, out: np.ndarray) -> None:
    """Write ``x`` ``(*lead, *input_shape)`` padded as the window pads it into ``out``.

    ``out`` is ``(*lead, *padded_shape)``, any dtype and strides (a view of a caller's
    buffer): the padding holds zeros or, for the other modes, the cells the mode copies (rows
    past the last window's reach, which no output reads, hold zeros).
    """
    nd = window.ndim
    if window.padding_mode != "zeros" and window.is_padded:
        slab, _ = gather_padded(x, window, (0, window.output_shape[0]))
        rows = slab.shape[-nd]
        out[trailing(slice(0, rows), (slice(None),) * (nd - 1))] = slab
        out[trailing(slice(rows, None), (slice(None),) * (nd - 1))] = 0
        return
    for dim, (before, after) in enumerate(window.padding):  # the zero strips
        lead = (slice(None),) * dim
        if before:
            out[trailing(lead, slice(0, before), (slice(None),) * (nd - 1 - dim))] = 0
        if after:
            end = out.shape[dim - nd] - after
            out[trailing(lead, slice(end, None), (slice(None),) * (nd - 1 - dim))] = 0
    inner = tuple(
        slice(before, before + n)
        for (before, _), n in zip(window.padding, window.input_shape, strict=True)
    )
    out[trailing(inner)] = x


def uses_phases(window: Window) -> bool:
    """Whether the unfold reads a strided input through its phases (see :func:`_phase_boxes`).

    Worth it when several kernel offsets share each phase: copies from a phase are stride-1
    rows, where copies with a stride gather one element at a time.
    """
    if all(s == 1 for s in window.stride):
        return False
    phases = math.prod(min(s, k) for s, k in zip(window.stride, window.kernel_size, strict=True))
    return window.kernel_numel >= 2 * phases


def _phase_boxes(
    window: Window, origin: tuple[int, ...], source: np.ndarray, rows: tuple[int, int]
) -> Iterator[tuple[tuple[int, ...], Any, Slices]]:
    """The offsets' boxes (:func:`~convmm._offset_steps.offset_boxes`) read through the
    source's phases, made once for all offsets.

    Along a dim of stride s, output position o at offset k reads source index
    ``o*s + k*d + origin = s*(o + q) + r``: element ``o + q`` of phase r (the source's indices
    ``r, r + s, r + 2s, ...``), at stride 1.  Each phase used is copied once (only the rows the
    output rows read); every offset then copies stride-1 rows out of one phase.
    """
    nd = window.ndim
    shape = source.shape[-nd:]
    # only the source rows that output rows ``rows`` read, along the first dim
    s0, d0, k0 = window.stride[0], window.dilation[0], window.kernel_size[0]
    lo0 = max(0, rows[0] * s0 + origin[0])
    hi0 = min(shape[0], (rows[1] - 1) * s0 + d0 * (k0 - 1) + origin[0] + 1)
    source = source[trailing(slice(lo0, max(hi0, lo0)), (slice(None),) * (nd - 1))]
    origin = (origin[0] - lo0, *origin[1:])
    shape = source.shape[-nd:]
    phases: dict[tuple[int, ...], np.ndarray] = {}
    ranges = [rows, *((0, o) for o in window.output_shape[1:])]
    for offset in itertools.product(*(range(k) for k in window.kernel_size)):
        phase, box, slices = [], [], []
        for k, s, d, org, n, (o_lo, o_hi) in zip(
            offset, window.stride, window.dilation, origin, shape, ranges, strict=True
        ):
            r = (k * d + org) % s
            q = (k * d + org - r) // s
            length = max(0, -(-(n - r) // s))  # elements of phase r
            lo, hi = max(o_lo, -q), min(o_hi, length - q)
            phase.append(r)
            if hi <= lo:
                box.append(slice(0, 0))
                continue
            slices.append(slice(lo + q, hi + q))
            box.append(slice(lo - o_lo, hi - o_lo))
        if len(slices) < nd:
            yield offset, None, tuple(box)
            continue
        key = tuple(phase)
        if key not in phases:
            steps = tuple(slice(r, None, s) for r, s in zip(key, window.stride, strict=True))
            phases[key] = np.ascontiguousarray(source[trailing(steps)])
        yield offset, (phases[key], tuple(slices)), tuple(box)


def unfold_into(
    x: np.ndarray,
    window: Window,
    out: np.ndarray,
    rows: tuple[int, int],
    phases: bool | None = None,
) -> None:
    """Write the patches of ``x`` for output rows ``rows`` into ``out``.

    Parameters
    ----------
    x : ndarray, logical shape ``(*lead, *input_shape)``
        Any strides; converted to ``out``'s dtype on the fly.
    window : Window
    out : ndarray, logical shape ``(*lead, *kernel_size, rows[1] - rows[0], *output_shape[1:])``
        Any strides (a view into the caller's buffer).
    rows : (int, int)
        The range of output positions along the first spatial dim.
    phases : bool, optional
        Whether a strided layer may be read through copies of its phases (one more copy of
        the rows read, for stride-1 copies); by default when :func:`uses_phases`.
    """
    if window.padding_mode == "zeros" or not window.is_padded:
        source = x
        origin = tuple(-before for before, _ in window.padding)
    else:
        source, origin = gather_padded(x, window, rows)
    nd = window.ndim
    steps = unfold_steps(window, origin, source.shape[-nd:], rows)
    if out.size <= ZERO_ALL_ENTRIES:  # one write of zeros beats many small strips
        out[...] = 0
    else:
        for _, _, zeros in steps:
            for strip in zeros:
                out[strip] = 0
    if uses_phases(window) if phases is None else phases and uses_phases(window):
        # the same boxes, each copied from its phase (stride-1 slices)
        for offset, read, box in _phase_boxes(window, origin, source, rows):
            if read is not None:
                array, slices = read
                out[trailing(offset, box)] = array[trailing(slices)]
        return
    for block, read, _ in steps:
        if read is not None:
            out[block] = source[read]


def fold_into(
    columns: np.ndarray, window: Window, out: np.ndarray, rows: tuple[int, int] | None = None
) -> None:
    """Add the columns back into ``out``: the adjoint of :func:`unfold_into`.

    Parameters
    ----------
    columns : ndarray, logical shape ``(*lead, *kernel_size, rows[1] - rows[0], *output[1:])``
        Any strides.
    window : Window
    out : ndarray, shape ``(*lead, *input_shape)``
        Receives (``+=``) every patch entry at the input position it was read from; for the
        non-zero modes, entries read from the padding go to the input cell the padding copied.
    rows : (int, int), optional
        The output rows (first spatial dim) that ``columns`` holds; all by default.
    """
    rows = (0, window.output_shape[0]) if rows is None else rows
    nd = window.ndim
    if window.padding_mode == "zeros" or not window.is_padded:
        target = out
        origin = tuple(-before for before, _ in window.padding)
    else:
        first, last = slab_span(window, rows)
        target = np.zeros(out.shape[:-nd] + (last - first,) + window.padded_shape[1:], out.dtype)
        origin = (-first,) + (0,) * (nd - 1)
    for cells, block in fold_steps(window, origin, target.shape[-nd:], rows):
        target[cells] += columns[block]
    if target is not out:
        for dim in range(nd - 1, 0, -1):
            shape = list(target.shape)
            shape[dim - nd] = window.input_shape[dim]
            folded = np.zeros(shape, target.dtype)
            _unpad_adjoint(target, window, dim, 0, folded)
            target = folded
        _unpad_adjoint(target, window, 0, first, out)


def _unpad_adjoint(g: np.ndarray, window: Window, dim: int, start: int, out: np.ndarray) -> None:
    """Adjoint of padding along spatial ``dim``: add ``g`` into ``out``, border folded back.

    ``g`` holds padded indices ``[start, start + len)`` along the dim; ``out`` has the unpadded
    length there.  Every padded index adds into the input index its value was copied from.
    """
    axis = g.ndim - window.ndim + dim
    n = window.input_shape[dim]
    before = window.padding[dim][0]
    end = start + g.shape[axis]
    mode = window.padding_mode

    def at(lo: int, hi: int) -> Slices:
        return (slice(None),) * axis + (slice(lo, hi),)

    def part(lo: int, hi: int) -> np.ndarray:
        return g[at(lo - start, hi - start)]

    lo, hi = max(start, before), min(end, before + n)  # the input itself
    if lo < hi:
        out[at(lo - before, hi - before)] += part(lo, hi)
    lo, hi = start, min(end, before)  # the border before: padded p < before
    if lo < hi:
        if mode == "reflect":  # reads input before - p
            out[at(before - hi + 1, before - lo + 1)] += np.flip(part(lo, hi), axis)
        elif mode == "replicate":  # reads input 0
            out[at(0, 1)] += part(lo, hi).sum(axis=axis, keepdims=True)
        elif mode == "circular":  # reads input n - before + p
            out[at(lo - before + n, hi - before + n)] += part(lo, hi)
    lo, hi = max(start, before + n), end  # the border after: padded p >= before + n
    if lo < hi:
        if mode == "reflect":  # reads input 2(n - 1) - (p - before)
            top = 2 * (n - 1) + before
            out[at(top - hi + 1, top - lo + 1)] += np.flip(part(lo, hi), axis)
        elif mode == "replicate":  # reads input n - 1
            out[at(n - 1, n)] += part(lo, hi).sum(axis=axis, keepdims=True)
        elif mode == "circular":  # reads input p - before - n
            out[at(lo - before - n, hi - before - n)] += part(lo, hi)
