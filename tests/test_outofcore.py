"""The out-of-core job: a Zarr stack larger than the workers' memory, through a filter bank.

The job (``convmm._outofcore.run_job``, which ``examples/zarr_out_of_core.py`` and ``convmm
bench --dask`` run) writes a 480 MiB stack to Zarr, convolves it on 2 worker processes limited
to 224 MiB each (448 MiB in all), writes the result to Zarr, and checks sampled images against
the in-memory result.  Both run in a fresh interpreter, as a user runs them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convmm
from convmm._outofcore import filter_bank

ROOT = Path(__file__).resolve().parents[1]


def _run(arguments: list[str], timeout: int = 400) -> subprocess.CompletedProcess[str]:
    """A command in a fresh interpreter: a LocalCluster there shares nothing with this test
    process (its threads, its imported libraries), as a user's script would run."""
    done = subprocess.run(
        [sys.executable, *arguments], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_a_stack_larger_than_the_workers_memory_is_convolved_exactly(tmp_path: Path) -> None:
    """The example script: 480 MiB through 2 workers of 224 MiB (448 MiB in all; a worker
    process alone takes ~100–125 MiB, and pauses at 80% of its limit)."""
    script = str(ROOT / "examples" / "zarr_out_of_core.py")
    done = _run([script, "--megabytes", "480", "--memory", "224", "--path", str(tmp_path)])
    out = done.stdout
    assert re.search(
        r"input 480 MiB \(workers. memory: 2 x 224 = 448 MiB\), output 480 MiB", out
    ), out[-600:]
    # equal to the in-memory result up to float32 rounding (the job itself refuses > 1e-5)
    found = re.search(r"largest difference ([0-9.e+-]+); workers restarted: 0", out)
    assert found is not None, out[-600:]
    assert float(found.group(1)) <= 1e-5
    assert re.search(r"convolved and stored in [0-9.]+ s: [0-9.]+ MB/s of input", out)
    assert (tmp_path / "output.zarr").exists()


def test_the_filter_bank_is_a_smoothing_and_three_edge_filters() -> None:
    bank = filter_bank()
    assert bank.shape == (4, 1, 4, 4) and bank.dtype == np.float32
    flat = np.ones((1, 1, 8, 8), np.float32)
    y = convmm.conv(flat, bank, stride=2, padding=1)[0, :, 1:-1, 1:-1]  # away from the border
    np.testing.assert_allclose(y[0], 1.0)  # smoothing keeps a constant
    np.testing.assert_allclose(y[1:], 0.0, atol=1e-7)  # edges see none


def test_bench_dask_reports_throughput_on_one_and_two_workers() -> None:
    done = _run(
        ["-m", "convmm", "bench", "--dask", "--dask-megabytes", "16", "--dask-memory", "256"]
    )
    lines = [line for line in done.stdout.splitlines() if "MB/s of input" in line]
    assert len(lines) == 2 and lines[0].startswith("1 worker ") and lines[1].startswith("2 workers")
    assert all("checked exact" in line for line in lines)
    assert "scaling 1 -> 2 workers: " in done.stdout


def test_bench_dask_refuses_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    from convmm.cli import main

    assert main(["bench", "--dask", "--dask-megabytes", "0"]) == 2
    assert "--dask-megabytes and --dask-memory must be positive" in capsys.readouterr().err
