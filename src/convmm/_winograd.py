"""Winograd minimal filtering F(m, r) in any rank: batched GEMMs with fewer multiplies.

Lavin & Gray's algorithm: each block of ``m`` outputs per dim (a *tile*) is computed from the
``n = m + r - 1`` padded inputs that cover it as ``Y = Aᵀ [(G g) ⊙ (Bᵀ d)]`` per dim.  Over
all tiles and channels the elementwise product becomes ``n^d`` matrix products, one per
position ξ of the transformed tile:

    ``M[ξ] = U[ξ] · V[ξ]``  with U = G g ``(C_out, C_in)`` and V = Bᵀ d ``(C_in, tiles)``

so the seed's picture still holds, ``n^d`` times: K is the transformed filter bank, P the
transformed tiles.  F(4x4, 3x3) has 36 products of ``C_out · C_in · tiles`` multiply-adds for
16 outputs per tile where im2col has ``9 · 16``: 4x fewer; F(2x2, 3x3) 2.25x fewer.

The matrices Aᵀ, G and Bᵀ come from Toom-Cook interpolation at the points 0, ±1, ±2, ±1/2
and infinity (:func:`transforms`; Aᵀ and G are Vandermonde-like, Bᵀ is solved from the
identity they must satisfy).  The d-dim transforms are their Kronecker products, applied as
one GEMM each: the tiles gathered as ``(n^d, C_in · tiles)``, then ``V = (Bᵀ ⊗ Bᵀ) D``,
``M = U V`` batched over ξ (and groups), ``Y = (Aᵀ ⊗ Aᵀ) M``, scattered into the output.  The
filter transform ``U = (G ⊗ G) g`` is one GEMM per call.  Not bit-identical to im2col:
float32 errs by at most ~3e-6 of the sum of the terms' magnitudes (F(4x4, 3x3), F(6, 3),
F(2x2, 5x5), F(2x2x2, 3x3x3) measured), float64 ~4e-15.

Tiles: ``n`` per dim is :data:`TILE_POINTS` by rank (8 in 1-D: F(6, 3); 6 in 2-D: F(4x4,
3x3); 4 in 3-D: F(2x2x2, 3x3x3)), so ``m = n - r + 1``, at most the output's size.

Measured on a 2-core Xeon (AVX-512), ResNet 3x3 layers at batch 8 (see the closing notes of
issue 9 and ``docs/benchmarks``): F(4x4, 3x3) beats im2col 1.4-1.7x at 28² with 128 channels
(also in float64 and channels-last) and ties at 14² with 256.  It loses where the batched
products are thin (7²: 32 tiles, and a 512x512 filter transform per call), where few
channels leave the tile copies dominant (gathering tiles copies runs of n cells at ~1.8 GB/s
where im2col's unfold copies whole rows at ~12 GB/s), and where the savings are under 4x
(F(2x2, 5x5), F(2x2x2, 3x3x3)).  F(2x2, 3x3) lost everywhere (1.0-1.5x im2col's time).  The
planner's rule (``_planner.WINOGRAD_*``) keeps to where it won.

Serves any rank, kernels up to ``n - 1`` per dim, stride 1, dilation 1, any groups, padding
and padding mode, either layout, float32 and float64.  The gradients go through im2col.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._errors import ConvmmValueError
from ._geometry import ConvGeometry
from ._im2col import pad_into
from ._layout import channels_first, output_array
from ._workspace import buffer

__all__ = [
    "applies",
    "describe",
    "forward",
    "savings",
    "tiles",
    "transforms",
    "workspace_per_image",
]

#: The workspace one chunk aims at.
CHUNK_BYTES = 16 * 2**20

#: Transformed points per tile and dim, by rank: larger tiles save more multiplies but the
#: transforms grow as ``n^d`` and float32's error with the points' spread.
TILE_POINTS = {1: 8, 2: 6, 3: 4}

#: The finite interpolation points, in the order they are taken (infinity is always the last).
_POINTS = (
    Fraction(0),
    Fraction(1),
    Fraction(-1),
    Fraction(2),
    Fraction(-2),
    Fraction(1, 2),
    Fraction(-1, 2),
)


@functools.lru_cache(maxsize=64)
def transforms(m: int, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Aᵀ, G, Bᵀ)`` of F(m, r) as float64: ``Aᵀ ((G g) ⊙ (Bᵀ d))`` is the correlation of
    ``d`` (``m + r - 1`` values) with ``g`` (``r``), ``m`` outputs.

    Examples
    --------
    >>> import numpy as np
    >>> at, g, bt = transforms(2, 3)
    >>> d, k = np.arange(4.0), np.array([1.0, 2.0, -1.0])
    >>> at @ ((g @ k) * (bt @ d))
    array([0., 2.])
    >>> np.correlate(d, k, "valid")
    array([0., 2.])
    """
    n = m + r - 1
    if m < 1 or r < 1 or n - 1 > len(_POINTS):
        raise ValueError(f"F({m}, {r}) needs at most {len(_POINTS) + 1} points; it has {n}")
    points = _POINTS[: n - 1]
    at = np.zeros((m, n))
    g = np.zeros((n, r))
    for j, p in enumerate(points):
        scale = math.prod((p - q for q in points if q != p), start=Fraction(1))
        at[:, j] = [float(p**i) for i in range(m)]
        g[j] = [float(p**k / scale) for k in range(r)]
    at[m - 1, n - 1] = 1.0  # the point at infinity: the leading coefficients
    g[n - 1, r - 1] = 1.0
    # Bᵀ from the identity Σ_j Aᵀ[i, j] G[j, k] Bᵀ[j, l] = [l = i + k], exact rationals
    system = np.einsum("ij,jk->ikj", at, g).reshape(m * r, n)
    rhs = np.zeros((m * r, n))
    for i in range(m):
        for k in range(r):
            rhs[i * r + k, i + k] = 1.0
    solved = np.linalg.lstsq(system, rhs, rcond=None)[0]
    bt = np.vectorize(lambda v: float(Fraction(v).limit_denominator(1024)))(solved)
    return at, g, bt


def tiles(geometry: ConvGeometry) -> tuple[int, ...]:
    """Outputs per tile and dim, ``m``: ``TILE_POINTS - r + 1``, at most the output's size."""
    window = geometry.window
    points = TILE_POINTS.get(window.ndim, 4)
    return tuple(
        max(1, min(points - r + 1, out))
        for r, out in zip(window.kernel_size, window.output_shape, strict=True)
    )


def describe(geometry: ConvGeometry) -> str:
    """``'F(4x4, 3x3)'``-style name of the tiles this geometry gets."""
    window = geometry.window
    m = "x".join(map(str, tiles(geometry)))
    r = "x".join(map(str, window.kernel_size))
    return f"F({m}, {r})"


def savings(geometry: ConvGeometry) -> float:
    """How many times fewer multiplies than im2col: ``(m r)^d / n^d`` (4 for F(4x4, 3x3))."""
    window = geometry.window
    sizes = zip(tiles(geometry), window.kernel_size, strict=True)
    return math.prod(m * r / (m + r - 1) for m, r in sizes)


def applies(geometry: ConvGeometry) -> str | None:
    """None when Winograd serves this geometry; else why not."""
    window = geometry.window
    points = TILE_POINTS.get(window.ndim, 4)
    if max(window.kernel_size) > points - 1:
        return (
            f"needs kernels of at most {points - 1} per dim in {window.ndim}-D "
            f"(larger ones lose float32 precision); this one is {window.kernel_size}"
        )
    if set(window.stride) != {1} or set(window.dilation) != {1}:
        return f"needs stride 1 and dilation 1; got {window.stride} and {window.dilation}"
    return None


def _counts(geometry: ConvGeometry) -> tuple[tuple[int, ...], tuple[int, ...], int, int]:
    """(tiles per dim, padded extent per dim, n^d, m^d)."""
    window = geometry.window
    m = tiles(geometry)
    per_dim = tuple(-(-o // t) for o, t in zip(window.output_shape, m, strict=True))
    extent = tuple(t * mm + r - 1 for t, mm, r in zip(per_dim, m, window.kernel_size, strict=True))
    n = math.prod(mm + r - 1 for mm, r in zip(m, window.kernel_size, strict=True))
    return per_dim, extent, n, math.prod(m)


def _needs_staging(geometry: ConvGeometry, per_dim: tuple[int, ...]) -> bool:
    """Whether the tiles overhang the output (then they are scattered into a staging array)."""
    m = tiles(geometry)
    return any(
        t * mm != o for t, mm, o in zip(per_dim, m, geometry.window.output_shape, strict=True)
    )


def workspace_per_image(geometry: ConvGeometry, itemsize: int) -> int:
    """Bytes of one image's buffers: the padded input, the tiles and products, the staging."""
    per_dim, extent, n, m = _counts(geometry)
    cin, cout, count = geometry.in_channels, geometry.out_channels, math.prod(per_dim)
    padded = cin * math.prod(extent)
    first = n * count * max(cin, cout)  # the gathered tiles D, then the products M
    second = count * max(n * cin, m * cout)  # V = Bᵀ D, then Y = Aᵀ M
    staging = cout * m * count  # the tiles' outputs when they overhang (or need a cast)
    return (padded + first + second + staging) * itemsize


def _kron(matrices: list[np.ndarray]) -> np.ndarray:
    return functools.reduce(np.kron, matrices)


def _matrices(geometry: ConvGeometry, dtype: np.dtype[Any]) -> tuple[np.ndarray, ...]:
    """The d-dim ``(Aᵀ⊗…, G⊗…, Bᵀ⊗…)`` in ``dtype``."""
    parts = [
        transforms(m, r) for m, r in zip(tiles(geometry), geometry.window.kernel_size, strict=True)
    ]
    return tuple(_kron([p[i] for p in parts]).astype(dtype) for i in range(3))


def _filters(w: np.ndarray, gg: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
    """U = (G ⊗ G) g as ``(n^d, groups, C_out/groups, C_in/groups)``: one GEMM."""
    flat = np.asarray(w, dtype=gg.dtype).reshape(w.shape[0] * w.shape[1], -1)
    u: np.ndarray = gg @ flat.T  # (n^d, C_out · C_in/groups)
    groups = geometry.groups
    return u.reshape(gg.shape[0], groups, w.shape[0] // groups, w.shape[1])


def _gather(x: np.ndarray, geometry: ConvGeometry, dtype: np.dtype[Any]) -> np.ndarray:
    """The tiles of ``x`` ``(n, C, *input)`` as ``(n^d, C · n · tiles)``: D."""
    window = geometry.window
    per_dim, extent, n_points, _ = _counts(geometry)
    count, c = x.shape[0], x.shape[1]
    shape = (count, c, *extent)
    padded = buffer(math.prod(shape), dtype, "winograd-input").reshape(shape)
    for dim, size in enumerate(window.padded_shape):  # zeros past the padded input
        padded[(slice(None),) * (2 + dim) + (slice(size, None),)] = 0
    pad_into(x, window, padded[(Ellipsis,) + tuple(slice(0, s) for s in window.padded_shape)])
    strides = padded.strides
    spatial = strides[2:]
    m = tiles(geometry)
    points = tuple(mm + r - 1 for mm, r in zip(m, window.kernel_size, strict=True))
    view = as_strided(
        padded,
        (*points, c, count, *per_dim),
        (*spatial, strides[1], strides[0], *(mm * s for mm, s in zip(m, spatial, strict=True))),
        writeable=False,
    )
    size = n_points * c * count * math.prod(per_dim)
    d = buffer(size, dtype, "winograd-first")[:size]
    np.copyto(d.reshape(view.shape), view)
    return d.reshape(n_points, -1)


def _scatter(y: np.ndarray, out: np.ndarray, geometry: ConvGeometry) -> None:
    """Write Y ``(m^d, C_out, n, *tiles)`` into ``out`` ``(n, C_out, *tile-covered)``."""
    m = tiles(geometry)
    strides = out.strides
    spatial = strides[2:]
    per_dim = y.shape[3:]
    view = as_strided(
        out,
        (*m, out.shape[1], out.shape[0], *per_dim),
        (*spatial, strides[1], strides[0], *(mm * s for mm, s in zip(m, spatial, strict=True))),
    )
    np.copyto(view, y.reshape(view.shape))


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
    """The convolution of a batched ``x`` by F(m, r); ``y`` in ``out_dtype``."""
    window = geometry.window
    cout, cin, groups = geometry.out_channels, geometry.in_channels, geometry.groups
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
    at, gg, bt = _matrices(geometry, dtype)
    u = _filters(w, gg, geometry)
    per_dim, _, n_points, m_points = _counts(geometry)
    staged = _needs_staging(geometry, per_dim) or y.dtype != dtype
    covered = tuple(t * mm for t, mm in zip(per_dim, tiles(geometry), strict=True))
    bias = None if b is None else np.asarray(b, dtype=dtype).reshape(-1, 1)
    for b0 in range(0, batch, step):
        b1 = min(batch, b0 + step)
        columns = (b1 - b0) * math.prod(per_dim)
        d = _gather(source[b0:b1], geometry, dtype)
        v = buffer(n_points * cin * columns, dtype, "winograd-second")
        v = v.reshape(n_points, cin * columns)
        np.matmul(bt, d, out=v)
        products = buffer(n_points * cout * columns, dtype, "winograd-first")
        products = products.reshape(n_points, groups, cout // groups, columns)
        np.matmul(u, v.reshape(n_points, groups, cin // groups, columns), out=products)
        tiles_out = buffer(m_points * cout * columns, dtype, "winograd-second")
        tiles_out = tiles_out.reshape(m_points, cout * columns)
        np.matmul(at, products.reshape(n_points, cout * columns), out=tiles_out)
        if bias is not None:
            tiles_out.reshape(m_points, cout, columns)[...] += bias
        shaped = tiles_out.reshape(m_points, cout, b1 - b0, *per_dim)
        if staged:
            count = (b1 - b0) * cout * math.prod(covered)
            stage = buffer(count, dtype, "winograd-stage").reshape(b1 - b0, cout, *covered)
            _scatter(shaped, stage, geometry)
            target[b0:b1] = stage[(Ellipsis,) + tuple(slice(0, s) for s in spatial)]
        else:
            _scatter(shaped, target[b0:b1], geometry)
    return y
