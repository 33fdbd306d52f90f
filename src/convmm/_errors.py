"""The errors convmm raises for arguments it cannot use.

Every validation error is a :class:`ConvmmError` and also a ``ValueError`` or a ``TypeError``,
so callers may catch either.  The command line catches only these: any other exception is a bug
and shows its traceback.
"""

from __future__ import annotations

__all__ = ["ConvmmError", "ConvmmTypeError", "ConvmmValueError"]


class ConvmmError(Exception):
    """An argument convmm cannot use; the message names the function and the parameter."""


class ConvmmValueError(ConvmmError, ValueError):
    """An argument of the right type with a value convmm cannot use."""


class ConvmmTypeError(ConvmmError, TypeError):
    """An argument of a type convmm cannot use."""
