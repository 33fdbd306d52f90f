"""The text renderer: the walkthrough as aligned matrices for a terminal."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .describe import (
    backward_steps,
    count,
    dim_names,
    format_cells,
    format_index,
    format_span,
    formula_lines,
    keep,
    options_text,
    plan_line,
    shape_text,
    title,
    transpose_steps,
)
from .model import Explanation

__all__ = ["MAX_CHANNELS", "MAX_GROUPS", "MAX_SHOWN", "format_matrix", "render_text"]

#: The most rows or columns of a matrix shown before the middle is elided.
MAX_SHOWN = 16
#: The most channels (and 3-D slices) of an array, and groups of a product, shown.
MAX_CHANNELS, MAX_GROUPS = 4, 3


def _cell(value: float, integral: bool) -> str:
    return f"{value:.0f}" if integral else f"{value:.4g}"


def format_matrix(a: np.ndarray, indent: str = "  ", limit: int = MAX_SHOWN) -> str:
    """A 2-D array as aligned rows; more than ``limit`` rows or columns elide the middle."""
    values = np.atleast_2d(np.asarray(a, dtype=np.float64))
    finite = values[np.isfinite(values)]
    integral = bool(np.all(finite == np.round(finite)))
    rows, cols = keep(values.shape[0], limit), keep(values.shape[1], limit)
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


def _formulas(e: Explanation, lines: list[str]) -> None:
    for general, numbers in formula_lines(e):
        lines.append(f"   {general}\n   {numbers}")


def _shape_x(shape: Sequence[int]) -> str:
    return shape_text(shape, " x ")


def _spatial(a: np.ndarray, label: str, names: tuple[str, ...], lines: list[str]) -> None:
    """A (C, *spatial) array, channel by channel; 3-D and up slice by slice.

    More than ``MAX_CHANNELS`` channels (or slices) show the first and the last few.
    """
    for c in keep(a.shape[0], MAX_CHANNELS):
        if c is None:
            lines.append(f" … {a.shape[0] - MAX_CHANNELS + 1} more {label}s of the {a.shape[0]}")
            continue
        plane = a[c]
        if plane.ndim <= 2:
            lines.append(f" {label} {c}:")
            lines.append(format_matrix(np.atleast_2d(plane)))
            continue
        slices = list(np.ndindex(*plane.shape[:-2]))
        for i in keep(len(slices), MAX_CHANNELS):
            if i is None:
                lines.append(f"  … {len(slices) - MAX_CHANNELS + 1} more slices of {label} {c}")
                continue
            where = ", ".join(f"{n}={j}" for n, j in zip(names, slices[i], strict=False))
            lines.append(f" {label} {c}, slice {where}:")
            lines.append(format_matrix(plane[slices[i]]))


def _groups(g: int, lines: list[str], indent: str = "   ") -> list[int]:
    """The groups to show (the first and the last of many), noting the others in ``lines``."""
    shown = [group for group in keep(g, MAX_GROUPS) if group is not None]
    if len(shown) < g:
        names = ", ".join(map(str, shown))
        lines.append(
            f"{indent}(groups {names} of {g} shown; each of the others is the same product on "
            f"its own channels and filters)"
        )
    return shown


def _checks(e: Explanation, lines: list[str]) -> None:
    lines.append(plan_line(e))
    lines.append("Checks:")
    for name in e.checks:
        lines.append(f"   {name}: {e.verdict(name)}")


def _position(e: Explanation, column: int) -> str:
    return format_index(e.position(column))


def _positions(e: Explanation) -> str:
    """'5 positions', and their shape in more than one dim: '9 positions (3 x 3)'."""
    window = e.geometry.window
    shape = f" ({_shape_x(window.output_shape)})" if window.ndim > 1 else ""
    return count(e.num_positions, "position") + shape


def _padding_text(e: Explanation) -> str:
    """'H: 1 before, 0 after; W: 2 before, 2 after'."""
    window = e.geometry.window
    names = dim_names(window.ndim)
    return "; ".join(
        f"{n}: {b} before, {a} after" for n, (b, a) in zip(names, window.padding, strict=True)
    )


def render_text(e: Explanation) -> str:
    """The whole walkthrough as text."""
    if e.kind == "conv_transpose":
        return _render_transpose(e)
    lines: list[str] = []
    geometry, window = e.geometry, e.geometry.window
    names = dim_names(window.ndim)
    g, cin, cout = geometry.groups, geometry.in_channels_per_group, geometry.out_channels_per_group
    lines.append(f"convmm explain: {title(e, ' x ')}")
    lines.append(f"options: {options_text(e)}")
    if geometry.batch > 1:
        lines.append(f"(image {e.sample} of a batch of {geometry.batch}; each image is the same)")
    lines.append("")
    lines.append("1. X, the input:")
    _spatial(e.input, "channel", names, lines)
    if window.is_padded:
        lines.append(
            f"2. X padded ({window.padding_mode}) to {_shape_x(window.padded_shape)} — "
            f"{_padding_text(e)}:"
        )
        _spatial(e.padded, "channel", names, lines)
    else:
        lines.append("2. No padding.")
    kernel, k_count = window.kernel_size, window.kernel_numel
    lines.append(
        f"3. The patches: the {_shape_x(kernel)} window (dilation {format_index(window.dilation)}) "
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
            f"   P is {g} x {_shape_x(e.patches.shape[1:])} ({e.patches.size} entries, more than "
            f"{e.max_entries}): shown in part."
        )
    for group in _groups(g, lines):
        tag = f"_{group}" if g > 1 else ""
        span = format_span("input channel", group * cin, (group + 1) * cin - 1)
        channels = f" ({span})" if g > 1 else ""
        lines.append(f"   P{tag}: {_shape_x(e.patches[group].shape)}{channels}")
        lines.append(format_matrix(e.patches[group], "   "))
    lines.append(f"5. K: each filter flattened into one row ({product}).")
    for group in _groups(g, lines):
        tag = f"_{group}" if g > 1 else ""
        span = format_span("filter", group * cout, (group + 1) * cout - 1)
        filters = f" ({span})" if g > 1 else ""
        lines.append(f"   K{tag}: {_shape_x(e.kernels[group].shape)}{filters}")
        lines.append(format_matrix(e.kernels[group], "   "))
    lines.append("6. KP: the convolution as a matrix product.")
    for group in _groups(g, lines):
        tag = f"_{group}" if g > 1 else ""
        lines.append(f"   K{tag}P{tag}: {_shape_x(e.products[group].shape)}")
        lines.append(format_matrix(e.products[group], "   "))
    bias = " plus the bias" if e.bias is not None else ""
    lines.append(
        f"7. The output: KP reshaped to {geometry.out_channels} x {_shape_x(window.output_shape)} "
        f"(filters x {' x '.join(names)}){bias}; channels-last is the same numbers as "
        f"{_shape_x(window.output_shape)} x {geometry.out_channels}."
    )
    _spatial(e.output, "filter", names, lines)
    lines.append("8. The output size, per dim:")
    _formulas(e, lines)
    if e.kind == "conv_backward":
        _render_backward(e, lines)
    _checks(e, lines)
    return "\n".join(lines)


def _render_backward(e: Explanation, lines: list[str]) -> None:
    steps = backward_steps(e, "convmm explain (text)")
    dy, dk, dp = steps.grad_output, steps.grad_weight, steps.grad_patches
    dx, db = steps.grad_input, steps.grad_bias
    names = dim_names(e.geometry.window.ndim)
    g = e.geometry.groups
    lines.append("Backward: the gradients are matrix products too.")
    for group in _groups(g, lines):
        tag = f"_{group}" if g > 1 else ""
        lines.append(f"9. dY{tag}, the gradient with respect to KP: {_shape_x(dy[group].shape)}")
        lines.append(format_matrix(dy[group], "   "))
        lines.append(f"10. dK{tag} = dY{tag} @ P{tag}^T: {_shape_x(dk[group].shape)}")
        lines.append(format_matrix(dk[group], "   "))
        lines.append(f"11. dP{tag} = K{tag}^T @ dY{tag}: {_shape_x(dp[group].shape)}")
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
    steps = transpose_steps(e, "convmm explain (text)")
    geometry, window = e.geometry, e.geometry.window
    names = dim_names(window.ndim)
    g = geometry.groups
    lines = [
        f"convmm explain: {title(e, ' x ')}",
        f"options: {options_text(e)}",
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
        lines.append(f"   K{tag}: {_shape_x(e.kernels[group].shape)}")
        lines.append(format_matrix(e.kernels[group], "   "))
    lines.append(
        "3. The columns K^T @ X: column l holds what input position l adds into the output."
    )
    for group in _groups(g, lines):
        tag = f"_{group}" if g > 1 else ""
        lines.append(f"   K{tag}^T X{tag}: {_shape_x(steps.columns[group].shape)}")
        lines.append(format_matrix(steps.columns[group], "   "))
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
