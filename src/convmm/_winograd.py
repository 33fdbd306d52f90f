"""The Winograd formulation F(2x2, 3x3): 16 GEMMs with 2.25 times fewer multiplies.

Lavin & Gray's minimal filtering: each 2x2 block of output (a *tile*) is computed from the 4x4
block of padded input that covers it as ``Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A``.  Over all tiles and
channels the elementwise product becomes 16 matrix products, one per position (ξ, ν) of the 4x4
transformed tile:

    ``M[ξν] = U[ξν] · V[ξν]``  with U = G g Gᵀ ``(C_out, C_in)`` and V = Bᵀ d B ``(C_in, tiles)``

so the seed's picture still holds, sixteen times: K is the transformed filter bank, P the
transformed tiles.  Each product has ``C_out · C_in · tiles`` multiply-adds where im2col's one
has ``9 · C_out · C_in · 4 · tiles``.

The filter transform is done once per call in float64 (as onnxruntime's MLAS does); the input
and output transforms are additions and subtractions of strided views, done per chunk of images
sized to the caches.  The result is not bit-identical to im2col's: its float32 error is like
direct convolution's (measured max relative ~7e-7 of the output's range).

Measured on a 2-core Xeon (AVX-512), ResNet 3x3 layers at batch 8: the 16 products take about
half of im2col's GEMM, but the transforms, 20 strided NumPy passes in and 24 out over arrays
16/9 the size of the input and output, cost as much as they save (0.95-1.8x im2col's time),
and the per-call filter transform of a 512x512 layer alone takes ~13 ms.  So ``'auto'`` never
picks it; ``algorithm='winograd'`` asks for it, and the benchmark measures it.

Serves 2-D, 3x3 kernels, stride 1, dilation 1, one group, any padding and padding mode, either
layout, float32 and float64.  The gradients go through im2col.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._errors import ConvmmValueError
from ._geometry import ConvGeometry, Window
from ._im2col import pad_into
from ._layout import channels_first, output_array
from ._workspace import buffer

__all__ = ["applies", "forward", "workspace_per_image"]

#: The workspace one chunk aims at.
CHUNK_BYTES = 16 * 2**20

_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


def applies(geometry: ConvGeometry) -> str | None:
    """None when F(2x2, 3x3) serves this geometry; else why not."""
    window = geometry.window
    if window.ndim != 2 or window.kernel_size != (3, 3):
        return f"needs a 2-D 3x3 kernel; this one is {window.kernel_size}"
    if window.stride != (1, 1) or window.dilation != (1, 1):
        return f"needs stride 1 and dilation 1; got {window.stride} and {window.dilation}"
    if geometry.groups != 1:
        return f"needs groups=1; got {geometry.groups}"
    return None


def _tiles(window: Window) -> tuple[int, int]:
    return -(-window.output_shape[0] // 2), -(-window.output_shape[1] // 2)


def workspace_per_image(geometry: ConvGeometry, itemsize: int) -> int:
    """Bytes of one image's buffers: padded tiles, V, M and the transforms' temporaries."""
    th, tw = _tiles(geometry.window)
    cin, cout, tiles = geometry.in_channels, geometry.out_channels, th * tw
    padded = cin * (2 * th + 2) * (2 * tw + 2)
    rows = cin * th * (2 * tw + 2)  # one row-transformed array at a time
    v, m = 16 * cin * tiles, 16 * cout * tiles
    sums = 4 * cout * tiles  # the output transform's row sums
    cast = cout * 4 * tiles  # a float16 call's output, before its rounding
    return (padded + rows + v + m + sums + cast) * itemsize


def _filters(w: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """U = G g Gᵀ as ``(16, C_out, C_in)``, computed in float64: one GEMM by G ⊗ G."""
    flat = np.asarray(w, dtype=np.float64).reshape(-1, 9)  # (C_out · C_in, 3 · 3)
    u = np.kron(_G, _G) @ flat.T  # (16, C_out · C_in)
    return np.ascontiguousarray(u.reshape(16, w.shape[0], w.shape[1]), dtype=dtype)


def _padded_tiles(x: np.ndarray, window: Window, dtype: np.dtype[Any]) -> np.ndarray:
    """The padded input ``(n, C, 2·TH + 2, 2·TW + 2)`` that the tiles cover (zeros past it)."""
    th, tw = _tiles(window)
    n, c = x.shape[:2]
    shape = (n, c, 2 * th + 2, 2 * tw + 2)
    d = buffer(math.prod(shape), dtype, "winograd-input").reshape(shape)
    hp, wp = window.padded_shape
    d[:, :, hp:] = 0  # the rows and columns past the padded input, up to the last full tile
    d[:, :, :hp, wp:] = 0
    pad_into(x, window, d[:, :, :hp, :wp])
    return d


def _input_transform(d: np.ndarray, v: np.ndarray, th: int, tw: int) -> None:
    """V = Bᵀ d B for every tile: ``v`` is ``(4, 4, C, n, TH, TW)`` (a view of the buffer)."""
    n, c = d.shape[:2]
    row_shape = (n, c, th, d.shape[3])
    r = buffer(math.prod(row_shape), d.dtype, "winograd-rows").reshape(row_shape)

    def rows(i: int) -> np.ndarray:
        return d[:, :, i : i + 2 * th : 2]

    def cols(a: np.ndarray, j: int) -> np.ndarray:
        return a[..., j : j + 2 * tw : 2]

    # Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], rows then columns
    plan = ((0, 2, np.subtract), (1, 2, np.add), (2, 1, np.subtract), (1, 3, np.subtract))
    for xi, (i, j, op) in enumerate(plan):
        op(rows(i), rows(j), out=r)
        for nu, (k, m, op2) in enumerate(plan):
            op2(cols(r, k), cols(r, m), out=v[xi, nu].transpose(1, 0, 2, 3))


def _output_transform(
    m: np.ndarray, out: np.ndarray, bias: np.ndarray | None, window: Window
) -> None:
    """Y = Aᵀ M A per tile into ``out`` ``(n, C_out, H_out, W_out)`` (any strides)."""
    _, _, cout, n, th, tw = m.shape
    shape = (4, cout, n, th, tw)
    s = buffer(math.prod(shape), m.dtype, "winograd-sums").reshape(shape)
    # Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]
    for a in range(2):
        for nu in range(4):
            if a == 0:
                np.add(m[0, nu], m[1, nu], out=s[nu])
                s[nu] += m[2, nu]
            else:
                np.subtract(m[1, nu], m[2, nu], out=s[nu])
                s[nu] -= m[3, nu]
        for b in range(2):
            target = out[:, :, a::2, b::2]  # (n, C_out, rows, cols) of this phase
            rows, cols = target.shape[2], target.shape[3]
            view = target.transpose(1, 0, 2, 3)
            if b == 0:
                np.add(s[0, :, :, :rows, :cols], s[1, :, :, :rows, :cols], out=view)
                view += s[2, :, :, :rows, :cols]
            else:
                np.subtract(s[1, :, :, :rows, :cols], s[2, :, :, :rows, :cols], out=view)
                view -= s[3, :, :, :rows, :cols]
    if bias is not None:
        out += bias.reshape(1, -1, 1, 1)


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
    """The convolution of a batched ``x`` by F(2x2, 3x3); ``y`` in ``out_dtype``."""
    window = geometry.window
    cout, cin = geometry.out_channels, geometry.in_channels
    spatial = window.output_shape
    batch = x.shape[0]
    y = output_array(geometry, batch, spatial, cout, out_dtype, func)
    source, target = channels_first(x, geometry), channels_first(y, geometry)
    per_image = workspace_per_image(geometry, dtype.itemsize)
    if per_image > budget:
        raise ConvmmValueError(
            f"{func}: max_workspace_bytes={budget} is too small for algorithm='winograd': one "
            f"image needs {per_image} bytes; give at least that or use algorithm='im2col'"
        )
    step = max(1, min(batch, min(budget, CHUNK_BYTES) // per_image))
    u = _filters(w, dtype)
    th, tw = _tiles(window)
    bias = None if b is None else np.asarray(b, dtype=dtype)
    for b0 in range(0, batch, step):
        b1 = min(batch, b0 + step)
        n, tiles = b1 - b0, (b1 - b0) * th * tw
        d = _padded_tiles(source[b0:b1], window, dtype)
        v = buffer(16 * cin * tiles, dtype, "winograd-v").reshape(16, cin, tiles)
        _input_transform(d, v.reshape(4, 4, cin, n, th, tw), th, tw)
        m = buffer(16 * cout * tiles, dtype, "winograd-m").reshape(16, cout, tiles)
        np.matmul(u, v, out=m)
        out = target[b0:b1]
        if y.dtype != dtype:
            cast = buffer(n * cout * math.prod(spatial), dtype, "winograd-out")
            result = cast.reshape(n, cout, *spatial)
            _output_transform(m.reshape(4, 4, cout, n, th, tw), result, bias, window)
            out[...] = result
        else:
            _output_transform(m.reshape(4, 4, cout, n, th, tw), out, bias, window)
    return y
