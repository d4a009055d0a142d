"""Implement-it exercise of notebook 03: the learner's own ``train_one_epoch``, checked.

The learner writes ``my_train_one_epoch(model, loader, loss_fn, optimizer, device)``: one pass
over ``loader`` that returns the mean training loss (averaged over samples, a float). The checker
runs it and :func:`course_utils.training.train_one_epoch` on the same model, data and seed, and
compares the weights after the epoch and the returned loss. When they differ it names the
mistake by re-running the loop *with* that mistake: a missing ``zero_grad()``, a missing
``model.train()`` (the model is handed over in eval mode and has dropout), the update before the
gradients (weights unchanged), a loss summed over the batches or averaged without weighting the
smaller last batch, a loss returned as a tensor that still holds its graph, batches never moved
with ``.to(device)`` (harmless on a CPU, an error on a GPU: the batches record the call).

    def my_train_one_epoch(model, loader, loss_fn, optimizer, device):   # in the notebook
        raise NotImplementedError
    print(check_train_one_epoch(my_train_one_epoch))
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, default_collate

from course_utils import i18n
from course_utils.exercises import Verdict
from course_utils.exercises.checks import _Mismatch, _run
from course_utils.training import train_one_epoch

__all__ = ["check_train_one_epoch"]

#: The verdicts of :func:`check_train_one_epoch`: English template -> Chinese, the same fields.
MESSAGES: dict[str, str] = {
    "Your function raised {error}.": "你的函数抛出了 {error}。",
    "The weights did not change during the epoch: optimizer.step() must come after loss.backward(), and "
    "optimizer.zero_grad() before backward() (not between backward() and step()).":
        "这一轮中权重没有变化：optimizer.step() 必须在 loss.backward() 之后调用，optimizer.zero_grad() 必须在 backward"
        "() 之前（而不是在 backward() 与 step() 之间）。",
    "Your weights are those of a loop without optimizer.zero_grad(): backward() adds into .grad, so each step "
    "followed the sum of all earlier gradients. Call it once per batch, before loss.backward().":
        "你的权重与不调用 optimizer.zero_grad() 的循环一致：backward() 会把梯度累加到 .grad 中，"
        "于是每一步都沿着之前所有梯度之和走。请在每个批量的 loss.backward() 之前调用一次。",
    "Your weights are those of a loop that never calls model.train(): the model came in eval mode, so its dropout "
    "stayed off. Call model.train() before the loop.":
        "你的权重与从不调用 model.train() 的循环一致：模型传进来时处于评估模式，所以它的 dropout 一直关闭。"
        "请在循环之前调用 model.train()。",
    "After one epoch your weights differ from train_one_epoch's (largest difference {diff:.3g}). Check the order, "
    "once per batch: zero_grad -> forward -> loss -> backward -> step, with loss_fn(model(inputs), targets).":
        "一轮之后，你的权重与 train_one_epoch 的不同（最大差异 {diff:.3g}）。请检查每个批量的顺序：zero_grad -> 前向 -"
        "> 损失 -> backward -> step，损失为 loss_fn(model(inputs), targets)。",
    "The weights are right, but you returned a tensor that still holds its graph: accumulate loss.item() (a float), "
    "or the memory of every batch's graph is kept.":
        "权重正确，但你返回的张量仍然挂着计算图：请累加 loss.item()（一个浮点数），否则每个批量的计算图都会留在内存里"
        "。",
    "The weights are right, but you returned {got}; return the mean training loss, a number.":
        "权重正确，但你返回了 {got}；应当返回平均训练损失，一个数。",
    "The weights are right, but you returned the sum of the batch losses ({got:.4f}); the epoch's loss is their mean "
    "over samples ({expected:.4f}): divide by the number of samples seen.":
        "权重正确，但你返回的是各批量损失之和（{got:.4f}）；一轮的损失是按样本平均的值（{expected:.4f}）："
        "请除以看过的样本数。",
    "The weights are right, but you returned the mean of the batch means ({got:.4f}); the last batch is smaller, so "
    "weight each batch by its size: total += loss.item() * len(targets), then total / samples ({expected:.4f}).":
        "权重正确，但你返回的是各批量均值的平均（{got:.4f}）；最后一个批量更小，所以要按批量大小加权：total += loss.it"
        "em() * len(targets)，最后 total / 样本数（{expected:.4f}）。",
    "The weights are right, but the returned loss is {got:.4f}, expected the mean training loss over the epoch's "
    "samples, {expected:.4f}.":
        "权重正确，但返回的损失是 {got:.4f}，应当是这一轮所有样本的平均训练损失 {expected:.4f}。",
    "The weights and the loss are right, but the {what} never went through .to(device): on a GPU the model and the "
    "batch would be on different devices (\"Expected all tensors to be on the same device\"). Move each batch: "
    "inputs, targets = inputs.to(device), targets.to(device).":
        "权重和损失都正确，但{what}从来没有经过 .to(device)：在 GPU 上，模型和批量会在不同的设备上（\"Expected all ten"
        "sors to be on the same device\"）。请移动每个批量：inputs, targets = inputs.to(device), targets.to(device)。",
    "inputs": "输入",
    "targets": "目标",
    "inputs and the targets": "输入和目标",
    "Correct: the same weights and the same mean loss ({loss:.4f}) as course_utils.training.train_one_epoch after one "
    "epoch of {batches} batches.":
        "正确：一轮 {batches} 个批量之后，权重和平均损失（{loss:.4f}）都与 course_utils.training.train_one_epoch 相同"
        "。",
}

_SAMPLES, _BATCH = 50, 16  # 3 full batches and a last one of 2: the mean must weight it


class _Batch(torch.Tensor):
    """A batch tensor that records a ``.to(...)`` call on it (in :attr:`moved`, by role);
    every operation on it returns a plain tensor."""

    moved: set = set()

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func is torch.Tensor.to and isinstance(args[0], _Batch):
            cls.moved.add(getattr(args[0], "role", None))
        with torch._C.DisableTorchFunctionSubclass():
            return func(*args, **(kwargs or {}))


def _collate(samples):
    inputs, targets = default_collate(samples)
    inputs, targets = inputs.as_subclass(_Batch), targets.as_subclass(_Batch)
    inputs.role, targets.role = "inputs", "targets"
    return inputs, targets


def _setup():
    """A fresh (model, loader, loss_fn, optimizer): the same at every call. The model has
    dropout and is in eval mode, so a loop that forgets ``model.train()`` trains another net."""
    g = torch.Generator().manual_seed(0)
    inputs, targets = torch.randn(_SAMPLES, 8, generator=g), torch.randint(0, 3, (_SAMPLES,), generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3)).eval()
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=_BATCH, shuffle=True,
                        generator=torch.Generator().manual_seed(0), collate_fn=_collate)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    return model, loader, nn.CrossEntropyLoss(), optimizer


def _run_loop(loop: Callable):
    """Run ``loop(model, loader, loss_fn, optimizer, device)`` on a fresh setup, seeded."""
    model, loader, loss_fn, optimizer = _setup()
    start = copy.deepcopy(model.state_dict())
    _Batch.moved = set()
    torch.manual_seed(1)  # dropout's masks: the same for every loop that calls model.train()
    result = loop(model, loader, loss_fn, optimizer, torch.device("cpu"))
    return model, start, result


def _mistaken(zero_grad: bool = True, train: bool = True) -> Callable:
    """The reference loop with one mistake; returns the per-batch (mean loss, size) pairs."""
    def loop(model, loader, loss_fn, optimizer, device):
        if train:
            model.train()
        batches = []
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            if zero_grad:
                optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            batches.append((loss.item(), len(targets)))
        return batches
    return loop


def _largest_difference(a: nn.Module, b: nn.Module) -> float:
    return max((x.double() - y.double()).abs().max().item()
               for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def _same_state(a: dict, b: dict) -> bool:
    return all(torch.allclose(x.double(), y.double(), rtol=1e-5, atol=1e-6) for x, y in zip(a.values(), b.values()))


def check_train_one_epoch(my_train_one_epoch: Callable) -> Verdict:
    """``my_train_one_epoch(model, loader, loss_fn, optimizer, device) -> mean loss`` against
    :func:`course_utils.training.train_one_epoch`: the weights after one epoch, then the loss."""
    def message(template: str, **values) -> str:
        return i18n.message(MESSAGES, template, **values)

    def checker() -> str:
        try:
            model, start, got = _run_loop(my_train_one_epoch)
            moved = set(_Batch.moved)
        except NotImplementedError:
            raise
        except Exception as exc:  # the learner's bug: a verdict, never a crash of the cell
            raise _Mismatch(message("Your function raised {error}.", error=f"{type(exc).__name__}: {exc}")) from None
        reference, _, stats = _run_loop(
            lambda m, loader, loss_fn, opt, device: train_one_epoch(m, loader, loss_fn, opt, device, progress=False))
        if not _same_state(model.state_dict(), reference.state_dict()):
            if _same_state(model.state_dict(), start):
                raise _Mismatch(message("The weights did not change during the epoch: optimizer.step() must come "
                                        "after loss.backward(), and optimizer.zero_grad() before backward() (not "
                                        "between backward() and step())."))
            for mistake, verdict in (
                    (_mistaken(zero_grad=False),
                     message("Your weights are those of a loop without optimizer.zero_grad(): backward() adds into "
                             ".grad, so each step followed the sum of all earlier gradients. Call it once per batch, "
                             "before loss.backward().")),
                    (_mistaken(train=False),
                     message("Your weights are those of a loop that never calls model.train(): the model came in eval "
                             "mode, so its dropout stayed off. Call model.train() before the loop."))):
                if _same_state(model.state_dict(), _run_loop(mistake)[0].state_dict()):
                    raise _Mismatch(verdict)
            raise _Mismatch(message("After one epoch your weights differ from train_one_epoch's (largest difference "
                                    "{diff:.3g}). Check the order, once per batch: zero_grad -> forward -> loss -> "
                                    "backward -> step, with loss_fn(model(inputs), targets).",
                                    diff=_largest_difference(model, reference)))
        if torch.is_tensor(got) and got.requires_grad:
            raise _Mismatch(message("The weights are right, but you returned a tensor that still holds its graph: "
                                    "accumulate loss.item() (a float), or the memory of every batch's graph is kept."))
        if torch.is_tensor(got) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            raise _Mismatch(message("The weights are right, but you returned {got}; return the mean training loss, a "
                                    "number.", got=type(got).__name__))
        expected = stats["loss"]
        if not math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-6):
            batches = _run_loop(_mistaken())[2]
            summed = sum(loss for loss, _ in batches)
            unweighted = summed / len(batches)
            for wrong, verdict in (
                    (summed, message("The weights are right, but you returned the sum of the batch losses ({got:.4f}); "
                                     "the epoch's loss is their mean over samples ({expected:.4f}): divide by the "
                                     "number of samples seen.", got=got, expected=expected)),
                    (unweighted, message("The weights are right, but you returned the mean of the batch means "
                                         "({got:.4f}); the last batch is smaller, so weight each batch by its size: "
                                         "total += loss.item() * len(targets), then total / samples ({expected:.4f}).",
                                         got=got, expected=expected))):
                if math.isclose(got, wrong, rel_tol=1e-5, abs_tol=1e-6):
                    raise _Mismatch(verdict)
            raise _Mismatch(message("The weights are right, but the returned loss is {got:.4f}, expected the mean "
                                    "training loss over the epoch's samples, {expected:.4f}.",
                                    got=got, expected=expected))
        missing = [role for role in ("inputs", "targets") if role not in moved]
        if missing:
            raise _Mismatch(message("The weights and the loss are right, but the {what} never went through "
                                    ".to(device): on a GPU the model and the batch would be on different devices "
                                    "(\"Expected all tensors to be on the same device\"). Move each batch: "
                                    "inputs, targets = inputs.to(device), targets.to(device).",
                                    what=message("inputs" if missing == ["inputs"] else "targets"
                                                 if missing == ["targets"] else "inputs and the targets")))
        return message("Correct: the same weights and the same mean loss ({loss:.4f}) as "
                       "course_utils.training.train_one_epoch after one epoch of {batches} batches.",
                       loss=expected, batches=math.ceil(_SAMPLES / _BATCH))

    def seeded() -> str:
        with torch.random.fork_rng(devices=[]):  # the checker seeds; the notebook's RNG is left as it was
            return checker()

    return _run(seeded)
