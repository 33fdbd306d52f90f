"""The figure's spatial arrays (X, the output, dX): channels and slices as panels, patch
outlines and colours, and the patches drawn one by one.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._figure_draw import (
    COLORBAR_H,
    MUTED_INK,
    PAD_FILL,
    RGB,
    Mat,
    Outline,
    draw_colorbar,
    draw_matrix,
    draw_outline,
    index_runs,
    patch_color,
    put_text,
    tint,
)
from ._figure_layout import (
    LABEL_PT,
    NOTE_PT,
    SMALL_PT,
    Block,
    Style,
    cell_labels,
    format_shape,
    line_height,
    text_width,
    wrap_lines,
)
from .describe import dim_names, format_indices
from .model import Explanation

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_MAX_CHANNELS = 4  # channels drawn of a spatial array
_MAX_SLICES = 4  # slices drawn of a 3-D (or more) spatial array
_MAX_THUMBNAILS = 24  # patches drawn one by one


def spatial_block(
    title: str,
    values: np.ndarray,
    style: Style,
    names: tuple[str, ...],
    *,
    channel_names: Sequence[str],
    muted: np.ndarray | None = None,
    cell_colors: dict[tuple[int, ...], RGB] | None = None,
    outlines: Sequence[Outline] = (),
    notes: Sequence[str] = (),
) -> Block:
    """A (C, *spatial) array: 2-D channels side by side, 1-D channels one row each, 3-D and up
    one row of slices per channel (the first few, with a note)."""
    channels, spatial = values.shape[0], values.shape[1:]
    nd = len(spatial)
    lead_shape = spatial[:-2] if nd >= 2 else ()
    rows, cols = (1, spatial[0]) if nd == 1 else (spatial[-2], spatial[-1])
    leads = list(np.ndindex(*lead_shape))
    shown_channels = list(range(min(channels, _MAX_CHANNELS)))
    shown_leads = leads[:_MAX_SLICES]
    planes = values.reshape(channels, len(leads), rows, cols)
    mask = None if muted is None else muted.reshape(len(leads), rows, cols)
    notes = list(notes)
    if len(shown_channels) < channels:
        notes.append(f"showing channels 0..{len(shown_channels) - 1} of {channels}")
    if len(shown_leads) < len(leads):
        last = ", ".join(f"{n}={i}" for n, i in zip(names, shown_leads[-1], strict=False))
        notes.append(f"showing slices up to {last} of {format_shape(lead_shape)}")

    if style.numbers:
        cw = style.column_width(cell_labels(values.reshape(-1, cols)))
        ch = style.cell
    else:
        cw = min(style.cell, (10.0 if nd == 1 else 3.0) / cols)
        ch = min(style.cell, 3.0 / rows)
    panel_w, panel_h = cols * cw, rows * ch

    def lead_name(lead: tuple[int, ...]) -> str:
        return ", ".join(f"{n}={i}" for n, i in zip(names, lead, strict=False))

    # The grid of panels: (row, column) -> (channel, lead index).
    grid: list[list[tuple[int, int]]]
    top: list[str] = []
    left: list[str] = []
    if nd == 2:
        grid = [[(c, 0) for c in shown_channels]]
        top = [channel_names[c] for c in shown_channels]
    elif nd == 1:
        grid = [[(c, 0)] for c in shown_channels]
        left = [channel_names[c] for c in shown_channels]
    else:
        grid = [[(c, i) for i in range(len(shown_leads))] for c in shown_channels]
        top = [lead_name(lead) for lead in shown_leads]
        left = [channel_names[c] for c in shown_channels]
    top_h = line_height(SMALL_PT) if top else 0.0
    left_w = max((text_width(t, SMALL_PT) for t in left), default=0.0)
    left_w = left_w + 0.1 if left else 0.0
    pitch_x = max([panel_w, *(text_width(t, SMALL_PT) for t in top)]) + 0.22
    # heatmaps get a colour bar under each panel (each panel has its own scale)
    bars = 0.0 if style.numbers else COLORBAR_H
    panel_h += bars
    pitch_y = panel_h + (0.12 if nd == 1 else 0.22)
    title_h = line_height(LABEL_PT)
    n_cols = len(grid[0])
    width = max(left_w + pitch_x * n_cols - 0.22, text_width(title, LABEL_PT))
    notes = wrap_lines(notes, max(width, 3.5), NOTE_PT)
    width = max(width, *(text_width(n, NOTE_PT) for n in notes))
    height = title_h + top_h + pitch_y * len(grid) - (pitch_y - panel_h)
    height += sum(line_height(NOTE_PT) for _ in notes) + (0.06 if notes else 0.0)

    # Cells -> (lead index, row, column) of a panel.
    def where(cell: tuple[int, ...]) -> tuple[int, int, int]:
        if nd == 1:
            return 0, 0, cell[0]
        lead = int(np.ravel_multi_index(cell[:-2], lead_shape)) if nd > 2 else 0
        return lead, cell[-2], cell[-1]

    plane_colors: dict[int, dict[tuple[int, int], RGB]] = {}
    for cell, color in (cell_colors or {}).items():
        lead, r, c = where(cell)
        plane_colors.setdefault(lead, {})[(r, c)] = color

    def draw(ax: Axes, x: float, y: float) -> None:
        put_text(ax, x, y, title, LABEL_PT, weight="bold")
        y0 = y + title_h + top_h
        for j, label in enumerate(top):
            put_text(ax, x + left_w + j * pitch_x, y0 - 0.03, label, SMALL_PT, va="bottom")
        for i, row in enumerate(grid):
            py = y0 + i * pitch_y
            if left:
                put_text(ax, x, py + panel_h / 2, left[i], SMALL_PT, va="center")
            for j, (channel, lead_index) in enumerate(row):
                px = x + left_w + j * pitch_x
                lead = leads.index(shown_leads[lead_index]) if nd > 2 else 0
                m = Mat(
                    planes[channel, lead],
                    cell_colors=plane_colors.get(lead, {}),
                    muted=None if mask is None else mask[lead],
                )
                draw_matrix(ax, m, px, py, cw, ch, style)
                if bars:
                    draw_colorbar(ax, m.values, px, py + rows * ch + 0.05, min(cols * cw, 1.4))
                for outline in outlines:
                    draw_outline(ax, outline, lead, where, px, py, cw, ch, style)
        ny = y0 + pitch_y * len(grid) - (pitch_y - panel_h) + 0.06
        for note in notes:
            put_text(ax, x, ny, note, NOTE_PT, color=MUTED_INK)
            ny += line_height(NOTE_PT)

    return Block(width, height, draw)


def thumbnails_block(e: Explanation, style: Style, title: str, note: str) -> Block | None:
    """The first patches one by one, as the seed article draws them: a small copy of the padded
    grid per patch with the cells it reads filled in its colour (3-D and up: their footprint on
    the last two dims).  2-D and up are arranged like the output positions, 1-D one per row."""
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Rectangle

    window = e.geometry.window
    count = min(e.num_positions, style.max_patches, _MAX_THUMBNAILS)
    if count == 0:
        return None
    nd = window.ndim
    shape = window.padded_shape
    rows, cols = (1, shape[0]) if nd == 1 else (shape[-2], shape[-1])
    pad = padding_mask(e).reshape(-1, rows, cols).all(axis=0)
    if nd == 1:
        cw, ch = min(0.2, 5.0 / cols), 0.16
        grid_cols = 1
    else:
        cw = ch = min(0.13, 0.8 / max(rows, cols))
        grid_cols = min(window.output_shape[-1], count)
    grid_rows = math.ceil(count / grid_cols)
    label_pt = SMALL_PT
    label_w = text_width(str(count - 1), label_pt) + 0.08 if nd == 1 else 0.0
    label_h = 0.0 if nd == 1 else line_height(label_pt)
    pitch_x = cols * cw + 0.12
    pitch_y = rows * ch + label_h + (0.06 if nd == 1 else 0.08)
    title_lines = wrap_lines([title], max(label_w + pitch_x * grid_cols, 2.5), LABEL_PT)
    notes = wrap_lines([note], max(label_w + pitch_x * grid_cols, 2.5), NOTE_PT)
    width = max(
        label_w + pitch_x * grid_cols - 0.12,
        *(text_width(t, LABEL_PT) for t in title_lines),
        *(text_width(n, NOTE_PT) for n in notes),
    )
    title_h = line_height(LABEL_PT) * len(title_lines)
    height = title_h + pitch_y * grid_rows + line_height(NOTE_PT) * len(notes)

    def draw(ax: Axes, x: float, y: float) -> None:
        for i, line in enumerate(title_lines):
            put_text(ax, x, y + i * line_height(LABEL_PT), line, LABEL_PT, weight="bold")
        y0 = y + title_h
        for column in range(count):
            color = patch_color(column)
            px = x + label_w + (column % grid_cols) * pitch_x
            py = y0 + (column // grid_cols) * pitch_y
            rgb = np.ones((rows, cols, 3))
            rgb[pad] = PAD_FILL
            rows_read: set[int] = set()
            cols_read: set[int] = set()
            for cell in e.patch_cells(column):
                rows_read.add(0 if nd == 1 else cell[-2])
                cols_read.add(cell[-1])
            # Filled rectangles (not image pixels), so a patch stays visible however small.
            for r0, nr in index_runs(rows_read):
                for c0, nc in index_runs(cols_read):
                    ax.add_patch(
                        Rectangle(
                            (px + c0 * cw, py + r0 * ch),
                            max(nc * cw, 0.03),
                            max(nr * ch, 0.03),
                            facecolor=tint(color, 0.75),
                            linewidth=0,
                            zorder=1.5,
                        )
                    )
            ax.imshow(
                rgb,
                extent=(px, px + cols * cw, py + rows * ch, py),
                interpolation="nearest",
                aspect="auto",
                zorder=1,
            )
            if min(cw, ch) >= 0.08:
                lines = [[(px + c * cw, py), (px + c * cw, py + rows * ch)] for c in range(1, cols)]
                lines += [
                    [(px, py + r * ch), (px + cols * cw, py + r * ch)] for r in range(1, rows)
                ]
                ax.add_collection(LineCollection(lines, colors="#c8c8c8", linewidths=0.5, zorder=2))
            ax.add_patch(
                Rectangle(
                    (px, py),
                    cols * cw,
                    rows * ch,
                    fill=False,
                    edgecolor=color,
                    linewidth=1.2,
                    zorder=3,
                )
            )
            label = str(column)
            if nd == 3:
                cells = e.patch_cells(column)
                label += f" ({dim_names(3)[0]} {format_indices([c[0] for c in cells])})"
            if nd == 1:
                put_text(
                    ax,
                    px - 0.08,
                    py + ch / 2,
                    label,
                    label_pt,
                    ha="right",
                    va="center",
                    color=color,
                    weight="bold",
                )
            else:
                put_text(
                    ax,
                    px + cols * cw / 2,
                    py + rows * ch + 0.02,
                    label,
                    label_pt,
                    ha="center",
                    color=color,
                    weight="bold",
                )
        ny = y0 + pitch_y * grid_rows
        for n in notes:
            put_text(ax, x, ny, n, NOTE_PT, color=MUTED_INK)
            ny += line_height(NOTE_PT)

    return Block(width, height, draw)


def _insets(e: Explanation, columns: int) -> list[float]:
    """Per column, how far inside its cells its outline runs (fractions of a cell).

    Neighbouring patches that overlap get different insets, so their outlines don't coincide.
    """
    window = e.geometry.window
    dims = range(max(0, window.ndim - 2), window.ndim)
    cap = 4 if window.ndim == 1 else 2
    radix = [
        max(
            1,
            min(
                cap,
                math.ceil(
                    (window.dilation[d] * (window.kernel_size[d] - 1) + 1) / window.stride[d]
                ),
            ),
        )
        for d in dims
    ]
    levels = math.prod(radix)
    step = 0.18 / max(levels - 1, 1)
    insets = []
    for column in range(columns):
        position = e.position(column)
        level = 0
        for d, m in zip(dims, radix, strict=True):
            level = level * m + position[d] % m
        insets.append(0.04 + step * level)
    return insets


def padding_mask(e: Explanation) -> np.ndarray:
    """Whether each cell of the padded input lies in the padding."""
    window = e.geometry.window
    inside = [
        (np.arange(p) >= before) & (np.arange(p) < before + n)
        for p, (before, _), n in zip(
            window.padded_shape, window.padding, window.input_shape, strict=True
        )
    ]
    ndim = window.ndim
    axes = [a.reshape([-1 if i == d else 1 for i in range(ndim)]) for d, a in enumerate(inside)]
    inner: np.ndarray = functools.reduce(np.logical_and, axes)
    return np.broadcast_to(~inner, window.padded_shape)


def embed_padded(e: Explanation, values: np.ndarray) -> np.ndarray:
    """A (C, *input_shape) array placed in the padded shape, NaN in the padding."""
    window = e.geometry.window
    out = np.full((values.shape[0], *window.padded_shape), np.nan)
    inner = tuple(
        slice(before, before + n)
        for (before, _), n in zip(window.padding, window.input_shape, strict=True)
    )
    out[(slice(None),) + inner] = values
    return out


def patch_outlines(e: Explanation, style: Style) -> list[Outline]:
    count = min(e.num_positions, style.max_patches)
    insets = _insets(e, count)
    return [Outline(patch_color(i), e.patch_cells(i), insets[i]) for i in range(count)]


def position_colors(e: Explanation, style: Style) -> dict[tuple[int, ...], RGB]:
    """Output positions (spatial) -> their patch's colour, for the coloured patches."""
    return {e.position(i): patch_color(i) for i in range(min(e.num_positions, style.max_patches))}
