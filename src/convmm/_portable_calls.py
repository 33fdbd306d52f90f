"""The public functions for arrays of other libraries (the portable path).

Each public function hands its call here when :func:`convmm._array_api.foreign` says an array
is not NumPy's.  The functions below check the call with the very helpers the NumPy path uses,
in its order (the geometry, the weight's rank, ``grad_output``'s shape, ``output_size``, the
flags, ``max_workspace_bytes`` and ``algorithm``), so that every error reads the same on both
paths; then they compute with :mod:`convmm._portable` in the caller's library, on the arrays'
device, and return that library's arrays.

Two parameters concern NumPy's planner only: ``algorithm`` is checked as on NumPy and must then
be ``'auto'`` or ``'im2col'`` (the portable formulation is im2col; a forced ``'shift'``,
``'depthwise'`` or ``'winograd'`` is a ``ValueError``), and ``max_workspace_bytes`` bounds P
per chunk of whole images (the batch is sliced and the results concatenated; one image's P
alone may exceed it).
"""

from __future__ import annotations

from typing import Any

from . import _portable
from ._array_api import Namespace, library_name, namespace, shape_of, stand_in
from ._arrays import check_allocation, check_flags, workspace_budget
from ._errors import ConvmmValueError
from ._geometry import ConvGeometry, conv_geometry
from ._planner import check_algorithm
from ._validate import (
    check_grad_output,
    check_transposed_grad_output,
    check_transposed_weight_rank,
    check_weight_rank,
    fold_window,
    transpose_geometry,
    unfold_window,
)

__all__ = [
    "portable_conv",
    "portable_conv_backward",
    "portable_conv_transpose",
    "portable_conv_transpose_backward",
    "portable_fold",
    "portable_unfold",
]

#: The formulations the portable path computes: ``auto`` is im2col there.
PORTABLE_ALGORITHMS = ("auto", "im2col")


def _portable_algorithm(algorithm: object, func: str, array: Any) -> None:
    """``algorithm`` checked as on NumPy, then refused unless it is im2col or auto."""
    name = check_algorithm(algorithm, func)
    if name not in PORTABLE_ALGORITHMS:
        raise ConvmmValueError(
            f"{func}: algorithm {name!r} is one of NumPy's formulations; arrays of "
            f"{library_name(array)} are computed by the portable im2col alone "
            f"(algorithm 'auto' or 'im2col')"
        )


def _channels_first(ns: Namespace, a: Any, geometry: ConvGeometry, dtype: Any) -> Any:
    """A caller's array as batched ``(N, C, *spatial)`` in ``dtype``."""
    a = ns.cast(a, dtype)
    if not geometry.batched:
        a = ns.xp.expand_dims(a, axis=0)
    if geometry.channels_last:
        last = a.ndim - 1
        a = ns.xp.permute_dims(a, (0, last, *range(1, last)))
    return a


def _caller_layout(ns: Namespace, a: Any, geometry: ConvGeometry, dtype: Any) -> Any:
    """A batched ``(N, C, *spatial)`` array in the caller's layout and ``dtype``."""
    if geometry.channels_last:
        a = ns.xp.permute_dims(a, (0, *range(2, a.ndim), 1))
    if not geometry.batched:
        a = a[0, ...]
    return ns.cast(a, dtype)


def _bias_gradient(ns: Namespace, dy: Any, out_dtype: Any) -> Any:
    """``db = Σ dy`` over images and positions of a batched channels-first ``dy``."""
    return ns.cast(ns.xp.sum(dy, axis=(0, *range(2, dy.ndim))), out_dtype)


def portable_conv(
    func: str,
    input: Any,
    weight: Any,
    bias: Any,
    *,
    ndim: int | None,
    stride: object,
    padding: object,
    dilation: object,
    groups: object,
    padding_mode: object,
    channels_last: object,
    max_workspace_bytes: object,
    algorithm: object,
) -> Any:
    """:func:`convmm.conv` (and ``conv1d/2d/3d``) of arrays of another library."""
    ns = namespace(func, {"input": input, "weight": weight, "bias": bias})
    x = ns.check_float(input, "input")
    w = ns.check_float(weight, "weight")
    check_weight_rank(shape_of(w, func, "weight"), ndim, func)
    b = None if bias is None else ns.check_float(bias, "bias")
    geometry = conv_geometry(
        shape_of(x, func, "input"),
        shape_of(w, func, "weight"),
        None if b is None else shape_of(b, func, "bias"),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        channels_last=channels_last,
        func=func,
    )
    budget = workspace_budget(max_workspace_bytes, func=func)
    dtype = ns.compute_dtype(x, w, b)
    _portable_algorithm(algorithm, func, x)
    check_allocation(geometry.output_array_shape(), ns.numpy_dtype(x.dtype), func=func)
    y = _portable.conv_output(
        ns,
        _channels_first(ns, x, geometry, dtype),
        ns.cast(w, dtype),
        None if b is None else ns.cast(b, dtype),
        geometry,
        budget,
    )
    return _caller_layout(ns, y, geometry, x.dtype)


def portable_conv_backward(
    grad_output: Any,
    input: Any,
    weight: Any,
    *,
    stride: object,
    padding: object,
    dilation: object,
    groups: object,
    padding_mode: object,
    channels_last: object,
    bias: object,
    needs_input_grad: object,
    needs_weight_grad: object,
    max_workspace_bytes: object,
    algorithm: object,
) -> tuple[Any, Any, Any]:
    """:func:`convmm.conv_backward` of arrays of another library."""
    func = "convmm.conv_backward"
    ns = namespace(func, {"input": input, "weight": weight, "grad_output": grad_output})
    x = ns.check_float(input, "input")
    w = ns.check_float(weight, "weight")
    dy = ns.check_float(grad_output, "grad_output")
    check_flags(
        func, bias=bias, needs_input_grad=needs_input_grad, needs_weight_grad=needs_weight_grad
    )
    geometry = conv_geometry(
        shape_of(x, func, "input"),
        shape_of(w, func, "weight"),
        None,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        channels_last=channels_last,
        func=func,
    )
    check_grad_output(shape_of(dy, func, "grad_output"), geometry.output_array_shape(), func)
    budget = workspace_budget(max_workspace_bytes, func=func)
    dtype = ns.compute_dtype(dy, x, w)
    _portable_algorithm(algorithm, func, x)
    dy_first = _channels_first(ns, dy, geometry, dtype)
    grad_input = grad_weight = grad_bias = None
    if needs_input_grad:
        dx = _portable.conv_input_gradient(ns, dy_first, ns.cast(w, dtype), geometry, budget)
        grad_input = _caller_layout(ns, dx, geometry, x.dtype)
    if needs_weight_grad:
        x_first = _channels_first(ns, x, geometry, dtype)
        dk = _portable.conv_weight_gradient(ns, x_first, dy_first, geometry, budget)
        grad_weight = ns.cast(dk, w.dtype)
    if bias:
        grad_bias = _bias_gradient(ns, dy_first, w.dtype)
    return grad_input, grad_weight, grad_bias


def portable_conv_transpose(
    func: str,
    input: Any,
    weight: Any,
    bias: Any,
    *,
    ndim: int | None,
    stride: object,
    padding: object,
    output_padding: object,
    dilation: object,
    groups: object,
    channels_last: object,
    output_size: object,
    max_workspace_bytes: object,
    algorithm: object,
) -> Any:
    """:func:`convmm.conv_transpose` (and ``conv_transpose1d/2d/3d``) of other arrays.

    The fold of ``Kᵀ·X``: the input gradient of the convolution the transposed one transposes.
    """
    ns = namespace(func, {"input": input, "weight": weight, "bias": bias})
    x = ns.check_float(input, "input")
    w = ns.check_float(weight, "weight")
    check_transposed_weight_rank(shape_of(w, func, "weight"), ndim, func)
    b = None if bias is None else ns.check_float(bias, "bias")
    geometry = transpose_geometry(
        stand_in(shape_of(x, func, "input")),
        stand_in(shape_of(w, func, "weight")),
        None if b is None else shape_of(b, func, "bias"),
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        output_size=output_size,
        dilation=dilation,
        groups=groups,
        channels_last=channels_last,
        func=func,
    )
    budget = workspace_budget(max_workspace_bytes, func=func)
    dtype = ns.compute_dtype(x, w, b)
    _portable_algorithm(algorithm, func, x)
    check_allocation(geometry.input_array_shape(), ns.numpy_dtype(x.dtype), func=func)
    x_first = _channels_first(ns, x, geometry, dtype)
    y = _portable.conv_input_gradient(ns, x_first, ns.cast(w, dtype), geometry, budget)
    if b is not None:
        shape = (geometry.in_channels,) + (1,) * geometry.window.ndim
        y = y + ns.xp.reshape(ns.cast(b, dtype), shape)
    return _caller_layout(ns, y, geometry, x.dtype)


def portable_conv_transpose_backward(
    grad_output: Any,
    input: Any,
    weight: Any,
    *,
    stride: object,
    padding: object,
    output_padding: object,
    dilation: object,
    groups: object,
    channels_last: object,
    output_size: object,
    bias: object,
    needs_input_grad: object,
    needs_weight_grad: object,
    max_workspace_bytes: object,
    algorithm: object,
) -> tuple[Any, Any, Any]:
    """:func:`convmm.conv_transpose_backward` of arrays of another library.

    dX is the convolution of ``grad_output`` with the same weight; dK the convolution's weight
    gradient with input and ``grad_output`` exchanged; db the sum of ``grad_output``.
    """
    func = "convmm.conv_transpose_backward"
    ns = namespace(func, {"input": input, "weight": weight, "grad_output": grad_output})
    x = ns.check_float(input, "input")
    w = ns.check_float(weight, "weight")
    dy = ns.check_float(grad_output, "grad_output")
    check_flags(
        func, bias=bias, needs_input_grad=needs_input_grad, needs_weight_grad=needs_weight_grad
    )
    geometry = transpose_geometry(
        stand_in(shape_of(x, func, "input")),
        stand_in(shape_of(w, func, "weight")),
        None,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        output_size=output_size,
        dilation=dilation,
        groups=groups,
        channels_last=channels_last,
        func=func,
    )
    expected = geometry.input_array_shape()
    check_transposed_grad_output(shape_of(dy, func, "grad_output"), expected, func)
    budget = workspace_budget(max_workspace_bytes, func=func)
    dtype = ns.compute_dtype(dy, x, w)
    _portable_algorithm(algorithm, func, x)
    dy_first = _channels_first(ns, dy, geometry, dtype)
    grad_input = grad_weight = grad_bias = None
    if needs_input_grad:
        dx = _portable.conv_output(ns, dy_first, ns.cast(w, dtype), None, geometry, budget)
        grad_input = _caller_layout(ns, dx, geometry, x.dtype)
    if needs_weight_grad:
        x_first = _channels_first(ns, x, geometry, dtype)
        dk = _portable.conv_weight_gradient(ns, dy_first, x_first, geometry, budget)
        grad_weight = ns.cast(dk, w.dtype)
    if bias:
        grad_bias = _bias_gradient(ns, dy_first, w.dtype)
    return grad_input, grad_weight, grad_bias


def portable_unfold(
    input: Any,
    kernel_size: object,
    *,
    stride: object,
    padding: object,
    dilation: object,
    padding_mode: object,
) -> Any:
    """:func:`convmm.unfold` of an array of another library: P, in the input's dtype."""
    func = "convmm.unfold"
    ns = namespace(func, {"input": input})
    x = ns.check_float(input, "input")
    batched, window = unfold_window(
        shape_of(x, func, "input"),
        kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        padding_mode=padding_mode,
        func=func,
    )
    if not batched:
        x = ns.xp.expand_dims(x, axis=0)
    n, c = x.shape[0], x.shape[1]
    shape = (n, c * window.kernel_numel, window.num_positions)
    check_allocation(shape if batched else shape[1:], ns.numpy_dtype(x.dtype), func=func)
    p = _portable.unfold(ns, _portable.pad(ns, x, window), window)
    p = ns.xp.reshape(p, shape)
    return p if batched else p[0, ...]


def portable_fold(
    columns: Any,
    output_size: object,
    kernel_size: object,
    *,
    stride: object,
    padding: object,
    dilation: object,
    padding_mode: object,
) -> Any:
    """:func:`convmm.fold` of an array of another library, in the columns' dtype."""
    func = "convmm.fold"
    ns = namespace(func, {"columns": columns})
    cols = ns.check_float(columns, "columns")
    batched, window = fold_window(
        shape_of(cols, func, "columns"),
        output_size,
        kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        padding_mode=padding_mode,
        func=func,
    )
    if not batched:
        cols = ns.xp.expand_dims(cols, axis=0)
    n, c = cols.shape[0], cols.shape[1] // window.kernel_numel
    dtype = ns.compute_dtype(cols)
    shape = (n, c, *window.input_shape)
    check_allocation(shape if batched else shape[1:], ns.numpy_dtype(dtype), func=func)
    blocks = ns.xp.reshape(ns.cast(cols, dtype), (n, c, window.kernel_numel, *window.output_shape))
    out = _portable.pad_adjoint(ns, _portable.fold(ns, blocks, window), window)
    out = ns.cast(out, cols.dtype)
    return out if batched else out[0, ...]
