"""The browser test's strict output check must judge exactly as ``pytest --nbval`` does."""

from __future__ import annotations

import nbformat
import pytest

from tests.stored_outputs import compare_notebook, from_lab_json, sanitize_patterns
from tools.nbenv import NOTEBOOKS


def cell(source: str, *outputs: dict, count: int | None = 1, tags=()) -> nbformat.NotebookNode:
    c = nbformat.v4.new_code_cell(source, outputs=[nbformat.from_dict(o) for o in outputs],
                                  execution_count=count)
    if tags:
        c.metadata["tags"] = list(tags)
    return c


def out(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def plain(text: str, mime: dict | None = None) -> dict:
    return {"output_type": "display_data", "metadata": {}, "data": {"text/plain": text, **(mime or {})}}


def nb(*cells) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=list(cells))


def test_identical_outputs_pass_and_a_changed_digit_fails():
    stored = nb(nbformat.v4.new_markdown_cell("# t"), cell("print(6 * 7)", out("42\n")))
    assert compare_notebook(stored, stored) == []
    fresh = nb(nbformat.v4.new_markdown_cell("# t"), cell("print(6 * 7)", out("41\n")))
    problems = compare_notebook(stored, fresh)
    assert len(problems) == 1 and "cell 1" in problems[0] and "-42" in problems[0] and "+41" in problems[0]


def test_streams_split_differently_are_the_same_output_as_in_nbval():
    stored = nb(cell("x", out("a\nb\n")))
    fresh = nb(cell("x", out("a\n"), out("b\n")))
    assert compare_notebook(stored, fresh) == []
    assert compare_notebook(stored, nb(cell("x", out("a\nb\n", "stderr")))) != []


def test_markers_and_tags_as_nbval_reads_them():
    ignored = cell("# NBVAL_IGNORE_OUTPUT\nprint(time())", out("1.0\n"))
    skipped = cell("# NBVAL_SKIP\nprint(1)", out("1\n"))
    not_run = cell("print(1)", count=None)
    stored = nb(ignored, skipped, not_run)
    fresh = nb(cell(ignored.source, out("2.0\n")), cell(skipped.source), cell("print(1)", out("1\n")))
    assert compare_notebook(stored, fresh) == []
    # "# NBVAL_IGNORE_OUTPUT - why" is not a marker for nbval, so not here either
    loose = cell("# NBVAL_IGNORE_OUTPUT - timing\nprint(time())", out("1.0\n"))
    assert compare_notebook(nb(loose), nb(cell(loose.source, out("2.0\n")))) != []


def test_the_sanitize_file_applies_and_images_and_widget_ids_are_not_compared():
    patterns = sanitize_patterns()
    stored = nb(cell("f", plain("<Figure at 0x7f00aa11bb22>", {"image/png": "AAAA"})))
    fresh = nb(cell("f", plain("<Figure at 0x55d0cc33dd44>", {"image/png": "BBBB"})))
    assert compare_notebook(stored, fresh, patterns) == []
    # as in nbval, an image's bytes are not compared, its text is
    assert compare_notebook(stored, nb(cell("f", plain("<Figure at 0x55d0cc33dd44>"))), patterns) == []
    assert compare_notebook(stored, nb(cell("f", plain("<Axes at 0x55d0cc33dd44>"))), patterns) != []


def test_an_interact_is_compared_through_what_its_widget_shows():
    widget = plain("interactive(children=(IntSlider(value=0),))",
                   {"application/vnd.jupyter.widget-view+json": {"model_id": "a" * 32}})
    stored = nb(cell("interact(f)", out("n = 0\n"), plain("<Figure>", {"image/png": "AA"}), widget))
    other_model = {"application/vnd.jupyter.widget-view+json": {"model_id": "b" * 32}}
    fresh = nb(cell("interact(f)", {**widget, "data": {**widget["data"], **other_model}}))
    assert compare_notebook(stored, fresh, interacts={0: {"text": "n = 0\n", "images": 1}}) == []
    assert "n = 1" in compare_notebook(stored, fresh, interacts={0: {"text": "n = 1", "images": 1}})[0]
    assert "image" in compare_notebook(stored, fresh, interacts={0: {"text": "n = 0", "images": 0}})[0]
    # what the cell prints before interact() stays in the cell's outputs, in JupyterLab too
    stored = nb(cell("print('a'); interact(f)", out("a\nn = 0\n"), widget))
    fresh_printed = nb(cell("print('a'); interact(f)", out("a\n"), widget))
    assert compare_notebook(stored, fresh_printed, interacts={0: {"text": "n = 0\n", "images": 0}}) == []
    assert compare_notebook(stored, fresh_printed, interacts={0: {"text": "n = 1\n", "images": 0}}) != []


def test_a_cell_count_mismatch_is_one_problem():
    assert compare_notebook(nb(cell("1")), nb(cell("1"), cell("2"))) == [
        "the run has 2 cells, the stored notebook 1"]


def test_jupyterlab_json_reads_like_a_stored_notebook():
    raw = {"metadata": {}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "markdown", "source": ["# a\n", "b"], "metadata": {}, "attachments": None},
        {"cell_type": "code", "source": "print(1)", "metadata": {}, "execution_count": 1,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n", "2\n"]}]}]}
    lab = from_lab_json(raw)
    assert lab.cells[0].source == "# a\nb" and lab.cells[1].outputs[0].text == "1\n2\n"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb"))[:2], ids=lambda p: p.name)
def test_a_stored_notebook_matches_itself(path):
    stored = nbformat.read(path, as_version=4)
    assert compare_notebook(stored, stored) == []
