"""The out-of-core job: a Zarr stack larger than the workers' memory, through a filter bank.

The job (``convmm._outofcore.run_job``, which ``examples/zarr_out_of_core.py`` and ``convmm
bench --dask`` run) writes a 320 MiB stack to Zarr, convolves it on 2 worker processes limited
to 150 MiB each (300 MiB in all), writes the result to Zarr, and checks sampled images against
the in-memory result.  The example script itself runs on a small stack.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convmm
from convmm._outofcore import filter_bank, run_job

ROOT = Path(__file__).resolve().parents[1]


def test_a_stack_larger_than_the_workers_memory_is_convolved_exactly(tmp_path: Path) -> None:
    memory = 150 * 2**20
    result = run_job(tmp_path, input_bytes=320 * 2**20, workers=2, memory_limit=memory, timeout=300)
    assert result.input_bytes > 2 * memory  # more than the workers hold
    assert result.workers_restarted == 0
    assert result.checked_images == 3 and result.max_abs_error == 0.0
    assert result.output_bytes == result.input_bytes  # four maps at half resolution
    assert result.throughput > 0 and result.peak_cluster_bytes > 0
    assert (tmp_path / "output.zarr").exists()


def test_the_filter_bank_is_a_smoothing_and_three_edge_filters() -> None:
    bank = filter_bank()
    assert bank.shape == (4, 1, 4, 4) and bank.dtype == np.float32
    flat = np.ones((1, 1, 8, 8), np.float32)
    y = convmm.conv(flat, bank, stride=2, padding=1)[0, :, 1:-1, 1:-1]  # away from the border
    np.testing.assert_allclose(y[0], 1.0)  # smoothing keeps a constant
    np.testing.assert_allclose(y[1:], 0.0, atol=1e-7)  # edges see none


def test_the_example_script_runs_end_to_end(tmp_path: Path) -> None:
    script = ROOT / "examples" / "zarr_out_of_core.py"
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            "--megabytes",
            "24",
            "--memory",
            "256",
            "--path",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "MB/s of input" in done.stdout
    assert "largest difference 0" in done.stdout and "workers restarted: 0" in done.stdout


def test_bench_dask_reports_throughput_on_one_and_two_workers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from convmm.cli import main

    assert main(["bench", "--dask", "--dask-megabytes", "16", "--dask-memory", "256"]) == 0
    printed = capsys.readouterr().out
    lines = [line for line in printed.splitlines() if "MB/s of input" in line]
    assert len(lines) == 2 and lines[0].startswith("1 worker ") and lines[1].startswith("2 workers")
    assert all("checked exact" in line for line in lines)
    assert "scaling 1 -> 2 workers: " in printed
    assert main(["bench", "--dask", "--dask-megabytes", "0"]) == 2
    assert "--dask-megabytes and --dask-memory must be positive" in capsys.readouterr().err
