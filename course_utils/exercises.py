"""Self-checking exercises: a question, an answer box, a check button, a hint and a solution.

The same exercise works two ways:

* ``ex.check(answer)`` returns a :class:`Verdict` (plain Python, so ``pytest --nbval`` can
  compare it and a test can assert it);
* ``ex.widget()`` returns an ipywidgets box for JupyterLab or Colab: type an answer, press
  "Check", read the verdict; "Hint" and "Show solution" reveal the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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
        if rel_tol < 0:
            raise ValueError(f"rel_tol must be >= 0, got {rel_tol}")
        self.question, self.answer, self._check = question, answer, check
        self.rel_tol, self.hint, self.solution = rel_tol, hint, solution

    def check(self, answer: Any) -> Verdict:
        """Check an answer (a value, or text as typed in the widget)."""
        value = parse_answer(answer)
        if isinstance(value, str) and value == "":
            return Verdict(False, "Type an answer first.")
        try:
            ok = self._check(value) if self._check is not None else self._matches(value)
        except Exception as exc:  # a checker that cannot read the answer: say so, don't crash
            return Verdict(False, f"Could not check {value!r}: {exc}")
        if ok:
            return Verdict(True, f"Correct: {value!r}.")
        tip = f" Hint: {self.hint}" if self.hint else ""
        return Verdict(False, f"{value!r} is not right yet.{tip}")

    def _matches(self, value: Any) -> bool:
        expected = self.answer
        if isinstance(expected, (int, float)) and not isinstance(expected, bool):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                return False
            return math.isclose(value, expected, rel_tol=self.rel_tol, abs_tol=1e-12)
        return str(value).strip().lower() == str(expected).strip().lower()

    def widget(self):
        """An interactive version for JupyterLab/Colab (needs ipywidgets)."""
        import ipywidgets as w

        question = w.HTML(f"<b>Exercise.</b> {self.question}")
        box = w.Text(placeholder="your answer", description="Answer:")
        check = w.Button(description="Check", button_style="primary")
        verdict = w.HTML("")
        hint = w.Button(description="Hint", disabled=not self.hint)
        reveal = w.Button(description="Show solution", disabled=not self.solution)
        extra = w.HTML("")

        def on_check(_=None):
            v = self.check(box.value)
            colour = "green" if v.correct else "#b00"
            verdict.value = f'<span style="color:{colour}">{v}</span>'

        check.on_click(on_check)
        hint.on_click(lambda _: setattr(extra, "value", f"<i>Hint:</i> {self.hint}"))
        reveal.on_click(lambda _: setattr(extra, "value", f"<i>Solution:</i> {self.solution}"))
        for widget, css in ((box, "answer"), (check, "check"), (verdict, "verdict"),
                            (hint, "hint"), (reveal, "reveal"), (extra, "extra")):
            widget.add_class(f"course-exercise-{css}")
        root = w.VBox([question, w.HBox([box, check, hint, reveal]), verdict, extra])
        root.add_class("course-exercise")
        return root
