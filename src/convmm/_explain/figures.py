"""The figure renderer: the walkthrough drawn with matplotlib, saved as PNG or SVG.

One figure shows, top to bottom: the (padded) input X with each patch outlined in its own
colour; then, per group, the product laid out as a hand multiplication (P above KP and K to the
left of KP, so that P's columns line up with KP's and K's rows with KP's); then the output with
each cell in its patch's colour, and the output-size formula.  Patch ``l``'s colour marks its
cells in X, column ``l`` of P and of KP, and output cell ``l``.  A transposed convolution shows
X, Kᵀ·X and the fold into the output; a backward pass adds dK = dY·Pᵀ, dP = Kᵀ·dY and
dX = fold(dP).

Everything is drawn on one axes whose data unit is the inch: the layout is computed here (text
widths estimated from character counts), so the figure's size does not depend on the fonts.
matplotlib is imported only inside the functions (``pip install convmm[figures]``).
"""

from __future__ import annotations

import functools
import math
import os
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ConvmmTypeError, ConvmmValueError
from .model import Explanation
from .text import count, dim_names, format_formula, format_indices, format_span

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "DEFAULT_DPI",
    "DEFAULT_MAX_PATCHES",
    "PATCH_COLORS",
    "draw_figure",
    "patch_color",
    "save_figure",
    "tint",
]

#: How many patches get a colour (the first ones, in column order).
DEFAULT_MAX_PATCHES = 12

#: Resolution of a saved PNG.
DEFAULT_DPI = 150

#: The suffixes ``save_figure`` knows (the format follows the suffix).
SUFFIXES = (".png", ".svg")

#: Patch colours, used in turn (and again from the start past the twelfth).
PATCH_COLORS: tuple[str, ...] = (
    "#e6194b",
    "#4363d8",
    "#3cb44b",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#469990",
    "#9a6324",
    "#800000",
    "#000075",
    "#808000",
)

RGB = tuple[float, float, float]

_TINT = 0.4  # how much of a patch colour tints a cell's background
_PAD_FILL: RGB = (0.86, 0.86, 0.86)
_GRID = "#b4b4b4"
_EDGE = "#3a3a3a"
_INK = "#111111"
_MUTED_INK = "#6e6e6e"
_TITLE_PT = 12.0
_LABEL_PT = 9.5
_NOTE_PT = 8.5
_SMALL_PT = 7.0
_MARGIN = 0.3  # inches around the figure
_GAP = 0.35  # inches between blocks
_BAR = 0.07  # inches: the colour bars beside a heatmap
_MAX_CHANNELS = 4  # channels drawn of a spatial array
_MAX_SLICES = 4  # slices drawn of a 3-D (or more) spatial array
_MAX_THUMBNAILS = 24  # patches drawn one by one
_MAX_GROUPS = 4  # groups whose products are drawn


def patch_color(index: int) -> RGB:
    """Patch ``index``'s colour, as RGB floats in [0, 1]."""
    code = PATCH_COLORS[index % len(PATCH_COLORS)]
    r, g, b = (int(code[i : i + 2], 16) / 255.0 for i in (1, 3, 5))
    return (r, g, b)


def tint(color: RGB, amount: float = _TINT) -> RGB:
    """``color`` mixed with white (``amount`` of the colour): a cell background."""
    r, g, b = (1.0 - amount * (1.0 - c) for c in color)
    return (r, g, b)


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(
            "convmm's explain figures need matplotlib: pip install matplotlib "
            "(or pip install 'convmm[figures]')"
        ) from exc


# ---- text and sizes -------------------------------------------------------------------------


def _text_width(text: str, pt: float, mono: bool = False) -> float:
    """An upper estimate of a one-line text's width in inches (DejaVu's advance widths)."""
    return len(text) * pt / 72.0 * (0.61 if mono else 0.64)


def _wrap(lines: Sequence[str], width: float, pt: float) -> list[str]:
    """Lines wrapped to about ``width`` inches."""
    chars = max(20, int(width / (pt * 0.64 / 72.0)))
    return [part for line in lines for part in textwrap.wrap(line, chars) or [""]]


def _line_height(pt: float) -> float:
    return pt * 1.45 / 72.0


def _shape(shape: Sequence[int]) -> str:
    return " x ".join(map(str, shape))


def _formatter(values: np.ndarray) -> Callable[[float], str]:
    finite = values[np.isfinite(values)]
    if finite.size == 0 or (
        bool(np.all(finite == np.round(finite))) and float(np.max(np.abs(finite))) < 1e7
    ):
        return lambda v: f"{v + 0.0:.0f}"
    return lambda v: f"{v + 0.0:.3g}"


def _labels(values: np.ndarray) -> list[list[str]]:
    """Each entry of a 2-D array as text ('' for NaN)."""
    fmt = _formatter(values)
    return [["" if math.isnan(v) else fmt(v) for v in row] for row in values.tolist()]


def _widest(labels: list[list[str]]) -> int:
    return max((len(s) for row in labels for s in row), default=1)


@dataclass(frozen=True)
class _Style:
    cell: float  # inches: a cell's height, and the least width of a column
    numbers: bool  # write the numbers (else: heatmaps)
    number_pt: float
    max_patches: int
    elided_reason: str = ""

    def column_width(self, *label_sets: list[list[str]]) -> float:
        """The width of a column that must hold the widest of these labels."""
        chars = max((_widest(labels) for labels in label_sets), default=1)
        return max(self.cell, chars * self.number_pt * 0.64 / 72.0 + 0.08)


def _style(e: Explanation, max_patches: int) -> _Style:
    window = e.geometry.window
    rows = e.patches.shape[1]
    columns = e.patches.shape[2]
    spatial = max(max(window.padded_shape), max(window.output_shape))
    longest = max(rows, columns, e.kernels.shape[1], spatial)
    reason = ""
    if e.elided:
        reason = (
            f"P has {e.patches.size} entries (more than max_entries={e.max_entries}): the "
            f"matrices are drawn as heatmaps (darker = larger), without their numbers."
        )
    elif longest > 96:
        reason = (
            f"A matrix has {longest} rows or columns: the matrices are drawn as heatmaps "
            f"(darker = larger), without their numbers."
        )
    if reason:
        return _Style(0.2, False, 6.0, max_patches, reason)
    wide = rows + columns + 3
    cell = min(0.32, max(0.2, 16.0 / wide))
    number_pt = min(9.0, max(6.0, cell * 72.0 * 0.36))
    return _Style(cell, True, number_pt, max_patches)


# ---- drawing primitives -----------------------------------------------------------------------


def _text(
    ax: Axes,
    x: float,
    y: float,
    text: str,
    pt: float,
    *,
    ha: str = "left",
    va: str = "top",
    color: Any = _INK,
    weight: str = "normal",
    family: str = "sans-serif",
    style: str = "normal",
) -> None:
    ax.text(
        x,
        y,
        text,
        fontsize=pt,
        ha=ha,
        va=va,
        color=color,
        fontweight=weight,
        family=family,
        fontstyle=style,
        zorder=5,
    )


@dataclass
class _Mat:
    """A 2-D grid to draw: values (NaN: blank) and the colours that mark it."""

    values: np.ndarray
    col_colors: dict[int, RGB] = field(default_factory=dict)
    row_colors: dict[int, RGB] = field(default_factory=dict)
    cell_colors: dict[tuple[int, int], RGB] = field(default_factory=dict)
    muted: np.ndarray | None = None  # bool: cells drawn as padding
    row_sep: int = 0  # a darker line every row_sep rows (channel blocks)
    col_sep: int = 0
    labels: list[list[str]] | None = None

    def text(self) -> list[list[str]]:
        if self.labels is None:
            self.labels = _labels(self.values)
        return self.labels


def _draw_matrix(
    ax: Axes, m: _Mat, x: float, y: float, cw: float, ch: float, style: _Style
) -> None:
    """Draw ``m`` with its top-left corner at (x, y), columns cw and rows ch inches."""
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Rectangle

    values = m.values
    rows, cols = values.shape
    width, height = cols * cw, rows * ch
    if style.numbers:
        rgb = np.ones((rows, cols, 3))
        for c, color in m.col_colors.items():
            rgb[:, c] = tint(color)
        for r, color in m.row_colors.items():
            rgb[r, :] = tint(color)
        for (r, c), color in m.cell_colors.items():
            rgb[r, c] = tint(color)
        if m.muted is not None:
            rgb[m.muted] = _PAD_FILL
    else:
        finite = values[np.isfinite(values)]
        low = float(finite.min()) if finite.size else 0.0
        high = float(finite.max()) if finite.size else 1.0
        span = high - low if high > low else 1.0
        level = np.where(np.isfinite(values), 0.95 - 0.8 * (values - low) / span, 1.0)
        rgb = np.repeat(level[..., np.newaxis], 3, axis=2)
        if m.muted is not None:
            rgb[m.muted] = 0.5 * rgb[m.muted] + 0.5 * np.array([0.62, 0.72, 0.9])
    ax.imshow(
        rgb,
        extent=(x, x + width, y + height, y),
        interpolation="nearest",
        aspect="auto",
        zorder=1,
    )
    segments: list[list[tuple[float, float]]] = []
    heavy: list[list[tuple[float, float]]] = []
    thin = 0.05 if style.numbers else 0.12
    if cw >= thin:
        for c in range(1, cols):
            line = [(x + c * cw, y), (x + c * cw, y + height)]
            (heavy if m.col_sep and c % m.col_sep == 0 else segments).append(line)
    elif m.col_sep:
        heavy.extend(
            [(x + c * cw, y), (x + c * cw, y + height)] for c in range(m.col_sep, cols, m.col_sep)
        )
    if ch >= thin:
        for r in range(1, rows):
            line = [(x, y + r * ch), (x + width, y + r * ch)]
            (heavy if m.row_sep and r % m.row_sep == 0 else segments).append(line)
    elif m.row_sep:
        heavy.extend(
            [(x, y + r * ch), (x + width, y + r * ch)] for r in range(m.row_sep, rows, m.row_sep)
        )
    if segments:
        ax.add_collection(LineCollection(segments, colors=_GRID, linewidths=0.5, zorder=2))
    if heavy:
        ax.add_collection(LineCollection(heavy, colors=_EDGE, linewidths=1.1, zorder=2))
    ax.add_patch(
        Rectangle((x, y), width, height, fill=False, edgecolor=_EDGE, linewidth=1.0, zorder=3)
    )
    if style.numbers:
        labels = m.text()
        for r in range(rows):
            for c in range(cols):
                label = labels[r][c]
                if not label:
                    continue
                muted = m.muted is not None and bool(m.muted[r, c])
                _text(
                    ax,
                    x + (c + 0.5) * cw,
                    y + (r + 0.5) * ch,
                    label,
                    style.number_pt,
                    ha="center",
                    va="center_baseline",
                    color=_MUTED_INK if muted else _INK,
                    style="italic" if muted else "normal",
                )
        return
    # Heatmaps: colour bars beside coloured columns and rows, outlines round coloured cells.
    for c, color in m.col_colors.items():
        ax.add_patch(
            Rectangle((x + c * cw, y - _BAR - 0.02), cw, _BAR, color=color, lw=0, zorder=3)
        )
    for r, color in m.row_colors.items():
        ax.add_patch(
            Rectangle((x - _BAR - 0.02, y + r * ch), _BAR, ch, color=color, lw=0, zorder=3)
        )
    for (r, c), color in m.cell_colors.items():
        ax.add_patch(
            Rectangle(
                (x + c * cw, y + r * ch), cw, ch, fill=False, edgecolor=color, lw=1.2, zorder=4
            )
        )


@dataclass(frozen=True)
class _Block:
    """A rectangle of the figure: its size in inches and how to draw it at (x, y)."""

    width: float
    height: float
    draw: Callable[[Axes, float, float], None]


def _text_block(lines: Sequence[tuple[str, float, str]], mono: bool = False) -> _Block:
    """Lines of (text, size, weight)."""
    width = max((_text_width(t, pt, mono) for t, pt, _ in lines), default=0.0)
    height = sum(_line_height(pt) for _, pt, _ in lines)

    def draw(ax: Axes, x: float, y: float) -> None:
        for text, pt, weight in lines:
            _text(ax, x, y, text, pt, weight=weight, family="monospace" if mono else "sans-serif")
            y += _line_height(pt)

    return _Block(width, height, draw)


# ---- spatial arrays (X, the output, dX) -------------------------------------------------------


@dataclass
class _Outline:
    """The cells one patch reads (spatial indices), drawn in its colour ``inset`` cells inside."""

    color: RGB
    cells: list[tuple[int, ...]]
    inset: float


def _runs(indices: set[int]) -> list[tuple[int, int]]:
    """Sorted indices as maximal runs (start, length)."""
    runs: list[tuple[int, int]] = []
    for i in sorted(indices):
        if runs and runs[-1][0] + runs[-1][1] == i:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs


def _spatial_block(
    title: str,
    values: np.ndarray,
    style: _Style,
    names: tuple[str, ...],
    *,
    channel_names: Sequence[str],
    muted: np.ndarray | None = None,
    cell_colors: dict[tuple[int, ...], RGB] | None = None,
    outlines: Sequence[_Outline] = (),
    notes: Sequence[str] = (),
) -> _Block:
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
        notes.append(f"showing slices up to {last} of {_shape(lead_shape)}")

    if style.numbers:
        cw = style.column_width(_labels(values.reshape(-1, cols)))
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
    top_h = _line_height(_SMALL_PT) if top else 0.0
    left_w = max((_text_width(t, _SMALL_PT) for t in left), default=0.0)
    left_w = left_w + 0.1 if left else 0.0
    pitch_x = max([panel_w, *(_text_width(t, _SMALL_PT) for t in top)]) + 0.22
    pitch_y = panel_h + (0.12 if nd == 1 else 0.22)
    title_h = _line_height(_LABEL_PT)
    n_cols = len(grid[0])
    width = max(left_w + pitch_x * n_cols - 0.22, _text_width(title, _LABEL_PT))
    notes = _wrap(notes, max(width, 3.5), _NOTE_PT)
    width = max(width, *(_text_width(n, _NOTE_PT) for n in notes))
    height = title_h + top_h + pitch_y * len(grid) - (pitch_y - panel_h)
    height += sum(_line_height(_NOTE_PT) for _ in notes) + (0.06 if notes else 0.0)

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
        _text(ax, x, y, title, _LABEL_PT, weight="bold")
        y0 = y + title_h + top_h
        for j, label in enumerate(top):
            _text(ax, x + left_w + j * pitch_x, y0 - 0.03, label, _SMALL_PT, va="bottom")
        for i, row in enumerate(grid):
            py = y0 + i * pitch_y
            if left:
                _text(ax, x, py + panel_h / 2, left[i], _SMALL_PT, va="center")
            for j, (channel, lead_index) in enumerate(row):
                px = x + left_w + j * pitch_x
                lead = leads.index(shown_leads[lead_index]) if nd > 2 else 0
                m = _Mat(
                    planes[channel, lead],
                    cell_colors=plane_colors.get(lead, {}),
                    muted=None if mask is None else mask[lead],
                )
                _draw_matrix(ax, m, px, py, cw, ch, style)
                for outline in outlines:
                    _draw_outline(ax, outline, lead, where, px, py, cw, ch, style)
        ny = y0 + pitch_y * len(grid) - (pitch_y - panel_h) + 0.06
        for note in notes:
            _text(ax, x, ny, note, _NOTE_PT, color=_MUTED_INK)
            ny += _line_height(_NOTE_PT)

    return _Block(width, height, draw)


def _draw_outline(
    ax: Axes,
    outline: _Outline,
    lead: int,
    where: Callable[[tuple[int, ...]], tuple[int, int, int]],
    x: float,
    y: float,
    cw: float,
    ch: float,
    style: _Style,
) -> None:
    """Outline the cells of ``outline`` that lie in the panel of slice ``lead``."""
    from matplotlib.patches import Rectangle

    rows: set[int] = set()
    cols: set[int] = set()
    for cell in outline.cells:
        cell_lead, r, c = where(cell)
        if cell_lead == lead:
            rows.add(r)
            cols.add(c)
    # A patch's cells are a product of index sets, so runs of rows x runs of columns cover them.
    ix, iy = outline.inset * cw, outline.inset * ch
    lw = 1.5 if style.numbers else 1.0
    for r0, nr in _runs(rows):
        for c0, nc in _runs(cols):
            ax.add_patch(
                Rectangle(
                    (x + c0 * cw + ix, y + r0 * ch + iy),
                    nc * cw - 2 * ix,
                    nr * ch - 2 * iy,
                    fill=False,
                    edgecolor=outline.color,
                    linewidth=lw,
                    zorder=4,
                )
            )


def _thumbnails_block(e: Explanation, style: _Style, title: str, note: str) -> _Block | None:
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
    pad = _padding_mask(e).reshape(-1, rows, cols).all(axis=0)
    if nd == 1:
        cw, ch = min(0.2, 5.0 / cols), 0.16
        grid_cols = 1
    else:
        cw = ch = min(0.13, 0.8 / max(rows, cols))
        grid_cols = min(window.output_shape[-1], count)
    grid_rows = math.ceil(count / grid_cols)
    label_pt = _SMALL_PT
    label_w = _text_width(str(count - 1), label_pt) + 0.08 if nd == 1 else 0.0
    label_h = 0.0 if nd == 1 else _line_height(label_pt)
    pitch_x = cols * cw + 0.12
    pitch_y = rows * ch + label_h + (0.06 if nd == 1 else 0.08)
    title_lines = _wrap([title], max(label_w + pitch_x * grid_cols, 2.5), _LABEL_PT)
    notes = _wrap([note], max(label_w + pitch_x * grid_cols, 2.5), _NOTE_PT)
    width = max(
        label_w + pitch_x * grid_cols - 0.12,
        *(_text_width(t, _LABEL_PT) for t in title_lines),
        *(_text_width(n, _NOTE_PT) for n in notes),
    )
    title_h = _line_height(_LABEL_PT) * len(title_lines)
    height = title_h + pitch_y * grid_rows + _line_height(_NOTE_PT) * len(notes)

    def draw(ax: Axes, x: float, y: float) -> None:
        for i, line in enumerate(title_lines):
            _text(ax, x, y + i * _line_height(_LABEL_PT), line, _LABEL_PT, weight="bold")
        y0 = y + title_h
        for column in range(count):
            color = patch_color(column)
            px = x + label_w + (column % grid_cols) * pitch_x
            py = y0 + (column // grid_cols) * pitch_y
            rgb = np.ones((rows, cols, 3))
            rgb[pad] = _PAD_FILL
            rows_read: set[int] = set()
            cols_read: set[int] = set()
            for cell in e.patch_cells(column):
                rows_read.add(0 if nd == 1 else cell[-2])
                cols_read.add(cell[-1])
            # Filled rectangles (not image pixels), so a patch stays visible however small.
            for r0, nr in _runs(rows_read):
                for c0, nc in _runs(cols_read):
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
                _text(
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
                _text(
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
            _text(ax, x, ny, n, _NOTE_PT, color=_MUTED_INK)
            ny += _line_height(_NOTE_PT)

    return _Block(width, height, draw)


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


def _padding_mask(e: Explanation) -> np.ndarray:
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


def _embed_padded(e: Explanation, values: np.ndarray) -> np.ndarray:
    """A (C, *input_shape) array placed in the padded shape, NaN in the padding."""
    window = e.geometry.window
    out = np.full((values.shape[0], *window.padded_shape), np.nan)
    inner = tuple(
        slice(before, before + n)
        for (before, _), n in zip(window.padding, window.input_shape, strict=True)
    )
    out[(slice(None),) + inner] = values
    return out


def _outlines(e: Explanation, style: _Style) -> list[_Outline]:
    count = min(e.num_positions, style.max_patches)
    insets = _insets(e, count)
    return [_Outline(patch_color(i), e.patch_cells(i), insets[i]) for i in range(count)]


def _position_colors(e: Explanation, style: _Style) -> dict[tuple[int, ...], RGB]:
    """Output positions (spatial) -> their patch's colour, for the coloured patches."""
    return {e.position(i): patch_color(i) for i in range(min(e.num_positions, style.max_patches))}


# ---- the matrix products ----------------------------------------------------------------------


def _product_block(
    style: _Style,
    *,
    left: _Mat,
    top: _Mat,
    result: _Mat,
    left_title: str,
    top_title: str,
    result_title: str,
    top_row_labels: Sequence[tuple[str, RGB | None]] = (),
    left_row_labels: Sequence[str] = (),
    column_headers: bool = False,
) -> _Block:
    """``result = left · top`` laid out by hand: ``top`` above ``result``, ``left`` to its left."""
    n_bottom, n_inner = left.values.shape
    n_top, n_right = top.values.shape
    if style.numbers:
        cw_right = style.column_width(top.text(), result.text())
        cw_left = style.column_width(left.text())
        ch_top = ch_bottom = style.cell
        label_pt = min(_SMALL_PT, style.cell * 72 * 0.55)
    else:
        cw_right = min(style.cell, 9.0 / n_right)
        cw_left = min(style.cell, 4.0 / n_inner)
        ch_top = min(style.cell, 3.0 / n_top)
        ch_bottom = min(style.cell, 2.0 / n_bottom)
        label_pt = _SMALL_PT
        top_row_labels, left_row_labels = (), ()
    gap = 0.14
    w_left, w_right = n_inner * cw_left, n_right * cw_right
    h_top, h_bottom = n_top * ch_top, n_bottom * ch_bottom
    top_labels_w = max((_text_width(t, label_pt) for t, _ in top_row_labels), default=0.0)
    left_labels_w = max((_text_width(t, label_pt) for t in left_row_labels), default=0.0)
    bar = _BAR + 0.04 if not style.numbers else 0.0
    quad_left = max(
        top_labels_w + 0.08 + (bar if top.row_colors else 0.0),
        gap + w_left + (left_labels_w + 0.08 if left_row_labels else 0.0),
        gap + (bar if left.row_colors else 0.0) + w_left,
        gap + _text_width(left_title, _LABEL_PT),
    )
    quad_right = max(
        w_right, _text_width(top_title, _LABEL_PT), _text_width(result_title, _LABEL_PT)
    )
    title_h = _line_height(_LABEL_PT)
    header_h = 0.0
    if column_headers:
        header_h = _line_height(label_pt) if style.numbers else bar
    width = quad_left + quad_right
    height = title_h + header_h + h_top + gap + h_bottom + 0.05 + title_h

    def draw(ax: Axes, x: float, y: float) -> None:
        xr = x + quad_left
        _text(ax, xr, y, top_title, _LABEL_PT, weight="bold")
        yt = y + title_h + header_h
        if column_headers and style.numbers:
            for c in range(n_right):
                color = top.col_colors.get(c)
                _text(
                    ax,
                    xr + (c + 0.5) * cw_right,
                    yt - 0.03,
                    str(c),
                    label_pt,
                    ha="center",
                    va="bottom",
                    color=_MUTED_INK if color is None else color,
                    weight="normal" if color is None else "bold",
                )
        _draw_matrix(ax, top, xr, yt, cw_right, ch_top, style)
        for r, (label, color) in enumerate(top_row_labels):
            _text(
                ax,
                xr - 0.06,
                yt + (r + 0.5) * ch_top,
                label,
                label_pt,
                ha="right",
                va="center",
                color=_MUTED_INK if color is None else color,
                weight="normal" if color is None else "bold",
            )
        yb = yt + h_top + gap
        xl = xr - gap - w_left
        _draw_matrix(ax, left, xl, yb, cw_left, ch_bottom, style)
        for r, label in enumerate(left_row_labels):
            _text(
                ax,
                xl - 0.06,
                yb + (r + 0.5) * ch_bottom,
                label,
                label_pt,
                ha="right",
                va="center",
                color=_MUTED_INK,
            )
        _draw_matrix(ax, result, xr, yb, cw_right, ch_bottom, style)
        yl = yb + h_bottom + 0.05
        if _text_width(left_title, _LABEL_PT) <= w_left:
            _text(ax, xl + w_left / 2, yl, left_title, _LABEL_PT, ha="center", weight="bold")
        else:
            _text(ax, xr - gap, yl, left_title, _LABEL_PT, ha="right", weight="bold")
        _text(ax, xr, yl, result_title, _LABEL_PT, weight="bold")

    return _Block(width, height, draw)


def _row_labels(e: Explanation, group: int, rows: int) -> list[str]:
    """'c<channel> (<kernel offset>)' for each row of P_g (or of a matrix with P_g's rows)."""
    return [
        f"c{e.row_channel(group, r)} ({','.join(map(str, e.kernel_offset(r)))})"
        for r in range(rows)
    ]


def _column_colors(e: Explanation, style: _Style) -> dict[int, RGB]:
    return {i: patch_color(i) for i in range(min(e.num_positions, style.max_patches))}


def _tag(e: Explanation, group: int) -> str:
    return f"_{group}" if e.groups > 1 else ""


# ---- the figures ------------------------------------------------------------------------------


def _checks(e: Explanation) -> str:
    parts = []
    for name, ok in e.checks.items():
        # a check that did not run says so briefly here; the text and the page say why
        parts.append(f"{name} {'not run' if ok is None else e.verdict(name)}")
    return "checked against: " + ", ".join(parts) if parts else ""


def _header(e: Explanation, style: _Style, title: str) -> _Block:
    lines: list[tuple[str, float, str]] = [(title, _TITLE_PT, "bold")]
    options = ", ".join(f"{k}={v!r}" for k, v in e.options.items())
    lines.append((f"options: {options}", _NOTE_PT, "normal"))
    if e.geometry.batch > 1:
        lines.append((f"image {e.sample} of a batch of {e.geometry.batch}", _NOTE_PT, "normal"))
    checks = _checks(e)
    if checks:
        lines.append((checks, _NOTE_PT, "normal"))
    colored = min(e.num_positions, style.max_patches)
    if colored < e.num_positions:
        lines.append(
            (
                f"colours mark the first {colored} of the {e.num_positions} patches "
                f"(columns); the others are not coloured",
                _NOTE_PT,
                "normal",
            )
        )
    if style.elided_reason:
        lines.append((style.elided_reason, _NOTE_PT, "normal"))
    return _text_block(lines)


def _input_block(e: Explanation, style: _Style, names: tuple[str, ...]) -> _Block:
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
        title = (
            f"X padded ({window.padding_mode}: {pads}): {_shape(e.padded.shape)}"
            f" (input {_shape(e.input.shape)})"
        )
        notes = ["shaded: the padding"]
    else:
        title = f"X: {_shape(e.input.shape)} (channels x {' x '.join(names)})"
        notes = []
    notes.append(
        f"outlined: the cells each patch reads ({_shape(window.kernel_size)} kernel, stride "
        f"{_shape(window.stride)}, dilation {_shape(window.dilation)}), in the patch's colour"
    )
    return _spatial_block(
        title,
        e.padded,
        style,
        names,
        channel_names=channel_names,
        muted=_padding_mask(e) if window.is_padded else None,
        outlines=_outlines(e, style),
        notes=notes,
    )


def _conv_products(e: Explanation, style: _Style) -> list[_Block]:
    window = e.geometry.window
    cin, cout = e.geometry.in_channels_per_group, e.geometry.out_channels_per_group
    colors = _column_colors(e, style)
    blocks = []
    for g in range(min(e.groups, _MAX_GROUPS)):
        tag = _tag(e, g)
        rows = e.patches.shape[1]
        channels = f" ({format_span('channel', g * cin, (g + 1) * cin - 1)})"
        filters = f" ({format_span('filter', g * cout, (g + 1) * cout - 1)})"
        channels, filters = (channels, filters) if e.groups > 1 else ("", "")
        blocks.append(
            _product_block(
                style,
                left=_Mat(e.kernels[g], col_sep=window.kernel_numel),
                top=_Mat(e.patches[g], col_colors=colors, row_sep=window.kernel_numel),
                result=_Mat(e.products[g], col_colors=colors),
                left_title=f"K{tag}{filters}: {_shape(e.kernels[g].shape)}",
                top_title=f"P{tag} = unfold(X){channels}: {_shape(e.patches[g].shape)}"
                + (", column l = patch l" if g == 0 else ""),
                result_title=f"K{tag}P{tag} = K{tag} · P{tag}: {_shape(e.products[g].shape)}",
                top_row_labels=[(label, None) for label in _row_labels(e, g, rows)],
                left_row_labels=[f"f{g * cout + f}" for f in range(cout)],
                column_headers=True,
            )
        )
    return blocks


def _groups_note(e: Explanation) -> list[_Block]:
    """A note when only the first groups' products are drawn."""
    if e.groups <= _MAX_GROUPS:
        return []
    return [
        _text_block(
            [
                (
                    f"{format_span('group', _MAX_GROUPS, e.groups - 1)} (of {e.groups}) "
                    f"{'is' if e.groups - 1 == _MAX_GROUPS else 'are'} not drawn: each is the "
                    "same product on its own channels",
                    _NOTE_PT,
                    "normal",
                )
            ]
        )
    ]


def _output_block(e: Explanation, style: _Style, names: tuple[str, ...]) -> _Block:
    bias = " + bias" if e.bias is not None else ""
    return _spatial_block(
        f"output = KP reshaped{bias}: {_shape(e.output.shape)}",
        e.output,
        style,
        names,
        channel_names=[f"filter {c}" for c in range(e.output.shape[0])],
        cell_colors=_position_colors(e, style),
        notes=["each cell in its patch's colour"],
    )


def _formula_block(e: Explanation, names: tuple[str, ...]) -> _Block:
    """The output-size formula per dim, with its numbers (a transposed convolution's own)."""
    lines: list[tuple[str, float, str]] = [("output size, per dim:", _NOTE_PT, "bold")]
    for name, terms in zip(names, e.formula(), strict=True):
        lines.extend((line, _NOTE_PT, "normal") for line in format_formula(name, terms).split("\n"))
    return _text_block(lines, mono=True)


def _conv_rows(e: Explanation, style: _Style) -> list[list[_Block]]:
    geometry, window = e.geometry, e.geometry.window
    names = dim_names(window.ndim)
    kind = "convolution" if e.kind == "conv" else "convolution, backward pass"
    title = (
        f"convmm explain: {kind} of a {_shape(e.input.shape)} input "
        f"(channels x {' x '.join(names)}) with {count(geometry.out_channels, 'filter')} of "
        f"{geometry.in_channels_per_group} x {_shape(window.kernel_size)}"
    )
    first = [_input_block(e, style, names)]
    footprint = " (their footprint on the last two dims)" if window.ndim > 2 else ""
    thumbnails = _thumbnails_block(
        e,
        style,
        "the patches one by one",
        f"patch l reads the filled cells{footprint}, of every input channel"
        + (" of its group" if geometry.groups > 1 else ""),
    )
    if thumbnails is not None:
        first.append(thumbnails)
    rows = [
        [_header(e, style, title)],
        first,
        _conv_products(e, style) + _groups_note(e),
        [_output_block(e, style, names), _formula_block(e, names)],
    ]
    if e.kind == "conv_backward":
        rows.extend(_backward_rows(e, style, names))
    return rows


def _backward_rows(e: Explanation, style: _Style, names: tuple[str, ...]) -> list[list[_Block]]:
    dy, dk, dp, dx, db = e.grad_output, e.grad_weight, e.grad_patches, e.grad_input, e.grad_bias
    if dy is None or dk is None or dp is None or dx is None or db is None:
        return []
    window = e.geometry.window
    cout = e.geometry.out_channels_per_group
    colors = _column_colors(e, style)
    intro = _text_block(
        [
            ("Backward: the gradients are matrix products too", _TITLE_PT, "bold"),
            (
                "dY is the gradient with respect to KP; dK = dY · Pᵀ, dP = Kᵀ · dY, "
                "dX = fold(dP), db = dY summed over positions",
                _NOTE_PT,
                "normal",
            ),
        ]
    )
    rows: list[list[_Block]] = [[intro]]
    for g in range(min(e.groups, _MAX_GROUPS)):
        tag = _tag(e, g)
        n_rows = e.patches.shape[1]
        row_labels = _row_labels(e, g, n_rows)
        rows.append(
            [
                _product_block(
                    style,
                    left=_Mat(dy[g], col_colors=colors),
                    top=_Mat(
                        e.patches[g].T,
                        row_colors=colors,
                        col_sep=window.kernel_numel,
                    ),
                    result=_Mat(dk[g], col_sep=window.kernel_numel),
                    left_title=f"dY{tag}: {_shape(dy[g].shape)}",
                    top_title=f"P{tag}ᵀ: {_shape(e.patches[g].T.shape)}",
                    result_title=f"dK{tag} = dY{tag} · P{tag}ᵀ: {_shape(dk[g].shape)}",
                    top_row_labels=[(str(i), colors.get(i)) for i in range(e.patches.shape[2])],
                    left_row_labels=[f"f{g * cout + f}" for f in range(cout)],
                ),
                _product_block(
                    style,
                    left=_Mat(e.kernels[g].T, row_sep=window.kernel_numel),
                    top=_Mat(dy[g], col_colors=colors),
                    result=_Mat(dp[g], col_colors=colors, row_sep=window.kernel_numel),
                    left_title=f"K{tag}ᵀ: {_shape(e.kernels[g].T.shape)}",
                    top_title=f"dY{tag}: {_shape(dy[g].shape)}",
                    result_title=f"dP{tag} = K{tag}ᵀ · dY{tag}: {_shape(dp[g].shape)}",
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
    dx_block = _spatial_block(
        f"dX = fold(dP): {_shape(dx.shape)}",
        _embed_padded(e, dx) if padded else dx,
        style,
        names,
        channel_names=[f"channel {c}" for c in range(dx.shape[0])],
        muted=_padding_mask(e) if padded else None,
        outlines=_outlines(e, style),
        notes=notes,
    )
    db_block = _row_block(
        f"db = dY summed over positions: {_shape(db.shape)}",
        db,
        style,
        [f"f{f}" for f in range(db.shape[0])],
    )
    rows.append([*_groups_note(e), dx_block, db_block])
    return rows


def _row_block(title: str, values: np.ndarray, style: _Style, headers: Sequence[str]) -> _Block:
    """A 1-D array drawn as a one-row matrix (numbers as in every other matrix), a header above
    each column."""
    m = _Mat(np.asarray(values, dtype=np.float64)[np.newaxis])
    n = m.values.shape[1]
    if style.numbers:
        cw = style.column_width(m.text(), [list(headers)])
    else:
        cw = min(style.cell, 10.0 / n)
    ch = style.cell
    title_h = _line_height(_LABEL_PT)
    header_h = _line_height(_SMALL_PT) if style.numbers else 0.0
    width = max(n * cw, _text_width(title, _LABEL_PT))
    height = title_h + header_h + ch

    def draw(ax: Axes, x: float, y: float) -> None:
        _text(ax, x, y, title, _LABEL_PT, weight="bold")
        y0 = y + title_h + header_h
        if style.numbers:
            for c, header in enumerate(headers):
                _text(
                    ax,
                    x + (c + 0.5) * cw,
                    y0 - 0.03,
                    header,
                    _SMALL_PT,
                    ha="center",
                    va="bottom",
                    color=_MUTED_INK,
                )
        _draw_matrix(ax, m, x, y0, cw, ch, style)

    return _Block(width, height, draw)


def _transpose_rows(e: Explanation, style: _Style) -> list[list[_Block]]:
    geometry, window = e.geometry, e.geometry.window
    names = dim_names(window.ndim)
    cog = geometry.out_channels_per_group
    colors = _column_colors(e, style)
    title = (
        f"convmm explain: transposed convolution of a {_shape(e.input.shape)} input to "
        f"{_shape(e.output.shape)} (channels x {' x '.join(names)})"
    )
    x_block = _spatial_block(
        f"X: {_shape(e.input.shape)}",
        e.input,
        style,
        names,
        channel_names=[f"channel {c}" for c in range(e.input.shape[0])],
        cell_colors=_position_colors(e, style),
        notes=["input position l in column l's colour"],
    )
    first = [x_block]
    thumbnails = _thumbnails_block(
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
        tag = _tag(e, g)
        kt = e.kernels[g].T
        products.append(
            _product_block(
                style,
                left=_Mat(kt, row_sep=window.kernel_numel),
                top=_Mat(e.products[g], col_colors=colors),
                result=_Mat(e.patches[g], col_colors=colors, row_sep=window.kernel_numel),
                left_title=f"K{tag}ᵀ: {_shape(kt.shape)}",
                top_title=f"X{tag}, one column per position: {_shape(e.products[g].shape)}",
                result_title=f"K{tag}ᵀ · X{tag}: {_shape(e.patches[g].shape)}",
                top_row_labels=[(f"c{g * cog + i}", None) for i in range(cog)],
                left_row_labels=_row_labels(e, g, kt.shape[0]),
                column_headers=True,
            )
        )
    padded = window.is_padded
    notes = ["column l of Kᵀ·X is added onto the cells outlined in its colour"]
    if padded:
        notes.append("shaded: cropped by the padding")
    bias = " + bias" if e.bias is not None else ""
    output = _spatial_block(
        f"output = fold(Kᵀ · X){bias}: {_shape(e.output.shape)}",
        _embed_padded(e, e.output) if padded else e.output,
        style,
        names,
        channel_names=[f"channel {c}" for c in range(e.output.shape[0])],
        muted=_padding_mask(e) if padded else None,
        outlines=_outlines(e, style),
        notes=notes,
    )
    return [
        [_header(e, style, title)],
        first,
        products + _groups_note(e),
        [output, _formula_block(e, names)],
    ]


def _arrange(rows: list[list[_Block]]) -> tuple[list[tuple[_Block, float, float]], float, float]:
    """Place the blocks row by row (wrapping a row that is too wide); the figure's size."""
    widest = max(block.width for row in rows for block in row)
    limit = max(widest, 11.0)
    placed: list[tuple[_Block, float, float]] = []
    y = _MARGIN
    right = 0.0
    for row in rows:
        x, height = _MARGIN, 0.0
        for block in row:
            if x > _MARGIN and x - _MARGIN + block.width > limit:
                y += height + _GAP
                x, height = _MARGIN, 0.0
            placed.append((block, x, y))
            right = max(right, x + block.width)
            x += block.width + _GAP
            height = max(height, block.height)
        y += height + _GAP
    return placed, right + _MARGIN, y - _GAP + _MARGIN


def draw_figure(explanation: Explanation, *, max_patches: int = DEFAULT_MAX_PATCHES) -> Figure:
    """Draw the walkthrough of ``explanation`` as a matplotlib figure (needs matplotlib).

    The first ``max_patches`` patches each get a colour (the rest are left plain, and the figure
    says so).  When the explanation is elided (P has more than ``max_entries`` entries) the
    matrices are drawn as heatmaps without their numbers.  The figure is a plain
    :class:`matplotlib.figure.Figure`, not registered with pyplot.
    """
    _require_matplotlib()
    from matplotlib.figure import Figure

    if not isinstance(explanation, Explanation):
        raise ConvmmTypeError(
            f"draw_figure: explanation must be an Explanation; got {type(explanation).__name__}"
        )
    if not isinstance(max_patches, int | np.integer) or isinstance(max_patches, bool):
        raise ConvmmTypeError(f"draw_figure: max_patches must be an int; got {max_patches!r}")
    if max_patches < 0:
        raise ConvmmValueError(f"draw_figure: max_patches must be >= 0; got {max_patches}")
    style = _style(explanation, int(max_patches))
    if explanation.kind == "conv_transpose":
        rows = _transpose_rows(explanation, style)
    else:
        rows = _conv_rows(explanation, style)
    placed, width, height = _arrange(rows)
    figure = Figure(figsize=(width, height), dpi=100, facecolor="white")
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    for block, x, y in placed:
        block.draw(ax, x, y)
    ax.set_xlim(0.0, width)
    ax.set_ylim(height, 0.0)
    ax.set_aspect("auto")
    return figure


def save_figure(
    explanation: Explanation,
    path: str | os.PathLike[str],
    *,
    dpi: float = DEFAULT_DPI,
    **options: Any,
) -> None:
    """Draw ``explanation`` (see :func:`draw_figure`, which takes ``options``) and save it.

    The format follows ``path``'s suffix: ``.png`` or ``.svg`` (SVG keeps its text as text).
    """
    suffix = os.path.splitext(os.fspath(path))[1]
    if suffix.lower() not in SUFFIXES:
        raise ConvmmValueError(
            f"save_figure: path must end in {' or '.join(SUFFIXES)}; got {suffix or 'no suffix'!r}"
            f" ({os.fspath(path)!r})"
        )
    _require_matplotlib()
    import matplotlib

    figure = draw_figure(explanation, **options)
    fmt = suffix.lower()[1:]
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "convmm"}):
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        figure.savefig(path, format=fmt, dpi=dpi, metadata=metadata, facecolor="white")
