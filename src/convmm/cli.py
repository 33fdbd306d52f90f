"""The ``convmm`` command line: ``convmm demo`` and ``convmm explain``.

Parsing, messages and exit codes live here; the walkthroughs come from ``convmm.explain`` and its
renderers.  Bad arguments print a one-line error and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ._explain import Explanation, explain, explain_backward, explain_transpose
from .examples import SEED_EXAMPLES, Example

__all__ = ["main"]

DEMO_PAGE = "convmm-demo.html"


class UsageError(Exception):
    """A bad command-line argument: reported in one line, exit status 2."""


# ---- demo -----------------------------------------------------------------------------------


def _example_backward(example: Example) -> Explanation:
    """The backward view of an example, with dY = 1, 2, 3, ... (small exact integers)."""
    forward = explain(example.input, example.weight, **example.options)
    shape = (1, forward.geometry.out_channels, *forward.geometry.window.output_shape)
    grad_output = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
    return explain_backward(grad_output, example.input, example.weight, **example.options)


def _demo(args: argparse.Namespace) -> int:
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
            explanation = _example_backward(example)
            print(explanation.to_text())
            print()
            explanations.append(explanation)
    ok = all(verdict is not False for e in explanations for verdict in e.checks.values())
    if args.html:
        from ._explain.page import render_pages

        titles = [f"{e.name}: {e.title}" for e in chosen]
        titles += [f"{e.name}: backward" for e in chosen if e.name == "bigger"]
        Path(args.html).write_text(
            render_pages(explanations, titles, title="convmm demo: the seed's examples"),
            encoding="utf-8",
        )
        print(f"The interactive page is {Path(args.html).resolve()}")
    print("All checks agree." if ok else "SOME CHECKS DISAGREE.")
    return 0 if ok else 1


# ---- explain --------------------------------------------------------------------------------


def _ints(text: str, name: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        raise UsageError(
            f"{name} must be comma-separated integers like 3 or 2,3; got {text!r}"
        ) from None
    if not values:
        raise UsageError(f"{name} must be comma-separated integers like 3 or 2,3; got {text!r}")
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
                pairs.append((int(before), int(after)))
            except ValueError:
                raise UsageError(
                    f"--padding per-side pairs look like 1:2,0:1 (before:after per dim); "
                    f"got {text!r}"
                ) from None
        return tuple(pairs)
    return _per_dim(text, "--padding")


def _load(path: str, name: str) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UsageError(f"{name}: cannot read {path!r} as a .npy file ({error})") from None
    if not isinstance(array, np.ndarray):
        raise UsageError(f"{name}: {path!r} holds several arrays; give one .npy array")
    return array


def _values(shape: tuple[int, ...], how: str, rng: np.random.Generator) -> np.ndarray:
    size = int(np.prod(shape))
    if how == "arange":
        return np.arange(1.0, size + 1.0).reshape(shape)
    return rng.integers(-4, 5, size=shape).astype(np.float64)


def _explain_arrays(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    rng = np.random.default_rng(args.seed)
    if args.example:
        example = next(e for e in SEED_EXAMPLES if e.name == args.example)
        return example.input[0], example.weight, None
    if args.input:
        x = _load(args.input, "--input")
    else:
        if args.input_shape is None:
            raise UsageError(
                "give --input-shape (e.g. 3,4,4 for 3 channels of 4x4), --input or --example"
            )
        shape = _ints(args.input_shape, "--input-shape")
        if len(shape) < 2:
            raise UsageError(
                "--input-shape is channels then spatial sizes, e.g. 3,4,4; "
                f"got {args.input_shape!r}"
            )
        x = _values(shape, args.values, rng)
    if args.weight:
        w = _load(args.weight, "--weight")
    else:
        ndim = x.ndim - 1
        kernel = _ints(args.kernel, "--kernel") if args.kernel else (2,)
        if len(kernel) == 1:
            kernel = kernel * ndim
        if len(kernel) != ndim:
            raise UsageError(
                f"--kernel needs 1 or {ndim} sizes for a {ndim}-D input; got {args.kernel!r}"
            )
        groups = args.groups or 1
        channels = x.shape[-1] if args.channels_last else x.shape[0]
        if groups < 1 or channels % groups or args.filters % groups:
            raise UsageError(
                f"--groups must divide the input channels ({channels}) and --filters "
                f"({args.filters}); got {groups}"
            )
        if args.transpose:
            shape = (channels, args.filters // groups, *kernel)
        else:
            shape = (args.filters, channels // groups, *kernel)
        w = _values(shape, args.values, rng)
    b = _load(args.bias, "--bias") if args.bias else None
    return x, w, b


def _options(args: argparse.Namespace) -> dict[str, Any]:
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
        if args.padding_mode != "zeros":
            raise UsageError("--padding-mode applies to convolutions, not to --transpose")
    else:
        if args.output_padding is not None:
            raise UsageError("--output-padding goes with --transpose")
        options["padding_mode"] = args.padding_mode
    return options


def _explain(args: argparse.Namespace) -> int:
    x, w, b = _explain_arrays(args)
    options = {} if args.example else _options(args)
    if args.example:
        example = next(e for e in SEED_EXAMPLES if e.name == args.example)
        options = dict(example.options)
    if args.transpose:
        explanation = explain_transpose(x, w, b, **options)
    elif args.backward:
        forward = explain(x, w, b, **options)
        shape = forward.geometry.output_array_shape()
        grad = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
        explanation = explain_backward(grad, x, w, **options)
    else:
        explanation = explain(x, w, b, **options)
    written = []
    if args.html:
        explanation.save_html(args.html)
        written.append(args.html)
    for target in (args.png, args.svg):
        if target:
            explanation.save_figure(target)
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
    parser = _Parser(
        prog="convmm",
        description="Convolution as one matrix product: unfold (P), flatten (K), multiply (KP).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    raw = argparse.RawDescriptionHelpFormatter
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
        "--input-shape", metavar="C,SIZES", help="channels then spatial sizes, e.g. 3,4,4"
    )
    source.add_argument("--kernel", metavar="K", help="kernel size: one int or one per dim (2)")
    source.add_argument("--filters", type=int, default=1, help="output channels (1)")
    source.add_argument(
        "--values",
        choices=["arange", "random"],
        default="arange",
        help="arange: 1, 2, 3, ... as in the seed; random: integers in -4..4 (--seed)",
    )
    source.add_argument("--seed", type=int, default=0, help="seed for --values random (0)")
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
        default="zeros",
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
    except UsageError as error:
        print(f"convmm {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as error:
        print(f"convmm {args.command}: error: {error}", file=sys.stderr)
        return 2
    except ImportError as error:
        print(f"convmm {args.command}: error: {error}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
