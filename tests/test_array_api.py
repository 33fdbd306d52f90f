"""Arrays of other libraries: the portable path, with array_api_strict and torch CPU tensors.

array_api_strict has nothing beyond the Python array API standard (no NumPy call would work on
its arrays), so every op run with it shows the portable path uses the standard alone; its
results must be array_api_strict arrays, compared through DLPack.  torch tensors are checked
against ``torch.nn.functional`` and ``torch.autograd``, forward and backward, and against NumPy
convmm; their results must be torch tensors.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import array_api_strict as xs
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import convmm
from convmm import _portable
from convmm._array_api import foreign
from convmm._errors import ConvmmTypeError, ConvmmValueError
from convmm._geometry import conv_geometry
from oracle import TORCH_PAD_MODES, WindowCase, assert_close, conv_scale, windows

StrictArray = type(xs.asarray(0.0))
CPU = xs.Device("CPU_DEVICE")
OTHER = xs.Device("device1")


def strict(a: np.ndarray | None, device: Any = None) -> Any:
    return None if a is None else xs.asarray(np.array(a, order="C"), device=device)


def tensor(a: np.ndarray | None) -> torch.Tensor | None:
    return None if a is None else torch.from_numpy(np.array(a, order="C"))


def to_numpy(a: Any) -> np.ndarray:
    """A torch or array_api_strict result as NumPy (through DLPack for array_api_strict)."""
    if isinstance(a, torch.Tensor):
        return a.detach().numpy()
    assert type(a) is StrictArray, f"not an array_api_strict array: {type(a)}"
    return np.from_dlpack(a.to_device(CPU))


def assert_strict(a: Any, like: np.ndarray) -> None:
    """``a`` is an array_api_strict array of ``like``'s shape and dtype."""
    assert type(a) is StrictArray
    assert a.shape == like.shape and str(a.dtype).endswith(like.dtype.name)


def assert_tensor(a: Any, like: np.ndarray) -> None:
    assert isinstance(a, torch.Tensor)
    assert tuple(a.shape) == like.shape and a.dtype == torch.from_numpy(like).dtype


# --------------------------------------------------------------------------------------------
# generated convolutions


@dataclass(frozen=True)
class ConvCase:
    window: WindowCase
    batch: int | None
    groups: int
    in_per_group: int
    out_per_group: int
    channels_last: bool
    bias: bool
    dtype: Any
    seed: int

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        rng = np.random.default_rng(self.seed)
        cin, cout = self.groups * self.in_per_group, self.groups * self.out_per_group
        shape = (*self.window.spatial, cin) if self.channels_last else (cin, *self.window.spatial)
        if self.batch is not None:
            shape = (self.batch, *shape)
        x = rng.uniform(-1, 1, shape).astype(self.dtype)
        w = rng.uniform(-1, 1, (cout, self.in_per_group, *self.window.kernel)).astype(self.dtype)
        b = rng.uniform(-1, 1, cout).astype(self.dtype) if self.bias else None
        return x, w, b

    def kwargs(self) -> dict[str, Any]:
        return {**self.window.kwargs(), "groups": self.groups, "channels_last": self.channels_last}


@st.composite
def conv_cases(draw: Any, batches: tuple[int | None, ...] = (None, 0, 1, 2)) -> ConvCase:
    nd = draw(st.integers(1, 3))
    max_size, max_kernel, max_pad = {1: (9, 3, 2), 2: (6, 3, 2), 3: (4, 2, 1)}[nd]
    window = draw(windows(nd, max_size=max_size, max_kernel=max_kernel, max_pad=max_pad))
    groups = draw(st.integers(1, 3))
    return ConvCase(
        window=window,
        batch=draw(st.sampled_from(batches)),
        groups=groups,
        in_per_group=draw(st.integers(1, 2)),
        out_per_group=draw(st.integers(1, 2)),
        channels_last=draw(st.booleans()),
        bias=draw(st.booleans()),
        dtype=draw(st.sampled_from((np.float32, np.float64))),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def torch_conv(
    tx: torch.Tensor, tw: torch.Tensor, tb: torch.Tensor | None, **kwargs: Any
) -> torch.Tensor:
    """convmm's convolution by F.pad and F.conv{1,2,3}d (differentiable); only the padding's
    resolution into per-side pairs comes from convmm."""
    geometry = conv_geometry(
        tuple(tx.shape), tuple(tw.shape), None, func="test", **{"padding_mode": "zeros", **kwargs}
    )
    window, mode = geometry.window, kwargs.get("padding_mode", "zeros")
    t = tx if geometry.batched else tx.unsqueeze(0)
    if geometry.channels_last:
        t = t.movedim(-1, 1)
    if window.is_padded:
        t = F.pad(t, [p for pair in reversed(window.padding) for p in pair], TORCH_PAD_MODES[mode])
    conv = (F.conv1d, F.conv2d, F.conv3d)[window.ndim - 1]
    out = conv(t, tw, tb, window.stride, 0, window.dilation, geometry.groups)
    if geometry.channels_last:
        out = out.movedim(1, -1)
    return out if geometry.batched else out[0]


def grad_scales(dy: np.ndarray, x: np.ndarray, w: np.ndarray, **kwargs: Any) -> list[Any]:
    """Per gradient value, the sum of |terms| (NumPy convmm's gradients of the |arrays|)."""
    a = [np.abs(v.astype(np.float64)) for v in (dy, x, w)]
    return list(convmm.conv_backward(*a, **kwargs))


@given(case=conv_cases())
def test_conv_and_backward_in_array_api_strict_match_numpy(case: ConvCase) -> None:
    x, w, b = case.arrays()
    kwargs = case.kwargs()
    want = convmm.conv(x, w, b, **kwargs)
    got = convmm.conv(strict(x), strict(w), strict(b), **kwargs)
    assert_strict(got, want)
    assert_close(to_numpy(got), want, conv_scale(x, w, b, **kwargs), x.dtype, "conv")

    dy = np.random.default_rng(case.seed).uniform(-1, 1, want.shape).astype(x.dtype)
    wants = convmm.conv_backward(dy, x, w, bias=case.bias, **kwargs)
    gots = convmm.conv_backward(strict(dy), strict(x), strict(w), bias=case.bias, **kwargs)
    scales = grad_scales(dy, x, w, bias=True, **kwargs)
    for name, g, want_g, scale in zip("xwb", gots, wants, scales, strict=True):
        if want_g is None:
            assert g is None
            continue
        assert_strict(g, want_g)
        assert_close(to_numpy(g), want_g, scale, want_g.dtype, f"grad {name}")


@given(case=conv_cases(batches=(None, 1, 2)))
def test_conv_of_torch_tensors_matches_torch_forward_and_autograd(case: ConvCase) -> None:
    x, w, b = case.arrays()
    kwargs = case.kwargs()
    tx, tw, tb = tensor(x), tensor(w), tensor(b)
    assert tx is not None and tw is not None
    got = convmm.conv(tx, tw, tb, **kwargs)
    want_numpy = convmm.conv(x, w, b, **kwargs)
    assert_tensor(got, want_numpy)
    scale = conv_scale(x, w, b, **kwargs)
    assert_close(to_numpy(got), want_numpy, scale, x.dtype, "against NumPy convmm")

    leaves = [t.clone().requires_grad_(True) for t in (tx, tw, tb) if t is not None]
    out = torch_conv(*leaves[:2], leaves[2] if case.bias else None, **kwargs)
    assert_close(to_numpy(got), out.detach().numpy(), scale, x.dtype, "against torch")
    dy = torch.from_numpy(np.random.default_rng(case.seed).uniform(-1, 1, out.shape)).to(out.dtype)
    out.backward(dy)
    grads = convmm.conv_backward(dy, tx, tw, bias=case.bias, **kwargs)
    scales = grad_scales(dy.numpy(), x, w, bias=True, **kwargs)
    for name, g, leaf, scale_g in zip("xwb", grads, leaves, scales, strict=False):
        assert leaf.grad is not None
        assert_tensor(g, leaf.grad.numpy())
        assert_close(to_numpy(g), leaf.grad.numpy(), scale_g, x.dtype, f"grad {name}")
    assert (grads[2] is None) == (not case.bias)


# --------------------------------------------------------------------------------------------
# transposed convolution against torch


@dataclass(frozen=True)
class TransposeCase:
    spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    output_padding: tuple[int, ...]
    pairs: tuple[tuple[int, int], ...]
    symmetric: bool  # padding as torch writes it (one int per dim), else per-side pairs
    use_output_size: bool
    groups: int
    in_per_group: int
    out_per_group: int
    batch: int | None
    channels_last: bool
    bias: bool
    dtype: Any
    seed: int

    def full_size(self) -> tuple[int, ...]:
        return tuple(
            (n - 1) * s + d * (k - 1) + op + 1
            for n, k, s, d, op in zip(
                self.spatial,
                self.kernel,
                self.stride,
                self.dilation,
                self.output_padding,
                strict=True,
            )
        )

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        rng = np.random.default_rng(self.seed)
        cin, cout = self.groups * self.in_per_group, self.groups * self.out_per_group
        shape = (*self.spatial, cin) if self.channels_last else (cin, *self.spatial)
        if self.batch is not None:
            shape = (self.batch, *shape)
        x = rng.uniform(-1, 1, shape).astype(self.dtype)
        w = rng.uniform(-1, 1, (cin, self.out_per_group, *self.kernel)).astype(self.dtype)
        b = rng.uniform(-1, 1, cout).astype(self.dtype) if self.bias else None
        return x, w, b

    def kwargs(self) -> dict[str, Any]:
        padding: Any = tuple(b for b, _ in self.pairs) if self.symmetric else self.pairs
        kwargs: dict[str, Any] = {
            "stride": self.stride,
            "padding": padding,
            "dilation": self.dilation,
            "groups": self.groups,
            "channels_last": self.channels_last,
        }
        if self.use_output_size:
            sizes = [f - b - a for f, (b, a) in zip(self.full_size(), self.pairs, strict=True)]
            kwargs["output_size"] = tuple(sizes)
        else:
            kwargs["output_padding"] = self.output_padding
        return kwargs

    def torch(self, tx: torch.Tensor, tw: torch.Tensor, tb: torch.Tensor | None) -> torch.Tensor:
        """F.conv_transpose{1,2,3}d: torch's own padding when symmetric, else cropped."""
        t = tx if self.batch is not None else tx.unsqueeze(0)
        if self.channels_last:
            t = t.movedim(-1, 1)
        conv_t = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[len(self.kernel) - 1]
        if self.symmetric:
            pads = tuple(b for b, _ in self.pairs)
            out = conv_t(
                t, tw, tb, self.stride, pads, self.output_padding, self.groups, self.dilation
            )
        else:
            out = conv_t(t, tw, tb, self.stride, 0, self.output_padding, self.groups, self.dilation)
            index = [slice(None), slice(None)]
            index += [slice(b, out.shape[2 + i] - a) for i, (b, a) in enumerate(self.pairs)]
            out = out[tuple(index)]
        if self.channels_last:
            out = out.movedim(1, -1)
        return out if self.batch is not None else out[0]


@st.composite
def transpose_cases(draw: Any) -> TransposeCase:
    nd = draw(st.integers(1, 3))
    max_size = {1: 5, 2: 4, 3: 3}[nd]
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    spatial = tuple(draw(st.integers(1, max_size)) for _ in range(nd))
    output_padding = tuple(
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    )
    symmetric = draw(st.booleans())
    pairs = []
    for n, k, s, d, op in zip(spatial, kernel, stride, dilation, output_padding, strict=True):
        room = (n - 1) * s + d * (k - 1) + op  # the full size less one
        if symmetric:
            before = draw(st.integers(0, min(2, room // 2)))
            pairs.append((before, before))
        else:
            before = draw(st.integers(0, min(2, room)))
            pairs.append((before, draw(st.integers(0, min(2, room - before)))))
    groups = draw(st.integers(1, 2))
    return TransposeCase(
        spatial=spatial,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        output_padding=output_padding,
        pairs=tuple(pairs),
        symmetric=symmetric,
        use_output_size=draw(st.integers(0, 3)) == 0,
        groups=groups,
        in_per_group=draw(st.integers(1, 2)),
        out_per_group=draw(st.integers(1, 2)),
        batch=draw(st.sampled_from((None, 1, 2))),
        channels_last=draw(st.booleans()),
        bias=draw(st.booleans()),
        dtype=draw(st.sampled_from((np.float32, np.float64))),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@given(case=transpose_cases())
def test_conv_transpose_of_torch_tensors_matches_torch_forward_and_autograd(
    case: TransposeCase,
) -> None:
    x, w, b = case.arrays()
    kwargs = case.kwargs()
    tx, tw, tb = tensor(x), tensor(w), tensor(b)
    assert tx is not None and tw is not None
    got = convmm.conv_transpose(tx, tw, tb, **kwargs)
    leaves = [t.clone().requires_grad_(True) for t in (tx, tw, tb) if t is not None]
    out = case.torch(leaves[0], leaves[1], leaves[2] if case.bias else None)
    assert_tensor(got, out.detach().numpy())
    # the scale: the same transposed convolution of the |arrays| (by NumPy convmm, float64)
    abs_b = None if b is None else np.abs(b.astype(np.float64))
    scale = convmm.conv_transpose(
        np.abs(x.astype(np.float64)), np.abs(w.astype(np.float64)), abs_b, **kwargs
    )
    assert_close(to_numpy(got), out.detach().numpy(), scale, x.dtype, "against torch")
    want_numpy = convmm.conv_transpose(x, w, b, **kwargs)
    assert_close(to_numpy(got), want_numpy, scale, x.dtype, "against NumPy convmm")

    rng = np.random.default_rng(case.seed)
    dy = torch.from_numpy(rng.uniform(-1, 1, out.shape)).to(out.dtype)
    out.backward(dy)
    grads = convmm.conv_transpose_backward(dy, tx, tw, bias=case.bias, **kwargs)
    abs_grads = convmm.conv_transpose_backward(
        *(np.abs(a.astype(np.float64)) for a in (dy.numpy(), x, w)), **kwargs
    )
    for name, g, leaf, scale_g in zip("xwb", grads, leaves, abs_grads, strict=False):
        assert leaf.grad is not None
        assert_tensor(g, leaf.grad.numpy())
        assert_close(to_numpy(g), leaf.grad.numpy(), scale_g, x.dtype, f"grad {name}")
    assert (grads[2] is None) == (not case.bias)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_positional_forms_of_torch_tensors_match_torch(nd: int) -> None:
    rng = np.random.default_rng(nd)
    x = torch.from_numpy(rng.standard_normal((2, 4, *(5,) * nd)))
    w = torch.from_numpy(rng.standard_normal((6, 2, *(3,) * nd)))
    b = torch.from_numpy(rng.standard_normal(6))
    conv = getattr(convmm, f"conv{nd}d")(x, w, b, 2, 1, 1, 2)
    want = getattr(F, f"conv{nd}d")(x, w, b, 2, 1, 1, 2)
    assert isinstance(conv, torch.Tensor)
    torch.testing.assert_close(conv, want, rtol=1e-12, atol=1e-12)
    wt = torch.from_numpy(rng.standard_normal((4, 3, *(3,) * nd)))
    bt = torch.from_numpy(rng.standard_normal(6))
    got = getattr(convmm, f"conv_transpose{nd}d")(x, wt, bt, 2, 1, 1, 2, 1)
    want = getattr(F, f"conv_transpose{nd}d")(x, wt, bt, 2, 1, 1, 2, 1)
    assert isinstance(got, torch.Tensor)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_torch_autograd_through_the_portable_conv_equals_conv_backward() -> None:
    """The portable path is made of the library's differentiable ops: torch's autograd through
    ``convmm.conv`` gives ``convmm.conv_backward``'s gradients."""
    rng = np.random.default_rng(7)
    kwargs: dict[str, Any] = {"stride": (2, 1), "padding": ((1, 2), 1), "padding_mode": "reflect"}
    x = torch.from_numpy(rng.standard_normal((2, 4, 6, 5))).requires_grad_(True)
    w = torch.from_numpy(rng.standard_normal((6, 2, 3, 2))).requires_grad_(True)
    b = torch.from_numpy(rng.standard_normal(6)).requires_grad_(True)
    y = convmm.conv(x, w, b, groups=2, **kwargs)
    assert y.grad_fn is not None
    dy = torch.from_numpy(rng.standard_normal(tuple(y.shape)))
    y.backward(dy)
    grads = convmm.conv_backward(dy, x.detach(), w.detach(), groups=2, **kwargs)
    for leaf, g in zip((x, w, b), grads, strict=True):
        assert leaf.grad is not None and g is not None
        torch.testing.assert_close(leaf.grad, g, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------
# unfold and fold


@given(
    nd=st.integers(1, 3),
    data=st.data(),
    channels=st.integers(1, 2),
    batch=st.sampled_from((None, 1, 2)),
    seed=st.integers(0, 2**32 - 1),
)
def test_unfold_and_fold_in_array_api_strict_are_numpys_and_adjoint(
    nd: int, data: Any, channels: int, batch: int | None, seed: int
) -> None:
    window = data.draw(windows(nd, max_size={1: 8, 2: 5, 3: 4}[nd], max_pad=2))
    rng = np.random.default_rng(seed)
    shape = (channels, *window.spatial) if batch is None else (batch, channels, *window.spatial)
    x = rng.standard_normal(shape)
    kwargs = window.kwargs()
    p = convmm.unfold(strict(x), window.kernel, **kwargs)
    want_p = convmm.unfold(x, window.kernel, **kwargs)
    assert_strict(p, want_p)
    assert np.array_equal(to_numpy(p), want_p)  # a copy of the same entries, in P's layout

    g = rng.standard_normal(want_p.shape)
    folded = convmm.fold(strict(g), window.spatial, window.kernel, **kwargs)
    want_f = convmm.fold(g, window.spatial, window.kernel, **kwargs)
    assert_strict(folded, want_f)
    scale = convmm.fold(np.abs(g), window.spatial, window.kernel, **kwargs)
    assert_close(to_numpy(folded), want_f, scale, np.float64, "fold")
    # <fold(G), X> == <G, unfold(X)>, computed in array_api_strict
    lhs = float(xs.sum(folded * strict(x)))
    rhs = float(xs.sum(strict(g) * p))
    assert abs(lhs - rhs) <= 1e-10 * (float(np.sum(np.abs(g) * np.abs(want_p))) + 1.0)


def test_unfold_of_a_tensor_is_torchs_unfold() -> None:
    x = torch.arange(1.0, 33.0, dtype=torch.float64).reshape(2, 1, 4, 4)
    got = convmm.unfold(x, (2, 3), padding=1, stride=(1, 2))
    assert isinstance(got, torch.Tensor)
    assert torch.equal(got, F.unfold(x, (2, 3), padding=1, stride=(1, 2)))
    back = convmm.fold(got, (4, 4), (2, 3), padding=1, stride=(1, 2))
    torch.testing.assert_close(back, F.fold(got, (4, 4), (2, 3), padding=1, stride=(1, 2)))


# --------------------------------------------------------------------------------------------
# finite differences through the portable path (float64, independent of torch)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs"),
    [
        ((2, 2, 7), (3, 2, 3), {"stride": 2, "padding": ((2, 1),), "padding_mode": "reflect"}),
        (
            (4, 5, 2),
            (4, 1, 2, 3),
            {"padding": "same", "padding_mode": "circular", "groups": 2, "channels_last": True},
        ),
        (
            (1, 2, 3, 3, 4),
            (2, 2, 2, 1, 2),
            {"dilation": (1, 1, 2), "padding": 1, "padding_mode": "replicate"},
        ),
    ],
)
def test_portable_conv_backward_finite_differences(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...], kwargs: dict[str, Any]
) -> None:
    rng = np.random.default_rng(3)
    x, w = strict(rng.standard_normal(x_shape)), strict(rng.standard_normal(w_shape))
    b = strict(rng.standard_normal(w_shape[0]))
    r = strict(rng.standard_normal(convmm.conv(x, w, b, **kwargs).shape))

    def loss(x: Any, w: Any, b: Any) -> float:
        return float(xs.sum(convmm.conv(x, w, b, **kwargs) * r))

    grads = convmm.conv_backward(r, x, w, **kwargs)
    eps = 1e-6
    for which in range(3):
        point = [x, w, b]
        v = strict(rng.standard_normal(point[which].shape))
        plus, minus = list(point), list(point)
        plus[which], minus[which] = point[which] + eps * v, point[which] - eps * v
        numeric = (loss(*plus) - loss(*minus)) / (2 * eps)
        analytic = float(xs.sum(grads[which] * v))
        assert abs(analytic - numeric) <= 1e-6 * (abs(analytic) + 1.0), (which, analytic, numeric)


# --------------------------------------------------------------------------------------------
# namespaces, devices, dtypes


X = np.ones((1, 2, 5, 5))
W = np.ones((3, 2, 3, 3))


W_T = np.ones((2, 1, 2, 2))
MIXED: dict[str, tuple[Callable[[], Any], str]] = {
    "torch input, NumPy weight": (
        lambda: convmm.conv(torch.ones(1, 2, 5, 5), W),
        "input of type torch.Tensor and weight of type numpy.ndarray",
    ),
    "NumPy input, torch weight": (
        lambda: convmm.conv(X, torch.ones(3, 2, 3, 3)),
        "input of type numpy.ndarray and weight of type torch.Tensor",
    ),
    "array_api_strict with a torch bias": (
        lambda: convmm.conv(strict(X), strict(W), torch.ones(3)),
        "input of type array_api_strict.Array and bias of type torch.Tensor",
    ),
    "a list bias": (
        lambda: convmm.conv(torch.ones(1, 2, 5, 5), torch.ones(3, 2, 3, 3), [0.0, 1.0, 2.0]),
        "input of type torch.Tensor and bias of type list",
    ),
    "conv_backward": (
        lambda: convmm.conv_backward(torch.ones(1, 3, 3, 3), X, torch.ones(3, 2, 3, 3)),
        "input of type numpy.ndarray and weight of type torch.Tensor",
    ),
    "conv_transpose": (
        lambda: convmm.conv_transpose(strict(X), W_T),
        "input of type array_api_strict.Array and weight of type numpy.ndarray",
    ),
    "conv_transpose_backward": (
        lambda: convmm.conv_transpose_backward(np.ones((1, 1, 6, 6)), strict(X), strict(W_T)),
        "input of type array_api_strict.Array and grad_output of type numpy.ndarray",
    ),
}


@pytest.mark.parametrize("name", sorted(MIXED))
def test_arrays_of_two_libraries_are_refused(name: str) -> None:
    call, match = MIXED[name]
    with pytest.raises(ConvmmTypeError, match="all arrays must come from one library") as info:
        call()
    assert match in str(info.value)


def test_arrays_on_two_devices_are_refused_and_results_stay_on_the_device() -> None:
    with pytest.raises(ConvmmValueError, match="all arrays must lie on one device"):
        convmm.conv(strict(X, OTHER), strict(W, CPU))
    with pytest.raises(ConvmmValueError, match=r"input on .*device1.* and weight on .*CPU"):
        convmm.conv_backward(strict(np.ones((1, 3, 3, 3)), OTHER), strict(X, OTHER), strict(W))
    x, w, b = strict(X, OTHER), strict(W, OTHER), strict(np.ones(3), OTHER)
    y = convmm.conv(x, w, b, padding=1, padding_mode="reflect")
    assert y.device == OTHER
    assert all(g.device == OTHER for g in convmm.conv_backward(y, x, w, padding=1))
    assert convmm.conv_transpose(y, w, padding=1).device == OTHER
    assert all(g.device == OTHER for g in convmm.conv_transpose_backward(x, y, w, padding=1))
    p = convmm.unfold(x, 3, padding=1, padding_mode="circular")
    assert p.device == OTHER
    assert convmm.fold(p, 5, 3, padding=1, padding_mode="circular").device == OTHER
    assert np.array_equal(
        to_numpy(y), convmm.conv(X, W, np.ones(3), padding=1, padding_mode="reflect")
    )


def test_a_missing_array_api_compat_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "array_api_compat", None)  # `import` now fails
    for call in (
        lambda: convmm.conv(torch.ones(1, 2, 5, 5), torch.ones(3, 2, 3, 3)),
        lambda: convmm.unfold(strict(X), 3),
    ):
        with pytest.raises(ConvmmTypeError, match=r"pip install 'convmm\[array-api\]'"):
            call()
    assert isinstance(convmm.conv(X, W), np.ndarray)  # NumPy never needs it


def test_dtype_rules_are_numpys() -> None:
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 6)), rng.standard_normal((4, 3, 3))
    # float32 input, float64 weight: computed in float64, returned as float32
    got = convmm.conv(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(w))
    want = convmm.conv(x.astype(np.float32), w)
    assert got.dtype == torch.float32 and np.array_equal(got.numpy(), want)
    grads = convmm.conv_backward(
        torch.from_numpy(want.astype(np.float64)),
        torch.from_numpy(x.astype(np.float32)),
        torch.from_numpy(w.astype(np.float16)),
    )
    assert [g.dtype for g in grads] == [torch.float32, torch.float16, torch.float16]
    # float16 is computed in float32 and rounded once, as on NumPy
    half = convmm.conv(
        torch.from_numpy(x.astype(np.float16)), torch.from_numpy(w.astype(np.float16))
    )
    want16 = convmm.conv(x.astype(np.float16), w.astype(np.float16))
    assert half.dtype == torch.float16
    scale = conv_scale(x.astype(np.float16), w.astype(np.float16))
    assert_close(half.numpy(), want16, scale, np.float16, "float16")
    strict32 = convmm.conv(strict(x.astype(np.float32)), strict(w))
    assert strict32.dtype == xs.float32
    for bad, match in [
        (torch.ones(2, 3, 6, dtype=torch.int64), r"got dtype torch.int64 \(convert with xp.astype"),
        (torch.ones(2, 3, 6, dtype=torch.bfloat16), "got dtype torch.bfloat16"),
        (xs.ones((2, 3, 6), dtype=xs.int32), "input must be a floating-point array"),
        (xs.ones((2, 3, 6), dtype=xs.complex64), "float16, float32 or float64"),
    ]:
        weight = torch.ones(4, 3, 3) if isinstance(bad, torch.Tensor) else xs.ones((4, 3, 3))
        with pytest.raises(ConvmmTypeError, match=match):
            convmm.conv(bad, weight)


def test_inputs_are_never_modified() -> None:
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s) for s in ((2, 4, 5, 5), (4, 2, 3, 3), (4,), (2, 4, 5, 5))]
    for convert in (tensor, strict):
        x, w, b, dy = (convert(a) for a in arrays)
        options: dict[str, Any] = {"padding": 1, "groups": 2, "padding_mode": "replicate"}
        convmm.conv(x, w, b, **options)
        convmm.conv_backward(dy, x, w, **options)
        convmm.conv_transpose(x, w, b, padding=1, groups=2)
        convmm.conv_transpose_backward(dy, x, w, padding=1, groups=2)
        convmm.fold(convmm.unfold(x, 3, padding=1), 5, 3, padding=1)
        for before, after in zip(arrays, (x, w, b, dy), strict=True):
            assert np.array_equal(to_numpy(after), before)


def test_foreign_is_false_for_numpy_and_what_numpy_converts() -> None:
    assert not foreign(np.ones(3), None, [1.0, 2.0], 1.0, np.float64(2.0), (1.0,))
    assert foreign(np.ones(3), torch.ones(3))
    assert foreign(strict(np.ones(3)))
    import dask.array as da

    assert not foreign(da.ones(3), torch.ones(3))  # dask arrays keep their own path
    assert isinstance(convmm.conv([[[1.0, 2.0, 3.0]]], [[[1.0, 1.0]]]), np.ndarray)


# --------------------------------------------------------------------------------------------
# the planner's parameters


def test_algorithm_is_im2col_or_auto_for_other_arrays() -> None:
    x, w, y = torch.ones(1, 2, 5, 5), torch.ones(3, 2, 3, 3), torch.ones(1, 3, 5, 5)
    assert torch.equal(convmm.conv(x, w, algorithm="im2col"), convmm.conv(x, w))
    for name in ("shift", "depthwise", "winograd"):
        with pytest.raises(ConvmmValueError, match=f"algorithm '{name}' is one of NumPy's"):
            convmm.conv(x, w, algorithm=name)
        with pytest.raises(ConvmmValueError, match="portable im2col alone"):
            convmm.conv_transpose_backward(torch.ones(1, 2, 7, 7), y, w, algorithm=name)


@pytest.mark.parametrize("convert", [tensor, strict], ids=["torch", "array_api_strict"])
def test_max_workspace_bytes_chunks_the_batch(convert: Callable[[Any], Any]) -> None:
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((5, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3)), np.ones(3)
    options: dict[str, Any] = {"padding": 1, "padding_mode": "reflect", "stride": 2}
    y = convmm.conv(x, w, b, **options)
    dy = rng.standard_normal(y.shape)
    # one image's P is 2*9*9 float64 = 1296 bytes: a bound of 3000 takes two images a chunk
    assert list(_portable.batch_chunks(5, 1296, 3000)) == [(0, 2), (2, 4), (4, 5)]
    assert list(_portable.batch_chunks(0, 1296, 3000)) == [(0, 0)]
    for bound in (1, 3000, None):
        got = convmm.conv(convert(x), convert(w), convert(b), max_workspace_bytes=bound, **options)
        np.testing.assert_allclose(to_numpy(got), y, rtol=1e-12, atol=1e-12)
        grads = convmm.conv_backward(
            convert(dy), convert(x), convert(w), max_workspace_bytes=bound, **options
        )
        for got_g, want_g in zip(grads, convmm.conv_backward(dy, x, w, **options), strict=True):
            np.testing.assert_allclose(to_numpy(got_g), want_g, rtol=1e-12, atol=1e-12)
        t = convmm.conv_transpose(convert(dy), convert(w), max_workspace_bytes=bound, stride=2)
        np.testing.assert_allclose(to_numpy(t), convmm.conv_transpose(dy, w, stride=2), atol=1e-12)


# --------------------------------------------------------------------------------------------
# the same errors on every path

BAD_CALLS: dict[str, Callable[[Callable[[Any], Any]], Any]] = {
    "stride": lambda a: convmm.conv(a(X), a(W), stride=0),
    "groups": lambda a: convmm.conv(a(X), a(W), groups=2),
    "channels": lambda a: convmm.conv(a(np.ones((1, 3, 5, 5))), a(W)),
    "bias shape": lambda a: convmm.conv(a(X), a(W), a(np.ones(2))),
    "kernel too big": lambda a: convmm.conv(a(X), a(np.ones((3, 2, 7, 7)))),
    "reflect limit": lambda a: convmm.conv(a(X), a(W), padding=5, padding_mode="reflect"),
    "padding mode": lambda a: convmm.conv(a(X), a(W), padding_mode="mirror"),
    "padding string": lambda a: convmm.conv(a(X), a(W), padding="full"),
    "conv2d rank": lambda a: convmm.conv2d(a(X), a(np.ones((3, 2, 3)))),
    "workspace": lambda a: convmm.conv(a(X), a(W), max_workspace_bytes=0),
    "workspace type": lambda a: convmm.conv(a(X), a(W), max_workspace_bytes=True),
    "algorithm": lambda a: convmm.conv(a(X), a(W), algorithm="fast"),
    "grad_output": lambda a: convmm.conv_backward(a(np.ones((1, 3, 4, 4))), a(X), a(W)),
    "flags": lambda a: convmm.conv_backward(a(np.ones((1, 3, 3, 3))), a(X), a(W), bias=1),
    "transpose rank": lambda a: convmm.conv_transpose3d(a(X), a(np.ones((2, 1, 2, 2)))),
    "transpose channels": lambda a: convmm.conv_transpose(a(X), a(np.ones((3, 1, 2, 2)))),
    "output_size and padding": lambda a: convmm.conv_transpose(
        a(X), a(np.ones((2, 1, 2, 2))), stride=2, output_padding=1, output_size=(10, 10)
    ),
    "output_size unreachable": lambda a: convmm.conv_transpose(
        a(X), a(np.ones((2, 1, 2, 2))), stride=2, output_size=(20, 20)
    ),
    "output_size shape": lambda a: convmm.conv_transpose(
        a(X), a(np.ones((2, 1, 2, 2))), output_size=(2, 1, 6, 6)
    ),
    "output_padding": lambda a: convmm.conv_transpose(
        a(X), a(np.ones((2, 1, 2, 2))), output_padding=1
    ),
    "transpose grad_output": lambda a: convmm.conv_transpose_backward(
        a(np.ones((1, 1, 5, 5))), a(X), a(np.ones((2, 1, 2, 2)))
    ),
    "unfold rank": lambda a: convmm.unfold(a(np.ones((2, 3, 8))), (3, 3, 3)),
    "unfold int arguments": lambda a: convmm.unfold(a(np.ones(8)), 3),
    "unfold kernel": lambda a: convmm.unfold(a(X), (0, 2)),
    "fold rows": lambda a: convmm.fold(a(np.ones((1, 5, 9))), (4, 4), (2, 2)),
    "fold positions": lambda a: convmm.fold(a(np.ones((4, 8))), (4, 4), (2, 2)),
    "fold columns rank": lambda a: convmm.fold(a(np.ones((1, 1, 4, 9))), (4, 4), (2, 2)),
    "fold output_size": lambda a: convmm.fold(a(np.ones((4, 9))), (4, 0), (2, 2)),
}


def _numpy(a: Any) -> Any:
    return a


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
def test_errors_are_the_same_for_every_library(name: str) -> None:
    call = BAD_CALLS[name]
    with pytest.raises((ValueError, TypeError)) as numpy_error:
        call(_numpy)
    for convert in (tensor, strict):
        with pytest.raises(type(numpy_error.value)) as other:
            call(convert)
        assert str(other.value) == str(numpy_error.value)


def test_an_empty_batch_of_tensors() -> None:
    x, w = torch.ones(0, 2, 5, 5), torch.ones(3, 2, 3, 3)
    y = convmm.conv(x, w, torch.ones(3), padding=1, padding_mode="circular")
    assert isinstance(y, torch.Tensor) and tuple(y.shape) == (0, 3, 5, 5)
    dx, dw, db = convmm.conv_backward(y, x, w, padding=1, padding_mode="circular")
    assert dx is not None and tuple(dx.shape) == (0, 2, 5, 5)
    assert dw is not None and db is not None
    assert not torch.any(dw) and not torch.any(db)
