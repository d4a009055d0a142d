"""No notebook prints the answer to one of its own exercises.

An exercise whose answer an earlier cell already printed (the same count, the same loss to four
decimals) checks reading, not understanding. For every numeric answer of the key that is not a
small integer (those are everywhere: 2 GPUs, 4 heads, 10 classes), no stored output of its notebook,
English or Chinese, may show a number with three or more significant digits that the exercise
would accept. The exercise cells themselves (their question's text fallback) and the last cell's
answer check are left out: they print the question and the verdict, not the answer.
"""

from __future__ import annotations

import math
import re

import nbformat
import pytest

from course_utils.exercises import answer_key
from tests.test_prose_numbers import output_text
from tools.nbenv import all_notebooks

NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?!\w)")


def significant_digits(number: str) -> int:
    return len(number.replace(",", "").replace(".", "").lstrip("0"))


def printed_numbers(nb) -> set[str]:
    """Every number with 3+ significant digits in the stored outputs, but those of the exercise cells."""
    cells = [c for c in nb.cells if "Exercise(" not in c.source and ".check(" not in c.source]
    return {n for n in NUMBER.findall(output_text(cells)) if significant_digits(n) >= 3}


def accepted_among(entry: dict, numbers: set[str]) -> list[str]:
    """The printed numbers the exercise of ``entry`` would accept as its answer."""
    answer = entry["answer"]
    if isinstance(answer, (bool, str, list)) or (float(answer).is_integer() and abs(answer) < 100):
        return []
    tolerance = max(entry.get("rel_tol", 1e-6), 1e-6)
    return sorted(n for n in numbers if math.isclose(float(n.replace(",", "")), answer, rel_tol=tolerance))


def test_a_printed_answer_is_found():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print(n)", outputs=[nbformat.v4.new_output(
            "stream", name="stdout", text="medium 24 1024 301,989,888 (the layers); loss 0.4076; 2 4 10\n")]),
        nbformat.v4.new_code_cell('Exercise("how many? 12,288", key="07.3")', outputs=[nbformat.v4.new_output(
            "execute_result", data={"text/plain": "Exercise: how many? 12,288"})])])
    numbers = printed_numbers(nb)
    assert numbers == {"1024", "301,989,888", "0.4076"}  # small integers and exercise cells left out
    assert accepted_among({"answer": 301989888}, numbers) == ["301,989,888"]
    assert accepted_among({"answer": 0.407606, "rel_tol": 1e-4}, numbers) == ["0.4076"]
    assert accepted_among({"answer": 0.41, "rel_tol": 1e-4}, numbers) == []
    assert accepted_among({"answer": 4}, {"4.00"}) == []  # small integers are not checked


@pytest.mark.parametrize("path", all_notebooks(), ids=lambda p: str(p.relative_to(p.parents[1])))
def test_no_output_shows_the_answer_of_an_exercise_of_its_notebook(path):
    numbers = printed_numbers(nbformat.read(path, as_version=4))
    prefix = path.name[:2] + "."
    shown = {key: found for key, entry in answer_key.load().items()
             if key.startswith(prefix) and (found := accepted_among(entry, numbers))}
    assert not shown, f"{path.name} prints the answer of exercise(s) {shown}: ask for another case"
