"""Oracles and generators shared by the tests (imported as ``oracle``; see conftest.py).

- :func:`torch_conv`: convmm's convolution semantics computed by PyTorch.  The padding string or
  per-side pairs are resolved by convmm's own geometry (``conv_geometry`` → ``window.padding``),
  the input is padded with ``torch.nn.functional.pad`` and convolved with ``F.conv{1,2,3}d`` at
  ``padding=0``.  Only the resolution of ``padding`` is shared with convmm; the padding values,
  the window walk and the arithmetic are torch's.
- :func:`conv_scale` and :func:`assert_close`: the tolerance model (see :func:`assert_close`).
- :func:`with_layout`: the same values in a different memory layout (strided, transposed,
  negative strides...), read-only.
- :func:`windows`: a Hypothesis strategy for valid sliding-window geometries in any rank, with
  every padding form and mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from convmm._geometry import conv_geometry

__all__ = [
    "LAYOUTS",
    "NUMPY_PAD_MODES",
    "PADDING_FORMS",
    "PADDING_MODES",
    "RTOL",
    "TORCH_PAD_MODES",
    "WindowCase",
    "assert_close",
    "conv_scale",
    "random_array",
    "torch_conv",
    "windows",
    "with_layout",
]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
TORCH_PAD_MODES = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}
NUMPY_PAD_MODES = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
}

#: Relative tolerance per *output* dtype.  The output dtype is always the input's dtype, and the
#: computation is at least as precise as that, so the output's precision is the limit.
RTOL = {
    np.dtype(np.float16): 1e-2,
    np.dtype(np.float32): 1e-4,
    np.dtype(np.float64): 1e-10,
}

# --------------------------------------------------------------------------------------------
# the torch oracle


def _torch_dtype(*arrays: np.ndarray | None) -> torch.dtype:
    """float64 when any array is float64, else float32 (float16 is computed in float32)."""
    wide = any(a is not None and a.dtype == np.float64 for a in arrays)
    return torch.float64 if wide else torch.float32


def _tensor(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    # np.array copies into a fresh C-contiguous array: torch.from_numpy refuses negative strides.
    numpy_dtype = np.float64 if dtype == torch.float64 else np.float32
    return torch.from_numpy(np.array(a, dtype=numpy_dtype, order="C"))


def torch_conv(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    channels_last: bool = False,
) -> np.ndarray:
    """convmm.conv's result computed by torch, in the dtype of ``x``.

    Spatial rank 1..3 (what ``F.conv{1,2,3}d`` and the non-constant modes of ``F.pad``
    support).  Computed in float64 when any array is float64, else in float32.
    """
    x, w = np.asarray(x), np.asarray(w)
    b = None if b is None else np.asarray(b)
    geometry = conv_geometry(
        x.shape,
        w.shape,
        None if b is None else b.shape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        channels_last=channels_last,
        func="oracle.torch_conv",
    )
    window = geometry.window
    nd = window.ndim
    if not 1 <= nd <= 3:
        raise ValueError(f"torch_conv: spatial rank {nd} is not 1..3")
    dtype = _torch_dtype(x, w, b)
    t = _tensor(x, dtype)
    if not geometry.batched:
        t = t.unsqueeze(0)
    if channels_last:
        t = t.movedim(-1, 1)
    if window.is_padded:
        # F.pad takes (before, after) pairs starting from the LAST dim.
        pads = [p for pair in reversed(window.padding) for p in pair]
        t = F.pad(t, pads, mode=TORCH_PAD_MODES[padding_mode])
    conv = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    out = conv(
        t,
        _tensor(w, dtype),
        None if b is None else _tensor(b, dtype),
        stride=stride,
        padding=0,
        dilation=dilation,
        groups=groups,
    )
    if channels_last:
        out = out.movedim(1, -1)
    if not geometry.batched:
        out = out[0]
    return out.numpy().astype(x.dtype)


def conv_scale(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, **kwargs: Any
) -> np.ndarray:
    """Per output value, the sum of |w|·|x| over its window plus |b|, in float64.

    Every way of summing the products (any order, any chunking, any precision) has an error
    bounded by a small multiple of ``eps * (sum of |terms|)``, and rounding the result to the
    output dtype adds at most ``eps * |result| <= eps * scale``.  So ``rtol * scale`` is a
    tolerance that holds for cancelling sums (where a tolerance relative to |result| would be
    too tight) and stays tight where the result is large.  Padding commutes with abs() in every
    mode, so this is simply the convolution of |x| by |w|, plus |b|.
    """
    ab = None if b is None else np.abs(np.asarray(b, dtype=np.float64))
    return torch_conv(
        np.abs(np.asarray(x, dtype=np.float64)),
        np.abs(np.asarray(w, dtype=np.float64)),
        ab,
        **kwargs,
    )


def assert_close(
    got: np.ndarray, want: np.ndarray, scale: np.ndarray, dtype: Any, what: str = ""
) -> None:
    """``|got - want| <= RTOL[dtype] * (scale + 1e-3)`` everywhere, shapes equal, no NaN.

    The ``1e-3`` floor only matters for outputs whose every term is ~0 (then both must be ~0;
    for float16 it also absorbs subnormal rounding).
    """
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    rtol = RTOL[np.dtype(dtype)]
    g64, w64 = got.astype(np.float64), want.astype(np.float64)
    tol = rtol * (np.asarray(scale, dtype=np.float64) + 1e-3)
    err = np.abs(g64 - w64)
    bad = ~(err <= tol)  # NaN counts as bad
    if bad.any():
        where = tuple(int(i[0]) for i in np.nonzero(bad))
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} values differ beyond rtol={rtol} x scale; "
            f"first at {where}: got {g64[where]!r}, want {w64[where]!r}, "
            f"tolerance {np.broadcast_to(tol, bad.shape)[where]!r}"
        )


# --------------------------------------------------------------------------------------------
# arrays


#: Memory layouts that :func:`with_layout` produces, all with the same values.
LAYOUTS = ("contiguous", "strided", "transposed", "fortran", "reversed")


def random_array(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Uniform values in [-1, 1), rounded to ``dtype``."""
    return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)


def with_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """A read-only array with ``a``'s values (and dtype) in the memory layout ``layout``.

    - ``strided``: every other element of a larger buffer whose gaps hold NaN, so reading
      outside the view would poison the result.
    - ``transposed``: a contiguous copy of a transpose (axes rotated), transposed back.
    - ``fortran``: column-major.
    - ``reversed``: a copy with every axis reversed, viewed reversed again (negative strides).
    """
    a = np.asarray(a)
    if layout == "contiguous":
        out = np.array(a, order="C")
    elif layout == "strided":
        big = np.full(tuple(2 * n + 1 for n in a.shape), np.nan, dtype=a.dtype)
        view = big[tuple(slice(1, None, 2) for _ in a.shape)]
        view[...] = a
        out = view
    elif layout == "transposed":
        perm = (*range(1, a.ndim), 0)
        out = np.array(a.transpose(perm), order="C").transpose(np.argsort(perm))
    elif layout == "fortran":
        out = np.array(a, order="F")
    elif layout == "reversed":
        out = np.flip(np.array(np.flip(a), order="C"))
    else:
        raise ValueError(layout)
    assert np.array_equal(out, a) or (out.size == 0 and out.shape == a.shape)
    out.flags.writeable = False
    return out


# --------------------------------------------------------------------------------------------
# geometry strategy

#: How ``padding`` is written: one int; one int per dim; per dim an int or a (before, after)
#: pair (mixed); or one of the strings.
PADDING_FORMS = ("int", "per_dim", "pairs", "valid", "same", "same_lower")


@dataclass(frozen=True)
class WindowCase:
    """A valid sliding-window geometry, with the arguments as a caller would write them."""

    spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: Any
    dilation: Any
    padding: Any
    padding_mode: str

    @property
    def ndim(self) -> int:
        return len(self.kernel)

    def kwargs(self) -> dict[str, Any]:
        return {
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "padding_mode": self.padding_mode,
        }


def _per_dim(draw: Any, values: tuple[int, ...]) -> Any:
    """An int when all values agree (sometimes), else a tuple or list of them."""
    if len(set(values)) == 1 and draw(st.booleans()):
        return values[0]
    return draw(st.sampled_from((tuple, list)))(values)


@st.composite
def windows(
    draw: Any,
    ndim: int,
    *,
    max_size: int,
    max_kernel: int = 3,
    max_stride: int = 3,
    max_dilation: int = 2,
    max_pad: int = 3,
    modes: tuple[str, ...] = PADDING_MODES,
    forms: tuple[str, ...] = PADDING_FORMS,
) -> WindowCase:
    """A geometry that every padding mode's limits accept, built so nothing is rejected.

    Kernel, dilation, stride and the padding are drawn first, then each spatial size from the
    smallest that works: the kernel must fit in the padded input; 'reflect' needs padding <
    size; 'circular' padding <= size.  For 'same'/'same_lower' the larger side is at most
    ceil(dilation * (kernel - 1) / 2).
    """
    mode = draw(st.sampled_from(modes))
    kernel = tuple(draw(st.integers(1, max_kernel)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, max_dilation)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, max_stride)) for _ in range(ndim))
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    form = draw(st.sampled_from(forms))

    def mode_floor(pad: int) -> int:
        return pad + 1 if mode == "reflect" else pad if mode == "circular" else 1

    padding: Any
    if form in ("int", "per_dim", "pairs"):
        if form == "int":
            p = draw(st.integers(0, max_pad))
            pairs = [(p, p)] * ndim
            padding = p
        elif form == "per_dim":
            ps = tuple(draw(st.integers(0, max_pad)) for _ in range(ndim))
            pairs = [(p, p) for p in ps]
            padding = draw(st.sampled_from((tuple, list)))(ps)
        else:
            entries: list[Any] = []
            pairs = []
            for _ in range(ndim):
                before, after = draw(st.integers(0, max_pad)), draw(st.integers(0, max_pad))
                pairs.append((before, after))
                entries.append(
                    before if before == after and draw(st.booleans()) else (before, after)
                )
            padding = tuple(entries)
        lows = [
            max(1, span - before - after, mode_floor(max(before, after)))
            for span, (before, after) in zip(spans, pairs, strict=True)
        ]
    elif form == "valid":
        lows = list(spans)
        padding = "valid"
    else:
        lows = [max(1, mode_floor(math.ceil((span - 1) / 2))) for span in spans]
        padding = form
    spatial = tuple(draw(st.integers(lo, max(lo, max_size))) for lo in lows)
    return WindowCase(
        spatial=spatial,
        kernel=kernel,
        stride=_per_dim(draw, stride),
        dilation=_per_dim(draw, dilation),
        padding=padding,
        padding_mode=mode,
    )
