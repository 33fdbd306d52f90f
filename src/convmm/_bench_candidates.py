"""The candidates of a benchmark: every implementation of a layer that :func:`convmm.bench.run`
times, as zero-argument calls on arrays made once (:func:`candidates_for`):

- ``convmm`` (the default plan) and ``convmm[NAME]`` for each formulation forced with
  ``algorithm=NAME``;
- ``torch`` (``torch.nn.functional``; autograd for the backward pass) when PyTorch is installed;
- ``onnxruntime`` (a one-node Conv model) when onnxruntime and onnx are installed;
- ``gemm``: the bare matrix products of the same layer on preallocated operands (K·P forward;
  dY·Pᵀ and Kᵀ·dY backward; Kᵀ·X transposed): the limit of the im2col technique;
- ``naive``: a straightforward NumPy im2col (``sliding_window_view``, one copy, one matmul; the
  backward folds offset by offset).

The NumPy baselines compute float16 in float32, as convmm does (:func:`_baseline_arrays`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._bench_records import Layer
from ._errors import ConvmmValueError
from ._workspace import num_threads

__all__ = ["Candidate", "candidates_for"]


@dataclass
class _Arrays:
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    dy: np.ndarray | None


def _baseline_arrays(layer: Layer, a: _Arrays) -> _Arrays:
    """The arrays of the NumPy baselines: float16 computed in float32, as convmm does."""
    if layer.dtype != "float16":
        return a
    dy = None if a.dy is None else a.dy.astype(np.float32)
    return _Arrays(a.x.astype(np.float32), a.w.astype(np.float32), a.b.astype(np.float32), dy)


def _arrays(layer: Layer, seed: int = 0) -> _Arrays:
    rng = np.random.default_rng(seed)
    dtype = np.dtype(layer.dtype)
    x = rng.standard_normal(layer.input_shape, dtype=np.float32).astype(dtype)
    fan_in = math.prod(layer.weight_shape[1:])
    w = (rng.standard_normal(layer.weight_shape, dtype=np.float32) / math.sqrt(fan_in)).astype(
        dtype
    )
    out_channels = (
        layer.weight_shape[1] * layer.groups if layer.kind == "transpose" else layer.weight_shape[0]
    )
    b = rng.standard_normal(out_channels, dtype=np.float32).astype(dtype)
    dy = None
    if layer.kind == "backward":
        out_shape = (layer.input_shape[0], out_channels, *layer.output_spatial())
        dy = rng.standard_normal(out_shape, dtype=np.float32).astype(dtype)
    if layer.channels_last:
        x = np.ascontiguousarray(np.moveaxis(x, 1, -1))
        dy = None if dy is None else np.ascontiguousarray(np.moveaxis(dy, 1, -1))
    return _Arrays(x, w, b, dy)


def _grad_output(layer: Layer, a: _Arrays) -> np.ndarray:
    """The backward layer's dY (made by :func:`_arrays` for ``kind='backward'`` only)."""
    if a.dy is None:
        raise ConvmmValueError(
            f"convmm.bench: layer {layer.name!r} has no grad_output; only kind='backward' "
            f"layers do, and this one is kind={layer.kind!r}"
        )
    return a.dy


Candidate = Callable[[], object]


def _convmm_candidates(layer: Layer, a: _Arrays) -> dict[str, Candidate]:
    import convmm

    from ._plan_call import algorithms_for

    options = dict(layer.options, channels_last=layer.channels_last)
    op = {"forward": "conv", "backward": "conv_backward", "transpose": "conv_transpose"}[layer.kind]

    def call(algorithm: str) -> Candidate:
        if layer.kind == "forward":
            return lambda: convmm.conv(a.x, a.w, a.b, **options, algorithm=algorithm)
        if layer.kind == "backward":
            return lambda: convmm.conv_backward(a.dy, a.x, a.w, **options, algorithm=algorithm)
        return lambda: convmm.conv_transpose(a.x, a.w, a.b, **options, algorithm=algorithm)

    found: dict[str, Candidate] = {"convmm": call("auto")}
    for name in algorithms_for(op, a.x, a.w, **options):
        found[f"convmm[{name}]"] = call(name)
    if len(found) == 2:  # one formulation only: "convmm" says it all
        found = {"convmm": found["convmm"]}
    return found


def _padded(x: np.ndarray, layer: Layer) -> np.ndarray:
    pad = [(0, 0), (0, 0)] + [(layer.padding, layer.padding)] * layer.rank
    return np.pad(x, pad) if layer.padding else x


def _naive_patches(x: np.ndarray, layer: Layer) -> np.ndarray:
    """P of a channels-first x, ``(N, g, C_in/g · prod(k), L)``, by sliding_window_view."""
    from numpy.lib.stride_tricks import sliding_window_view

    rank, k, s, d = layer.rank, layer.weight_shape[2:], layer.stride, layer.dilation
    spans = tuple(d * (kk - 1) + 1 for kk in k)
    axes = tuple(range(2, 2 + rank))
    view = sliding_window_view(_padded(x, layer), spans, axis=axes)
    view = view[(Ellipsis,) + tuple(slice(None, None, d) for _ in k)]
    view = view[(slice(None), slice(None)) + tuple(slice(None, None, s) for _ in k)]
    n, c = x.shape[:2]
    order = (0, 1, *range(2 + rank, 2 + 2 * rank), *range(2, 2 + rank))
    p: np.ndarray = view.transpose(order)
    return p.reshape(n, layer.groups, c // layer.groups * math.prod(k), -1)


def _naive_candidates(layer: Layer, a: _Arrays) -> dict[str, Candidate]:
    """The ten-line NumPy im2col and the bare GEMM of the same products."""
    if layer.kind == "transpose":
        return _transpose_baselines(layer, a)
    if layer.channels_last:
        return _channels_last_baselines(layer, a) if layer.kind == "forward" else {}
    g = layer.groups
    cout = layer.weight_shape[0]
    k = a.w.reshape(g, cout // g, -1)
    n = layer.input_shape[0]

    bias = a.b.reshape(1, layer.groups, -1, 1)

    def naive() -> object:  # with the bias, as convmm, torch and onnxruntime are timed
        p = _naive_patches(a.x, layer)
        y = np.matmul(k, p)
        y += bias
        return y.reshape(n, cout, *layer.output_spatial())

    p = np.ascontiguousarray(_naive_patches(a.x, layer))
    p_flat = np.ascontiguousarray(p.transpose(1, 2, 0, 3).reshape(g, p.shape[2], -1))
    y_flat = np.empty((g, cout // g, p_flat.shape[-1]), dtype=p.dtype)

    def gemm() -> object:
        return np.matmul(k, p_flat, out=y_flat)

    if layer.kind == "forward":
        return {"gemm": gemm, "naive": naive}
    dy = _grad_output(layer, a)
    dy_flat = np.ascontiguousarray(
        dy.reshape(n, g, cout // g, -1).transpose(1, 2, 0, 3).reshape(g, cout // g, -1)
    )
    kt = np.ascontiguousarray(k.transpose(0, 2, 1))
    dk = np.empty_like(k)
    dp = np.empty_like(p_flat)

    def gemm_backward() -> object:
        np.matmul(dy_flat, p_flat.transpose(0, 2, 1), out=dk)
        return np.matmul(kt, dy_flat, out=dp)

    def naive_backward() -> object:
        p = _naive_patches(a.x, layer)
        grad = dy.reshape(n, g, cout // g, -1)
        dk = np.matmul(grad, p.transpose(0, 1, 3, 2)).sum(axis=0)
        dp = np.matmul(k.transpose(0, 2, 1), grad)
        return dk, _naive_fold(dp, layer), dy.sum(axis=(0, *range(2, dy.ndim)))

    return {"gemm": gemm_backward, "naive": naive_backward}


def _channels_last_baselines(layer: Layer, a: _Arrays) -> dict[str, Candidate]:
    """NHWC: the naive im2col reads P through a moved-axis view; the GEMM is Pᵀ·Kᵀ."""
    g, cout = layer.groups, layer.weight_shape[0]
    k = a.w.reshape(g, cout // g, -1)
    n = layer.input_shape[0]

    def naive() -> object:
        p = _naive_patches(np.moveaxis(a.x, -1, 1), layer)
        y = np.matmul(k, p).reshape(n, cout, -1)
        out = np.moveaxis(y, 1, -1).reshape(n, *layer.output_spatial(), cout)
        return out + a.b

    p = _naive_patches(np.moveaxis(a.x, -1, 1), layer)
    pt = np.ascontiguousarray(p.transpose(1, 0, 3, 2).reshape(g, -1, p.shape[2]))
    kt = np.ascontiguousarray(k.transpose(0, 2, 1))
    out = np.empty((g, pt.shape[1], cout // g), dtype=pt.dtype)

    def gemm() -> object:
        return np.matmul(pt, kt, out=out)

    return {"gemm": gemm, "naive": naive}


def _naive_fold(dp: np.ndarray, layer: Layer) -> np.ndarray:
    """The plain col2im: one strided ``+=`` per kernel offset into a padded array, then crop."""
    kernel, s, d, pad = (
        layer.weight_shape[2:],
        layer.stride,
        layer.dilation,
        layer.padding,
    )
    n, c = dp.shape[0], dp.shape[1] * dp.shape[2] // math.prod(kernel)
    out = layer.output_spatial() if layer.kind != "transpose" else layer.input_shape[2:]
    cols = dp.reshape(n, c, *kernel, *out)
    spatial = layer.input_shape[2:] if layer.kind != "transpose" else layer.output_spatial()
    full = np.zeros((n, c, *(m + 2 * pad for m in spatial)), dtype=dp.dtype)
    for offset in np.ndindex(*kernel):
        index = tuple(
            slice(o * d, o * d + (m - 1) * s + 1, s) for o, m in zip(offset, out, strict=True)
        )
        full[(slice(None), slice(None)) + index] += cols[(slice(None), slice(None)) + offset]
    crop = tuple(slice(pad, pad + m) for m in spatial)
    folded: np.ndarray = full[(slice(None), slice(None)) + crop]
    return folded


def _transpose_baselines(layer: Layer, a: _Arrays) -> dict[str, Candidate]:
    g = layer.groups
    cin = layer.weight_shape[0]
    kt = np.ascontiguousarray(
        a.w.reshape(g, cin // g, -1).transpose(0, 2, 1)
    )  # (g, cout/g · prod(k), cin/g)
    n = layer.input_shape[0]
    x_flat = np.ascontiguousarray(
        a.x.reshape(n, g, cin // g, -1).transpose(1, 2, 0, 3).reshape(g, cin // g, -1)
    )
    out = np.empty((g, kt.shape[1], x_flat.shape[-1]), dtype=a.x.dtype)

    def gemm() -> object:
        return np.matmul(kt, x_flat, out=out)

    def naive() -> object:
        cols = np.matmul(kt, a.x.reshape(n, g, cin // g, -1))
        return _naive_fold(cols, layer) + a.b.reshape(-1, *([1] * layer.rank))

    return {"gemm": gemm, "naive": naive}


def _torch_candidates(layer: Layer, a: _Arrays, threads: int) -> dict[str, Candidate]:
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return {}
    torch.set_num_threads(threads)

    def tensor(array: np.ndarray) -> Any:
        if layer.channels_last:
            array = np.moveaxis(array, -1, 1)
            return torch.from_numpy(np.ascontiguousarray(array)).contiguous(
                memory_format=torch.channels_last if layer.rank == 2 else torch.contiguous_format
            )
        return torch.from_numpy(np.ascontiguousarray(array))

    half = layer.dtype == "float16"
    x, w, b = tensor(a.x), torch.from_numpy(a.w), torch.from_numpy(a.b)
    if half:  # torch's CPU half convolution is not what a user would run: time it in float32
        x, w, b = x.float(), w.float(), b.float()
    options = layer.options
    if layer.kind == "transpose":
        up: Any = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[layer.rank - 1]
        return {"torch": lambda: up(x, w, b, **_torch_transpose_options(options))}
    op: Any = (F.conv1d, F.conv2d, F.conv3d)[layer.rank - 1]
    if layer.kind == "forward":
        return {"torch": lambda: op(x, w, b, **options)}
    xg, wg, bg = (t.detach().clone().requires_grad_(True) for t in (x, w, b))
    y = op(xg, wg, bg, **options)
    dy = tensor(_grad_output(layer, a))
    dy = dy.float() if half else dy

    def backward() -> object:
        return torch.autograd.grad(y, (xg, wg, bg), dy, retain_graph=True)

    return {"torch": backward}


def _torch_transpose_options(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "stride": options["stride"],
        "padding": options["padding"],
        "groups": options["groups"],
        "dilation": options["dilation"],
    }


def _onnx_candidates(layer: Layer, a: _Arrays, threads: int) -> dict[str, Candidate]:
    if layer.kind != "forward" or layer.channels_last or layer.dtype == "float16":
        return {}
    try:
        import onnx
        import onnxruntime  # type: ignore[import-untyped]
        from onnx import TensorProto, helper
    except ImportError:
        return {}
    elem = TensorProto.DOUBLE if layer.dtype == "float64" else TensorProto.FLOAT
    rank = layer.rank
    node = helper.make_node(
        "Conv",
        ["x", "w", "b"],
        ["y"],
        strides=[layer.stride] * rank,
        pads=[layer.padding] * (2 * rank),
        dilations=[layer.dilation] * rank,
        group=layer.groups,
    )
    out_channels = layer.weight_shape[0]
    graph = helper.make_graph(
        [node],
        "conv",
        [
            helper.make_tensor_value_info("x", elem, list(a.x.shape)),
            helper.make_tensor_value_info("w", elem, list(a.w.shape)),
            helper.make_tensor_value_info("b", elem, [out_channels]),
        ],
        [helper.make_tensor_value_info("y", elem, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 9)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except Exception:
        return {}
    feeds = {"x": a.x, "w": a.w, "b": a.b}
    del onnx
    return {"onnxruntime": lambda: session.run(None, feeds)}


def candidates_for(layer: Layer, threads: int | None = None) -> dict[str, Candidate]:
    """Every candidate that applies to ``layer``, as zero-argument calls (arrays made here)."""
    threads = threads or num_threads()
    a = _arrays(layer)
    found: dict[str, Candidate] = {}
    found.update(_convmm_candidates(layer, a))
    found.update(_torch_candidates(layer, a, threads))
    found.update(_onnx_candidates(layer, a, threads))
    found.update(_naive_candidates(layer, _baseline_arrays(layer, a)))
    return found
