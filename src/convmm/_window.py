"""The sliding window: where a call's spatial arguments become numbers.

This module owns the frozen :class:`Window` (and the :class:`OutputSizeTerms` of its
output-size formula), the padding modes and strings, and the parsing that builds a window:
``kernel_size``, ``stride``, ``dilation`` and ``padding`` as ints or per-dim tuples (see
:func:`int_tuple`), the resolution of ``'valid'``, ``'same'`` and ``'same_lower'``, the limits
of the ``reflect`` and ``circular`` modes, and the output length of one dim.  It handles
integers and tuples only, never arrays.

All code is N-D: a spatial rank is the length of a tuple, never a branch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ._errors import ConvmmTypeError, ConvmmValueError

__all__ = [
    "PADDING_MODES",
    "PADDING_STRINGS",
    "OutputSizeTerms",
    "SamePaddingTerms",
    "Window",
    "int_tuple",
    "make_window",
    "output_length",
    "same_padding_terms",
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


class SamePaddingTerms(NamedTuple):
    """The numbers of one spatial dim's ``'same'`` (or ``'same_lower'``) padding.

    ``output = ceil(input / stride)``; ``total = max((output - 1)*stride + dilation*(kernel - 1)
    + 1 - input, 0)``, split into ``before`` and ``after`` (the odd cell after for ``'same'``,
    before for ``'same_lower'``).
    """

    input: int
    stride: int
    dilation: int
    kernel: int
    output: int
    total: int
    before: int
    after: int


def same_padding_terms(
    n: int, kernel: int, stride: int, dilation: int, lower: bool
) -> SamePaddingTerms:
    """The padding ``'same'`` (``lower=False``) or ``'same_lower'`` gives one dim, with its terms.

    >>> same_padding_terms(5, 4, 1, 1, lower=False)
    SamePaddingTerms(input=5, stride=1, dilation=1, kernel=4, output=5, total=3, before=1, after=2)
    """
    out = -(-n // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - n, 0)
    small, large = total // 2, total - total // 2
    before, after = (large, small) if lower else (small, large)
    return SamePaddingTerms(n, stride, dilation, kernel, out, total, before, after)


def _same_padding(
    input_shape: tuple[int, ...],
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    lower: bool,
) -> tuple[tuple[int, int], ...]:
    return tuple(
        (t.before, t.after)
        for t in (
            same_padding_terms(n, k, s, d, lower)
            for n, k, s, d in zip(input_shape, kernel_size, stride, dilation, strict=True)
        )
    )


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
