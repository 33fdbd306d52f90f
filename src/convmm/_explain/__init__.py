"""``explain``: the illustrated walkthrough of a convolution, for the user's own numbers.

``steps`` computes the steps with the library's own unfold and fold (``checks`` compares them
with the library, its reference and PyTorch) into the ``model``; ``text``, ``figures`` and
``page`` render them (figures need matplotlib, imported only when drawing).  This facade imports
the renderers and registers them with the model, so that arrows go one way: the renderers
import the model, the model none of them.
"""

from . import figures, page, text
from .model import DEFAULT_MAX_ENTRIES, Explanation, register_renderers
from .steps import explain, explain_backward, explain_transpose

register_renderers(
    text=text.render_text,
    page=page.render_page,
    figure=figures.draw_figure,
    save_figure=figures.save_figure,
)

__all__ = ["DEFAULT_MAX_ENTRIES", "Explanation", "explain", "explain_backward", "explain_transpose"]
