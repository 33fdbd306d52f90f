"""Winograd F(m, r): the Toom-Cook transforms exactly, and every rank and tile size against
the reference (the hypothesis tests of ``test_formulations`` force it on small layers too)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import convmm
from convmm import _winograd, reference
from oracle import assert_close, conv_scale

SIZES = [(m, r) for r in range(1, 8) for m in range(1, 9 - r)]


@pytest.mark.parametrize(("m", "r"), SIZES)
def test_transforms_compute_the_correlation(m: int, r: int) -> None:
    """``Aᵀ ((G g) ⊙ (Bᵀ d))`` is ``m`` outputs of the valid correlation of d with g."""
    at, g, bt = _winograd.transforms(m, r)
    n = m + r - 1
    assert at.shape == (m, n) and g.shape == (n, r) and bt.shape == (n, n)
    rng = np.random.default_rng(m * 10 + r)
    for _ in range(3):
        d, k = rng.standard_normal(n), rng.standard_normal(r)
        got = at @ ((g @ k) * (bt @ d))
        want = np.correlate(d, k, "valid")
        scale = np.abs(d).max() * np.abs(k).sum()
        assert np.max(np.abs(got - want)) <= 1e-12 * scale, (m, r)
    # the identity Bᵀ was solved from, exactly after snapping to small fractions
    identity = np.einsum("ij,jk,jl->ikl", at, g, bt)
    shifts = np.zeros((m, r, n))
    for i in range(m):
        for j in range(r):
            shifts[i, j, i + j] = 1.0
    assert np.max(np.abs(identity - shifts)) <= 1e-12


def test_transforms_refuse_too_many_points() -> None:
    with pytest.raises(ValueError, match=r"F\(7, 3\) needs at most 8 points; it has 9"):
        _winograd.transforms(7, 3)


CASES: list[tuple[tuple[int, ...], tuple[int, ...], dict[str, Any], str]] = [
    ((2, 3, 29), (4, 3, 3), {"padding": 1}, "F(6, 3)"),
    ((2, 3, 20), (4, 3, 7), {"padding": "same"}, "F(2, 7)"),
    ((2, 4, 17), (6, 2, 5), {"groups": 2, "bias": True}, "F(4, 5)"),
    ((2, 4, 13, 11), (6, 4, 3, 3), {"padding": 1, "bias": True}, "F(4x4, 3x3)"),
    (
        (1, 4, 9, 10),
        (4, 2, 3, 3),
        {"groups": 2, "padding_mode": "reflect", "padding": 1},
        "F(4x4, 3x3)",
    ),
    ((2, 3, 12, 12), (5, 3, 5, 5), {"padding": 2}, "F(2x2, 5x5)"),
    ((2, 3, 9, 9), (2, 3, 2, 4), {}, "F(5x3, 2x4)"),
    ((1, 2, 5, 6, 7), (3, 2, 3, 3, 3), {"padding": 1, "bias": True}, "F(2x2x2, 3x3x3)"),
    ((1, 2, 3, 6, 5), (3, 2, 1, 3, 2), {"padding": (0, 1, 0)}, "F(3x2x3, 1x3x2)"),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(("x_shape", "w_shape", "options", "name"), CASES)
def test_every_rank_and_tile_matches_the_reference(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    options: dict[str, Any],
    name: str,
    channels_last: bool,
    dtype: type,
) -> None:
    rng = np.random.default_rng(len(x_shape) * 100 + w_shape[-1])
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    kwargs = dict(options)
    b = rng.standard_normal(w_shape[0]).astype(dtype) if kwargs.pop("bias", False) else None
    planned = convmm.plan(x, w, **kwargs, algorithm="winograd")
    assert planned.algorithm == "winograd" and planned.reason == f"asked for: {name}"
    want = reference.conv(x, w, b, **kwargs)
    if channels_last:
        x = np.moveaxis(np.moveaxis(x, 1, -1).copy(), -1, 1)  # same values, channels-last memory
    got = convmm.conv(x, w, b, **kwargs, algorithm="winograd")
    assert got.dtype == want.dtype and got.shape == want.shape
    assert_close(got, want, conv_scale(x, w, b, **kwargs), x.dtype, f"winograd {name}")


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "limit"),
    [
        ((1, 2, 20), (2, 2, 8), "7"),
        ((1, 2, 9, 9), (2, 2, 6, 3), "5"),
        ((1, 1, 6, 6, 6), (1, 1, 4, 1, 1), "3"),
    ],
)
def test_kernels_too_large_for_the_tiles_are_refused(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...], limit: str
) -> None:
    x, w = np.ones(x_shape), np.ones(w_shape)
    with pytest.raises(
        ValueError,
        match=rf"conv: algorithm='winograd' does not apply: needs kernels of at most {limit}",
    ):
        convmm.conv(x, w, algorithm="winograd")
    assert "needs kernels of at most" in dict(convmm.plan(x, w).alternatives)["winograd"]


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "chosen"),
    [
        ((8, 128, 28, 28), (128, 128, 3, 3), "winograd"),  # measured 1.4-1.7x faster
        ((8, 256, 14, 14), (256, 256, 3, 3), "im2col"),  # 128 tiles: a tie
        ((8, 512, 7, 7), (512, 512, 3, 3), "im2col"),  # the filter transform outweighs
        ((1, 128, 28, 28), (128, 128, 3, 3), "im2col"),  # 49 tiles: thin products
        ((2, 128, 16, 16, 16), (128, 128, 3, 3, 3), "im2col"),  # F(2x2x2, 3x3x3): 3.4x
    ],
)
def test_auto_picks_winograd_where_it_measured_a_win(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...], chosen: str
) -> None:
    planned = convmm.plan(x_shape, w_shape, padding=1)
    assert planned.algorithm == chosen, planned.reason
    if chosen == "winograd":
        assert "F(4x4, 3x3)" in planned.reason and "4x fewer multiplies" in planned.reason


def test_auto_winograd_matches_torch_on_a_layer_it_picks() -> None:
    """The planner's Winograd choice changes a float32 result only by float rounding."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 128, 24, 24), dtype=np.float32)
    w = rng.standard_normal((128, 128, 3, 3), dtype=np.float32) * 0.03
    b = rng.standard_normal(128, dtype=np.float32)
    assert convmm.plan(x, w, padding=1).algorithm == "winograd"
    got = convmm.conv(x, w, b, padding=1)
    want = torch.nn.functional.conv2d(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), padding=1
    ).numpy()
    assert_close(got, want, conv_scale(x, w, b, padding=1), x.dtype, "auto winograd vs torch")
