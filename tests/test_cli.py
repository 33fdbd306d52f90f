"""The command line: demo, explain, exit codes and messages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import convmm._cli_demo
import convmm._cli_explain
import convmm._cli_export
import convmm._cli_walkthrough
from convmm._errors import ConvmmTypeError, ConvmmValueError
from convmm.cli import main
from convmm.examples import SEED_EXAMPLES

SEED_NUMBERS = [
    "[ 44  54  64]",
    "[124 134 144]",
    "[2060 2138 2216 2372 2450 2528 2684 2762 2840]",
    "[4868 5090 5312 5756 5978 6200 6644 6866 7088]",
    "[1530 1686 1842 1998 2154]",
    "[3618 4062 4506 4950 5394]",
]


def test_demo_prints_the_article_examples_and_writes_the_page(
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
    assert re.search(r"P_1: 9 x 9 \(input channels? 1(\.\.1)?\)", out), out
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
    assert_usage_error(argv, message, capsys)


def assert_usage_error(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> str:
    """``main(argv)`` exits 2 with one line on stderr matching ``message``; returns stdout."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith(f"convmm {argv[0]}: error:")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert re.search(message, err), err
    return captured.out


@pytest.fixture
def npy(tmp_path: Path) -> Path:
    """A folder of .npy files: good ones and ones that the command line refuses."""
    arrays = {
        "x": np.arange(1.0, 17.0).reshape(1, 4, 4),
        "xint": np.arange(1, 17).reshape(1, 4, 4),
        "xbool": np.arange(16).reshape(1, 4, 4) % 3 == 0,
        "w": np.array([[[[1.0, 2.0], [3.0, 4.0]]]]),
        "wint": np.array([[[[1, 2], [3, 4]]]], dtype=np.int8),
        "b": np.array([0.5]),
        "scalar": np.array(3.0),
        "flat": np.arange(5.0),
        "complex": np.ones((1, 4, 4), dtype=complex),
        "text": np.array([["a", "b"]]),
    }
    for name, array in arrays.items():
        np.save(tmp_path / f"{name}.npy", array)
    np.save(tmp_path / "objects.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    return tmp_path


def _in(folder: Path, argv: list[str]) -> list[str]:
    return [arg.format(dir=folder) for arg in argv]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["explain", "--input-shape", "1,4,4", "--html", "{dir}/nonexistent/p.html"],
            r"^convmm explain: error: --html: cannot write '.*/nonexistent/p\.html': "
            r"no such directory '.*/nonexistent'$",
        ),
        (
            ["explain", "--input-shape", "1,4,4", "--html", "{dir}"],
            r"--html: cannot write '.*': it is a directory",
        ),
        (
            ["explain", "--input-shape", "1,4,4", "--png", "{dir}/nonexistent/p.png"],
            r"--png: cannot write '.*/nonexistent/p\.png': no such directory",
        ),
        (
            ["explain", "--input-shape", "1,4,4", "--svg", "{dir}/nonexistent/p.svg"],
            r"--svg: cannot write '.*/nonexistent/p\.svg': no such directory",
        ),
        (
            ["explain", "--input-shape", "1,4,4", "--svg", "{dir}/x.npy/p.svg"],
            r"--svg: cannot write '.*/x\.npy/p\.svg': '.*/x\.npy' is not a directory",
        ),
        (
            ["explain", "--input-shape", "1,4,4", "--png", "{dir}/p.svg"],
            r"--png: the file name must end in \.png; got '.*/p\.svg'",
        ),
        (
            ["demo", "--html", "{dir}/nonexistent/x.html"],
            r"^convmm demo: error: --html: cannot write '.*/nonexistent/x\.html'",
        ),
    ],
)
def test_unwritable_outputs_are_refused_before_any_work(
    argv: list[str], message: str, npy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = assert_usage_error(_in(npy, argv), message, capsys)
    assert out == ""  # refused before the walkthrough (the demo prints as it goes)


def test_a_failing_write_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Even when the early check lets a target through, the failure to write is one line.
    monkeypatch.setattr(convmm._cli_explain, "check_writable", lambda path, name: None)
    monkeypatch.setattr(convmm._cli_demo, "check_writable", lambda path, name: None)
    for option, name in [("--html", "p.html"), ("--png", "p.png")]:
        argv = ["explain", "--input-shape", "1,4,4", "--quiet", option]
        message = rf"{option}: cannot write '.*/missing/{name}': No such file or directory"
        assert_usage_error([*argv, str(tmp_path / "missing" / name)], message, capsys)
    message = r"--html: cannot write '.*/missing/d\.html': No such file or directory"
    assert_usage_error(["demo", "--html", str(tmp_path / "missing" / "d.html")], message, capsys)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["explain", "--input-shape", "1,4,4", "--filters", "99999999999"],
            r"--filters/--kernel: a weight of shape \(99999999999, 1, 2, 2\) would have "
            r"399,999,999,996 elements; an explanation takes at most 10,000,000",
        ),
        (
            ["explain", "--input-shape", "1,4", "--kernel", "99999999999"],
            r"--filters/--kernel: a weight of shape \(1, 1, 99999999999\)",
        ),
        (
            ["explain", "--input-shape", "1,99999999999999999999,3"],
            r"--input-shape: an input of shape \(1, 99999999999999999999, 3\) would have "
            r"299,999,999,999,999,999,997 elements; an explanation takes at most 10,000,000",
        ),
        (["explain", "--input-shape", "1,10000001"], r"--input-shape: .* 10,000,001 elements"),
        # inputs and weights of allowed sizes whose P would be too large to hold
        (
            ["explain", "--input-shape", "1,3000,3000", "--kernel", "3"],
            r"error: P would have 80,892,036 entries \(8,988,004 positions\); an explanation "
            r"holds at most 20,000,000",
        ),
        (
            ["explain", "--input-shape", "1,3000,3000", "--kernel", "3", "--filters", "3"]
            + ["--transpose"],
            r"error: Kᵀ·X would have 243,000,000 entries \(9,000,000 positions\)",
        ),
        # few positions, but a padded input (an uncropped output) too large to hold
        (
            ["explain", "--input-shape", "1,4,4", "--padding", "100000", "--stride", "1000000"],
            r"error: the padded input would have 40,001,600,016 entries \(200004 x 200004 per "
            r"channel\); an explanation holds at most 20,000,000",
        ),
        (
            ["explain", "--input-shape", "1,3", "--transpose", "--stride", "10000000000"]
            + ["--padding", "10000000000"],
            r"error: the output before cropping would have 20,000,000,002 entries "
            r"\(20000000002 per channel\)",
        ),
        (
            ["explain", "--input-shape", "1,4,4", "--transpose", "--stride", "9" * 20],
            r"error: the output before cropping would have [\d,]+ entries",
        ),
    ],
)
def test_huge_sizes_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_usage_error(argv, message, capsys)


def test_running_out_of_memory_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explain(*args: object, **kwargs: object) -> None:
        raise MemoryError("Unable to allocate 2.91 TiB")

    monkeypatch.setattr(convmm._cli_walkthrough, "explain", explain)
    message = r"out of memory \(Unable to allocate 2\.91 TiB\); choose smaller sizes"
    assert_usage_error(["explain", "--input-shape", "1,4"], message, capsys)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explain", "--input-shape=-2,4"], r"--input-shape sizes must be positive integers"),
        (["explain", "--input-shape=1,-3"], r"--input-shape sizes must be positive .* '1,-3'"),
        (["explain", "--input-shape", "0,4"], r"--input-shape sizes must be positive"),
        (["explain", "--input-shape", "1,4", "--kernel=-3"], r"--kernel sizes must be positive"),
        (["explain", "--input-shape", "1,4", "--kernel", "-2"], r"--kernel sizes .* '-2'"),
        (["explain", "--input-shape", "1,4,4", "--kernel", "2,0"], r"--kernel sizes must be"),
        (["explain", "--input-shape", "1,4", "--filters", "-2"], r"--filters must be a positive"),
        (["explain", "--input-shape", "1,4", "--filters", "0"], r"--filters must be .*; got 0"),
        (["explain", "--input-shape", "1,4", "--groups", "-1"], r"--groups must be a positive"),
    ],
)
def test_sizes_must_be_positive(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_usage_error(argv, message, capsys)


@pytest.mark.parametrize(("name", "shape"), [("scalar", r"\(\)"), ("flat", r"\(5,\)")])
def test_input_needs_channels_and_a_spatial_dim(
    name: str, shape: str, npy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = (
        rf"--input must have at least 2 dims: channels then spatial sizes .*; got shape {shape}"
    )
    assert_usage_error(["explain", "--input", str(npy / f"{name}.npy")], message, capsys)


def test_seed_must_not_be_negative(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["explain", "--input-shape", "1,4", "--values", "random", "--seed", "-1"]
    assert_usage_error(argv, r"--seed must be a non-negative integer; got -1", capsys)


def test_integer_and_bool_npy_files_are_read_as_floats(
    npy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def walkthrough(input: str, weight: str) -> str:
        assert main(["explain", "--input", input, "--weight", weight]) == 0
        return capsys.readouterr().out

    floats = walkthrough(str(npy / "x.npy"), str(npy / "w.npy"))
    assert "[ 44  54  64]" in floats  # the article's small example
    assert walkthrough(str(npy / "xint.npy"), str(npy / "wint.npy")) == floats
    argv = ["explain", "--input", str(npy / "xbool.npy"), "--bias", str(npy / "b.npy")]
    assert main(argv) == 0
    assert "convmm.conv: same" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "what"),
    [("complex", "complex numbers"), ("text", "text"), ("objects", "Python objects")],
)
@pytest.mark.parametrize("option", ["--input", "--weight", "--bias"])
def test_npy_files_of_other_than_real_numbers_are_refused(
    name: str, what: str, option: str, npy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["explain", "--input-shape", "1,4,4"] if option != "--input" else ["explain"]
    argv += [option, str(npy / f"{name}.npy")]
    message = rf"{option}: '.*{name}\.npy' holds {what}; give a \.npy file of real numbers"
    assert_usage_error(argv, message, capsys)


@pytest.mark.parametrize("text", ["1,x,3", "1,,3", "1,a", "1x", ",1,3", "1,3,", "1_0,3", "1 3"])
def test_sizes_with_empty_parts_or_garbage_are_refused(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    message = rf"--input-shape must be comma-separated integers .*; got '{re.escape(text)}'"
    assert_usage_error(["explain", "--input-shape", text], message, capsys)


def test_sizes_may_be_separated_by_x(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--input-shape", "2,4,4", "--kernel", "3,2"]) == 0
    commas = capsys.readouterr().out
    assert main(["explain", "--input-shape", "2x4x4", "--kernel", "3x2"]) == 0
    assert capsys.readouterr().out == commas


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--input-shape", "1,4,4", "--backward", "--transpose"],
            r"--backward with --transpose: .*; drop --transpose or --backward",
        ),
        (
            ["--input-shape", "1,4,4", "--backward", "--bias", "{dir}/b.npy"],
            r"--backward with --bias: the bias does not enter the gradients dK and dX; "
            r"drop --bias or --backward$",
        ),
        *(
            (["--example", "small", *extra], rf"--example with {extra[0]}: the examples are fixed")
            for extra in [
                ["--input-shape", "1,4,4"],
                ["--input", "{dir}/x.npy"],
                ["--weight", "{dir}/w.npy"],
                ["--bias", "{dir}/b.npy"],
                ["--kernel", "3"],
                ["--filters", "2"],
                ["--values", "random"],
                ["--seed", "1"],
                ["--stride", "2"],
                ["--padding", "1"],
                ["--dilation", "2"],
                ["--groups", "1"],
                ["--padding-mode", "reflect"],
                ["--channels-last"],
                ["--transpose"],
                ["--output-padding", "1"],
            ]
        ),
        (
            ["--input-shape", "1,3", "--transpose", "--padding-mode", "zeros"],
            r"--transpose with --padding-mode: a transposed convolution crops; it pads nothing",
        ),
        (
            ["--input", "{dir}/x.npy", "--input-shape", "1,4,4"],
            r"--input with --input-shape: .*; drop --input-shape or --input",
        ),
        (
            ["--input", "{dir}/x.npy", "--weight", "{dir}/w.npy", "--values", "random"],
            r"--input and --weight with --values: every number comes from the \.npy files",
        ),
        (
            ["--input", "{dir}/x.npy", "--weight", "{dir}/w.npy", "--seed", "1"],
            r"--input and --weight with --seed",
        ),
        (
            ["--input-shape", "1,4,4", "--weight", "{dir}/w.npy", "--kernel", "2"],
            r"--weight with --kernel: .*; drop --kernel or --weight",
        ),
        (
            ["--input-shape", "1,4,4", "--weight", "{dir}/w.npy", "--filters", "3"],
            r"--weight with --filters",
        ),
        (["--input-shape", "1,4,4", "--seed", "1"], r"--seed goes with --values random"),
    ],
)
def test_options_that_would_be_ignored_are_refused(
    argv: list[str], message: str, npy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_usage_error(_in(npy, ["explain", *argv]), message, capsys)


def test_options_that_do_go_together(npy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --values and --seed make the weight for an --input; --example takes --backward.
    argv = ["explain", "--input", str(npy / "x.npy"), "--values", "random", "--seed", "2"]
    assert main(argv) == 0
    assert main(["explain", "--example", "bigger", "--backward", "--quiet"]) == 0


@pytest.mark.parametrize(
    "argv",
    [["explain", "--filters", "two"], ["frobnicate"], [], ["explain", "--stride"]],
)
def test_argparse_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_top_level_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "  convmm demo\n" in out
    assert "convmm explain --example bigger" in out
    example = (
        "convmm explain --input-shape 1,5,5 --kernel 3 --padding 1 --stride 2 --html page.html"
    )
    assert example in out


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


# ---- --version, and options each command does not know -------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"convmm {convmm.__version__}\n"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["explain", "--paddingg", "1"],
            "convmm explain: unrecognized argument --paddingg; did you mean --padding?",
        ),
        (
            ["explain", "--input-shape", "1,5,5", "--paddingg=1"],
            "convmm explain: unrecognized argument --paddingg; did you mean --padding?",
        ),
        (
            ["explain", "--input-shape", "1,5,5", "--outputsize", "7"],
            "convmm explain: unrecognized argument --outputsize; did you mean --output-size?",
        ),
        (["explain", "--bogus"], "convmm explain: unrecognized argument --bogus"),
        (
            ["demo", "--htm", "x.html"],
            "convmm demo: unrecognized argument --htm; did you mean --html?",
        ),
        (["demo", "small"], "convmm demo: unrecognized argument small"),
        (["--bogus", "demo"], "convmm: unrecognized argument --bogus"),
        (["--vers"], "convmm: unrecognized argument --vers; did you mean --version?"),
    ],
)
def test_an_unknown_option_is_reported_by_its_command(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before any work
    assert captured.err.splitlines()[0] == line
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("argv", "prefix"),
    [
        (["explain", "--input-shape", "1,5,5", "--pad", "1"], "--pad"),
        (["explain", "--input-shape", "1,5,5", "--filter", "2"], "--filter"),
        (["explain", "--example", "small", "--back"], "--back"),
        (["demo", "--ex", "1d"], "--ex"),
        (["--vers"], "--vers"),
    ],
)
def test_prefixes_are_not_taken_as_abbreviations(
    argv: list[str], prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert f"unrecognized argument {prefix};" in capsys.readouterr().err


# ---- the demo writes its page only when asked ------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["demo"], "For the interactive page: convmm demo --html convmm-demo.html"),
        (
            ["demo", "--example", "1d"],
            "For the interactive page: convmm demo --example 1d --html convmm-demo.html",
        ),
    ],
)
def test_demo_writes_no_file_unless_asked(
    argv: list[str],
    hint: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 0
    assert list(tmp_path.iterdir()) == []
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == ["All checks agree.", hint]


# ---- explain: --output-size and --bias numbers -----------------------------------------------


def _saved(tmp_path: Path, argv: list[str]) -> dict[str, np.ndarray]:
    """Run ``convmm explain *argv --npz ...`` and return the arrays it saved."""
    target = tmp_path / "steps.npz"
    assert main(["explain", *argv, "--quiet", "--npz", str(target)]) == 0
    with np.load(target) as saved:
        return {name: saved[name] for name in saved.files}


@pytest.mark.parametrize(("sizes", "expected"), [("7,7", (7, 7)), ("7,6", (7, 6)), ("6", (6, 6))])
def test_explain_transpose_output_size(
    sizes: str, expected: tuple[int, int], tmp_path: Path
) -> None:
    argv = ["--input-shape", "1,3,3", "--kernel", "2", "--stride", "2", "--transpose"]
    saved = _saved(tmp_path, [*argv, "--output-size", sizes])
    assert saved["output"].shape == (1, *expected)
    x, w = saved["input"], saved["weight"]
    want = convmm.conv_transpose(x[None], w, stride=2, output_size=expected)[0]
    np.testing.assert_allclose(saved["output"], want)


def test_explain_bias_as_numbers(tmp_path: Path) -> None:
    argv = ["--input-shape", "1,4,4", "--filters", "2"]
    saved = _saved(tmp_path, [*argv, "--bias", "1,-2"])
    np.testing.assert_array_equal(saved["bias"], [1.0, -2.0])
    want = convmm.conv(saved["input"][None], saved["weight"], np.array([1.0, -2.0]))[0]
    np.testing.assert_allclose(saved["output"], want)
    np.testing.assert_array_equal(
        saved["output"], saved["products"].reshape(2, 3, 3) + np.array([1.0, -2.0])[:, None, None]
    )
    for text, value in [("0.5", 0.5), ("-0.5", -0.5), ("+2.5e-1", 0.25), (".5", 0.5)]:
        saved = _saved(tmp_path, ["--input-shape", "1,4,4", "--bias", text])
        np.testing.assert_array_equal(saved["bias"], [value])
    saved = _saved(tmp_path, [*argv, "--bias=-1,2"])  # a first value that starts with a dash
    np.testing.assert_array_equal(saved["bias"], [-1.0, 2.0])


def test_explain_bias_from_a_file_still_works(npy: Path, tmp_path: Path) -> None:
    saved = _saved(tmp_path, ["--input-shape", "1,4,4", "--bias", str(npy / "b.npy")])
    np.testing.assert_array_equal(saved["bias"], [0.5])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--input-shape", "1,3,3", "--output-size", "7,7"],
            r"--output-size goes with --transpose$",
        ),
        (
            [
                "--input-shape",
                "1,3,3",
                "--transpose",
                "--output-size",
                "7",
                "--output-padding",
                "1",
            ],
            r"--output-size with --output-padding: give the output size or the output padding, "
            r"not both",
        ),
        (
            ["--input-shape", "1,3,3", "--stride", "2", "--transpose", "--output-size", "9"],
            r"--output-size: output_size 9 cannot be reached in spatial dim 0: .* the output is "
            r"between 6 and 7$",
        ),
        (
            ["--input-shape", "1,3,3", "--transpose", "--output-size", "4,4,4"],
            r"--output-size needs 1 or 2 sizes for a 2-D input .*; got '4,4,4'",
        ),
        (
            ["--input-shape", "1,3,3", "--transpose", "--output-size", "0"],
            r"--output-size sizes must be positive integers; got '0'",
        ),
        (
            # an error of another option is reported as such, not as one of --output-size
            ["--input-shape", "1,3,3", "--transpose", "--stride", "0", "--output-size", "4"],
            r"error: convmm.explain_transpose: stride must be a positive int",
        ),
        (
            ["--input-shape", "1,4,4", "--bias", "abc"],
            r"--bias must be numbers like 0\.5 or 1,-2 \(one per filter\) or an existing \.npy "
            r"file; got 'abc', which is neither",
        ),
        (["--input-shape", "1,4,4", "--bias", "1,,2"], r"--bias must be numbers .*; got '1,,2'"),
        (["--input-shape", "1,4,4", "--bias", "missing.npy"], r"--bias .*; got 'missing\.npy'"),
        (["--input-shape", "1,4,4", "--bias", "nan"], r"--bias must be numbers .*; got 'nan'"),
        (
            ["--input-shape", "1,4,4", "--bias", "1e999"],
            r"--bias values must be finite numbers; got .1e999.$",
        ),
        (
            ["--input-shape", "1,4,4", "--bias", "1,2"],
            r"convmm\.explain: bias must have shape \(1,\)",
        ),
        (["--example", "small", "--output-size", "3"], r"--example with --output-size"),
    ],
)
def test_bad_output_size_and_bias(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_usage_error(["explain", *argv], message, capsys)


# ---- explain: --save, --npz, --json ----------------------------------------------------------

CONV_FILES = ["input", "padded_input", "patches", "kernel", "products", "output", "weight"]
GRADIENT_FILES = ["grad_output", "grad_weight", "grad_patches", "grad_input", "grad_bias"]
TRANSPOSE_FILES = ["input", "input_matrix", "kernel", "columns", "output", "weight"]


def _files(folder: Path) -> dict[str, np.ndarray]:
    return {path.stem: np.load(path) for path in sorted(folder.glob("*.npy"))}


def _write_all(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """``convmm explain *argv`` with --save, --npz and --json: what each wrote, as loaded."""
    folder, npz, doc = tmp_path / "new" / "steps", tmp_path / "s.npz", tmp_path / "s.json"
    argv = ["explain", *argv, "--save", str(folder), "--npz", str(npz), "--json", str(doc)]
    assert main([*argv, "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    files = _files(folder)
    head, _, names = out[0].partition(": ")
    assert head == f"wrote {folder.resolve()}{os.sep}"
    assert sorted(names.split(", ")) == [f"{name}.npy" for name in files]
    assert out[1:] == [f"wrote {npz.resolve()}", f"wrote {doc.resolve()}"]
    with np.load(npz) as archive:
        packed = {name: archive[name] for name in archive.files}
    assert packed.keys() == files.keys()
    for name, array in files.items():
        np.testing.assert_array_equal(packed[name], array)
    document: dict[str, Any] = json.loads(doc.read_text(encoding="utf-8"))
    return files, packed, document


def _assert_json_matches(
    document: dict[str, Any], files: dict[str, np.ndarray], e: convmm.Explanation
) -> None:
    assert document["convmm"] == convmm.__version__
    assert document["kind"] == e.kind and document["sample"] == e.sample
    assert document["checks"] == e.checks and document["all_checks_agree"] is True
    assert document["arrays"].keys() == files.keys()
    for name, array in files.items():
        assert document["shapes"][name] == list(array.shape)
        np.testing.assert_array_equal(np.array(document["arrays"][name]), array)
    window = e.geometry.window
    geometry = document["geometry"]
    assert geometry["kernel_size"] == list(window.kernel_size)
    assert geometry["output_shape"] == list(window.output_shape)
    assert geometry["padding"] == [list(pair) for pair in window.padding]
    assert geometry["groups"] == e.groups


@pytest.mark.parametrize("name", [e.name for e in SEED_EXAMPLES])
def test_explain_saves_the_arrays_of_an_article_example(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files, _, document = _write_all(tmp_path, ["--example", name], capsys)
    assert sorted(files) == sorted(CONV_FILES)
    example = next(e for e in SEED_EXAMPLES if e.name == name)
    e = convmm.explain(example.input, example.weight, **example.options)
    for field in ("input", "padded", "patches", "kernels", "products", "output", "weight"):
        saved = {"padded": "padded_input", "kernels": "kernel"}.get(field, field)
        np.testing.assert_array_equal(files[saved], getattr(e, field))
    # P and K as loaded multiply into KP, which reshaped is the output.
    P, K, KP = files["patches"], files["kernel"], files["products"]
    np.testing.assert_array_equal(K @ P, KP)
    np.testing.assert_array_equal(KP.reshape(files["output"].shape), files["output"])
    _assert_json_matches(document, files, e)
    assert document["options"] == json.loads(json.dumps(e.options))
    assert document["options"].items() >= example.options.items()


def test_explain_saves_the_arrays_of_groups_and_padding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--input-shape", "4,5,5", "--kernel", "3", "--filters", "2", "--groups", "2"]
    argv += ["--padding", "1:0,2:1", "--padding-mode", "circular", "--stride", "2"]
    argv += ["--bias", "0.5,-1"]
    files, _, document = _write_all(tmp_path, argv, capsys)
    assert sorted(files) == sorted([*CONV_FILES, "bias"])
    P, K, KP = files["patches"], files["kernel"], files["products"]
    assert P.shape[0] == K.shape[0] == 2  # one product per group
    np.testing.assert_allclose(K @ P, KP)
    x, w, b = files["input"], files["weight"], files["bias"]
    options = {"stride": 2, "padding": ((1, 0), (2, 1)), "groups": 2, "padding_mode": "circular"}
    e = convmm.explain(x, w, b, **options)
    np.testing.assert_array_equal(files["patches"], e.patches)
    np.testing.assert_array_equal(files["padded_input"], e.padded)
    np.testing.assert_allclose(files["output"], convmm.conv(x[None], w, b, **options)[0])
    _assert_json_matches(document, files, e)
    assert document["options"]["padding"] == [[1, 0], [2, 1]]
    assert document["geometry"]["padding_mode"] == "circular"


def test_explain_saves_the_gradients_of_the_backward_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files, _, document = _write_all(tmp_path, ["--example", "bigger", "--backward"], capsys)
    assert sorted(files) == sorted(CONV_FILES + GRADIENT_FILES)
    example = next(e for e in SEED_EXAMPLES if e.name == "bigger")
    e = convmm.explain_backward(None, example.input, example.weight)
    for name in GRADIENT_FILES:
        np.testing.assert_array_equal(files[name], getattr(e, name))
    P, K, dY = files["patches"], files["kernel"], files["grad_output"]
    np.testing.assert_array_equal(dY @ P.transpose(0, 2, 1), files["grad_weight"])  # dK = dY·Pᵀ
    np.testing.assert_array_equal(K.transpose(0, 2, 1) @ dY, files["grad_patches"])  # Kᵀ·dY
    np.testing.assert_array_equal(files["grad_bias"], dY.sum(axis=(0, 2)))
    dX = convmm.fold(files["grad_patches"], (4, 4), (2, 2))  # col2im of dP
    np.testing.assert_array_equal(dX[0], files["grad_input"])
    _assert_json_matches(document, files, e)


def test_explain_saves_the_arrays_of_a_transposed_convolution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--input-shape", "2,3,3", "--kernel", "2", "--filters", "4", "--groups", "2"]
    argv += ["--stride", "2", "--transpose", "--bias", "1,2,3,4"]
    files, _, document = _write_all(tmp_path, argv, capsys)
    assert sorted(files) == sorted([*TRANSPOSE_FILES, "bias"])
    x, w, b = files["input"], files["weight"], files["bias"]
    e = convmm.explain_transpose(x, w, b, stride=2, groups=2)
    names = {"input": "input", "input_matrix": "products", "kernel": "kernels"}
    names.update(columns="patches", output="output")
    for name, field in names.items():
        np.testing.assert_array_equal(files[name], getattr(e, field))
    # Kᵀ·X, column l what input position l adds into the output.
    K, X = files["kernel"], files["input_matrix"]
    np.testing.assert_array_equal(K.transpose(0, 2, 1) @ X, files["columns"])
    np.testing.assert_array_equal(X.reshape(x.shape), x)
    want = convmm.conv_transpose(x[None], w, b, stride=2, groups=2)[0]
    np.testing.assert_allclose(files["output"], want)
    _assert_json_matches(document, files, e)
    assert "transposes" in document["geometry"]["note"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--save", "{dir}/x.npy"], r"--save: cannot write into '.*x\.npy': it exists and is not"),
        (["--save", "{dir}/x.npy/sub"], r"--save: cannot write into .*'.*x\.npy' is not a dir"),
        (["--npz", "{dir}/s.zip"], r"--npz: the file name must end in \.npz; got '.*s\.zip'"),
        (["--npz", "{dir}/none/s.npz"], r"--npz: cannot write '.*/none/s\.npz': no such directory"),
        (["--json", "{dir}/none/s.json"], r"--json: cannot write '.*/none/s\.json': no such dir"),
        (["--json", "{dir}"], r"--json: cannot write '.*': it is a directory"),
    ],
)
def test_unwritable_save_targets_are_refused_before_any_work(
    argv: list[str], message: str, npy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = assert_usage_error(_in(npy, ["explain", "--example", "small", *argv]), message, capsys)
    assert out == ""


def test_a_failing_save_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(convmm._cli_explain, "check_writable", lambda path, name: None)
    monkeypatch.setattr(convmm._cli_explain, "check_folder", lambda path, name: None)
    (tmp_path / "file").write_text("")
    for option, target in [("--npz", "missing/s.npz"), ("--json", "missing/s.json")]:
        message = rf"{option}: cannot write '.*/{target}': No such file or directory"
        argv = ["explain", "--example", "small", "--quiet", option, str(tmp_path / target)]
        assert_usage_error(argv, message, capsys)
    argv = ["explain", "--example", "small", "--save", str(tmp_path / "file" / "sub")]
    assert_usage_error(argv, r"--save: cannot write '.*/file/sub': ", capsys)


# ---- only the library's own errors are usage errors ------------------------------------------


def test_a_library_bug_shows_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def explain(*args: object, **kwargs: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(convmm._cli_walkthrough, "explain", explain)
    monkeypatch.setattr(convmm._cli_demo, "explain", explain)
    with pytest.raises(ValueError, match="boom"):
        main(["explain", "--input-shape", "1,4,4"])
    with pytest.raises(ValueError, match="boom"):
        main(["demo"])


def test_a_library_type_error_shows_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def explain_transpose(*args: object, **kwargs: object) -> None:
        raise TypeError("unsupported operand")

    monkeypatch.setattr(convmm._cli_walkthrough, "explain_transpose", explain_transpose)
    with pytest.raises(TypeError, match="unsupported operand"):
        main(["explain", "--input-shape", "1,4,4", "--transpose"])


@pytest.mark.parametrize("error", [ConvmmValueError, ConvmmTypeError])
def test_a_convmm_error_is_one_line(
    error: type[Exception], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explain(*args: object, **kwargs: object) -> None:
        raise error("convmm.explain: weight must be 4-D\n(and a second line)")

    monkeypatch.setattr(convmm._cli_walkthrough, "explain", explain)
    message = r"^convmm explain: error: convmm\.explain: weight must be 4-D$"
    assert_usage_error(["explain", "--input-shape", "1,4,4"], message, capsys)


def test_a_missing_figure_library_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def save_figure(self: object, path: str) -> None:
        raise ImportError("convmm's explain figures need matplotlib: pip install matplotlib")

    monkeypatch.setattr(convmm.Explanation, "save_figure", save_figure)
    argv = ["explain", "--example", "small", "--png", str(tmp_path / "f.png")]
    assert_usage_error(argv, r"--png: convmm's explain figures need matplotlib", capsys)


def test_json_has_no_nan_or_infinity() -> None:
    # JSON has no such numbers: they are written as null (what --json does with them).
    cells = convmm._cli_export._json_array(np.array([[1.0, np.inf], [np.nan, -np.inf]]))
    assert cells == [[1.0, None], [None, None]]
    assert json.loads(json.dumps(cells, allow_nan=False)) == cells
    assert convmm._cli_export._json_array(np.array([0.5, 2.0])) == [0.5, 2.0]
