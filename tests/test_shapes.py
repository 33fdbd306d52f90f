"""The shape helpers: conv_output_shape, conv_transpose_output_shape, conv_transpose_output_padding.

Each agrees with the function it describes (on small arrays), works for huge shapes without
allocating (checked with tracemalloc, and against torch on the ``meta`` device, which computes
shapes only), and ``conv_transpose_output_padding`` reaches every size of the reachable range,
as torch's ``ConvTranspose{n}d(...)(x, output_size=...)`` does within its own (narrower) range.
"""

from __future__ import annotations

import re
import tracemalloc
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import convmm
from oracle import windows

MODULES = (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)
CONV = (F.conv1d, F.conv2d, F.conv3d)
CONV_T = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)


def _pattern(func: str, *pieces: str) -> str:
    """Regex: the message starts with ``func:`` and contains ``pieces`` in this order."""
    return "^" + re.escape(func + ":") + "".join(".*" + re.escape(p) for p in pieces)


def _meta(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.empty(shape, device="meta")


def _transposed_size(n: int, k: int, s: int, d: int, before: int, after: int, op: int) -> int:
    return (n - 1) * s - before - after + d * (k - 1) + op + 1


def _small_traced(call: Any) -> Any:
    """``call()``, asserting that it allocated (almost) nothing."""
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024, f"a shape helper allocated {peak} bytes"
    return result


# --------------------------------------------------------------------------------------------
# conv_output_shape


@given(
    nd=st.integers(1, 3),
    data=st.data(),
    groups=st.integers(1, 3),
    batch=st.sampled_from((None, 0, 1, 2)),
    channels_last=st.booleans(),
)
def test_conv_output_shape_is_conv_shape(
    nd: int, data: Any, groups: int, batch: int | None, channels_last: bool
) -> None:
    window = data.draw(windows(nd, max_size={1: 7, 2: 6, 3: 4}[nd]))
    cin = groups * data.draw(st.integers(1, 2))
    cout = groups * data.draw(st.integers(1, 2))
    shape = (*window.spatial, cin) if channels_last else (cin, *window.spatial)
    if batch is not None:
        shape = (batch, *shape)
    w_shape = (cout, cin // groups, *window.kernel)
    kwargs = {**window.kwargs(), "groups": groups, "channels_last": channels_last}
    got = convmm.conv_output_shape(shape, w_shape, **kwargs)
    as_lists = convmm.conv_output_shape(list(shape), list(w_shape), **kwargs)
    want = convmm.conv(np.zeros(shape), np.zeros(w_shape), **kwargs).shape
    assert got == as_lists == want
    assert isinstance(got, tuple) and all(type(v) is int for v in got)


@given(
    nd=st.integers(1, 3),
    data=st.data(),
    groups=st.sampled_from((1, 2, 4)),
    batch=st.integers(1, 256),
)
def test_conv_output_shape_of_huge_inputs_matches_torch_meta(
    nd: int, data: Any, groups: int, batch: int
) -> None:
    """Shapes far too big to allocate: against torch's shape computation on the meta device."""
    spatial = tuple(data.draw(st.integers(64, {1: 10**7, 2: 8192, 3: 512}[nd])) for _ in range(nd))
    kernel = tuple(data.draw(st.integers(1, 7)) for _ in range(nd))
    stride = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    dilation = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    padding = tuple(data.draw(st.integers(0, 5)) for _ in range(nd))
    cin, cout = 16 * groups, 32 * groups
    shape, w_shape = (batch, cin, *spatial), (cout, cin // groups, *kernel)
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    got = _small_traced(lambda: convmm.conv_output_shape(shape, w_shape, **options))
    want = tuple(CONV[nd - 1](_meta(shape), _meta(w_shape), **options).shape)
    assert got == want
    # per-side padding: torch pads first (F.pad on meta computes shapes too)
    pairs = tuple((p, data.draw(st.integers(0, 5))) for p in padding)
    got = convmm.conv_output_shape(shape, w_shape, **{**options, "padding": pairs})
    padded = F.pad(_meta(shape), [p for pair in reversed(pairs) for p in pair])
    want = tuple(CONV[nd - 1](padded, _meta(w_shape), **{**options, "padding": 0}).shape)
    assert got == want
    # 'same' at any stride: ceil(input / stride)
    same = convmm.conv_output_shape(shape, w_shape, **{**options, "padding": "same"})
    assert same[2:] == tuple(-(-n // s) for n, s in zip(spatial, stride, strict=True))


def test_conv_output_shape_worked_examples() -> None:
    assert convmm.conv_output_shape((64, 3, 4096, 4096), (64, 3, 7, 7), stride=2, padding=3) == (
        64,
        64,
        2048,
        2048,
    )
    assert convmm.conv_output_shape(
        (64, 4096, 4096, 3), (64, 3, 7, 7), stride=2, padding="same", channels_last=True
    ) == (64, 2048, 2048, 64)
    assert convmm.conv_output_shape((3, 4096, 4096), (64, 3, 7, 7), padding="valid") == (
        64,
        4090,
        4090,
    )
    # a shape of 10^12 elements is only arithmetic
    big = _small_traced(
        lambda: convmm.conv_output_shape(
            (1024, 1024, 1024, 1024), (1024, 1, 3, 3), padding=1, groups=1024
        )
    )
    assert big == (1024, 1024, 1024, 1024)


# --------------------------------------------------------------------------------------------
# conv_transpose_output_shape


@st.composite
def transpose_geometries(draw: Any, nd: int, max_size: int) -> dict[str, Any]:
    """Valid transposed-convolution options for spatial sizes up to ``max_size``."""
    spatial = tuple(draw(st.integers(1, max_size)) for _ in range(nd))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    output_padding = tuple(
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    )
    pairs = []
    for n, k, s, d, op in zip(spatial, kernel, stride, dilation, output_padding, strict=True):
        room = _transposed_size(n, k, s, d, 0, 0, op) - 1
        before = draw(st.integers(0, min(3, room)))
        pairs.append((before, draw(st.integers(0, min(3, room - before)))))
    return {
        "spatial": spatial,
        "kernel": kernel,
        "stride": stride,
        "dilation": dilation,
        "output_padding": output_padding,
        "padding": tuple(pairs),
    }


@given(
    nd=st.integers(1, 3),
    data=st.data(),
    groups=st.integers(1, 3),
    batch=st.sampled_from((None, 0, 1, 2)),
    channels_last=st.booleans(),
)
def test_conv_transpose_output_shape_is_conv_transpose_shape(
    nd: int, data: Any, groups: int, batch: int | None, channels_last: bool
) -> None:
    g = data.draw(transpose_geometries(nd, {1: 7, 2: 5, 3: 3}[nd]))
    cin = groups * data.draw(st.integers(1, 2))
    cout_g = data.draw(st.integers(1, 2))
    shape = (*g["spatial"], cin) if channels_last else (cin, *g["spatial"])
    if batch is not None:
        shape = (batch, *shape)
    w_shape = (cin, cout_g, *g["kernel"])
    kwargs = {
        "stride": g["stride"],
        "padding": g["padding"],
        "output_padding": g["output_padding"],
        "dilation": g["dilation"],
        "groups": groups,
        "channels_last": channels_last,
    }
    got = convmm.conv_transpose_output_shape(shape, w_shape, **kwargs)
    want = convmm.conv_transpose(np.zeros(shape), np.zeros(w_shape), **kwargs).shape
    assert got == want
    spatial = tuple(
        _transposed_size(n, k, s, d, b, a, op)
        for n, k, s, d, (b, a), op in zip(
            g["spatial"],
            g["kernel"],
            g["stride"],
            g["dilation"],
            g["padding"],
            g["output_padding"],
            strict=True,
        )
    )
    full = (*spatial, cout_g * groups) if channels_last else (cout_g * groups, *spatial)
    assert got == (full if batch is None else (batch, *full))


@given(nd=st.integers(1, 3), data=st.data(), groups=st.sampled_from((1, 2, 4)))
def test_conv_transpose_output_shape_of_huge_inputs_matches_torch_meta(
    nd: int, data: Any, groups: int
) -> None:
    spatial = tuple(data.draw(st.integers(1, {1: 10**7, 2: 8192, 3: 512}[nd])) for _ in range(nd))
    kernel = tuple(data.draw(st.integers(1, 7)) for _ in range(nd))
    stride = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    dilation = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    output_padding = tuple(
        data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    )
    padding = tuple(
        data.draw(st.integers(0, max(0, min(5, (_transposed_size(n, k, s, d, 0, 0, op) - 1) // 2))))
        for n, k, s, d, op in zip(spatial, kernel, stride, dilation, output_padding, strict=True)
    )
    cin, cout_g = 16 * groups, 8
    shape, w_shape = (64, cin, *spatial), (cin, cout_g, *kernel)
    options = {
        "stride": stride,
        "padding": padding,
        "output_padding": output_padding,
        "dilation": dilation,
        "groups": groups,
    }
    got = _small_traced(lambda: convmm.conv_transpose_output_shape(shape, w_shape, **options))
    want = tuple(CONV_T[nd - 1](_meta(shape), _meta(w_shape), **options).shape)
    assert got == want


def test_conv_transpose_output_shape_worked_examples() -> None:
    assert convmm.conv_transpose_output_shape(
        (64, 64, 2048, 2048), (64, 3, 7, 7), stride=2, padding=3, output_padding=1
    ) == (64, 3, 4096, 4096)
    assert convmm.conv_transpose_output_shape(
        (2048, 2048, 64), (64, 3, 7, 7), stride=2, padding=((3, 2), 3), channels_last=True
    ) == (4096, 4095, 3)


# --------------------------------------------------------------------------------------------
# conv_transpose_output_padding


@given(nd=st.integers(1, 3), data=st.data())
def test_output_padding_reaches_every_size_in_the_range(nd: int, data: Any) -> None:
    spatial = tuple(data.draw(st.integers(1, 6)) for _ in range(nd))
    kernel = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    dilation = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    pairs = tuple((data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))) for _ in range(nd))
    padding: Any = pairs
    if all(b == a for b, a in pairs) and data.draw(st.booleans()):
        padding = tuple(b for b, _ in pairs)  # symmetric, as torch writes it
    options = {"stride": stride, "padding": padding, "dilation": dilation}
    lows = [
        _transposed_size(n, k, s, d, b, a, 0)
        for n, k, s, d, (b, a) in zip(spatial, kernel, stride, dilation, pairs, strict=True)
    ]
    highs = [lo + max(s, d) - 1 for lo, s, d in zip(lows, stride, dilation, strict=True)]
    ranges = [range(max(1, lo), hi + 1) for lo, hi in zip(lows, highs, strict=True)]
    if any(len(r) == 0 for r in ranges):
        with pytest.raises(ValueError, match="cannot be reached"):
            convmm.conv_transpose_output_padding(spatial, (1,) * nd, kernel, **options)
        return
    # every reachable size, one dim at a time (the others at their smallest reachable size)
    for dim in range(nd):
        for size in ranges[dim]:
            target = tuple(size if i == dim else r[0] for i, r in enumerate(ranges))
            op = convmm.conv_transpose_output_padding(spatial, target, kernel, **options)
            assert all(0 <= p < max(s, d) for p, s, d in zip(op, stride, dilation, strict=True))
            shape = convmm.conv_transpose_output_shape(
                (1, 2, *spatial), (2, 1, *kernel), **options, output_padding=op
            )
            assert shape[2:] == target
            listed = convmm.conv_transpose_output_padding(
                list(spatial), list(target), list(kernel), **options
            )
            assert listed == op
        # the first unreachable size on each side: the message gives the range
        for size in (lows[dim] - 1, highs[dim] + 1):
            if size < 1:
                continue
            target = tuple(size if i == dim else r[0] for i, r in enumerate(ranges))
            with pytest.raises(
                ValueError,
                match=_pattern(
                    "convmm.conv_transpose_output_padding",
                    f"output_size {size} cannot be reached in spatial dim {dim}",
                    f"between {lows[dim]} and {highs[dim]}",
                ),
            ):
                convmm.conv_transpose_output_padding(spatial, target, kernel, **options)
    if nd == 1:
        op = convmm.conv_transpose_output_padding(spatial, ranges[0][-1], kernel[0], **options)
        assert op == (ranges[0][-1] - lows[0],)


@given(nd=st.integers(1, 3), data=st.data())
def test_output_padding_agrees_with_torch_module_output_size(nd: int, data: Any) -> None:
    """Within torch's range (smallest .. smallest + stride - 1): the same output_padding.

    torch's module refuses sizes from smallest + stride on, even where output_padding could be
    up to max(stride, dilation) - 1 (which F.conv_transpose{n}d accepts); convmm reaches them.
    """
    spatial = tuple(data.draw(st.integers(1, 6)) for _ in range(nd))
    kernel = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    dilation = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    lows0 = [
        _transposed_size(n, k, s, d, 0, 0, 0)
        for n, k, s, d in zip(spatial, kernel, stride, dilation, strict=True)
    ]
    padding = tuple(data.draw(st.integers(0, max(0, (lo - 1) // 2))) for lo in lows0)
    lows = [lo - 2 * p for lo, p in zip(lows0, padding, strict=True)]
    size = tuple(data.draw(st.integers(lo, lo + s - 1)) for lo, s in zip(lows, stride, strict=True))
    options = {"stride": stride, "padding": padding, "dilation": dilation}
    op = convmm.conv_transpose_output_padding(spatial, size, kernel, **options)
    module = MODULES[nd - 1](2, 2, kernel, **options, bias=False, device="meta")
    x = _meta((1, 2, *spatial))
    assert tuple(module(x, output_size=list(size)).shape[2:]) == size
    # torch's output_padding for that size (its own private helper, the one forward uses)
    want = module._output_padding(
        x, list(size), list(stride), list(padding), list(kernel), nd, list(dilation)
    )
    assert op == tuple(want)
    shape = convmm.conv_transpose_output_shape(
        (1, 2, *spatial), (2, 1, *kernel), **options, output_padding=op
    )
    assert shape[2:] == size


# --------------------------------------------------------------------------------------------
# errors


def test_shape_helpers_take_numpy_integers() -> None:
    """Shapes as numpy gives them (np.int64 entries) work as plain ints do."""
    shape = tuple(np.int64(v) for v in (2, 3, 8, 8))
    assert convmm.conv_output_shape(shape, (4, 3, 3, 3)) == (2, 4, 6, 6)
    got = convmm.conv_transpose_output_shape(shape, np.array((3, 2, 3, 3)).tolist())
    assert got == (2, 2, 10, 10) and all(type(v) is int for v in got)
    assert convmm.conv_transpose_output_padding(shape[2:], (17, 18), 3, stride=2) == (0, 1)


CO = "convmm.conv_output_shape"
CTO = "convmm.conv_transpose_output_shape"
CTP = "convmm.conv_transpose_output_padding"


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "pieces"),
    [
        (((2, 3, 8, 8), (4, 3, 3, 3)), {"padding": -1}, ValueError, ("padding", "-1")),
        ((8, (4, 3, 3, 3)), {}, TypeError, ("input_shape must be a sequence of ints", "8")),
        (("abc", (4, 3, 3, 3)), {}, TypeError, ("input_shape", "'abc'")),
        (((2, 3, -8, 8), (4, 3, 3, 3)), {}, ValueError, ("input_shape", ">= 0", "-8")),
        (((2, 3, 8.0, 8), (4, 3, 3, 3)), {}, TypeError, ("input_shape", "8.0")),
        (((2, 3, 8, 8), None), {}, TypeError, ("weight_shape", "None")),
        (((2, 3, 8, 8), (4, 3, True, 3)), {}, TypeError, ("weight_shape", "True")),
        (
            ((2, 5, 8, 8), (4, 3, 3, 3)),
            {},
            ValueError,
            ("input has 5 channels", "weight (4, 3, 3, 3)"),
        ),
        (
            ((2, 3, 2, 8), (4, 3, 3, 3)),
            {},
            ValueError,
            ("kernel spans 3 in spatial dim 0",),
        ),
        (
            ((2, 3, 3, 8), (4, 3, 3, 3)),
            {"padding": 3, "padding_mode": "reflect"},
            ValueError,
            ("padding_mode 'reflect'",),
        ),
        (((2, 3, 8, 8), (4, 3, 3)), {}, ValueError, ("input must have shape",)),
        (((2, 3, 8, 8), (4, 3, 3, 3)), {"groups": 2}, ValueError, ("groups", "groups=2")),
        (((2, 3, 8, 8), (4, 3, 3, 3)), {"stride": 0}, ValueError, ("stride", "got 0")),
    ],
)
def test_conv_output_shape_rejects(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], pieces: tuple[str, ...]
) -> None:
    with pytest.raises(error, match=_pattern(CO, *pieces)):
        convmm.conv_output_shape(*args, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "pieces"),
    [
        ((8, (4, 3, 3, 3)), {}, TypeError, ("input_shape must be a sequence of ints",)),
        (((2, 4, 5, 5), (4, -3, 3, 3)), {}, ValueError, ("weight_shape", "-3")),
        (((2, 4, 5, 5), (4, 3, 3, 3)), {"padding": "same"}, ValueError, ("padding", "'same'")),
        (
            ((2, 4, 5, 5), (4, 3, 3, 3)),
            {"output_padding": 1},
            ValueError,
            ("output_padding must be smaller than stride or dilation",),
        ),
        (
            ((2, 4, 5, 5), (4, 3, 3, 3)),
            {"output_padding": -1, "stride": 2},
            ValueError,
            ("output_padding", "got -1"),
        ),
        (
            ((2, 3, 5, 5), (4, 3, 3, 3)),
            {},
            ValueError,
            ("input has 3 channels", "weight.shape[0] = 4"),
        ),
        (((2, 4, 5, 5), (4, 3, 3, 3)), {"groups": 3}, ValueError, ("groups must divide",)),
        (
            ((2, 4, 5, 5), (4, 3, 3, 3)),
            {"padding": (4, 0)},
            ValueError,
            ("padding crops more than the output has in spatial dim 0",),
        ),
    ],
)
def test_conv_transpose_output_shape_rejects(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], pieces: tuple[str, ...]
) -> None:
    with pytest.raises(error, match=_pattern(CTO, *pieces)):
        convmm.conv_transpose_output_shape(*args, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "pieces"),
    [
        (
            ((5,), (12,), 3),
            {"stride": 2, "padding": 1},
            ValueError,
            ("output_size 12 cannot be reached in spatial dim 0", "between 9 and 10"),
        ),
        (
            ((5,), (8,), 3),
            {"stride": 2, "padding": 1},
            ValueError,
            ("output_size 8", "between 9 and 10"),
        ),
        (
            ((5, 5), (9, 16), 3),
            {"stride": 2, "padding": 1, "dilation": (1, 3)},
            ValueError,
            ("output_size 16 cannot be reached in spatial dim 1", "between 13 and 15"),
        ),
        (((5,), (9,), 3), {"padding": "same"}, ValueError, ("padding", "'same'")),
        ((5, (9,), 3), {}, TypeError, ("input_size must be a sequence of ints",)),
        (((5, 5), (9,), 3), {}, ValueError, ("output_size", "got 1 value")),
        (((5,), (9,), 0), {}, ValueError, ("kernel_size", "got 0")),
        (((5,), (0,), 3), {}, ValueError, ("output_size", "got (0,)")),
        (((5,), (9,), 3), {"stride": 0}, ValueError, ("stride", "got 0")),
        (((5,), (9,), 3), {"padding": -1}, ValueError, ("padding", "negative -1")),
    ],
)
def test_conv_transpose_output_padding_rejects(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], pieces: tuple[str, ...]
) -> None:
    with pytest.raises(error, match=_pattern(CTP, *pieces)):
        convmm.conv_transpose_output_padding(*args, **kwargs)
