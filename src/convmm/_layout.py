"""Views of P, K and the outputs in the caller's memory layout, shared by the formulations.

:class:`Layout` gives the im2col formulation its P, K and output views per chunk (see
``_engine``); :func:`grouped`, :func:`output_array` and :func:`channels_first` serve every
formulation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._arrays import check_allocation
from ._geometry import ConvGeometry
from ._plan import Chunk

__all__ = ["Layout", "channels_first", "grouped", "output_array"]


def grouped(a: np.ndarray, geometry: ConvGeometry, channels: int) -> np.ndarray:
    """A view of a batched array with logical axes ``(N, groups, channels/groups, *spatial)``."""
    g = geometry.groups
    if geometry.channels_last:
        a = a.reshape(*a.shape[:-1], g, channels // g)
        return np.moveaxis(a, (-2, -1), (1, 2))
    return a.reshape(a.shape[0], g, channels // g, *a.shape[2:])


def output_array(
    geometry: ConvGeometry,
    batch: int,
    spatial: tuple[int, ...],
    channels: int,
    dtype: Any,
    func: str,
    *,
    zeros: bool = False,
) -> np.ndarray:
    """A new batched result ``(N, C, *spatial)`` (channels last: ``(N, *spatial, C)``).

    Its size is checked first (:func:`~convmm._arrays.check_allocation`), as the caller sees
    it (without N for an unbatched call).
    """
    shape = (batch, *spatial, channels) if geometry.channels_last else (batch, channels, *spatial)
    check_allocation(shape if geometry.batched else shape[1:], dtype, func=func)
    return np.zeros(shape, dtype=dtype) if zeros else np.empty(shape, dtype=dtype)


def channels_first(a: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
    """A batched array as ``(N, C, *spatial)`` (a view; moved axes for channels last)."""
    return np.moveaxis(a, -1, 1) if geometry.channels_last else a


class Layout:
    """Views of P, K, the output and its gradient for one geometry, in its memory layout."""

    def __init__(self, geometry: ConvGeometry) -> None:
        self.geometry = geometry
        window = geometry.window
        nd = self.nd = window.ndim
        self.row_positions = math.prod(window.output_shape[1:])
        self.kernel_numel = window.kernel_numel
        # channels-last physical Pᵀ: (g, n, *output, *kernel, cg); logical (n, g, cg, *k, *o)
        self.last_to_logical = (1, 0, 2 + 2 * nd, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd))
        # channels-first physical P: (g, cg, *kernel, n, *output); logical (n, g, cg, *k, *o)
        self.first_to_logical = (2 + nd, 0, 1, *range(2, 2 + nd), *range(3 + nd, 3 + 2 * nd))

    def sizes(self, chunk: Chunk) -> tuple[int, int]:
        """(images, positions per image) of a chunk."""
        n, rows = chunk.batch[1] - chunk.batch[0], chunk.rows[1] - chunk.rows[0]
        return n, rows * self.row_positions

    def patch_views(self, buffer: np.ndarray, chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
        """(P as the product needs it, P with logical axes ``(n, g, cg, *k, *o)``)."""
        geometry, window = self.geometry, self.geometry.window
        n, per_image = self.sizes(chunk)
        rows = chunk.rows[1] - chunk.rows[0]
        g, cg = geometry.groups, geometry.in_channels_per_group
        size = n * per_image * geometry.in_channels * self.kernel_numel
        rest, kernel = window.output_shape[1:], window.kernel_size
        if geometry.channels_last:
            physical = buffer[:size].reshape(g, n, rows, *rest, *kernel, cg)
            return physical.reshape(g, n * per_image, -1), physical.transpose(self.last_to_logical)
        physical = buffer[:size].reshape(g, cg, *kernel, n, rows, *rest)
        return physical.reshape(g, -1, n * per_image), physical.transpose(self.first_to_logical)

    def output_view(self, y: np.ndarray, chunk: Chunk, copy: bool | None = False) -> np.ndarray:
        """The chunk of the conv output ``y`` (or its gradient) with the product's axes.

        Channels-last: ``(g, n·L, C_out/g)``; channels-first: ``(n, g, C_out/g, L)``.  A view of
        a contiguous ``y``; ``copy=None`` copies a non-contiguous one where it must.
        """
        geometry = self.geometry
        (b0, b1), (r0, r1) = chunk.batch, chunk.rows
        n, per_image = self.sizes(chunk)
        g, cog = geometry.groups, geometry.out_channels_per_group
        if geometry.channels_last:
            view = np.reshape(y[b0:b1, r0:r1], (n * per_image, g, cog), copy=copy)
            last: np.ndarray = view.transpose(1, 0, 2)
            return last
        first: np.ndarray = np.reshape(y[b0:b1, :, r0:r1], (n, g, cog, per_image), copy=copy)
        return first

    def product_view(self, y: np.ndarray, chunk: Chunk) -> np.ndarray | None:
        """The chunk of ``y`` in the product's own shape, when that is a view; else None.

        Channels-first ``(g, C_out/g, n·L)`` is a view only for a chunk of one image.
        """
        view = self.output_view(y, chunk)
        if self.geometry.channels_last:
            return view
        if view.shape[0] != 1:
            return None
        first: np.ndarray = view[0]
        return first

    def to_product(self, view: np.ndarray) -> np.ndarray:
        """An :meth:`output_view` with the product's axes (channels-first: a transposed view)."""
        if self.geometry.channels_last:
            return view
        transposed: np.ndarray = view.transpose(1, 2, 0, 3)
        return transposed

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
