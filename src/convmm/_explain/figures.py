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

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ConvmmTypeError, ConvmmValueError
from ._figure_blocks import conv_rows, transpose_rows
from ._figure_draw import PATCH_COLORS, patch_color, tint
from ._figure_layout import arrange, choose_style
from .model import Explanation

if TYPE_CHECKING:
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


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(
            "convmm's explain figures need matplotlib: pip install matplotlib "
            "(or pip install 'convmm[figures]')"
        ) from exc


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
    style = choose_style(explanation, int(max_patches))
    if explanation.kind == "conv_transpose":
        rows = transpose_rows(explanation, style)
    else:
        rows = conv_rows(explanation, style)
    placed, width, height = arrange(rows)
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
