"""``convmm explain``'s walkthrough from its arguments: the arrays, the options, the explanation.

The values of the options are read here (sizes like ``3,4,4``, per-dim integers, paddings,
``--bias`` numbers), the input and weight generated (``--values``) or loaded from ``.npy``
files, sizes too large to explain refused (:data:`MAX_ELEMENTS`, :data:`MAX_PATCH_ENTRIES`),
``--output-size`` turned into an ``output_padding``; then :func:`walkthrough` calls
``convmm.explain``, ``explain_transpose`` or ``explain_backward``.  The options are checked
against each other (and given their defaults) before, by ``convmm._cli_explain``.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from ._cli_errors import UsageError
from ._errors import ConvmmError
from ._explain import Explanation, explain, explain_backward, explain_transpose
from ._geometry import conv_geometry, conv_transpose_geometry
from ._shapes import conv_transpose_output_padding
from .examples import SEED_EXAMPLES, Example

__all__ = ["MAX_ELEMENTS", "MAX_PATCH_ENTRIES", "walkthrough"]

#: The most elements a generated input or weight may have: an explanation shows its numbers.
MAX_ELEMENTS = 10_000_000
#: The most entries P (or Kᵀ·X) may have: the explanation holds it whole, in float64.
MAX_PATCH_ENTRIES = 20_000_000


# ---- the values of the options ---------------------------------------------------------------

_INT = re.compile(r"\s*[+-]?\d+\s*")


def _int(text: str) -> int:
    """One integer (digits, optionally signed); ValueError for anything else."""
    if not _INT.fullmatch(text):
        raise ValueError(text)
    return int(text)


def _ints(text: str, name: str) -> tuple[int, ...]:
    """Integers separated by ``,`` or ``x`` (3,4,4 or 3x4x4); no empty parts."""
    try:
        return tuple(_int(part) for part in re.split(r"[,x]", text))
    except ValueError:
        raise UsageError(
            f"{name} must be comma-separated integers like 3 or 2,3 (or 2x3); got {text!r}"
        ) from None


def _sizes(text: str, name: str) -> tuple[int, ...]:
    """:func:`_ints` that are all positive: sizes of arrays."""
    values = _ints(text, name)
    if min(values) < 1:
        raise UsageError(f"{name} sizes must be positive integers; got {text!r}")
    return values


def _per_dim(text: str | None, name: str) -> int | tuple[int, ...] | None:
    if text is None:
        return None
    values = _ints(text, name)
    return values[0] if len(values) == 1 else values


def _padding(text: str | None) -> Any:
    if text is None:
        return None
    if text in ("same", "valid", "same_lower"):
        return text
    if ":" in text:
        pairs = []
        for part in text.split(","):
            before, _, after = part.partition(":")
            try:
                pairs.append((_int(before), _int(after)))
            except ValueError:
                raise UsageError(
                    f"--padding per-side pairs look like 1:2,0:1 (before:after per dim); "
                    f"got {text!r}"
                ) from None
        return tuple(pairs)
    return _per_dim(text, "--padding")


# ---- the arrays ------------------------------------------------------------------------------

#: What a .npy file holds, by numpy dtype kind, for the kinds an explanation cannot take.
_KINDS = {
    "c": "complex numbers",
    "O": "Python objects",
    "U": "text",
    "S": "bytes",
    "V": "records",
    "M": "dates",
    "m": "time spans",
}


def _load(path: str, name: str) -> np.ndarray:
    """A .npy array as real floats: integers and bools become (exact) float64."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        if "allow_pickle" in str(error):  # numpy's refusal to unpickle an object array
            raise UsageError(_unreal(name, path, "O")) from None
        raise UsageError(f"{name}: cannot read {path!r} as a .npy file ({error})") from None
    if not isinstance(loaded, np.ndarray):
        raise UsageError(f"{name}: {path!r} holds several arrays; give one .npy array")
    array: np.ndarray = loaded
    if array.dtype.kind not in "iubf":
        raise UsageError(_unreal(name, path, array.dtype.kind))
    if array.dtype not in (np.float16, np.float32, np.float64):
        array = array.astype(np.float64)
    return array


def _unreal(name: str, path: str, kind: str) -> str:
    what = _KINDS.get(kind, "values that are not numbers")
    return f"{name}: {path!r} holds {what}; give a .npy file of real numbers (float, int or bool)"


def _refuse_huge(shape: tuple[int, ...], name: str, what: str) -> None:
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise UsageError(
            f"{name}: {what} of shape {shape} would have {count:,} elements; "
            f"an explanation takes at most {MAX_ELEMENTS:,}"
        )


_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


def _bias(text: str) -> np.ndarray:
    """``--bias``: numbers (``0.5``, ``1,-2``: one per filter) or the path of a .npy file."""
    parts = text.split(",")
    if all(_NUMBER.fullmatch(part) for part in parts):
        values = np.array([float(part) for part in parts])
        if not np.isfinite(values).all():
            raise UsageError(f"--bias values must be finite numbers; got {text!r}")
        return values
    if Path(text).is_file():
        return _load(text, "--bias")
    raise UsageError(
        "--bias must be numbers like 0.5 or 1,-2 (one per filter) or an existing .npy file; "
        f"got {text!r}, which is neither"
    )


def _values(shape: tuple[int, ...], how: str, rng: np.random.Generator) -> np.ndarray:
    if how == "arange":
        return np.arange(1.0, math.prod(shape) + 1.0).reshape(shape)
    return rng.integers(-4, 5, size=shape).astype(np.float64)


def _chosen_example(args: argparse.Namespace) -> Example | None:
    return next((e for e in SEED_EXAMPLES if e.name == args.example), None)


def _input(args: argparse.Namespace, rng: np.random.Generator) -> np.ndarray:
    if args.input:
        x = _load(args.input, "--input")
        if x.ndim < 2:
            raise UsageError(
                "--input must have at least 2 dims: channels then spatial sizes (spatial sizes "
                f"then channels with --channels-last); got shape {x.shape}"
            )
        return x
    if args.input_shape is None:
        raise UsageError(
            "give --input-shape (e.g. 3,4,4 for 3 channels of 4x4), --input or --example"
        )
    shape = _sizes(args.input_shape, "--input-shape")
    if len(shape) < 2:
        raise UsageError(
            f"--input-shape is channels then spatial sizes, e.g. 3,4,4; got {args.input_shape!r}"
        )
    _refuse_huge(shape, "--input-shape", "an input")
    return _values(shape, args.values, rng)


def _weight(args: argparse.Namespace, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if args.weight:
        return _load(args.weight, "--weight")
    ndim = x.ndim - 1
    kernel = _sizes(args.kernel, "--kernel") if args.kernel else (2,)
    if len(kernel) == 1:
        kernel = kernel * ndim
    if len(kernel) != ndim:
        raise UsageError(
            f"--kernel needs 1 or {ndim} sizes for a {ndim}-D input; got {args.kernel!r}"
        )
    groups = args.groups or 1
    channels = x.shape[-1] if args.channels_last else x.shape[0]
    if channels % groups or args.filters % groups:
        raise UsageError(
            f"--groups must divide the input channels ({channels}) and --filters "
            f"({args.filters}); got {groups}"
        )
    if args.transpose:
        shape = (channels, args.filters // groups, *kernel)
    else:
        shape = (args.filters, channels // groups, *kernel)
    _refuse_huge(shape, "--filters/--kernel", "a weight")
    return _values(shape, args.values, rng)


def _explain_arrays(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    example = _chosen_example(args)
    if example is not None:
        return example.input[0], example.weight, None
    rng = np.random.default_rng(args.seed)
    x = _input(args, rng)
    w = _weight(args, x, rng)
    b = _bias(args.bias) if args.bias else None
    return x, w, b


def _options(args: argparse.Namespace) -> dict[str, Any]:
    example = _chosen_example(args)
    if example is not None:
        return dict(example.options)
    options: dict[str, Any] = {}
    for name in ("stride", "dilation"):
        value = _per_dim(getattr(args, name), f"--{name}")
        if value is not None:
            options[name] = value
    padding = _padding(args.padding)
    if padding is not None:
        options["padding"] = padding
    if args.groups is not None:
        options["groups"] = args.groups
    if args.channels_last:
        options["channels_last"] = True
    if args.transpose:
        extra = _per_dim(args.output_padding, "--output-padding")
        if extra is not None:
            options["output_padding"] = extra
    else:
        options["padding_mode"] = args.padding_mode
    return options


# ---- the walkthrough --------------------------------------------------------------------------

#: The defaults of the library's convolution options, for a geometry built from ``_options``.
_LIBRARY_DEFAULTS: dict[str, Any] = {
    "stride": 1,
    "padding": 0,
    "dilation": 1,
    "groups": 1,
    "channels_last": False,
}


def _refuse_huge_steps(
    x: np.ndarray, w: np.ndarray, options: dict[str, Any], transpose: bool
) -> None:
    """Refuse a walkthrough whose arrays would be too large to hold whole.

    An explanation holds P (for a transposed convolution Kᵀ·X), with
    ``weight.shape[1] * groups * prod(kernel)`` rows and a column per output position (per input
    position), and the padded input (the output before its padding is cropped).  ``x`` is one
    sample, ``(C, *spatial)`` or ``(*spatial, C)``.  Arguments the library refuses are left to
    the explanation to report, in its own name.
    """
    settings = {**_LIBRARY_DEFAULTS, **options}
    try:
        if transpose:
            settings.setdefault("output_padding", 0)
            geometry = conv_transpose_geometry(x.shape, w.shape, None, func="explain", **settings)
        else:
            settings.setdefault("padding_mode", "zeros")
            geometry = conv_geometry(x.shape, w.shape, None, func="explain", **settings)
    except ConvmmError:
        return
    window = geometry.window  # in the terms of a convolution (for a transpose: the one it is)
    positions = window.num_positions
    entries = geometry.in_channels * window.kernel_numel * positions
    if entries > MAX_PATCH_ENTRIES:
        name = "Kᵀ·X" if transpose else "P"
        raise UsageError(
            f"{name} would have {entries:,} entries ({positions:,} positions); an explanation "
            f"holds at most {MAX_PATCH_ENTRIES:,}: choose smaller sizes"
        )
    frame = geometry.in_channels * math.prod(window.padded_shape)
    if frame > MAX_PATCH_ENTRIES:
        name = "the output before cropping" if transpose else "the padded input"
        raise UsageError(
            f"{name} would have {frame:,} entries ({' x '.join(map(str, window.padded_shape))} "
            f"per channel); an explanation holds at most {MAX_PATCH_ENTRIES:,}: choose smaller "
            "sizes"
        )


def _output_padding(
    text: str, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, options: dict[str, Any]
) -> tuple[int, ...]:
    """The ``output_padding`` with which the transposed convolution reaches ``--output-size``.

    ``x`` is one sample.  An error that is not about the output size (a bad stride, padding,
    weight, ...) is left to :func:`convmm.explain_transpose` to report in its own name.
    """
    sizes = _sizes(text, "--output-size")
    spatial = x.shape[:-1] if options.get("channels_last") else x.shape[1:]
    if len(sizes) == 1:
        sizes = sizes * len(spatial)
    if len(sizes) != len(spatial):
        raise UsageError(
            f"--output-size needs 1 or {len(spatial)} sizes for a {len(spatial)}-D input "
            f"(the output's spatial sizes); got {text!r}"
        )
    try:
        return conv_transpose_output_padding(
            spatial,
            sizes,
            w.shape[2:],
            stride=options.get("stride", 1),
            padding=options.get("padding", 0),
            dilation=options.get("dilation", 1),
        )
    except ConvmmError as error:
        if "output_size" not in str(error):
            explain_transpose(x, w, b, **options)  # raises the error in explain's name
            raise
        reason = str(error).partition(": ")[2]
        raise UsageError(f"--output-size: {reason}") from None


def walkthrough(args: argparse.Namespace) -> Explanation:
    """The explanation ``explain``'s checked arguments ask for (with their defaults applied)."""
    x, w, b = _explain_arrays(args)
    options = _options(args)
    if args.transpose and args.output_size is not None:
        options["output_padding"] = _output_padding(args.output_size, x, w, b, options)
    _refuse_huge_steps(x, w, options, args.transpose)
    if args.transpose:
        return explain_transpose(x, w, b, **options)
    if args.backward:
        return explain_backward(None, x, w, **options)  # dY = 1, 2, 3, ...: exact integers
    return explain(x, w, b, **options)
