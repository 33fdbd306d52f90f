"""The ``convmm`` command line: the top-level parser, the dispatch to a subcommand, the exit codes.

Each subcommand is a module of its own (``convmm._cli_demo``, ``convmm._cli_explain``), with
``add_parser(subparsers)`` and ``run(args) -> int``, named in ``_COMMANDS``.  This module parses
(no abbreviated options; an unrecognized argument is named with the closest option of the
parser it was given to), runs the command, and turns bad arguments (a
:class:`~convmm._cli_errors.UsageError` from the commands, a :class:`convmm.ConvmmError` from
the library) into a one-line error and exit status 2; any other exception is a bug and shows
its traceback.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, Protocol

from . import __version__, _cli_bench, _cli_demo, _cli_explain
from ._cli_errors import UsageError
from ._errors import ConvmmError

__all__ = ["main"]


class _Command(Protocol):
    """A subcommand: a module with these two functions."""

    def add_parser(self, subparsers: argparse._SubParsersAction[Any]) -> object:
        """Add the command's parser to ``subparsers`` (``subparsers.add_parser(name, ...)``)."""

    def run(self, args: argparse.Namespace) -> int:
        """Run the command with the arguments parsed; the exit status."""


#: The subcommands, in the order of ``convmm --help``: a new one is a module added here.
_COMMANDS: tuple[_Command, ...] = (_cli_demo, _cli_explain, _cli_bench)


def _report(command: str, message: str) -> int:
    """Print the first line of ``message`` as the command's error; the exit status 2."""
    lines = message.strip().splitlines() or ["unknown error"]
    print(f"convmm {command}: error: {lines[0]}", file=sys.stderr)
    return 2


class _Parser(argparse.ArgumentParser):
    """An argument parser that takes no abbreviations and knows its subcommands.

    The subcommands' parsers are made by argparse of the same class (so neither do they).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # --pad is not --padding
        super().__init__(*args, **kwargs)
        #: By command name: its parser, and the function that runs it.
        self.commands: dict[str, argparse.ArgumentParser] = {}
        self.runs: dict[str, Callable[[argparse.Namespace], int]] = {}

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n(see {self.prog} --help)\n")


def _unrecognized(
    parser: _Parser, argv: list[str], command: str | None, extras: list[str]
) -> NoReturn:
    """Exit 2 naming the first of ``extras``, and the closest option of the parser it was for.

    The main parser takes only ``--help`` and ``--version``, so the command is the first
    argument that is not an option, and whatever comes after it was given to the command.
    """
    first = extras[0]
    if command is None or (first in argv and argv.index(first) < argv.index(command)):
        owner: argparse.ArgumentParser = parser
    else:
        owner = parser.commands[command]
    name = first.partition("=")[0] if first.startswith("-") else first
    # Compared without their dashes, so that the dashes do not make every option look close.
    options = {
        string.lstrip("-"): string for action in owner._actions for string in action.option_strings
    }
    close = difflib.get_close_matches(name.lstrip("-"), options, n=1)
    if not close and name.startswith("--"):  # a prefix of one option (no abbreviations)
        close = [key for key, string in options.items() if string.startswith(name)][:2]
        close = close if len(close) == 1 else []
    hint = f"; did you mean {options[close[0]]}?" if close else ""
    owner.exit(2, f"{owner.prog}: unrecognized argument {name}{hint}\n(see {owner.prog} --help)\n")


def _parser() -> _Parser:
    parser = _Parser(
        prog="convmm",
        description="Convolution as one matrix product: unfold (P), flatten (K), multiply (KP).",
        epilog="examples:\n"
        "  convmm demo\n"
        "  convmm explain --example bigger\n"
        "  convmm explain --input-shape 1,5,5 --kernel 3 --padding 1 --stride 2 --html page.html\n"
        "\n'convmm COMMAND --help' tells more about each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"convmm {__version__}")
    # Not required here: main() says so after any unrecognized argument (--vers: --version?).
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in _COMMANDS:
        known = set(subparsers.choices)
        command.add_parser(subparsers)
        for name in subparsers.choices.keys() - known:  # the command's name (and any aliases)
            parser.commands[name] = subparsers.choices[name]
            parser.runs[name] = command.run
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convmm`` command; returns the exit status."""
    parser = _parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    args, extras = parser.parse_known_args(arguments)
    if extras:
        _unrecognized(parser, arguments, args.command, extras)
    if args.command is None:
        parser.error("the following arguments are required: COMMAND")
    try:
        status = parser.runs[args.command](args)
    except (UsageError, ConvmmError) as error:  # anything else is a bug: its traceback shows
        return _report(args.command, str(error))
    except MemoryError as error:  # a last resort: the sizes are checked before
        return _report(args.command, f"out of memory ({error}); choose smaller sizes")
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
