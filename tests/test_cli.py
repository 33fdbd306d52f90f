"""The command line: demo, explain, exit codes and messages."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convmm.cli
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
    monkeypatch.setattr(convmm.cli, "_check_writable", lambda path, name: None)
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

    monkeypatch.setattr(convmm.cli, "explain", explain)
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
    assert "[ 44  54  64]" in floats  # the seed's small example
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
    [["explain", "--bogus"], ["explain", "--filters", "two"], ["frobnicate"], []],
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
