"""The ``convmm demo`` subcommand: the article's examples, checked, and their interactive page.

:func:`add_parser` adds its options to the command line's subcommands, :func:`run` prints each
example's walkthrough (then the backward pass of the 3-channel one), says whether every check
agrees, and with ``--html`` writes the page of them all.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._cli_files import check_writable, write_target
from ._explain import explain, explain_backward
from .examples import SEED_EXAMPLES

__all__ = ["DEMO_PAGE", "add_parser", "run"]

#: The file name the demo suggests for its page.
DEMO_PAGE = "convmm-demo.html"


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Add ``demo`` to the subcommands; its parser."""
    demo: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="walk through the article's three examples and check them",
        description="Print the walkthrough (X, P, K, KP, the output, the output-size formula) of "
        "each of the examples of the article 'An Illustrated Explanation of Performing 2D "
        "Convolutions Using Matrix Multiplications', checked against the direct reference and "
        "PyTorch (when installed); then the backward pass of the 3-channel example: dK = dY·Pᵀ "
        "and the fold of Kᵀ·dY.  With --html, also write their interactive page.",
        epilog=f"examples:\n  convmm demo\n  convmm demo --html {DEMO_PAGE}\n"
        "  convmm demo --example 1d --html one.html",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--example", choices=[e.name for e in SEED_EXAMPLES], help="one example only")
    demo.add_argument(
        "--html", metavar="FILE", help=f"also write the interactive page (e.g. {DEMO_PAGE})"
    )
    return demo


def run(args: argparse.Namespace) -> int:
    """Run ``convmm demo``; the exit status: 0 when every check agrees, else 1."""
    if args.html:
        check_writable(args.html, "--html")
    chosen = [e for e in SEED_EXAMPLES if args.example in (None, e.name)]
    explanations = []
    for example in chosen:
        print(f"== {example.name}: {example.title} ==")
        explanation = explain(example.input, example.weight, **example.options)
        print(explanation.to_text())
        print()
        explanations.append(explanation)
    for example in chosen:
        if example.name == "bigger":
            print(f"== {example.name}, backward ==")
            # dY = 1, 2, 3, ...: exact integers
            explanation = explain_backward(None, example.input, example.weight, **example.options)
            print(explanation.to_text())
            print()
            explanations.append(explanation)
    ok = all(verdict is not False for e in explanations for verdict in e.checks.values())
    if args.html:
        from ._explain.page import render_pages

        titles = [f"{e.name}: {e.title}" for e in chosen]
        titles += [f"{e.name}: backward" for e in chosen if e.name == "bigger"]
        page = render_pages(explanations, titles, title="convmm demo: the article's examples")
        write_target(
            args.html, "--html", lambda path: Path(path).write_text(page, encoding="utf-8")
        )
    print("All checks agree." if ok else "SOME CHECKS DISAGREE.")
    if args.html:
        print(f"The interactive page is {Path(args.html).resolve()}")
    else:
        one = f" --example {args.example}" if args.example else ""
        print(f"For the interactive page: convmm demo{one} --html {DEMO_PAGE}")
    return 0 if ok else 1
