"""The dask forms of ``unfold``, ``fold`` and ``conv_transpose_backward``, block by block
along the batch.

Each block holds whole images (the input's other axes are merged into one chunk), and the NumPy
function runs on it, so every image's result is the in-memory one; ``conv_transpose_backward``'s
weight and bias gradients are the sums of the blocks' (in another order than one call's, so up
to rounding).  The calls are checked when they are made, from the shapes alone, as the NumPy
functions check them; nothing is computed before ``.compute()`` (but a dask weight, which is
small, computed once).  The three gradients of a block come from one NumPy call: compute them
together (``dask.compute(dx, dw, db)``), or each ``.compute()`` runs that call again.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from ._arrays import as_float_array, check_flags, workspace_budget
from ._dask import as_dask, dask_array_module, float_dtype, small_array, split_arguments
from ._planner import check_algorithm
from ._validate import check_transposed_grad_output, fold_window, transpose_geometry, unfold_window

__all__ = ["dask_conv_transpose_backward", "dask_fold", "dask_unfold"]


def _whole_images(x: Any, batches: tuple[int, ...] | None = None) -> Any:
    """``x`` with every axis but the batch in one chunk (and the batch in ``batches``)."""
    return x.rechunk({0: batches or x.chunks[0], **dict.fromkeys(range(1, x.ndim), -1)})


def dask_unfold(
    func: str, x: Any, kernel_size: object, options: dict[str, Any], unfold: Callable[..., Any]
) -> Any:
    """:func:`convmm.unfold` of a dask array: a lazy ``(N, C·prod(kernel), L)`` array."""
    dtype = float_dtype(x, func, "input")
    batched, window = unfold_window(x.shape, kernel_size, func=func, **options)
    lead = x if batched else x[np.newaxis]
    lead = _whole_images(lead)
    call = functools.partial(unfold, kernel_size=kernel_size, **options)
    rows = lead.shape[1] * window.kernel_numel
    patches = lead.map_blocks(
        call,
        dtype=dtype,
        chunks=(lead.chunks[0], (rows,), (window.num_positions,)),
        drop_axis=list(range(3, lead.ndim)),
        meta=np.empty((0, 0, 0), dtype=dtype),
    )
    return patches if batched else patches[0]


def dask_fold(
    func: str,
    columns: Any,
    output_size: object,
    kernel_size: object,
    options: dict[str, Any],
    fold: Callable[..., Any],
) -> Any:
    """:func:`convmm.fold` of a dask array: a lazy ``(N, C, *output_size)`` array."""
    dtype = float_dtype(columns, func, "columns")
    batched, window = fold_window(columns.shape, output_size, kernel_size, func=func, **options)
    lead = columns if batched else columns[np.newaxis]
    lead = _whole_images(lead)
    call = functools.partial(fold, output_size=output_size, kernel_size=kernel_size, **options)
    channels = lead.shape[1] // window.kernel_numel
    nd = window.ndim
    folded = lead.map_blocks(
        call,
        dtype=dtype,
        chunks=(lead.chunks[0], (channels,), *((n,) for n in window.input_shape)),
        new_axis=list(range(3, 2 + nd)),
        meta=np.empty((0,) * (2 + nd), dtype=dtype),
    )
    return folded if batched else folded[0]


def dask_conv_transpose_backward(
    func: str,
    grad_output: Any,
    input: Any,
    weight: Any,
    arguments: dict[str, Any],
    conv_transpose_backward: Callable[..., Any],
) -> tuple[Any, Any, Any]:
    """:func:`convmm.conv_transpose_backward` with a dask ``input`` or ``grad_output``: lazy
    gradients, one NumPy call per block of images (dX concatenated, dK and db summed)."""
    da = dask_array_module(func)
    from dask.delayed import delayed

    options, call, flags = split_arguments(arguments)
    check_flags(func, **flags)
    workspace_budget(call["max_workspace_bytes"], func=func)
    check_algorithm(call["algorithm"], func)
    w = as_float_array(small_array(weight, func, "weight"), func=func, name="weight")
    x = as_dask(da, input)
    dy = as_dask(da, grad_output)
    dtype = float_dtype(x, func, "input")
    float_dtype(dy, func, "grad_output")
    geometry = transpose_geometry(x, w, None, func=func, **options)
    check_transposed_grad_output(tuple(dy.shape), geometry.input_array_shape(), func)
    if not geometry.batched:
        x, dy = x[np.newaxis], dy[np.newaxis]
    # blocks of images as the dask argument has them (the input's when both are)
    batches = (x if hasattr(input, "dask") else dy).chunks[0]
    x, dy = _whole_images(x, batches), _whole_images(dy, batches)
    # each block is a batch of its own: output_size as the spatial sizes (the whole-shape form
    # names the full batch)
    spatial = None if options["output_size"] is None else geometry.window.input_shape
    blocks = {**arguments, "output_size": spatial}
    backward = functools.partial(conv_transpose_backward, weight=w, **blocks)
    grad_input, weight_parts, bias_parts = [], [], []
    for start, images in zip(itertools.accumulate(batches, initial=0), batches, strict=False):
        part = delayed(backward, nout=3)(dy[start : start + images], x[start : start + images])
        if flags["needs_input_grad"]:
            shape = (images, *x.shape[1:])
            grad_input.append(da.from_delayed(part[0], shape=shape, dtype=dtype))
        if flags["needs_weight_grad"]:
            weight_parts.append(da.from_delayed(part[1], shape=w.shape, dtype=w.dtype))
        if flags["bias"]:
            channels = geometry.in_channels  # the transposed convolution's output channels
            bias_parts.append(da.from_delayed(part[2], shape=(channels,), dtype=w.dtype))
    dx = da.concatenate(grad_input, axis=0) if grad_input else None
    if dx is not None and not geometry.batched:
        dx = dx[0]
    dw = _total(da, weight_parts, w.dtype)
    db = _total(da, bias_parts, w.dtype)
    return dx, dw, db


def _total(da: Any, parts: list[Any], dtype: np.dtype[Any]) -> Any:
    """The sum of the blocks' gradients (in float32 at least, as the NumPy path sums), or None."""
    if not parts:
        return None
    wide = np.result_type(np.float32, dtype)
    return da.stack(parts).sum(axis=0, dtype=wide).astype(dtype)
