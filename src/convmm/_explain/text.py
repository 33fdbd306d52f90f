"""The text renderer: the walkthrough as aligned matrices for a terminal."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._errors import ConvmmTypeError
from .._geometry import OutputSizeTerms, TransposedOutputSizeTerms
from .model import Explanation, FormulaTerms

__all__ = [
    "count",
    "dim_names",
    "format_cells",
    "format_formula",
    "format_index",
    "format_indices",
    "format_matrix",
    "format_span",
    "render_text",
]

#: The most rows or columns of a matrix shown before the middle is elided.
MAX_SHOWN = 16
#: The most channels (and 3-D slices) of an array, and groups of a product, shown.
MAX_CHANNELS, MAX_GROUPS = 4, 3


def dim_names(ndim: int) -> tuple[str, ...]:
    """Names for the spatial dims: L; H, W; D, H, W; else d0, d1, ..."""
    return {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(
        ndim, tuple(f"d{i}" for i in range(ndim))
    )


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun, singular for 1: '1 filter', '4 filters' (``plural`` if not +s)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def format_index(index: Sequence[int]) -> str:
    """A spatial index or a per-dim value: ``2`` for one spatial dim, ``(2, 3)`` for more."""
    values = [str(int(i)) for i in index]
    return values[0] if len(values) == 1 else "(" + ", ".join(values) + ")"


def format_span(noun: str, first: int, last: int, plural: str | None = None) -> str:
    """A run of numbered things: 'input channel 0', or 'input channels 0..3'."""
    if first == last:
        return f"{noun} {first}"
    return f"{plural or noun + 's'} {first}..{last}"


#: Up to this many cells (or indices) are listed one by one; more are a range.
MAX_LISTED = 3


def _step(values: Sequence[int]) -> int:
    """The step of an evenly spaced, sorted run of indices (1 for a single index)."""
    return values[1] - values[0] if len(values) > 1 else 1


def format_indices(indices: Sequence[int]) -> str:
    """Evenly spaced indices along one dim: '0, 2, 4' (a few), '0 … 5', or '0 … 8 step 2'.

    ``indices`` are those a window reads along one dim (sorted, evenly spaced, repeats allowed).
    """
    values = sorted({int(i) for i in indices})
    if len(values) <= MAX_LISTED:
        return ", ".join(map(str, values))
    step = _step(values)
    return f"{values[0]} … {values[-1]}" + (f" step {step}" if step > 1 else "")


def format_cells(cells: Sequence[tuple[int, ...]]) -> str:
    """The cells a patch reads (``Explanation.patch_cells``), the gaps of a dilation shown.

    'cell 3'; 'cells 0, 2, 4' (a few, listed); 'cells (0, 0) … (1, 1)' (every cell of that
    box); 'cells (0, 0) … (2, 4) step (1, 2)' (every second cell along the last dim).  The
    cells are the product of one evenly spaced run of indices per dim.
    """
    unique = sorted(set(cells))
    if len(unique) == 1:
        return f"cell {format_index(unique[0])}"
    if len(unique) <= MAX_LISTED:
        return "cells " + ", ".join(format_index(c) for c in unique)
    runs = [sorted({c[d] for c in unique}) for d in range(len(unique[0]))]
    steps = [_step(run) for run in runs]
    first, last = tuple(run[0] for run in runs), tuple(run[-1] for run in runs)
    text = f"cells {format_index(first)} … {format_index(last)}"
    return text + (f" step {format_index(steps)}" if max(steps) > 1 else "")


def _cell(value: float, integral: bool) -> str:
    return f"{value:.0f}" if integral else f"{value:.4g}"


def _keep(n: int, limit: int) -> list[int | None]:
    """Indices to show along an axis of length n (None marks the elided middle)."""
    if n <= limit:
        return list(range(n))
    half = limit // 2
    return [*range(half), None, *range(n - (limit - half - 1), n)]


def format_matrix(a: np.ndarray, indent: str = "  ", limit: int = MAX_SHOWN) -> str:
    """A 2-D array as aligned rows; more than ``limit`` rows or columns elide the middle."""
    values = np.atleast_2d(np.asarray(a, dtype=np.float64))
    finite = values[np.isfinite(values)]
    integral = bool(np.all(finite == np.round(finite)))
    rows, cols = _keep(values.shape[0], limit), _keep(values.shape[1], limit)
    cells = [
        ["…" if r is None or c is None else _cell(values[r, c], integral) for c in cols]
        for r in rows
    ]
    width = max((len(c) for row in cells for c in row), default=1)
    lines = []
    for r, row in zip(rows, cells, strict=True):
        if r is None:
            lines.append(indent + " " + " ".join("⋮".rjust(width) for _ in row))
        else:
            lines.append(indent + "[" + " ".join(c.rjust(width) for c in row) + "]")
    return "\n".join(lines)


def format_formula(name: str, t: FormulaTerms) -> str:
    """The output-size formula for one dim, then (on a second line, its ``=`` under the first
    line's) the same with its numbers substituted and the result.

    ``t`` is a convolution's :class:`~convmm._window.OutputSizeTerms` or a transposed
    convolution's :class:`~convmm._transposed.TransposedOutputSizeTerms`.
    """
    under = " " * (len(name) + 5)
    if isinstance(t, TransposedOutputSizeTerms):
        return (
            f"{name}_out = ({name}_in - 1)*stride - pad_before - pad_after"
            f" + dilation*(kernel - 1) + output_padding + 1\n"
            f"{under}= ({t.input} - 1)*{t.stride} - {t.pad_before} - {t.pad_after}"
            f" + {t.dilation}*({t.kernel} - 1) + {t.output_padding} + 1 = {t.output}"
        )
    if not isinstance(t, OutputSizeTerms):
        raise ConvmmTypeError(
            f"format_formula: terms must be OutputSizeTerms or TransposedOutputSizeTerms; "
            f"got {type(t).__name__}"
        )
    return (
        f"{name}_out = floor(({name}_in + pad_before + pad_after - dilation*(kernel - 1) - 1)"
        f" / stride) + 1\n"
        f"{under}= floor(({t.input} + {t.pad_before} + {t.pad_after}"
        f" - {t.dilation}*({t.kernel} - 1) - 1) / {t.stride}) + 1 = {t.output}"
    )


def _formulas(e: Explanation, lines: list[str]) -> None:
    for name, terms in zip(dim_names(e.geometry.window.ndim), e.formula(), strict=True):
        lines.append("   " + format_formula(name, terms).replace("\n", "\n   "))


def _shape(shape: Sequence[int]) -> str:
    return " x ".join(map(str, shape))


def _spatial(a: np.ndarray, label: str, names: tuple[str, ...], lines: list[str]) -> None:
    """A (C, *spatial) array, channel by channel; 3-D and up slice by slice.

    More than ``MAX_CHANNELS`` channels (or slices) show the first and the last few.
    """
    for c in _keep(a.shape[0], MAX_CHANNELS):
        if c is None:
            lines.append(f" … {a.shape[0] - MAX_CHANNELS + 1} more {label}s of the {a.shape[0]}")
            continue
        plane = a[c]
        if plane.ndim <= 2:
            lines.append(f" {label} {c}:")
            lines.append(format_matrix(np.atleast_2d(plane)))
            continue
        slices = list(np.ndindex(*plane.shape[:-2]))
        for i in _keep(len(slices), MAX_CHANNELS):
            if i is None:
                lines.append(f"  … {len(slices) - MAX_CHANNELS + 1} more slices of {label} {c}")
                continue
            where = ", ".join(f"{n}={j}" for n, j in zip(names, slices[i], strict=False))
            lines.append(f" {label} {c}, slice {where}:")
            lines.append(format_matrix(plane[slices[i]]))


def _groups(g: int, lines: list[str], indent: str = "   ") -> list[int]:
    """The groups to show (the first and the last of many), noting the others in ``lines``."""
    shown = [group for group in _keep(g, MAX_GROUPS) if group is not None]
    if len(shown) < g:
        names = ", ".join(map(str, shown))
        lines.append(
            f"{indent}(groups {names} of {g} shown; each of the others is the same product on "
            f"its own channels and filters)"
        )
    return shown


def _checks(e: Explanation, lines: list[str]) -> None:
    plan = e.plan()
    lines.append(f"convmm.{e.kind} computes it with algorithm={plan.algorithm!r}: {plan.reason}.")
    lines.append("Checks:")
    for name in e.checks:
        lines.append(f"   {name}: {e.verdict(name)}")


def _position(e: Explanation, column: int) -> str:
    return format_index(e.position(column))


def _positions(e: Explanation) -> str:
    """'5 positions', and their shape in more than one dim: '9 positions (3 x 3)'."""
    window = e.geometry.window
    shape = f" ({_shape(window.output_shape)})" if window.ndim > 1 else ""
    return count(e.num_positions, "position") + shape


def _padding_text(e: Explanation) -> str:
    """'H: 1 before, 0 after; W: 2 before, 2 after'."""
    window = e.geometry.window
    names = dim_names(window.ndim)
    return "; ".join(
        f"{n}: {b} before, {a} after" for n, (b, a) in zip(names, window.padding, strict=True)
    )


def _options(e: Explanation) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in e.options.items())


def render_text(e: Explanation) -> str:
    """The whole walkthrough as text."""
    if e.kind == "conv_transpose":
        return _render_transpose(e)
    lines: list[str] = []
    geometry, window = e.geometry, e.geometry.window
    names = dim_names(window.ndim)
    g, cin, cout = geometry.groups, geometry.in_channels_per_group, geometry.out_channels_per_group
    title = "convolution" if e.kind == "conv" else "convolution, backward pass"
    lines.append(
        f"convmm explain: {title} of a {_shape(e.input.shape)} input (channels x "
        f"{' x '.join(names)}) with {count(geometry.out_channels, 'filter')} of "
        f"{cin} x {_shape(window.kernel_size)}"
    )
    lines.append(f"options: {_options(e)}")
    if geometry.batch > 1:
        lines.append(f"(image {e.sample} of a batch of {geometry.batch}; each image is the same)")
    lines.append("")
    lines.append("1. X, the input:")
    _spatial(e.input, "channel", names, lines)
    if window.is_padded:
        lines.append(
            f"2. X padded ({window.padding_mode}) to {_shape(window.padded_shape)} — "
            f"{_padding_text(e)}:"
        )
        _spatial(e.padded, "channel", names, lines)
    else:
        lines.append("2. No padding.")
    kernel, k_count = window.kernel_size, window.kernel_numel
    lines.append(
        f"3. The patches: the {_shape(kernel)} window (dilation {format_index(window.dilation)}) "
        f"slides with stride {format_index(window.stride)}; {_positions(e)}."
    )
    shown = range(e.num_positions) if e.num_positions <= 6 else [0, 1, e.num_positions - 1]
    padded = "padded " if window.is_padded else ""
    for column in shown:
        lines.append(
            f"   patch {column} (output position {_position(e, column)}) reads {padded}"
            f"{format_cells(e.patch_cells(column))}"
        )
    if e.num_positions > 6:
        lines.append(f"   … and {e.num_positions - 3} more")
    lines.append(
        f"4. P: each patch becomes one column, channel by channel, offsets in row-major order "
        f"(row = channel*{k_count} + offset); column l is output position l in row-major order."
    )
    product = "one product per group: K_g @ P_g" if g > 1 else "one product K @ P"
    if e.elided:
        lines.append(
            f"   P is {g} x {_shape(e.patches.shape[1:])} ({e.patches.size} entries, more than "
            f"{e.max_entries}): shown in part."
        )
    for group in _groups(g, lines):
        tag = f"_{group}" if g > 1 else ""
        span = format_span("input channel", group * cin, (group + 1) * cin - 1)
        channels = f" ({span})" if g > 1 else ""
        lines.append(f"   P{tag}: {_shape(e.patches[group].shape)}{channels}")
        lines.append(format_matrix(e.patches[group], "   "))
    lines.append(f"5. K: each filter flattened into one row ({product}).")
    for group in _groups(g, lines):
        tag = f"_{group}" if g > 1 else ""
        span = format_span("filter", group * cout, (group + 1) * cout - 1)
        filters = f" ({span})" if g > 1 else ""
        lines.append(f"   K{tag}: {_shape(e.kernels[group].shape)}{filters}")
        lines.append(format_matrix(e.kernels[group], "   "))
    lines.append("6. KP: the convolution as a matrix product.")
    for group in _groups(g, lines):
        tag = f"_{group}" if g > 1 else ""
        lines.append(f"   K{tag}P{tag}: {_shape(e.products[group].shape)}")
        lines.append(format_matrix(e.products[group], "   "))
    bias = " plus the bias" if e.bias is not None else ""
    lines.append(
        f"7. The output: KP reshaped to {geometry.out_channels} x {_shape(window.output_shape)} "
        f"(filters x {' x '.join(names)}){bias}; channels-last is the same numbers as "
        f"{_shape(window.output_shape)} x {geometry.out_channels}."
    )
    _spatial(e.output, "filter", names, lines)
    lines.append("8. The output size, per dim:")
    _formulas(e, lines)
    if e.kind == "conv_backward":
        _render_backward(e, lines)
    _checks(e, lines)
    return "\n".join(lines)


def _render_backward(e: Explanation, lines: list[str]) -> None:
    dy, dk, dp, dx, db = e.grad_output, e.grad_weight, e.grad_patches, e.grad_input, e.grad_bias
    if dy is None or dk is None or dp is None or dx is None or db is None:
        return
    names = dim_names(e.geometry.window.ndim)
    g = e.geometry.groups
    lines.append("Backward: the gradients are matrix products too.")
    for group in _groups(g, lines):
        tag = f"_{group}" if g > 1 else ""
        lines.append(f"9. dY{tag}, the gradient with respect to KP: {_shape(dy[group].shape)}")
        lines.append(format_matrix(dy[group], "   "))
        lines.append(f"10. dK{tag} = dY{tag} @ P{tag}^T: {_shape(dk[group].shape)}")
        lines.append(format_matrix(dk[group], "   "))
        lines.append(f"11. dP{tag} = K{tag}^T @ dY{tag}: {_shape(dp[group].shape)}")
        lines.append(format_matrix(dp[group], "   "))
    border = (
        " (padding folded back onto the cells it copied)" if e.geometry.window.is_padded else ""
    )
    lines.append(
        "12. dX = fold(dP): each column added back onto the cells its patch was read from" + border
    )
    _spatial(dx, "channel", names, lines)
    lines.append("13. db = dY summed over positions:")
    lines.append(format_matrix(db[np.newaxis], "   "))


def _render_transpose(e: Explanation) -> str:
    geometry, window = e.geometry, e.geometry.window
    names = dim_names(window.ndim)
    g = geometry.groups
    lines = [
        f"convmm explain: transposed convolution of a {_shape(e.input.shape)} input to "
        f"{_shape(e.output.shape)} (channels x {' x '.join(names)})",
        f"options: {_options(e)}",
        "",
        "1. X, the input:",
    ]
    _spatial(e.input, "channel", names, lines)
    lines.append(
        "2. K: the weight, one row per input channel (as the convolution it transposes "
        "flattens its filters)."
    )
    for group in _groups(g, lines):
        tag = f"_{group}" if g > 1 else ""
        lines.append(f"   K{tag}: {_shape(e.kernels[group].shape)}")
        lines.append(format_matrix(e.kernels[group], "   "))
    lines.append(
        "3. The columns K^T @ X: column l holds what input position l adds into the output."
    )
    for group in _groups(g, lines):
        tag = f"_{group}" if g > 1 else ""
        lines.append(f"   K{tag}^T X{tag}: {_shape(e.patches[group].shape)}")
        lines.append(format_matrix(e.patches[group], "   "))
    crop = f", less the cropped padding ({_padding_text(e)})" if window.is_padded else ""
    lines.append(
        f"4. Fold: column l adds into the output cells of window position l (stride "
        f"{format_index(window.stride)}, dilation {format_index(window.dilation)}){crop}."
    )
    shown = range(e.num_positions) if e.num_positions <= 6 else [0, 1, e.num_positions - 1]
    frame = "the uncropped output" if window.is_padded else "the output"
    for column in shown:
        lines.append(
            f"   column {column} (input position {_position(e, column)}) adds into "
            f"{format_cells(e.patch_cells(column))} of {frame}"
        )
    if e.num_positions > 6:
        lines.append(f"   … and {e.num_positions - 3} more")
    lines.append(f"5. The output{' plus the bias' if e.bias is not None else ''}:")
    _spatial(e.output, "channel", names, lines)
    lines.append("6. The output size, per dim:")
    _formulas(e, lines)
    _checks(e, lines)
    return "\n".join(lines)
