"""The convolution layers: :class:`Conv` (``convmm.conv`` and ``convmm.conv_backward``) and
:class:`ConvTranspose` (``convmm.conv_transpose`` and ``convmm.conv_transpose_backward``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from .._conv import conv, conv_backward
from .._conv_transpose import conv_transpose, conv_transpose_backward
from .._errors import ConvmmValueError
from ._checks import batch, cached, choice, generator, positive_int
from ._layers import Layer, _dtype, _torch_default_init

__all__ = ["Conv", "ConvTranspose"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _kernel(func: str, kernel_size: object, ndim: object) -> tuple[int, ...]:
    if isinstance(kernel_size, Sequence) and not isinstance(kernel_size, str):
        if len(kernel_size) == 0:
            raise ConvmmValueError(f"{func}: kernel_size must not be empty; got ()")
        return tuple(positive_int(func, "kernel_size", k) for k in kernel_size)
    rank = positive_int(func, "ndim", 2 if ndim is None else ndim)
    return (positive_int(func, "kernel_size", kernel_size),) * rank


def _channels(func: str, in_channels: object, out_channels: object, groups: object) -> int:
    c_in = positive_int(func, "in_channels", in_channels)
    c_out = positive_int(func, "out_channels", out_channels)
    g = positive_int(func, "groups", groups)
    if c_in % g or c_out % g:
        raise ConvmmValueError(
            f"{func}: in_channels and out_channels must be divisible by groups; "
            f"got in_channels={c_in}, out_channels={c_out}, groups={g}"
        )
    return g


class _ConvLayer(Layer):
    """What :class:`Conv` and :class:`ConvTranspose` share: PyTorch's initialisation, and the
    forward and backward passes through their op (``_forward_op``) and its backward function
    (``_backward_op``), with or without the input's gradient."""

    _name = ""
    groups: int
    options: dict[str, Any]
    _x: np.ndarray | None

    @staticmethod
    def _forward_op(*args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def _backward_op(*args: Any, **kwargs: Any) -> tuple[np.ndarray | None, ...]:
        raise NotImplementedError

    def _initialise(
        self,
        dims: tuple[int, int],
        kernel: tuple[int, ...],
        bias_size: int | None,
        rng: object,
        dtype: object,
    ) -> None:
        """The weight ``(dims[0], dims[1] / groups, *kernel)`` and the bias, as PyTorch's
        ``reset_parameters`` draws them."""
        func = f"convmm.nn.{self._name}"
        shape = (int(dims[0]), int(dims[1]) // self.groups, *kernel)
        _torch_default_init(self, shape, bias_size, generator(func, rng), _dtype(func, dtype))
        self._x = None

    def forward(self, x: Any) -> np.ndarray:
        self._x = batch(f"convmm.nn.{self._name}.forward", x, ndim=self.params["weight"].ndim)
        w, b = self.params["weight"], self.params.get("bias")
        return self._forward_op(self._x, w, b, **self.options)

    def backward(self, grad: Any) -> np.ndarray:
        return cast(np.ndarray, self._gradients(grad, input_grad=True))

    def parameter_backward(self, grad: Any) -> None:
        self._gradients(grad, input_grad=False)

    def _gradients(self, grad: Any, *, input_grad: bool) -> np.ndarray | None:
        """Store the weight's (and the bias's) gradient; the input's when asked, else None."""
        x = cached(f"convmm.nn.{self._name}.backward", self._x)
        gx, gw, gb = self._backward_op(
            np.asarray(grad),  # NumPy in, NumPy out (a dask grad would give lazy gradients)
            x,
            self.params["weight"],
            bias="bias" in self.params,
            needs_input_grad=input_grad,
            **self.options,
        )
        self.grads["weight"] = cast(np.ndarray, gw)  # always asked for
        if gb is not None:  # None exactly when the layer has no bias
            self.grads["bias"] = gb
        return gx


class Conv(_ConvLayer):
    """An N-D convolution layer: ``convmm.conv`` forward, ``convmm.conv_backward`` backward.

    ``torch.nn.Conv{1,2,3}d`` for any rank, with PyTorch's default initialisation.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output.
    kernel_size : int or tuple of int
        A tuple's length is the spatial rank; for an int the rank is ``ndim``.
    ndim : int, optional
        The spatial rank when ``kernel_size`` is an int (default 2).
    stride, padding, dilation, groups, padding_mode
        As in :func:`convmm.conv` (``padding`` may be ``'same'``, ``'valid'`` or per side).
    bias : bool
        Whether the layer adds a learnt bias per output channel.
    rng : numpy.random.Generator
        Where the initial weights come from.
    dtype : {numpy.float32, numpy.float64}
        The parameters' dtype.
    algorithm, max_workspace_bytes
        As in :func:`convmm.conv`, for the forward and the backward pass.

    Attributes
    ----------
    params, grads : dict of str to ndarray
        ``'weight'`` of shape ``(out_channels, in_channels / groups, *kernel_size)`` and
        ``'bias'`` of shape ``(out_channels,)``; ``grads`` is filled by :meth:`backward`.

    Examples
    --------
    >>> import numpy as np
    >>> from convmm.nn import Conv
    >>> layer = Conv(3, 8, 3, padding="same", rng=np.random.default_rng(0))
    >>> x = np.ones((2, 3, 5, 5), dtype=np.float32)
    >>> layer.forward(x).shape
    (2, 8, 5, 5)
    >>> layer.backward(np.ones((2, 8, 5, 5), dtype=np.float32)).shape, layer.grads["weight"].shape
    ((2, 3, 5, 5), (8, 3, 3, 3))
    """

    _name = "Conv"
    _forward_op = staticmethod(conv)
    _backward_op = staticmethod(conv_backward)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        *,
        ndim: int | None = None,
        stride: int | tuple[int, ...] = 1,
        padding: int | str | tuple[Any, ...] = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        rng: np.random.Generator,
        dtype: Any = np.float32,
        algorithm: str = "auto",
        max_workspace_bytes: int | None = None,
    ) -> None:
        super().__init__()
        func = "convmm.nn.Conv"
        kernel = _kernel(func, kernel_size, ndim)
        self.groups = _channels(func, in_channels, out_channels, groups)
        self.padding_mode = choice(func, "padding_mode", padding_mode, _PADDING_MODES)
        self.options: dict[str, Any] = {
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "groups": self.groups,
            "padding_mode": padding_mode,
            "algorithm": algorithm,
            "max_workspace_bytes": max_workspace_bytes,
        }
        bias_size = int(out_channels) if bias else None
        self._initialise((out_channels, in_channels), kernel, bias_size, rng, dtype)


class ConvTranspose(_ConvLayer):
    """An N-D transposed convolution: ``convmm.conv_transpose`` and its backward.

    ``torch.nn.ConvTranspose{1,2,3}d`` for any rank, with PyTorch's default initialisation
    (whose fans come from the weight's dims 0 and 1 as for a convolution).

    Parameters
    ----------
    in_channels, out_channels, kernel_size, ndim, bias, rng, dtype, algorithm
        As in :class:`Conv`.
    max_workspace_bytes
        As in :class:`Conv`.
    stride, padding, output_padding, dilation, groups
        As in :func:`convmm.conv_transpose`.

    Attributes
    ----------
    params, grads : dict of str to ndarray
        ``'weight'`` of shape ``(in_channels, out_channels / groups, *kernel_size)`` and
        ``'bias'`` of shape ``(out_channels,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from convmm.nn import ConvTranspose
    >>> up = ConvTranspose(4, 2, 2, stride=2, rng=np.random.default_rng(0))
    >>> up.forward(np.ones((1, 4, 3, 3), dtype=np.float32)).shape
    (1, 2, 6, 6)
    """

    _name = "ConvTranspose"
    _forward_op = staticmethod(conv_transpose)
    _backward_op = staticmethod(conv_transpose_backward)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        *,
        ndim: int | None = None,
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[Any, ...] = 0,
        output_padding: int | tuple[int, ...] = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        rng: np.random.Generator,
        dtype: Any = np.float32,
        algorithm: str = "auto",
        max_workspace_bytes: int | None = None,
    ) -> None:
        super().__init__()
        func = "convmm.nn.ConvTranspose"
        kernel = _kernel(func, kernel_size, ndim)
        self.groups = _channels(func, in_channels, out_channels, groups)
        self.options: dict[str, Any] = {
            "stride": stride,
            "padding": padding,
            "output_padding": output_padding,
            "dilation": dilation,
            "groups": self.groups,
            "algorithm": algorithm,
            "max_workspace_bytes": max_workspace_bytes,
        }
        bias_size = int(out_channels) if bias else None
        self._initialise((in_channels, out_channels), kernel, bias_size, rng, dtype)
