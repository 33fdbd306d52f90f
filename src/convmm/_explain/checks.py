"""Checking an explanation's steps against the library, its direct reference and PyTorch.

Each check runs one independent computation of the same sample and records whether it gives
the explanation's numbers within the rounding of the dtype it computes in (None: not run, with
a note saying why: PyTorch missing or refusing the arguments, or too large for the direct
loops).  This module imports nothing of the explanation's model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._geometry import ConvGeometry

__all__ = [
    "REFERENCE_LIMIT",
]

#: The direct reference loops in Python over output positions: above this many (times the
#: groups) its check is not run (it would take seconds), and the explanation says so.
REFERENCE_LIMIT = 20_000


def _one_sample(result: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
    """A one-image result of the library (batched or not, in its layout), channels first."""
    result = result[0] if geometry.batched else result
    return np.moveaxis(result, -1, 0) if geometry.channels_last else result


def _agree(got: Any, want: np.ndarray, scale: np.ndarray, dtype: Any) -> bool:
    """Whether ``got`` (computed in ``dtype``) equals ``want`` up to that dtype's rounding.

    ``scale`` bounds, per entry, the sum of the absolute values of the products that make it
    (the same computation on absolute values); a sum of them in ``dtype`` is off by at most a
    few units of ``eps * scale``, plus the rounding of the result to ``got``'s own dtype (half a
    unit in its last place, subnormals and overflow to infinity included: ``want`` rounded to
    that dtype agrees).  NaNs must sit at the same places.
    """
    got_array = np.asarray(got)
    if got_array.shape != want.shape:
        return False
    got_dtype = got_array.dtype if got_array.dtype.kind == "f" else np.dtype(np.float64)
    got = got_array.astype(np.float64)
    eps = float(np.finfo(np.result_type(dtype, got_dtype)).eps)
    with np.errstate(invalid="ignore", over="ignore"):
        rounded = want.astype(got_dtype).astype(np.float64)
        ulp = np.spacing(np.abs(rounded).astype(got_dtype)).astype(np.float64)
        tolerance = 64 * eps * scale + ulp
        close = np.abs(got - want) <= tolerance
        close_rounded = np.abs(got - rounded) <= tolerance
    same = (got == want) | (got == rounded) | (np.isnan(got) & np.isnan(want))
    return bool(np.all(close | close_rounded | same))


def _not_run(checks: dict[str, bool | None], notes: dict[str, str], name: str, why: str) -> None:
    checks[name] = None
    notes[name] = why


def _library_checks(
    geometry: ConvGeometry,
    agree: Callable[[Any, Any], bool],
    dtype: Any,
    fast: tuple[str, Callable[[], Any]],
    slow: tuple[str, Callable[[], Any]],
) -> tuple[dict[str, bool | None], dict[str, str]]:
    """The checks against the library's fast function (computing in ``dtype``) and its direct
    reference (float64; not run when too large): whether ``agree(result, dtype)``."""
    checks: dict[str, bool | None] = {fast[0]: agree(fast[1](), dtype)}
    notes: dict[str, str] = {}
    too_large = _too_large_for_reference(geometry)
    if too_large is None:
        checks[slow[0]] = agree(slow[1](), np.float64)
    else:
        _not_run(checks, notes, slow[0], too_large)
    return checks, notes


def _too_large_for_reference(geometry: ConvGeometry) -> str | None:
    """Why the direct reference is not run for this geometry (None: it is)."""
    loops = geometry.window.num_positions * geometry.groups
    if loops <= REFERENCE_LIMIT:
        return None
    return (
        f"not run: the direct loop would visit {loops} positions x groups "
        f"(it runs up to {REFERENCE_LIMIT})"
    )


def _torch_available() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


class _TorchRefused(Exception):
    """PyTorch's own limits stop the check (a stride beyond its int64, ...)."""


def _call_torch(op: Any, *args: Any, **kwargs: Any) -> Any:
    """``op(*args, **kwargs)``; an error of torch's is a :class:`_TorchRefused` (first line)."""
    try:
        return op(*args, **kwargs)
    except (RuntimeError, OverflowError, TypeError, ValueError) as error:
        text = str(error).strip()
        raise _TorchRefused(text.splitlines()[0] if text else repr(error)) from None


def _torch_check(
    checks: dict[str, bool | None],
    notes: dict[str, str],
    geometry: ConvGeometry,
    compute: Callable[[], tuple[np.ndarray, ...]],
    wants: tuple[np.ndarray, ...],
    scales: tuple[np.ndarray, ...],
) -> None:
    """Run ``compute()`` (PyTorch's results, float64) and record whether they give ``wants``."""
    ndim = geometry.window.ndim
    if ndim > 3:
        _not_run(checks, notes, "torch", f"not run: PyTorch has no {ndim}-D convolution")
    elif _torch_available() is None:
        _not_run(checks, notes, "torch", "not run: PyTorch is not installed")
    else:
        try:
            results = compute()
        except _TorchRefused as refused:
            _not_run(
                checks, notes, "torch", f"not run: PyTorch refused these arguments ({refused})"
            )
            return
        checks["torch"] = all(
            _agree(*c, np.float64) for c in zip(results, wants, scales, strict=True)
        )


def _torch_conv(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geometry: ConvGeometry
) -> np.ndarray:
    """PyTorch's convolution of one sample (padding by ``F.pad`` in the padding mode)."""
    torch = _torch_available()
    window = geometry.window
    functional = torch.nn.functional
    t = torch.from_numpy(np.ascontiguousarray(x))[None]
    pads = [p for pair in reversed(window.padding) for p in pair]
    mode = {"zeros": "constant"}.get(window.padding_mode, window.padding_mode)
    if any(pads):
        t = functional.pad(t, pads, mode=mode)
    op = getattr(functional, f"conv{window.ndim}d")
    result = _call_torch(
        op,
        t,
        torch.from_numpy(np.asarray(w, np.float64)),
        None if b is None else torch.from_numpy(np.asarray(b, np.float64)),
        stride=window.stride,
        dilation=window.dilation,
        groups=geometry.groups,
    )
    out: np.ndarray = result[0].numpy()
    return out


def _torch_transpose(
    x: np.ndarray, w: np.ndarray, bias_column: np.ndarray | None, geometry: ConvGeometry
) -> np.ndarray:
    """PyTorch's transposed convolution of one sample, uncropped, then cropped per side.

    ``F.conv_transpose*d`` crops the same amount from both sides; running it uncropped and
    cropping here covers per-side padding, and zeros past its end give the output padding.
    """
    torch = _torch_available()
    window = geometry.window
    op = getattr(torch.nn.functional, f"conv_transpose{window.ndim}d")
    result = _call_torch(
        op,
        torch.from_numpy(np.ascontiguousarray(x))[None],
        torch.from_numpy(np.asarray(w, np.float64)),
        stride=window.stride,
        groups=geometry.groups,
        dilation=window.dilation,
    )[0].numpy()
    ends = [before + n for (before, _), n in zip(window.padding, window.input_shape, strict=True)]
    sizes = tuple(max(e, m) for e, m in zip(ends, result.shape[1:], strict=True))
    grown = np.zeros(result.shape[:1] + sizes)
    grown[(slice(None),) + tuple(slice(0, m) for m in result.shape[1:])] = result
    crop = tuple(slice(before, end) for (before, _), end in zip(window.padding, ends, strict=True))
    out: np.ndarray = grown[(slice(None),) + crop]
    return out if bias_column is None else out + bias_column


def _torch_backward(
    geometry: ConvGeometry,
    input: np.ndarray,
    weight: np.ndarray,
    kernels_shape: tuple[int, ...],
    dy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PyTorch autograd's gradients (input, weight as K's rows, bias) for one sample.

    ``input`` and ``weight`` are the sample's float64 arrays, channels first; ``kernels_shape``
    the shape of K, ``(G, cout, cin*K)``.
    """
    torch = _torch_available()
    window = geometry.window
    functional = torch.nn.functional
    x = torch.tensor(input[None], requires_grad=True)
    w = torch.tensor(weight, requires_grad=True)
    b = torch.zeros(geometry.out_channels, dtype=torch.float64, requires_grad=True)
    pads = [p for pair in reversed(window.padding) for p in pair]
    mode = {"zeros": "constant"}.get(window.padding_mode, window.padding_mode)
    padded = functional.pad(x, pads, mode=mode) if any(pads) else x
    op = getattr(functional, f"conv{window.ndim}d")
    y = _call_torch(
        op, padded, w, b, stride=window.stride, dilation=window.dilation, groups=geometry.groups
    )
    y.backward(torch.from_numpy(dy[None]))
    return x.grad[0].numpy(), w.grad.numpy().reshape(kernels_shape), b.grad.numpy()
