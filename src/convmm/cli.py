"""The ``convmm`` command line: ``convmm demo``.

All formatting of numbers for the terminal lives here; the library returns arrays and records.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import reference
from ._conv import conv, conv_backward
from ._geometry import OutputSizeTerms, conv_geometry
from ._unfold import fold, unfold
from .examples import SEED_EXAMPLES, Example

__all__ = ["main"]

_DIM_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def format_matrix(a: np.ndarray, indent: str = "  ") -> str:
    """A 2-D array as aligned rows of numbers (integers shown without a decimal point)."""
    values = np.asarray(a, dtype=np.float64)
    integral = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    cells = [[f"{v:.0f}" if integral else f"{v:.4g}" for v in row] for row in values]
    width = max((len(c) for row in cells for c in row), default=1)
    return "\n".join(indent + "[" + " ".join(c.rjust(width) for c in row) + "]" for row in cells)


def format_formula(name: str, t: OutputSizeTerms) -> str:
    """The output-size formula for one dim, with its numbers substituted."""
    return (
        f"{name}_out = floor(({name}_in + pad_before + pad_after - dilation*(kernel - 1) - 1)"
        f" / stride) + 1\n"
        f"      = floor(({t.input} + {t.pad_before} + {t.pad_after} - {t.dilation}*({t.kernel} - 1)"
        f" - 1) / {t.stride}) + 1 = {t.output}"
    )


def _shape(shape: Sequence[int]) -> str:
    return " x ".join(map(str, shape))


def _torch_conv(example: Example) -> np.ndarray | None:
    try:
        import torch
        import torch.nn.functional as functional
    except ImportError:
        return None
    ndim = example.weight.ndim - 2
    op = getattr(functional, f"conv{ndim}d")
    result = op(
        torch.from_numpy(example.input), torch.from_numpy(example.weight), **example.options
    )
    return np.asarray(result.numpy())


def run_example(example: Example, out: Any) -> bool:
    """Print one example's walkthrough; return whether every check agreed."""
    x, w = example.input, example.weight
    geometry = conv_geometry(
        x.shape,
        w.shape,
        None,
        stride=example.options.get("stride", 1),
        padding=example.options.get("padding", 0),
        dilation=example.options.get("dilation", 1),
        groups=1,
        padding_mode="zeros",
        channels_last=False,
        func="convmm demo",
    )
    window = geometry.window
    names = _DIM_NAMES.get(window.ndim, tuple(f"d{i}" for i in range(window.ndim)))
    kernel_size = w.shape[2:]
    patches = unfold(x, kernel_size, **example.options)[0]
    k = w.reshape(w.shape[0], -1)
    kp = k @ patches
    output = kp.reshape(w.shape[0], *window.output_shape)
    result = conv(x, w, **example.options)

    print(f"== {example.name}: {example.title} ==", file=out)
    print(f"X, the input ({_shape(x.shape[1:])}: channels x {' x '.join(names)}):", file=out)
    for c in range(x.shape[1]):
        print(f" channel {c}:", file=out)
        print(format_matrix(np.atleast_2d(x[0, c])), file=out)
    print(
        f"P = unfold(X): {_shape(patches.shape)} (one column per patch, "
        f"{x.shape[1]} channels x {_shape(kernel_size)} kernel = {patches.shape[0]} rows)",
        file=out,
    )
    print(format_matrix(patches), file=out)
    print(f"K = the {w.shape[0]} filters flattened, one per row: {_shape(k.shape)}", file=out)
    print(format_matrix(k), file=out)
    print(f"KP = K @ P: {_shape(kp.shape)}", file=out)
    print(format_matrix(kp), file=out)
    print(
        f"Output = KP reshaped to {_shape(output.shape)} (filters x {' x '.join(names)}):", file=out
    )
    for f in range(output.shape[0]):
        print(f" filter {f}:", file=out)
        print(format_matrix(np.atleast_2d(output[f])), file=out)
    print("Output size:", file=out)
    for dim, name in enumerate(names):
        print("  " + format_formula(name, window.output_size_terms(dim)), file=out)

    checks = {
        "convmm.conv": np.array_equal(result[0], output),
        "convmm.reference.conv": np.array_equal(reference.conv(x, w, **example.options)[0], output),
    }
    torch_result = _torch_conv(example)
    for name, ok in checks.items():
        print(f"Check: {name} gives the same output: {'yes' if ok else 'NO'}", file=out)
    if torch_result is None:
        print("Check: PyTorch is not installed; skipped", file=out)
    else:
        ok = bool(np.array_equal(torch_result[0], output))
        checks["torch"] = ok
        print(
            f"Check: torch.nn.functional gives the same output: {'yes' if ok else 'NO'}", file=out
        )
    print(file=out)
    return all(checks.values())


def _torch_gradients(
    example: Example, grad_output: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    try:
        import torch
        import torch.nn.functional as functional
    except ImportError:
        return None
    x = torch.tensor(example.input, requires_grad=True)
    w = torch.tensor(example.weight, requires_grad=True)
    b = torch.zeros(example.weight.shape[0], dtype=x.dtype, requires_grad=True)
    op = getattr(functional, f"conv{example.weight.ndim - 2}d")
    op(x, w, b, **example.options).backward(torch.from_numpy(grad_output))
    return tuple(np.asarray(t.grad.numpy()) for t in (x, w, b))  # type: ignore[return-value, union-attr]


def run_backward_example(example: Example, out: Any) -> bool:
    """Print the backward pass of one example: dK = dY·Pᵀ and dX = fold(Kᵀ·dY)."""
    x, w = example.input, example.weight
    kernel_size = w.shape[2:]
    patches = unfold(x, kernel_size, **example.options)[0]
    k = w.reshape(w.shape[0], -1)
    spatial = conv(x, w, **example.options).shape[2:]
    dy = np.arange(1.0, 1.0 + w.shape[0] * patches.shape[1]).reshape(w.shape[0], -1)
    dk = dy @ patches.T
    dp = k.T @ dy
    dx = fold(dp[np.newaxis], x.shape[2:], kernel_size, **example.options)[0]
    db = dy.sum(axis=1)

    print(f"== {example.name}, backward: the gradients are matrix products too ==", file=out)
    print(f"dY, the gradient of the loss with respect to KP ({_shape(dy.shape)}):", file=out)
    print(format_matrix(dy), file=out)
    print(f"dK = dY @ P^T: {_shape(dk.shape)} (reshaped, the weight's gradient)", file=out)
    print(format_matrix(dk), file=out)
    print(
        f"dP = K^T @ dY: {_shape(dp.shape)} (one column of patch gradients per position)", file=out
    )
    print(format_matrix(dp), file=out)
    print(
        f"dX = fold(dP): each column added back where its patch came from ({_shape(dx.shape)}):",
        file=out,
    )
    for c in range(dx.shape[0]):
        print(f" channel {c}:", file=out)
        print(format_matrix(np.atleast_2d(dx[c])), file=out)
    print("db = dY summed over positions:", file=out)
    print(format_matrix(db[np.newaxis]), file=out)

    grad_y = dy.reshape(1, w.shape[0], *spatial)
    grads = conv_backward(grad_y, x, w, **example.options)
    mine = (dx, dk.reshape(w.shape), db)
    ok = (
        grads[0] is not None
        and np.array_equal(grads[0][0], dx)
        and grads[1] is not None
        and np.array_equal(grads[1], mine[1])
        and grads[2] is not None
        and np.array_equal(grads[2], db)
    )
    print(
        f"Check: convmm.conv_backward gives the same gradients: {'yes' if ok else 'NO'}", file=out
    )
    reference_grads = _torch_gradients(example, grad_y)
    if reference_grads is None:
        print("Check: PyTorch is not installed; skipped", file=out)
    else:
        t_ok = (
            np.array_equal(reference_grads[0][0], dx)
            and np.array_equal(reference_grads[1], mine[1])
            and np.array_equal(reference_grads[2], db)
        )
        print(
            f"Check: torch.autograd gives the same gradients: {'yes' if t_ok else 'NO'}", file=out
        )
        ok = ok and t_ok
    print(file=out)
    return bool(ok)


def _demo(args: argparse.Namespace) -> int:
    chosen = [e for e in SEED_EXAMPLES if args.example in (None, e.name)]
    ok = all([run_example(example, sys.stdout) for example in chosen])  # noqa: C419 (print every one)
    backward = [e for e in chosen if e.name == "bigger"]
    ok = all([run_backward_example(e, sys.stdout) for e in backward]) and ok  # noqa: C419
    print("All checks agree." if ok else "SOME CHECKS DISAGREE.")
    return 0 if ok else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convmm",
        description="Convolution as one matrix product: unfold (P), flatten (K), multiply (KP).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="walk through the seed article's three examples and check them",
        description="Print X, P, K, KP, the output and the output-size formula for each of "
        "the seed article's examples, and check them against the direct reference (and "
        "PyTorch when installed); then the backward pass of the 3-channel example: "
        "dK = dY·Pᵀ and the fold of Kᵀ·dY, checked against torch.autograd.",
        epilog="examples:\n  convmm demo\n  convmm demo --example 1d",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--example",
        choices=[e.name for e in SEED_EXAMPLES],
        help="run one example only (default: all three)",
    )
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convmm`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
