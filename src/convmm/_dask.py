"""Dask arrays: :func:`conv`, :func:`conv_transpose` and :func:`conv_backward`, lazily, by block.

A dask input gives a lazy dask result whose every value is the in-memory result's: each output
block is computed by convmm's own NumPy function on the input region it reads, so chunk
boundaries change no value.  The formulation, per spatial dim:

- the convolution pads the true borders first (``da.pad`` with the padding mode: PyTorch's
  ``reflect``, ``replicate`` and ``circular`` are NumPy's ``reflect``, ``edge`` and ``wrap``),
  then output block ``[j0, j1)`` reads the padded region ``[j0·s, (j1-1)·s + d·(k-1) + 1)``,
  the halo its kernel extent, dilation and stride need; output blocks follow the input chunks
  (block ``i`` starts at output ``ceil(start_i / s)``, so chunks of a multiple of the stride
  give regular output chunks), and no chunk needs to start on a stride multiple;
- the transposed convolution's output block ``[o0, o1)`` receives from the inputs
  ``i`` with ``i·s ≤ o + pad_before ≤ i·s + d·(k-1)``: it is the transposed convolution of that
  input region, cropped (or extended with zeros where no input reaches) to the block, plus the
  bias;
- the backward pass's dX is the transposed convolution of dY (over the padded frame, then the
  padding's border added back onto the cells it copied, for the non-zero modes); dK is summed
  over dY's blocks, each with the input region its positions read; db is dY summed.

Regions are sliced across chunks as needed (no depth limit, any chunking works); the channel
axis is brought to one chunk (the contraction needs every channel), the batch keeps its chunks.
The weight and bias may be NumPy arrays or small dask arrays (computed once).  Works with any
dask scheduler, ``dask.distributed`` included.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import ConvmmTypeError, ConvmmValueError
from ._geometry import ConvGeometry

__all__ = [
    "Axes",
    "as_dask",
    "axes_of",
    "dask_array_module",
    "is_dask_array",
    "small_array",
    "split_arguments",
    "stitch",
]

#: PyTorch's padding modes as ``numpy.pad`` (and ``dask.array.pad``) names them.
_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def is_dask_array(value: object) -> bool:
    """Whether ``value`` is a dask array (without importing dask)."""
    return type(value).__module__.split(".", 1)[0] == "dask" and hasattr(value, "chunks")


def dask_array_module(func: str) -> Any:
    """``dask.array``, or an error saying which extra to install."""
    try:
        import dask.array as da
    except ImportError as error:  # pragma: no cover - a dask array implies dask
        raise ConvmmTypeError(
            f"{func}: dask arrays need dask: pip install 'convmm[dask]'"
        ) from error
    return da


#: The arguments each block's NumPy call takes as given, and the backward passes' flags.
_CALL = ("max_workspace_bytes", "algorithm")
_FLAGS = ("bias", "needs_input_grad", "needs_weight_grad")


def split_arguments(
    arguments: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A public function's keyword arguments as (the geometry's, the blocks', the flags)."""
    options = {k: v for k, v in arguments.items() if k not in _CALL + _FLAGS}
    call = {k: arguments[k] for k in _CALL}
    flags = {k: arguments[k] for k in _FLAGS if k in arguments}
    return options, call, flags


def as_dask(da: Any, value: Any) -> Any:
    """``value`` as a dask array: itself, or an array-like in one chunk."""
    if hasattr(value, "chunks") and hasattr(value, "dask"):
        return value
    array = np.asarray(value)
    return da.from_array(array, chunks=array.shape)


def small_array(value: Any, func: str, name: str) -> Any:
    """A weight or bias as given, or computed when it is a dask array (it is small)."""
    return value.compute() if is_dask_array(value) else value


@dataclass(frozen=True)
class Axes:
    """Where the batch (None when unbatched), the channels and the spatial dims are."""

    batch: int | None
    channel: int
    spatial: tuple[int, ...]

    @property
    def ndim(self) -> int:
        return len(self.spatial) + 1 + (self.batch is not None)


def axes_of(geometry: ConvGeometry) -> Axes:
    """The axes of a geometry's arrays in the caller's layout."""
    nd = geometry.window.ndim
    lead = 1 if geometry.batched else 0
    batch = 0 if geometry.batched else None
    if geometry.channels_last:
        return Axes(batch, lead + nd, tuple(range(lead, lead + nd)))
    return Axes(batch, lead, tuple(range(lead + 1, lead + 1 + nd)))


def float_dtype(x: Any, func: str, name: str) -> np.dtype[Any]:
    """The dtype of a dask array, refused as the NumPy path refuses it (float16/32/64 only)."""
    from ._arrays import as_float_array

    return as_float_array(np.empty((0,), dtype=x.dtype), func=func, name=name).dtype


def chunk_starts(chunks: Sequence[int]) -> list[int]:
    """The start of every chunk along an axis, and the axis length last."""
    return [0, *itertools.accumulate(chunks)]


def pad_borders(da: Any, x: Any, axes: Axes, padding: Sequence[tuple[int, int]], mode: str) -> Any:
    """``x`` padded at its true borders, along its spatial axes, as ``padding_mode`` fills."""
    if not any(b or a for b, a in padding):
        return x
    widths = [(0, 0)] * x.ndim
    for axis, pair in zip(axes.spatial, padding, strict=True):
        widths[axis] = pair
    return da.pad(x, widths, mode=_PAD_MODES[mode])


@dataclass(frozen=True)
class Piece:
    """One block along one axis: the input region it reads and the output extent it makes
    (``offset``: where the block starts in the region's own result, for the transposed)."""

    source: slice
    length: int
    offset: int = 0


def conv_pieces(chunks: Sequence[int], k: int, s: int, d: int, m: int) -> list[Piece]:
    """A convolution's output blocks along one spatial dim, following the input chunks.

    Block ``i`` starts at output ``ceil(start_i / s)`` for input chunk ``i`` starting at
    ``start_i``: input chunks of a multiple of the stride give output chunks ``chunk / s``
    (regular ones stay regular, as Zarr wants); each block reads the padded region its windows
    cover (in padded coordinates), across chunk borders as needed.  Any partition of the
    outputs is exact; this one follows the chunks.
    """
    starts = chunk_starts(chunks)
    outputs = sorted({min(m, -(-start // s)) for start in starts[:-1]} | {m})
    span = d * (k - 1) + 1
    return [
        Piece(slice(j0 * s, (j1 - 1) * s + span), j1 - j0)
        for j0, j1 in itertools.pairwise(outputs)
        if j1 > j0
    ]


def transpose_pieces(
    chunks: Sequence[int], before: int, k: int, s: int, d: int, m: int
) -> list[Piece]:
    """A transposed convolution's output blocks along one spatial dim, following the input
    chunks (block ``i`` starts at output ``start_i · s``: chunks times the stride), each with
    the input positions that add into it (``before``: the padding cropped before)."""
    starts = chunk_starts(chunks)
    n = starts[-1]
    outputs = sorted({min(start * s, m) for start in starts[:-1]} | {0, m})
    reach = d * (k - 1)
    pieces = []
    for o0, o1 in itertools.pairwise(outputs):
        if o1 <= o0:
            continue
        u0, u1 = o0 + before, o1 + before  # in the uncropped frame
        first = max(0, -(-(u0 - reach) // s))
        last = min(n - 1, (u1 - 1) // s)
        if last < first:  # no input position reaches this block: bias only
            pieces.append(Piece(slice(0, 0), o1 - o0))
        else:
            pieces.append(Piece(slice(first, last + 1), o1 - o0, u0 - first * s))
    return pieces


def stitch(
    da: Any,
    grids: Sequence[Sequence[Piece]],
    make: Callable[[tuple[Piece, ...]], Any],
) -> Any:
    """The blocks ``make(pieces)`` for every combination of one piece per axis, joined."""

    def nest(level: int, chosen: tuple[Piece, ...]) -> Any:
        if level == len(grids):
            return make(chosen)
        return [nest(level + 1, (*chosen, piece)) for piece in grids[level]]

    return da.block(nest(0, ()))


def whole_axis(length: int) -> list[Piece]:
    return [Piece(slice(0, length), length)]


def batch_pieces(chunks: Sequence[int]) -> list[Piece]:
    starts = chunk_starts(chunks)
    return [Piece(slice(a, b), b - a) for a, b in itertools.pairwise(starts)]


def one_block(
    region: Any, function: Callable[[np.ndarray], np.ndarray], shape: Sequence[int], dtype: Any
) -> Any:
    """``function`` of ``region`` (a dask array, made one chunk) as one lazy block of ``shape``."""
    whole = region.rechunk(region.shape)
    return whole.map_blocks(
        function,
        chunks=tuple((n,) for n in shape),
        dtype=dtype,
        meta=np.empty((0,) * len(shape), dtype=dtype),
    )


def fit_block(y: np.ndarray, axes: Sequence[int], pieces: Sequence[Piece]) -> np.ndarray:
    """``y`` shifted, along each axis, so that cell ``t`` of the result is ``y[piece.offset +
    t]`` for ``t < piece.length``, with zeros where that falls outside ``y``."""
    index: list[slice] = [slice(None)] * y.ndim
    widths = [(0, 0)] * y.ndim
    for axis, piece in zip(axes, pieces, strict=True):
        start = min(max(piece.offset, 0), y.shape[axis])
        stop = min(max(piece.offset + piece.length, 0), y.shape[axis])
        index[axis] = slice(start, stop)
        front = min(max(-piece.offset, 0), piece.length)
        widths[axis] = (front, piece.length - front - (stop - start))
    cropped = y[tuple(index)]
    return np.pad(cropped, widths) if any(a or b for a, b in widths) else cropped


def add_bias(y: np.ndarray, bias: np.ndarray | None, channel_axis: int) -> np.ndarray:
    if bias is None:
        return y
    shape = [1] * y.ndim
    shape[channel_axis] = -1
    out: np.ndarray = y + np.asarray(bias, dtype=y.dtype).reshape(shape)
    return out


def adjoint_pad(
    da: Any,
    grad: Any,
    axes: Axes,
    padding: Sequence[tuple[int, int]],
    sizes: Sequence[int],
    mode: str,
) -> Any:
    """The adjoint of padding the borders: each padded cell's gradient added back onto the
    input cell it copied (zeros: dropped), one spatial axis after another."""
    for axis, (before, after), n in zip(axes.spatial, padding, sizes, strict=True):
        grad = _adjoint_pad_axis(da, grad, axis, before, after, n, mode)
    return grad


def _take(da: Any, x: Any, axis: int, start: int, stop: int) -> Any:
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def _adjoint_pad_axis(
    da: Any, g: Any, axis: int, before: int, after: int, n: int, mode: str
) -> Any:
    interior = _take(da, g, axis, before, before + n)
    if mode == "zeros" or not (before or after):
        return interior
    head = _take(da, g, axis, 0, before)  # padded cells before the input
    tail = _take(da, g, axis, before + n, before + n + after)  # and after it

    def placed(piece: Any, start: int) -> Any:
        """``piece`` (along ``axis``) added at ``start`` of a zero array the input's length."""
        shape_before = list(piece.shape)
        shape_before[axis] = start
        shape_after = list(piece.shape)
        shape_after[axis] = n - start - piece.shape[axis]
        zeros = functools.partial(da.zeros, dtype=piece.dtype)
        return da.concatenate([zeros(shape_before), piece, zeros(shape_after)], axis=axis)

    if mode == "reflect":  # padded cell p < before holds x[before - p]; after: x[n - 2 - q]
        out = interior + placed(da.flip(head, axis=axis), 1) if before else interior
        if after:
            out = out + placed(da.flip(tail, axis=axis), n - 1 - after)
        return out
    if mode == "replicate":  # every cell before holds x[0], every cell after x[n - 1]
        out = interior
        if before:
            out = out + placed(head.sum(axis=axis, keepdims=True), 0)
        if after:
            out = out + placed(tail.sum(axis=axis, keepdims=True), n - 1)
        return out
    if mode == "circular":  # cell p < before holds x[n - before + p]; after: x[q]
        out = interior
        if before:
            out = out + placed(head, n - before)
        if after:
            out = out + placed(tail, 0)
        return out
    raise ConvmmValueError(f"convmm: unknown padding_mode {mode!r}")  # pragma: no cover


def spatial_grids(
    axes: Axes, batch_chunks: Sequence[int] | None, channels: int, spatial: Sequence[list[Piece]]
) -> list[list[Piece]]:
    """The pieces of every axis in array order: the batch's chunks, one channel block, the
    spatial dims' pieces."""
    grids: list[list[Piece]] = [[] for _ in range(axes.ndim)]
    if axes.batch is not None and batch_chunks is not None:
        grids[axes.batch] = batch_pieces(batch_chunks)
    grids[axes.channel] = whole_axis(channels)
    for axis, pieces in zip(axes.spatial, spatial, strict=True):
        grids[axis] = pieces
    return grids


def region(x: Any, pieces: Sequence[Piece], channel_axis: int) -> Any:
    """The input region a block reads: each axis's source slice (every channel)."""
    index = tuple(
        slice(None) if axis == channel_axis else piece.source for axis, piece in enumerate(pieces)
    )
    return x[index]


def output_shape(pieces: Sequence[Piece], channel_axis: int, channels: int) -> tuple[int, ...]:
    return tuple(
        channels if axis == channel_axis else piece.length for axis, piece in enumerate(pieces)
    )


def count_blocks(grids: Sequence[Sequence[Piece]]) -> int:
    return math.prod(len(g) for g in grids)
