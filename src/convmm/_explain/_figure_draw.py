"""The figure's drawing primitives: patch colours, text, matrices (numbers or heatmaps) and
patch outlines.

matplotlib is imported only inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._figure_layout import BAR, Block, Style, cell_labels, line_height, text_width

if TYPE_CHECKING:
    from matplotlib.axes import Axes

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
PAD_FILL: RGB = (0.86, 0.86, 0.86)
_GRID = "#b4b4b4"
_EDGE = "#3a3a3a"
INK = "#111111"
MUTED_INK = "#6e6e6e"


def patch_color(index: int) -> RGB:
    """Patch ``index``'s colour, as RGB floats in [0, 1]."""
    code = PATCH_COLORS[index % len(PATCH_COLORS)]
    r, g, b = (int(code[i : i + 2], 16) / 255.0 for i in (1, 3, 5))
    return (r, g, b)


def tint(color: RGB, amount: float = _TINT) -> RGB:
    """``color`` mixed with white (``amount`` of the colour): a cell background."""
    r, g, b = (1.0 - amount * (1.0 - c) for c in color)
    return (r, g, b)


def put_text(
    ax: Axes,
    x: float,
    y: float,
    text: str,
    pt: float,
    *,
    ha: str = "left",
    va: str = "top",
    color: Any = INK,
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
class Mat:
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
            self.labels = cell_labels(self.values)
        return self.labels


#: Inches under a heatmap for its colour bar: the strip, then its lowest and highest value.
COLORBAR_H = 0.27
_COLORBAR_STRIP = 0.07


def heat_levels(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The grey level of each value of a heatmap (0.95 for its lowest, 0.15 for its highest,
    white for NaN), and that lowest and highest finite value."""
    finite = values[np.isfinite(values)]
    low = float(finite.min()) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 1.0
    span = high - low if high > low else 1.0
    return np.where(np.isfinite(values), 0.95 - 0.8 * (values - low) / span, 1.0), low, high


def draw_colorbar(ax: Axes, values: np.ndarray, x: float, y: float, width: float) -> None:
    """The colour bar of a heatmap of ``values``: a strip from its lowest value (left) to its
    highest (right) at (x, y), ``width`` inches wide (at least 0.7), the two values under it.

    Its image has the gid 'colorbar' (the tests find it by that).
    """
    _, low, high = heat_levels(values)
    width = max(width, 0.7)
    ramp = np.linspace(0.95, 0.15, 64)[np.newaxis, :, np.newaxis].repeat(3, axis=2)
    image = ax.imshow(
        ramp,
        extent=(x, x + width, y + _COLORBAR_STRIP, y),
        interpolation="nearest",
        aspect="auto",
        zorder=1,
    )
    image.set_gid("colorbar")
    labels = cell_labels(np.array([[low, high]]))[0]
    put_text(ax, x, y + _COLORBAR_STRIP + 0.02, labels[0], 6.5, color=MUTED_INK)
    put_text(ax, x + width, y + _COLORBAR_STRIP + 0.02, labels[1], 6.5, ha="right", color=MUTED_INK)


def draw_matrix(ax: Axes, m: Mat, x: float, y: float, cw: float, ch: float, style: Style) -> None:
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
            rgb[m.muted] = PAD_FILL
    else:
        level, _, _ = heat_levels(values)
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
                put_text(
                    ax,
                    x + (c + 0.5) * cw,
                    y + (r + 0.5) * ch,
                    label,
                    style.number_pt,
                    ha="center",
                    va="center_baseline",
                    color=MUTED_INK if muted else INK,
                    style="italic" if muted else "normal",
                )
        return
    # Heatmaps: colour bars beside coloured columns and rows, outlines round coloured cells.
    for c, color in m.col_colors.items():
        ax.add_patch(Rectangle((x + c * cw, y - BAR - 0.02), cw, BAR, color=color, lw=0, zorder=3))
    for r, color in m.row_colors.items():
        ax.add_patch(Rectangle((x - BAR - 0.02, y + r * ch), BAR, ch, color=color, lw=0, zorder=3))
    for (r, c), color in m.cell_colors.items():
        ax.add_patch(
            Rectangle(
                (x + c * cw, y + r * ch), cw, ch, fill=False, edgecolor=color, lw=1.2, zorder=4
            )
        )


def text_block(lines: Sequence[tuple[str, float, str]], mono: bool = False) -> Block:
    """Lines of (text, size, weight)."""
    width = max((text_width(t, pt, mono) for t, pt, _ in lines), default=0.0)
    height = sum(line_height(pt) for _, pt, _ in lines)

    def draw(ax: Axes, x: float, y: float) -> None:
        for text, pt, weight in lines:
            put_text(
                ax, x, y, text, pt, weight=weight, family="monospace" if mono else "sans-serif"
            )
            y += line_height(pt)

    return Block(width, height, draw)


@dataclass
class Outline:
    """The cells one patch reads (spatial indices), drawn in its colour ``inset`` cells inside."""

    color: RGB
    cells: list[tuple[int, ...]]
    inset: float


def index_runs(indices: set[int]) -> list[tuple[int, int]]:
    """Sorted indices as maximal runs (start, length)."""
    runs: list[tuple[int, int]] = []
    for i in sorted(indices):
        if runs and runs[-1][0] + runs[-1][1] == i:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs


def draw_outline(
    ax: Axes,
    outline: Outline,
    lead: int,
    where: Callable[[tuple[int, ...]], tuple[int, int, int]],
    x: float,
    y: float,
    cw: float,
    ch: float,
    style: Style,
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
    for r0, nr in index_runs(rows):
        for c0, nc in index_runs(cols):
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
