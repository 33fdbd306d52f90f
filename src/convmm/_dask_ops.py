"""The dask forms of ``conv``, ``conv_transpose`` and ``conv_backward`` (see ``_dask``).

Every block is computed by the NumPy function itself, on the region its outputs read, with
the geometry's padding already applied (or, for the transposed forms, cropped afterwards), so
that the lazy result holds the in-memory result's values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._dask import (
    Piece,
    add_bias,
    adjoint_pad,
    as_dask,
    axes_of,
    conv_pieces,
    dask_array_module,
    fit_block,
    float_dtype,
    one_block,
    output_shape,
    pad_borders,
    region,
    small_array,
    spatial_grids,
    split_arguments,
    stitch,
    transpose_pieces,
)
from ._errors import ConvmmValueError
from ._geometry import ConvGeometry, conv_geometry
from ._validate import transpose_geometry

__all__ = ["dask_conv", "dask_conv_backward", "dask_conv_transpose"]


def _prepare(x: Any, geometry: ConvGeometry, func: str, name: str) -> Any:
    """The dask array with its channels in one chunk (the contraction needs them all)."""
    axes = axes_of(geometry)
    float_dtype(x, func, name)
    if len(x.chunks[axes.channel]) > 1:
        x = x.rechunk({axes.channel: -1})
    return x


def dask_conv(
    func: str,
    input: Any,
    weight: Any,
    bias: Any,
    arguments: dict[str, Any],
    *,
    conv: Callable[..., np.ndarray],
) -> Any:
    """:func:`convmm.conv` of a dask array: a lazy dask array of the same values.

    ``arguments`` are the public function's keyword arguments as given; ``conv`` is the NumPy
    :func:`convmm.conv` each block calls (with the workspace bound and the algorithm).
    """
    options, call, _ = split_arguments(arguments)
    da = dask_array_module(func)
    w = small_array(weight, func, "weight")
    b = small_array(bias, func, "bias")
    x = as_dask(da, input)
    geometry = conv_geometry(
        x.shape, np.shape(w), None if b is None else np.shape(b), func=func, **options
    )
    x = _prepare(x, geometry, func, "input")
    window, axes = geometry.window, axes_of(geometry)
    padded = pad_borders(da, x, axes, window.padding, window.padding_mode)
    spatial = [
        conv_pieces(x.chunks[axis], k, s, d, m)
        for axis, k, s, d, m in zip(
            axes.spatial,
            window.kernel_size,
            window.stride,
            window.dilation,
            window.output_shape,
            strict=True,
        )
    ]
    batch = x.chunks[axes.batch] if axes.batch is not None else None
    grids = spatial_grids(axes, batch, geometry.out_channels, spatial)
    blocks = {
        "stride": options["stride"],
        "dilation": options["dilation"],
        "groups": options["groups"],
        "channels_last": options["channels_last"],
        **call,
    }
    dtype = x.dtype

    def make(pieces: tuple[Piece, ...]) -> Any:
        def one(block: np.ndarray) -> np.ndarray:
            return conv(block, w, b, padding=0, **blocks)

        shape = output_shape(pieces, axes.channel, geometry.out_channels)
        return one_block(region(padded, pieces, axes.channel), one, shape, dtype)

    return stitch(da, grids, make)


def _transposed_blocks(
    da: Any,
    x: Any,
    geometry: ConvGeometry,
    w: Any,
    b: Any,
    *,
    before: tuple[int, ...],
    sizes: tuple[int, ...],
    channels: int,
    blocks: dict[str, Any],
    conv_transpose: Callable[..., np.ndarray],
) -> Any:
    """The fold of Kᵀ·X (x is the transposed input, in ``geometry``'s output terms) onto a
    frame of ``sizes``, less ``before`` cells per spatial dim, block by block, plus ``b``
    (each block by the NumPy ``conv_transpose``)."""
    window, axes = geometry.window, axes_of(geometry)
    spatial = [
        transpose_pieces(x.chunks[axis], pad, k, s, d, m)
        for axis, pad, k, s, d, m in zip(
            axes.spatial,
            before,
            window.kernel_size,
            window.stride,
            window.dilation,
            sizes,
            strict=True,
        )
    ]
    batch = x.chunks[axes.batch] if axes.batch is not None else None
    grids = spatial_grids(axes, batch, channels, spatial)
    dtype = x.dtype

    def make(pieces: tuple[Piece, ...]) -> Any:
        shape = output_shape(pieces, axes.channel, channels)
        spatial_pieces = [pieces[axis] for axis in axes.spatial]
        if any(p.source.stop <= p.source.start for p in spatial_pieces):
            return add_bias_lazy(da, da.zeros(shape, dtype=dtype, chunks=shape), b, axes.channel)

        def one(block: np.ndarray) -> np.ndarray:
            y = conv_transpose(block, w, None, padding=0, **blocks)
            y = fit_block(y, axes.spatial, spatial_pieces)
            return add_bias(y, b, axes.channel).astype(dtype, copy=False)

        return one_block(region(x, pieces, axes.channel), one, shape, dtype)

    return stitch(da, grids, make)


def add_bias_lazy(da: Any, y: Any, bias: Any, channel_axis: int) -> Any:
    if bias is None:
        return y
    shape = [1] * y.ndim
    shape[channel_axis] = -1
    return y + np.asarray(bias, dtype=y.dtype).reshape(shape)


def dask_conv_transpose(
    func: str,
    input: Any,
    weight: Any,
    bias: Any,
    arguments: dict[str, Any],
    *,
    conv_transpose: Callable[..., np.ndarray],
) -> Any:
    """:func:`convmm.conv_transpose` of a dask array: a lazy dask array of the same values
    (each block by the NumPy ``conv_transpose``)."""
    options, call, _ = split_arguments(arguments)
    output_size = options.pop("output_size")
    da = dask_array_module(func)
    w = small_array(weight, func, "weight")
    b = small_array(bias, func, "bias")
    x = as_dask(da, input)
    geometry = transpose_geometry(
        x,
        np.asarray(w),
        None if b is None else np.shape(b),
        output_size=output_size,
        func=func,
        **options,
    )
    x = _prepare_transposed(x, geometry, func)
    window = geometry.window
    blocks = {
        "stride": window.stride,
        "dilation": window.dilation,
        "groups": geometry.groups,
        "channels_last": geometry.channels_last,
        **call,
    }
    return _transposed_blocks(
        da,
        x,
        geometry,
        w,
        b,
        before=tuple(before for before, _ in window.padding),
        sizes=window.input_shape,
        channels=geometry.in_channels,
        blocks=blocks,
        conv_transpose=conv_transpose,
    )


def _prepare_transposed(x: Any, geometry: ConvGeometry, func: str) -> Any:
    axes = axes_of(geometry)
    float_dtype(x, func, "input")
    if len(x.chunks[axes.channel]) > 1:
        x = x.rechunk({axes.channel: -1})
    return x


def dask_conv_backward(
    func: str,
    grad_output: Any,
    input: Any,
    weight: Any,
    arguments: dict[str, Any],
    *,
    conv_backward: Callable[..., Any],
    conv_transpose: Callable[..., np.ndarray],
) -> tuple[Any, Any, Any]:
    """:func:`convmm.conv_backward` of dask arrays: lazy dX, dK and db of the same values
    (dX by blocks of the NumPy ``conv_transpose``, dK by blocks of ``conv_backward``)."""
    options, call, flags = split_arguments(arguments)
    da = dask_array_module(func)
    w = small_array(weight, func, "weight")
    x = as_dask(da, input)
    dy = as_dask(da, grad_output)
    geometry = conv_geometry(x.shape, np.shape(w), None, func=func, **options)
    if tuple(dy.shape) != geometry.output_array_shape():
        raise ConvmmValueError(
            f"{func}: grad_output must have the shape of the convolution's output, "
            f"{geometry.output_array_shape()}; got {tuple(dy.shape)}"
        )
    x = _prepare(x, geometry, func, "input")
    dy = _prepare(dy, geometry, func, "grad_output")
    window, axes = geometry.window, axes_of(geometry)
    blocks = {
        "stride": window.stride,
        "dilation": window.dilation,
        "groups": geometry.groups,
        "channels_last": geometry.channels_last,
        **call,
    }
    grad_input = grad_weight = grad_bias = None
    if flags["needs_input_grad"]:
        zeros = window.padding_mode == "zeros"
        frame = window.input_shape if zeros else window.padded_shape
        before = tuple(b for b, _ in window.padding) if zeros else (0,) * window.ndim
        grad_input = _transposed_blocks(
            da,
            dy,
            geometry,
            w,
            None,
            before=before,
            sizes=frame,
            channels=geometry.in_channels,
            blocks=blocks,
            conv_transpose=conv_transpose,
        )
        if not zeros:
            grad_input = adjoint_pad(
                da, grad_input, axes, window.padding, window.input_shape, window.padding_mode
            )
    if flags["needs_weight_grad"]:
        grad_weight = _weight_gradient(da, dy, x, w, geometry, blocks, conv_backward)
    if flags["bias"]:
        grad_bias = dy.sum(axis=tuple(a for a in range(dy.ndim) if a != axes.channel))
    return grad_input, grad_weight, grad_bias


def _weight_gradient(
    da: Any, dy: Any, x: Any, w: Any, geometry: ConvGeometry, blocks: dict[str, Any], backward: Any
) -> Any:
    """dK summed over dY's blocks, each with the padded input region its positions read."""
    from dask.delayed import delayed

    window, axes = geometry.window, axes_of(geometry)
    padded = pad_borders(da, x, axes, window.padding, window.padding_mode)
    span = [d * (k - 1) + 1 for k, d in zip(window.kernel_size, window.dilation, strict=True)]
    parts = []
    dy_starts = [np.cumsum((0, *dy.chunks[axis])) for axis in range(dy.ndim)]
    for block in np.ndindex(*dy.numblocks):
        dy_index = tuple(
            slice(starts[i], starts[i + 1]) for starts, i in zip(dy_starts, block, strict=True)
        )
        x_index: list[slice] = list(dy_index)
        x_index[axes.channel] = slice(None)
        for dim, axis in enumerate(axes.spatial):
            j0, j1 = dy_index[axis].start, dy_index[axis].stop
            s = window.stride[dim]
            x_index[axis] = slice(j0 * s, (j1 - 1) * s + span[dim])

        def one(dy_block: np.ndarray, x_block: np.ndarray) -> np.ndarray:
            _, grad, _ = backward(
                dy_block,
                x_block,
                w,
                padding=0,
                bias=False,
                needs_input_grad=False,
                **blocks,
            )
            return np.asarray(grad)

        part = delayed(one)(dy[dy_index], padded[tuple(x_index)])
        parts.append(da.from_delayed(part, shape=np.shape(w), dtype=dy.dtype))
    return da.stack(parts).sum(axis=0)
