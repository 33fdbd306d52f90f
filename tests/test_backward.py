"""convmm.conv_backward: against torch.autograd, finite differences, the workspace bound, errors.

- :func:`test_conv_backward_matches_torch_autograd`: every option at once (rank 1-3, groups and
  depthwise, stride, dilation, every padding form and mode, channels_last, unbatched, float16/32/64
  and mixed, the three flags, odd memory layouts of every array, chunking by images and by rows).
  The torch side pads with ``F.pad`` in the matching mode, convolves at ``padding=0`` and lets
  autograd go through both; only the resolution of a padding string into (before, after) pairs is
  taken from convmm's geometry.
- :func:`test_conv_backward_finite_differences`: float64 central differences of
  ``L = <conv(x, w, b), r>``, independent of torch.
- The workspace bound, measured with tracemalloc on layers whose P is hundreds of MB.
"""

from __future__ import annotations

import math
import re
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import convmm
from convmm import _plan as _plan_module
from convmm import reference
from convmm._engine import is_pointwise
from convmm._geometry import ConvGeometry, conv_geometry
from oracle import (
    LAYOUTS,
    TORCH_PAD_MODES,
    WindowCase,
    assert_close,
    random_array,
    windows,
    with_layout,
)

#: The chunk-plan checks are of the im2col formulation's chunks (the planner may pick
#: another formulation for a layer; those are tested on their own in test_formulations.py).
CHUNKED = "im2col"

DTYPES = (np.float16, np.float32, np.float64)
MiB = 1 << 20

# --------------------------------------------------------------------------------------------
# helpers


def _pattern(func: str, *pieces: str) -> str:
    """Regex: the message starts with ``func:`` and contains ``pieces`` in this order."""
    return "^" + re.escape(func + ":") + "".join(".*" + re.escape(p) for p in pieces)


@contextmanager
def recorded_plans() -> Iterator[list[Any]]:
    """Record every chunk plan made inside the block (wherever convmm imported plan_chunks)."""
    plans: list[Any] = []
    real = _plan_module.plan_chunks

    def spy(*args: Any, **kwargs: Any) -> Any:
        plan = real(*args, **kwargs)
        plans.append(plan)
        return plan

    holders = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("convmm.") and getattr(module, "plan_chunks", None) is real
    ]
    with ExitStack() as stack:
        for module in holders:
            stack.enter_context(mock.patch.object(module, "plan_chunks", spy))
        yield plans


def _tensor(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    numpy_dtype = np.float64 if dtype == torch.float64 else np.float32
    return torch.from_numpy(np.array(a, dtype=numpy_dtype, order="C"))


def torch_conv_grads(
    dy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    channels_last: bool = False,
    dtype: torch.dtype = torch.float64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grad_input, grad_weight, grad_bias) by torch.autograd through F.pad and F.conv{1,2,3}d.

    In float64 arrays (the caller rounds).  Only the padding string's resolution into pairs
    comes from convmm.
    """
    geometry = conv_geometry(
        x.shape,
        w.shape,
        None,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        channels_last=channels_last,
        func="test.torch_conv_grads",
    )
    window = geometry.window
    tx = _tensor(x, dtype).requires_grad_(True)
    tw = _tensor(w, dtype).requires_grad_(True)
    tb = torch.zeros(w.shape[0], dtype=dtype, requires_grad=True)
    t = tx if geometry.batched else tx.unsqueeze(0)
    if channels_last:
        t = t.movedim(-1, 1)
    if window.is_padded:
        pads = [p for pair in reversed(window.padding) for p in pair]
        t = F.pad(t, pads, mode=TORCH_PAD_MODES[padding_mode])
    conv = (F.conv1d, F.conv2d, F.conv3d)[window.ndim - 1]
    out = conv(t, tw, tb, stride=window.stride, padding=0, dilation=window.dilation, groups=groups)
    if channels_last:
        out = out.movedim(1, -1)
    if not geometry.batched:
        out = out[0]
    assert tuple(out.shape) == dy.shape
    out.backward(_tensor(dy, dtype))
    assert tx.grad is not None and tw.grad is not None and tb.grad is not None
    return (
        tx.grad.numpy().astype(np.float64),
        tw.grad.numpy().astype(np.float64),
        tb.grad.numpy().astype(np.float64),
    )


def grad_scales(
    dy: np.ndarray, x: np.ndarray, w: np.ndarray, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per gradient value, the sum of the absolute values of its terms (float64).

    Every term of every gradient is a product of entries of dy, x (padded) and w; padding
    commutes with abs() in every mode, so the gradients of |x|, |w| at |dy| are these sums.
    """
    a = [np.abs(np.asarray(v, dtype=np.float64)) for v in (dy, x, w)]
    return torch_conv_grads(*a, **kwargs, dtype=torch.float64)


def geometry_of(x: np.ndarray, w: np.ndarray, **kwargs: Any) -> ConvGeometry:
    return conv_geometry(x.shape, w.shape, None, func="test", **kwargs)


def backward_budget(
    kind: str | None, pick: float, geometry: ConvGeometry, itemsize: int
) -> int | None:
    """A max_workspace_bytes that forces conv_backward to chunk by ``kind`` (None if impossible).

    ``upper`` over-counts the workspace of one chunk as the README describes it (P, the
    grad_output copy, and the padded border twice -- the fold folds it back one dim at a time
    into a new array --, all in the compute dtype); ``lower`` is P alone, which
    the input gradient always needs.  A budget in ``[upper(1 row), lower(1 image))`` must split
    an image into runs of rows; one in ``[upper(1 image), lower(batch))`` must split the batch.
    """
    if kind is None:
        return None
    window = geometry.window
    cin, cout = geometry.in_channels, geometry.out_channels
    row_positions = math.prod(window.output_shape[1:])
    padded_row = math.prod(window.padded_shape[1:])
    gathers = window.padding_mode != "zeros" and window.is_padded
    s0, d0, k0 = window.stride[0], window.dilation[0], window.kernel_size[0]
    rows_total = window.output_shape[0]

    def upper(images: int, rows: int) -> int:
        positions = images * rows * row_positions
        slab_rows = (rows - 1) * s0 + d0 * (k0 - 1) + 1
        slab = images * cin * slab_rows * padded_row if gathers else 0
        return (cin * window.kernel_numel * positions + cout * positions + 2 * slab) * itemsize

    def lower(images: int, rows: int) -> int:
        return cin * window.kernel_numel * images * rows * row_positions * itemsize

    if kind == "rows":
        lo, hi = upper(1, 1), lower(1, rows_total) - 1
        ok = geometry.batch >= 1
    else:
        lo, hi = upper(1, rows_total), lower(geometry.batch, rows_total) - 1
        ok = geometry.batch >= 2
    if not ok or lo > hi:
        return None
    return lo + round(pick * (hi - lo))


# --------------------------------------------------------------------------------------------
# the generated configurations


@dataclass(frozen=True)
class BackwardCase:
    window: WindowCase
    batch: int | None  # None: one unbatched sample
    groups: int
    in_per_group: int
    out_per_group: int
    channels_last: bool
    dtypes: tuple[Any, Any, Any]  # x, w, grad_output
    layouts: tuple[str, str, str]  # x, w, grad_output
    bias: bool
    needs_input_grad: bool
    needs_weight_grad: bool
    chunking: str | None  # None, 'batch' or 'rows'
    pick: float
    seed: int

    def kwargs(self) -> dict[str, Any]:
        return {
            **self.window.kwargs(),
            "groups": self.groups,
            "channels_last": self.channels_last,
        }

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        cin = self.groups * self.in_per_group
        cout = self.groups * self.out_per_group
        spatial = self.window.spatial
        shape = (*spatial, cin) if self.channels_last else (cin, *spatial)
        if self.batch is not None:
            shape = (self.batch, *shape)
        x = random_array(rng, shape, self.dtypes[0])
        w = random_array(rng, (cout, self.in_per_group, *self.window.kernel), self.dtypes[1])
        out_shape = convmm.conv_output_shape(x.shape, w.shape, **self.kwargs())
        dy = random_array(rng, out_shape, self.dtypes[2])
        return (
            with_layout(x, self.layouts[0]),
            with_layout(w, self.layouts[1]),
            with_layout(dy, self.layouts[2]),
        )


@st.composite
def backward_cases(draw: Any) -> BackwardCase:
    nd = draw(st.integers(1, 3))
    max_size, max_pad = {1: (7, 3), 2: (6, 2), 3: (4, 2)}[nd]
    window = draw(windows(nd, max_size=max_size, max_pad=max_pad))
    groups = draw(st.integers(1, 3))
    # in_per_group == 1 with groups > 1 is depthwise
    in_per_group = draw(st.integers(1, max(1, 6 // groups)))
    out_per_group = draw(st.integers(1, 2))
    dtype = draw(st.sampled_from(DTYPES))
    if draw(st.integers(0, 3)) == 0:  # sometimes mixed dtypes
        dtypes = (dtype, draw(st.sampled_from(DTYPES)), draw(st.sampled_from(DTYPES)))
    else:
        dtypes = (dtype, dtype, dtype)
    chunking = draw(st.sampled_from((None, None, "batch", "rows")))
    batches = (2, 3) if chunking == "batch" else (None, 1, 2, 3)
    return BackwardCase(
        window=window,
        batch=draw(st.sampled_from(batches)),
        groups=groups,
        in_per_group=in_per_group,
        out_per_group=out_per_group,
        channels_last=draw(st.booleans()),
        dtypes=dtypes,
        layouts=(
            draw(st.sampled_from(LAYOUTS)),
            draw(st.sampled_from(LAYOUTS)),
            draw(st.sampled_from(LAYOUTS)),
        ),
        bias=draw(st.booleans()),
        needs_input_grad=draw(st.booleans()),
        needs_weight_grad=draw(st.booleans()),
        chunking=chunking,
        pick=draw(st.floats(0.0, 1.0)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


# --------------------------------------------------------------------------------------------
# against torch.autograd


@given(case=backward_cases())
def test_conv_backward_matches_torch_autograd(case: BackwardCase) -> None:
    x, w, dy = case.arrays()
    kwargs = case.kwargs()
    copies = [a.copy() for a in (x, w, dy)]
    geometry = geometry_of(x, w, **kwargs)
    compute = np.result_type(np.float32, x.dtype, w.dtype, dy.dtype)
    budget = backward_budget(case.chunking, case.pick, geometry, compute.itemsize)
    flags = {
        "bias": case.bias,
        "needs_input_grad": case.needs_input_grad,
        "needs_weight_grad": case.needs_weight_grad,
    }

    with recorded_plans() as plans:
        gx, gw, gb = convmm.conv_backward(
            dy, x, w, **kwargs, **flags, max_workspace_bytes=budget, algorithm=CHUNKED
        )

    torch_dtype = torch.float64 if compute == np.float64 else torch.float32
    want = torch_conv_grads(dy, x, w, **kwargs, dtype=torch_dtype)
    scales = grad_scales(dy, x, w, **kwargs)
    got = (gx, gw, gb)
    asked = (case.needs_input_grad, case.needs_weight_grad, case.bias)
    shapes = (x.shape, w.shape, (w.shape[0],))
    out_dtypes = (x.dtype, w.dtype, w.dtype)
    names = ("grad_input", "grad_weight", "grad_bias")
    for g, wanted, scale, ask, shape, dtype, name in zip(
        got, want, scales, asked, shapes, out_dtypes, names, strict=True
    ):
        if not ask:
            assert g is None, f"{name} was not asked for"
            continue
        assert isinstance(g, np.ndarray), name
        assert g.shape == shape, name
        assert g.dtype == dtype, name
        assert_close(g, wanted, scale, dtype, f"{name} vs torch")
        for a in (x, w, dy):
            assert not np.shares_memory(g, a), name
    # and against the direct loops of convmm.reference (float64 throughout, then rounded)
    direct = reference.conv_backward(dy, x, w, **kwargs, **flags)
    for g, h, scale, dtype, name in zip(got, direct, scales, out_dtypes, names, strict=True):
        assert (g is None) == (h is None), name
        if g is not None and h is not None:
            assert h.dtype == dtype, name
            assert_close(g, h, scale, dtype, f"{name} vs reference")

    # dX alone of a 1x1 stride-1 unpadded layer is one product straight into dX: no P, no plan
    pointwise = case.needs_input_grad and not case.needs_weight_grad and is_pointwise(geometry)
    if budget is not None and not (pointwise and not plans):
        # one plan per gradient, or one for both (dK and dX in one pass over P)
        assert min(1, case.needs_input_grad + case.needs_weight_grad) <= len(plans)
        assert len(plans) <= case.needs_input_grad + case.needs_weight_grad
        assert all(plan.workspace_bytes <= budget for plan in plans)
        if plans:
            assert any(len(plan.chunks) > 1 for plan in plans), "chunking was meant to happen"
        if plans and case.chunking == "rows":
            rows_total = geometry.window.output_shape[0]
            assert any(c.rows != (0, rows_total) for plan in plans for c in plan.chunks)
        whole = convmm.conv_backward(dy, x, w, **kwargs, **flags)
        tight = 1e-12 if compute == np.float64 else None
        for g, h, scale, name in zip(got, whole, scales, names, strict=True):
            if g is None:
                assert h is None
                continue
            assert h is not None
            if tight is not None and g.dtype == np.float64:
                err = np.abs(g - h)
                assert np.all(err <= tight * (scale + 1e-3)), f"{name}: chunked vs unchunked"
            else:
                assert_close(g, h, scale, g.dtype, f"{name}: chunked vs unchunked")

    for before, after in zip(copies, (x, w, dy), strict=True):
        assert np.array_equal(before, after, equal_nan=True), "an input was modified"


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_backward_chunked_by_rows_and_images_equals_whole(
    channels_last: bool, mode: str
) -> None:
    """Deterministic: every budget from one row to two images, float64, within 1e-12."""
    rng = np.random.default_rng(11)
    shape = (3, 9, 8, 4) if channels_last else (3, 4, 9, 8)
    x = random_array(rng, shape, np.float64)
    w = random_array(rng, (6, 2, 3, 2), np.float64)
    kwargs: dict[str, Any] = {
        "stride": (2, 1),
        "padding": ((2, 1), 1),
        "dilation": (1, 2),
        "groups": 2,
        "padding_mode": mode,
        "channels_last": channels_last,
    }
    dy = random_array(rng, convmm.conv_output_shape(x.shape, w.shape, **kwargs), np.float64)
    whole = convmm.conv_backward(dy, x, w, **kwargs)
    scales = grad_scales(dy, x, w, **kwargs)
    for g, want, scale in zip(whole, torch_conv_grads(dy, x, w, **kwargs), scales, strict=True):
        assert_close(g, want, scale, np.float64, "whole vs torch")
    geometry = geometry_of(x, w, **kwargs)
    row_budget = backward_budget("rows", 0.0, geometry, 8)
    image_budget = backward_budget("batch", 0.0, geometry, 8)
    assert row_budget is not None and image_budget is not None
    for budget in (row_budget, row_budget + 8, 2 * row_budget, image_budget, 2 * image_budget):
        with recorded_plans() as plans:
            chunked = convmm.conv_backward(
                dy, x, w, **kwargs, max_workspace_bytes=budget, algorithm=CHUNKED
            )
        assert len(plans) in (1, 2)  # one pass for both gradients, or one each
        assert all(len(plan.chunks) > 1 and plan.workspace_bytes <= budget for plan in plans)
        for g, h, scale in zip(chunked, whole, scales, strict=True):
            assert g is not None and h is not None
            assert np.all(np.abs(g - h) <= 1e-12 * (scale + 1e-3)), budget


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("grad_layout", ["float32", "fortran"])
def test_conv_backward_1x1_view_of_the_input_in_row_chunks(
    channels_last: bool, grad_layout: str
) -> None:
    """A 1x1 kernel's P is the input itself; a dY that needs a copy forces runs of rows."""
    rng = np.random.default_rng(5)
    x = random_array(rng, (2, 3, 6, 5), np.float64)
    w = random_array(rng, (4, 3, 1, 1), np.float64)
    dy = random_array(rng, (2, 4, 6, 5), np.float64)
    if channels_last:
        x, dy = np.ascontiguousarray(np.moveaxis(x, 1, -1)), np.moveaxis(dy, 1, -1)
    dy = dy.astype(np.float32) if grad_layout == "float32" else np.asfortranarray(dy)
    kwargs: dict[str, Any] = {"channels_last": channels_last}
    want = torch_conv_grads(dy.astype(np.float64), x, w, **kwargs)
    scales = grad_scales(dy.astype(np.float64), x, w, **kwargs)
    with recorded_plans() as plans:
        got = convmm.conv_backward(dy, x, w, max_workspace_bytes=400, **kwargs)
    assert any(plan.chunks[0].rows != (0, 6) for plan in plans), "no run of rows was planned"
    for g, h, scale in zip(got, want, scales, strict=True):
        assert_close(g, h, scale, np.float64, "1x1 rows vs torch")


def test_conv_backward_empty_batch() -> None:
    x = np.zeros((0, 4, 5, 5))
    w = np.ones((6, 2, 3, 3))
    dy = np.ones((0, 6, 3, 3))
    gx, gw, gb = convmm.conv_backward(dy, x, w, groups=2)
    assert gx is not None and gx.shape == x.shape
    assert gw is not None and gw.shape == w.shape and not gw.any()
    assert gb is not None and gb.shape == (6,) and not gb.any()


def test_conv_backward_numpy_bool_flags_and_nothing_asked() -> None:
    rng = np.random.default_rng(3)
    x = random_array(rng, (2, 3, 6), np.float64)
    w = random_array(rng, (4, 3, 2), np.float64)
    dy = random_array(rng, (2, 4, 5), np.float64)
    got = convmm.conv_backward(
        dy, x, w, bias=np.False_, needs_input_grad=np.False_, needs_weight_grad=np.True_
    )
    assert got[0] is None and got[2] is None
    assert got[1] is not None
    _, want_w, _ = torch_conv_grads(dy, x, w)
    assert_close(got[1], want_w, grad_scales(dy, x, w)[1], np.float64, "grad_weight")
    nothing = convmm.conv_backward(
        dy, x, w, bias=False, needs_input_grad=False, needs_weight_grad=False
    )
    assert nothing == (None, None, None)


def test_conv_backward_docstring_descent_step() -> None:
    """One gradient step on a squared error decreases it (the gradients point uphill)."""
    rng = np.random.default_rng(5)
    x, target = rng.standard_normal((3, 2, 5, 5)), rng.standard_normal((3, 4, 5, 5))
    w, b = rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4)

    def loss(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> float:
        y = convmm.conv(x, w, b, padding="same", padding_mode="reflect")
        return float(0.5 * np.sum((y - target) ** 2))

    grad_y = convmm.conv(x, w, b, padding="same", padding_mode="reflect") - target
    gx, gw, gb = convmm.conv_backward(grad_y, x, w, padding="same", padding_mode="reflect")
    assert gx is not None and gw is not None and gb is not None
    step = 1e-3
    assert loss(x - step * gx, w - step * gw, b - step * gb) < loss(x, w, b)


# --------------------------------------------------------------------------------------------
# finite differences (float64, independent of torch)


def _check_directional(
    loss: Callable[[np.ndarray, np.ndarray, np.ndarray | None], float],
    scale: float,
    point: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    grads: tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None],
    rng: np.random.Generator,
    eps: float = 1e-6,
) -> None:
    """<grad, v> against the central difference of ``loss`` along v: in x, in w, in b, all."""
    directions = [None if p is None else rng.standard_normal(p.shape) for p in point]
    which: list[tuple[str, tuple[bool, bool, bool]]] = [
        ("x", (True, False, False)),
        ("w", (False, True, False)),
        ("all", (True, True, True)),
    ]
    if point[2] is not None:
        which.append(("b", (False, False, True)))
    for name, mask in which:
        plus, minus = [], []
        analytic = 0.0
        for p, v, g, on in zip(point, directions, grads, mask, strict=True):
            if p is None or v is None:
                plus.append(p)
                minus.append(p)
                continue
            step = v if on else np.zeros_like(v)
            plus.append(p + eps * step)
            minus.append(p - eps * step)
            if on:
                assert g is not None
                analytic += float(np.sum(g * v))
        numeric = (loss(*plus) - loss(*minus)) / (2 * eps)
        # L is linear in each of x, w, b and the joint term is quadratic: the central
        # difference is exact up to rounding, ~1e-16 * scale / eps.
        tol = 1e-7 * (scale + 1.0)
        assert abs(analytic - numeric) <= tol, (
            f"direction in {name}: <grad, v> = {analytic!r}, central difference {numeric!r}"
        )


@given(
    nd=st.integers(1, 3),
    data=st.data(),
    groups=st.integers(1, 2),
    batch=st.sampled_from((None, 1, 2)),
    channels_last=st.booleans(),
    bias=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_conv_backward_finite_differences(
    nd: int,
    data: Any,
    groups: int,
    batch: int | None,
    channels_last: bool,
    bias: bool,
    seed: int,
) -> None:
    max_size = {1: 7, 2: 5, 3: 4}[nd]
    window = data.draw(windows(nd, max_size=max_size, max_pad=2))
    rng = np.random.default_rng(seed)
    cin, cout = groups * data.draw(st.integers(1, 2)), groups * data.draw(st.integers(1, 2))
    shape = (*window.spatial, cin) if channels_last else (cin, *window.spatial)
    if batch is not None:
        shape = (batch, *shape)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((cout, cin // groups, *window.kernel))
    b = rng.standard_normal(cout) if bias else None
    kwargs = {**window.kwargs(), "groups": groups, "channels_last": channels_last}
    r = rng.standard_normal(convmm.conv_output_shape(x.shape, w.shape, **kwargs))

    def loss(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> float:
        return float(np.sum(convmm.conv(x, w, b, **kwargs) * r))

    ab = None if b is None else np.abs(b)
    scale = float(np.sum(np.abs(r) * convmm.conv(np.abs(x), np.abs(w), ab, **kwargs)))
    grads = convmm.conv_backward(r, x, w, **kwargs, bias=bias)
    assert (grads[2] is None) == (not bias)
    _check_directional(loss, scale, (x, w, b), grads, rng)


@given(
    nd=st.integers(1, 3),
    data=st.data(),
    groups=st.integers(1, 2),
    batch=st.sampled_from((None, 1, 2)),
    channels_last=st.booleans(),
    bias=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_conv_transpose_backward_finite_differences(
    nd: int,
    data: Any,
    groups: int,
    batch: int | None,
    channels_last: bool,
    bias: bool,
    seed: int,
) -> None:
    kernel = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    spatial = tuple(data.draw(st.integers(1, {1: 5, 2: 4, 3: 3}[nd])) for _ in range(nd))
    output_padding = tuple(
        data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    )
    padding = []
    for n, k, s, d, op in zip(spatial, kernel, stride, dilation, output_padding, strict=True):
        full = (n - 1) * s + d * (k - 1) + op + 1
        before = data.draw(st.integers(0, min(2, full - 1)))
        after = data.draw(st.integers(0, min(2, full - 1 - before)))
        padding.append((before, after))
    rng = np.random.default_rng(seed)
    cin, cout = groups * data.draw(st.integers(1, 2)), groups * data.draw(st.integers(1, 2))
    shape = (*spatial, cin) if channels_last else (cin, *spatial)
    if batch is not None:
        shape = (batch, *shape)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((cin, cout // groups, *kernel))
    b = rng.standard_normal(cout) if bias else None
    kwargs: dict[str, Any] = {
        "stride": stride,
        "padding": tuple(padding),
        "output_padding": output_padding,
        "dilation": dilation,
        "groups": groups,
        "channels_last": channels_last,
    }
    r = rng.standard_normal(convmm.conv_transpose(x, w, b, **kwargs).shape)

    def loss(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> float:
        return float(np.sum(convmm.conv_transpose(x, w, b, **kwargs) * r))

    ab = None if b is None else np.abs(b)
    scale = float(np.sum(np.abs(r) * convmm.conv_transpose(np.abs(x), np.abs(w), ab, **kwargs)))
    grads = convmm.conv_transpose_backward(r, x, w, **kwargs, bias=bias)
    assert (grads[2] is None) == (not bias)
    _check_directional(loss, scale, (x, w, b), grads, rng)


# --------------------------------------------------------------------------------------------
# the workspace bound, measured


def _traced(call: Callable[[], Any]) -> tuple[Any, int]:
    """``call()`` and the peak of the memory it allocated (NumPy reports to tracemalloc)."""
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def _nbytes(arrays: Any) -> int:
    return sum(a.nbytes for a in arrays if a is not None)


def _assert_grads_equal(got: Any, want: Any) -> None:
    """Chunked against unchunked: float64 sums in another order, within ~1e-12 relative."""
    for g, h, name in zip(got, want, ("grad_input", "grad_weight", "grad_bias"), strict=True):
        assert g is not None and h is not None, name
        assert g.shape == h.shape and g.dtype == h.dtype, name
        np.testing.assert_allclose(
            g, h, rtol=1e-12, atol=1e-12 * float(np.abs(h).max()), err_msg=name
        )


def test_conv_backward_workspace_bound_batch_chunks() -> None:
    """A layer whose P is 340 MB, through a 64 MiB bound: the peak stays within it."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 64, 96, 96))
    w = rng.standard_normal((64, 64, 3, 3))
    dy = rng.standard_normal((8, 64, 96, 96))
    p_bytes = 8 * 64 * 9 * 96 * 96 * 8
    assert p_bytes >= 300e6
    bound = 64 * MiB

    def call() -> Any:
        return convmm.conv_backward(
            dy, x, w, padding=1, max_workspace_bytes=bound, algorithm=CHUNKED
        )

    with recorded_plans() as plans:
        got, peak = _traced(call)
    assert all(len(plan.chunks) > 1 for plan in plans) and len(plans) in (1, 2)
    extra = peak - _nbytes(got)
    assert extra <= bound + 2 * MiB, f"peak {peak} - results {_nbytes(got)} = {extra} > {bound}"
    whole = convmm.conv_backward(dy, x, w, padding=1, max_workspace_bytes=1 << 40)
    _assert_grads_equal(got, whole)


# A non-zero padding mode in 2-D folds the border back one dim at a time: the plan counts the
# two padded slabs that are alive at once (slab_copies=2).
@pytest.mark.parametrize(
    ("mode", "layout"),
    [("zeros", "contiguous"), ("zeros", "transposed"), ("reflect", "contiguous")],
)
def test_conv_backward_workspace_bound_row_chunks(mode: str, layout: str) -> None:
    """Batch 1 whose one image's P (75 MB) is over the 32 MiB bound: runs of rows, within it.

    A non-contiguous grad_output is copied chunk by chunk (the copy counts in the bound); a
    non-zero padding mode folds the padded border back (its buffers count in the bound).
    """
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 64, 128, 128))
    w = rng.standard_normal((64, 64, 3, 3))
    dy = with_layout(rng.standard_normal((1, 64, 128, 128)), layout)
    p_bytes = 64 * 9 * 128 * 128 * 8
    bound = 32 * MiB
    assert p_bytes > 2 * bound

    def call() -> Any:
        return convmm.conv_backward(
            dy, x, w, padding=1, padding_mode=mode, max_workspace_bytes=bound
        )

    with recorded_plans() as plans:
        got, peak = _traced(call)
    rows = [c.rows for plan in plans for c in plan.chunks]
    assert len(plans) in (1, 2) and all(r != (0, 128) for r in rows)
    extra = peak - _nbytes(got)
    assert extra <= bound + 2 * MiB, f"peak {peak} - results {_nbytes(got)} = {extra} > {bound}"
    whole = convmm.conv_backward(dy, x, w, padding=1, padding_mode=mode)
    _assert_grads_equal(got, whole)


# --------------------------------------------------------------------------------------------
# errors

X = np.random.default_rng(0).standard_normal((2, 3, 6, 6))
W = np.random.default_rng(1).standard_normal((4, 3, 3, 3))
DY = np.random.default_rng(2).standard_normal((2, 4, 4, 4))


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "pieces"),
    [
        (
            (np.ones((2, 4, 5, 4)), X, W),
            {},
            ValueError,
            ("grad_output", "shape of the convolution's output", "(2, 4, 4, 4)", "(2, 4, 5, 4)"),
        ),
        (
            (np.ones((2, 4, 4, 4)), X, W),
            {"stride": 2},
            ValueError,
            ("grad_output", "(2, 4, 2, 2)", "got (2, 4, 4, 4)"),
        ),
        (
            (np.ones((2, 4, 4, 4)), X, W),
            {"channels_last": True},
            ValueError,
            ("input has 6 channels",),
        ),
        ((DY, X, W), {"needs_input_grad": "yes"}, TypeError, ("needs_input_grad", "'yes'")),
        ((DY, X, W), {"needs_weight_grad": 1}, TypeError, ("needs_weight_grad", "got 1")),
        ((DY, X, W), {"bias": None}, TypeError, ("bias", "True or False", "got None")),
        (
            (DY.astype(np.int64), X, W),
            {},
            TypeError,
            ("grad_output", "floating-point", "int64", ".astype(np.float32)"),
        ),
        ((DY, X.astype(np.int32), W), {}, TypeError, ("input", "floating-point", "int32")),
        ((DY, X, W.astype(np.uint8)), {}, TypeError, ("weight", "floating-point", "uint8")),
        ((DY, X, W), {"max_workspace_bytes": 0}, ValueError, ("max_workspace_bytes", "got 0")),
        (
            (DY, X, W),
            {"max_workspace_bytes": 8},
            ValueError,
            ("max_workspace_bytes=8 is too small", "one output row"),
        ),
        ((DY, X, W), {"padding_mode": "mirror"}, ValueError, ("padding_mode", "'mirror'")),
    ],
)
def test_conv_backward_rejects(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], pieces: tuple[str, ...]
) -> None:
    with pytest.raises(error, match=_pattern("convmm.conv_backward", *pieces)):
        convmm.conv_backward(*args, **kwargs)


def test_reference_backward_and_transpose_validate_like_the_fast_path() -> None:
    x, w = np.ones((2, 3, 6, 6)), np.ones((4, 3, 3, 3))
    with pytest.raises(
        ValueError,
        match=_pattern("convmm.reference.conv_backward", "grad_output must have the shape"),
    ):
        reference.conv_backward(np.ones((2, 4, 5, 5)), x, w)
    with pytest.raises(
        TypeError, match=_pattern("convmm.reference.conv_backward", "needs_input_grad", "1")
    ):
        reference.conv_backward(np.ones((2, 4, 4, 4)), x, w, needs_input_grad=1)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError,
        match=_pattern("convmm.reference.conv_transpose", "output_padding must be smaller"),
    ):
        reference.conv_transpose(np.ones((2, 4, 4, 4)), w, output_padding=1)
