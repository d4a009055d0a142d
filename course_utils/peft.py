"""LoRA, written from scratch: train a low-rank update next to a frozen Linear layer.

A frozen ``nn.Linear`` computes ``x W^T + b`` with ``W`` of shape (out, in). LoRA (Hu et al.,
2021) adds a trainable update of rank ``r``::

    y = x W^T + b + (alpha / r) * x A^T B^T,     A: (r, in),  B: (out, r)

``B`` starts at zero, so the layer computes exactly what the base layer computed until training
moves it, and only ``r * (in + out)`` values are trained instead of ``in * out``. After training
the update folds into the weight, ``W' = W + (alpha / r) B A`` (:meth:`LoRALinear.merge`): a
plain Linear layer, no extra cost at inference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

__all__ = ["LoRALinear", "apply_lora", "merge_lora"]


class LoRALinear(nn.Module):
    """A frozen ``base`` Linear layer plus a trainable rank-``r`` update scaled by ``alpha / r``.

    Input (*, in_features) -> output (*, out_features), like ``base``. ``alpha`` defaults to
    ``r`` (scale 1). The base layer's parameters are frozen (``requires_grad=False``).
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float | None = None) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        limit = min(base.in_features, base.out_features)
        if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= limit:
            raise ValueError(f"LoRA rank r must be an int with 1 <= r <= min(in_features, "
                             f"out_features) = {limit} for Linear({base.in_features}, "
                             f"{base.out_features}), got r={r!r}")
        if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float))):
            raise TypeError(f"alpha must be a positive number, got {type(alpha).__name__} "
                            f"{alpha!r}")
        alpha = float(r if alpha is None else alpha)
        if not math.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"alpha must be a positive number, got {alpha!r}")
        self.base = base.requires_grad_(False)
        self.r, self.alpha, self.scale = r, alpha, alpha / r
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, **factory))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, **factory))
        # A like a Linear layer's weight (random), B zero: the update B A starts at exactly 0
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (*, in) -> (*, r) -> (*, out): never forms the (out, in) matrix B A
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scale

    def delta_weight(self) -> torch.Tensor:
        """The update ``(alpha / r) B A``, shape (out_features, in_features)."""
        return (self.lora_B @ self.lora_A) * self.scale

    @torch.no_grad()
    def merge(self) -> nn.Linear:
        """A new plain ``nn.Linear`` with weight ``W + (alpha / r) B A`` (same outputs)."""
        base = self.base
        merged = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None,
                           device=base.weight.device, dtype=base.weight.dtype)
        merged.weight.copy_(base.weight + self.delta_weight())
        if base.bias is not None:
            merged.bias.copy_(base.bias)
        return merged.requires_grad_(base.weight.requires_grad)

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha:g}"


def _check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    return model


def _select(model: nn.Module, targets: Iterable[str] | Callable[[str, nn.Module], bool]):
    if targets is None or not (callable(targets) or isinstance(targets, (str, Iterable))):
        raise TypeError("targets must be layer names (e.g. ['q', 'v']) or a function (name, "
                        f"module) -> bool, got {type(targets).__name__}")
    wrapped = [name for name, m in model.named_modules() if isinstance(m, LoRALinear)]
    linears = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    if callable(targets):
        return [name for name, m in linears.items() if targets(name, m)]
    targets = [targets] if isinstance(targets, str) else list(targets)
    chosen = [name for name in linears
              if any(name == t or name.endswith("." + t) for t in targets)]
    unmatched = [t for t in targets if not any(n == t or n.endswith("." + t) for n in chosen)]
    again = [t for t in unmatched if any(n == t or n.endswith("." + t) for n in wrapped)]
    if again:
        raise ValueError(f"{again} already hold a LoRALinear: apply_lora was called twice on "
                         f"this model; build the model again, or merge_lora(model) first")
    if unmatched:
        examples = ", ".join(list(linears)[:8]) or "none"
        raise ValueError(f"no nn.Linear layer named {unmatched} in {type(model).__name__}; "
                         f"Linear layers look like: {examples}")
    return chosen


def apply_lora(model: nn.Module, targets: Iterable[str] | Callable[[str, nn.Module], bool],
               r: int, alpha: float | None = None, train: Iterable[str] = ()) -> list[str]:
    """Freeze ``model`` and replace the chosen Linear layers by :class:`LoRALinear`, in place.

    ``targets``: names or name endings (``["q", "v"]`` matches ``blocks.0.q``, ``blocks.1.q``,
    ...), or a function ``(name, module) -> bool``. Parameters whose name starts with one of
    ``train`` (e.g. a new classification ``"head"``) stay trainable. Returns the wrapped names.
    """
    chosen = _select(_check_model(model), targets)
    if not chosen:
        raise ValueError("the targets selected no nn.Linear layer; print(model) to see the names")
    train = [train] if isinstance(train, str) else list(train)
    names = [name for name, _ in model.named_parameters()]
    unknown = [t for t in train if not any(n == t or n.startswith(t + ".") for n in names)]
    if unknown:
        raise ValueError(f"train={unknown} names no parameter of {type(model).__name__} (they "
                         f"would stay frozen); parameter names look like: "
                         f"{', '.join(names[:6])}")
    for name, p in model.named_parameters():
        p.requires_grad_(any(name == t or name.startswith(t + ".") for t in train))
    for name in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(getattr(parent, child), r=r, alpha=alpha))
    return chosen


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every :class:`LoRALinear` in ``model`` by its merged ``nn.Linear``, in place."""
    if isinstance(_check_model(model), LoRALinear):  # nothing to replace it in: return it merged
        return model.merge()
    for name, m in list(model.named_modules()):
        if isinstance(m, LoRALinear):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, m.merge())
    return model


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The LoRA A and B matrices of every :class:`LoRALinear` in ``model``."""
    return [p for m in _check_model(model).modules() if isinstance(m, LoRALinear)
            for p in (m.lora_A, m.lora_B)]
