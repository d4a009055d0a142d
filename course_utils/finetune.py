"""Fine-tuning, the lesson's part: which layers train, at which learning rates, and cached features.

    model = load_resnet50(num_classes=10, weights="auto")    # course_utils.experiments.weights
    freeze(model, STRATEGIES["last-stage"])                  # everything else frozen, BatchNorm included
    optimizer = make_optimizer(model, lr=0.01)               # trainable parameters only

Imports only torch. Loading weights lives in :mod:`course_utils.experiments.weights`; the command line in
``python -m course_utils finetune`` (:mod:`course_utils.cli.commands`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

__all__ = ["STRATEGIES", "freeze", "param_groups", "make_optimizer", "extract_features", "strategy_lrs"]

#: strategy name -> submodules left trainable (None: all of them); see :func:`freeze`.
STRATEGIES: dict[str, list[str] | None] = {
    "scratch": None, "linear-probe": ["fc"], "last-stage": ["layer4", "fc"],
    "full": None, "full-discriminative": None,
}


def _check_rate(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0:
        typical = "; a typical fine-tuning learning rate is 1e-3 to 1e-1" if name.startswith("lr") else ""
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}{typical}")
    return float(value)


# ----------------------------------------------------------------------------- freezing
class _FrozenStats:
    """Mixin: a BatchNorm that always normalises with its running statistics, never updates them.

    ``model.train()`` reaches every submodule through ``train(mode)``; this one refuses the mode.
    """

    def train(self, mode: bool = True):
        return super().train(False)


class FrozenBatchNorm1d(_FrozenStats, nn.BatchNorm1d):
    pass


class FrozenBatchNorm2d(_FrozenStats, nn.BatchNorm2d):
    pass


class FrozenBatchNorm3d(_FrozenStats, nn.BatchNorm3d):
    pass


_FROZEN = {nn.BatchNorm1d: FrozenBatchNorm1d, nn.BatchNorm2d: FrozenBatchNorm2d,
           nn.BatchNorm3d: FrozenBatchNorm3d}
_UNFROZEN = {v: k for k, v in _FROZEN.items()}


def freeze(model: nn.Module, trainable: Sequence[str] | None) -> nn.Module:
    """Freeze every parameter except those of the submodules named in ``trainable``.

    Names are those of ``model.named_modules()`` (``"fc"``, ``"layer4"``, ``"layer4.2"``);
    ``None`` makes everything trainable again. BatchNorm layers outside ``trainable`` become
    frozen: they normalise with their running statistics even after ``model.train()`` (plain
    ``requires_grad_(False)`` leaves those statistics moving). Calling again re-freezes from scratch.
    """
    if isinstance(trainable, str):
        raise TypeError(f"trainable must be a list of names, e.g. [{trainable!r}], not a string")
    modules = dict(model.named_modules())
    unknown = [n for n in (trainable or []) if n not in modules or n == ""]
    if unknown:
        valid = ", ".join(n for n, _ in model.named_children())
        raise ValueError(f"unknown submodule name(s) {unknown}; valid top-level names: {valid} "
                         "(or dotted paths such as 'layer4.2')")
    for m in model.modules():  # undo an earlier freeze() first
        if type(m) in _UNFROZEN:
            m.__class__ = _UNFROZEN[type(m)]
            m.training = model.training
    if trainable is None:
        return model.requires_grad_(True)
    model.requires_grad_(False)
    keep = {id(m) for name in trainable for m in modules[name].modules()}
    for name in trainable:
        modules[name].requires_grad_(True)
    for m in model.modules():
        if type(m) in _FROZEN and id(m) not in keep:
            m.__class__ = _FROZEN[type(m)]
            m.training = False
    return model


# ----------------------------------------------------------------------------- optimizers
def param_groups(model: nn.Module, lrs: Mapping[str, float]) -> list[dict]:
    """Parameter groups for discriminative learning rates, trainable parameters only.

    ``lrs`` maps submodule names to learning rates, e.g. ``{"fc": 1e-2, "layer4": 3e-3,
    "*": 1e-3}``; the longest matching name wins and ``"*"`` takes every other parameter.
    Each group is ``{"name", "params", "lr"}``, ready for any ``torch.optim`` optimizer.
    """
    modules = dict(model.named_modules())
    unknown = [n for n in lrs if n != "*" and (n not in modules or n == "")]
    if unknown:
        valid = ", ".join(n for n, _ in model.named_children())
        raise ValueError(f"unknown submodule name(s) {unknown} in lrs; valid: {valid}, or '*'")
    groups: dict[str, list[nn.Parameter]] = {name: [] for name in lrs}
    orphans = []
    for pname, p in model.named_parameters():
        if not p.requires_grad:
            continue
        owners = [n for n in lrs if n != "*" and (pname == n or pname.startswith(n + "."))]
        owner = max(owners, key=len) if owners else ("*" if "*" in lrs else None)
        if owner is None:
            orphans.append(pname)
        else:
            groups[owner].append(p)
    if orphans:
        raise ValueError(f"no learning rate for trainable parameters {orphans[:3]}... "
                         f"({len(orphans)} in all); add their submodule to lrs, or '*'")
    return [{"name": n, "params": ps, "lr": _check_rate(f"lrs[{n!r}]", lrs[n])}
            for n, ps in groups.items() if ps]


def make_optimizer(model: nn.Module, *, lr: float, momentum: float = 0.9,
                   weight_decay: float = 0.0, lrs: Mapping[str, float] | None = None
                   ) -> torch.optim.SGD:
    """SGD over the trainable parameters only (frozen ones get no momentum buffer, no decay).

    With ``lrs`` (see :func:`param_groups`) each group gets its own learning rate.
    """
    lr, momentum = _check_rate("lr", lr), _check_rate("momentum", momentum)
    weight_decay = _check_rate("weight_decay", weight_decay)
    if lrs is not None:
        params: Iterable = param_groups(model, lrs)
    else:
        params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters: freeze(model, [...]) named none")
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


# ----------------------------------------------------------------------------- feature caching
def backbone_of(model: nn.Module) -> nn.Module:
    """The torchvision ResNet without its head: images (B, 3, H, W) -> features (B, 2048)
    for ResNet-50 (512 for ResNet-18/34).

    Shares its modules (and weights) with ``model``; nothing is copied.
    """
    if not hasattr(model, "fc"):
        raise ValueError("backbone_of expects a torchvision ResNet (a model with an 'fc' head)")
    return nn.Sequential(*[m for n, m in model.named_children() if n != "fc"], nn.Flatten(1))


@torch.inference_mode()
def extract_features(model: nn.Module, loader: DataLoader,
                     device: torch.device | str | None = None) -> TensorDataset:
    """Run the (frozen) backbone once over ``loader``: a TensorDataset of (features, targets).

    Features are (N, 2048) float32 on the CPU (512 wide for ResNet-18/34), in the loader's order. Only valid when the
    backbone is frozen (no augmentation, BatchNorm frozen): then they never change.
    """
    if any(p.requires_grad for n, p in model.named_parameters() if not n.startswith("fc.")):
        raise ValueError("the backbone has trainable parameters: cached features would go stale; "
                         "freeze(model, ['fc']) first")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    backbone = backbone_of(model).eval()  # eval: no BatchNorm statistics may move here
    feats, targets = [], []
    try:
        for images, y in loader:
            feats.append(backbone(images.to(device)).float().cpu())  # (B, 2048) for ResNet-50
            targets.append(torch.as_tensor(y))
    finally:
        model.train(was_training)
    return TensorDataset(torch.cat(feats), torch.cat(targets))


# ----------------------------------------------------------------------------- strategies
def strategy_lrs(strategy: str, lr: float) -> dict[str, float] | None:
    """Per-submodule learning rates for ``strategy`` from a base (head) ``lr``; None: one lr."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    if strategy != "full-discriminative":
        return None
    # the head starts from random numbers and must move far; early layers are generic: move little
    return {"fc": lr, "layer4": lr / 3, "layer3": lr / 10, "*": lr / 30}
