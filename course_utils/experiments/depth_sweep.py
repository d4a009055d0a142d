"""Notebook 04's depth experiment: deep conv nets, trained with one budget rule, swept and tabled.

The lesson (what each arm is, why the rule is fair, what the table shows) is in the notebook; this
module is the plumbing it runs:

* :class:`DeepNet` -- a stem conv, ``blocks`` two-conv blocks (plain or residual, with or without
  BatchNorm), a pooled linear head;
* :func:`train_arm` -- one run of SGD with momentum: the loss of every step and the test accuracy;
* :func:`sweep_arms` -- the learning-rate sweep on seed 0 and the 3-seed runs at the chosen rate,
  every run judged by :func:`course_utils.losses.sanity_problem`, the arms in parallel processes
  when asked;
* :func:`results_table`, :func:`format_sweep`, :func:`format_results` -- the numbers and the text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from course_utils.i18n import columns
from course_utils.losses import sanity_problem
from course_utils.parallel import fork_chains
from course_utils.printed import say, term
from course_utils.training import evaluate

__all__ = ["DeepNet", "train_arm", "first_loss", "sweep_arms", "results_table", "format_sweep",
           "format_results"]

Run = tuple[list[float], float | None]  # (loss of every step, test accuracy or None if it blew up)


class ResidualBlock(nn.Module):
    """y = relu(x + F(x)) with F = conv-BN-ReLU-conv-BN; (B, C, H, W) -> (B, C, H, W).

    The block notebook 04 writes in its section 2 (the notebook asserts the two agree).
    """

    def __init__(self, channels: int, batchnorm: bool = True):
        super().__init__()
        norm = (lambda: nn.BatchNorm2d(channels)) if batchnorm else nn.Identity
        self.f = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=not batchnorm),
                               norm(), nn.ReLU(),
                               nn.Conv2d(channels, channels, 3, padding=1, bias=not batchnorm),
                               norm())

    def forward(self, x):
        return F.relu(x + self.f(x))


def _plain_block(channels: int, batchnorm: bool) -> nn.Sequential:
    """conv-(BN)-ReLU-conv-(BN)-ReLU: the residual block without its ``x +``."""
    layers: list[nn.Module] = []
    for _ in range(2):
        layers.append(nn.Conv2d(channels, channels, 3, padding=1, bias=not batchnorm))
        layers += [nn.BatchNorm2d(channels), nn.ReLU()] if batchnorm else [nn.ReLU()]
    return nn.Sequential(*layers)


class DeepNet(nn.Module):
    """stem conv -> ``blocks`` two-conv blocks (plain or residual, with or without BN) -> pool -> fc."""

    def __init__(self, residual: bool, batchnorm: bool, blocks: int = 10, channels: int = 16,
                 num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU())
        block = ResidualBlock if residual else _plain_block
        self.body = nn.Sequential(*[block(channels, batchnorm) for _ in range(blocks)])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(channels, num_classes))

    def forward(self, x):                       # (B, 3, H, W) -> (B, num_classes)
        return self.head(self.body(self.stem(x)))


def _train_batches(train_set: Dataset, seed: int, batch_size: int) -> DataLoader:
    """Shuffled batches of ``train_set`` (the order is fixed by the seed)."""
    return DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True,
                      generator=torch.Generator().manual_seed(seed))


def train_arm(make: Callable[[], nn.Module], lr: float, seed: int, train_set: Dataset,
              test_set: Dataset, steps: int = 200, batch_size: int = 32,
              eval_batch_size: int = 500) -> Run:
    """Train a fresh ``make()`` for ``steps`` SGD steps (momentum 0.9) on batches of ``train_set``.

    Returns ``(loss of every step, test accuracy)``; the accuracy is ``None`` when a loss became
    nan or inf (the run stops there). Step 0's loss is the loss at initialization.
    """
    torch.manual_seed(seed)
    model = make()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    batches = _train_batches(train_set, seed, batch_size)  # each epoch continues its generator
    losses: list[float] = []
    model.train()
    while len(losses) < steps:
        for images, targets in batches:
            loss = F.cross_entropy(model(images), targets)
            losses.append(loss.item())
            if not math.isfinite(losses[-1]):
                return losses, None                       # nan or inf: nothing to continue from
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if len(losses) == steps:
                break
    test_loader = DataLoader(test_set, batch_size=eval_batch_size)
    return losses, evaluate(model, test_loader, nn.CrossEntropyLoss())["acc"]


def final_loss(losses: Sequence[float], accuracy: float | None) -> float:
    """The mean training loss over the last 10 steps (inf for a run that blew up)."""
    return float("inf") if accuracy is None else sum(losses[-10:]) / 10


def first_loss(make: Callable[[], nn.Module], seed: int, train_set: Dataset,
               batch_size: int = 32) -> float:
    """The loss a run starts from (:func:`train_arm`'s step 0): a fresh ``make()`` on the seed's
    first batch."""
    torch.manual_seed(seed)
    images, targets = next(iter(_train_batches(train_set, seed, batch_size)))
    return F.cross_entropy(make()(images), targets).item()


@dataclass
class SweepResult:
    """``sweep[name][lr]``: seed 0's runs; ``runs[name] = (lr, [run of each seed])`` at the chosen
    rate; ``rejected[name, lr, seed]``: why a run failed the sanity check."""

    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    sweep: dict[str, dict[float, Run]] = field(default_factory=dict)
    runs: dict[str, tuple[float, list[Run]]] = field(default_factory=dict)
    rejected: dict[tuple[str, float, int], str] = field(default_factory=dict)


def sweep_arms(arms: dict[str, Callable[[], nn.Module]], train_set: Dataset, test_set: Dataset,
               lrs: Sequence[float], seeds: Sequence[int] = (0, 1, 2), steps: int = 200,
               num_classes: int = 10, workers: int = 1) -> SweepResult:
    """Choose each arm's learning rate by one rule, then run it on every seed.

    Seed 0 runs at the rates of ``lrs``, smallest first, until a run after a sane one fails the
    check or ends no lower than the best so far (the loss is roughly U-shaped in the rate). Then
    the sane rates are taken from the lowest final loss up, and the first one at which the other
    seeds pass the check too is kept. An arm with no such rate is missing from ``runs``.

    The arms are independent: ``workers > 1`` runs their training runs in that many forked
    processes (:func:`course_utils.parallel.fork_chains`: an arm's sweep in order, then its other
    seeds side by side, a free process taking the next run of any arm), with the same results as one
    after another.
    """

    def run(key: tuple[str, float, int]) -> Run:
        name, lr, seed = key
        return train_arm(arms[name], lr, seed, train_set, test_set, steps)

    def one_arm(name: str):  # yields the runs it needs, (name, lr, seed); is sent their results
        rejected: dict[tuple[str, float, int], str] = {}

        def sane(lr: float, seed: int, run_: Run) -> bool:
            losses, _ = run_
            problem = sanity_problem(losses[0], losses, num_classes,
                                     name=f"{name}, lr {lr}, seed {seed}")
            if problem is not None:
                rejected[name, lr, seed] = problem
            return problem is None

        tried: dict[float, Run] = {}
        best = math.inf
        for lr in lrs:
            tried[lr] = yield name, lr, seeds[0]
            if sane(lr, seeds[0], tried[lr]) and final_loss(*tried[lr]) < best:
                best = final_loss(*tried[lr])
            elif best < math.inf:
                break
        ranked = sorted((lr for lr in tried if (name, lr, seeds[0]) not in rejected),
                        key=lambda lr: final_loss(*tried[lr]))
        for lr in ranked:
            others = yield [(name, lr, seed) for seed in seeds[1:]]  # side by side: independent runs
            if all([sane(lr, seed, r) for seed, r in zip(seeds[1:], others)]):
                return tried, (lr, [tried[lr]] + others), rejected
        return tried, None, rejected

    result = SweepResult(tuple(lrs), tuple(seeds))
    for name, (tried, chosen, rejected) in zip(arms, fork_chains(run, [one_arm(name) for name in arms], workers)):
        result.sweep[name] = tried
        if chosen is not None:
            result.runs[name] = chosen
        result.rejected.update(rejected)
    return result


def _mean_spread(values: Sequence[float]) -> tuple[float, float]:
    values = torch.tensor(values)
    return values.mean().item(), values.std().item()


def results_table(result: SweepResult) -> dict[str, dict]:
    """Per arm: ``lr``, and over the seeds ``first``/``last`` loss and test ``acc`` as
    (mean, standard deviation), and the ``highest`` loss of any step."""
    table = {}
    for name, (lr, seeds) in result.runs.items():
        table[name] = {"lr": lr,
                       "first": _mean_spread([losses[0] for losses, _ in seeds]),
                       "highest": max(max(losses) for losses, _ in seeds),
                       "last": _mean_spread([final_loss(losses, acc) for losses, acc in seeds]),
                       "acc": _mean_spread([acc for _, acc in seeds])}
    return table


def _name_width(names: list[str]) -> int:
    """The first column's width: 20, or one more than its widest name (a Chinese name is wider)."""
    return max(20, 1 + max(columns(name) for name in names))


def format_sweep(result: SweepResult) -> str:
    """Seed 0's final loss at every rate tried (x: failed the check, -: not tried) and the rate
    chosen, then whether another seed failed the check at a rate chosen on seed 0."""
    width = _name_width([term("network"), *map(term, result.sweep)])
    lines = [say("learning-rate sweep (seed 0), training loss over the last 10 steps "
                 "(x: failed the check, -: not tried):"),
             f"{term('network'):<{width}}" + "".join(f"{'lr ' + str(lr):>9}" for lr in result.lrs)
             + f"   {term('chosen')}"]
    for name, tried in result.sweep.items():
        cells = []
        for lr in result.lrs:
            if lr not in tried:
                cells.append(f"{'-':>8} ")
                continue
            loss = final_loss(*tried[lr])
            mark = "x" if (name, lr, result.seeds[0]) in result.rejected else " "
            cells.append((f"{loss:>8.3f}" if math.isfinite(loss) else f"{'nan':>8}") + mark)
        chosen = result.runs[name][0] if name in result.runs else term("none")
        lines.append(f"{term(name):<{width}}" + "".join(cells) + f"   {chosen}")
    later = [message for (_, _, seed), message in result.rejected.items()
             if seed != result.seeds[0]]
    lines.append(say("at a rate chosen on seed 0, another seed failed the check:") if later else
                 say("at every rate chosen on seed 0, the other seeds passed the check too"))
    lines += [f"  {message}" for message in later]
    return "\n".join(lines)


def format_results(table: dict[str, dict]) -> str:
    """The table of :func:`results_table`, one line per arm."""
    width = _name_width([term("network (3 seeds)"), *map(term, table)])
    lines = [f"{term('network (3 seeds)'):<{width}}{'lr':>6}{term('first loss'):>11}{term('highest loss'):>13}"
             f"{term('final train loss'):>19}{term('test accuracy'):>17}"]
    for name, row in table.items():
        lines.append(f"{term(name):<{width}}{row['lr']:>6}{row['first'][0]:>11.3f}{row['highest']:>13.3f}"
                     f"{row['last'][0]:>12.3f} ± {row['last'][1]:.3f}"
                     f"{row['acc'][0]:>10.3f} ± {row['acc'][1]:.3f}")
    lines.append(say("(mean ± standard deviation over the 3 seeds)"))
    return "\n".join(lines)
