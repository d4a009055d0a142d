"""The canonical training loop, in plain sight.

:func:`train_one_epoch` is the five-step loop below plus a running mean of the loss and the
accuracy; :func:`evaluate` measures a model without training it, and :func:`fit` repeats both
for a number of epochs, returning a history (a list of plain dicts) that ``plots.plot_history``
draws. With ``checkpoint_path``, :func:`fit` saves everything needed to continue after each
epoch, and ``resume=True`` continues an interrupted run so that it ends with the same weights.
Bad setups (an optimizer over another model, a GPU that is not there, a loss that turns nan)
stop with a message that names the problem and the fix.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from course_utils.checkpoint import save_checkpoint
from course_utils.training_checks import (
    NonFiniteLossError,
    batches,
    explain_loss_error,
    resolve_device,
    validate_loss,
    validate_setup,
)
from course_utils.training_resume import restore_run, run_record, snapshot

__all__ = ["train_one_epoch", "evaluate", "fit"]

CHECK_EVERY = 16  # batches between two looks for a nan/inf loss (each look waits for a GPU)
IGNORE_INDEX = -100  # the target value nn.CrossEntropyLoss ignores by default: no accuracy for it either


def train_one_epoch(model: nn.Module, loader: Iterable, loss_fn: Callable, optimizer: Any,
                    device: torch.device | str | None = None, *, scheduler: Any = None,
                    progress: bool | tqdm = True, autocast: Any = None,
                    scaler: torch.amp.GradScaler | None = None) -> dict:
    """Train ``model`` for one pass over ``loader``; return ``{"loss": mean, "acc": accuracy}``.

    ``loader`` yields ``(inputs, targets)``; the loss is averaged over samples. ``scheduler``
    (if given) is stepped once per batch. ``device=None`` uses the device of the model's
    parameters. ``acc`` is ``None`` when the outputs are not class scores for the targets;
    targets of -100 (PyTorch's ``ignore_index``) are not counted in it, as the loss ignores them.
    ``progress``: ``True`` shows a bar for this epoch, ``False`` nothing; an existing tqdm bar
    is advanced by one per batch instead (``fit`` uses one bar for the whole run).
    Mixed precision, as nanoGPT does it: the forward pass and the loss run inside ``autocast``
    (e.g. ``torch.autocast("cuda", dtype=torch.bfloat16)``; ``None``: float32), and a float16
    run passes a ``torch.amp.GradScaler`` as ``scaler`` (it scales the loss so that small
    gradients do not underflow, and skips a step whose gradients overflowed).
    A nan or inf loss raises :class:`NonFiniteLossError` (within ``CHECK_EVERY`` batches).
    """
    validate_setup(model, loss_fn, optimizer, scheduler)
    device = resolve_device(model, device)
    autocast = contextlib.nullcontext() if autocast is None else autocast
    model.train()  # dropout on, BatchNorm uses (and updates) batch statistics
    meter = _Meter()
    for step, (inputs, targets) in enumerate(batches(loader, progress, "train"), start=1):
        inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        optimizer.zero_grad()                       # 1. forget the previous batch's gradients
        with autocast:
            logits = model(inputs)                  # 2. forward
            loss = _loss(loss_fn, logits, targets)  # 3. loss (a scalar, or a clear error)
        if scaler is None:
            loss.backward()                         # 4. gradients
            optimizer.step()                        # 5. update
        else:
            scaler.scale(loss).backward()           # 4. gradients of the scaled loss
            scaler.step(optimizer)                  # 5. unscale, update (skipped on inf/nan)
            scaler.update()
        if scheduler is not None:
            scheduler.step()
        meter.add(loss, logits, targets)
        if step % CHECK_EVERY == 0:
            meter.assert_finite()
    meter.assert_finite()
    return meter.result()


def evaluate(model: nn.Module, loader: Iterable, loss_fn: Callable,
             device: torch.device | str | None = None) -> dict:
    """Measure ``model`` on ``loader`` without training it: ``{"loss": mean, "acc": accuracy}``.

    Runs in ``model.eval()`` mode (dropout off, BatchNorm uses running statistics) under
    ``torch.inference_mode()`` (no graph is built); the model's previous mode is restored.
    """
    validate_setup(model, loss_fn, None, None)
    device = resolve_device(model, device)
    was_training = model.training
    model.eval()
    meter = _Meter()
    try:
        with torch.inference_mode():
            for inputs, targets in batches(loader, False, "eval"):
                inputs, targets = inputs.to(device), targets.to(device)
                logits = model(inputs)
                meter.add(_loss(loss_fn, logits, targets), logits, targets)
    finally:
        model.train(was_training)
    return meter.result()


def fit(model: nn.Module, train_loader: Iterable, loss_fn: Callable, optimizer: Any, *,
        epochs: int, val_loader: Iterable | None = None,
        device: torch.device | str | None = None, scheduler: Any = None,
        checkpoint_path: str | os.PathLike | None = None, resume: bool = False,
        progress: bool = True) -> list[dict]:
    """Train for ``epochs`` epochs; return one dict per epoch (plain Python values).

    Keys: ``epoch`` (1-based), ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc`` (``None``
    without ``val_loader``), ``lr`` (first parameter group's, at the start of the epoch) and
    ``seconds`` (wall time of the epoch). ``scheduler`` is stepped once per batch.

    With ``checkpoint_path`` a checkpoint is written atomically after every epoch (model,
    optimizer, scheduler, history, every random state including the train loader's generator,
    and the setup: optimizer options, batches per epoch, dataset size). ``resume=True``
    continues from it when it exists (and starts from scratch when it does not); the result
    equals an uninterrupted run's. A resume whose setup differs from the checkpoint's (another
    lr, dataset, or fewer epochs than those done) is refused, naming both values; asking for
    more epochs than the checkpoint's run continues it (a per-batch scheduler must allow it).
    """
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs checkpoint_path= (the file to resume from)")
    validate_setup(model, loss_fn, optimizer, scheduler)
    device = resolve_device(model, device)
    model.to(device)
    record = run_record(optimizer, train_loader)  # before a resume overwrites the options
    history: list[dict] = []
    if resume and Path(checkpoint_path).exists():
        history, record = restore_run(checkpoint_path, model, optimizer, scheduler, train_loader,
                                      device, epochs, record)
    # One bar for the whole run, advanced per batch: cheaper and tidier than a bar per epoch.
    per_epoch = len(train_loader) if hasattr(train_loader, "__len__") else None
    done = min(len(history), epochs)
    bar = tqdm(total=per_epoch and per_epoch * epochs, initial=(per_epoch or 0) * done,
               unit="batch", disable=not progress, desc=f"epoch {done}/{epochs}")
    try:
        for epoch in range(len(history) + 1, epochs + 1):
            bar.set_description(f"epoch {epoch}/{epochs}", refresh=False)
            start = time.perf_counter()
            lr = float(optimizer.param_groups[0]["lr"])
            try:
                train = train_one_epoch(model, train_loader, loss_fn, optimizer, device,
                                        scheduler=scheduler, progress=bar)
            except NonFiniteLossError as exc:
                raise NonFiniteLossError(exc.value, exc.step, epoch) from None
            val = (evaluate(model, val_loader, loss_fn, device) if val_loader is not None
                   else {"loss": None, "acc": None})
            history.append({"epoch": epoch, "train_loss": train["loss"], "train_acc": train["acc"],
                            "val_loss": val["loss"], "val_acc": val["acc"], "lr": lr,
                            "seconds": time.perf_counter() - start})
            if progress:
                bar.set_postfix({k: f"{v:.3f}" for k, v in history[-1].items()
                                 if k in ("train_loss", "val_loss", "val_acc") and v is not None})
            if checkpoint_path is not None:
                save_checkpoint(checkpoint_path, snapshot(model, optimizer, scheduler,
                                                          train_loader, history, epochs, record))
    finally:  # an interrupted run leaves no half-drawn bar behind
        bar.close()
    return history


def _loss(loss_fn: Callable, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    try:
        loss = loss_fn(logits, targets)
    except (IndexError, RuntimeError, ValueError) as exc:
        explain_loss_error(exc, logits, targets)  # e.g. labels out of range: a clear error
        raise
    validate_loss(loss)
    return loss


class _Meter:
    """Mean loss and accuracy of an epoch, at the cost of list appends per batch.

    No ``.item()`` and no ``argmax`` per batch (each would wait for a GPU): logits wait in a
    buffer of ``FLUSH_NUMEL`` values (16 MB in float32) and one ``argmax`` scores them all.
    Accuracy compares against class indices (those equal to :data:`IGNORE_INDEX` not counted), or
    against the argmax of probability targets.
    """

    FLUSH_NUMEL = 1 << 22

    def __init__(self) -> None:
        self.losses, self.sizes, self.pending, self.correct = [], [], [], []
        self.pending_numel = self.counted = self.checked = 0
        self.as_labels: Callable | None | bool = False  # decided on the first batch

    def add(self, loss: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> None:
        self.losses.append(loss.detach())  # detach: keep the number, not the whole graph
        self.sizes.append(targets.shape[0] if targets.dim() > 0 else 1)
        if self.as_labels is False:
            self.as_labels = _labels_for(logits, targets)
        if self.as_labels is not None:
            self.pending.append((logits.detach(), targets))
            self.pending_numel += logits.numel()
            if self.pending_numel >= self.FLUSH_NUMEL:
                self._flush()

    def _flush(self) -> None:
        if self.pending:
            logits, targets = zip(*self.pending)
            try:  # one argmax for many batches: (sum B, C, ...) -> (sum B, ...)
                preds, labels = torch.cat(logits).argmax(1), self.as_labels(torch.cat(targets))
            except RuntimeError:  # batches with different trailing shapes: one by one
                preds = torch.cat([z.argmax(1).flatten() for z in logits])
                labels = torch.cat([self.as_labels(t).flatten() for t in targets])
            preds, labels = preds.flatten(), labels.flatten()
            kept = labels != IGNORE_INDEX  # a target the loss ignores is not scored either
            self.correct.append((preds == labels)[kept].sum())
            self.counted += int(kept.sum())
            self.pending, self.pending_numel = [], 0

    def assert_finite(self) -> None:
        """Raise NonFiniteLossError if a loss since the last look is nan or inf: the run broke."""
        recent = torch.stack(self.losses[self.checked:]) if self.losses[self.checked:] else None
        if recent is not None and not torch.isfinite(recent).all():
            first = int((~torch.isfinite(recent)).nonzero()[0])
            raise NonFiniteLossError(float(recent[first]), self.checked + first + 1)
        self.checked = len(self.losses)

    def result(self) -> dict:
        if not self.losses:
            raise ValueError("the loader yielded no batches; check the dataset and batch size")
        losses = torch.stack(self.losses).cpu().double()  # cpu first: MPS has no float64
        loss = (losses @ torch.tensor(self.sizes, dtype=torch.float64)).item() / sum(self.sizes)
        if self.as_labels is None:
            return {"loss": loss, "acc": None}
        self._flush()
        if not self.counted:  # every target ignored: nothing to score
            return {"loss": loss, "acc": None}
        return {"loss": loss, "acc": torch.stack(self.correct).sum().item() / self.counted}


def _labels_for(logits: torch.Tensor, targets: torch.Tensor) -> Callable | None:
    """How to turn targets into class labels, or None when accuracy has no meaning."""
    if (logits.dim() == targets.dim() + 1 and not targets.is_floating_point()
            and logits.shape[:1] + logits.shape[2:] == targets.shape):
        return lambda t: t  # (B, C, ...) logits vs (B, ...) class indices
    if (logits.shape == targets.shape and targets.is_floating_point() and logits.dim() > 1
            and logits.shape[1] > 1):
        return lambda t: t.argmax(1)  # vs (B, C, ...) class probabilities
    return None  # e.g. regression
