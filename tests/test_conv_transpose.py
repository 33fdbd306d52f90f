"""convmm.conv_transpose and conv_transpose_backward: against torch, identities, memory, errors.

- :func:`test_conv_transpose_matches_torch`: every option at once (rank 1-3, groups, stride,
  dilation, output_padding up to ``max(stride, dilation) - 1``, int / per-dim / per-side
  padding, output_size=, bias, channels_last, unbatched, float16/32/64, odd memory layouts,
  chunking).  Per-side ``(before, after)`` padding is compared with torch at ``padding=0``
  followed by cropping ``[before : size - after]`` per dim.
- ``output_size=`` against ``torch.nn.ConvTranspose{1,2,3}d(...)(x, output_size=...)``.
- The positional ``conv_transpose{1,2,3}d`` signatures against ``F.conv_transpose{1,2,3}d``.
- ``conv_transpose_backward`` against torch.autograd.
- Identities: conv_transpose is conv_backward's input gradient; ``<conv(x, w), y> ==
  <x, conv_transpose(y, w)>``.
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
from convmm._geometry import conv_geometry
from oracle import LAYOUTS, assert_close, random_array, windows, with_layout

#: The chunk-plan checks are of the im2col formulation's chunks (the planner may pick
#: another formulation for a layer; those are tested on their own in test_formulations.py).
CHUNKED = "im2col"

DTYPES = (np.float16, np.float32, np.float64)
MiB = 1 << 20
CONV_T = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)
MODULES = (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)

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


def _tensor(a: np.ndarray | None, dtype: torch.dtype) -> torch.Tensor | None:
    if a is None:
        return None
    numpy_dtype = np.float64 if dtype == torch.float64 else np.float32
    return torch.from_numpy(np.array(a, dtype=numpy_dtype, order="C"))


def _pairs(padding: Any, nd: int) -> tuple[tuple[int, int], ...]:
    """The (before, after) pairs a padding argument means (written out here, not by convmm)."""
    if isinstance(padding, int):
        return ((padding, padding),) * nd
    return tuple((p, p) if isinstance(p, int) else (p[0], p[1]) for p in padding)


def _transposed_size(n: int, k: int, s: int, d: int, before: int, after: int, op: int) -> int:
    return (n - 1) * s - before - after + d * (k - 1) + op + 1


def torch_conv_transpose_tensor(
    tx: torch.Tensor,
    tw: torch.Tensor,
    tb: torch.Tensor | None,
    *,
    stride: Any,
    padding: Any,
    output_padding: Any,
    dilation: Any,
    groups: int,
    channels_last: bool,
    crop: bool,
) -> torch.Tensor:
    """torch's transposed convolution of a batched or unbatched, either-layout tensor.

    ``crop``: run torch at ``padding=0`` and crop ``[before : size - after]`` per dim (how a
    per-side pair is defined); else pass torch the symmetric padding.
    """
    nd = tw.dim() - 2
    batched = tx.dim() == nd + 2
    t = tx if batched else tx.unsqueeze(0)
    if channels_last:
        t = t.movedim(-1, 1)
    pairs = _pairs(padding, nd)
    conv_t = CONV_T[nd - 1]
    if crop:
        out = conv_t(t, tw, tb, stride, 0, output_padding, groups, dilation)
        index = [slice(None), slice(None)]
        index += [slice(b, out.shape[2 + i] - a) for i, (b, a) in enumerate(pairs)]
        out = out[tuple(index)]
    else:
        assert all(b == a for b, a in pairs)
        symmetric = tuple(b for b, _ in pairs)
        out = conv_t(t, tw, tb, stride, symmetric, output_padding, groups, dilation)
    if channels_last:
        out = out.movedim(1, -1)
    return out if batched else out[0]


def _torch_dtype(*arrays: np.ndarray | None) -> torch.dtype:
    wide = any(a is not None and a.dtype == np.float64 for a in arrays)
    return torch.float64 if wide else torch.float32


def torch_conv_transpose(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *, crop: bool, **kwargs: Any
) -> np.ndarray:
    """convmm.conv_transpose's result by torch, as float64 (computed in float64 if any is)."""
    dtype = _torch_dtype(x, w, b)
    tx, tw = _tensor(x, dtype), _tensor(w, dtype)
    assert tx is not None and tw is not None
    out = torch_conv_transpose_tensor(tx, tw, _tensor(b, dtype), crop=crop, **kwargs)
    return out.numpy().astype(np.float64)


def abs_scale(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, **kwargs: Any
) -> np.ndarray:
    """Per output value, the sum of |terms| (conv_transpose of |x| by |w|, plus |b|)."""
    ab = None if b is None else np.abs(np.asarray(b, dtype=np.float64))
    return torch_conv_transpose(
        np.abs(np.asarray(x, dtype=np.float64)),
        np.abs(np.asarray(w, dtype=np.float64)),
        ab,
        **kwargs,
    )


def torch_conv_transpose_grads(
    dy: np.ndarray, x: np.ndarray, w: np.ndarray, *, dtype: torch.dtype, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grad_input, grad_weight, grad_bias) of the transposed convolution by torch.autograd."""
    tx, tw = _tensor(x, dtype), _tensor(w, dtype)
    assert tx is not None and tw is not None
    tx.requires_grad_(True)
    tw.requires_grad_(True)
    groups = kwargs["groups"]
    tb = torch.zeros(w.shape[1] * groups, dtype=dtype, requires_grad=True)
    out = torch_conv_transpose_tensor(tx, tw, tb, **kwargs)
    assert tuple(out.shape) == dy.shape
    out.backward(_tensor(dy, dtype))
    assert tx.grad is not None and tw.grad is not None and tb.grad is not None
    gx, gw, gb = (g.numpy().astype(np.float64) for g in (tx.grad, tw.grad, tb.grad))
    return gx, gw, gb


def transpose_budget(
    kind: str | None, pick: float, case: TransposeCase, itemsize: int
) -> int | None:
    """A max_workspace_bytes that forces the transposed conv's product to chunk by ``kind``.

    In convolution terms the transposed conv's P has ``C_out * prod(kernel)`` rows and one
    column per *input* position of the transposed conv; ``upper`` also counts the copy of the
    input in the compute dtype.
    """
    if kind is None:
        return None
    batch = 1 if case.batch is None else case.batch
    cin, cout = case.groups * case.in_per_group, case.groups * case.out_per_group
    rows_total = case.spatial[0]
    row_positions = math.prod(case.spatial[1:])
    kernel_numel = math.prod(case.kernel)

    def upper(images: int, rows: int) -> int:
        return (cout * kernel_numel + cin) * images * rows * row_positions * itemsize

    def lower(images: int, rows: int) -> int:
        return cout * kernel_numel * images * rows * row_positions * itemsize

    if kind == "rows":
        lo, hi, ok = upper(1, 1), lower(1, rows_total) - 1, batch >= 1
    else:
        lo, hi, ok = upper(1, rows_total), lower(batch, rows_total) - 1, batch >= 2
    if not ok or lo > hi:
        return None
    return lo + round(pick * (hi - lo))


# --------------------------------------------------------------------------------------------
# the generated configurations


@dataclass(frozen=True)
class TransposeCase:
    spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: Any
    dilation: Any
    output_padding: tuple[int, ...]
    padding: Any  # as written: an int, per-dim ints, or per-dim (before, after) pairs
    form: str  # 'int', 'per_dim' or 'pairs'
    use_output_size: bool
    groups: int
    in_per_group: int
    out_per_group: int
    batch: int | None
    channels_last: bool
    dtypes: tuple[Any, Any, Any]  # input, weight, bias / grad_output
    bias: bool
    layouts: tuple[str, str, str]
    chunking: str | None
    pick: float
    seed: int

    @property
    def nd(self) -> int:
        return len(self.kernel)

    def output_spatial(self) -> tuple[int, ...]:
        strides = self.stride if isinstance(self.stride, tuple | list) else (self.stride,) * self.nd
        dilations = (
            self.dilation if isinstance(self.dilation, tuple | list) else (self.dilation,) * self.nd
        )
        return tuple(
            _transposed_size(n, k, s, d, b, a, op)
            for n, k, s, d, (b, a), op in zip(
                self.spatial,
                self.kernel,
                strides,
                dilations,
                _pairs(self.padding, self.nd),
                self.output_padding,
                strict=True,
            )
        )

    def kwargs(self) -> dict[str, Any]:
        """convmm's keyword arguments (output_size= instead of output_padding sometimes)."""
        kwargs: dict[str, Any] = {
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "groups": self.groups,
            "channels_last": self.channels_last,
        }
        if self.use_output_size:
            kwargs["output_size"] = self.output_spatial()
        else:
            kwargs["output_padding"] = self.output_padding
        return kwargs

    def torch_kwargs(self) -> dict[str, Any]:
        return {
            "stride": self.stride,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "dilation": self.dilation,
            "groups": self.groups,
            "channels_last": self.channels_last,
            "crop": self.form == "pairs",
        }

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        rng = np.random.default_rng(self.seed)
        cin = self.groups * self.in_per_group
        cout = self.groups * self.out_per_group
        shape = (*self.spatial, cin) if self.channels_last else (cin, *self.spatial)
        if self.batch is not None:
            shape = (self.batch, *shape)
        x = with_layout(random_array(rng, shape, self.dtypes[0]), self.layouts[0])
        w_shape = (cin, self.out_per_group, *self.kernel)
        w = with_layout(random_array(rng, w_shape, self.dtypes[1]), self.layouts[1])
        b = None
        if self.bias:
            b = with_layout(random_array(rng, (cout,), self.dtypes[2]), self.layouts[2])
        return x, w, b


def _per_dim(draw: Any, values: tuple[int, ...]) -> Any:
    if len(set(values)) == 1 and draw(st.booleans()):
        return values[0]
    return draw(st.sampled_from((tuple, list)))(values)


@st.composite
def transpose_cases(draw: Any, dtypes: tuple[Any, ...] = DTYPES) -> TransposeCase:
    nd = draw(st.integers(1, 3))
    max_size = {1: 6, 2: 5, 3: 3}[nd]
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    spatial = tuple(draw(st.integers(1, max_size)) for _ in range(nd))
    # output_padding < max(stride, dilation): with dilation > stride, also >= stride
    output_padding = tuple(
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    )
    # the largest total crop per dim that leaves an output of at least 1
    room = [
        _transposed_size(n, k, s, d, 0, 0, op) - 1
        for n, k, s, d, op in zip(spatial, kernel, stride, dilation, output_padding, strict=True)
    ]
    form = draw(st.sampled_from(("int", "per_dim", "pairs")))
    padding: Any
    if form == "int":
        padding = draw(st.integers(0, min(3, min(room) // 2)))
    elif form == "per_dim":
        padding = draw(st.sampled_from((tuple, list)))(
            draw(st.integers(0, min(3, r // 2))) for r in room
        )
    else:
        entries: list[Any] = []
        for r in room:
            before = draw(st.integers(0, min(3, r)))
            after = draw(st.integers(0, min(3, r - before)))
            entries.append(before if before == after and draw(st.booleans()) else (before, after))
        padding = tuple(entries)
    groups = draw(st.integers(1, 3))
    chunking = draw(st.sampled_from((None, None, "batch", "rows")))
    batches = (2, 3) if chunking == "batch" else (None, 1, 2)
    dtype = draw(st.sampled_from(dtypes))
    if draw(st.integers(0, 3)) == 0:
        all_dtypes = (dtype, draw(st.sampled_from(dtypes)), draw(st.sampled_from(dtypes)))
    else:
        all_dtypes = (dtype, dtype, dtype)
    return TransposeCase(
        spatial=spatial,
        kernel=kernel,
        stride=_per_dim(draw, stride),
        dilation=_per_dim(draw, dilation),
        output_padding=output_padding,
        padding=padding,
        form=form,
        use_output_size=draw(st.integers(0, 3)) == 0,
        groups=groups,
        in_per_group=draw(st.integers(1, 2)),
        out_per_group=draw(st.integers(1, 2)),
        batch=draw(st.sampled_from(batches)),
        channels_last=draw(st.booleans()),
        dtypes=all_dtypes,
        bias=draw(st.booleans()),
        layouts=(
            draw(st.sampled_from(LAYOUTS)),
            draw(st.sampled_from(LAYOUTS)),
            draw(st.sampled_from(LAYOUTS)),
        ),
        chunking=chunking,
        pick=draw(st.floats(0.0, 1.0)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


# --------------------------------------------------------------------------------------------
# conv_transpose against torch


@given(case=transpose_cases())
def test_conv_transpose_matches_torch(case: TransposeCase) -> None:
    x, w, b = case.arrays()
    copies = [a.copy() for a in (x, w, b) if a is not None]
    compute = np.result_type(np.float32, *(a.dtype for a in (x, w, b) if a is not None))
    budget = transpose_budget(case.chunking, case.pick, case, compute.itemsize)
    with recorded_plans() as plans:
        got = convmm.conv_transpose(
            x, w, b, **case.kwargs(), max_workspace_bytes=budget, algorithm=CHUNKED
        )
    assert got.dtype == x.dtype
    cout = case.groups * case.out_per_group
    spatial = case.output_spatial()
    expected_shape = (*spatial, cout) if case.channels_last else (cout, *spatial)
    if case.batch is not None:
        expected_shape = (case.batch, *expected_shape)
    assert got.shape == expected_shape
    assert not np.shares_memory(got, x)
    want = torch_conv_transpose(x, w, b, **case.torch_kwargs())
    scale = abs_scale(x, w, b, **case.torch_kwargs())
    assert_close(got, want, scale, x.dtype, "conv_transpose vs torch")
    direct = reference.conv_transpose(x, w, b, **case.kwargs())
    assert direct.dtype == got.dtype and direct.shape == got.shape
    assert_close(got, direct, scale, x.dtype, "conv_transpose vs reference")
    if budget is not None:
        (plan,) = plans
        assert len(plan.chunks) > 1 and plan.workspace_bytes <= budget
        if case.chunking == "rows":
            assert all(c.rows != (0, case.spatial[0]) for c in plan.chunks)
        whole = convmm.conv_transpose(x, w, b, **case.kwargs())
        assert_close(got, whole, scale, x.dtype, "chunked vs unchunked")
    for before, after in zip(copies, [a for a in (x, w, b) if a is not None], strict=True):
        assert np.array_equal(before, after, equal_nan=True)


@given(
    nd=st.integers(1, 3),
    data=st.data(),
    bias=st.booleans(),
    batched=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_output_size_matches_torch_module(
    nd: int, data: Any, bias: bool, batched: bool, seed: int
) -> None:
    """output_size= gives torch's ConvTranspose{n}d(...)(x, output_size=...) in its range.

    torch's module accepts ``min .. min + stride - 1``; convmm also reaches up to
    ``min + max(stride, dilation) - 1`` (output_padding may be below the dilation, as
    F.conv_transpose{n}d allows): those sizes are compared with F at that output_padding.
    """
    kernel = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    spatial = tuple(data.draw(st.integers(1, {1: 6, 2: 5, 3: 3}[nd])) for _ in range(nd))
    smallest = [
        _transposed_size(n, k, s, d, 0, 0, 0)
        for n, k, s, d in zip(spatial, kernel, stride, dilation, strict=True)
    ]
    padding = tuple(data.draw(st.integers(0, min(2, (m - 1) // 2))) for m in smallest)
    smallest = [m - 2 * p for m, p in zip(smallest, padding, strict=True)]
    extra = tuple(
        data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    )
    size = tuple(m + e for m, e in zip(smallest, extra, strict=True))
    groups = data.draw(st.integers(1, 2))
    rng = np.random.default_rng(seed)
    cin, cout = 2 * groups, 3 * groups
    x = rng.standard_normal(((2,) if batched else ()) + (cin, *spatial))
    w = rng.standard_normal((cin, cout // groups, *kernel))
    b = rng.standard_normal(cout) if bias else None
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    got = convmm.conv_transpose(x, w, b, **options, output_size=size)
    via_list = convmm.conv_transpose(x, w, b, **options, output_size=list(size))
    assert np.array_equal(got, via_list)
    assert got.shape[-nd:] == size
    # as in torch, output_size may be the whole output shape (batch and channels included)
    assert np.array_equal(got, convmm.conv_transpose(x, w, b, **options, output_size=got.shape))
    scale = abs_scale(x, w, b, **options, output_padding=extra, channels_last=False, crop=False)
    if all(e < s for e, s in zip(extra, stride, strict=True)):
        module = MODULES[nd - 1](cin, cout, kernel, bias=bias, dtype=torch.float64, **options)
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(w))
            if b is not None:
                module.bias.copy_(torch.from_numpy(b))
            want = module(torch.from_numpy(x), output_size=list(size)).numpy()
    else:
        want = torch_conv_transpose(
            x, w, b, **options, output_padding=extra, channels_last=False, crop=False
        )
    assert_close(got, want, scale, np.float64, "output_size vs torch")


# output_size= reaches sizes that output_padding 0 would crop to nothing (as torch's module).
@pytest.mark.parametrize(
    ("spatial", "kernel", "stride", "padding", "dilation", "size"),
    [
        ((1,), (2,), 2, 1, 1, (1,)),  # smallest 0, output_padding 1
        ((1, 3), (1, 2), (3, 1), 1, (2, 1), (1, 2)),  # smallest -1 in dim 0, output_padding 2
        ((2,), (1,), 3, (2,), 1, (1,)),  # smallest 0, output_padding 1
    ],
)
def test_output_size_when_output_padding_zero_would_crop_everything(
    spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: Any,
    padding: Any,
    dilation: Any,
    size: tuple[int, ...],
) -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 2, *spatial))
    w = rng.standard_normal((2, 3, *kernel))
    options = {"stride": stride, "padding": padding, "dilation": dilation}
    op = convmm.conv_transpose_output_padding(spatial, size, kernel, **options)
    assert convmm.conv_transpose_output_shape(x.shape, w.shape, **options, output_padding=op) == (
        1,
        3,
        *size,
    )
    want = convmm.conv_transpose(x, w, **options, output_padding=op)
    assert want.shape == (1, 3, *size)
    module = MODULES[len(spatial) - 1](2, 3, kernel, bias=False, dtype=torch.float64, **options)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(w))
        from_torch = module(torch.from_numpy(x), output_size=list(size)).numpy()
    assert_close(want, from_torch, np.abs(from_torch) + 1, np.float64, "output_padding vs torch")
    got = convmm.conv_transpose(x, w, **options, output_size=size)
    assert np.array_equal(got, want)
    grads = convmm.conv_transpose_backward(np.ones_like(want), x, w, **options, output_size=size)
    assert grads[0] is not None and grads[0].shape == x.shape


POSITIONAL_CASES = [
    # (input shape, weight shape, bias?, stride, padding, output_padding, groups, dilation)
    ((2, 3, 5), (3, 4, 3), True, 1, 0, 0, 1, 1),
    ((2, 4, 5), (4, 3, 3), False, 2, 1, 1, 2, 1),
    ((4, 6), (4, 2, 2), True, (3,), (1,), (2,), 1, (2,)),  # unbatched
    ((1, 4, 5), (4, 1, 3), True, 1, 2, 2, 4, 3),  # depthwise; output_padding >= stride
    ((2, 3, 4, 5), (3, 2, 3, 3), True, 2, 1, 1, 1, 1),
    ((1, 4, 3, 4), (4, 3, 2, 3), False, (2, 1), (1, 0), (0, 1), 2, (1, 2)),
    ((4, 3, 3), (4, 2, 3, 2), True, 3, 1, (2, 0), 2, (1, 3)),  # unbatched
    ((2, 6, 3, 3), (6, 1, 3, 3), True, 1, 1, (1, 0), 3, (2, 1)),  # groups before dilation
    ((1, 2, 3, 3, 2), (2, 3, 2, 2, 3), True, 1, 0, 0, 1, 1),
    ((2, 4, 3, 2, 3), (4, 2, 2, 2, 2), False, (2, 1, 2), (1, 0, 1), (1, 0, 0), 2, (1, 2, 1)),
    ((2, 3, 2, 3), (2, 2, 2, 2, 2), True, 2, 0, 1, 1, 1),  # unbatched
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("xs", "ws", "bias", "stride", "padding", "output_padding", "groups", "dilation"),
    POSITIONAL_CASES,
)
def test_conv_transpose_nd_positional_matches_torch(
    xs: tuple[int, ...],
    ws: tuple[int, ...],
    bias: bool,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: int,
    dilation: Any,
    dtype: Any,
) -> None:
    rng = np.random.default_rng(len(xs) * 100 + sum(ws))
    x = random_array(rng, xs, dtype)
    w = random_array(rng, ws, dtype)
    b = random_array(rng, (ws[1] * groups,), dtype) if bias else None
    nd = len(ws) - 2
    ours = (convmm.conv_transpose1d, convmm.conv_transpose2d, convmm.conv_transpose3d)[nd - 1]
    args = (stride, padding, output_padding, groups, dilation)
    got = ours(x, w, b, *args)
    t = [None if a is None else torch.from_numpy(np.ascontiguousarray(a)) for a in (x, w, b)]
    want = CONV_T[nd - 1](*t, *args).numpy()
    assert got.dtype == dtype
    abs_t = [
        None if a is None else torch.from_numpy(np.abs(a).astype(np.float64)) for a in (x, w, b)
    ]
    scale = CONV_T[nd - 1](*abs_t, *args).numpy()
    assert_close(got, want, scale, dtype, "conv_transpose{n}d vs torch")
    keywords = convmm.conv_transpose(
        x,
        w,
        b,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
    )
    assert np.array_equal(got, keywords)


# --------------------------------------------------------------------------------------------
# conv_transpose_backward against torch.autograd


@given(
    case=transpose_cases(),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    dy_layout=st.sampled_from(LAYOUTS),
)
def test_conv_transpose_backward_matches_torch_autograd(
    case: TransposeCase, flags: tuple[bool, bool, bool], dy_layout: str
) -> None:
    x, w, _ = case.arrays()
    rng = np.random.default_rng(case.seed + 1)
    out_shape = convmm.conv_transpose(x, w, **case.kwargs()).shape
    dy = with_layout(random_array(rng, out_shape, case.dtypes[2]), dy_layout)
    bias, needs_input_grad, needs_weight_grad = flags
    compute = np.result_type(np.float32, x.dtype, w.dtype, dy.dtype)
    budget = transpose_budget(case.chunking, case.pick, case, compute.itemsize)
    with recorded_plans() as plans:
        got = convmm.conv_transpose_backward(
            dy,
            x,
            w,
            **case.kwargs(),
            bias=bias,
            needs_input_grad=needs_input_grad,
            needs_weight_grad=needs_weight_grad,
            max_workspace_bytes=budget,
            algorithm=CHUNKED,
        )
    torch_dtype = torch.float64 if compute == np.float64 else torch.float32
    tk = case.torch_kwargs()
    want = torch_conv_transpose_grads(dy, x, w, dtype=torch_dtype, **tk)
    a64 = [np.abs(np.asarray(v, dtype=np.float64)) for v in (dy, x, w)]
    scales = torch_conv_transpose_grads(*a64, dtype=torch.float64, **tk)
    asked = (needs_input_grad, needs_weight_grad, bias)
    shapes = (x.shape, w.shape, (w.shape[1] * case.groups,))
    for g, wanted, scale, ask, shape, dtype, name in zip(
        got,
        want,
        scales,
        asked,
        shapes,
        (x.dtype, w.dtype, w.dtype),
        ("grad_input", "grad_weight", "grad_bias"),
        strict=True,
    ):
        if not ask:
            assert g is None, f"{name} was not asked for"
            continue
        assert g is not None and g.shape == shape and g.dtype == dtype, name
        assert_close(g, wanted, scale, dtype, f"{name} vs torch")
    assert len(plans) == needs_input_grad + needs_weight_grad
    if budget is not None:
        assert all(plan.workspace_bytes <= budget for plan in plans)
        assert all(len(plan.chunks) > 1 for plan in plans), "chunking was meant to happen"
        whole = convmm.conv_transpose_backward(
            dy,
            x,
            w,
            **case.kwargs(),
            bias=bias,
            needs_input_grad=needs_input_grad,
            needs_weight_grad=needs_weight_grad,
        )
        for g, h, scale in zip(got, whole, scales, strict=True):
            assert (g is None) == (h is None)
            if g is not None:
                assert_close(g, h, scale, g.dtype, "chunked vs unchunked")


# --------------------------------------------------------------------------------------------
# identities


@given(
    nd=st.integers(1, 3),
    data=st.data(),
    groups=st.integers(1, 3),
    batch=st.sampled_from((None, 1, 2)),
    channels_last=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_conv_transpose_is_conv_input_gradient(
    nd: int, data: Any, groups: int, batch: int | None, channels_last: bool, seed: int
) -> None:
    """conv_transpose(y, w) == conv_backward(y, x, w)[0], output_padding found by the helper."""
    window = data.draw(windows(nd, max_size={1: 7, 2: 6, 3: 4}[nd], modes=("zeros",)))
    cin_g, cout_g = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    rng = np.random.default_rng(seed)
    cin = groups * cin_g
    shape = (*window.spatial, cin) if channels_last else (cin, *window.spatial)
    if batch is not None:
        shape = (batch, *shape)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((groups * cout_g, cin_g, *window.kernel))
    kwargs = {**window.kwargs(), "groups": groups, "channels_last": channels_last}
    geometry = conv_geometry(x.shape, w.shape, None, func="test", **kwargs)
    y = rng.standard_normal(geometry.output_array_shape())
    grad_input, _, _ = convmm.conv_backward(y, x, w, **kwargs, needs_weight_grad=False, bias=False)
    assert grad_input is not None
    pairs = geometry.window.padding  # what a padding string resolved to
    options = {
        "stride": window.stride,
        "dilation": window.dilation,
        "groups": groups,
        "channels_last": channels_last,
    }
    op = convmm.conv_transpose_output_padding(
        geometry.window.output_shape,
        window.spatial,
        window.kernel,
        stride=window.stride,
        padding=pairs,
        dilation=window.dilation,
    )
    assert all(0 <= p < s for p, s in zip(op, geometry.window.stride, strict=True))
    by_padding = convmm.conv_transpose(y, w, **options, padding=pairs, output_padding=op)
    assert by_padding.shape == x.shape
    by_size = convmm.conv_transpose(y, w, **options, padding=pairs, output_size=window.spatial)
    assert np.array_equal(by_padding, by_size)
    scale = convmm.conv_transpose(np.abs(y), np.abs(w), **options, padding=pairs, output_padding=op)
    assert np.all(np.abs(by_padding - grad_input) <= 1e-12 * (scale + 1e-3))
    if not isinstance(window.padding, str):  # the padding as written works as well
        direct = convmm.conv_transpose(y, w, **options, padding=window.padding, output_padding=op)
        assert np.array_equal(direct, by_padding)


@given(
    nd=st.integers(1, 3),
    data=st.data(),
    groups=st.integers(1, 3),
    batch=st.sampled_from((None, 1, 3)),
    channels_last=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_adjoint_identity(
    nd: int, data: Any, groups: int, batch: int | None, channels_last: bool, seed: int
) -> None:
    """<conv(x, w), y> == <x, conv_transpose(y, w)> in float64, any zero-padded geometry."""
    window = data.draw(
        windows(nd, max_size={1: 7, 2: 6, 3: 4}[nd], modes=("zeros",), forms=("int", "pairs"))
    )
    cin_g, cout_g = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    rng = np.random.default_rng(seed)
    cin = groups * cin_g
    shape = (*window.spatial, cin) if channels_last else (cin, *window.spatial)
    if batch is not None:
        shape = (batch, *shape)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((groups * cout_g, cin_g, *window.kernel))
    kwargs = {**window.kwargs(), "groups": groups, "channels_last": channels_last}
    forward = convmm.conv(x, w, **kwargs)
    y = rng.standard_normal(forward.shape)
    out_spatial = forward.shape[1:-1] if channels_last else forward.shape[2:]
    if batch is None:
        out_spatial = forward.shape[:-1] if channels_last else forward.shape[1:]
    options = {
        "stride": window.stride,
        "padding": window.padding,
        "dilation": window.dilation,
        "groups": groups,
        "channels_last": channels_last,
    }
    op = convmm.conv_transpose_output_padding(
        out_spatial,
        window.spatial,
        window.kernel,
        stride=window.stride,
        padding=window.padding,
        dilation=window.dilation,
    )
    back = convmm.conv_transpose(y, w, **options, output_padding=op)
    assert back.shape == x.shape
    left, right = float(np.sum(forward * y)), float(np.sum(x * back))
    scale = float(np.sum(convmm.conv(np.abs(x), np.abs(w), **kwargs) * np.abs(y)))
    assert abs(left - right) <= 1e-12 * (scale + 1.0), (left, right)


# --------------------------------------------------------------------------------------------
# the workspace bound, measured


def test_conv_transpose_workspace_bound_row_chunks() -> None:
    """One image whose P (38 MB) is over the 4 MiB bound: runs of rows, within the bound."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 64, 64, 64))
    w = rng.standard_normal((64, 32, 3, 3))
    b = rng.standard_normal(32)
    options: dict[str, Any] = {"stride": 2, "padding": 1, "output_padding": 1}
    p_bytes = 32 * 9 * 64 * 64 * 8  # C_out x kernel rows, one column per input position
    bound = 4 * MiB
    assert p_bytes > 2 * bound

    tracemalloc.start()
    try:
        with recorded_plans() as plans:
            got = convmm.conv_transpose(x, w, b, **options, max_workspace_bytes=bound)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (plan,) = plans
    assert len(plan.chunks) > 1 and all(c.rows != (0, 64) for c in plan.chunks)
    assert got.shape == (1, 32, 128, 128)
    extra = peak - got.nbytes
    assert extra <= bound + 2 * MiB, f"peak {peak} - result {got.nbytes} = {extra} > {bound}"
    whole = convmm.conv_transpose(x, w, b, **options, max_workspace_bytes=1 << 40)
    np.testing.assert_allclose(got, whole, rtol=1e-12, atol=1e-12 * float(np.abs(whole).max()))
    want = torch_conv_transpose(
        x, w, b, **options, dilation=1, groups=1, channels_last=False, crop=False
    )
    scale = abs_scale(x, w, b, **options, dilation=1, groups=1, channels_last=False, crop=False)
    assert_close(got, want, scale, np.float64, "vs torch")


def test_conv_transpose_backward_workspace_bound() -> None:
    """Both products of conv_transpose_backward chunked within a 4 MiB bound."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 32, 48, 48))
    w = rng.standard_normal((32, 32, 3, 3))
    dy = rng.standard_normal((2, 32, 96, 96))
    options: dict[str, Any] = {"stride": 2, "padding": 1, "output_padding": 1}
    bound = 4 * MiB

    tracemalloc.start()
    try:
        with recorded_plans() as plans:
            got = convmm.conv_transpose_backward(dy, x, w, **options, max_workspace_bytes=bound)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(plans) in (1, 2) and all(len(plan.chunks) > 1 for plan in plans)
    extra = peak - sum(g.nbytes for g in got if g is not None)
    assert extra <= bound + 2 * MiB, f"{extra} > {bound}"
    whole = convmm.conv_transpose_backward(dy, x, w, **options, max_workspace_bytes=1 << 40)
    for g, h in zip(got, whole, strict=True):
        assert g is not None and h is not None
        np.testing.assert_allclose(g, h, rtol=1e-12, atol=1e-12 * float(np.abs(h).max()))


# --------------------------------------------------------------------------------------------
# errors

CT = "convmm.conv_transpose"
CTB = "convmm.conv_transpose_backward"
X = np.random.default_rng(0).standard_normal((2, 4, 5, 5))
W = np.random.default_rng(1).standard_normal((4, 3, 3, 3))  # (C_in, C_out/groups, kH, kW)


@pytest.mark.parametrize(
    ("kwargs", "error", "pieces"),
    [
        (
            {"stride": 2, "output_padding": 2},
            ValueError,
            ("output_padding must be smaller than stride or dilation", "output_padding 2"),
        ),
        (
            {"stride": 2, "dilation": 3, "output_padding": (1, 3)},
            ValueError,
            ("output_padding", "spatial dim 1", "output_padding 3, stride 2, dilation 3"),
        ),
        ({"stride": 2, "output_padding": -1}, ValueError, ("output_padding", ">= 0", "got -1")),
        ({"output_padding": 0.5}, TypeError, ("output_padding", "got 0.5")),
        ({"padding": "same"}, ValueError, ("padding", "padding strings are for conv", "'same'")),
        ({"padding": "valid"}, ValueError, ("padding", "'valid'")),
        ({"groups": 3}, ValueError, ("groups must divide in_channels", "groups=3", "4")),
        ({"padding": -1}, ValueError, ("padding", "negative -1")),
        (
            {"padding": ((4, 3), 0)},
            ValueError,
            ("padding crops more than the output has in spatial dim 0", "= 0"),
        ),
        (
            {"stride": 2, "output_size": (12, 10)},
            ValueError,
            ("output_size 10 cannot be reached in spatial dim 1", "between 11 and 12"),
        ),
        (
            {"stride": 2, "padding": 1, "output_size": (8, 9)},
            ValueError,
            ("output_size 8 cannot be reached in spatial dim 0", "between 9 and 10"),
        ),
        (
            {"stride": 2, "dilation": 3, "output_size": (17, 18)},
            ValueError,
            ("output_size 18", "spatial dim 1", "between 15 and 17"),
        ),
        (
            {"stride": 2, "output_padding": 1, "output_size": (12, 12)},
            ValueError,
            ("give output_size or output_padding, not both", "output_padding=1", "(12, 12)"),
        ),
        (
            {"stride": 2, "output_padding": (0, 1), "output_size": (12, 12)},
            ValueError,
            ("not both", "output_padding=(0, 1)"),
        ),
        (
            {"output_size": (7,)},
            ValueError,
            ("output_size must be 2 spatial size(s) or the whole output shape", "got 1 values"),
        ),
        (
            {"stride": 2, "output_padding": np.zeros(2, int), "output_size": (12, 12)},
            TypeError,
            ("output_padding must be an int >= 0", "ndarray"),
        ),
        (
            {"stride": 2, "output_padding": None, "output_size": (12, 12)},
            TypeError,
            ("output_padding must be an int >= 0", "got None"),
        ),
        (
            {"stride": 2, "padding": 9, "output_size": (3, 3)},
            ValueError,
            ("output_size 3 cannot be reached in spatial dim 0", "crops more", "at most -6"),
        ),
        (
            {"output_size": (2, 5, 7, 7)},
            ValueError,
            (
                "output_size as a whole shape (N, C_out, *spatial)",
                "batch and channel sizes (2, 3)",
                "got (2, 5, 7, 7), whose batch and channel sizes are (2, 5)",
            ),
        ),
        ({"channels_last": 1}, TypeError, ("channels_last", "got 1")),
        ({"max_workspace_bytes": -5}, ValueError, ("max_workspace_bytes", "got -5")),
    ],
)
def test_conv_transpose_rejects(
    kwargs: dict[str, Any], error: type[Exception], pieces: tuple[str, ...]
) -> None:
    with pytest.raises(error, match=_pattern(CT, *pieces)):
        convmm.conv_transpose(X, W, **kwargs)
    # the backward validates the options the same way (before looking at grad_output)
    with pytest.raises(error, match=_pattern(CTB, *pieces)):
        convmm.conv_transpose_backward(np.ones((2, 3, 7, 7)), X, W, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "pieces"),
    [
        (
            (np.ones((2, 3, 5, 5)), W),
            {},
            ValueError,
            ("input has 3 channels", "axis 1 of shape (2, 3, 5, 5)", "weight.shape[0] = 4"),
        ),
        (
            (np.ones((5, 5, 3)), W),
            {"channels_last": True},
            ValueError,
            ("input has 3 channels", "axis last", "weight.shape[0] = 4"),
        ),
        (
            (X, W, np.ones(4)),
            {},
            ValueError,
            ("bias must have shape (3,)", "got shape (4,)"),
        ),
        (
            (X, W, np.ones(3)),
            {"groups": 2},
            ValueError,
            ("bias must have shape (6,)", "got shape (3,)"),
        ),
        ((X.astype(np.int64), W), {}, TypeError, ("input", "int64", ".astype(np.float32)")),
        ((X, W.astype(np.int16)), {}, TypeError, ("weight", "int16")),
        ((X, W, np.ones(3, dtype=np.int32)), {}, TypeError, ("bias", "int32")),
        ((X, W[:, :, 0]), {}, ValueError, ("input must have shape", "(4, 3, 3)")),
    ],
)
def test_conv_transpose_rejects_arrays(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], pieces: tuple[str, ...]
) -> None:
    with pytest.raises(error, match=_pattern(CT, *pieces)):
        convmm.conv_transpose(*args, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "pieces"),
    [
        (
            (np.ones((2, 3, 9, 9)), X, W),
            {},
            ValueError,
            ("grad_output", "transposed convolution's output", "(2, 3, 7, 7)", "(2, 3, 9, 9)"),
        ),
        (
            (np.ones((2, 3, 7, 7)), X, W),
            {"stride": 2},
            ValueError,
            ("grad_output", "(2, 3, 11, 11)", "got (2, 3, 7, 7)"),
        ),
        (
            (np.ones((2, 3, 7, 7)), X, W),
            {"needs_input_grad": "yes"},
            TypeError,
            ("needs_input_grad must be True or False", "'yes'"),
        ),
        (
            (np.ones((2, 3, 7, 7)), X, W),
            {"needs_weight_grad": None},
            TypeError,
            ("needs_weight_grad", "None"),
        ),
        ((np.ones((2, 3, 7, 7)), X, W), {"bias": 0}, TypeError, ("bias", "got 0")),
        (
            (np.ones((2, 3, 7, 7), dtype=np.int32), X, W),
            {},
            TypeError,
            ("grad_output", "int32", ".astype(np.float32)"),
        ),
        (
            (np.ones((2, 3, 7, 7)), np.ones((2, 3, 5, 5)), W),
            {},
            ValueError,
            ("input has 3 channels", "weight.shape[0] = 4"),
        ),
    ],
)
def test_conv_transpose_backward_rejects(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], pieces: tuple[str, ...]
) -> None:
    with pytest.raises(error, match=_pattern(CTB, *pieces)):
        convmm.conv_transpose_backward(*args, **kwargs)


@pytest.mark.parametrize(
    ("func", "weight", "pieces"),
    [
        (convmm.conv_transpose2d, W[:, :, 0], ("weight must have 4 dims", "(4, 3, 3)")),
        (convmm.conv_transpose1d, W, ("weight must have 3 dims", "(4, 3, 3, 3)")),
        (convmm.conv_transpose3d, W, ("weight must have 5 dims", "(4, 3, 3, 3)")),
    ],
)
def test_conv_transpose_nd_checks_weight_rank(
    func: Callable[..., Any], weight: np.ndarray, pieces: tuple[str, ...]
) -> None:
    name = "convmm." + func.__name__
    with pytest.raises(ValueError, match=_pattern(name, *pieces)):
        func(X, weight)


# conv_transpose{1,2,3}d's errors name the function the caller called.
@pytest.mark.parametrize(
    ("func", "args", "error", "pieces"),
    [
        (convmm.conv_transpose2d, (X, W, None, 1, 0, 1), ValueError, ("output_padding",)),
        (convmm.conv_transpose2d, (X, W, None, 0), ValueError, ("stride", "got 0")),
        (convmm.conv_transpose2d, (X, W, None, 1, "same"), ValueError, ("padding", "'same'")),
        (convmm.conv_transpose2d, (X, W, None, 1, 0, 0, 3), ValueError, ("groups=3",)),
        (convmm.conv_transpose2d, (X.astype(int), W), TypeError, ("input", "int64")),
        (convmm.conv_transpose2d, (X, W, np.ones(2)), ValueError, ("bias", "(2,)")),
        (convmm.conv_transpose1d, (X[0], W[..., 0]), ValueError, ("input has 5 channels",)),
        (
            convmm.conv_transpose3d,
            (X[:, :, None], W[:, :, None], None, 1, 0, 0, 1, 0),
            ValueError,
            ("dilation", "got 0"),
        ),
    ],
)
def test_conv_transpose_nd_errors_name_the_function_called(
    func: Callable[..., Any], args: tuple[Any, ...], error: type[Exception], pieces: tuple[str, ...]
) -> None:
    """An error from conv_transpose2d names conv_transpose2d, not convmm.conv_transpose."""
    with pytest.raises(error, match=_pattern("convmm." + func.__name__, *pieces)):
        func(*args)


def test_conv_transpose_padding_errors_offer_no_padding_strings() -> None:
    """conv_transpose refuses 'same' and 'valid', so its padding errors do not suggest them."""
    with pytest.raises(ValueError, match=_pattern(CT, "padding must be an int >= 0")) as info:
        convmm.conv_transpose(X, W, padding=-1)
    assert "same" not in str(info.value) and "valid" not in str(info.value)


def test_output_size_as_a_whole_channels_last_shape() -> None:
    """Channels-last: the whole shape is (N, *spatial, C_out); unbatched (*spatial, C_out)."""
    x = np.ascontiguousarray(np.moveaxis(X, 1, -1))
    want = convmm.conv_transpose(x, W, stride=2, output_size=(12, 11), channels_last=True)
    assert want.shape == (2, 12, 11, 3)
    got = convmm.conv_transpose(x, W, stride=2, output_size=(2, 12, 11, 3), channels_last=True)
    assert np.array_equal(got, want)
    one = convmm.conv_transpose(x[0], W, stride=2, output_size=(12, 11, 3), channels_last=True)
    assert np.array_equal(one, want[0])
    with pytest.raises(ValueError, match=_pattern(CT, "(N, *spatial, C_out)", "are (3, 2)")):
        convmm.conv_transpose(x, W, stride=2, output_size=(3, 12, 11, 2), channels_last=True)
    with pytest.raises(ValueError, match=_pattern(CT, "(*spatial, C_out)", "channel is (5,)")):
        convmm.conv_transpose(x[0], W, stride=2, output_size=(12, 11, 5), channels_last=True)
