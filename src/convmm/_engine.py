"""The three matrix products of a convolution, chunked within the workspace bound.

With P the patch matrix of the input x and K the flattened weight:

- ``forward``:          Y  = K · P                       (conv; the transposed conv's input grad)
- ``backward_input``:   dX = fold(Kᵀ · dY)               (conv's input grad; the transposed conv)
- ``backward_weight``:  dK = dY · Pᵀ, summed over images  (both weight grads)

All three take a :class:`ConvGeometry` in *convolution* terms (x is the convolution's input, y
its output) and arrays already validated, batched, in the caller's layout.  They share one
unfold and one fold (``_im2col``) and one chunk plan (``_plan``).

Layouts.  Channels-first keeps P as ``(n, groups, C_in/groups · prod(k), L)`` and multiplies
per image, so the product lands in ``(N, C_out, *spatial)`` order.  Channels-last keeps Pᵀ as
``(groups, n · L, prod(k) · C_in/groups)`` and multiplies Pᵀ·Kᵀ, so the product lands in
``(N, *spatial, C_out)`` order.  Either way no output is transposed after the product.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._arrays import check_allocation
from ._geometry import ConvGeometry
from ._im2col import fold_into, unfold_into
from ._plan import Chunk, Plan, plan_chunks

__all__ = ["backward_input", "backward_weight", "bias_gradient", "forward", "grouped"]


def grouped(a: np.ndarray, geometry: ConvGeometry, channels: int) -> np.ndarray:
    """A view of a batched array with logical axes ``(N, groups, channels/groups, *spatial)``."""
    g = geometry.groups
    if geometry.channels_last:
        a = a.reshape(*a.shape[:-1], g, channels // g)
        return np.moveaxis(a, (-2, -1), (1, 2))
    return a.reshape(a.shape[0], g, channels // g, *a.shape[2:])


class _Layout:
    """Views of P, K and the output for one geometry, in its memory layout."""

    def __init__(self, geometry: ConvGeometry) -> None:
        self.geometry = geometry
        window = geometry.window
        self.nd = window.ndim
        self.row_positions = math.prod(window.output_shape[1:])
        self.kernel_numel = window.kernel_numel
        nd = self.nd
        # channels-last physical Pᵀ: (g, n, *output, *kernel, cg); logical (n, g, cg, *k, *o)
        self.to_logical = (1, 0, 2 + 2 * nd, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd))

    def patch_views(self, buffer: np.ndarray, chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
        """(P as the product needs it, P with logical axes ``(n, g, cg, *k, *o)``)."""
        geometry, window = self.geometry, self.geometry.window
        n, rows = chunk.batch[1] - chunk.batch[0], chunk.rows[1] - chunk.rows[0]
        g, cg = geometry.groups, geometry.in_channels_per_group
        per_image = rows * self.row_positions
        size = n * per_image * geometry.in_channels * self.kernel_numel
        rest = window.output_shape[1:]
        if geometry.channels_last:
            physical = buffer[:size].reshape(g, n, rows, *rest, *window.kernel_size, cg)
            return physical.reshape(g, n * per_image, -1), physical.transpose(self.to_logical)
        physical = buffer[:size].reshape(n, g, cg, *window.kernel_size, rows, *rest)
        return physical.reshape(n, g, cg * self.kernel_numel, per_image), physical

    def output_view(self, y: np.ndarray, chunk: Chunk, copy: bool | None = False) -> np.ndarray:
        """The chunk's part of the conv output ``y``, as the product needs it.

        A view of a contiguous ``y`` with ``copy=False``; ``copy=None`` copies if it must.
        """
        geometry = self.geometry
        (b0, b1), (r0, r1) = chunk.batch, chunk.rows
        n, per_image = b1 - b0, (r1 - r0) * self.row_positions
        g, cog = geometry.groups, geometry.out_channels_per_group
        view: np.ndarray
        if geometry.channels_last:
            view = np.reshape(y[b0:b1, r0:r1], (n * per_image, g, cog), copy=copy)
            view = view.transpose(1, 0, 2)
            return view
        view = np.reshape(y[b0:b1, :, r0:r1], (n, g, cog, per_image), copy=copy)
        return view

    def kernel_matrix(self, w: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
        """K as ``(g, C_out/g, patch)`` with the patch axis in P's row order, contiguous."""
        geometry = self.geometry
        g, cog = geometry.groups, geometry.out_channels_per_group
        cg = geometry.in_channels_per_group
        if geometry.channels_last:
            k = np.moveaxis(w.reshape(g, cog, cg, self.kernel_numel), 2, 3)
            return np.ascontiguousarray(k.reshape(g, cog, -1), dtype=dtype)
        return np.ascontiguousarray(w.reshape(g, cog, -1), dtype=dtype)

    def weight_from_matrix(self, k: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`kernel_matrix`: ``(C_out, C_in/g, *kernel_size)``."""
        geometry = self.geometry
        g, cog = geometry.groups, geometry.out_channels_per_group
        cg = geometry.in_channels_per_group
        kernel = geometry.window.kernel_size
        if geometry.channels_last:
            k = np.moveaxis(k.reshape(g, cog, self.kernel_numel, cg), 3, 2)
        return k.reshape(g * cog, cg, *kernel)


def _plan(
    geometry: ConvGeometry,
    dtype: np.dtype[Any],
    slab_itemsize: int,
    patches_are_input: bool,
    result_buffer: bool,
    budget: int,
    func: str,
    slab_copies: int = 1,
) -> Plan:
    return plan_chunks(
        geometry,
        compute_itemsize=dtype.itemsize,
        input_itemsize=slab_itemsize,
        patches_are_input=patches_are_input,
        result_buffer=result_buffer,
        budget=budget,
        func=func,
        slab_copies=slab_copies,
    )


def _patches_are_input(x: np.ndarray, geometry: ConvGeometry, dtype: np.dtype[Any]) -> bool:
    """Whether P is a view of the input (1x1 kernel, stride 1, no padding)."""
    window = geometry.window
    trivial = (
        window.kernel_numel == 1
        and all(s == 1 for s in window.stride)
        and not window.is_padded
        and window.output_shape == window.input_shape
        and x.dtype == dtype
    )
    return trivial and x.flags.c_contiguous and (geometry.groups == 1 or not geometry.channels_last)


def _direct_patches(x: np.ndarray, geometry: ConvGeometry, chunk: Chunk) -> np.ndarray:
    """P as the product needs it, as a view of the input (see :func:`_patches_are_input`)."""
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


class _Patches:
    """Makes P for each chunk: unfolded into one reused buffer, or a view of the input."""

    def __init__(
        self, x: np.ndarray, layout: _Layout, dtype: np.dtype[Any], direct: bool, plan: Plan
    ) -> None:
        self.x, self.layout, self.direct = x, layout, direct
        geometry = layout.geometry
        self.source = grouped(x, geometry, geometry.in_channels)
        self.buffer = np.empty(0 if direct else plan.patch_elements, dtype=dtype)

    def __call__(self, chunk: Chunk) -> np.ndarray:
        geometry = self.layout.geometry
        if self.direct:
            return _direct_patches(self.x, geometry, chunk)
        patches, logical = self.layout.patch_views(self.buffer, chunk)
        unfold_into(
            self.source[chunk.batch[0] : chunk.batch[1]], geometry.window, logical, chunk.rows
        )
        return patches


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
    batch, cout = x.shape[0], geometry.out_channels
    spatial = window.output_shape
    shape = (batch, *spatial, cout) if geometry.channels_last else (batch, cout, *spatial)
    check_allocation(_caller_shape(shape, geometry), out_dtype, func=func)
    y = np.empty(shape, dtype=out_dtype)
    layout = _Layout(geometry)
    direct = _patches_are_input(x, geometry, dtype)
    plan = _plan(
        geometry, dtype, x.dtype.itemsize, direct, y.dtype != dtype, budget=budget, func=func
    )
    make_patches = _Patches(x, layout, dtype, direct, plan)
    result_buffer = np.empty(plan.result_elements, dtype=dtype)
    k = layout.kernel_matrix(w, dtype)
    g, cog = geometry.groups, geometry.out_channels_per_group
    if geometry.channels_last:
        k = np.ascontiguousarray(k.transpose(0, 2, 1))
    b_view = None
    if b is not None:
        b_view = b.reshape(g, 1, cog) if geometry.channels_last else b.reshape(g, cog, 1)
    for chunk in plan.chunks:
        patches = make_patches(chunk)
        left, right = (patches, k) if geometry.channels_last else (k, patches)
        target = layout.output_view(y, chunk)
        result = target if y.dtype == dtype else result_buffer[: target.size].reshape(target.shape)
        np.matmul(left, right, out=result)
        if b_view is not None:
            result += b_view
        if result is not target:
            target[...] = result
    return y


def _caller_shape(shape: tuple[int, ...], geometry: ConvGeometry) -> tuple[int, ...]:
    """A batched result's shape as the caller sees it (without N for an unbatched call)."""
    return shape if geometry.batched else shape[1:]


def _grad_chunk(
    dy: np.ndarray, layout: _Layout, chunk: Chunk, dtype: np.dtype[Any], buffer: np.ndarray
) -> np.ndarray:
    """The chunk of ``dy`` as the products need it, in the compute dtype.

    A view when ``dy`` is contiguous in the compute dtype; else a copy into ``buffer`` (the plan
    counted it: see :func:`_needs_grad_buffer`).
    """
    if not _needs_grad_buffer(dy, dtype):
        return layout.output_view(dy, chunk)
    view = layout.output_view(dy, chunk, copy=None)
    cast = buffer[: view.size].reshape(view.shape)
    cast[...] = view
    return cast


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
    window = geometry.window
    batch, cin = dy.shape[0], geometry.in_channels
    spatial = window.input_shape
    shape = (batch, *spatial, cin) if geometry.channels_last else (batch, cin, *spatial)
    check_allocation(_caller_shape(shape, geometry), dtype, func=func)
    dx = np.zeros(shape, dtype=dtype)
    layout = _Layout(geometry)
    grad_copy = _needs_grad_buffer(dy, dtype)
    plan = _plan(geometry, dtype, dtype.itemsize, False, grad_copy, budget, func, slab_copies=2)
    buffer = np.empty(plan.patch_elements, dtype=dtype)
    grad_buffer = np.empty(plan.result_elements, dtype=dtype)
    target = grouped(dx, geometry, cin)
    k = layout.kernel_matrix(w, dtype)
    if not geometry.channels_last:
        k = np.ascontiguousarray(k.transpose(0, 2, 1))
    for chunk in plan.chunks:
        patches, logical = layout.patch_views(buffer, chunk)
        grad = _grad_chunk(dy, layout, chunk, dtype, grad_buffer)
        left, right = (grad, k) if geometry.channels_last else (k, grad)
        np.matmul(left, right, out=patches)
        fold_into(logical, window, target[chunk.batch[0] : chunk.batch[1]], chunk.rows)
    return dx


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
    layout = _Layout(geometry)
    direct = _patches_are_input(x, geometry, dtype)
    grad_copy = _needs_grad_buffer(dy, dtype)
    plan = _plan(geometry, dtype, x.dtype.itemsize, direct, grad_copy, budget, func)
    make_patches = _Patches(x, layout, dtype, direct, plan)
    grad_buffer = np.empty(plan.result_elements, dtype=dtype)
    g, cog = geometry.groups, geometry.out_channels_per_group
    acc = np.zeros((g, cog, geometry.patch_size), dtype=dtype)
    step = np.empty_like(acc)
    for chunk in plan.chunks:
        patches = make_patches(chunk)
        grad = _grad_chunk(dy, layout, chunk, dtype, grad_buffer)
        if geometry.channels_last:
            np.matmul(grad.transpose(0, 2, 1), patches, out=step)
            acc += step
        else:
            for image in range(grad.shape[0]):
                np.matmul(grad[image], patches[image].transpose(0, 2, 1), out=step)
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
