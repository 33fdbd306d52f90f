"""The shift formulation: one GEMM per kernel row on shifted views, P a kernel row high.

At stride 1, moving a kernel offset along the first spatial dim shifts every patch by one
constant in the flattened padded input.  So of im2col's P only the rows of the first kernel row
need copying (``C_in · prod(kernel[1:])`` rows, over the output's rows at the padded width and
``kernel[0] - 1`` rows more); the rows for kernel row ``a`` are the same matrix shifted by
``a · dilation · padded_row`` columns, a strided view that the BLAS reads directly.  The product
is the sum over kernel rows of ``K_a · shift_a(P₀)``:

    ``Y = Σ_a  K_a · P₀[:, a·d·W_p : a·d·W_p + L]``

``kernel[0]`` GEMMs in place of one, each as long, and P₀ ``kernel[0]`` times smaller than P
(for a 1-D signal P₀ is the padded signal itself: no copy at all).  The columns past the output
width (the padded width's extra cells) are computed and cropped.

Serves stride 1 (any dilation, padding, padding mode, groups, layout, rank).  The weight
gradient is the same sum transposed, ``dK_a = Σ dY · shift_a(P₀)ᵀ`` with dY laid on the padded
width (zeros in the cropped columns); the input gradient of a stride-1 convolution is itself a
convolution (of dY with the flipped kernel), which the planner serves.  One image at a time,
within the bound.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from ._errors import ConvmmValueError
from ._geometry import ConvGeometry, Window, conv_geometry
from ._im2col import pad_into
from ._layout import channels_first, output_array
from ._workspace import buffer

__all__ = [
    "applies",
    "forward",
    "input_gradient_geometry",
    "input_gradient_padding",
    "weight_gradient",
    "workspace_per_image",
]


def applies(geometry: ConvGeometry) -> str | None:
    """None when the shift formulation serves this geometry; else why not."""
    if any(s != 1 for s in geometry.window.stride):
        return f"needs stride 1; got {geometry.window.stride}"
    return None


def _sizes(window: Window) -> tuple[int, int, int]:
    """(padded row size W_p, product length L, P₀ length) in the flattened padded input."""
    row = math.prod(window.padded_shape[1:])
    length = window.output_shape[0] * row
    extent = length + (window.kernel_size[0] - 1) * window.dilation[0] * row
    return row, length, extent


def _rest_offsets(window: Window) -> list[int]:
    """The flat shift of each kernel offset along the dims after the first."""
    padded = window.padded_shape
    steps = [math.prod(padded[d + 1 :]) for d in range(1, window.ndim)]
    return [
        sum(o * d * step for o, d, step in zip(offset, window.dilation[1:], steps, strict=True))
        for offset in itertools.product(*(range(k) for k in window.kernel_size[1:]))
    ]


def _first_kernel_row(
    flat: np.ndarray, geometry: ConvGeometry, shifts: list[int], extent: int
) -> np.ndarray:
    """P₀ ``(g, C_in/g · prod(kernel[1:]), extent)``: the rows of P for the first kernel row.

    For a 1-D signal it is the padded signal itself (a view); else one copy per offset of the
    kernel's other dims into the reused buffer.
    """
    g, cg = geometry.groups, geometry.in_channels_per_group
    if geometry.window.ndim == 1:
        view: np.ndarray = flat[:, :extent].reshape(g, cg, extent)
        return view
    cin, rest = geometry.in_channels, len(shifts)
    rows = buffer(cin * rest * extent, flat.dtype, "shift-p0").reshape(cin, rest, extent)
    for j, shift in enumerate(shifts):
        rows[:, j] = flat[:, shift : shift + extent]
    return rows.reshape(g, cg * rest, extent)


def workspace_per_image(geometry: ConvGeometry, itemsize: int, backward: bool = False) -> int:
    """Bytes of one image's buffers: the flat padded input, P₀, the sum and one product.

    ``backward``: also the buffers the input gradient's convolution leaves cached while the
    weight gradient runs (its sum and product, input-sized on the padded width).
    """
    if backward:
        window = geometry.window
        extra = 2 * geometry.in_channels * math.prod(window.padded_shape) * itemsize
        return workspace_per_image(geometry, itemsize) + extra
    window = geometry.window
    _, length, extent = _sizes(window)
    rest = math.prod(window.kernel_size[1:])
    flat = math.prod(window.padded_shape) + max(_rest_offsets(window), default=0) + extent
    p0 = 0 if window.ndim == 1 else geometry.in_channels * rest * extent
    gathered = math.prod(window.padded_shape) * geometry.in_channels
    return (geometry.in_channels * flat + p0 + gathered + 2 * geometry.out_channels * length) * (
        itemsize
    )


def _flat_input(x: np.ndarray, window: Window, dtype: np.dtype[Any], size: int) -> np.ndarray:
    """One image ``(C, *spatial)`` zero- or mode-padded, flattened, zeros past it: ``(C, size)``."""
    c = x.shape[0]
    flat = buffer(c * size, dtype, "shift-input").reshape(c, size)
    grid = math.prod(window.padded_shape)
    padded = flat[:, :grid].reshape(c, *window.padded_shape)
    flat[:, grid:] = 0
    pad_into(x, window, padded)
    return flat


def forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    geometry: ConvGeometry,
    *,
    out_dtype: np.dtype[Any],
    dtype: np.dtype[Any],
    budget: int,
    func: str,
) -> np.ndarray:
    """``y = Σ_a K_a · shift_a(P₀) + b`` for a batched ``x``; ``y`` in ``out_dtype``."""
    window = geometry.window
    g, cout = geometry.groups, geometry.out_channels
    cg, cog = geometry.in_channels_per_group, geometry.out_channels_per_group
    spatial = window.output_shape
    batch = x.shape[0]
    per_image = workspace_per_image(geometry, dtype.itemsize)
    if per_image > budget:
        raise ConvmmValueError(
            f"{func}: max_workspace_bytes={budget} is too small for algorithm='shift': one "
            f"image needs {per_image} bytes; give at least that or use algorithm='im2col'"
        )
    y = output_array(geometry, batch, spatial, cout, out_dtype, func)
    source, target = channels_first(x, geometry), channels_first(y, geometry)
    row, length, extent = _sizes(window)
    shifts = _rest_offsets(window)
    rest = len(shifts)
    k0, d0 = window.kernel_size[0], window.dilation[0]
    size = math.prod(window.padded_shape) + max(shifts, default=0) + extent
    # K_a: (g, C_out/g, C_in/g · prod(kernel[1:])) per kernel row a, P₀'s row order (c, rest)
    weights = np.asarray(w, dtype=dtype).reshape(g, cog, cg, k0, rest)
    kernels = [np.ascontiguousarray(weights[:, :, :, a, :].reshape(g, cog, -1)) for a in range(k0)]
    bias = None if b is None else np.asarray(b, dtype=dtype).reshape(g, cog, 1)
    crop = (Ellipsis,) + tuple(slice(0, n) for n in spatial[1:])
    for image in range(batch):
        flat = _flat_input(source[image], window, dtype, size)
        p0 = _first_kernel_row(flat, geometry, shifts, extent)
        acc = buffer(g * cog * length, dtype, "shift-acc").reshape(g, cog, length)
        step = buffer(g * cog * length, dtype, "shift-step").reshape(g, cog, length)
        for a in range(k0):
            start = a * d0 * row
            np.matmul(kernels[a], p0[:, :, start : start + length], out=acc if a == 0 else step)
            if a:
                acc += step
        if bias is not None:
            acc += bias
        rows = acc.reshape(cout, spatial[0], *window.padded_shape[1:])
        target[image] = rows[crop]
    return y


def weight_gradient(
    x: np.ndarray,
    dy: np.ndarray,
    geometry: ConvGeometry,
    *,
    dtype: np.dtype[Any],
    budget: int,
    func: str,
) -> np.ndarray:
    """``dK = Σ_images Σ_a dY · shift_a(P₀)ᵀ`` as ``(C_out, C_in/g, *kernel)``, compute dtype."""
    window = geometry.window
    g, cout = geometry.groups, geometry.out_channels
    cg, cog = geometry.in_channels_per_group, geometry.out_channels_per_group
    spatial = window.output_shape
    per_image = workspace_per_image(geometry, dtype.itemsize)
    if per_image > budget:
        raise ConvmmValueError(
            f"{func}: max_workspace_bytes={budget} is too small for algorithm='shift': one "
            f"image needs {per_image} bytes; give at least that or use algorithm='im2col'"
        )
    source, grads = channels_first(x, geometry), channels_first(dy, geometry)
    row, length, extent = _sizes(window)
    shifts = _rest_offsets(window)
    rest = len(shifts)
    k0, d0 = window.kernel_size[0], window.dilation[0]
    size = math.prod(window.padded_shape) + max(shifts, default=0) + extent
    dk = np.zeros((k0, g, cog, cg * rest), dtype=dtype)
    step = np.empty((g, cog, cg * rest), dtype=dtype)
    grid = buffer(cout * length, dtype, "shift-grad")
    for image in range(x.shape[0]):
        flat = _flat_input(source[image], window, dtype, size)
        p0 = _first_kernel_row(flat, geometry, shifts, extent)
        # dY on the padded width: its cells where outputs are, zeros in the cropped columns
        padded_rows = grid.reshape(cout, spatial[0], *window.padded_shape[1:])
        if window.ndim > 1:
            padded_rows[...] = 0
        padded_rows[(Ellipsis,) + tuple(slice(0, n) for n in spatial[1:])] = grads[image]
        grad = grid.reshape(g, cog, length)
        for a in range(k0):
            start = a * d0 * row
            np.matmul(grad, p0[:, :, start : start + length].transpose(0, 2, 1), out=step)
            dk[a] += step
    # (k0, g, cog, cg, rest) -> (C_out, C_in/g, k0, *kernel[1:])
    weight: np.ndarray = dk.reshape(k0, g, cog, cg, rest).transpose(1, 2, 3, 0, 4)
    return weight.reshape(cout, cg, *window.kernel_size)


def input_gradient_padding(geometry: ConvGeometry) -> tuple[tuple[int, int], ...] | None:
    """The padding of the convolution of dY that is this stride-1 convolution's input gradient.

    dX is the full correlation of dY with the flipped kernel: per dim ``(d·(k-1) - before,
    n - out + before)``, where n is the input size and out the output's.  None when the
    forward padding is larger than that (a crop, not a padding) or not zeros.
    """
    window = geometry.window
    if window.padding_mode != "zeros" and window.is_padded:
        return None
    pads = []
    for n, out, k, d, (before, _) in zip(
        window.input_shape,
        window.output_shape,
        window.kernel_size,
        window.dilation,
        window.padding,
        strict=True,
    ):
        pair = (d * (k - 1) - before, n - out + before)
        if min(pair) < 0:
            return None
        pads.append(pair)
    return tuple(pads)


def flipped_transposed_weight(w: np.ndarray, geometry: ConvGeometry, dtype: Any) -> np.ndarray:
    """``(C_in, C_out/g, *kernel)``: each group's filters transposed, every kernel flipped."""
    g, cog, cg = geometry.groups, geometry.out_channels_per_group, geometry.in_channels_per_group
    kernel = geometry.window.kernel_size
    grouped = np.asarray(w, dtype=dtype).reshape(g, cog, cg, *kernel).swapaxes(1, 2)
    flipped = grouped[(Ellipsis,) + (slice(None, None, -1),) * len(kernel)]
    return np.ascontiguousarray(flipped.reshape(g * cg, cog, *kernel))


def input_gradient_geometry(geometry: ConvGeometry, func: str) -> ConvGeometry:
    """The geometry of the convolution of dY that is a stride-1 convolution's input gradient."""
    pads = input_gradient_padding(geometry)
    if pads is None:  # pragma: no cover - checked by the planner
        raise RuntimeError("convmm: the input gradient is not a convolution here")
    window = geometry.window
    spatial, channels = window.output_shape, geometry.out_channels
    if geometry.channels_last:
        shape: tuple[int, ...] = (geometry.batch, *spatial, channels)
    else:
        shape = (geometry.batch, channels, *spatial)
    weight = (geometry.in_channels, geometry.out_channels_per_group, *window.kernel_size)
    return conv_geometry(
        shape,
        weight,
        None,
        stride=1,
        padding=pads,
        dilation=window.dilation,
        groups=geometry.groups,
        padding_mode="zeros",
        channels_last=geometry.channels_last,
        func=func,
    )
