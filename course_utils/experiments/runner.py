"""One fine-tuning run, as the command line and notebook 05's online section do it, GPU-ready.

    history = finetune_model(model, "last-stage", train_loader, val_loader, epochs=3, lr=0.01)

Each epoch is :func:`course_utils.training.train_one_epoch`, the loop the notebooks teach. On
CUDA its steps run under mixed precision (:func:`select_precision`: ``torch.autocast`` with
bfloat16 where the GPU supports it, else float16 with a ``GradScaler``), the model in
``channels_last`` memory format, inputs copied with ``non_blocking=True`` from pinned-memory
loaders. On the CPU everything is float32 unless bfloat16 is asked for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch
from torch import nn

from course_utils.distributed import DistInfo, all_reduce_mean, prepare_model, unwrap
from course_utils.finetune import STRATEGIES, freeze, make_optimizer, strategy_lrs
from course_utils.training import train_one_epoch

__all__ = ["PRECISIONS", "select_precision", "predict", "confusion_matrix", "finetune_model"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def select_precision(device: torch.device | str, requested: str = "auto") -> str:
    """``"fp32"``, ``"bf16"`` or ``"fp16"`` for ``device``; ``"auto"``: bf16/fp16 on CUDA, fp32 elsewhere."""
    device = torch.device(device)
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; choose from {', '.join(PRECISIONS)}")
    if requested == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if requested == "fp16" and device.type != "cuda":
        raise ValueError("fp16 mixed precision needs a CUDA GPU; use bf16 or fp32 on the CPU")
    return requested


def _autocast(device: torch.device, precision: str):
    """The context a step runs in at ``precision``: nothing for fp32, else ``torch.autocast``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def _to(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = x.to(device, non_blocking=True)  # overlaps with compute when the loader pins memory
    return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 and device.type == "cuda" else x


@torch.inference_mode()
def predict(model: nn.Module, loader: Iterable, device: torch.device, *,
            precision: str = "fp32") -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, targets)`` for every batch of ``loader``, float32 on the CPU, in eval mode."""
    was_training = model.training
    model.eval()
    out, ys = [], []
    try:
        for images, targets in loader:
            with _autocast(device, precision):
                out.append(model(_to(images, device)).float().cpu())
            ys.append(torch.as_tensor(targets))
    finally:
        model.train(was_training)
    return torch.cat(out), torch.cat(ys)


def confusion_matrix(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(num_classes, num_classes)`` counts: row = true class, column = predicted class."""
    index = targets.long() * num_classes + predictions.long()
    return torch.bincount(index, minlength=num_classes ** 2).view(num_classes, num_classes)


def finetune_model(model: nn.Module, strategy: str, train_loader, val_loader, *, epochs: int,
                   lr: float, device: torch.device | str = "cpu", precision: str = "auto",
                   info: DistInfo | None = None, progress: bool = False, log=print) -> list[dict]:
    """Freeze by ``strategy``, then train ``epochs`` epochs; one row per epoch with val accuracy.

    Under torchrun pass ``info`` (:func:`course_utils.distributed.init_distributed`): the model
    is wrapped in DDP here, after the optimizer is built over the plain model's parameters.
    ``log`` receives one line per epoch (rank 0 only); ``log=None`` is silent.
    """
    info = info or DistInfo(device=torch.device(device))
    device = info.device
    precision = select_precision(device, precision)
    freeze(model, STRATEGIES[strategy])
    optimizer = make_optimizer(model, lr=lr, lrs=strategy_lrs(strategy, lr))
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    model = prepare_model(model, info)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    loss_fn = nn.CrossEntropyLoss()
    history = []
    for epoch in range(1, epochs + 1):
        if hasattr(train_loader.sampler, "set_epoch"):
            train_loader.sampler.set_epoch(epoch - 1)
        stats = train_one_epoch(model, train_loader, loss_fn, optimizer, device,
                                autocast=_autocast(device, precision), scaler=scaler,
                                progress=progress and info.is_main)
        logits, targets = predict(unwrap(model), val_loader, device, precision=precision)
        row = {"epoch": epoch, "train_loss": all_reduce_mean(stats["loss"], info),
               "train_acc": all_reduce_mean(stats["acc"], info),
               "val_loss": nn.functional.cross_entropy(logits, targets.long()).item(),
               "val_acc": (logits.argmax(1) == targets).float().mean().item()}
        history.append(row)
        if log is not None and info.is_main:
            log(f"{epoch:>5}  {row['train_loss']:10.4f}  {row['train_acc']:9.3f}  "
                f"{row['val_loss']:8.4f}  {row['val_acc']:7.3f}")
    return history
