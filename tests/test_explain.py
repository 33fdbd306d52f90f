"""explain: the model and the text walkthrough, against the library, the reference and torch."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import convmm
from convmm._errors import ConvmmTypeError
from convmm._explain.describe import count, format_cells, format_index, format_indices, format_span
from convmm._explain.page import page_data, render_page
from convmm._explain.text import format_matrix
from convmm.examples import SEED_EXAMPLES

SEED = {e.name: e for e in SEED_EXAMPLES}
CHROMIUM = "/usr/bin/chromium"

# The seed article's figures: P (the bigger example's first and last rows), KP and outputs.
SEED_KP = {
    "small": [[44, 54, 64, 84, 94, 104, 124, 134, 144]],
    "bigger": [
        [2060, 2138, 2216, 2372, 2450, 2528, 2684, 2762, 2840],
        [4868, 5090, 5312, 5756, 5978, 6200, 6644, 6866, 7088],
    ],
    "1d": [[1530, 1686, 1842, 1998, 2154], [3618, 4062, 4506, 4950, 5394]],
}


@pytest.mark.parametrize("name", list(SEED))
def test_seed_text_has_every_number(name: str) -> None:
    """The text shows P, K, KP and the output of each seed example, exactly as matrices."""
    example = SEED[name]
    e = convmm.explain(example.input, example.weight, **example.options)
    text = e.to_text()
    assert np.array_equal(e.products[0], np.array(SEED_KP[name], dtype=float))
    for block in (e.patches[0], e.kernels[0], e.products[0]):
        assert format_matrix(block, "   ") in text
    for plane in e.output:
        assert format_matrix(np.atleast_2d(plane)) in text
    assert all(e.checks.values()), e.checks
    assert "torch: same" in text and "convmm.reference.conv: same" in text


def test_seed_bigger_patch_matrix_rows() -> None:
    e = convmm.explain(SEED["bigger"].input, SEED["bigger"].weight)
    assert e.patches.shape == (1, 12, 9)
    assert list(e.patches[0, 0]) == [1, 2, 3, 5, 6, 7, 9, 10, 11]
    assert list(e.patches[0, -1]) == [38, 39, 40, 42, 43, 44, 46, 47, 48]
    assert list(e.kernels[0, 0]) == list(range(1, 13))


def test_formula_in_text() -> None:
    e = convmm.explain(np.ones((1, 5, 7)), np.ones((1, 1, 3, 2)), padding=((1, 0), 2), stride=2)
    text = e.to_text()
    assert "= floor((5 + 1 + 0 - 1*(3 - 1) - 1) / 2) + 1 = 2" in text
    assert "= floor((7 + 2 + 2 - 1*(2 - 1) - 1) / 2) + 1 = 5" in text


def test_p_is_the_unfold_that_conv_multiplies() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 6, 5))
    w = rng.standard_normal((6, 2, 3, 2))
    e = convmm.explain(x, w, groups=2, padding=1, padding_mode="circular", sample=1)
    columns = convmm.unfold(x, (3, 2), padding=1, padding_mode="circular")[1]
    assert np.array_equal(e.patches.reshape(columns.shape), columns)
    assert np.allclose(e.output, convmm.conv(x, w, groups=2, padding=1, padding_mode="circular")[1])


@st.composite
def configurations(draw: Any) -> dict[str, Any]:
    ndim = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(ndim))
    spans = [d * (k - 1) + 1 for d, k in zip(dilation, kernel, strict=True)]
    sizes = tuple(
        draw(st.integers(max(s - a - b, max(a, b) + 1, 1), 6))
        for s, (a, b) in zip(spans, pads, strict=True)
    )
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    batch = draw(st.integers(1, 2))
    padding: Any = pads
    if draw(st.integers(0, 3)) == 0:
        padding = draw(st.sampled_from(["same", "same_lower", "valid"]))
    channels_last = draw(st.booleans())
    x_shape = (batch, *sizes, cin) if channels_last else (batch, cin, *sizes)
    w_shape = (cout, cin // groups, *kernel)
    options = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "padding_mode": mode,
        "channels_last": channels_last,
    }
    try:  # a padding string may need more than reflect or circular allow: drop those
        convmm.conv_output_shape(x_shape, w_shape, **options)
    except ValueError:
        assume(False)
    return {
        "x": x_shape,
        "w": w_shape,
        "dtype": draw(st.sampled_from([np.float64, np.float64, np.float32, np.float16])),
        "bias": draw(st.booleans()),
        "sample": draw(st.integers(0, batch - 1)),
        "options": options,
        "seed": draw(st.integers(0, 2**16)),
    }


def _channels_first(a: np.ndarray, options: dict[str, Any]) -> np.ndarray:
    return np.moveaxis(a, -1, 1) if options["channels_last"] else a


@given(configurations())
def test_explanations_agree_with_conv_and_torch(config: dict[str, Any]) -> None:
    rng = np.random.default_rng(config["seed"])
    dtype = config["dtype"]
    x = rng.standard_normal(config["x"]).astype(dtype)
    w = rng.standard_normal(config["w"]).astype(dtype)
    b = rng.standard_normal(config["w"][0]).astype(dtype) if config["bias"] else None
    options = config["options"]
    e = convmm.explain(x, w, b, sample=config["sample"], **options)
    assert e.checks == {"convmm.conv": True, "convmm.reference.conv": True, "torch": True}
    assert e.check_notes == {}
    fast = _channels_first(convmm.conv(x, w, b, **options), options)[config["sample"]]
    tolerance = {np.float64: 1e-9, np.float32: 1e-4, np.float16: 5e-2}[dtype]
    assert np.allclose(e.output, fast, rtol=tolerance, atol=tolerance)
    x = _channels_first(x, options)
    # Each column of P holds, row by row, the padded input at the cells patch_cells names.
    for column in {0, e.num_positions - 1, e.num_positions // 2}:
        cells = e.patch_cells(column)
        for group in range(e.groups):
            for row in range(e.patches.shape[1]):
                channel = e.row_channel(group, row)
                cell = cells[row % len(cells)]
                assert e.patches[group, row, column] == e.padded[(channel, *cell)]
    # The padding is what padding_mode says: each padded cell holds its source cell's value.
    for cell in np.ndindex(*e.padded.shape[1:]):
        source = e.source_cell(cell)
        expected = 0.0 if source is None else e.input[(0, *source)]
        assert e.padded[(0, *cell)] == expected
        window = e.geometry.window
        outside = any(
            not before <= i < before + n
            for i, (before, _), n in zip(cell, window.padding, window.input_shape, strict=True)
        )
        assert e.is_padding(cell) == outside
        if window.padding_mode == "zeros":
            assert (source is None) == outside
    assert e.to_text().startswith("convmm explain: convolution")


@given(configurations())
def test_backward_explanations_agree(config: dict[str, Any]) -> None:
    rng = np.random.default_rng(config["seed"])
    dtype = config["dtype"]
    x = rng.standard_normal(config["x"]).astype(dtype)
    w = rng.standard_normal(config["w"]).astype(dtype)
    options = config["options"]
    y = convmm.conv(x, w, **options)
    dy = rng.standard_normal(y.shape).astype(dtype)
    e = convmm.explain_backward(dy, x, w, sample=config["sample"], **options)
    assert e.checks == {
        "convmm.conv_backward": True,
        "convmm.reference.conv_backward": True,
        "torch": True,
    }
    one = slice(config["sample"], config["sample"] + 1)
    gi, gw, _ = convmm.conv_backward(dy[one], x[one], w, **options)
    assert gi is not None and gw is not None and e.grad_input is not None
    tolerance = {np.float64: 1e-9, np.float32: 1e-3, np.float16: 0.5}[dtype]
    assert np.allclose(
        e.grad_input, _channels_first(gi, options)[0], rtol=tolerance, atol=tolerance
    )
    assert e.grad_weight is not None
    assert np.allclose(e.grad_weight.reshape(gw.shape), gw, rtol=tolerance, atol=tolerance)
    tag = "_0" if e.groups > 1 else ""
    assert f"dK{tag} = dY{tag} @ P{tag}^T" in e.to_text()


@st.composite
def transpose_configurations(draw: Any) -> dict[str, Any]:
    ndim = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    sizes = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    extra = tuple(
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    )
    pads = []
    for n, k, s, d, op in zip(sizes, kernel, stride, dilation, extra, strict=True):
        room = (n - 1) * s + d * (k - 1) + op  # output size less one: what can be cropped
        before = draw(st.integers(0, min(2, room)))
        pads.append((before, draw(st.integers(0, min(2, room - before)))))
    channels_last = draw(st.booleans())
    batch = draw(st.integers(1, 2))
    return {
        "x": (batch, *sizes, cin) if channels_last else (batch, cin, *sizes),
        "w": (cin, cout // groups, *kernel),
        "dtype": draw(st.sampled_from([np.float64, np.float64, np.float32, np.float16])),
        "bias": draw(st.booleans()),
        "sample": draw(st.integers(0, batch - 1)),
        "options": {
            "stride": stride,
            "padding": tuple(pads),
            "output_padding": extra,
            "dilation": dilation,
            "groups": groups,
            "channels_last": channels_last,
        },
        "seed": draw(st.integers(0, 2**16)),
    }


@given(transpose_configurations())
def test_transpose_explanations_agree(config: dict[str, Any]) -> None:
    """Every option, per-side cropping included: the walkthrough's fold of Kᵀ·X is checked
    against convmm.conv_transpose, the direct reference and torch (uncropped, then cropped)."""
    rng = np.random.default_rng(config["seed"])
    dtype = config["dtype"]
    x = rng.standard_normal(config["x"]).astype(dtype)
    w = rng.standard_normal(config["w"]).astype(dtype)
    cout = w.shape[1] * config["options"]["groups"]
    b = rng.standard_normal(cout).astype(dtype) if config["bias"] else None
    options = config["options"]
    e = convmm.explain_transpose(x, w, b, sample=config["sample"], **options)
    assert e.checks == {
        "convmm.conv_transpose": True,
        "convmm.reference.conv_transpose": True,
        "torch": True,
    }
    fast = _channels_first(convmm.conv_transpose(x, w, b, **options), options)
    tolerance = {np.float64: 1e-9, np.float32: 1e-4, np.float16: 5e-2}[dtype]
    assert np.allclose(e.output, fast[config["sample"]], rtol=tolerance, atol=tolerance)
    assert "The columns K^T @ X" in e.to_text()


def test_transpose_per_side_cropping_is_checked_against_torch() -> None:
    """torch crops both sides alike; the check runs it uncropped and crops each side itself."""
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((1, 2, 3, 4)), rng.standard_normal((2, 3, 3, 2))
    e = convmm.explain_transpose(x, w, stride=2, padding=((0, 2), (1, 0)), output_padding=(1, 0))
    assert e.checks["torch"] is True and e.output.shape == (3, 6, 7)
    full = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), stride=2)
    want = np.zeros((3, 8, 8))
    want[:, :7, :8] = full[0].numpy()
    assert np.allclose(e.output, want[:, 0:6, 1:8])


@pytest.mark.parametrize("output_size", [(10, 11), (2, 3, 9, 11), 10])
def test_transpose_output_size_sets_the_output_padding(output_size: Any) -> None:
    """``output_size`` (PyTorch's form: the spatial sizes, the whole shape, or an int) gives
    the same explanation as the output padding it implies, checked against torch, and the
    output-size formula shows that padding."""
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 2, 4, 5)), rng.standard_normal((2, 3, 3, 2))
    e = convmm.explain_transpose(x, w, stride=2, output_size=output_size, sample=1)
    sizes = output_size[-2:] if isinstance(output_size, tuple) else (output_size,) * 2
    padding = tuple(
        int(n - ((m - 1) * 2 + k)) for n, m, k in zip(sizes, (4, 5), (3, 2), strict=True)
    )
    same = convmm.explain_transpose(x, w, stride=2, output_padding=padding, sample=1)
    assert e.output.shape == (3, *sizes) and e.checks["torch"] is True
    assert np.array_equal(e.output, same.output)
    assert e.options["output_size"] == output_size
    assert f"+ {padding[1]} + 1 = {sizes[1]}" in e.to_text()
    with pytest.raises(ValueError, match=r"^convmm.explain_transpose: give output_size or "):
        convmm.explain_transpose(x, w, stride=2, output_size=output_size, output_padding=1)
    with pytest.raises(ValueError, match=r"^convmm.explain_transpose: output_size"):
        convmm.explain_transpose(x, w, stride=2, output_size=(20, 20))


def test_three_d_is_shown_slice_by_slice() -> None:
    e = convmm.explain(np.arange(1.0, 28.0).reshape(1, 3, 3, 3), np.ones((1, 1, 2, 2, 2)))
    text = e.to_text()
    assert "channel 0, slice D=0:" in text and "channel 0, slice D=2:" in text
    assert e.checks["torch"] is True


def test_large_explanations_are_summarised() -> None:
    x = np.ones((1, 8, 32, 32))
    w = np.ones((4, 8, 3, 3))
    e = convmm.explain(x, w, padding=1)
    assert e.elided and e.patches.size > e.max_entries
    text = e.to_text()
    assert "shown in part" in text and "⋮" in text and "…" in text
    assert len(text) < 30_000


def test_channels_last_explanations_use_channels_first_views() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 6, 2))
    w = rng.standard_normal((3, 2, 2, 2))
    e = convmm.explain(x, w, channels_last=True)
    assert e.input.shape == (2, 5, 6)
    assert np.allclose(e.output, np.moveaxis(convmm.conv(x, w, channels_last=True), -1, 0))
    assert all(e.checks.values())


def test_str_is_the_walkthrough_and_repr_one_short_line() -> None:
    e = convmm.explain(SEED["small"].input, SEED["small"].weight)
    assert str(e) == f"{e}" == e.to_text()
    assert str(e).startswith("convmm explain: convolution") and "Checks:" in str(e)
    assert (
        repr(e)
        == f"{e!r}"
        == ("<Explanation conv: input (1, 1, 4, 4), weight (1, 1, 2, 2) -> output (1, 1, 3, 3)>")
    )
    transpose = convmm.explain_transpose(np.ones((2, 1, 3)), np.ones((1, 2, 2)), sample=1)
    assert repr(transpose) == (
        "<Explanation conv_transpose: input (2, 1, 3), weight (1, 2, 2) -> output (2, 2, 4), "
        "sample 1>"
    )
    backward = convmm.explain_backward(None, np.ones((3, 4, 4)), np.ones((2, 3, 2, 2)))
    assert repr(backward) == (
        "<Explanation conv_backward: input (3, 4, 4), weight (2, 3, 2, 2) -> output (2, 3, 3)>"
    )
    for one in (e, transpose, backward):
        assert "\n" not in repr(one) and len(repr(one)) < 120
        assert str(one) == one.to_text() and len(str(one)) > 10 * len(repr(one))
    assert repr([e]) == f"[{e!r}]"  # in a container, the short form


def test_explanations_compare_and_hash_by_identity() -> None:
    """Array fields make field-wise == ambiguous: an explanation equals itself only."""
    x, w = SEED["small"].input, SEED["small"].weight
    e, again = convmm.explain(x, w), convmm.explain(x, w)
    assert (e == e) is True and (e != e) is False
    assert (e == again) is False and (e != again) is True
    assert (e == dataclasses.replace(e)) is False
    assert (e == object()) is False
    assert hash(e) == hash(e) and isinstance(hash(again), int)
    assert len({e, again, e}) == 2 and {e: 1}[e] == 1
    assert [again].count(e) == 0 and e in [again, e]


# ---- the wording of the text walkthrough --------------------------------------------------------


def test_counts_are_singular_or_plural() -> None:
    one = convmm.explain(np.ones((1, 1, 2)), np.ones((1, 1, 2))).to_text()
    assert "with 1 filter of 1 x 2" in one and "; 1 position." in one
    many = convmm.explain(np.ones((1, 2, 4)), np.ones((4, 1, 2)), groups=2).to_text()
    assert "with 4 filters of 1 x 2" in many and "; 3 positions." in many
    transpose = convmm.explain_transpose(np.ones((1, 2, 2)), np.ones((2, 2, 2)), groups=2)
    backward = convmm.explain_backward(None, np.ones((1, 2, 3, 3)), np.ones((2, 1, 2, 2)), groups=2)
    for text in (one, many, transpose.to_text(), backward.to_text()):
        assert "(s)" not in text and "(es)" not in text


def test_one_dim_values_print_as_numbers_and_more_dims_as_tuples() -> None:
    text = convmm.explain(np.ones((1, 1, 9)), np.ones((1, 1, 3)), stride=2).to_text()
    assert "the 3 window (dilation 1) slides with stride 2; 4 positions." in text
    assert "patch 1 (output position 1) reads cells 2, 3, 4" in text
    assert not re.search(r"\(\d+,\)", text)  # no (2,) anywhere
    two = convmm.explain(np.ones((1, 1, 4, 5)), np.ones((1, 1, 2, 2)), stride=(1, 2)).to_text()
    assert (
        "the 2 x 2 window (dilation (1, 1)) slides with stride (1, 2); 6 positions (3 x 2)." in two
    )
    assert "patch 1 (output position (0, 1)) reads cells (0, 2) … (1, 3)" in two
    transpose = convmm.explain_transpose(np.ones((1, 1, 3)), np.ones((1, 1, 2)), stride=2)
    text = transpose.to_text()
    assert "(stride 2, dilation 1)." in text and "cropped" not in text
    assert "column 1 (input position 1) adds into cells 2, 3 of the output" in text
    assert not re.search(r"\(\d+,\)", text)


def test_dilated_patches_list_their_cells_or_state_the_step() -> None:
    text = convmm.explain(np.ones((1, 1, 9)), np.ones((1, 1, 3)), dilation=2).to_text()
    assert "patch 0 (output position 0) reads cells 0, 2, 4" in text
    long = convmm.explain(np.ones((1, 1, 12)), np.ones((1, 1, 5)), dilation=2).to_text()
    assert "patch 1 (output position 1) reads cells 1 … 9 step 2" in long
    two = convmm.explain(np.ones((1, 1, 6, 9)), np.ones((1, 1, 2, 3)), dilation=(1, 3)).to_text()
    assert "patch 0 (output position (0, 0)) reads cells (0, 0) … (1, 6) step (1, 3)" in two
    contiguous = convmm.explain(SEED["small"].input, SEED["small"].weight).to_text()
    assert "patch 8 (output position (2, 2)) reads cells (2, 2) … (3, 3)" in contiguous
    transpose = convmm.explain_transpose(
        np.ones((1, 1, 3)), np.ones((1, 1, 3)), dilation=2, padding=((1, 0),)
    ).to_text()
    assert "column 2 (input position 2) adds into cells 2, 4, 6 of the uncropped output" in (
        transpose
    )
    assert "less the cropped padding (L: 1 before, 0 after)." in transpose


def test_format_helpers() -> None:
    assert count(1, "filter") == "1 filter" and count(0, "filter") == "0 filters"
    assert count(2, "patch", "patches") == "2 patches"
    assert format_index((2,)) == "2" and format_index((2, 3)) == "(2, 3)"
    assert format_span("input channel", 3, 3) == "input channel 3"
    assert format_span("input channel", 2, 3) == "input channels 2..3"
    assert format_indices([0, 2, 4]) == "0, 2, 4" and format_indices([1, 1]) == "1"
    assert format_indices(range(0, 9, 2)) == "0 … 8 step 2" and format_indices(range(5)) == "0 … 4"
    assert (
        format_cells([(3,)]) == "cell 3"
        and format_cells([(0, 0), (0, 2)]) == "cells (0, 0), (0, 2)"
    )
    cells = [(i, j) for i in (0, 1) for j in (0, 3, 6)]
    assert format_cells(cells) == "cells (0, 0) … (1, 6) step (1, 3)"
    assert format_cells([(i, j) for i in (4, 5) for j in (1, 2)]) == "cells (4, 1) … (5, 2)"


def test_padding_is_named_only_when_there_is_some() -> None:
    plain = convmm.explain(SEED["small"].input, SEED["small"].weight).to_text()
    assert "2. No padding." in plain and " reads cells (0, 0) … (1, 1)" in plain
    assert "padded cells" not in plain
    padded = convmm.explain(SEED["small"].input, SEED["small"].weight, padding=1).to_text()
    assert "patch 0 (output position (0, 0)) reads padded cells (0, 0) … (1, 1)" in padded


def test_a_group_of_one_channel_or_one_filter_is_named_in_the_singular() -> None:
    one = convmm.explain(np.ones((1, 2, 4)), np.ones((2, 1, 2)), groups=2).to_text()
    assert "P_0: 2 x 3 (input channel 0)" in one and "P_1: 2 x 3 (input channel 1)" in one
    assert "K_1: 1 x 2 (filter 1)" in one and ".." not in one
    two = convmm.explain(np.ones((1, 4, 4)), np.ones((4, 2, 2)), groups=2).to_text()
    assert "P_1: 4 x 3 (input channels 2..3)" in two and "K_1: 2 x 4 (filters 2..3)" in two


def test_backward_db_is_a_matrix_like_the_others() -> None:
    e = convmm.explain_backward(
        np.full((1, 2, 3, 3), 0.25), SEED["bigger"].input, SEED["bigger"].weight
    )
    assert e.grad_bias is not None and list(e.grad_bias) == [2.25, 2.25]
    text = e.to_text()
    assert "13. db = dY summed over positions:\n   [2.25 2.25]" in text
    assert "array(" not in text and "2.25," not in text


# ---- the wording of the page (its data here; its script in a browser below) ----------------------


def test_page_data_counts_are_singular_or_plural() -> None:
    one = page_data(convmm.explain(np.ones((1, 1, 2)), np.ones((1, 1, 2))))
    assert "with 1 filter of 1 × 2" in one["title"]
    shapes = {row[0]: row[2] for row in one["shapes"]}
    assert shapes["P"] == "1 group × 1·2 rows × 1 position"
    assert shapes["K"] == "1 group × 1 filter × 1·2"
    many = page_data(convmm.explain(np.ones((1, 2, 4)), np.ones((4, 1, 1)), groups=2))
    shapes = {row[0]: row[2] for row in many["shapes"]}
    assert shapes["P"] == "2 groups × 1·1 row × 4 positions"
    assert shapes["K"] == "2 groups × 2 filters × 1·1"
    assert "with 4 filters of" in many["title"]
    assert "(s)" not in json.dumps(one) + json.dumps(many)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright (``make test`` installs it when it is missing)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: these browser tests need Debian's Chromium; `make test` "
            "installs it (tools/ensure-chromium)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        yield browser
        browser.close()


def _page_text(chromium: Any, e: convmm.Explanation, hover: str | None = None) -> str:
    """The page's visible text, after hovering ``hover`` (a selector) when given."""
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_content(render_page(e))
    page.wait_for_selector(".cmx[data-drawn='1']", timeout=10_000)
    if hover is not None:
        page.hover(hover)
    text: str = page.inner_text(".cmx-app")
    page.close()
    assert not errors, errors
    return text


def _prose(text: str) -> str:
    """The page's text less the matrices' row and column labels 'c0 (1)' (channel, offset)."""
    return re.sub(r"c\d+\s+\(\d+\)", "", text)


def test_page_script_wording_for_a_one_d_dilated_grouped_convolution(chromium: Any) -> None:
    e = convmm.explain(
        np.arange(1.0, 19.0).reshape(1, 2, 9), np.ones((2, 1, 3)), dilation=2, groups=2
    )
    text = _page_text(chromium, e)
    assert "The 3 window (dilation 2) slides with stride 1: 5 positions. Each patch" in text
    assert "each group's 1 filter reading only its 1 input channel." in text
    assert " · channel 0" in text and " · channel 1" in text and " · filter 1" in text
    assert "(s)" not in text and "(es)" not in text and "0–0" not in text
    assert not re.search(r"\(\d+\)", _prose(text))  # 1-D positions, values: bare numbers
    read = _page_text(chromium, e, '[data-role="input"][data-channel="0"][data-cell="4"]')
    assert "X[0, 4] is read by 3 patches: columns 0, 2, 4 of P." in read
    first = _page_text(chromium, e, '[data-role="input"][data-channel="0"][data-cell="0"]')
    assert "X[0, 0] is read by 1 patch: column 0 of P." in first
    out = _page_text(chromium, e, '[data-role="out"][data-filter="1"][data-pos="2"]')
    assert "patch 2 of 5 → output position 2, filter 1: y = 42" in out
    assert "y[1, 2] = K₁[0, :] · P₁[:, 2]" in out


def test_page_script_wording_for_a_transposed_convolution(chromium: Any) -> None:
    e = convmm.explain_transpose(
        np.ones((1, 1, 3)), np.ones((1, 1, 2)), dilation=2, padding=((1, 0),), output_padding=1
    )
    text = _page_text(chromium, e, '[data-role="P-col"][data-group="0"][data-col="0"]')
    assert "(stride 1, dilation 2), one per kernel offset, less the cropped padding" in text
    assert (
        "Column 0 (input position 0) adds into 1 output cell; 1 more lands in the cropped "
        "padding and is dropped." in text
    )
    assert "= (3 - 1)*1 - 1 - 0 + 2*(2 - 1) + 1 + 1 = 5" in text
    assert "(s)" not in text and not re.search(r"\(\d+\)", _prose(text))
    later = _page_text(chromium, e, '[data-role="P-col"][data-group="0"][data-col="2"]')
    assert "Column 2 (input position 2) adds into 2 output cells." in later


def test_explain_errors() -> None:
    x, w = SEED["small"].input, SEED["small"].weight
    with pytest.raises(ValueError, match=r"convmm\.explain: sample must index the batch.*got 1"):
        convmm.explain(x, w, sample=1)
    with pytest.raises(TypeError, match=r"convmm\.explain: sample must be an int; got 0\.5"):
        convmm.explain(x, w, sample=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"convmm\.explain: input has 2 channels"):
        convmm.explain(np.ones((1, 2, 4, 4)), w)
    with pytest.raises(ValueError, match=r"convmm\.explain_backward: grad_output must have"):
        convmm.explain_backward(np.ones((1, 1, 2, 2)), x, w)
    with pytest.raises(ValueError, match=r"convmm\.explain_transpose: output_padding must be"):
        convmm.explain_transpose(x, w, output_padding=1)
    with pytest.raises(TypeError, match=r"convmm\.explain: max_entries must be an int.*'a'"):
        convmm.explain(x, w, max_entries="a")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"convmm\.explain_transpose: max_entries must be >= 1"):
        convmm.explain_transpose(x, w, max_entries=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_checks_allow_the_rounding_of_the_dtype(dtype: Any) -> None:
    """float32 and float16 results agree within their own rounding, not float64's."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 16, 6, 6)).astype(dtype)
    w = rng.standard_normal((4, 16, 3, 3)).astype(dtype)
    e = convmm.explain(x, w, padding=1)
    assert all(e.checks.values()), e.checks
    # the tolerance is tight: one entry off by a thousand roundings of its sum is caught
    from convmm._explain.model import _agree

    fast = convmm.conv(x, w, padding=1)[0]
    scale = (np.abs(e.kernels) @ np.abs(e.patches)).reshape(e.output.shape)
    assert _agree(fast, e.output, scale, np.float32)
    eps = float(np.finfo(np.float32).eps)
    wrong = e.output.copy()
    wrong[0, 0, 0] += 1e3 * eps * scale[0, 0, 0] + 2 * float(np.spacing(np.abs(fast[0, 0, 0])))
    assert not _agree(wrong.astype(np.float64), e.output, scale, np.float32)


@pytest.mark.parametrize(("value", "result"), [(1e-3, "subnormal"), (200.0, "inf")])
def test_float16_subnormal_and_overflowing_results_agree(value: float, result: str) -> None:
    """float16 rounds 9e-6 to a subnormal and 360000 to inf; both are the right float16."""
    x = np.full((1, 1, 4, 4), value, np.float16)
    w = np.full((1, 1, 3, 3), value, np.float16)
    with np.errstate(over="ignore"):
        e = convmm.explain(x, w)
        fast = convmm.conv(x, w)
    assert np.isinf(fast).all() == (result == "inf")
    assert all(e.checks.values()), e.checks


def test_nan_and_inf_sit_at_the_same_places() -> None:
    x = np.full((1, 1, 3, 3), np.nan)
    x[0, 0, 2, 2] = 1.0
    e = convmm.explain(x, np.ones((1, 1, 2, 2)))
    assert all(e.checks.values()), e.checks
    x = np.ones((1, 1, 3, 3))
    x[0, 0, 0, 0] = np.inf
    assert all(convmm.explain(x, np.ones((1, 1, 2, 2))).checks.values())


def test_a_large_explanation_skips_the_direct_loop_and_says_so() -> None:
    e = convmm.explain(np.ones((1, 1, 30_000)), np.ones((1, 1, 3)), padding=1)
    assert e.checks["convmm.reference.conv"] is None
    assert e.checks["convmm.conv"] is True and e.checks["torch"] is True
    note = e.check_notes["convmm.reference.conv"]
    assert "30000 positions" in note and note in e.to_text()


def test_many_channels_and_groups_are_summarised_in_text() -> None:
    e = convmm.explain(np.ones((1, 64, 8, 8)), np.ones((64, 8, 3, 3)), padding=1, groups=8)
    text = e.to_text()
    assert "channel 0:" in text and "channel 63:" in text and "channel 5:" not in text
    assert "… 61 more channels of the 64" in text
    assert "(groups 0, 7 of 8 shown; each of the others is the same product on its own" in text
    assert "P_0:" in text and "P_7:" in text and "P_3:" not in text
    assert len(text.splitlines()) < 300
    deep = convmm.explain(np.ones((1, 1, 9, 3, 3)), np.ones((1, 1, 2, 2, 2)))
    assert "… 6 more slices of channel 0" in deep.to_text()


def test_arguments_torch_cannot_take_are_noted_not_raised() -> None:
    """A stride beyond torch's int64 is fine for convmm; the torch check says it did not run."""
    e = convmm.explain(np.ones((1, 1, 5, 5)), np.ones((1, 1, 2, 2)), stride=2**70)
    assert e.checks["convmm.conv"] is True and e.checks["convmm.reference.conv"] is True
    assert e.checks["torch"] is None
    assert e.check_notes["torch"].startswith("not run: PyTorch refused these arguments")


def test_backward_without_a_gradient_uses_one_two_three() -> None:
    x, w = SEED["bigger"].input, SEED["bigger"].weight
    e = convmm.explain_backward(None, x, w)
    assert e.grad_output is not None
    assert np.array_equal(e.grad_output.ravel(), np.arange(1.0, 19.0))
    assert e.grad_bias is not None and list(e.grad_bias) == [45, 126]
    assert all(e.checks.values())


def test_the_text_says_which_formulation_conv_uses() -> None:
    """One line from the planner: the algorithm convmm.conv would use for this call, and why."""
    depthwise = convmm.explain(np.ones((1, 3, 5, 5)), np.ones((3, 1, 3, 3)), groups=3)
    assert "convmm.conv computes it with algorithm='depthwise': one input channel" in str(depthwise)
    general = convmm.explain(np.ones((1, 2, 5, 5)), np.ones((80, 2, 3, 3)))
    assert "algorithm='im2col'" in str(general)
    assert general.plan().algorithm == "im2col"
    backward = convmm.explain_backward(None, np.ones((1, 2, 5, 5)), np.ones((80, 2, 3, 3)))
    assert "convmm.conv_backward computes it with algorithm='im2col'" in str(backward)


def test_steps_are_typed_records_named_for_what_they_hold() -> None:
    """Each kind's steps are their own record: P, K, KP for a convolution; its gradients (none
    optional) for a backward pass; X per group and the columns Kᵀ·X for a transposed one.  The
    shared attribute names read them (and the gradients are None where there are none)."""
    from convmm._explain.records import BackwardSteps, ConvSteps, TransposeSteps

    x, w = np.arange(1.0, 17.0).reshape(1, 1, 4, 4), np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    conv = convmm.explain(x, w)
    assert type(conv.steps) is ConvSteps
    assert conv.patches is conv.steps.patches and conv.products is conv.steps.products
    assert conv.grad_output is None and conv.grad_patches is None and conv.grad_input is None

    backward = convmm.explain_backward(None, x, w)
    assert type(backward.steps) is BackwardSteps
    steps = backward.steps
    np.testing.assert_array_equal(
        steps.grad_weight, steps.grad_output @ steps.patches.transpose(0, 2, 1)
    )
    np.testing.assert_array_equal(
        steps.grad_patches, steps.kernels.transpose(0, 2, 1) @ steps.grad_output
    )
    assert backward.grad_input is steps.grad_input

    transpose = convmm.explain_transpose(np.ones((1, 1, 2, 2)), w, stride=2)
    assert type(transpose.steps) is TransposeSteps
    t = transpose.steps
    np.testing.assert_array_equal(t.columns, t.kernels.transpose(0, 2, 1) @ t.input_groups)
    assert transpose.patches is t.columns and transpose.products is t.input_groups
    assert transpose.grad_patches is None  # the columns are not a gradient


@pytest.mark.parametrize("renderer", ["text", "figure", "page"])
def test_renderers_refuse_alike_to_draw_gradients_an_explanation_lacks(renderer: str) -> None:
    """An explanation that says it is a backward pass without a backward pass's steps is
    refused by every renderer with the same clear error, naming the renderer."""
    conv = convmm.explain(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)))
    broken = dataclasses.replace(conv, kind="conv_backward")
    draw = {"text": broken.to_text, "figure": broken.figure, "page": broken.to_html}[renderer]
    with pytest.raises(
        ConvmmTypeError,
        match=rf"convmm explain \({renderer}\): a 'conv_backward' explanation has no gradients",
    ):
        draw()
    transpose = dataclasses.replace(conv, kind="conv_transpose")
    if renderer != "page":  # the page draws a transposed convolution from the shared names
        draw = {"text": transpose.to_text, "figure": transpose.figure}[renderer]
        with pytest.raises(ConvmmTypeError, match="is not a transposed convolution"):
            draw()
