"""The interactive page of ``convmm explain``: its data, self-containment, and in a browser.

The browser tests drive Debian's Chromium (``/usr/bin/chromium``) with Playwright; they never
download a browser, and they fail (not skip) when Chromium is missing.  Screenshots go to
``test-artifacts/`` (ignored by git), never into the tracked tree: ``make docs`` copies the
'bigger' seed example's screenshot, ``test-artifacts/page/explain-page.png``, to
``docs/explain-page.png`` for the README; ``explain-page-grid.png`` shows the product grid of
a wide screen (1400 × 900).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import convmm
from convmm._explain.page import CROP_BUDGET, page_data, render_page, render_pages, script_json
from convmm.examples import SEED_EXAMPLES

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "page"
DOCS_SCREENSHOT = ARTIFACTS / "explain-page.png"  # `make docs` copies it into docs/
GRID_SCREENSHOT = ARTIFACTS / "explain-page-grid.png"
LAPTOP = {"width": 1280, "height": 800}
WIDE = {"width": 1400, "height": 900}
PHONE = {"width": 375, "height": 740}
PHONE_390 = {"width": 390, "height": 800}
MAX_PAGE_BYTES = 300_000

# A few examples only: every one loads a page in the browser.  Never more than the profile.
FEW = settings(max_examples=min(10, settings().max_examples))


def _seed(name: str) -> convmm.Explanation:
    example = next(e for e in SEED_EXAMPLES if e.name == name)
    return convmm.explain(example.input, example.weight, **example.options)


def _fmt(value: float) -> str:
    """The page's number format: integers whole, anything else as Python's ``%.4g``."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return f"{value:.4g}"


def _key(cell: tuple[int, ...]) -> str:
    return ",".join(map(str, cell))


class _Collector(HTMLParser):
    """Every start tag with its attributes, and the text of each JSON data script."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.json_blocks: list[str] = []
        self._in_json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append((tag, values))
        self._in_json = tag == "script" and values.get("type") == "application/json"
        if self._in_json:
            self.json_blocks.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_json = False

    def handle_data(self, data: str) -> None:
        if self._in_json:
            self.json_blocks[-1] += data


def _parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector


def _embedded(html: str) -> dict[str, Any]:
    blocks = _parse(html).json_blocks
    assert len(blocks) == 1
    data: dict[str, Any] = json.loads(blocks[0])
    return data


# ---- (a) the numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize("example", SEED_EXAMPLES, ids=lambda e: e.name)
def test_seed_numbers_are_in_the_embedded_data(example: Any) -> None:
    e = convmm.explain(example.input, example.weight, **example.options)
    html = render_page(e)
    data = _embedded(html)
    assert data["summary"] is None
    for g in range(e.groups):
        assert data["matrices"]["P"][g] == e.patches[g].ravel().tolist()
        assert data["matrices"]["K"][g] == e.kernels[g].ravel().tolist()
        assert data["matrices"]["KP"][g] == e.products[g].ravel().tolist()
    assert data["out"] == e.output.ravel().tolist()
    assert data["frame"]["values"] == e.padded.ravel().tolist()
    assert data["cols"] == list(range(e.num_positions))
    assert [c[1] for c in data["checks"]] == ["same", "same", "same"]
    # The formula with the user's numbers substituted, per dim.
    for (_, numbers), terms in zip(data["formula"], e.formula(), strict=True):
        assert numbers.endswith(f"= {terms.output}")
        assert f"({terms.input} + {terms.pad_before} + {terms.pad_after}" in numbers


def test_json_cannot_break_out_of_its_script() -> None:
    text = script_json({"a": "</script><script>alert(1)</script>", "b": "&<>", "c": [1.5, -2]})
    assert "</" not in text and "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {
        "a": "</script><script>alert(1)</script>",
        "b": "&<>",
        "c": [1.5, -2],
    }


def test_non_finite_numbers_survive_the_json() -> None:
    x = np.array([[[1.0, np.nan, np.inf, -np.inf, 2.0]]])
    data = page_data(convmm.explain(x, np.ones((1, 1, 1))))
    assert data["matrices"]["P"][0] == [1.0, "nan", "inf", "-inf", 2.0]
    json.loads(script_json(data))  # strict JSON: no NaN literals


def _geometry_case(name: str) -> convmm.Explanation:
    rng = np.random.default_rng(12)
    if name == "strided-dilated-padded":
        x, w = rng.standard_normal((1, 2, 7, 8)), rng.standard_normal((3, 2, 2, 3))
        return convmm.explain(x, w, stride=(2, 1), dilation=(1, 2), padding=((1, 2), (2, 0)))
    if name == "grouped":
        return _grouped()
    if name == "1d":
        return _seed("1d")
    if name == "3d":
        x, w = rng.standard_normal((1, 2, 4, 3, 5)), rng.standard_normal((2, 2, 2, 1, 3))
        return convmm.explain(x, w, stride=(1, 2, 1), padding=1, padding_mode="replicate")
    if name == "summary":
        # three groups (the first and last shown), 72 rows of P_g (the middle ones elided)
        x, w = rng.standard_normal((1, 24, 32, 32)), rng.standard_normal((6, 8, 3, 3))
        return convmm.explain(x, w, stride=2, padding=1, groups=3)
    if name == "transpose":
        x, w = rng.standard_normal((1, 4, 2, 3)), rng.standard_normal((4, 1, 3, 2))
        return convmm.explain_transpose(x, w, stride=(2, 1), padding=1, groups=2)
    if name == "transpose-output-padding":
        x, w = np.arange(1.0, 5.0).reshape(1, 1, 4), np.ones((1, 1, 3))
        return convmm.explain_transpose(x, w, dilation=2, output_padding=1)
    if name == "transpose-summary":
        x, w = rng.standard_normal((1, 2, 3000)), np.ones((2, 1, 3))
        return convmm.explain_transpose(x, w, stride=2, padding=1)
    assert name == "backward"
    x, w = rng.standard_normal((1, 2, 4, 5)), rng.standard_normal((3, 2, 2, 3))
    options: dict[str, Any] = {"padding": 1, "stride": (1, 2), "padding_mode": "reflect"}
    dy = rng.standard_normal(convmm.conv(x, w, **options).shape)
    return convmm.explain_backward(dy, x, w, **options)


@pytest.mark.parametrize(
    "name",
    [
        "strided-dilated-padded",
        "grouped",
        "1d",
        "3d",
        "summary",
        "transpose",
        "transpose-output-padding",
        "transpose-summary",
        "backward",
    ],
)
def test_page_geometry_is_the_models(name: str) -> None:
    """The positions, patch cells, kernel offsets and row channels the page reads are the
    model's own (its methods), for the columns, rows and groups the page shows; the page
    derives none of them."""
    e = _geometry_case(name)
    data = _embedded(render_page(e))
    cols, groups = data["cols"], data["groups"]
    rows = [r for r in data["rows"] if r >= 0]
    summary = name.endswith("summary")
    assert (data["summary"] is not None) == summary
    if not summary:
        assert cols == list(range(e.num_positions))
        assert groups == list(range(e.groups))
        assert rows == list(range(e.patches.shape[1]))
    assert data["positions"] == [list(e.position(col)) for col in cols]
    assert data["patchCells"] == [[list(c) for c in e.patch_cells(col)] for col in cols]
    assert data["rowOffsets"] == [list(e.kernel_offset(r)) for r in rows]
    assert data["rowChannels"] == [[e.row_channel(g, r) for r in rows] for g in groups]
    kn = e.geometry.window.kernel_numel
    assert all(len(cells) == kn for cells in data["patchCells"])
    # The page's isPadding: a bounds test on the exported padding and input shape, which
    # agrees with the model's is_padding on every cell it is asked about.
    bounds = list(zip(data["padding"], data["inputShape"], strict=True))
    for cells in data["patchCells"]:
        for cell in cells:
            inside = all(b <= i < b + n for i, ((b, _), n) in zip(cell, bounds, strict=True))
            assert inside != e.is_padding(tuple(cell))
    if e.kind != "conv_transpose":
        # Row r of each column of P holds the padded input at the column's patch cell.
        cin = e.geometry.in_channels_per_group
        for col, cells in zip(cols, data["patchCells"], strict=True):
            for g in groups:
                for r in rows:
                    c, cell = e.row_channel(g, r), cells[r % kn]
                    assert e.patches[g, r, col] == e.padded[(c, *cell)]
                    assert c // cin == g
    if name == "summary":
        assert groups == [0, 2] and -1 in data["rows"] and len(cols) < e.num_positions
    if summary:
        assert _longest_list(data) <= CROP_BUDGET


# ---- (b) self-contained -------------------------------------------------------------------------


@cache
def _all_pages() -> dict[str, str]:
    rng = np.random.default_rng(1)
    pages = {f"seed-{e.name}": render_page(_seed(e.name)) for e in SEED_EXAMPLES}
    pages["inline"] = render_page(_seed("small"), inline=True)
    pages["transpose"] = render_page(
        convmm.explain_transpose(rng.standard_normal((2, 3, 3)), np.ones((2, 1, 3, 3)), stride=2)
    )
    pages["several"] = render_pages([_seed("small"), _seed("1d")], ["small", "1d"], title="two")
    return pages


@pytest.mark.parametrize("name", list(_all_pages()))
def test_page_has_no_external_reference(name: str) -> None:
    html = _all_pages()[name]
    assert "http://" not in html and "https://" not in html
    for tag, attrs in _parse(html).tags:
        assert tag not in ("link", "iframe", "object", "embed", "base"), tag
        if tag == "script":
            assert "src" not in attrs, attrs
        for attr in ("src", "href", "srcset", "action", "data"):
            value = (attrs.get(attr) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//", "ftp:")), (tag, attrs)
            if value and attr != "data":
                assert value.startswith(("#", "data:")), (tag, attrs)
    assert not re.search(r"url\(\s*['\"]?(?!data:)", html), "CSS must not load anything"
    assert not re.search(r"@import", html)


def test_inline_fragment_is_a_fragment_with_unique_ids() -> None:
    e = _seed("small")
    one, two = render_page(e, inline=True), render_page(e, inline=True)
    for fragment in (one, two):
        assert "<html" not in fragment and "<head" not in fragment and "<body" not in fragment
    ids_one = {a["id"] for _, a in _parse(one).tags if a.get("id")}
    ids_two = {a["id"] for _, a in _parse(two).tags if a.get("id")}
    assert ids_one and not ids_one & ids_two
    assert e._repr_html_().startswith('<div class="cmx"')


# ---- (c) in the browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright, or None when it is missing (each test then fails)."""
    if not os.path.exists(CHROMIUM):
        yield None
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class Page:
    """A loaded page, with the errors it logged and the requests it made."""

    def __init__(self, browser: Any, html: str, name: str, viewport: dict[str, int]) -> None:
        if browser is None:
            pytest.fail(
                f"{CHROMIUM} is missing: the page's browser tests need Debian's Chromium; "
                "run `apt-get install chromium` (CI installs it)",
                pytrace=False,
            )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.path = ARTIFACTS / f"{name}.html"
        self.path.write_text(html, encoding="utf-8")
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport=viewport)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(self.path.as_uri())
        self.page.wait_for_selector(".cmx[data-drawn='1']", timeout=10_000)
        assert not self.errors, self.errors
        assert all(u == self.path.as_uri() or u.startswith("data:") for u in self.requests), (
            self.requests
        )

    def close(self) -> None:
        assert not self.errors, self.errors
        self.page.close()

    def hover(self, selector: str) -> None:
        self.page.hover(selector)

    def highlighted(self) -> dict[str, Any]:
        return dict(
            self.page.evaluate(
                """() => {
              const q = (s) => Array.from(document.querySelectorAll(s));
              const at = (e) => [+e.dataset.group, +e.dataset.row, +e.dataset.col];
              const sel = document.querySelector("[data-role=selected]");
              return {
                input: q("[data-role=input].hl").map((e) => [+e.dataset.channel, e.dataset.cell]),
                out: q("[data-role=out].hl").map((e) => e.dataset.channel !== undefined
                    ? [+e.dataset.channel, e.dataset.cell] : [+e.dataset.filter, +e.dataset.pos]),
                P: q("[data-role=P].hl").map(at),
                K: q("[data-role=K].hl").map(at),
                dP: q("[data-role=dP].hl").map(at),
                dY: q("[data-role=dY].hl").map(at),
                column: +sel.dataset.column,
                filter: sel.dataset.filter === "" ? null : +sel.dataset.filter,
              };
            }"""
            )
        )

    def cells(self, role: str, *attrs: str) -> dict[tuple[Any, ...], str]:
        rows = self.page.evaluate(
            """([role, attrs]) => Array.from(document.querySelectorAll(`[data-role="${role}"]`))
                .map((e) => [attrs.map((a) => e.getAttribute(a)), e.textContent])""",
            [role, list(attrs)],
        )
        return {tuple(_number(v) for v in key): text for key, text in rows}

    def scroll_width(self) -> int:
        return int(self.page.evaluate("document.documentElement.scrollWidth"))

    def screenshot(self, path: Path, full_page: bool = True) -> None:
        self.page.mouse.move(1, 1)
        self.page.evaluate("window.scrollTo(0, 0)")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=full_page)


def _number(text: str | None) -> Any:
    return int(text) if text is not None and re.fullmatch(r"-?\d+", text) else text


def _expected_read(
    e: convmm.Explanation, f: int, column: int, channels: list[int] | None = None
) -> set[Any]:
    """The input cells output (f, column) reads: its patch_cells, in each channel of its group."""
    g = f // e.geometry.out_channels_per_group
    cin = e.geometry.in_channels_per_group
    return {
        (c, _key(cell))
        for c in range(g * cin, (g + 1) * cin)
        if channels is None or c in channels
        for cell in e.patch_cells(column)
    }


def _check_output_hover(page: Page, e: convmm.Explanation, f: int, column: int) -> None:
    """Hover output (f, column): exactly its patch, its P column and its K row light up."""
    data = page_data(e)
    cout = e.geometry.out_channels_per_group
    g, row = divmod(f, cout)
    rows = [r for r in data["rows"] if r >= 0]
    page.hover(f'[data-role="out"][data-filter="{f}"][data-pos="{column}"]')
    state = page.highlighted()
    assert state["column"] == column and state["filter"] == f
    assert {tuple(x) for x in state["input"]} == _expected_read(e, f, column, data["frameChannels"])
    assert {tuple(x) for x in state["P"]} == {(g, r, column) for r in rows}
    assert {tuple(x) for x in state["K"]} == {(g, row, r) for r in rows}


@pytest.mark.parametrize("example", SEED_EXAMPLES, ids=lambda e: e.name)
def test_seed_page_in_the_browser(browser: Any, example: Any) -> None:
    e = convmm.explain(example.input, example.weight, **example.options)
    page = Page(browser, render_page(e), f"seed-{example.name}", LAPTOP)
    # Every number of P, K, KP and the output is drawn, where the model has it.
    p_cells = page.cells("P", "data-group", "data-row", "data-col")
    assert p_cells == {(g, r, c): _fmt(v) for (g, r, c), v in np.ndenumerate(e.patches)}
    k_cells = page.cells("K", "data-group", "data-row", "data-col")
    assert k_cells == {(g, f, r): _fmt(v) for (g, f, r), v in np.ndenumerate(e.kernels)}
    kp_cells = page.cells("KP", "data-group", "data-row", "data-col")
    assert kp_cells == {(g, f, c): _fmt(v) for (g, f, c), v in np.ndenumerate(e.products)}
    out = e.output.reshape(e.output.shape[0], -1)
    out_cells = page.cells("out", "data-filter", "data-pos")
    assert out_cells == {(f, c): _fmt(v) for (f, c), v in np.ndenumerate(out)}
    # The selected patch, for scripts and tests: a stable id and data attributes.
    assert page.page.get_attribute("#cmx-selected", "data-column") == "0"

    last = e.num_positions - 1
    f = e.geometry.out_channels - 1
    _check_output_hover(page, e, f, last)
    _check_output_hover(page, e, 0, 1)
    # The dot product under the matrices sums to the output value.
    terms = page.page.inner_text("[data-role=terms-KP]")
    assert terms.rstrip().endswith(f"= {_fmt(out[0, 1])}")
    assert terms.count("×") == e.kernels.shape[2]

    # The arrow keys step through the patches; the highlights follow.
    page.page.keyboard.press("ArrowRight")
    state = page.highlighted()
    assert state["column"] == 2
    assert {tuple(x) for x in state["P"]} == {(0, r, 2) for r in range(e.patches.shape[1])}
    assert {tuple(x) for x in state["input"]} == _expected_read(e, 0, 2)
    page.page.keyboard.press("ArrowLeft")
    page.page.keyboard.press("ArrowLeft")
    state = page.highlighted()
    assert state["column"] == 0
    assert {tuple(x) for x in state["input"]} == _expected_read(e, 0, 0)
    page.page.keyboard.press("ArrowLeft")  # stays at the first patch
    assert page.highlighted()["column"] == 0
    page.page.click("[data-action=next]")
    assert page.highlighted()["column"] == 1
    page.page.click("[data-action=prev]")
    assert page.highlighted()["column"] == 0

    # Hovering a P column selects that patch.
    page.hover(f'[data-role="P-col"][data-group="0"][data-col="{last}"]')
    assert {tuple(x) for x in page.highlighted()["input"]} == _expected_read(e, 0, last)

    # The channels-last view: the same numbers, one row per position.
    page.page.click("[data-action=channels-last]")
    cl_cells = page.cells("out-cl", "data-filter", "data-pos")
    assert cl_cells == out_cells
    page.screenshot(ARTIFACTS / f"seed-{example.name}-1280.png")
    if example.name == "bigger":
        page.page.click("[data-action=channels-last]")
        page.page.click('[data-role="out"][data-filter="1"][data-pos="4"]')
        page.screenshot(DOCS_SCREENSHOT)
    page.close()


@pytest.mark.parametrize("name", ["small", "bigger", "1d", "transpose", "backward", "big"])
def test_phone_width_has_no_page_level_overflow(browser: Any, name: str) -> None:
    rng = np.random.default_rng(2)
    if name == "transpose":
        e = convmm.explain_transpose(rng.standard_normal((1, 4, 3, 3)), np.ones((4, 2, 3, 3)))
    elif name == "backward":
        x = np.arange(1.0, 49.0).reshape(1, 3, 4, 4)
        e = convmm.explain_backward(np.ones((1, 5, 4, 4)), x, np.ones((5, 3, 3, 3)), padding=1)
    elif name == "big":
        e = convmm.explain(rng.standard_normal((1, 8, 32, 32)), rng.standard_normal((16, 8, 3, 3)))
    else:
        e = _seed(name)
    page = Page(browser, render_page(e), f"phone-{name}", PHONE)
    assert page.scroll_width() <= PHONE["width"]
    # Hovering still works at that width (the matrices scroll in their own boxes).
    state = page.highlighted()
    assert state["P"] or state["input"]
    page.screenshot(ARTIFACTS / f"{name}-375.png")
    page.close()


# ---- the product grid, following the highlight, Play ----------------------------------------


def _grouped() -> convmm.Explanation:
    """Two groups: input (1, 4, 5, 5), weight (4, 2, 3, 3), small integers."""
    rng = np.random.default_rng(11)
    x = rng.integers(0, 5, (1, 4, 5, 5)).astype(float)
    w = rng.integers(-1, 2, (4, 2, 3, 3)).astype(float)
    return convmm.explain(x, w, groups=2)


def _rects(page: Page, selector: str) -> list[dict[str, float]]:
    return list(
        page.page.evaluate(
            """(s) => Array.from(document.querySelectorAll(s)).map((e) => {
              const r = e.getBoundingClientRect();
              return {left: r.left, right: r.right, top: r.top, bottom: r.bottom};
            })""",
            selector,
        )
    )


@pytest.mark.parametrize("name", ["bigger", "grouped"])
def test_wide_page_lays_out_the_product(browser: Any, name: str) -> None:
    """At 1400 × 900, X and P above K, KP and the output: a hovered output cell, its patch's
    input cells, its column of P and its row of K are all on screen at once, without scrolling;
    and row f of K and column l of P meet at KP[f, l]."""
    e = _seed(name) if name == "bigger" else _grouped()
    assert e.geometry.in_channels == (3 if name == "bigger" else 4)
    page = Page(browser, render_page(e), f"grid-{name}", WIDE)
    assert page.page.evaluate("document.querySelector('.cmx-product.cmx-wide') !== null")
    assert page.page.evaluate("window.scrollY") == 0  # nothing scrolls on load
    # Scroll the matrices to just under the sticky toolbar (a reader's scroll).
    bar = page.page.evaluate(
        """() => {
          const bar = document.querySelector('.cmx-bar').getBoundingClientRect().height;
          const top = Math.min(...['input', 'P'].map((s) => document
              .querySelector(`[data-section=${s}] .cmx-fig`).getBoundingClientRect().top));
          window.scrollBy(0, top - bar - 16);
          return document.querySelector('.cmx-bar').getBoundingClientRect().bottom;
        }"""
    )
    width, height = WIDE["width"], WIDE["height"]
    cout = e.geometry.out_channels_per_group
    last = e.num_positions - 1
    middle = e.num_positions // 2
    outs = e.geometry.out_channels
    for f, column in ((0, middle), (outs // 2, middle), (outs - 1, last)):
        before = page.page.evaluate("window.scrollY")
        _check_output_hover(page, e, f, column)
        assert page.page.evaluate("window.scrollY") == before  # the hover did not scroll
        g, row = divmod(f, cout)
        rects = {
            "out": _rects(page, f'[data-role="out"][data-filter="{f}"][data-pos="{column}"]'),
            "P": _rects(page, f'[data-role="P"][data-group="{g}"][data-col="{column}"]'),
            "K": _rects(page, f'[data-role="K"][data-group="{g}"][data-row="{row}"]'),
            "input": _rects(page, "[data-role=input].hl"),
        }
        assert all(rects.values()), rects
        for what, boxes in rects.items():
            for r in boxes:
                assert r["left"] >= 0 and r["right"] <= width, (what, f, column, r)
                assert bar <= r["top"] and r["bottom"] <= height, (what, f, column, r)
        # Where they meet: KP[f, l] under column l of P, beside row f of K.
        (kp,) = _rects(
            page, f'[data-role="KP"][data-group="{g}"][data-row="{row}"][data-col="{column}"]'
        )
        for r in rects["P"]:
            assert abs(r["left"] - kp["left"]) <= 1 and abs(r["right"] - kp["right"]) <= 1
            assert r["bottom"] <= kp["top"]
        for r in rects["K"]:
            assert abs(r["top"] - kp["top"]) <= 1 and abs(r["bottom"] - kp["bottom"]) <= 1
            assert r["right"] <= kp["left"]
    if name == "bigger":
        page.hover(f'[data-role="out"][data-filter="1"][data-pos="{middle}"]')
        page.page.screenshot(path=str(GRID_SCREENSHOT))
    page.close()


def test_narrow_page_follows_the_highlight(browser: Any) -> None:
    """On a phone the sections stack; a step scrolls the highlighted cells into view (their own
    boxes, and the page when none is on screen), a load or a hover never does."""
    e = convmm.explain(np.arange(1.0, 37.0).reshape(1, 1, 3, 12), np.ones((1, 1, 2, 2)))
    page = Page(browser, render_page(e), "follow-375", PHONE)
    assert not page.page.evaluate("document.querySelector('.cmx-product.cmx-wide')")
    assert page.page.evaluate("window.scrollY") == 0
    head = '[data-role="P-col"][data-group="0"][data-col="{}"]'
    page.page.evaluate(
        "(s) => document.querySelector(s).scrollIntoView({block: 'center'})", head.format(0)
    )
    y = page.page.evaluate("window.scrollY")
    last = e.num_positions - 1
    for _ in range(last):
        page.page.keyboard.press("ArrowRight")
    assert page.highlighted()["column"] == last
    (r,) = _rects(page, head.format(last))
    assert r["left"] >= 0 and r["right"] <= PHONE["width"], r  # scrolled into P's own box
    assert page.page.evaluate("window.scrollY") == y  # P was on screen: the page stayed
    # Nothing highlighted on screen: a step brings the nearest highlighted cell into view.
    page.page.evaluate("window.scrollTo(0, 0)")
    page.page.keyboard.press("ArrowLeft")
    assert page.page.evaluate("window.scrollY") > 0
    lit = _rects(page, "[data-role].hl")
    assert any(r["top"] >= 0 and r["bottom"] <= PHONE["height"] + 1 for r in lit), lit
    page.close()


_RECORD = """() => {
  window.convmmPlayInterval = %d;
  const root = document.querySelector('.cmx');
  const sel = root.querySelector('[data-role=selected]');
  window.seen = [+sel.dataset.column];
  window.playing = [];
  new MutationObserver(() => {
    const c = +sel.dataset.column;
    if (c !== window.seen[window.seen.length - 1]) window.seen.push(c);
  }).observe(sel, {attributes: true, attributeFilter: ['data-column']});
  new MutationObserver(() => window.playing.push(root.getAttribute('data-playing')))
    .observe(root, {attributes: true, attributeFilter: ['data-playing']});
}"""


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=lambda v: str(v["width"]))
def test_play_steps_through_every_patch(browser: Any, viewport: dict[str, int]) -> None:
    e = _seed("bigger")
    page = Page(browser, render_page(e), f"play-{viewport['width']}", viewport)
    page.page.evaluate(_RECORD % 30)
    page.page.click("[data-action=play]")
    page.page.wait_for_function(
        "() => !document.querySelector('.cmx').hasAttribute('data-playing')", timeout=10_000
    )
    assert page.page.evaluate("window.seen") == list(range(e.num_positions))
    assert page.page.evaluate("window.playing") == ["1", None]
    assert page.page.inner_text("[data-action=play]") == "▶ Play"
    assert page.highlighted()["column"] == e.num_positions - 1
    # Again from the end: it starts over from the first patch.
    page.page.evaluate("window.seen = []")
    page.page.click("[data-action=play]")
    page.page.wait_for_function(
        "() => !document.querySelector('.cmx').hasAttribute('data-playing')", timeout=10_000
    )
    assert page.page.evaluate("window.seen") == list(range(e.num_positions))
    page.close()


def test_play_stops_on_a_key_a_hover_or_a_second_click(browser: Any) -> None:
    e = _seed("bigger")
    page = Page(browser, render_page(e), "play-stop", LAPTOP)
    page.page.evaluate(_RECORD % 60_000)  # no step of its own during the test
    playing = "() => document.querySelector('.cmx').getAttribute('data-playing')"
    page.page.click("[data-action=play]")
    assert page.page.evaluate(playing) == "1"
    assert page.page.inner_text("[data-action=play]") == "❚❚ Pause"
    page.page.keyboard.press("Shift")
    assert page.page.evaluate(playing) is None
    assert page.page.inner_text("[data-action=play]") == "▶ Play"
    page.page.click("[data-action=play]")
    assert page.page.evaluate(playing) == "1"
    page.page.click("[data-action=play]")  # Pause
    assert page.page.evaluate(playing) is None
    page.page.click("[data-action=play]")
    page.hover('[data-role="out"][data-filter="1"][data-pos="5"]')
    assert page.page.evaluate(playing) is None
    assert page.highlighted()["column"] == 5  # the hovered cell, as without Play
    assert page.page.evaluate("window.seen") == [0, 5]
    page.close()


def test_page_shows_the_plan(browser: Any) -> None:
    e = _seed("small")
    page = Page(browser, render_page(e), "plan", LAPTOP)
    plan = page.page.inner_text(".cmx-plan")
    assert "algorithm=" in plan and plan == page_data(e)["plan"]
    page.close()


def test_big_convolution_is_summarised(browser: Any) -> None:
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 16, 64, 64)), rng.standard_normal((32, 16, 3, 3))
    e = convmm.explain(x, w, padding=1)
    assert e.elided
    html = render_page(e)
    assert len(html.encode()) < MAX_PAGE_BYTES
    data = _embedded(html)
    last = e.num_positions - 1
    assert data["summary"] and data["cols"] == [0, 1, 2, 3, last]
    page = Page(browser, html, "big", LAPTOP)
    assert page.page.evaluate("document.querySelectorAll('td').length") < 5000
    assert "summary" in page.page.inner_text("[data-role=summary]")
    _check_output_hover(page, e, 0, 0)
    _check_output_hover(page, e, 31, last)
    page.page.mouse.move(1, 1)  # back to the pinned patch, the first
    assert page.highlighted()["column"] == 0
    for expected in (1, 2, 3, last, last):
        page.page.keyboard.press("ArrowRight")
        assert page.highlighted()["column"] == expected
    state = page.highlighted()
    assert {tuple(v) for v in state["input"]} == _expected_read(e, 0, last, data["frameChannels"])
    page.screenshot(ARTIFACTS / "big-1280.png", full_page=False)
    page.close()


def _longest_list(data: Any) -> int:
    """The most items of any list or dict in ``data``, at any depth."""
    if isinstance(data, dict):
        return max([len(data), *(_longest_list(v) for v in data.values())])
    if isinstance(data, list):
        return max([len(data), *(_longest_list(v) for v in data)])
    return 0


def _long_input(name: str) -> convmm.Explanation:
    rng = np.random.default_rng(7)
    if name == "conv-1d":
        x = rng.standard_normal((1, 1, 200_000))
        return convmm.explain(x, np.ones((1, 1, 3)), padding=1, padding_mode="reflect")
    if name == "conv-2d":
        x, w = rng.standard_normal((1, 3, 400, 400)), rng.standard_normal((4, 3, 3, 3))
        return convmm.explain(x, w, np.ones(4), padding=1, padding_mode="circular")
    if name == "transpose-1d":
        x = rng.standard_normal((1, 2, 100_000))
        return convmm.explain_transpose(x, np.ones((2, 1, 3)), np.ones(1), stride=2, padding=1)
    x = rng.standard_normal((1, 1, 200_000))
    dy = np.ones((1, 1, 200_000))
    return convmm.explain_backward(dy, x, np.ones((1, 1, 3)), padding=1, padding_mode="reflect")


@pytest.mark.parametrize("name", ["conv-1d", "conv-2d", "transpose-1d", "backward-1d"])
def test_long_input_makes_a_small_page(browser: Any, name: str) -> None:
    """A summary embeds only what it draws: nothing in the data grows with the input."""
    e = _long_input(name)
    html = render_page(e)
    assert len(html.encode()) < MAX_PAGE_BYTES
    data = _embedded(html)
    assert data["summary"]
    # No list per cell or per position: the padding's sources, the bias, the crops are bounded.
    assert _longest_list(data) <= CROP_BUDGET
    assert all(len(s) <= 16 for s in data["sources"])
    page = Page(browser, html, f"long-{name}", LAPTOP)
    # The padding cells drawn (in every crop) still name the input cell they copy.
    padding = page.page.evaluate(
        """() => Array.from(document.querySelectorAll('[data-role=input][data-padding]'))
            .map((td) => [td.dataset.channel, td.dataset.cell, td.title])"""
    )
    assert bool(padding) == (e.kind != "conv_transpose")
    for channel, key, title in padding:
        source = e.source_cell(tuple(int(i) for i in key.split(",")))
        assert title.endswith(
            "0" if source is None else f"copy of X[{channel}, {', '.join(map(str, source))}]"
        )
    if e.kind == "conv_backward":
        # dX: the entries of dP of the sampled patches folded into a cell, padding included.
        page.hover('[data-role="dX"][data-channel="0"][data-cell="1"]')
        expected = {
            (0, k, column)
            for column in data["cols"]
            for k, read in enumerate(e.patch_cells(column))
            if e.source_cell(read) == (1,)
        }
        assert {tuple(v) for v in page.highlighted()["dP"]} == expected
    page.close()


def _layout(page: Page) -> list[dict[str, Any]]:
    """Per stack of crops: its height, and the height of each crop's content."""
    return list(
        page.page.evaluate(
            """() => Array.from(document.querySelectorAll('.cmx-stack')).map((s) => ({
              stack: s.getBoundingClientRect().height,
              layers: Array.from(s.children).map((l) => l.lastElementChild
                  .getBoundingClientRect().bottom - l.getBoundingClientRect().top),
              widths: Array.from(s.querySelectorAll('table')).map((t) => t.offsetWidth),
            }))"""
        )
    )


@pytest.mark.parametrize("viewport", [PHONE, PHONE_390, LAPTOP], ids=lambda v: str(v["width"]))
def test_summary_crops_leave_no_empty_space(browser: Any, viewport: dict[str, int]) -> None:
    """The crops are stacked in one place: each is as tall as the stack (none leaves a gap)."""
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((1, 8, 64, 64)), rng.standard_normal((16, 8, 3, 3))
    e = convmm.explain(x, w, padding=1)
    data = page_data(e)
    crops = data["frame"]["crops"].values()
    assert len({tuple(c["shape"]) for c in crops}) == 1  # one shape, edge or not
    page = Page(browser, render_page(e), f"summary-{viewport['width']}", viewport)
    (stack,) = _layout(page)
    assert len(set(stack["widths"])) == 1, stack["widths"]
    for height in stack["layers"]:
        assert stack["stack"] - height <= 4, stack
    page.screenshot(ARTIFACTS / f"summary-{viewport['width']}.png")
    page.close()


@pytest.mark.parametrize("name", ["bigger", "transpose"])
def test_formula_fits_at_phone_width(browser: Any, name: str) -> None:
    """The output-size formula wraps inside its card; the result "= n" stays in view."""
    if name == "transpose":
        x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
        e = convmm.explain_transpose(x, np.ones((1, 1, 3, 3)), stride=2, padding=1)
    else:
        e = _seed(name)
    formula = page_data(e)["formula"]
    for viewport in (PHONE, PHONE_390):
        page = Page(browser, render_page(e), f"formula-{name}-{viewport['width']}", viewport)
        boxes = page.page.evaluate(
            """() => Array.from(document.querySelectorAll('[data-role=formula]')).map((f) => {
              const card = f.closest('section').getBoundingClientRect();
              const last = Array.from(f.querySelectorAll('.cmx-ft')).pop();
              const end = last.getBoundingClientRect();
              return {
                lines: Array.from(f.children).map((l) => l.textContent),
                scroll: f.scrollWidth, client: f.clientWidth,
                last: last.textContent, right: end.right, cardRight: card.right,
              };
            })"""
        )
        assert [b["lines"] for b in boxes] == formula  # the same text, however it wraps
        for box, (_, numbers) in zip(boxes, formula, strict=True):
            assert box["scroll"] <= box["client"], box
            assert numbers.endswith(box["last"]) and box["last"].startswith("= "), box
            assert box["right"] <= min(box["cardRight"], viewport["width"]), box
        assert page.scroll_width() <= viewport["width"]
        page.screenshot(ARTIFACTS / f"formula-{name}-{viewport['width']}.png")
        page.close()


def test_cropped_cells_show_what_was_computed(browser: Any) -> None:
    """A transposed convolution's cropped cells: hatched, with their (dropped) sums in grey."""
    rng = np.random.default_rng(9)
    x = rng.integers(-3, 4, (1, 1, 3, 3)).astype(float)
    w = rng.integers(-2, 3, (1, 1, 3, 3)).astype(float)
    e = convmm.explain_transpose(x, w, np.array([0.5]), stride=2, padding=1)
    window = e.geometry.window
    # The uncropped output, added up here from the columns: what each cell is given.
    uncropped = np.zeros(window.padded_shape)
    for column in range(e.num_positions):
        for k, cell in enumerate(e.patch_cells(column)):
            uncropped[cell] += e.patches[0, k, column]
    page = Page(browser, render_page(e), "cropped", LAPTOP)
    cells = page.page.evaluate(
        """() => Array.from(document.querySelectorAll('[data-role=out][data-cell]')).map((td) => {
          const style = getComputedStyle(td);
          return {cell: td.dataset.cell, cropped: td.dataset.cropped === '1', text: td.textContent,
                  background: style.backgroundImage, color: style.color,
                  lit: td.classList.contains('hl') || td.classList.contains('hl-soft')};
        })"""
    )
    assert len(cells) == math.prod(window.padded_shape)
    colours: dict[bool, set[str]] = {True: set(), False: set()}
    for c in cells:
        cell = tuple(int(i) for i in c["cell"].split(","))
        assert c["cropped"] == e.is_padding(cell)
        if c["cropped"]:
            assert c["text"] == _fmt(uncropped[cell])
        else:
            inside = tuple(i - b for i, (b, _) in zip(cell, window.padding, strict=True))
            assert c["text"] == _fmt(e.output[(0, *inside)])
        if not c["lit"]:  # the selected column's cells are highlighted instead
            assert ("repeating-linear-gradient" in c["background"]) == c["cropped"]
            colours[c["cropped"]].add(c["color"])
    assert len(colours[True]) == 1 and not colours[True] & colours[False]  # muted, unlike the rest
    # Hovering one: the terms that land there add up to it, and it is dropped.
    corner = (0,) * window.ndim
    page.hover(f'[data-role="out"][data-channel="0"][data-cell="{_key(corner)}"]')
    terms = page.page.inner_text("[data-role=terms-out]")
    assert f"= {_fmt(uncropped[corner])}" in terms and "dropped" in terms
    page.screenshot(ARTIFACTS / "cropped-1280.png")
    page.close()


def test_padding_cells_are_hatched(browser: Any) -> None:
    e = convmm.explain(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), padding=1)
    page = Page(browser, render_page(e), "padding", LAPTOP)
    backgrounds = page.page.evaluate(
        """() => Array.from(document.querySelectorAll('[data-role=input]:not(.hl)')).map((td) =>
            [td.hasAttribute('data-padding'), getComputedStyle(td).backgroundImage])"""
    )
    assert {pad for pad, _ in backgrounds} == {True, False}
    for pad, background in backgrounds:
        assert ("repeating-linear-gradient" in background) == pad
    page.close()


def test_transpose_page(browser: Any) -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(-3, 4, (1, 4, 2, 3)).astype(float)
    w = rng.integers(-2, 3, (4, 1, 3, 2)).astype(float)
    e = convmm.explain_transpose(x, w, np.array([0.5, -1.0]), stride=(2, 1), padding=1, groups=2)
    page = Page(browser, render_page(e), "transpose", LAPTOP)
    cin, kn = e.geometry.in_channels_per_group, e.geometry.window.kernel_numel
    for g in range(2):
        for column in (0, e.num_positions - 1):
            page.hover(f'[data-role="P-col"][data-group="{g}"][data-col="{column}"]')
            state = page.highlighted()
            assert state["column"] == column
            expected = {
                (c, _key(cell))
                for c in range(g * cin, (g + 1) * cin)
                for cell in e.patch_cells(column)
                if not e.is_padding(cell)
            }
            assert {tuple(v) for v in state["out"]} == expected
            assert {tuple(v) for v in state["P"]} == {(g, r, column) for r in range(cin * kn)}
    # An output cell: all the columns that add into it.
    window = e.geometry.window
    corner = tuple(n - 1 for n in window.input_shape)
    for c, cell in ((0, (0, 0)), (1, corner), (0, (1, 1))):
        padded = tuple(i + b for i, (b, _) in zip(cell, window.padding, strict=True))
        page.hover(f'[data-role="out"][data-channel="{c}"][data-cell="{_key(padded)}"]')
        g, local = divmod(c, cin)
        expected_p = {
            (g, local * kn + k, column)
            for column in range(e.num_positions)
            for k, read in enumerate(e.patch_cells(column))
            if read == padded
        }
        assert {tuple(v) for v in page.highlighted()["P"]} == expected_p
        terms = page.page.inner_text("[data-role=terms-out]")
        assert terms.rstrip().endswith(f"= {_fmt(e.output[(c, *cell)])}")
    page.page.mouse.move(1, 1)  # back to the pinned column, the first
    page.page.keyboard.press("ArrowRight")
    assert page.highlighted()["column"] == 1
    page.screenshot(ARTIFACTS / "transpose-1280.png")
    page.close()


def test_backward_page(browser: Any) -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(-3, 4, (1, 2, 4, 5)).astype(float)
    w = rng.integers(-2, 3, (3, 2, 2, 3)).astype(float)
    options: dict[str, Any] = {"padding": 1, "stride": (1, 2), "padding_mode": "reflect"}
    dy = rng.integers(-2, 3, convmm.conv(x, w, **options).shape).astype(float)
    e = convmm.explain_backward(dy, x, w, **options)
    assert e.grad_patches is not None and e.grad_input is not None
    page = Page(browser, render_page(e), "backward", LAPTOP)
    _check_output_hover(page, e, 2, e.num_positions - 1)
    # dX: the entries of dP folded into a cell, the padding folded back onto what it copied.
    kn = e.geometry.window.kernel_numel
    for c, cell in ((0, (0, 0)), (1, (3, 4)), (1, (1, 2))):
        page.hover(f'[data-role="dX"][data-channel="{c}"][data-cell="{_key(cell)}"]')
        expected = {
            (0, c * kn + k, column)
            for column in range(e.num_positions)
            for k, read in enumerate(e.patch_cells(column))
            if e.source_cell(read) == cell
        }
        assert {tuple(v) for v in page.highlighted()["dP"]} == expected
        total = sum(e.grad_patches[g, r, column] for g, r, column in expected)
        assert np.isclose(total, e.grad_input[(c, *cell)])
        terms = page.page.inner_text("[data-role=terms-dX]")
        assert terms.rstrip().endswith(f"= {_fmt(e.grad_input[(c, *cell)])}")
    page.screenshot(ARTIFACTS / "backward-1280.png")
    page.close()


def test_numbers_are_formatted_like_python(browser: Any) -> None:
    rng = np.random.default_rng(6)
    scale = 10.0 ** rng.integers(-7, 7, (1, 2, 12))
    x = rng.standard_normal((1, 2, 12)) * scale
    # Exact ties at the fifth digit round half to even, as in Python; and 9.9995 rounds up.
    x[0, 0, :8] = [1.0625, 1.1875, 1234.5, -2.5, 9.9995, 99995.0, 1e-5, 0.000123456]
    e = convmm.explain(x, np.ones((1, 2, 3)))
    page = Page(browser, render_page(e), "formats", LAPTOP)
    cells = page.cells("P", "data-group", "data-row", "data-col")
    assert cells == {(g, r, c): _fmt(v) for (g, r, c), v in np.ndenumerate(e.patches)}
    assert any("e-" in t for t in cells.values()) and any("e+" in t for t in cells.values())
    page.close()


def test_several_fragments_share_a_page(browser: Any) -> None:
    e1, e2 = _seed("small"), _seed("1d")
    html = render_pages([e1, e2], ["small", "1d"], title="two examples")
    page = Page(browser, html, "several", LAPTOP)
    assert page.page.evaluate("document.querySelectorAll('.cmx[data-drawn=\"1\"]').length") == 2
    ids = page.page.evaluate("Array.from(document.querySelectorAll('[id]')).map(e => e.id)")
    assert len(ids) == len(set(ids))
    second = "#cmx-1"
    page.hover(f'{second} [data-role="out"][data-filter="0"][data-pos="2"]')
    page.page.keyboard.press("ArrowRight")
    columns = page.page.evaluate(
        "Array.from(document.querySelectorAll('[data-role=selected]')).map(e => +e.dataset.column)"
    )
    assert columns == [0, 3]
    page.close()
    # Inline fragments (Jupyter): the arrow keys act on the one that has the focus.
    fragments = render_page(e1, inline=True) + render_page(e2, inline=True)
    doc = f"<!DOCTYPE html><html><body>{fragments}</body></html>"
    page = Page(browser, doc, "inline", LAPTOP)
    page.page.click('.cmx:nth-of-type(2) [data-role="out"][data-filter="1"][data-pos="1"]')
    page.page.keyboard.press("ArrowRight")
    columns = page.page.evaluate(
        "Array.from(document.querySelectorAll('[data-role=selected]')).map(e => +e.dataset.column)"
    )
    assert columns == [0, 2]
    page.close()


# ---- random geometries --------------------------------------------------------------------------


@st.composite
def _explanations(draw: st.DrawFn) -> convmm.Explanation:
    ndim = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    small = 3 if ndim == 3 else 5
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    kind = draw(st.sampled_from(["conv", "conv_backward", "conv_transpose"]))
    max_entries = draw(st.sampled_from([4096, 24]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "conv_transpose":
        spatial = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
        padding = tuple((draw(st.integers(0, 1)), draw(st.integers(0, 1))) for _ in range(ndim))
        x = rng.integers(-3, 4, (cin, *spatial)).astype(float)
        w = rng.integers(-3, 4, (cin, cout // groups, *kernel)).astype(float)
        # output padding up to max(stride, dilation) - 1: at or past the stride, the output
        # has cells that no column reaches
        extra = tuple(
            draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
        )
        try:
            return convmm.explain_transpose(
                x,
                w,
                stride=stride,
                padding=padding,
                output_padding=extra,
                dilation=dilation,
                groups=groups,
                max_entries=max_entries,
            )
        except ValueError:
            assume(False)
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(ndim))
    sizes = []
    for d, k, (before, after) in zip(dilation, kernel, padding, strict=True):
        # The padded input holds the kernel's span; reflect needs padding < size.
        least = max(1, d * (k - 1) + 1 - before - after, before + 1, after + 1)
        sizes.append(draw(st.integers(least, least + small)))
    spatial = tuple(sizes)
    x = rng.integers(-3, 4, (cin, *spatial)).astype(float)
    w = rng.integers(-3, 4, (cout, cin // groups, *kernel)).astype(float)
    bias = rng.integers(-3, 4, cout).astype(float) if draw(st.booleans()) else None
    options: dict[str, Any] = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "padding_mode": mode,
        "max_entries": max_entries,
    }
    if kind == "conv":
        return convmm.explain(x, w, bias, **options)
    forward = convmm.explain(x, w, **options)
    dy = rng.integers(-3, 4, forward.output.shape).astype(float)
    return convmm.explain_backward(dy, x, w, **options)


@FEW
@given(e=_explanations(), pick=st.data())
def test_random_geometries_highlight_exactly_their_patch(
    browser: Any, e: convmm.Explanation, pick: st.DataObject
) -> None:
    html = render_page(e)
    assert "http://" not in html and "https://" not in html
    data = _embedded(html)
    page = Page(browser, html, "random", LAPTOP)
    try:
        if e.kind == "conv_transpose":
            g = pick.draw(st.sampled_from(data["groups"]))
            column = pick.draw(st.sampled_from(data["cols"]))
            page.hover(f'[data-role="P-col"][data-group="{g}"][data-col="{column}"]')
            cin = e.geometry.in_channels_per_group
            expected = {
                (c, _key(cell))
                for c in range(g * cin, (g + 1) * cin)
                if c in data["frameChannels"]
                for cell in e.patch_cells(column)
                if not e.is_padding(cell)
            }
            assert {tuple(v) for v in page.highlighted()["out"]} == expected
        else:
            f = pick.draw(st.sampled_from(data["outFilters"]))
            column = pick.draw(st.sampled_from(data["cols"]))
            _check_output_hover(page, e, f, column)
        assert page.scroll_width() <= LAPTOP["width"]
    finally:
        page.close()


def test_output_padding_past_the_stride_renders() -> None:
    """dilation 2 > stride 1 allows output_padding 1: a last cell that no column reaches."""
    e = convmm.explain_transpose(
        np.arange(1.0, 5.0).reshape(1, 1, 4), np.ones((1, 1, 3)), dilation=2, output_padding=1
    )
    data = page_data(e)
    assert e.output.shape == (1, 9) and e.output[0, -1] == 0
    assert data["outShape"] == [4] and ["output (uncropped)", "1 × 9", ""] in data["shapes"]
    assert "transposed convolution of a 1 × 4 input to 1 × 9" in render_page(e)
