"""PyTorch's fixed-rank functional forms, ``torch.nn.functional``'s argument order:
:func:`conv1d`, :func:`conv2d`, :func:`conv3d` (of :func:`convmm.conv`) and
:func:`conv_transpose1d`, :func:`conv_transpose2d`, :func:`conv_transpose3d` (of
:func:`convmm.conv_transpose`), each checking the weight's rank and naming itself in errors."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._conv import _convolve
from ._conv_transpose import _transpose

__all__ = [
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
]

_Ints = int | tuple[int, ...]


def _conv_nd(
    name: str,
    ndim: int,
    input: Any,
    weight: Any,
    bias: Any,
    stride: int | tuple[int, ...],
    padding: int | str | tuple[Any, ...],
    dilation: int | tuple[int, ...],
    groups: int,
) -> np.ndarray:
    return _convolve(
        f"convmm.{name}",
        input,
        weight,
        bias,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode="zeros",
        channels_last=False,
        max_workspace_bytes=None,
        ndim=ndim,
    )


def conv1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, ...] = 1,
    padding: int | str | tuple[Any, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> np.ndarray:
    """1-D convolution with ``torch.nn.functional.conv1d``'s positional signature.

    ``input`` is ``(N, C_in, L)`` or ``(C_in, L)`` and ``weight`` ``(C_out, C_in/groups, k)``;
    everything else is as in :func:`conv`.

    Examples
    --------
    The seed article's 1-D example: 3 channels of length 12, two kernels of width 4, stride 2.

    >>> import numpy as np, convmm
    >>> x = np.arange(1.0, 37.0).reshape(1, 3, 12)
    >>> w = np.arange(1.0, 25.0).reshape(2, 3, 4)
    >>> convmm.conv1d(x, w, None, 2)
    array([[[1530., 1686., 1842., 1998., 2154.],
            [3618., 4062., 4506., 4950., 5394.]]])
    """
    return _conv_nd("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, ...] = 1,
    padding: int | str | tuple[Any, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> np.ndarray:
    """2-D convolution with ``torch.nn.functional.conv2d``'s positional signature.

    ``input`` is ``(N, C_in, H, W)`` or ``(C_in, H, W)`` and ``weight``
    ``(C_out, C_in/groups, kH, kW)``; everything else is as in :func:`conv`.

    Examples
    --------
    >>> import numpy as np, convmm
    >>> convmm.conv2d(np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), None, 2, 1).shape
    (2, 4, 3, 3)
    """
    return _conv_nd("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, ...] = 1,
    padding: int | str | tuple[Any, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> np.ndarray:
    """3-D convolution with ``torch.nn.functional.conv3d``'s positional signature.

    ``input`` is ``(N, C_in, D, H, W)`` or ``(C_in, D, H, W)`` and ``weight``
    ``(C_out, C_in/groups, kD, kH, kW)``; everything else is as in :func:`conv`.

    Examples
    --------
    >>> import numpy as np, convmm
    >>> convmm.conv3d(np.ones((1, 2, 4, 4, 4)), np.ones((3, 2, 2, 2, 2))).shape
    (1, 3, 3, 3, 3)
    """
    return _conv_nd("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose_nd(
    name: str, ndim: int, input: Any, weight: Any, bias: Any, *options: Any
) -> np.ndarray:
    stride, padding, output_padding, groups, dilation = options
    return _transpose(
        f"convmm.{name}",
        input,
        weight,
        bias,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        groups=groups,
        channels_last=False,
        output_size=None,
        max_workspace_bytes=None,
        ndim=ndim,
    )


def conv_transpose1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: _Ints = 1,
    padding: int | tuple[Any, ...] = 0,
    output_padding: _Ints = 0,
    groups: int = 1,
    dilation: _Ints = 1,
) -> np.ndarray:
    """1-D transposed convolution with ``torch.nn.functional.conv_transpose1d``'s signature.

    Note PyTorch's order: ``groups`` comes before ``dilation``.  See :func:`conv_transpose`.

    Examples
    --------
    >>> import numpy as np, convmm
    >>> convmm.conv_transpose1d(np.ones((1, 1, 3)), np.ones((1, 1, 2)), None, 2)
    array([[[1., 1., 1., 1., 1., 1.]]])
    """
    return _conv_transpose_nd(
        "conv_transpose1d",
        1,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


def conv_transpose2d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: _Ints = 1,
    padding: int | tuple[Any, ...] = 0,
    output_padding: _Ints = 0,
    groups: int = 1,
    dilation: _Ints = 1,
) -> np.ndarray:
    """2-D transposed convolution with ``torch.nn.functional.conv_transpose2d``'s signature.

    Note PyTorch's order: ``groups`` comes before ``dilation``.  See :func:`conv_transpose`.

    Examples
    --------
    >>> import numpy as np, convmm
    >>> convmm.conv_transpose2d(np.ones((1, 4, 5, 5)), np.ones((4, 2, 3, 3)), None, 2, 1, 1).shape
    (1, 2, 10, 10)
    """
    return _conv_transpose_nd(
        "conv_transpose2d",
        2,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


def conv_transpose3d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: _Ints = 1,
    padding: int | tuple[Any, ...] = 0,
    output_padding: _Ints = 0,
    groups: int = 1,
    dilation: _Ints = 1,
) -> np.ndarray:
    """3-D transposed convolution with ``torch.nn.functional.conv_transpose3d``'s signature.

    Note PyTorch's order: ``groups`` comes before ``dilation``.  See :func:`conv_transpose`.

    Examples
    --------
    >>> import numpy as np, convmm
    >>> convmm.conv_transpose3d(np.ones((1, 2, 3, 3, 3)), np.ones((2, 1, 2, 2, 2))).shape
    (1, 1, 4, 4, 4)
    """
    return _conv_transpose_nd(
        "conv_transpose3d",
        3,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )
