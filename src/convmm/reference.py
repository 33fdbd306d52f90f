"""Slow, obviously correct definitions, for tests and for checking explanations.

Nothing here uses the patch matrix: :func:`conv` pads the input with :func:`numpy.pad` and
computes every output value as the sum of a window of the input times a filter, one output
position at a time, in float64.  It shares only argument validation with the fast path.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ._arrays import as_float_array, workspace_budget
from ._geometry import Window, conv_geometry

__all__ = ["conv", "pad"]

_NUMPY_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(x: np.ndarray, window: Window) -> np.ndarray:
    """Pad the trailing spatial dims of ``x`` as ``window`` says, with :func:`numpy.pad`."""
    lead = [(0, 0)] * (x.ndim - window.ndim)
    return np.pad(x, lead + list(window.padding), mode=_NUMPY_MODES[window.padding_mode])  # type: ignore[call-overload, no-any-return]


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
    x = as_float_array(input, func=func, name="input")
    w = as_float_array(weight, func=func, name="weight").astype(np.float64)
    b = None if bias is None else as_float_array(bias, func=func, name="bias")
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
    xs = x.astype(np.float64)
    if not geometry.batched:
        xs = xs[np.newaxis]
    if channels_last:
        xs = np.moveaxis(xs, -1, 1)
    padded = pad(xs, window)
    n = xs.shape[0]
    cin, cout = geometry.in_channels_per_group, geometry.out_channels_per_group
    out = np.zeros((n, geometry.out_channels, *window.output_shape))
    for position in itertools.product(*(range(o) for o in window.output_shape)):
        region = tuple(
            slice(o * s, o * s + d * (k - 1) + 1, d)
            for o, s, d, k in zip(
                position, window.stride, window.dilation, window.kernel_size, strict=True
            )
        )
        for group in range(geometry.groups):
            patch = padded[(slice(None), slice(group * cin, (group + 1) * cin)) + region]
            filters = w[group * cout : (group + 1) * cout]
            # out[n, f] = sum over channel and kernel offset of patch[n, c, k] * filters[f, c, k]
            summed = list(range(1, patch.ndim))
            value = np.tensordot(patch, filters, axes=(summed, summed))
            out[(slice(None), slice(group * cout, (group + 1) * cout)) + position] = value
    if b is not None:
        out += b.astype(np.float64).reshape(-1, *([1] * window.ndim))
    if channels_last:
        out = np.moveaxis(out, 1, -1)
    out = out.astype(x.dtype)
    return out if geometry.batched else out[0]
