"""The text renderer: the walkthrough as aligned matrices for a terminal."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._geometry import OutputSizeTerms
from .model import Explanation

__all__ = ["dim_names", "format_formula", "format_matrix", "render_text"]

#: The most rows or columns of a matrix shown before the middle is elided.
MAX_SHOWN = 16
#: The most channels (and 3-D slices) of an array, and groups of a product, shown.
MAX_CHANNELS, MAX_GROUPS = 4, 3


def dim_names(ndim: int) -> tuple[str, ...]:
    """Names for the spatial dims: L; H, W; D, H, W; else d0, d1, ..."""
    return {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(
        ndim, tuple(f"d{i}" for i in range(ndim))
    )


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
    lines.append("Checks:")
    for name in e.checks:
        lines.append(f"   {name}: {e.verdict(name)}")


def _position(e: Explanation, column: int) -> str:
    return "(" + ", ".join(map(str, e.position(column))) + ")"


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
        f"{' x '.join(names)}) with {geometry.out_channels} filter(s) of "
        f"{cin} x {_shape(window.kernel_size)}"
    )
    lines.append(f"options: {_options(e)}")
    if geometry.batch > 1:
        lines.append(f"(image {e.sample} of a batch of {geometry.batch}; each image is the same)")
    lines.append("")
    lines.append("1. X, the input:")
    _spatial(e.input, "channel", names, lines)
    if window.is_padded:
        pads = "; ".join(
            f"{n}: {b} before, {a} after" for n, (b, a) in zip(names, window.padding, strict=True)
        )
        lines.append(
            f"2. X padded ({window.padding_mode}) to {_shape(window.padded_shape)} — {pads}:"
        )
        _spatial(e.padded, "channel", names, lines)
    else:
        lines.append("2. No padding.")
    kernel, k_count = window.kernel_size, window.kernel_numel
    lines.append(
        f"3. The patches: the {_shape(kernel)} window (dilation {window.dilation}) slides with "
        f"stride {window.stride}; {e.num_positions} positions ({_shape(window.output_shape)})."
    )
    shown = range(e.num_positions) if e.num_positions <= 6 else [0, 1, e.num_positions - 1]
    for column in shown:
        cells = e.patch_cells(column)
        lines.append(
            f"   patch {column} (output position {_position(e, column)}) reads padded cells "
            f"{cells[0]} … {cells[-1]}"
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
        channels = f" (input channels {group * cin}..{(group + 1) * cin - 1})" if g > 1 else ""
        lines.append(f"   P{tag}: {_shape(e.patches[group].shape)}{channels}")
        lines.append(format_matrix(e.patches[group], "   "))
    lines.append(f"5. K: each filter flattened into one row ({product}).")
    for group in _groups(g, lines):
        tag = f"_{group}" if g > 1 else ""
        filters = f" (filters {group * cout}..{(group + 1) * cout - 1})" if g > 1 else ""
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
    for name, terms in zip(names, e.formula(), strict=True):
        lines.append("   " + format_formula(name, terms).replace("\n", "\n   "))
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
    lines.append(
        f"4. Fold: column l adds into the output cells of window position l (stride "
        f"{window.stride}, dilation {window.dilation}), less the cropped padding "
        f"{window.padding}."
    )
    shown = range(e.num_positions) if e.num_positions <= 6 else [0, 1, e.num_positions - 1]
    for column in shown:
        cells = e.patch_cells(column)
        lines.append(
            f"   column {column} (input position {_position(e, column)}) adds into cells "
            f"{cells[0]} … {cells[-1]} of the uncropped output"
        )
    lines.append(f"5. The output{' plus the bias' if e.bias is not None else ''}:")
    _spatial(e.output, "channel", names, lines)
    lines.append("6. The output size, per dim:")
    for name, n, out, s, (b, a), d, k in zip(
        names,
        window.output_shape,
        window.input_shape,
        window.stride,
        window.padding,
        window.dilation,
        window.kernel_size,
        strict=True,
    ):
        extra = out - ((n - 1) * s - b - a + d * (k - 1) + 1)
        lines.append(
            f"   {name}_out = ({name}_in - 1)*stride - pad_before - pad_after"
            f" + dilation*(kernel - 1) + output_padding + 1\n"
            f"         = ({n} - 1)*{s} - {b} - {a} + {d}*({k} - 1) + {extra} + 1 = {out}"
        )
    _checks(e, lines)
    return "\n".join(lines)
