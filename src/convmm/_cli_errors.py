"""The command line's usage error: a bad argument, reported in one line with exit status 2.

Every ``_cli_*`` module raises :class:`UsageError` for an argument it refuses; ``convmm.cli``
catches it (and :class:`convmm.ConvmmError`, the library's refusals) and prints the message.
"""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """A bad command-line argument: reported in one line, exit status 2."""
