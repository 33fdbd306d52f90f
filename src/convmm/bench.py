"""Benchmarks: convmm against the alternatives, measured side by side in one process.

:func:`run` times each layer of a suite with every candidate that applies to it:

- ``convmm`` (the default plan) and ``convmm[NAME]`` for each formulation forced with
  ``algorithm=NAME``;
- ``torch`` (``torch.nn.functional``; autograd for the backward pass) when PyTorch is installed;
- ``onnxruntime`` (a one-node Conv model) when onnxruntime and onnx are installed;
- ``gemm``: the bare matrix products of the same layer on preallocated operands (K·P forward;
  dY·Pᵀ and Kᵀ·dY backward; Kᵀ·X transposed): the limit of the im2col technique;
- ``naive``: a straightforward NumPy im2col (``sliding_window_view``, one copy, one matmul; the
  backward folds offset by offset).

Measurement: every round visits the candidates in turn (A B C A B C ...), and each candidate is
warmed up right before its timed sample, so that slow drifts of a shared machine hit all of them
alike; a sample repeats the call until it lasts at least ``min_sample_seconds``.  The record is
the median over rounds, with the fastest and slowest round as its spread.  The BLAS, torch,
onnxruntime and convmm's own threads are all set to the same count.  Peak extra memory is
measured once per NumPy candidate with tracemalloc (outside the timed samples).

This module measures and returns records; printing, plotting and JSON are the command line's
(``convmm bench``) and :mod:`convmm._bench_report`'s.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ._errors import ConvmmValueError
from ._workspace import num_threads, set_num_threads

__all__ = ["KINDS", "Layer", "Record", "Report", "candidates_for", "run", "suite"]

#: What a layer measures: the convolution, its backward pass (dx, dW, db), or the transposed
#: convolution.
KINDS = ("forward", "backward", "transpose")


@dataclass(frozen=True)
class Layer:
    """One benchmarked layer.

    ``input_shape`` is always channels-first ``(N, C_in, *spatial)``; ``channels_last`` measures
    the same layer with NHWC arrays.  For ``kind='transpose'`` the weight is PyTorch's
    transposed layout ``(C_in, C_out/groups, *kernel)``.
    """

    name: str
    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    kind: str = "forward"
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    dtype: str = "float32"
    channels_last: bool = False

    @property
    def options(self) -> dict[str, Any]:
        """The convolution options of :func:`convmm.conv` (or ``conv_transpose``)."""
        return {
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "groups": self.groups,
        }

    @property
    def rank(self) -> int:
        return len(self.weight_shape) - 2

    def output_spatial(self) -> tuple[int, ...]:
        k, s, p, d = self.weight_shape[2:], self.stride, self.padding, self.dilation
        spatial = self.input_shape[2:]
        if self.kind == "transpose":
            return tuple(
                (n - 1) * s - 2 * p + d * (kk - 1) + 1 for n, kk in zip(spatial, k, strict=True)
            )
        return tuple(
            (n + 2 * p - d * (kk - 1) - 1) // s + 1 for n, kk in zip(spatial, k, strict=True)
        )

    @property
    def flops(self) -> int:
        """Multiply-adds times 2 of the convolution (x 2 again for the backward's two products)."""
        n = self.input_shape[0]
        if self.kind == "transpose":
            positions = math.prod(self.input_shape[2:])
            per = self.weight_shape[1] * math.prod(self.weight_shape[2:])
            return 2 * n * positions * self.weight_shape[0] * per
        per = self.weight_shape[1] * math.prod(self.weight_shape[2:])
        flops = 2 * n * math.prod(self.output_spatial()) * self.weight_shape[0] * per
        return 2 * flops if self.kind == "backward" else flops

    def describe(self) -> str:
        """``N, C_in, H×W → C_out, k, stride, pad`` in words short enough for a table."""
        spatial = "×".join(map(str, self.input_shape[2:]))
        kernel = "×".join(map(str, self.weight_shape[2:]))
        out = (
            self.weight_shape[1] * self.groups if self.kind == "transpose" else self.weight_shape[0]
        )
        text = f"{self.input_shape[0]}, {self.input_shape[1]}, {spatial} → {out}, k{kernel}"
        extras = [f"s{self.stride}" if self.stride != 1 else "", f"p{self.padding}"]
        extras += [f"d{self.dilation}" if self.dilation != 1 else ""]
        extras += [f"g{self.groups}" if self.groups != 1 else ""]
        return text + ", " + " ".join(e for e in extras if e)


@dataclass(frozen=True)
class Record:
    """The measurement of one candidate on one layer (times in seconds per call)."""

    layer: str
    kind: str
    candidate: str
    median: float
    fastest: float
    slowest: float
    rounds: int
    calls_per_sample: int
    gflops: float
    peak_bytes: int | None = None
    ratio_torch: float | None = None
    ratio_gemm: float | None = None
    first_call: float | None = None
    note: str = ""


@dataclass
class Report:
    """The machine, the settings and the records of one :func:`run`."""

    machine: dict[str, Any]
    settings: dict[str, Any]
    layers: list[Layer] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "machine": self.machine,
            "settings": self.settings,
            "layers": [asdict(layer) | {"describe": layer.describe()} for layer in self.layers],
            "records": [asdict(record) for record in self.records],
        }


# ---- the suite ------------------------------------------------------------------------------


def _seed_layers() -> list[Layer]:
    from .examples import SEED_EXAMPLES

    layers = []
    for example in SEED_EXAMPLES:
        options = example.options
        layers.append(
            Layer(
                f"article-{example.name}",
                tuple(example.input.shape),
                tuple(example.weight.shape),
                stride=int(np.max(options.get("stride", 1))),
                padding=int(np.max(options.get("padding", 0))),
                dtype="float64",
            )
        )
    return layers


def suite(quick: bool = False) -> list[Layer]:
    """The default layers: the article's examples, ResNet-style and other layer kinds.

    ``quick`` keeps one layer of each family at batch 2 (about a minute in all).
    """
    n = 2 if quick else 8
    f = [
        Layer("resnet-56", (n, 64, 56, 56), (64, 64, 3, 3), padding=1),
        Layer("resnet-28", (n, 128, 28, 28), (128, 128, 3, 3), padding=1),
        Layer("resnet-14", (n, 256, 14, 14), (256, 256, 3, 3), padding=1),
        Layer("resnet-7", (n, 512, 7, 7), (512, 512, 3, 3), padding=1),
        Layer("1x1", (n, 64, 56, 56), (256, 64, 1, 1)),
        Layer("1x1-s2", (n, 256, 56, 56), (128, 256, 1, 1), stride=2),
        Layer("stem-7x7-s2", (n, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3),
        Layer("5x5", (n, 64, 28, 28), (64, 64, 5, 5), padding=2),
        Layer("depthwise-3x3", (n, 128, 56, 56), (128, 1, 3, 3), padding=1, groups=128),
        Layer("grouped-3x3-g8", (n, 128, 28, 28), (128, 16, 3, 3), padding=1, groups=8),
        Layer("dilated-3x3-d2", (n, 128, 28, 28), (128, 128, 3, 3), padding=2, dilation=2),
        Layer("1d-k9", (n, 64, 4096), (64, 64, 9), padding=4),
        Layer("3d-3x3x3", (max(1, n // 4), 32, 16, 16, 16), (32, 32, 3, 3, 3), padding=1),
        Layer("resnet-28-f64", (n, 128, 28, 28), (128, 128, 3, 3), padding=1, dtype="float64"),
        Layer("resnet-28-f16", (n, 128, 28, 28), (128, 128, 3, 3), padding=1, dtype="float16"),
        Layer("resnet-28-nhwc", (n, 128, 28, 28), (128, 128, 3, 3), padding=1, channels_last=True),
    ]
    backward = [
        replace(layer, name=layer.name + "-bwd", kind="backward")
        for layer in f
        if layer.name
        in {"resnet-56", "resnet-28", "resnet-14", "resnet-7", "1x1", "1x1-s2", "stem-7x7-s2"}
        | {"5x5", "depthwise-3x3"}
    ]
    transpose = [
        Layer(
            "up-4x4-s2", (n, 128, 28, 28), (128, 64, 4, 4), kind="transpose", stride=2, padding=1
        ),
        Layer("transpose-3x3", (n, 64, 28, 28), (64, 64, 3, 3), kind="transpose", padding=1),
    ]
    if quick:
        keep = {"resnet-28", "1x1", "stem-7x7-s2", "depthwise-3x3", "1d-k9", "3d-3x3x3"}
        f = [layer for layer in f if layer.name in keep]
        backward = [layer for layer in backward if layer.name in {"resnet-28-bwd"}]
        transpose = transpose[:1]
        return f + backward + transpose
    return _seed_layers() + f + backward + transpose


# ---- candidates -----------------------------------------------------------------------------


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
    dy = a.dy
    assert dy is not None
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
    assert a.dy is not None
    dy = tensor(a.dy)
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


# ---- measuring ------------------------------------------------------------------------------


@contextmanager
def _threads(threads: int) -> Iterator[None]:
    """The BLAS (threadpoolctl), convmm and torch all at ``threads`` threads."""
    previous = set_num_threads(threads)
    limits = None
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        limits = threadpool_limits(limits=threads)
    except ImportError:
        pass
    try:
        yield
    finally:
        set_num_threads(previous)
        if limits is not None:
            limits.restore_original_limits()


def _warm_up(call: Candidate, seconds: float) -> None:
    start = time.perf_counter()
    call()
    while time.perf_counter() - start < seconds:
        call()


def _sample(call: Candidate, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls


def _peak(call: Candidate) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - base
        del result
    finally:
        tracemalloc.stop()
    return int(peak)


def machine_info(threads: int) -> dict[str, Any]:
    """The CPU, core count, library versions and BLAS of this process."""
    info: dict[str, Any] = {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for p in threadpool_info()
            if p.get("user_api") == "blas"
        ]
    except ImportError:
        info["blas"] = "unknown (threadpoolctl is not installed)"
    for name in ("torch", "onnxruntime"):
        try:
            module = __import__(name)
            info[name] = module.__version__
        except ImportError:
            info[name] = None
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run(
    layers: Sequence[Layer] | None = None,
    *,
    rounds: int = 5,
    threads: int | None = None,
    quick: bool = False,
    only: Sequence[str] | None = None,
    min_sample_seconds: float = 0.02,
    warmup_seconds: float = 0.15,
    memory: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
) -> Report:
    """Measure every candidate on every layer; return the records.

    Parameters
    ----------
    layers : sequence of Layer, optional
        Default :func:`suite` (``quick`` picks the quick one).
    rounds : int
        Interleaved rounds; each record is the median over them.
    threads : int, optional
        Threads for every library (default: convmm's, the cores).
    only : sequence of str, optional
        Keep only the layers whose name contains one of these.
    min_sample_seconds : float
        A sample repeats a fast call until it lasts this long.
    warmup_seconds : float
        Each sample is preceded by calls of the same candidate for this long: long enough for
        the previous candidate's idle threads to stop spinning (OpenBLAS and OpenMP spin for
        about 0.1 s after a call, taking the cores from whoever runs next).
    memory : bool
        Measure each NumPy candidate's peak extra memory (tracemalloc, untimed).
    progress : callable, optional
        Called as ``progress(done, total, what)`` after every sample.

    Examples
    --------
    >>> from convmm import bench
    >>> layer = bench.Layer("tiny", (1, 2, 8, 8), (3, 2, 3, 3), padding=1)
    >>> report = bench.run(
    ...     [layer], rounds=1, min_sample_seconds=0, warmup_seconds=0, memory=False
    ... )
    >>> {r.candidate for r in report.records} >= {"convmm", "gemm", "naive"}
    True
    """
    if not isinstance(rounds, int) or rounds < 1:
        raise ConvmmValueError(f"convmm.bench.run: rounds must be a positive int; got {rounds!r}")
    threads = threads or num_threads()
    chosen = list(layers if layers is not None else suite(quick))
    if only:
        chosen = [layer for layer in chosen if any(name in layer.name for name in only)]
        if not chosen:
            raise ConvmmValueError(
                f"convmm.bench.run: no layer matches {list(only)!r}; the layers are "
                f"{', '.join(layer.name for layer in (layers or suite(quick)))}"
            )
    report = Report(
        machine_info(threads),
        {
            "rounds": rounds,
            "threads": threads,
            "min_sample_seconds": min_sample_seconds,
            "warmup_seconds": warmup_seconds,
        },
        chosen,
    )
    with _threads(threads):
        report.machine = machine_info(threads)
        plans = [(layer, candidates_for(layer, threads)) for layer in chosen]
        total = sum(len(c) for _, c in plans) * rounds
        done = 0
        for layer, candidates in plans:
            samples: dict[str, list[float]] = {name: [] for name in candidates}
            calls: dict[str, int] = {}
            first = _first_call(candidates["convmm"]) if "convmm" in candidates else None
            for name, call in candidates.items():  # calibrate: one call, then enough calls
                start = time.perf_counter()
                call()
                once = time.perf_counter() - start
                calls[name] = max(1, min(1000, math.ceil(min_sample_seconds / max(once, 1e-7))))
            for _ in range(rounds):
                for name, call in candidates.items():
                    _warm_up(call, warmup_seconds)  # right before the sample
                    samples[name].append(_sample(call, calls[name]))
                    done += 1
                    if progress is not None:
                        progress(done, total, f"{layer.name}: {name}")
            peaks = {}
            if memory:
                for name, call in candidates.items():
                    if name.startswith(("convmm", "naive")):
                        peaks[name] = _peak(call)
            report.records.extend(_records(layer, samples, calls, peaks, first))
    return report


def _first_call(call: Candidate) -> float:
    """The time of a call of a shape never seen: plans, caches and buffers made afresh."""
    from . import _geometry, _im2col, _plan, _planner, _workspace

    _workspace.clear_buffers()
    _geometry._GEOMETRIES.clear()
    for cached in (_plan._chunks, _planner._choose, _im2col._boxes):
        cached.cache_clear()
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _records(
    layer: Layer,
    samples: dict[str, list[float]],
    calls: dict[str, int],
    peaks: dict[str, int],
    first: float | None = None,
) -> list[Record]:
    medians = {name: float(np.median(times)) for name, times in samples.items()}
    torch_time, gemm_time = medians.get("torch"), medians.get("gemm")
    records = []
    for name, times in samples.items():
        median = medians[name]
        records.append(
            Record(
                layer=layer.name,
                kind=layer.kind,
                candidate=name,
                median=median,
                fastest=float(min(times)),
                slowest=float(max(times)),
                rounds=len(times),
                calls_per_sample=calls[name],
                gflops=layer.flops / median / 1e9 if median > 0 else 0.0,
                peak_bytes=peaks.get(name),
                ratio_torch=median / torch_time if torch_time else None,
                ratio_gemm=median / gemm_time if gemm_time else None,
                first_call=first if name == "convmm" else None,
            )
        )
    return records
