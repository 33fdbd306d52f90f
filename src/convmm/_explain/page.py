"""The interactive page: one self-contained HTML file (or a Jupyter fragment) for an explanation.

This module only embeds the JSON data of :mod:`.page_data` and fills the template shipped next
to it (``page.html``, ``fragment.html``, ``page.css``, and the script: ``page.js``,
``page_draw.js``, ``page_layout.js``, ``page_play.js``, ``page_interact.js``); the page's
script draws the matrices from that data, lays them out and makes them interactive.  Nothing
is fetched: no network, no external URL, everything inline.  (Large explanations give a
summary page: see :mod:`.page_data`.)
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from .._errors import ConvmmValueError
from . import describe
from .model import Explanation
from .page_data import CROP_BUDGET, page_data

__all__ = ["CROP_BUDGET", "page_data", "render_page", "render_pages", "script_json"]

#: The page's script, in the order concatenated: one function body, one scope (see page.js).
SCRIPT_FILES = ("page.js", "page_draw.js", "page_layout.js", "page_play.js", "page_interact.js")

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def render_page(explanation: Explanation, inline: bool = False) -> str:
    """The page for ``explanation``: a whole HTML document, or with ``inline`` a fragment.

    The fragment (for Jupyter's ``_repr_html_``) has no ``<html>`` or ``<head>``; it carries its
    own style, data and script, and its element ids are unique, so several can share a page.
    In a fragment the arrow keys step through the patches once it has the keyboard focus (a
    click on it); in a whole document they always do.
    """
    if inline:
        return _fragment(explanation, f"cmx-{uuid.uuid4().hex[:12]}", keys="focus")
    fragment = _fragment(explanation, "cmx", keys="document")
    title = f"convmm explain: {describe.title(explanation)}"
    return _fill(_template("page.html"), title=html.escape(title), body=fragment)


def render_pages(
    explanations: Sequence[Explanation], titles: Sequence[str], title: str = "convmm explain"
) -> str:
    """Several explanations in one self-contained document, each under its own heading.

    The arrow keys step through the patches of the one last hovered or clicked.
    """
    if len(titles) != len(explanations):
        raise ConvmmValueError(
            f"render_pages: one title per explanation; got {len(titles)} titles for "
            f"{len(explanations)} explanations"
        )
    parts = [f'<header class="cmx-doc"><h1>{html.escape(title)}</h1><ul>']
    for i, name in enumerate(titles):
        parts.append(f'<li><a href="#cmx-part-{i}">{html.escape(name)}</a></li>')
    parts.append("</ul></header>")
    for i, (explanation, name) in enumerate(zip(explanations, titles, strict=True)):
        parts.append(
            f'<h2 class="cmx-doc" id="cmx-part-{i}">{html.escape(name)}</h2>'
            + _fragment(explanation, f"cmx-{i}", keys="active")
        )
    return _fill(_template("page.html"), title=html.escape(title), body="\n".join(parts))


def _fragment(explanation: Explanation, root: str, keys: str) -> str:
    data = page_data(explanation)
    script = _script()
    return _fill(
        _template("fragment.html"),
        root=root,
        keys=keys,
        css=_template("page.css"),
        data=script_json(data),
        js=script,
        root_json=json.dumps(root),
        noscript=html.escape(f"{data['title']} (the page needs JavaScript to draw it)."),
    )


def script_json(data: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&``."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@cache
def _script() -> str:
    """The page's script: the files of ``SCRIPT_FILES``, in that order."""
    script = "\n".join(_template(name) for name in SCRIPT_FILES)
    if "</script" in script.lower():  # pragma: no cover - guards the shipped files
        raise ValueError(f"{', '.join(SCRIPT_FILES)} must not contain '</script'")
    return script


@cache
def _template(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _fill(template: str, **values: str) -> str:
    """Replace each ``{{name}}`` in one pass (the values themselves are never scanned)."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
