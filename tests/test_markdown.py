"""Markdown cells render as their authors meant: no emphasis marker left on the page as a literal ``*``.

CommonMark closes ``*...*`` only when the closing ``*`` is "right-flanking": after Chinese
full-width punctuation it must be followed by a space or punctuation, so ``*预测一下：*下面`` shows
its asterisks. JupyterLab (marked) and GitHub render the same way; markdown-it is the reference here.
"""

from __future__ import annotations

import re
import unicodedata

import nbformat
import pytest
from markdown_it import MarkdownIt

from tools.nbenv import NOTEBOOKS, all_notebooks

PATHS = all_notebooks()
MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S)
CODE = re.compile(r"<code>.*?</code>|<pre>.*?</pre>", re.S)
LITERAL_STAR = re.compile(r"(?<![\\\w*])\*{1,2}(?=[^\s*\d])|(?<=[^\s*\d])\*{1,2}(?![\w*])")
RENDER = MarkdownIt("commonmark").enable("table").render


def literal_stars(markdown: str) -> list[str]:
    """Snippets of the rendered text where a ``*`` or ``**`` did not become emphasis."""
    text = CODE.sub("", RENDER(MATH.sub("x", markdown)))
    return [text[max(0, m.start() - 12):m.end() + 12] for m in LITERAL_STAR.finditer(text)]


def _punctuation(ch: str) -> bool:
    return ch != "" and unicodedata.category(ch)[0] in "PS"


def _space(ch: str) -> bool:
    return ch == "" or ch.isspace()


def misplaced_delimiters(markdown: str) -> list[str]:
    """Emphasis runs that CommonMark cannot use as the author meant, read from the source.

    In each paragraph the author's ``*`` (and ``**``) runs alternate open, close; an opener must
    be left-flanking and a closer right-flanking (CommonMark 6.2). A closer that is not can still
    pair with a later ``*`` and italicize the wrong text, which the rendered check cannot see.
    """
    found = []
    for paragraph in re.split(r"\n\s*\n", markdown):
        if paragraph.lstrip().startswith("```"):
            continue
        text = re.sub(r"`[^`]*`|\$\$.*?\$\$|\$[^$\n]+\$|\\\*", "x", paragraph, flags=re.S)
        text = re.sub(r"^\s*\* ", "- ", text, flags=re.M)  # list bullets
        is_open: dict[int, bool] = {}
        for m in re.finditer(r"\*+", text):
            before = text[m.start() - 1] if m.start() else ""
            after = text[m.end()] if m.end() < len(text) else ""
            if _space(before) and _space(after):
                continue  # a multiplication sign
            left = not _space(after) and (not _punctuation(after) or _space(before) or _punctuation(before))
            right = not _space(before) and (not _punctuation(before) or _space(after) or _punctuation(after))
            n = len(m.group(0))
            closing, is_open[n] = is_open.get(n, False), not is_open.get(n, False)
            if not (right if closing else left):
                found.append(text[max(0, m.start() - 10):m.end() + 10])
    return found


def test_the_checks_see_the_full_width_punctuation_trap_and_accept_good_emphasis():
    assert literal_stars("*预测一下：*下面的单元格") != []
    assert misplaced_delimiters("*先预测：*同一个卷积的参数与图像大小**无关**。") != []  # renders, wrongly
    for good in ("*预测一下*：下面的单元格；**粗体**，*斜体*",
                 "*Predict, then run:* the cell below; 2 * 3 = 6, `a*b`, $a * b$\n\n* a bullet"):
        assert literal_stars(good) == [] and misplaced_delimiters(good) == []


@pytest.mark.parametrize("path", PATHS, ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_no_emphasis_marker_is_left_literal(path):
    notebook = nbformat.read(path, as_version=4)
    found = {i: literal_stars(c.source) + misplaced_delimiters(c.source)
             for i, c in enumerate(notebook.cells) if c.cell_type == "markdown"}
    assert {i: s for i, s in found.items() if s} == {}
