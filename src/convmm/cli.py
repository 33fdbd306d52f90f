"""The ``convmm`` command line: ``convmm demo`` and ``convmm explain``.

Parsing, messages and exit codes live here; the walkthroughs come from ``convmm.explain`` and its
renderers.  Bad arguments print a one-line error and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ._explain import Explanation, explain, explain_backward, explain_transpose
from ._shapes import conv_output_shape
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
        page = render_pages(explanations, titles, title="convmm demo: the seed's examples")
        _write(args.html, "--html", lambda path: Path(path).write_text(page, encoding="utf-8"))
        print(f"The interactive page is {Path(args.html).resolve()}")
    print("All checks agree." if ok else "SOME CHECKS DISAGREE.")
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
    if args.output_padding is not None and not args.transpose:
        raise UsageError("--output-padding goes with --transpose")


def _check_numbers(args: argparse.Namespace) -> None:
    """The integer options: positive counts, a non-negative seed."""
    for dest in ("filters", "groups"):
        value = getattr(args, dest)
        if value is not None and value < 1:
            raise UsageError(f"{_flag(dest)} must be a positive integer; got {value}")
    if args.seed < 0:
        raise UsageError(f"--seed must be a non-negative integer; got {args.seed}")


def _check_targets(args: argparse.Namespace) -> None:
    """The files to write: writable, and figures named by their format."""
    for dest, suffix in (("html", None), ("png", ".png"), ("svg", ".svg")):
        path = getattr(args, dest)
        if path is None:
            continue
        if suffix is not None and Path(path).suffix.lower() != suffix:
            raise UsageError(f"{_flag(dest)}: the file name must end in {suffix}; got {path!r}")
        _check_writable(path, _flag(dest))


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
    b = _load(args.bias, "--bias") if args.bias else None
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


def _refuse_huge_patches(
    x: np.ndarray, w: np.ndarray, options: dict[str, Any], transpose: bool
) -> None:
    """Refuse a walkthrough whose P (or Kᵀ·X) would be too large to hold whole.

    Both have ``weight.shape[1] * groups * prod(kernel)`` rows; P has a column per output
    position, Kᵀ·X one per input position.  ``x`` is one sample, ``(C, *spatial)`` or
    ``(*spatial, C)``.
    """
    if transpose:
        columns_of = x.shape
    else:
        try:
            columns_of = conv_output_shape(x.shape, w.shape, **options)
        except (ValueError, TypeError):
            return  # the explanation itself says what is wrong, in its own name
    positions = math.prod(columns_of[:-1] if options.get("channels_last") else columns_of[1:])
    entries = w.shape[1] * options.get("groups", 1) * math.prod(w.shape[2:]) * positions
    if entries > MAX_PATCH_ENTRIES:
        name = "Kᵀ·X" if transpose else "P"
        raise UsageError(
            f"{name} would have {entries:,} entries ({positions:,} positions); an explanation "
            f"holds at most {MAX_PATCH_ENTRIES:,}: choose smaller sizes"
        )


def _walkthrough(args: argparse.Namespace) -> Explanation:
    x, w, b = _explain_arrays(args)
    options = _options(args)
    _refuse_huge_patches(x, w, options, args.transpose)
    if args.transpose:
        return explain_transpose(x, w, b, **options)
    if args.backward:
        return _backward(x, w, options)
    return explain(x, w, b, **options)


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
        written.append(args.html)
    for dest in ("png", "svg"):
        target = getattr(args, dest)
        if target:
            _write(target, _flag(dest), explanation.save_figure)
            written.append(target)
    if not args.quiet:
        print(explanation.to_text())
    for path in written:
        print(f"wrote {Path(path).resolve()}")
    return 0 if all(v is not False for v in explanation.checks.values()) else 1


# ---- the parser -----------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n(see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
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
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="walk through the seed article's three examples and check them",
        description="Print the walkthrough (X, P, K, KP, the output, the output-size formula) of "
        "each of the seed article's examples, checked against the direct reference and PyTorch "
        "(when installed); then the backward pass of the 3-channel example: dK = dY·Pᵀ and the "
        f"fold of Kᵀ·dY.  Writes the interactive page to {DEMO_PAGE}.",
        epilog="examples:\n  convmm demo\n  convmm demo --example 1d --html one.html",
        formatter_class=raw,
    )
    demo.add_argument("--example", choices=[e.name for e in SEED_EXAMPLES], help="one example only")
    demo.add_argument(
        "--html", default=DEMO_PAGE, metavar="FILE", help=f"the page to write (default {DEMO_PAGE})"
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
        "  convmm explain --input x.npy --weight w.npy --padding 1:0,0:1 --svg steps.svg",
        formatter_class=raw,
    )
    source = ex.add_argument_group("what to explain")
    source.add_argument(
        "--example", choices=[e.name for e in SEED_EXAMPLES], help="one of the seed's examples"
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
        help="arange: 1, 2, 3, ... as in the seed; random: integers in -4..4 (--seed); "
        f"default {_DEFAULTS['values']}",
    )
    source.add_argument("--seed", type=int, help=f"seed for --values random ({_DEFAULTS['seed']})")
    source.add_argument("--input", metavar="FILE", help="input from a .npy file (C, *spatial)")
    source.add_argument("--weight", metavar="FILE", help="weight from a .npy file")
    source.add_argument("--bias", metavar="FILE", help="bias from a .npy file")
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
        "--backward", action="store_true", help="also the backward pass (dY = 1, 2, 3, ...)"
    )
    targets = ex.add_argument_group("output")
    targets.add_argument("--html", metavar="FILE", help="write the interactive page")
    targets.add_argument("--png", metavar="FILE", help="write the figure as PNG (matplotlib)")
    targets.add_argument("--svg", metavar="FILE", help="write the figure as SVG (matplotlib)")
    targets.add_argument("--quiet", action="store_true", help="no text walkthrough on stdout")
    ex.set_defaults(run=_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convmm`` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except (UsageError, ValueError, TypeError, OverflowError, ImportError) as error:
        return _report(args.command, str(error))
    except MemoryError as error:  # a last resort: the sizes are checked before
        return _report(args.command, f"out of memory ({error}); choose smaller sizes")
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
