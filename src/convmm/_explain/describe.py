"""What every renderer of an explanation says alike: names, shapes, title, formulas, elision.

The text, the figures and the page draw differently, but they name the dims, write shapes,
title the walkthrough, state the output-size formula (and the padding ``'same'`` derives),
say which formulation ``conv`` uses and elide long axes by the rules here, so that the three
never disagree.  Numbers come from the model and its geometry (``convmm._geometry``), never
re-derived.  Nothing here imports a renderer; every renderer imports this.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._errors import ConvmmTypeError
from .._geometry import (
    OutputSizeTerms,
    SamePaddingTerms,
    TransposedOutputSizeTerms,
    same_padding_derivation,
)
from .model import Explanation, FormulaTerms
from .records import BackwardSteps, TransposeSteps

__all__ = [
    "MAX_LISTED",
    "backward_steps",
    "count",
    "dim_names",
    "format_cells",
    "format_formula",
    "format_index",
    "format_indices",
    "format_same_padding",
    "format_span",
    "formula_lines",
    "keep",
    "options_text",
    "plan_line",
    "same_padding_lines",
    "shape_text",
    "shapes_table",
    "title",
    "transpose_steps",
]

#: Up to this many cells (or indices) are listed one by one; more are a range.
MAX_LISTED = 3


def dim_names(ndim: int) -> tuple[str, ...]:
    """Names for the spatial dims: L; H, W; D, H, W; else d0, d1, ...

    >>> dim_names(2), dim_names(4)
    (('H', 'W'), ('d0', 'd1', 'd2', 'd3'))
    """
    return {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(
        ndim, tuple(f"d{i}" for i in range(ndim))
    )


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun, singular for 1: '1 filter', '4 filters' (``plural`` if not +s)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def shape_text(shape: Sequence[int], times: str = " × ") -> str:
    """A shape as its sizes joined by ``times``: '3 × 4 × 4' (the text renderer uses ' x ').

    >>> shape_text((3, 4, 4)), shape_text((2, 5), " x ")
    ('3 × 4 × 4', '2 x 5')
    """
    return times.join(str(int(n)) for n in shape)


def format_index(index: Sequence[int]) -> str:
    """A spatial index or a per-dim value: ``2`` for one spatial dim, ``(2, 3)`` for more."""
    values = [str(int(i)) for i in index]
    return values[0] if len(values) == 1 else "(" + ", ".join(values) + ")"


def format_span(noun: str, first: int, last: int, plural: str | None = None) -> str:
    """A run of numbered things: 'input channel 0', or 'input channels 0..3'."""
    if first == last:
        return f"{noun} {first}"
    return f"{plural or noun + 's'} {first}..{last}"


def _step(values: Sequence[int]) -> int:
    """The step of an evenly spaced, sorted run of indices (1 for a single index)."""
    return values[1] - values[0] if len(values) > 1 else 1


def format_indices(indices: Sequence[int]) -> str:
    """Evenly spaced indices along one dim: '0, 2, 4' (a few), '0 … 5', or '0 … 8 step 2'.

    ``indices`` are those a window reads along one dim (sorted, evenly spaced, repeats allowed).
    """
    values = sorted({int(i) for i in indices})
    if len(values) <= MAX_LISTED:
        return ", ".join(map(str, values))
    step = _step(values)
    return f"{values[0]} … {values[-1]}" + (f" step {step}" if step > 1 else "")


def format_cells(cells: Sequence[tuple[int, ...]]) -> str:
    """The cells a patch reads (``Explanation.patch_cells``), the gaps of a dilation shown.

    'cell 3'; 'cells 0, 2, 4' (a few, listed); 'cells (0, 0) … (1, 1)' (every cell of that
    box); 'cells (0, 0) … (2, 4) step (1, 2)' (every second cell along the last dim).  The
    cells are the product of one evenly spaced run of indices per dim.
    """
    unique = sorted(set(cells))
    if len(unique) == 1:
        return f"cell {format_index(unique[0])}"
    if len(unique) <= MAX_LISTED:
        return "cells " + ", ".join(format_index(c) for c in unique)
    runs = [sorted({c[d] for c in unique}) for d in range(len(unique[0]))]
    steps = [_step(run) for run in runs]
    first, last = tuple(run[0] for run in runs), tuple(run[-1] for run in runs)
    text = f"cells {format_index(first)} … {format_index(last)}"
    return text + (f" step {format_index(steps)}" if max(steps) > 1 else "")


def keep(n: int, limit: int, head: int | None = None, tail: int | None = None) -> list[int | None]:
    """The indices shown along an axis of length ``n``: all up to ``limit``, else the first
    ``head`` and the last ``tail`` with None marking the elided middle (by default half of
    ``limit`` before the gap and the rest after it).

    >>> keep(4, 6), keep(10, 6), keep(10, 6, head=3, tail=1)
    ([0, 1, 2, 3], [0, 1, 2, None, 8, 9], [0, 1, 2, None, 9])
    """
    if n <= limit:
        return list(range(n))
    head = limit // 2 if head is None else head
    tail = limit - head - 1 if tail is None else tail
    return [*range(head), None, *range(n - tail, n)]


def options_text(e: Explanation) -> str:
    """The options as the caller gave them: 'stride=2, padding=1'."""
    return ", ".join(f"{k}={v!r}" for k, v in e.options.items())


def title(e: Explanation, times: str = " × ") -> str:
    """What the explanation computes, on what shapes (``times`` joins the sizes).

    'convolution of a 3 × 4 × 4 input (channels × H × W) with 2 filters of 3 × 2 × 2'.
    """
    geometry, window = e.geometry, e.geometry.window
    names = times.join(dim_names(window.ndim))
    if e.kind == "conv_transpose":
        return (
            f"transposed convolution of a {shape_text(e.input.shape, times)} input to "
            f"{shape_text(e.output.shape, times)} (channels{times}{names})"
        )
    what = "convolution" if e.kind == "conv" else "convolution, backward pass"
    return (
        f"{what} of a {shape_text(e.input.shape, times)} input (channels{times}{names}) with "
        f"{count(geometry.out_channels, 'filter')} of "
        f"{geometry.in_channels_per_group}{times}{shape_text(window.kernel_size, times)}"
    )


def plan_line(e: Explanation) -> str:
    """Which formulation the library's own function uses for this call, and why (one line)."""
    plan = e.plan()
    return f"convmm.{e.kind} computes it with algorithm={plan.algorithm!r}: {plan.reason}."


def format_formula(name: str, t: FormulaTerms) -> str:
    """The output-size formula for one dim, then (on a second line, its ``=`` under the first
    line's) the same with its numbers substituted and the result.

    ``t`` is a convolution's :class:`~convmm._window.OutputSizeTerms` or a transposed
    convolution's :class:`~convmm._transposed.TransposedOutputSizeTerms`.
    """
    under = " " * (len(name) + 5)
    if isinstance(t, TransposedOutputSizeTerms):
        return (
            f"{name}_out = ({name}_in - 1)*stride - pad_before - pad_after"
            f" + dilation*(kernel - 1) + output_padding + 1\n"
            f"{under}= ({t.input} - 1)*{t.stride} - {t.pad_before} - {t.pad_after}"
            f" + {t.dilation}*({t.kernel} - 1) + {t.output_padding} + 1 = {t.output}"
        )
    if not isinstance(t, OutputSizeTerms):
        raise ConvmmTypeError(
            f"format_formula: terms must be OutputSizeTerms or TransposedOutputSizeTerms; "
            f"got {type(t).__name__}"
        )
    return (
        f"{name}_out = floor(({name}_in + pad_before + pad_after - dilation*(kernel - 1) - 1)"
        f" / stride) + 1\n"
        f"{under}= floor(({t.input} + {t.pad_before} + {t.pad_after}"
        f" - {t.dilation}*({t.kernel} - 1) - 1) / {t.stride}) + 1 = {t.output}"
    )


def format_same_padding(name: str, t: SamePaddingTerms, lower: bool) -> str:
    """How ``'same'`` (or ``'same_lower'``) padding is derived for one dim, in two lines as
    :func:`format_formula`: the total, then its numbers and the split before/after.

    >>> from convmm._geometry import same_padding_terms
    >>> print(format_same_padding("W", same_padding_terms(5, 4, 1, 1, lower=False), False))
    W_pad = max((ceil(W_in / stride) - 1)*stride + dilation*(kernel - 1) + 1 - W_in, 0)
          = max((5 - 1)*1 + 1*(4 - 1) + 1 - 5, 0) = 3: 1 before, 2 after (the odd one after)
    """
    under = " " * (len(name) + 5)
    odd = ""
    if t.total % 2:
        odd = " (the odd one before)" if lower else " (the odd one after)"
    return (
        f"{name}_pad = max((ceil({name}_in / stride) - 1)*stride + dilation*(kernel - 1)"
        f" + 1 - {name}_in, 0)\n"
        f"{under}= max(({t.output} - 1)*{t.stride} + {t.dilation}*({t.kernel} - 1) + 1"
        f" - {t.input}, 0) = {t.total}: {t.before} before, {t.after} after{odd}"
    )


def same_padding_lines(e: Explanation) -> list[tuple[str, str]]:
    """For ``padding='same'`` or ``'same_lower'``, per dim, how the padding was derived (the
    rule and the same with its numbers, see :func:`format_same_padding`); else nothing."""
    padding = e.options.get("padding")
    derived = None if e.kind == "conv_transpose" else same_padding_derivation(e.geometry, padding)
    if derived is None:
        return []
    names = dim_names(e.geometry.window.ndim)
    lines = []
    for name, same in zip(names, derived, strict=True):
        general, numbers = format_same_padding(name, same, padding == "same_lower").split("\n")
        lines.append((general, numbers))
    return lines


def formula_lines(e: Explanation) -> list[tuple[str, str]]:
    """Per dim, the output-size formula and the same with its numbers (a transposed
    convolution's own), preceded by :func:`same_padding_lines` where the padding was derived."""
    names = dim_names(e.geometry.window.ndim)
    lines = same_padding_lines(e)
    for name, terms in zip(names, e.formula(), strict=True):
        general, numbers = format_formula(name, terms).split("\n")
        lines.append((general, numbers))
    return lines


def backward_steps(e: Explanation, renderer: str) -> BackwardSteps:
    """The steps of a ``conv_backward`` explanation, gradients included; a clear error for any
    other kind.  Every renderer asks here, so that all refuse alike (``renderer`` names the
    one asking)."""
    if not isinstance(e.steps, BackwardSteps):
        raise ConvmmTypeError(
            f"{renderer}: a {e.kind!r} explanation has no gradients to show "
            "(convmm.explain_backward makes one that has)"
        )
    return e.steps


def transpose_steps(e: Explanation, renderer: str) -> TransposeSteps:
    """The steps of a ``conv_transpose`` explanation; a clear error for any other kind."""
    if not isinstance(e.steps, TransposeSteps):
        raise ConvmmTypeError(
            f"{renderer}: a {e.kind!r} explanation is not a transposed convolution"
        )
    return e.steps


def shapes_table(e: Explanation) -> list[list[str]]:
    """Rows of the shapes table: name, shape (sizes joined by ×), what the axes are."""
    geometry, window = e.geometry, e.geometry.window
    names = " × ".join(dim_names(window.ndim))
    g, cin, cout = geometry.groups, geometry.in_channels_per_group, geometry.out_channels_per_group
    k, positions = window.kernel_numel, e.num_positions
    layout = "channels last" if geometry.channels_last else "channels first"
    batch = "N × " if geometry.batched else ""
    if e.kind == "conv_transpose":
        in_layout = f"{batch}C × {names}" if not geometry.channels_last else f"{batch}{names} × C"
        rows = [
            [
                "input, as given",
                shape_text(geometry.output_array_shape()),
                f"{in_layout} ({layout})",
            ],
            ["X (this sample)", shape_text(e.input.shape), f"channels × {names}"],
            ["weight", shape_text(e.weight.shape), "C_in × C_out/groups × kernel"],
            [
                "K",
                shape_text(e.kernels.shape),
                f"groups × rows (input channel) × {cin}·{k} columns",
            ],
            ["X_g", shape_text(e.products.shape), "groups × channels × input positions"],
            ["Kᵀ·X", shape_text(e.patches.shape), "groups × (channel, kernel offset) × positions"],
            ["output (uncropped)", shape_text((geometry.in_channels, *window.padded_shape)), ""],
            ["output", shape_text(e.output.shape), f"channels × {names}"],
            ["output, as returned", shape_text(geometry.input_array_shape()), layout],
        ]
        return rows
    in_layout = f"{batch}C × {names}" if not geometry.channels_last else f"{batch}{names} × C"
    rows = [
        [
            "input, as given",
            shape_text(geometry.input_array_shape()),
            f"{in_layout} ({layout})",
        ],
        ["X (this sample)", shape_text(e.input.shape), f"channels × {names}"],
    ]
    if window.is_padded:
        rows.append(
            ["X padded", shape_text(e.padded.shape), f"padding_mode {window.padding_mode!r}"]
        )
    rows += [
        ["weight", shape_text(e.weight.shape), "C_out × C_in/groups × kernel"],
        [
            "P",
            shape_text(e.patches.shape),
            f"{count(g, 'group')} × {cin}·{k} {'row' if cin * k == 1 else 'rows'} × "
            f"{count(positions, 'position')}",
        ],
        [
            "K",
            shape_text(e.kernels.shape),
            f"{count(g, 'group')} × {count(cout, 'filter')} × {cin}·{k}",
        ],
        ["KP", shape_text(e.products.shape), "groups × filters × positions"],
        ["output", shape_text(e.output.shape), f"filters × {names}"],
        ["output, as returned", shape_text(geometry.output_array_shape()), layout],
    ]
    if e.kind == "conv_backward":
        rows += [
            ["dY", shape_text(e.products.shape), "like KP"],
            ["dK = dY·Pᵀ", shape_text(e.kernels.shape), "like K"],
            ["dP = Kᵀ·dY", shape_text(e.patches.shape), "like P"],
            ["dX = fold(dP)", shape_text(e.input.shape), "like X"],
            ["db", shape_text((geometry.out_channels,)), "one per filter"],
        ]
    return rows
