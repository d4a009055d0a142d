"""course_utils.printed: every sentence a notebook prints through ``say``/``term`` has its Chinese,
and the Chinese notebooks' stored outputs are (nearly) free of English prose."""

from __future__ import annotations

import ast
import math
import pickle
import re
import string
from pathlib import Path

import nbformat
import pytest

from course_utils import i18n, printed
from course_utils.losses import SanityProblem, sanity_problem
from course_utils.printed import say
from tests.zh_text import CJK, english_line, english_runs, english_table_line
from tools.nbenv import NOTEBOOKS

EN_PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
ZH_PATHS = sorted((NOTEBOOKS / "zh").glob("*.ipynb"))

#: The most English prose lines (see :func:`tests.zh_text.english_line`) all the Chinese notebooks' stored outputs
#: may hold. What stays English by design (12 lines, all of them): data shown as it is (a docstring of
#: 07's corpus, a chat example in 08), library output (torchvision's warnings, peft's parameter count) and
#: the DDP subprocess's lines in 06. The sanity messages stored in 05's shipped sweep file are read back
#: (transfer.sweep_failure) and printed through say(). Tables are checked on their own
#: (test_chinese_notebooks_tables_are_chinese): none is left in English.
MAX_ENGLISH_PROSE_LINES = 12


@pytest.fixture(autouse=True)
def automatic_language():
    i18n.set_language(None)
    yield
    i18n.set_language(None)


def fields(template: str) -> list[tuple[str, str, str]]:
    """The ``{name!conversion:spec}`` fields of a template, sorted: the same in both languages,
    so that values that format in English format in Chinese too."""
    return sorted((name, spec or "", conv or "") for _, name, spec, conv in string.Formatter().parse(template)
                  if name is not None)


def calls(name: str) -> list[tuple[str, int, ast.expr]]:
    """(notebook, cell, first argument) of every call of ``name`` in the English notebooks' code
    (the Chinese twins have the same code: tests/test_zh_drift.py)."""
    found = []
    for path in EN_PATHS:
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type != "code":
                continue
            python = "\n".join(line for line in cell.source.splitlines() if not line.startswith(("%", "!")))
            for node in ast.walk(ast.parse(python)):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == name and node.args:
                    found.append((path.name, i, node.args[0]))
    return found


def library_templates() -> list[tuple[str, ast.expr]]:
    """(module, first argument) of every ``say`` call in the course_utils modules that import it
    (commands.py has a ``say`` of its own)."""
    found = []
    for path in sorted(Path(printed.__file__).parent.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "from course_utils.printed import" not in source:
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "say" and node.args:
                found.append((path.name, node.args[0]))
    return found


def choices(node: ast.expr) -> list[str]:
    """The literal strings an expression can be: ``"a"`` -> ["a"], ``"a" if x else "b"`` -> ["a", "b"]."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return choices(node.body) + choices(node.orelse)
    return []


def test_say_formats_english_and_chinese_and_refuses_a_missing_translation():
    template = next(iter(printed.ZH))
    values = {name: 1 for name, _, _ in fields(template)}
    i18n.set_language("en")
    assert printed.say(template, **values) == template.format(**values)
    assert printed.term("beats") == "beats" and printed.term("not in the table") == "not in the table"
    i18n.set_language("zh")
    assert printed.say(template, **values) == printed.ZH[template].format(**values)
    assert printed.term("beats") == printed.WORDS["beats"]
    with pytest.raises(KeyError, match="add it to course_utils.printed.ZH"):
        printed.say("a sentence nobody translated: {x}", x=1)
    with pytest.raises(KeyError, match="WORDS"):
        printed.term("not in the table")


def test_every_entry_is_chinese_with_the_same_fields():
    for en, zh in printed.ZH.items():
        assert fields(en) == fields(zh), (en, zh)
        assert CJK.search(zh) or not re.search(r"[A-Za-z]{3}", en), (en, zh)
    for en, zh in printed.WORDS.items():  # a name may stay as it is (Kaiming) beside translated ones
        assert (CJK.search(zh) or zh == en) and "{" not in zh, (en, zh)


def test_every_template_and_term_the_notebooks_use_has_its_chinese():
    """(a) of issue 32: ``say`` (in a notebook or in course_utils) takes a literal template, in
    :data:`printed.ZH`; every literal string a ``term`` argument can be (``term("yes" if ok else
    "no")``) is in :data:`printed.WORDS`. A ``term`` of a variable (a verdict computed by the
    notebook) is checked when the Chinese notebook runs: ``term`` raises there on a word without
    its Chinese."""
    problems = []
    for notebook, cell, arg in calls("say"):
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            problems.append(f"{notebook} cell {cell}: say() of a non-literal {ast.unparse(arg)}")
        elif arg.value not in printed.ZH:
            problems.append(f"{notebook} cell {cell}: no Chinese for say({arg.value!r})")
    for notebook, cell, arg in calls("term"):
        problems += [f"{notebook} cell {cell}: no Chinese for term({text!r})" for text in choices(arg)
                     if text not in printed.WORDS]
    for module, arg in library_templates():
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            problems.append(f"course_utils/{module}: say() of a non-literal {ast.unparse(arg)}")
        elif arg.value not in printed.ZH:
            problems.append(f"course_utils/{module}: no Chinese for say({arg.value!r})")
    assert calls("say"), "no notebook prints through say(): is the search broken?"
    assert not problems, "\n".join(problems)


def english_prose_lines(path) -> list[str]:
    """The English prose lines of a notebook's stored stream outputs, as ``cell: line``."""
    found = []
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.output_type == "stream":
                found += [f"{i}: {line}" for line in output.text.splitlines() if english_line(line)]
    return found


@pytest.mark.parametrize("line, prose", [
    ("by hand vs course_utils vs torch.softmax: equal within 1e-06", True),
    ("full beats scratch (0.52 vs 0.29, 2 x spread 0.11)", True),
    ("逐位相同：True, same seed", False),
    ("ValueError: class-index targets must be in [0, 4) (or ignore_index=-100)", False),
    ("T=0.8, top_k=40: 'Return the object from string of a filename.'", False),
    ("head only      training time per run: 1.00 s    0.89 s", False),
    ("weight layers in the model: ['stem', 'conv_a', 'fc']", True),
    ("stem reads x: 1", False),
])
def test_what_counts_as_english_prose(line, prose):
    assert english_line(line) is prose


def test_chinese_notebooks_print_chinese():
    """The zh notebooks' stored stream outputs hold at most MAX_ENGLISH_PROSE_LINES English prose lines
    (a print converted to say() changes them only when the zh notebook is executed again)."""
    lines = {path.name: english_prose_lines(path) for path in ZH_PATHS}
    total = sum(map(len, lines.values()))
    report = "\n".join(f"{name}: {len(found)}\n  " + "\n  ".join(found[:8]) for name, found in lines.items() if found)
    assert total <= MAX_ENGLISH_PROSE_LINES, f"{total} English prose lines in notebooks/zh outputs:\n{report}"


@pytest.mark.parametrize("line, english", [
    ("model      weight layers  depth()", True),
    ("arm             trainable  peak MB    acc @ 10/class    acc @ 20/class", True),  # figures, but "arm" leads
    ("head only           1,290      8.3       0.30 ± 0.01", True),
    ("full (last) lr 0.001: 0.33  lr 0.003: 0.36", False),  # one space: not a column
    ("total                             27         27", True),
    ("模型      权重层  depth()", False),
    ("resnet18              21       18", False),
    ("full-long | 0.0003 |     0.854 ± 0.029", False),  # an arm's code name
    ("LoRA                7,434     25.0", False),  # the same word in Chinese
])
def test_what_counts_as_an_english_table_line(line, english):
    assert english_table_line(line) is english


def test_chinese_notebooks_tables_are_chinese():
    """The zh notebooks' stored tables have Chinese headers and row names (the words of printed.WORDS,
    padded by screen columns: course_utils.i18n.Text)."""
    found = [f"{path.name} cell {i}: {line}" for path in ZH_PATHS
             for i, cell in enumerate(nbformat.read(path, as_version=4).cells) if cell.cell_type == "code"
             for output in cell.get("outputs", []) if output.output_type == "stream"
             for line in output.text.splitlines() if english_table_line(line)]
    assert not found, f"{len(found)} table lines in English in notebooks/zh outputs:\n" + "\n".join(found[:40])


def test_no_template_is_left_over():
    """Every entry of :data:`printed.ZH` is still printed somewhere (a notebook or course_utils)."""
    used = {arg.value for _, _, arg in calls("say") if isinstance(arg, ast.Constant)}
    used |= {arg.value for _, arg in library_templates() if isinstance(arg, ast.Constant)}
    assert not set(printed.ZH) - used, sorted(set(printed.ZH) - used)


def test_a_failed_check_is_printed_in_chinese():
    """Each message of course_utils.losses.sanity_problem (English: a lesson module imports only torch) is
    shown by say() in the learner's language, from printed.PROBLEMS; in English, exactly as returned."""
    problems = [sanity_problem(10.0, [1.0] * 4, 10, "far"), sanity_problem(2.3, [2.3, math.nan], 10, "nan"),
                sanity_problem(2.3, [2.3, 9.0, 9.0, 9.0], 10, "up"), sanity_problem(2.3, [2.3] * 4, 10, "flat")]
    assert len({p.template for p in problems}) == 4 and all(isinstance(p, SanityProblem) for p in problems)
    i18n.set_language("en")
    assert [say("fails: {problem}", problem=p) for p in problems] == [f"fails: {p}" for p in problems]
    i18n.set_language("zh")
    for problem in problems:
        shown = say("fails: {problem}", problem=problem)
        assert shown.startswith(f"未通过：{problem.values['name']}：") and not english_runs(shown), shown
    assert pickle.loads(pickle.dumps(problems[0])).template == problems[0].template  # from a sweep's worker
