"""The depthwise formulation: one multiply-accumulate per kernel offset, no block-diagonal K.

A depthwise convolution (``groups == in_channels``, one input channel per group) is, in the
im2col picture, a block-diagonal K: each filter sees the one channel of its group, so each
group's product is a ``(C_out/g) x prod(k)`` by ``prod(k) x L`` GEMM, far too small for a BLAS.
Written per kernel offset it is a sum of shifted copies of the input, each scaled per channel:

    ``y[n, c, j] = Σ_o  w[c·m + j, 0, o] · x_padded[n, c, o·dilation + stride·(output position)]``

so the forward pass is ``prod(k)`` multiply-adds over the output, each on a strided view of the
padded input (no P at all).  The backward pass keeps the seed's shape: ``dK`` is the sum over
positions of dY times the rows of P, and ``dX`` is the fold of the per-offset products
``w_o · dY``; both use the library's one unfold and one fold, on chunks.

Work goes in chunks of (images, channels) sized to the caches, spread over convmm's threads;
each thread's buffers count against ``max_workspace_bytes``.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ._errors import ConvmmValueError
from ._geometry import ConvGeometry, Window
from ._im2col import fold_into, pad_into, unfold_into
from ._layout import output_array
from ._workspace import buffer, num_threads, run_parallel

__all__ = ["applies", "backward", "blocks", "forward", "workspace_per_channel"]

#: The workspace one chunk aims at (per thread).
CHUNK_BYTES = 2 * 2**20

_Block = tuple[tuple[int, int], tuple[int, int]]  # (images, channels)


def applies(geometry: ConvGeometry) -> str | None:
    """None when the depthwise formulation serves this geometry; else why not."""
    if geometry.in_channels_per_group != 1:
        return (
            f"needs one input channel per group (groups == in_channels); this layer has "
            f"{geometry.in_channels_per_group} per group"
        )
    return None


def _logical(a: np.ndarray, geometry: ConvGeometry, channels: int) -> np.ndarray:
    """A batched array as ``(N, C, channels/C, *spatial)`` with C = in_channels (a view)."""
    c = geometry.in_channels
    if geometry.channels_last:
        a = a.reshape(*a.shape[:-1], c, channels // c)
        return np.moveaxis(a, (-2, -1), (1, 2))
    return a.reshape(a.shape[0], c, channels // c, *a.shape[2:])


def _flat(window: Window) -> tuple[int, int, list[int]] | None:
    """(flat padded size with slack, flat output length, flat offset per kernel offset).

    At stride 1 a kernel offset shifts the whole flattened padded input by one constant, so
    each offset's view is one long contiguous run (fast ufunc loops) over the output's rows
    at the padded width; the columns past the output width are cropped at the end.  None at
    other strides.
    """
    if any(s != 1 for s in window.stride):
        return None
    padded = window.padded_shape
    steps = [math.prod(padded[d + 1 :]) for d in range(window.ndim)]
    offsets = [
        sum(o * d * step for o, d, step in zip(offset, window.dilation, steps, strict=True))
        for offset in itertools.product(*(range(k) for k in window.kernel_size))
    ]
    length = window.output_shape[0] * steps[0]
    return max(max(offsets) + length, math.prod(padded)), length, offsets


def workspace_per_channel(geometry: ConvGeometry, itemsize: int, backward: bool) -> int:
    """Bytes of the buffers of one channel of one image (forward, or both gradients)."""
    window = geometry.window
    m = geometry.out_channels_per_group
    padded, out = math.prod(window.padded_shape), window.num_positions
    if backward:  # P rows of one channel, dP of the same size, a dY copy; fold slabs
        return (2 * window.kernel_numel * out + m * out + 2 * padded) * itemsize
    # a gathered slab (non-zero modes) in the input's dtype, converted: counted twice
    flat = _flat(window)
    if flat is not None:  # the flat padded input, the slab, product, accumulator
        return (flat[0] + 2 * padded + 2 * m * flat[1]) * itemsize
    return (2 * padded + 2 * m * out) * itemsize  # padded input and its slab, product, sum


def blocks(geometry: ConvGeometry, per_channel: int, budget: int, func: str) -> list[_Block]:
    """The (images, channels) blocks of the work; each thread's buffers hold one at a time."""
    threads = num_threads() if PARALLEL else 1
    limit = min(CHUNK_BYTES, budget // threads)
    if per_channel > budget // threads:
        raise ConvmmValueError(
            f"{func}: max_workspace_bytes={budget} is too small for algorithm='depthwise': "
            f"one channel of one image needs {per_channel * threads} bytes; give at least "
            f"that or use algorithm='im2col'"
        )
    c, n = geometry.in_channels, geometry.batch
    channels = max(1, min(c, limit // max(per_channel, 1)))
    images = max(1, min(n, limit // max(per_channel * c, 1))) if channels == c else 1
    return [
        ((b, min(b + images, n)), (k, min(k + channels, c)))
        for b in range(0, n, images)
        for k in range(0, c, channels)
    ]


#: Whether the blocks go over convmm's threads.  Measured on 2-core VMs, two threads of short
#: ufunc calls were slower than one (the GIL changes hands between every call), so no.
PARALLEL = False


def _spread(parts: list[_Block], work: Callable[[_Block], None]) -> None:
    """Run ``work(block)`` for every block, dealt round-robin over the threads (if PARALLEL)."""
    threads = min(num_threads() if PARALLEL else 1, len(parts))

    def task(share: list[_Block]) -> Callable[[], None]:
        def run() -> None:
            for block in share:
                work(block)

        return run

    run_parallel([task(parts[i::threads]) for i in range(threads)])


def _padded(x: np.ndarray, window: Window, dtype: np.dtype[Any]) -> np.ndarray:
    """The padded input of a block ``(n, c, 1, *spatial)``, in ``dtype`` (a reused buffer)."""
    shape = x.shape[: -window.ndim] + window.padded_shape
    padded = buffer(math.prod(shape), dtype, "depthwise-padded").reshape(shape)
    pad_into(x, window, padded)
    return padded


def _offset_view(padded: np.ndarray, window: Window, offset: tuple[int, ...]) -> np.ndarray:
    index = tuple(
        slice(o * d, o * d + (n - 1) * s + 1, s)
        for o, d, s, n in zip(
            offset, window.dilation, window.stride, window.output_shape, strict=True
        )
    )
    view: np.ndarray = padded[(Ellipsis,) + index]
    return view


def forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    geometry: ConvGeometry,
    *,
    out_dtype: np.dtype[Any],
    dtype: np.dtype[Any],
    budget: int,
    func: str,
) -> np.ndarray:
    """``y = Σ_o w_o · shift_o(x) + b`` for a batched ``x``; ``y`` in ``out_dtype``."""
    window = geometry.window
    c, m, nd = geometry.in_channels, geometry.out_channels_per_group, window.ndim
    spatial = window.output_shape
    cout = geometry.out_channels
    y = output_array(geometry, x.shape[0], spatial, cout, out_dtype, func)
    source, target = _logical(x, geometry, c), _logical(y, geometry, cout)
    weights = np.asarray(w, dtype=dtype).reshape(c, m, window.kernel_numel)
    ones = (1,) * nd
    bias = None if b is None else np.asarray(b, dtype=dtype).reshape(c, m, *ones)
    per_channel = workspace_per_channel(geometry, dtype.itemsize, backward=False)
    offsets = list(itertools.product(*(range(k) for k in window.kernel_size)))
    direct = y.dtype == dtype

    flat = _flat(window)

    def work_flat(block: _Block) -> None:
        if flat is None:  # pragma: no cover - chosen below
            return
        (b0, b1), (c0, c1) = block
        size, length, shifts = flat
        n, cc = b1 - b0, c1 - c0
        data = buffer(n * cc * size, dtype, "depthwise-flat").reshape(n, cc, 1, size)
        grid = math.prod(window.padded_shape)
        data[..., grid:] = 0  # the slack read by the cropped columns only
        padded = data[..., :grid].reshape(n, cc, 1, *window.padded_shape)
        padded[...] = _padded(source[b0:b1, c0:c1], window, dtype)
        shape = (n, cc, m, length)
        acc = buffer(math.prod(shape), dtype, "depthwise-acc").reshape(shape)
        step = buffer(math.prod(shape), dtype, "depthwise-step").reshape(shape)
        for i, shift in enumerate(shifts):
            w_o = weights[c0:c1, :, i].reshape(cc, m, 1)
            view = data[..., shift : shift + length]
            if i == 0:
                np.multiply(view, w_o, out=acc)
            else:
                np.multiply(view, w_o, out=step)
                acc += step
        if bias is not None:  # in the compute dtype, before the one rounding to the output's
            acc += bias[c0:c1].reshape(cc, m, 1)
        rows = acc.reshape(n, cc, m, window.output_shape[0], *window.padded_shape[1:])
        crop = tuple(slice(0, size) for size in window.output_shape[1:])
        target[b0:b1, c0:c1] = rows[(Ellipsis,) + crop]

    def work(block: _Block) -> None:
        (b0, b1), (c0, c1) = block
        padded = _padded(source[b0:b1, c0:c1], window, dtype)
        out = target[b0:b1, c0:c1]
        acc_shape = out.shape
        acc = (
            out
            if direct
            else buffer(math.prod(acc_shape), dtype, "depthwise-acc").reshape(acc_shape)
        )
        step = buffer(math.prod(acc_shape), dtype, "depthwise-step").reshape(acc_shape)
        for i, offset in enumerate(offsets):
            w_o = weights[c0:c1, :, i].reshape(c1 - c0, m, *ones)
            if i == 0:
                np.multiply(_offset_view(padded, window, offset), w_o, out=acc)
            else:
                np.multiply(_offset_view(padded, window, offset), w_o, out=step)
                acc += step
        if bias is not None:
            acc += bias[c0:c1]
        if acc is not out:
            out[...] = acc

    _spread(blocks(geometry, per_channel, budget, func), work if flat is None else work_flat)
    return y


def backward(
    x: np.ndarray | None,
    dy: np.ndarray,
    w: np.ndarray,
    geometry: ConvGeometry,
    *,
    dtype: np.dtype[Any],
    budget: int,
    func: str,
    needs_input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(dx, dK)`` in the compute dtype: dK when ``x`` is given, dx when asked for."""
    window = geometry.window
    c, m = geometry.in_channels, geometry.out_channels_per_group
    cout = geometry.out_channels
    kernel = window.kernel_size
    dx = None
    if needs_input_grad:
        dx = output_array(geometry, dy.shape[0], window.input_shape, c, dtype, func, zeros=True)
    grads = _logical(dy, geometry, cout)  # (N, C, m, *out)
    inputs = None if x is None else _logical(x, geometry, c)  # (N, C, 1, *in)
    targets = None if dx is None else _logical(dx, geometry, c)
    weights = np.asarray(w, dtype=dtype).reshape(c, m, *kernel)
    dk = None if x is None else np.zeros((c, m, window.kernel_numel), dtype=dtype)
    per_channel = workspace_per_channel(geometry, dtype.itemsize, backward=True)
    parts = blocks(geometry, per_channel, budget, func)
    out_positions = window.num_positions
    # dK sums over images: each thread keeps its own sum (by thread id), added up at the end.
    partial: dict[int, np.ndarray] = {}

    def work(block: _Block) -> None:
        (b0, b1), (c0, c1) = block
        n, cc = b1 - b0, c1 - c0
        grad = np.asarray(grads[b0:b1, c0:c1], dtype=dtype)  # (n, cc, m, *out)
        cols_shape = (n, cc, *kernel, *window.output_shape)
        cols = buffer(math.prod(cols_shape), dtype, "depthwise-cols").reshape(cols_shape)
        if inputs is not None and dk is not None:
            unfold_into(inputs[b0:b1, c0:c1, 0], window, cols, (0, window.output_shape[0]))
            flat = cols.reshape(n, cc, -1, out_positions)
            part = np.einsum("ncjl,nckl->cjk", grad.reshape(n, cc, m, -1), flat)
            mine = partial.setdefault(threading.get_ident(), np.zeros_like(dk))
            mine[c0:c1] += part
        if targets is not None:
            # dP rows: w_o · dY summed over the channel's m filters, one offset at a time
            np.einsum(
                "cj...,ncjl->nc...l",
                weights[c0:c1],
                grad.reshape(n, cc, m, -1),
                out=cols.reshape(n, cc, *kernel, out_positions),
            )
            fold_into(cols, window, targets[b0:b1, c0:c1, 0])

    _spread(parts, work)
    if dk is not None:
        for value in partial.values():
            dk += value
        dk_out = dk.reshape(cout, 1, *kernel)
    else:
        dk_out = None
    return dx, dk_out
