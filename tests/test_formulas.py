"""The output-size formulas convmm prints: every one evaluates to the number it states.

For random convolutions (1-3 spatial dims, strides, dilations, per-side padding, 'same'),
transposed convolutions (output padding up to ``max(stride, dilation) - 1``) and backward
passes, the printed arithmetic of the text walkthrough is parsed and evaluated, and must give
the number after its ``=``, the structured terms' own formula, and the actual output size.  The
page and the figures print the same lines.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convmm
from convmm._errors import ConvmmTypeError, ConvmmValueError
from convmm._explain.describe import dim_names, format_formula
from convmm._explain.page import page_data
from convmm._geometry import (
    OutputSizeTerms,
    TransposedOutputSizeTerms,
    Window,
    make_window,
    transposed_output_length,
    transposed_output_size_terms,
)

# What a printed right-hand side may hold: numbers, + - * /, brackets and floor.
_ARITHMETIC = re.compile(r"^(?:floor|[0-9+\-*/() ])+$")


def _evaluate(expression: str) -> int:
    """The value of a printed formula's arithmetic, as printed (``floor`` is the floor)."""
    assert _ARITHMETIC.fullmatch(expression), expression
    value = eval(expression, {"__builtins__": {}}, {"floor": math.floor})
    assert isinstance(value, int), (expression, value)
    return value


def printed_formulas(text: str) -> list[tuple[str, str, int]]:
    """(dim name, arithmetic, stated result) of each output-size formula in a walkthrough."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "The output size, per dim:" in line)
    found = []
    for general, numbers in zip(lines[start + 1 :: 2], lines[start + 2 :: 2], strict=False):
        if re.fullmatch(r"\s*\w+_pad = .*", general):
            continue  # padding='same' derived (see test_same_padding_is_derived_alike)
        match = re.fullmatch(r"\s*(\w+)_out = .*", general)
        if match is None:
            break
        numbers_match = re.fullmatch(r"\s*= (.*) = (-?\d+)", numbers)
        assert numbers_match is not None, numbers
        found.append((match.group(1), numbers_match.group(1), int(numbers_match.group(2))))
    return found


def _terms_value(terms: OutputSizeTerms | TransposedOutputSizeTerms) -> int:
    """The formula evaluated on the structured terms."""
    if isinstance(terms, TransposedOutputSizeTerms):
        return transposed_output_length(
            terms.input,
            terms.pad_before,
            terms.pad_after,
            terms.kernel,
            terms.stride,
            terms.dilation,
            terms.output_padding,
        )
    span = terms.dilation * (terms.kernel - 1) + 1
    return (terms.input + terms.pad_before + terms.pad_after - span) // terms.stride + 1


def check_formulas(e: convmm.Explanation, input_size: tuple[int, ...]) -> None:
    """Every printed formula of ``e`` evaluates to what it states, which is the output size.

    ``input_size``: the spatial size of the input as given (the transposed input for a
    transposed convolution).
    """
    out_size = tuple(e.output.shape[1:])
    names = dim_names(len(out_size))
    printed = printed_formulas(e.to_text())
    terms = e.formula()
    assert [name for name, _, _ in printed] == list(names)
    assert len(terms) == len(out_size)
    data = page_data(e)["formula"][-len(out_size) :]  # after any derived padding's rows
    for dim, ((name, arithmetic, stated), t) in enumerate(zip(printed, terms, strict=True)):
        assert _evaluate(arithmetic) == stated == out_size[dim], (arithmetic, stated, out_size)
        assert _terms_value(t) == t.output == out_size[dim], t
        assert t.input == input_size[dim], (t, input_size)
        if e.kind == "conv_transpose":
            assert isinstance(t, TransposedOutputSizeTerms)
        else:
            assert isinstance(t, OutputSizeTerms)
        # the text prints the terms, and the page prints the text's lines
        general, numbers = format_formula(name, t).split("\n")
        assert numbers.strip() == f"= {arithmetic} = {stated}"
        assert data[dim] == [general.strip(), numbers.strip()]


@st.composite
def conv_cases(draw: Any) -> dict[str, Any]:
    ndim = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    padding: Any = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(ndim))
    if draw(st.integers(0, 3)) == 0:
        padding = draw(st.sampled_from(["same", "same_lower", "valid"]))
    pairs = padding if isinstance(padding, tuple) else ((0, 0),) * ndim
    spans = [d * (k - 1) + 1 for d, k in zip(dilation, kernel, strict=True)]
    sizes = tuple(
        draw(st.integers(max(1, s - b - a), max(1, s - b - a) + 4))
        for s, (b, a) in zip(spans, pairs, strict=True)
    )
    return {
        "sizes": sizes,
        "kernel": kernel,
        "options": {"stride": stride, "padding": padding, "dilation": dilation},
        "backward": draw(st.booleans()),
    }


@given(conv_cases())
def test_conv_and_backward_formulas_evaluate_to_the_output_size(case: dict[str, Any]) -> None:
    x = np.arange(1.0, 1.0 + math.prod(case["sizes"])).reshape(1, 1, *case["sizes"])
    w = np.ones((1, 1, *case["kernel"]))
    if case["backward"]:
        e = convmm.explain_backward(None, x, w, **case["options"])
    else:
        e = convmm.explain(x, w, **case["options"])
    check_formulas(e, case["sizes"])
    want = convmm.conv_output_shape(x.shape, w.shape, **case["options"])
    assert e.output.shape == want[1:]
    assert all(e.checks.values()), e.checks


@st.composite
def transpose_cases(draw: Any) -> dict[str, Any]:
    ndim = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    sizes = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    extra = tuple(
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    )
    pads = []
    for n, k, s, d, op in zip(sizes, kernel, stride, dilation, extra, strict=True):
        room = (n - 1) * s + d * (k - 1) + op  # the output size less one: what can be cropped
        before = draw(st.integers(0, min(2, room)))
        pads.append((before, draw(st.integers(0, min(2, room - before)))))
    return {
        "sizes": sizes,
        "kernel": kernel,
        "options": {
            "stride": stride,
            "padding": tuple(pads),
            "output_padding": extra,
            "dilation": dilation,
        },
    }


@given(transpose_cases())
def test_transposed_formulas_evaluate_to_the_output_size(case: dict[str, Any]) -> None:
    x = np.arange(1.0, 1.0 + math.prod(case["sizes"])).reshape(1, 1, *case["sizes"])
    w = np.ones((1, 1, *case["kernel"]))
    e = convmm.explain_transpose(x, w, **case["options"])
    check_formulas(e, case["sizes"])
    terms = e.formula()
    options = case["options"]
    for dim, t in enumerate(terms):
        assert isinstance(t, TransposedOutputSizeTerms)
        assert t.output_padding == options["output_padding"][dim]
        assert (t.pad_before, t.pad_after) == options["padding"][dim]
        assert (t.stride, t.dilation, t.kernel) == (
            options["stride"][dim],
            options["dilation"][dim],
            case["kernel"][dim],
        )
    assert e.output.shape[1:] == convmm.conv_transpose(x, w, **options).shape[2:]
    assert all(e.checks.values()), e.checks


def test_the_reported_transposed_case() -> None:
    """dilation 2 > stride 1 with output_padding 1: the output (6) is not a convolution's
    window count over it (4), nor the input (3); the formula printed is the transposed one."""
    e = convmm.explain_transpose(
        np.ones((1, 1, 3)), np.ones((1, 1, 2)), dilation=2, output_padding=1
    )
    (terms,) = e.formula()
    assert terms == TransposedOutputSizeTerms(
        input=3,
        stride=1,
        pad_before=0,
        pad_after=0,
        dilation=2,
        kernel=2,
        output_padding=1,
        output=6,
    )
    line = "= (3 - 1)*1 - 0 - 0 + 2*(2 - 1) + 1 + 1 = 6"
    assert line in e.to_text()
    assert page_data(e)["formula"][0][1] == line
    check_formulas(e, (3,))


@pytest.mark.parametrize(
    ("make", "line"),
    [
        (
            lambda: convmm.explain_transpose(
                np.ones((1, 1, 3)), np.ones((1, 1, 2)), dilation=2, output_padding=1
            ),
            "= (3 - 1)*1 - 0 - 0 + 2*(2 - 1) + 1 + 1 = 6",
        ),
        (
            lambda: convmm.explain(np.ones((1, 1, 5, 7)), np.ones((1, 1, 3, 2)), stride=2),
            "= floor((7 + 0 + 0 - 1*(2 - 1) - 1) / 2) + 1 = 3",
        ),
    ],
)
def test_figures_print_the_same_formula(make: Any, line: str) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from convmm._explain.figures import draw_figure

    e = make()
    texts = [t.get_text().strip() for ax in draw_figure(e).axes for t in ax.texts]
    assert line in texts
    for _, arithmetic, stated in printed_formulas(e.to_text()):
        assert f"= {arithmetic} = {stated}" in texts
        assert _evaluate(arithmetic) == stated


def test_transposed_terms_come_from_the_window_and_refuse_other_windows() -> None:
    # A convolution's window over 7 cells, stride 3: 2 positions, and 7 = (2 - 1)*3 + 3 + 1.
    window = make_window((7,), 3, stride=3, func="test")
    assert transposed_output_size_terms(window, 0) == TransposedOutputSizeTerms(
        input=2,
        stride=3,
        pad_before=0,
        pad_after=0,
        dilation=1,
        kernel=3,
        output_padding=1,
        output=7,
    )
    # No output_padding below max(stride, dilation) = 1 turns 2 positions into 10 or 2 cells.
    for cells in (10, 2):
        other = Window((cells,), (3,), (1,), ((0, 0),), (1,), "zeros", (2,))
        with pytest.raises(ConvmmValueError, match="not the window of a transposed"):
            transposed_output_size_terms(other, 0)


def test_the_formula_parser_finds_every_dim() -> None:
    """The parser itself: each dim's line, its arithmetic and its result."""
    e = convmm.explain(np.ones((1, 1, 4, 5, 6)), np.ones((1, 1, 2, 2, 3)), padding=((1, 0), 0, 2))
    printed = printed_formulas(e.to_text())
    assert [name for name, _, _ in printed] == ["D", "H", "W"]
    assert printed[0] == ("D", "floor((4 + 1 + 0 - 1*(2 - 1) - 1) / 1) + 1", 4)
    assert _evaluate(printed[2][1]) == 8 == printed[2][2]


def test_format_formula_takes_terms_only() -> None:
    with pytest.raises(ConvmmTypeError, match="format_formula: terms must be"):
        format_formula("L", (4, 0, 0, 1, 2, 1, 3))  # type: ignore[arg-type]


@st.composite
def same_cases(draw: Any) -> dict[str, Any]:
    ndim = draw(st.integers(1, 2))
    sizes = tuple(draw(st.lists(st.integers(1, 9), min_size=ndim, max_size=ndim)))
    kernel = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    stride = tuple(draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim)))
    dilation = tuple(draw(st.lists(st.integers(1, 2), min_size=ndim, max_size=ndim)))
    padding = draw(st.sampled_from(["same", "same_lower"]))
    return {
        "sizes": sizes,
        "kernel": kernel,
        "stride": stride,
        "dilation": dilation,
        "padding": padding,
    }


_PAD_NUMBERS = re.compile(
    r"\s*= max\((.*), 0\) = (\d+): (\d+) before, (\d+) after(?: \(the odd one (before|after)\))?"
)


@given(same_cases())
def test_same_padding_is_derived_alike_in_text_page_and_figure(case: dict[str, Any]) -> None:
    """padding='same' / 'same_lower': each dim's total is the printed arithmetic's value (or 0),
    split as the window pads it (the odd cell after for 'same', before for 'same_lower'); the
    text, the page and the figure print the same two lines per dim, before the output size."""
    x = np.ones((1, 1, *case["sizes"]))
    w = np.ones((1, 1, *case["kernel"]))
    options = {k: case[k] for k in ("stride", "dilation", "padding")}
    e = convmm.explain(x, w, **options)
    window = e.geometry.window
    names = dim_names(window.ndim)
    lines = e.to_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "The output size, per dim:" in line)
    printed = lines[start + 1 : start + 1 + 2 * window.ndim]
    for dim, name in enumerate(names):
        general, numbers = printed[2 * dim], printed[2 * dim + 1]
        assert general.strip().startswith(f"{name}_pad = max((ceil({name}_in / stride) - 1)")
        match = _PAD_NUMBERS.fullmatch(numbers)
        assert match is not None, numbers
        arithmetic, total, before, after, odd = match.groups()
        assert max(_evaluate(arithmetic), 0) == int(total)
        assert (int(before), int(after)) == window.padding[dim]
        assert int(before) + int(after) == int(total)
        if int(total) % 2:
            assert odd == ("before" if case["padding"] == "same_lower" else "after")
            assert (int(before) > int(after)) == (case["padding"] == "same_lower")
        else:
            assert odd is None and before == after
        # ceil(input / stride) positions, as 'same' promises
        assert window.output_shape[dim] == -(-case["sizes"][dim] // case["stride"][dim])
    page_rows = page_data(e)["formula"]
    assert page_rows[: window.ndim] == [
        [printed[2 * d].strip(), printed[2 * d + 1].strip()] for d in range(window.ndim)
    ]
    assert len(page_rows) == 2 * window.ndim


def test_numeric_padding_derives_nothing() -> None:
    e = convmm.explain(np.ones((1, 1, 5)), np.ones((1, 1, 3)), padding=1)
    assert "_pad =" not in e.to_text()
    assert len(page_data(e)["formula"]) == 1
