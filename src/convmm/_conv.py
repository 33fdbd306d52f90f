"""Convolution forward: unfold the input into P, multiply by K, write the output in place."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._arrays import as_float_array, compute_dtype, workspace_budget
from ._geometry import ConvGeometry, conv_geometry
from ._im2col import unfold_into
from ._plan import plan_chunks

__all__ = ["conv", "conv1d", "conv2d", "conv3d"]


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
        identical to the unchunked computation.

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
    func = "convmm.conv"
    x = as_float_array(input, func=func, name="input")
    w = as_float_array(weight, func=func, name="weight")
    b = None if bias is None else as_float_array(bias, func=func, name="bias")
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
    return conv_forward(x, w, b, geometry, budget, func=func)


def grouped_input(x: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
    """A view of a batched input with logical axes ``(N, groups, C_in/groups, *spatial)``."""
    g, cg = geometry.groups, geometry.in_channels_per_group
    if geometry.channels_last:
        x = x.reshape(*x.shape[:-1], g, cg)
        return np.moveaxis(x, (-2, -1), (1, 2))
    return x.reshape(x.shape[0], g, cg, *x.shape[2:])


def _patches_are_input(x: np.ndarray, geometry: ConvGeometry, dtype: np.dtype[Any]) -> bool:
    """Whether P is the input itself (1x1 kernel, stride 1, no padding) with no copy."""
    window = geometry.window
    trivial = (
        window.kernel_numel == 1
        and all(s == 1 for s in window.stride)
        and not window.is_padded
        and x.dtype == dtype
    )
    return trivial and x.flags.c_contiguous and (geometry.groups == 1 or not geometry.channels_last)


def conv_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    geometry: ConvGeometry,
    budget: int,
    *,
    func: str,
) -> np.ndarray:
    """The forward product for validated arrays and their geometry."""
    window = geometry.window
    nd = window.ndim
    dtype = compute_dtype(x, w, b)
    if not geometry.batched:
        x = x[np.newaxis]
    spatial_out = window.output_shape
    channels = geometry.out_channels
    out_shape = (
        (x.shape[0], *spatial_out, channels)
        if geometry.channels_last
        else (x.shape[0], channels, *spatial_out)
    )
    out = np.empty(out_shape, dtype=x.dtype)
    g, cog, cg = geometry.groups, geometry.out_channels_per_group, geometry.in_channels_per_group
    direct = _patches_are_input(x, geometry, dtype)
    plan = plan_chunks(
        geometry,
        compute_itemsize=dtype.itemsize,
        input_itemsize=x.dtype.itemsize,
        patches_are_input=direct,
        result_buffer=out.dtype != dtype,
        budget=budget,
        func=func,
    )
    patch_buffer = np.empty(0 if direct else plan.patch_elements, dtype=dtype)
    result_buffer = np.empty(plan.result_elements, dtype=dtype)
    source = grouped_input(x, geometry)
    if geometry.channels_last:
        # P^T K^T: the rows of P^T are output positions, so the product lands in NHWC order.
        k_matrix = np.moveaxis(w.reshape(g, cog, cg, -1), 2, 3).reshape(g, cog, -1)
        k_matrix = np.ascontiguousarray(k_matrix.transpose(0, 2, 1), dtype=dtype)
        # physical P^T: (g, n, *output, *kernel, cg); logical: (n, g, cg, *kernel, *output)
        to_logical = (1, 0, 2 + 2 * nd, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd))
    else:
        k_matrix = np.ascontiguousarray(w.reshape(g, cog, -1), dtype=dtype)
    b_view = None
    if b is not None:
        b_view = b.reshape(g, 1, cog) if geometry.channels_last else b.reshape(g, cog, 1)
    row_positions = math.prod(spatial_out[1:])
    left: np.ndarray
    right: np.ndarray

    for chunk in plan.chunks:
        (b0, b1), (r0, r1) = chunk.batch, chunk.rows
        n, rows = b1 - b0, r1 - r0
        per_image = rows * row_positions
        size = n * per_image * geometry.in_channels * window.kernel_numel
        if geometry.channels_last:
            target = np.reshape(out[b0:b1, r0:r1], (n * per_image, g, cog), copy=False)
            target = target.transpose(1, 0, 2)
            if direct:
                patches = np.reshape(x[b0:b1], (1, n * per_image, cg), copy=False)
            else:
                physical = patch_buffer[:size].reshape(
                    g, n, rows, *spatial_out[1:], *window.kernel_size, cg
                )
                unfold_into(source[b0:b1], window, physical.transpose(to_logical), (r0, r1))
                patches = physical.reshape(g, n * per_image, -1)
            left, right = patches, k_matrix
        else:
            target = np.reshape(out[b0:b1, :, r0:r1], (n, g, cog, per_image), copy=False)
            if direct:
                patches = np.reshape(x[b0:b1], (n, g, cg, per_image), copy=False)
            else:
                physical = patch_buffer[:size].reshape(
                    n, g, cg, *window.kernel_size, rows, *spatial_out[1:]
                )
                unfold_into(source[b0:b1], window, physical, (r0, r1))
                patches = physical.reshape(n, g, cg * window.kernel_numel, per_image)
            left, right = k_matrix, patches
        if out.dtype == dtype:
            np.matmul(left, right, out=target)
            if b_view is not None:
                target += b_view
        else:
            result = result_buffer[: target.size].reshape(target.shape)
            np.matmul(left, right, out=result)
            if b_view is not None:
                result += b_view
            target[...] = result
    return out if geometry.batched else out[0]


def _conv_nd(
    name: str,
    ndim: int,
    input: Any,
    weight: Any,
    bias: Any,
    stride: int | tuple[int, ...],
    padding: int | str | tuple[Any, ...],
    dilation: int | tuple[int, ...],
    groups: int,
) -> np.ndarray:
    func = f"convmm.{name}"
    w = as_float_array(weight, func=func, name="weight")
    if w.ndim != ndim + 2:
        raise ValueError(
            f"{func}: weight must have {ndim + 2} dims (out_channels, in_channels/groups, "
            f"then {ndim} kernel dim{'s' if ndim > 1 else ''}); got shape {w.shape}"
        )
    return conv(input, w, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)


def conv1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, ...] = 1,
    padding: int | str | tuple[Any, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> np.ndarray:
    """1-D convolution with ``torch.nn.functional.conv1d``'s positional signature.

    ``input`` is ``(N, C_in, L)`` or ``(C_in, L)`` and ``weight`` ``(C_out, C_in/groups, k)``;
    everything else is as in :func:`conv`.

    Examples
    --------
    The seed article's 1-D example: 3 channels of length 12, two kernels of width 4, stride 2.

    >>> import numpy as np, convmm
    >>> x = np.arange(1.0, 37.0).reshape(1, 3, 12)
    >>> w = np.arange(1.0, 25.0).reshape(2, 3, 4)
    >>> convmm.conv1d(x, w, None, 2)
    array([[[1530., 1686., 1842., 1998., 2154.],
            [3618., 4062., 4506., 4950., 5394.]]])
    """
    return _conv_nd("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, ...] = 1,
    padding: int | str | tuple[Any, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> np.ndarray:
    """2-D convolution with ``torch.nn.functional.conv2d``'s positional signature.

    ``input`` is ``(N, C_in, H, W)`` or ``(C_in, H, W)`` and ``weight``
    ``(C_out, C_in/groups, kH, kW)``; everything else is as in :func:`conv`.

    Examples
    --------
    >>> import numpy as np, convmm
    >>> convmm.conv2d(np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), None, 2, 1).shape
    (2, 4, 3, 3)
    """
    return _conv_nd("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, ...] = 1,
    padding: int | str | tuple[Any, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> np.ndarray:
    """3-D convolution with ``torch.nn.functional.conv3d``'s positional signature.

    ``input`` is ``(N, C_in, D, H, W)`` or ``(C_in, D, H, W)`` and ``weight``
    ``(C_out, C_in/groups, kD, kH, kW)``; everything else is as in :func:`conv`.

    Examples
    --------
    >>> import numpy as np, convmm
    >>> convmm.conv3d(np.ones((1, 2, 4, 4, 4)), np.ones((3, 2, 2, 2, 2))).shape
    (1, 3, 3, 3, 3)
    """
    return _conv_nd("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)
