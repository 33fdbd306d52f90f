"""Array coercion and the dtype rules, in one place.

- Inputs must be floating point: float16, float32 or float64.  Integer, boolean, complex and
  non-numeric arrays are refused with a ``TypeError`` (convert with ``.astype(np.float32)``):
  an integer convolution would silently overflow or be rounded, which is worse than an error.
- The computation runs in the widest dtype among the arrays, at least float32: float16 is
  computed in float32 and rounded once at the end.
- The result has the dtype of ``input``, whatever the other arrays' dtypes: a float32 input with
  a float64 weight is computed in float64 and returned as float32.  A gradient has the dtype of
  the array it is the gradient of (the bias gradient: the weight's).
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any

import numpy as np

from ._errors import ConvmmTypeError, ConvmmValueError

__all__ = [
    "DEFAULT_MAX_WORKSPACE_BYTES",
    "as_float_array",
    "check_allocation",
    "check_flags",
    "compute_dtype",
    "workspace_budget",
]

#: The workspace bound used when ``max_workspace_bytes`` is None: 256 MiB.
DEFAULT_MAX_WORKSPACE_BYTES = 256 * 1024 * 1024

_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def as_float_array(value: Any, *, func: str, name: str) -> np.ndarray:
    """``value`` as an ndarray of float16/32/64, without copying; ``TypeError`` otherwise."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise ConvmmTypeError(
            f"{func}: {name} must be a floating-point array; got {type(value).__name__} "
            f"that NumPy cannot convert ({error})"
        ) from None
    if array.dtype not in _FLOATS:
        hint = " (convert with .astype(np.float32))" if array.dtype.kind in "biu" else ""
        raise ConvmmTypeError(
            f"{func}: {name} must be a floating-point array (float16, float32 or float64); "
            f"got dtype {array.dtype}{hint}"
        )
    return array


def compute_dtype(*arrays: np.ndarray | None) -> np.dtype[Any]:
    """The dtype the arithmetic runs in: the widest of the arrays, at least float32."""
    return np.result_type(np.float32, *(a.dtype for a in arrays if a is not None))


def conv_arrays(
    input: Any, weight: Any, bias: Any, *, func: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``input``, ``weight`` and the optional ``bias`` through :func:`as_float_array`."""
    x = as_float_array(input, func=func, name="input")
    w = as_float_array(weight, func=func, name="weight")
    b = None if bias is None else as_float_array(bias, func=func, name="bias")
    return x, w, b


def workspace_budget(max_workspace_bytes: object, *, func: str) -> int:
    """The workspace bound in bytes, from the ``max_workspace_bytes`` argument."""
    if max_workspace_bytes is None:
        return DEFAULT_MAX_WORKSPACE_BYTES
    if isinstance(max_workspace_bytes, bool) or not isinstance(
        max_workspace_bytes, int | np.integer
    ):
        raise ConvmmTypeError(
            f"{func}: max_workspace_bytes must be None or a positive int (bytes); "
            f"got {max_workspace_bytes!r}"
        )
    if max_workspace_bytes <= 0:
        raise ConvmmValueError(
            f"{func}: max_workspace_bytes must be None or a positive int (bytes); "
            f"got {max_workspace_bytes}"
        )
    return int(max_workspace_bytes)


def check_flags(func: str, **flags: object) -> None:
    """``TypeError`` unless every flag is a bool."""
    for name, flag in flags.items():
        if not isinstance(flag, bool | np.bool_):
            raise ConvmmTypeError(f"{func}: {name} must be True or False; got {flag!r}")


@functools.cache
def physical_memory_bytes() -> int | None:
    """This machine's physical memory in bytes, or None where the OS does not say (asked once:
    every call of a public function checks its result's size against it)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # pragma: no cover - non-POSIX systems
        return None


_INTP_MAX = int(np.iinfo(np.intp).max)


def _bytes_text(n: int) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def check_allocation(
    shape: tuple[int, ...], dtype: np.dtype[Any] | type, *, func: str, what: str = "the output"
) -> None:
    """``ValueError`` when an array of ``shape`` would not fit in this machine's memory.

    Called before a public function allocates its result, so that a huge output (a padding of
    10**6, an ``output_size`` typed with too many zeros) is a clear error naming the function,
    the shape and the bytes, not NumPy's ``MemoryError``.
    """
    itemsize = np.dtype(dtype).itemsize
    needed = math.prod(shape) * itemsize
    memory = physical_memory_bytes()
    limit = min(memory, _INTP_MAX) if memory else _INTP_MAX
    if needed > limit:
        where = f"this machine's memory ({_bytes_text(memory)})" if memory else "addressable"
        raise ConvmmValueError(
            f"{func}: {what} would have shape {shape}, {needed:,} bytes "
            f"({_bytes_text(needed)}) of {np.dtype(dtype).name}, more than {where}; check the "
            f"padding, output_size and input sizes"
        )
