"""The files the commands write: refusing an unwritable target early, and a failed write.

A target is checked before any work (:func:`check_writable` for a file, :func:`check_folder`
for ``--save``'s folder), so that a typo costs no walkthrough; :func:`write_target` turns a
failure to write that the checks could not foresee into a :class:`UsageError` all the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ._cli_errors import UsageError

__all__ = ["check_folder", "check_writable", "write_target"]


def write_target(path: str, name: str, write: Callable[[str], object]) -> None:
    """``write(path)``, reporting a failure to write as a :class:`UsageError`."""
    try:
        write(path)
    except OSError as error:
        raise UsageError(f"{name}: cannot write {path!r}: {error.strerror or error}") from None


def check_writable(path: str, name: str) -> None:
    """Refuse, before any work, a target that cannot be written (a directory, no folder, ...)."""
    target = Path(path)
    folder = target.parent
    reason = None
    if target.is_dir():
        reason = "it is a directory"
    elif not folder.exists():
        reason = f"no such directory {str(folder)!r}"
    elif not folder.is_dir():
        reason = f"{str(folder)!r} is not a directory"
    elif not os.access(target if target.exists() else folder, os.W_OK):
        reason = "permission denied"
    if reason is not None:
        raise UsageError(f"{name}: cannot write {path!r}: {reason}")


def check_folder(path: str, name: str) -> None:
    """Refuse, before any work, a folder that can neither be made nor written into."""
    folder = Path(path)
    reason = None
    if folder.exists() and not folder.is_dir():
        reason = "it exists and is not a directory"
    else:
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not existing.is_dir():
            reason = f"{str(existing)!r} is not a directory"
        elif not os.access(existing, os.W_OK | os.X_OK):
            reason = f"permission denied in {str(existing)!r}"
    if reason is not None:
        raise UsageError(f"{name}: cannot write into {path!r}: {reason}")
