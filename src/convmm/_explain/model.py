"""The model of an explanation: every step of one convolution, computed by the library itself.

The patch matrix P an :class:`Explanation` holds is made by :func:`convmm.unfold`, the same
unfold that :func:`convmm.conv` multiplies; K is the weight flattened as ``conv`` flattens it;
the output is checked against ``convmm.conv``, the direct reference, and PyTorch when it can be
imported.  Renderers (text, figures, the interactive page) only read this model.

Groups are shown as one product per group: ``K_g · P_g`` for each group ``g``, where ``P_g``
holds the rows of P for that group's input channels and ``K_g`` that group's filters.  (Stacking
the ``K_g`` block-diagonally gives the same numbers with zeros in between.)
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import reference
from .._arrays import (
    DEFAULT_MAX_WORKSPACE_BYTES,
    as_float_array,
    check_allocation,
    compute_dtype,
    conv_arrays,
)
from .._conv import conv, conv_backward
from .._conv_transpose import conv_transpose
from .._errors import ConvmmTypeError, ConvmmValueError
from .._geometry import (
    ConvGeometry,
    OutputSizeTerms,
    TransposedOutputSizeTerms,
    Window,
    conv_geometry,
    transposed_output_size_terms,
)
from .._im2col import fold_into, source_indices
from .._planner import ConvPlan, choose
from .._unfold import unfold
from .._workspace import num_threads

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "Explanation",
    "FormulaTerms",
    "explain",
    "explain_backward",
    "explain_transpose",
]

#: Above this many entries in P the renderers summarise instead of showing every number.
DEFAULT_MAX_ENTRIES = 4096
#: The direct reference loops in Python over output positions: above this many (times the
#: groups) its check is not run (it would take seconds), and the explanation says so.
REFERENCE_LIMIT = 20_000

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

    All arrays are float64 copies, channels first, of the explained sample (``sample`` of the
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
    input : ndarray, ``(C_in, *input_shape)``
        The convolution's input (for ``conv_transpose``: the transposed input, ``(C, *L)``).
    padded : ndarray, ``(C_in, *padded_shape)``
        The input with its padding (as ``padding_mode`` fills it).
    padding_source : tuple of ndarray
        Per spatial dim, for each padded index, the input index whose value it holds (-1 for a
        zero).
    weight : ndarray
        As given (PyTorch layout).
    bias : ndarray or None
    patches : ndarray, ``(G, cin*K, L)``
        P, one block of rows per group: column ``l`` is the patch for output position ``l``.
    kernels : ndarray, ``(G, cout, cin*K)``
        K, one block per group: row ``f`` is filter ``g*cout + f`` flattened.
    products : ndarray, ``(G, cout, L)``
        K·P per group (before the bias).
    output : ndarray, ``(C_out, *output_shape)``
        KP reshaped, plus the bias.
    checks : dict of str to bool or None
        Whether each independent computation gives the same output, within the rounding of
        the dtype it computes in (None: not run; ``check_notes`` says why).
    check_notes : dict of str to str
        Why a check did not run (PyTorch missing, or too large for the direct loops).
    grad_output, grad_weight, grad_bias, grad_patches, grad_input : ndarray or None
        For ``conv_backward``: dY ``(G, cout, L)``, dK ``= dY·Pᵀ`` ``(G, cout, cin*K)``, db,
        dP ``= Kᵀ·dY`` ``(G, cin*K, L)`` and dX ``= fold(dP)`` ``(C_in, *input_shape)``.
        For ``conv_transpose``: ``grad_patches`` holds the columns Kᵀ·X and ``output`` their
        fold plus the bias.
    """

    kind: str
    geometry: ConvGeometry
    options: dict[str, Any]
    sample: int
    input: np.ndarray
    padded: np.ndarray
    padding_source: tuple[np.ndarray, ...]
    weight: np.ndarray
    bias: np.ndarray | None
    patches: np.ndarray
    kernels: np.ndarray
    products: np.ndarray
    output: np.ndarray
    checks: dict[str, bool | None] = field(default_factory=dict)
    check_notes: dict[str, str] = field(default_factory=dict)
    grad_output: np.ndarray | None = None
    grad_weight: np.ndarray | None = None
    grad_bias: np.ndarray | None = None
    grad_patches: np.ndarray | None = None
    grad_input: np.ndarray | None = None
    max_entries: int = DEFAULT_MAX_ENTRIES

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


def _one_sample(result: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
    """A one-image result of the library (batched or not, in its layout), channels first."""
    result = result[0] if geometry.batched else result
    return np.moveaxis(result, -1, 0) if geometry.channels_last else result


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


def _torch_available() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _agree(got: Any, want: np.ndarray, scale: np.ndarray, dtype: Any) -> bool:
    """Whether ``got`` (computed in ``dtype``) equals ``want`` up to that dtype's rounding.

    ``scale`` bounds, per entry, the sum of the absolute values of the products that make it
    (the same computation on absolute values); a sum of them in ``dtype`` is off by at most a
    few units of ``eps * scale``, plus the rounding of the result to ``got``'s own dtype (half a
    unit in its last place, subnormals and overflow to infinity included: ``want`` rounded to
    that dtype agrees).  NaNs must sit at the same places.
    """
    got_array = np.asarray(got)
    if got_array.shape != want.shape:
        return False
    got_dtype = got_array.dtype if got_array.dtype.kind == "f" else np.dtype(np.float64)
    got = got_array.astype(np.float64)
    eps = float(np.finfo(np.result_type(dtype, got_dtype)).eps)
    with np.errstate(invalid="ignore", over="ignore"):
        rounded = want.astype(got_dtype).astype(np.float64)
        ulp = np.spacing(np.abs(rounded).astype(got_dtype)).astype(np.float64)
        tolerance = 64 * eps * scale + ulp
        close = np.abs(got - want) <= tolerance
        close_rounded = np.abs(got - rounded) <= tolerance
    same = (got == want) | (got == rounded) | (np.isnan(got) & np.isnan(want))
    return bool(np.all(close | close_rounded | same))


def _not_run(checks: dict[str, bool | None], notes: dict[str, str], name: str, why: str) -> None:
    checks[name] = None
    notes[name] = why


def _library_checks(
    geometry: ConvGeometry,
    agree: Callable[[Any, Any], bool],
    dtype: Any,
    fast: tuple[str, Callable[[], Any]],
    slow: tuple[str, Callable[[], Any]],
) -> tuple[dict[str, bool | None], dict[str, str]]:
    """The checks against the library's fast function (computing in ``dtype``) and its direct
    reference (float64; not run when too large): whether ``agree(result, dtype)``."""
    checks: dict[str, bool | None] = {fast[0]: agree(fast[1](), dtype)}
    notes: dict[str, str] = {}
    too_large = _too_large_for_reference(geometry)
    if too_large is None:
        checks[slow[0]] = agree(slow[1](), np.float64)
    else:
        _not_run(checks, notes, slow[0], too_large)
    return checks, notes


def _too_large_for_reference(geometry: ConvGeometry) -> str | None:
    """Why the direct reference is not run for this geometry (None: it is)."""
    loops = geometry.window.num_positions * geometry.groups
    if loops <= REFERENCE_LIMIT:
        return None
    return (
        f"not run: the direct loop would visit {loops} positions x groups "
        f"(it runs up to {REFERENCE_LIMIT})"
    )


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
    steps, (x_all, w, b) = _conv_steps(
        "convmm.explain", input, weight, bias, options, sample, max_entries
    )
    geometry, output = steps.geometry, steps.output
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
    return dataclasses.replace(steps, checks=checks, check_notes=notes)


def _conv_steps(
    func: str,
    input: Any,
    weight: Any,
    bias: Any,
    options: dict[str, Any],
    sample: int,
    max_entries: int,
) -> tuple[Explanation, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """The steps of a convolution for one sample (no checks), and the arrays as given."""
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
    steps = Explanation(
        kind="conv",
        geometry=geometry,
        options=options,
        sample=sample,
        input=x,
        padded=padded,
        padding_source=sources,
        weight=np.array(w, dtype=np.float64),
        bias=None if b is None else np.array(b, dtype=np.float64),
        patches=patches,
        kernels=kernels,
        products=products,
        output=output,
        max_entries=max_entries,
    )
    return steps, (x_all, w, b)


class _TorchRefused(Exception):
    """PyTorch's own limits stop the check (a stride beyond its int64, ...)."""


def _call_torch(op: Any, *args: Any, **kwargs: Any) -> Any:
    """``op(*args, **kwargs)``; an error of torch's is a :class:`_TorchRefused` (first line)."""
    try:
        return op(*args, **kwargs)
    except (RuntimeError, OverflowError, TypeError, ValueError) as error:
        text = str(error).strip()
        raise _TorchRefused(text.splitlines()[0] if text else repr(error)) from None


def _torch_check(
    checks: dict[str, bool | None],
    notes: dict[str, str],
    geometry: ConvGeometry,
    compute: Callable[[], tuple[np.ndarray, ...]],
    wants: tuple[np.ndarray, ...],
    scales: tuple[np.ndarray, ...],
) -> None:
    """Run ``compute()`` (PyTorch's results, float64) and record whether they give ``wants``."""
    ndim = geometry.window.ndim
    if ndim > 3:
        _not_run(checks, notes, "torch", f"not run: PyTorch has no {ndim}-D convolution")
    elif _torch_available() is None:
        _not_run(checks, notes, "torch", "not run: PyTorch is not installed")
    else:
        try:
            results = compute()
        except _TorchRefused as refused:
            _not_run(
                checks, notes, "torch", f"not run: PyTorch refused these arguments ({refused})"
            )
            return
        checks["torch"] = all(
            _agree(*c, np.float64) for c in zip(results, wants, scales, strict=True)
        )


def _torch_conv(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geometry: ConvGeometry
) -> np.ndarray:
    """PyTorch's convolution of one sample (padding by ``F.pad`` in the padding mode)."""
    torch = _torch_available()
    window = geometry.window
    functional = torch.nn.functional
    t = torch.from_numpy(np.ascontiguousarray(x))[None]
    pads = [p for pair in reversed(window.padding) for p in pair]
    mode = {"zeros": "constant"}.get(window.padding_mode, window.padding_mode)
    if any(pads):
        t = functional.pad(t, pads, mode=mode)
    op = getattr(functional, f"conv{window.ndim}d")
    result = _call_torch(
        op,
        t,
        torch.from_numpy(np.asarray(w, np.float64)),
        None if b is None else torch.from_numpy(np.asarray(b, np.float64)),
        stride=window.stride,
        dilation=window.dilation,
        groups=geometry.groups,
    )
    out: np.ndarray = result[0].numpy()
    return out


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
    sample: int = 0,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> Explanation:
    """Explain a transposed convolution: the columns Kᵀ·X, then their fold into the output.

    Column ``l`` of Kᵀ·X holds what input position ``l`` adds into the output; it adds into the
    cells a convolution with the same arguments would have read for its output position ``l``
    (``patch_cells``), less the cropped padding.

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
    from .._conv_transpose import _geometry as transpose_geometry

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
        x_all,
        w,
        None if b is None else b.shape,
        output_size=None,
        func=func,
        **options,
    )
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
    checks, notes = _library_checks(
        geometry,
        lambda got, dtype: _agree(_one_sample(got, geometry), output, scale, dtype),
        compute_dtype(x_all, w, b),
        ("convmm.conv_transpose", lambda: conv_transpose(one, w, b, **options)),
        ("convmm.reference.conv_transpose", lambda: reference.conv_transpose(one, w, b, **options)),
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
        input=x,
        padded=padded,
        padding_source=sources,
        weight=np.array(w, dtype=np.float64),
        bias=None if b is None else np.array(b, dtype=np.float64),
        patches=columns,
        kernels=kernels,
        products=values,
        output=output,
        checks=checks,
        check_notes=notes,
        grad_patches=columns,
        max_entries=max_entries,
    )


def _torch_transpose(
    x: np.ndarray, w: np.ndarray, bias_column: np.ndarray | None, geometry: ConvGeometry
) -> np.ndarray:
    """PyTorch's transposed convolution of one sample, uncropped, then cropped per side.

    ``F.conv_transpose*d`` crops the same amount from both sides; running it uncropped and
    cropping here covers per-side padding, and zeros past its end give the output padding.
    """
    torch = _torch_available()
    window = geometry.window
    op = getattr(torch.nn.functional, f"conv_transpose{window.ndim}d")
    result = _call_torch(
        op,
        torch.from_numpy(np.ascontiguousarray(x))[None],
        torch.from_numpy(np.asarray(w, np.float64)),
        stride=window.stride,
        groups=geometry.groups,
        dilation=window.dilation,
    )[0].numpy()
    ends = [before + n for (before, _), n in zip(window.padding, window.input_shape, strict=True)]
    sizes = tuple(max(e, m) for e, m in zip(ends, result.shape[1:], strict=True))
    grown = np.zeros(result.shape[:1] + sizes)
    grown[(slice(None),) + tuple(slice(0, m) for m in result.shape[1:])] = result
    crop = tuple(slice(before, end) for (before, _), end in zip(window.padding, ends, strict=True))
    out: np.ndarray = grown[(slice(None),) + crop]
    return out if bias_column is None else out + bias_column


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
    forward, (x_all, w, _) = _conv_steps(func, input, weight, None, options, sample, max_entries)
    geometry = forward.geometry
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
    _torch_check(checks, notes, geometry, lambda: _torch_backward(forward, dy), wants, scales)
    return Explanation(
        kind="conv_backward",
        geometry=geometry,
        options=options,
        sample=sample,
        input=forward.input,
        padded=forward.padded,
        padding_source=forward.padding_source,
        weight=forward.weight,
        bias=None,
        patches=forward.patches,
        kernels=forward.kernels,
        products=forward.products,
        output=forward.output,
        checks=checks,
        check_notes=notes,
        grad_output=grad_output_matrix,
        grad_weight=grad_weight,
        grad_bias=grad_bias,
        grad_patches=grad_patches,
        grad_input=grad_input,
        max_entries=max_entries,
    )


def _torch_backward(
    forward: Explanation, dy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PyTorch autograd's gradients (input, weight as K's rows, bias) for one sample."""
    torch = _torch_available()
    geometry = forward.geometry
    window = geometry.window
    functional = torch.nn.functional
    x = torch.tensor(forward.input[None], requires_grad=True)
    w = torch.tensor(forward.weight, requires_grad=True)
    b = torch.zeros(geometry.out_channels, dtype=torch.float64, requires_grad=True)
    pads = [p for pair in reversed(window.padding) for p in pair]
    mode = {"zeros": "constant"}.get(window.padding_mode, window.padding_mode)
    padded = functional.pad(x, pads, mode=mode) if any(pads) else x
    op = getattr(functional, f"conv{window.ndim}d")
    y = _call_torch(
        op, padded, w, b, stride=window.stride, dilation=window.dilation, groups=geometry.groups
    )
    y.backward(torch.from_numpy(dy[None]))
    shape = forward.kernels.shape
    return x.grad[0].numpy(), w.grad.numpy().reshape(shape), b.grad.numpy()
