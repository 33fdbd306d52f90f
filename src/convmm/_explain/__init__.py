"""``explain``: the illustrated walkthrough of a convolution, for the user's own numbers.

``model`` computes the steps with the library's own unfold and fold; ``text``, ``figures`` and
``page`` render them (figures need matplotlib, imported only when drawing).
"""

from .model import DEFAULT_MAX_ENTRIES, Explanation, explain, explain_backward, explain_transpose

__all__ = ["DEFAULT_MAX_ENTRIES", "Explanation", "explain", "explain_backward", "explain_transpose"]
