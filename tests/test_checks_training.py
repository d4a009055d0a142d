"""course_utils.exercises.checks_training: the learner's train_one_epoch is accepted when right, and each
deliberately broken loop is refused with the message that names its mistake."""

from __future__ import annotations

import re
import string

import pytest
import torch

from course_utils import i18n
from course_utils.exercises.checks_training import MESSAGES, check_train_one_epoch


@pytest.fixture(autouse=True)
def english():
    i18n.set_language("en")
    yield
    i18n.set_language(None)


def make_loop(zero_grad="before", train=True, returns="mean", step_first=False, move=("inputs", "targets")):
    """A learner's loop, right by default; each argument plants one mistake."""
    def loop(model, loader, loss_fn, optimizer, device):
        if train:
            model.train()
        total, seen, losses = 0.0, 0, []
        for inputs, targets in loader:
            if "inputs" in move:
                inputs = inputs.to(device)
            if "targets" in move:
                targets = targets.to(device)
            if zero_grad == "before":
                optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            if step_first:
                optimizer.step()
                loss.backward()
            else:
                loss.backward()
                if zero_grad == "between":
                    optimizer.zero_grad()
                optimizer.step()
            losses.append(loss)
            total += loss.item() * len(targets)
            seen += len(targets)
        if returns == "mean":
            return total / seen
        if returns == "sum":
            return sum(loss.item() for loss in losses)
        if returns == "unweighted":
            return sum(loss.item() for loss in losses) / len(losses)
        if returns == "graph":
            return sum(loss * 1.0 for loss in losses) / len(losses)
        if returns == "tensor":
            return torch.tensor(total / seen)
        return None
    return loop


def test_right_loops_pass():
    verdict = check_train_one_epoch(make_loop())
    assert verdict.correct, verdict.message
    assert "Correct" in verdict.message and "4 batches" in verdict.message
    assert check_train_one_epoch(make_loop(returns="tensor")).correct   # a 0-d tensor without a graph is a number


def test_stub_waits():
    def stub(*args):
        raise NotImplementedError
    verdict = check_train_one_epoch(stub)
    assert not verdict.correct and verdict.waiting


#: (a wrong loop, words its verdict must hold)
MISTAKES = [
    (make_loop(zero_grad=None), "without optimizer.zero_grad()"),
    (make_loop(train=False), "never calls model.train()"),
    (make_loop(step_first=True), "did not change"),
    (make_loop(zero_grad="between"), "did not change"),
    (make_loop(returns="sum"), "sum of the batch losses"),
    (make_loop(returns="unweighted"), "mean of the batch means"),
    (make_loop(returns="graph"), "holds its graph"),
    (make_loop(returns=None), "you returned NoneType"),
    (make_loop(move=()), "the inputs and the targets never went through .to(device)"),
    (make_loop(move=("inputs",)), "the targets never went through .to(device)"),
    (make_loop(move=("targets",)), "the inputs never went through .to(device)"),
]


@pytest.mark.parametrize("loop, words", MISTAKES)
def test_each_mistake_is_named(loop, words):
    verdict = check_train_one_epoch(loop)
    assert not verdict.correct
    assert words in verdict.message, verdict.message


def test_other_wrong_loops_get_the_general_messages():
    def wrong_lr(model, loader, loss_fn, optimizer, device):
        optimizer.param_groups[0]["lr"] *= 2
        return make_loop()(model, loader, loss_fn, optimizer, device)

    def crashes(model, loader, loss_fn, optimizer, device):
        return loss_fn(model(next(iter(loader))), 0)

    def off_by_some(model, loader, loss_fn, optimizer, device):
        return make_loop()(model, loader, loss_fn, optimizer, device) + 0.1

    assert "Check the order" in check_train_one_epoch(wrong_lr).message
    assert check_train_one_epoch(crashes).message.startswith("Your function raised")
    assert "the returned loss is" in check_train_one_epoch(off_by_some).message


def test_the_checker_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = check_train_one_epoch(make_loop()).message
    assert torch.equal(torch.get_rng_state(), before)
    torch.rand(5)                                   # earlier draws do not change the verdict
    assert check_train_one_epoch(make_loop()).message == first


def test_messages_in_both_languages():
    def fields(s):
        return sorted(f for _, f, _, _ in string.Formatter().parse(s) if f)

    for english, chinese in MESSAGES.items():
        assert fields(english) == fields(chinese), english
        assert re.search(r"[\u4e00-\u9fff]", chinese), english
    i18n.set_language("zh")
    assert "正确" in check_train_one_epoch(make_loop()).message
