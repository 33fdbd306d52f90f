"""The one place where convolution arguments become numbers.

Every public function normalises its arguments once, at its boundary, into the frozen
dataclasses below; the kernels, ``explain`` and the CLI consume them and never look at the raw
arguments again.  This module handles integers and tuples only, never arrays.

All code is N-D: a spatial rank is the length of a tuple, never a branch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._errors import ConvmmTypeError, ConvmmValueError

__all__ = [
    "PADDING_MODES",
    "PADDING_STRINGS",
    "ConvGeometry",
    "OutputSizeTerms",
    "Window",
    "conv_geometry",
    "conv_transpose_geometry",
    "make_window",
]

#: The padding modes, with PyTorch's meaning (``zeros`` pads with 0; ``reflect`` mirrors without
#: repeating the edge; ``replicate`` repeats the edge; ``circular`` wraps around).
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

#: The padding strings: ``valid`` (no padding), ``same`` (output = ceil(input / stride), the odd
#: pixel at the end: TensorFlow's SAME, ONNX's SAME_UPPER, PyTorch's "same" at stride 1), and
#: ``same_lower`` (the odd pixel at the start: ONNX's SAME_LOWER).
PADDING_STRINGS = ("valid", "same", "same_lower")


class OutputSizeTerms(NamedTuple):
    """The numbers in one spatial dim's output-size formula.

    ``output = floor((input + pad_before + pad_after - dilation * (kernel - 1) - 1) / stride) + 1``
    """

    input: int
    pad_before: int
    pad_after: int
    dilation: int
    kernel: int
    stride: int
    output: int


@dataclass(frozen=True)
class Window:
    """A sliding window over the spatial dims of one input.

    Attributes
    ----------
    input_shape : tuple of int
        Spatial sizes of the (unpadded) input.
    kernel_size, stride, dilation : tuple of int
        One entry per spatial dim.
    padding : tuple of (int, int)
        ``(before, after)`` per spatial dim, already resolved from any padding string.
    padding_mode : str
        One of :data:`PADDING_MODES`.
    output_shape : tuple of int
        Spatial sizes of the output: the number of window positions per dim.
    """

    input_shape: tuple[int, ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    padding_mode: str
    output_shape: tuple[int, ...]

    @property
    def ndim(self) -> int:
        """Number of spatial dims."""
        return len(self.kernel_size)

    @property
    def padded_shape(self) -> tuple[int, ...]:
        """Spatial sizes after padding."""
        return tuple(n + b + a for n, (b, a) in zip(self.input_shape, self.padding, strict=True))

    @property
    def kernel_numel(self) -> int:
        """Number of kernel offsets (the product of ``kernel_size``)."""
        return math.prod(self.kernel_size)

    @property
    def num_positions(self) -> int:
        """Number of window positions, L (the product of ``output_shape``)."""
        return math.prod(self.output_shape)

    @property
    def is_padded(self) -> bool:
        """Whether any side of any dim is padded."""
        return any(b or a for b, a in self.padding)

    def output_size_terms(self, dim: int) -> OutputSizeTerms:
        """The numbers of the output-size formula for spatial dim ``dim``."""
        before, after = self.padding[dim]
        return OutputSizeTerms(
            self.input_shape[dim],
            before,
            after,
            self.dilation[dim],
            self.kernel_size[dim],
            self.stride[dim],
            self.output_shape[dim],
        )


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


# --------------------------------------------------------------------------------------------
# normalisation


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_sequence(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def _describe(value: object) -> str:
    return (
        f"{value!r} ({type(value).__name__})" if not isinstance(value, int | tuple) else repr(value)
    )


def int_tuple(value: object, ndim: int, *, func: str, name: str, minimum: int) -> tuple[int, ...]:
    """An int, or a sequence of ``ndim`` ints, each at least ``minimum``, as a tuple."""
    what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    expected = f"{what} or a sequence of {ndim} such ints (one per spatial dim)"
    if _is_int(value):
        items: tuple[object, ...] = (value,) * ndim
    elif _is_sequence(value):
        items = tuple(value)  # type: ignore[arg-type]
        if len(items) != ndim:
            raise ConvmmValueError(
                f"{func}: {name} must be {expected}; got {_count(len(items), 'value')} "
                f"{value!r} for {_count(ndim, 'spatial dim')}"
            )
    else:
        raise ConvmmTypeError(f"{func}: {name} must be {expected}; got {_describe(value)}")
    for item in items:
        if not _is_int(item):
            raise ConvmmTypeError(f"{func}: {name} must be {expected}; got {_describe(value)}")
        if int(item) < minimum:  # type: ignore[call-overload]
            raise ConvmmValueError(f"{func}: {name} must be {expected}; got {value!r}")
    return tuple(int(item) for item in items)  # type: ignore[call-overload]


def _padding_pairs(
    padding: object, ndim: int, *, func: str, name: str = "padding", strings: bool = True
) -> tuple[tuple[int, int], ...]:
    strings_text = "'valid', 'same', 'same_lower', " if strings else ""
    expected = (
        f"{strings_text}an int >= 0, or a sequence of {ndim} entries (one per spatial dim), "
        "each an int >= 0 or a (before, after) pair of ints >= 0"
    )
    if _is_int(padding):
        entries: tuple[object, ...] = (padding,) * ndim
    elif _is_sequence(padding):
        entries = tuple(padding)  # type: ignore[arg-type]
        if len(entries) != ndim:
            raise ConvmmValueError(
                f"{func}: {name} must be {expected}; got "
                f"{_count(len(entries), 'entry', 'entries')} {padding!r} for "
                f"{_count(ndim, 'spatial dim')}"
            )
    else:
        raise ConvmmTypeError(f"{func}: {name} must be {expected}; got {_describe(padding)}")
    pairs = []
    for dim, entry in enumerate(entries):
        if _is_int(entry):
            pair: tuple[object, ...] = (entry, entry)
        elif _is_sequence(entry):
            pair = tuple(entry)  # type: ignore[arg-type]
            if len(pair) != 2:
                raise ConvmmValueError(
                    f"{func}: {name} must be {expected}; got {padding!r}, whose entry for "
                    f"spatial dim {dim} has {_count(len(pair), 'value')} {entry!r}, not a "
                    f"(before, after) pair"
                )
        else:
            raise ConvmmTypeError(f"{func}: {name} must be {expected}; got {padding!r}")
        for side in pair:
            if not _is_int(side):
                raise ConvmmTypeError(f"{func}: {name} must be {expected}; got {padding!r}")
            if int(side) < 0:  # type: ignore[call-overload]
                raise ConvmmValueError(
                    f"{func}: {name} must be {expected}; got negative {padding!r}"
                )
        pairs.append((int(pair[0]), int(pair[1])))  # type: ignore[call-overload]
    return tuple(pairs)


def _same_padding(
    input_shape: tuple[int, ...],
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    lower: bool,
) -> tuple[tuple[int, int], ...]:
    pairs = []
    for n, k, s, d in zip(input_shape, kernel_size, stride, dilation, strict=True):
        out = -(-n // s)
        total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
        small, large = total // 2, total - total // 2
        pairs.append((large, small) if lower else (small, large))
    return tuple(pairs)


def output_length(n: int, before: int, after: int, kernel: int, stride: int, dilation: int) -> int:
    """Window positions along one dim: ``floor((n + b + a - d*(k-1) - 1) / s) + 1``."""
    return (n + before + after - dilation * (kernel - 1) - 1) // stride + 1


def make_window(
    input_shape: Sequence[int],
    kernel_size: object,
    *,
    stride: object = 1,
    padding: object = 0,
    dilation: object = 1,
    padding_mode: object = "zeros",
    func: str,
    ndim: int | None = None,
) -> Window:
    """Normalise and validate sliding-window arguments for a spatial input shape.

    ``ndim`` is the spatial rank; by default the length of ``input_shape``.  Errors name
    ``func``, the parameter, what was expected and what was given.
    """
    ndim = len(input_shape) if ndim is None else ndim
    input_shape = tuple(int(n) for n in input_shape)
    kernel = int_tuple(kernel_size, ndim, func=func, name="kernel_size", minimum=1)
    strides = int_tuple(stride, ndim, func=func, name="stride", minimum=1)
    dilations = int_tuple(dilation, ndim, func=func, name="dilation", minimum=1)
    if not isinstance(padding_mode, str):
        raise ConvmmTypeError(
            f"{func}: padding_mode must be one of {', '.join(map(repr, PADDING_MODES))}; "
            f"got {_describe(padding_mode)}"
        )
    if padding_mode not in PADDING_MODES:
        raise ConvmmValueError(
            f"{func}: padding_mode must be one of {', '.join(map(repr, PADDING_MODES))}; "
            f"got {padding_mode!r}"
        )
    for dim, n in enumerate(input_shape):
        if n < 1:
            raise ConvmmValueError(
                f"{func}: input spatial sizes must be >= 1; spatial dim {dim} has size {n} "
                f"(spatial shape {input_shape})"
            )
    if isinstance(padding, str):
        if padding not in PADDING_STRINGS:
            raise ConvmmValueError(
                f"{func}: padding must be one of {', '.join(map(repr, PADDING_STRINGS))}, "
                f"an int or per-dim values; got {padding!r}"
            )
        if padding == "valid":
            pads = ((0, 0),) * ndim
        else:
            pads = _same_padding(input_shape, kernel, strides, dilations, padding == "same_lower")
    else:
        pads = _padding_pairs(padding, ndim, func=func)
    _check_mode_limits(input_shape, pads, padding_mode, func)
    out = []
    for dim, (n, (before, after), k, s, d) in enumerate(
        zip(input_shape, pads, kernel, strides, dilations, strict=True)
    ):
        span = d * (k - 1) + 1
        if n + before + after < span:
            raise ConvmmValueError(
                f"{func}: the kernel spans {span} in spatial dim {dim} "
                f"(kernel_size {k}, dilation {d}), more than the padded input's "
                f"{n + before + after} (input {n} + padding {before} + {after})"
            )
        out.append(output_length(n, before, after, k, s, d))
    return Window(input_shape, kernel, strides, pads, dilations, padding_mode, tuple(out))


def _check_mode_limits(
    input_shape: tuple[int, ...], pads: tuple[tuple[int, int], ...], mode: str, func: str
) -> None:
    for dim, (n, pair) in enumerate(zip(input_shape, pads, strict=True)):
        if mode == "reflect" and max(pair) >= n:
            raise ConvmmValueError(
                f"{func}: padding_mode 'reflect' needs padding smaller than the input size; "
                f"spatial dim {dim} has size {n} and padding {pair}"
            )
        if mode == "circular" and max(pair) > n:
            raise ConvmmValueError(
                f"{func}: padding_mode 'circular' needs padding at most the input size "
                f"(it wraps around once); spatial dim {dim} has size {n} and padding {pair}"
            )


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
        :func:`conv_transpose_geometry`): its ``output_shape`` is the transposed input's size
        and its ``input_shape`` the transposed output's.
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
