"""The public unfold (im2col) and fold (col2im)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._array_api import foreign
from ._arrays import as_float_array, check_allocation, compute_dtype
from ._dask import is_dask_array
from ._im2col import fold_into, unfold_into
from ._validate import fold_window, unfold_window

__all__ = ["fold", "unfold"]


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
    options = {"stride": stride, "padding": padding, "dilation": dilation}
    if foreign(input):  # an array of another library: computed with it, returned in it
        from ._portable_calls import portable_unfold

        return portable_unfold(  # type: ignore[no-any-return]
            input, kernel_size, padding_mode=padding_mode, **options
        )
    if is_dask_array(input):  # a lazy result, block by block along the batch
        from ._dask_batch import dask_unfold

        options["padding_mode"] = padding_mode
        return dask_unfold(func, input, kernel_size, options, unfold)  # type: ignore[no-any-return]
    x = as_float_array(input, func=func, name="input")
    batched, window = unfold_window(
        x.shape, kernel_size, padding_mode=padding_mode, func=func, **options
    )
    if not batched:
        x = x[np.newaxis]
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
    options = {"stride": stride, "padding": padding, "dilation": dilation}
    if foreign(columns):  # an array of another library: computed with it, returned in it
        from ._portable_calls import portable_fold

        return portable_fold(  # type: ignore[no-any-return]
            columns, output_size, kernel_size, padding_mode=padding_mode, **options
        )
    if is_dask_array(columns):  # a lazy result, block by block along the batch
        from ._dask_batch import dask_fold

        options["padding_mode"] = padding_mode
        return dask_fold(  # type: ignore[no-any-return]
            func, columns, output_size, kernel_size, options, fold
        )
    cols = as_float_array(columns, func=func, name="columns")
    batched, window = fold_window(
        cols.shape, output_size, kernel_size, padding_mode=padding_mode, func=func, **options
    )
    if not batched:
        cols = cols[np.newaxis]
    n = cols.shape[0]
    c = cols.shape[1] // window.kernel_numel
    dtype = compute_dtype(cols)
    shape = (n, c, *window.input_shape)
    check_allocation(shape if batched else shape[1:], dtype, func=func)
    out = np.zeros((n, c, *window.input_shape), dtype=dtype)
    fold_into(cols.reshape(n, c, *window.kernel_size, *window.output_shape), window, out)
    out = out.astype(cols.dtype, copy=False)
    return out if batched else out[0]
