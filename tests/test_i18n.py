"""course_utils.i18n and the Chinese side of the learner-facing text: every message, answer-key
text and figure label exists in both languages, and the language is chosen as documented."""

from __future__ import annotations

import re
import string
from pathlib import Path

import nbformat
import pytest

from course_utils import answer_key, i18n
from course_utils.exercises import MESSAGES, MESSAGES_EN, MESSAGES_ZH, Exercise
from tools.nbenv import NOTEBOOKS


@pytest.fixture(autouse=True)
def automatic_language():
    i18n.set_language(None)
    yield
    i18n.set_language(None)


def fields(template: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(template) if name)


@pytest.mark.parametrize("value, expected", [
    ("zh", "zh"), ("zh_CN.UTF-8", "zh"), ("zh-TW", "zh"), ("ZH", "zh"), ("en_US.UTF-8", "en"),
    ("C", None), ("POSIX", None), ("", None), (None, None), ("fr_FR.UTF-8", None),
])
def test_normalize(value, expected):
    assert i18n.normalize(value) == expected


def test_order_argument_then_setting_then_env_then_notebook_folder_then_locale(tmp_path):
    zh_dir = tmp_path / "notebooks" / "zh"
    zh_dir.mkdir(parents=True)
    en_dir = tmp_path / "notebooks"
    elsewhere = tmp_path
    assert i18n.language(environ={}, cwd=elsewhere) == "en"
    assert i18n.language(environ={"LANG": "zh_CN.UTF-8"}, cwd=elsewhere) == "zh"   # locale
    assert i18n.language(environ={"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}, cwd=elsewhere) == "en"
    assert i18n.language(environ={"LANG": "zh_CN.UTF-8"}, cwd=en_dir) == "en"      # English notebook
    assert i18n.language(environ={"LANG": "en_US.UTF-8"}, cwd=zh_dir) == "zh"      # folder beats locale
    assert i18n.language(environ={"JPY_SESSION_NAME": str(zh_dir / "00_setup.ipynb")}, cwd=en_dir) == "zh"
    assert i18n.language(environ={"JPY_SESSION_NAME": str(en_dir / "00_setup.ipynb")}, cwd=zh_dir) == "en"
    assert i18n.language(environ={"COURSE_LANG": "en"}, cwd=zh_dir) == "en"        # env beats folder
    i18n.set_language("zh")
    assert i18n.language(environ={"COURSE_LANG": "en"}, cwd=en_dir) == "zh"        # setting beats env
    assert i18n.language("en") == "en"                                             # argument beats all


def test_unknown_language_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="use one of en, zh"):
        i18n.set_language("fr")
    with pytest.raises(ValueError, match="use one of en, zh"):
        i18n.language("klingon")


def test_every_message_key_has_both_languages_with_the_same_fields():
    assert set(MESSAGES_EN) == set(MESSAGES_ZH), set(MESSAGES_EN) ^ set(MESSAGES_ZH)
    for key in MESSAGES_EN:
        assert MESSAGES_ZH[key].strip(), key
        assert fields(MESSAGES_EN[key]) == fields(MESSAGES_ZH[key]), key
        assert re.search(r"[\u4e00-\u9fff]", MESSAGES_ZH[key]) or key in {"a_tensor"}, key


def test_messages_follow_the_language_in_use():
    i18n.set_language("en")
    assert MESSAGES["empty"] == MESSAGES_EN["empty"]
    i18n.set_language("zh")
    assert MESSAGES["empty"] == MESSAGES_ZH["empty"] and len(MESSAGES) == len(MESSAGES_EN)


@pytest.mark.parametrize("key", answer_key.keys())
def test_every_answer_key_entry_has_chinese_question_hint_and_solution(key):
    zh = answer_key.entry(key).get("zh", {})
    for part in ("question", "hint", "solution"):
        assert re.search(r"[\u4e00-\u9fff]", zh.get(part, "")) or (part != "question" and zh.get(part)), (
            f"{key}: no Chinese {part}")


def test_exercise_speaks_the_language_in_use():
    ex = Exercise("English question", key="02.1")
    i18n.set_language("en")
    assert ex.question == "English question" and "Hint: At chance" in str(ex.check(3))
    i18n.set_language("zh")
    assert ex.question.startswith("一个用于 ImageNet")
    assert str(ex.check(3)) == "❌ 3 还不对。提示：随机猜测时损失为 ln C。"
    assert str(ex.check("６．９０８")) == "✅ 正确：6.908。"           # full-width input, Chinese verdict
    assert str(ex.check(None)).startswith("⏳ 等待你的答案")


def test_exercise_without_key_keeps_its_own_text_in_chinese():
    i18n.set_language("zh")
    ex = Exercise("Q", answer=1, hint="H")
    assert ex.question == "Q" and str(ex.check(2)) == "❌ 2 还不对。提示：H"


def test_widget_labels_in_chinese():
    i18n.set_language("zh")
    box = Exercise("Q", key="02.1").widget()
    labels = [child.description for child in box.children[1].children[1:]]
    assert labels == ["检查", "提示", "显示解答"]
    assert repr(box).startswith("练习： 一个用于 ImageNet")


def test_figure_text_needs_zh_and_a_cjk_font(monkeypatch):
    from course_utils import plots

    assert i18n.figure_text("loss", "en") == "loss"
    monkeypatch.setattr(plots, "use_cjk_font", lambda: None)
    assert i18n.figure_text("loss", "zh") == "loss"          # no font: English, no empty boxes
    monkeypatch.setattr(plots, "use_cjk_font", lambda: "Noto Sans CJK SC")
    assert i18n.figure_text("loss", "zh") == "损失"
    assert i18n.figure_text("not in the table", "zh") == "not in the table"


def test_use_cjk_font_picks_an_installed_font_or_none():
    import matplotlib as mpl

    from course_utils import plots

    before = list(mpl.rcParams["font.sans-serif"])
    try:
        found = plots.use_cjk_font()
        assert found is None or (found in plots.CJK_FONTS and mpl.rcParams["font.sans-serif"][0] == found)
    finally:
        mpl.rcParams["font.sans-serif"] = before


def figure_texts(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [m for c in nb.cells if c.cell_type == "code"
            for m in re.findall(r'figure_text\("([^"]+)"\)', c.source)]


def test_every_figure_label_the_notebooks_translate_has_chinese():
    used = {t for path in sorted(NOTEBOOKS.glob("*.ipynb")) for t in figure_texts(path)}
    assert used, "no figure_text(...) call found: the parser is broken"
    assert used <= set(i18n.FIGURE_TEXT), used - set(i18n.FIGURE_TEXT)
    assert set(i18n.FIGURE_TEXT) <= used, f"unused entries: {set(i18n.FIGURE_TEXT) - used}"
