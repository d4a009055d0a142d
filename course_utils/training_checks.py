"""Clear errors for the training loop: what is wrong with a setup, and how to fix it.

Each check runs once per call of ``train_one_epoch`` / ``evaluate`` / ``fit`` (not per batch),
or only after something already failed, so that the loop itself stays as fast as a bare one.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from course_utils.repro import device_missing

__all__ = ["NonFiniteLossError", "validate_setup", "resolve_device", "validate_loss", "explain_loss_error", "batches"]


class NonFiniteLossError(FloatingPointError):
    """The loss became nan or inf during training."""

    def __init__(self, value: float, step: int, epoch: int | None = None) -> None:
        self.value, self.step, self.epoch = value, step, epoch
        where = f"epoch {epoch}, step {step}" if epoch is not None else f"step {step}"
        super().__init__(
            f"the loss became {value} at {where} (step = batch of that epoch). The usual causes: "
            f"a learning rate too high (try 10x smaller), bad data (nan/inf in the inputs: "
            f"check torch.isfinite(inputs).all()), or the log of 0 (use cross_entropy or "
            f"log_softmax on logits, not log(softmax(...)))")


def resolve_device(model: nn.Module, device: Any) -> torch.device:
    """``device`` as a torch.device (the model's own when None), refusing one that is not here."""
    if device is None:
        first = next(model.parameters(), None)
        return first.device if first is not None else torch.device("cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a device; use 'cpu', 'cuda' or "
                         f"course_utils.repro.get_device()") from exc
    missing = device_missing(device)
    if missing:
        raise ValueError(f"device={str(device)!r}, but {missing}: pass device=get_device() "
                         "from course_utils.repro, or 'cpu'")
    return device


def validate_setup(model: nn.Module, loss_fn: Callable, optimizer: Any, scheduler: Any) -> None:
    """Refuse a setup that would fail obscurely or train nothing (``TypeError`` / ``ValueError``)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function of (logits, targets), e.g. "
                        f"nn.CrossEntropyLoss(); got {type(loss_fn).__name__}")
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise TypeError("ReduceLROnPlateau needs a metric (scheduler.step(val_loss)) once per "
                        "epoch, but fit steps the scheduler once per batch without one: call "
                        "fit(..., epochs=1) in a loop and step it yourself with the val_loss, or "
                        "use a per-batch scheduler (e.g. OneCycleLR)")
    if optimizer is not None:
        groups = getattr(optimizer, "param_groups", None)
        if not isinstance(groups, list) or not hasattr(optimizer, "step"):
            raise TypeError(f"optimizer must be a torch.optim optimizer, e.g. "
                            f"SGD(model.parameters(), lr=0.1); got {type(optimizer).__name__}")
        own = {id(p) for p in model.parameters()}
        if not any(id(p) in own for group in groups for p in group["params"]):
            raise ValueError("the optimizer updates none of this model's parameters (it was "
                             "built over another model, e.g. before the model was rebuilt): "
                             "make it again with SGD(model.parameters(), lr=...)")
        for i, group in enumerate(groups):
            lr = float(group.get("lr", 0.0))
            if not math.isfinite(lr) or lr < 0:
                raise ValueError(f"the optimizer's lr is {lr} (parameter group {i}): it must be "
                                 f"a finite number >= 0")


def validate_loss(loss: Any) -> None:
    """Refuse a loss that is not a scalar tensor (``ValueError``)."""
    if not torch.is_tensor(loss) or loss.dim() != 0:
        shape = tuple(loss.shape) if torch.is_tensor(loss) else type(loss).__name__
        raise ValueError(f"loss_fn must return a scalar tensor (reduction='mean'), got "
                         f"{'a tensor of shape ' + str(shape) if torch.is_tensor(loss) else shape}")


def explain_loss_error(exc: BaseException, logits: torch.Tensor, targets: torch.Tensor) -> None:
    """Raise a clear error when ``exc`` came from class indices that the logits cannot have."""
    if (not torch.is_tensor(logits) or not torch.is_tensor(targets) or logits.dim() < 1
            or logits.dim() != targets.dim() + 1):
        return
    if targets.is_floating_point():
        raise TypeError(f"the targets look like class indices (shape {tuple(targets.shape)} for "
                        f"logits {tuple(logits.shape)}) but are {targets.dtype}: class indices "
                        f"must be integers, e.g. TensorDataset(x, y.long())") from exc
    num_classes = logits.shape[1] if logits.dim() > 1 else logits.shape[0]
    bad = targets[((targets < 0) | (targets >= num_classes)) & (targets != -100)]
    if bad.numel():
        raise ValueError(f"the targets hold class index {sorted(set(bad.tolist()))[:5]} but the "
                         f"model outputs {num_classes} classes (valid: 0 to {num_classes - 1}): "
                         f"check the labels, or num_classes of the model's last layer") from exc


def batches(loader: Iterable, progress: bool | tqdm, desc: str):
    """Yield ``loader``'s ``(inputs, targets)`` pairs, advancing a progress bar."""
    # A manual bar, not tqdm(loader): tqdm.auto's class calls iter(loader) once more in its
    # constructor, which draws from the loader's generator (shuffling changes with progress=)
    # and, with num_workers > 0, starts the workers twice.
    if isinstance(progress, bool):
        total = len(loader) if hasattr(loader, "__len__") else None
        bar = own = tqdm(total=total, desc=desc, leave=False, disable=not progress)
    else:  # a bar that the caller owns (and closes)
        bar, own = progress, contextlib.nullcontext()
    try:
        batch_iter = iter(loader)
    except TypeError:
        raise TypeError(f"the loader must be iterable (a DataLoader yielding (inputs, "
                        f"targets)), got {type(loader).__name__}") from None
    with own:
        for batch in batch_iter:
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                raise ValueError("each batch must be a pair (inputs, targets), e.g. from a "
                                 f"DataLoader over a TensorDataset; got {type(batch).__name__}"
                                 + (f" of length {len(batch)}" if hasattr(batch, "__len__")
                                    else ""))
            yield batch
            bar.update()
