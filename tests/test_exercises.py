"""course_utils.exercises: the plain checker (what nbval sees) and the widget (what learners click)."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import pytest
import torch
import torchvision
from torch import nn

from course_utils import i18n
from course_utils.exercises import Exercise, Verdict, answer_key, plain_text
from course_utils.exercises.typed import parse_answer
from course_utils.gpt import GPT, GPTConfig
from course_utils.memory import training_flops, training_state_bytes
from course_utils.params import count_parameters, expected_parameters
from course_utils.peft import LoRALinear
from course_utils.sft import grow_vocab


@pytest.fixture(autouse=True)
def english():
    """These tests read the English messages (tests/test_i18n.py covers the Chinese ones)."""
    i18n.set_language("en")
    yield
    i18n.set_language(None)


# ---- parsing what a learner types ---------------------------------------------------------

@pytest.mark.parametrize("typed, expected", [
    ("1010", 1010), (" 1,010 ", 1010), ("25_557_032", 25557032), ("0.5", 0.5), ("1e-3", 1e-3),
    ("-2", -2), ("relu", "relu"), ("  ReLU ", "ReLU"), ("", ""), (7, 7), (None, None),
    # the rule for commas: a thousands separator only when it groups by three after a digit 1-9
    ("25,557,032", 25557032), ("1,010.5", 1010.5), ("-1,000", -1000),
    ("0,5", 0.5), ("1,25", 1.25), ("0,500", 0.5), ("12,5", 12.5), ("1,0000", 1.0),
    ("1,2,3", "1,2,3"), ("1,00,000", "1,00,000"),
    # what a Chinese input method types: full-width digits, point, comma, minus, and 。
    ("０．５", 0.5), ("0。5", 0.5), ("０，５", 0.5), ("１，０１０", 1010), ("－0.3", -0.3),
    ("−0.3", -0.3), ("1e－3", 1e-3), ("0.91。", 0.91), ("5。", 5), ("0.91.", 0.91),
    ("25 557 032", 25557032), ("微调", "微调"), ("。", "。"),
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


def test_text_answer_accepts_any_of_a_list_and_ignores_a_final_point():
    ex = Exercise("Which command?", answer=["python -m course_utils doctor", "make doctor"])
    assert ex.check("make  doctor。") and ex.check("Python -m course_utils doctor.")
    assert not ex.check("doctor")


def test_none_means_waiting_not_wrong():
    verdict = Exercise("2 + 2?", answer=4).check(None)
    assert not verdict and verdict.waiting
    assert str(verdict).startswith("⏳ Waiting for your answer")


def test_verdict_messages_and_str():
    ex = Exercise("2 + 2?", answer=4, hint="count on your fingers")
    right, wrong, empty = ex.check("4"), ex.check("5"), ex.check("   ")
    assert right == Verdict(True, "Correct: 4.") and str(right) == "✅ Correct: 4."
    assert str(wrong) == "❌ 5 is not right yet. Hint: count on your fingers"
    assert not empty and empty.message == "Type an answer first."
    assert "Hint" not in Exercise("2 + 2?", answer=4).check("5").message


@pytest.mark.parametrize("kwargs, error, words", [
    ({}, ValueError, "exactly one of"),
    ({"key": "02.1", "answer": 1}, ValueError, "do not also pass"),
    ({"key": "99.1"}, KeyError, "no exercise '99.1'"),
    ({"answer": 1, "check": lambda a: True}, ValueError, "exactly one of"),
    ({"check": 3}, TypeError, "must be a function"),
    ({"answer": 1, "rel_tol": -1.0}, ValueError, "rel_tol must be >= 0"),
])
def test_bad_construction_says_what_to_do(kwargs, error, words):
    with pytest.raises(error, match=words):
        Exercise("q", **kwargs)


# ---- the answer key ------------------------------------------------------------------------

KEYS = answer_key.keys()


def typed(answer):
    """The stored answer as a learner would type it."""
    answer = answer[0] if isinstance(answer, list) else answer
    return f"{answer:,}" if isinstance(answer, int) else str(answer)


@pytest.mark.parametrize("key", KEYS)
def test_every_stored_answer_is_accepted_and_a_wrong_one_refused(key):
    entry = answer_key.entry(key)
    ex = Exercise("q", key=key)
    assert ex.check(typed(entry["answer"])), (key, entry["answer"])
    assert ex.check(entry["answer"] if not isinstance(entry["answer"], list) else entry["answer"][-1])
    wrong = "surely-not-the-answer" if isinstance(entry["answer"], (str, list)) else entry["answer"] * 1.1 + 1
    verdict = ex.check(wrong)
    assert not verdict and not verdict.waiting and "not right yet" in verdict.message
    assert ex.hint and ex.solution, f"{key}: every exercise has a hint and a solution"
    assert typed(entry["answer"]).split(",")[0] not in ex.check(None).message


# Stored answers recomputed from PyTorch / the course library (the answer key can be wrong too).
ORACLES = {
    "00.1": lambda: 2,  # pin_threads' default, asserted in tests/test_repro.py
    "01.1": lambda: expected_parameters(nn.Conv2d(64, 128, 3, bias=False)),
    "01.2": lambda: sum(p.numel() for p in nn.Sequential(nn.Conv2d(128, 128, 3, groups=128),
                                                         nn.Conv2d(128, 256, 1)).parameters()),
    "01.3": lambda: sum(p.numel() for p in nn.LSTM(32, 64).parameters()),
    "01.5": lambda: 12 * 32 * 2560**2,
    "02.1": lambda: torch.nn.functional.cross_entropy(torch.zeros(1, 1000), torch.tensor([0])).item(),
    "02.2": lambda: -math.log(0.25),
    "02.3": lambda: torch.autograd.grad(torch.nn.functional.cross_entropy(
        (z := torch.tensor([[math.log(0.7), math.log(0.3)]], requires_grad=True)), torch.tensor([0])),
        z)[0][0, 0].item(),
    "02.4": lambda: _smoothed_target(0.1, 10),
    "02.5": lambda: torch.nn.functional.cross_entropy(torch.tensor([[1000.0, 1002.0, 1005.0]], dtype=torch.float64),
                                                      torch.tensor([1])).item(),
    "02.6": lambda: torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(0.0),
                                                                         torch.tensor(1.0)).item(),
    "03.4": lambda: _accumulation_divisor(batch=16, micro_batches=4),
    "03.5": lambda: _one_sgd_step(1.0, 0.0, lr=0.1, weight_decay=0.01),
    "03.1": lambda: _one_sgd_step(2.0, 4.0, lr=0.1),
    "03.6": lambda: 1 - _one_adamw_step(1.0, 123.0, lr=0.001),
    "04.1": lambda: torch.nn.init.calculate_gain("relu") / math.sqrt(2048),
    "04.3": lambda: 0.1 * math.sqrt(512) / torch.nn.init.calculate_gain("relu"),  # sqrt(n sigma^2 / 2)
    "04.2": lambda: sum(p.numel() for p in torchvision.models.resnet50(weights=None).layer2[0].parameters()),
    "05.1": lambda: sum(p.numel() for p in nn.Linear(2048, 37).parameters()),
    "05.2": lambda: sum(p.numel() for p in nn.Sequential(torchvision.models.resnet50(weights=None).layer4,
                                                         nn.Linear(2048, 100)).parameters()),
    "05.3": lambda: _running_mean_after(batch_mean=2.0, momentum=0.1),
    "06.1": lambda: count_parameters(LoRALinear(nn.Linear(4096, 4096), r=16), trainable_only=True),
    "06.2": lambda: training_state_bytes(1_300_000_000, "mixed_adam").total / 1e9,
    "06.3": lambda: training_flops(124_439_808, 10**10),
    "08.1": lambda: _added_by_new_tokens(d_model=768, new_tokens=4),
}


def _accumulation_divisor(batch, micro_batches):
    """p.grad after backward() on each micro-batch's mean loss, over the gradient of the mean loss of
    the whole batch: the number to divide each micro-batch's loss by."""
    torch.manual_seed(0)
    model, x, y = nn.Linear(3, 1), torch.randn(batch * micro_batches, 3), torch.randn(batch * micro_batches, 1)
    nn.functional.mse_loss(model(x), y).backward()
    whole = model.weight.grad.clone()
    model.zero_grad()
    for xs, ys in zip(x.split(batch), y.split(batch)):
        nn.functional.mse_loss(model(xs), ys).backward()
    ratio = model.weight.grad / whole
    torch.testing.assert_close(ratio, torch.full_like(ratio, ratio.mean().item()))
    return ratio.mean().item()


def _added_by_new_tokens(d_model, new_tokens):
    """Parameters a tied-embedding GPT (GPT-2's layout) gains from notebook 08's grow_vocab."""
    model = GPT(GPTConfig(vocab_size=64, context_length=8, d_model=d_model, n_layers=1, n_heads=4))
    return count_parameters(grow_vocab(model, new_tokens)) - count_parameters(model)


def _running_mean_after(batch_mean, momentum):
    bn = nn.BatchNorm1d(1, momentum=momentum).train()
    bn(torch.full((4, 1), batch_mean))
    return bn.running_mean.item()


def _smoothed_target(eps, num_classes):
    """The smoothed target of the true class, read from PyTorch's gradient: softmax(0) - target."""
    z = torch.zeros(1, num_classes, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.cross_entropy(z, torch.tensor([0]), label_smoothing=eps).backward()
    return 1 / num_classes - z.grad[0, 0].item()


def _one_sgd_step(theta, grad, **options):
    w = torch.tensor([theta], dtype=torch.float64, requires_grad=True)
    w.grad = torch.tensor([grad], dtype=torch.float64)
    torch.optim.SGD([w], **options).step()
    return w.item()


def _one_adamw_step(theta, grad, lr):
    w = torch.tensor([theta], dtype=torch.float64, requires_grad=True)
    w.grad = torch.tensor([grad], dtype=torch.float64)
    torch.optim.AdamW([w], lr=lr, weight_decay=0.0).step()
    return w.item()


@pytest.mark.parametrize("key", sorted(ORACLES))
def test_stored_answers_agree_with_pytorch(key):
    assert Exercise("q", key=key).check(ORACLES[key]()), (key, ORACLES[key]())


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
