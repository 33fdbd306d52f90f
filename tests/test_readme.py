"""The README's sample of ``convmm demo``'s output is what the demo prints.

The sample is the ```` ```text ```` block of the README's Quickstart: every line of it must be a
line of the demo's output, in the same order (a line ``...`` marks steps left out).  When the
demo's wording changes, regenerate the sample with::

    .venv/bin/python tests/test_readme.py --write

(without ``--write`` it prints the sample instead of writing it into README.md).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from pathlib import Path

import pytest

from convmm.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
#: The sample's block: the first ```text block of the Quickstart section.
_BLOCK = re.compile(r"(## Quickstart\n.*?```text\n)(.*?)(```)", re.DOTALL)
#: A line of the sample standing for the demo's lines left out.
ELISION = "..."


def readme_sample(text: str) -> list[str]:
    """The lines of the README's sample of the demo's output."""
    match = _BLOCK.search(text)
    assert match is not None, "README.md has no ```text block in its Quickstart"
    return match.group(2).splitlines()


def demo_lines() -> list[str]:
    """What ``convmm demo`` prints, line by line (run in an empty folder: it writes nothing)."""
    out = io.StringIO()
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(out):
        os.chdir(folder)  # contextlib.chdir is Python >= 3.11
        try:
            assert main(["demo"]) == 0
        finally:
            os.chdir(here)
        assert os.listdir(folder) == []
    return [line.rstrip() for line in out.getvalue().splitlines()]


def missing_lines(sample: list[str], lines: list[str]) -> list[str]:
    """The lines of ``sample`` that are not lines of ``lines`` in order (after the previous)."""
    missing, position = [], 0
    for line in sample:
        if line == ELISION:
            continue
        try:
            position = lines.index(line, position) + 1
        except ValueError:
            missing.append(line)
    return missing


def sample_of(lines: list[str]) -> list[str]:
    """The README's sample of the demo's output: the first example's heading (up to its first
    blank line), then its steps from P (step 4) to the output-size formula, without the checks
    (whose verdict for PyTorch depends on whether it is installed)."""
    heading = lines[: lines.index("")]
    start = next(i for i, line in enumerate(lines) if line.startswith("4. "))
    end = lines.index("Checks:", start)
    return [*heading, ELISION, *lines[start:end], ELISION]


def test_the_readme_sample_is_what_the_demo_prints() -> None:
    sample = readme_sample(README.read_text(encoding="utf-8"))
    assert len([line for line in sample if line != ELISION]) >= 10, "the sample is too short"
    missing = missing_lines(sample, demo_lines())
    assert not missing, (
        "README.md's sample of `convmm demo` has lines the demo does not print (in that order); "
        f"regenerate it with `.venv/bin/python tests/test_readme.py --write`: {missing}"
    )


@pytest.mark.parametrize(
    ("sample", "missing"),
    [
        (["b", ELISION, "d"], []),
        (["a", "b", "c", "d"], []),
        (["d", "b"], ["b"]),  # out of order
        (["b", "x"], ["x"]),  # not printed
        (["b "], ["b "]),  # a whole line, not a part of one
    ],
)
def test_missing_lines(sample: list[str], missing: list[str]) -> None:
    assert missing_lines(sample, ["a", "b", "c", "d"]) == missing


def test_the_regenerated_sample_passes() -> None:
    lines = demo_lines()
    sample = sample_of(lines)
    assert sample[0].startswith("== small:") and "P: 4 x 9" in "\n".join(sample)
    assert missing_lines(sample, lines) == []


def _regenerate(write: bool) -> None:
    sample = "\n".join(sample_of(demo_lines())) + "\n"
    if not write:
        print(sample, end="")
        return
    text = README.read_text(encoding="utf-8")
    match = _BLOCK.search(text)
    assert match is not None, "README.md has no ```text block in its Quickstart"
    README.write_text(text[: match.start(2)] + sample + text[match.end(2) :], encoding="utf-8")
    print(f"wrote the sample into {README}")


if __name__ == "__main__":
    _regenerate("--write" in sys.argv[1:])
