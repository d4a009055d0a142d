"""Self-checking exercises: a question, an answer box, a check button, a hint and a solution.

The same exercise works two ways:

* ``ex.check(answer)`` returns a :class:`Verdict` (plain Python, so ``pytest --nbval`` can
  compare it and a test can assert it);
* ``ex.widget()`` returns an ipywidgets box for JupyterLab or Colab: type an answer, press
  "Check" (or Enter), read the verdict; "Hint" and "Show solution" reveal the rest.

Questions, hints and solutions are trusted HTML written by the course (``<code>``, ``<i>``)
and may hold LaTeX (``$2^{10}$``); what a learner types is always escaped before it is shown.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable


@dataclass(frozen=True)
class Verdict:
    correct: bool
    message: str

    def __str__(self) -> str:
        return ("✅ " if self.correct else "❌ ") + self.message

    def __bool__(self) -> bool:
        return self.correct


def parse_answer(text: Any) -> Any:
    """Turn typed text into a number when it looks like one ('1,010' -> 1010, '0.5' -> 0.5)."""
    if not isinstance(text, str):
        return text
    cleaned = text.strip().replace(",", "").replace("_", "")
    for kind in (int, float):
        try:
            return kind(cleaned)
        except ValueError:
            pass
    return text.strip()


def plain_text(markup: str) -> str:
    """Course HTML as plain text ('<code>x</code> &lt; 1' -> 'x < 1'), for text-only views."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup)).strip()


class Exercise:
    """A question with a checker.

    Give either ``answer`` (compared with ``rel_tol`` for numbers, case-insensitively for text)
    or ``check``, a function ``answer -> bool``.
    """

    def __init__(self, question: str, *, answer: Any = None,
                 check: Callable[[Any], bool] | None = None, rel_tol: float = 1e-6,
                 hint: str = "", solution: str = "") -> None:
        if (answer is None) == (check is None):
            raise ValueError("give exactly one of `answer=` (the expected value) or `check=` "
                             "(a function answer -> bool)")
        if check is not None and not callable(check):
            raise TypeError(f"`check=` must be a function answer -> bool, got {type(check).__name__}")
        if rel_tol < 0:
            raise ValueError(f"rel_tol must be >= 0, got {rel_tol}")
        self.question, self.answer, self._check = question, answer, check
        self.rel_tol, self.hint, self.solution = rel_tol, hint, solution

    def __repr__(self) -> str:
        return f"Exercise({plain_text(self.question)!r})"

    def check(self, answer: Any) -> Verdict:
        """Check an answer (a value, or text as typed in the widget)."""
        return self._judge(answer, quote=str)

    def _judge(self, answer: Any, quote: Callable[[str], str]) -> Verdict:
        """The verdict, with what the learner typed passed through ``quote`` (the widget
        escapes it as HTML; the course's own hint is HTML already and is left alone)."""
        value = parse_answer(answer)
        if isinstance(value, str) and value == "":
            return Verdict(False, "Type an answer first.")
        try:
            ok = self._check(value) if self._check is not None else self._matches(value)
        except Exception as exc:  # a checker that cannot read the answer: say so, don't crash
            return Verdict(False, f"Could not check {quote(repr(value))}: {quote(str(exc))}")
        if ok:
            return Verdict(True, f"Correct: {quote(repr(value))}.")
        tip = f" Hint: {self.hint}" if self.hint else ""
        return Verdict(False, f"{quote(repr(value))} is not right yet.{tip}")

    def _matches(self, value: Any) -> bool:
        expected = self.answer
        if isinstance(expected, (int, float)) and not isinstance(expected, bool):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                return False
            return math.isclose(value, expected, rel_tol=self.rel_tol, abs_tol=1e-12)
        return str(value).strip().lower() == str(expected).strip().lower()

    def widget(self):
        """An interactive version for JupyterLab/Colab (needs ipywidgets).

        CSS classes, for styling and for the browser test: ``course-exercise`` on the box,
        ``course-exercise-{answer,check,verdict,hint,reveal,extra}`` on its parts, and
        ``course-exercise-correct`` / ``course-exercise-wrong`` on the verdict once checked.
        """
        import ipywidgets as w

        question = w.HTMLMath(f"<b>Exercise.</b> {self.question}")
        box = w.Text(placeholder="type your answer, then press Check or Enter",
                     description="Answer:", layout=w.Layout(width="24em"))
        check = w.Button(description="Check", button_style="primary", icon="check",
                         tooltip="Check your answer")
        hint = w.Button(description="Hint", disabled=not self.hint,
                        tooltip="Show a hint" if self.hint else "No hint for this one")
        reveal = w.Button(description="Show solution", disabled=not self.solution,
                          tooltip="Show the solution" if self.solution else "No solution given")
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
            reveal.description = "Hide solution" if shown["value"] == "solution" else "Show solution"

        check.on_click(on_check)
        # Enter in the box sends a "submit" message (Text.on_submit is deprecated and would warn).
        box.on_msg(lambda _, content, __: on_check() if content.get("event") == "submit" else None)
        hint.on_click(lambda _: toggle("hint", "Hint", self.hint))
        reveal.on_click(lambda _: toggle("solution", "Solution", self.solution))
        for part, css in ((box, "answer"), (check, "check"), (verdict, "verdict"),
                          (hint, "hint"), (reveal, "reveal"), (extra, "extra")):
            part.add_class(f"course-exercise-{css}")
        root = _exercise_box()([question, w.HBox([box, check, hint, reveal]), verdict, extra],
                               question=self.question)
        root.add_class("course-exercise")
        return root


@lru_cache(maxsize=None)
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
            return (f"Exercise: {self._question_text}\n"
                    "(interactive: run this notebook in JupyterLab or Colab to answer it here)")

        def _repr_mimebundle_(self, **kwargs):
            data = super()._repr_mimebundle_(**kwargs)
            data["text/plain"] = repr(self)  # whole, not cut at 110 characters
            return data

    return ExerciseBox
