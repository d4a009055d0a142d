"""README.zh-CN.md keeps step with README.md: every ``##`` section of the English README has its
Chinese counterpart, in the same order. A few sections exist only in Chinese (installing from
mainland China, the two commands the English README gives in its opening lines); they may stand
anywhere. A section added to either README without an entry here fails the test."""

from __future__ import annotations

import re

from tools.nbenv import ROOT

#: English ``##`` heading -> its Chinese counterpart, in README.md's order.
COUNTERPART = {
    "What the course teaches": "课程内容",
    "Offline first, online better": "离线优先，联网更好",
    "Fine-tune on your own images": "在自己的图片上微调",
    "Other ways to run it": "其他运行方式",
    "The seed article, mapped": "原文各节对应的笔记本",
    "Glossary 术语表": "术语表",
    "For maintainers": "给维护者",
}

#: Chinese-only sections.
CHINESE_ONLY = {"两条命令", "在中国大陆安装"}


def sections(name: str) -> list[str]:
    """The ``##`` headings of a Markdown file at the repository root, in order (code blocks skipped)."""
    text = re.sub(r"```.*?```", "", (ROOT / name).read_text(encoding="utf-8"), flags=re.S)
    return re.findall(r"^## (.+?)\s*$", text, flags=re.M)


def problems(english: list[str], chinese: list[str]) -> list[str]:
    """What keeps ``chinese`` from matching ``english`` section for section, in order."""
    found = [f"README.md section {h!r} has no Chinese counterpart in COUNTERPART" for h in english
             if h not in COUNTERPART]
    found += [f"README.zh-CN.md lacks {COUNTERPART[h]!r} (for {h!r})" for h in english
              if h in COUNTERPART and COUNTERPART[h] not in chinese]
    known = set(COUNTERPART.values()) | CHINESE_ONLY
    found += [f"README.zh-CN.md section {h!r} is neither a counterpart nor Chinese-only" for h in chinese
              if h not in known]
    wanted = [COUNTERPART[h] for h in english if COUNTERPART.get(h) in chinese]
    if not found and [h for h in chinese if h in wanted] != wanted:
        found.append(f"the Chinese sections are in another order: {[h for h in chinese if h in wanted]} "
                     f"!= {wanted}")
    return found


def test_the_checker_can_fail():
    english = ["What the course teaches", "Other ways to run it"]
    assert problems(english, ["两条命令", "课程内容", "其他运行方式"]) == []
    assert problems(english, ["课程内容"])                                    # a section missing
    assert problems(english, ["其他运行方式", "课程内容"])                     # the order differs
    assert problems(english + ["A new section"], ["课程内容", "其他运行方式"])  # English gained one
    assert problems(english, ["课程内容", "其他运行方式", "新的一节"])          # Chinese gained one


def test_readme_zh_has_every_english_section_in_order():
    found = problems(sections("README.md"), sections("README.zh-CN.md"))
    assert not found, "\n".join(found)
