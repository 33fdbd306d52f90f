"""Invalid calls: every one raises ValueError or TypeError, and the message says who, what, why.

Each message must name the public function (``convmm.conv: ...``), the parameter, what was
expected and what was given; the tests check the function name, the parameter name and the
given value with a regex.  A Hypothesis test throws random junk at :func:`convmm.conv` (and at
unfold/fold) and checks that nothing ever escapes as IndexError, AssertionError,
ZeroDivisionError..., and that no call, failing or not, modifies its inputs.

Self-contained: no fixtures from conftest.py.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convmm
from convmm import reference

# --------------------------------------------------------------------------------------------
# helpers


def _arr(shape: tuple[int, ...], dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    """Small random array (distinct values, so that a modification would be visible)."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _pattern(func: str, *pieces: str) -> str:
    """Regex: the message starts with ``func:`` and contains ``pieces`` in this order."""
    return "^" + re.escape(func + ":") + "".join(".*" + re.escape(p) for p in pieces)


def _snapshot(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    return copy.deepcopy((args, kwargs))


def _same(a: Any, b: Any) -> bool:
    """Deep equality of call arguments, arrays compared by dtype, shape and content."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and (
                np.array_equal(a, b, equal_nan=True)
                if a.dtype.kind in "fc"
                else bool(np.all(a == b))
            )
        )
    if isinstance(a, tuple | list):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


X = _arr((2, 3, 6, 6), seed=1)  # (N, C, H, W)
W = _arr((4, 3, 3, 3), seed=2)  # (C_out, C_in, kH, kW)
B = _arr((4,), seed=3)

# --------------------------------------------------------------------------------------------
# cases shared by convmm.conv and convmm.reference.conv: (id, args, kwargs, exception, pieces)

Case = tuple[str, tuple[Any, ...], dict[str, Any], type[Exception], tuple[str, ...]]

CONV_CASES: list[Case] = [
    # channel count not matching the weight
    (
        "channels-mismatch",
        (_arr((2, 4, 6, 6)), W),
        {},
        ValueError,
        ("input has 4 channels", "axis 1 of shape (2, 4, 6, 6)", "weight (4, 3, 3, 3)", "3"),
    ),
    (
        "channels-mismatch-unbatched",
        (_arr((5, 6, 6)), W),
        {},
        ValueError,
        ("input has 5 channels", "axis 0 of shape (5, 6, 6)", "expects 3"),
    ),
    (
        "channels-mismatch-grouped",
        (_arr((1, 6, 6, 6)), _arr((4, 2, 3, 3))),
        {"groups": 2},
        ValueError,
        ("input has 6 channels", "groups=2", "expects 2 x 2 = 4"),
    ),
    # groups
    (
        "groups-not-dividing-cin",
        (_arr((1, 3, 6, 6)), _arr((4, 1, 3, 3))),
        {"groups": 2},
        ValueError,
        ("groups must divide the input's channels", "groups=2", "3 input channels"),
    ),
    (
        "groups-not-dividing-cout",
        (_arr((1, 4, 6, 6)), _arr((3, 2, 3, 3))),
        {"groups": 2},
        ValueError,
        ("groups must divide out_channels", "groups=2", "out_channels=3"),
    ),
    ("groups-zero", (X, W), {"groups": 0}, ValueError, ("groups", "positive int", "got 0")),
    ("groups-negative", (X, W), {"groups": -3}, ValueError, ("groups", "got -3")),
    ("groups-float", (X, W), {"groups": 1.0}, TypeError, ("groups", "positive int", "got 1.0")),
    ("groups-bool", (X, W), {"groups": True}, TypeError, ("groups", "got True")),
    ("groups-str", (X, W), {"groups": "1"}, TypeError, ("groups", "got '1'")),
    ("groups-none", (X, W), {"groups": None}, TypeError, ("groups", "got None")),
    # kernel (dilated) larger than the padded input
    (
        "kernel-too-large-dilated",
        (X, W),
        {"dilation": 3},
        ValueError,
        ("kernel spans 7 in spatial dim 0", "kernel_size 3, dilation 3", "padded input's 6"),
    ),
    (
        "kernel-too-large-dim1",
        (X, _arr((4, 3, 1, 8))),
        {"padding": ((0, 0), (1, 0))},
        ValueError,
        ("kernel spans 8 in spatial dim 1", "kernel_size 8", "7 (input 6 + padding 1 + 0)"),
    ),
    (
        "kernel-too-large-undilated",
        (_arr((1, 3, 2, 6)), W),
        {},
        ValueError,
        ("kernel spans 3 in spatial dim 0", "kernel_size 3, dilation 1", "padded input's 2"),
    ),
    # stride / dilation: 0, negative, float, bool, wrong type, wrong length
    ("stride-zero", (X, W), {"stride": 0}, ValueError, ("stride", "got 0")),
    ("stride-negative", (X, W), {"stride": -2}, ValueError, ("stride", "got -2")),
    ("stride-zero-in-tuple", (X, W), {"stride": (1, 0)}, ValueError, ("stride", "got (1, 0)")),
    ("stride-float", (X, W), {"stride": 1.5}, TypeError, ("stride", "got 1.5")),
    ("stride-float-in-tuple", (X, W), {"stride": (1, 2.0)}, TypeError, ("stride", "(1, 2.0)")),
    ("stride-bool", (X, W), {"stride": True}, TypeError, ("stride", "got True")),
    ("stride-str", (X, W), {"stride": "2"}, TypeError, ("stride", "got '2'")),
    ("stride-none", (X, W), {"stride": None}, TypeError, ("stride", "got None")),
    (
        "stride-wrong-length",
        (X, W),
        {"stride": (1, 1, 1)},
        ValueError,
        ("stride", "sequence of 2", "got 3 values (1, 1, 1) for 2 spatial dims"),
    ),
    ("dilation-zero", (X, W), {"dilation": 0}, ValueError, ("dilation", "got 0")),
    ("dilation-negative", (X, W), {"dilation": -1}, ValueError, ("dilation", "got -1")),
    ("dilation-float", (X, W), {"dilation": 2.0}, TypeError, ("dilation", "got 2.0")),
    ("dilation-bool", (X, W), {"dilation": False}, TypeError, ("dilation", "got False")),
    (
        "dilation-wrong-length",
        (X, W),
        {"dilation": [1]},
        ValueError,
        ("dilation", "sequence of 2", "got 1 value [1] for 2 spatial dims"),
    ),
    # padding
    ("padding-negative", (X, W), {"padding": -1}, ValueError, ("padding", "negative -1")),
    (
        "padding-negative-pair",
        (X, W),
        {"padding": ((1, -1), 0)},
        ValueError,
        ("padding", "((1, -1), 0)"),
    ),
    ("padding-float", (X, W), {"padding": 1.5}, TypeError, ("padding", "got 1.5")),
    ("padding-bool", (X, W), {"padding": True}, TypeError, ("padding", "got True")),
    ("padding-none", (X, W), {"padding": None}, TypeError, ("padding", "got None")),
    (
        "padding-bad-pair",
        (X, W),
        {"padding": ((1, 2, 3), 0)},
        ValueError,
        ("padding", "((1, 2, 3), 0)", "entry for spatial dim 0 has 3 values (1, 2, 3)"),
    ),
    (
        "padding-half-pair",
        (X, W),
        {"padding": (1, (2,))},
        ValueError,
        ("padding", "entry for spatial dim 1 has 1 value (2,)", "(before, after) pair"),
    ),
    ("padding-unknown-string", (X, W), {"padding": "full"}, ValueError, ("padding", "'full'")),
    ("padding-string-case", (X, W), {"padding": "SAME"}, ValueError, ("padding", "'SAME'")),
    (
        "padding-wrong-length",
        (X, W),
        {"padding": (1, 1, 1)},
        ValueError,
        ("padding", "sequence of 2", "got 3 entries (1, 1, 1) for 2 spatial dims"),
    ),
    # padding_mode
    (
        "padding-mode-unknown",
        (X, W),
        {"padding": 1, "padding_mode": "mirror"},
        ValueError,
        ("padding_mode", "'reflect'", "got 'mirror'"),
    ),
    (
        "padding-mode-numpy-name",
        (X, W),
        {"padding_mode": "constant"},
        ValueError,
        ("padding_mode", "got 'constant'"),
    ),
    ("padding-mode-none", (X, W), {"padding_mode": None}, TypeError, ("padding_mode", "None")),
    # reflect padding >= input size, circular padding > input size
    (
        "reflect-padding-equal-to-size",
        (_arr((1, 3, 4, 6)), W),
        {"padding": 4, "padding_mode": "reflect"},
        ValueError,
        ("padding_mode 'reflect'", "spatial dim 0 has size 4 and padding (4, 4)"),
    ),
    (
        "reflect-padding-one-side",
        (X, W),
        {"padding": ((0, 0), (0, 6)), "padding_mode": "reflect"},
        ValueError,
        ("padding_mode 'reflect'", "spatial dim 1 has size 6 and padding (0, 6)"),
    ),
    (
        "reflect-same-padding-too-large",
        (_arr((1, 3, 2, 2)), _arr((4, 3, 5, 5))),
        {"padding": "same", "padding_mode": "reflect"},
        ValueError,
        ("padding_mode 'reflect'", "spatial dim 0 has size 2 and padding (2, 2)"),
    ),
    (
        "circular-padding-too-large",
        (_arr((1, 3, 4, 6)), W),
        {"padding": 5, "padding_mode": "circular"},
        ValueError,
        ("padding_mode 'circular'", "spatial dim 0 has size 4 and padding (5, 5)"),
    ),
    # input rank not fitting the weight
    (
        "input-rank-too-high",
        (_arr((1, 1, 3, 6, 6)), W),
        {},
        ValueError,
        ("input must have shape", "4 or 3 dims", "got input shape (1, 1, 3, 6, 6)"),
    ),
    (
        "input-rank-too-low",
        (_arr((3, 6)), W),
        {},
        ValueError,
        ("input must have shape", "2 spatial dims", "got input shape (3, 6)"),
    ),
    (
        "input-scalar",
        (np.float32(1.0), W),
        {},
        ValueError,
        ("input must have shape", "got input shape ()"),
    ),
    # bias of the wrong shape
    ("bias-too-short", (X, W, _arr((3,))), {}, ValueError, ("bias", "(4,)", "got shape (3,)")),
    ("bias-2d", (X, W, _arr((4, 1))), {}, ValueError, ("bias", "(4,)", "got shape (4, 1)")),
    ("bias-scalar", (X, W, np.float32(0)), {}, ValueError, ("bias", "(4,)", "got shape ()")),
    # non-numeric, integer, bool, complex arrays
    (
        "input-strings",
        (np.full((2, 3, 6, 6), "a"), W),
        {},
        TypeError,
        ("input must be a floating-point array", "got dtype <U1"),
    ),
    (
        "input-object",
        (np.empty((2, 3, 6, 6), dtype=object), W),
        {},
        TypeError,
        ("input must be a floating-point array", "got dtype object"),
    ),
    (
        "input-ragged-list",
        ([[1.0, 2.0], [3.0]], W),
        {},
        TypeError,
        ("input must be a floating-point array", "got list"),
    ),
    (
        "input-int",
        (np.ones((2, 3, 6, 6), dtype=np.int64), W),
        {},
        TypeError,
        ("input", "float16, float32 or float64", "got dtype int64", "astype"),
    ),
    (
        "input-int-list",
        ([[[1, 2], [3, 4]]], W),
        {},
        TypeError,
        ("input", "got dtype int64", "astype"),
    ),
    (
        "input-uint8",
        (np.ones((2, 3, 6, 6), dtype=np.uint8), W),
        {},
        TypeError,
        ("input", "got dtype uint8", "astype"),
    ),
    (
        "input-bool",
        (np.ones((2, 3, 6, 6), dtype=bool), W),
        {},
        TypeError,
        ("input", "got dtype bool", "astype"),
    ),
    (
        "input-complex",
        (X.astype(np.complex128), W),
        {},
        TypeError,
        ("input", "got dtype complex128"),
    ),
    (
        "weight-int",
        (X, np.ones((4, 3, 3, 3), dtype=np.int32)),
        {},
        TypeError,
        ("weight", "got dtype int32", "astype"),
    ),
    (
        "weight-complex",
        (X, W.astype(np.complex64)),
        {},
        TypeError,
        ("weight", "got dtype complex64"),
    ),
    (
        "weight-strings",
        (X, np.full((4, 3, 3, 3), "w")),
        {},
        TypeError,
        ("weight", "got dtype <U1"),
    ),
    ("bias-int", (X, W, [1, 2, 3, 4]), {}, TypeError, ("bias", "got dtype int64", "astype")),
    (
        "bias-object",
        (X, W, np.array([1.0, None, 2.0, 3.0], dtype=object)),
        {},
        TypeError,
        ("bias", "got dtype object"),
    ),
    # channels_last
    (
        "channels-last-mismatch",
        (_arr((2, 6, 6, 4)), W),
        {"channels_last": True},
        ValueError,
        ("input has 4 channels", "axis last of shape (2, 6, 6, 4)", "expects 3"),
    ),
    (
        "channels-last-given-nchw",
        (X, W),
        {"channels_last": True},
        ValueError,
        ("input has 6 channels", "axis last of shape (2, 3, 6, 6)"),
    ),
    (
        "channels-last-not-bool",
        (X, W),
        {"channels_last": 1},
        TypeError,
        ("channels_last", "True or False", "got 1"),
    ),
    (
        "channels-last-str",
        (X, W),
        {"channels_last": "yes"},
        TypeError,
        ("channels_last", "got 'yes'"),
    ),
    # weight with fewer than 3 dims, zero-sized weight dims
    ("weight-2d", (X, _arr((4, 3))), {}, ValueError, ("weight", "got shape (4, 3)")),
    ("weight-1d", (X, _arr((4,))), {}, ValueError, ("weight", "got shape (4,)")),
    ("weight-scalar", (X, np.float32(1)), {}, ValueError, ("weight", "got shape ()")),
    (
        "weight-zero-out",
        (X, _arr((0, 3, 3, 3))),
        {},
        ValueError,
        ("weight", "zero-sized", "got shape (0, 3, 3, 3)"),
    ),
    (
        "weight-zero-in",
        (_arr((2, 0, 6, 6)), _arr((4, 0, 3, 3))),
        {},
        ValueError,
        ("weight", "zero-sized", "got shape (4, 0, 3, 3)"),
    ),
    (
        "weight-zero-kernel",
        (X, _arr((4, 3, 3, 0))),
        {},
        ValueError,
        ("weight", "zero-sized", "got shape (4, 3, 3, 0)"),
    ),
    # spatial size 0
    (
        "spatial-zero-dim0",
        (_arr((1, 3, 0, 6)), _arr((4, 3, 1, 1))),
        {},
        ValueError,
        ("input spatial sizes must be >= 1", "spatial dim 0 has size 0"),
    ),
    (
        "spatial-zero-dim1-channels-last",
        (_arr((1, 6, 0, 3)), _arr((4, 3, 1, 1))),
        {"channels_last": True},
        ValueError,
        ("input spatial sizes must be >= 1", "spatial dim 1 has size 0"),
    ),
]

CONV_FUNCS = [
    pytest.param(convmm.conv, "convmm.conv", id="conv"),
    pytest.param(reference.conv, "convmm.reference.conv", id="reference"),
]


@pytest.mark.parametrize(("func", "name"), CONV_FUNCS)
@pytest.mark.parametrize(
    ("args", "kwargs", "error", "pieces"), [pytest.param(*c[1:], id=c[0]) for c in CONV_CASES]
)
def test_conv_rejects(
    func: Callable[..., Any],
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: type[Exception],
    pieces: tuple[str, ...],
) -> None:
    before = _snapshot(args, kwargs)
    with pytest.raises(error, match=_pattern(name, *pieces)):
        func(*args, **kwargs)
    assert _same((args, kwargs), before), "a failing call modified its arguments"


# --------------------------------------------------------------------------------------------
# max_workspace_bytes (convmm.conv only)

WORKSPACE_CASES: list[Case] = [
    ("zero", (X, W), {"max_workspace_bytes": 0}, ValueError, ("max_workspace_bytes", "got 0")),
    (
        "negative",
        (X, W),
        {"max_workspace_bytes": -1024},
        ValueError,
        ("max_workspace_bytes", "positive int", "got -1024"),
    ),
    (
        "float",
        (X, W),
        {"max_workspace_bytes": 1e9},
        TypeError,
        ("max_workspace_bytes", "got 1000000000.0"),
    ),
    ("bool", (X, W), {"max_workspace_bytes": True}, TypeError, ("max_workspace_bytes", "True")),
    (
        "str",
        (X, W),
        {"max_workspace_bytes": "64MiB"},
        TypeError,
        ("max_workspace_bytes", "got '64MiB'"),
    ),
    # One output row of one (1, 3, 8, 8) image with a 3x3 kernel: 6 positions x 27 rows of P
    # x 4 bytes = 648 bytes.
    (
        "too-small-float32",
        (_arr((1, 3, 8, 8)), W[:2]),
        {"max_workspace_bytes": 647},
        ValueError,
        ("max_workspace_bytes=647 is too small", "needs 648 bytes", "27 rows"),
    ),
    # float64: 6 x 27 x 8 = 1296 bytes.
    (
        "too-small-float64",
        (_arr((2, 3, 8, 8), np.float64), W[:2].astype(np.float64)),
        {"max_workspace_bytes": 1000},
        ValueError,
        ("max_workspace_bytes=1000 is too small", "needs 1296 bytes"),
    ),
    # float16 input: P in float32 (648 bytes) plus a float32 result row (2 x 6 x 4 = 48 bytes).
    (
        "too-small-float16",
        (_arr((1, 3, 8, 8), np.float16), W[:2].astype(np.float16)),
        {"max_workspace_bytes": 695},
        ValueError,
        ("max_workspace_bytes=695 is too small", "needs 696 bytes"),
    ),
    # reflect padding 1: 8 positions x 27 x 4 = 864 bytes of P, plus the padded slab of
    # 3 channels x 3 rows x 10 columns x 4 bytes = 360 bytes.
    (
        "too-small-reflect",
        (_arr((1, 3, 8, 8)), W[:2]),
        {"padding": 1, "padding_mode": "reflect", "max_workspace_bytes": 1223},
        ValueError,
        ("max_workspace_bytes=1223 is too small", "needs 1224 bytes"),
    ),
]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "pieces"),
    [pytest.param(*c[1:], id=c[0]) for c in WORKSPACE_CASES],
)
def test_conv_rejects_workspace(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], pieces: tuple[str, ...]
) -> None:
    before = _snapshot(args, kwargs)
    with pytest.raises(error, match=_pattern("convmm.conv", *pieces)):
        convmm.conv(*args, **kwargs)
    assert _same((args, kwargs), before)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "pieces"),
    [pytest.param(*c[1:], id=c[0]) for c in WORKSPACE_CASES if "too-small" not in c[0]],
)
def test_reference_validates_workspace_like_conv(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], pieces: tuple[str, ...]
) -> None:
    """The reference takes conv's signature whole; it holds no P, so only the type is checked."""
    with pytest.raises(error, match=_pattern("convmm.reference.conv", *pieces)):
        reference.conv(*args, **kwargs)
    # any valid bound is accepted, even one too small for the fast path
    assert reference.conv(X, W, max_workspace_bytes=1).shape == (2, 4, 4, 4)


@pytest.mark.parametrize(
    ("dtype", "extra", "minimum"),
    [
        (np.float32, {}, 648),
        (np.float64, {}, 1296),
        (np.float16, {}, 696),
        (np.float32, {"padding": 1, "padding_mode": "reflect"}, 1224),
    ],
)
def test_workspace_minimum_is_enough(dtype: Any, extra: dict[str, Any], minimum: int) -> None:
    """The minimum the error message names is accepted, and gives the unbounded result."""
    x, w = _arr((2, 3, 8, 8), dtype), W[:2].astype(dtype)
    got = convmm.conv(x, w, max_workspace_bytes=minimum, **extra)  # one output row at a time
    unchunked = convmm.conv(x, w, max_workspace_bytes=2**30, **extra)
    # the same sums as unchunked, up to the order BLAS adds them in (the last bits)
    eps = np.finfo(np.result_type(np.float32, dtype)).eps
    scale = float(np.abs(x).max()) * np.abs(w.astype(np.float64)).sum(axis=(1, 2, 3))
    tolerance = 8 * eps * scale[:, None, None] + np.spacing(np.abs(unchunked)).astype(np.float64)
    assert np.all(np.abs(got.astype(np.float64) - unchunked) <= tolerance)
    with pytest.raises(ValueError, match=rf"needs {minimum} bytes"):
        convmm.conv(x, w, max_workspace_bytes=minimum - 1, **extra)


# --------------------------------------------------------------------------------------------
# edge values that are valid and must not be refused


@pytest.mark.parametrize(
    ("args", "kwargs", "shape"),
    [
        pytest.param((X, W), {"padding": 6, "padding_mode": "circular"}, (2, 4, 16, 16), id="c"),
        pytest.param((X, W), {"padding": 5, "padding_mode": "reflect"}, (2, 4, 14, 14), id="r"),
        pytest.param((X, W), {"padding": 9, "padding_mode": "replicate"}, (2, 4, 22, 22), id="e"),
        pytest.param((X, W), {"dilation": (2, 1), "stride": [2, 3]}, (2, 4, 1, 2), id="stride"),
        pytest.param((_arr((1, 3, 5, 6)), W), {"dilation": (2, 1)}, (1, 4, 1, 4), id="span"),
        pytest.param((X, W), {"groups": np.int64(1), "stride": np.int32(2)}, (2, 4, 2, 2), id="np"),
        pytest.param((X[0], W), {"padding": "same"}, (4, 6, 6), id="unbatched"),
        pytest.param((X[:0], W), {}, (0, 4, 4, 4), id="empty-batch"),
        pytest.param((X, W), {"max_workspace_bytes": np.int64(4096)}, (2, 4, 4, 4), id="npint"),
        pytest.param((X.tolist(), W.tolist(), B.tolist()), {}, (2, 4, 4, 4), id="lists"),
    ],
)
def test_conv_accepts_edge_values(
    args: tuple[Any, ...], kwargs: dict[str, Any], shape: tuple[int, ...]
) -> None:
    assert convmm.conv(*args, **kwargs).shape == shape


# --------------------------------------------------------------------------------------------
# conv1d / conv2d / conv3d


@pytest.mark.parametrize(
    ("func", "name", "weight", "pieces"),
    [
        (convmm.conv2d, "convmm.conv2d", _arr((4, 3, 3)), ("weight must have 4 dims", "(4, 3, 3)")),
        (convmm.conv2d, "convmm.conv2d", _arr((4, 3, 3, 3, 3)), ("4 dims", "(4, 3, 3, 3, 3)")),
        (convmm.conv1d, "convmm.conv1d", W, ("weight must have 3 dims", "(4, 3, 3, 3)")),
        (convmm.conv3d, "convmm.conv3d", W, ("weight must have 5 dims", "(4, 3, 3, 3)")),
    ],
)
def test_conv_nd_checks_weight_rank(
    func: Callable[..., Any], name: str, weight: np.ndarray, pieces: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match=_pattern(name, *pieces)):
        func(X, weight)


@pytest.mark.parametrize(
    ("args", "error", "pieces"),
    [
        pytest.param((X, W, None, 0), ValueError, ("stride", "got 0"), id="stride"),
        pytest.param((X, W, None, 1, "full"), ValueError, ("padding", "'full'"), id="padding"),
        pytest.param((X, W, None, 1, 0, 1, 2), ValueError, ("groups=2",), id="groups"),
        pytest.param((X.astype(int), W), TypeError, ("input", "int64"), id="int-input"),
        pytest.param((X, W, B[:2]), ValueError, ("bias", "(2,)"), id="bias"),
        pytest.param((_arr((2, 5, 6, 6)), W), ValueError, ("5 channels",), id="channels"),
    ],
)
def test_conv2d_errors_name_conv2d(
    args: tuple[Any, ...], error: type[Exception], pieces: tuple[str, ...]
) -> None:
    """An error from conv2d names conv2d, the function the caller called, not convmm.conv."""
    with pytest.raises(error, match=_pattern("convmm.conv2d", *pieces)):
        convmm.conv2d(*args)


# --------------------------------------------------------------------------------------------
# unfold and fold

COLS = _arr((2, 3 * 4, 9), seed=4)  # unfold of a (2, 3, 4, 4) input with a 2x2 kernel

UNFOLD_CASES: list[Case] = [
    (
        "rank-from-kernel-tuple",
        (X, (3,)),
        {},
        ValueError,
        ("input must have shape", "kernel_size=(3,)", "got input shape (2, 3, 6, 6)"),
    ),
    (
        "rank-too-low",
        (_arr((3, 6)), 3),
        {},
        ValueError,
        ("input must have shape", "kernel_size=3", "got input shape (3, 6)", "as a tuple"),
    ),
    (
        "rank-from-kernel-tuple-too-few-dims",
        (_arr((3,)), (3,)),
        {},
        ValueError,
        ("input must have shape", "1 spatial dim for", "got input shape (3,)"),
    ),
    ("kernel-zero", (X, 0), {}, ValueError, ("kernel_size", "got 0")),
    ("kernel-zero-in-tuple", (X, (3, 0)), {}, ValueError, ("kernel_size", "got (3, 0)")),
    ("kernel-float", (X, 2.5), {}, TypeError, ("kernel_size", "got 2.5")),
    ("kernel-none", (X, None), {}, TypeError, ("kernel_size", "got None")),
    ("stride-zero", (X, 3), {"stride": 0}, ValueError, ("stride", "got 0")),
    ("stride-bool", (X, 3), {"stride": True}, TypeError, ("stride", "got True")),
    (
        "stride-wrong-length",
        (X, 3),
        {"stride": (1, 1, 1)},
        ValueError,
        ("stride", "got 3 values (1, 1, 1) for 2 spatial dims"),
    ),
    ("dilation-negative", (X, 3), {"dilation": -1}, ValueError, ("dilation", "got -1")),
    ("padding-negative", (X, 3), {"padding": -2}, ValueError, ("padding", "-2")),
    ("padding-unknown", (X, 3), {"padding": "full"}, ValueError, ("padding", "'full'")),
    (
        "padding-mode-unknown",
        (X, 3),
        {"padding_mode": "wrap"},
        ValueError,
        ("padding_mode", "got 'wrap'"),
    ),
    (
        "kernel-too-large",
        (X, (7, 3)),
        {},
        ValueError,
        ("kernel spans 7 in spatial dim 0", "kernel_size 7", "padded input's 6"),
    ),
    (
        "reflect-too-large",
        (X, 3),
        {"padding": 6, "padding_mode": "reflect"},
        ValueError,
        ("padding_mode 'reflect'", "size 6 and padding (6, 6)"),
    ),
    (
        "circular-too-large",
        (X, 3),
        {"padding": (0, 7), "padding_mode": "circular"},
        ValueError,
        ("padding_mode 'circular'", "spatial dim 1 has size 6 and padding (7, 7)"),
    ),
    ("int-input", (X.astype(np.int16), 3), {}, TypeError, ("input", "int16", "astype")),
    ("complex-input", (X.astype(complex), 3), {}, TypeError, ("input", "complex128")),
    (
        "spatial-zero",
        (_arr((1, 3, 0, 6)), 1),
        {},
        ValueError,
        ("input spatial sizes must be >= 1", "spatial dim 0 has size 0"),
    ),
]

FOLD_CASES: list[Case] = [
    (
        "wrong-rows",
        (_arr((2, 13, 9)), (4, 4), (2, 2)),
        {},
        ValueError,
        ("columns must have C * prod(kernel_size) rows", "multiple of 4", "got 13 rows"),
    ),
    (
        "wrong-columns",
        (_arr((2, 12, 8)), (4, 4), (2, 2)),
        {},
        ValueError,
        ("columns must have one column per window position", "9 = 3 x 3", "got 8 columns"),
    ),
    (
        "wrong-columns-stride",
        (COLS, (4, 4), (2, 2)),
        {"stride": 2},
        ValueError,
        ("one column per window position", "4 = 2 x 2", "got 9 columns"),
    ),
    (
        "columns-1d",
        (_arr((12,)), (4, 4), (2, 2)),
        {},
        ValueError,
        ("columns must have shape", "got shape (12,)"),
    ),
    (
        "columns-4d",
        (COLS[None], (4, 4), (2, 2)),
        {},
        ValueError,
        ("columns must have shape", "got shape (1, 2, 12, 9)"),
    ),
    ("output-size-zero", (COLS, (4, 0), (2, 2)), {}, ValueError, ("output_size", "(4, 0)")),
    ("output-size-float", (COLS, 4.0, 2), {}, TypeError, ("output_size", "4.0")),
    (
        "kernel-wrong-length",
        (COLS, (4, 4), (2, 2, 2)),
        {},
        ValueError,
        ("kernel_size", "got 3 values (2, 2, 2) for 2 spatial dims"),
    ),
    (
        "kernel-too-large",
        (COLS, (4, 4), (5, 5)),
        {},
        ValueError,
        ("kernel spans 5 in spatial dim 0", "padded input's 4"),
    ),
    ("stride-zero", (COLS, (4, 4), 2), {"stride": 0}, ValueError, ("stride", "got 0")),
    ("padding-unknown", (COLS, (4, 4), 2), {"padding": "x"}, ValueError, ("padding", "'x'")),
    (
        "reflect-too-large",
        (COLS, (4, 4), 2),
        {"padding": 4, "padding_mode": "reflect"},
        ValueError,
        ("padding_mode 'reflect'", "size 4 and padding (4, 4)"),
    ),
    ("int-columns", (np.ones((2, 12, 9), int), (4, 4), 2), {}, TypeError, ("columns", "astype")),
    ("object-columns", (COLS.astype(object), (4, 4), 2), {}, TypeError, ("columns", "object")),
]


@pytest.mark.parametrize(
    ("func", "name", "args", "kwargs", "error", "pieces"),
    [
        pytest.param(convmm.unfold, "convmm.unfold", *c[1:], id="unfold-" + c[0])
        for c in UNFOLD_CASES
    ]
    + [pytest.param(convmm.fold, "convmm.fold", *c[1:], id="fold-" + c[0]) for c in FOLD_CASES],
)
def test_unfold_fold_reject(
    func: Callable[..., Any],
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: type[Exception],
    pieces: tuple[str, ...],
) -> None:
    before = _snapshot(args, kwargs)
    with pytest.raises(error, match=_pattern(name, *pieces)):
        func(*args, **kwargs)
    assert _same((args, kwargs), before)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((COLS, (), ()), id="both-empty"),
        pytest.param((COLS, 4, ()), id="kernel-empty"),
        pytest.param((COLS, (), 2), id="output-size-empty"),
        pytest.param((np.ones((1, 1)), (), ()), id="one-column"),
        pytest.param((np.ones((2, 1, 1)), (), ()), id="one-column-batched"),
    ],
)
def test_fold_needs_a_spatial_dim(args: tuple[Any, ...]) -> None:
    """Zero spatial dims (empty output_size/kernel_size) is an error, not an IndexError."""
    # the message is about the parameter (like every other one: "convmm.fold: output_size must
    # be ..."), not a confused complaint about the columns
    with pytest.raises(ValueError, match=r"^convmm\.fold: (output_size|kernel_size) .*\(\)"):
        convmm.fold(*args)


def test_unfold_needs_a_spatial_dim() -> None:
    with pytest.raises(ValueError, match=_pattern("convmm.unfold", "kernel_size=()")):
        convmm.unfold(np.ones((1, 1)), ())


# --------------------------------------------------------------------------------------------
# inputs are never modified, by successful calls either


def _readonly(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


SUCCESS_CALLS = [
    pytest.param(convmm.conv, (X, W, B), {"padding": 1}, id="conv"),
    pytest.param(
        convmm.conv,
        (X, W, B),
        {"padding": 2, "padding_mode": "reflect", "max_workspace_bytes": 2000},
        id="conv-reflect-rows",
    ),
    pytest.param(
        convmm.conv,
        (np.moveaxis(X, 1, -1), W),
        {"channels_last": True, "padding": "same", "padding_mode": "circular"},
        id="conv-channels-last-view",
    ),
    pytest.param(
        convmm.conv,
        (_arr((2, 4, 5, 5), np.float16), _arr((6, 2, 2, 2), np.float16)),
        {"groups": 2, "padding_mode": "replicate", "padding": 1, "max_workspace_bytes": 700},
        id="conv-float16-grouped",
    ),
    pytest.param(
        convmm.conv, (X, _arr((5, 3, 1, 1))), {"channels_last": False}, id="conv-1x1-direct"
    ),
    pytest.param(convmm.conv2d, (X, W, B, 2, 1), {}, id="conv2d"),
    pytest.param(reference.conv, (X, W, B), {"padding": 1, "groups": 1}, id="reference"),
    pytest.param(convmm.unfold, (X, 3), {"padding": 2, "padding_mode": "reflect"}, id="unfold"),
    pytest.param(
        convmm.fold,
        (COLS, (4, 4), 2),
        {"stride": 2, "padding": 1, "padding_mode": "circular"},
        id="fold",
    ),
]


@pytest.mark.parametrize(("func", "args", "kwargs"), SUCCESS_CALLS)
def test_successful_calls_leave_inputs_alone(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    before = _snapshot(args, kwargs)
    result = func(*args, **kwargs)
    assert _same((args, kwargs), before)
    # read-only inputs work too, and the result is a fresh writable array
    frozen = tuple(_readonly(a) if isinstance(a, np.ndarray) else a for a in args)
    again = func(*frozen, **kwargs)
    assert np.array_equal(again, result)
    assert again.flags.writeable
    assert not any(np.shares_memory(result, a) for a in args if isinstance(a, np.ndarray)), (
        "the result shares memory with an input"
    )
    assert not any(np.shares_memory(again, a) for a in frozen if isinstance(a, np.ndarray))


# --------------------------------------------------------------------------------------------
# random junk: either a correct result or a ValueError/TypeError from convmm

_FLOAT_DTYPES = [np.float16, np.float32, np.float64]
_DTYPES = [*_FLOAT_DTYPES, *_FLOAT_DTYPES, np.int32, np.bool_, np.complex64, object, "U1"]


def _make(shape: tuple[int, ...], dtype: Any, seed: int) -> np.ndarray:
    if dtype is object:
        return np.full(shape, None, dtype=object)
    if dtype == "U1":
        return np.full(shape, "x")
    values = np.random.default_rng(seed).integers(-3, 4, size=shape)
    return values.astype(dtype)


def _per_dim_option(low: int, high: int) -> st.SearchStrategy[Any]:
    """stride/dilation junk: out-of-range ints, wrong lengths, wrong types."""
    return st.one_of(
        st.integers(low, high),
        st.lists(st.integers(low, high), max_size=4).map(tuple),
        st.lists(st.integers(low, high), max_size=4),
        st.sampled_from([1.0, 2.5, True, False, None, "2", (1, 1.0), (1, True), -(2**70)]),
    )


def _valid_per_dim(nd: int, high: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(1, high),
        st.lists(st.integers(1, high), min_size=nd, max_size=nd).map(tuple),
        st.lists(st.integers(1, high), min_size=nd, max_size=nd),
        st.just(np.int64(1)),
    )


def _valid_padding(nd: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(0, 2),
        st.sampled_from(["valid", "same", "same_lower"]),
        st.lists(
            st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2))),
            min_size=nd,
            max_size=nd,
        ).map(tuple),
    )


_PADDING = st.one_of(
    st.integers(-1, 3),
    st.sampled_from(["valid", "same", "same_lower", "full", "", None, 1.0, True, (1, "a")]),
    st.lists(
        st.one_of(
            st.integers(-1, 3),
            st.tuples(st.integers(-1, 3), st.integers(-1, 3)),
            st.lists(st.integers(0, 3), min_size=0, max_size=3),
            st.sampled_from([1.5, "ab", None, (1, 2.0)]),
        ),
        max_size=4,
    ).map(tuple),
)

_PARAMETERS = (
    "weight",
    "input rank",
    "channels",
    "spatial",
    "dtype",
    "bias",
    "stride",
    "padding",
    "dilation",
    "groups",
    "padding_mode",
    "channels_last",
    "max_workspace_bytes",
)


def _expected_shape(
    xshape: tuple[int, ...],
    wshape: tuple[int, ...],
    stride: Any,
    padding: Any,
    dilation: Any,
    channels_last: bool,
) -> tuple[int, ...]:
    """The output shape of a call that succeeded, worked out from the arguments."""
    nd = len(wshape) - 2
    batched = len(xshape) == nd + 2
    full = xshape if batched else (1, *xshape)
    spatial = full[1:-1] if channels_last else full[2:]
    kernel = wshape[2:]

    def per_dim(v: Any) -> tuple[int, ...]:
        return tuple(int(a) for a in v) if isinstance(v, tuple | list) else (int(v),) * nd

    s, d = per_dim(stride), per_dim(dilation)
    if isinstance(padding, str):
        if padding == "valid":
            out = [
                (n - dd * (k - 1) - 1) // ss + 1
                for n, k, ss, dd in zip(spatial, kernel, s, d, strict=True)
            ]
        else:  # 'same', 'same_lower': ceil(n / s) positions
            out = [-(-n // ss) for n, ss in zip(spatial, s, strict=True)]
    else:
        entries = padding if isinstance(padding, tuple | list) else (padding,) * nd
        pairs = [(int(e), int(e)) if not isinstance(e, tuple | list) else e for e in entries]
        out = [
            (n + b + a - dd * (k - 1) - 1) // ss + 1
            for n, (b, a), k, ss, dd in zip(spatial, pairs, kernel, s, d, strict=True)
        ]
    c_out = wshape[0]
    shape = (full[0], *out, c_out) if channels_last else (full[0], c_out, *out)
    return shape if batched else shape[1:]


@given(data=st.data())
def test_junk_never_escapes(data: st.DataObject) -> None:
    """Random calls, each with up to three arguments replaced by junk.

    Either the call returns the right result (shape, dtype and values), or it raises
    ValueError/TypeError with a message from convmm.conv; never anything else, and the
    arguments are left as they were (the arrays are read-only, so a write would raise).
    """
    draw = data.draw
    junk = draw(st.sets(st.sampled_from(_PARAMETERS), max_size=3), label="junk")
    nd = draw(st.integers(1, 3), label="nd")
    if "groups" in junk:
        groups = draw(st.sampled_from([0, -1, 1.0, 2.5, True, None, "2", 4, 5]), label="groups")
    else:
        groups = draw(st.sampled_from([1, 1, 2, 3, np.int64(2)]), label="groups")
    g = int(groups) if isinstance(groups, int | np.integer) and groups >= 1 else 1
    if "weight" in junk:
        wshape = tuple(draw(st.lists(st.integers(0, 3), max_size=6), label="weight shape"))
    else:
        wshape = (
            g * draw(st.integers(1, 2)),
            draw(st.integers(1, 2)),
            *draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd)),
        )
    w_nd = max(len(wshape) - 2, 1)
    channels_last = (
        draw(st.sampled_from([1, 0, None, "True", np.True_]))
        if "channels_last" in junk
        else draw(st.booleans())
    )
    channels = draw(st.integers(0, 7)) if "channels" in junk or len(wshape) < 2 else wshape[1] * g
    low = 0 if "spatial" in junk else 1
    spatial = draw(st.lists(st.integers(low, 6), min_size=w_nd, max_size=w_nd))
    batch = draw(st.sampled_from([[], [1], [2], [3], [0]]), label="batch")
    layout = (*spatial, channels) if channels_last is True else (channels, *spatial)
    xshape = (*batch, *layout)
    if "input rank" in junk:
        xshape = tuple(draw(st.lists(st.integers(0, 4), max_size=6), label="input shape"))
    dtypes = _DTYPES if "dtype" in junk else _FLOAT_DTYPES
    seed = draw(st.integers(0, 2**16))
    x = _make(xshape, draw(st.sampled_from(dtypes), label="x dtype"), seed)
    w = _make(wshape, draw(st.sampled_from(dtypes), label="w dtype"), seed + 1)
    bias = None
    if draw(st.booleans(), label="with bias") or "bias" in junk:
        c_out = wshape[0] if wshape else 1
        bshape = (
            draw(st.sampled_from([(c_out + 1,), (), (c_out, 1), (max(c_out - 1, 0),)]))
            if "bias" in junk
            else (c_out,)
        )
        bias = _make(bshape, draw(st.sampled_from(dtypes), label="b dtype"), seed + 2)
    kwargs: dict[str, Any] = {
        "stride": draw(
            _per_dim_option(-1, 3) if "stride" in junk else _valid_per_dim(nd, 3), label="stride"
        ),
        "padding": draw(_PADDING if "padding" in junk else _valid_padding(nd), label="padding"),
        "dilation": draw(
            _per_dim_option(-1, 3) if "dilation" in junk else _valid_per_dim(nd, 2),
            label="dilation",
        ),
        "groups": groups,
        "padding_mode": draw(
            st.sampled_from(["mirror", None, "", "ZEROS", 0])
            if "padding_mode" in junk
            else st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
            label="padding_mode",
        ),
        "channels_last": channels_last,
        "max_workspace_bytes": draw(
            st.sampled_from([0, -1, 1, 1.5, True, "1", 2.0**20])
            if "max_workspace_bytes" in junk
            else st.one_of(st.none(), st.integers(1, 4000), st.integers(1, 2**31)),
            label="max_workspace_bytes",
        ),
    }
    as_list = draw(st.booleans()) and x.dtype.kind == "f" and x.size > 0
    args: tuple[Any, ...] = (x.tolist() if as_list else _readonly(x), _readonly(w), bias)
    if bias is not None:
        args = (args[0], args[1], _readonly(bias))
    before = _snapshot(args, kwargs)
    try:
        result = convmm.conv(*args, **kwargs)
    except (ValueError, TypeError) as error:
        assert str(error).startswith("convmm.conv: "), f"{type(error).__name__}: {error}"
    else:
        assert isinstance(result, np.ndarray)
        assert result.dtype == np.asarray(args[0]).dtype
        expected = _expected_shape(
            np.shape(args[0]),
            wshape,
            kwargs["stride"],
            kwargs["padding"],
            kwargs["dilation"],
            bool(channels_last),
        )
        assert result.shape == expected
        # the same call through the slow direct definition gives the same numbers (the data
        # are small integers, so every sum is exact in float32 and float64)
        slow = reference.conv(
            *args, **{k: v for k, v in kwargs.items() if k != "max_workspace_bytes"}
        )
        assert np.array_equal(result, slow)
    assert _same(args, before[0]) and _same(kwargs, before[1]), "the call modified its arguments"


@given(data=st.data())
def test_unfold_fold_junk_never_escapes(data: st.DataObject) -> None:
    draw = data.draw
    nd = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=nd + 2)))
    kernel = draw(
        st.one_of(
            st.integers(-1, 4),
            st.lists(st.integers(-1, 4), max_size=4).map(tuple),
            st.sampled_from([None, 2.0, "3", True]),
        )
    )
    kwargs: dict[str, Any] = {
        "stride": draw(_per_dim_option(-1, 3)),
        "padding": draw(_PADDING),
        "dilation": draw(_per_dim_option(-1, 3)),
        "padding_mode": draw(
            st.sampled_from(["zeros", "reflect", "replicate", "circular", "mirror", 0])
        ),
    }
    dtype = draw(st.sampled_from(_DTYPES))
    array = _readonly(_make(shape, dtype, draw(st.integers(0, 99))))
    if draw(st.booleans()):
        func: Callable[..., Any] = convmm.unfold
        name, args = "convmm.unfold", (array, kernel)
    else:
        output_size = draw(
            st.one_of(
                st.integers(-1, 6),
                st.lists(st.integers(-1, 6), max_size=4).map(tuple),
                st.sampled_from([None, 4.0]),
            )
        )
        func, name, args = convmm.fold, "convmm.fold", (array, output_size, kernel)
    before = _snapshot(args, kwargs)
    try:
        result = func(*args, **kwargs)
    except (ValueError, TypeError) as error:
        assert str(error).startswith(name + ": "), f"{type(error).__name__}: {error}"
    else:
        assert isinstance(result, np.ndarray)
        assert result.dtype == array.dtype
        k = tuple(kernel) if isinstance(kernel, tuple) else None
        if func is convmm.unfold:
            nd = len(k) if k is not None else array.ndim - 2
            numel = int(np.prod(k)) if k is not None else int(kernel) ** nd
            lead = array.shape[: array.ndim - nd]  # (N, C) or (C,)
            assert result.shape[:-1] == (*lead[:-1], lead[-1] * numel)
        else:
            size = args[1]
            nd = len(size) if isinstance(size, tuple) else len(k) if k is not None else 2
            numel = int(np.prod(k)) if k is not None else int(kernel) ** nd
            spatial = tuple(size) if isinstance(size, tuple) else (int(size),) * nd
            lead = array.shape[:-2]  # (N,) or ()
            assert result.shape == (*lead, array.shape[-2] // numel, *spatial)
    assert _same(args, before[0]) and _same(kwargs, before[1])


# --------------------------------------------------------------------------------------------
# huge outputs: a clear error before anything is allocated, never NumPy's MemoryError

_X = np.ones((2, 3, 8, 8), np.float32)
_W = np.ones((4, 3, 3, 3), np.float32)
_WT = np.ones((3, 4, 3, 3), np.float32)

HUGE_CALLS: list[tuple[str, Callable[[], Any], str]] = [
    ("convmm.conv", lambda: convmm.conv(_X, _W, padding=10**6), "(2, 4, 2000006, 2000006)"),
    ("convmm.conv2d", lambda: convmm.conv2d(_X, _W, None, 1, 10**6), "(2, 4, 2000006, 2000006)"),
    (
        "convmm.conv",
        lambda: convmm.conv(_X, _W, padding=((10**6, 0), (0, 10**6)), channels_last=False),
        "(2, 4, 1000006, 1000006)",
    ),
    (
        "convmm.conv_transpose",
        lambda: convmm.conv_transpose(_X, _WT, stride=10**6),
        "(2, 4, 7000003, 7000003)",
    ),
    (
        "convmm.conv_transpose",
        lambda: convmm.conv_transpose(_X, _WT, stride=10**6, output_size=(7000004, 7000004)),
        "(2, 4, 7000004, 7000004)",
    ),
    (
        "convmm.conv_transpose_backward",
        lambda: convmm.conv_transpose_backward(
            np.ones((1, 4, 1, 1)), np.ones((1, 3, 1, 1)), _WT, padding=10**6, bias=False
        ),
        "",
    ),
    (
        "convmm.conv_backward",
        lambda: convmm.conv_backward(
            np.ones((2, 4, 2000006, 1)), _X, _W, padding=(10**6, 0), needs_input_grad=True
        ),
        "",
    ),
    ("convmm.unfold", lambda: convmm.unfold(_X, 3, padding=10**5), "(2, 27, 40002400036)"),
    (
        "convmm.fold",
        lambda: convmm.fold(np.ones((1, 1, 1)), (10**7, 10**7), 1, stride=10**7),
        "(1, 1, 10000000, 10000000)",
    ),
]


@pytest.mark.parametrize(("func", "call", "shape"), HUGE_CALLS)
def test_huge_outputs_are_a_clear_error(func: str, call: Callable[[], Any], shape: str) -> None:
    """Every public function checks what it would allocate; the message gives shape and bytes."""
    if not shape:  # these fail on their own validation first: a message, never a MemoryError
        with pytest.raises((ValueError, TypeError), match="^" + re.escape(func + ":")):
            call()
        return
    with pytest.raises(ValueError, match=_pattern(func, "output would have shape", shape, "bytes")):
        call()


def test_huge_output_error_is_a_convmm_error() -> None:
    with pytest.raises(convmm.ConvmmError, match="more than this machine's memory"):
        convmm.conv(_X, _W, padding=10**6)


@pytest.mark.parametrize(
    ("func", "call"),
    [
        ("convmm.explain", lambda: convmm.explain(_X[:1], _W, padding=10**6)),
        ("convmm.explain_transpose", lambda: convmm.explain_transpose(_X[:1], _WT, stride=10**6)),
        (
            "convmm.explain_backward",
            lambda: convmm.explain_backward(None, _X[:1], _W, padding=10**6),
        ),
    ],
)
def test_huge_explanations_are_a_clear_error(func: str, call: Callable[[], Any]) -> None:
    with pytest.raises(ValueError, match=_pattern(func, "would have shape", "bytes")):
        call()
