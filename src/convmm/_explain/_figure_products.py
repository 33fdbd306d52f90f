"""The figure's matrix products, laid out as hand multiplications, and one-row matrices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._figure_draw import (
    COLORBAR_H,
    MUTED_INK,
    RGB,
    Mat,
    draw_colorbar,
    draw_matrix,
    patch_color,
    put_text,
)
from ._figure_layout import BAR, LABEL_PT, SMALL_PT, Block, Style, line_height, text_width
from .model import Explanation

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def product_block(
    style: Style,
    *,
    left: Mat,
    top: Mat,
    result: Mat,
    left_title: str,
    top_title: str,
    result_title: str,
    top_row_labels: Sequence[tuple[str, RGB | None]] = (),
    left_row_labels: Sequence[str] = (),
    column_headers: bool = False,
) -> Block:
    """``result = left · top`` laid out by hand: ``top`` above ``result``, ``left`` to its left."""
    n_bottom, n_inner = left.values.shape
    n_top, n_right = top.values.shape
    if style.numbers:
        cw_right = style.column_width(top.text(), result.text())
        cw_left = style.column_width(left.text())
        ch_top = ch_bottom = style.cell
        label_pt = min(SMALL_PT, style.cell * 72 * 0.55)
    else:
        cw_right = min(style.cell, 9.0 / n_right)
        cw_left = min(style.cell, 4.0 / n_inner)
        ch_top = min(style.cell, 3.0 / n_top)
        ch_bottom = min(style.cell, 2.0 / n_bottom)
        label_pt = SMALL_PT
        top_row_labels, left_row_labels = (), ()
    gap = 0.14
    # heatmaps get a colour bar under each matrix: P's in the gap, K's and KP's under them
    bars = 0.0 if style.numbers else COLORBAR_H
    w_left, w_right = n_inner * cw_left, n_right * cw_right
    h_top, h_bottom = n_top * ch_top, n_bottom * ch_bottom
    top_labels_w = max((text_width(t, label_pt) for t, _ in top_row_labels), default=0.0)
    left_labels_w = max((text_width(t, label_pt) for t in left_row_labels), default=0.0)
    bar = BAR + 0.04 if not style.numbers else 0.0
    quad_left = max(
        top_labels_w + 0.08 + (bar if top.row_colors else 0.0),
        gap + w_left + (left_labels_w + 0.08 if left_row_labels else 0.0),
        gap + (bar if left.row_colors else 0.0) + w_left,
        gap + text_width(left_title, LABEL_PT),
    )
    quad_right = max(w_right, text_width(top_title, LABEL_PT), text_width(result_title, LABEL_PT))
    title_h = line_height(LABEL_PT)
    header_h = 0.0
    if column_headers:
        header_h = line_height(label_pt) if style.numbers else bar
    width = quad_left + quad_right
    height = title_h + header_h + h_top + bars + gap + h_bottom + bars + 0.05 + title_h

    def draw(ax: Axes, x: float, y: float) -> None:
        xr = x + quad_left
        put_text(ax, xr, y, top_title, LABEL_PT, weight="bold")
        yt = y + title_h + header_h
        if column_headers and style.numbers:
            for c in range(n_right):
                color = top.col_colors.get(c)
                put_text(
                    ax,
                    xr + (c + 0.5) * cw_right,
                    yt - 0.03,
                    str(c),
                    label_pt,
                    ha="center",
                    va="bottom",
                    color=MUTED_INK if color is None else color,
                    weight="normal" if color is None else "bold",
                )
        draw_matrix(ax, top, xr, yt, cw_right, ch_top, style)
        for r, (label, color) in enumerate(top_row_labels):
            put_text(
                ax,
                xr - 0.06,
                yt + (r + 0.5) * ch_top,
                label,
                label_pt,
                ha="right",
                va="center",
                color=MUTED_INK if color is None else color,
                weight="normal" if color is None else "bold",
            )
        if bars:
            draw_colorbar(ax, top.values, xr, yt + h_top + 0.05, min(w_right, 1.4))
        yb = yt + h_top + bars + gap
        xl = xr - gap - w_left
        draw_matrix(ax, left, xl, yb, cw_left, ch_bottom, style)
        for r, label in enumerate(left_row_labels):
            put_text(
                ax,
                xl - 0.06,
                yb + (r + 0.5) * ch_bottom,
                label,
                label_pt,
                ha="right",
                va="center",
                color=MUTED_INK,
            )
        draw_matrix(ax, result, xr, yb, cw_right, ch_bottom, style)
        if bars:
            draw_colorbar(ax, left.values, xl, yb + h_bottom + 0.05, min(w_left, 1.4))
            draw_colorbar(ax, result.values, xr, yb + h_bottom + 0.05, min(w_right, 1.4))
        yl = yb + h_bottom + bars + 0.05
        if text_width(left_title, LABEL_PT) <= w_left:
            put_text(ax, xl + w_left / 2, yl, left_title, LABEL_PT, ha="center", weight="bold")
        else:
            put_text(ax, xr - gap, yl, left_title, LABEL_PT, ha="right", weight="bold")
        put_text(ax, xr, yl, result_title, LABEL_PT, weight="bold")

    return Block(width, height, draw)


def kernel_row_labels(e: Explanation, group: int, rows: int) -> list[str]:
    """'c<channel> (<kernel offset>)' for each row of P_g (or of a matrix with P_g's rows)."""
    return [
        f"c{e.row_channel(group, r)} ({','.join(map(str, e.kernel_offset(r)))})"
        for r in range(rows)
    ]


def column_colors(e: Explanation, style: Style) -> dict[int, RGB]:
    return {i: patch_color(i) for i in range(min(e.num_positions, style.max_patches))}


def group_tag(e: Explanation, group: int) -> str:
    return f"_{group}" if e.groups > 1 else ""


def row_block(title: str, values: np.ndarray, style: Style, headers: Sequence[str]) -> Block:
    """A 1-D array drawn as a one-row matrix (numbers as in every other matrix), a header above
    each column."""
    m = Mat(np.asarray(values, dtype=np.float64)[np.newaxis])
    n = m.values.shape[1]
    if style.numbers:
        cw = style.column_width(m.text(), [list(headers)])
    else:
        cw = min(style.cell, 10.0 / n)
    ch = style.cell
    title_h = line_height(LABEL_PT)
    header_h = line_height(SMALL_PT) if style.numbers else 0.0
    width = max(n * cw, text_width(title, LABEL_PT))
    bars = 0.0 if style.numbers else COLORBAR_H
    height = title_h + header_h + ch + bars

    def draw(ax: Axes, x: float, y: float) -> None:
        put_text(ax, x, y, title, LABEL_PT, weight="bold")
        y0 = y + title_h + header_h
        if style.numbers:
            for c, header in enumerate(headers):
                put_text(
                    ax,
                    x + (c + 0.5) * cw,
                    y0 - 0.03,
                    header,
                    SMALL_PT,
                    ha="center",
                    va="bottom",
                    color=MUTED_INK,
                )
        draw_matrix(ax, m, x, y0, cw, ch, style)
        if bars:
            draw_colorbar(ax, m.values, x, y0 + ch + 0.05, min(n * cw, 1.4))

    return Block(width, height, draw)
