"""course_utils.i18n.Text / columns and course_utils.tables: tables line up in both languages."""

from __future__ import annotations

import re

import pytest
from torch import nn

from course_utils import i18n, printed
from course_utils.i18n import Text, columns
from course_utils.params import group_rows, parameter_table
from course_utils.tables import format_table
from tests.zh_text import CJK


@pytest.fixture(autouse=True)
def automatic_language():
    i18n.set_language(None)
    yield
    i18n.set_language(None)


@pytest.mark.parametrize("text, expected", [
    ("arm", 3), ("", 0), ("组别", 3), ("分类头", 5), ("只训练分类头", 10), ("每类 10 个", 9), ("（m、v）", 7),
    ("± √ · é", 7), ("e\u0301", 1),  # e + a combining acute accent: one column
])
def test_columns_counts_a_wide_character_as_five_thirds_to_the_nearest(text, expected):
    assert columns(text) == expected


@pytest.mark.parametrize("spec", ["", "s", "14", "14s", "<14", ">11s", "^9", "*^9", "->7", "2", ".2", "10.3", "=^5"])
@pytest.mark.parametrize("text", ["arm", "head only", "x", "", "peak (weights + step)"])
def test_text_formats_ascii_exactly_as_str(text, spec):
    assert format(Text(text), spec) == format(text, spec)


def test_text_pads_chinese_by_columns():
    assert f"{Text('分类头'):8}|" == "分类头   |"
    assert f"{Text('分类头'):>9s}|" == "    分类头|"
    assert f"{Text('分类头'):^9}|" == "  分类头  |"
    assert f"{Text('分类头'):*<7}|" == "分类头**|"
    assert f"{Text('全量微调'):4}|" == "全量微调|"  # wider than asked: as str, nothing cut
    assert f"{'分类头':8}|" == "分类头     |"  # what a plain str does: pads by characters


def test_say_and_term_return_text_and_pad_their_values_by_columns():
    i18n.set_language("zh")
    assert isinstance(printed.term("arm"), Text) and isinstance(printed.say("acc @ {k}/class", k=10), Text)
    line = printed.say("{arm:14s} training time per run: {times}", arm=printed.term("head only"), times="1 s")
    name = printed.WORDS["head only"]  # 6 characters, 10 columns: 4 spaces make 14, then the template's own
    assert columns(name) == 10 and line.startswith(name + " " * 5) and not line.startswith(name + " " * 6)
    i18n.set_language("en")
    assert f"{printed.term('head only'):14s}|" == "head only     |"


def model_rows():
    model = nn.Sequential(nn.Linear(4, 3), nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2)))
    return parameter_table(model)


def ends(line: str) -> list[int]:
    """The screen column where each run of non-spaces of ``line`` ends."""
    return [columns(line[:m.end()]) for m in re.finditer(r"\S+", line)]


def test_format_table_in_english_is_the_plain_table():
    i18n.set_language("en")
    text = format_table(model_rows())
    lines = text.splitlines()
    assert lines[0].split() == ["name", "type", "shape", "parameters", "trainable", "formula"]
    assert lines[-1].split()[:1] == ["total"] and "27" in lines[-1]  # 4*3+3 + 3*2+2 + 2*2
    assert "1 more rows" in format_table(model_rows(), max_rows=2)
    assert format_table([]) == "(no rows: the model has no parameters)"


def test_format_table_in_chinese_has_chinese_headers_and_its_columns_line_up():
    i18n.set_language("zh")
    rows = [{k: r[k] for k in ("name", "parameters", "trainable")} for r in model_rows()]
    lines = format_table(rows).splitlines()
    assert lines[0].split() == [printed.WORDS[c] for c in ("name", "parameters", "trainable")]
    assert lines[-1].startswith(printed.WORDS["total"])
    # every line's number columns end at the same screen column as the header's
    right = [ends(line)[-2:] for line in lines if "-" not in line]
    assert all(e == right[0] for e in right), lines
    assert CJK.search(format_table(group_rows(model_rows()), max_rows=1))
