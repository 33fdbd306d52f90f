"""Renderers of a :class:`convmm.bench.Report`: the text table, Markdown, JSON and the plot.

Apart from the measurements they render (``convmm.bench``), so that the benchmark itself never
formats anything.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from typing import Any

from .bench import Layer, Record, Report

__all__ = ["markdown", "save_json", "save_plot", "summary", "table"]

_ORDER = ("convmm", "torch", "onnxruntime", "gemm", "naive")


def _sort_key(name: str) -> tuple[int, str]:
    base = name.split("[", 1)[0]
    return (_ORDER.index(base) if base in _ORDER else len(_ORDER), name)


def _time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}×"


def _bytes(value: int | None) -> str:
    if value is None:
        return ""
    return f"{value / 2**20:.1f} MiB"


def _rows(report: Report) -> list[list[str]]:
    layers = {layer.name: layer for layer in report.layers}
    rows = []
    for layer_name in dict.fromkeys(r.layer for r in report.records):
        records = sorted(
            (r for r in report.records if r.layer == layer_name),
            key=lambda r: _sort_key(r.candidate),
        )
        layer = layers.get(layer_name)
        for i, r in enumerate(records):
            spread = f"{_time(r.fastest)}–{_time(r.slowest)}"
            rows.append(
                [
                    layer_name if i == 0 else "",
                    (layer.describe() if layer else "") if i == 0 else "",
                    r.candidate,
                    _time(r.median),
                    spread,
                    _ratio(r.ratio_torch),
                    _ratio(r.ratio_gemm),
                    f"{r.gflops:.1f}",
                    _bytes(r.peak_bytes),
                ]
            )
    return rows


_HEADER = [
    "layer",
    "shape",
    "candidate",
    "median",
    "spread",
    "/ torch",
    "/ gemm",
    "GFLOP/s",
    "peak extra",
]


def _machine_lines(report: Report) -> list[str]:
    m = report.machine
    blas = m.get("blas")
    if isinstance(blas, list) and blas:
        blas_text = ", ".join(
            f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')})" for b in blas
        )
    else:
        blas_text = str(blas)
    return [
        f"CPU: {m.get('cpu')} ({m.get('cores')} cores), {m.get('threads')} threads for every "
        f"library",
        f"numpy {m.get('numpy')} with {blas_text}; torch {m.get('torch')}; onnxruntime "
        f"{m.get('onnxruntime')}; Python {m.get('python')}",
        f"{report.settings.get('rounds')} interleaved rounds, medians; each candidate warmed up "
        f"right before its sample",
    ]


def table(report: Report) -> str:
    """The records as an aligned text table, with the machine above and the summary below."""
    rows = [_HEADER, *_rows(report)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    lines = _machine_lines(report) + [""]
    for j, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += ["", *summary(report)]
    return "\n".join(lines)


def markdown(report: Report) -> str:
    """The records as a Markdown table (for ``docs/benchmarks/``)."""
    lines = [f"- {line}" for line in _machine_lines(report)] + [""]
    lines.append("| " + " | ".join(_HEADER) + " |")
    lines.append("|" + "---|" * len(_HEADER))
    for row in _rows(report):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    lines += ["", *(f"- {line}" for line in summary(report))]
    return "\n".join(lines) + "\n"


def _geomean(values: Sequence[float]) -> float | None:
    values = [v for v in values if v and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def _convmm(report: Report, kind: str) -> list[Record]:
    return [r for r in report.records if r.kind == kind and r.candidate == "convmm"]


def summary(report: Report) -> list[str]:
    """Geometric means of convmm's ratios per kind, and its worst layer against torch."""
    lines = []
    for kind in ("forward", "backward", "transpose"):
        records = _convmm(report, kind)
        torch_ratio = _geomean([r.ratio_torch for r in records if r.ratio_torch])
        if not records:
            continue
        text = f"{kind}: convmm over {len(records)} layers"
        if torch_ratio is not None:
            worst = max((r for r in records if r.ratio_torch), key=lambda r: r.ratio_torch or 0)
            text += (
                f", geometric mean {torch_ratio:.2f}× torch (worst {worst.layer} "
                f"{worst.ratio_torch:.2f}×)"
            )
        firsts = [r.first_call / r.median for r in records if r.first_call and r.median]
        if firsts:
            text += f", first call of a shape at most {max(firsts):.2f}× a later one"
        naive = {
            r.layer: r.median for r in report.records if r.kind == kind and r.candidate == "naive"
        }
        speedups = [naive[r.layer] / r.median for r in records if r.layer in naive]
        mean = _geomean(speedups)
        if mean is not None:
            text += f", {mean:.2f}× faster than the naive NumPy im2col"
        lines.append(text)
    return lines


def save_json(report: Report, path: str | os.PathLike[str]) -> None:
    """The report as JSON (machine, settings, layers, records)."""
    with open(path, "w", encoding="utf-8") as file:
        json.dump(report.to_dict(), file, indent=1)
        file.write("\n")


def load_json(path: str | os.PathLike[str]) -> Report:
    """A report written by :func:`save_json`."""
    with open(path, encoding="utf-8") as file:
        data: dict[str, Any] = json.load(file)
    layers = []
    for entry in data["layers"]:
        entry = {k: v for k, v in entry.items() if k != "describe"}
        for key in ("input_shape", "weight_shape"):
            entry[key] = tuple(entry[key])
        layers.append(Layer(**entry))
    records = [Record(**entry) for entry in data["records"]]
    return Report(data["machine"], data["settings"], layers, records)


def save_plot(report: Report, path: str | os.PathLike[str]) -> None:
    """A bar chart of every candidate's time relative to torch, per layer (matplotlib)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(
            "convmm bench --plot needs matplotlib: pip install matplotlib (or convmm[figures])"
        ) from error
    layers = [
        name
        for name in dict.fromkeys(r.layer for r in report.records)
        if any(r.layer == name and r.ratio_torch for r in report.records)
    ]
    candidates = sorted(
        {r.candidate for r in report.records if r.ratio_torch and r.candidate != "torch"},
        key=_sort_key,
    )
    ratio = {(r.layer, r.candidate): r.ratio_torch for r in report.records}
    figure = Figure(figsize=(max(8.0, 0.55 * len(layers) + 2), 5.5), layout="constrained")
    axes = figure.add_subplot()
    width = 0.8 / max(len(candidates), 1)
    for i, candidate in enumerate(candidates):
        xs = [j + (i - (len(candidates) - 1) / 2) * width for j in range(len(layers))]
        ys = [ratio.get((layer, candidate)) or math.nan for layer in layers]
        axes.bar(xs, ys, width, label=candidate)
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_yscale("log")
    axes.set_xticks(range(len(layers)), layers, rotation=60, ha="right", fontsize=8)
    axes.set_ylabel("time / torch's time (log scale; below 1 is faster than torch)")
    axes.set_title(
        f"convmm bench: {report.machine.get('cpu')}, {report.machine.get('threads')} threads"
    )
    axes.legend(fontsize=8, ncols=3)
    figure.savefig(path, dpi=110)
