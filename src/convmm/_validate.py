"""The checks and normalisation every entry point shares, whatever the arrays' library.

The NumPy path (``_conv``, ``_conv_transpose``, ``_unfold``), the array-API path
(``_portable_calls``) and the dask path (``_dask_ops``) call these, so that one call gives one
geometry and one error whichever path computes it: the weight's rank of ``conv{n}d``, the shape
of ``grad_output``, a transposed convolution's geometry with its ``output_size`` resolved, and
the windows of :func:`convmm.unfold` and :func:`convmm.fold`.  Shapes in, geometry out: nothing
here touches the arrays' values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._errors import ConvmmValueError
from ._geometry import (
    ConvGeometry,
    Window,
    conv_transpose_geometry,
    int_tuple,
    make_window,
    output_padding_for,
)

__all__ = [
    "DEFAULT_RANK",
    "check_columns",
    "check_grad_output",
    "check_transposed_grad_output",
    "check_transposed_weight_rank",
    "check_weight_rank",
    "fold_window",
    "spatial_rank",
    "transpose_geometry",
    "unfold_window",
]

#: The spatial rank when no argument is a tuple: 2, as in ``torch.nn.functional.unfold``/``fold``.
DEFAULT_RANK = 2


def spatial_rank(*arguments: object) -> int:
    """The spatial rank of an unfold or fold: the length of the first tuple argument, else 2.

    One rule for :func:`unfold` (``kernel_size``) and :func:`fold` (``output_size``, then
    ``kernel_size``), so that ``fold`` with the same arguments is the adjoint of ``unfold``; and
    PyTorch's: int arguments mean two spatial dims.
    """
    for value in arguments:
        if isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray):
            return len(value)
    return DEFAULT_RANK


def check_weight_rank(weight_shape: tuple[int, ...], ndim: int | None, func: str) -> None:
    """``ValueError`` unless the weight of ``conv{ndim}d`` has ``ndim`` spatial dims (None: any)."""
    if ndim is not None and len(weight_shape) != ndim + 2:
        raise ConvmmValueError(
            f"{func}: weight must have {ndim + 2} dims (out_channels, in_channels/groups, "
            f"then {ndim} kernel dim{'s' if ndim > 1 else ''}); got shape {weight_shape}"
        )


def check_grad_output(shape: tuple[int, ...], expected: tuple[int, ...], func: str) -> None:
    """``ValueError`` unless ``grad_output`` has the convolution's output shape."""
    if shape != expected:
        raise ConvmmValueError(
            f"{func}: grad_output must have the shape of the convolution's output, {expected}; "
            f"got {shape}"
        )


def check_transposed_weight_rank(
    weight_shape: tuple[int, ...], ndim: int | None, func: str
) -> None:
    """``ValueError`` unless the weight of ``conv_transpose{ndim}d`` has ``ndim`` spatial dims."""
    if ndim is not None and len(weight_shape) != ndim + 2:
        raise ConvmmValueError(
            f"{func}: weight must have {ndim + 2} dims (in_channels, out_channels/groups, "
            f"then {ndim} kernel dim{'s' if ndim > 1 else ''}); got shape {weight_shape}"
        )


def check_transposed_grad_output(
    shape: tuple[int, ...], expected: tuple[int, ...], func: str
) -> None:
    """``ValueError`` unless ``grad_output`` has the transposed convolution's output shape."""
    if shape != expected:
        raise ConvmmValueError(
            f"{func}: grad_output must have the shape of the transposed convolution's output, "
            f"{expected}; got {shape}"
        )


def _spatial_output_size(output_size: object, geometry: ConvGeometry, func: str) -> object:
    """``output_size`` less its batch and channel entries when it is a whole shape (as PyTorch).

    The non-spatial entries must be those of the output: ``(N, C_out)`` (or ``(C_out,)``
    unbatched), where channels-last puts ``C_out`` last.
    """
    rank = geometry.window.ndim
    full = geometry.input_array_shape()
    if not isinstance(output_size, Sequence) or isinstance(output_size, str | bytes):
        return output_size
    layout = "N, " if geometry.batched else ""
    layout += "*spatial, C_out" if geometry.channels_last else "C_out, *spatial"
    if len(output_size) not in (rank, len(full)):
        raise ConvmmValueError(
            f"{func}: output_size must be {rank} spatial size(s) or the whole output shape "
            f"({layout}), {len(full)} values; got {len(output_size)} values "
            f"{tuple(output_size)!r}"
        )
    if len(output_size) == rank:
        return output_size
    start = len(full) - rank - (1 if geometry.channels_last else 0)
    spatial = range(start, start + rank)
    given = tuple(v for i, v in enumerate(output_size) if i not in spatial)
    expected = tuple(v for i, v in enumerate(full) if i not in spatial)
    if given != expected:
        what, verb = ("batch and channel sizes", "are") if geometry.batched else ("channel", "is")
        raise ConvmmValueError(
            f"{func}: output_size as a whole shape ({layout}) must have the output's {what} "
            f"{expected}; got {tuple(output_size)!r}, whose {what} {verb} {given}"
        )
    return tuple(output_size[start : start + rank])


def transpose_geometry(
    x: np.ndarray,
    w: np.ndarray,
    bias_shape: tuple[int, ...] | None,
    *,
    stride: object,
    padding: object,
    output_padding: object,
    output_size: object,
    dilation: object,
    groups: object,
    channels_last: object,
    func: str,
) -> ConvGeometry:
    if output_size is not None:
        rank = w.ndim - 2
        if rank >= 1:
            given = int_tuple(output_padding, rank, func=func, name="output_padding", minimum=0)
            if any(given):
                raise ConvmmValueError(
                    f"{func}: give output_size or output_padding, not both; got output_padding="
                    f"{output_padding!r} and output_size={output_size!r}"
                )
        # The geometry at the largest output_padding allowed, for the sizes that output_size
        # is checked against (at output_padding 0 the output may be empty yet reachable).
        strides = int_tuple(stride, max(rank, 0), func=func, name="stride", minimum=1)
        dilations = int_tuple(dilation, max(rank, 0), func=func, name="dilation", minimum=1)
        widest = tuple(max(s, d) - 1 for s, d in zip(strides, dilations, strict=True))
        first = conv_transpose_geometry(
            x.shape,
            w.shape,
            bias_shape,
            stride=stride,
            padding=padding,
            output_padding=widest,
            dilation=dilation,
            groups=groups,
            channels_last=channels_last,
            func=func,
            allow_empty=True,
        )
        window = first.window
        output_padding = output_padding_for(
            window.output_shape,
            _spatial_output_size(output_size, first, func),
            window.kernel_size,
            stride=window.stride,
            padding=window.padding,
            dilation=window.dilation,
            func=func,
        )
    return conv_transpose_geometry(
        x.shape,
        w.shape,
        bias_shape,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        groups=groups,
        channels_last=channels_last,
        func=func,
    )


def unfold_window(
    input_shape: tuple[int, ...],
    kernel_size: object,
    *,
    stride: object,
    padding: object,
    dilation: object,
    padding_mode: object,
    func: str,
) -> tuple[bool, Window]:
    """Whether an unfold's input is batched, and its window: :func:`unfold`'s checks.

    Shared by the NumPy and the portable unfold, so that both refuse the same arguments with
    the same words.
    """
    ndim = spatial_rank(kernel_size)
    if ndim < 1:
        raise ConvmmValueError(
            f"{func}: kernel_size must have at least one spatial dim; got "
            f"kernel_size={kernel_size!r} for input shape {input_shape}"
        )
    if len(input_shape) not in (ndim + 1, ndim + 2):
        hint = ""
        if not isinstance(kernel_size, Sequence):
            hint = (
                "; int arguments mean 2 spatial dims, as in PyTorch: for other ranks give "
                "kernel_size as a tuple, one int per spatial dim"
            )
        dims = "1 spatial dim" if ndim == 1 else f"{ndim} spatial dims"
        raise ConvmmValueError(
            f"{func}: input must have shape (N, C, *spatial) or (C, *spatial) with "
            f"{dims} for kernel_size={kernel_size!r}; got input shape {input_shape}{hint}"
        )
    window = make_window(
        input_shape[len(input_shape) - ndim :],
        kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        padding_mode=padding_mode,
        func=func,
    )
    return len(input_shape) == ndim + 2, window


def fold_window(
    columns_shape: tuple[int, ...],
    output_size: object,
    kernel_size: object,
    *,
    stride: object,
    padding: object,
    dilation: object,
    padding_mode: object,
    func: str,
) -> tuple[bool, Window]:
    """Whether a fold's columns are batched, and its window: :func:`fold`'s checks.

    Shared by the NumPy and the portable fold, so that both refuse the same arguments with the
    same words.
    """
    ndim = spatial_rank(output_size, kernel_size)
    if ndim < 1:
        raise ConvmmValueError(
            f"{func}: output_size and kernel_size need at least one spatial dim; got "
            f"output_size={output_size!r} and kernel_size={kernel_size!r}"
        )
    size = int_tuple(output_size, ndim, func=func, name="output_size", minimum=1)
    window = make_window(
        size,
        kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        padding_mode=padding_mode,
        func=func,
    )
    if len(columns_shape) not in (2, 3):
        raise ConvmmValueError(
            f"{func}: columns must have shape (N, C * prod(kernel_size), L) or "
            f"(C * prod(kernel_size), L); got shape {columns_shape}"
        )
    batched = len(columns_shape) == 3
    check_columns(columns_shape if batched else (1, *columns_shape), window, func)
    return batched, window


def check_columns(shape: tuple[int, ...], window: Window, func: str) -> None:
    rows, positions = shape[1], shape[2]
    if rows % window.kernel_numel:
        raise ConvmmValueError(
            f"{func}: columns must have C * prod(kernel_size) rows, a multiple of "
            f"{window.kernel_numel} for kernel_size {window.kernel_size}; got {rows} rows "
            f"(shape {shape})"
        )
    if positions != window.num_positions:
        raise ConvmmValueError(
            f"{func}: columns must have one column per window position, "
            f"{window.num_positions} = {' x '.join(map(str, window.output_shape))} for "
            f"output_size {window.input_shape}; got {positions} columns (shape {shape})"
        )
