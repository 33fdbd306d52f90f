"""Every formulation (``algorithm=``) against the direct reference, within the bound, thread-safe.

Correctness must never depend on which plan was chosen: on the same hypothesis-generated
inputs as the main tests, each formulation that applies is forced in turn and compared with
``convmm.reference`` (and ``'auto'`` with torch in the main tests).  Then: float64
finite-difference gradients through each formulation, the workspace bound measured with
tracemalloc, the reused buffers under 8 concurrent threads, and ``convmm.plan``.
"""

from __future__ import annotations

import gc
import threading
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convmm
from convmm import reference
from convmm._plan_call import algorithms_for
from oracle import assert_close, conv_scale
from test_backward import BackwardCase, _check_directional, backward_cases, grad_scales
from test_conv import ConvCase, conv_cases
from test_conv_transpose import TransposeCase, abs_scale, transpose_cases

MiB = 2**20


def _names(op: str, x: np.ndarray, w: np.ndarray, **kwargs: Any) -> list[str]:
    names = algorithms_for(op, x, w, **kwargs)
    assert "im2col" in names  # the general formulation serves every geometry
    return names


@given(case=conv_cases(chunkings=(None,)))
def test_every_formulation_matches_the_reference(case: ConvCase) -> None:
    x, w, b = case.arrays()
    kwargs = case.kwargs()
    want = reference.conv(x, w, b, **kwargs)
    scale = conv_scale(x, w, b, **kwargs)
    for name in _names("conv", x, w, **kwargs):
        got = convmm.conv(x, w, b, **kwargs, algorithm=name)
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert_close(got, want, scale, x.dtype, f"conv[{name}] vs reference")


@given(case=backward_cases())
def test_every_formulation_gives_the_reference_gradients(case: BackwardCase) -> None:
    x, w, dy = case.arrays()
    kwargs = case.kwargs()
    flags = {
        "bias": case.bias,
        "needs_input_grad": case.needs_input_grad,
        "needs_weight_grad": case.needs_weight_grad,
    }
    want = reference.conv_backward(dy, x, w, **kwargs, **flags)
    scales = grad_scales(dy, x, w, **kwargs)
    for name in _names("conv_backward", x, w, **kwargs):
        got = convmm.conv_backward(dy, x, w, **kwargs, **flags, algorithm=name)
        for g, h, scale, what in zip(got, want, scales, ("dx", "dw", "db"), strict=True):
            assert (g is None) == (h is None), (name, what)
            if g is not None and h is not None:
                assert g.dtype == h.dtype and g.shape == h.shape, (name, what)
                assert_close(g, h, scale, h.dtype, f"conv_backward[{name}] {what} vs reference")


@given(case=transpose_cases())
def test_every_formulation_transposes_like_the_reference(case: TransposeCase) -> None:
    x, w, b = case.arrays()
    kwargs = case.kwargs()
    want = reference.conv_transpose(x, w, b, **kwargs)
    scale = abs_scale(x, w, b, **case.torch_kwargs())
    for name in algorithms_for("conv_transpose", x, w, **kwargs):
        got = convmm.conv_transpose(x, w, b, **kwargs, algorithm=name)
        assert got.shape == want.shape, name
        assert_close(got, want, scale, x.dtype, f"conv_transpose[{name}] vs reference")
        dy = np.ones_like(got)
        grads = convmm.conv_transpose_backward(dy, x, w, **kwargs, algorithm=name)
        base = convmm.conv_transpose_backward(dy, x, w, **kwargs, algorithm="im2col")
        for g, h in zip(grads, base, strict=True):
            assert g is not None and h is not None
            tolerance = 1e-9 if g.dtype == np.float64 else 2e-2
            assert np.allclose(g, h, rtol=tolerance, atol=tolerance), name


@given(
    nd=st.integers(1, 3),
    channels=st.integers(1, 4),
    multiplier=st.integers(1, 3),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 2),
    dilation=st.integers(1, 2),
    padding=st.integers(0, 2),
    mode=st.sampled_from(("zeros", "reflect", "replicate", "circular")),
    channels_last=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_depthwise_finite_differences(
    nd: int,
    channels: int,
    multiplier: int,
    kernel: int,
    stride: int,
    dilation: int,
    padding: int,
    mode: str,
    channels_last: bool,
    seed: int,
) -> None:
    """float64 gradients through the depthwise formulation, every padding mode and layout."""
    size = {1: 7, 2: 5, 3: 4}[nd]
    span = dilation * (kernel - 1) + 1
    padding = min(padding, size - 1)  # reflect needs padding smaller than the input
    if size + 2 * padding < span:
        return
    rng = np.random.default_rng(seed)
    shape = (2, *(size,) * nd, channels) if channels_last else (2, channels, *(size,) * nd)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((channels * multiplier, 1, *(kernel,) * nd))
    b = rng.standard_normal(channels * multiplier)
    kwargs: dict[str, Any] = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": channels,
        "padding_mode": mode,
        "channels_last": channels_last,
        "algorithm": "depthwise",
    }
    options = {k: v for k, v in kwargs.items() if k != "algorithm"}
    r = rng.standard_normal(convmm.conv_output_shape(x.shape, w.shape, **options))

    def loss(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> float:
        return float(np.sum(convmm.conv(x, w, b, **kwargs) * r))

    scale = float(np.sum(np.abs(r) * convmm.conv(np.abs(x), np.abs(w), np.abs(b), **kwargs)))
    grads = convmm.conv_backward(r, x, w, **kwargs)
    _check_directional(loss, scale, (x, w, b), grads, rng)


# ---- the workspace bound --------------------------------------------------------------------


def _peak_extra(call: Callable[[], Any]) -> tuple[Any, int]:
    gc.collect()
    convmm._workspace.clear_buffers()  # the first call of a shape: its buffers count
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return result, peak


def _nbytes(result: Any) -> int:
    if isinstance(result, tuple):
        return sum(a.nbytes for a in result if a is not None)
    return int(result.nbytes)


@pytest.mark.parametrize("op", ["conv", "conv_backward", "conv_transpose"])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("mode", ["zeros", "reflect"])
def test_depthwise_stays_within_the_bound(op: str, channels_last: bool, mode: str) -> None:
    """A depthwise layer whose P would be 150 MB, under a 4 MiB bound: the peak stays within."""
    rng = np.random.default_rng(3)
    shape = (4, 128, 128, 64) if channels_last else (4, 64, 128, 128)
    x = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal((64, 1, 3, 3), dtype=np.float32)
    bound = 4 * MiB
    options: dict[str, Any] = {"groups": 64, "padding": 1, "channels_last": channels_last}
    if op == "conv":
        call: Callable[[], Any] = lambda: convmm.conv(  # noqa: E731
            x, w, **options, padding_mode=mode, max_workspace_bytes=bound, algorithm="depthwise"
        )
    elif op == "conv_backward":
        dy = rng.standard_normal(x.shape, dtype=np.float32)
        call = lambda: convmm.conv_backward(  # noqa: E731
            dy, x, w, **options, padding_mode=mode, max_workspace_bytes=bound
        )
    else:
        call = lambda: convmm.conv_transpose(x, w, **options, max_workspace_bytes=bound)  # noqa: E731
    planned = convmm.plan(x, w, op=op, **options, max_workspace_bytes=bound)
    assert planned.algorithm == "depthwise"
    assert planned.workspace_bytes <= bound
    result, peak = _peak_extra(call)
    assert peak - _nbytes(result) <= bound + MiB, f"{(peak - _nbytes(result)) / MiB:.1f} MiB"


def test_depthwise_refuses_a_bound_it_cannot_keep_and_auto_falls_back() -> None:
    x = np.ones((1, 4, 64, 64))
    w = np.ones((4, 1, 3, 3))
    with pytest.raises(ValueError, match=r"convmm\.conv: algorithm='depthwise' does not apply"):
        convmm.conv(x, w, groups=4, max_workspace_bytes=1000, algorithm="depthwise")
    planned = convmm.plan(x, w, groups=4, max_workspace_bytes=50_000)
    assert planned.algorithm == "im2col"
    assert "over max_workspace_bytes" in dict(planned.alternatives)["depthwise"]
    got = convmm.conv(x, w, groups=4, max_workspace_bytes=50_000)
    assert np.allclose(got, reference.conv(x, w, groups=4))


def test_buffers_are_reused_across_calls() -> None:
    """The second call of a shape allocates no new P: its peak is far below the first's."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 32, 32, 32), dtype=np.float32)
    w = rng.standard_normal((32, 32, 3, 3), dtype=np.float32)
    first, first_peak = _peak_extra(lambda: convmm.conv(x, w, padding=1, algorithm="im2col"))
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        second = convmm.conv(x, w, padding=1, algorithm="im2col")
        second_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    patch_bytes = 2 * 32 * 9 * 32 * 32 * 4
    assert first_peak - first.nbytes >= patch_bytes  # the first call allocates P
    assert second_peak - second.nbytes < patch_bytes // 4  # the second reuses it
    assert np.array_equal(first, second)


# ---- concurrency ----------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["im2col", "depthwise", "winograd"])
def test_concurrent_calls_from_8_threads_equal_sequential_ones(algorithm: str) -> None:
    """Buffers are per thread: 8 threads convolving different arrays at once get the right ones."""
    rng = np.random.default_rng(1)
    groups = {"depthwise": 8, "winograd": 1}.get(algorithm, 2)
    cases = []
    for i in range(8):
        x = rng.standard_normal((2, 8, 20 + i, 24), dtype=np.float32)
        w = rng.standard_normal((16, 8 // groups, 3, 3), dtype=np.float32)
        dy = rng.standard_normal(
            convmm.conv_output_shape(x.shape, w.shape, padding=1, groups=groups)
        )
        cases.append((x, w, dy.astype(np.float32)))
    options = {"padding": 1, "groups": groups, "algorithm": algorithm}
    # Winograd computes forward products only: the gradients of that case go through im2col
    gradients = dict(options, algorithm="im2col" if algorithm == "winograd" else algorithm)

    def compute(case: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[np.ndarray]:
        x, w, dy = case
        out = [convmm.conv(x, w, **options)]
        out += [g for g in convmm.conv_backward(dy, x, w, **gradients) if g is not None]
        out.append(convmm.conv_transpose(dy, w, **gradients))
        return out

    sequential = [compute(case) for case in cases]
    results: list[list[np.ndarray] | None] = [None] * len(cases)
    start = threading.Barrier(len(cases))

    def run(i: int) -> None:
        start.wait()
        for _ in range(3):
            results[i] = compute(cases[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(cases))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, want in zip(results, sequential, strict=True):
        assert got is not None
        for g, h in zip(got, want, strict=True):
            assert np.array_equal(g, h)


# ---- convmm.plan ----------------------------------------------------------------------------


def test_plan_says_what_a_call_would_do() -> None:
    p = convmm.plan((8, 512, 14, 14), (512, 512, 3, 3), padding=1)
    assert p.algorithm == "im2col" and p.op == "conv"
    assert p.chunks > 1 and 0 < p.workspace_bytes <= p.max_workspace_bytes
    assert dict(p.alternatives)["im2col"] == "applies"
    assert "one input channel per group" in dict(p.alternatives)["depthwise"]
    line = str(p)
    assert "\n" not in line and line.startswith("conv: im2col (")
    few = convmm.plan((8, 64, 56, 56), (64, 64, 3, 3), padding=1)  # few filters: shift wins
    assert few.algorithm == "shift" and "one GEMM per kernel row" in few.reason
    pointwise = convmm.plan((8, 64, 56, 56), (128, 64, 1, 1))
    assert pointwise.workspace_bytes == 0 and "P is a view" in pointwise.reason
    depthwise = convmm.plan(np.ones((2, 8, 9, 9)), np.ones((8, 1, 3, 3)), groups=8)
    assert depthwise.algorithm == "depthwise"
    forced = convmm.plan((2, 8, 9, 9), (8, 1, 3, 3), groups=8, algorithm="im2col")
    assert forced.algorithm == "im2col" and forced.reason == "asked for"
    for op in ("conv_backward", "conv_transpose", "conv_transpose_backward"):
        assert convmm.plan((2, 8, 9, 9), (8, 1, 3, 3), groups=8, op=op).op == op


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"algorithm": "winograd-ish"}, ValueError, r"algorithm must be one of 'auto', 'im2col'"),
        ({"algorithm": 3}, TypeError, r"algorithm must be one of .* got 3 \(int\)"),
        ({"algorithm": "depthwise"}, ValueError, r"algorithm='depthwise' does not apply: needs"),
        (
            {"algorithm": "winograd", "stride": 2},
            ValueError,
            r"algorithm='winograd' does not apply: needs stride 1",
        ),
        ({"op": "convolve"}, ValueError, r"op must be one of 'conv', 'conv_backward'"),
        ({"dtype": "banana"}, TypeError, r"dtype must be a NumPy dtype"),
        ({"op": "conv", "groups": True}, TypeError, r"groups must be a positive int"),
    ],
)
def test_plan_and_algorithm_errors(kwargs: dict[str, Any], error: type, pattern: str) -> None:
    with pytest.raises(error, match=r"^convmm\.plan: " + pattern):
        convmm.plan((1, 4, 8, 8), (4, 4, 3, 3), **kwargs)
    if "algorithm" in kwargs:
        with pytest.raises(error, match=r"^convmm\.conv: " + pattern):
            convmm.conv(np.ones((1, 4, 8, 8)), np.ones((4, 4, 3, 3)), **kwargs)


def test_winograd_serves_forward_products_only() -> None:
    x, w = np.ones((1, 4, 8, 8)), np.ones((4, 4, 3, 3))
    with pytest.raises(ValueError, match=r"conv_backward: algorithm='winograd' does not apply"):
        convmm.conv_backward(np.ones((1, 4, 6, 6)), x, w, algorithm="winograd")
    p = convmm.plan(x, w, op="conv_backward")
    assert "forward products only" in dict(p.alternatives)["winograd"]
    # the transposed convolution's input gradient is a forward product: Winograd serves it
    y = convmm.conv_transpose(np.ones((1, 4, 6, 6)), w)
    grads = convmm.conv_transpose_backward(np.ones_like(y), np.ones((1, 4, 6, 6)), w)
    forced = convmm.conv_transpose_backward(
        np.ones_like(y), np.ones((1, 4, 6, 6)), w, algorithm="winograd"
    )
    for g, h in zip(grads, forced, strict=True):
        assert g is not None and h is not None and np.allclose(g, h)


@pytest.mark.parametrize("algorithm", ["shift", "winograd"])
@pytest.mark.parametrize("mode", ["zeros", "reflect"])
def test_forward_formulations_stay_within_the_bound(algorithm: str, mode: str) -> None:
    """A layer whose P would be 42 MB under a 16 MiB bound: the measured peak stays within."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 32, 96, 96), dtype=np.float32)
    w = rng.standard_normal((32, 32, 3, 3), dtype=np.float32)
    bound = 16 * MiB
    options: dict[str, Any] = {"padding": 1, "padding_mode": mode, "max_workspace_bytes": bound}
    planned = convmm.plan(x, w, **options, algorithm=algorithm)
    assert planned.algorithm == algorithm and planned.workspace_bytes <= bound
    result, peak = _peak_extra(lambda: convmm.conv(x, w, **options, algorithm=algorithm))
    assert peak - result.nbytes <= bound + MiB, f"{(peak - result.nbytes) / MiB:.1f} MiB"
    with pytest.raises(ValueError, match=rf"algorithm='{algorithm}' does not apply: one image"):
        convmm.conv(x, w, padding=1, max_workspace_bytes=MiB, algorithm=algorithm)


@pytest.mark.parametrize("op", ["conv_backward", "conv_transpose"])
def test_shift_gradients_stay_within_the_bound(op: str) -> None:
    """dX as a convolution of dY and dK one GEMM per kernel row: the peak stays in 16 MiB."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 32, 96, 96), dtype=np.float32)
    w = rng.standard_normal((32, 32, 3, 3), dtype=np.float32)
    bound = 16 * MiB
    options: dict[str, Any] = {"padding": 1, "max_workspace_bytes": bound}
    planned = convmm.plan(x, w, op=op, **options)
    assert planned.algorithm == "shift"
    if op == "conv_backward":
        dy = rng.standard_normal(x.shape, dtype=np.float32)
        call: Callable[[], Any] = lambda: convmm.conv_backward(dy, x, w, **options)  # noqa: E731
    else:
        call = lambda: convmm.conv_transpose(x, w, **options)  # noqa: E731
    result, peak = _peak_extra(call)
    assert peak - _nbytes(result) <= bound + MiB, f"{(peak - _nbytes(result)) / MiB:.1f} MiB"


def test_thread_count_is_validated_and_restored() -> None:
    from convmm import _workspace

    with pytest.raises(ValueError, match=r"set_num_threads: threads must be a positive int; got 0"):
        _workspace.set_num_threads(0)
    with pytest.raises(TypeError, match=r"set_num_threads: threads must be a positive int"):
        _workspace.set_num_threads(True)
    previous = _workspace.set_num_threads(1)
    try:
        x = np.random.default_rng(0).standard_normal((2, 8, 16, 16))
        w = np.random.default_rng(1).standard_normal((8, 8, 3, 3))
        one = convmm.conv(x, w, padding=1, algorithm="im2col")
        _workspace.set_num_threads(2)
        two = convmm.conv(x, w, padding=1, algorithm="im2col")
        assert np.allclose(one, two, rtol=1e-12, atol=1e-12)
    finally:
        _workspace.set_num_threads(previous)
    assert _workspace.num_threads() == previous


@pytest.mark.parametrize(
    "options",
    [
        {"padding": 1},
        {"padding": 1, "groups": 2, "channels_last": True},
        {"padding": 2, "dilation": 2, "padding_mode": "reflect"},
    ],
)
def test_unfold_and_fold_split_over_threads(
    options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every chunk split over 2 threads (the split is kept for large chunks only) gives the
    one-thread values, forward and backward."""
    from convmm import _chunk_threads, _workspace

    rng = np.random.default_rng(3)
    last = options.get("channels_last", False)
    x = rng.standard_normal((2, 10, 12, 8) if last else (2, 8, 10, 12))
    w = rng.standard_normal((6, 8 // options.get("groups", 1), 3, 3))
    dy = convmm.conv(x, w, **options, algorithm="im2col")
    dy = rng.standard_normal(dy.shape)

    def run() -> list[np.ndarray]:
        y = convmm.conv(x, w, **options, algorithm="im2col")
        dx, dw, _ = convmm.conv_backward(dy, x, w, **options, algorithm="im2col")
        return [y, dx, dw]

    previous = _workspace.set_num_threads(1)
    try:
        one = run()
        _workspace.set_num_threads(2)
        monkeypatch.setattr(_chunk_threads, "PARALLEL_ENTRIES", 1)
        two = run()
    finally:
        _workspace.set_num_threads(previous)
    for a, b in zip(one, two, strict=True):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-12)
    assert np.allclose(one[0], reference.conv(x, w, **options), rtol=1e-10, atol=1e-10)


def test_reused_buffers_are_never_the_result() -> None:
    """Results never alias the cached workspace: a later call cannot change an earlier result."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 10, 10))
    w = rng.standard_normal((6, 4, 3, 3))
    for algorithm in ("im2col", "shift", "winograd"):
        first = convmm.conv(x, w, padding=1, algorithm=algorithm)
        kept = first.copy()
        convmm.conv(2 * x, w, padding=1, algorithm=algorithm)
        assert np.array_equal(first, kept), algorithm


def test_plan_refuses_bools_in_shapes() -> None:
    with pytest.raises(TypeError, match=r"^convmm\.plan: input as a shape must be ints; got"):
        convmm.plan((1, 4, True, 8), (4, 4, 3, 3))
