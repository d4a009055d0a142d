"""Markdown cells render as their authors meant: no emphasis marker left on the page as a literal ``*``.

CommonMark closes ``*...*`` only when the closing ``*`` is "right-flanking": after Chinese
full-width punctuation it must be followed by a space or punctuation, so ``*预测一下：*下面`` shows
its asterisks. JupyterLab (marked) and GitHub render the same way; markdown-it is the reference here.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from markdown_it import MarkdownIt

from tools.nbenv import NOTEBOOKS

PATHS = sorted(NOTEBOOKS.glob("*.ipynb")) + sorted((NOTEBOOKS / "zh").glob("*.ipynb"))
MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S)
CODE = re.compile(r"<code>.*?</code>|<pre>.*?</pre>", re.S)
LITERAL_STAR = re.compile(r"(?<![\\\w*])\*{1,2}(?=[^\s*\d])|(?<=[^\s*\d])\*{1,2}(?![\w*])")
RENDER = MarkdownIt("commonmark").enable("table").render


def literal_stars(markdown: str) -> list[str]:
    """Snippets of the rendered text where a ``*`` or ``**`` did not become emphasis."""
    text = CODE.sub("", RENDER(MATH.sub("x", markdown)))
    return [text[max(0, m.start() - 12):m.end() + 12] for m in LITERAL_STAR.finditer(text)]


def test_the_check_sees_the_full_width_punctuation_trap_and_accepts_good_emphasis():
    assert literal_stars("*预测一下：*下面的单元格") != []
    assert literal_stars("*预测一下*：下面的单元格；**粗体**，*斜体*") == []
    assert literal_stars("*Predict, then run:* the cell below; 2 * 3 = 6, `a*b`, $a * b$") == []


@pytest.mark.parametrize("path", PATHS, ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_no_emphasis_marker_is_left_literal(path):
    notebook = nbformat.read(path, as_version=4)
    found = {i: literal_stars(c.source) for i, c in enumerate(notebook.cells) if c.cell_type == "markdown"}
    assert {i: s for i, s in found.items() if s} == {}
