"""Transfer measured fairly: every arm of the grid trained on one budget, and the committed grid.

    data = prepare_target(source_model, images, test_images)   # every input of every arm, once
    index = per_class_indices(targets, k=5, seed=0)             # 5 labelled images per class
    result = run_cell("probe-layer3", source_model, data, targets, test_targets, index, lr=1e-2, seed=0)

Every arm (a probe, a baseline trained from scratch, fine-tuning: :mod:`~course_utils.experiments.arms`)
is trained by :func:`train_arm`: AdamW with a cosine schedule for the same number of optimizer
steps (:data:`~course_utils.experiments.arms.STEPS`) of the same batch size, so that "A beats B"
compares methods, not budgets. Its first loss and its loss curve are checked against ln C
(``losses.assert_sane``, the check notebook 02 teaches).

Notebook 05 reaches the whole grid through this module (``from course_utils.experiments import
transfer``), so it also re-exports the arms (:mod:`~course_utils.experiments.arms`) and their
inputs (:mod:`~course_utils.experiments.features`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from course_utils.experiments.arms import (
    BASELINE_ARMS as BASELINE_ARMS,
    LONG_STEPS as LONG_STEPS,
    STEPS,
    TRANSFER_ARMS as TRANSFER_ARMS,
    Arm,
    build_arm,
    get_arm,
    lr_candidates,
    rule as rule,
)
from course_utils.experiments.features import (
    NATIVE_PIXELS,
    STAGES,
    STEM,
    Pixels as Pixels,
    Standardize,
    prepare_target as prepare_target,
    stage_features,
    standardize,
)
from course_utils.losses import SanityProblem, sanity_problem
from course_utils.printed import PROBLEMS
from course_utils.training import evaluate, fit

# Notebook 05 reads the arms, their budgets, rule, build_arm, prepare_target and Pixels through this module
# too (``transfer.rule``; imported ``X as X`` above where this module itself does not use them).
__all__ = ["CHUNKS", "per_class_indices", "GRID_CSV", "SWEEP_CSV", "read_grid", "sweep_failure", "at_edge",
           "run_cell",
           # re-exported for the command line, stage_probe and the benchmarks
           "lr_candidates", "STEM", "STAGES", "stage_features", "standardize", "Standardize"]

BATCH_SIZE = 16
CHUNKS = 4          # the loss curve is recorded as the mean of each quarter of the run


def per_class_indices(targets: torch.Tensor, k: int, seed: int,
                      exclude: torch.Tensor | None = None) -> torch.Tensor:
    """``k`` indices per class drawn at random (seeded), sorted; never one from ``exclude``."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int (images per class), got {k!r}")
    generator = torch.Generator().manual_seed(seed)
    taken = set() if exclude is None else set(exclude.tolist())
    chosen = []
    for c in targets.unique().tolist():
        pool = [i for i in (targets == c).nonzero().flatten().tolist() if i not in taken]
        if len(pool) < k:
            raise ValueError(f"class {c} has only {len(pool)} images left, {k} requested")
        order = torch.randperm(len(pool), generator=generator)[:k]
        chosen += [pool[i] for i in order.tolist()]
    return torch.tensor(sorted(chosen))


def train_arm(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
              test_inputs: torch.Tensor, test_targets: torch.Tensor, *, lr: float, seed: int,
              steps: int = STEPS, batch_size: int = BATCH_SIZE, check: bool = True,
              name: str = "arm") -> dict:
    """Train every trainable parameter of ``model`` on (inputs, targets) for ``steps`` steps.

    AdamW (no weight decay), cosine decay from ``lr`` to 0, batches drawn from seeded random
    permutations. Returns ``{"acc", "first_acc", "first_loss", "curve", "diverged", "model"}``:
    test accuracy; test accuracy before training (near chance: the task is not solved before
    training starts); the loss before training; the mean loss of each of :data:`CHUNKS` parts of
    the run; whether it failed notebook 02's check (:func:`~course_utils.losses.sanity_problem`;
    with ``check=True`` it raises instead, naming the run ``name``, e.g. for a chosen lr); the
    trained model.
    """
    if steps % CHUNKS:
        raise ValueError(f"steps must be a multiple of {CHUNKS}, got {steps}")
    loss_fn = nn.CrossEntropyLoss()
    num_classes = int(targets.max()) + 1
    data = TensorDataset(inputs, targets)
    batch_size = min(batch_size, len(data))
    first = evaluate(model, DataLoader(data, batch_size=512), loss_fn)["loss"]
    test_data = DataLoader(TensorDataset(test_inputs, test_targets), batch_size=512)
    first_acc = evaluate(model, test_data, loss_fn)["acc"]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    sampler = RandomSampler(data, num_samples=steps // CHUNKS * batch_size,
                            generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(data, batch_size=batch_size, sampler=sampler)  # steps // CHUNKS batches
    try:  # fit stops a run whose loss became nan/inf (NonFiniteLossError): that arm diverged
        history = fit(model, loader, loss_fn, optimizer, epochs=CHUNKS, scheduler=scheduler,
                      progress=False)
        curve = [row["train_loss"] for row in history]
    except FloatingPointError:
        curve = [math.inf] * CHUNKS
    problem = sanity_problem(first, curve, num_classes, name)
    if problem is not None and check:
        raise AssertionError(problem)
    test = evaluate(model, test_data, loss_fn)
    return {"acc": test["acc"], "first_acc": first_acc, "first_loss": first, "curve": curve,
            "diverged": problem is not None, "model": model}


#: The committed grid (``python benchmarks/transfer_grid.py`` writes them; notebook 05 reads them):
#: package data, so the notebook finds them in a checkout, a pip install and on Colab alike.
GRID_CSV = Path(__file__).resolve().parent / "results" / "transfer_grid.csv"
SWEEP_CSV = GRID_CSV.with_name("transfer_sweep.csv")


def read_grid(path: str | Path = GRID_CSV) -> list[dict]:
    """The rows of a grid CSV (one per run: target, arm, k, seed, lr, acc, losses, ...), as dicts."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def sweep_failure(row: dict) -> tuple[int, int, SanityProblem] | None:
    """``(k, seed, problem)``: which grid run failed at this row's lr, and why, for a :data:`SWEEP_CSV` row
    whose ``grid`` is "failed": the :class:`~course_utils.losses.SanityProblem` that
    :func:`~course_utils.losses.sanity_problem` returned, rebuilt from its template and values (so it prints
    in the learner's language). ``None`` for "used" or "" (not tried). Raises ``ValueError`` naming the row
    for any other ``grid``, or a failure whose template :func:`~course_utils.losses.sanity_problem` does not
    write or whose values do not fit it (never a guessed message)."""
    where = f"{SWEEP_CSV.name}, {row.get('target')} {row.get('arm')} lr {row.get('lr')}"
    if row["grid"] in ("used", ""):
        return None
    if row["grid"] != "failed":
        raise ValueError(f"{where}: grid is {row['grid']!r}, not 'used', 'failed' or ''")
    if row["problem"] not in PROBLEMS:  # sanity_problem's messages, in English
        raise ValueError(f"{where}: a failure that sanity_problem does not write: {row['problem']!r}")
    try:
        problem = SanityProblem(row["problem"], json.loads(row["problem_values"]))
        return int(row["failed_k"]), int(row["failed_seed"]), problem
    except (KeyError, TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise ValueError(f"{where}: a failure whose run or values do not fit its message ({exc!r})") from None


def at_edge(tried: Sequence[tuple[float, float]], chosen: float) -> str | None:
    """``"bottom"`` or ``"top"`` if ``chosen`` is the smallest or the largest learning rate of a
    sweep and beat its one neighbour on validation, else None: there a wider sweep might find a
    better rate. ``tried``: the sweep's (lr, validation accuracy) pairs, in any order."""
    tried = sorted((float(lr), float(acc)) for lr, acc in tried)
    if len(tried) > 1 and chosen == tried[0][0] and tried[0][1] > tried[1][1]:
        return "bottom"
    if len(tried) > 1 and chosen == tried[-1][0] and tried[-1][1] > tried[-2][1]:
        return "top"
    return None


def run_cell(arm: Arm | str, source_model: nn.Module, data: dict, targets: torch.Tensor,
             test_targets: torch.Tensor, index: torch.Tensor, *, lr: float, seed: int,
             val_index: torch.Tensor | None = None, check: bool = True,
             native: tuple[int, int] = NATIVE_PIXELS["digits"]) -> dict:
    """Train ``arm`` (an :class:`~course_utils.experiments.arms.Arm` or its name) on the training
    rows ``index`` of ``data`` (:func:`prepare_target`); test it.

    With ``val_index`` (training rows disjoint from ``index``) it is measured on those instead
    of the test split: that is how learning rates are chosen (:func:`lr_candidates`).
    ``native`` is the one ``data`` was prepared with.
    """
    arm = get_arm(arm)
    num_classes = int(targets.max()) + 1
    if "pixels" not in data:
        raise KeyError("data has no 'pixels' entry: build it with transfer.prepare_target(source_model, "
                       "images, test_images)")
    width = data["pixels"][0].shape[1]
    if width != native[1] * native[0] ** 2:
        raise ValueError(f"data's pixels have {width} features, native={native} makes "
                         f"{native[1] * native[0] ** 2}: pass the native that prepare_target was given")
    model, key = build_arm(arm, source_model, num_classes, seed, native)
    for layer in model.modules():  # an augmented pixel model: the statistics of its training rows
        if isinstance(layer, Standardize):
            layer.fit(data["pixels"][0][index])
    train, test = data[key][0][index], data[key][1]
    if val_index is not None:
        test, test_targets = data[key][0][val_index], targets[val_index]
    if arm.standardize and not arm.augment:  # an augmented arm standardizes inside its model
        train, test = standardize(train, test)
    return train_arm(model, train, targets[index], test, test_targets, lr=lr, seed=seed, steps=arm.steps,
                     check=check, name=arm.name)
