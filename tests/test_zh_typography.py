"""The Markdown of the Chinese notebooks follows Chinese typography: Chinese quotes “” rather than
ASCII double quotes in Chinese sentences, and no space around them; no space after full-width
punctuation (``练习： ``); no space before ``%`` (``1%``, not ``1 %``); Chinese words in full-width
parentheses, never two parentheses back to back; the dash is ``——``, not a single ``—``; and no
line break inside a Chinese paragraph, which a browser shows as a space between two characters.

Only the prose is checked: code spans, code blocks, math, link targets and HTML tags are replaced
first, since ``"mean"`` or ``f(x) (mod 2)`` there are code or formulas, not sentences."""

from __future__ import annotations

import re

import nbformat
import pytest

from tools import zh_drift

ZH_PATHS = sorted(zh_drift.ZH.glob("*.ipynb"))
HAN = r"[\u3400-\u9fff]"

#: (name, pattern) of each typography rule; a match is a violation.
RULES = (
    ("ASCII double quotes in a Chinese sentence",
     re.compile(rf'(?<={HAN}) ?"[^"\n]*"|"[^"\n]*"(?= ?{HAN})|"[^"\n]*{HAN}[^"\n]*"')),
    ("a space after full-width punctuation", re.compile(r"[：，。；！？、）》] +(?=[^\s|])")),
    ("a space before %", re.compile(r"(?<=\d) +%")),
    ("Chinese text in ASCII parentheses", re.compile(rf"\((?=[^()\n]*{HAN})[^()\n]*\)")),
    ("two parentheses back to back", re.compile(r"）（")),
    ("a space next to Chinese quotes", re.compile(rf"{HAN} +[“”]|[“”] +{HAN}")),
    ("a single em dash (Chinese uses ——)", re.compile(r"(?<!—)—(?!—)")),
    ("a line break inside a Chinese paragraph (browsers show it as a space)",
     re.compile(rf"(?m)^(?! *#)[^\n]*(?:{HAN}|[，、；：（“])\n *(?:{HAN}|[，。、；：）”])")),
)


def prose(markdown: str) -> str:
    """The words a reader reads: Markdown with each piece of code or math, link target and HTML tag
    replaced by ``X`` (so that the spaces around it stay as they were)."""
    text = re.sub(r"```.*?```|\$\$.*?\$\$", "X", markdown, flags=re.S)
    return re.sub(r"\$[^$\n]+\$|`[^`\n]+`|\]\([^)]*\)|<[^>]+>", "X", text)


def violations(markdown: str) -> list[str]:
    """'rule: snippet' for every place where ``markdown`` breaks a rule."""
    text = prose(markdown)
    return [f"{name}: {text[max(0, m.start() - 10):m.end() + 10]!r}"
            for name, pattern in RULES for m in pattern.finditer(text)]


@pytest.mark.parametrize("bad", [
    '所谓"冻结"就是', '"not" 会把意思反过来', "练习： 写一个", "约 1 % 的样本", "学习率 (learning rate 的缩写)",
    "一个表格（见下） 然后", "泛化（generalization）（见上）", "见 README 的 “Fine-tune” 一节", "助手 — 如今",
    "首先指的就是\n对预训练模型",
])
def test_each_rule_can_fail(bad):
    assert violations(bad)


def test_correct_text_and_code_pass():
    good = ("所谓“冻结”就是：不更新——真的。约 1% 的样本（learning rate）。`reduction=\"mean\"` 与 "
            '`f("中文")`；$p (\\text{概率})$\n```python\nx = "中文"  # (注释)\n```\n'
            "[链接](https://example.com/a_(b)) 和 (a, b)。Say \"mean\".\n| 中文。 | 表格 |\n| 第二行 | 表格 |\n\n"
            "## 标题\n新段落：\n- 列表\n- 第二项")
    assert violations(good) == []


@pytest.mark.parametrize("path", ZH_PATHS, ids=[p.name for p in ZH_PATHS])
def test_chinese_markdown_follows_chinese_typography(path):
    cells = nbformat.read(path, as_version=4).cells
    found = [f"cell {i}: {v}" for i, c in enumerate(cells) if c.cell_type == "markdown"
             for v in violations(c.source)]
    assert not found, f"zh/{path.name}:\n" + "\n".join(found)
