"""The steps of an explanation: a convolution's, a transposed convolution's and a backward pass's.

:func:`explain`, :func:`explain_transpose` and :func:`explain_backward` compute every step of
one sample with the library's own unfold and fold, then check the result (``checks``) and
return the :class:`~convmm._explain.model.Explanation` that the renderers read.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .. import reference
from .._arrays import as_float_array, compute_dtype, conv_arrays
from .._conv import conv, conv_backward
from .._conv_transpose import conv_transpose
from .._errors import ConvmmValueError
from .._geometry import ConvGeometry, conv_geometry
from .._im2col import source_indices
from .._unfold import unfold
from .._validate import transpose_geometry
from .checks import (
    _agree,
    _library_checks,
    _one_sample,
    _torch_backward,
    _torch_check,
    _torch_conv,
    _torch_transpose,
)
from .model import (
    DEFAULT_MAX_ENTRIES,
    Explanation,
    _check_max_entries,
    _check_sizes,
    _sample,
    fold_columns,
)
from .records import BackwardSteps, ConvSteps, TransposeSteps

__all__ = ["explain", "explain_backward", "explain_transpose"]


def explain(
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
    sample: int = 0,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> Explanation:
    """Explain one convolution step by step: X, the padding, P, K, KP, the output, the formula.

    Takes everything :func:`convmm.conv` takes; ``sample`` picks the image of a batch.  The
    result renders as text (``print``), as an interactive page (``.save_html`` or inline in
    Jupyter) and as a figure (``.save_figure``, needs matplotlib).

    Examples
    --------
    >>> import numpy as np, convmm
    >>> x, w = np.arange(1.0, 17.0).reshape(1, 1, 4, 4), np.array([[[[1.0, 2], [3, 4]]]])
    >>> e = convmm.explain(x, w)
    >>> e.patches.shape, e.products[0, 0, :3]
    ((1, 4, 9), array([44., 54., 64.]))
    >>> e.checks["convmm.conv"], e.checks["convmm.reference.conv"]
    (True, True)
    """
    options: dict[str, Any] = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "padding_mode": padding_mode,
        "channels_last": channels_last,
    }
    geometry, steps, (x_all, w, b) = _conv_steps(
        "convmm.explain", input, weight, bias, options, sample, max_entries
    )
    output = steps.output
    # per entry, the sum of the absolute products: what rounding errors scale with
    scale = (np.abs(steps.kernels) @ np.abs(steps.patches)).reshape(output.shape)
    if b is not None:
        scale = scale + np.abs(np.asarray(b, np.float64)).reshape(-1, *[1] * geometry.window.ndim)
    one = x_all[sample : sample + 1] if geometry.batched else x_all
    checks, notes = _library_checks(
        geometry,
        lambda got, dtype: _agree(_one_sample(got, geometry), output, scale, dtype),
        compute_dtype(x_all, w, b),
        ("convmm.conv", lambda: conv(one, w, b, **options)),
        ("convmm.reference.conv", lambda: reference.conv(one, w, b, **options)),
    )
    x = steps.input
    _torch_check(
        checks, notes, geometry, lambda: (_torch_conv(x, w, b, geometry),), (output,), (scale,)
    )
    return Explanation(
        kind="conv",
        geometry=geometry,
        options=options,
        sample=sample,
        steps=steps,
        checks=checks,
        check_notes=notes,
        max_entries=max_entries,
    )


def _conv_steps(
    func: str,
    input: Any,
    weight: Any,
    bias: Any,
    options: dict[str, Any],
    sample: int,
    max_entries: int,
) -> tuple[ConvGeometry, ConvSteps, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """The geometry and the steps of a convolution for one sample, and the arrays as given."""
    x_all, w, b = conv_arrays(input, weight, bias, func=func)
    geometry = conv_geometry(
        x_all.shape, w.shape, None if b is None else b.shape, func=func, **options
    )
    x = _sample(x_all, geometry, sample, func)
    _check_max_entries(max_entries, func)
    window = geometry.window
    _check_sizes(geometry, func)
    g, cog, cg = geometry.groups, geometry.out_channels_per_group, geometry.in_channels_per_group
    dtype = compute_dtype(x_all, w, b)
    # P is made by the library's own unfold, the one conv multiplies.
    columns = unfold(
        x[np.newaxis].astype(dtype),
        window.kernel_size,
        stride=window.stride,
        padding=window.padding,
        dilation=window.dilation,
        padding_mode=window.padding_mode,
    )[0].astype(np.float64)
    patches = columns.reshape(g, cg * window.kernel_numel, -1)
    kernels = np.array(w, dtype=np.float64).reshape(g, cog, -1)
    products = kernels @ patches
    output = products.reshape(geometry.out_channels, *window.output_shape)
    if b is not None:
        output = output + np.asarray(b, np.float64).reshape(-1, *([1] * window.ndim))
    padded, sources = _padding(x, geometry)
    steps = ConvSteps(
        input=x,
        padded=padded,
        padding_source=sources,
        weight=np.array(w, dtype=np.float64),
        bias=None if b is None else np.array(b, dtype=np.float64),
        patches=patches,
        kernels=kernels,
        products=products,
        output=output,
    )
    return geometry, steps, (x_all, w, b)


def explain_transpose(
    input: Any,
    weight: Any,
    bias: Any = None,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[Any, ...] = 0,
    output_padding: int | tuple[int, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
    channels_last: bool = False,
    output_size: int | tuple[int, ...] | None = None,
    sample: int = 0,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> Explanation:
    """Explain a transposed convolution: the columns Kᵀ·X, then their fold into the output.

    Column ``l`` of Kᵀ·X holds what input position ``l`` adds into the output; it adds into the
    cells a convolution with the same arguments would have read for its output position ``l``
    (``patch_cells``), less the cropped padding.  The arguments are :func:`convmm.conv_transpose`'s
    (``output_size`` sets the output padding, which the output-size formula then shows).

    Examples
    --------
    >>> import numpy as np, convmm
    >>> e = convmm.explain_transpose(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), stride=2)
    >>> e.output[0]
    array([[1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.]])
    """
    func = "convmm.explain_transpose"
    x_all, w, b = conv_arrays(input, weight, bias, func=func)
    options: dict[str, Any] = {
        "stride": stride,
        "padding": padding,
        "output_padding": output_padding,
        "dilation": dilation,
        "groups": groups,
        "channels_last": channels_last,
    }
    geometry = transpose_geometry(
        x_all, w, None if b is None else b.shape, output_size=output_size, func=func, **options
    )
    if output_size is not None:  # recorded as given
        options["output_size"] = output_size
    x = _sample(x_all, geometry, sample, func)
    _check_max_entries(max_entries, func)
    window = geometry.window
    _check_sizes(geometry, func)
    g, cog = geometry.groups, geometry.out_channels_per_group
    kernels = np.array(w, dtype=np.float64).reshape(g, cog, -1)
    values = x.reshape(g, cog, -1)
    columns = kernels.transpose(0, 2, 1) @ values  # (G, cg*K, L): Kᵀ·X

    full = fold_columns(window, columns)
    bias_column = None if b is None else np.asarray(b, np.float64).reshape(-1, *[1] * window.ndim)
    output = full if bias_column is None else full + bias_column
    zero_input = np.zeros((geometry.in_channels, *window.input_shape))
    padded, sources = _padding(zero_input, geometry)
    scale = fold_columns(window, np.abs(kernels).transpose(0, 2, 1) @ np.abs(values))
    if bias_column is not None:
        scale = scale + np.abs(bias_column)
    one = x_all[sample : sample + 1] if geometry.batched else x_all
    # for one sample, output_size as the spatial sizes (the whole-shape form names the batch)
    spatial = {"output_size": window.input_shape} if output_size is not None else {}
    checked = {**options, **spatial}
    checks, notes = _library_checks(
        geometry,
        lambda got, dtype: _agree(_one_sample(got, geometry), output, scale, dtype),
        compute_dtype(x_all, w, b),
        ("convmm.conv_transpose", lambda: conv_transpose(one, w, b, **checked)),
        ("convmm.reference.conv_transpose", lambda: reference.conv_transpose(one, w, b, **checked)),
    )
    _torch_check(
        checks,
        notes,
        geometry,
        lambda: (_torch_transpose(x, w, bias_column, geometry),),
        (output,),
        (scale,),
    )
    return Explanation(
        kind="conv_transpose",
        geometry=geometry,
        options=options,
        sample=sample,
        steps=TransposeSteps(
            input=x,
            input_groups=values,
            weight=np.array(w, dtype=np.float64),
            bias=None if b is None else np.array(b, dtype=np.float64),
            kernels=kernels,
            columns=columns,
            frame=padded,
            padding_source=sources,
            output=output,
        ),
        checks=checks,
        check_notes=notes,
        max_entries=max_entries,
    )


def explain_backward(
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
    sample: int = 0,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> Explanation:
    """Explain the backward pass of a convolution: dK = dY·Pᵀ, dP = Kᵀ·dY, dX = fold(dP).

    The gradients are for one sample (``sample``) of the batch.  ``grad_output`` is dY, the
    shape of the convolution's output; None makes it 1, 2, 3, ... (small exact integers, as
    the demo uses).

    Examples
    --------
    >>> import numpy as np, convmm
    >>> x, w = np.arange(1.0, 17.0).reshape(1, 1, 4, 4), np.array([[[[1.0, 2], [3, 4]]]])
    >>> e = convmm.explain_backward(np.ones((1, 1, 3, 3)), x, w)
    >>> e.grad_weight[0, 0]
    array([54., 63., 90., 99.])
    """
    func = "convmm.explain_backward"
    options: dict[str, Any] = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "padding_mode": padding_mode,
        "channels_last": channels_last,
    }
    geometry, forward, (x_all, w, _) = _conv_steps(
        func, input, weight, None, options, sample, max_entries
    )
    expected = geometry.output_array_shape()
    if grad_output is None:
        grad_output = np.arange(1.0, 1.0 + math.prod(expected)).reshape(expected)
    dy_all = as_float_array(grad_output, func=func, name="grad_output")
    if dy_all.shape != expected:
        raise ConvmmValueError(
            f"{func}: grad_output must have the shape of the convolution's output, {expected}; "
            f"got {dy_all.shape}"
        )
    dy = _sample(dy_all, geometry, sample, func)
    g, cog = geometry.groups, geometry.out_channels_per_group
    window = geometry.window
    grad_output_matrix = dy.reshape(g, cog, -1)
    grad_weight = grad_output_matrix @ forward.patches.transpose(0, 2, 1)
    grad_patches = forward.kernels.transpose(0, 2, 1) @ grad_output_matrix

    grad_input = fold_columns(window, grad_patches)
    grad_bias = dy.reshape(geometry.out_channels, -1).sum(axis=1)
    wants = (grad_input, grad_weight, grad_bias)
    magnitudes = np.abs(grad_output_matrix)
    scales = (
        fold_columns(window, np.abs(forward.kernels).transpose(0, 2, 1) @ magnitudes),
        magnitudes @ np.abs(forward.patches).transpose(0, 2, 1),
        magnitudes.reshape(geometry.out_channels, -1).sum(axis=1),
    )
    one_x = x_all[sample : sample + 1] if geometry.batched else x_all
    one_dy = dy_all[sample : sample + 1] if geometry.batched else dy_all

    def agree(grads: tuple[Any, ...], dtype: Any) -> bool:
        grad_x, grad_w, grad_b = grads
        got = (_one_sample(grad_x, geometry), grad_w.reshape(grad_weight.shape), grad_b)
        return all(_agree(*c, dtype) for c in zip(got, wants, scales, strict=True))

    checks, notes = _library_checks(
        geometry,
        agree,
        compute_dtype(dy_all, x_all, w),
        ("convmm.conv_backward", lambda: conv_backward(one_dy, one_x, w, **options)),
        (
            "convmm.reference.conv_backward",
            lambda: reference.conv_backward(one_dy, one_x, w, **options),
        ),
    )
    _torch_check(
        checks,
        notes,
        geometry,
        lambda: _torch_backward(geometry, forward.input, forward.weight, forward.kernels.shape, dy),
        wants,
        scales,
    )
    return Explanation(
        kind="conv_backward",
        geometry=geometry,
        options=options,
        sample=sample,
        steps=BackwardSteps(
            **{f.name: getattr(forward, f.name) for f in dataclasses.fields(forward)},
            grad_output=grad_output_matrix,
            grad_weight=grad_weight,
            grad_patches=grad_patches,
            grad_input=grad_input,
            grad_bias=grad_bias,
        ),
        checks=checks,
        check_notes=notes,
        max_entries=max_entries,
    )


def _padding(x: np.ndarray, geometry: ConvGeometry) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    window = geometry.window
    sources = tuple(
        source_indices(0, p, n, before, window.padding_mode)
        for p, n, (before, _) in zip(
            window.padded_shape, window.input_shape, window.padding, strict=True
        )
    )
    zero = np.zeros((x.shape[0], *([1] * window.ndim)))
    extended = np.concatenate([x.reshape(x.shape[0], -1), zero.reshape(x.shape[0], 1)], axis=1)
    flat = np.full(window.padded_shape, -1, dtype=np.int64)
    grids = np.meshgrid(*sources, indexing="ij")
    inside = np.all([g >= 0 for g in grids], axis=0)
    flat[inside] = np.ravel_multi_index(tuple(g[inside] for g in grids), window.input_shape)
    flat[~inside] = x[0].size
    padded = extended[:, flat]
    return padded, sources
