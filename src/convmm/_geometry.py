"""The one place where convolution arguments become numbers.

Every public function normalises its arguments once, at its boundary, into frozen dataclasses;
the kernels, ``explain`` and the CLI consume them and never look at the raw arguments again.
This module owns :class:`ConvGeometry` (everything about one call but the arrays' numbers) and
the two functions that build it, :func:`conv_geometry` (cached) and
:func:`conv_transpose_geometry`, with their shared checks of the input, weight, bias and
groups.  The sliding window and its argument parsing live in :mod:`convmm._window`, the
transposed convolution's output-size arithmetic in :mod:`convmm._transposed`; both are
re-exported here, so the rest of the package imports its geometry from this one module.  It
handles integers and tuples only, never arrays.

All code is N-D: a spatial rank is the length of a tuple, never a branch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._errors import ConvmmTypeError, ConvmmValueError
from ._transposed import (
    TransposedOutputSizeTerms,
    output_padding_for,
    transposed_output_length,
    transposed_output_size_terms,
)
from ._window import (
    PADDING_MODES,
    PADDING_STRINGS,
    OutputSizeTerms,
    SamePaddingTerms,
    Window,
    _describe,
    _is_int,
    _padding_pairs,
    int_tuple,
    make_window,
    output_length,
    same_padding_terms,
)

__all__ = [
    "PADDING_MODES",
    "PADDING_STRINGS",
    "ConvGeometry",
    "OutputSizeTerms",
    "SamePaddingTerms",
    "TransposedOutputSizeTerms",
    "Window",
    "conv_geometry",
    "conv_transpose_geometry",
    "int_tuple",
    "make_window",
    "output_length",
    "output_padding_for",
    "same_padding_derivation",
    "same_padding_terms",
    "transposed_output_length",
    "transposed_output_size_terms",
]


@dataclass(frozen=True)
class ConvGeometry:
    """Everything about one convolution call except the numbers in the arrays.

    Attributes
    ----------
    window : Window
        The spatial sliding window.
    batch : int
        Batch size N (1 for an unbatched call).
    in_channels, out_channels, groups : int
        Channel counts; each group sees ``in_channels // groups`` inputs and makes
        ``out_channels // groups`` outputs.
    batched : bool
        False when the caller passed one unbatched sample.
    channels_last : bool
        Whether the caller's arrays put channels after the spatial dims.
    """

    window: Window
    batch: int
    in_channels: int
    out_channels: int
    groups: int
    batched: bool
    channels_last: bool

    @property
    def in_channels_per_group(self) -> int:
        return self.in_channels // self.groups

    @property
    def out_channels_per_group(self) -> int:
        return self.out_channels // self.groups

    @property
    def patch_size(self) -> int:
        """Rows of P per group: ``in_channels_per_group * prod(kernel_size)``."""
        return self.in_channels_per_group * self.window.kernel_numel

    def output_array_shape(self) -> tuple[int, ...]:
        """Shape of the convolution's output array in the caller's layout."""
        return self._array_shape(self.window.output_shape, self.out_channels)

    def input_array_shape(self) -> tuple[int, ...]:
        """Shape of the convolution's input array in the caller's layout."""
        return self._array_shape(self.window.input_shape, self.in_channels)

    def _array_shape(self, spatial: tuple[int, ...], channels: int) -> tuple[int, ...]:
        if self.channels_last:
            shape = (self.batch, *spatial, channels)
        else:
            shape = (self.batch, channels, *spatial)
        return shape if self.batched else shape[1:]


def _groups(groups: object, func: str) -> int:
    if not _is_int(groups):
        raise ConvmmTypeError(f"{func}: groups must be a positive int; got {_describe(groups)}")
    count: int = int(groups)  # type: ignore[call-overload]
    if count < 1:
        raise ConvmmValueError(f"{func}: groups must be a positive int; got {count}")
    return count


def _split_input(
    input_shape: tuple[int, ...], weight_shape: tuple[int, ...], channels_last: object, func: str
) -> tuple[bool, int, int, tuple[int, ...]]:
    """(batched, batch size, channels, spatial shape) of an input for this weight's rank."""
    if not isinstance(channels_last, bool | np.bool_):
        raise ConvmmTypeError(f"{func}: channels_last must be True or False; got {channels_last!r}")
    ndim = len(weight_shape) - 2
    layout = "(N, *spatial, C_in)" if channels_last else "(N, C_in, *spatial)"
    if len(input_shape) not in (ndim + 1, ndim + 2):
        raise ConvmmValueError(
            f"{func}: input must have shape {layout} or the same without N, i.e. {ndim + 2} or "
            f"{ndim + 1} dims for a weight with {ndim} spatial dim{'s' if ndim != 1 else ''} "
            f"(weight shape {weight_shape}); got input shape {input_shape}"
        )
    batched = len(input_shape) == ndim + 2
    full = input_shape if batched else (1, *input_shape)
    if channels_last:
        return batched, full[0], full[-1], tuple(full[1:-1])
    return batched, full[0], full[1], tuple(full[2:])


def _key(value: object) -> object:
    """A hashable key that tells apart what ``==`` does not (``True`` from ``1``, ``1.0``)."""
    if isinstance(value, tuple | list):
        return (type(value), tuple(_key(v) for v in value))
    return (type(value), value)


#: Geometries already built, by their exact arguments: a layer called again is not parsed anew.
#: Only successful normalisations are kept (a bad argument is refused every time).
_GEOMETRIES: dict[object, ConvGeometry] = {}
_GEOMETRIES_KEPT = 1024


def conv_geometry(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    bias_shape: tuple[int, ...] | None,
    *,
    stride: object,
    padding: object,
    dilation: object,
    groups: object,
    padding_mode: object,
    channels_last: object,
    func: str,
) -> ConvGeometry:
    """Validate the shapes and options of a convolution and build its geometry (cached).

    ``weight_shape`` is PyTorch's ``(out_channels, in_channels / groups, *kernel_size)``; the
    spatial rank is ``len(weight_shape) - 2``.
    """
    arguments = (
        input_shape,
        weight_shape,
        bias_shape,
        stride,
        padding,
        dilation,
        groups,
        padding_mode,
        channels_last,
        func,
    )
    key: object = _key(arguments)
    try:
        hit = _GEOMETRIES.get(key)
    except TypeError:  # an unhashable argument (an array): parse it every time
        key, hit = None, None
    if hit is not None:
        return hit
    geometry = _conv_geometry(
        input_shape,
        weight_shape,
        bias_shape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        channels_last=channels_last,
        func=func,
    )
    if key is not None:
        if len(_GEOMETRIES) >= _GEOMETRIES_KEPT:
            _GEOMETRIES.clear()
        _GEOMETRIES[key] = geometry
    return geometry


def _conv_geometry(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    bias_shape: tuple[int, ...] | None,
    *,
    stride: object,
    padding: object,
    dilation: object,
    groups: object,
    padding_mode: object,
    channels_last: object,
    func: str,
) -> ConvGeometry:
    """Validate the shapes and options of a convolution and build its geometry.

    ``weight_shape`` is PyTorch's ``(out_channels, in_channels / groups, *kernel_size)``; the
    spatial rank is ``len(weight_shape) - 2``.
    """
    _check_weight(weight_shape, "(out_channels, in_channels/groups, *kernel_size)", func)
    count = _groups(groups, func)
    batched, batch, in_channels, spatial = _split_input(
        input_shape, weight_shape, channels_last, func
    )
    ndim = len(weight_shape) - 2
    out_channels, in_per_group = weight_shape[0], weight_shape[1]
    kernel = weight_shape[2:]
    if out_channels % count:
        raise ConvmmValueError(
            f"{func}: groups must divide out_channels; got groups={count} and "
            f"out_channels={out_channels} (weight shape {weight_shape})"
        )
    if in_channels % count:
        raise ConvmmValueError(
            f"{func}: groups must divide the input's channels; got groups={count} and "
            f"{in_channels} input channels (input shape {input_shape})"
        )
    if in_channels != in_per_group * count:
        axis = "last" if channels_last else ("1" if batched else "0")
        raise ConvmmValueError(
            f"{func}: input has {in_channels} channels (axis {axis} of shape {input_shape}) but "
            f"weight {weight_shape} with groups={count} expects {in_per_group} x {count} = "
            f"{in_per_group * count}"
        )
    if bias_shape is not None and bias_shape != (out_channels,):
        raise ConvmmValueError(
            f"{func}: bias must have shape ({out_channels},) (one value per output channel); "
            f"got shape {bias_shape}"
        )
    window = make_window(
        spatial,
        kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        padding_mode=padding_mode,
        func=func,
        ndim=ndim,
    )
    return ConvGeometry(
        window, batch, in_channels, out_channels, count, batched, bool(channels_last)
    )


def _check_weight(weight_shape: tuple[int, ...], layout: str, func: str) -> None:
    if len(weight_shape) < 3:
        raise ConvmmValueError(
            f"{func}: weight must have shape {layout} with at least one spatial dim; "
            f"got shape {weight_shape}"
        )
    if 0 in weight_shape:
        raise ConvmmValueError(
            f"{func}: weight must have no zero-sized dims; got shape {weight_shape}"
        )


def conv_transpose_geometry(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    bias_shape: tuple[int, ...] | None,
    *,
    stride: object,
    padding: object,
    output_padding: object,
    dilation: object,
    groups: object,
    channels_last: object,
    func: str,
    allow_empty: bool = False,
) -> ConvGeometry:
    """The geometry of a transposed convolution, in the terms of the convolution it transposes.

    ``weight_shape`` is PyTorch's ``(in_channels, out_channels / groups, *kernel_size)``.  The
    transposed convolution maps ``input`` (the convolution's output side) to its output (the
    convolution's input side), so in the returned geometry ``window.input_shape`` is the
    transposed output's spatial shape, ``window.output_shape`` the transposed input's,
    ``in_channels`` the transposed output channels and ``out_channels`` the transposed input
    channels.  ``allow_empty``: keep output sizes below 1 instead of refusing them (for
    ``output_size=``, which checks them itself).
    """
    _check_weight(weight_shape, "(in_channels, out_channels/groups, *kernel_size)", func)
    count = _groups(groups, func)
    batched, batch, channels, spatial = _split_input(input_shape, weight_shape, channels_last, func)
    ndim = len(weight_shape) - 2
    in_channels, out_per_group = weight_shape[0], weight_shape[1]
    if in_channels % count:
        raise ConvmmValueError(
            f"{func}: groups must divide in_channels (weight.shape[0]); got groups={count} and "
            f"in_channels={in_channels} (weight shape {weight_shape})"
        )
    if channels != in_channels:
        axis = "last" if channels_last else ("1" if batched else "0")
        raise ConvmmValueError(
            f"{func}: input has {channels} channels (axis {axis} of shape {input_shape}) but "
            f"weight {weight_shape} expects weight.shape[0] = {in_channels}"
        )
    out_channels = out_per_group * count
    if bias_shape is not None and bias_shape != (out_channels,):
        raise ConvmmValueError(
            f"{func}: bias must have shape ({out_channels},) (one value per output channel); "
            f"got shape {bias_shape}"
        )
    kernel = tuple(weight_shape[2:])
    strides = int_tuple(stride, ndim, func=func, name="stride", minimum=1)
    dilations = int_tuple(dilation, ndim, func=func, name="dilation", minimum=1)
    if isinstance(padding, str):
        raise ConvmmValueError(
            f"{func}: padding must be an int >= 0 or per-dim values (padding strings are for "
            f"conv; use output_size= to reach a given size); got {padding!r}"
        )
    pads = _padding_pairs(padding, ndim, func=func, strings=False)
    extra = int_tuple(output_padding, ndim, func=func, name="output_padding", minimum=0)
    for dim, n in enumerate(spatial):
        if n < 1:
            raise ConvmmValueError(
                f"{func}: input spatial sizes must be >= 1; spatial dim {dim} has size {n} "
                f"(spatial shape {tuple(spatial)})"
            )
    sizes = []
    for dim, (n, (before, after), k, s, d, op) in enumerate(
        zip(spatial, pads, kernel, strides, dilations, extra, strict=True)
    ):
        if op >= max(s, d):
            raise ConvmmValueError(
                f"{func}: output_padding must be smaller than stride or dilation; spatial dim "
                f"{dim} has output_padding {op}, stride {s}, dilation {d}"
            )
        size = transposed_output_length(n, before, after, k, s, d, op)
        if size < 1 and not allow_empty:
            raise ConvmmValueError(
                f"{func}: padding crops more than the output has in spatial dim {dim}: "
                f"({n} - 1)*{s} - {before} - {after} + {d}*({k} - 1) + {op} + 1 = {size}"
            )
        sizes.append(size)
    window = Window(tuple(sizes), kernel, strides, pads, dilations, "zeros", tuple(spatial))
    return ConvGeometry(
        window, batch, out_channels, in_channels, count, batched, bool(channels_last)
    )


def same_padding_derivation(
    geometry: ConvGeometry, padding: object
) -> tuple[SamePaddingTerms, ...] | None:
    """How ``padding='same'`` or ``'same_lower'`` gave this geometry its padding, per dim.

    None for any other ``padding`` (numbers, ``'valid'``).  The terms are those
    :func:`make_window` resolved the string with, so they always match ``window.padding``.

    >>> g = conv_geometry(
    ...     (1, 1, 5), (1, 1, 4), None, stride=1, padding="same", dilation=1, groups=1,
    ...     padding_mode="zeros", channels_last=False, func="doc",
    ... )
    >>> [(t.total, t.before, t.after) for t in same_padding_derivation(g, "same")]
    [(3, 1, 2)]
    >>> g.window.padding
    ((1, 2),)
    """
    if not isinstance(padding, str) or padding not in ("same", "same_lower"):
        return None
    window = geometry.window
    return tuple(
        same_padding_terms(n, k, s, d, lower=padding == "same_lower")
        for n, k, s, d in zip(
            window.input_shape, window.kernel_size, window.stride, window.dilation, strict=True
        )
    )
