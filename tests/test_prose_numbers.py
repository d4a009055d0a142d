"""The text quotes only numbers the notebook prints: every decimal number in a Markdown cell is one
that some stored output of the same notebook shows, up to rounding (``0.87`` for a printed ``0.867``).

Stored outputs change when they are re-made (another kind of CPU, another version of PyTorch:
CONTRIBUTING); a sentence that still quotes the old run then fails here instead of telling the
learner something no cell shows. Numbers that are not results are skipped: headings and section
numbers, Python versions, counts in millions (``25.6 million``, ``1.38 亿``), code and math.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import nbformat
import pytest

from tests.test_markdown import MATH
from tools.nbenv import all_notebooks

PATHS = all_notebooks()
NUMBER = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")
SKIPPED = re.compile(
    r"^#[^\n]*|`[^`\n]*`"                                     # a heading: "### 2.1 Linear"; code
    r"|(?:sections?|§)\s*\d+\.\d+|第\s*\d+\.\d+\s*节"           # "section 2.7", "第 2.7 节"
    r"|Python\s*(?:≥\s*)?\d+\.\d+"                            # "Python 3.13"
    r"|\d+\.\d+(?:-|\s*)(?:million|billion|万|亿)",            # counts, rounded to a unit
    re.M)

#: Numbers a text may give without a cell printing them, each with the reason (notebook stem, number).
NOT_PRINTED = {
    ("04_developing_a_deep_model", "13.7"): "a spike seen on another kind of CPU, which the text names as such",
    ("04_developing_a_deep_model", "0.25"): "the normalization's standard deviation, a constant of the code",
    ("07_small_gpt", "5.6"): "passes over the data: 800 × 32 × 64 / 294,257, all four printed",
}


def quoted_numbers(markdown: str) -> list[str]:
    """The decimal numbers a Markdown text quotes as results (math and the :data:`SKIPPED` kinds left out)."""
    return NUMBER.findall(SKIPPED.sub(" ", MATH.sub(" ", markdown)))


def output_text(cells) -> str:
    """Every stored text output of ``cells`` (streams, plain text, HTML, Markdown), joined."""
    texts = []
    for cell in cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            texts.append(out.get("text", ""))
            texts += [out.get("data", {}).get(kind, "") for kind in ("text/plain", "text/html", "text/markdown")]
    return "\n".join(texts)


def printed_numbers(nb) -> set[str]:
    return set(NUMBER.findall(output_text(nb.cells)))


def shows(printed: str, quoted: str) -> bool:
    """Whether ``printed`` rounds to ``quoted`` at the decimals ``quoted`` has (either tie rule)."""
    decimals = len(quoted.partition(".")[2])
    if len(printed.partition(".")[2]) < decimals:
        return False
    step = Decimal(1).scaleb(-decimals)
    return any(Decimal(printed).quantize(step, rounding=r) == Decimal(quoted)
               for r in (ROUND_HALF_EVEN, ROUND_HALF_UP))


def unprinted(nb, stem: str) -> list[str]:
    """'cell N: number' for each number in the text that no output of ``nb`` shows."""
    printed = printed_numbers(nb)
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for quoted in quoted_numbers(cell.source):
            if (stem, quoted) not in NOT_PRINTED and not any(shows(p, quoted) for p in printed):
                found.append(f"cell {index}: {quoted}")
    return found


def test_a_quoted_number_must_be_printed_up_to_rounding():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print(acc)", outputs=[nbformat.v4.new_output(
            "stream", name="stdout", text="accuracy 0.867 ± 0.047\n")]),
        nbformat.v4.new_markdown_cell("### 2.1 Results\n\nIt reaches 0.87 ± 0.05 (section 4.2, `lr=0.3`), "
                                      "not 0.88; ResNet-50 has 25.6 million parameters, $e^{0.5}$."),
    ])
    assert unprinted(nb, "x") == ["cell 1: 0.88"]
    assert shows("0.125", "0.12") and shows("0.125", "0.13") and not shows("0.9", "0.90")


@pytest.mark.parametrize("path", PATHS, ids=[str(p.relative_to(p.parents[1])) for p in PATHS])
def test_the_text_quotes_only_printed_numbers(path):
    found = unprinted(nbformat.read(path, as_version=4), path.stem)
    assert not found, (f"{path.name}: the text quotes numbers no stored output shows (a stale run?): "
                       + ", ".join(found))


def test_every_exception_is_still_needed():
    quoted = {(p.stem, n) for p in PATHS for c in nbformat.read(p, as_version=4).cells
              if c.cell_type == "markdown" for n in quoted_numbers(c.source)}
    assert set(NOT_PRINTED) <= quoted, set(NOT_PRINTED) - quoted
