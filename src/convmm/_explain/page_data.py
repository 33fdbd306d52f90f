"""The interactive page's data: the JSON that the page's script draws, for an explanation.

:func:`page_data` turns an :class:`~convmm._explain.model.Explanation` into JSON-ready data
(the shapes, formulas and checks, the matrices' values, the padded frame); :mod:`.page` embeds
it in the page.

When P is too large to show whole (``explanation.elided``), or another array is more than four
times ``max_entries``, the page is a summary: every shape and formula, and a sample of the
patches (the first few columns of P and the last), with the input cells around each, all
cropped to one shape.  A summary embeds only what it draws, so its size does not grow with the
input's.

The geometry the page needs comes from the model's own methods, once, for what the page shows
(lists aligned with ``cols``, the shown rows and ``groups``): ``positions`` (each column's
output position, :meth:`~.model.Explanation.position`), ``patchCells`` (the padded cells it
reads, :meth:`~.model.Explanation.patch_cells`; for a transposed convolution, the uncropped
output cells it adds into), ``rowOffsets`` (each shown row's kernel offset,
:meth:`~.model.Explanation.kernel_offset`) and ``rowChannels`` (per shown group, each shown
row's channel, :meth:`~.model.Explanation.row_channel`).  The script derives none of them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .describe import (
    backward_steps,
    dim_names,
    formula_lines,
    keep,
    plan_line,
    shapes_table,
    title,
)
from .model import Explanation, fold_columns

__all__ = ["CROP_BUDGET", "page_data"]

# ---- how much a summary shows ----------------------------------------------------------------

#: Columns of P shown in a summary: the first few, then the last.
SAMPLE_HEAD_COLUMNS = 4
#: Rows of P_g shown whole up to this many; past it the first and last few.
ROWS_LIMIT, ROWS_HEAD, ROWS_TAIL = 40, 24, 8
#: Filters (rows of K_g) shown whole up to this many; past it the first and last few.
FILTERS_LIMIT, FILTERS_HEAD, FILTERS_TAIL = 8, 6, 2
#: Groups shown whole up to this many; past it the first and the last.
GROUPS_LIMIT = 2
#: Channels of a group drawn around the sampled patches, at most (the first and the last).
CHANNELS_LIMIT, CHANNELS_HEAD = 4, 3
#: Cells drawn around one sampled patch, at most, over all the channels shown.
CROP_BUDGET = 640

_MODES = {
    "zeros": "filled with 0",
    "reflect": "mirrors the input without repeating the edge",
    "replicate": "repeats the edge value",
    "circular": "wraps around to the other side",
}


def _number(value: float) -> float | str:
    """A JSON number; NaN and the infinities, which JSON lacks, as strings."""
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _flat(array: np.ndarray) -> list[float | str]:
    return [_number(v) for v in np.asarray(array, dtype=np.float64).ravel().tolist()]


def _keep(n: int, limit: int, head: int, tail: int) -> list[int]:
    """The indices shown along an axis (``describe.keep``), -1 marking the elided middle."""
    return [-1 if i is None else i for i in keep(n, limit, head, tail)]


def _is_summary(e: Explanation) -> tuple[bool, str]:
    if e.elided:
        return True, (
            f"P has {e.patches.size} entries, more than max_entries = {e.max_entries}: this is "
            "a summary, with every shape and a sample of the patches."
        )
    arrays = {"the input": e.padded, "K": e.kernels, "the output": e.output, "KP": e.products}
    for name, array in arrays.items():
        if array.size > 4 * e.max_entries:
            return True, (
                f"{name} has {array.size} entries, more than 4 × max_entries = "
                f"{4 * e.max_entries}: this is a summary, with every shape and a sample of the "
                "patches."
            )
    return False, ""


Box = tuple[list[int], list[int]]


def _boxes(cells: dict[int, list[tuple[int, ...]]], shape: Sequence[int]) -> dict[int, Box | None]:
    """A crop (origin, size) around the cells of each column, all of one size.

    The size is the largest extent of any column's cells plus a margin of one cell each side
    where it fits in ``shape`` and in ``CROP_BUDGET``; each box is centred on its cells and kept
    inside ``shape``.  One size for all: the page stacks the crops in one place, and crops of
    one shape lay out alike, so that none leaves empty space under another.  None for a column
    without cells.
    """
    spans = {
        col: [(min(c[d] for c in cs), max(c[d] for c in cs)) for d in range(len(shape))]
        for col, cs in cells.items()
        if cs
    }
    if not spans:
        return dict.fromkeys(cells)
    extent = [
        max(hi - lo + 1 for lo, hi in (s[d] for s in spans.values())) for d in range(len(shape))
    ]
    for margin in (1, 0):
        size = [min(n, k + 2 * margin) for k, n in zip(extent, shape, strict=True)]
        if math.prod(size) <= CROP_BUDGET:
            break
    boxes: dict[int, Box | None] = dict.fromkeys(cells)
    for col, span in spans.items():
        origin = [
            min(max(0, lo - (k - (hi - lo + 1)) // 2), n - k)
            for (lo, hi), k, n in zip(span, size, shape, strict=True)
        ]
        boxes[col] = (origin, size)
    return boxes


def _crop(array: np.ndarray, channels: Sequence[int], box: Box | None) -> dict[str, Any] | None:
    """The values of ``array`` (C, *frame) in ``box``, for ``channels``.

    None without a box, or with more than ``CROP_BUDGET`` values to draw.
    """
    if box is None:
        return None
    origin, size = box
    if math.prod(size) * len(channels) > CROP_BUDGET:
        return None
    index = tuple(slice(a, a + n) for a, n in zip(origin, size, strict=True))
    block = array[list(channels)][(slice(None),) + index]
    return {"origin": origin, "shape": size, "values": _flat(block)}


def _sub(matrix: np.ndarray, rows: Sequence[int], cols: Sequence[int]) -> list[float | str]:
    """``matrix[rows][:, cols]`` (the -1 gaps left out), row-major."""
    r = [i for i in rows if i >= 0]
    c = [j for j in cols if j >= 0]
    return _flat(matrix[np.ix_(r, c)])


def page_data(e: Explanation) -> dict[str, Any]:
    """Everything the page's script draws, as JSON-ready data."""
    geometry, window = e.geometry, e.geometry.window
    names = dim_names(window.ndim)
    g_count = geometry.groups
    cin, cout = geometry.in_channels_per_group, geometry.out_channels_per_group
    k_count, positions = window.kernel_numel, e.num_positions
    summary, reason = _is_summary(e)
    transpose = e.kind == "conv_transpose"

    boxes: dict[int, Box | None] | None = None  # the crops of a summary, per sampled column
    if summary:
        head = list(range(min(SAMPLE_HEAD_COLUMNS, positions)))
        cols = head if positions - 1 in head else [*head, positions - 1]
        groups = list(range(g_count)) if g_count <= GROUPS_LIMIT else [0, g_count - 1]
        rows = _keep(cin * k_count, ROWS_LIMIT, ROWS_HEAD, ROWS_TAIL)
        filters = _keep(cout, FILTERS_LIMIT, FILTERS_HEAD, FILTERS_TAIL)
        per_group = [i for i in _keep(cin, CHANNELS_LIMIT, CHANNELS_HEAD, 1) if i >= 0]
        boxes = _boxes({col: e.patch_cells(col) for col in cols}, window.padded_shape)
        # As many channels as the crops' budget allows (one per group at least).
        largest = max(math.prod(box[1]) for box in boxes.values() if box is not None)
        allowed = max(1, CROP_BUDGET // (largest * len(groups)))
        per_group = per_group[:allowed]
    else:
        cols, groups = list(range(positions)), list(range(g_count))
        rows, filters = list(range(cin * k_count)), list(range(cout))
        per_group = list(range(cin))
    # The channels of the padded frame drawn: the input's (conv) or the output's (transpose),
    # both cin per group in the geometry's terms.
    frame_channels = [g * cin + i for g in groups for i in per_group]
    out_filters = [g * cout + f for g in groups for f in filters if f >= 0]
    # The bias of each output channel shown: the frame's (transpose) or the filters'.
    bias = None if e.bias is None else _pick(e.bias, frame_channels if transpose else out_filters)

    data: dict[str, Any] = {
        "kind": e.kind,
        "title": title(e),
        "options": [[k, repr(v)] for k, v in e.options.items()],
        "batch": (f"image {e.sample} of a batch of {geometry.batch}" if geometry.batch > 1 else ""),
        "shapes": shapes_table(e),
        "formula": [[general.strip(), numbers.strip()] for general, numbers in formula_lines(e)],
        "checks": [[name, e.verdict(name)] for name in e.checks],
        "plan": plan_line(e),
        "summary": reason if summary else None,
        "names": list(names),
        "ndim": window.ndim,
        "inputShape": list(window.input_shape),
        "paddedShape": list(window.padded_shape),
        "padding": [list(p) for p in window.padding],
        "kernel": list(window.kernel_size),
        "stride": list(window.stride),
        "dilation": list(window.dilation),
        "outShape": list(window.output_shape),
        "mode": window.padding_mode,
        "modeText": _MODES.get(window.padding_mode, window.padding_mode),
        "isPadded": window.is_padded,
        "sources": _sources(e, cols, boxes),
        "numGroups": g_count,
        "inPerGroup": cin,
        "outPerGroup": cout,
        "inChannels": geometry.in_channels,
        "outChannels": geometry.out_channels,
        "kernelNumel": k_count,
        "numPositions": positions,
        "groups": groups,
        "cols": cols,
        "rows": rows,
        "filters": filters,
        **_geometry(e, groups, rows, cols),
        "frameChannels": frame_channels,
        "bias": bias,
        "matrices": {
            "P": [_sub(e.patches[g], rows, cols) for g in groups],
            "K": [_sub(e.kernels[g], filters, rows) for g in groups],
            "KP": [_sub(e.products[g], filters, cols) for g in groups],
        },
    }
    if transpose:
        data["frame"] = _frame(_uncropped(e), frame_channels, boxes)
        data["xin"] = None if summary else _flat(e.input)
    else:
        data["frame"] = _frame(e.padded, frame_channels, boxes)
        out = e.output.reshape(geometry.out_channels, -1)
        data["out"] = None if summary else _flat(out)
        data["outS"] = _flat(out[np.ix_(out_filters, cols)])
        data["outFilters"] = out_filters
    if e.kind == "conv_backward":
        data.update(_backward(e, groups, rows, filters, cols, frame_channels, out_filters, summary))
    return data


def _geometry(
    e: Explanation, groups: list[int], rows: list[int], cols: list[int]
) -> dict[str, list[Any]]:
    """The geometry of what the page shows, from the model's methods (the page derives none).

    ``positions[i]`` and ``patchCells[i]`` belong to column ``cols[i]``; ``rowOffsets[j]`` to
    the ``j``-th shown row (``rows`` without its -1 gaps), and ``rowChannels[i][j]`` to that
    row in group ``groups[i]``.  Every cell and offset is a list of indices, one per dim.
    """
    shown = [r for r in rows if r >= 0]
    return {
        "positions": [list(e.position(col)) for col in cols],
        "patchCells": [[list(cell) for cell in e.patch_cells(col)] for col in cols],
        "rowOffsets": [list(e.kernel_offset(r)) for r in shown],
        "rowChannels": [[e.row_channel(g, r) for r in shown] for g in groups],
    }


def _pick(values: np.ndarray, indices: Sequence[int]) -> dict[str, float | str]:
    """``values[i]`` for each of ``indices``, keyed by ``str(i)`` (the page indexes it by i)."""
    flat = _flat(values)
    return {str(i): flat[i] for i in indices}


def _sources(
    e: Explanation, cols: list[int], boxes: dict[int, Box | None] | None
) -> list[dict[str, int]]:
    """Per dim, the input index that each padding index holds (-1 for a zero), keyed by str.

    The page computes the inside indices' own (``index - pad_before``).  Whole: every padding
    index.  In a summary (``boxes`` given), only those the page draws or reads: the indices of
    the sampled patches and of their crops, so that the data stays small for any input size.
    """
    window = e.geometry.window
    if boxes is None:
        wanted = [set(range(n)) for n in window.padded_shape]
    else:
        wanted = [set() for _ in range(window.ndim)]
        for col in cols:
            for cell in e.patch_cells(col):
                for d, i in enumerate(cell):
                    wanted[d].add(i)
        for box in boxes.values():
            if box is not None:
                for d, (a, n) in enumerate(zip(*box, strict=True)):
                    wanted[d].update(range(a, a + n))
    return [
        {str(i): int(source[i]) for i in sorted(indices) if not before <= i < before + n}
        for indices, source, (before, _), n in zip(
            wanted, e.padding_source, window.padding, window.input_shape, strict=True
        )
    ]


def _uncropped(e: Explanation) -> np.ndarray:
    """A transposed convolution's output before the crop: the padded frame, ``(C, *padded)``.

    The cropped cells hold what the columns add into them (computed, then dropped); the others
    hold the output, bias included.
    """
    window = e.geometry.window
    # the same fold over the padded frame, with nothing cropped (the window keeps its
    # positions: an output padding of at least the stride adds cells no column reaches)
    frame = dataclasses.replace(
        window, input_shape=window.padded_shape, padding=((0, 0),) * window.ndim
    )
    full = fold_columns(frame, e.patches)
    interior = tuple(
        slice(b, b + n) for (b, _), n in zip(window.padding, window.input_shape, strict=True)
    )
    full[(slice(None),) + interior] = e.output
    return full


def _frame(
    array: np.ndarray, channels: list[int], boxes: dict[int, Box | None] | None
) -> dict[str, Any]:
    """The padded frame's values: whole, or (with ``boxes``) cropped around each patch."""
    if boxes is None:
        return {"values": _flat(array[channels]), "crops": None}
    crops = {str(col): _crop(array, channels, box) for col, box in boxes.items()}
    return {"values": None, "crops": crops}


def _backward(
    e: Explanation,
    groups: list[int],
    rows: list[int],
    filters: list[int],
    cols: list[int],
    channels: list[int],
    out_filters: list[int],
    summary: bool,
) -> dict[str, Any]:
    steps = backward_steps(e, "convmm explain (page)")
    dy, dk, dp = steps.grad_output, steps.grad_weight, steps.grad_patches
    dx, db = steps.grad_input, steps.grad_bias
    if summary:
        read: dict[int, list[tuple[int, ...]]] = {}
        for col in cols:
            sources = (e.source_cell(cell) for cell in e.patch_cells(col))
            read[col] = [s for s in sources if s is not None]
        grad_input: dict[str, Any] = _frame(
            dx, channels, _boxes(read, e.geometry.window.input_shape)
        )
    else:
        grad_input = {"values": _flat(dx[channels]), "crops": None}
    return {
        "gradMatrices": {
            "dY": [_sub(dy[g], filters, cols) for g in groups],
            "dK": [_sub(dk[g], filters, rows) for g in groups],
            "dP": [_sub(dp[g], rows, cols) for g in groups],
        },
        "dX": grad_input,
        "db": _pick(db, out_filters),
    }
