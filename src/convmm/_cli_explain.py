"""The ``convmm explain`` subcommand: its options, and the checks made before any work.

:func:`add_parser` adds its options to the command line's subcommands; :func:`run` refuses
options that do not go together (``_CONFLICTS``), bad counts and unwritable targets, applies
the defaults (``_DEFAULTS``), then gets the explanation from ``convmm._cli_walkthrough``,
prints it and writes the files asked for (the page and figures here, the arrays by
``convmm._cli_export``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._cli_errors import UsageError
from ._cli_export import save_files
from ._cli_files import check_folder, check_writable, write_target
from ._cli_walkthrough import walkthrough
from ._explain import Explanation
from .examples import SEED_EXAMPLES

__all__ = ["add_parser", "run"]

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


# ---- the checks -------------------------------------------------------------------------------


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
        check_writable(path, _flag(dest))
    if args.save is not None:
        check_folder(args.save, "--save")


# ---- the command ------------------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Add ``explain`` to the subcommands; its parser."""
    ex: argparse.ArgumentParser = subparsers.add_parser(
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
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    return ex


def _save_figure(explanation: Explanation, path: str, name: str) -> None:
    try:
        write_target(path, name, explanation.save_figure)
    except ImportError as error:  # matplotlib, an optional dependency
        raise UsageError(f"{name}: {error}") from None


def run(args: argparse.Namespace) -> int:
    """Run ``convmm explain``; the exit status: 0 when every check agrees, else 1."""
    _refuse_conflicts(args)
    for dest, default in _DEFAULTS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, default)
    _check_numbers(args)
    _check_targets(args)
    explanation = walkthrough(args)
    written = []
    if args.html:
        write_target(args.html, "--html", explanation.save_html)
        written.append(f"wrote {Path(args.html).resolve()}")
    for dest in ("png", "svg"):
        target = getattr(args, dest)
        if target:
            _save_figure(explanation, target, _flag(dest))
            written.append(f"wrote {Path(target).resolve()}")
    written += save_files(args, explanation)
    if not args.quiet:
        print(explanation.to_text())
    for line in written:
        print(line)
    return 0 if all(v is not False for v in explanation.checks.values()) else 1
