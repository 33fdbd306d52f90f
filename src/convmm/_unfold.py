"""The public unfold (im2col) and fold (col2im)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._arrays import as_float_array, check_allocation, compute_dtype
from ._errors import ConvmmValueError
from ._geometry import Window, int_tuple, make_window
from ._im2col import fold_into, unfold_into

__all__ = ["fold", "unfold"]


#: The spatial rank when no argument is a tuple: 2, as in ``torch.nn.functional.unfold``/``fold``.
DEFAULT_RANK = 2


def spatial_rank(*arguments: object) -> int:
    """The spatial rank of an unfold or fold: the length of the first tuple argument, else 2.

    One rule for :func:`unfold` (``kernel_size``) and :func:`fold` (``output_size``, then
    ``kernel_size``), so that ``fold`` with the same arguments is the adjoint of ``unfold``; and
    PyTorch's: int arguments mean two spatial dims.
    """
    for value in arguments:
        if isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray):
            return len(value)
    return DEFAULT_RANK


def unfold(
    input: Any,
    kernel_size: int | tuple[int, ...],
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | str | tuple[Any, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """Unfold sliding patches of an N-D input into the columns of the patch matrix P (im2col).

    Parameters
    ----------
    input : array_like, shape ``(N, C, *spatial)`` or ``(C, *spatial)``
        The spatial rank is the length of ``kernel_size`` when it is a tuple, else 2, as in
        PyTorch: with int arguments a 4-D
        input is a batch of images and a 3-D input one ``(C, H, W)`` image.  For 1-D signals
        or 3-D volumes give ``kernel_size`` as a tuple: ``unfold(signals, (3,))``.  An input
        with one dim fewer than ``(N, C, *spatial)`` is unbatched.
    kernel_size, stride, dilation : int or tuple of int
    padding : int, tuple, or {'valid', 'same', 'same_lower'}
        As in :func:`convmm.conv`.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}

    Returns
    -------
    ndarray, shape ``(N, C * prod(kernel_size), L)`` (``(C * prod(kernel_size), L)`` unbatched)
        Column ``l`` is the patch at output position ``l`` (row-major over the output's
        spatial dims); row ``c * prod(kernel_size) + k`` holds channel ``c`` at kernel offset
        ``k`` (row-major).  This is ``torch.nn.functional.unfold``'s order in 2-D.  Same dtype
        as ``input``.

    Notes
    -----
    The result has ``prod(kernel_size) / prod(stride)`` times as many entries as the input, for
    the whole batch at once; :func:`convmm.conv` never materialises it whole but works in
    chunks within ``max_workspace_bytes``.

    Examples
    --------
    The seed article's 4x4 image: each column of P is one 2x2 patch.

    >>> import numpy as np, convmm
    >>> convmm.unfold(np.arange(1.0, 17.0).reshape(1, 1, 4, 4), (2, 2))[0]
    array([[ 1.,  2.,  3.,  5.,  6.,  7.,  9., 10., 11.],
           [ 2.,  3.,  4.,  6.,  7.,  8., 10., 11., 12.],
           [ 5.,  6.,  7.,  9., 10., 11., 13., 14., 15.],
           [ 6.,  7.,  8., 10., 11., 12., 14., 15., 16.]])
    """
    func = "convmm.unfold"
    x = as_float_array(input, func=func, name="input")
    ndim = spatial_rank(kernel_size)
    if ndim < 1:
        raise ConvmmValueError(
            f"{func}: kernel_size must have at least one spatial dim; got "
            f"kernel_size={kernel_size!r} for input shape {x.shape}"
        )
    if x.ndim not in (ndim + 1, ndim + 2):
        hint = ""
        if not isinstance(kernel_size, Sequence):
            hint = (
                "; int arguments mean 2 spatial dims, as in PyTorch: for other ranks give "
                "kernel_size as a tuple, one int per spatial dim"
            )
        dims = "1 spatial dim" if ndim == 1 else f"{ndim} spatial dims"
        raise ConvmmValueError(
            f"{func}: input must have shape (N, C, *spatial) or (C, *spatial) with "
            f"{dims} for kernel_size={kernel_size!r}; got input shape {x.shape}{hint}"
        )
    batched = x.ndim == ndim + 2
    if not batched:
        x = x[np.newaxis]
    window = make_window(
        x.shape[2:],
        kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        padding_mode=padding_mode,
        func=func,
    )
    n, c = x.shape[:2]
    shape = (n, c * window.kernel_numel, window.num_positions)
    check_allocation(shape if batched else shape[1:], x.dtype, func=func)
    out = np.empty((n, c * window.kernel_numel, window.num_positions), dtype=x.dtype)
    logical = out.reshape(n, c, *window.kernel_size, *window.output_shape)
    unfold_into(x, window, logical, (0, window.output_shape[0]))
    return out if batched else out[0]


def fold(
    columns: Any,
    output_size: int | tuple[int, ...],
    kernel_size: int | tuple[int, ...],
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | str | tuple[Any, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """Fold the columns of a patch matrix back into an N-D array, summing overlaps (col2im).

    ``fold`` is the adjoint of :func:`unfold` with the same arguments:
    ``<unfold(x), g> == <x, fold(g)>`` for every ``x`` and ``g``.  For ``padding_mode='zeros'``
    what falls on the padding is dropped (``torch.nn.functional.fold``); for the other modes it
    is added onto the input cells the padding was copied from.

    Parameters
    ----------
    columns : array_like, shape ``(N, C * prod(kernel_size), L)`` or ``(C * prod(kernel_size), L)``
    output_size : int or tuple of int
        Spatial size of the folded result (the unpadded input size of the matching unfold).
    kernel_size, stride, padding, dilation, padding_mode
        As in :func:`unfold`.  The spatial rank follows :func:`unfold`'s rule: the length of
        ``output_size`` or ``kernel_size`` when either is a tuple, else 2 (as in PyTorch).

    Returns
    -------
    ndarray, shape ``(N, C, *output_size)`` (without ``N`` for 2-D columns)
        Same dtype as ``columns`` (float16 sums run in float32).

    Examples
    --------
    Folding the 4x4 image's patches counts how many patches cover each pixel:

    >>> import numpy as np, convmm
    >>> convmm.fold(np.ones((1, 4, 9)), (4, 4), (2, 2))[0, 0]
    array([[1., 2., 2., 1.],
           [2., 4., 4., 2.],
           [2., 4., 4., 2.],
           [1., 2., 2., 1.]])
    """
    func = "convmm.fold"
    cols = as_float_array(columns, func=func, name="columns")
    ndim = spatial_rank(output_size, kernel_size)
    if ndim < 1:
        raise ConvmmValueError(
            f"{func}: output_size and kernel_size need at least one spatial dim; got "
            f"output_size={output_size!r} and kernel_size={kernel_size!r}"
        )
    size = int_tuple(output_size, ndim, func=func, name="output_size", minimum=1)
    window = make_window(
        size,
        kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        padding_mode=padding_mode,
        func=func,
    )
    if cols.ndim not in (2, 3):
        raise ConvmmValueError(
            f"{func}: columns must have shape (N, C * prod(kernel_size), L) or "
            f"(C * prod(kernel_size), L); got shape {cols.shape}"
        )
    batched = cols.ndim == 3
    if not batched:
        cols = cols[np.newaxis]
    _check_columns(cols.shape, window, func)
    n = cols.shape[0]
    c = cols.shape[1] // window.kernel_numel
    dtype = compute_dtype(cols)
    shape = (n, c, *window.input_shape)
    check_allocation(shape if batched else shape[1:], dtype, func=func)
    out = np.zeros((n, c, *window.input_shape), dtype=dtype)
    fold_into(cols.reshape(n, c, *window.kernel_size, *window.output_shape), window, out)
    out = out.astype(cols.dtype, copy=False)
    return out if batched else out[0]


def _check_columns(shape: tuple[int, ...], window: Window, func: str) -> None:
    rows, positions = shape[1], shape[2]
    if rows % window.kernel_numel:
        raise ConvmmValueError(
            f"{func}: columns must have C * prod(kernel_size) rows, a multiple of "
            f"{window.kernel_numel} for kernel_size {window.kernel_size}; got {rows} rows "
            f"(shape {shape})"
        )
    if positions != window.num_positions:
        raise ConvmmValueError(
            f"{func}: columns must have one column per window position, "
            f"{window.num_positions} = {' x '.join(map(str, window.output_shape))} for "
            f"output_size {window.input_shape}; got {positions} columns (shape {shape})"
        )
