"""Softmax, log-softmax and the cross-entropy loss, written from tensor operations.

The lesson ``02_cross_entropy`` derives each step; these functions are the result, equal to
``torch.softmax``, ``torch.log_softmax`` and ``torch.nn.functional.cross_entropy`` (the tests
use PyTorch as the oracle). For a sample with logits z (C classes) and one-hot target y:

    softmax(z)_c     = exp(z_c - m) / sum_k exp(z_k - m)          (m = max_k z_k: no overflow)
    log_softmax(z)_c = z_c - m - log(sum_k exp(z_k - m))          (the log-sum-exp trick)
    loss             = -sum_c y_c log_softmax(z)_c                (= -log p_true for an index)

:func:`assert_sane` is the sanity check the lesson derives from it (a fresh classifier starts at
ln C), the one every experiment of the course asserts for each of its runs;
:func:`sanity_problem` returns its message instead of raising, for sweeps that keep failed runs: a
:class:`SanityProblem`, an English ``str`` that keeps its template and values, so that the course's
printing (``course_utils.printed.say``) can show it in Chinese while this module imports only torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["softmax", "log_softmax", "cross_entropy", "quarter_means", "sanity_problem", "assert_sane"]

REDUCTIONS = ("mean", "sum", "none")


def _shifted(logits: torch.Tensor, dim: int) -> torch.Tensor:
    """logits - max along ``dim``: every exponent is <= 0, so exp() cannot overflow."""
    if not torch.is_tensor(logits) or not logits.is_floating_point():
        raise TypeError("logits must be a floating-point tensor, got "
                        + (str(logits.dtype) if torch.is_tensor(logits) else type(logits).__name__))
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be an int, got {type(dim).__name__} {dim!r}")
    if not -max(logits.dim(), 1) <= dim < max(logits.dim(), 1):
        raise IndexError(f"dim={dim} is out of range for a {logits.dim()}-D tensor of shape "
                         f"{tuple(logits.shape)} (valid: {-max(logits.dim(), 1)} to "
                         f"{max(logits.dim(), 1) - 1}); the classes of (N, C) logits are on "
                         f"dim=1 (or -1)")
    m = logits.detach().amax(dim=dim, keepdim=True)  # a constant shift: no gradient needed
    return logits - torch.where(torch.isfinite(m), m, torch.zeros_like(m))


def softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Probabilities from scores: same shape as ``logits``, non-negative, summing to 1 on ``dim``."""
    e = _shifted(logits, dim).exp()
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log(softmax(logits)), computed stably: finite even for logits like [1000, 1001, 1002]."""
    z = _shifted(logits, dim)
    return z - z.exp().sum(dim=dim, keepdim=True).log()


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor,
                  weight: torch.Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy between raw scores and targets, like ``F.cross_entropy``.

    Shapes: ``logits`` (N, C) or (C,) or (N, C, d1, ...) -- raw scores, *not* probabilities.
    ``targets`` either class indices (N,) / () / (N, d1, ...) of integers in [0, C) (or
    ``ignore_index``), or class probabilities with the shape of ``logits``.
    ``weight`` (C,) rescales each class; ``"mean"`` then divides by the total weight of the
    non-ignored targets (class indices; for probability targets it divides by N, as PyTorch
    does). ``label_smoothing`` e mixes the target with the uniform distribution:
    (1 - e) * target + e / C. Returns a scalar, or the per-sample losses for ``"none"``.
    """
    class_dim = _check_arguments(logits, targets, weight, reduction, label_smoothing)
    num_classes = logits.shape[class_dim]
    logp = log_softmax(logits, dim=class_dim)  # (N, C, ...)
    # Broadcast per-class weights along the class dimension: (C,) -> (1, C, 1, ...).
    shape = [1] * logits.dim()
    shape[class_dim] = num_classes
    w = weight.to(logp.dtype).reshape(shape) if weight is not None else None

    if targets.is_floating_point():  # class probabilities, one distribution per sample
        _check_probabilities(logits, targets, class_dim)
        t = targets * (1 - label_smoothing) + label_smoothing / num_classes
        per_class = -(t * logp) if w is None else -(t * logp * w)
        losses = per_class.sum(dim=class_dim)  # L = -sum_i y_i log(yhat_i), (N, d1, ...)
        if reduction == "none":
            return losses
        return losses.sum() if reduction == "sum" else losses.sum() / losses.numel()

    targets = _check_class_indices(logits, targets, class_dim, ignore_index)
    keep = targets != ignore_index  # (N, d1, ...) bool
    safe = torch.where(keep, targets, torch.zeros_like(targets)).unsqueeze(class_dim)
    nll = -logp.gather(class_dim, safe).squeeze(class_dim)  # -log p(true class), (N, d1, ...)
    smooth = -logp.sum(dim=class_dim) if w is None else -(logp * w).sum(dim=class_dim)
    sample_w = (weight.to(logp.dtype)[safe.squeeze(class_dim)] if weight is not None
                else torch.ones_like(nll))
    sample_w = sample_w * keep
    losses = (1 - label_smoothing) * nll * sample_w + label_smoothing / num_classes * smooth * keep
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / sample_w.sum()  # nan when every target is ignored, as in PyTorch


def _check_arguments(logits, targets, weight, reduction, label_smoothing) -> int:
    """Refuse what :func:`cross_entropy` cannot compute, naming the fix; return the class dimension."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    if not torch.is_tensor(targets):
        raise TypeError(f"targets must be a tensor, got {type(targets).__name__}")
    if not torch.is_tensor(logits) or logits.dim() == 0:
        raise ValueError("logits must be a tensor with a class dimension: (C,), (N, C) or "
                         "(N, C, d1, ...)")
    class_dim = 0 if logits.dim() == 1 else 1
    num_classes = logits.shape[class_dim]
    if weight is not None and (weight.dim() != 1 or weight.shape[0] != num_classes):
        raise ValueError(f"weight must have shape ({num_classes},), one value per class, got "
                         f"{tuple(weight.shape)}")
    return class_dim


def _index_shape(logits: torch.Tensor, class_dim: int) -> torch.Size:
    """The shape class-index targets must have: the logits' without the class dimension."""
    return logits.shape[:class_dim] + logits.shape[class_dim + 1:]


def _check_probabilities(logits: torch.Tensor, targets: torch.Tensor, class_dim: int) -> None:
    """Probability targets: the logits' shape, non-negative, summing to 1 over the classes."""
    if targets.shape == _index_shape(logits, class_dim):
        raise TypeError(f"targets of shape {tuple(targets.shape)} look like class indices "
                        f"but are {targets.dtype}: class indices must be integers, pass "
                        f"targets.long() (or probabilities of shape {tuple(logits.shape)})")
    if targets.shape != logits.shape:
        raise ValueError(f"probability targets must have the logits' shape "
                         f"{tuple(logits.shape)}, got {tuple(targets.shape)}")
    total = targets.sum(dim=class_dim)
    if (targets < 0).any() or not torch.allclose(total, torch.ones_like(total), atol=1e-4):
        raise ValueError("probability targets must be non-negative and sum to 1 over the "
                         f"class dimension (dim {class_dim}); for class indices pass an "
                         "integer tensor")


def _check_class_indices(logits: torch.Tensor, targets: torch.Tensor, class_dim: int,
                         ignore_index: int) -> torch.Tensor:
    """Class-index targets: integers of the right shape, each in [0, C) or ``ignore_index``;
    returned as int64, which ``gather`` indexes with (uint8 and int32 labels are fine)."""
    if targets.dtype == torch.bool or targets.is_complex():
        raise TypeError(f"class-index targets must be integers, got {targets.dtype}; pass "
                        f"targets.long()")
    targets = targets.long()
    expected = _index_shape(logits, class_dim)
    if targets.shape != expected:
        raise ValueError(f"class-index targets must have shape {tuple(expected)} for logits of "
                         f"shape {tuple(logits.shape)} (class dim {class_dim}), got "
                         f"{tuple(targets.shape)}")
    num_classes = logits.shape[class_dim]
    keep = targets != ignore_index
    bad = keep & ((targets < 0) | (targets >= num_classes))
    if bad.any():
        raise ValueError(f"class-index targets must be in [0, {num_classes}) (or ignore_index="
                         f"{ignore_index}); found {sorted(set(targets[bad].tolist()))[:5]}")
    return targets


def quarter_means(losses: Sequence[float]) -> list[float]:
    """The mean loss of each quarter of a run (``losses`` in order, at least 4 of them)."""
    n = len(losses)
    if n < 4:
        raise ValueError(f"a run's quarters need at least 4 losses, got {n}: record the loss of "
                         "every step (or of every part of the run)")
    return [sum(losses[i * n // 4:(i + 1) * n // 4]) / ((i + 1) * n // 4 - i * n // 4) for i in range(4)]


class SanityProblem(str):
    """Why a run is not sane: the English message itself (a ``str``), with the ``template`` and the
    ``values`` it was formatted from, for a translation to format instead."""

    def __new__(cls, template: str, values: dict):
        problem = super().__new__(cls, template.format(**values))
        problem.template, problem.values = template, dict(values)
        return problem

    def __reduce__(self):  # pickled across processes (the sweeps' workers) with its template
        return SanityProblem, (self.template, self.values)


def sanity_problem(first_loss: float, losses: Sequence[float], num_classes: int,
                   name: str = "run") -> SanityProblem | None:
    """Why a classifier's training run is not sane, naming ``name``; ``None`` when it is.

    ``first_loss``: the loss before any update; ``losses``: the training losses in order (per step,
    or already averaged over parts of the run; at least 4 unless one is nan or inf). With
    L0 = ln C (uniform predictions):

    - the first loss is within 50 % of L0 (far above: too-large initial logits; far below: the
      task is solved before training starts);
    - the run did not diverge: every loss is finite and no quarter of the run has a mean above 1.5 L0;
    - it learned: the last quarter's mean is below the first loss.

    For a sweep that keeps the runs that fail; :func:`assert_sane` raises instead.
    """
    chance = math.log(num_classes)
    if not 0.5 * chance <= first_loss <= 1.5 * chance:
        return SanityProblem("{name}: first loss {first_loss:.3f} is far from ln C = {chance:.3f}: check the "
                             "initialization, the input scaling and the labels",
                             dict(name=name, first_loss=first_loss, chance=chance))
    if not all(math.isfinite(v) for v in losses):
        return SanityProblem("{name}: diverged (a loss became nan or inf); lower the learning rate", dict(name=name))
    parts = quarter_means(losses)  # fewer than 4 finite losses: a ValueError, the caller's bug
    if max(parts) > 1.5 * chance:
        return SanityProblem("{name}: diverged (losses {losses}, ln C = {chance:.3f}); lower the learning rate",
                             dict(name=name, losses=[round(v, 3) for v in parts], chance=chance))
    if parts[-1] >= first_loss:
        return SanityProblem("{name}: did not learn (losses {losses}, the last not below the first loss "
                             "{first_loss:.3f}); try another learning rate",
                             dict(name=name, losses=[round(v, 3) for v in parts], first_loss=first_loss))
    return None


def assert_sane(first_loss: float, losses: Sequence[float], num_classes: int, name: str = "run") -> None:
    """Raise AssertionError with :func:`sanity_problem`'s message unless the run is sane."""
    problem = sanity_problem(first_loss, losses, num_classes, name)
    if problem is not None:
        raise AssertionError(problem)
