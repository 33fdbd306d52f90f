"""convmm.unfold and convmm.fold: against torch in 2-D, against a loop in 4-D, adjoint in N-D."""

from __future__ import annotations

import itertools
import math
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import convmm
from oracle import LAYOUTS, NUMPY_PAD_MODES, WindowCase, random_array, windows, with_layout


def per_dim(value: Any, nd: int) -> tuple[int, ...]:
    """An int or a sequence of ``nd`` ints, as a tuple."""
    return (value,) * nd if isinstance(value, int) else tuple(value)


def resolve_padding(wc: WindowCase) -> list[tuple[int, int]]:
    """(before, after) per dim, computed here without convmm (TensorFlow / ONNX for strings)."""
    nd = wc.ndim
    stride, dilation = per_dim(wc.stride, nd), per_dim(wc.dilation, nd)
    if wc.padding == "valid":
        return [(0, 0)] * nd
    if wc.padding in ("same", "same_lower"):
        pairs = []
        for n, k, s, d in zip(wc.spatial, wc.kernel, stride, dilation, strict=True):
            total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
            small, large = total // 2, total - total // 2
            pairs.append((large, small) if wc.padding == "same_lower" else (small, large))
        return pairs
    if isinstance(wc.padding, int):
        return [(wc.padding, wc.padding)] * nd
    return [(p, p) if isinstance(p, int) else tuple(p) for p in wc.padding]


def output_shape(wc: WindowCase) -> tuple[int, ...]:
    nd = wc.ndim
    stride, dilation = per_dim(wc.stride, nd), per_dim(wc.dilation, nd)
    return tuple(
        (n + b + a - d * (k - 1) - 1) // s + 1
        for n, (b, a), k, s, d in zip(
            wc.spatial, resolve_padding(wc), wc.kernel, stride, dilation, strict=True
        )
    )


def input_shape(batch: int | None, channels: int, spatial: tuple[int, ...]) -> tuple[int, ...]:
    return (channels, *spatial) if batch is None else (batch, channels, *spatial)


def tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, order="C"))


# --------------------------------------------------------------------------------------------
# 2-D against torch

TORCH_2D = {"modes": ("zeros",), "forms": ("int", "per_dim"), "max_size": 9, "max_pad": 2}


@given(
    wc=windows(2, **TORCH_2D),
    batch=st.sampled_from((None, 0, 1, 2)),
    channels=st.integers(1, 3),
    layout=st.sampled_from(LAYOUTS),
    int_kernel=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_unfold_matches_torch_2d(
    wc: WindowCase,
    batch: int | None,
    channels: int,
    layout: str,
    int_kernel: bool,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    x = with_layout(random_array(rng, input_shape(batch, channels, wc.spatial), np.float64), layout)
    copy = x.copy()
    stride, dilation = per_dim(wc.stride, 2), per_dim(wc.dilation, 2)
    padding = per_dim(wc.padding, 2)
    want = F.unfold(tensor(x), wc.kernel, dilation=dilation, padding=padding, stride=stride)
    # an int kernel_size means the rank is x.ndim - 2, so only for a batched input
    kernel: Any = (
        wc.kernel[0] if int_kernel and batch is not None and len(set(wc.kernel)) == 1 else wc.kernel
    )
    got = convmm.unfold(x, kernel, stride=wc.stride, padding=wc.padding, dilation=wc.dilation)
    assert got.dtype == np.float64
    assert got.shape == tuple(want.shape)
    assert np.array_equal(got, want.numpy())  # unfold only copies: exact
    assert np.array_equal(x, copy)


@given(
    wc=windows(2, **TORCH_2D),
    batch=st.sampled_from((None, 0, 1, 2)),
    channels=st.integers(1, 3),
    layout=st.sampled_from(LAYOUTS),
    seed=st.integers(0, 2**32 - 1),
)
def test_fold_matches_torch_2d(
    wc: WindowCase, batch: int | None, channels: int, layout: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    rows, positions = channels * math.prod(wc.kernel), math.prod(output_shape(wc))
    shape = (rows, positions) if batch is None else (batch, rows, positions)
    columns = with_layout(random_array(rng, shape, np.float64), layout)
    copy = columns.copy()
    stride, dilation = per_dim(wc.stride, 2), per_dim(wc.dilation, 2)
    padding = per_dim(wc.padding, 2)
    kwargs = {"dilation": dilation, "padding": padding, "stride": stride}
    want = F.fold(tensor(columns), wc.spatial, wc.kernel, **kwargs).numpy()
    got = convmm.fold(
        columns, wc.spatial, wc.kernel, stride=wc.stride, padding=wc.padding, dilation=wc.dilation
    )
    assert got.dtype == np.float64
    assert got.shape == want.shape == input_shape(batch, channels, wc.spatial)
    # fold sums overlapping patches, in an order that may differ from torch's: at most
    # prod(kernel) terms of magnitude <= 1 per output value
    scale = F.fold(tensor(np.abs(columns)), wc.spatial, wc.kernel, **kwargs).numpy()
    assert np.all(np.abs(got - want) <= 1e-12 * (scale + 1e-3))
    assert np.array_equal(columns, copy)


# --------------------------------------------------------------------------------------------
# the adjoint identity, any rank, every mode


@st.composite
def nd_windows(draw: Any, max_rank: int = 4) -> WindowCase:
    nd = draw(st.integers(1, max_rank))
    max_size, max_kernel, max_pad = {1: (10, 4, 3), 2: (7, 3, 2), 3: (5, 3, 2), 4: (4, 2, 1)}[nd]
    return draw(windows(nd, max_size=max_size, max_kernel=max_kernel, max_pad=max_pad))


@given(
    wc=nd_windows(),
    batch=st.sampled_from((None, 1, 2)),
    channels=st.integers(1, 2),
    seed=st.integers(0, 2**32 - 1),
)
def test_fold_is_the_adjoint_of_unfold(
    wc: WindowCase, batch: int | None, channels: int, seed: int
) -> None:
    """<unfold(x), g> == <x, fold(g)> for every mode, padding form and rank 1..4."""
    rng = np.random.default_rng(seed)
    x = random_array(rng, input_shape(batch, channels, wc.spatial), np.float64)
    kwargs = wc.kwargs()
    patches = convmm.unfold(x, wc.kernel, **kwargs)
    g = random_array(rng, patches.shape, np.float64)
    folded = convmm.fold(g, wc.spatial, wc.kernel, **kwargs)
    assert folded.shape == x.shape
    lhs = float(np.vdot(patches, g))
    rhs = float(np.vdot(x, folded))
    # both sides sum the same products |x_i * g_j| in different orders
    bound = float(np.vdot(np.abs(patches), np.abs(g)))
    assert abs(lhs - rhs) <= 1e-12 * bound + 1e-300, (lhs, rhs)


# --------------------------------------------------------------------------------------------
# 4-D against a loop


def unfold_loop(x: np.ndarray, wc: WindowCase, batched: bool) -> np.ndarray:
    """im2col by definition: pad with numpy, then one patch entry at a time."""
    nd = wc.ndim
    stride, dilation = per_dim(wc.stride, nd), per_dim(wc.dilation, nd)
    xb = x if batched else x[np.newaxis]
    pairs = resolve_padding(wc)
    padded = np.pad(xb, [(0, 0), (0, 0), *pairs], mode=NUMPY_PAD_MODES[wc.padding_mode])
    out = output_shape(wc)
    n, c = xb.shape[:2]
    k_numel = math.prod(wc.kernel)
    result = np.full((n, c * k_numel, math.prod(out)), np.nan)
    for channel in range(c):
        for k_index, offset in enumerate(itertools.product(*map(range, wc.kernel))):
            for position, o in enumerate(itertools.product(*map(range, out))):
                source = tuple(
                    oi * s + ki * d
                    for oi, ki, s, d in zip(o, offset, stride, dilation, strict=True)
                )
                result[:, channel * k_numel + k_index, position] = padded[
                    (slice(None), channel, *source)
                ]
    return result if batched else result[0]


@given(
    wc=windows(4, max_size=4, max_kernel=2, max_stride=2, max_pad=1),
    batch=st.sampled_from((None, 0, 1, 2)),
    channels=st.integers(1, 2),
    layout=st.sampled_from(LAYOUTS),
    seed=st.integers(0, 2**32 - 1),
)
def test_unfold_rank4_matches_loop(
    wc: WindowCase, batch: int | None, channels: int, layout: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = with_layout(random_array(rng, input_shape(batch, channels, wc.spatial), np.float64), layout)
    got = convmm.unfold(x, wc.kernel, **wc.kwargs())
    want = unfold_loop(x, wc, batched=batch is not None)
    assert got.shape == want.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("phases", [False, True])
@pytest.mark.parametrize("zero_all", [0, 1 << 30])
@given(
    wc=nd_windows(max_rank=3),
    batch=st.integers(1, 2),
    channels=st.integers(1, 2),
    first_row=st.integers(0, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_unfold_writes_its_zeros_either_way(
    phases: bool,
    zero_all: int,
    wc: WindowCase,
    batch: int,
    channels: int,
    first_row: int,
    seed: int,
) -> None:
    """Small chunks are zeroed whole and then get their boxes, large ones get their border
    strips zeroed: both write every entry of the loop's patches (into a buffer of NaN), for
    every mode and rank 1..3, strided layers read directly or through their phases, over all
    output rows or a run of them."""
    from convmm import _im2col
    from convmm._validate import unfold_window

    rng = np.random.default_rng(seed)
    x = random_array(rng, (batch, channels, *wc.spatial), np.float64)
    _, window = unfold_window(x.shape, wc.kernel, **wc.kwargs(), func="test")
    rows = (min(first_row, window.output_shape[0] - 1), window.output_shape[0])
    want = unfold_loop(x, wc, batched=True).reshape(
        batch, channels, *window.kernel_size, *window.output_shape
    )[(Ellipsis, slice(*rows), *(slice(None),) * (window.ndim - 1))]
    out = np.full(want.shape, np.nan)
    with mock.patch.object(_im2col, "ZERO_ALL_ENTRIES", zero_all):
        _im2col.unfold_into(x, window, out, rows, phases=phases)
    assert np.array_equal(out, want)


# --------------------------------------------------------------------------------------------
# dtypes


@given(
    wc=nd_windows(max_rank=3),
    batch=st.sampled_from((None, 2)),
    dtype=st.sampled_from((np.float16, np.float32)),
    seed=st.integers(0, 2**32 - 1),
)
def test_unfold_and_fold_keep_the_dtype(
    wc: WindowCase, batch: int | None, dtype: Any, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = random_array(rng, input_shape(batch, 2, wc.spatial), dtype)
    kwargs = wc.kwargs()
    patches = convmm.unfold(x, wc.kernel, **kwargs)
    assert patches.dtype == dtype
    # a copy: exactly the float64 unfold of the same values
    assert np.array_equal(patches, convmm.unfold(x.astype(np.float64), wc.kernel, **kwargs))
    folded = convmm.fold(patches, wc.spatial, wc.kernel, **kwargs)
    assert folded.dtype == dtype
    exact = convmm.fold(patches.astype(np.float64), wc.spatial, wc.kernel, **kwargs)
    # Each folded value sums at most `terms` entries (every kernel tap, and the padding cells
    # that replicate/reflect/wrap onto it).  float32 sums: at most terms roundings of float32.
    # float16 sums run in float32 and are rounded once to float16.
    terms = math.prod(wc.kernel) * math.prod(1 + b + a for b, a in resolve_padding(wc))
    eps32 = float(np.finfo(np.float32).eps)
    rtol = terms * eps32 + (float(np.finfo(np.float16).eps) if dtype == np.float16 else 0.0)
    scale = convmm.fold(np.abs(patches.astype(np.float64)), wc.spatial, wc.kernel, **kwargs)
    assert np.all(np.abs(folded - exact) <= rtol * (scale + 1e-3))


@given(
    rank=st.integers(1, 3),
    batched=st.booleans(),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 2),
    padding=st.integers(0, 1),
    channels=st.integers(1, 2),
    seed=st.integers(0, 2**32 - 1),
)
def test_unfold_and_fold_read_int_arguments_alike(
    rank: int, batched: bool, kernel: int, stride: int, padding: int, channels: int, seed: int
) -> None:
    """One rank rule for both: int arguments mean 2 spatial dims (PyTorch's), tuples their length.

    With int arguments a 3-D array is one (C, H, W) image and a 4-D array a batch; ``fold`` with
    the same int arguments is the adjoint of ``unfold`` and agrees with torch.  For rank 1 and 3
    the tuple forms are the adjoint pair.
    """
    rng = np.random.default_rng(seed)
    size = 4
    shape = (channels,) + (size,) * rank
    if batched:
        shape = (2, *shape)
    x = rng.standard_normal(shape)
    kwargs = {"stride": stride, "padding": padding}
    as_int = rank == 2
    kernel_arg: int | tuple[int, ...] = kernel if as_int else (kernel,) * rank
    size_arg: int | tuple[int, ...] = size if as_int else (size,) * rank
    patches = convmm.unfold(x, kernel_arg, **kwargs)
    g = rng.standard_normal(patches.shape)
    folded = convmm.fold(g, size_arg, kernel_arg, **kwargs)
    assert folded.shape == x.shape
    bound = float(np.vdot(np.abs(patches), np.abs(g)))
    assert abs(float(np.vdot(patches, g)) - float(np.vdot(x, folded))) <= 1e-12 * bound + 1e-300
    if as_int:  # the int form is torch's, batched (4-D) and unbatched (3-D) alike
        want = F.unfold(tensor(x), kernel, stride=stride, padding=padding).numpy()
        assert np.allclose(patches, want)
        want_fold = F.fold(tensor(g), size, kernel, stride=stride, padding=padding).numpy()
        assert np.allclose(folded, want_fold)


def test_int_arguments_of_another_rank_need_a_tuple() -> None:
    """A 1-D batch with an int kernel_size is refused with the rule and the fix, as in torch."""
    with pytest.raises(ValueError, match=r"convmm\.unfold: .*int arguments mean 2 spatial dims"):
        convmm.unfold(np.ones((2, 3, 8, 8, 8)), 2)
    # (2, 3, 8) is one 2-D (C=2, H=3, W=8) image with int arguments, as torch reads it
    assert convmm.unfold(np.ones((2, 3, 8)), 2).shape == (8, 14)
    assert convmm.unfold(np.ones((2, 3, 8)), (2,)).shape == (2, 6, 7)
    ones = np.ones((2, 3, 8))
    assert convmm.fold(convmm.unfold(ones, (2,)), (8,), (2,)).shape == ones.shape
    assert convmm.fold(convmm.unfold(ones, 2), (3, 8), 2).shape == ones.shape
