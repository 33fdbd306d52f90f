"""convmm.conv against PyTorch and against convmm.reference.conv, every option at once."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
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
from convmm._geometry import ConvGeometry, conv_geometry
from oracle import (
    LAYOUTS,
    WindowCase,
    assert_close,
    conv_scale,
    random_array,
    torch_conv,
    windows,
    with_layout,
)

#: The chunk-plan checks are of the im2col formulation's chunks (the planner may pick
#: another formulation for a layer; those are tested on their own in test_formulations.py).
CHUNKED = "im2col"

DTYPES = (np.float16, np.float32, np.float64)


@contextmanager
def recorded_plans() -> Iterator[list[Any]]:
    """Record the chunk plan of every call of ``convmm._plan.plan_chunks`` inside the block.

    Patched wherever a convmm module has imported it, so this follows internal refactors.
    """
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


# --------------------------------------------------------------------------------------------
# the generated configurations


@dataclass(frozen=True)
class ConvCase:
    window: WindowCase
    batch: int | None  # None: one unbatched sample
    groups: int
    in_per_group: int
    out_per_group: int
    channels_last: bool
    x_dtype: Any
    w_dtype: Any
    b_dtype: Any  # None: no bias
    layouts: tuple[str, str, str]
    chunking: str | None  # None, 'explicit-default', 'batch' or 'rows'
    budget_pick: float  # where between the smallest and largest useful budget
    seed: int

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        rng = np.random.default_rng(self.seed)
        cin = self.groups * self.in_per_group
        cout = self.groups * self.out_per_group
        spatial = self.window.spatial
        shape = (*spatial, cin) if self.channels_last else (cin, *spatial)
        if self.batch is not None:
            shape = (self.batch, *shape)
        x = with_layout(random_array(rng, shape, self.x_dtype), self.layouts[0])
        w_shape = (cout, self.in_per_group, *self.window.kernel)
        w = with_layout(random_array(rng, w_shape, self.w_dtype), self.layouts[1])
        b = None
        if self.b_dtype is not None:
            b = with_layout(random_array(rng, (cout,), self.b_dtype), self.layouts[2])
        return x, w, b

    def kwargs(self) -> dict[str, Any]:
        return {
            **self.window.kwargs(),
            "groups": self.groups,
            "channels_last": self.channels_last,
        }


@st.composite
def conv_cases(
    draw: Any,
    dtypes: tuple[Any, ...] = DTYPES,
    chunkings: tuple[str | None, ...] = (None, "explicit-default", "batch", "rows", "rows"),
) -> ConvCase:
    nd = draw(st.integers(1, 3))
    # Small enough that the reference's Python loop over output positions stays fast.
    max_size, max_kernel, max_pad = {1: (12, 4, 3), 2: (9, 3, 3), 3: (6, 3, 2)}[nd]
    window = draw(windows(nd, max_size=max_size, max_kernel=max_kernel, max_pad=max_pad))
    groups = draw(st.integers(1, 4))
    # in_per_group == 1 with groups > 1 is depthwise; out_per_group > 1 a channel multiplier.
    in_per_group = draw(st.integers(1, max(1, 6 // groups)))
    out_per_group = draw(st.integers(1, 3 if groups == 1 else 2))
    chunking = draw(st.sampled_from(chunkings))
    # batch None is one unbatched sample; batch 0 an empty batch
    batches = (2, 3) if chunking == "batch" else (None, None, 0, 1, 2, 3)
    return ConvCase(
        window=window,
        batch=draw(st.sampled_from(batches)),
        groups=groups,
        in_per_group=in_per_group,
        out_per_group=out_per_group,
        channels_last=draw(st.booleans()),
        x_dtype=draw(st.sampled_from(dtypes)),
        w_dtype=draw(st.sampled_from(dtypes)),
        b_dtype=draw(st.none() | st.sampled_from(dtypes)),
        layouts=(
            draw(st.sampled_from(LAYOUTS)),
            draw(st.sampled_from(LAYOUTS)),
            draw(st.sampled_from(LAYOUTS)),
        ),
        chunking=chunking,
        budget_pick=draw(st.floats(0.0, 1.0)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def geometry_of(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, **kwargs: Any) -> ConvGeometry:
    return conv_geometry(x.shape, w.shape, None if b is None else b.shape, func="test", **kwargs)


def workspace_bytes(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    geometry: ConvGeometry,
    images: int,
    rows: int,
) -> int:
    """The workspace of ``images`` images x ``rows`` output rows, as conv's docstring counts it.

    P (in the compute dtype), plus a compute-dtype result buffer when the output dtype is
    narrower, plus the padded slab of the input (in the input dtype) for non-zero modes.  P
    is not allocated when it is the input itself (1x1 kernel, stride 1, no padding, input
    contiguous in the compute dtype).
    """
    window = geometry.window
    compute = np.result_type(np.float32, *(a.dtype for a in (x, w, b) if a is not None))
    positions = images * rows * math.prod(window.output_shape[1:])
    batched = x if geometry.batched else x[np.newaxis]
    direct = (
        window.kernel_numel == 1
        and all(s == 1 for s in window.stride)
        and not window.is_padded
        and window.output_shape == window.input_shape
        and x.dtype == compute
        and batched.flags.c_contiguous
        and (geometry.groups == 1 or not geometry.channels_last)
    )
    patch = 0 if direct else geometry.in_channels * window.kernel_numel * positions
    result = geometry.out_channels * positions if x.dtype != compute else 0
    slab = 0
    if window.padding_mode != "zeros" and window.is_padded:
        s0, d0, k0 = window.stride[0], window.dilation[0], window.kernel_size[0]
        slab_rows = (rows - 1) * s0 + d0 * (k0 - 1) + 1
        slab = images * geometry.in_channels * slab_rows * math.prod(window.padded_shape[1:])
    return (patch + result) * compute.itemsize + slab * x.dtype.itemsize


def pick_budget(case: ConvCase, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> Any:
    """A max_workspace_bytes that forces the case's kind of chunking (None when impossible)."""
    geometry = geometry_of(x, w, b, **case.kwargs())
    rows_total = geometry.window.output_shape[0]
    per_image = workspace_bytes(x, w, b, geometry, 1, rows_total)
    per_row = workspace_bytes(x, w, b, geometry, 1, 1)
    if case.chunking == "explicit-default":
        return convmm.DEFAULT_MAX_WORKSPACE_BYTES
    if case.chunking == "batch" and geometry.batch >= 2 and per_image > 0:
        # at least one image, fewer than all of them
        lo, hi = per_image, geometry.batch * per_image - 1
        return np.int64(lo + round(case.budget_pick * (hi - lo)))
    if case.chunking == "rows" and geometry.batch >= 1 and per_row < per_image:
        # at least one output row, less than one image
        lo, hi = per_row, per_image - 1
        return int(lo + round(case.budget_pick * (hi - lo)))
    return None


# --------------------------------------------------------------------------------------------
# the main property


@given(case=conv_cases())
def test_conv_matches_torch_and_reference(case: ConvCase) -> None:
    x, w, b = case.arrays()
    kwargs = case.kwargs()
    copies = [a.copy() for a in (x, w, b) if a is not None]
    budget = pick_budget(case, x, w, b)

    with recorded_plans() as plans:
        got = convmm.conv(x, w, b, **kwargs, max_workspace_bytes=budget, algorithm=CHUNKED)

    # the output dtype is the input's, whatever the weight's and bias's
    assert got.dtype == x.dtype
    assert not np.shares_memory(got, x)
    want = torch_conv(x, w, b, **kwargs)
    assert got.shape == want.shape
    ref = reference.conv(x, w, b, **kwargs)
    assert ref.dtype == x.dtype
    scale = conv_scale(x, w, b, **kwargs)
    assert_close(got, want, scale, x.dtype, "convmm vs torch")
    assert_close(got, ref, scale, x.dtype, "convmm vs reference")

    if case.window.padding in ("same", "same_lower"):
        geometry = geometry_of(x, w, b, **kwargs)
        strides = geometry.window.stride
        expected = tuple(-(-n // s) for n, s in zip(case.window.spatial, strides, strict=True))
        assert geometry.window.output_shape == expected

    if budget is not None:
        (plan,) = plans
        assert plan.workspace_bytes <= budget
        if case.chunking in ("batch", "rows"):
            assert len(plan.chunks) > 1, "the budget was meant to force chunking"
        if case.chunking == "rows":
            rows_total = geometry_of(x, w, b, **kwargs).window.output_shape[0]
            assert all(c.rows != (0, rows_total) for c in plan.chunks)
        # Chunking changes nothing beyond rounding: see test_chunked_equals_unchunked.
        unchunked = convmm.conv(x, w, b, **kwargs)
        assert_close(got, unchunked, scale, x.dtype, "chunked vs unchunked")

    # the inputs are never modified
    for before, after in zip(copies, [a for a in (x, w, b) if a is not None], strict=True):
        assert np.array_equal(before, after, equal_nan=True)


# --------------------------------------------------------------------------------------------
# chunking gives the unchunked result
#
# Each chunk is one np.matmul whose shape depends on the chunk, and BLAS may add the same
# products in a different order for a different width (a row chunk of one output position is a
# matrix-vector product).  So chunked and unchunked results agree to the last bits, not bit for
# bit; the documentation says so.  The bound used here, 1e-13 of the sum of |w|·|x| in float64,
# is a few hundred ulps: far below any indexing or padding mistake, which would show up as an
# error of the order of one whole product.

CHUNK_RTOL = {np.float64: 1e-13, np.float32: 2e-6, np.float16: 2e-3}


@given(case=conv_cases(dtypes=(np.float64,), chunkings=("batch", "rows")))
def test_chunked_equals_unchunked(case: ConvCase) -> None:
    x, w, b = case.arrays()
    kwargs = case.kwargs()
    budget = pick_budget(case, x, w, b)
    chunked = convmm.conv(x, w, b, **kwargs, max_workspace_bytes=budget, algorithm=CHUNKED)
    unchunked = convmm.conv(x, w, b, **kwargs)
    scale = conv_scale(x, w, b, **kwargs)
    assert chunked.shape == unchunked.shape
    assert np.all(np.abs(chunked - unchunked) <= 1e-13 * (scale + 1e-300)), budget


MINIMAL_CHUNK_CASES = {
    # Unbatched 1-D; 32 bytes = one output position's patch column (2 ch x 2 taps x 8 bytes).
    # BLAS rounds the one-column products differently from the two-column product.
    "rows": (
        [[-0.712, 0.897, -0.376], [-0.153, 0.655, -0.182]],
        [[[0.099, -0.945], [0.507, 0.076]]],
        False,
        32,
    ),
    # Two channels-last 1-D images; 16 bytes = one image's P.
    "batch": ([[[0.2], [-0.94]], [[-0.7], [0.86]]], [[[-0.86, -0.74]]], True, 16),
}


@pytest.mark.parametrize("kind", sorted(MINIMAL_CHUNK_CASES))
def test_chunked_equals_unchunked_to_the_last_bits(kind: str) -> None:
    """The smallest chunks (one position, one image) still give the unchunked numbers."""
    x_values, w_values, channels_last, budget = MINIMAL_CHUNK_CASES[kind]
    x, w = np.array(x_values), np.array(w_values)
    with recorded_plans() as plans:
        chunked = convmm.conv(
            x, w, channels_last=channels_last, max_workspace_bytes=budget, algorithm=CHUNKED
        )
    (plan,) = plans
    assert len(plan.chunks) == 2
    unchunked = convmm.conv(x, w, channels_last=channels_last)
    np.testing.assert_allclose(chunked, unchunked, rtol=4e-16, atol=4e-16)
    reference_result = reference.conv(x, w, channels_last=channels_last)
    np.testing.assert_allclose(chunked, reference_result, rtol=4e-16, atol=4e-16)


# --------------------------------------------------------------------------------------------
# chunking, deterministic cases


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_row_and_batch_chunking(channels_last: bool, mode: str, dtype: Any) -> None:
    rng = np.random.default_rng(7)
    shape = (3, 9, 8, 4) if channels_last else (3, 4, 9, 8)
    x = random_array(rng, shape, dtype)
    w = random_array(rng, (6, 2, 3, 2), dtype)
    b = random_array(rng, (6,), dtype)
    kwargs: dict[str, Any] = {
        "stride": (2, 1),
        "padding": ((2, 1), 1),
        "dilation": (1, 2),
        "groups": 2,
        "padding_mode": mode,
        "channels_last": channels_last,
    }
    whole = convmm.conv(x, w, b, **kwargs)
    geometry = geometry_of(x, w, b, **kwargs)
    rows = geometry.window.output_shape[0]
    per_row = workspace_bytes(x, w, b, geometry, 1, 1)
    per_image = workspace_bytes(x, w, b, geometry, 1, rows)
    scale = conv_scale(x, w, b, **kwargs)
    for budget in (per_row, per_row + 1, 2 * per_row, per_image - 1, per_image, 2 * per_image):
        with recorded_plans() as plans:
            chunked = convmm.conv(x, w, b, **kwargs, max_workspace_bytes=budget, algorithm=CHUNKED)
        (plan,) = plans
        assert len(plan.chunks) > 1
        assert plan.workspace_bytes <= budget
        if dtype == np.float16:  # one rounding to float16 at the end may land either side
            tolerance = np.spacing(np.abs(whole).astype(np.float16)).astype(np.float64)
            assert np.all(np.abs(chunked.astype(float) - whole.astype(float)) <= tolerance)
        else:
            assert np.all(np.abs(chunked - whole) <= CHUNK_RTOL[dtype] * scale), budget
    assert_close(whole, torch_conv(x, w, b, **kwargs), scale, dtype, "vs torch")


# --------------------------------------------------------------------------------------------
# the torch-style positional functions


def _t(a: np.ndarray | None) -> torch.Tensor | None:
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))


POSITIONAL_CASES = [
    # (input shape, weight shape, bias?, stride, padding, dilation, groups)
    ((2, 3, 11), (4, 3, 3), True, 1, 0, 1, 1),
    ((2, 4, 11), (6, 2, 4), False, 2, 3, 2, 2),
    ((3, 10), (2, 3, 2), True, (3,), (1,), (1,), 1),  # unbatched
    ((2, 4, 9), (8, 1, 3), True, 1, "same", 2, 4),  # depthwise x2
    ((2, 3, 7, 6), (4, 3, 3, 3), True, 1, 1, 1, 1),
    ((1, 4, 8, 9), (4, 2, 2, 3), False, (2, 1), (1, 0), (1, 2), 2),
    ((3, 7, 7), (6, 3, 3, 2), True, 2, "valid", 1, 1),  # unbatched
    ((2, 6, 6, 5), (6, 1, 3, 3), True, 1, "same", (2, 1), 6),  # depthwise
    ((1, 2, 5, 6, 4), (3, 2, 2, 3, 2), True, 1, 0, 1, 1),
    ((2, 4, 6, 5, 5), (4, 2, 3, 2, 2), False, (2, 1, 2), (1, 0, 1), (1, 2, 1), 2),
    ((2, 5, 5, 6), (4, 2, 2, 2, 3), True, 1, "same", 1, 1),  # unbatched
]


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel:UserWarning")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("xs", "ws", "bias", "stride", "padding", "dilation", "groups"), POSITIONAL_CASES
)
def test_convnd_positional_matches_torch(
    xs: tuple[int, ...],
    ws: tuple[int, ...],
    bias: bool,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
    dtype: Any,
) -> None:
    rng = np.random.default_rng(len(xs) * 100 + sum(ws))
    x = random_array(rng, xs, dtype)
    w = random_array(rng, ws, dtype)
    b = random_array(rng, (ws[0],), dtype) if bias else None
    nd = len(ws) - 2
    ours = (convmm.conv1d, convmm.conv2d, convmm.conv3d)[nd - 1]
    theirs = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    got = ours(x, w, b, stride, padding, dilation, groups)
    want = theirs(_t(x), _t(w), _t(b), stride, padding, dilation, groups).numpy()
    assert got.dtype == dtype
    scale = theirs(
        _t(np.abs(x).astype(np.float64)),
        _t(np.abs(w).astype(np.float64)),
        _t(None if b is None else np.abs(b).astype(np.float64)),
        stride,
        padding,
        dilation,
        groups,
    ).numpy()
    assert_close(got, want, scale, dtype, "convNd vs torch")


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel:UserWarning")
@given(
    nd=st.integers(1, 3),
    data=st.data(),
    batched=st.booleans(),
    bias=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_same_at_stride_one_is_torch_same(
    nd: int, data: Any, batched: bool, bias: bool, seed: int
) -> None:
    """padding='same' at stride 1 is torch's padding='same', even kernels and dilation included."""
    kernel = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    dilation = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    max_size = {1: 12, 2: 8, 3: 5}[nd]
    spatial = tuple(data.draw(st.integers(1, max_size)) for _ in range(nd))
    groups = data.draw(st.sampled_from((1, 2)))
    rng = np.random.default_rng(seed)
    x = random_array(rng, ((2,) if batched else ()) + (2 * groups, *spatial), np.float64)
    w = random_array(rng, (2 * groups, 2, *kernel), np.float64)
    b = random_array(rng, (2 * groups,), np.float64) if bias else None
    ours = (convmm.conv1d, convmm.conv2d, convmm.conv3d)[nd - 1]
    theirs = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    want = theirs(_t(x), _t(w), _t(b), padding="same", dilation=dilation, groups=groups).numpy()
    got = ours(x, w, b, 1, "same", dilation, groups)
    also = convmm.conv(x, w, b, padding="same", dilation=dilation, groups=groups)
    assert got.shape == x.shape[: -nd - 1] + (2 * groups, *spatial) == want.shape
    scale = conv_scale(x, w, b, padding="same", dilation=dilation, groups=groups)
    assert_close(got, want, scale, np.float64, "conv{n}d same vs torch same")
    assert np.array_equal(got, also)


@given(
    nd=st.integers(1, 3),
    data=st.data(),
    lower=st.booleans(),
    mode=st.sampled_from(("zeros", "replicate", "circular")),
    seed=st.integers(0, 2**32 - 1),
)
def test_same_padding_strings_resolve_like_tensorflow_and_onnx(
    nd: int, data: Any, lower: bool, mode: str, seed: int
) -> None:
    """'same'/'same_lower' at any stride: ceil(n/s) outputs and the pads of TF SAME / ONNX.

    The pads are computed here independently of convmm (TensorFlow's formula), and the result
    must equal convmm with those explicit (before, after) pairs, and torch with them.
    """
    kernel = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    dilation = tuple(data.draw(st.integers(1, 2)) for _ in range(nd))
    stride = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    max_size = {1: 12, 2: 8, 3: 5}[nd]
    low = [max(1, math.ceil(d * (k - 1) / 2)) for k, d in zip(kernel, dilation, strict=True)]
    spatial = tuple(data.draw(st.integers(lo, max(lo, max_size))) for lo in low)
    pairs = []
    for n, k, s, d in zip(spatial, kernel, stride, dilation, strict=True):
        out = math.ceil(n / s)
        total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
        small, large = total // 2, total - total // 2
        pairs.append((large, small) if lower else (small, large))
    rng = np.random.default_rng(seed)
    x = random_array(rng, (2, 3, *spatial), np.float64)
    w = random_array(rng, (2, 3, *kernel), np.float64)
    common = {"stride": stride, "dilation": dilation, "padding_mode": mode}
    got = convmm.conv(x, w, padding="same_lower" if lower else "same", **common)
    explicit = convmm.conv(x, w, padding=tuple(pairs), **common)
    assert got.shape[2:] == tuple(math.ceil(n / s) for n, s in zip(spatial, stride, strict=True))
    assert np.array_equal(got, explicit)
    scale = conv_scale(x, w, padding=tuple(pairs), **common)
    assert_close(got, torch_conv(x, w, padding=tuple(pairs), **common), scale, np.float64)


def test_valid_is_zero_padding() -> None:
    rng = np.random.default_rng(3)
    x = random_array(rng, (2, 3, 7, 6), np.float64)
    w = random_array(rng, (4, 3, 3, 2), np.float64)
    got = convmm.conv(x, w, padding="valid", stride=2)
    assert np.array_equal(got, convmm.conv(x, w, padding=0, stride=2))
    assert got.shape == (2, 4, 3, 3)
