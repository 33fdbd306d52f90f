"""``convmm.plan``: the formulation, chunks and workspace a call would use, and why."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _depthwise, _engine, _shift, _winograd
from ._arrays import as_float_array, compute_dtype, workspace_budget
from ._errors import ConvmmTypeError, ConvmmValueError
from ._geometry import ConvGeometry, conv_geometry
from ._planner import OPS, ConvPlan, check_algorithm, choose, depthwise_workspace
from ._validate import transpose_geometry
from ._workspace import num_threads

__all__ = ["algorithms_for", "plan"]


def _operand(value: Any, dtype: np.dtype[Any], func: str, name: str) -> np.ndarray:
    """An array, or a zero-cost stand-in for a shape given as a tuple of ints."""
    if not isinstance(value, tuple):
        return as_float_array(value, func=func, name=name)
    if any(isinstance(v, bool) for v in value):
        raise ConvmmTypeError(f"{func}: {name} as a shape must be ints; got {value!r}")
    if all(isinstance(v, int | np.integer) for v in value):
        if any(v < 0 for v in value):
            raise ConvmmValueError(f"{func}: {name} as a shape must have sizes >= 0; got {value}")
        return np.broadcast_to(np.zeros((), dtype=dtype), tuple(int(v) for v in value))
    return as_float_array(value, func=func, name=name)


def plan(
    input: Any,
    weight: Any,
    bias: Any = None,
    *,
    op: str = "conv",
    stride: int | tuple[int, ...] = 1,
    padding: int | str | tuple[Any, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    channels_last: bool = False,
    output_padding: int | tuple[int, ...] = 0,
    output_size: int | tuple[int, ...] | None = None,
    algorithm: str = "auto",
    max_workspace_bytes: int | None = None,
    dtype: Any = np.float32,
) -> ConvPlan:
    """How convmm would compute a call: which formulation, in how many chunks, in what memory.

    Parameters
    ----------
    input, weight : array_like or tuple of int
        The call's arrays, or their shapes (then ``dtype`` is their dtype).  For the
        transposed ops, as :func:`convmm.conv_transpose` takes them.
    bias : array_like, optional
    op : {'conv', 'conv_backward', 'conv_transpose', 'conv_transpose_backward'}
        The function whose call is planned.
    stride, padding, dilation, groups, padding_mode, channels_last
        As in :func:`convmm.conv` (``padding_mode`` for the convolutions only).
    output_padding, output_size
        As in :func:`convmm.conv_transpose` (the transposed ops only).
    algorithm : {'auto', 'im2col', 'shift', 'depthwise', 'winograd'}
        ``'auto'`` shows what convmm picks; a name shows that formulation's plan (or the error
        the call would raise).
    max_workspace_bytes : int, optional
    dtype : dtype
        The dtype of shapes given instead of arrays.

    Returns
    -------
    ConvPlan
        ``algorithm``, ``reason``, the ``alternatives`` with why each does or does not apply,
        ``chunks``, ``workspace_bytes`` and ``threads``; ``str(plan)`` is one line.

    Examples
    --------
    >>> import convmm
    >>> p = convmm.plan((8, 512, 14, 14), (512, 512, 3, 3), padding=1)
    >>> p.algorithm, p.chunks > 1, p.workspace_bytes <= p.max_workspace_bytes
    ('im2col', True, True)
    >>> convmm.plan((8, 128, 28, 28), (128, 128, 3, 3), padding=1).algorithm
    'winograd'
    >>> convmm.plan((8, 64, 56, 56), (64, 64, 3, 3), padding=1).algorithm
    'shift'
    >>> convmm.plan((8, 32, 28, 28), (32, 1, 3, 3), padding=1, groups=32).algorithm
    'depthwise'
    """
    func = "convmm.plan"
    if not isinstance(op, str) or op not in OPS:
        raise (ConvmmValueError if isinstance(op, str) else ConvmmTypeError)(
            f"{func}: op must be one of {', '.join(map(repr, OPS))}; got {op!r}"
        )
    try:
        given = np.dtype(dtype)
    except TypeError as error:
        raise ConvmmTypeError(f"{func}: dtype must be a NumPy dtype; got {dtype!r}") from error
    x = _operand(input, given, func, "input")
    w = _operand(weight, given, func, "weight")
    b = None if bias is None else _operand(bias, given, func, "bias")
    name = check_algorithm(algorithm, func)
    budget = workspace_budget(max_workspace_bytes, func=func)
    common: dict[str, Any] = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "channels_last": channels_last,
        "func": func,
    }
    geometry: ConvGeometry
    if op.startswith("conv_transpose"):
        geometry = transpose_geometry(
            x,
            w,
            None if b is None else b.shape,
            output_padding=output_padding,
            output_size=output_size,
            **common,
        )
    else:
        geometry = conv_geometry(
            x.shape, w.shape, None if b is None else b.shape, padding_mode=padding_mode, **common
        )
    compute = compute_dtype(x, w, b)
    chosen, reason, alternatives = choose(op, geometry, compute, name, budget, func)
    threads = num_threads()
    if chosen == "depthwise":
        per_channel = depthwise_workspace(geometry, compute, op)
        blocks = _depthwise.blocks(geometry, per_channel, budget, func)
        largest = max(((b1 - b0) * (c1 - c0) for (b0, b1), (c0, c1) in blocks), default=0)
        threads = threads if _depthwise.PARALLEL else 1
        chunks, workspace = len(blocks), largest * per_channel * min(threads, len(blocks))
    elif chosen == "shift":  # one image at a time
        gradients = op != "conv"
        per_image = _shift.workspace_per_image(geometry, compute.itemsize, backward=gradients)
        chunks, workspace = geometry.batch, per_image
    elif chosen == "winograd":
        per_image = _winograd.workspace_per_image(geometry, compute.itemsize)
        step = max(1, min(geometry.batch, min(budget, _winograd.CHUNK_BYTES) // per_image))
        chunks, workspace = -(-geometry.batch // step), step * per_image
    else:
        x_dtype = compute if op == "conv_transpose" else x.dtype
        if op == "conv_transpose_backward":  # grad_output is the convolution's input
            x_dtype = x.dtype
        planned = _engine.chunk_plan(op, geometry, compute, x_dtype, budget=budget, func=func)
        chunks, workspace = len(planned.chunks), planned.workspace_bytes
    return ConvPlan(
        op=op,
        algorithm=chosen,
        reason=reason,
        alternatives=alternatives,
        chunks=chunks,
        workspace_bytes=int(workspace),
        threads=threads,
        max_workspace_bytes=budget,
    )


def algorithms_for(op: str, input: Any, weight: Any, **options: Any) -> list[str]:
    """The formulations that apply to a call (besides ``'auto'``), for benchmarks and tests."""
    found = []
    for name, why in plan(input, weight, op=op, **options).alternatives:
        if why == "applies":
            found.append(name)
    return found
