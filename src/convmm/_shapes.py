"""Output shapes without computing: for sizing layers and for the other functions' users."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from ._errors import ConvmmTypeError, ConvmmValueError
from ._geometry import conv_geometry, conv_transpose_geometry, output_padding_for

__all__ = ["conv_output_shape", "conv_transpose_output_padding", "conv_transpose_output_shape"]


def _shape(value: Any, func: str, name: str) -> tuple[int, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ConvmmTypeError(f"{func}: {name} must be a sequence of ints (a shape); got {value!r}")
    items = tuple(value)
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items):
        raise ConvmmTypeError(f"{func}: {name} must hold ints >= 0; got {items!r}")
    if any(int(v) < 0 for v in items):
        raise ConvmmValueError(f"{func}: {name} must hold ints >= 0; got {items!r}")
    return tuple(int(v) for v in items)


def conv_output_shape(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | str | tuple[Any, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    channels_last: bool = False,
) -> tuple[int, ...]:
    """The shape :func:`convmm.conv` returns for arrays of these shapes, without computing.

    Validates exactly as :func:`convmm.conv` does.

    Examples
    --------
    >>> import convmm
    >>> convmm.conv_output_shape((8, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3)
    (8, 64, 112, 112)
    """
    func = "convmm.conv_output_shape"
    geometry = conv_geometry(
        _shape(input_shape, func, "input_shape"),
        _shape(weight_shape, func, "weight_shape"),
        None,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        channels_last=channels_last,
        func=func,
    )
    return geometry.output_array_shape()


def conv_transpose_output_shape(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[Any, ...] = 0,
    output_padding: int | tuple[int, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
    channels_last: bool = False,
) -> tuple[int, ...]:
    """The shape :func:`convmm.conv_transpose` returns, without computing.

    Examples
    --------
    >>> import convmm
    >>> convmm.conv_transpose_output_shape((8, 64, 56, 56), (64, 32, 3, 3), stride=2,
    ...                                    padding=1, output_padding=1)
    (8, 32, 112, 112)
    """
    func = "convmm.conv_transpose_output_shape"
    geometry = conv_transpose_geometry(
        _shape(input_shape, func, "input_shape"),
        _shape(weight_shape, func, "weight_shape"),
        None,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        groups=groups,
        channels_last=channels_last,
        func=func,
    )
    return geometry.input_array_shape()


def conv_transpose_output_padding(
    input_size: Sequence[int],
    output_size: int | Sequence[int],
    kernel_size: int | Sequence[int],
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[Any, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
) -> tuple[int, ...]:
    """The ``output_padding`` with which a transposed convolution reaches ``output_size``.

    ``input_size`` and ``output_size`` are spatial sizes.  This is what PyTorch's
    ``output_size=`` and ONNX's ``output_shape`` compute; a size that no ``output_padding``
    reaches raises a ``ValueError`` giving the reachable range.  The range is the one
    ``output_padding`` itself allows, ``[smallest, smallest + max(stride, dilation) - 1]`` (as
    ``torch.nn.functional.conv_transpose*d`` allows); ``torch.nn.ConvTranspose*d``'s
    ``output_size=`` stops at ``smallest + stride - 1``, so it refuses some of the sizes that a
    dilation larger than the stride reaches.

    Examples
    --------
    A stride-2 layer can give 9 or 10 from 5; for 10 it needs one more cell at the end:

    >>> import convmm
    >>> convmm.conv_transpose_output_padding((5,), (10,), 3, stride=2, padding=1)
    (1,)
    """
    func = "convmm.conv_transpose_output_padding"
    size = _shape(input_size, func, "input_size")
    return output_padding_for(
        size,
        output_size,
        kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        func=func,
    )
