"""Self-checking exercises: a question, an answer box, a check button, a hint and a solution.

The subpackage ``course_utils.exercises`` also holds the answer key
(:mod:`~course_utils.exercises.answer_key`), how a typed answer is read
(:mod:`~course_utils.exercises.typed`) and the checkers of the notebooks' "implement it"
cells (:mod:`~course_utils.exercises.checks` and the ``checks_*`` modules).

The same exercise works two ways:

* ``ex.check(answer)`` returns a :class:`Verdict` (plain Python, so ``pytest --nbval`` can
  compare it and a test can assert it); ``ex.check(None)`` says the exercise waits for an answer;
* ``ex.widget()`` returns an ipywidgets box for JupyterLab or Colab: type an answer, press
  "Check" (or Enter), read the verdict; "Hint" and "Show solution" reveal the rest.

``Exercise(question, key="02.1")`` takes its answer, hint and solution from
:mod:`course_utils.exercises.answer_key`, so the notebook's visible code does not give them away.
``Exercise(question, answer=..., hint=..., solution=...)`` (all visible) still works.

Every sentence the learner reads is in :data:`MESSAGES` (English -> Chinese, read with
:func:`course_utils.i18n.translate` and :func:`~course_utils.i18n.message`), in the language
:mod:`course_utils.i18n` chooses; with ``key=``, the answer key's Chinese question, hint and
solution are shown when that language is Chinese.

Questions, hints and solutions are trusted HTML written by the course (``<code>``, ``<i>``)
and may hold LaTeX (``$2^{10}$``); what a learner types is always escaped before it is shown.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from course_utils import i18n
from course_utils.exercises import answer_key
from course_utils.exercises.typed import normal_text, parse_answer
from course_utils.i18n import message, translate

__all__ = ["MESSAGES", "Verdict", "Exercise"]

#: Every sentence the learner reads (:mod:`course_utils.i18n`'s one shape): English -> Chinese, the same
#: fields; the checkers of this subpackage use it too.
MESSAGES: dict[str, str] = {
    "Correct: {value}.": "正确：{value}。",
    "{value} is not right yet.": "{value} 还不对。",
    " Hint: {hint}": "提示：{hint}",
    "Type an answer first.": "请先输入答案。",
    "Waiting for your answer: type it in the box above, or assign it in this cell.":
        "等待你的答案：在上面的输入框中输入，或在本单元格中赋值。",
    "Could not check {value}: {error}": "无法检查 {value}：{error}",
    "type your answer, then press Check or Enter": "输入答案，然后按“检查”或回车",
    "(interactive: run this notebook in JupyterLab or Colab to answer it here)":
        "（交互练习：在 JupyterLab 或 Colab 中运行本笔记本即可在此作答）",
    # implement-it checkers (course_utils.exercises.checks and the checks_* modules)
    "Not implemented yet: replace `raise NotImplementedError` with your code, then run this cell again.":
        "尚未实现：把 `raise NotImplementedError` 换成你的代码，然后重新运行本单元格。",
    "Your function raised {error} on {case}.": "你的函数在{case}上抛出了 {error}。",
    "On {case} it returned {got}, expected {expected}.": "在{case}上返回了 {got}，应当返回 {expected}。",
    "Wrong shape on {case}: got {got}, expected {expected}.": "{case}的形状不对：得到 {got}，应为 {expected}。",
    "Wrong values on {case}: largest difference {diff:.3g} from PyTorch ({where}).":
        "{case}的数值不对：与 PyTorch 的最大差异为 {diff:.3g}（{where}）。",
    "Not finite on {case} (inf or nan): {where}.": "{case}出现了非有限值（inf 或 nan）：{where}。",
    "The values match, but the gradient does not on {case}: largest difference {diff:.3g}. Did you use .item(), "
    ".detach(), numpy or an in-place operation?":
        "数值一致，但{case}的梯度不一致：最大差异 {diff:.3g}。是否用了 .item()、.detach()、NumPy 或原地操作？",
    "Correct: equal to {reference} on {n} cases{extra}.": "正确：在 {n} 个用例上与 {reference} 相等{extra}。",
    "Wrong count for {case}: got {got!r}, expected {expected:,} (PyTorch's numel()).":
        "{case}的参数量不对：得到 {got!r}，应为 {expected:,}（PyTorch 的 numel()）。",
    "After freeze, {n} parameters still require a gradient, e.g. {name!r}: use requires_grad_(False).":
        "冻结之后仍有 {n} 个参数需要梯度，例如 {name!r}：请使用 requires_grad_(False)。",
    "After freeze and model.train(), a forward pass changed the BatchNorm buffer {name!r}: train() mode updates the "
    "statistics, and a later model.train() undoes bn.eval(); make BatchNorm ignore train() (override its train "
    "method, or replace the layer).":
        "冻结并调用 model.train() 之后，一次前向传播改变了批量规范化的缓冲区 {name!r}：train() 模式会更新统计量，"
        "而之后的 model.train() 会撤销 bn.eval()；请让批量规范化层忽略 train()（重写它的 train 方法，或替换该层）。",
    " in train() mode (expected the eval() outputs: frozen BatchNorm normalises with its running statistics)":
        "（train() 模式下；应得到 eval() 模式的输出：冻结的批量规范化用其滑动统计量做规范化）",
    ", gradients too": "，梯度也一致",
    " (steps)": "（步）",
    "PyTorch's numel()": "PyTorch 的 numel()",
    "a tensor": "一个张量",
    "first at index {index}": "首个位于索引 {index}",
    "at index {index}": "位于索引 {index}",
    "random logits of shape (4, 5)": "随机 logits（形状 (4, 5)）",
    "a batch of shape (2, 3, 7)": "一批 logits（形状 (2, 3, 7)）",
    "step {i} (lr={lr}, momentum={momentum})": "第 {i} 步（lr={lr}，momentum={momentum}）",
    ", the buffer": "的动量缓冲区",
    ", the buffer (at step 1 it is the gradient)": "的动量缓冲区（第 1 步时它就是梯度）",
    ", the parameter": "的参数",
    "a pair (new_param, new_buf)": "一个二元组 (new_param, new_buf)",
    "a number": "一个数",
    "kaiming_normal_'s std": "kaiming_normal_ 的标准差",
    "a fully frozen model": "完全冻结的模型",
    ": no gradients, BatchNorm statistics fixed even in train()":
        "：没有梯度，即使在 train() 模式下批量规范化的统计量也保持不变",
    "Linear(6, 5), r=2, x of shape (4, 6)": "Linear(6, 5)，r=2（x 的形状为 (4, 6)）",
    "Linear(8, 3, bias=False), r=4, x of shape (2, 7, 8)": "Linear(8, 3, bias=False)，r=4（x 的形状为 (2, 7, 8)）",
    ", gradients of A and B too": "，A 和 B 的梯度也一致",
    # widget labels
    "Exercise.": "练习。",
    "Answer:": "答案：",
    "Check": "检查",
    "Check your answer": "检查你的答案",
    "Hint": "提示",
    "Show a hint": "显示提示",
    "No hint for this one": "本题没有提示",
    "Show solution": "显示解答",
    "Hide solution": "隐藏解答",
    "Show the solution": "显示解答",
    "No solution given": "本题没有解答",
    "Solution": "解答",
    "Exercise:": "练习：",
}
ICONS = {"correct": "✅ ", "wrong": "❌ ", "waiting": "⏳ "}


@dataclass(frozen=True)
class Verdict:
    correct: bool
    message: str
    waiting: bool = False  # no answer given yet (not a wrong one)

    def __str__(self) -> str:
        kind = "correct" if self.correct else "waiting" if self.waiting else "wrong"
        return ICONS[kind] + self.message

    def __bool__(self) -> bool:
        return self.correct


def plain_text(markup: str) -> str:
    """Course HTML as plain text ('<code>x</code> &lt; 1' -> 'x < 1'), for text-only views."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup)).strip()


class Exercise:
    """A question with a checker.

    ``key="02.1"`` reads the answer, tolerance, hint and solution from
    :mod:`course_utils.exercises.answer_key` (the way the course's notebooks do it: nothing to spoil in
    the visible cell). Otherwise give either ``answer`` (compared with ``rel_tol`` for numbers,
    case-insensitively for text; a list or tuple of texts accepts any of them) or ``check``,
    a function ``answer -> bool``.
    """

    def __init__(self, question: str, *, key: str | None = None, answer: Any = None,
                 check: Callable[[Any], bool] | None = None, rel_tol: float = 1e-6,
                 hint: str = "", solution: str = "") -> None:
        if key is not None:
            if answer is not None or check is not None or solution:
                raise ValueError(f"Exercise(key={key!r}) reads its answer and solution from "
                                 "course_utils.exercises.answer_key: do not also pass answer=, check= or "
                                 "solution=")
            entry = answer_key.entry(key)
            answer, rel_tol = entry["answer"], entry.get("rel_tol", rel_tol)
            hint, solution = hint or entry.get("hint", ""), entry.get("solution", "")
            self._zh = entry.get("zh", {})
        else:
            self._zh = {}
        if (answer is None) == (check is None):
            raise ValueError("give exactly one of `answer=` (the expected value) or `check=` "
                             "(a function answer -> bool), or `key=` (an id in the answer key)")
        if check is not None and not callable(check):
            raise TypeError(f"`check=` must be a function answer -> bool, got {type(check).__name__}")
        if rel_tol < 0:
            raise ValueError(f"rel_tol must be >= 0, got {rel_tol}")
        self.key, self.answer, self._check, self.rel_tol = key, answer, check, rel_tol
        self._en = {"question": question, "hint": hint, "solution": solution}

    def _text(self, part: str) -> str:
        """Question, hint or solution in the current language (the answer key's Chinese text
        when the course speaks Chinese and the key has it, else the English one)."""
        if i18n.language() == "zh" and self._zh.get(part):
            return self._zh[part]
        return self._en[part]

    question = property(lambda self: self._text("question"))
    hint = property(lambda self: self._text("hint"))
    solution = property(lambda self: self._text("solution"))

    def __repr__(self) -> str:
        return f"Exercise({plain_text(self.question)!r})"

    def check(self, answer: Any) -> Verdict:
        """Check an answer (a value, or text as typed in the widget); ``None``: not answered yet."""
        return self._judge(answer, quote=str)

    def _judge(self, answer: Any, quote: Callable[[str], str]) -> Verdict:
        """The verdict, with what the learner typed passed through ``quote`` (the widget
        escapes it as HTML; the course's own hint is HTML already and is left alone)."""
        if answer is None:
            return Verdict(False, translate(MESSAGES, "Waiting for your answer: type it in the box above, or assign "
                                                      "it in this cell."), waiting=True)
        value = parse_answer(answer)
        if isinstance(value, str) and value == "":
            return Verdict(False, translate(MESSAGES, "Type an answer first."))
        shown = quote(repr(value))
        try:
            ok = self._check(value) if self._check is not None else self._matches(value)
        except Exception as exc:  # a checker that cannot read the answer: say so, don't crash
            return Verdict(False, message(MESSAGES, "Could not check {value}: {error}",
                                          value=shown, error=quote(str(exc))))
        if ok:
            return Verdict(True, message(MESSAGES, "Correct: {value}.", value=shown))
        tip = message(MESSAGES, " Hint: {hint}", hint=self.hint) if self.hint else ""
        return Verdict(False, message(MESSAGES, "{value} is not right yet.", value=shown) + tip)

    def _matches(self, value: Any) -> bool:
        expected = self.answer
        if isinstance(expected, (int, float)) and not isinstance(expected, bool):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                return False
            return math.isclose(value, expected, rel_tol=self.rel_tol, abs_tol=1e-12)
        accepted = expected if isinstance(expected, (list, tuple)) else [expected]
        return normal_text(value) in {normal_text(a) for a in accepted}

    def widget(self):
        """An interactive version for JupyterLab/Colab (needs ipywidgets).

        CSS classes, for styling and for the browser test: ``course-exercise`` on the box,
        ``course-exercise-{answer,check,verdict,hint,reveal,extra}`` on its parts, and
        ``course-exercise-correct`` / ``course-exercise-wrong`` on the verdict once checked.
        """
        import ipywidgets as w

        def caption(english: str) -> str:
            return translate(MESSAGES, english)

        question = w.HTMLMath(f"<b>{caption('Exercise.')}</b> {self.question}")
        box = w.Text(placeholder=caption("type your answer, then press Check or Enter"),
                     description=caption("Answer:"), layout=w.Layout(width="24em"))
        check = w.Button(description=caption("Check"), button_style="primary", icon="check",
                         tooltip=caption("Check your answer"))
        hint = w.Button(description=caption("Hint"), disabled=not self.hint,
                        tooltip=caption("Show a hint" if self.hint else "No hint for this one"))
        reveal = w.Button(description=caption("Show solution"), disabled=not self.solution,
                          tooltip=caption("Show the solution" if self.solution else "No solution given"))
        verdict = w.HTML("")
        extra = w.HTMLMath("")
        shown = {"value": ""}  # which of hint/solution `extra` shows now: clicking again hides it

        def on_check(_=None) -> None:
            v = self._judge(box.value, quote=html.escape)  # learner's text is not our HTML
            state = "correct" if v.correct else "wrong"
            colour = "#1a7f37" if v.correct else "#b00"
            verdict.value = f'<span style="color:{colour}">{v}</span>'
            verdict.remove_class("course-exercise-correct")
            verdict.remove_class("course-exercise-wrong")
            verdict.add_class(f"course-exercise-{state}")

        def toggle(kind: str, label: str, text: str) -> None:
            show = shown["value"] != kind
            shown["value"] = kind if show else ""
            extra.value = f"<i>{label}:</i> {text}" if show else ""
            reveal.description = caption("Hide solution" if shown["value"] == "solution" else "Show solution")

        check.on_click(on_check)
        # Enter in the box sends a "submit" message (Text.on_submit is deprecated and would warn).
        box.on_msg(lambda _, content, __: on_check() if content.get("event") == "submit" else None)
        hint.on_click(lambda _: toggle("hint", caption("Hint"), self.hint))
        reveal.on_click(lambda _: toggle("solution", caption("Solution"), self.solution))
        for part, css in ((box, "answer"), (check, "check"), (verdict, "verdict"),
                          (hint, "hint"), (reveal, "reveal"), (extra, "extra")):
            part.add_class(f"course-exercise-{css}")
        root = _exercise_box()([question, w.HBox([box, check, hint, reveal]), verdict, extra],
                               question=self.question)
        root.add_class("course-exercise")
        return root


@cache
def _exercise_box():
    """The VBox subclass behind ``Exercise.widget()`` (built lazily: ipywidgets is imported
    only when a widget is asked for)."""
    import ipywidgets as w

    class ExerciseBox(w.VBox):
        """A VBox whose text form (what GitHub, nbviewer and nbval show) is the question,
        not the 600-character repr of its children."""

        def __init__(self, children, *, question: str) -> None:
            super().__init__(children)
            self._question_text = plain_text(question)

        def __repr__(self) -> str:
            title = translate(MESSAGES, "Exercise:")  # "练习：..." has no space after a full-width colon
            return (f"{title}{'' if title.endswith('：') else ' '}{self._question_text}\n"
                    + translate(MESSAGES, "(interactive: run this notebook in JupyterLab or Colab to answer it "
                                          "here)"))

        def _repr_mimebundle_(self, **kwargs):
            data = super()._repr_mimebundle_(**kwargs)
            data["text/plain"] = repr(self)  # whole, not cut at 110 characters
            return data

    return ExerciseBox
