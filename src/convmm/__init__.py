"""convmm: convolution as one matrix product (im2col), with PyTorch's semantics.

The input is unfolded into the patch matrix P, the weight is flattened into K, and the
convolution is the product K·P, reshaped.  See :func:`conv`, :func:`unfold` and :func:`fold`.
"""

from . import reference
from ._arrays import DEFAULT_MAX_WORKSPACE_BYTES
from ._conv import conv, conv1d, conv2d, conv3d, conv_backward
from ._unfold import fold, unfold

__all__ = [
    "DEFAULT_MAX_WORKSPACE_BYTES",
    "conv",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_backward",
    "fold",
    "reference",
    "unfold",
]

__version__ = "0.1.0"
