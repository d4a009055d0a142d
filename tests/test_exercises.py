"""course_utils.exercises: the plain checker (what nbval sees) and the widget (what learners click)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from course_utils.exercises import Exercise, Verdict, parse_answer, plain_text


# ---- parsing what a learner types ---------------------------------------------------------

@pytest.mark.parametrize("typed, expected", [
    ("1010", 1010), (" 1,010 ", 1010), ("25_557_032", 25557032), ("0.5", 0.5), ("1e-3", 1e-3),
    ("-2", -2), ("relu", "relu"), ("  ReLU ", "ReLU"), ("", ""), (7, 7), (None, None),
])
def test_parse_answer(typed, expected):
    got = parse_answer(typed)
    assert got == expected and type(got) is type(expected)


def test_plain_text_strips_tags_and_unescapes():
    assert plain_text("<b>Why</b> is <code>a &lt; b</code>?") == "Why is a < b?"


# ---- checking ------------------------------------------------------------------------------

def test_numeric_answer_uses_relative_tolerance():
    ex = Exercise("How many parameters?", answer=25_557_032, rel_tol=1e-6)
    assert ex.check("25,557,032") and ex.check(25_557_032.0)
    assert ex.check(25_557_032 * (1 + 5e-7))
    assert not ex.check(25_557_032 * (1 + 5e-6))
    assert not ex.check("twenty")
    assert not ex.check(True)  # a bool is not the number 1


def test_zero_answer_needs_exactness_not_relative_tolerance():
    ex = Exercise("What is the gradient at the minimum?", answer=0.0)
    assert ex.check("0") and ex.check(1e-13)
    assert not ex.check(1e-6)


def test_text_answer_is_case_and_space_insensitive():
    ex = Exercise("Which activation?", answer="ReLU")
    assert ex.check(" relu ") and not ex.check("gelu")


def test_check_function_and_its_exceptions():
    ex = Exercise("An even number?", check=lambda a: a % 2 == 0)
    assert ex.check("4") and not ex.check("3")
    verdict = ex.check("four")  # the checker raises: a verdict, not a crash
    assert not verdict and verdict.message.startswith("Could not check 'four'")


def test_verdict_messages_and_str():
    ex = Exercise("2 + 2?", answer=4, hint="count on your fingers")
    right, wrong, empty = ex.check("4"), ex.check("5"), ex.check("   ")
    assert right == Verdict(True, "Correct: 4.") and str(right) == "✅ Correct: 4."
    assert str(wrong) == "❌ 5 is not right yet. Hint: count on your fingers"
    assert not empty and empty.message == "Type an answer first."
    assert "Hint" not in Exercise("2 + 2?", answer=4).check("5").message


@pytest.mark.parametrize("kwargs, error, words", [
    ({}, ValueError, "exactly one of"),
    ({"answer": 1, "check": lambda a: True}, ValueError, "exactly one of"),
    ({"check": 3}, TypeError, "must be a function"),
    ({"answer": 1, "rel_tol": -1.0}, ValueError, "rel_tol must be >= 0"),
])
def test_bad_construction_says_what_to_do(kwargs, error, words):
    with pytest.raises(error, match=words):
        Exercise("q", **kwargs)


def test_import_has_no_side_effects():
    code = ("import sys, course_utils.exercises as e; e.Exercise('q', answer=1).check(1); "
            "print('ipywidgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False" and out.stderr == ""


# ---- the widget, driven as the browser would ----------------------------------------------

def parts(root):
    """The widget's parts, found by their CSS classes (as the browser test finds them)."""
    found = {}

    def walk(widget):
        for css in getattr(widget, "_dom_classes", ()):
            found[css.removeprefix("course-exercise-")] = widget
        for child in getattr(widget, "children", ()):
            walk(child)

    walk(root)
    return found


@pytest.fixture
def exercise():
    return Exercise("What is <code>2**10</code>? $2^{10}$", answer=1024,
                    hint="<code>2**10</code> is 1,024", solution="<b>1024</b>")


def test_widget_has_every_part_and_warns_nothing(exercise):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would land in a notebook's stored output
        root = exercise.widget()
    p = parts(root)
    assert set(p) == {"course-exercise", "answer", "check", "verdict", "hint", "reveal", "extra"}
    assert p["verdict"].value == "" and p["extra"].value == ""
    assert not p["hint"].disabled and not p["reveal"].disabled
    bare = parts(Exercise("q", answer=1).widget())
    assert bare["hint"].disabled and bare["reveal"].disabled


def test_check_button_shows_verdict_and_state_class(exercise):
    p = parts(exercise.widget())
    p["answer"].value = "1000"
    p["check"].click()
    assert "❌" in p["verdict"].value and "course-exercise-wrong" in p["verdict"]._dom_classes
    p["answer"].value = "1,024"
    p["check"].click()
    assert "✅ Correct: 1024." in p["verdict"].value
    assert "course-exercise-correct" in p["verdict"]._dom_classes
    assert "course-exercise-wrong" not in p["verdict"]._dom_classes


def test_enter_key_checks_too(exercise):
    p = parts(exercise.widget())
    p["answer"].value = "1024"
    p["answer"]._handle_custom_msg({"event": "submit"}, [])  # what the frontend sends on Enter
    assert "✅" in p["verdict"].value


def test_learner_text_is_escaped_but_course_html_is_not(exercise):
    p = parts(exercise.widget())
    p["answer"].value = "<img src=x onerror=alert(1)>"
    p["check"].click()
    assert "<img" not in p["verdict"].value and "&lt;img" in p["verdict"].value
    assert "<code>2**10</code>" in p["verdict"].value  # the hint is the course's own HTML


def test_hint_and_solution_toggle(exercise):
    p = parts(exercise.widget())
    p["hint"].click()
    assert p["extra"].value == "<i>Hint:</i> <code>2**10</code> is 1,024"
    p["reveal"].click()
    assert p["extra"].value == "<i>Solution:</i> <b>1024</b>"
    assert p["reveal"].description == "Hide solution"
    p["reveal"].click()
    assert p["extra"].value == "" and p["reveal"].description == "Show solution"
    p["hint"].click()
    p["hint"].click()
    assert p["extra"].value == ""


def test_text_fallback_is_the_whole_question(exercise):
    long_question = "Why " + "very " * 40 + "long?"
    bundle = Exercise(long_question, answer=1).widget()._repr_mimebundle_()
    assert bundle["text/plain"].startswith(f"Exercise: {long_question}\n")
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert repr(exercise) == "Exercise('What is 2**10? $2^{10}$')"
