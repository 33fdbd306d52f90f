"""Dispatch: a call's forward product, gradients or transposed product by the formulation the
planner (``_planner.choose``) picks; a stride-1 input gradient as a forward product of dY."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _depthwise, _engine, _shift, _winograd
from ._geometry import ConvGeometry
from ._planner import choose

__all__ = ["backward", "forward", "transpose"]


def forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    geometry: ConvGeometry,
    *,
    algorithm: str,
    out_dtype: np.dtype[Any],
    dtype: np.dtype[Any],
    budget: int,
    func: str,
    op: str = "conv",
) -> np.ndarray:
    """The convolution's output by the chosen formulation."""
    name = choose(op, geometry, dtype, algorithm, budget, func)[0]
    module: Any = {"depthwise": _depthwise, "shift": _shift, "winograd": _winograd}.get(
        name, _engine
    )
    y: np.ndarray = module.forward(
        x, w, b, geometry, out_dtype=out_dtype, dtype=dtype, budget=budget, func=func
    )
    return y


def backward(
    x: np.ndarray | None,
    dy: np.ndarray,
    w: np.ndarray,
    geometry: ConvGeometry,
    *,
    needs_input_grad: bool,
    needs_weight_grad: bool,
    algorithm: str,
    dtype: np.dtype[Any],
    budget: int,
    func: str,
    op: str = "conv_backward",
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(dx, dK)`` of a convolution (None for the ones not asked for), compute dtype.

    ``x`` is needed for dK only (the transposed convolution asks for dx alone, with ``x=None``).
    """
    if op == "conv_transpose_backward" and algorithm == "winograd":
        algorithm = "im2col"  # it computed the input gradient; the weight's is im2col's
    name = choose(op, geometry, dtype, algorithm, budget, func)[0]
    if name == "depthwise":
        return _depthwise.backward(
            x if needs_weight_grad else None,
            dy,
            w,
            geometry,
            dtype=dtype,
            budget=budget,
            func=func,
            needs_input_grad=needs_input_grad,
        )
    options: dict[str, Any] = {"dtype": dtype, "budget": budget, "func": func}
    if name == "shift":
        dx = _input_gradient(dy, w, geometry, **options) if needs_input_grad else None
        dk = None
        if needs_weight_grad and x is not None:
            dk = _shift.weight_gradient(x, dy, geometry, **options)
        return dx, dk
    if needs_weight_grad and x is None:  # pragma: no cover - an internal misuse
        raise RuntimeError("convmm: the weight gradient needs the input")
    both = needs_input_grad and needs_weight_grad and x is not None
    if both and x is not None and not _engine.patches_are_input(x, geometry, dtype):
        return _engine.backward(x, dy, w, geometry, **options)
    dx = _engine.backward_input(dy, w, geometry, **options) if needs_input_grad else None
    dk = None
    if needs_weight_grad and x is not None:
        dk = _engine.backward_weight(x, dy, geometry, **options)
    return dx, dk


def _input_gradient(
    dy: np.ndarray, w: np.ndarray, geometry: ConvGeometry, *, dtype: Any, budget: int, func: str
) -> np.ndarray:
    """dX of a stride-1 convolution as the convolution of dY with the flipped kernel.

    Planned like any forward product (any formulation), in the compute dtype.
    """
    weight = _shift.flipped_transposed_weight(w, geometry, dtype)
    inner = _shift.input_gradient_geometry(geometry, func)
    return forward(
        dy,
        weight,
        None,
        inner,
        algorithm="auto",
        out_dtype=dtype,
        dtype=dtype,
        budget=budget,
        func=func,
    )


def transpose(
    x: np.ndarray,
    w: np.ndarray,
    geometry: ConvGeometry,
    *,
    algorithm: str,
    dtype: np.dtype[Any],
    budget: int,
    func: str,
) -> np.ndarray:
    """The transposed convolution of ``x``: the input gradient of ``geometry``'s convolution."""
    dx, _ = backward(
        None,
        x,
        w,
        geometry,
        needs_input_grad=True,
        needs_weight_grad=False,
        algorithm=algorithm,
        dtype=dtype,
        budget=budget,
        func=func,
        op="conv_transpose",
    )
    if dx is None:  # pragma: no cover - asked for
        raise RuntimeError("convmm: no input gradient")
    return dx
