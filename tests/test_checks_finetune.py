"""course_utils.exercises.checks_finetune: the fine-tuning set-up checker accepts correct set-ups and names
each typical mistake."""

from __future__ import annotations

import re
import string

import pytest
import torch
from torch import nn

from course_utils import i18n
from course_utils.exercises.checks_finetune import MESSAGES, TinyResNet, check_finetune_setup
from course_utils.finetune import freeze, param_groups


@pytest.fixture(autouse=True)
def english():
    i18n.set_language("en")
    yield
    i18n.set_language(None)


def by_hand(model, num_classes, lr):
    """A correct set-up without the library: requires_grad_, a BatchNorm that ignores train()."""
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    model.requires_grad_(False)
    for name in ("layer3", "layer4", "fc"):
        getattr(model, name).requires_grad_(True)
    for name in ("bn1", "layer1", "layer2"):
        for m in getattr(model, name).modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
                m.train = lambda mode=True, m=m: m  # stays in eval()
    groups = [{"params": model.fc.parameters(), "lr": lr},
              {"params": model.layer4.parameters(), "lr": lr / 3},
              {"params": model.layer3.parameters(), "lr": lr / 10}]
    return torch.optim.AdamW(groups, weight_decay=0.0)


def with_library(model, num_classes, lr):
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    freeze(model, ["layer3", "layer4", "fc"])
    return torch.optim.SGD(param_groups(model, {"fc": lr, "layer4": lr / 3, "layer3": lr / 10}), lr=lr)


def variant(**change):
    """with_library with one step changed: the mistakes a learner makes."""

    def setup(model, num_classes, lr):
        if change.get("head") != "keep":
            out = num_classes + 1 if change.get("head") == "wrong" else num_classes
            model.fc = nn.Linear(model.fc.in_features, out)
        if change.get("freeze") == "requires_grad":
            model.requires_grad_(False)
            for name in ("layer3", "layer4", "fc"):
                getattr(model, name).requires_grad_(True)
        elif change.get("freeze") == "none":
            pass
        else:
            freeze(model, change.get("trainable", ["layer3", "layer4", "fc"]))
        rates = change.get("rates", {"fc": lr, "layer4": lr / 3, "layer3": lr / 10})
        if change.get("groups") == "one":
            return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
        if change.get("groups") == "all":
            return torch.optim.AdamW(model.parameters(), lr=lr)
        groups = [{"params": list(getattr(model, m).parameters()), "lr": r} for m, r in rates.items()]
        if change.get("groups") == "overlap":
            groups.append({"params": list(model.fc.parameters()), "lr": lr})
        if change.get("groups") == "drop":
            groups = groups[:2]
        return torch.optim.AdamW(groups)

    return setup


def stub(model, num_classes, lr):
    raise NotImplementedError


def test_correct_setups_pass():
    for setup in (by_hand, with_library, variant()):
        verdict = check_finetune_setup(setup)
        assert verdict.correct, verdict.message
        assert "new 5-way head" in verdict.message


def test_the_stub_waits():
    verdict = check_finetune_setup(stub)
    assert not verdict.correct and verdict.waiting and "Not implemented yet" in verdict.message


#: (how a setup goes wrong, words its verdict must hold)
MISTAKES = [
    ({"head": "keep"}, "still the pretrained head"),
    ({"head": "wrong"}, "Linear(16, 6); for 5 classes it must be Linear(16, 5)"),
    ({"freeze": "none"}, "backbone is not frozen"),
    ({"trainable": ["layer4", "fc"]}, "'layer3.0.weight' does not require a gradient"),
    ({"trainable": ["layer3", "layer4"]}, "'fc.weight' does not require a gradient, but fc must train"),
    ({"trainable": ["layer2", "layer3", "layer4", "fc"]}, "outside fc, layer4, layer3"),
    ({"freeze": "requires_grad"}, "changed the frozen BatchNorm buffer 'bn1.running_mean'"),
    ({"groups": "all"}, "holds the frozen parameter 'conv1.weight'"),
    ({"groups": "overlap"}, "Some parameters are in two parameter groups"),
    ({"groups": "drop"}, "in no parameter group, e.g. 'layer3.0.weight'"),
    ({"groups": "one"}, "Parameter group 0 mixes fc, layer3, layer4"),
    ({"rates": {"fc": 3e-4, "layer4": 1e-3, "layer3": 3e-3}}, "Rates in the wrong order"),
    ({"rates": {"fc": 3e-3, "layer4": 2e-3, "layer3": 1e-3}}, "expected fc 0.003, layer4 0.001 (lr / 3)"),
]


@pytest.mark.parametrize("change, words", MISTAKES)
def test_each_mistake_is_named(change, words):
    verdict = check_finetune_setup(variant(**change))
    assert not verdict.correct and not verdict.waiting
    assert words in verdict.message, verdict.message


def test_an_error_in_the_setup_is_reported_not_raised():
    def broken(model, num_classes, lr):
        return model.layer9

    verdict = check_finetune_setup(broken)
    assert not verdict.correct and "AttributeError" in verdict.message


def test_not_an_optimizer():
    def no_return(model, num_classes, lr):
        model.fc = nn.Linear(model.fc.in_features, num_classes)

    assert "returned NoneType" in check_finetune_setup(no_return).message


def test_tiny_resnet_has_a_resnets_names_and_runs():
    model = TinyResNet(num_classes=3)
    names = [n for n, _ in model.named_children()]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 3)


def test_messages_in_both_languages():
    def fields(text):
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}

    for english, chinese in MESSAGES.items():
        assert fields(english) == fields(chinese), english
        assert re.search(r"[\u4e00-\u9fff]", chinese), english
    i18n.set_language("zh")
    assert "正确" in check_finetune_setup(with_library).message
    assert "学习率顺序不对" in check_finetune_setup(
        variant(rates={"fc": 3e-4, "layer4": 1e-3, "layer3": 3e-3})).message
