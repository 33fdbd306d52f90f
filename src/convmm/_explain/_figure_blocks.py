"""The figure's rows of blocks: a convolution (and its backward pass) and a transposed
convolution, top to bottom."""

from __future__ import annotations

from ._figure_arrays import (
    embed_padded,
    padding_mask,
    patch_outlines,
    position_colors,
    spatial_block,
    thumbnails_block,
)
from ._figure_draw import Mat, text_block
from ._figure_layout import NOTE_PT, TITLE_PT, Block, Style, format_shape
from ._figure_products import column_colors, group_tag, kernel_row_labels, product_block, row_block
from .describe import (
    backward_steps,
    dim_names,
    format_span,
    formula_lines,
    options_text,
    plan_line,
    title,
    transpose_steps,
)
from .model import Explanation

_MAX_GROUPS = 4  # groups whose products are drawn


def _checks(e: Explanation) -> str:
    parts = []
    for name, ok in e.checks.items():
        # a check that did not run says so briefly here; the text and the page say why
        parts.append(f"{name} {'not run' if ok is None else e.verdict(name)}")
    return "checked against: " + ", ".join(parts) if parts else ""


def _header(e: Explanation, style: Style) -> Block:
    lines: list[tuple[str, float, str]] = [
        (f"convmm explain: {title(e, ' x ')}", TITLE_PT, "bold"),
        (f"options: {options_text(e)}", NOTE_PT, "normal"),
    ]
    if e.geometry.batch > 1:
        lines.append((f"image {e.sample} of a batch of {e.geometry.batch}", NOTE_PT, "normal"))
    checks = _checks(e)
    if checks:
        lines.append((checks, NOTE_PT, "normal"))
    lines.append((plan_line(e), NOTE_PT, "normal"))
    colored = min(e.num_positions, style.max_patches)
    if colored < e.num_positions:
        lines.append(
            (
                f"colours mark the first {colored} of the {e.num_positions} patches "
                f"(columns); the others are not coloured",
                NOTE_PT,
                "normal",
            )
        )
    if style.elided_reason:
        lines.append((style.elided_reason, NOTE_PT, "normal"))
    return text_block(lines)


def _input_block(e: Explanation, style: Style, names: tuple[str, ...]) -> Block:
    window = e.geometry.window
    cin = e.geometry.in_channels_per_group
    groups = e.groups
    channel_names = [
        f"channel {c}" + (f" (group {c // cin})" if groups > 1 else "")
        for c in range(e.padded.shape[0])
    ]
    if window.is_padded:
        pads = ", ".join(
            f"{n} {b}+{a}" for n, (b, a) in zip(names, window.padding, strict=True) if b or a
        )
        caption = (
            f"X padded ({window.padding_mode}: {pads}): {format_shape(e.padded.shape)}"
            f" (input {format_shape(e.input.shape)})"
        )
        notes = ["shaded: the padding"]
    else:
        caption = f"X: {format_shape(e.input.shape)} (channels x {' x '.join(names)})"
        notes = []
    notes.append(
        f"outlined: the cells each patch reads ({format_shape(window.kernel_size)} kernel, "
        f"stride {format_shape(window.stride)}, dilation {format_shape(window.dilation)}), "
        "in the patch's colour"
    )
    return spatial_block(
        caption,
        e.padded,
        style,
        names,
        channel_names=channel_names,
        muted=padding_mask(e) if window.is_padded else None,
        outlines=patch_outlines(e, style),
        notes=notes,
    )


def _conv_products(e: Explanation, style: Style) -> list[Block]:
    window = e.geometry.window
    cin, cout = e.geometry.in_channels_per_group, e.geometry.out_channels_per_group
    colors = column_colors(e, style)
    blocks = []
    for g in range(min(e.groups, _MAX_GROUPS)):
        tag = group_tag(e, g)
        rows = e.patches.shape[1]
        channels = f" ({format_span('channel', g * cin, (g + 1) * cin - 1)})"
        filters = f" ({format_span('filter', g * cout, (g + 1) * cout - 1)})"
        channels, filters = (channels, filters) if e.groups > 1 else ("", "")
        blocks.append(
            product_block(
                style,
                left=Mat(e.kernels[g], col_sep=window.kernel_numel),
                top=Mat(e.patches[g], col_colors=colors, row_sep=window.kernel_numel),
                result=Mat(e.products[g], col_colors=colors),
                left_title=f"K{tag}{filters}: {format_shape(e.kernels[g].shape)}",
                top_title=f"P{tag} = unfold(X){channels}: {format_shape(e.patches[g].shape)}"
                + (", column l = patch l" if g == 0 else ""),
                result_title=f"K{tag}P{tag} = K{tag} · P{tag}: {format_shape(e.products[g].shape)}",
                top_row_labels=[(label, None) for label in kernel_row_labels(e, g, rows)],
                left_row_labels=[f"f{g * cout + f}" for f in range(cout)],
                column_headers=True,
            )
        )
    return blocks


def _groups_note(e: Explanation) -> list[Block]:
    """A note when only the first groups' products are drawn."""
    if e.groups <= _MAX_GROUPS:
        return []
    return [
        text_block(
            [
                (
                    f"{format_span('group', _MAX_GROUPS, e.groups - 1)} (of {e.groups}) "
                    f"{'is' if e.groups - 1 == _MAX_GROUPS else 'are'} not drawn: each is the "
                    "same product on its own channels",
                    NOTE_PT,
                    "normal",
                )
            ]
        )
    ]


def _output_block(e: Explanation, style: Style, names: tuple[str, ...]) -> Block:
    bias = " + bias" if e.bias is not None else ""
    return spatial_block(
        f"output = KP reshaped{bias}: {format_shape(e.output.shape)}",
        e.output,
        style,
        names,
        channel_names=[f"filter {c}" for c in range(e.output.shape[0])],
        cell_colors=position_colors(e, style),
        notes=["each cell in its patch's colour"],
    )


def _formula_block(e: Explanation, names: tuple[str, ...]) -> Block:
    """The output-size formula per dim, with its numbers (a transposed convolution's own)."""
    lines: list[tuple[str, float, str]] = [("output size, per dim:", NOTE_PT, "bold")]
    for general, numbers in formula_lines(e):
        lines.extend([(general, NOTE_PT, "normal"), (numbers, NOTE_PT, "normal")])
    return text_block(lines, mono=True)


def conv_rows(e: Explanation, style: Style) -> list[list[Block]]:
    geometry, window = e.geometry, e.geometry.window
    names = dim_names(window.ndim)
    first = [_input_block(e, style, names)]
    footprint = " (their footprint on the last two dims)" if window.ndim > 2 else ""
    thumbnails = thumbnails_block(
        e,
        style,
        "the patches one by one",
        f"patch l reads the filled cells{footprint}, of every input channel"
        + (" of its group" if geometry.groups > 1 else ""),
    )
    if thumbnails is not None:
        first.append(thumbnails)
    rows = [
        [_header(e, style)],
        first,
        _conv_products(e, style) + _groups_note(e),
        [_output_block(e, style, names), _formula_block(e, names)],
    ]
    if e.kind == "conv_backward":
        rows.extend(_backward_rows(e, style, names))
    return rows


def _backward_rows(e: Explanation, style: Style, names: tuple[str, ...]) -> list[list[Block]]:
    steps = backward_steps(e, "convmm explain (figure)")
    dy, dk, dp = steps.grad_output, steps.grad_weight, steps.grad_patches
    dx, db = steps.grad_input, steps.grad_bias
    window = e.geometry.window
    cout = e.geometry.out_channels_per_group
    colors = column_colors(e, style)
    intro = text_block(
        [
            ("Backward: the gradients are matrix products too", TITLE_PT, "bold"),
            (
                "dY is the gradient with respect to KP; dK = dY · Pᵀ, dP = Kᵀ · dY, "
                "dX = fold(dP), db = dY summed over positions",
                NOTE_PT,
                "normal",
            ),
        ]
    )
    rows: list[list[Block]] = [[intro]]
    for g in range(min(e.groups, _MAX_GROUPS)):
        tag = group_tag(e, g)
        n_rows = e.patches.shape[1]
        row_labels = kernel_row_labels(e, g, n_rows)
        rows.append(
            [
                product_block(
                    style,
                    left=Mat(dy[g], col_colors=colors),
                    top=Mat(
                        e.patches[g].T,
                        row_colors=colors,
                        col_sep=window.kernel_numel,
                    ),
                    result=Mat(dk[g], col_sep=window.kernel_numel),
                    left_title=f"dY{tag}: {format_shape(dy[g].shape)}",
                    top_title=f"P{tag}ᵀ: {format_shape(e.patches[g].T.shape)}",
                    result_title=f"dK{tag} = dY{tag} · P{tag}ᵀ: {format_shape(dk[g].shape)}",
                    top_row_labels=[(str(i), colors.get(i)) for i in range(e.patches.shape[2])],
                    left_row_labels=[f"f{g * cout + f}" for f in range(cout)],
                ),
                product_block(
                    style,
                    left=Mat(e.kernels[g].T, row_sep=window.kernel_numel),
                    top=Mat(dy[g], col_colors=colors),
                    result=Mat(dp[g], col_colors=colors, row_sep=window.kernel_numel),
                    left_title=f"K{tag}ᵀ: {format_shape(e.kernels[g].T.shape)}",
                    top_title=f"dY{tag}: {format_shape(dy[g].shape)}",
                    result_title=f"dP{tag} = K{tag}ᵀ · dY{tag}: {format_shape(dp[g].shape)}",
                    top_row_labels=[(f"f{g * cout + f}", None) for f in range(cout)],
                    left_row_labels=row_labels,
                    column_headers=True,
                ),
            ]
        )
    padded = window.is_padded
    notes = ["column l of dP is added onto the cells outlined in patch l's colour"]
    if padded:
        fold_note = (
            "shaded: the padding (its gradient is dropped)"
            if window.padding_mode == "zeros"
            else f"shaded: the padding ({window.padding_mode}: folded back onto the cells it "
            "copied)"
        )
        notes.append(fold_note)
    dx_block = spatial_block(
        f"dX = fold(dP): {format_shape(dx.shape)}",
        embed_padded(e, dx) if padded else dx,
        style,
        names,
        channel_names=[f"channel {c}" for c in range(dx.shape[0])],
        muted=padding_mask(e) if padded else None,
        outlines=patch_outlines(e, style),
        notes=notes,
    )
    db_block = row_block(
        f"db = dY summed over positions: {format_shape(db.shape)}",
        db,
        style,
        [f"f{f}" for f in range(db.shape[0])],
    )
    rows.append([*_groups_note(e), dx_block, db_block])
    return rows


def transpose_rows(e: Explanation, style: Style) -> list[list[Block]]:
    steps = transpose_steps(e, "convmm explain (figure)")
    geometry, window = e.geometry, e.geometry.window
    names = dim_names(window.ndim)
    cog = geometry.out_channels_per_group
    colors = column_colors(e, style)
    x_block = spatial_block(
        f"X: {format_shape(e.input.shape)}",
        e.input,
        style,
        names,
        channel_names=[f"channel {c}" for c in range(e.input.shape[0])],
        cell_colors=position_colors(e, style),
        notes=["input position l in column l's colour"],
    )
    first = [x_block]
    thumbnails = thumbnails_block(
        e,
        style,
        "the columns one by one",
        "column l adds into the filled cells of the output before the padding is cropped"
        + (" (their footprint on the last two dims)" if window.ndim > 2 else ""),
    )
    if thumbnails is not None:
        first.append(thumbnails)
    products = []
    for g in range(min(e.groups, _MAX_GROUPS)):
        tag = group_tag(e, g)
        kt = e.kernels[g].T
        products.append(
            product_block(
                style,
                left=Mat(kt, row_sep=window.kernel_numel),
                top=Mat(steps.input_groups[g], col_colors=colors),
                result=Mat(steps.columns[g], col_colors=colors, row_sep=window.kernel_numel),
                left_title=f"K{tag}ᵀ: {format_shape(kt.shape)}",
                top_title=(
                    f"X{tag}, one column per position: {format_shape(steps.input_groups[g].shape)}"
                ),
                result_title=f"K{tag}ᵀ · X{tag}: {format_shape(steps.columns[g].shape)}",
                top_row_labels=[(f"c{g * cog + i}", None) for i in range(cog)],
                left_row_labels=kernel_row_labels(e, g, kt.shape[0]),
                column_headers=True,
            )
        )
    padded = window.is_padded
    notes = ["column l of Kᵀ·X is added onto the cells outlined in its colour"]
    if padded:
        notes.append("shaded: cropped by the padding")
    bias = " + bias" if e.bias is not None else ""
    output = spatial_block(
        f"output = fold(Kᵀ · X){bias}: {format_shape(e.output.shape)}",
        embed_padded(e, e.output) if padded else e.output,
        style,
        names,
        channel_names=[f"channel {c}" for c in range(e.output.shape[0])],
        muted=padding_mask(e) if padded else None,
        outlines=patch_outlines(e, style),
        notes=notes,
    )
    return [
        [_header(e, style)],
        first,
        products + _groups_note(e),
        [output, _formula_block(e, names)],
    ]
