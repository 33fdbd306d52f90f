"""Convolution forward: unfold the input into P, multiply by K, write the output in place."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._array_api import foreign
from ._arrays import as_float_array, check_flags, compute_dtype, workspace_budget
from ._dask import is_dask_array
from ._dispatch import backward as planned_backward
from ._dispatch import forward as planned_forward
from ._engine import bias_gradient
from ._geometry import conv_geometry
from ._planner import check_algorithm
from ._validate import check_grad_output, check_weight_rank

__all__ = ["conv", "conv_backward"]


def conv(
    input: Any,
    weight: Any,
    bias: Any = None,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | str | tuple[Any, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    channels_last: bool = False,
    max_workspace_bytes: int | None = None,
    algorithm: str = "auto",
) -> np.ndarray:
    """N-D convolution (cross-correlation, as in deep learning) computed as one matrix product.

    The input is unfolded into the patch matrix P (one column per output position, one row per
    input channel and kernel offset), the weight is flattened into K (one row per filter), and
    the output is the product K·P, reshaped.  Semantics are PyTorch's
    ``torch.nn.functional.conv{1,2,3}d`` (plus ``padding_mode`` of ``torch.nn.Conv*d``), for any
    number of spatial dims.

    Parameters
    ----------
    input : array_like, shape ``(N, C_in, *spatial)`` or ``(C_in, *spatial)``
        ``(N, *spatial, C_in)`` or ``(*spatial, C_in)`` when ``channels_last``.  float16, float32
        or float64; never modified.
    weight : array_like, shape ``(C_out, C_in / groups, *kernel_size)``
        PyTorch's layout, whatever ``channels_last`` is.  Its rank sets the spatial rank.
    bias : array_like, shape ``(C_out,)``, optional
    stride, dilation : int or tuple of int
        One value for all spatial dims, or one per dim; each at least 1.
    padding : int, tuple, or {'valid', 'same', 'same_lower'}
        An int for every side; one int per dim (both sides); one ``(before, after)`` pair per
        dim.  ``'same'`` gives ``ceil(input / stride)`` outputs for any stride, with the odd
        padding at the end (TensorFlow's SAME, ONNX's SAME_UPPER; PyTorch's ``'same'`` at
        stride 1); ``'same_lower'`` puts it at the start (ONNX's SAME_LOWER).
    groups : int
        Split channels into this many independent convolutions (``groups == C_in`` is
        depthwise).
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}
        What the padding holds, as in ``torch.nn.Conv2d``.  'reflect' needs padding smaller
        than the input; 'circular' at most the input size.
    channels_last : bool
        Input and output put channels after the spatial dims (NHWC for 2-D).
    max_workspace_bytes : int, optional
        The most memory the im2col buffers may take; None means
        :data:`convmm.DEFAULT_MAX_WORKSPACE_BYTES` (256 MiB).  The batch, and when one image
        alone is too large its output rows, are processed in chunks that fit; the result is
        the unchunked computation's up to the last bit (BLAS may order the sums differently for
        a chunk of a different width).
    algorithm : {'auto', 'im2col', 'shift', 'depthwise', 'winograd'}
        The formulation (see :func:`convmm.plan`): ``'auto'`` picks the fastest that applies to
        this geometry, dtype, layout and bound; a name forces it (an error if it does not
        apply).  Every formulation gives the same result up to float rounding.

    Returns
    -------
    ndarray
        ``(N, C_out, *output)`` (or ``(N, *output, C_out)`` when ``channels_last``; without
        ``N`` for an unbatched input), in the dtype of ``input``.  The computation runs in the
        widest dtype of ``input``, ``weight`` and ``bias``, at least float32.

    Raises
    ------
    ValueError, TypeError
        For inconsistent shapes or invalid options; the message names the parameter, what was
        expected and what was given.

    Notes
    -----
    Memory: P for a whole batch has ``N * C_in * prod(kernel_size) * prod(output)`` entries,
    often gigabytes; convmm never allocates more than ``max_workspace_bytes`` for it (plus the
    padded copy for non-zero padding modes and a compute-dtype result buffer when the input is
    float16, both counted in the bound).  Zero padding is never copied.

    Examples
    --------
    The seed article's first example: a 4x4 image and a 2x2 kernel.

    >>> import numpy as np, convmm
    >>> x = np.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    >>> w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    >>> convmm.conv(x, w)[0, 0]
    array([[ 44.,  54.,  64.],
           [ 84.,  94., 104.],
           [124., 134., 144.]])

    'same' padding keeps the size (here with reflected borders):

    >>> convmm.conv(x, np.ones((1, 1, 3, 3)), padding="same", padding_mode="reflect").shape
    (1, 1, 4, 4)
    """
    return _convolve(
        "convmm.conv",
        input,
        weight,
        bias,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        channels_last=channels_last,
        max_workspace_bytes=max_workspace_bytes,
        algorithm=algorithm,
    )


def _convolve(
    func: str,
    input: Any,
    weight: Any,
    bias: Any,
    *,
    stride: object,
    padding: object,
    dilation: object,
    groups: object,
    padding_mode: object,
    channels_last: object,
    max_workspace_bytes: object,
    algorithm: object = "auto",
    ndim: int | None = None,
) -> np.ndarray:
    """:func:`conv` with errors naming ``func``; ``ndim`` checks the weight's spatial rank."""
    arguments = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "padding_mode": padding_mode,
        "channels_last": channels_last,
        "max_workspace_bytes": max_workspace_bytes,
        "algorithm": algorithm,
    }
    if foreign(input, weight, bias):  # arrays of another library: computed with it
        from ._portable_calls import portable_conv

        return portable_conv(func, input, weight, bias, ndim=ndim, **arguments)  # type: ignore[no-any-return]
    lazy = is_dask_array(input)  # a dask input: a lazy result, block by block
    x = input if lazy else as_float_array(input, func=func, name="input")
    w = as_float_array(weight, func=func, name="weight")
    check_weight_rank(w.shape, ndim, func)
    b = None if bias is None else as_float_array(bias, func=func, name="bias")
    if lazy:
        from ._dask_ops import dask_conv

        return dask_conv(func, x, w, b, arguments, conv=conv)  # type: ignore[no-any-return]
    geometry = conv_geometry(
        x.shape,
        w.shape,
        None if b is None else b.shape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        channels_last=channels_last,
        func=func,
    )
    budget = workspace_budget(max_workspace_bytes, func=func)
    batched_x = x if geometry.batched else x[np.newaxis]
    dtype = compute_dtype(x, w, b)
    name = check_algorithm(algorithm, func)
    y = planned_forward(
        batched_x,
        w,
        b,
        geometry,
        algorithm=name,
        out_dtype=x.dtype,
        dtype=dtype,
        budget=budget,
        func=func,
    )
    return y if geometry.batched else y[0]


def conv_backward(
    grad_output: Any,
    input: Any,
    weight: Any,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | str | tuple[Any, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    channels_last: bool = False,
    bias: bool = True,
    needs_input_grad: bool = True,
    needs_weight_grad: bool = True,
    max_workspace_bytes: int | None = None,
    algorithm: str = "auto",
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients of :func:`conv` with respect to its input, weight and bias.

    With P the patch matrix of ``input`` and K the flattened weight, the forward pass is
    ``Y = K·P``; so ``dK = dY·Pᵀ`` (summed over images), ``dP = Kᵀ·dY`` folded back onto the
    input (col2im, the adjoint of the unfold, through the padding mode's border), and
    ``db = dY`` summed over images and positions.

    Parameters
    ----------
    grad_output : array_like
        The gradient of the loss with respect to ``conv(input, weight, ...)``, of its shape.
    input, weight : array_like
        The forward pass's arrays (never modified).
    stride, padding, dilation, groups, padding_mode, channels_last
        The forward pass's options, as in :func:`conv`.
    bias : bool
        Whether to return the bias gradient (the forward pass had a bias).
    needs_input_grad, needs_weight_grad : bool
        Whether to compute those gradients; the ones not asked for are returned as None and cost
        nothing.
    max_workspace_bytes : int, optional
        As in :func:`conv`: P (reused for Kᵀ·dY), the padded border's fold buffer and any
        dtype-conversion buffer stay within the bound.
    algorithm : {'auto', 'im2col', 'shift', 'depthwise', 'winograd'}
        As in :func:`conv`.

    Returns
    -------
    grad_input, grad_weight, grad_bias : ndarray or None
        Shaped and typed like ``input``, ``weight`` and ``(C_out,)`` (in ``weight``'s dtype).
        The arithmetic runs in the widest of the three arrays' dtypes, at least float32; for
        float16 the input gradient accumulates in a float32 array of the input's size.

    Examples
    --------
    One step of gradient descent on the squared error of a 1-D convolution:

    >>> import numpy as np, convmm
    >>> rng = np.random.default_rng(0)
    >>> x, target = rng.standard_normal((4, 2, 16)), rng.standard_normal((4, 3, 14))
    >>> w, b = rng.standard_normal((3, 2, 3)), np.zeros(3)
    >>> def loss(w, b):
    ...     return 0.5 * np.sum((convmm.conv(x, w, b) - target) ** 2)
    >>> grad_y = convmm.conv(x, w, b) - target
    >>> _, grad_w, grad_b = convmm.conv_backward(grad_y, x, w, needs_input_grad=False)
    >>> bool(loss(w - 0.01 * grad_w, b - 0.01 * grad_b) < loss(w, b))
    True
    """
    func = "convmm.conv_backward"
    arguments = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "padding_mode": padding_mode,
        "channels_last": channels_last,
        "bias": bias,
        "needs_input_grad": needs_input_grad,
        "needs_weight_grad": needs_weight_grad,
        "max_workspace_bytes": max_workspace_bytes,
        "algorithm": algorithm,
    }
    if foreign(grad_output, input, weight):  # arrays of another library: computed with it
        from ._portable_calls import portable_conv_backward

        return portable_conv_backward(grad_output, input, weight, **arguments)
    if is_dask_array(input) or is_dask_array(grad_output):
        from ._conv_transpose import conv_transpose
        from ._dask_ops import dask_conv_backward

        check_flags(
            func, bias=bias, needs_input_grad=needs_input_grad, needs_weight_grad=needs_weight_grad
        )
        weight_array = as_float_array(weight, func=func, name="weight")
        return dask_conv_backward(
            func,
            grad_output,
            input,
            weight_array,
            arguments,
            conv_backward=conv_backward,
            conv_transpose=conv_transpose,
        )
    x = as_float_array(input, func=func, name="input")
    w = as_float_array(weight, func=func, name="weight")
    dy = as_float_array(grad_output, func=func, name="grad_output")
    check_flags(
        func, bias=bias, needs_input_grad=needs_input_grad, needs_weight_grad=needs_weight_grad
    )
    geometry = conv_geometry(
        x.shape,
        w.shape,
        None,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        channels_last=channels_last,
        func=func,
    )
    check_grad_output(dy.shape, geometry.output_array_shape(), func)
    budget = workspace_budget(max_workspace_bytes, func=func)
    dtype = compute_dtype(dy, x, w)
    if not geometry.batched:
        x, dy = x[np.newaxis], dy[np.newaxis]
    name = check_algorithm(algorithm, func)
    grad_input, grad_weight = planned_backward(
        x,
        dy,
        w,
        geometry,
        needs_input_grad=needs_input_grad,
        needs_weight_grad=needs_weight_grad,
        algorithm=name,
        dtype=dtype,
        budget=budget,
        func=func,
    )
    grad_bias = None
    if grad_input is not None:
        grad_input = grad_input.astype(x.dtype, copy=False)
        if not geometry.batched:
            grad_input = grad_input[0]
    if grad_weight is not None:
        grad_weight = grad_weight.astype(w.dtype, copy=False)
    if bias:
        grad_bias = bias_gradient(dy, geometry, dtype, w.dtype)
    return grad_input, grad_weight, grad_bias
