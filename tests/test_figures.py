"""The figures of ``convmm explain``: drawn with matplotlib's Agg backend and checked as images.

Every PNG is decoded again and checked for being a real picture (its size, its number of
colours) in which the patch colours appear; the SVG is parsed as XML and must hold the seed's
numbers as text.  The PNGs are left in test-artifacts/ (gitignored) to look at.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import convmm  # noqa: E402
from convmm._explain.figures import (  # noqa: E402
    DEFAULT_DPI,
    DEFAULT_MAX_PATCHES,
    draw_figure,
    patch_color,
    save_figure,
    tint,
)
from convmm.examples import SEED_EXAMPLES  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
DOCS_FIGURE = ROOT / "docs" / "explain-figure.png"
SEED = {example.name: example for example in SEED_EXAMPLES}
DPI = 80  # test PNGs: small enough to be quick, large enough for solid colour areas


def _seed(name: str) -> convmm.Explanation:
    example = SEED[name]
    return convmm.explain(example.input, example.weight, **example.options)


def _grouped() -> convmm.Explanation:
    x = np.arange(1.0, 1.0 + 4 * 5 * 5).reshape(1, 4, 5, 5)
    w = np.arange(1.0, 1.0 + 4 * 2 * 2 * 2).reshape(4, 2, 2, 2)
    return convmm.explain(
        x, w, groups=2, padding=1, stride=2, dilation=(1, 2), padding_mode="reflect"
    )


def _three_d() -> convmm.Explanation:
    x = np.arange(1.0, 1.0 + 2 * 3 * 4 * 4).reshape(1, 2, 3, 4, 4)
    w = np.arange(1.0, 1.0 + 2 * 2 * 2 * 2 * 2).reshape(2, 2, 2, 2, 2) / 8
    return convmm.explain(x, w, padding=(0, 1, 1))


def _elided() -> convmm.Explanation:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 32, 32))
    w = rng.standard_normal((8, 3, 3, 3))
    explanation = convmm.explain(x, w, padding=1)
    assert explanation.elided
    return explanation


def _transpose() -> convmm.Explanation:
    x = np.arange(8.0).reshape(1, 2, 2, 2)
    w = np.arange(1.0, 19.0).reshape(2, 1, 3, 3)
    return convmm.explain_transpose(x, w, stride=2, padding=1)


def _backward() -> convmm.Explanation:
    example = SEED["bigger"]
    grad = np.arange(18.0).reshape(1, 2, 3, 3) / 10
    return convmm.explain_backward(grad, example.input, example.weight)


CASES: dict[str, Callable[[], convmm.Explanation]] = {
    "seed-small": lambda: _seed("small"),
    "seed-bigger": lambda: _seed("bigger"),
    "seed-1d": lambda: _seed("1d"),
    "grouped-padded-strided-dilated": _grouped,
    "3d": _three_d,
    "elided": _elided,
    "conv-transpose": _transpose,
    "conv-backward": _backward,
}


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def _pixels(path: Path) -> np.ndarray:
    """The distinct colours of a PNG, as (n, 3) integers 0..255."""
    image = np.asarray(mpimg.imread(path))
    rgb = np.round(image[..., :3].reshape(-1, 3) * 255).astype(np.int64)
    packed = np.unique((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2])
    return np.stack([packed >> 16, (packed >> 8) & 255, packed & 255], axis=1)


def _has_color(pixels: np.ndarray, rgb: tuple[float, float, float], tolerance: int = 2) -> bool:
    target = np.round(np.array(rgb) * 255).astype(np.int64)
    return bool(np.any(np.all(np.abs(pixels - target) <= tolerance, axis=1)))


def _texts(figure: Figure) -> list[str]:
    return [text.get_text() for ax in figure.axes for text in ax.texts]


@pytest.fixture(autouse=True)
def _no_pyplot_figures() -> None:
    plt.close("all")


@pytest.mark.parametrize("name", list(CASES))
def test_png_is_a_real_picture_with_the_patch_colours(name: str) -> None:
    explanation = CASES[name]()
    path = _artifact(f"figure-{name}.png")
    save_figure(explanation, path, dpi=DPI)

    assert path.stat().st_size > 20_000
    image = np.asarray(mpimg.imread(path))
    height, width = image.shape[:2]
    assert height >= 500 and width >= 500
    assert image.shape[2] in (3, 4)
    pixels = _pixels(path)
    assert len(pixels) > 500
    colored = min(explanation.num_positions, DEFAULT_MAX_PATCHES)
    for patch in range(colored):
        # The strong tint fills the cells patch l reads in its own small copy of the input.
        assert _has_color(pixels, tint(patch_color(patch), 0.75)), (name, patch)
        if not explanation.elided:
            # The light tint is the background of column l of P, of KP and of output cell l.
            assert _has_color(pixels, tint(patch_color(patch))), (name, patch)
    assert plt.get_fignums() == []


def test_outlines_column_tints_and_output_cells_share_each_patch_colour() -> None:
    path = _artifact("figure-seed-bigger-150dpi.png")
    save_figure(_seed("bigger"), path, dpi=150)
    pixels = _pixels(path)
    for patch in range(9):
        color = patch_color(patch)
        assert _has_color(pixels, color, tolerance=12), patch  # X outline, frame of its copy
        assert _has_color(pixels, tint(color)), patch  # P's column, KP's column, output cell


def test_only_the_first_max_patches_are_coloured() -> None:
    explanation = _seed("bigger")
    path = _artifact("figure-seed-bigger-3-patches.png")
    save_figure(explanation, path, dpi=DPI, max_patches=3)
    pixels = _pixels(path)
    for patch in range(3):
        assert _has_color(pixels, tint(patch_color(patch)))
    for patch in range(3, 9):
        assert not _has_color(pixels, tint(patch_color(patch))), patch
        assert not _has_color(pixels, tint(patch_color(patch), 0.75)), patch
    figure = draw_figure(explanation, max_patches=3)
    assert any("first 3 of the 9 patches" in text for text in _texts(figure))


def test_many_patches_are_coloured_in_part_and_the_figure_says_so() -> None:
    figure = draw_figure(_three_d())
    texts = _texts(figure)
    assert any(f"first {DEFAULT_MAX_PATCHES} of the 50 patches" in text for text in texts)


@pytest.mark.parametrize(
    ("name", "numbers"),
    [
        ("small", ["44", "144", "16"]),
        ("bigger", ["2060", "7088", "48", "24"]),
        ("1d", ["1530", "5394", "36"]),
    ],
)
def test_seed_numbers_are_drawn(name: str, numbers: list[str]) -> None:
    texts = _texts(draw_figure(_seed(name)))
    for number in numbers:
        assert number in texts
    assert any(text.startswith("P = unfold(X)") for text in texts)
    assert any(text.startswith("output = KP reshaped") for text in texts)
    assert plt.get_fignums() == []


def test_transpose_and_backward_figures_name_their_matrices() -> None:
    transpose = " | ".join(_texts(draw_figure(_transpose())))
    for label in ("X: 2 x 2 x 2", "Kᵀ: 9 x 2", "Kᵀ · X: 9 x 4", "output = fold(Kᵀ · X)"):
        assert label in transpose
    backward = " | ".join(_texts(draw_figure(_backward())))
    for label in ("dY: 2 x 9", "dK = dY · Pᵀ: 2 x 12", "dP = Kᵀ · dY: 12 x 9", "dX = fold(dP)"):
        assert label in backward


def test_elided_figure_draws_heatmaps_without_numbers() -> None:
    explanation = _elided()
    texts = _texts(draw_figure(explanation))
    assert len(texts) < 150
    assert any("heatmaps" in text for text in texts)
    first = f"{explanation.products[0, 0, 0]:.3g}"
    assert first not in texts


def test_svg_is_xml_with_the_seed_numbers_as_text() -> None:
    path = _artifact("figure-seed-bigger.svg")
    save_figure(_seed("bigger"), path)
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    texts = {
        "".join(element.itertext()).strip()
        for element in root.iter()
        if element.tag.endswith("text")
    }
    for number in ("2060", "2138", "7088", "4868", "48"):
        assert number in texts
    assert plt.get_fignums() == []


def test_explanation_save_figure_passes_its_options(tmp_path: Path) -> None:
    path = tmp_path / "small.PNG"
    _seed("small").save_figure(str(path), max_patches=2, dpi=DPI)
    pixels = _pixels(path)
    assert _has_color(pixels, tint(patch_color(1)))
    assert not _has_color(pixels, tint(patch_color(2)))


@pytest.mark.parametrize("name", ["figure.jpg", "figure.pdf", "figure", "figure.png.txt"])
def test_a_bad_suffix_is_refused(tmp_path: Path, name: str) -> None:
    suffix = Path(name).suffix or "no suffix"
    with pytest.raises(
        ValueError, match=rf"save_figure: path must end in \.png or \.svg; got '{suffix}'"
    ):
        save_figure(_seed("small"), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_bad_options_are_refused() -> None:
    explanation = _seed("small")
    with pytest.raises(ValueError, match="draw_figure: max_patches must be >= 0; got -1"):
        draw_figure(explanation, max_patches=-1)
    with pytest.raises(TypeError, match="draw_figure: max_patches must be an int"):
        draw_figure(explanation, max_patches=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="draw_figure: explanation must be an Explanation"):
        draw_figure("not an explanation")  # type: ignore[arg-type]


def test_without_matplotlib_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib.*convmm\[figures\]"):
        draw_figure(_seed("small"))


def test_drawing_leaves_no_pyplot_figures() -> None:
    figures = [draw_figure(CASES[name]()) for name in ("seed-small", "conv-transpose")]
    assert all(isinstance(figure, Figure) for figure in figures)
    assert plt.get_fignums() == []


def test_docs_figure_is_the_bigger_example() -> None:
    """docs/explain-figure.png (shown by the README) is the 'bigger' example at the default dpi.

    Regenerate it with: ``python -c "import convmm; from convmm.examples import SEED_EXAMPLES as
    S; e = S[1]; convmm.explain(e.input, e.weight).save_figure('docs/explain-figure.png')"``
    """
    assert DOCS_FIGURE.exists()
    image = np.asarray(mpimg.imread(DOCS_FIGURE))
    width, height = draw_figure(_seed("bigger")).get_size_inches() * DEFAULT_DPI
    assert abs(image.shape[1] - width) <= 1 and abs(image.shape[0] - height) <= 1
    pixels = _pixels(DOCS_FIGURE)
    for patch in range(9):
        assert _has_color(pixels, tint(patch_color(patch)))


def test_the_explanation_draws_itself_for_notebooks() -> None:
    """``Explanation.figure()`` is the figure renderer's Figure (Jupyter shows it inline)."""
    from matplotlib.figure import Figure

    figure = _seed("small").figure(max_patches=2)
    assert isinstance(figure, Figure)
    assert "44" in _texts(figure) and any("first 2 of the 9 patches" in t for t in _texts(figure))
    assert plt.get_fignums() == []


def test_backward_db_is_drawn_as_a_matrix_like_the_others() -> None:
    """db = [3.6, 11.7]: one row of cells with the figures' own number format, not a repr."""
    explanation = _backward()
    assert explanation.grad_bias is not None
    assert np.allclose(explanation.grad_bias, [3.6, 11.7])
    texts = _texts(draw_figure(explanation))
    assert "db = dY summed over positions: 2" in texts
    assert "3.6" in texts and "11.7" in texts and "f0" in texts and "f1" in texts
    assert not any(text.startswith("db = [") or "11.7," in text for text in texts)


def test_wording_is_singular_or_plural() -> None:
    one = _texts(draw_figure(_seed("small")))
    assert any("with 1 filter of 1 x 2 x 2" in text for text in one)
    two = _texts(draw_figure(_seed("bigger")))
    assert any("with 2 filters of 3 x 2 x 2" in text for text in two)
    x = np.arange(1.0, 33.0).reshape(1, 2, 4, 4)
    grouped = _texts(draw_figure(convmm.explain(x, np.ones((2, 1, 2, 2)), groups=2)))
    assert "P_1 = unfold(X) (channel 1): 4 x 9" in grouped
    assert "K_1 (filter 1): 1 x 4" in grouped
    wide = _texts(draw_figure(_grouped()))  # two channels and two filters per group
    assert "K_1 (filters 2..3): 2 x 8" in wide and "P_1 = unfold(X) (channels 2..3): 8 x 9" in wide
    for groups, note in ((5, "group 4 (of 5) is not drawn"), (6, "groups 4..5 (of 6) are not")):
        many = convmm.explain(np.ones((1, groups, 3)), np.ones((groups, 1, 2)), groups=groups)
        assert any(text.startswith(note) for text in _texts(draw_figure(many))), groups
    for texts in (one, two, grouped, wide):
        assert not any("(s)" in text for text in texts)


def test_dilated_slices_of_a_3d_patch_are_listed() -> None:
    """A patch of a kernel dilated along D reads slices D 0 and 2, not a range 0-2."""
    e = convmm.explain(np.ones((1, 1, 5, 3, 3)), np.ones((1, 1, 2, 2, 2)), dilation=(2, 1, 1))
    texts = _texts(draw_figure(e))
    assert "0 (D 0, 2)" in texts and "1 (D 0, 2)" in texts
    assert not any(re.search(r"D \d+-\d+", text) for text in texts)


def _colorbars(figure: Figure) -> int:
    return sum(image.get_gid() == "colorbar" for ax in figure.axes for image in ax.images)


def test_heatmaps_get_a_colorbar_each_and_numbers_none() -> None:
    """A summary figure (heatmaps) draws a colour bar with its lowest and highest value under
    every heatmap: X's panels, P, K and KP, the output's panels; numbers need none."""
    explanation = _elided()
    figure = draw_figure(explanation)
    texts = _texts(figure)
    # 3 input channels, P, K and KP, 8 output filters (each panel its own scale)
    assert _colorbars(figure) >= 3 + 3 + 1
    low, high = float(explanation.products.min()), float(explanation.products.max())
    assert f"{low:.3g}" in texts and f"{high:.3g}" in texts  # KP's bar, as its cells would be
    assert _colorbars(draw_figure(_seed("bigger"))) == 0


def test_figure_says_which_formulation_and_derives_same_padding() -> None:
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    e = convmm.explain(x, np.ones((1, 1, 4, 4)), padding="same")
    texts = _texts(draw_figure(e))
    lines = [line for text in texts for line in text.splitlines()]
    assert any(line.startswith("convmm.conv computes it with algorithm=") for line in lines)
    derived = [line.strip() for line in lines if "before," in line and "after" in line]
    assert (
        derived
        == ["= max((5 - 1)*1 + 1*(4 - 1) + 1 - 5, 0) = 3: 1 before, 2 after (the odd one after)"]
        * 2
    )
