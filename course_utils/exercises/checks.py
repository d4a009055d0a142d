"""Implement-it exercises: the learner writes a function, a checker compares it with PyTorch.

Each ``check_*`` function takes the learner's function, runs it on seeded random inputs next to
PyTorch's own version, and returns a :class:`~course_utils.exercises.Verdict` that says what
differs first: "not implemented yet" (the shipped stub raises ``NotImplementedError``), an
error, a shape, a value, or a gradient. Nothing is printed and the learner's inputs are copies.

    def my_log_softmax(logits):           # in the notebook
        raise NotImplementedError
    print(check_log_softmax(my_log_softmax))
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from course_utils.exercises import MESSAGES, Verdict
from course_utils.i18n import message, translate

__all__ = ["check_log_softmax", "check_conv2d_parameters", "check_sgd_momentum", "check_kaiming_std",
           "check_freeze", "check_lora_forward"]

class _Mismatch(Exception):
    """Raised inside a checker with the message for the learner."""


def _call(fn: Callable, case: str, *args: Any) -> Any:
    try:
        return fn(*args)
    except NotImplementedError:
        raise
    except Exception as exc:  # the learner's bug: report it as a verdict, never crash the cell
        raise _Mismatch(message(MESSAGES, "Your function raised {error} on {case}.",
                                error=f"{type(exc).__name__}: {exc}", case=case)) from exc


def _same(got: Any, expected: torch.Tensor, case: str, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """Shape, finiteness, then values of ``got`` against ``expected``."""
    if not torch.is_tensor(got):
        raise _Mismatch(message(MESSAGES, "On {case} it returned {got}, expected {expected}.", case=case,
                                got=type(got).__name__, expected=translate(MESSAGES, "a tensor")))
    if got.shape != expected.shape:
        raise _Mismatch(message(MESSAGES, "Wrong shape on {case}: got {got}, expected {expected}.",
                                case=case, got=tuple(got.shape), expected=tuple(expected.shape)))
    bad = ~torch.isfinite(got) & torch.isfinite(expected)
    if bad.any():
        where = message(MESSAGES, "first at index {index}", index=tuple(bad.nonzero()[0].tolist()))
        raise _Mismatch(message(MESSAGES, "Not finite on {case} (inf or nan): {where}.", case=case, where=where))
    diff = (got.detach().double() - expected.detach().double()).abs()
    if not torch.allclose(got.detach().double(), expected.detach().double(), atol=atol, rtol=rtol):
        where = message(MESSAGES, "at index {index}", index=tuple(torch.nonzero(diff == diff.max())[0].tolist()))
        raise _Mismatch(message(MESSAGES, "Wrong values on {case}: largest difference {diff:.3g} from PyTorch "
                                          "({where}).", case=case, diff=diff.max().item(), where=where))


def _gradient_differs(case: str, diff: float) -> str:
    return message(MESSAGES, "The values match, but the gradient does not on {case}: largest difference {diff:.3g}. "
                             "Did you use .item(), .detach(), numpy or an in-place operation?", case=case, diff=diff)


def _correct(reference: str, n: int, extra: str = "") -> str:
    return message(MESSAGES, "Correct: equal to {reference} on {n} cases{extra}.", reference=reference, n=n,
                   extra=extra)


def _run(checker: Callable[[], str]) -> Verdict:
    try:
        return Verdict(True, checker())
    except NotImplementedError:
        return Verdict(False, translate(MESSAGES, "Not implemented yet: replace `raise NotImplementedError` with your "
                                                  "code, then run this cell again."), waiting=True)
    except _Mismatch as mismatch:
        return Verdict(False, str(mismatch))


def check_log_softmax(log_softmax: Callable[[torch.Tensor], torch.Tensor]) -> Verdict:
    """``log_softmax(logits)`` over the last dimension, against ``torch.log_softmax``:
    values on random, huge ([1000, 1001, 1002]) and very negative logits, then the gradient."""
    g = torch.Generator().manual_seed(0)
    cases = {translate(MESSAGES, "random logits of shape (4, 5)"): torch.randn(4, 5, generator=g) * 3,
             translate(MESSAGES, "a batch of shape (2, 3, 7)"): torch.randn(2, 3, 7, generator=g),
             "logits [[1000, 1001, 1002]]": torch.tensor([[1000.0, 1001.0, 1002.0]]),
             "logits [[-1000, -1001, -1002]]": torch.tensor([[-1000.0, -1001.0, -1002.0]])}

    def checker() -> str:
        for case, logits in cases.items():
            _same(_call(log_softmax, case, logits.clone()), torch.log_softmax(logits, dim=-1), case)
        for case, logits in cases.items():
            ours, theirs = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
            weights = torch.randn(logits.shape, generator=g)  # a generic downstream loss
            out = _call(log_softmax, case, ours)
            if not out.requires_grad:
                raise _Mismatch(_gradient_differs(case, math.inf))
            (out * weights).sum().backward()
            (torch.log_softmax(theirs, dim=-1) * weights).sum().backward()
            diff = (ours.grad - theirs.grad).abs().max().item()
            if not diff <= 1e-5:
                raise _Mismatch(_gradient_differs(case, diff))
        return _correct(reference="torch.log_softmax", n=len(cases), extra=translate(MESSAGES, ", gradients too"))

    return _run(checker)


def check_conv2d_parameters(count: Callable[..., int]) -> Verdict:
    """``count(c_in, c_out, k, groups, bias)``: the trainable parameters of
    ``nn.Conv2d(c_in, c_out, k, groups=groups, bias=bias)``, against PyTorch's ``numel()``."""
    cases = ((3, 16, 5, 1, True), (48, 96, 1, 1, False), (64, 64, 3, 4, True), (32, 32, 3, 32, True),
             (12, 24, 7, 3, False))

    def checker() -> str:
        for c_in, c_out, k, groups, bias in cases:
            case = f"Conv2d({c_in}, {c_out}, {k}, groups={groups}, bias={bias})"
            got = _call(count, case, c_in, c_out, k, groups, bias)
            with torch.device("meta"):  # shapes only: nothing allocated
                expected = sum(p.numel() for p in nn.Conv2d(c_in, c_out, k, groups=groups, bias=bias).parameters())
            if got != expected:
                raise _Mismatch(message(MESSAGES, "Wrong count for {case}: got {got!r}, expected {expected:,} "
                                                  "(PyTorch's numel()).", case=case, got=got, expected=expected))
        return _correct(reference=translate(MESSAGES, "PyTorch's numel()"), n=len(cases), extra="")

    return _run(checker)


def check_sgd_momentum(step: Callable) -> Verdict:
    """``step(param, grad, buf, lr, momentum) -> (new_param, new_buf)``, ``buf`` None at the
    first step, against ``torch.optim.SGD(momentum=...)`` for 6 steps with changing gradients."""
    g = torch.Generator().manual_seed(0)
    lr, momentum = 0.1, 0.9
    start = torch.randn(3, 4, generator=g)
    grads = [torch.randn(3, 4, generator=g) for _ in range(6)]

    def checker() -> str:
        reference = start.clone().requires_grad_(True)
        optimizer = torch.optim.SGD([reference], lr=lr, momentum=momentum)
        param, buf = start.clone(), None
        for i, grad in enumerate(grads, start=1):
            case = message(MESSAGES, "step {i} (lr={lr}, momentum={momentum})", i=i, lr=lr, momentum=momentum)
            out = _call(step, case, param.clone(), grad.clone(), None if buf is None else buf.clone(),
                        lr, momentum)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise _Mismatch(message(MESSAGES, "On {case} it returned {got}, expected {expected}.",
                                                  case=case, got=type(out).__name__,
                                                        expected=translate(MESSAGES, "a pair (new_param, new_buf)")))
            reference.grad = grad.clone()
            optimizer.step()
            expected_buf = optimizer.state[reference]["momentum_buffer"]
            _same(out[1], expected_buf, case + translate(MESSAGES, ", the buffer (at step 1 it is the gradient)"
                                                         if i == 1 else ", the buffer"))
            _same(out[0], reference.detach(), case + translate(MESSAGES, ", the parameter"))
            param, buf = out[0].detach(), out[1].detach()
        return _correct(reference="torch.optim.SGD", n=len(grads), extra=translate(MESSAGES, " (steps)"))

    return _run(checker)


def check_kaiming_std(kaiming_std: Callable[[int], float]) -> Verdict:
    """``kaiming_std(fan_in)``: the std of Kaiming-normal init for ReLU layers, against
    ``torch.nn.init.kaiming_normal_(mode="fan_in", nonlinearity="relu")``'s formula."""
    fan_ins = (1, 9, 64, 576, 4608)

    def checker() -> str:
        for fan_in in fan_ins:
            case = f"fan_in={fan_in}"
            got = _call(kaiming_std, case, fan_in)
            if torch.is_tensor(got) and got.numel() == 1:
                got = got.item()
            if not isinstance(got, (int, float)) or isinstance(got, bool):
                raise _Mismatch(message(MESSAGES, "On {case} it returned {got}, expected {expected}.",
                                                  case=case, got=type(got).__name__,
                                                  expected=translate(MESSAGES, "a number")))
            expected = nn.init.calculate_gain("relu") / math.sqrt(fan_in)
            _same(torch.tensor(float(got)), torch.tensor(expected), case, atol=0, rtol=1e-6)
        return _correct(reference=translate(MESSAGES, "kaiming_normal_'s std"), n=len(fan_ins), extra="")

    return _run(checker)


def check_freeze(freeze: Callable[[nn.Module], Any]) -> Verdict:
    """``freeze(model)`` must stop all training of ``model``: no parameter requires a gradient,
    and, even after ``model.train()`` (which every training loop calls), BatchNorm neither
    updates its running statistics nor normalises with the batch's own statistics."""

    def checker() -> str:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                              nn.Linear(4 * 6 * 6, 3), nn.BatchNorm1d(3))
        model.train()(torch.randn(8, 3, 8, 8))  # running statistics away from their defaults
        reference = copy.deepcopy(model).eval()
        x = torch.randn(5, 3, 8, 8)
        case = "Sequential(Conv2d, BatchNorm2d, ReLU, Flatten, Linear, BatchNorm1d)"
        _call(freeze, case, model)
        trainable = [name for name, p in model.named_parameters() if p.requires_grad]
        if trainable:
            raise _Mismatch(message(MESSAGES, "After freeze, {n} parameters still require a gradient, e.g. {name!r}: "
                                              "use requires_grad_(False).", n=len(trainable), name=trainable[0]))
        model.train()
        with torch.no_grad():
            out = model(x)
        for (name, buf), ref in zip(model.named_buffers(), reference.buffers()):
            if buf.is_floating_point() and not torch.equal(buf, ref):  # running mean and var
                raise _Mismatch(message(MESSAGES, "After freeze and model.train(), a forward pass changed the "
                                                  "BatchNorm buffer {name!r}: train() mode updates the statistics, "
                                                  "and a later model.train() undoes bn.eval(); make BatchNorm ignore "
                                                  "train() (override its train method, or replace the layer).",
                                                  name=name))
        _same(out, reference(x).detach(), case + translate(MESSAGES, " in train() mode (expected the eval() outputs: "
                                                                     "frozen BatchNorm normalises with its running "
                                                                     "statistics)"))
        return _correct(reference=translate(MESSAGES, "a fully frozen model"), n=1,
                        extra=translate(MESSAGES, ": no gradients, BatchNorm statistics fixed even in train()"))

    return _run(checker)


def check_lora_forward(forward: Callable) -> Verdict:
    """``forward(layer, x)`` of a LoRA layer with attributes ``base`` (an ``nn.Linear``),
    ``lora_A`` (r, in), ``lora_B`` (out, r) and ``scale``: ``base(x) + scale · x Aᵀ Bᵀ``,
    against that formula computed with ``torch.nn.functional.linear``, values and gradients."""
    g = torch.Generator().manual_seed(0)

    def layer(r: int, n_in: int, n_out: int, bias: bool) -> nn.Module:
        lora = nn.Module()
        lora.base = nn.Linear(n_in, n_out, bias=bias).requires_grad_(False)
        lora.lora_A = nn.Parameter(torch.randn(r, n_in, generator=g) * 0.1)
        lora.lora_B = nn.Parameter(torch.randn(n_out, r, generator=g) * 0.1)  # non-zero: testable
        lora.scale = 16 / r
        return lora

    cases = {translate(MESSAGES, "Linear(6, 5), r=2, x of shape (4, 6)"):
                 (layer(2, 6, 5, True), torch.randn(4, 6, generator=g)),
             translate(MESSAGES, "Linear(8, 3, bias=False), r=4, x of shape (2, 7, 8)"):
                 (layer(4, 8, 3, False), torch.randn(2, 7, 8, generator=g))}

    def checker() -> str:
        for case, (lora, x) in cases.items():
            expected = (nn.functional.linear(x, lora.base.weight, lora.base.bias)
                        + lora.scale * nn.functional.linear(nn.functional.linear(x, lora.lora_A), lora.lora_B))
            out = _call(forward, case, lora, x.clone())
            _same(out, expected, case)
            grads = torch.autograd.grad(expected.sum(), (lora.lora_A, lora.lora_B))
            if not out.requires_grad:
                raise _Mismatch(_gradient_differs(case, math.inf))
            mine = torch.autograd.grad(out.sum(), (lora.lora_A, lora.lora_B), allow_unused=True)
            for ours, theirs in zip(mine, grads):
                diff = math.inf if ours is None else (ours - theirs).abs().max().item()
                if not diff <= 1e-5:
                    raise _Mismatch(_gradient_differs(case, diff))
        return _correct(reference="base(x) + scale · x Aᵀ Bᵀ", n=len(cases),
                        extra=translate(MESSAGES, ", gradients of A and B too"))

    return _run(checker)
