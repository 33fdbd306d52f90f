"""The figure's layout: text sizes and widths, the style (cell size, numbers or heatmaps),
the blocks a figure is made of and how they are placed.

Everything is measured in inches (the figure's one axes has the inch as its data unit); text
widths are estimated from character counts, so the layout does not depend on the fonts.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .describe import shape_text
from .model import Explanation

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TITLE_PT = 12.0
LABEL_PT = 9.5
NOTE_PT = 8.5
SMALL_PT = 7.0
_MARGIN = 0.3  # inches around the figure
_GAP = 0.35  # inches between blocks
BAR = 0.07  # inches: the colour bars beside a heatmap


def text_width(text: str, pt: float, mono: bool = False) -> float:
    """An upper estimate of a one-line text's width in inches (DejaVu's advance widths)."""
    return len(text) * pt / 72.0 * (0.61 if mono else 0.64)


def wrap_lines(lines: Sequence[str], width: float, pt: float) -> list[str]:
    """Lines wrapped to about ``width`` inches."""
    chars = max(20, int(width / (pt * 0.64 / 72.0)))
    return [part for line in lines for part in textwrap.wrap(line, chars) or [""]]


def line_height(pt: float) -> float:
    return pt * 1.45 / 72.0


def format_shape(shape: Sequence[int]) -> str:
    """A shape as the figure writes it: '3 x 4 x 4' (``describe.shape_text``)."""
    return shape_text(shape, " x ")


def _formatter(values: np.ndarray) -> Callable[[float], str]:
    finite = values[np.isfinite(values)]
    if finite.size == 0 or (
        bool(np.all(finite == np.round(finite))) and float(np.max(np.abs(finite))) < 1e7
    ):
        return lambda v: f"{v + 0.0:.0f}"
    return lambda v: f"{v + 0.0:.3g}"


def cell_labels(values: np.ndarray) -> list[list[str]]:
    """Each entry of a 2-D array as text ('' for NaN)."""
    fmt = _formatter(values)
    return [["" if math.isnan(v) else fmt(v) for v in row] for row in values.tolist()]


def _widest(labels: list[list[str]]) -> int:
    return max((len(s) for row in labels for s in row), default=1)


@dataclass(frozen=True)
class Style:
    cell: float  # inches: a cell's height, and the least width of a column
    numbers: bool  # write the numbers (else: heatmaps)
    number_pt: float
    max_patches: int
    elided_reason: str = ""

    def column_width(self, *label_sets: list[list[str]]) -> float:
        """The width of a column that must hold the widest of these labels."""
        chars = max((_widest(labels) for labels in label_sets), default=1)
        return max(self.cell, chars * self.number_pt * 0.64 / 72.0 + 0.08)


def choose_style(e: Explanation, max_patches: int) -> Style:
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
        return Style(0.2, False, 6.0, max_patches, reason)
    wide = rows + columns + 3
    cell = min(0.32, max(0.2, 16.0 / wide))
    number_pt = min(9.0, max(6.0, cell * 72.0 * 0.36))
    return Style(cell, True, number_pt, max_patches)


@dataclass(frozen=True)
class Block:
    """A rectangle of the figure: its size in inches and how to draw it at (x, y)."""

    width: float
    height: float
    draw: Callable[[Axes, float, float], None]


def arrange(rows: list[list[Block]]) -> tuple[list[tuple[Block, float, float]], float, float]:
    """Place the blocks row by row (wrapping a row that is too wide); the figure's size."""
    widest = max(block.width for row in rows for block in row)
    limit = max(widest, 11.0)
    placed: list[tuple[Block, float, float]] = []
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
