"""Dask arrays: lazy results holding exactly the in-memory values, on any chunking.

Integer-valued data makes every sum exact, so the lazy result must equal convmm's in-memory
result bit for bit whatever the chunks (chunk boundaries never change a value); random float
data agrees within float rounding.  Chunkings are drawn down to one cell per chunk (smaller
than any halo), with the channels split too.  The distributed tests run on a LocalCluster of
two worker processes.
"""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convmm
from convmm._errors import ConvmmTypeError, ConvmmValueError
from oracle import windows

FEW = settings(max_examples=min(25, settings().max_examples))


def _ints(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-3, 4, size=shape).astype(np.float64)


def _chunks(draw: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A chunk size per axis: one cell, a few, or the whole axis."""
    return tuple(draw(st.sampled_from(sorted({1, max(1, n // 2), 2, n}))) for n in shape)


@st.composite
def conv_cases(draw: Any) -> dict[str, Any]:
    ndim = draw(st.integers(1, 3))
    case = draw(windows(ndim, max_size={1: 9, 2: 7, 3: 5}[ndim]))
    groups = draw(st.sampled_from([1, 2]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    batched = draw(st.booleans())
    channels_last = draw(st.booleans())
    shape = (cin, *case.spatial)
    if channels_last:
        shape = (*case.spatial, cin)
    if batched:
        shape = (draw(st.integers(1, 3)), *shape)
    return {
        "shape": shape,
        "weight": (cout, cin // groups, *case.kernel),
        "options": {**case.kwargs(), "groups": groups, "channels_last": channels_last},
        "bias": draw(st.booleans()),
        "chunks": _chunks(draw, shape),
        "seed": draw(st.integers(0, 2**16)),
    }


@FEW
@given(conv_cases())
def test_conv_and_backward_of_a_dask_array_equal_the_in_memory_result(case: dict[str, Any]) -> None:
    rng = np.random.default_rng(case["seed"])
    x, w = _ints(rng, case["shape"]), _ints(rng, case["weight"])
    b = _ints(rng, (case["weight"][0],)) if case["bias"] else None
    lazy_x = da.from_array(x, chunks=case["chunks"])
    want = convmm.conv(x, w, b, **case["options"])
    got = convmm.conv(lazy_x, w, b, **case["options"])
    assert isinstance(got, da.Array) and got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got.compute(), want)

    dy = _ints(rng, want.shape)
    lazy_dy = da.from_array(dy, chunks=_same_rank_chunks(case["chunks"], dy.shape))
    wants = convmm.conv_backward(dy, x, w, **case["options"])
    gots = convmm.conv_backward(lazy_dy, lazy_x, w, **case["options"])
    for name, lazy, expected in zip(("dx", "dw", "db"), gots, wants, strict=True):
        assert isinstance(lazy, da.Array), name
        np.testing.assert_array_equal(lazy.compute(), expected, err_msg=name)


def _same_rank_chunks(chunks: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(min(c, n) for c, n in zip(chunks, shape, strict=True))


@st.composite
def transpose_cases(draw: Any) -> dict[str, Any]:
    ndim = draw(st.integers(1, 3))
    spatial = tuple(draw(st.integers(1, {1: 7, 2: 5, 3: 3}[ndim])) for _ in range(ndim))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    padding = tuple(
        draw(st.integers(0, max(0, (d * (k - 1)) // 2)))
        for k, d in zip(kernel, dilation, strict=True)
    )
    output_padding = tuple(
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    )
    groups = draw(st.sampled_from([1, 2]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    shape = (draw(st.integers(1, 2)), cin, *spatial)
    return {
        "shape": shape,
        "weight": (cin, cout // groups, *kernel),
        "options": {
            "stride": stride,
            "padding": padding,
            "output_padding": output_padding,
            "dilation": dilation,
            "groups": groups,
        },
        "chunks": _chunks(draw, shape),
        "seed": draw(st.integers(0, 2**16)),
    }


@FEW
@given(transpose_cases())
def test_conv_transpose_of_a_dask_array_equals_the_in_memory_result(case: dict[str, Any]) -> None:
    rng = np.random.default_rng(case["seed"])
    x, w = _ints(rng, case["shape"]), _ints(rng, case["weight"])
    b = _ints(rng, (case["weight"][1] * case["options"]["groups"],))
    try:
        want = convmm.conv_transpose(x, w, b, **case["options"])
    except ConvmmValueError:  # an output padding this geometry refuses: so must dask
        with pytest.raises(ConvmmValueError):
            convmm.conv_transpose(da.from_array(x, chunks=case["chunks"]), w, b, **case["options"])
        return
    got = convmm.conv_transpose(da.from_array(x, chunks=case["chunks"]), w, b, **case["options"])
    assert isinstance(got, da.Array) and got.shape == want.shape
    np.testing.assert_array_equal(got.compute(), want)


def test_float32_random_data_agrees_within_rounding_and_output_size_is_honoured() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 8, 33, 29)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    lazy = da.from_array(x, chunks=(2, 3, 10, 7))
    for options in ({"padding": 1}, {"padding": 2, "stride": 2, "padding_mode": "reflect"}):
        got = convmm.conv(lazy, w, **options)
        assert got.dtype == np.float32
        np.testing.assert_allclose(
            got.compute(), convmm.conv(x, w, **options), rtol=1e-5, atol=1e-5
        )
    wt = rng.standard_normal((8, 4, 4, 4)).astype(np.float32)
    got = convmm.conv_transpose(lazy, wt, stride=2, padding=1, output_size=(67, 59))
    want = convmm.conv_transpose(x, wt, stride=2, padding=1, output_size=(67, 59))
    assert got.shape == want.shape == (3, 4, 67, 59)
    np.testing.assert_allclose(got.compute(), want, rtol=1e-5, atol=1e-5)


def test_a_dask_weight_and_bias_are_computed_once_and_the_chunks_stay_lazy() -> None:
    rng = np.random.default_rng(2)
    x, w, b = _ints(rng, (2, 3, 12, 12)), _ints(rng, (4, 3, 3, 3)), _ints(rng, (4,))
    got = convmm.conv(
        da.from_array(x, chunks=(1, 1, 5, 5)), da.from_array(w), da.from_array(b), padding=1
    )
    assert got.chunks[0] == (1, 1) and got.chunks[1] == (4,)
    assert len(got.chunks[2]) > 1 and len(got.chunks[3]) > 1  # the spatial chunks are kept
    np.testing.assert_array_equal(got.compute(), convmm.conv(x, w, b, padding=1))


def test_bad_dask_inputs_get_the_numpy_paths_errors() -> None:
    x = da.zeros((1, 2, 5, 5), dtype=np.int32, chunks=2)
    with pytest.raises(ConvmmTypeError, match=r"convmm.conv: input must be .*float"):
        convmm.conv(x, np.ones((1, 2, 3, 3)))
    xf = da.zeros((1, 2, 5, 5), chunks=2)
    with pytest.raises(ConvmmValueError, match=r"convmm.conv: input has 2 channels"):
        convmm.conv(xf, np.ones((1, 3, 3, 3)))
    with pytest.raises(
        ConvmmValueError, match=r"convmm.conv_backward: grad_output must have the shape"
    ):
        convmm.conv_backward(da.zeros((1, 1, 2, 2)), xf, np.ones((1, 2, 3, 3)))


@FEW
@given(
    case=st.integers(1, 3).flatmap(lambda nd: windows(nd, max_size={1: 9, 2: 7, 3: 5}[nd])),
    batch=st.sampled_from([None, 1, 3]),
    channels=st.integers(1, 3),
    data=st.data(),
)
def test_unfold_and_fold_of_a_dask_array_are_lazy_and_exact(
    case: Any, batch: int | None, channels: int, data: st.DataObject
) -> None:
    """Block by block of whole images: each image's patches and folded sums are the NumPy
    function's own, bit for bit, whatever the input's chunks."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    shape = (channels, *case.spatial) if batch is None else (batch, channels, *case.spatial)
    x = rng.standard_normal(shape)
    options = case.kwargs()
    want = convmm.unfold(x, case.kernel, **options)
    got = convmm.unfold(da.from_array(x, chunks=_chunks(data.draw, shape)), case.kernel, **options)
    assert isinstance(got, da.Array) and got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got.compute(), want)
    g = rng.standard_normal(want.shape)
    want = convmm.fold(g, case.spatial, case.kernel, **options)
    lazy = da.from_array(g, chunks=_chunks(data.draw, g.shape))
    got = convmm.fold(lazy, case.spatial, case.kernel, **options)
    assert isinstance(got, da.Array) and got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got.compute(), want)


@FEW
@given(transpose_cases(), st.sampled_from(["input", "grad_output", "both"]), st.data())
def test_conv_transpose_backward_of_dask_arrays_equals_the_in_memory_result(
    case: dict[str, Any], lazy: str, data: st.DataObject
) -> None:
    """dX per block of images, dK and db summed over the blocks: exact on integer data, for
    every combination of the flags and with either argument (or both) a dask array."""
    rng = np.random.default_rng(case["seed"])
    x, w = _ints(rng, case["shape"]), _ints(rng, case["weight"])
    try:
        y = convmm.conv_transpose(x, w, **case["options"])
    except ConvmmValueError:  # an output padding this geometry refuses
        return
    dy = _ints(rng, y.shape)
    flags = {
        "bias": data.draw(st.booleans()),
        "needs_input_grad": data.draw(st.booleans()),
        "needs_weight_grad": data.draw(st.booleans()),
    }
    wants = convmm.conv_transpose_backward(dy, x, w, **case["options"], **flags)
    lazy_x = da.from_array(x, chunks=case["chunks"]) if lazy != "grad_output" else x
    lazy_dy = da.from_array(dy, chunks=_chunks(data.draw, dy.shape)) if lazy != "input" else dy
    gots = convmm.conv_transpose_backward(lazy_dy, lazy_x, w, **case["options"], **flags)
    for name, got, want in zip(("dx", "dw", "db"), gots, wants, strict=True):
        if want is None:
            assert got is None, name
            continue
        assert isinstance(got, da.Array) and got.dtype == want.dtype, name
        assert got.shape == want.shape, name
        np.testing.assert_array_equal(got.compute(), want, err_msg=name)


@pytest.mark.parametrize(
    ("shape", "rank", "options"),
    [
        ((5, 2, 4, 3), 2, {"stride": 2, "output_size": (5, 3, 9, 7)}),  # the whole shape
        ((2, 4, 3), 2, {"stride": 2, "output_size": (3, 10, 7)}),  # unbatched, whole shape
        ((5, 4, 3, 2), 2, {"stride": 2, "padding": 1, "channels_last": True}),
        ((5, 2, 6), 1, {"stride": 3, "output_size": 19}),
    ],
)
def test_conv_transpose_backward_of_dask_arrays_in_every_form(
    shape: tuple[int, ...], rank: int, options: dict[str, Any]
) -> None:
    """Unbatched, channels-last, ``output_size`` in PyTorch's whole-shape form with the batch
    in several blocks, float32 and a dask weight: the NumPy gradients, shapes and dtypes."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((2, 3, *(3,) * rank)).astype(np.float32)
    y = convmm.conv_transpose(x, w, **options)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    wants = convmm.conv_transpose_backward(dy, x, w, **options)
    chunks = (2, *x.shape[1:]) if x.ndim == rank + 2 else 1
    lazy = convmm.conv_transpose_backward(
        da.from_array(dy, chunks=1), da.from_array(x, chunks=chunks), da.from_array(w), **options
    )
    gots = dask.compute(*lazy)
    for name, got, want, declared in zip(("dx", "dw", "db"), gots, wants, lazy, strict=True):
        assert declared.shape == want.shape == got.shape, name
        assert declared.dtype == want.dtype == got.dtype, name
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=name)


def test_unfold_fold_and_transpose_backward_check_dask_calls_when_made() -> None:
    """Bad arguments are refused at the call, from the shapes, not at ``.compute()``."""
    x = da.zeros((2, 2, 5, 5), chunks=1)
    with pytest.raises(ConvmmValueError, match=r"^convmm.unfold: kernel_size"):
        convmm.unfold(x, 0)
    with pytest.raises(ConvmmValueError, match=r"^convmm.fold: "):
        convmm.fold(da.zeros((2, 8, 9), chunks=1), (5, 5), 2)
    with pytest.raises(ConvmmTypeError, match=r"^convmm.unfold: input must be .*float"):
        convmm.unfold(da.zeros((1, 1, 4, 4), dtype=np.int32), 2)
    w = np.ones((2, 3, 3, 3))
    dy = da.zeros((2, 3, 7, 7), chunks=1)
    with pytest.raises(
        ConvmmValueError, match=r"^convmm.conv_transpose_backward: grad_output must have"
    ):
        convmm.conv_transpose_backward(da.zeros((2, 3, 6, 6)), x, w)
    with pytest.raises(ConvmmTypeError, match=r"^convmm.conv_transpose_backward: bias must be"):
        convmm.conv_transpose_backward(dy, x, w, bias=1)
    with pytest.raises(ConvmmValueError, match=r"^convmm.conv_transpose_backward: algorithm"):
        convmm.conv_transpose_backward(dy, x, w, algorithm="fast")
    with pytest.raises(ConvmmValueError, match=r"^convmm.conv_transpose_backward: output_size"):
        convmm.conv_transpose_backward(dy, x, w, output_size=(30, 30))


#: Run in a fresh interpreter (as a user's script runs): the cluster shares nothing with the
#: test process.  Exact results on 2 worker processes, then on the threaded scheduler.
_DISTRIBUTED = """
import dask, dask.array as da, numpy as np, convmm
from distributed import Client, LocalCluster

if __name__ == "__main__":
    rng = np.random.default_rng(3)
    x = rng.integers(-3, 4, (4, 3, 20, 17)).astype(float)
    w = rng.integers(-3, 4, (6, 3, 3, 2)).astype(float)
    options = {"stride": 2, "padding": 1, "padding_mode": "circular"}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=120)
        lazy = da.from_array(x, chunks=(2, 3, 7, 6))
        y = convmm.conv(lazy, w, **options)
        assert np.array_equal(client.compute(y).result(timeout=120), convmm.conv(x, w, **options))
        dy = rng.integers(-3, 4, y.shape).astype(float)
        grads = convmm.conv_backward(da.from_array(dy, chunks=(1, 6, 4, 4)), lazy, w, **options)
        got = [f.result(timeout=120) for f in client.compute(list(grads))]
        for g, want in zip(got, convmm.conv_backward(dy, x, w, **options)):
            assert np.array_equal(g, want)
        assert len(client.nthreads()) == 2
    with dask.config.set(scheduler="threads"):
        assert np.array_equal(y.compute(), convmm.conv(x, w, **options))
    print("exact on 2 worker processes and on threads")
"""


def test_results_are_exact_on_a_distributed_cluster_of_two_processes(tmp_path: Any) -> None:
    import subprocess
    import sys

    script = tmp_path / "distributed_check.py"
    script.write_text(_DISTRIBUTED)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=400, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "exact on 2 worker processes and on threads" in done.stdout
