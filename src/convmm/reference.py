"""Slow, obviously correct definitions, for tests and for checking explanations.

Nothing here uses the patch matrix.  :func:`conv` pads the input with :func:`numpy.pad` and
computes every output value as the sum of a window of the input times a filter, one output
position at a time, in float64.  :func:`conv_transpose` loops over the input positions and adds
each one's channel vector times the filters into the window it maps to.  :func:`conv_backward`
loops over the output positions, adding each gradient value times the filters into the padded
input's window and times the window into the weight's gradient; the padded input's gradient
then goes back, one padded cell at a time, onto the input cell the padding copied.  They share
only argument validation with the fast path.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ._arrays import as_float_array, check_flags, conv_arrays, workspace_budget
from ._errors import ConvmmValueError
from ._geometry import ConvGeometry, Window, conv_geometry
from ._validate import transpose_geometry as _transpose_geometry

__all__ = ["conv", "conv_backward", "conv_transpose", "pad"]

_NUMPY_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(x: np.ndarray, window: Window) -> np.ndarray:
    """Pad the trailing spatial dims of ``x`` as ``window`` says, with :func:`numpy.pad`."""
    lead = [(0, 0)] * (x.ndim - window.ndim)
    return np.pad(x, lead + list(window.padding), mode=_NUMPY_MODES[window.padding_mode])  # type: ignore[call-overload, no-any-return]


def _regions(geometry: ConvGeometry) -> Any:
    """Each output position with the window it reads, as slices of the padded input."""
    window = geometry.window
    for position in itertools.product(*(range(o) for o in window.output_shape)):
        region = tuple(
            slice(o * s, o * s + d * (k - 1) + 1, d)
            for o, s, d, k in zip(
                position, window.stride, window.dilation, window.kernel_size, strict=True
            )
        )
        yield position, region


def _channels_first(a: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
    """Batched, channels first, float64."""
    a = a.astype(np.float64)
    if not geometry.batched:
        a = a[np.newaxis]
    return np.moveaxis(a, -1, 1) if geometry.channels_last else a


def _as_given(a: np.ndarray, geometry: ConvGeometry, dtype: Any) -> np.ndarray:
    """The inverse of :func:`_channels_first`, in ``dtype``."""
    if geometry.channels_last:
        a = np.moveaxis(a, 1, -1)
    a = a.astype(dtype)
    return a if geometry.batched else a[0]


def unpad_adjoint(g: np.ndarray, window: Window) -> np.ndarray:
    """Add each padded cell of ``g`` (trailing dims padded) onto the input cell it copies.

    Padding is a copy along each dim separately, so its adjoint is too: one dim at a time,
    every padded index adds its slice onto its source index (zeros padding: dropped).  The
    source of each padded index is found as :func:`pad` finds it, by ``numpy.pad``.
    """
    for dim in range(window.ndim):
        axis = g.ndim - window.ndim + dim
        n, (before, _) = window.input_shape[dim], window.padding[dim]
        # which input index each padded index copies: numpy.pad of the indices themselves
        after = g.shape[axis] - n - before
        mode = _NUMPY_MODES[window.padding_mode]
        sources = (
            np.pad(np.arange(n), (before, after), mode="constant", constant_values=-1)
            if mode == "constant"
            else np.pad(np.arange(n), (before, after), mode=mode)  # type: ignore[call-overload]
        )
        shape = list(g.shape)
        shape[axis] = n
        out = np.zeros(shape)
        for padded_index, source in enumerate(sources):
            if source >= 0:
                out[(slice(None),) * axis + (int(source),)] += g[
                    (slice(None),) * axis + (padded_index,)
                ]
        g = out
    return g


def conv(
    input: Any,
    weight: Any,
    bias: Any = None,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | str | tuple[Any, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    channels_last: bool = False,
    max_workspace_bytes: int | None = None,
) -> np.ndarray:
    """Direct convolution: a loop over output positions; same signature as :func:`convmm.conv`.

    ``max_workspace_bytes`` is validated as ``conv`` validates it and otherwise unused: the
    reference holds no patch matrix, only the padded float64 input and the output.

    Examples
    --------
    >>> import numpy as np
    >>> from convmm import reference
    >>> x = np.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    >>> reference.conv(x, np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))[0, 0, 0]
    array([44., 54., 64.])
    """
    func = "convmm.reference.conv"
    x, w, b = conv_arrays(input, weight, bias, func=func)
    w = w.astype(np.float64)
    workspace_budget(max_workspace_bytes, func=func)
    geometry = conv_geometry(
        x.shape,
        w.shape,
        None if b is None else b.shape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        channels_last=channels_last,
        func=func,
    )
    window = geometry.window
    padded = pad(_channels_first(x, geometry), window)
    n = padded.shape[0]
    cin, cout = geometry.in_channels_per_group, geometry.out_channels_per_group
    out = np.zeros((n, geometry.out_channels, *window.output_shape))
    for position, region in _regions(geometry):
        for group in range(geometry.groups):
            patch = padded[(slice(None), slice(group * cin, (group + 1) * cin)) + region]
            filters = w[group * cout : (group + 1) * cout]
            # out[n, f] = sum over channel and kernel offset of patch[n, c, k] * filters[f, c, k]
            summed = list(range(1, patch.ndim))
            value = np.tensordot(patch, filters, axes=(summed, summed))
            out[(slice(None), slice(group * cout, (group + 1) * cout)) + position] = value
    if b is not None:
        out += b.astype(np.float64).reshape(-1, *([1] * window.ndim))
    return _as_given(out, geometry, x.dtype)


def conv_transpose(
    input: Any,
    weight: Any,
    bias: Any = None,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[Any, ...] = 0,
    output_padding: int | tuple[int, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
    channels_last: bool = False,
    output_size: int | tuple[int, ...] | None = None,
    max_workspace_bytes: int | None = None,
) -> np.ndarray:
    """Direct transposed convolution; same signature as :func:`convmm.conv_transpose`.

    Every input position adds its channel vector times the filters into the window (of the
    uncropped output) that a convolution with these arguments reads for that position; the
    padding is then cropped from each side.

    Examples
    --------
    >>> import numpy as np
    >>> from convmm import reference
    >>> reference.conv_transpose(np.array([[[1.0, 2.0]]]), np.ones((1, 1, 3)), stride=2)
    array([[[1., 1., 3., 2., 2.]]])
    """
    func = "convmm.reference.conv_transpose"
    x, w, b = conv_arrays(input, weight, bias, func=func)
    w = w.astype(np.float64)
    workspace_budget(max_workspace_bytes, func=func)
    # in convolution terms: the transposed input is the convolution's output
    geometry = _transpose_geometry(
        x,
        w,
        None if b is None else b.shape,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        output_size=output_size,
        dilation=dilation,
        groups=groups,
        channels_last=channels_last,
        func=func,
    )
    window = geometry.window
    xs = _channels_first(x, geometry)
    n = xs.shape[0]
    cin, cout = geometry.out_channels_per_group, geometry.in_channels_per_group
    full = np.zeros((n, geometry.in_channels, *window.padded_shape))
    for position, region in _regions(geometry):
        for group in range(geometry.groups):
            values = xs[(slice(None), slice(group * cin, (group + 1) * cin)) + position]
            filters = w[group * cin : (group + 1) * cin]  # (cin, cout, *kernel)
            # full[n, c, window] += sum over input channel i of values[n, i] * filters[i, c]
            added = np.tensordot(values, filters, axes=(1, 0))
            full[(slice(None), slice(group * cout, (group + 1) * cout)) + region] += added
    crop = tuple(
        slice(before, before + size)
        for (before, _), size in zip(window.padding, window.input_shape, strict=True)
    )
    out = full[(slice(None), slice(None)) + crop]
    if b is not None:
        out = out + b.astype(np.float64).reshape(-1, *([1] * window.ndim))
    return _as_given(out, geometry, x.dtype)


def conv_backward(
    grad_output: Any,
    input: Any,
    weight: Any,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | str | tuple[Any, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    channels_last: bool = False,
    bias: bool = True,
    needs_input_grad: bool = True,
    needs_weight_grad: bool = True,
    max_workspace_bytes: int | None = None,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Direct gradients of :func:`conv`; same signature as :func:`convmm.conv_backward`.

    For every output position, its gradient times the filters is added into the window of the
    padded input it read, and times that window into the weight's gradient; the padded input's
    gradient then adds each padded cell onto the input cell it was copied from.

    Examples
    --------
    >>> import numpy as np
    >>> from convmm import reference
    >>> x, w = np.arange(1.0, 5.0).reshape(1, 1, 4), np.array([[[1.0, 10.0]]])
    >>> grad_input, grad_weight, grad_bias = reference.conv_backward(np.ones((1, 1, 3)), x, w)
    >>> grad_input, grad_weight, grad_bias
    (array([[[ 1., 11., 11., 10.]]]), array([[[6., 9.]]]), array([3.]))
    """
    func = "convmm.reference.conv_backward"
    x = as_float_array(input, func=func, name="input")
    w = as_float_array(weight, func=func, name="weight")
    dy = as_float_array(grad_output, func=func, name="grad_output")
    check_flags(
        func, bias=bias, needs_input_grad=needs_input_grad, needs_weight_grad=needs_weight_grad
    )
    workspace_budget(max_workspace_bytes, func=func)
    geometry = conv_geometry(
        x.shape,
        w.shape,
        None,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        channels_last=channels_last,
        func=func,
    )
    if dy.shape != geometry.output_array_shape():
        raise ConvmmValueError(
            f"{func}: grad_output must have the shape of the convolution's output, "
            f"{geometry.output_array_shape()}; got {dy.shape}"
        )
    window = geometry.window
    xs, dys = _channels_first(x, geometry), _channels_first(dy, geometry)
    wf = w.astype(np.float64)
    padded = pad(xs, window)
    grad_padded = np.zeros_like(padded)
    grad_weight = np.zeros_like(wf)
    cin, cout = geometry.in_channels_per_group, geometry.out_channels_per_group
    for position, region in _regions(geometry):
        for group in range(geometry.groups):
            inputs = (slice(None), slice(group * cin, (group + 1) * cin)) + region
            outputs = slice(group * cout, (group + 1) * cout)
            g = dys[(slice(None), outputs) + position]  # (n, cout)
            # d padded[n, c, k] += sum over filter f of g[n, f] * w[f, c, k]
            grad_padded[inputs] += np.tensordot(g, wf[outputs], axes=(1, 0))
            # d w[f, c, k] += sum over images n of g[n, f] * padded[n, c, k]
            grad_weight[outputs] += np.tensordot(g, padded[inputs], axes=(0, 0))
    grad_input = _as_given(unpad_adjoint(grad_padded, window), geometry, x.dtype)
    spatial = tuple(range(2, 2 + window.ndim))
    grad_bias = dys.sum(axis=(0, *spatial)).astype(w.dtype)
    return (
        grad_input if needs_input_grad else None,
        grad_weight.astype(w.dtype) if needs_weight_grad else None,
        grad_bias if bias else None,
    )
