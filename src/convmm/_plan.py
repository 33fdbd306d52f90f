"""How a convolution is cut into pieces that fit the workspace bound.

The patch matrix P of a whole batch can take gigabytes.  ``plan_chunks`` splits the work into
chunks of whole images, or, when a single image's P is over the bound, into runs of output rows
(along the first spatial dim) of one image, so that every buffer the computation allocates fits
in ``max_workspace_bytes``.  Each chunk's product goes straight into its slice of the output, so
every output value is the same sum of the same products as in the unchunked computation.  (The
BLAS kernel may add them in a different order for a chunk of a different width, so values can
differ in the last bits.)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from ._errors import ConvmmValueError
from ._geometry import ConvGeometry

__all__ = ["Chunk", "Plan", "plan_chunks"]


@dataclass(frozen=True)
class Chunk:
    """Images ``batch[0]:batch[1]`` and output rows ``rows[0]:rows[1]`` (first spatial dim)."""

    batch: tuple[int, int]
    rows: tuple[int, int]


@dataclass(frozen=True)
class Plan:
    """The chunks of one call and the workspace they need.

    Attributes
    ----------
    chunks : tuple of Chunk
    patch_elements : int
        Elements of the largest P chunk (the size of the one reused P buffer).
    result_elements : int
        Elements of the largest compute-dtype result chunk (0 when the product is written
        straight into the output).
    workspace_bytes : int
        The peak memory of all workspace buffers for the largest chunk.
    converts : bool
        Whether chunks of whole images convert their input to the compute dtype first.
    """

    chunks: tuple[Chunk, ...]
    patch_elements: int
    result_elements: int
    workspace_bytes: int
    converts: bool = False


def plan_chunks(
    geometry: ConvGeometry,
    *,
    compute_itemsize: int,
    input_itemsize: int,
    patches_are_input: bool,
    result_buffer: bool,
    budget: int,
    func: str,
    slab_copies: int = 1,
    target: int | None = None,
    several_images_buffer: bool = False,
    input_copy: bool = False,
) -> Plan:
    """Chunks of ``geometry``'s work whose buffers fit in ``budget`` bytes (see :func:`_chunks`).

    Plans are cached: a layer called again (a training loop, a benchmark) is not planned
    anew.  A budget too small is refused every time (errors are not cached).
    """
    options = {
        "compute_itemsize": compute_itemsize,
        "input_itemsize": input_itemsize,
        "patches_are_input": patches_are_input,
        "result_buffer": result_buffer,
        "budget": budget,
        "func": func,
        "slab_copies": slab_copies,
        "target": target,
        "several_images_buffer": several_images_buffer,
    }
    if input_copy:  # the copy is an optimisation: without it when the bound has no room
        # converted first, the padded slab is in the compute dtype too
        converted = dict(options, input_itemsize=max(input_itemsize, compute_itemsize))
        try:
            return _chunks(geometry, **converted, input_copy=True)
        except ConvmmValueError:
            pass
    return _chunks(
        geometry,
        compute_itemsize=compute_itemsize,
        input_itemsize=input_itemsize,
        patches_are_input=patches_are_input,
        result_buffer=result_buffer,
        budget=budget,
        func=func,
        slab_copies=slab_copies,
        target=target,
        several_images_buffer=several_images_buffer,
        input_copy=False,
    )


@functools.lru_cache(maxsize=256)
def _chunks(
    geometry: ConvGeometry,
    *,
    compute_itemsize: int,
    input_itemsize: int,
    patches_are_input: bool,
    result_buffer: bool,
    budget: int,
    func: str,
    slab_copies: int = 1,
    target: int | None = None,
    several_images_buffer: bool = False,
    input_copy: bool = False,
) -> Plan:
    """Chunks of ``geometry``'s work whose buffers fit in ``budget`` bytes.

    ``target``: the bytes a chunk should take when the budget allows more (the cache size that
    lets the product read P right after the unfold wrote it); None sizes chunks to the budget.
    A chunk is never smaller than one output row of one image.  ``several_images_buffer``: a
    chunk of more than one image needs the result buffer (channels-first products of several
    images side by side, copied into the output with a transpose).
    ``patches_are_input``: P is a view of the input (1x1 kernel, stride 1, no padding), so only
    the result buffer counts.  ``result_buffer``: the product is computed in a separate
    compute-dtype buffer (when the output dtype differs from the compute dtype).
    ``slab_copies``: how many padded slabs are alive at once for a non-zero padding mode (1 for
    the gather of an unfold; 2 for a fold, which folds the border back one dim at a time into a
    new array).
    """
    window = geometry.window
    rows_total = window.output_shape[0]
    row_positions = math.prod(window.output_shape[1:])
    padded_row = math.prod(window.padded_shape[1:])
    gathers = window.padding_mode != "zeros" and window.is_padded
    s0, d0, k0 = window.stride[0], window.dilation[0], window.kernel_size[0]

    def sizes(images: int, rows: int) -> tuple[int, int, int]:
        positions = images * rows * row_positions
        patch = 0 if patches_are_input else geometry.in_channels * window.kernel_numel * positions
        buffered = result_buffer or (several_images_buffer and images > 1)
        result = geometry.out_channels * positions if buffered else 0
        slab_rows = (rows - 1) * s0 + d0 * (k0 - 1) + 1
        slab = images * geometry.in_channels * slab_rows * padded_row if gathers else 0
        total = (patch + result) * compute_itemsize + slab_copies * slab * input_itemsize
        if input_copy and rows == rows_total:  # whole images converted to the compute dtype
            total += (
                images * geometry.in_channels * math.prod(window.input_shape) * (compute_itemsize)
            )
        return patch, result, total

    batch = geometry.batch
    per_image = sizes(1, rows_total)[2]
    limit = budget if target is None else min(budget, max(target, sizes(1, 1)[2]))
    if per_image <= limit:
        step = 1  # the most images whose buffers fit together
        lo, hi = 1, max(batch, 1)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if sizes(mid, rows_total)[2] <= limit else (lo, mid - 1)
        step = lo
        chunks = tuple(
            Chunk((b, min(b + step, batch)), (0, rows_total)) for b in range(0, batch, step)
        )
        patch, result, total = sizes(min(step, batch), rows_total)
        return Plan(chunks, patch, result, total if batch else 0, input_copy)
    if sizes(1, 1)[2] > budget:
        raise ConvmmValueError(
            f"{func}: max_workspace_bytes={budget} is too small: one output row of one image "
            f"needs {sizes(1, 1)[2]} bytes of workspace (P has "
            f"{geometry.in_channels * window.kernel_numel} rows); give at least that"
        )
    lo, hi = 1, rows_total  # largest run of rows that fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if sizes(1, mid)[2] <= limit else (lo, mid - 1)
    if target is not None:  # runs of about equal length: no short last chunk
        runs = -(-rows_total // lo)
        lo = -(-rows_total // runs)
    chunks = tuple(
        Chunk((b, b + 1), (r, min(r + lo, rows_total)))
        for b in range(batch)
        for r in range(0, rows_total, lo)
    )
    patch, result, total = sizes(1, lo)
    return Plan(chunks, patch, result, total, False)
