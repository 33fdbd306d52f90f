"""``convmm bench`` and ``convmm.bench``: the records, the renderers and the command line.

Timings are never asserted (the benchmark is the measure); these tests check that every
candidate runs and computes the same convolution, and that the table, JSON, Markdown and plot
come out whole.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import convmm
from convmm import _bench_report, bench
from convmm.cli import main

TINY = [
    bench.Layer("tiny-3x3", (2, 4, 9, 9), (6, 4, 3, 3), padding=1),
    bench.Layer("tiny-dw", (2, 4, 9, 9), (4, 1, 3, 3), padding=1, groups=4),
    bench.Layer("tiny-s2-f64", (1, 3, 12, 12), (4, 3, 5, 5), stride=2, padding=2, dtype="float64"),
    bench.Layer("tiny-nhwc", (2, 4, 8, 8), (4, 4, 3, 3), padding=1, channels_last=True),
    bench.Layer("tiny-1d-bwd", (2, 3, 20), (4, 3, 5), kind="backward", padding=2),
    bench.Layer("tiny-up", (2, 4, 5, 5), (4, 3, 4, 4), kind="transpose", stride=2, padding=1),
]


def _run(layers: list[bench.Layer]) -> bench.Report:
    return bench.run(layers, rounds=2, min_sample_seconds=0, warmup_seconds=0)


def test_every_candidate_computes_the_same_convolution() -> None:
    for layer in TINY:
        candidates = bench.candidates_for(layer, threads=1)
        assert {"convmm", "torch", "gemm"} <= set(candidates), layer.name
        if layer.kind == "forward":
            results = {
                name: np.asarray(call(), dtype=np.float64)
                for name, call in candidates.items()
                if name.startswith(("convmm", "torch", "naive", "onnxruntime"))
            }
            want = results["convmm[im2col]" if "convmm[im2col]" in results else "convmm"]
            for name, got in results.items():
                if name == "onnxruntime":
                    got = got[0]
                if name == "torch" and layer.channels_last:
                    got = np.moveaxis(got, 1, -1)
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=name)


def test_records_ratios_and_renderers(tmp_path: Path) -> None:
    report = _run(TINY)
    names = {layer.name for layer in TINY}
    assert {r.layer for r in report.records} == names
    for r in report.records:
        assert r.median > 0 and r.fastest <= r.median <= r.slowest and r.rounds == 2
        assert r.gflops > 0
        if r.candidate == "torch":
            assert r.ratio_torch == pytest.approx(1.0)
        if r.candidate.startswith(("convmm", "naive")):
            assert r.peak_bytes is not None and r.peak_bytes >= 0
    depthwise = {r.candidate for r in report.records if r.layer == "tiny-dw"}
    assert {"convmm", "convmm[im2col]", "convmm[depthwise]"} <= depthwise
    assert report.machine["numpy"] == np.__version__ and report.machine["cpu"]

    text = _bench_report.table(report)
    assert "tiny-3x3" in text and "/ torch" in text and "geometric mean" in text
    markdown = _bench_report.markdown(report)
    assert markdown.count("\n| tiny-") == len(TINY)
    path = tmp_path / "r.json"
    _bench_report.save_json(report, path)
    again = _bench_report.load_json(path)
    assert again.records == report.records and again.layers == report.layers
    plot = tmp_path / "r.png"
    _bench_report.save_plot(report, plot)
    assert plot.stat().st_size > 10_000


def test_the_suite_names_every_family() -> None:
    full = {layer.name for layer in bench.suite()}
    for family in (
        "article-small",
        "resnet-56",
        "resnet-7",
        "1x1-s2",
        "stem-7x7-s2",
        "5x5",
        "depthwise-3x3",
        "grouped-3x3-g8",
        "dilated-3x3-d2",
        "1d-k9",
        "3d-3x3x3",
        "resnet-28-f64",
        "resnet-28-f16",
        "resnet-28-nhwc",
        "resnet-56-bwd",
        "up-4x4-s2",
    ):
        assert family in full
    quick = bench.suite(quick=True)
    assert 0 < len(quick) < len(full) and all(layer.input_shape[0] <= 2 for layer in quick)
    for layer in bench.suite():  # every layer's shapes are a valid convolution
        if layer.kind == "forward":
            options = dict(layer.options)
            shape = convmm.conv_output_shape(layer.input_shape, layer.weight_shape, **options)
            assert shape[2:] == layer.output_spatial()


def test_bench_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"convmm\.bench\.run: rounds must be a positive int"):
        bench.run(TINY, rounds=0)
    with pytest.raises(ValueError, match=r"convmm\.bench\.run: no layer matches \['nope'\]"):
        bench.run(TINY, only=["nope"])


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b"
    args = ["bench", "--shapes", "article-small", "--rounds", "1", "--threads", "1"]
    args += ["--json", f"{out}.json", "--markdown", f"{out}.md", "--plot", f"{out}.png"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "article-small" in printed and "CPU:" in printed
    data = json.loads(Path(f"{out}.json").read_text())
    assert {r["candidate"] for r in data["records"]} >= {"convmm", "gemm", "naive"}
    assert Path(f"{out}.md").read_text().startswith("- CPU:")
    assert Path(f"{out}.png").stat().st_size > 0
    assert main(["bench", "--list"]) == 0
    assert "resnet-56" in capsys.readouterr().out
    assert main(["bench", "--shapes", "nope"]) == 2
    assert "matches no layer" in capsys.readouterr().err
    assert main(["bench", "--rounds", "0"]) == 2


def test_a_forward_layer_has_no_grad_output() -> None:
    from convmm import _bench_candidates

    layer = TINY[0]
    with pytest.raises(ValueError, match=r"layer 'tiny-3x3' has no grad_output; only kind="):
        _bench_candidates._grad_output(layer, _bench_candidates._arrays(layer))
