"""Argument checks shared by :mod:`convmm.nn`: each error names the function, the parameter,
what was expected and what was given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import ConvmmTypeError, ConvmmValueError


def positive_int(func: str, name: str, value: object) -> int:
    """``value`` as an int, refusing a non-int (or a bool) and a value below 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConvmmTypeError(f"{func}: {name} must be an int; got {type(value).__name__}")
    if value < 1:
        raise ConvmmValueError(f"{func}: {name} must be a positive int; got {value}")
    return int(value)


def positive_ints(func: str, name: str, value: object, ndim: int) -> tuple[int, ...]:
    """An int or a tuple of ``ndim`` positive ints, as a tuple of ``ndim`` ints."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != ndim:
            raise ConvmmValueError(
                f"{func}: {name} must be an int or a tuple of {ndim} ints; got {tuple(value)}"
            )
        return tuple(positive_int(func, name, v) for v in value)
    return (positive_int(func, name, value),) * ndim


def non_negative_float(func: str, name: str, value: object, *, below: float | None = None) -> float:
    """``value`` as a float ``>= 0`` (and ``< below`` when given)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ConvmmTypeError(f"{func}: {name} must be a number; got {type(value).__name__}")
    number = float(value)
    if not number >= 0 or (below is not None and not number < below):
        bound = f" and below {below}" if below is not None else ""
        raise ConvmmValueError(f"{func}: {name} must be >= 0{bound}; got {value}")
    return number


def choice(func: str, name: str, value: object, options: Sequence[str]) -> str:
    """``value`` if it is one of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise ConvmmValueError(f"{func}: {name} must be one of {tuple(options)}; got {value!r}")
    return value


def generator(func: str, rng: object) -> np.random.Generator:
    """``rng`` if it is a :class:`numpy.random.Generator`."""
    if not isinstance(rng, np.random.Generator):
        raise ConvmmTypeError(
            f"{func}: rng must be a numpy.random.Generator (numpy.random.default_rng(seed)); "
            f"got {type(rng).__name__}"
        )
    return rng


def batch(
    func: str, x: Any, *, min_ndim: int = 2, ndim: int | None = None, name: str = "x"
) -> np.ndarray:
    """``x`` as a floating array of at least ``min_ndim`` dims (exactly ``ndim`` when given);
    ``name`` is the parameter's in the errors."""
    array = np.asarray(x)
    if not np.issubdtype(array.dtype, np.floating):
        raise ConvmmTypeError(f"{func}: {name} must be a floating array; got dtype {array.dtype}")
    if (ndim is not None and array.ndim != ndim) or array.ndim < min_ndim:
        want = f"{ndim}" if ndim is not None else f"at least {min_ndim}"
        raise ConvmmValueError(
            f"{func}: {name} must have {want} dims (a batch: N, C, ...); got shape {array.shape}"
        )
    return array


def cached(func: str, value: Any) -> Any:
    """What ``forward`` cached, refusing a ``backward`` before any ``forward``."""
    if value is None:
        raise ConvmmValueError(f"{func}: backward needs a forward first; got no cached input")
    return value
