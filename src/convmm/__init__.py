"""convmm: convolution as one matrix product (im2col), with PyTorch's semantics.

The input is unfolded into the patch matrix P, the weight is flattened into K, and the
convolution is the product K·P, reshaped.  See :func:`conv`, :func:`unfold` and :func:`fold`.
"""

from . import nn, reference
from ._arrays import DEFAULT_MAX_WORKSPACE_BYTES
from ._conv import conv, conv_backward
from ._conv_transpose import conv_transpose, conv_transpose_backward
from ._errors import ConvmmError
from ._explain import Explanation, explain, explain_backward, explain_transpose
from ._functional import (
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
)
from ._plan_call import plan
from ._planner import ALGORITHMS, ConvPlan
from ._shapes import conv_output_shape, conv_transpose_output_padding, conv_transpose_output_shape
from ._unfold import fold, unfold

__all__ = [
    "ALGORITHMS",
    "DEFAULT_MAX_WORKSPACE_BYTES",
    "ConvPlan",
    "ConvmmError",
    "Explanation",
    "conv",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_backward",
    "conv_output_shape",
    "conv_transpose",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_transpose_backward",
    "conv_transpose_output_padding",
    "conv_transpose_output_shape",
    "explain",
    "explain_backward",
    "explain_transpose",
    "fold",
    "nn",
    "plan",
    "reference",
    "unfold",
]

__version__ = "0.1.0"
