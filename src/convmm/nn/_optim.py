"""The loss, :func:`softmax_cross_entropy`, and the optimisers :class:`SGD` and :class:`Adam`
(``torch.optim``'s update rules, step for step)."""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from .._errors import ConvmmValueError
from ._checks import non_negative_float

__all__ = ["SGD", "Adam", "softmax_cross_entropy"]


def softmax_cross_entropy(logits: Any, labels: Any) -> tuple[float, np.ndarray]:
    """The mean cross-entropy of ``softmax(logits)`` against integer labels, and its gradient.

    ``torch.nn.functional.cross_entropy(logits, labels)`` (mean over the batch).

    Parameters
    ----------
    logits : array_like, shape ``(N, classes)``
        Unnormalised scores.
    labels : array_like of int, shape ``(N,)``
        The true class of each row, in ``[0, classes)``.

    Returns
    -------
    loss : float
    grad : ndarray, shape ``(N, classes)``
        The loss's gradient with respect to ``logits``: ``(softmax(logits) - onehot) / N``.

    Examples
    --------
    >>> import numpy as np
    >>> from convmm.nn import softmax_cross_entropy
    >>> loss, grad = softmax_cross_entropy(np.zeros((2, 4)), np.array([0, 3]))
    >>> round(loss, 6), round(float(np.log(4)), 6)
    (1.386294, 1.386294)
    >>> grad[0]
    array([-0.375,  0.125,  0.125,  0.125])
    """
    func = "convmm.nn.softmax_cross_entropy"
    z = np.asarray(logits)
    y = np.asarray(labels)
    if z.ndim != 2 or not np.issubdtype(z.dtype, np.floating):
        raise ConvmmValueError(
            f"{func}: logits must be a floating array of shape (N, classes); "
            f"got shape {z.shape}, dtype {z.dtype}"
        )
    if y.shape != z.shape[:1] or not np.issubdtype(y.dtype, np.integer):
        raise ConvmmValueError(
            f"{func}: labels must be ints of shape ({z.shape[0]},); got shape {y.shape}, "
            f"dtype {y.dtype}"
        )
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        raise ConvmmValueError(
            f"{func}: labels must lie in [0, {z.shape[1]}); got {y.min()}..{y.max()}"
        )
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(z.shape[0])
    loss = -float(log_p[rows, y].mean())
    grad = np.exp(log_p)
    grad[rows, y] -= 1.0
    return loss, grad / z.shape[0]


class _Model(Protocol):
    params: dict[str, np.ndarray]

    @property
    def grads(self) -> dict[str, np.ndarray]: ...


class _Optimizer:
    """What the optimisers share: the parameters and their state, the learning rate, and the
    weight decay (``g += weight_decay * p`` before each update)."""

    def __init__(self, model: _Model, lr: float, weight_decay: float) -> None:
        func = f"convmm.nn.{type(self).__name__}"
        if not isinstance(getattr(model, "params", None), dict):
            raise ConvmmValueError(
                f"{func}: model must have a params dict (a layer or a Sequential); "
                f"got {type(model).__name__}"
            )
        self.model = model
        self.lr = non_negative_float(func, "lr", lr)
        self.weight_decay = non_negative_float(func, "weight_decay", weight_decay)
        self.state: dict[str, dict[str, Any]] = {}

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        grads = self.model.grads
        for name, p in self.model.params.items():
            if name in grads:
                g = grads[name] + self.weight_decay * p if self.weight_decay else grads[name]
                self._update(p, g, self.state.setdefault(name, {}))

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError


class SGD(_Optimizer):
    """Stochastic gradient descent with momentum, ``torch.optim.SGD``'s rule.

    ``b = momentum * b + (1 - dampening) * g`` (``b = g`` at the first step), then
    ``p -= lr * b``; ``g`` includes ``weight_decay * p``.

    Examples
    --------
    >>> import numpy as np
    >>> from convmm.nn import SGD, Linear
    >>> fc = Linear(2, 1, bias=False, rng=np.random.default_rng(0), dtype=np.float64)
    >>> fc.params["weight"][...] = 1.0
    >>> fc.grads["weight"] = np.array([[1.0, -1.0]])
    >>> opt = SGD(fc, lr=0.1, momentum=0.9)
    >>> opt.step(); opt.step()
    >>> fc.params["weight"]
    array([[0.71, 1.29]])
    """

    def __init__(
        self,
        model: _Model,
        lr: float = 0.01,
        momentum: float = 0.0,
        *,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(model, lr, weight_decay)
        func = "convmm.nn.SGD"
        self.momentum = non_negative_float(func, "momentum", momentum)
        self.dampening = non_negative_float(func, "dampening", dampening)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        if self.momentum:
            if "buffer" not in state:
                state["buffer"] = np.array(g, copy=True)
            else:
                buf = state["buffer"]
                buf *= self.momentum
                buf += (1.0 - self.dampening) * g
            g = state["buffer"]
        p -= (self.lr * g).astype(p.dtype, copy=False)


class Adam(_Optimizer):
    """Adam, ``torch.optim.Adam``'s rule (bias-corrected moments, ``eps`` outside the root).

    Examples
    --------
    >>> import numpy as np
    >>> from convmm.nn import Adam, Linear
    >>> fc = Linear(2, 1, bias=False, rng=np.random.default_rng(0), dtype=np.float64)
    >>> fc.params["weight"][...] = 1.0
    >>> fc.grads["weight"] = np.array([[3.0, -0.5]])
    >>> Adam(fc, lr=0.1).step()   # the first step moves each weight by lr
    >>> fc.params["weight"]
    array([[0.9, 1.1]])
    """

    def __init__(
        self,
        model: _Model,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        *,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(model, lr, weight_decay)
        func = "convmm.nn.Adam"
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ConvmmValueError(f"{func}: betas must be a pair of floats; got {betas!r}")
        self.betas = (
            non_negative_float(func, "betas[0]", betas[0], below=1.0),
            non_negative_float(func, "betas[1]", betas[1], below=1.0),
        )
        self.eps = non_negative_float(func, "eps", eps)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        b1, b2 = self.betas
        if not state:
            state.update(step=0, m=np.zeros_like(p), v=np.zeros_like(p))
        state["step"] += 1
        m, v, t = state["m"], state["v"], state["step"]
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * g * g
        denom = np.sqrt(v) / math.sqrt(1.0 - b2**t) + self.eps
        p -= ((self.lr / (1.0 - b1**t)) * m / denom).astype(p.dtype, copy=False)
