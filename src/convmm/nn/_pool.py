"""Max and average pooling of any rank, read through the patch matrix's row blocks.

Row block k of the patch matrix P (``convmm.unfold``) holds kernel offset k of every window:
the strided slice ``x[..., k*d :: s]`` of the padded input, the slice ``unfold`` copies.  The
pools reduce over those blocks one offset at a time, and their backward passes add the
gradient back through the same slices (the loop of ``convmm.fold``), without writing P out.
The input is first copied channels-last, ``(N, *spatial, C)``, so that every block is made of
runs of ``C`` contiguous numbers: on the digits network's 8x8 maps that is ~4x faster than
pooling the columns of ``unfold``'s ``(N, C·k, L)`` result, whose rows are runs of a few
numbers.  The tests check both pools against the columns of ``unfold`` and PyTorch.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .._errors import ConvmmValueError
from ._checks import batch, cached, positive_int, positive_ints
from ._layers import Layer

__all__ = ["AvgPool", "MaxPool"]


def _non_negative_ints(func: str, name: str, value: object, ndim: int) -> tuple[int, ...]:
    values: tuple[Any, ...] = tuple(value) if isinstance(value, Sequence) else (value,) * ndim
    if len(values) != ndim or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 0 for v in values
    ):
        raise ConvmmValueError(
            f"{func}: {name} must be an int >= 0 or a tuple of {ndim} of them; got {value!r}"
        )
    return tuple(int(v) for v in values)


def _channels_last(x: np.ndarray, pads: tuple[int, ...], fill: float) -> np.ndarray:
    """``x`` ``(N, C, *spatial)`` copied to ``(N, *padded spatial, C)``, padding = ``fill``."""
    inner = tuple(slice(p, p + n) for p, n in zip(pads, x.shape[2:], strict=True))
    padded = tuple(n + 2 * p for p, n in zip(pads, x.shape[2:], strict=True))
    out = np.empty((x.shape[0], *padded, x.shape[1]), dtype=x.dtype)
    if any(pads):
        out.fill(fill)
    out[(slice(None),) + inner] = np.moveaxis(x, 1, -1)
    return out


def _inner(pads: tuple[int, ...], padded: tuple[int, ...]) -> tuple[slice, ...]:
    """The input's cells inside a padded ``(N, *spatial, C)`` array."""
    return (slice(None), *(slice(p, n - p) for p, n in zip(pads, padded[1:-1], strict=True)))


def _channels_first(a: np.ndarray) -> np.ndarray:
    """``(N, *spatial, C)`` back to a contiguous ``(N, C, *spatial)``."""
    return np.ascontiguousarray(np.moveaxis(a, -1, 1))


def _first_inside(window: tuple[tuple[int, ...], ...], out: tuple[int, ...]) -> np.ndarray:
    """Per output position, ``(1, *out, 1)``: the first kernel offset (row-major) whose cell
    is inside the input rather than the padding."""
    kernel, steps, pads, dils = window
    firsts = [
        np.minimum(-(-np.maximum(p - np.arange(m) * s, 0) // d), k - 1)
        for k, s, p, d, m in zip(kernel, steps, pads, dils, out, strict=True)
    ]
    flat = np.asarray(np.ravel_multi_index(tuple(np.meshgrid(*firsts, indexing="ij")), kernel))
    return flat.reshape(1, *out, 1)


def _offsets(window: tuple[tuple[int, ...], ...], out: tuple[int, ...]) -> Iterator[Any]:
    """Per kernel offset (row-major, P's row order): the slices of the padded spatial dims
    that the offset's cell of every window reads."""
    kernel, steps, _, dils = window
    for offset in itertools.product(*(range(k) for k in kernel)):
        yield (slice(None),) + tuple(
            slice(k * d, k * d + (m - 1) * s + 1, s)
            for k, d, s, m in zip(offset, dils, steps, out, strict=True)
        )


class _Pool(Layer):
    _name = ""

    def __init__(
        self,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] | None,
        padding: int | tuple[int, ...],
        dilation: int | tuple[int, ...],
    ) -> None:
        super().__init__()
        self._arguments = (kernel_size, stride, padding, dilation)
        func = f"convmm.nn.{self._name}"
        # Checked now for what does not depend on the input's rank, again at forward.
        if isinstance(kernel_size, Sequence):
            self._window(len(kernel_size), func)
        else:
            positive_int(func, "kernel_size", kernel_size)
        self._cache: tuple[Any, ...] | None = None

    def _window(self, ndim: int, func: str) -> tuple[tuple[int, ...], ...]:
        kernel_size, stride, padding, dilation = self._arguments
        kernel = positive_ints(func, "kernel_size", kernel_size, ndim)
        steps = kernel if stride is None else positive_ints(func, "stride", stride, ndim)
        pads = _non_negative_ints(func, "padding", padding, ndim)
        dils = positive_ints(func, "dilation", dilation, ndim)
        if any(2 * p > k for p, k in zip(pads, kernel, strict=True)):
            raise ConvmmValueError(
                f"{func}: padding must be at most half of kernel_size (as in PyTorch); "
                f"got padding={pads}, kernel_size={kernel}"
            )
        return kernel, steps, pads, dils

    def _prepare(self, x: Any) -> tuple[np.ndarray, tuple[tuple[int, ...], ...], tuple[int, ...]]:
        """The checked input, the window ``(kernel, stride, padding, dilation)``, the output's
        spatial shape."""
        func = f"convmm.nn.{self._name}.forward"
        array = batch(func, x, min_ndim=3)
        if isinstance(self._arguments[0], Sequence) and len(self._arguments[0]) != array.ndim - 2:
            raise ConvmmValueError(
                f"{func}: x must have {len(self._arguments[0]) + 2} dims (N, C, then one per "
                f"kernel dim); got shape {array.shape}"
            )
        window = self._window(array.ndim - 2, func)
        kernel, steps, pads, dils = window
        out = tuple(
            (n + 2 * p - d * (k - 1) - 1) // s + 1
            for n, k, s, p, d in zip(array.shape[2:], kernel, steps, pads, dils, strict=True)
        )
        if min(out) < 1:
            raise ConvmmValueError(
                f"{func}: the input's spatial size {array.shape[2:]} is smaller than the window "
                f"(kernel_size={kernel}, dilation={dils}, padding={pads})"
            )
        return array, window, out

    def _gradient(self, grad: Any, padded: tuple[int, ...], out: tuple[int, ...]) -> np.ndarray:
        """The output's gradient, checked against the output's shape, channels last."""
        func = f"convmm.nn.{self._name}.backward"
        g = batch(func, grad, ndim=len(out) + 2, name="grad")
        want = (padded[0], padded[-1], *out)
        if g.shape != want:
            raise ConvmmValueError(
                f"{func}: grad must have the shape of the forward's output {want}; got {g.shape}"
            )
        return _channels_last(g, (0,) * len(out), 0.0)


class MaxPool(_Pool):
    """N-D max pooling (``torch.nn.MaxPool{1,2,3}d``; the padding counts as ``-inf``).

    Parameters
    ----------
    kernel_size : int or tuple of int
        The window; a tuple's length is the spatial rank, an int serves every spatial dim of
        the ``(N, C, *spatial)`` input.
    stride : int or tuple of int, optional
        Default: ``kernel_size``.
    padding : int or tuple of int
        On both sides of each dim, at most half the kernel.
    dilation : int or tuple of int
        Spacing of the window's cells.

    Examples
    --------
    >>> import numpy as np
    >>> from convmm.nn import MaxPool
    >>> pool = MaxPool(2)
    >>> pool.forward(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    >>> pool.backward(np.ones((1, 1, 2, 2)))[0, 0]
    array([[0., 0., 0., 0.],
           [0., 1., 0., 1.],
           [0., 0., 0., 0.],
           [0., 1., 0., 1.]])
    """

    _name = "MaxPool"

    def __init__(
        self,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] | None = None,
        padding: int | tuple[int, ...] = 0,
        dilation: int | tuple[int, ...] = 1,
    ) -> None:
        super().__init__(kernel_size, stride, padding, dilation)

    def forward(self, x: Any) -> np.ndarray:
        array, window, out = self._prepare(x)
        pads = window[2]
        source = _channels_last(array, pads, -np.inf)
        offsets = list(_offsets(window, out))
        dtype = np.uint8 if len(offsets) < 256 else np.intp
        shape = source[offsets[0]].shape
        if any(pads):  # PyTorch's start: -inf, at each window's first cell inside the input
            best = np.full(shape, -np.inf, dtype=array.dtype)
            index = np.empty(shape, dtype=dtype)
            index[...] = _first_inside(window, out)
            steps = list(enumerate(offsets))
        else:  # each window's first cell is inside the input
            best = source[offsets[0]].copy()
            index = np.zeros(shape, dtype=dtype)
            steps = list(enumerate(offsets))[1:]
        nans = bool(np.isnan(array).any())
        for k, cells in steps:
            block = source[cells]
            better = block > best  # strictly: the first of equal maxima wins, as in PyTorch
            if nans:  # and every NaN, so the last (PyTorch's rule); np.maximum keeps it
                better |= np.isnan(block)
            np.maximum(best, block, out=best)
            # index = k where better (arithmetic: NumPy's masked writes are ~10x slower)
            index += better * (k - index).astype(index.dtype, copy=False)
        self._cache = (index, source.shape, window, out)
        return _channels_first(best)

    def backward(self, grad: Any) -> np.ndarray:
        index, padded, window, out = cached("convmm.nn.MaxPool.backward", self._cache)
        g = self._gradient(grad, padded, out)
        finite = bool(np.isfinite(g).all())  # else inf * 0 would put NaN where 0 belongs
        gx = np.zeros(padded, dtype=g.dtype)
        for k, cells in enumerate(_offsets(window, out)):
            chosen = index == k
            gx[cells] += g * chosen if finite else np.where(chosen, g, 0)
        return _channels_first(gx[_inner(window[2], padded)])


class AvgPool(_Pool):
    """N-D average pooling (``torch.nn.AvgPool{1,2,3}d``, zero padding).

    Parameters
    ----------
    kernel_size, stride, padding
        As in :class:`MaxPool`.
    count_include_pad : bool
        Whether the padding's zeros count in each window's mean (PyTorch's default), or only
        the input's cells.

    Examples
    --------
    >>> import numpy as np
    >>> from convmm.nn import AvgPool
    >>> pool = AvgPool(2)
    >>> pool.forward(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    >>> pool.backward(np.ones((1, 1, 2, 2)))[0, 0, 0]
    array([0.25, 0.25, 0.25, 0.25])
    """

    _name = "AvgPool"

    def __init__(
        self,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] | None = None,
        padding: int | tuple[int, ...] = 0,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__(kernel_size, stride, padding, 1)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x: Any) -> np.ndarray:
        array, window, out = self._prepare(x)
        pads = window[2]
        source = _channels_last(array, pads, 0.0)
        offsets = list(_offsets(window, out))
        total = source[offsets[0]].copy()
        for cells in offsets[1:]:
            total += source[cells]
        if self.count_include_pad or not any(pads):
            divisor: Any = len(offsets)
        else:  # the number of input cells in each window
            inside = _channels_last(np.ones((1, 1, *array.shape[2:]), array.dtype), pads, 0.0)
            divisor = sum(inside[cells] for cells in offsets)
        self._cache = (divisor, source.shape, window, out)
        pooled: np.ndarray = total / divisor
        return _channels_first(pooled)

    def backward(self, grad: Any) -> np.ndarray:
        divisor, padded, window, out = cached("convmm.nn.AvgPool.backward", self._cache)
        g = self._gradient(grad, padded, out) / divisor
        gx = np.zeros(padded, dtype=g.dtype)
        for cells in _offsets(window, out):
            gx[cells] += g
        return _channels_first(gx[_inner(window[2], padded)])
