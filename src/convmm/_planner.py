"""The planner: which formulation computes a call, and ``convmm.plan`` saying why.

Every formulation is a matrix-product view of the same convolution, behind one interface:

- ``im2col`` (``_engine``): unfold P, one GEMM per cache-sized chunk, fold for the gradients.
  Serves every geometry; a 1x1 kernel at stride 1 without padding multiplies the input itself.
- ``depthwise`` (``_depthwise``): one input channel per group; the block-diagonal K is applied
  one kernel offset at a time (a multiply-accumulate over shifted views), so no tiny GEMMs.
- ``shift`` (``_shift``): stride 1; only the first kernel row of P is unfolded, the others are
  shifted views of it, one GEMM per kernel row; the forward products only.
- ``winograd`` (``_winograd``): F(m, r) for stride-1 layers of any rank (F(4x4, 3x3) in 2-D:
  36 GEMMs with 4 times fewer multiplies); the forward product only (its gradients go through
  im2col), not bit-identical to im2col (float32 error ~1e-6 of the terms' magnitude).

``algorithm='auto'`` picks per geometry, dtype, layout and workspace bound; a forced name that
does not apply is a clear error.  The choice never changes a result beyond the float rounding
of a different order of the same sums (every formulation is tested against the direct
reference).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _depthwise, _engine, _shift, _winograd
from ._errors import ConvmmTypeError, ConvmmValueError
from ._geometry import ConvGeometry
from ._workspace import num_threads

__all__ = ["ALGORITHMS", "OPS", "ConvPlan", "check_algorithm", "choose", "depthwise_workspace"]

#: The names ``algorithm=`` takes.
ALGORITHMS = ("auto", "im2col", "shift", "depthwise", "winograd")

#: The operations a plan is for, in convolution terms: the forward product, the input
#: gradient (the transposed convolution), and both gradients.
OPS = ("conv", "conv_backward", "conv_transpose", "conv_transpose_backward")


@dataclass(frozen=True)
class ConvPlan:
    """How a call would be computed.

    Attributes
    ----------
    op : str
        ``'conv'``, ``'conv_backward'``, ``'conv_transpose'`` or ``'conv_transpose_backward'``.
    algorithm : str
        The formulation used.
    reason : str
        Why it was chosen.
    alternatives : tuple of (str, str)
        Every formulation with whether it applies (``'applies'``) or why not.
    chunks : int
        How many pieces the work is cut into.
    workspace_bytes : int
        The most workspace one piece needs (all threads' buffers together for ``depthwise``).
    threads : int
        The threads convmm's own unfold, fold and multiply-accumulate use.
    max_workspace_bytes : int
        The bound it was planned within.
    """

    op: str
    algorithm: str
    reason: str
    alternatives: tuple[tuple[str, str], ...]
    chunks: int
    workspace_bytes: int
    threads: int
    max_workspace_bytes: int

    def __str__(self) -> str:
        return (
            f"{self.op}: {self.algorithm} ({self.reason}); {self.chunks} "
            f"chunk{'s' if self.chunks != 1 else ''}, at most {self.workspace_bytes:,} bytes of "
            f"workspace, {self.threads} thread{'s' if self.threads != 1 else ''}"
        )


def check_algorithm(algorithm: object, func: str) -> str:
    """``algorithm`` as one of :data:`ALGORITHMS`, or a clear error."""
    if not isinstance(algorithm, str):
        raise ConvmmTypeError(
            f"{func}: algorithm must be one of {', '.join(map(repr, ALGORITHMS))}; "
            f"got {algorithm!r} ({type(algorithm).__name__})"
        )
    if algorithm not in ALGORITHMS:
        raise ConvmmValueError(
            f"{func}: algorithm must be one of {', '.join(map(repr, ALGORITHMS))}; "
            f"got {algorithm!r}"
        )
    return algorithm


def _why_not(
    name: str, geometry: ConvGeometry, dtype: np.dtype[Any], budget: int, op: str
) -> str | None:
    if name == "im2col":  # a bound too small for it is refused by the engine, with the minimum
        return None
    if name == "winograd":
        return _winograd_why_not(geometry, dtype, budget, op)
    if name == "shift":
        return _shift_why_not(geometry, dtype, budget, op)
    reason = _depthwise.applies(geometry)
    if reason is not None:
        return reason
    per_channel = depthwise_workspace(geometry, dtype, op)
    threads = num_threads() if _depthwise.PARALLEL else 1
    if per_channel * threads > budget:
        each = f" on each of {threads} threads" if threads > 1 else ""
        return (
            f"one channel of one image needs {per_channel:,} bytes{each}, over "
            f"max_workspace_bytes={budget:,}"
        )
    return None


def depthwise_workspace(geometry: ConvGeometry, dtype: np.dtype[Any], op: str) -> int:
    """Bytes per channel and image of the depthwise passes ``op`` runs (both for
    ``conv_transpose_backward``: its input gradient is a forward pass, its weight gradient a
    backward one)."""
    forward = _depthwise.workspace_per_channel(geometry, dtype.itemsize, False)
    backward = _depthwise.workspace_per_channel(geometry, dtype.itemsize, True)
    if op == "conv":
        return forward
    if op == "conv_transpose_backward":
        return max(forward, backward)
    return backward


#: The forward products: a convolution's, and the input gradient of a transposed one.
_FORWARD_OPS = ("conv", "conv_transpose_backward")

#: Where 'auto' uses Winograd, as measured (2-core Xeon, batch 8, float32 and float64, either
#: layout): F(4x4, 3x3) beat im2col 1.4-1.7x on ResNet's 28² layer (128 channels, 392 tiles
#: per product) and tied at 14² (256 channels, 128 tiles); it lost where the products are thin
#: (7², 32 tiles: the filter transform of 512x512 outweighs them), where few channels leave
#: the tile copies dominant (56² with 64), and where the savings are under 4x (F(2x2, 5x5):
#: 2.8x, F(2x2x2, 3x3x3): 3.4x; the shift formulation wins those).
WINOGRAD_MIN_CHANNELS = 128
WINOGRAD_MIN_TILES = 256
WINOGRAD_MIN_SAVINGS = 4.0


def _winograd_why_not(
    geometry: ConvGeometry, dtype: np.dtype[Any], budget: int, op: str
) -> str | None:
    if op not in _FORWARD_OPS:
        return "computes forward products only (the gradients are im2col's)"
    reason = _winograd.applies(geometry)
    if reason is not None:
        return reason
    if dtype not in (np.float32, np.float64):  # pragma: no cover - compute dtypes are these
        return f"needs float32 or float64; got {dtype}"
    per_image = _winograd.workspace_per_image(geometry, dtype.itemsize)
    if per_image > budget:
        return f"one image needs {per_image:,} bytes, over max_workspace_bytes={budget:,}"
    return None


def _shift_why_not(
    geometry: ConvGeometry, dtype: np.dtype[Any], budget: int, op: str
) -> str | None:
    reason = _shift.applies(geometry)
    if reason is not None:
        return reason
    needs_input_grad = op in ("conv_backward", "conv_transpose")
    if needs_input_grad and _shift.input_gradient_padding(geometry) is None:
        return (
            "its input gradient is a convolution of dY only for zero padding no larger than "
            "the kernel's span"
        )
    if needs_input_grad:
        inner = _shift.input_gradient_geometry(geometry, "convmm.plan")
        # that convolution's smallest im2col chunk: one output row of one image
        window = inner.window
        row = inner.in_channels * window.kernel_numel * math.prod(window.output_shape[1:])
        if row * dtype.itemsize > budget:
            return (
                "its input gradient, the convolution of dY with the flipped kernel, needs "
                f"{row * dtype.itemsize:,} bytes, over max_workspace_bytes={budget:,}"
            )
    gradients = op in ("conv_backward", "conv_transpose", "conv_transpose_backward")
    per_image = _shift.workspace_per_image(geometry, dtype.itemsize, backward=gradients)
    if per_image > budget:
        return f"one image needs {per_image:,} bytes, over max_workspace_bytes={budget:,}"
    return None


#: Where 'auto' uses the shift formulation, as measured (2-core Xeon, batch 8): it wins where
#: the unfold outweighs the product, i.e. few filters per group (ResNet 56² with 64, 5x5 with
#: 64, 8 groups of 16, a 3-D layer with 32: 1.1-1.6x faster than im2col), and loses where the
#: product dominates (128-512 filters: 0.45-0.95x) or the padded rows are mostly cropped.
SHIFT_MAX_FILTERS = 64
SHIFT_MAX_WASTE = 1.3


def _shift_pays(geometry: ConvGeometry) -> bool:
    window = geometry.window
    row = math.prod(window.padded_shape[1:])
    waste = row / max(math.prod(window.output_shape[1:]), 1)
    few = geometry.out_channels_per_group <= SHIFT_MAX_FILTERS
    # 1-D: im2col's P rows are contiguous copies already (measured 1.2x faster than shift)
    return window.ndim > 1 and window.kernel_size[0] > 1 and few and waste <= SHIFT_MAX_WASTE


def _winograd_pays(geometry: ConvGeometry) -> bool:
    sizes = zip(geometry.window.output_shape, _winograd.tiles(geometry), strict=True)
    count = geometry.batch * math.prod(-(-out // m) for out, m in sizes)
    channels = min(geometry.in_channels_per_group, geometry.out_channels_per_group)
    big = channels >= WINOGRAD_MIN_CHANNELS and count >= WINOGRAD_MIN_TILES
    return big and _winograd.savings(geometry) >= WINOGRAD_MIN_SAVINGS - 1e-9


def choose(
    op: str, geometry: ConvGeometry, dtype: np.dtype[Any], algorithm: str, budget: int, func: str
) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(formulation, reason, every formulation with why it does or does not apply).

    Cached per call signature (and thread count): a layer called again is not planned anew.
    """
    return _choose(op, geometry, np.dtype(dtype), algorithm, budget, func, num_threads())


@functools.lru_cache(maxsize=256)
def _choose(
    op: str,
    geometry: ConvGeometry,
    dtype: np.dtype[Any],
    algorithm: str,
    budget: int,
    func: str,
    threads: int,
) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    names = ALGORITHMS[1:]
    why = {name: _why_not(name, geometry, dtype, budget, op) for name in names}
    alternatives = tuple((name, why[name] or "applies") for name in names)
    if algorithm != "auto":
        reason = why[algorithm]
        # a bound too small for im2col is refused by the engine itself, with the minimum
        if reason is not None and algorithm != "im2col":
            raise ConvmmValueError(f"{func}: algorithm={algorithm!r} does not apply: {reason}")
        detail = f": {_winograd.describe(geometry)}" if algorithm == "winograd" else ""
        return algorithm, f"asked for{detail}", alternatives
    gradients = op in ("conv_backward", "conv_transpose")
    if gradients and why["shift"] is None and _shift_pays(geometry):
        # measured: 1.1-1.9x faster than im2col's unfold-and-fold (and than depthwise's) here
        return (
            "shift",
            "stride 1 with few filters per group: dX is the convolution of dY with the flipped "
            "kernel (planned as a forward product), dK one GEMM per kernel row",
            alternatives,
        )
    if why["depthwise"] is None and geometry.groups > 1:
        return (
            "depthwise",
            "one input channel per group: a multiply-accumulate per kernel offset instead of "
            f"{geometry.groups} tiny GEMMs",
            alternatives,
        )
    if why["shift"] is None and _shift_pays(geometry):
        return (
            "shift",
            "stride 1 with few filters per group: one GEMM per kernel row on shifted views of a "
            "P one kernel row high",
            alternatives,
        )
    if why["winograd"] is None and _winograd_pays(geometry):
        return (
            "winograd",
            f"a stride-1 layer with channels and tiles enough: {_winograd.describe(geometry)}, "
            f"batched GEMMs with {_winograd.savings(geometry):.2g}x fewer multiplies",
            alternatives,
        )
    if _engine.is_pointwise(geometry):
        return "im2col", "a 1x1 kernel: one GEMM on the input itself, P is a view", alternatives
    return (
        "im2col",
        "the general formulation: unfold P in cache-sized chunks, one GEMM each",
        alternatives,
    )
