"""Arrays of other libraries: which calls leave NumPy, their namespace, device and dtypes.

A public function hands its arrays to :func:`foreign` first: ``True`` sends the call down the
portable path (:mod:`convmm._portable_calls`), which computes with the caller's own library
and returns that library's arrays on the arrays' device.  NumPy arrays, NumPy scalars and
Python lists or numbers (what ``np.asarray`` takes) stay on NumPy's planned path, and so do
dask arrays (``convmm._dask`` computes them chunk by chunk with NumPy).  The check costs one
``type(x) is np.ndarray`` per array on that path; ``array_api_compat`` is imported only when an
array of another library arrives.

The rules of the portable path, checked here with the same wording as :mod:`convmm._arrays`:

- every array of a call comes from one library (a torch input with a NumPy weight is a
  ``TypeError`` naming both types) and lies on one device, where the result is made;
- arrays are floating point: float16 (where the library has it), float32 or float64;
- the arithmetic runs in the widest dtype of the arrays, at least float32, and the result has
  the input's dtype (a gradient: the dtype of the array it is the gradient of).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import ConvmmTypeError, ConvmmValueError

__all__ = ["Namespace", "foreign", "library_name", "namespace", "shape_of", "stand_in"]

#: Libraries that ``array_api_compat`` wraps whose arrays carry no ``__array_namespace__``.
_WRAPPED = frozenset({"torch", "cupy", "jax", "jaxlib", "sparse", "ndonnx"})
#: What stays on the NumPy path although it is not an ndarray: ``np.asarray`` converts it.
_NUMPY_LIKE = (np.ndarray, np.generic, list, tuple, int, float)


def foreign(*values: object) -> bool:
    """Whether any of ``values`` is an array of a library other than NumPy (and not dask).

    Cheap for NumPy: ``None`` and ndarrays are passed over with one test each.  A dask array
    anywhere keeps the whole call off the portable path (dask has its own).
    """
    found = False
    for value in values:
        if value is None or type(value) is np.ndarray or isinstance(value, _NUMPY_LIKE):
            continue
        kind = type(value)
        root = kind.__module__.partition(".")[0]
        if root == "dask":
            return False
        if root in _WRAPPED or hasattr(kind, "__array_namespace__"):
            found = True
    return found


def _root(value: object) -> str:
    """The library of ``value``'s type (``jax`` for ``jaxlib``'s arrays and jax's tracers)."""
    root = type(value).__module__.partition(".")[0]
    return "jax" if root == "jaxlib" else root


def library_name(value: object) -> str:
    """``value``'s type as its library names it: ``torch.Tensor``, ``numpy.ndarray``, ``list``."""
    kind = type(value)
    root = kind.__module__.partition(".")[0]
    return kind.__qualname__ if root == "builtins" else f"{root}.{kind.__qualname__}"


def _compat(func: str, what: str) -> Any:
    """``array_api_compat``, or an error saying which extra installs it (imported per call)."""
    try:
        import array_api_compat
    except ImportError as error:
        raise ConvmmTypeError(
            f"{func}: {what} arrays need the array API extra (array-api-compat): "
            f"pip install 'convmm[array-api]'"
        ) from error
    return array_api_compat


@dataclass(frozen=True)
class Namespace:
    """The library of one call's arrays, the device they lie on and their dtype rules.

    Attributes
    ----------
    xp : module
        The array API namespace (``array_api_compat``'s wrapper, or the library itself).
    device : object
        The device of every array of the call; results are made there.
    func : str
        The public function, for the error messages.
    """

    xp: Any
    device: Any
    func: str

    def floats(self) -> tuple[Any, ...]:
        """The floating dtypes accepted: float16 where the library has it, float32, float64."""
        half = getattr(self.xp, "float16", None)
        return tuple(d for d in (half, self.xp.float32, self.xp.float64) if d is not None)

    def check_float(self, array: Any, name: str) -> Any:
        """``array`` itself when its dtype is float16/32/64; a ``TypeError`` otherwise.

        The wording is :func:`convmm._arrays.as_float_array`'s, with the library's dtype name.
        """
        dtype = array.dtype
        if not any(dtype == d for d in self.floats()):
            integral = self.xp.isdtype(dtype, ("integral", "bool"))
            hint = f" (convert with xp.astype({name}, xp.float32))" if integral else ""
            raise ConvmmTypeError(
                f"{self.func}: {name} must be a floating-point array (float16, float32 or "
                f"float64); got dtype {dtype}{hint}"
            )
        return array

    def compute_dtype(self, *arrays: Any) -> Any:
        """The widest dtype of the arrays, at least float32 (as :mod:`convmm._arrays`)."""
        wide = any(a is not None and a.dtype == self.xp.float64 for a in arrays)
        return self.xp.float64 if wide else self.xp.float32

    def numpy_dtype(self, dtype: Any) -> np.dtype[Any]:
        """The NumPy float of ``dtype``'s width, for the size checks shared with NumPy."""
        return np.dtype(f"float{self.xp.finfo(dtype).bits}")

    def cast(self, array: Any, dtype: Any) -> Any:
        """``array`` in ``dtype`` (itself when it already is; never modified)."""
        return array if array.dtype == dtype else self.xp.astype(array, dtype)

    def zeros(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """Zeros of ``shape`` on the call's device."""
        return self.xp.zeros(shape, dtype=dtype, device=self.device)


def namespace(func: str, arrays: dict[str, Any]) -> Namespace:
    """The namespace and device of ``arrays`` (name: array, None for an absent one).

    All must come from one library and lie on one device; a ``TypeError`` names the types
    that differ, a ``ValueError`` the devices.
    """
    given = {name: a for name, a in arrays.items() if a is not None}
    (first_name, first), *rest = given.items()
    for name, array in rest:
        if _root(array) != _root(first):
            raise ConvmmTypeError(
                f"{func}: all arrays must come from one library; got {first_name} of type "
                f"{library_name(first)} and {name} of type {library_name(array)} (convert them "
                f"with one library's asarray)"
            )
    compat = _compat(func, library_name(first))
    try:
        xp = compat.array_namespace(*given.values())
    except TypeError as error:
        raise ConvmmTypeError(
            f"{func}: {first_name} of type {library_name(first)} is not an array of a library "
            f"that implements the Python array API standard ({error})"
        ) from None
    device = compat.device(first)
    for name, array in rest:
        other = compat.device(array)
        if other != device:
            raise ConvmmValueError(
                f"{func}: all arrays must lie on one device; got {first_name} on {device} and "
                f"{name} on {other}"
            )
    return Namespace(xp, device, func)


def shape_of(array: Any, func: str, name: str) -> tuple[int, ...]:
    """``array.shape`` as a tuple of ints (a ``ValueError`` for sizes not known yet)."""
    shape = tuple(array.shape)
    if any(n is None or (isinstance(n, float) and math.isnan(n)) for n in shape):
        raise ConvmmValueError(
            f"{func}: {name} must have a known shape (convmm checks every size before "
            f"computing); got shape {shape}"
        )
    return tuple(int(n) for n in shape)


def stand_in(shape: tuple[int, ...]) -> np.ndarray:
    """A NumPy array of ``shape`` that takes no memory (one element, broadcast).

    For the validation helpers that read only ``.shape`` and ``.ndim`` of their arrays
    (:func:`convmm._conv_transpose._geometry`), so that both paths run the very same checks.
    """
    return np.broadcast_to(np.zeros((), dtype=np.int8), shape)
