"""The command line: demo, explain, exit codes and messages."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convmm.cli import main

SEED_NUMBERS = [
    "[ 44  54  64]",
    "[124 134 144]",
    "[2060 2138 2216 2372 2450 2528 2684 2762 2840]",
    "[4868 5090 5312 5756 5978 6200 6644 6866 7088]",
    "[1530 1686 1842 1998 2154]",
    "[3618 4062 4506 4950 5394]",
]


def test_demo_prints_the_seed_examples_and_writes_the_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "demo.html"
    assert main(["demo", "--html", str(page)]) == 0
    out = capsys.readouterr().out
    for numbers in SEED_NUMBERS:
        assert numbers in out
    # P of the bigger example, the formula with numbers, and the checks.
    assert "[38 39 40 42 43 44 46 47 48]" in out
    assert "= floor((12 + 0 + 0 - 1*(4 - 1) - 1) / 2) + 1 = 5" in out
    assert out.count("torch: same") == 4 and "DIFFERENT" not in out
    # The backward view: dK = dY P^T and the fold of K^T dY.
    assert "dK = dY @ P^T: 2 x 12" in out and "dX = fold(dP)" in out
    assert "All checks agree." in out
    assert f"The interactive page is {page.resolve()}" in out
    html = page.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "2060" in html and "5394" in html


def test_python_dash_m_convmm_demo(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "convmm", "demo", "--example", "1d", "--html", "d.html"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "[1530 1686 1842 1998 2154]" in result.stdout
    assert (tmp_path / "d.html").stat().st_size > 1000


def test_explain_text_with_options(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        ["explain", "--input-shape", "2,5,5", "--kernel", "3", "--filters", "4", "--groups", "2"]
        + ["--padding", "same", "--padding-mode", "reflect", "--stride", "2"]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert "P_1: 9 x 9 (input channels 1..1)" in out
    assert "padded (reflect)" in out
    assert "convmm.conv: same" in out and "torch: same" in out


def test_explain_per_side_padding_dilation_random(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["explain", "--input-shape", "1,9", "--kernel", "3", "--dilation", "2"]
    argv += ["--padding", "2:0", "--values", "random", "--seed", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "= floor((9 + 2 + 0 - 2*(3 - 1) - 1) / 1) + 1 = 7" in out
    assert main(argv) == 0
    assert capsys.readouterr().out == out  # the same seed gives the same numbers


def test_explain_examples_transpose_backward(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--example", "1d"]) == 0
    assert "[1530 1686 1842 1998 2154]" in capsys.readouterr().out
    argv = ["explain", "--input-shape", "1,3,3", "--kernel", "2", "--stride", "2", "--transpose"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "transposed convolution" in out and "convmm.conv_transpose: same" in out
    assert main(["explain", "--example", "bigger", "--backward"]) == 0
    assert "dK = dY @ P^T" in capsys.readouterr().out


def test_explain_npy_files_and_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.standard_normal((2, 4, 4)))
    np.save(tmp_path / "w.npy", rng.standard_normal((3, 2, 2, 2)))
    np.save(tmp_path / "b.npy", rng.standard_normal(3))
    html, png, svg = tmp_path / "e.html", tmp_path / "e.png", tmp_path / "e.svg"
    argv = ["explain", "--input", str(tmp_path / "x.npy"), "--weight", str(tmp_path / "w.npy")]
    argv += ["--bias", str(tmp_path / "b.npy"), "--html", str(html), "--png", str(png)]
    argv += ["--svg", str(svg), "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "convmm explain" not in out  # --quiet: no walkthrough
    for path in (html, png, svg):
        assert f"wrote {path.resolve()}" in out
        assert path.stat().st_size > 1000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explain"], r"give --input-shape"),
        (["explain", "--input-shape", "1,a"], r"--input-shape must be comma-separated integers"),
        (["explain", "--input-shape", "4"], r"--input-shape is channels then spatial sizes"),
        (["explain", "--input-shape", "1,5,5", "--kernel", "9"], r"the kernel spans 9"),
        (["explain", "--input-shape", "1,5,5", "--kernel", "2,2,2"], r"--kernel needs 1 or 2"),
        (["explain", "--input-shape", "3,5,5", "--groups", "2"], r"--groups must divide"),
        (["explain", "--input-shape", "1,5,5", "--padding", "1:x"], r"per-side pairs look like"),
        (["explain", "--input-shape", "1,5,5", "--padding", "-1"], r"padding must be"),
        (
            ["explain", "--input-shape", "1,5", "--padding", "5", "--padding-mode", "reflect"],
            r"'reflect' needs padding smaller",
        ),
        (
            ["explain", "--input-shape", "1,5", "--output-padding", "1"],
            r"--output-padding goes with --transpose",
        ),
        (
            ["explain", "--input-shape", "1,5", "--transpose", "--output-padding", "3"],
            r"output_padding must be smaller",
        ),
        (["explain", "--input", "/nonexistent.npy"], r"--input: cannot read"),
        (["explain", "--example", "small", "--svg", "x.gif"], r"x\.gif"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = [a if a != "x.gif" else str(tmp_path / "x.gif") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("convmm explain: error:")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert re.search(message, err), err


@pytest.mark.parametrize(
    "argv",
    [["explain", "--bogus"], ["explain", "--filters", "two"], ["frobnicate"], []],
)
def test_argparse_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "convmm explain --example bigger" in out
    assert "--padding-mode" in out and "--html FILE" in out


def test_bad_arguments_from_a_real_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "convmm", "explain", "--input-shape", "1,3", "--kernel", "5"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("convmm explain: error: convmm.explain: the kernel spans 5")
