"""The ``convmm`` command line: ``convmm demo`` and ``convmm explain``.

Parsing, messages, exit codes and the files ``explain`` saves (``--save``, ``--npz``,
``--json``) live here; the walkthroughs come from ``convmm.explain`` and its renderers.  Bad
arguments (a :class:`UsageError` here, a :class:`convmm.ConvmmError` from the library) print a
one-line error and exit with status 2; any other exception is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from . import __version__
from ._errors import ConvmmError
from ._explain import Explanation, explain, explain_backward, explain_transpose
from ._geometry import conv_geometry, conv_transpose_geometry
from ._shapes import conv_transpose_output_padding
from .examples import SEED_EXAMPLES, Example

__all__ = ["main"]

DEMO_PAGE = "convmm-demo.html"


class UsageError(Exception):
    """A bad command-line argument: reported in one line, exit status 2."""


#: The most elements a generated input or weight may have: an explanation shows its numbers.
MAX_ELEMENTS = 10_000_000
#: The most entries P (or Kᵀ·X) may have: the explanation holds it whole, in float64.
MAX_PATCH_ENTRIES = 20_000_000

#: The defaults of ``explain``'s options whose argparse default is None, so that we can tell
#: whether they were given; applied after the checks for options that do not go together.
_DEFAULTS: dict[str, Any] = {"filters": 1, "values": "arange", "seed": 0, "padding_mode": "zeros"}

_CONVOLUTION_OPTIONS = (
    "stride",
    "padding",
    "dilation",
    "groups",
    "padding_mode",
    "channels_last",
    "transpose",
    "output_padding",
    "output_size",
)

#: (options all given, options refused with them, why): see :func:`_refuse_conflicts`.
_CONFLICTS: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = (
    (("backward",), ("transpose",), "the backward walkthrough is of a plain convolution"),
    (("backward",), ("bias",), "the bias does not enter the gradients dK and dX"),
    (
        ("example",),
        ("input_shape", "input", "weight", "bias", "kernel", "filters", "values", "seed")
        + _CONVOLUTION_OPTIONS,
        "the examples are fixed",
    ),
    (("input",), ("input_shape",), "the input's shape is the .npy file's"),
    (("input", "weight"), ("values", "seed"), "every number comes from the .npy files"),
    (("weight",), ("kernel", "filters"), "the weight's shape is the .npy file's"),
    (("transpose",), ("padding_mode",), "a transposed convolution crops; it pads nothing"),
    (
        ("output_size",),
        ("output_padding",),
        "give the output size or the output padding, not both (one sets the other)",
    ),
)


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _given(args: argparse.Namespace, dest: str) -> bool:
    value = getattr(args, dest)
    return value is not None and value is not False


def _write(path: str, name: str, write: Callable[[str], object]) -> None:
    """``write(path)``, reporting a failure to write as a :class:`UsageError`."""
    try:
        write(path)
    except OSError as error:
        raise UsageError(f"{name}: cannot write {path!r}: {error.strerror or error}") from None


def _check_writable(path: str, name: str) -> None:
    """Refuse, before any work, a target that cannot be written (a directory, no folder, ...)."""
    target = Path(path)
    folder = target.parent
    reason = None
    if target.is_dir():
        reason = "it is a directory"
    elif not folder.exists():
        reason = f"no such directory {str(folder)!r}"
    elif not folder.is_dir():
        reason = f"{str(folder)!r} is not a directory"
    elif not os.access(target if target.exists() else folder, os.W_OK):
        reason = "permission denied"
    if reason is not None:
        raise UsageError(f"{name}: cannot write {path!r}: {reason}")


def _report(command: str, message: str) -> int:
    """Print the first line of ``message`` as the command's error; the exit status 2."""
    lines = message.strip().splitlines() or ["unknown error"]
    print(f"convmm {command}: error: {lines[0]}", file=sys.stderr)
    return 2


# ---- demo -----------------------------------------------------------------------------------


def _backward(x: np.ndarray, w: np.ndarray, options: dict[str, Any]) -> Explanation:
    """The backward view of ``conv(x, w, **options)``, with dY = 1, 2, 3, ... (exact integers)."""
    return explain_backward(None, x, w, **options)


def _demo(args: argparse.Namespace) -> int:
    if args.html:
        _check_writable(args.html, "--html")
    chosen = [e for e in SEED_EXAMPLES if args.example in (None, e.name)]
    explanations = []
    for example in chosen:
        print(f"== {example.name}: {example.title} ==")
        explanation = explain(example.input, example.weight, **example.options)
        print(explanation.to_text())
        print()
        explanations.append(explanation)
    for example in chosen:
        if example.name == "bigger":
            print(f"== {example.name}, backward ==")
            explanation = _backward(example.input, example.weight, example.options)
            print(explanation.to_text())
            print()
            explanations.append(explanation)
    ok = all(verdict is not False for e in explanations for verdict in e.checks.values())
    if args.html:
        from ._explain.page import render_pages

        titles = [f"{e.name}: {e.title}" for e in chosen]
        titles += [f"{e.name}: backward" for e in chosen if e.name == "bigger"]
        page = render_pages(explanations, titles, title="convmm demo: the article's examples")
        _write(args.html, "--html", lambda path: Path(path).write_text(page, encoding="utf-8"))
    print("All checks agree." if ok else "SOME CHECKS DISAGREE.")
    if args.html:
        print(f"The interactive page is {Path(args.html).resolve()}")
    else:
        one = f" --example {args.example}" if args.example else ""
        print(f"For the interactive page: convmm demo{one} --html {DEMO_PAGE}")
    return 0 if ok else 1


# ---- explain: checking the arguments ---------------------------------------------------------

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


def _refuse_conflicts(args: argparse.Namespace) -> None:
    """Refuse options that would be ignored with the others given (see ``_CONFLICTS``)."""
    for given, refused, why in _CONFLICTS:
        if not all(_given(args, dest) for dest in given):
            continue
        for dest in refused:
            if _given(args, dest):
                both = " and ".join(_flag(d) for d in given)
                raise UsageError(
                    f"{both} with {_flag(dest)}: {why}; drop {_flag(dest)} or {_flag(given[-1])}"
                )
    if args.seed is not None and args.values != "random":
        raise UsageError("--seed goes with --values random (arange has no randomness)")
    for dest in ("output_padding", "output_size"):
        if getattr(args, dest) is not None and not args.transpose:
            raise UsageError(f"{_flag(dest)} goes with --transpose")


def _check_numbers(args: argparse.Namespace) -> None:
    """The integer options: positive counts, a non-negative seed."""
    for dest in ("filters", "groups"):
        value = getattr(args, dest)
        if value is not None and value < 1:
            raise UsageError(f"{_flag(dest)} must be a positive integer; got {value}")
    if args.seed < 0:
        raise UsageError(f"--seed must be a non-negative integer; got {args.seed}")


#: explain's files to write, with the suffix each must have (None: any name).
_TARGETS = (("html", None), ("png", ".png"), ("svg", ".svg"), ("npz", ".npz"), ("json", None))


def _check_targets(args: argparse.Namespace) -> None:
    """The files to write: writable, and those whose writer goes by the suffix named by it."""
    for dest, suffix in _TARGETS:
        path = getattr(args, dest)
        if path is None:
            continue
        if suffix is not None and Path(path).suffix.lower() != suffix:
            raise UsageError(f"{_flag(dest)}: the file name must end in {suffix}; got {path!r}")
        _check_writable(path, _flag(dest))
    if args.save is not None:
        _check_folder(args.save, "--save")


def _check_folder(path: str, name: str) -> None:
    """Refuse, before any work, a folder that can neither be made nor written into."""
    folder = Path(path)
    reason = None
    if folder.exists() and not folder.is_dir():
        reason = "it exists and is not a directory"
    else:
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not existing.is_dir():
            reason = f"{str(existing)!r} is not a directory"
        elif not os.access(existing, os.W_OK | os.X_OK):
            reason = f"permission denied in {str(existing)!r}"
    if reason is not None:
        raise UsageError(f"{name}: cannot write into {path!r}: {reason}")


# ---- explain: the arrays ---------------------------------------------------------------------

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


# ---- explain --------------------------------------------------------------------------------


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


def _walkthrough(args: argparse.Namespace) -> Explanation:
    x, w, b = _explain_arrays(args)
    options = _options(args)
    if args.transpose and args.output_size is not None:
        options["output_padding"] = _output_padding(args.output_size, x, w, b, options)
    _refuse_huge_steps(x, w, options, args.transpose)
    if args.transpose:
        return explain_transpose(x, w, b, **options)
    if args.backward:
        return _backward(x, w, options)
    return explain(x, w, b, **options)


# ---- explain: the arrays as files -------------------------------------------------------------


def _saved_arrays(explanation: Explanation) -> dict[str, np.ndarray]:
    """The arrays of an explanation by file name (without ``.npy``), as ``--save`` writes them.

    Parameters
    ----------
    explanation : Explanation

    Returns
    -------
    dict of str to ndarray
        For a convolution (and its backward pass): ``input`` (X), ``padded_input``,
        ``patches`` (P, ``(groups, rows, positions)``), ``kernel`` (K, ``(groups, filters,
        rows)``), ``products`` (KP, before the bias) and ``output``; with the backward pass
        also ``grad_output`` (dY as KP's shape), ``grad_weight`` (dK = dY·Pᵀ, K's shape),
        ``grad_patches`` (dP = Kᵀ·dY, P's shape), ``grad_input`` (dX = fold(dP)) and
        ``grad_bias``.  For a transposed convolution: ``input`` (X), ``input_matrix`` (X as
        ``(groups, channels, positions)``), ``kernel`` (K), ``columns`` (Kᵀ·X, one column per
        input position) and ``output`` (their fold, plus the bias).  Then ``weight`` (as given)
        and, when there is one, ``bias``.
    """
    e = explanation
    arrays: dict[str, np.ndarray | None]
    if e.kind == "conv_transpose":
        arrays = {
            "input": e.input,
            "input_matrix": e.products,
            "kernel": e.kernels,
            "columns": e.patches,
            "output": e.output,
        }
    else:
        arrays = {
            "input": e.input,
            "padded_input": e.padded,
            "patches": e.patches,
            "kernel": e.kernels,
            "products": e.products,
            "output": e.output,
            "grad_output": e.grad_output,
            "grad_weight": e.grad_weight,
            "grad_patches": e.grad_patches,
            "grad_input": e.grad_input,
            "grad_bias": e.grad_bias,
        }
    arrays.update(weight=e.weight, bias=e.bias)
    return {name: array for name, array in arrays.items() if array is not None}


def _json_array(array: np.ndarray) -> Any:
    """Nested lists of floats; JSON has no NaN or infinity, so those become null."""
    if np.isfinite(array).all():
        return array.tolist()
    cells = array.astype(object)
    cells[~np.isfinite(array)] = None
    return cells.tolist()


def _json_value(value: Any) -> Any:
    """A NumPy scalar as the Python number it holds (for ``json.dumps``)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json_document(explanation: Explanation) -> dict[str, Any]:
    """The whole explanation as JSON-ready data, as ``--json`` writes it.

    Parameters
    ----------
    explanation : Explanation

    Returns
    -------
    dict
        ``convmm`` (the version), ``kind``, ``sample``, ``options`` (as given),
        ``geometry`` (the validated numbers, in the terms of a convolution: for a transposed
        convolution, the convolution it transposes), ``shapes`` and ``arrays`` (by the names
        of :func:`_saved_arrays`, as nested lists), ``checks`` (true, false, or null when
        not run), ``check_notes`` (why a check did not run) and ``all_checks_agree``.
    """
    e = explanation
    window = e.geometry.window
    geometry: dict[str, Any] = {
        "input_shape": window.input_shape,
        "kernel_size": window.kernel_size,
        "stride": window.stride,
        "padding": window.padding,
        "dilation": window.dilation,
        "padding_mode": window.padding_mode,
        "output_shape": window.output_shape,
        "in_channels": e.geometry.in_channels,
        "out_channels": e.geometry.out_channels,
        "groups": e.geometry.groups,
        "channels_last": e.geometry.channels_last,
    }
    if e.kind == "conv_transpose":
        geometry["note"] = (
            "in the terms of the convolution this transposes: its input_shape and in_channels "
            "are the transposed convolution's output, its output_shape and out_channels its input"
        )
    arrays = _saved_arrays(e)
    return {
        "convmm": __version__,
        "kind": e.kind,
        "sample": e.sample,
        "options": e.options,
        "geometry": geometry,
        "shapes": {name: array.shape for name, array in arrays.items()},
        "arrays": {name: _json_array(array) for name, array in arrays.items()},
        "checks": e.checks,
        "check_notes": e.check_notes,
        "all_checks_agree": all(v is not False for v in e.checks.values()),
    }


def _dump_json(document: dict[str, Any]) -> str:
    """``document`` as JSON: one top-level key a line, and one entry a line of a dict value."""

    def dump(value: Any) -> str:
        return json.dumps(value, allow_nan=False, default=_json_value, ensure_ascii=False)

    lines = []
    for key, value in document.items():
        if isinstance(value, dict) and value:
            inner = ",\n".join(f"    {dump(k)}: {dump(v)}" for k, v in value.items())
            lines.append(f"  {dump(key)}: {{\n{inner}\n  }}")
        else:
            lines.append(f"  {dump(key)}: {dump(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _save_folder(folder: str, arrays: dict[str, np.ndarray]) -> None:
    Path(folder).mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        np.save(Path(folder) / f"{name}.npy", array)


def _save_files(args: argparse.Namespace, explanation: Explanation) -> list[str]:
    """Write what ``--save``, ``--npz`` and ``--json`` ask for; the lines saying so."""
    arrays: dict[str, Any] = _saved_arrays(explanation)
    lines = []
    if args.save:
        _write(args.save, "--save", lambda folder: _save_folder(folder, arrays))
        names = ", ".join(f"{name}.npy" for name in arrays)
        lines.append(f"wrote {Path(args.save).resolve()}{os.sep}: {names}")
    if args.npz:
        _write(args.npz, "--npz", lambda path: np.savez(path, **arrays))
        lines.append(f"wrote {Path(args.npz).resolve()}")
    if args.json:
        text = _dump_json(_json_document(explanation))
        _write(args.json, "--json", lambda path: Path(path).write_text(text, encoding="utf-8"))
        lines.append(f"wrote {Path(args.json).resolve()}")
    return lines


def _save_figure(explanation: Explanation, path: str, name: str) -> None:
    try:
        _write(path, name, explanation.save_figure)
    except ImportError as error:  # matplotlib, an optional dependency
        raise UsageError(f"{name}: {error}") from None


def _explain(args: argparse.Namespace) -> int:
    _refuse_conflicts(args)
    for dest, default in _DEFAULTS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, default)
    _check_numbers(args)
    _check_targets(args)
    explanation = _walkthrough(args)
    written = []
    if args.html:
        _write(args.html, "--html", explanation.save_html)
        written.append(f"wrote {Path(args.html).resolve()}")
    for dest in ("png", "svg"):
        target = getattr(args, dest)
        if target:
            _save_figure(explanation, target, _flag(dest))
            written.append(f"wrote {Path(target).resolve()}")
    written += _save_files(args, explanation)
    if not args.quiet:
        print(explanation.to_text())
    for line in written:
        print(line)
    return 0 if all(v is not False for v in explanation.checks.values()) else 1


# ---- the parser -----------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An argument parser that takes no abbreviations and knows its subcommands' parsers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # --pad is not --padding
        super().__init__(*args, **kwargs)
        self.commands: dict[str, argparse.ArgumentParser] = {}

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n(see {self.prog} --help)\n")


def _unrecognized(
    parser: _Parser, argv: list[str], command: str | None, extras: list[str]
) -> NoReturn:
    """Exit 2 naming the first of ``extras``, and the closest option of the parser it was for.

    The main parser takes only ``--help`` and ``--version``, so the command is the first
    argument that is not an option, and whatever comes after it was given to the command.
    """
    first = extras[0]
    if command is None or (first in argv and argv.index(first) < argv.index(command)):
        owner: argparse.ArgumentParser = parser
    else:
        owner = parser.commands[command]
    name = first.partition("=")[0] if first.startswith("-") else first
    # Compared without their dashes, so that the dashes do not make every option look close.
    options = {
        string.lstrip("-"): string for action in owner._actions for string in action.option_strings
    }
    close = difflib.get_close_matches(name.lstrip("-"), options, n=1)
    if not close and name.startswith("--"):  # a prefix of one option (no abbreviations)
        close = [key for key, string in options.items() if string.startswith(name)][:2]
        close = close if len(close) == 1 else []
    hint = f"; did you mean {options[close[0]]}?" if close else ""
    owner.exit(2, f"{owner.prog}: unrecognized argument {name}{hint}\n(see {owner.prog} --help)\n")


def _parser() -> _Parser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="convmm",
        description="Convolution as one matrix product: unfold (P), flatten (K), multiply (KP).",
        epilog="examples:\n"
        "  convmm demo\n"
        "  convmm explain --example bigger\n"
        "  convmm explain --input-shape 1,5,5 --kernel 3 --padding 1 --stride 2 --html page.html\n"
        "\n'convmm COMMAND --help' tells more about each command.",
        formatter_class=raw,
    )
    parser.add_argument("--version", action="version", version=f"convmm {__version__}")
    # Not required here: main() says so after any unrecognized argument (--vers: --version?).
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="walk through the article's three examples and check them",
        description="Print the walkthrough (X, P, K, KP, the output, the output-size formula) of "
        "each of the examples of the article 'An Illustrated Explanation of Performing 2D "
        "Convolutions Using Matrix Multiplications', checked against the direct reference and "
        "PyTorch (when installed); then the backward pass of the 3-channel example: dK = dY·Pᵀ "
        "and the fold of Kᵀ·dY.  With --html, also write their interactive page.",
        epilog=f"examples:\n  convmm demo\n  convmm demo --html {DEMO_PAGE}\n"
        "  convmm demo --example 1d --html one.html",
        formatter_class=raw,
    )
    demo.add_argument("--example", choices=[e.name for e in SEED_EXAMPLES], help="one example only")
    demo.add_argument(
        "--html", metavar="FILE", help=f"also write the interactive page (e.g. {DEMO_PAGE})"
    )
    demo.set_defaults(run=_demo)

    ex = commands.add_parser(
        "explain",
        help="explain a convolution with your own numbers",
        description="Explain one convolution step by step: the input, its padding, the patch "
        "matrix P, the flattened filters K, the product KP, the output and the output-size "
        "formula, checked against convmm.conv, the direct reference and PyTorch.",
        epilog="examples:\n"
        "  convmm explain --example bigger\n"
        "  convmm explain --input-shape 1,5,5 --kernel 3 --padding 1 --stride 2\n"
        "  convmm explain --input-shape 2,6,6 --filters 4 --groups 2 --padding same "
        "--padding-mode reflect --html page.html\n"
        "  convmm explain --input-shape 3,8 --kernel 3 --dilation 2 --values random --seed 1\n"
        "  convmm explain --input-shape 1,3,3 --kernel 2 --stride 2 --transpose --png t.png\n"
        "  convmm explain --input x.npy --weight w.npy --padding 1:0,0:1 --svg steps.svg\n"
        "  convmm explain --input-shape 1,3,3 --transpose --stride 2 --output-size 7,7\n"
        "  convmm explain --input-shape 2,4,4 --filters 2 --bias 0.5,-1 --save steps/\n"
        "  convmm explain --example bigger --backward --npz steps.npz --json steps.json",
        formatter_class=raw,
    )
    source = ex.add_argument_group("what to explain")
    source.add_argument(
        "--example", choices=[e.name for e in SEED_EXAMPLES], help="one of the article's examples"
    )
    source.add_argument(
        "--input-shape", metavar="C,SIZES", help="channels then spatial sizes, e.g. 3,4,4 or 3x4x4"
    )
    source.add_argument("--kernel", metavar="K", help="kernel size: one int or one per dim (2)")
    # The options with a default in _DEFAULTS default to None here, to tell whether they were given.
    source.add_argument("--filters", type=int, help=f"output channels ({_DEFAULTS['filters']})")
    source.add_argument(
        "--values",
        choices=["arange", "random"],
        help="arange: 1, 2, 3, ... as in the article; random: integers in -4..4 (--seed); "
        f"default {_DEFAULTS['values']}",
    )
    source.add_argument("--seed", type=int, help=f"seed for --values random ({_DEFAULTS['seed']})")
    source.add_argument("--input", metavar="FILE", help="input from a .npy file (C, *spatial)")
    source.add_argument("--weight", metavar="FILE", help="weight from a .npy file")
    source.add_argument(
        "--bias",
        metavar="B",
        help="bias: numbers, one per filter (0.5 or 1,-2; write --bias=-1,2 when the first is "
        "negative), or a .npy file",
    )
    options = ex.add_argument_group("convolution options (as convmm.conv)")
    options.add_argument("--stride", metavar="S", help="one int or one per dim")
    options.add_argument(
        "--padding", metavar="P", help="int, per dim (1,2), per side (1:2,0:1), same, valid"
    )
    options.add_argument("--dilation", metavar="D", help="one int or one per dim")
    options.add_argument("--groups", type=int, help="channel groups (1)")
    options.add_argument(
        "--padding-mode",
        choices=["zeros", "reflect", "replicate", "circular"],
        help=f"how to pad ({_DEFAULTS['padding_mode']})",
    )
    options.add_argument("--channels-last", action="store_true", help="input is (*sizes, C)")
    options.add_argument("--transpose", action="store_true", help="a transposed convolution")
    options.add_argument("--output-padding", metavar="OP", help="with --transpose")
    options.add_argument(
        "--output-size",
        metavar="SIZES",
        help="with --transpose, instead of --output-padding: the output's spatial sizes, e.g. 7,7",
    )
    options.add_argument(
        "--backward", action="store_true", help="also the backward pass (dY = 1, 2, 3, ...)"
    )
    targets = ex.add_argument_group("output")
    targets.add_argument("--html", metavar="FILE", help="write the interactive page")
    targets.add_argument("--png", metavar="FILE", help="write the figure as PNG (matplotlib)")
    targets.add_argument("--svg", metavar="FILE", help="write the figure as SVG (matplotlib)")
    targets.add_argument(
        "--save", metavar="DIR", help="write the arrays as .npy files into DIR (made if missing)"
    )
    targets.add_argument("--npz", metavar="FILE", help="write the arrays into one .npz file")
    targets.add_argument(
        "--json",
        metavar="FILE",
        help="write the whole explanation (options, arrays, checks) as JSON",
    )
    targets.add_argument("--quiet", action="store_true", help="no text walkthrough on stdout")
    ex.set_defaults(run=_explain)
    parser.commands.update(demo=demo, explain=ex)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convmm`` command; returns the exit status."""
    parser = _parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    args, extras = parser.parse_known_args(arguments)
    if extras:
        _unrecognized(parser, arguments, args.command, extras)
    if args.command is None:
        parser.error("the following arguments are required: COMMAND")
    try:
        status: int = args.run(args)
    except (UsageError, ConvmmError) as error:  # anything else is a bug: its traceback shows
        return _report(args.command, str(error))
    except MemoryError as error:  # a last resort: the sizes are checked before
        return _report(args.command, f"out of memory ({error}); choose smaller sizes")
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
