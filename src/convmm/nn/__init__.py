"""Small NumPy neural-network layers built on convmm's public ops: a demonstration, not a
framework.

:class:`Conv` runs :func:`convmm.conv` forward and :func:`convmm.conv_backward` backward;
:class:`ConvTranspose` :func:`convmm.conv_transpose` and its backward; :class:`MaxPool` and
:class:`AvgPool` reduce the row blocks of the patch matrix (the slices :func:`convmm.unfold`
copies) and add their gradients back through them, as :func:`convmm.fold` does.  Every layer
has ``forward(x)`` (which caches what the backward pass needs), ``backward(grad)`` (which
returns the input's gradient and stores the parameters' in ``grads``) and the dicts ``params``
and ``grads``.  :class:`SGD` and :class:`Adam` update ``params`` in
place; the initialisers follow ``torch.nn.init``.

Examples
--------
>>> import numpy as np
>>> from convmm import nn
>>> rng = np.random.default_rng(0)
>>> net = nn.Sequential(
...     nn.Conv(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool(2),
...     nn.Flatten(), nn.Linear(4 * 4 * 4, 10, rng=rng),
... )
>>> x, y = rng.random((8, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, 8)
>>> opt = nn.SGD(net, lr=0.1, momentum=0.9)
>>> losses = []
>>> for _ in range(5):
...     loss, grad = nn.softmax_cross_entropy(net.forward(x), y)
...     _ = net.backward(grad)
...     opt.step()
...     losses.append(loss)
>>> losses[-1] < losses[0]
True
"""

from ._conv_layers import Conv, ConvTranspose
from ._init import (
    calculate_gain,
    fan_in_and_fan_out,
    kaiming_normal,
    kaiming_uniform,
    xavier_normal,
    xavier_uniform,
)
from ._layers import Flatten, Layer, Linear, ReLU, Sequential
from ._optim import SGD, Adam, softmax_cross_entropy
from ._pool import AvgPool, MaxPool

__all__ = [
    "SGD",
    "Adam",
    "AvgPool",
    "Conv",
    "ConvTranspose",
    "Flatten",
    "Layer",
    "Linear",
    "MaxPool",
    "ReLU",
    "Sequential",
    "calculate_gain",
    "fan_in_and_fan_out",
    "kaiming_normal",
    "kaiming_uniform",
    "softmax_cross_entropy",
    "xavier_normal",
    "xavier_uniform",
]
