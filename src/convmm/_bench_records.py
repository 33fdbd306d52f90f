"""The records of a benchmark: the layers measured (:class:`Layer`), one candidate's measurement
on one layer (:class:`Record`) and a whole run's (:class:`Report`).

Plain data, with no measuring: :mod:`convmm.bench` (which re-exports them),
:mod:`convmm._bench_candidates` and :mod:`convmm._bench_report` all read them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["KINDS", "Layer", "Record", "Report"]

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
