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
