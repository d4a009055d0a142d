"""tools.zh_drift: the Chinese notebooks are twins of the English ones (same code cell for cell,
comments aside; same markers and tags; Markdown paired and up to date). The glossary's test is
tests/test_glossary.py."""

from __future__ import annotations

import nbformat
import pytest

from tools import zh_drift
from tools.nbenv import NOTEBOOKS
from tools.sync_notebooks import course_config, setup_source

SETUP_EN = setup_source(course_config(), "en")
SETUP_ZH = setup_source(course_config(), "zh")

ZH_PATHS = sorted(zh_drift.ZH.glob("*.ipynb"))


def notebook(*cells):
    return nbformat.v4.new_notebook(cells=list(cells))


def code(source, tags=()):
    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def md(source, translates=None):
    cell = nbformat.v4.new_markdown_cell(source)
    if translates is not None:
        cell.metadata["zh"] = {"source_sha1": zh_drift.sha1(translates)}
    return cell


def test_comments_and_blank_lines_do_not_count_but_code_does():
    en = "x = 1  # one\n\n# add\ny = x + '#not a comment'\n"
    zh = "x = 1  # 一\n# 相加\n# 第二行注释\ny = x + '#not a comment'"
    assert zh_drift.strip_comments(en) == zh_drift.strip_comments(zh) == "x = 1\ny = x + '#not a comment'"
    assert zh_drift.strip_comments("y = x + '#changed'") != zh_drift.strip_comments(en)
    assert zh_drift.strip_comments("!pip install x  # magic\n# c\n%time f()") == "!pip install x\n%time f()"


def test_twins_without_drift_pass():
    en = notebook(md("# Title"), code("x = 1  # one"))
    zh = notebook(md("# 标题", translates="# Title"), code("x = 1  # 一"))
    assert zh_drift.drift(en, zh, "00_x.ipynb") == []


def twins():
    """An English notebook and its Chinese twin without drift: title, setup cell, one code cell."""
    en = notebook(md("# Title"), code(SETUP_EN, tags=["colab-setup"]), code("x = 1"))
    zh = notebook(md("# 标题", translates="# Title"), code(SETUP_ZH, tags=["colab-setup"]), code("x = 1  # 一"))
    return en, zh


@pytest.mark.parametrize("change, words", [
    (lambda zh: setattr(zh.cells[2], "source", "x = 2  # 一"), "zh/00_x.ipynb cell 2: code differs"),
    (lambda zh: setattr(zh.cells[2], "source", "# NBVAL_IGNORE_OUTPUT\nx = 1"), "cell 2: nbval markers"),
    (lambda zh: setattr(zh.cells[1], "source", "# NBVAL_SKIP\n" + SETUP_ZH), "cell 1: nbval markers"),
    (lambda zh: zh.cells[1].metadata.update(tags=[]), "cell 1: tags"),
    (lambda zh: zh.cells.append(md("多出来的")), "4 cells, the English notebook has 3"),
    (lambda zh: zh.cells.reverse(), "cell 0: a code cell where the English has a markdown cell"),
    (lambda zh: zh.cells[0].metadata.update(zh={"source_sha1": "0" * 40}), "cell 0: the English Markdown changed"),
    (lambda zh: setattr(zh.cells[0], "source", zh_drift.TODO + "# Title"), "cell 0: not translated yet"),
])
def test_each_kind_of_drift_is_named_with_notebook_and_cell(change, words):
    en, zh = twins()
    assert zh_drift.drift(en, zh, "00_x.ipynb") == []
    change(zh)
    found = zh_drift.drift(en, zh, "00_x.ipynb")
    assert any(words in line for line in found), found


def test_the_setup_cell_is_left_to_sync_notebooks_and_only_it():
    en, zh = twins()
    zh.cells[1].source = "print('anything')"  # tools.sync_notebooks --check names this one
    assert zh_drift.drift(en, zh, "00_x.ipynb") == []
    for cells in (en.cells, zh.cells):  # cell 2 tagged like a setup cell is still compared
        cells[2].metadata["tags"] = ["colab-setup"]
    zh.cells[2].source = "x = 2"
    assert [line.split(":")[0] for line in zh_drift.drift(en, zh, "00_x.ipynb")] == ["zh/00_x.ipynb cell 2"]
    en, zh = twins()
    for cells in (en.cells, zh.cells):  # an untagged cell 1 is ordinary code
        cells[1].metadata["tags"] = []
    assert [line.split(":")[0] for line in zh_drift.drift(en, zh, "00_x.ipynb")] == ["zh/00_x.ipynb cell 1"]


def test_scaffold_sync_code_and_rebuild_give_the_chinese_setup_cell(tmp_path, monkeypatch):
    monkeypatch.setattr(zh_drift, "ZH", tmp_path / "zh")
    en, _ = twins()
    en_path = tmp_path / "00_x.ipynb"
    nbformat.write(en, en_path)
    zh_path = zh_drift.scaffold(en_path)
    assert nbformat.read(zh_path, as_version=4).cells[1].source == SETUP_ZH
    en.cells[2].source = "x = 2"                               # the English code changes
    nbformat.write(en, en_path)
    assert zh_drift.sync_code(zh_path) == [2]                  # the setup cell is not copied
    assert nbformat.read(zh_path, as_version=4).cells[1].source == SETUP_ZH
    en.cells.insert(2, md("New text"))                         # the English gains a cell
    nbformat.write(en, en_path)
    zh_drift.rebuild(zh_path)
    assert [c.source for c in nbformat.read(zh_path, as_version=4).cells if c.cell_type == "code"] == [
        SETUP_ZH, "x = 2"]


def test_scaffold_stamp_and_sync_code(tmp_path, monkeypatch):
    monkeypatch.setattr(zh_drift, "ZH", tmp_path / "zh")
    en_path = tmp_path / "00_x.ipynb"
    nbformat.write(notebook(md("# Title"), code("x = 1")), en_path)
    zh_path = zh_drift.scaffold(en_path)
    assert zh_drift.check([zh_path]) == ["zh/00_x.ipynb cell 0: not translated yet"]
    with pytest.raises(FileExistsError):
        zh_drift.scaffold(en_path)
    nb = nbformat.read(zh_path, as_version=4)
    nb.cells[0].source = "# 标题"
    nbformat.write(nb, zh_path)
    assert zh_drift.stamp(zh_path) == 1 and zh_drift.check([zh_path]) == []
    nbformat.write(notebook(md("# Title, longer"), code("x = 2")), en_path)   # the English changes
    assert len(zh_drift.check([zh_path])) == 2
    assert zh_drift.sync_code(zh_path) == [1]
    assert zh_drift.check([zh_path]) == ["zh/00_x.ipynb cell 0: the English Markdown changed since "
                                         "this translation (update it, then --stamp)"]


def test_rebuild_re_pairs_after_cells_are_added_removed_and_moved(tmp_path, monkeypatch):
    monkeypatch.setattr(zh_drift, "ZH", tmp_path / "zh")
    (tmp_path / "zh").mkdir()
    # the twin of an English notebook: "# Title", "x = 1", "Old text", "y = 2", "Kept"
    zh = notebook(md("# 标题", translates="# Title"), code("x = 1  # 一"), md("旧文字", translates="Old text"),
                  code("y = 2  # 二"), md("保留", translates="Kept"))
    zh.cells[3].outputs = [nbformat.v4.new_output("stream", text="2")]
    nbformat.write(zh, tmp_path / "zh" / "00_x.ipynb")
    # the English: "Old text" removed, a new cell inserted, the last two cells swapped
    nbformat.write(notebook(md("# Title"), code("x = 1"), md("New text"), md("Kept"), code("y = 2")),
                   tmp_path / "00_x.ipynb")
    zh_path = tmp_path / "zh" / "00_x.ipynb"
    assert zh_drift.rebuild(zh_path) == [2]
    rebuilt = nbformat.read(zh_path, as_version=4)
    assert [c.source for c in rebuilt.cells] == ["# 标题", "x = 1  # 一", zh_drift.TODO + "New text", "保留",
                                                 "y = 2  # 二"]
    assert rebuilt.cells[4].outputs == []
    assert zh_drift.check([zh_path]) == ["zh/00_x.ipynb cell 2: not translated yet"]


def test_there_are_chinese_notebooks():
    assert [p.name for p in ZH_PATHS] == [p.name for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))]


@pytest.mark.parametrize("path", ZH_PATHS, ids=[p.name for p in ZH_PATHS])
def test_chinese_notebook_is_the_twin_of_the_english_one(path):
    found = zh_drift.check([path])
    assert not found, ("the Chinese notebook drifted from the English one (python -m tools.zh_drift):\n"
                       + "\n".join(found))
