"""The base :class:`Layer`, the fully connected :class:`Linear`, the parameter-free
:class:`ReLU` and :class:`Flatten`, and the :class:`Sequential` container.

Every layer has the same small interface: ``forward(x)`` returns the output and caches what the
backward pass needs; ``backward(grad)`` takes the loss's gradient with respect to that output,
returns the gradient with respect to ``x`` and stores the parameters' gradients in ``grads``
(replacing, not adding to, the previous ones) under the names of ``params``.
"""

from __future__ import annotations

import math
from typing import Any, Literal, overload

import numpy as np

from .._errors import ConvmmTypeError, ConvmmValueError
from ._checks import batch, cached, generator, positive_int
from ._init import fan_in_and_fan_out, kaiming_uniform

__all__ = ["Flatten", "Layer", "Linear", "ReLU", "Sequential"]


class Layer:
    """The interface: ``forward``, ``backward``, and the ``params`` and ``grads`` dicts."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: Any) -> np.ndarray:
        """The layer's output for the batch ``x``; caches what :meth:`backward` needs."""
        raise NotImplementedError

    def backward(self, grad: Any) -> np.ndarray:
        """The input's gradient, given the output's; stores the parameters' in ``grads``."""
        raise NotImplementedError

    def parameter_backward(self, grad: Any) -> None:
        """Store the parameters' gradients only: for a first layer, whose input needs none.

        :meth:`backward` by default; the convolutions skip the input's gradient (half their
        backward pass), as PyTorch does for an input that does not require grad.
        """
        self.backward(grad)

    def __call__(self, x: Any) -> np.ndarray:
        return self.forward(x)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={v.shape}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


def _dtype(func: str, dtype: object) -> np.dtype[Any]:
    if dtype not in (np.float32, np.float64, "float32", "float64"):
        raise ConvmmTypeError(f"{func}: dtype must be float32 or float64; got {dtype!r}")
    return np.dtype(str(np.dtype(dtype)))


def _torch_default_init(
    layer: Layer,
    shape: tuple[int, ...],
    bias_size: int | None,
    rng: np.random.Generator,
    dtype: Any,
) -> None:
    """PyTorch's ``reset_parameters``: ``kaiming_uniform(a=sqrt(5))``, bias ``U(±1/√fan_in)``."""
    layer.params["weight"] = kaiming_uniform(shape, rng, negative_slope=math.sqrt(5.0), dtype=dtype)
    if bias_size is not None:
        fan_in = fan_in_and_fan_out(shape)[0]
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        layer.params["bias"] = rng.uniform(-bound, bound, bias_size).astype(dtype)


class Linear(Layer):
    """A fully connected layer, ``y = x·Wᵀ + b`` (``torch.nn.Linear``, its initialisation too).

    Examples
    --------
    >>> import numpy as np
    >>> from convmm.nn import Linear
    >>> fc = Linear(4, 3, rng=np.random.default_rng(0))
    >>> fc.forward(np.ones((2, 4))).shape, fc.params["weight"].shape
    ((2, 3), (3, 4))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        rng: np.random.Generator,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = "convmm.nn.Linear"
        shape = (positive_int(func, "out_features", out_features),
                 positive_int(func, "in_features", in_features))  # fmt: skip
        _torch_default_init(
            self, shape, shape[0] if bias else None, generator(func, rng), _dtype(func, dtype)
        )
        self._x: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        self._x = batch("convmm.nn.Linear.forward", x, ndim=2)
        if self._x.shape[1] != self.params["weight"].shape[1]:
            raise ConvmmValueError(
                f"convmm.nn.Linear.forward: x must have {self.params['weight'].shape[1]} "
                f"features (shape (N, in_features)); got shape {self._x.shape}"
            )
        y: np.ndarray = self._x @ self.params["weight"].T
        return y + self.params["bias"] if "bias" in self.params else y

    def backward(self, grad: Any) -> np.ndarray:
        x = cached("convmm.nn.Linear.backward", self._x)
        g = np.asarray(grad)
        self.grads["weight"] = g.T @ x
        if "bias" in self.params:
            self.grads["bias"] = g.sum(axis=0)
        return np.asarray(g @ self.params["weight"])


class ReLU(Layer):
    """``max(x, 0)``; its gradient passes where ``x > 0`` (PyTorch's choice at 0: none).

    Examples
    --------
    >>> import numpy as np
    >>> from convmm.nn import ReLU
    >>> relu = ReLU()
    >>> relu.forward(np.array([[-1.0, 2.0]])), relu.backward(np.array([[5.0, 5.0]]))
    (array([[0., 2.]]), array([[0., 5.]]))
    """

    def __init__(self) -> None:
        super().__init__()
        self._mask: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        array = batch("convmm.nn.ReLU.forward", x, min_ndim=1)
        self._mask = array > 0
        out: np.ndarray = np.maximum(array, 0)  # NaN stays NaN, as in torch.relu
        return out

    def backward(self, grad: Any) -> np.ndarray:
        mask = cached("convmm.nn.ReLU.backward", self._mask)
        g = np.asarray(grad)
        if np.isfinite(g).all():  # a product: NumPy's np.where on a mask is ~10x slower
            product: np.ndarray = g * mask
            return product
        out: np.ndarray = np.where(mask, g, 0).astype(g.dtype, copy=False)  # inf * 0 is NaN
        return out


class Flatten(Layer):
    """``(N, ...)`` to ``(N, prod(...))``, and the gradient back to the input's shape.

    Examples
    --------
    >>> import numpy as np
    >>> from convmm.nn import Flatten
    >>> Flatten().forward(np.zeros((2, 3, 4, 4))).shape
    (2, 48)
    """

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: Any) -> np.ndarray:
        array = batch("convmm.nn.Flatten.forward", x)
        self._shape = array.shape
        return array.reshape(array.shape[0], -1)

    def backward(self, grad: Any) -> np.ndarray:
        shape: tuple[int, ...] = cached("convmm.nn.Flatten.backward", self._shape)
        return np.asarray(grad).reshape(shape)


class Sequential(Layer):
    """Layers applied in turn; ``params`` and ``grads`` name theirs ``'<index>.<name>'``.

    The arrays of ``params`` are the layers' own, so an optimiser updating them in place
    updates the layers.

    Examples
    --------
    >>> import numpy as np
    >>> from convmm.nn import Linear, ReLU, Sequential
    >>> rng = np.random.default_rng(0)
    >>> net = Sequential(Linear(4, 8, rng=rng), ReLU(), Linear(8, 2, rng=rng))
    >>> net.forward(np.ones((3, 4), dtype=np.float32)).shape
    (3, 2)
    >>> sorted(net.params)
    ['0.bias', '0.weight', '2.bias', '2.weight']
    """

    def __init__(self, *layers: Layer) -> None:  # no Layer.__init__: params are the layers'
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ConvmmTypeError(
                    f"convmm.nn.Sequential: layer {i} must be a convmm.nn.Layer; "
                    f"got {type(layer).__name__}"
                )
        self.layers = list(layers)

    @property
    def params(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        """The layers' parameters, ``'<index>.<name>'``: the layers' own arrays."""
        return {
            f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()
        }

    @property
    def grads(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        """The layers' gradients from the last :meth:`backward`, named as ``params``."""
        return {
            f"{i}.{k}": g for i, layer in enumerate(self.layers) for k, g in layer.grads.items()
        }

    def forward(self, x: Any) -> np.ndarray:
        out = np.asarray(x)
        for layer in self.layers:
            out = layer.forward(out)
        return out

    @overload
    def backward(self, grad: Any, *, input_grad: Literal[True] = True) -> np.ndarray: ...

    @overload
    def backward(self, grad: Any, *, input_grad: Literal[False]) -> None: ...

    @overload
    def backward(self, grad: Any, *, input_grad: bool) -> np.ndarray | None: ...

    def backward(self, grad: Any, *, input_grad: bool = True) -> np.ndarray | None:
        """The gradient with respect to the network's input, through every layer.

        ``input_grad=False`` (a training step: the data needs no gradient) stops at the
        parameters of the first layer that has any (:meth:`Layer.parameter_backward`) and
        returns None.
        """
        g = np.asarray(grad)
        if input_grad:
            for layer in reversed(self.layers):
                g = layer.backward(g)
            return g
        first = next((i for i, layer in enumerate(self.layers) if layer.params), None)
        if first is None:  # no parameters: nothing to compute
            return None
        for layer in reversed(self.layers[first + 1 :]):
            g = layer.backward(g)
        self.layers[first].parameter_backward(g)
        return None

    def parameter_backward(self, grad: Any) -> None:
        self.backward(grad, input_grad=False)

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"
