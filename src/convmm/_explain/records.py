"""The steps of one explained call, as typed records: what each array is, named for what it holds.

:class:`ConvSteps` is a convolution's forward pass (X, X padded, P, K, KP, the output);
:class:`BackwardSteps` adds its gradients (dY, dK, dP, dX, db), none optional; and
:class:`TransposeSteps` is a transposed convolution (X, K, the columns Kᵀ·X, their fold).  The
records are pure data, built by ``steps`` with the library's own unfold, fold and products, and
read by the renderers through :attr:`Explanation.steps <convmm._explain.model.Explanation>`.

All arrays are float64, channels first, for one sample; G groups, ``cin = C_in/G`` and
``cout = C_out/G`` channels per group (in the terms of the convolution a transposed one
transposes), K kernel offsets and L window positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BackwardSteps", "ConvSteps", "Steps", "TransposeSteps"]


@dataclass(frozen=True, eq=False)
class ConvSteps:
    """A convolution's forward steps for one sample.

    Attributes
    ----------
    input : ndarray, ``(C_in, *input_shape)``
        X.
    padded : ndarray, ``(C_in, *padded_shape)``
        X with its padding, as ``padding_mode`` fills it.
    padding_source : tuple of ndarray
        Per spatial dim, for each padded index, the input index whose value it holds (-1 for a
        zero).
    weight : ndarray
        As given (PyTorch layout).
    bias : ndarray or None
    patches : ndarray, ``(G, cin*K, L)``
        P: column ``l`` is the patch for output position ``l``.
    kernels : ndarray, ``(G, cout, cin*K)``
        K: row ``f`` is filter ``g*cout + f`` flattened.
    products : ndarray, ``(G, cout, L)``
        K·P per group, before the bias.
    output : ndarray, ``(C_out, *output_shape)``
        KP reshaped, plus the bias.
    """

    input: np.ndarray
    padded: np.ndarray
    padding_source: tuple[np.ndarray, ...]
    weight: np.ndarray
    bias: np.ndarray | None
    patches: np.ndarray
    kernels: np.ndarray
    products: np.ndarray
    output: np.ndarray


@dataclass(frozen=True, eq=False)
class BackwardSteps(ConvSteps):
    """A convolution's forward steps and its backward pass for one sample.

    Attributes
    ----------
    grad_output : ndarray, ``(G, cout, L)``
        dY, shaped as KP.
    grad_weight : ndarray, ``(G, cout, cin*K)``
        dK = dY·Pᵀ, shaped as K.
    grad_patches : ndarray, ``(G, cin*K, L)``
        dP = Kᵀ·dY, shaped as P.
    grad_input : ndarray, ``(C_in, *input_shape)``
        dX = fold(dP), shaped as X.
    grad_bias : ndarray, ``(C_out,)``
        db, dY summed over the positions.
    """

    grad_output: np.ndarray
    grad_weight: np.ndarray
    grad_patches: np.ndarray
    grad_input: np.ndarray
    grad_bias: np.ndarray


@dataclass(frozen=True, eq=False)
class TransposeSteps:
    """A transposed convolution's steps for one sample.

    Attributes
    ----------
    input : ndarray, ``(C, *L_shape)``
        X, the transposed convolution's input (C is the transposed convolution's ``cout*G``).
    input_groups : ndarray, ``(G, cout, L)``
        X as one matrix per group, the right factor of Kᵀ·X.
    weight : ndarray
        As given (PyTorch layout, ``C_in × C_out/groups × kernel`` of the transposed call).
    bias : ndarray or None
    kernels : ndarray, ``(G, cout, cin*K)``
        K: the weight flattened as the convolution it transposes flattens its filters.
    columns : ndarray, ``(G, cin*K, L)``
        Kᵀ·X: column ``l`` holds what input position ``l`` adds into the output.
    frame : ndarray, ``(C_out, *padded_shape)``
        The output frame before the padding is cropped, as zeros (its padding is what a
        convolution's padded input would have).
    padding_source : tuple of ndarray
        Per spatial dim, for each frame index, the output index it is (-1 in the cropped
        padding).
    output : ndarray, ``(C_out, *output_shape)``
        The fold of the columns, cropped, plus the bias.
    """

    input: np.ndarray
    input_groups: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None
    kernels: np.ndarray
    columns: np.ndarray
    frame: np.ndarray
    padding_source: tuple[np.ndarray, ...]
    output: np.ndarray


#: The steps of any explained call.
Steps = ConvSteps | BackwardSteps | TransposeSteps
