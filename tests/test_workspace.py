"""The workspace bound: convmm.conv never holds more than max_workspace_bytes of im2col buffers.

Peak memory is measured with tracemalloc, which sees NumPy's data allocations: tracing starts
after the inputs exist, so the peak is the output plus whatever the call needed on top.  Each
large case checks three things: the peak minus the output stays within the bound (plus a
small slack for the flattened weight and Python objects), the same call with a huge bound
really does allocate the whole patch matrix P (so the measurement sees what it should, and the
bound is what made the difference), and both calls give the same array, bit for bit.

The plan itself (``convmm._plan.plan_chunks``) is checked over random geometries and budgets:
every chunk fits, the chunks cover every (image, output row) exactly once, and they are as
large as the budget allows.

Self-contained: no fixtures from conftest.py.
"""

from __future__ import annotations

import gc
import math
import re
import tracemalloc
from collections import Counter
from collections.abc import Callable
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convmm
from convmm._geometry import ConvGeometry, conv_geometry
from convmm._plan import plan_chunks

MiB = 2**20
BOUND = 64 * MiB
SLACK = 2 * MiB  # the flattened weight, index arrays, Python objects
HUGE = 2**31  # a bound that lets the whole of P be allocated at once
#: These cases measure the im2col formulation's chunks (each other formulation's bound is
#: measured in test_formulations.py; the random layers below take whatever 'auto' picks).
IM2COL = "im2col"


def _budget_sized(call: Callable[[], Any]) -> Callable[[], Any]:
    """``call`` with chunks sized to the bound alone (no cache target): HUGE then means one P."""

    def sized() -> Any:
        with mock.patch.object(convmm._engine, "CHUNK_BYTES", None):
            return call()

    return sized


def _peak_extra(call: Callable[[], np.ndarray]) -> tuple[np.ndarray, int]:
    """Run ``call``; return its result and the peak memory it allocated (tracemalloc)."""
    gc.collect()
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if started:
            tracemalloc.stop()
    return result, peak


def _random(shape: tuple[int, ...], dtype: Any, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32).astype(dtype)


def _assert_equal_up_to_rounding(
    out: np.ndarray,
    reference: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None,
    channels_last: bool,
) -> None:
    """Every value is the same sum of the same products; only the order BLAS adds them in may
    differ for a chunk of a different width.  Allow a few roundings of the sum of the absolute
    products (bounded per output channel by max|x| * sum|w_o| + |b_o|), plus one unit in the
    last place of the output dtype (float16 results are rounded once more at the end)."""
    compute = np.result_type(np.float32, x.dtype, w.dtype)
    scale = float(np.abs(x).max()) * np.abs(w.astype(np.float64)).reshape(w.shape[0], -1).sum(1)
    if bias is not None:
        scale = scale + np.abs(bias.astype(np.float64))
    scale = scale if channels_last else scale.reshape(-1, *([1] * (w.ndim - 2)))
    tolerance = 8 * np.finfo(compute).eps * scale + np.spacing(np.abs(reference))
    error = np.abs(out.astype(np.float64) - reference.astype(np.float64))
    assert np.all(error <= tolerance), f"max error {error.max()}"


def _full_patch_bytes(
    x: np.ndarray, w: np.ndarray, kwargs: dict[str, Any], out: np.ndarray
) -> tuple[int, int]:
    """Bytes of the whole batch's P and of one image's P, in the compute dtype."""
    itemsize = np.result_type(np.float32, x.dtype, w.dtype).itemsize
    nd = w.ndim - 2
    channels = x.shape[-1] if kwargs.get("channels_last") else x.shape[1]
    spatial_out = out.shape[1:-1] if kwargs.get("channels_last") else out.shape[2:]
    per_image = channels * math.prod(w.shape[2:]) * math.prod(spatial_out) * itemsize
    assert len(spatial_out) == nd
    return x.shape[0] * per_image, per_image


# (id, input shape, input dtype, weight shape, weight dtype, kwargs, whether one image's P alone
# is over the bound, so that the output rows of an image must be split)
CASES = [
    pytest.param(
        (8, 64, 128, 128), np.float32, (64, 64, 3, 3), np.float32, {"padding": 1}, False,
        id="batch-chunks",
    ),
    pytest.param(
        (1, 32, 512, 512), np.float32, (32, 32, 3, 3), np.float32, {"padding": 1}, True,
        id="row-chunks",
    ),
    pytest.param(
        (8, 128, 128, 64), np.float32, (64, 64, 3, 3), np.float32,
        {"padding": 1, "channels_last": True}, False,
        id="channels-last-batch-chunks",
    ),
    pytest.param(
        (1, 512, 512, 32), np.float32, (32, 32, 3, 3), np.float32,
        {"padding": 1, "channels_last": True}, True,
        id="channels-last-row-chunks",
    ),
    pytest.param(
        (8, 64, 128, 128), np.float32, (64, 64, 3, 3), np.float32,
        {"padding": 1, "padding_mode": "reflect"}, False,
        id="reflect-batch-chunks",
    ),
    pytest.param(
        (1, 32, 512, 512), np.float32, (32, 32, 3, 3), np.float32,
        {"padding": 2, "dilation": 2, "padding_mode": "reflect"}, True,
        id="reflect-row-chunks",
    ),
    pytest.param(
        (2, 256, 256, 64), np.float32, (64, 16, 3, 3), np.float32,
        {"padding": "same", "padding_mode": "circular", "groups": 4, "channels_last": True},
        True,
        id="circular-grouped-channels-last",
    ),
    pytest.param(
        (8, 64, 128, 128), np.float16, (64, 64, 3, 3), np.float16, {"padding": 1}, False,
        id="float16-batch-chunks",
    ),
    pytest.param(
        (1, 32, 512, 512), np.float16, (32, 32, 3, 3), np.float16,
        {"padding": 1, "padding_mode": "replicate"}, True,
        id="float16-replicate-row-chunks",
    ),
    pytest.param(
        (1, 16, 512, 512), np.float32, (16, 16, 3, 3), np.float64, {"padding": 1}, True,
        id="float32-input-float64-weight-row-chunks",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("xshape", "xdtype", "wshape", "wdtype", "kwargs", "rows"), CASES)
def test_workspace_bound_holds(
    xshape: tuple[int, ...],
    xdtype: Any,
    wshape: tuple[int, ...],
    wdtype: Any,
    kwargs: dict[str, Any],
    rows: bool,
) -> None:
    x = _random(xshape, xdtype, 1)
    w = (_random(wshape, wdtype, 2) / np.sqrt(math.prod(wshape[1:]))).astype(wdtype)
    bias = _random((wshape[0],), wdtype, 3)

    out, peak = _peak_extra(
        lambda: convmm.conv(x, w, bias, max_workspace_bytes=BOUND, **kwargs, algorithm=IM2COL)
    )
    full, per_image = _full_patch_bytes(x, w, kwargs, out)
    assert full > 4 * BOUND, "the case is meant to need far more than the bound"
    assert (per_image > BOUND) == rows, "the case does not exercise what it says"
    assert out.dtype == x.dtype
    extra = peak - out.nbytes
    assert extra <= BOUND + SLACK, (
        f"peak workspace {extra / MiB:.1f} MiB over the {BOUND / MiB:.0f} MiB bound "
        f"(full P: {full / MiB:.0f} MiB)"
    )

    reference, reference_peak = _peak_extra(
        _budget_sized(
            lambda: convmm.conv(x, w, bias, max_workspace_bytes=HUGE, **kwargs, algorithm=IM2COL)
        )
    )
    # Sanity of the measurement: with a huge bound the whole P is allocated, and seen.
    assert reference_peak - reference.nbytes >= full
    # Chunks of other widths: a BLAS may round a product's columns differently by its width
    # (OpenBLAS's SkylakeX kernels happened not to, its Zen kernels do), so equal up to rounding.
    _assert_equal_up_to_rounding(out, reference, x, w, bias, bool(kwargs.get("channels_last")))


def test_default_bound_is_256_mib() -> None:
    assert 256 * MiB == convmm.DEFAULT_MAX_WORKSPACE_BYTES


def test_default_bound_is_respected() -> None:
    """No max_workspace_bytes: a layer whose P is 1.2 GB runs within the 256 MiB default."""
    bound = convmm.DEFAULT_MAX_WORKSPACE_BYTES
    x = _random((4, 128, 256, 256), np.float32, 4)
    w = _random((8, 128, 3, 3), np.float32, 5) / np.float32(32)
    out, peak = _peak_extra(lambda: convmm.conv(x, w, padding=1, algorithm=IM2COL))
    full, per_image = _full_patch_bytes(x, w, {}, out)
    assert full > 4 * bound
    assert per_image > bound  # even one image must be split into runs of rows
    assert peak - out.nbytes <= bound + SLACK
    reference, reference_peak = _peak_extra(
        _budget_sized(
            lambda: convmm.conv(x, w, padding=1, max_workspace_bytes=HUGE, algorithm=IM2COL)
        )
    )
    assert reference_peak - reference.nbytes >= full
    _assert_equal_up_to_rounding(out, reference, x, w, None, False)


def test_direct_1x1_needs_no_patch_buffer() -> None:
    """1x1 kernel, stride 1, no padding: P is the input itself, so any bound works."""
    x = _random((4, 64, 128, 128), np.float32, 6)
    w = _random((32, 64, 1, 1), np.float32, 7)
    out, peak = _peak_extra(lambda: convmm.conv(x, w, max_workspace_bytes=1))
    assert peak - out.nbytes <= SLACK
    assert np.array_equal(out, convmm.conv(x, w, max_workspace_bytes=HUGE))
    expected = np.moveaxis(np.tensordot(w[:, :, 0, 0], x, axes=(1, 1)), 0, 1)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------------------
# the plan, over random geometries and budgets


def _needs(
    geometry: ConvGeometry,
    images: int,
    rows: int,
    *,
    compute_itemsize: int,
    input_itemsize: int,
    patches_are_input: bool,
    result_buffer: bool,
) -> tuple[int, int, int, int]:
    """Elements of P, of the result buffer and of the padded slab, and the bytes of all three,
    for a chunk of ``images`` images by ``rows`` output rows."""
    window = geometry.window
    positions = images * rows * math.prod(window.output_shape[1:])
    patch = 0 if patches_are_input else geometry.patch_size * geometry.groups * positions
    result = geometry.out_channels * positions if result_buffer else 0
    slab = 0
    if window.padding_mode != "zeros" and window.is_padded:
        # the padded input rows that `rows` consecutive output rows read
        span = (rows - 1) * window.stride[0] + window.dilation[0] * (window.kernel_size[0] - 1) + 1
        slab = images * geometry.in_channels * span * math.prod(window.padded_shape[1:])
    return patch, result, slab, (patch + result) * compute_itemsize + slab * input_itemsize


@st.composite
def _geometries(draw: st.DrawFn) -> ConvGeometry:
    nd = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    kernel = draw(st.lists(st.integers(1, 4), min_size=nd, max_size=nd))
    dilation = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd))
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    spatial = [s + draw(st.integers(0, 40 if i == 0 else 12)) for i, s in enumerate(spans)]
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    padding = draw(
        st.one_of(
            st.sampled_from(["valid", "same", "same_lower"]),
            st.tuples(*(st.integers(0, min(3, n - 1)) for n in spatial)),
        )
    )
    channels = groups * draw(st.integers(1, 6))
    batch = draw(st.integers(0, 5))
    try:
        return conv_geometry(
            (batch, channels, *spatial),
            (groups * draw(st.integers(1, 4)), channels // groups, *kernel),
            None,
            stride=draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd).map(tuple)),
            padding=padding,
            dilation=tuple(dilation),
            groups=groups,
            padding_mode=mode,
            channels_last=draw(st.booleans()),
            func="convmm.conv",
        )
    except ValueError:  # 'same' padding too wide for 'reflect'
        return conv_geometry(
            (batch, channels, *spatial),
            (groups, channels // groups, *kernel),
            None,
            stride=1,
            padding=0,
            dilation=tuple(dilation),
            groups=groups,
            padding_mode=mode,
            channels_last=False,
            func="convmm.conv",
        )


@given(geometry=_geometries(), data=st.data())
def test_plan_fits_and_covers(geometry: ConvGeometry, data: st.DataObject) -> None:
    options = {
        "compute_itemsize": data.draw(st.sampled_from([4, 8]), label="compute_itemsize"),
        "input_itemsize": data.draw(st.sampled_from([2, 4, 8]), label="input_itemsize"),
        "patches_are_input": data.draw(st.booleans(), label="patches_are_input"),
        "result_buffer": data.draw(st.booleans(), label="result_buffer"),
    }
    rows_total = geometry.window.output_shape[0]
    batch = geometry.batch

    def need(images: int, rows: int) -> int:
        return _needs(geometry, images, rows, **options)[3]

    one_row, one_image, everything = need(1, 1), need(1, rows_total), need(batch, rows_total)

    def between(low: int, high: int) -> st.SearchStrategy[int]:
        return st.integers(max(1, min(low, high)), max(1, low, high))

    budget = data.draw(
        st.one_of(
            st.integers(1, 2**40),
            between(one_row - 2, one_row + 2),
            between(one_row, one_image * 2),
            between(one_image - 2, everything + 2),
        ),
        label="budget",
    )
    try:
        plan = plan_chunks(geometry, budget=budget, func="convmm.conv", **options)
    except ValueError as error:
        assert re.match(
            rf"^convmm\.conv: max_workspace_bytes={budget} is too small: .*"
            rf"needs {one_row} bytes.*give at least that",
            str(error),
        ), str(error)
        assert one_row > budget
        assert one_image > budget
        return

    if batch and one_image <= budget:
        assert all(c.rows == (0, rows_total) for c in plan.chunks), "whole images fit"
    cover: Counter[tuple[int, int]] = Counter()
    largest = (0, 0, 0, 0)
    for chunk in plan.chunks:
        (b0, b1), (r0, r1) = chunk.batch, chunk.rows
        assert 0 <= b0 < b1 <= batch
        assert 0 <= r0 < r1 <= rows_total
        assert b1 - b0 == 1 or (r0, r1) == (0, rows_total), "a chunk is images or rows of one"
        sizes = _needs(geometry, b1 - b0, r1 - r0, **options)
        assert sizes[3] <= budget
        largest = max(largest, sizes, key=lambda s: s[3])
        cover.update((b, r) for b in range(b0, b1) for r in range(r0, r1))
    assert cover == Counter((b, r) for b in range(batch) for r in range(rows_total))
    assert all(n == 1 for n in cover.values())

    # the buffers the plan sizes hold the largest chunk, and together fit the budget
    patch, result, slab, total = largest
    assert plan.patch_elements >= patch
    assert plan.result_elements >= result
    assert total <= plan.workspace_bytes <= budget
    allocated = (plan.patch_elements + plan.result_elements) * options["compute_itemsize"]
    assert allocated + slab * options["input_itemsize"] <= budget

    # and the chunks are as large as the budget allows (no needless splitting)
    if plan.chunks:
        images = max(c.batch[1] - c.batch[0] for c in plan.chunks)
        rows = max(c.rows[1] - c.rows[0] for c in plan.chunks)
        if rows == rows_total:
            # (a 1x1 layer with nothing to allocate may be cut anyhow: it costs nothing)
            assert images == batch or need(images + 1, rows_total) > budget or one_image == 0
        else:
            assert need(1, rows + 1) > budget


def _small_layer(data: st.DataObject, mixed: bool) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A small random layer (x, w, options); ``mixed``: the weight may have another dtype."""
    nd = data.draw(st.integers(1, 3), label="nd")
    groups = data.draw(st.integers(1, 2), label="groups")
    kernel = data.draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd), label="kernel")
    top = {1: 1000, 2: 48, 3: 14}[nd]
    spatial = data.draw(st.lists(st.integers(3, top), min_size=nd, max_size=nd), label="spatial")
    channels = groups * data.draw(st.integers(1, 16), label="channels per group")
    batch = data.draw(st.integers(1, 3), label="batch")
    dtype = data.draw(st.sampled_from([np.float16, np.float32, np.float64]), label="dtype")
    wdtype = dtype
    if mixed:
        wdtype = data.draw(st.sampled_from([dtype, np.float32, np.float64]), label="weight dtype")
    channels_last = data.draw(st.booleans(), label="channels_last")
    kwargs: dict[str, Any] = {
        "padding": data.draw(st.sampled_from([0, 1, "same"]), label="padding"),
        "padding_mode": data.draw(
            st.sampled_from(["zeros", "reflect", "replicate", "circular"]), label="mode"
        ),
        "stride": data.draw(st.integers(1, 2), label="stride"),
        "groups": groups,
        "channels_last": channels_last,
    }
    xshape = (batch, *spatial, channels) if channels_last else (batch, channels, *spatial)
    x = _random(xshape, dtype, 8)
    w = _random((groups * 2, channels // groups, *kernel), wdtype, 9)
    return x, w, kwargs


@given(data=st.data())
def test_measured_peak_matches_the_bound(data: st.DataObject) -> None:
    """Small random layers, run for real under random bounds: tracemalloc's peak stays within
    the bound plus the copies of the weight and a little for Python objects."""
    x, w, kwargs = _small_layer(data, mixed=True)
    reference = convmm.conv(x, w, max_workspace_bytes=HUGE, **kwargs)
    full = _full_patch_bytes(x, w, kwargs, reference)[0]
    # at least 1/16 of the whole P, so that the chunks are few and the Python objects that
    # describe them stay well inside the slack (tiny budgets are the plan test's business)
    budget = data.draw(st.integers(max(full // 16, 1), max(full, 1)), label="budget")
    try:
        out, peak = _peak_extra(lambda: convmm.conv(x, w, max_workspace_bytes=budget, **kwargs))
    except ValueError as error:
        assert "is too small" in str(error)
        return
    compute = np.result_type(np.float32, x.dtype, w.dtype)
    slack = 64 * 1024 + 2 * w.size * compute.itemsize
    assert peak - out.nbytes <= budget + slack
    # the same products, cut differently: equal up to BLAS's rounding
    tolerance = 1e-2 if x.dtype == np.float16 else 1e-5
    np.testing.assert_allclose(out, reference, rtol=tolerance, atol=tolerance)


# NumPy's ufuncs buffer strided operands in blocks of ``np.getbufsize()`` elements (8192), up to
# three operands: a fixed allowance of at most 192 KiB that no plan can see (the folds' strided
# ``+=``).  It does not grow with the layer.
UFUNC_BUFFERS = 3 * 8192 * 8


@given(data=st.data())
def test_backward_measured_peak_matches_the_bound(data: st.DataObject) -> None:
    """conv_backward and conv_transpose on small random layers under random bounds: the peak
    stays within the bound plus the weight-sized buffers (K, Kᵀ, dK's sum), NumPy's ufunc
    buffers, and for float16 the float32 copy of the input gradient that is not workspace."""
    x, w, kwargs = _small_layer(data, mixed=False)
    dtype = x.dtype
    dy = _random(convmm.conv_output_shape(x.shape, w.shape, **kwargs), dtype, 10)
    whole = convmm.conv_backward(dy, x, w, max_workspace_bytes=HUGE, **kwargs)
    full = _full_patch_bytes(x, w, kwargs, dy)[0]
    budget = data.draw(st.integers(max(full // 16, 1), max(full, 1)), label="budget")
    compute = np.result_type(np.float32, dtype)
    slack = 64 * 1024 + 4 * w.size * compute.itemsize + UFUNC_BUFFERS
    if dtype == np.float16:
        slack += x.size * 4
    tolerance = 5e-2 if dtype == np.float16 else 1e-4

    def backward() -> Any:
        return convmm.conv_backward(dy, x, w, max_workspace_bytes=budget, **kwargs)

    try:
        grads, peak = _peak_extra(backward)
    except ValueError as error:
        assert "is too small" in str(error)
        return
    results = sum(g.nbytes for g in grads)
    assert peak - results <= budget + slack, (peak - results, budget)
    for got, want in zip(grads, whole, strict=True):
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance * 10)

    # the transposed convolution of dy is the same fold (zeros padding: it has no modes)
    options = {k: v for k, v in kwargs.items() if k != "padding_mode"}
    if options["padding"] == "same":
        geometry = conv_geometry(x.shape, w.shape, None, dilation=1, func="test", **kwargs)
        options["padding"] = geometry.window.padding
    transposed_weight = np.ascontiguousarray(w)  # (C_out, C_in/g, *k): conv_transpose's layout
    reference = convmm.conv_transpose(dy, transposed_weight, max_workspace_bytes=HUGE, **options)
    try:
        out, peak = _peak_extra(
            lambda: convmm.conv_transpose(
                dy, transposed_weight, max_workspace_bytes=budget, **options
            )
        )
    except ValueError as error:
        assert "is too small" in str(error)
        return
    assert peak - out.nbytes <= budget + slack
    np.testing.assert_allclose(out, reference, rtol=tolerance, atol=tolerance * 10)
