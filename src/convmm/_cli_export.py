"""``convmm explain``'s arrays as files: ``--save`` (.npy files), ``--npz`` and ``--json``.

:func:`save_files` writes what those options ask for: the arrays of an explanation by the
names of :func:`_saved_arrays`, and for ``--json`` the whole explanation (options, geometry,
arrays, checks) as one JSON document, without NaN or infinity (they become null).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from ._cli_files import write_target
from ._explain import Explanation

__all__ = ["save_files"]


def _saved_arrays(explanation: Explanation) -> dict[str, np.ndarray]:
    """The arrays of an explanation by file name (without ``.npy``), as ``--save`` writes them.

    Parameters
    ----------
    explanation : Explanation

    Returns
    -------
    dict of str to ndarray
        For a convolution (and its backward pass): ``input`` (X), ``padded_input``,
        ``patches`` (P, ``(groups, rows, positions)``), ``kernel`` (K, ``(groups, filters,
        rows)``), ``products`` (KP, before the bias) and ``output``; with the backward pass
        also ``grad_output`` (dY as KP's shape), ``grad_weight`` (dK = dY·Pᵀ, K's shape),
        ``grad_patches`` (dP = Kᵀ·dY, P's shape), ``grad_input`` (dX = fold(dP)) and
        ``grad_bias``.  For a transposed convolution: ``input`` (X), ``input_matrix`` (X as
        ``(groups, channels, positions)``), ``kernel`` (K), ``columns`` (Kᵀ·X, one column per
        input position) and ``output`` (their fold, plus the bias).  Then ``weight`` (as given)
        and, when there is one, ``bias``.
    """
    e = explanation
    arrays: dict[str, np.ndarray | None]
    if e.kind == "conv_transpose":
        arrays = {
            "input": e.input,
            "input_matrix": e.products,
            "kernel": e.kernels,
            "columns": e.patches,
            "output": e.output,
        }
    else:
        arrays = {
            "input": e.input,
            "padded_input": e.padded,
            "patches": e.patches,
            "kernel": e.kernels,
            "products": e.products,
            "output": e.output,
            "grad_output": e.grad_output,
            "grad_weight": e.grad_weight,
            "grad_patches": e.grad_patches,
            "grad_input": e.grad_input,
            "grad_bias": e.grad_bias,
        }
    arrays.update(weight=e.weight, bias=e.bias)
    return {name: array for name, array in arrays.items() if array is not None}


def _json_array(array: np.ndarray) -> Any:
    """Nested lists of floats; JSON has no NaN or infinity, so those become null."""
    if np.isfinite(array).all():
        return array.tolist()
    cells = array.astype(object)
    cells[~np.isfinite(array)] = None
    return cells.tolist()


def _json_value(value: Any) -> Any:
    """A NumPy scalar as the Python number it holds (for ``json.dumps``)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json_document(explanation: Explanation) -> dict[str, Any]:
    """The whole explanation as JSON-ready data, as ``--json`` writes it.

    Parameters
    ----------
    explanation : Explanation

    Returns
    -------
    dict
        ``convmm`` (the version), ``kind``, ``sample``, ``options`` (as given),
        ``geometry`` (the validated numbers, in the terms of a convolution: for a transposed
        convolution, the convolution it transposes), ``shapes`` and ``arrays`` (by the names
        of :func:`_saved_arrays`, as nested lists), ``checks`` (true, false, or null when
        not run), ``check_notes`` (why a check did not run) and ``all_checks_agree``.
    """
    e = explanation
    window = e.geometry.window
    geometry: dict[str, Any] = {
        "input_shape": window.input_shape,
        "kernel_size": window.kernel_size,
        "stride": window.stride,
        "padding": window.padding,
        "dilation": window.dilation,
        "padding_mode": window.padding_mode,
        "output_shape": window.output_shape,
        "in_channels": e.geometry.in_channels,
        "out_channels": e.geometry.out_channels,
        "groups": e.geometry.groups,
        "channels_last": e.geometry.channels_last,
    }
    if e.kind == "conv_transpose":
        geometry["note"] = (
            "in the terms of the convolution this transposes: its input_shape and in_channels "
            "are the transposed convolution's output, its output_shape and out_channels its input"
        )
    arrays = _saved_arrays(e)
    return {
        "convmm": __version__,
        "kind": e.kind,
        "sample": e.sample,
        "options": e.options,
        "geometry": geometry,
        "shapes": {name: array.shape for name, array in arrays.items()},
        "arrays": {name: _json_array(array) for name, array in arrays.items()},
        "checks": e.checks,
        "check_notes": e.check_notes,
        "all_checks_agree": all(v is not False for v in e.checks.values()),
    }


def _dump_json(document: dict[str, Any]) -> str:
    """``document`` as JSON: one top-level key a line, and one entry a line of a dict value."""

    def dump(value: Any) -> str:
        return json.dumps(value, allow_nan=False, default=_json_value, ensure_ascii=False)

    lines = []
    for key, value in document.items():
        if isinstance(value, dict) and value:
            inner = ",\n".join(f"    {dump(k)}: {dump(v)}" for k, v in value.items())
            lines.append(f"  {dump(key)}: {{\n{inner}\n  }}")
        else:
            lines.append(f"  {dump(key)}: {dump(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _save_folder(folder: str, arrays: dict[str, np.ndarray]) -> None:
    Path(folder).mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        np.save(Path(folder) / f"{name}.npy", array)


def save_files(args: argparse.Namespace, explanation: Explanation) -> list[str]:
    """Write what ``--save``, ``--npz`` and ``--json`` ask for; the lines saying so."""
    arrays: dict[str, Any] = _saved_arrays(explanation)
    lines = []
    if args.save:
        write_target(args.save, "--save", lambda folder: _save_folder(folder, arrays))
        names = ", ".join(f"{name}.npy" for name in arrays)
        lines.append(f"wrote {Path(args.save).resolve()}{os.sep}: {names}")
    if args.npz:
        write_target(args.npz, "--npz", lambda path: np.savez(path, **arrays))
        lines.append(f"wrote {Path(args.npz).resolve()}")
    if args.json:
        text = _dump_json(_json_document(explanation))
        write_target(
            args.json, "--json", lambda path: Path(path).write_text(text, encoding="utf-8")
        )
        lines.append(f"wrote {Path(args.json).resolve()}")
    return lines
