"""Max and average pooling of any rank, through the patch matrix: ``convmm.unfold`` puts each
window in a column, the pool is a max or a mean down the column, and the backward pass sends
the gradient back into those columns and folds them (``convmm.fold``, col2im)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import ConvmmValueError
from .._unfold import fold, unfold
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

    def _columns(self, x: Any) -> tuple[np.ndarray, tuple[tuple[int, ...], ...], tuple[int, ...]]:
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
        array, (kernel, steps, pads, dils), out = self._columns(x)
        n, c = array.shape[:2]
        if any(pads):
            width = [(0, 0), (0, 0), *((p, p) for p in pads)]
            array = np.pad(array, width, constant_values=-np.inf)
        cols = unfold(array, kernel, stride=steps, dilation=dils)
        cols = cols.reshape(n, c, -1, cols.shape[-1])
        index = np.argmax(cols, axis=2)[:, :, None, :]
        self._cache = (index, cols.shape, array.shape, kernel, steps, pads, dils)
        return np.take_along_axis(cols, index, axis=2).reshape((n, c, *out))

    def backward(self, grad: Any) -> np.ndarray:
        index, shape, padded, kernel, steps, pads, dils = cached(
            "convmm.nn.MaxPool.backward", self._cache
        )
        g = np.asarray(grad)
        cols = np.zeros(shape, dtype=g.dtype)
        np.put_along_axis(cols, index, g.reshape(shape[0], shape[1], 1, shape[3]), axis=2)
        cols = cols.reshape(shape[0], -1, shape[3])
        gx = fold(cols, padded[2:], kernel, stride=steps, dilation=dils)
        crop = (
            slice(None),
            slice(None),
            *(slice(p, n - p) for p, n in zip(pads, padded[2:], strict=True)),
        )
        return np.ascontiguousarray(gx[crop])


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
        array, (kernel, steps, pads, _), out = self._columns(x)
        n, c = array.shape[:2]
        cols = unfold(array, kernel, stride=steps, padding=pads)
        cols = cols.reshape(n, c, -1, cols.shape[-1])
        if self.count_include_pad or not any(pads):
            divisor: Any = cols.shape[2]
        else:  # the number of input cells in each window
            ones = np.ones((1, 1, *array.shape[2:]), dtype=array.dtype)
            divisor = unfold(ones, kernel, stride=steps, padding=pads).sum(axis=1)
        self._cache = (divisor, cols.shape, array.shape, kernel, steps, pads)
        pooled: np.ndarray = cols.sum(axis=2) / divisor
        return pooled.reshape((n, c, *out))

    def backward(self, grad: Any) -> np.ndarray:
        divisor, shape, source, kernel, steps, pads = cached(
            "convmm.nn.AvgPool.backward", self._cache
        )
        g = np.asarray(grad).reshape(shape[0], shape[1], 1, shape[3]) / divisor
        cols = np.broadcast_to(g, shape).reshape(shape[0], -1, shape[3])
        gx: np.ndarray = fold(cols, source[2:], kernel, stride=steps, padding=pads)
        return gx
