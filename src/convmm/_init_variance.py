"""Why He initialisation: the activation scale through a deep conv + ReLU stack, by scheme.

Each layer computes ``Y = K·P`` (convmm's product: K the flattened filters, P the patches)
then a ReLU.  An entry of Y is a sum of ``n = C_in·k²`` (the fan-in) products
``K[f, j]·P[j, l]``; with the weights independent, zero-mean, of variance σ², and independent
of P,

    Var(Y) = n · σ² · E[P²],   and after a ReLU of a zero-mean symmetric Y,  E[P²] = Var(Y) / 2,

so each layer multiplies the variance of its pre-activations by ``n·σ²/2``.  He et al. (2015)
pick σ² = 2/n: the factor is 1 and the scale stays put however deep the stack.  Xavier's
σ² = 2/(n_in + n_out) is 1/n here (as many filters as channels): the factor is 1/2 and the
standard deviation halves every two layers.  A naive N(0, 0.01²) gives ``n·10⁻⁴/2`` (0.0144 for
32 channels of 3×3): the signal vanishes within a few layers.

The stack uses ``padding='same'`` with circular padding, so that every output reads ``n``
inputs and the argument holds at the borders too.  Used by ``examples/init_variance.py``
(which plots it) and the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["SCHEMES", "StackStats", "layer_factor", "propagate", "weight_std"]

#: The initialisations compared: He (Kaiming) normal for ReLU, Xavier (Glorot) normal, and a
#: naive N(0, 0.01²).
SCHEMES = ("he", "xavier", "naive")


def weight_std(scheme: str, fan_in: int, fan_out: int) -> float:
    """The weights' standard deviation of ``scheme`` for these fans.

    >>> weight_std("he", 288, 288), weight_std("naive", 288, 288)
    (0.08333333333333333, 0.01)
    """
    if scheme == "he":
        return math.sqrt(2.0 / fan_in)
    if scheme == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "naive":
        return 0.01
    from ._errors import ConvmmValueError

    raise ConvmmValueError(
        f"weight_std: scheme must be one of {', '.join(map(repr, SCHEMES))}; got {scheme!r}"
    )


def layer_factor(scheme: str, fan_in: int, fan_out: int) -> float:
    """What one conv + ReLU layer multiplies the pre-activations' variance by: ``n·σ²/2``."""
    return fan_in * weight_std(scheme, fan_in, fan_out) ** 2 / 2.0


@dataclass(frozen=True)
class StackStats:
    """The standard deviation of each layer's pre-activations (``stds[i]`` after layer i+1)."""

    scheme: str
    fan_in: int
    stds: tuple[float, ...]

    def predicted(self, input_var: float) -> tuple[float, ...]:
        """The standard deviations the variance argument predicts from the input's variance
        (the first layer sees the input itself, not a ReLU of it)."""
        factor = layer_factor(self.scheme, self.fan_in, self.fan_in)
        first = self.fan_in * weight_std(self.scheme, self.fan_in, self.fan_in) ** 2 * input_var
        return tuple(math.sqrt(first * factor**i) for i in range(len(self.stds)))


def propagate(
    scheme: str,
    *,
    depth: int = 20,
    channels: int = 32,
    size: int = 32,
    batch: int = 8,
    kernel: int = 3,
    seed: int = 0,
) -> StackStats:
    """Push a standard normal input through ``depth`` conv (``channels`` filters of
    ``kernel``², circular 'same' padding) + ReLU layers initialised by ``scheme``; the
    standard deviation of every layer's pre-activations."""
    from ._conv import conv

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, size, size))
    fan = channels * kernel * kernel
    std = weight_std(scheme, fan, fan)
    stds = []
    for _ in range(depth):
        w = rng.normal(0.0, std, size=(channels, channels, kernel, kernel))
        y = conv(x, w, padding="same", padding_mode="circular")
        stds.append(float(y.std()))
        x = np.maximum(y, 0.0)
    return StackStats(scheme, fan, tuple(stds))
