"""The fine-tuning set-up exercise of notebook 05: the learner's ``setup(model, num_classes, lr)``.

The set-up asked for: a new ``num_classes``-way head, ``layer3``, ``layer4`` and the head
trainable, everything else frozen (BatchNorm statistics included), and an optimizer with one
parameter group per trained module at discriminative rates ``lr`` (head), ``lr / 3`` (``layer4``)
and ``lr / 10`` (``layer3``). :func:`check_finetune_setup` runs it on a small torchvision-shaped
ResNet and names the first mistake it finds:

    def my_setup(model, num_classes, lr):   # in the notebook
        raise NotImplementedError
    print(check_finetune_setup(my_setup))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from course_utils.exercises import MESSAGES as COMMON, Verdict
from course_utils.exercises.checks import _Mismatch, _run
from course_utils.i18n import message

__all__ = ["check_finetune_setup"]

#: the modules the set-up trains, and each one's learning rate as a fraction of the head's
TRAINED = ("fc", "layer4", "layer3")
RATES = {"fc": 1.0, "layer4": 1 / 3, "layer3": 1 / 10}

#: The verdicts of :func:`check_finetune_setup`: English template -> Chinese, the same fields.
MESSAGES: dict[str, str] = {
    "TinyResNet (a ResNet's module names), num_classes={n}, lr={lr:g}":
        "TinyResNet（模块名与 ResNet 的相同），num_classes={n}，lr={lr:g}",
    "model.fc is {got}, not an nn.Linear: replace the head with nn.Linear(model.fc.in_features, num_classes).":
        "model.fc 是 {got}，不是 nn.Linear：请用 nn.Linear(model.fc.in_features, num_classes) 替换分类头。",
    "model.fc is still the pretrained head: replace it with a new nn.Linear(model.fc.in_features, num_classes).":
        "model.fc 仍是预训练的分类头：请换成新的 nn.Linear(model.fc.in_features, num_classes)。",
    "The new head is Linear({i}, {o}); for {n} classes it must be Linear({i0}, {n}): in_features from the old head, "
    "out_features = num_classes.":
        "新分类头是 Linear({i}, {o})；{n} 个类别需要 Linear({i0}, {n})：in_features 取自原分类头，out_features = num_c"
        "lasses。",
    "setup returned {got}; return the torch.optim optimizer you built.":
        "setup 返回了 {got}；请返回你创建的 torch.optim 优化器。",
    "The backbone is not frozen: {n} parameters outside {trained} still require a gradient, e.g. {name!r}.":
        "主干没有冻结：{trained} 之外仍有 {n} 个参数需要梯度，例如 {name!r}。",
    "{name!r} does not require a gradient, but {module} must train: freeze everything, then requires_grad_(True) on "
    "{trained}.":
        "{name!r} 不需要梯度，但 {module} 必须训练：先冻结全部，再对 {trained} 调用 requires_grad_(True)。",
    "After model.train(), a forward pass changed the frozen BatchNorm buffer {name!r}: requires_grad_(False) does not "
    "freeze running statistics (section 6); freeze(model, [...]) does.":
        "调用 model.train() 之后，一次前向传播改变了已冻结的批量规范化缓冲区 {name!r}：requires_grad_(False) 冻结不了"
        "滑动统计量（第 6 节）；freeze(model, [...]) 可以。",
    "The optimizer holds the frozen parameter {name!r}: build the groups from trainable parameters only.":
        "优化器里有已冻结的参数 {name!r}：参数组只应由可训练参数构成。",
    "Some parameters are in two parameter groups (torch.optim refuses that): each parameter belongs to exactly one "
    "group; build each group from one module's parameters.":
        "有参数同时出现在两个参数组中（torch.optim 不接受）：每个参数只能属于一个组；每个组只由一个模块的参数构成。",
    "{n} trainable parameters are in no parameter group, e.g. {name!r}: they would never be updated.":
        "有 {n} 个可训练参数不在任何参数组中，例如 {name!r}：它们永远不会被更新。",
    "Parameter group {g} mixes {modules}: one group per trained module ({trained}), each with its own rate.":
        "第 {g} 个参数组混合了 {modules}：每个训练的模块（{trained}）一个组，各有自己的学习率。",
    "Rates in the wrong order: {rates}. The head starts from random numbers and must move most; earlier layers are "
    "more general and should move less: fc > layer4 > layer3.":
        "学习率顺序不对：{rates}。分类头从随机数开始，需要移动最多；越靠前的层越通用，应当移动越少：fc > layer4 > laye"
        "r3。",
    "Rates {rates}; with lr = {lr:g} expected fc {fc:g}, layer4 {l4:g} (lr / 3), layer3 {l3:g} (lr / 10).":
        "学习率为 {rates}；lr = {lr:g} 时应为 fc {fc:g}、layer4 {l4:g}（lr / 3）、layer3 {l3:g}（lr / 10）。",
    "Correct: a new {n}-way head; {trained} trainable ({p:,} parameters), the rest frozen, BatchNorm statistics "
    "included; one group each at fc {fc:g}, layer4 {l4:g}, layer3 {l3:g}.":
        "正确：新的 {n} 类分类头；{trained} 可训练（{p:,} 个参数），其余冻结，批量规范化统计量也冻结；各一个参数组，"
        "学习率 fc {fc:g}、layer4 {l4:g}、layer3 {l3:g}。",
}


def _say(template: str, **values: Any) -> str:
    return message(MESSAGES, template, **values)


class TinyResNet(nn.Module):
    """A torchvision ResNet's module names (``conv1 bn1 relu maxpool layer1..layer4 avgpool fc``)
    at a few hundred parameters: what the checker fine-tunes. (B, 3, H, W) -> (B, num_classes)."""

    def __init__(self, num_classes: int = 8, width: int = 4):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)
        self.relu, self.maxpool = nn.ReLU(), nn.Identity()
        for i, (c_in, c_out) in enumerate(((width, width), (width, 2 * width), (2 * width, 2 * width),
                                           (2 * width, 4 * width)), start=1):
            setattr(self, f"layer{i}", nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                                                     nn.BatchNorm2d(c_out), nn.ReLU()))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _owner(name: str) -> str:
    return name.split(".")[0]


def check_finetune_setup(setup: Callable[[nn.Module, int, float], Any]) -> Verdict:
    """``setup(model, num_classes, lr)`` must give ``model`` a new head, freeze all but
    :data:`TRAINED` (BatchNorm statistics included) and return an optimizer with one parameter
    group per trained module, at ``lr`` times :data:`RATES`."""

    def checker() -> str:
        torch.manual_seed(0)
        model = TinyResNet()
        model.train()(torch.randn(8, 3, 8, 8))  # running statistics away from their defaults
        old_head, num_classes, lr = model.fc, 5, 3e-3
        case = _say("TinyResNet (a ResNet's module names), num_classes={n}, lr={lr:g}", n=num_classes, lr=lr)
        try:
            optimizer = setup(model, num_classes, lr)
        except NotImplementedError:
            raise
        except ValueError as exc:
            if "more than one parameter group" in str(exc):  # torch.optim's own check
                raise _Mismatch(_say("Some parameters are in two parameter groups (torch.optim refuses that): each "
                                     "parameter belongs to exactly one group; build each group from one module's "
                                     "parameters.")) from exc
            raise _Mismatch(message(COMMON, "Your function raised {error} on {case}.",
                                    error=f"ValueError: {exc}", case=case)) from exc
        except Exception as exc:  # the learner's bug: report it, never crash the cell
            raise _Mismatch(message(COMMON, "Your function raised {error} on {case}.",
                                    error=f"{type(exc).__name__}: {exc}", case=case)) from exc
        head = model.fc
        if not isinstance(head, nn.Linear):
            raise _Mismatch(_say("model.fc is {got}, not an nn.Linear: replace the head with "
                                 "nn.Linear(model.fc.in_features, num_classes).", got=type(head).__name__))
        if head is old_head:
            raise _Mismatch(_say("model.fc is still the pretrained head: replace it with a new "
                                 "nn.Linear(model.fc.in_features, num_classes)."))
        if (head.in_features, head.out_features) != (old_head.in_features, num_classes):
            raise _Mismatch(_say("The new head is Linear({i}, {o}); for {n} classes it must be Linear({i0}, {n}): "
                                 "in_features from the old head, out_features = num_classes.",
                                 i=head.in_features, o=head.out_features,
                                 i0=old_head.in_features, n=num_classes))
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise _Mismatch(_say("setup returned {got}; return the torch.optim optimizer you built.",
                                 got=type(optimizer).__name__))
        trained = ", ".join(TRAINED)
        params = dict(model.named_parameters())
        loose = [n for n, p in params.items() if p.requires_grad and _owner(n) not in TRAINED]
        if loose:
            raise _Mismatch(_say("The backbone is not frozen: {n} parameters outside {trained} still require a "
                                 "gradient, e.g. {name!r}.", n=len(loose), trained=trained, name=loose[0]))
        stuck = [n for n, p in params.items() if not p.requires_grad and _owner(n) in TRAINED]
        if stuck:
            raise _Mismatch(_say("{name!r} does not require a gradient, but {module} must train: freeze everything, "
                                 "then requires_grad_(True) on {trained}.",
                                 name=stuck[0], module=_owner(stuck[0]), trained=trained))
        before = {n: b.clone() for n, b in model.named_buffers() if _owner(n) not in TRAINED}
        model.train()
        with torch.no_grad():
            model(torch.randn(8, 3, 8, 8) * 3 + 1)
        for name, buf in model.named_buffers():
            if name in before and buf.is_floating_point() and not torch.equal(buf, before[name]):
                raise _Mismatch(_say("After model.train(), a forward pass changed the frozen BatchNorm buffer "
                                     "{name!r}: requires_grad_(False) does not freeze running statistics (section 6); "
                                     "freeze(model, [...]) does.", name=name))
        names = {id(p): n for n, p in params.items()}
        seen: dict[int, int] = {}
        rates: dict[str, float] = {}
        for g, group in enumerate(optimizer.param_groups):
            owners = set()
            for p in group["params"]:
                name = names.get(id(p), "?")
                if not p.requires_grad:
                    raise _Mismatch(_say("The optimizer holds the frozen parameter {name!r}: build the groups from "
                                         "trainable parameters only.", name=name))
                if id(p) in seen:  # torch.optim refuses this first; a custom optimizer may not
                    raise _Mismatch(_say("Some parameters are in two parameter groups (torch.optim refuses that): "
                                         "each parameter belongs to exactly one group; build each group from one "
                                         "module's parameters."))
                seen[id(p)] = g
                owners.add(_owner(name))
            if len(owners) > 1:
                raise _Mismatch(_say("Parameter group {g} mixes {modules}: one group per trained module ({trained}), "
                                     "each with its own rate.",
                                     g=g, modules=", ".join(sorted(owners)), trained=trained))
            if owners:
                rates[owners.pop()] = group["lr"]
        missing = [n for n, p in params.items() if p.requires_grad and id(p) not in seen]
        if missing:
            raise _Mismatch(_say("{n} trainable parameters are in no parameter group, e.g. {name!r}: they would never "
                                 "be updated.", n=len(missing), name=missing[0]))
        shown = ", ".join(f"{m} {rates[m]:g}" for m in TRAINED)
        if not rates["fc"] > rates["layer4"] > rates["layer3"]:
            raise _Mismatch(_say("Rates in the wrong order: {rates}. The head starts from random numbers and must "
                                 "move most; earlier layers are more general and should move less: fc > layer4 > "
                                 "layer3.", rates=shown))
        expected = {m: lr * f for m, f in RATES.items()}
        if not all(math.isclose(rates[m], expected[m], rel_tol=1e-6) for m in TRAINED):
            raise _Mismatch(_say("Rates {rates}; with lr = {lr:g} expected fc {fc:g}, layer4 {l4:g} (lr / 3), layer3 "
                                 "{l3:g} (lr / 10).", rates=shown, lr=lr, fc=expected["fc"], l4=expected["layer4"],
                                 l3=expected["layer3"]))
        n_trained = sum(p.numel() for p in params.values() if p.requires_grad)
        return _say("Correct: a new {n}-way head; {trained} trainable ({p:,} parameters), the rest frozen, BatchNorm "
                    "statistics included; one group each at fc {fc:g}, layer4 {l4:g}, layer3 {l3:g}.",
                    n=num_classes, trained=trained, p=n_trained, fc=expected["fc"],
                    l4=expected["layer4"], l3=expected["layer3"])

    return _run(checker)
