"""The model of an explanation: every step of one convolution, computed by the library itself.

The patch matrix P an :class:`Explanation` holds is made by :func:`convmm.unfold`, the same
unfold that :func:`convmm.conv` multiplies; K is the weight flattened as ``conv`` flattens it;
the output is checked against ``convmm.conv``, the direct reference, and PyTorch when it can be
imported.  Renderers (text, figures, the interactive page) only read this model.

Groups are shown as one product per group: ``K_g · P_g`` for each group ``g``, where ``P_g``
holds the rows of P for that group's input channels and ``K_g`` that group's filters.  (Stacking
the ``K_g`` block-diagonally gives the same numbers with zeros in between.)

This module holds the :class:`Explanation` itself, its renderer registry and the small helpers
the steps share (the fold of columns, the argument and size checks); ``steps`` computes the
steps (:func:`explain`, :func:`explain_transpose`, :func:`explain_backward`) and ``checks``
compares them with convmm, ``convmm.reference`` and PyTorch.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._arrays import DEFAULT_MAX_WORKSPACE_BYTES, check_allocation
from .._errors import ConvmmTypeError, ConvmmValueError
from .._geometry import (
    ConvGeometry,
    OutputSizeTerms,
    TransposedOutputSizeTerms,
    Window,
    transposed_output_size_terms,
)
from .._im2col import fold_into
from .._planner import ConvPlan, choose
from .._workspace import num_threads
from .checks import REFERENCE_LIMIT as REFERENCE_LIMIT
from .checks import _agree as _agree
from .records import BackwardSteps, ConvSteps, Steps, TransposeSteps

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "BackwardSteps",
    "ConvSteps",
    "Explanation",
    "FormulaTerms",
    "TransposeSteps",
    "fold_columns",
    "register_renderers",
]

#: Above this many entries in P the renderers summarise instead of showing every number.
DEFAULT_MAX_ENTRIES = 4096

#: The numbers of one dim's output-size formula: a convolution's (and its backward pass's), or
#: a transposed convolution's.
FormulaTerms = OutputSizeTerms | TransposedOutputSizeTerms


#: The renderers, by name ('text', 'page', 'figure', 'save_figure'): registered by the package
#: (``convmm._explain``), which imports them, so that the model imports none of its renderers.
_RENDERERS: dict[str, Callable[..., Any]] = {}


def register_renderers(**renderers: Callable[..., Any]) -> None:
    """Make ``renderers`` the ones :class:`Explanation`'s methods call (the package does)."""
    _RENDERERS.update(renderers)


def _renderer(name: str) -> Callable[..., Any]:
    try:
        return _RENDERERS[name]
    except KeyError:  # pragma: no cover - the package registers them on import
        raise RuntimeError(
            f"convmm.explain: no {name!r} renderer (import convmm._explain)"
        ) from None


@dataclass(frozen=True, eq=False)
class Explanation:
    """Every step of one convolution (or its transpose or backward), for one sample.

    ``str(e)`` (and ``print(e)``) is the walkthrough as text; ``repr(e)`` one line naming the
    kind and the shapes.  Explanations compare (and hash) by identity: two built separately
    from the same arguments are different objects, ``e == e`` only.

    The steps themselves are typed records in :attr:`steps` (:class:`ConvSteps`,
    :class:`BackwardSteps` or :class:`TransposeSteps`, see ``records``), each array named for
    what it holds; the attributes below read them, under the names every kind shares.  All
    arrays are float64 copies, channels first, of the explained sample (``sample`` of the
    batch).  Shapes use G groups, ``cin = C_in/G``, ``cout = C_out/G``, K kernel offsets and L
    output positions.

    Attributes
    ----------
    kind : {'conv', 'conv_transpose', 'conv_backward'}
    geometry : ConvGeometry
        The validated geometry, in convolution terms (for a transposed convolution, its
        ``window.input_shape`` is the transposed output's size).
    options : dict
        The options as the caller gave them (for display).
    sample : int
        Which image of the batch is explained.
    steps : ConvSteps, BackwardSteps or TransposeSteps
        The computation, step by step.
    checks : dict of str to bool or None
        Whether each independent computation gives the same output, within the rounding of
        the dtype it computes in (None: not run; ``check_notes`` says why).
    check_notes : dict of str to str
        Why a check did not run (PyTorch missing, or too large for the direct loops).
    input, padded, padding_source, weight, bias, kernels, output : ndarray
        The steps' own (for ``conv_transpose``: ``padded`` is the uncropped output frame, as
        zeros, and ``padding_source`` its map to the output).
    patches : ndarray, ``(G, cin*K, L)``
        P (for ``conv_transpose``: the columns Kᵀ·X, P's shape).
    products : ndarray, ``(G, cout, L)``
        K·P per group (for ``conv_transpose``: X per group, the right factor of Kᵀ·X).
    grad_output, grad_weight, grad_bias, grad_patches, grad_input : ndarray or None
        For ``conv_backward``: dY ``(G, cout, L)``, dK ``= dY·Pᵀ`` ``(G, cout, cin*K)``, db,
        dP ``= Kᵀ·dY`` ``(G, cin*K, L)`` and dX ``= fold(dP)`` ``(C_in, *input_shape)``; None
        for the other kinds.
    """

    kind: str
    geometry: ConvGeometry
    options: dict[str, Any]
    sample: int
    steps: Steps
    checks: dict[str, bool | None] = field(default_factory=dict)
    check_notes: dict[str, str] = field(default_factory=dict)
    max_entries: int = DEFAULT_MAX_ENTRIES

    # ---- the steps, under the names every kind shares ---------------------------------------

    @property
    def input(self) -> np.ndarray:
        return self.steps.input

    @property
    def padded(self) -> np.ndarray:
        steps = self.steps
        return steps.frame if isinstance(steps, TransposeSteps) else steps.padded

    @property
    def padding_source(self) -> tuple[np.ndarray, ...]:
        return self.steps.padding_source

    @property
    def weight(self) -> np.ndarray:
        return self.steps.weight

    @property
    def bias(self) -> np.ndarray | None:
        return self.steps.bias

    @property
    def patches(self) -> np.ndarray:
        steps = self.steps
        return steps.columns if isinstance(steps, TransposeSteps) else steps.patches

    @property
    def kernels(self) -> np.ndarray:
        return self.steps.kernels

    @property
    def products(self) -> np.ndarray:
        steps = self.steps
        return steps.input_groups if isinstance(steps, TransposeSteps) else steps.products

    @property
    def output(self) -> np.ndarray:
        return self.steps.output

    def _gradient(self, name: str) -> np.ndarray | None:
        steps = self.steps
        return getattr(steps, name) if isinstance(steps, BackwardSteps) else None

    @property
    def grad_output(self) -> np.ndarray | None:
        return self._gradient("grad_output")

    @property
    def grad_weight(self) -> np.ndarray | None:
        return self._gradient("grad_weight")

    @property
    def grad_bias(self) -> np.ndarray | None:
        return self._gradient("grad_bias")

    @property
    def grad_patches(self) -> np.ndarray | None:
        return self._gradient("grad_patches")

    @property
    def grad_input(self) -> np.ndarray | None:
        return self._gradient("grad_input")

    # ---- the geometry, per column, row and cell -------------------------------------------

    @property
    def groups(self) -> int:
        return self.geometry.groups

    @property
    def num_positions(self) -> int:
        """L, the number of columns of P (output positions)."""
        return self.geometry.window.num_positions

    @property
    def elided(self) -> bool:
        """Whether P is too large to show whole (more than ``max_entries`` entries)."""
        return int(self.patches.size) > self.max_entries

    def plan(self) -> ConvPlan:
        """How the library's own function computes this call (see :func:`convmm.plan`).

        Planned for the whole batch in float64, the dtype the explanation computes in, within
        the default workspace bound.
        """
        op = "conv" if self.kind == "conv" else self.kind
        name, reason, alternatives = choose(
            op,
            self.geometry,
            np.dtype(np.float64),
            "auto",
            DEFAULT_MAX_WORKSPACE_BYTES,
            f"convmm.{self.kind}",
        )
        return ConvPlan(op, name, reason, alternatives, 0, 0, num_threads(), 0)

    def formula(self) -> tuple[FormulaTerms, ...]:
        """The output-size formula's numbers, one per spatial dim.

        For a convolution and its backward pass, :class:`OutputSizeTerms` (``output`` is the
        number of window positions); for a transposed convolution,
        :class:`TransposedOutputSizeTerms` (``output`` is its output size, ``input`` its input
        size).  Both come from the geometry.
        """
        window = self.geometry.window
        if self.kind == "conv_transpose":
            return tuple(transposed_output_size_terms(window, dim) for dim in range(window.ndim))
        return tuple(window.output_size_terms(dim) for dim in range(window.ndim))

    def position(self, column: int) -> tuple[int, ...]:
        """The output position (spatial index) of column ``column`` of P."""
        return tuple(int(i) for i in np.unravel_index(column, self.geometry.window.output_shape))

    def kernel_offset(self, row: int) -> tuple[int, ...]:
        """The kernel offset (index into ``kernel_size``) of row ``row`` of P_g."""
        window = self.geometry.window
        k = row % window.kernel_numel
        return tuple(int(i) for i in np.unravel_index(k, window.kernel_size))

    def row_channel(self, group: int, row: int) -> int:
        """The input channel of row ``row`` of P_g."""
        window = self.geometry.window
        return group * self.geometry.in_channels_per_group + row // window.kernel_numel

    def patch_cells(self, column: int) -> list[tuple[int, ...]]:
        """The padded-input cells (spatial indices) that column ``column`` reads, in P's order.

        One cell per kernel offset; every input channel reads the same cells.
        """
        window = self.geometry.window
        origin = [o * s for o, s in zip(self.position(column), window.stride, strict=True)]
        cells = []
        for offset in itertools.product(*(range(k) for k in window.kernel_size)):
            cells.append(
                tuple(
                    int(a + k * d) for a, k, d in zip(origin, offset, window.dilation, strict=True)
                )
            )
        return cells

    def source_cell(self, padded_cell: tuple[int, ...]) -> tuple[int, ...] | None:
        """The input cell a padded cell holds the value of (None for a zero of the padding)."""
        cell = tuple(int(src[i]) for src, i in zip(self.padding_source, padded_cell, strict=True))
        return None if min(cell) < 0 else cell

    def is_padding(self, padded_cell: tuple[int, ...]) -> bool:
        """Whether a padded cell lies in the padding (outside the input)."""
        window = self.geometry.window
        return any(
            not before <= i < before + n
            for i, (before, _), n in zip(
                padded_cell, window.padding, window.input_shape, strict=True
            )
        )

    def verdict(self, name: str) -> str:
        """Check ``name`` in words: 'same', 'DIFFERENT', or why it did not run."""
        ok = self.checks[name]
        if ok is None:
            return self.check_notes.get(name, "not run")
        return "same" if ok else "DIFFERENT"

    # ---- rendering hooks --------------------------------------------------------------------

    def __repr__(self) -> str:
        geometry = self.geometry
        if self.kind == "conv_transpose":
            given, returned = geometry.output_array_shape(), geometry.input_array_shape()
        else:
            given, returned = geometry.input_array_shape(), geometry.output_array_shape()
        weight = tuple(int(n) for n in self.weight.shape)
        sample = f", sample {self.sample}" if geometry.batch > 1 else ""
        return (
            f"<Explanation {self.kind}: input {given}, weight {weight} -> output {returned}"
            f"{sample}>"
        )

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        html: str = _renderer("page")(self, inline=True)
        return html

    def to_text(self) -> str:
        """The walkthrough as text (see :func:`convmm.explain`)."""
        text: str = _renderer("text")(self)
        return text

    def to_html(self) -> str:
        """The interactive page as one self-contained HTML document."""
        html: str = _renderer("page")(self)
        return html

    def save_html(self, path: str) -> None:
        """Write :meth:`to_html` to ``path`` (rendered first: a failure leaves no file)."""
        html = self.to_html()
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(html)

    def figure(self, **options: Any) -> Any:
        """The walkthrough as a matplotlib ``Figure`` (shown inline by Jupyter; needs matplotlib).

        ``options`` go to the figure renderer (``max_patches``: how many patches get a colour).
        """
        return _renderer("figure")(self, **options)

    def save_figure(self, path: str, **options: Any) -> None:
        """Draw the walkthrough with matplotlib (PNG or SVG by the file's suffix)."""
        _renderer("save_figure")(self, path, **options)


# --------------------------------------------------------------------------------------------


def fold_columns(window: Window, columns: np.ndarray) -> np.ndarray:
    """The fold of one sample's columns ``(G, rows, L)``: the library's own fold, over the
    geometry's window (for a transposed convolution with an output padding at least its
    stride, the window has fewer positions than a convolution of its output size would)."""
    channels = columns.size // (window.kernel_numel * window.num_positions)
    out = np.zeros((channels, *window.input_shape))
    fold_into(columns.reshape(channels, *window.kernel_size, *window.output_shape), window, out)
    return out


def _check_max_entries(max_entries: object, func: str) -> None:
    if not isinstance(max_entries, int | np.integer) or isinstance(max_entries, bool):
        raise ConvmmTypeError(
            f"{func}: max_entries must be an int (the most entries of P shown whole); "
            f"got {max_entries!r}"
        )
    if max_entries < 1:
        raise ConvmmValueError(f"{func}: max_entries must be >= 1; got {max_entries}")


def _check_sizes(geometry: ConvGeometry, func: str) -> None:
    """A clear error before P, the padded input or an output too large to hold is allocated."""
    window = geometry.window
    check_allocation(
        (geometry.in_channels * window.kernel_numel, window.num_positions),
        np.float64,
        func=func,
        what="the patch matrix P",
    )
    check_allocation(
        (geometry.in_channels, *window.padded_shape), np.float64, func=func, what="the padded input"
    )
    for channels, shape in (
        (geometry.out_channels, window.output_shape),
        (geometry.in_channels, window.input_shape),
    ):
        check_allocation((channels, *shape), np.float64, func=func)


def _sample(array: np.ndarray, geometry: ConvGeometry, sample: int, func: str) -> np.ndarray:
    """One sample, channels first, float64."""
    if not isinstance(sample, int | np.integer) or isinstance(sample, bool):
        raise ConvmmTypeError(f"{func}: sample must be an int; got {sample!r}")
    batch = array.shape[0] if geometry.batched else 1
    if not 0 <= sample < batch:
        raise ConvmmValueError(
            f"{func}: sample must index the batch (0 <= sample < {batch}); got {sample}"
        )
    one = array[sample] if geometry.batched else array
    if geometry.channels_last:
        one = np.moveaxis(one, -1, 0)
    return np.array(one, dtype=np.float64)
