"""tools.sync_notebooks: cell 1 of every notebook is the setup cell it generates, in the notebook's
language. What the cells do on Colab and elsewhere (fake Colab, fake pip and apt) is tested in
tests/test_i18n.py; that every real notebook agrees, in tests/test_notebooks_hygiene.py."""

from __future__ import annotations

import ast

import nbformat
import pytest

from tools import sync_notebooks
from tools.sync_notebooks import all_notebooks, course_config, notebook_language, problems, setup_source, sync

CONFIG = course_config()
URL = f"git+https://github.com/{CONFIG['repository']}@{CONFIG['branch']}"


def test_the_english_setup_cell_is_unchanged():
    assert setup_source(CONFIG) == setup_source(CONFIG, "en") == (
        "# Setup. On Colab: install the course package (about 1 minute). Elsewhere: nothing to do,\n"
        "# `make lab` already installed it.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q",\n'
        f'                    "course-utils @ {URL}"], check=True)')


def test_the_chinese_setup_cell_chooses_chinese_and_installs_a_font_on_colab_only():
    zh = setup_source(CONFIG, "zh")
    compile(zh, "<cell 1>", "exec")
    before_colab, colab_branch = zh.split('if "google.colab" in sys.modules:\n')
    assert 'os.environ.setdefault("COURSE_LANG", "zh")' in before_colab   # everywhere: the language only
    assert "subprocess" not in before_colab and "print" not in zh
    assert f'"course-utils @ {URL}"' in colab_branch and '"fonts-noto-cjk"' in colab_branch



@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_setup_cell_does_not_end_with_a_value_that_jupyter_would_show(language):
    assert not isinstance(ast.parse(setup_source(CONFIG, language)).body[-1], ast.Expr)


def test_unknown_language_is_refused():
    with pytest.raises(KeyError):
        setup_source(CONFIG, "fr")


def test_the_language_of_a_notebook_is_its_folder():
    assert notebook_language(sync_notebooks.NOTEBOOKS / "zh" / "03_x.ipynb") == "zh"
    assert notebook_language(sync_notebooks.NOTEBOOKS / "03_x.ipynb") == "en"
    languages = [notebook_language(p) for p in all_notebooks()]
    assert languages.count("zh") == len(list((sync_notebooks.NOTEBOOKS / "zh").glob("*.ipynb"))) > 0


@pytest.mark.parametrize("folder, language", [("", "en"), ("zh", "zh")])
def test_sync_writes_the_setup_cell_of_the_notebooks_language_and_check_agrees(tmp_path, folder, language):
    path = tmp_path / folder / "03_x.ipynb"
    path.parent.mkdir(exist_ok=True)
    old = nbformat.v4.new_code_cell(setup_source(CONFIG, "en" if language == "zh" else "zh"))
    old.metadata["tags"] = ["colab-setup"]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 03 · X"), old,
                                                   nbformat.v4.new_code_cell("x = 1")]), path)
    assert any(f"not the standard {language} Colab setup cell" in p for p in problems(path, CONFIG))
    assert sync(path, CONFIG) is True
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[1].source == setup_source(CONFIG, language) and nb.cells[1].metadata.tags == ["colab-setup"]
    assert [c.source for c in nb.cells[2:]] == ["x = 1"]
    assert not any("setup cell" in p for p in problems(path, CONFIG))
    assert sync(path, CONFIG) is False  # nothing left to change
