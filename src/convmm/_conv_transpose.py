"""Transposed convolution: the fold of Kᵀ·X, and its gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._array_api import foreign
from ._arrays import as_float_array, check_flags, compute_dtype, workspace_budget
from ._dask import is_dask_array
from ._dispatch import backward, forward, transpose
from ._engine import bias_gradient
from ._planner import check_algorithm
from ._validate import (
    check_transposed_grad_output,
    check_transposed_weight_rank,
    transpose_geometry,
)

__all__ = ["conv_transpose", "conv_transpose_backward"]

_Ints = int | tuple[int, ...]
_OP = "conv_transpose_backward"


def conv_transpose(
    input: Any,
    weight: Any,
    bias: Any = None,
    *,
    stride: _Ints = 1,
    padding: int | tuple[Any, ...] = 0,
    output_padding: _Ints = 0,
    dilation: _Ints = 1,
    groups: int = 1,
    channels_last: bool = False,
    output_size: _Ints | None = None,
    max_workspace_bytes: int | None = None,
    algorithm: str = "auto",
) -> np.ndarray:
    """N-D transposed convolution: the fold (col2im) of Kᵀ·X.

    Each input position's channel vector is multiplied by Kᵀ into one column of patch values,
    and the columns are added into the output where a convolution with the same arguments would
    have read its patches.  This is the gradient of :func:`conv` with respect to its input, and
    ``torch.nn.functional.conv_transpose{1,2,3}d`` for any number of spatial dims.

    Parameters
    ----------
    input : array_like, shape ``(N, C_in, *spatial)`` or ``(C_in, *spatial)``
        ``(N, *spatial, C_in)`` or ``(*spatial, C_in)`` when ``channels_last``.
    weight : array_like, shape ``(C_in, C_out / groups, *kernel_size)``
        PyTorch's transposed layout.
    bias : array_like, shape ``(C_out,)``, optional
    stride, dilation : int or tuple of int
    padding : int or tuple
        An int, one int per dim, or one ``(before, after)`` pair per dim: how much is cropped
        from each side of the full output (what the matching convolution padded).
    output_padding : int or tuple of int
        Extra size added at the end of each dim (where a strided convolution's input had
        cells that no window reached); each must be smaller than the stride or the dilation.
    groups : int
    channels_last : bool
    output_size : int or tuple of int, optional
        Spatial output size to reach instead of giving ``output_padding`` (PyTorch's
        ``output_size=``, ONNX's ``output_shape``); as in PyTorch it may also be the whole
        output shape, batch and channel sizes included.  Any size from the smallest output up
        to ``max(stride, dilation) - 1`` more is reached (see
        :func:`conv_transpose_output_padding`).
    max_workspace_bytes : int, optional
        As in :func:`conv`: the Kᵀ·X columns are formed in chunks within the bound.
    algorithm : {'auto', 'im2col', 'shift', 'depthwise', 'winograd'}
        As in :func:`conv`.

    Returns
    -------
    ndarray
        ``(N, C_out, *output)`` with ``output = (n - 1)*stride - before - after +
        dilation*(kernel - 1) + output_padding + 1`` per dim (channels last, or unbatched, as
        the input).  The dtype of ``input``.

    Examples
    --------
    Upsampling a 2x2 image by 2 with a 2x2 kernel of ones repeats each pixel:

    >>> import numpy as np, convmm
    >>> convmm.conv_transpose(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), np.ones((1, 1, 2, 2)),
    ...                       stride=2)[0, 0]
    array([[1., 1., 2., 2.],
           [1., 1., 2., 2.],
           [3., 3., 4., 4.],
           [3., 3., 4., 4.]])
    """
    return _transpose(
        "convmm.conv_transpose",
        input,
        weight,
        bias,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        groups=groups,
        channels_last=channels_last,
        output_size=output_size,
        max_workspace_bytes=max_workspace_bytes,
        algorithm=algorithm,
    )


def _transpose(
    func: str,
    input: Any,
    weight: Any,
    bias: Any,
    *,
    stride: object,
    padding: object,
    output_padding: object,
    dilation: object,
    groups: object,
    channels_last: object,
    output_size: object,
    max_workspace_bytes: object,
    algorithm: object = "auto",
    ndim: int | None = None,
) -> np.ndarray:
    """:func:`conv_transpose` with errors naming ``func``; ``ndim`` checks the weight's rank."""
    arguments = {
        "stride": stride,
        "padding": padding,
        "output_padding": output_padding,
        "dilation": dilation,
        "groups": groups,
        "channels_last": channels_last,
        "output_size": output_size,
        "max_workspace_bytes": max_workspace_bytes,
        "algorithm": algorithm,
    }
    if foreign(input, weight, bias):  # arrays of another library: computed with it
        from ._portable_calls import portable_conv_transpose

        return portable_conv_transpose(func, input, weight, bias, ndim=ndim, **arguments)  # type: ignore[no-any-return]
    lazy = is_dask_array(input)  # a dask input: a lazy result, block by block
    x = input if lazy else as_float_array(input, func=func, name="input")
    w = as_float_array(weight, func=func, name="weight")
    check_transposed_weight_rank(w.shape, ndim, func)
    b = None if bias is None else as_float_array(bias, func=func, name="bias")
    if lazy:
        from ._dask_ops import dask_conv_transpose

        return dask_conv_transpose(  # type: ignore[no-any-return]
            func, x, w, b, arguments, conv_transpose=conv_transpose
        )
    geometry = transpose_geometry(
        x,
        w,
        None if b is None else b.shape,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        output_size=output_size,
        dilation=dilation,
        groups=groups,
        channels_last=channels_last,
        func=func,
    )
    budget = workspace_budget(max_workspace_bytes, func=func)
    dtype = compute_dtype(x, w, b)
    batched = x if geometry.batched else x[np.newaxis]
    name = check_algorithm(algorithm, func)
    y = transpose(batched, w, geometry, algorithm=name, dtype=dtype, budget=budget, func=func)
    if b is not None:
        y += (
            b.reshape(-1)
            if geometry.channels_last
            else b.reshape(-1, *([1] * geometry.window.ndim))
        )
    y = y.astype(x.dtype, copy=False)
    return y if geometry.batched else y[0]


def conv_transpose_backward(
    grad_output: Any,
    input: Any,
    weight: Any,
    *,
    stride: _Ints = 1,
    padding: int | tuple[Any, ...] = 0,
    output_padding: _Ints = 0,
    dilation: _Ints = 1,
    groups: int = 1,
    channels_last: bool = False,
    output_size: _Ints | None = None,
    bias: bool = True,
    needs_input_grad: bool = True,
    needs_weight_grad: bool = True,
    max_workspace_bytes: int | None = None,
    algorithm: str = "auto",
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients of :func:`conv_transpose` with respect to its input, weight and bias.

    The transposed convolution's input gradient is the convolution of ``grad_output`` with the
    same weight (unfold, then K·P); its weight gradient is the convolution's weight gradient
    with the roles of input and ``grad_output`` exchanged.

    Parameters
    ----------
    grad_output : array_like
        Gradient with respect to ``conv_transpose(input, weight, ...)``, of its shape.
    input, weight : array_like
        The forward pass's arrays.
    stride, padding, output_padding, dilation, groups, channels_last, output_size
        The forward pass's options, as in :func:`conv_transpose`.
    bias, needs_input_grad, needs_weight_grad, max_workspace_bytes, algorithm
        As in :func:`conv_backward`.

    Returns
    -------
    grad_input, grad_weight, grad_bias : ndarray or None
        Shaped and typed like ``input``, ``weight`` and ``(C_out,)`` (in ``weight``'s dtype).

    Examples
    --------
    >>> import numpy as np, convmm
    >>> x, w = np.ones((1, 2, 3, 3)), np.ones((2, 4, 2, 2))
    >>> y = convmm.conv_transpose(x, w, stride=2)
    >>> grads = convmm.conv_transpose_backward(np.ones_like(y), x, w, stride=2)
    >>> [g.shape for g in grads]
    [(1, 2, 3, 3), (2, 4, 2, 2), (4,)]
    """
    func = "convmm.conv_transpose_backward"
    arguments = {
        "stride": stride,
        "padding": padding,
        "output_padding": output_padding,
        "dilation": dilation,
        "groups": groups,
        "channels_last": channels_last,
        "output_size": output_size,
        "bias": bias,
        "needs_input_grad": needs_input_grad,
        "needs_weight_grad": needs_weight_grad,
        "max_workspace_bytes": max_workspace_bytes,
        "algorithm": algorithm,
    }
    if foreign(grad_output, input, weight):  # arrays of another library: computed with it
        from ._portable_calls import portable_conv_transpose_backward

        return portable_conv_transpose_backward(grad_output, input, weight, **arguments)
    if is_dask_array(input) or is_dask_array(grad_output):  # lazy, block by block of images
        from ._dask_batch import dask_conv_transpose_backward

        return dask_conv_transpose_backward(
            func, grad_output, input, weight, arguments, conv_transpose_backward
        )
    x = as_float_array(input, func=func, name="input")
    w = as_float_array(weight, func=func, name="weight")
    dy = as_float_array(grad_output, func=func, name="grad_output")
    check_flags(
        func, bias=bias, needs_input_grad=needs_input_grad, needs_weight_grad=needs_weight_grad
    )
    geometry = transpose_geometry(
        x,
        w,
        None,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        output_size=output_size,
        dilation=dilation,
        groups=groups,
        channels_last=channels_last,
        func=func,
    )
    check_transposed_grad_output(dy.shape, geometry.input_array_shape(), func)
    budget = workspace_budget(max_workspace_bytes, func=func)
    dtype = compute_dtype(dy, x, w)
    if not geometry.batched:
        x, dy = x[np.newaxis], dy[np.newaxis]
    name = check_algorithm(algorithm, func)
    grad_input = grad_weight = grad_bias = None
    options: dict[str, Any] = {"algorithm": name, "dtype": dtype, "budget": budget, "func": func}
    if needs_input_grad:  # the convolution of grad_output with the same weight
        grad_input = forward(dy, w, None, geometry, out_dtype=x.dtype, op=_OP, **options)
        if not geometry.batched:
            grad_input = grad_input[0]
    if needs_weight_grad:  # the convolution's weight gradient, input and grad exchanged
        _, grad_weight = backward(
            dy, x, w, geometry, needs_input_grad=False, needs_weight_grad=True, op=_OP, **options
        )
        if grad_weight is not None:
            grad_weight = grad_weight.astype(w.dtype, copy=False)
    if bias:
        grad_bias = bias_gradient(dy, geometry, dtype, w.dtype)
    return grad_input, grad_weight, grad_bias
