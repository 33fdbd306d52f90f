"""The im2col formulation: the three matrix products of a convolution, in cache-sized chunks.

With P the patch matrix of the input x and K the flattened weight:

- ``forward``:          Y  = K · P                       (conv; the transposed conv's input grad)
- ``backward_input``:   dX = fold(Kᵀ · dY)               (conv's input grad; the transposed conv)
- ``backward_weight``:  dK = dY · Pᵀ, summed over images  (both weight grads)
- ``backward``:         dK and dX in one pass: each chunk's P is unfolded once, multiplied
                        into dK, then overwritten by Kᵀ·dY and folded.

All take a :class:`ConvGeometry` in *convolution* terms (x is the convolution's input, y its
output) and arrays already validated, batched, in the caller's layout.  They share one unfold
and one fold (``_im2col``) and one chunk plan (``_plan``).

Chunks are sized to the caches (:data:`CHUNK_BYTES`, never more than the workspace bound), so
each P chunk is read by the product right after the unfold wrote it; the unfold and the fold
of a chunk are split along the channels over convmm's threads; P lives in one buffer reused
across chunks and calls (``_workspace``).

Layouts.  Channels-first keeps a chunk's P as ``(groups, C_in/groups · prod(k), n · L)``, all
the chunk's positions side by side, so that each group's product is one large GEMM; a chunk of
one image (or of a run of its rows) lands in the output without a copy, a chunk of several
small images through one transposing copy.  Channels-last keeps Pᵀ as
``(groups, n · L, prod(k) · C_in/groups)`` and multiplies Pᵀ·Kᵀ, so the product lands in
``(N, *spatial, C_out)`` order.  A 1x1 kernel at stride 1 without padding multiplies the input
itself (P is a view).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._chunk_threads import fold_chunk, unfold_chunk
from ._geometry import ConvGeometry
from ._im2col import uses_phases
from ._layout import Layout, grouped, output_array
from ._plan import Chunk, Plan, plan_chunks
from ._workspace import buffer

__all__ = [
    "CHUNK_BYTES",
    "backward",
    "backward_input",
    "backward_weight",
    "bias_gradient",
    "forward",
    "grouped",
    "is_pointwise",
    "patches_are_input",
]

#: The workspace one chunk aims at: about the L2 caches of the cores together, where P stays
#: between the unfold and the product.  Chunks are never larger than ``max_workspace_bytes``.
CHUNK_BYTES = 16 * 2**20


def _plan(
    geometry: ConvGeometry,
    dtype: np.dtype[Any],
    slab_itemsize: int,
    patches_are_input: bool,
    result_buffer: bool,
    budget: int,
    func: str,
    slab_copies: int = 1,
    converts: bool | None = None,
) -> Plan:
    several = not geometry.channels_last and not patches_are_input
    if converts is None:  # the unfold reads an input of another dtype than P's
        converts = slab_itemsize != dtype.itemsize and not patches_are_input
    return plan_chunks(
        geometry,
        compute_itemsize=dtype.itemsize,
        input_itemsize=slab_itemsize,
        patches_are_input=patches_are_input,
        result_buffer=result_buffer,
        budget=budget,
        func=func,
        slab_copies=slab_copies,
        target=CHUNK_BYTES,
        several_images_buffer=several,
        input_copy=converts,
    )


def patches_are_input(x: np.ndarray, geometry: ConvGeometry, dtype: np.dtype[Any]) -> bool:
    """Whether P is a view of the input (1x1 kernel, stride 1, no padding)."""
    return is_pointwise(geometry) and x.dtype == dtype and x.flags.c_contiguous


def is_pointwise(geometry: ConvGeometry) -> bool:
    window = geometry.window
    return (
        window.kernel_numel == 1
        and all(s == 1 for s in window.stride)
        and not window.is_padded
        and window.output_shape == window.input_shape
        and (geometry.groups == 1 or not geometry.channels_last)
    )


def chunk_plan(
    op: str,
    geometry: ConvGeometry,
    dtype: np.dtype[Any],
    x_dtype: np.dtype[Any],
    *,
    budget: int,
    func: str,
) -> Plan:
    """The chunks a call of ``op`` makes, for contiguous arrays of ``x_dtype`` (``convmm.plan``).

    ``op`` is in convolution terms: ``'conv'`` (the forward product), ``'conv_transpose'``
    (the fold of Kᵀ·X), ``'conv_backward'`` (both gradients) or ``'conv_transpose_backward'``
    (a forward product and a weight gradient, which share this plan's chunks).
    """
    direct = is_pointwise(geometry) and x_dtype == dtype
    if op == "conv_transpose" or (op == "conv_backward" and not direct):
        itemsize = max(x_dtype.itemsize, dtype.itemsize)
        converts = op == "conv_backward" and x_dtype != dtype
        return _plan(geometry, dtype, itemsize, False, False, budget, func, 2, converts)
    return _plan(geometry, dtype, x_dtype.itemsize, direct, x_dtype != dtype, budget, func)


def _direct_patches(x: np.ndarray, geometry: ConvGeometry, chunk: Chunk) -> np.ndarray:
    """P as a view of the input (see :func:`patches_are_input`).

    Channels-first ``(n, g, C_in/g, L)`` (a stack of per-image products); channels-last
    ``(1, n·L, C_in)``.
    """
    (b0, b1), (r0, r1) = chunk.batch, chunk.rows
    n = b1 - b0
    # A run of rows is always of one image (n == 1), so these reshapes never copy.
    positions = (r1 - r0) * math.prod(geometry.window.output_shape[1:])
    if geometry.channels_last:
        return np.reshape(x[b0:b1, r0:r1], (1, n * positions, geometry.in_channels), copy=False)
    return np.reshape(
        x[b0:b1, :, r0:r1],
        (n, geometry.groups, geometry.in_channels_per_group, positions),
        copy=False,
    )


def phases_fit(
    x: np.ndarray, geometry: ConvGeometry, dtype: np.dtype[Any], plan: Plan, budget: int
) -> bool:
    """Whether the bound has room, next to the plan's buffers, for a strided layer's phase
    copies (at most one copy of a chunk's images; see ``_im2col.uses_phases``)."""
    if not uses_phases(geometry.window):
        return False
    images = max((c.batch[1] - c.batch[0] for c in plan.chunks), default=0)
    per_image = geometry.in_channels * math.prod(geometry.window.input_shape)
    itemsize = max(x.dtype.itemsize, dtype.itemsize)
    return plan.workspace_bytes + images * per_image * itemsize <= budget


class _Patches:
    """Makes each chunk's P in the reused buffer (or hands out a view of the input)."""

    def __init__(
        self,
        x: np.ndarray,
        layout: Layout,
        dtype: np.dtype[Any],
        direct: bool,
        plan: Plan,
        budget: int,
    ) -> None:
        self.x, self.layout, self.direct = x, layout, direct
        geometry = layout.geometry
        self.source = grouped(x, geometry, geometry.in_channels)
        self.buffer = buffer(0 if direct else plan.patch_elements, dtype, "patches")
        self.converts = plan.converts
        self.phases = phases_fit(x, geometry, dtype, plan, budget)

    def __call__(self, chunk: Chunk) -> tuple[np.ndarray, np.ndarray | None]:
        """(P as the product needs it, its logical view or None when P is the input)."""
        geometry = self.layout.geometry
        if self.direct:
            return _direct_patches(self.x, geometry, chunk), None
        patches, logical = self.layout.patch_views(self.buffer, chunk)
        source = self.source[chunk.batch[0] : chunk.batch[1]]
        unfold_chunk(source, geometry.window, logical, chunk.rows, self.converts, self.phases)
        return patches, logical


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
    """``y = K · P(x) + b`` for a batched ``x`` in the geometry's layout; ``y`` in ``out_dtype``."""
    window = geometry.window
    y = output_array(
        geometry, x.shape[0], window.output_shape, geometry.out_channels, out_dtype, func
    )
    layout = Layout(geometry)
    direct = patches_are_input(x, geometry, dtype)
    cast = y.dtype != dtype
    plan = _plan(geometry, dtype, x.dtype.itemsize, direct, cast, budget=budget, func=func)
    make_patches = _Patches(x, layout, dtype, direct, plan, budget)
    k = layout.kernel_matrix(w, dtype)
    g, cog = geometry.groups, geometry.out_channels_per_group
    if geometry.channels_last:
        k = np.ascontiguousarray(k.transpose(0, 2, 1))
    bias = None
    if b is not None:
        # broadcast over the product's axes: (g, n·L, cog), (g, cog, n·L) or (n, g, cog, L)
        bias = b.astype(dtype).reshape((g, 1, cog) if geometry.channels_last else (g, cog, 1))
    for chunk in plan.chunks:
        patches, _ = make_patches(chunk)
        target: np.ndarray | None
        if direct and not geometry.channels_last:
            target = layout.output_view(y, chunk)
            left, right = k, patches
        else:
            target = layout.product_view(y, chunk)
            left, right = (patches, k) if geometry.channels_last else (k, patches)
        shape = left.shape[:-1] + right.shape[-1:]
        if len(left.shape) < len(right.shape):
            shape = right.shape[:-2] + shape
        result = target
        if result is None or cast:
            result = buffer(math.prod(shape), dtype, "result").reshape(shape)
        np.matmul(left, right, out=result)
        if bias is not None:
            result += bias
        if target is None:  # several images side by side: one transposing copy into y
            layout.to_product(layout.output_view(y, chunk))[...] = result.reshape(
                g, cog, chunk.batch[1] - chunk.batch[0], -1
            )
        elif result is not target:
            target[...] = result
    return y


def _grad_product(dy: np.ndarray, layout: Layout, chunk: Chunk, dtype: np.dtype[Any]) -> np.ndarray:
    """The chunk of ``dy`` with the product's axes (see :meth:`Layout.product_view`).

    A view when ``dy`` is contiguous in the compute dtype and the chunk is one image (or
    channels-last); else a copy into the reused gradient buffer (the plan counts it).
    """
    if dy.dtype == dtype and dy.flags.c_contiguous:
        view = layout.product_view(dy, chunk)
        if view is not None:
            return view
    geometry = layout.geometry
    g, cog = geometry.groups, geometry.out_channels_per_group
    n, per_image = layout.sizes(chunk)
    (b0, b1), (r0, r1) = chunk.batch, chunk.rows
    rest = geometry.window.output_shape[1:]
    # Copied straight from dy's own chunk (any strides; splitting the channel axis is always a
    # view), so a non-contiguous dy costs this one counted buffer and no other copy.
    if geometry.channels_last:
        copy = buffer(g * n * per_image * cog, dtype, "result").reshape(g, n * per_image, cog)
        cells = copy.reshape(g, n, r1 - r0, *rest, cog)
        cells[...] = np.moveaxis(dy[b0:b1, r0:r1].reshape(n, r1 - r0, *rest, g, cog), -2, 0)
        return copy
    stacked = buffer(g * cog * n * per_image, dtype, "result").reshape(g, cog, n, per_image)
    cells = stacked.reshape(g, cog, n, r1 - r0, *rest)
    cells[...] = np.moveaxis(dy[b0:b1, :, r0:r1].reshape(n, g, cog, r1 - r0, *rest), 0, 2)
    return stacked.reshape(g, cog, n * per_image)


def _needs_grad_buffer(dy: np.ndarray, dtype: np.dtype[Any]) -> bool:
    return dy.dtype != dtype or not dy.flags.c_contiguous


def backward_input(
    dy: np.ndarray,
    w: np.ndarray,
    geometry: ConvGeometry,
    *,
    dtype: np.dtype[Any],
    budget: int,
    func: str,
) -> np.ndarray:
    """``dx = fold(Kᵀ · dy)`` for a batched ``dy``; ``dx`` in the compute dtype, caller's layout."""
    return _backward(None, dy, w, geometry, dtype=dtype, budget=budget, func=func)[0]


def backward(
    x: np.ndarray,
    dy: np.ndarray,
    w: np.ndarray,
    geometry: ConvGeometry,
    *,
    dtype: np.dtype[Any],
    budget: int,
    func: str,
) -> tuple[np.ndarray, np.ndarray]:
    """``(dx, dK)`` in one pass over the chunks: each P is unfolded once, then reused for dP."""
    dx, dk = _backward(x, dy, w, geometry, dtype=dtype, budget=budget, func=func)
    return dx, layout_weight(dk, geometry)


def _backward(
    x: np.ndarray | None,
    dy: np.ndarray,
    w: np.ndarray,
    geometry: ConvGeometry,
    *,
    dtype: np.dtype[Any],
    budget: int,
    func: str,
) -> tuple[np.ndarray, np.ndarray | None]:
    window = geometry.window
    layout = Layout(geometry)
    pointwise = x is None and is_pointwise(geometry)
    dx = output_array(
        geometry,
        dy.shape[0],
        window.input_shape,
        geometry.in_channels,
        dtype,
        func,
        zeros=not pointwise,
    )
    if pointwise and dy.dtype == dtype and dy.flags.c_contiguous:
        return _pointwise_input_gradient(dy, w, layout, dx), None
    if pointwise:
        dx[...] = 0
    itemsize = dtype.itemsize if x is None else max(x.dtype.itemsize, dtype.itemsize)
    copy = _needs_grad_buffer(dy, dtype)
    converts = x is not None and x.dtype != dtype
    plan = _plan(geometry, dtype, itemsize, False, copy, budget, func, 2, converts)
    phases = x is not None and phases_fit(x, geometry, dtype, plan, budget)
    patch_buffer = buffer(plan.patch_elements, dtype, "patches")
    target = grouped(dx, geometry, geometry.in_channels)
    source = None if x is None else grouped(x, geometry, geometry.in_channels)
    k = layout.kernel_matrix(w, dtype)
    if not geometry.channels_last:
        k = np.ascontiguousarray(k.transpose(0, 2, 1))
    g, cog = geometry.groups, geometry.out_channels_per_group
    acc = None if x is None else np.zeros((g, cog, geometry.patch_size), dtype=dtype)
    step = None if acc is None else np.empty_like(acc)
    for chunk in plan.chunks:
        (b0, b1), rows = chunk.batch, chunk.rows
        patches, logical = layout.patch_views(patch_buffer, chunk)
        grad = _grad_product(dy, layout, chunk, dtype)
        if source is not None and acc is not None and step is not None:
            unfold_chunk(source[b0:b1], window, logical, rows, plan.converts, phases)
            if geometry.channels_last:
                np.matmul(grad.transpose(0, 2, 1), patches, out=step)
            else:
                np.matmul(grad, patches.transpose(0, 2, 1), out=step)
            acc += step
        left, right = (grad, k) if geometry.channels_last else (k, grad)
        np.matmul(left, right, out=patches)
        fold_chunk(logical, window, target[b0:b1], rows)
    return dx, acc


def _pointwise_input_gradient(
    dy: np.ndarray, w: np.ndarray, layout: Layout, dx: np.ndarray
) -> np.ndarray:
    """dX = Kᵀ·dY of a 1x1 stride-1 unpadded layer: one product straight into dX, no fold."""
    geometry = layout.geometry
    dtype = dx.dtype
    g, cog, cg = geometry.groups, geometry.out_channels_per_group, geometry.in_channels_per_group
    k = layout.kernel_matrix(w, dtype)  # (g, C_out/g, C_in/g)
    if geometry.channels_last:  # (n·L, C_out) @ (C_out, C_in); groups == 1 here
        np.matmul(dy.reshape(-1, cog), k[0], out=dx.reshape(-1, cg))
        return dx
    positions = math.prod(geometry.window.input_shape)
    n = dy.shape[0]
    kt = np.ascontiguousarray(k.transpose(0, 2, 1))
    np.matmul(kt, dy.reshape(n, g, cog, positions), out=dx.reshape(n, g, cg, positions))
    return dx


def layout_weight(acc: np.ndarray | None, geometry: ConvGeometry) -> np.ndarray:
    """The weight gradient ``(C_out, C_in/g, *kernel)`` from the accumulated dK matrix."""
    if acc is None:  # pragma: no cover - only called with an input given
        raise RuntimeError("convmm: the weight gradient was not accumulated")
    return Layout(geometry).weight_from_matrix(acc)


def backward_weight(
    x: np.ndarray,
    dy: np.ndarray,
    geometry: ConvGeometry,
    *,
    dtype: np.dtype[Any],
    budget: int,
    func: str,
) -> np.ndarray:
    """``dK = Σ dy · Pᵀ`` over images, as ``(C_out, C_in/g, *kernel)`` in the compute dtype."""
    layout = Layout(geometry)
    direct = patches_are_input(x, geometry, dtype)
    copy = _needs_grad_buffer(dy, dtype)
    plan = _plan(geometry, dtype, x.dtype.itemsize, direct, copy, budget, func)
    make_patches = _Patches(x, layout, dtype, direct, plan, budget)
    g, cog = geometry.groups, geometry.out_channels_per_group
    acc = np.zeros((g, cog, geometry.patch_size), dtype=dtype)
    step = np.empty_like(acc)
    for chunk in plan.chunks:
        patches, _ = make_patches(chunk)
        if direct and not geometry.channels_last:
            grads = layout.output_view(dy, chunk, copy=None)
            for image in range(grads.shape[0]):
                grad = np.asarray(grads[image], dtype=dtype)
                np.matmul(grad, patches[image].transpose(0, 2, 1), out=step)
                acc += step
            continue
        grad = _grad_product(dy, layout, chunk, dtype)
        if geometry.channels_last:
            np.matmul(grad.transpose(0, 2, 1), patches, out=step)
        else:
            np.matmul(grad, patches.transpose(0, 2, 1), out=step)
        acc += step
    return layout.weight_from_matrix(acc)


def bias_gradient(
    dy: np.ndarray, geometry: ConvGeometry, dtype: np.dtype[Any], out_dtype: np.dtype[Any]
) -> np.ndarray:
    """``db = Σ dy`` over images and positions, for a batched ``dy`` in the geometry's layout."""
    channel_axis = dy.ndim - 1 if geometry.channels_last else 1
    axes = tuple(a for a in range(dy.ndim) if a != channel_axis)
    total: np.ndarray = dy.sum(axis=axes, dtype=dtype)
    return total.astype(out_dtype, copy=False)
