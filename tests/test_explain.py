"""explain: the model and the text walkthrough, against the library, the reference and torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import convmm
from convmm._explain.text import format_matrix
from convmm.examples import SEED_EXAMPLES

SEED = {e.name: e for e in SEED_EXAMPLES}

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
    return {
        "x": (batch, cin, *sizes),
        "w": (cout, cin // groups, *kernel),
        "bias": draw(st.booleans()),
        "sample": draw(st.integers(0, batch - 1)),
        "options": {
            "stride": stride,
            "padding": pads,
            "dilation": dilation,
            "groups": groups,
            "padding_mode": mode,
        },
        "seed": draw(st.integers(0, 2**16)),
    }


@given(configurations())
def test_explanations_agree_with_conv_and_torch(config: dict[str, Any]) -> None:
    rng = np.random.default_rng(config["seed"])
    x = rng.standard_normal(config["x"])
    w = rng.standard_normal(config["w"])
    b = rng.standard_normal(config["w"][0]) if config["bias"] else None
    options = config["options"]
    e = convmm.explain(x, w, b, sample=config["sample"], **options)
    assert e.checks == {"convmm.conv": True, "convmm.reference.conv": True, "torch": True}
    assert np.allclose(e.output, convmm.conv(x, w, b, **options)[config["sample"]])
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
    x = rng.standard_normal(config["x"])
    w = rng.standard_normal(config["w"])
    options = config["options"]
    y = convmm.conv(x, w, **options)
    dy = rng.standard_normal(y.shape)
    e = convmm.explain_backward(dy, x, w, sample=config["sample"], **options)
    assert e.checks == {"convmm.conv_backward": True, "torch": True}
    one = slice(config["sample"], config["sample"] + 1)
    gi, gw, _ = convmm.conv_backward(dy[one], x[one], w, **options)
    assert gi is not None and gw is not None and e.grad_input is not None
    assert np.allclose(e.grad_input, gi[0])
    assert e.grad_weight is not None
    assert np.allclose(e.grad_weight.reshape(gw.shape), gw)
    tag = "_0" if e.groups > 1 else ""
    assert f"dK{tag} = dY{tag} @ P{tag}^T" in e.to_text()


@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 2),
    st.integers(0, 1),
    st.integers(0, 2**16),
)
def test_transpose_explanations_agree(
    size: int, kernel: int, stride: int, padding: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 2, size + 1, size))
    w = rng.standard_normal((2, 3, kernel, kernel + 1))
    b = rng.standard_normal(3)
    # Cropping one cell a side needs at least three output cells in each dim.
    if min((n - 1) * stride + k for n, k in ((size + 1, kernel), (size, kernel + 1))) < 3:
        padding = 0
    e = convmm.explain_transpose(x, w, b, stride=stride, padding=padding)
    want = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x),
        torch.from_numpy(w),
        torch.from_numpy(b),
        stride=stride,
        padding=padding,
    )[0].numpy()
    assert np.allclose(e.output, want)
    assert e.checks == {"convmm.conv_transpose": True, "torch": True}
    assert "The columns K^T @ X" in e.to_text()


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


def test_repr_is_the_text() -> None:
    e = convmm.explain(SEED["small"].input, SEED["small"].weight)
    assert repr(e) == e.to_text()


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
