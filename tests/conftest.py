"""Shared test configuration: Hypothesis profiles, and the import path of ``tests/oracle.py``.

Profiles: ``HYPOTHESIS_PROFILE=ci`` (``make unit``) runs more examples than the default ``dev``;
``deep`` runs many more, for a search by hand.
Both disable the deadline (the first call into torch or BLAS can take a while) and are randomised
(``derandomize=False``); a failure prints the blob to reproduce it with ``@reproduce_failure``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# The shared oracle lives in tests/oracle.py, imported as a plain top-level module
# (``from oracle import torch_conv``).  tests/ has no __init__.py, so put the folder on sys.path
# here explicitly: this works whatever pytest's --import-mode and whatever the working directory.
_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

_COMMON = {
    "deadline": None,
    "derandomize": False,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("ci", max_examples=60, **_COMMON)
settings.register_profile("dev", max_examples=30, **_COMMON)
# For hunting rare cases by hand (``HYPOTHESIS_PROFILE=deep pytest tests/test_conv.py``).
settings.register_profile("deep", max_examples=400, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# ---- the tests write nothing into the tracked tree ----------------------------------------------
# Screenshots and other outputs go under test-artifacts/ (ignored by git); `make docs` is what
# regenerates the pictures in docs/.  The session fails if any file outside the ignored folders
# was created, changed or removed while the tests ran.

_ROOT = Path(__file__).resolve().parents[1]
_SCRATCH = {
    ".venv",
    ".git",
    "test-artifacts",
    ".hypothesis",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "__pycache__",
    "build",
    "dist",
}


def tree_snapshot(root: Path = _ROOT) -> dict[str, int]:
    """``{relative path: mtime_ns}`` of every file under ``root`` outside the scratch folders."""
    found: dict[str, int] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SCRATCH and not d.endswith(".egg-info")]
        for name in files:
            path = Path(folder, name)
            found[str(path.relative_to(root))] = path.stat().st_mtime_ns
    return found


def tree_changes(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """The paths created, removed or modified between two :func:`tree_snapshot` results."""
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


_BEFORE: dict[str, int] = {}


def pytest_sessionstart(session: object) -> None:
    _BEFORE.update(tree_snapshot())


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    changed = tree_changes(_BEFORE, tree_snapshot())
    if changed:
        sys.stderr.write(
            "\nThe tests wrote into the tracked tree (write under test-artifacts/ instead; "
            f"`make docs` regenerates docs/): {', '.join(changed)}\n"
        )
        session.exitstatus = 1  # type: ignore[attr-defined]
