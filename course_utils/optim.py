"""Stochastic gradient descent, written out: the update rule of ``torch.optim.SGD``.

For each parameter theta with gradient g (lesson ``03_sgd_and_the_training_loop``):

    g     <- g + weight_decay * theta                  (L2 penalty, folded into the gradient)
    b     <- g                           at the first step
    b     <- momentum * b + (1 - dampening) * g        afterwards (the "velocity")
    g     <- g + momentum * b   if nesterov  else  b   (look ahead, or follow the velocity)
    theta <- theta - lr * g

It subclasses ``torch.optim.Optimizer`` only for the bookkeeping (parameter groups,
``state_dict``, learning-rate schedulers); the arithmetic is all in :meth:`SGD.step`.
The state is stored under PyTorch's key ``"momentum_buffer"``, so the two are interchangeable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

__all__ = ["SGD", "AdamW"]


class SGD(torch.optim.Optimizer):
    """``SGD(params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)``.

    ``params``: an iterable of tensors, or of dicts (parameter groups with their own options).
    """

    def __init__(self, params: Iterable, lr: float, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        _check_options(lr, momentum, dampening, weight_decay, nesterov)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(_check_params(params, type(self).__name__), defaults)

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]  # check a group's own options too
        _check_options(group["lr"], group["momentum"], group["dampening"],
                       group["weight_decay"], group["nesterov"])

    @torch.no_grad()  # the update itself is not part of any graph
    def step(self, closure: Callable[[], torch.Tensor] | None = None):
        """Update every parameter that has a gradient; return ``closure()`` if given."""
        loss = _with_grad(closure)
        for group in self.param_groups:
            lr, mu, tau = group["lr"], group["momentum"], group["dampening"]
            decay, nesterov = group["weight_decay"], group["nesterov"]
            for p in group["params"]:
                if p.grad is None:  # unused in this forward pass: leave it (and its state) alone
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("this SGD supports dense gradients only; use "
                                       "torch.optim.SGD for sparse embeddings")
                g = p.grad
                if decay != 0:
                    g = g.add(p, alpha=decay)  # a new tensor: p.grad itself is left unchanged
                if mu != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = g.clone()  # first step: the velocity starts at the gradient
                        state["momentum_buffer"] = buf
                    else:
                        buf.mul_(mu).add_(g, alpha=1 - tau)
                    g = g.add(buf, alpha=mu) if nesterov else buf
                p.add_(g, alpha=-lr)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of the last backward pass (they would otherwise accumulate)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None  # frees the memory; the next backward() allocates afresh
                else:
                    p.grad.detach_().zero_()


def _check_params(params, optimizer: str) -> list:
    """The parameters as a list, or a clear error for a model, a tensor or nothing at all."""
    if isinstance(params, torch.nn.Module):
        raise TypeError(f"{optimizer} got a model ({type(params).__name__}); pass its "
                        f"parameters: {optimizer}(model.parameters(), lr=...)")
    if isinstance(params, torch.Tensor):
        raise TypeError(f"{optimizer} got a single tensor; pass a list of them: "
                        f"{optimizer}([tensor], lr=...)")
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"{optimizer} needs an iterable of tensors (model.parameters()) or of "
                        f"dicts (parameter groups), got {type(params).__name__}") from None
    if not params:
        raise ValueError(f"{optimizer} got an empty parameter list: pass model.parameters() "
                         f"(a generator can be used once only: was it consumed already?)")
    return params


def _check_number(name: str, value) -> None:
    """An optimizer option must be a finite number >= 0 (a tensor lr is read as its value)."""
    if isinstance(value, torch.Tensor) and name == "lr":
        value = value.item()
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}"
                         + (" (a negative lr climbs the loss)" if name == "lr" else ""))


def _check_options(lr, momentum, dampening, weight_decay, nesterov) -> None:
    for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay),
                        ("dampening", dampening)):
        _check_number(name, value)
    if not 0 <= dampening <= 1:
        raise ValueError(f"dampening must be in [0, 1], got {dampening!r}")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("nesterov=True needs momentum > 0 and dampening=0 (Nesterov looks "
                         "ahead along the momentum), e.g. SGD(params, lr, momentum=0.9, "
                         "nesterov=True)")


class AdamW(torch.optim.Optimizer):
    """``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)``, the update of
    ``torch.optim.AdamW`` (Loshchilov & Hutter, "Decoupled Weight Decay Regularization"):

        theta <- theta - lr * weight_decay * theta           (decay, decoupled from the gradient)
        m     <- beta1 * m + (1 - beta1) * g                 (mean of the gradients)
        v     <- beta2 * v + (1 - beta2) * g**2              (mean of their squares)
        theta <- theta - lr * m_hat / (sqrt(v_hat) + eps)    m_hat = m / (1 - beta1**t),
                                                             v_hat = v / (1 - beta2**t)

    Each parameter's step is divided by its own recent gradient size, so it is about ``lr``
    whatever the gradient's scale. State under PyTorch's keys ``step``, ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:
        _check_adamw(lr, betas, eps, weight_decay)
        super().__init__(_check_params(params, type(self).__name__),
                         dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]  # a group's own options are checked too
        _check_adamw(group["lr"], group["betas"], group["eps"], group["weight_decay"])

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None):
        """Update every parameter that has a gradient; return ``closure()`` if given."""
        loss = _with_grad(closure)
        for group in self.param_groups:
            lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:  # first step: both averages start at zero
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t, m, v, g = state["step"].item(), state["exp_avg"], state["exp_avg_sq"], p.grad
                p.mul_(1 - lr * decay)
                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                # m_hat / (sqrt(v_hat) + eps), written as PyTorch orders it (same rounding)
                denom = (v.sqrt() / (1 - beta2 ** t) ** 0.5).add_(eps)
                p.addcdiv_(m, denom, value=-lr / (1 - beta1 ** t))
        return loss


def _check_adamw(lr, betas, eps, weight_decay) -> None:
    for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
        _check_number(name, value)
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2
            and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
        raise ValueError(f"betas must be a pair of numbers in [0, 1), e.g. (0.9, 0.999), got {betas!r}")


def _with_grad(closure: Callable[[], torch.Tensor] | None):
    """``closure()`` with autograd on (inside ``step``'s no_grad), or None without a closure."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()
