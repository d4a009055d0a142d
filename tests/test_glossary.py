"""The glossary of README.zh-CN.md is the vocabulary of the Chinese edition: one Chinese form for
one English term (the test below counts them; zh/00 states that count); every Chinese notebook
whose English twin uses a term uses its Chinese form (and none of the forms the glossary avoids);
the first use in the course gives the English in parentheses.

A term may have an alias (column 又称), the name most readers know from elsewhere (池化层 for
汇聚层). An alias appears exactly once in the Chinese text, and only in the form
"TERM（又称ALIAS，english）" (or "TERM（又称ALIAS）") at the term's first use in the course;
anywhere else it is banned like an avoided form."""

from __future__ import annotations

import io
import re
import tokenize

import nbformat
import pytest

from tools import zh_drift
from tools.nbenv import NOTEBOOKS, ROOT

ZH_PATHS = sorted(zh_drift.ZH.glob("*.ipynb"))

#: English phrases in which a glossary word is part of another concept, so they do not count as
#: a use of it: a GPU "kernel" is not a convolution kernel (卷积核); Adam's bias correction
#: (偏差修正) is not a layer's bias (偏置); a NaN that "spreads through" later operations is not the
#: spread over seeds (标准差); the course's title "From Scratch" is not training from scratch (从零训练).
OTHER_SENSES = ("convolution kernels read", "bias correction", "spreads through", "From Scratch: Deep Model")


def glossary_rows() -> list[dict[str, str]]:
    """The rows of README.zh-CN.md's 术语表 as {column header: cell text}."""
    text = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    section = text.split("\n## 术语表\n", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ")]
    header = [h.split("（")[0] for h in rows[0]]
    return [dict(zip(header, row)) for row in rows[1:] if not set(row[0]) <= set("-")]


def forms(cell: str) -> list[str]:
    """"批归一化、批标准化" -> ["批归一化", "批标准化"]."""
    return [a for a in cell.split("、") if a]


def glossary() -> list[tuple[str, str, list[str]]]:
    """(Chinese, English, [avoided Chinese forms]) per row of README.zh-CN.md's 术语表."""
    return [(r["中文"], r["English"], forms(r.get("不用", ""))) for r in glossary_rows()]


def aliases() -> list[tuple[str, str]]:
    """(term, alias) per alias in the 又称 column: the alias may appear once, introduced by the term."""
    return [(r["中文"], a) for r in glossary_rows() for a in forms(r.get("又称", ""))]


def english_names(en: str) -> list[str]:
    """"stochastic gradient descent (SGD)" -> ["stochastic gradient descent", "SGD"]."""
    return [en.split(" (")[0], *re.findall(r"\(([^)]+)\)", en)]


def markdown(path) -> str:
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def prose(text: str) -> str:
    """Markdown without code, math, link targets and HTML tags: the words a reader reads."""
    text = re.sub(r"```.*?```|\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]+\$|`[^`\n]+`|\]\([^)]*\)|<[^>]+>", " ", text)
    for phrase in OTHER_SENSES:
        text = re.sub(term_pattern(phrase), " ", text, flags=re.I)
    return text


def term_pattern(name: str) -> str:
    """``name`` as a term of its own: any case, plural too, split across lines or not."""
    return r"(?<![\w-])" + r"\s+".join(map(re.escape, name.split())) + r"(e?s)?(?![\w-])"


def uses(text: str, name: str) -> bool:
    """Does English ``text`` use ``name`` as a term of its own?"""
    return re.search(term_pattern(name), text, re.I) is not None


def missing_terms(en_text: str, zh_text: str, terms) -> list[str]:
    """The glossary terms ``en_text`` uses whose Chinese form ``zh_text`` lacks. A term used
    only inside a longer glossary term (bias in "bias correction") does not count; an
    abbreviation (SGD) kept as is in the Chinese text does."""
    en_text, zh_text = prose(en_text), prose(zh_text)
    longer = [name for _, en, _ in terms for name in english_names(en)]
    missing = []
    for zh, en, _ in terms:
        names = english_names(en)
        text = en_text
        for other in longer:
            if other not in names and any(n.lower() in other.lower() for n in names):
                text = re.sub(term_pattern(other), " ", text, flags=re.I)
        used = [n for n in names if uses(text, n)]
        if used and zh not in zh_text and not any(n in zh_text for n in used if n != names[0]):
            missing.append(f"{zh} ({en})")
    return missing


def test_glossary_terms_each_once_and_zh00_states_their_number():
    terms = glossary()
    assert len(terms) >= 50, len(terms)
    assert len({zh for zh, _, _ in terms}) == len(terms) and len({en for _, en, _ in terms}) == len(terms)
    named = {a for _, a in aliases()} | {a for _, _, avoid in terms for a in avoid}
    assert not named & {zh for zh, _, _ in terms}, "an alias or avoided form is also a term"
    stated = re.findall(r"完整的 (\d+) 个术语", markdown(zh_drift.ZH / "00_setup.ipynb"))
    assert stated == [str(len(terms))], f"zh/00 says the glossary has {stated} terms; it has {len(terms)}"


def test_the_term_finder_can_fail():
    terms = [("偏置", "bias", []), ("学习率", "learning rate", []), ("学习率调度", "learning rate schedule", []),
             ("随机梯度下降", "stochastic gradient descent (SGD)", [])]
    assert missing_terms("Each bias is learned.", "每个偏差都要学习。", terms) == ["偏置 (bias)"]
    assert missing_terms("Each bias is learned.", "每个偏置都要学习。", terms) == []
    assert missing_terms("With bias\n  correction ...", "带偏差修正……", terms) == []          # another concept
    assert missing_terms("A learning rate schedule.", "学习率调度。", terms) == []             # inside a longer term
    assert missing_terms("Learning\nrates matter.", "步长很重要。", terms) == ["学习率 (learning rate)"]  # split line
    assert missing_terms("We use SGD.", "我们用 SGD。", terms) == []                            # abbreviation kept
    assert missing_terms("Stochastic gradient descent.", "梯度下降。", terms) == [
        "随机梯度下降 (stochastic gradient descent (SGD))"]
    assert missing_terms("`bias` in code only", "", terms) == []                                # code is not prose


@pytest.mark.parametrize("path", ZH_PATHS, ids=[p.name for p in ZH_PATHS])
def test_each_chinese_notebook_uses_the_glossary_terms_its_english_twin_uses(path):
    missing = missing_terms(markdown(zh_drift.twin(path)), markdown(path), glossary())
    assert not missing, (f"zh/{path.name} does not use the glossary's Chinese form of terms its English "
                         f"twin uses (README.zh-CN.md, 术语表): {missing}")


def comments(path) -> str:
    """The comments of a notebook's code cells (the only Chinese text a zh code cell may have)."""
    found = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code":
            try:
                tokens = tokenize.generate_tokens(io.StringIO(cell.source).readline)
                found += [t.string for t in tokens if t.type == tokenize.COMMENT]
            except (tokenize.TokenError, IndentationError, SyntaxError):  # IPython magics
                found += [ln.strip() for ln in cell.source.splitlines() if ln.lstrip().startswith("#")]
    return "\n".join(found)


def chinese_text() -> str:
    """Every Chinese text a learner reads: zh Markdown and code comments, exercise messages and
    the Chinese questions, hints and solutions of the answer key, what the notebooks print
    (``course_utils.printed``'s tables) and the figures' labels."""
    from course_utils import i18n, plots, printed
    from course_utils.exercises import MESSAGES, answer_key

    parts = [markdown(p) for p in ZH_PATHS] + [comments(p) for p in ZH_PATHS] + list(MESSAGES.values())
    parts += [t for e in answer_key.load().values() for t in e.get("zh", {}).values()]
    for table in (printed.ZH, printed.WORDS, printed.PROBLEMS, i18n.FIGURE_TEXT, plots.PLOT_TEXT):
        parts += table.values()
    return "\n".join(parts)


def test_every_glossary_term_is_used_by_the_notebooks():
    """Each term is one the course uses: its Chinese form in the Chinese text, or its English
    name in an English notebook (whose Chinese twin the test above holds to the Chinese form)."""
    english, chinese = "\n".join(prose(markdown(p)) for p in sorted(NOTEBOOKS.glob("*.ipynb"))), chinese_text()
    unused = [f"{zh} ({en})" for zh, en, _ in glossary()
              if zh not in chinese and not any(uses(english, n) for n in english_names(en))]
    assert not unused, f"glossary terms no notebook uses: {unused}"


def test_no_avoided_form_is_used():
    text = chinese_text()
    avoided = [f"{a} (use {zh})" for zh, _, avoid in glossary() for a in avoid if a in text]
    assert not avoided, f"the Chinese text uses a form the glossary avoids: {avoided}"


def prose_cells() -> list[tuple[str, str]]:
    """(where, text) of the Chinese notebooks' Markdown in course order, without the lines that
    are tables, headings, quotes or display math (a term's first use is in running text)."""
    cells = []
    for path in ZH_PATHS:
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "markdown":
                lines = [ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("|", "#", ">", "$$"))]
                cells.append((f"zh/{path.name} cell {i}", "\n".join(lines)))
    return cells


def test_each_glossary_term_gives_its_english_in_parentheses_at_first_use():
    terms = glossary()
    late = []
    for zh, en, _ in terms:
        longer = [z for z, _, _ in terms if z != zh and zh in z]   # 学习率 inside 学习率调度
        names = [en.split(" (")[0].split()[0].lower()] + re.findall(r"\((\w+)\)", en.lower())
        for where, text in prose_cells():
            hits = [m.start() for m in re.finditer(re.escape(zh), text)
                    if not any(text[m.start() - z.find(zh):m.start() - z.find(zh) + len(z)] == z for z in longer)]
            if hits:
                after = text[hits[0]:hits[0] + 80].lower()
                if not any(re.search(r"[（(，,][^（(]*" + re.escape(name), after) for name in names):
                    late.append(f"{zh} ({en}): first used in {where} without its English: {after[:40]!r}")
                break
    assert not late, "\n".join(late)


def alias_problems(prose_text: str, text: str, zh: str, alias: str) -> list[str]:
    """How ``alias`` of term ``zh`` breaks the rule: in all the Chinese ``text`` it must appear
    exactly once, as "zh（又称alias）" or "zh（又称alias，...", and that must be the first use of
    ``zh`` in ``prose_text`` (the course's running text, in order)."""
    intro = re.compile(re.escape(zh) + r"\**（又称" + re.escape(alias) + r"[）,，]")
    problems = []
    if text.count(alias) != 1 or len(intro.findall(text)) != 1:
        problems.append(f"{alias} appears {text.count(alias)} times, {len(intro.findall(text))} of them "
                        f"as {zh}（又称{alias}）; the only use allowed is that one introduction")
    first = prose_text.find(zh)
    if first < 0 or not intro.match(prose_text, first):
        problems.append(f"the first use of {zh} does not introduce {alias}: "
                        f"{prose_text[max(first, 0):max(first, 0) + 30]!r}")
    return problems


def test_the_alias_finder_can_fail():
    good = "汇聚层（又称池化层，pooling layer）缩小特征图；汇聚层没有参数。"
    assert alias_problems(good, good, "汇聚层", "池化层") == []
    first = "**批量规范化**（又称批归一化）"
    assert alias_problems(first, first, "批量规范化", "批归一化") == []
    assert alias_problems(good, good + "池化层", "汇聚层", "池化层")            # used again elsewhere
    late = "汇聚层没有参数。汇聚层（又称池化层）"
    assert alias_problems(late, late, "汇聚层", "池化层")                        # not at the first use
    assert alias_problems("池化层", "池化层", "汇聚层", "池化层")                # never introduced
    assert alias_problems("汇聚层", "汇聚层", "汇聚层", "池化层")                # never given at all


def test_each_alias_is_introduced_once_at_the_first_use_of_its_term():
    prose_text, text = "\n".join(t for _, t in prose_cells()), chinese_text()
    problems = [p for zh, alias in aliases() for p in alias_problems(prose_text, text, zh, alias)]
    assert aliases() and not problems, "\n".join(problems)
