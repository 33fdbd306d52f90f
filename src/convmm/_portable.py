"""The portable formulation: im2col with nothing but the Python array API standard.

Every function here takes the call's :class:`~convmm._array_api.Namespace` and batched,
channels-first arrays ``(N, C, *spatial)`` in the compute dtype, and builds new arrays only:
no in-place update (JAX arrays are immutable), no scatter-add and no ``as_strided`` (the
standard has neither).  The products are the library's own ``matmul``.

- Padding (:func:`pad`): per spatial dim, the border blocks are slices of the input (``flip``\\ped
  for ``reflect``, broadcast edges for ``replicate``, the far end for ``circular``, zeros for
  ``zeros``) joined with ``concat``.  Its adjoint (:func:`pad_adjoint`) crops the padded
  gradient and adds each border block back onto the cells it was copied from, placed with
  ``concat`` of zero blocks.
- The unfold (:func:`unfold`): one strided slice ``x[..., o*d : o*d + (m-1)*s + 1 : s]`` per
  kernel offset ``o``, stacked: P's rows are channel·K + offset (row-major), its columns the
  output positions (row-major), exactly :func:`convmm.unfold`'s layout.
- The fold (:func:`fold`), the unfold's adjoint, one spatial dim at a time: for each kernel
  offset along the dim, the columns are spread to stride ``s`` by interleaving zeros (``stack``
  with zero blocks on a new axis, then ``reshape``), shifted to ``o*d`` by ``concat`` with zero
  blocks, and summed.
- The products: ``Y_g = K_g·P_g`` per group (one batched ``matmul``), ``dK_g = Σ dY_g·P_gᵀ``,
  ``dP_g = K_gᵀ·dY_g`` folded, over chunks of whole images (see :func:`batch_chunks`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from ._array_api import Namespace
from ._geometry import ConvGeometry, Window

__all__ = [
    "batch_chunks",
    "conv_input_gradient",
    "conv_output",
    "conv_weight_gradient",
    "fold",
    "pad",
    "pad_adjoint",
    "unfold",
]


def _take(a: Any, axis: int, start: int, stop: int, step: int = 1) -> Any:
    """``a[start:stop:step]`` along ``axis``."""
    return a[(slice(None),) * axis + (slice(start, stop, step), ...)]


def _resized(a: Any, axis: int, size: int) -> tuple[int, ...]:
    """``a``'s shape with ``size`` along ``axis``."""
    shape = tuple(a.shape)
    return shape[:axis] + (size,) + shape[axis + 1 :]


def _joined(ns: Namespace, parts: list[Any], axis: int) -> Any:
    """The non-empty ``parts`` concatenated along ``axis``."""
    kept = [p for p in parts if p.shape[axis]]
    return kept[0] if len(kept) == 1 else ns.xp.concat(kept, axis=axis)


def _place(ns: Namespace, block: Any, axis: int, start: int, size: int) -> Any:
    """``block`` at ``[start, start + len)`` along ``axis`` of zeros of length ``size``."""
    after = size - start - block.shape[axis]
    zeros = [ns.zeros(_resized(block, axis, n), block.dtype) for n in (start, after)]
    return _joined(ns, [zeros[0], block, zeros[1]], axis)


def _pad_axis(ns: Namespace, x: Any, axis: int, before: int, after: int, mode: str) -> Any:
    """``x`` padded along ``axis`` as ``torch.nn.functional.pad`` pads it in ``mode``."""
    xp, n = ns.xp, x.shape[axis]
    if mode == "zeros":
        left = ns.zeros(_resized(x, axis, before), x.dtype)
        right = ns.zeros(_resized(x, axis, after), x.dtype)
    elif mode == "reflect":  # mirrored without repeating the edge
        left = xp.flip(_take(x, axis, 1, before + 1), axis=axis)
        right = xp.flip(_take(x, axis, n - 1 - after, n - 1), axis=axis)
    elif mode == "replicate":  # the edge repeated
        left = xp.broadcast_to(_take(x, axis, 0, 1), _resized(x, axis, before))
        right = xp.broadcast_to(_take(x, axis, n - 1, n), _resized(x, axis, after))
    else:  # circular: wrapped around
        left, right = _take(x, axis, n - before, n), _take(x, axis, 0, after)
    return _joined(ns, [left, x, right], axis)


def pad(ns: Namespace, x: Any, window: Window) -> Any:
    """``x`` ``(N, C, *input)`` padded to ``(N, C, *padded)`` with the window's mode."""
    for dim, (before, after) in enumerate(window.padding):
        if before or after:
            x = _pad_axis(ns, x, 2 + dim, before, after, window.padding_mode)
    return x


def _pad_axis_adjoint(
    ns: Namespace, g: Any, axis: int, before: int, after: int, n: int, mode: str
) -> Any:
    """The adjoint of :func:`_pad_axis`: the border of ``g`` added onto the cells it copied."""
    xp = ns.xp
    core = _take(g, axis, before, before + n)
    if mode == "zeros":
        return core
    left, right = _take(g, axis, 0, before), _take(g, axis, before + n, before + n + after)
    parts = [core]
    if before:
        if mode == "reflect":
            parts.append(_place(ns, xp.flip(left, axis=axis), axis, 1, n))
        elif mode == "replicate":
            parts.append(_place(ns, xp.sum(left, axis=axis, keepdims=True), axis, 0, n))
        else:
            parts.append(_place(ns, left, axis, n - before, n))
    if after:
        if mode == "reflect":
            parts.append(_place(ns, xp.flip(right, axis=axis), axis, n - 1 - after, n))
        elif mode == "replicate":
            parts.append(_place(ns, xp.sum(right, axis=axis, keepdims=True), axis, n - 1, n))
        else:
            parts.append(_place(ns, right, axis, 0, n))
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def pad_adjoint(ns: Namespace, g: Any, window: Window) -> Any:
    """The adjoint of :func:`pad`: ``(N, C, *padded)`` back to ``(N, C, *input)``."""
    for dim, (before, after) in enumerate(window.padding):
        if before or after:
            n = window.input_shape[dim]
            g = _pad_axis_adjoint(ns, g, 2 + dim, before, after, n, window.padding_mode)
    return g


def unfold(ns: Namespace, padded: Any, window: Window) -> Any:
    """The patches of ``padded`` ``(N, C, *padded)`` as ``(N, C, K, *output)``.

    ``K = prod(kernel_size)``, the kernel offsets in row-major order; reshaped to
    ``(N, C·K, L)`` this is :func:`convmm.unfold`'s P.
    """
    blocks = []
    for offset in itertools.product(*(range(k) for k in window.kernel_size)):
        index = tuple(
            slice(o * d, o * d + (m - 1) * s + 1, s)
            for o, d, m, s in zip(
                offset, window.dilation, window.output_shape, window.stride, strict=True
            )
        )
        blocks.append(padded[(slice(None), slice(None)) + index])
    return ns.xp.stack(blocks, axis=2)


def _spread(ns: Namespace, block: Any, axis: int, stride: int) -> Any:
    """``block``'s entries ``stride`` apart along ``axis`` with zeros between (length
    ``(m - 1)·stride + 1``): ``stack`` with zero blocks on a new axis, then ``reshape``."""
    m = block.shape[axis]
    if stride == 1 or m <= 1:
        return block
    zeros = ns.zeros(tuple(block.shape), block.dtype)
    woven = ns.xp.stack([block] + [zeros] * (stride - 1), axis=axis + 1)
    woven = ns.xp.reshape(woven, _resized(block, axis, m * stride))
    return _take(woven, axis, 0, (m - 1) * stride + 1)


def fold(ns: Namespace, columns: Any, window: Window) -> Any:
    """The adjoint of :func:`unfold`: ``(N, C, K, *output)`` summed into ``(N, C, *padded)``.

    One spatial dim at a time (the unfold is a product of one-dim unfolds): with the kernel
    and output axes of dim ``i`` side by side, each kernel offset ``o``'s slab is spread to the
    stride and placed at ``o·dilation``, and the slabs are summed.
    """
    xp, nd = ns.xp, window.ndim
    n, c = columns.shape[0], columns.shape[1]
    a = xp.reshape(columns, (n, c, *window.kernel_size, *window.output_shape))
    a = xp.permute_dims(a, (0, 1, *(j for i in range(nd) for j in (2 + i, 2 + nd + i))))
    for dim, size in enumerate(window.padded_shape):
        axis = 2 + dim  # this dim's kernel axis; its output axis follows, then the next dims
        total = None
        for o in range(window.kernel_size[dim]):
            slab = _spread(ns, a[(slice(None),) * axis + (o, ...)], axis, window.stride[dim])
            placed = _place(ns, slab, axis, o * window.dilation[dim], size)
            total = placed if total is None else total + placed
        a = total
    return a


def batch_chunks(batch: int, image_bytes: int, budget: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of runs of whole images whose P takes at most ``budget`` bytes.

    One image at least per run: the portable path does not split an image (an image whose P
    alone exceeds the bound is computed whole).  An empty batch is one empty run.
    """
    step = max(1, budget // max(image_bytes, 1))
    if batch == 0:
        yield 0, 0
    for start in range(0, batch, step):
        yield start, min(batch, start + step)


def _patches(ns: Namespace, x: Any, geometry: ConvGeometry) -> Any:
    """P of ``x`` ``(n, C, *input)`` per group: ``(n, G, C/G · K, L)``."""
    window = geometry.window
    p = unfold(ns, pad(ns, x, window), window)
    rows = geometry.patch_size
    return ns.xp.reshape(p, (x.shape[0], geometry.groups, rows, window.num_positions))


def _kernel(ns: Namespace, w: Any, geometry: ConvGeometry) -> Any:
    """K per group, ``(1, G, C_out/G, C_in/G · K)``, from the weight ``(C_out, C_in/G, *k)``."""
    shape = (1, geometry.groups, geometry.out_channels_per_group, geometry.patch_size)
    return ns.xp.reshape(w, shape)


def _image_bytes(ns: Namespace, geometry: ConvGeometry, dtype: Any) -> int:
    """Bytes of one image's P in ``dtype``."""
    window = geometry.window
    entries = geometry.in_channels * window.kernel_numel * window.num_positions
    return entries * int(ns.xp.finfo(dtype).bits) // 8


def _along_batch(ns: Namespace, pieces: list[Any]) -> Any:
    return pieces[0] if len(pieces) == 1 else ns.xp.concat(pieces, axis=0)


def conv_output(ns: Namespace, x: Any, w: Any, b: Any, geometry: ConvGeometry, budget: int) -> Any:
    """``Y = K·P (+ b)``: ``(N, C_out, *output)`` of ``x`` ``(N, C_in, *input)``."""
    xp, window = ns.xp, geometry.window
    kernel = _kernel(ns, w, geometry)
    pieces = []
    for start, stop in batch_chunks(x.shape[0], _image_bytes(ns, geometry, x.dtype), budget):
        y = xp.matmul(kernel, _patches(ns, x[start:stop, ...], geometry))
        pieces.append(xp.reshape(y, (stop - start, geometry.out_channels, *window.output_shape)))
    y = _along_batch(ns, pieces)
    if b is not None:
        y = y + xp.reshape(b, (geometry.out_channels,) + (1,) * window.ndim)
    return y


def conv_weight_gradient(
    ns: Namespace, x: Any, dy: Any, geometry: ConvGeometry, budget: int
) -> Any:
    """``dK = Σ_images dY·Pᵀ`` per group, as the weight ``(C_out, C_in/G, *kernel)``."""
    xp, window = ns.xp, geometry.window
    groups, per_group = geometry.groups, geometry.out_channels_per_group
    total = ns.zeros((groups, per_group, geometry.patch_size), x.dtype)
    for start, stop in batch_chunks(x.shape[0], _image_bytes(ns, geometry, x.dtype), budget):
        p = _patches(ns, x[start:stop, ...], geometry)
        g = xp.reshape(dy[start:stop, ...], (stop - start, groups, per_group, window.num_positions))
        total = total + xp.sum(xp.matmul(g, xp.permute_dims(p, (0, 1, 3, 2))), axis=0)
    shape = (geometry.out_channels, geometry.in_channels_per_group, *window.kernel_size)
    return xp.reshape(total, shape)


def conv_input_gradient(ns: Namespace, dy: Any, w: Any, geometry: ConvGeometry, budget: int) -> Any:
    """``dX = fold(Kᵀ·dY)`` through the padding's adjoint: ``(N, C_in, *input)``."""
    xp, window = ns.xp, geometry.window
    kernel_t = xp.permute_dims(_kernel(ns, w, geometry), (0, 1, 3, 2))
    groups, per_group = geometry.groups, geometry.out_channels_per_group
    pieces = []
    for start, stop in batch_chunks(dy.shape[0], _image_bytes(ns, geometry, dy.dtype), budget):
        n = stop - start
        g = xp.reshape(dy[start:stop, ...], (n, groups, per_group, window.num_positions))
        columns = xp.matmul(kernel_t, g)  # (n, G, C_in/G · K, L)
        shape = (n, geometry.in_channels, window.kernel_numel, *window.output_shape)
        pieces.append(pad_adjoint(ns, fold(ns, xp.reshape(columns, shape), window), window))
    return _along_batch(ns, pieces)
