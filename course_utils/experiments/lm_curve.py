"""Does pretraining pay? Fine-tuning accuracy against pretraining compute (notebook 07, issue 28.5).

Each pretraining budget is its own run of the course's recipe (:mod:`lm_pretrain`: the same
model, data, seed and schedule shape, so the cosine decay ends at every budget); budget 0 is no
pretraining (a randomly initialized body, notebook 07's ``scratch`` arm). From each, the classifier
is fully fine-tuned by notebook 07's rule: ``STEPS`` AdamW steps of ``BATCH`` examples at a
constant learning rate picked from ``SWEEP`` on the validation split (10 per class, seed 0; the
most accurate rate whose run passes :func:`course_utils.losses.sanity_problem`), then run with
every seed at every size and measured once on the test split. The runs are built exactly as
notebook 07 builds its ``full`` and ``scratch`` arms, so the 800-step and the 0-step rows are
those arms' runs.

``benchmarks/gpt_pretraining_curve.py`` computes the rows and writes :data:`CURVE_CSV` (package
data, read by notebook 07 wherever it runs); :func:`read_curve` and :func:`curve_summary` read it.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import statistics
from pathlib import Path

import torch

from course_utils.experiments.lm_pretrain import LMPretrainConfig, evaluate_lm, train_lm
from course_utils.gpt import GPT, GPTClassifier
from course_utils.losses import sanity_problem
from course_utils.parallel import fork_map
from course_utils.text_finetune import accuracy, train_classifier

__all__ = ["BUDGETS", "CURVE_CSV", "FIELDS", "curve_summary", "finetune_curve", "pretrain_budgets",
           "read_curve"]

BUDGETS = (0, 100, 200, 400, 800, 1600, 3200, 6400)  # pretraining steps of 32 x 64 tokens
SWEEP = (3e-4, 1e-3, 3e-3, 1e-2)               # notebook 07's scratch and full sweeps together
SIZES, SEEDS = (10, 20), (0, 1, 2)
STEPS, BATCH = 50, 16                          # notebook 07's fine-tuning budget
CURVE_CSV = Path(__file__).resolve().parent / "results" / "gpt_pretraining_curve.csv"
#: one row per fine-tuning run (``phase`` "sweep": measured on validation; "test": on test) and
#: per bag-of-words fit (``arm`` "bag of words", ``steps`` empty); ``losses``: the run's training
#: losses, space-separated, so that a reader can re-check its sanity
FIELDS = ["arm", "steps", "tokens", "pretrain_s", "val_loss", "phase", "per_class", "seed", "lr",
          "acc", "sane", "losses"]


def pretrain_budgets(config: LMPretrainConfig, train_tokens: torch.Tensor, val_tokens: torch.Tensor,
                     budgets=BUDGETS) -> dict[int, dict]:
    """``{steps: {"state", "val_loss", "seconds"}}``: one pretraining run per budget, each the
    recipe of ``config`` with ``steps`` replaced (0: the untrained initial weights)."""
    out = {}
    for steps in budgets:
        torch.manual_seed(config.seed)  # as pretrain_lm: the same initial weights at every budget
        model = GPT(config.model)
        seconds = 0.0
        if steps:
            cfg = dataclasses.replace(config, steps=steps, eval_every=steps)
            seconds = train_lm(model, train_tokens, val_tokens, cfg)["seconds"]
        val_loss = evaluate_lm(model, val_tokens, config.model.context_length, config.eval_batches)
        out[steps] = {"state": model.state_dict(), "val_loss": val_loss, "seconds": seconds}
    return out


def _classifier(bodies, model_config, steps, num_classes, seed):
    """Notebook 07's arms: ``scratch`` (steps 0: body and head drawn from ``seed``) or ``full``
    (the pretrained body, the head drawn from ``seed``)."""
    if steps == 0:
        torch.manual_seed(seed)
        return GPTClassifier(GPT(model_config), num_classes)
    body = GPT(model_config)
    body.load_state_dict(bodies[steps]["state"])
    body.eval()
    torch.manual_seed(seed)
    return GPTClassifier(body, num_classes)


def finetune_curve(bodies: dict[int, dict], model_config, train, val, test, num_classes: int, *,
                   sweep=SWEEP, sizes=SIZES, seeds=SEEDS, steps=STEPS, batch_size=BATCH,
                   workers: int | None = None) -> list[dict]:
    """Every fine-tuning run of the curve as rows of :data:`FIELDS` (without the pretraining
    columns). ``train``/``val``/``test`` = ``(ids, lengths, targets)`` with the train examples in
    round-robin class order (the first ``k * num_classes`` hold ``k`` of each class). The runs
    are independent: pin one thread first (``repro.pin_threads(1)``) and ``fork_map`` runs them
    on every core with the numbers of a loop."""

    def subset(k):
        return tuple(t[:k * num_classes] for t in train)

    def job(key):
        budget, k, lr, seed = key
        model = _classifier(bodies, model_config, budget, num_classes, seed)
        result = train_classifier(model, *subset(k), lr=lr, steps=steps, batch_size=batch_size,
                                  seed=seed)
        losses = result["losses"]
        sane = sanity_problem(losses[0], losses, num_classes) is None
        return {"val": accuracy(model, *val), "test": accuracy(model, *test), "sane": sane,
                "losses": losses}

    sweep_keys = [(b, sizes[0], lr, seeds[0]) for b in bodies for lr in sweep]
    done = dict(zip(sweep_keys, fork_map(job, sweep_keys, workers)))
    best = {}
    for b in bodies:
        sane = [lr for lr in sweep if done[b, sizes[0], lr, seeds[0]]["sane"]]
        if not sane:
            raise AssertionError(f"pretraining budget {b}: no learning rate of {sweep} gave a sane run")
        best[b] = max(sane, key=lambda lr: done[b, sizes[0], lr, seeds[0]]["val"])
    test_keys = [(b, k, best[b], s) for b in bodies for k in sizes for s in seeds]
    todo = [key for key in test_keys if key not in done]
    done.update(zip(todo, fork_map(job, todo, workers)))

    def row(key, phase):
        b, k, lr, seed = key
        r = done[key]
        return {"arm": "full" if b else "scratch", "steps": b, "phase": phase, "per_class": k,
                "seed": seed, "lr": lr, "acc": r["val" if phase == "sweep" else "test"],
                "sane": r["sane"], "losses": " ".join(f"{x:.4f}" for x in r["losses"])}

    return [row(key, "sweep") for key in sweep_keys] + [row(key, "test") for key in test_keys]


def read_curve(path: str | Path = CURVE_CSV) -> list[dict]:
    """The rows of :data:`CURVE_CSV` with numbers as numbers (``steps`` None for bag of words)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or list(rows[0]) != FIELDS:
        raise ValueError(f"{path}: not a curve file (expected the columns {FIELDS}); "
                         "rerun benchmarks/gpt_pretraining_curve.py")
    for r in rows:
        for name in ("steps", "tokens", "per_class", "seed"):
            r[name] = int(r[name]) if r[name] else None
        for name in ("pretrain_s", "val_loss", "lr", "acc"):
            r[name] = float(r[name]) if r[name] else None
        r["sane"] = r["sane"] == "True"
        r["losses"] = [float(x) for x in r["losses"].split()]
    return rows


def curve_summary(rows: list[dict]) -> dict[tuple, tuple[float, float, int]]:
    """``{(arm, steps, per_class): (mean, sample std, n)}`` over the test rows' seeds."""
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        if r["phase"] == "test":
            groups.setdefault((r["arm"], r["steps"], r["per_class"]), []).append(r["acc"])
    return {key: (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else math.nan, len(v))
            for key, v in groups.items()}

