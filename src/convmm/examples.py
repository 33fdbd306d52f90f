"""The seed article's three worked examples, as data.

Each :class:`Example` holds the input, the weight and the options of one convolution, so that
the demo, ``explain`` and the tests all use the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SEED_EXAMPLES", "Example"]


@dataclass(frozen=True)
class Example:
    """A named convolution: ``convmm.conv(input, weight, **options)``."""

    name: str
    title: str
    input: np.ndarray
    weight: np.ndarray
    options: dict[str, Any] = field(default_factory=dict)


def _seed_examples() -> tuple[Example, ...]:
    return (
        Example(
            "small",
            "one 4x4 image, one 2x2 filter, stride 1, no padding",
            np.arange(1.0, 17.0).reshape(1, 1, 4, 4),
            np.array([[[[1.0, 2.0], [3.0, 4.0]]]]),
        ),
        Example(
            "bigger",
            "a 3-channel 4x4 image, two 2x2x3 filters, stride 1, no padding",
            np.arange(1.0, 49.0).reshape(1, 3, 4, 4),
            np.arange(1.0, 25.0).reshape(2, 3, 2, 2),
        ),
        Example(
            "1d",
            "a 3-channel signal of length 12, two kernels of width 4, stride 2",
            np.arange(1.0, 37.0).reshape(1, 3, 12),
            np.arange(1.0, 25.0).reshape(2, 3, 4),
            {"stride": 2},
        ),
    )


#: The three examples of the seed article: ``small`` (4x4, 2x2 kernel), ``bigger`` (3 channels,
#: 2 filters) and ``1d`` (3-channel length-12 signal, width-4 kernels, stride 2).
SEED_EXAMPLES: tuple[Example, ...] = _seed_examples()
