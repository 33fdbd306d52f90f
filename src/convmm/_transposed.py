"""The output-size arithmetic of a transposed convolution.

This module owns the transposed convolution's output-size formula per spatial dim
(:func:`transposed_output_length`), its numbers (:class:`TransposedOutputSizeTerms`, read back
from a transposed geometry's window by :func:`transposed_output_size_terms`) and the
``output_padding`` that reaches a requested ``output_size`` (:func:`output_padding_for`).  The
transposed geometry itself is built by :func:`convmm._geometry.conv_transpose_geometry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from ._errors import ConvmmValueError
from ._window import Window, _padding_pairs, int_tuple

__all__ = [
    "TransposedOutputSizeTerms",
    "output_padding_for",
    "transposed_output_length",
    "transposed_output_size_terms",
]


def transposed_output_length(
    n: int, before: int, after: int, kernel: int, stride: int, dilation: int, output_padding: int
) -> int:
    """Transposed-convolution output along one dim.

    ``(n - 1)*stride - before - after + dilation*(kernel - 1) + output_padding + 1``
    """
    return (n - 1) * stride - before - after + dilation * (kernel - 1) + output_padding + 1


class TransposedOutputSizeTerms(NamedTuple):
    """The numbers in one spatial dim's transposed-convolution output-size formula.

    ``output = (input - 1)*stride - pad_before - pad_after + dilation*(kernel - 1)
    + output_padding + 1``, where ``input`` is the transposed convolution's input size and
    ``output`` its output size.
    """

    input: int
    stride: int
    pad_before: int
    pad_after: int
    dilation: int
    kernel: int
    output_padding: int
    output: int


def transposed_output_size_terms(window: Window, dim: int) -> TransposedOutputSizeTerms:
    """The numbers of a transposed convolution's output-size formula for spatial dim ``dim``.

    Parameters
    ----------
    window : Window
        The window of a transposed convolution's geometry (see
        :func:`~convmm._geometry.conv_transpose_geometry`): its ``output_shape`` is the
        transposed input's size and its ``input_shape`` the transposed output's.
    dim : int
        The spatial dim.

    Returns
    -------
    TransposedOutputSizeTerms
        Its ``output_padding`` is what the output has beyond the formula without it.

    Raises
    ------
    ConvmmValueError
        When ``window`` is not the window of a transposed convolution (no ``output_padding``
        in ``0 .. max(stride, dilation) - 1`` gives its sizes).
    """
    before, after = window.padding[dim]
    n, out = window.output_shape[dim], window.input_shape[dim]
    k, s, d = window.kernel_size[dim], window.stride[dim], window.dilation[dim]
    extra = out - transposed_output_length(n, before, after, k, s, d, 0)
    if not 0 <= extra < max(s, d):
        raise ConvmmValueError(
            f"transposed_output_size_terms: spatial dim {dim} of {window} is not the window of "
            f"a transposed convolution: input {n} gives output {out} with output_padding "
            f"{extra}, outside 0 .. {max(s, d) - 1}"
        )
    return TransposedOutputSizeTerms(n, s, before, after, d, k, extra, out)


def output_padding_for(
    input_size: Sequence[int],
    output_size: object,
    kernel_size: object,
    *,
    stride: object,
    padding: object,
    dilation: object,
    func: str,
) -> tuple[int, ...]:
    """The ``output_padding`` that makes a transposed convolution reach ``output_size``.

    Raises a ``ValueError`` naming the reachable sizes when ``output_size`` cannot be reached.
    """
    ndim = len(input_size)
    target = int_tuple(output_size, ndim, func=func, name="output_size", minimum=1)
    kernel = int_tuple(kernel_size, ndim, func=func, name="kernel_size", minimum=1)
    strides = int_tuple(stride, ndim, func=func, name="stride", minimum=1)
    dilations = int_tuple(dilation, ndim, func=func, name="dilation", minimum=1)
    if isinstance(padding, str):
        raise ConvmmValueError(
            f"{func}: padding must be an int >= 0 or per-dim values; got {padding!r}"
        )
    pads = _padding_pairs(padding, ndim, func=func, strings=False)
    extra = []
    for dim, (n, want, k, s, d, (before, after)) in enumerate(
        zip(input_size, target, kernel, strides, dilations, pads, strict=True)
    ):
        smallest = transposed_output_length(n, before, after, k, s, d, 0)
        largest = smallest + max(s, d) - 1
        if largest < 1:
            raise ConvmmValueError(
                f"{func}: output_size {want} cannot be reached in spatial dim {dim}: padding "
                f"({before}, {after}) crops more than the output has; with input {n}, stride "
                f"{s}, dilation {d} and kernel {k} the output is at most {largest} (at "
                f"output_padding {max(s, d) - 1})"
            )
        if not smallest <= want <= largest:
            raise ConvmmValueError(
                f"{func}: output_size {want} cannot be reached in spatial dim {dim}: with "
                f"input {n}, stride {s}, padding ({before}, {after}), dilation {d} and kernel "
                f"{k} the output is between {smallest} and {largest}"
            )
        extra.append(want - smallest)
    return tuple(extra)
