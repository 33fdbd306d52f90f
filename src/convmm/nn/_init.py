"""Weight initialisers with ``torch.nn.init``'s formulas, drawing from a NumPy Generator.

The fans are PyTorch's ``_calculate_fan_in_and_fan_out``: ``fan_in = shape[1] * prod(shape[2:])``
and ``fan_out = shape[0] * prod(shape[2:])``, for every weight alike, so for a transposed
convolution's ``(C_in, C_out / groups, *kernel)`` weight "fan_in" counts ``C_out / groups``,
exactly as PyTorch does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import ConvmmTypeError, ConvmmValueError
from ._checks import choice, generator, non_negative_float

__all__ = [
    "calculate_gain",
    "fan_in_and_fan_out",
    "kaiming_normal",
    "kaiming_uniform",
    "xavier_normal",
    "xavier_uniform",
]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")  # fmt: skip
_NONLINEARITIES = (*_LINEAR, "tanh", "relu", "leaky_relu", "selu")


def _shape(func: str, shape: object) -> tuple[int, ...]:
    if isinstance(shape, int | np.integer) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, Sequence) or not all(
        isinstance(s, int | np.integer) and not isinstance(s, bool) for s in shape
    ):
        raise ConvmmTypeError(f"{func}: shape must be a tuple of ints; got {shape!r}")
    if any(s < 0 for s in shape):
        raise ConvmmValueError(f"{func}: shape must hold sizes >= 0; got {tuple(shape)}")
    return tuple(int(s) for s in shape)


def fan_in_and_fan_out(shape: Sequence[int]) -> tuple[int, int]:
    """PyTorch's ``_calculate_fan_in_and_fan_out`` for a weight of this shape.

    Parameters
    ----------
    shape : tuple of int
        At least 2 dims: ``(out, in, *kernel)`` for a convolution or a linear layer,
        ``(in, out / groups, *kernel)`` for a transposed convolution.

    Returns
    -------
    fan_in, fan_out : int
        ``shape[1] * prod(shape[2:])`` and ``shape[0] * prod(shape[2:])``.

    Examples
    --------
    >>> from convmm.nn import fan_in_and_fan_out
    >>> fan_in_and_fan_out((32, 16, 3, 3))
    (144, 288)
    """
    dims = _shape("convmm.nn.fan_in_and_fan_out", shape)
    if len(dims) < 2:
        raise ConvmmValueError(
            "convmm.nn.fan_in_and_fan_out: shape must have at least 2 dims (out, in, ...); "
            f"got {dims}"
        )
    receptive = math.prod(dims[2:])
    return dims[1] * receptive, dims[0] * receptive


def calculate_gain(nonlinearity: str, negative_slope: float = 0.01) -> float:
    """``torch.nn.init.calculate_gain``: the gain that keeps the activations' variance.

    1 for 'linear', 'sigmoid' and the convolutions ('conv1d', ..., 'conv_transpose3d'), 5/3
    for 'tanh', ``sqrt(2)`` for 'relu', ``sqrt(2 / (1 + negative_slope²))`` for 'leaky_relu',
    3/4 for 'selu'.

    Examples
    --------
    >>> from convmm.nn import calculate_gain
    >>> round(calculate_gain("relu"), 6), calculate_gain("linear")
    (1.414214, 1.0)
    """
    func = "convmm.nn.calculate_gain"
    choice(func, "nonlinearity", nonlinearity, _NONLINEARITIES)
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4.0
    slope = non_negative_float(func, "negative_slope", negative_slope)
    return math.sqrt(2.0 / (1.0 + slope**2))


def _draw(
    func: str, rng: object, dims: tuple[int, ...], std: float, dtype: Any, *, uniform: bool
) -> np.ndarray:
    """Numbers of mean 0 and standard deviation ``std``: ``N(0, std²)``, or ``U(-b, b)`` with
    ``b = sqrt(3) * std``."""
    source = generator(func, rng)
    if uniform:
        bound = math.sqrt(3.0) * std
        return source.uniform(-bound, bound, dims).astype(dtype)
    return (source.standard_normal(dims) * std).astype(dtype)


def _kaiming_std(
    func: str, shape: object, mode: str, nonlinearity: str, negative_slope: float
) -> tuple[tuple[int, ...], float]:
    dims = _shape(func, shape)
    choice(func, "mode", mode, ("fan_in", "fan_out"))
    choice(func, "nonlinearity", nonlinearity, _NONLINEARITIES)
    fan_in, fan_out = fan_in_and_fan_out(dims)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ConvmmValueError(f"{func}: shape {dims} has a zero {mode}")
    return dims, calculate_gain(nonlinearity, negative_slope) / math.sqrt(fan)


def kaiming_normal(
    shape: Sequence[int],
    rng: np.random.Generator,
    *,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    negative_slope: float = 0.0,
    dtype: type[np.floating] = np.float64,
) -> np.ndarray:
    """He initialisation, normal: ``N(0, std²)`` with ``std = gain / sqrt(fan)``.

    ``torch.nn.init.kaiming_normal_(w, a=negative_slope, mode=mode, nonlinearity=...)``.

    Parameters
    ----------
    shape : tuple of int
        The weight's shape (at least 2 dims, see :func:`fan_in_and_fan_out`).
    rng : numpy.random.Generator
        Where the numbers come from.
    mode : {'fan_in', 'fan_out'}
        Keep the variance of the forward pass ('fan_in') or of the backward pass ('fan_out').
    nonlinearity : str
        As in :func:`calculate_gain`; PyTorch's default, 'leaky_relu' with ``negative_slope``
        0, is ReLU's gain ``sqrt(2)``.
    negative_slope : float
        The leaky ReLU's slope (PyTorch's ``a``).
    dtype : numpy floating type
        The result's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from convmm.nn import kaiming_normal
    >>> w = kaiming_normal((256, 128, 3, 3), np.random.default_rng(0), nonlinearity="relu")
    >>> round(float(w.std()), 3), round((2 / (128 * 9)) ** 0.5, 3)
    (0.042, 0.042)
    """
    func = "convmm.nn.kaiming_normal"
    dims, std = _kaiming_std(func, shape, mode, nonlinearity, negative_slope)
    return _draw(func, rng, dims, std, dtype, uniform=False)


def kaiming_uniform(
    shape: Sequence[int],
    rng: np.random.Generator,
    *,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    negative_slope: float = 0.0,
    dtype: type[np.floating] = np.float64,
) -> np.ndarray:
    """He initialisation, uniform: ``U(-b, b)`` with ``b = sqrt(3) * gain / sqrt(fan)``.

    ``torch.nn.init.kaiming_uniform_``; the parameters are those of :func:`kaiming_normal`.
    PyTorch's own default for convolutions and linear layers is this with
    ``negative_slope=sqrt(5)``, that is ``b = 1 / sqrt(fan_in)``.

    Examples
    --------
    >>> import numpy as np
    >>> from convmm.nn import kaiming_uniform
    >>> w = kaiming_uniform((64, 16, 5), np.random.default_rng(0), negative_slope=5**0.5)
    >>> bool(abs(w).max() <= 1 / (16 * 5) ** 0.5)
    True
    """
    func = "convmm.nn.kaiming_uniform"
    dims, std = _kaiming_std(func, shape, mode, nonlinearity, negative_slope)
    return _draw(func, rng, dims, std, dtype, uniform=True)


def _xavier_std(func: str, shape: object, gain: float) -> tuple[tuple[int, ...], float]:
    dims = _shape(func, shape)
    gain = non_negative_float(func, "gain", gain)
    fan_in, fan_out = fan_in_and_fan_out(dims)
    if fan_in + fan_out == 0:
        raise ConvmmValueError(f"{func}: shape {dims} has zero fans")
    return dims, gain * math.sqrt(2.0 / (fan_in + fan_out))


def xavier_normal(
    shape: Sequence[int],
    rng: np.random.Generator,
    *,
    gain: float = 1.0,
    dtype: type[np.floating] = np.float64,
) -> np.ndarray:
    """Glorot initialisation, normal: ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    ``torch.nn.init.xavier_normal_``.

    Examples
    --------
    >>> import numpy as np
    >>> from convmm.nn import xavier_normal
    >>> w = xavier_normal((300, 200), np.random.default_rng(0))
    >>> round(float(w.std()), 3), round((2 / 500) ** 0.5, 3)
    (0.063, 0.063)
    """
    func = "convmm.nn.xavier_normal"
    dims, std = _xavier_std(func, shape, gain)
    return _draw(func, rng, dims, std, dtype, uniform=False)


def xavier_uniform(
    shape: Sequence[int],
    rng: np.random.Generator,
    *,
    gain: float = 1.0,
    dtype: type[np.floating] = np.float64,
) -> np.ndarray:
    """Glorot initialisation, uniform: ``b = gain * sqrt(6 / (fan_in + fan_out))``.

    ``torch.nn.init.xavier_uniform_``.

    Examples
    --------
    >>> import numpy as np
    >>> from convmm.nn import xavier_uniform
    >>> w = xavier_uniform((300, 200), np.random.default_rng(0))
    >>> bool(abs(w).max() <= (6 / 500) ** 0.5)
    True
    """
    func = "convmm.nn.xavier_uniform"
    dims, std = _xavier_std(func, shape, gain)
    return _draw(func, rng, dims, std, dtype, uniform=True)
