"""He initialisation, made visible: the K·P variance argument, measured through convmm.conv."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convmm._errors import ConvmmValueError
from convmm._init_variance import SCHEMES, layer_factor, propagate, weight_std

ROOT = Path(__file__).resolve().parents[1]


def test_the_variance_factor_per_layer_is_n_sigma_squared_over_two() -> None:
    n = 64 * 9
    assert layer_factor("he", n, n) == pytest.approx(1.0)
    assert layer_factor("xavier", n, n) == pytest.approx(0.5)
    assert layer_factor("naive", n, n) == pytest.approx(n * 1e-4 / 2)
    with pytest.raises(ConvmmValueError, match="weight_std: scheme must be one of 'he'"):
        weight_std("lecun", n, n)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_measured_layer_gains_follow_the_prediction(scheme: str) -> None:
    """The geometric mean of the measured per-layer variance ratios is the predicted
    ``n·σ²/2`` (within finite-width noise), and the first layer's variance is ``n·σ²``."""
    stats = propagate(scheme, depth=12, channels=64, size=16, seed=1)
    ratios = [(b / a) ** 2 for a, b in zip(stats.stds, stats.stds[1:], strict=False)]
    mean = math.exp(np.mean(np.log(ratios)))
    assert mean == pytest.approx(layer_factor(scheme, stats.fan_in, stats.fan_in), rel=0.2)
    assert stats.stds[0] == pytest.approx(stats.predicted(1.0)[0], rel=0.1)


def test_he_stays_flat_while_xavier_and_naive_vanish() -> None:
    he, xavier, naive = (propagate(s, depth=20, channels=64, size=16) for s in SCHEMES)
    assert max(he.stds) / min(he.stds) < 4  # neither vanishes nor explodes
    decay = (xavier.stds[-1] / xavier.stds[0]) / 2 ** (-19 / 2)  # the std halves / 2 layers
    assert 1 / 3 < decay < 3
    assert naive.stds[-1] < 1e-12


def test_the_example_prints_the_table_and_saves_the_plot(tmp_path: Path) -> None:
    plot = tmp_path / "init.png"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "init_variance.py"),
            "--depth",
            "6",
            "--channels",
            "16",
            "--plot",
            str(plot),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "he: variance factor per layer n·σ²/2 = 1" in done.stdout
    assert plot.stat().st_size > 10_000
