"""What each stage of a frozen ResNet knows about *your* images, and the rule ``finetune --strategy
auto`` applies to it (notebook 05's FAQ 2, answered for the user's data).

    feats = view_features(model, images, views=0)            # {"layer1": (1, N, 256), ...}
    table = probe_table(feats, targets, folds=4, seed=0)     # cross-validated on the training split
    stage = best_stage(table)                                # e.g. "layer3"
    head, run = train_head(feats[stage], targets, l2=table[stage]["l2"], seed=0)
    model = CutResNet(resnet, stage, head)                   # layer4 and fc dropped: a new head

The probes are notebook 05's ``probe-layerN`` arms: a linear head on the average-pooled,
standardized output of one stage (:func:`course_utils.experiments.transfer.stage_features`), here fitted as an
L2-penalized logistic regression by full-batch L-BFGS (:func:`fit_linear`), its penalty chosen by
the same cross-validation: on a few dozen images AdamW (notebook 05's ``train_arm``) moves every
weight by about its learning rate, noise features as much as informative ones, and fell 25-50
points short of the logistic regression on a toy where one feature decides.
Augmented views (:class:`~course_utils.augment.RandomAffine`) are computed once through the frozen
network and cached too, so a head trains on them in seconds.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from course_utils.augment import RandomAffine
from course_utils.experiments.transfer import CHUNKS, STAGES, STEM, Standardize, stage_features, standardize
from course_utils.losses import sanity_problem

__all__ = ["CUT_STRATEGIES", "AUGMENTS", "CutResNet", "view_features", "HEAD_STEPS", "probe_table",
           "best_stage", "train_head", "cut_model", "plot_stage_probe"]

#: strategy name -> the stage the network is cut after (a new head on its pooled output).
#: ``cut-layer4`` keeps the whole network and only replaces its head.
CUT_STRATEGIES = {f"cut-{stage}": stage for stage in STAGES}
#: augmentation -> (extra augmented views per training image, their RandomAffine settings)
AUGMENTS = {"none": (0, None), "light": (4, dict(degrees=8.0, scale=0.08, shift=0.04)),
            "strong": (8, dict(degrees=15.0, scale=0.15, shift=0.08))}
#: the L2 penalties every probe is swept over, chosen by cross-validation
PROBE_L2 = (1e-4, 1e-3, 1e-2, 1e-1)


class CutResNet(nn.Module):
    """A torchvision ResNet cut after ``stage``: stem, ``layer1``..``stage``, average pooling,
    a :class:`~course_utils.experiments.transfer.Standardize` and a new linear head ``fc``.

    Built from ``resnet`` (its modules are shared, not copied) and ``head`` (Standardize, Linear).
    ``CutResNet(resnet50(), "layer3", head).state_dict()`` keeps the names of the ResNet's
    modules (``conv1``, ``layer3.0.conv1``...), so :func:`~course_utils.finetune.freeze` works by name.
    """

    def __init__(self, resnet: nn.Module, stage: str, head: nn.Sequential):
        super().__init__()
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)}")
        self.stage = stage
        for name in STEM + STAGES[:STAGES.index(stage) + 1]:
            self.add_module(name, getattr(resnet, name))
        self.norm, self.fc = head[0], head[1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images
        for name in STEM + STAGES[:STAGES.index(self.stage) + 1]:
            x = getattr(self, name)(x)
        return self.fc(self.norm(x.mean(dim=(2, 3))))


def stage_width(resnet: nn.Module, stage: str) -> int:
    """Channels of ``stage``'s output (ResNet-50: 256, 512, 1024, 2048)."""
    return resnet.fc.in_features >> (len(STAGES) - 1 - STAGES.index(stage))


def view_features(model: nn.Module, images: torch.Tensor, *, views: int = 0,
                  augment: dict | None = None, seed: int = 0,
                  batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Pooled stage features of ``images`` (N, 3, H, W) and of ``views`` augmented copies of them:
    ``{"layer1": (1 + views, N, 256), ...}``; index 0 is the images themselves. Seeded."""
    out = {stage: [f] for stage, f in stage_features(model, images, batch_size=batch_size).items()}
    if views:
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        shift = RandomAffine(**augment).train()
        try:
            for _ in range(views):
                for stage, f in stage_features(model, shift(images), batch_size=batch_size).items():
                    out[stage].append(f)
        finally:
            torch.random.set_rng_state(generator_state)
    return {stage: torch.stack(parts) for stage, parts in out.items()}


def fold_indices(targets: torch.Tensor, folds: int, seed: int) -> list[torch.Tensor]:
    """``folds`` disjoint index sets, each class dealt round-robin over them after a seeded shuffle."""
    g = torch.Generator().manual_seed(seed)
    parts: list[list[int]] = [[] for _ in range(folds)]
    for c in targets.unique().tolist():
        members = (targets == c).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=g)].tolist()
        offset = int(torch.randint(folds, (1,), generator=g))
        for i, index in enumerate(members):
            parts[(i + offset) % folds].append(index)
    return [torch.tensor(sorted(p), dtype=torch.long) for p in parts]


#: L-BFGS iterations of every probe and head: the one budget rule
HEAD_STEPS = 100


@contextlib.contextmanager
def _one_thread():
    """Tiny full-batch steps run fastest on one thread (several mostly wait for each other,
    dozens of times slower on a busy machine); the count is restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit_linear(head: nn.Linear, x: torch.Tensor, y: torch.Tensor, test: torch.Tensor,
               test_targets: torch.Tensor, *, l2: float, steps: int = HEAD_STEPS) -> dict:
    """Logistic regression: mean cross-entropy + ``l2``/2 x the squared weights (not the bias),
    minimized over the full batch by L-BFGS for at most ``steps`` iterations. Returns
    ``{"acc", "first_loss", "curve", "diverged", "model"}`` as ``transfer.train_arm`` does."""
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=steps, history_size=20,
                                  line_search_fn="strong_wolfe")
    with torch.no_grad():
        first = loss_fn(head(x), y).item()
    losses: list[float] = []

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(head(x), y)
        losses.append(loss.item())
        (loss + 0.5 * l2 * head.weight.pow(2).sum()).backward()
        return loss + 0.5 * l2 * head.weight.detach().pow(2).sum()

    optimizer.step(closure)
    chunk = max(1, len(losses) // CHUNKS)
    curve = [sum(losses[i:i + chunk]) / chunk for i in range(0, chunk * CHUNKS, chunk)][:CHUNKS]
    curve += [losses[-1]] * (CHUNKS - len(curve))
    if not all(math.isfinite(v) for v in losses):
        curve = [math.inf] * CHUNKS
    problem = sanity_problem(first, curve, head.out_features, "probe")
    with torch.no_grad():
        acc = (head(test).argmax(1) == test_targets).float().mean().item()
    return {"acc": acc, "first_loss": first, "curve": curve, "diverged": problem is not None,
            "model": head, "iterations": len(losses)}


def _fit(train: torch.Tensor, targets: torch.Tensor, test: torch.Tensor, test_targets: torch.Tensor,
         l2: float, seed: int, num_classes: int) -> dict:
    """One probe: ``train`` (V, n, C) rows (views of n images), tested on ``test`` (m, C)."""
    x, y = train.flatten(0, 1), targets.repeat(train.shape[0])
    x, t = standardize(x, test)
    torch.manual_seed(seed)
    head = nn.Linear(x.shape[1], num_classes)
    with _one_thread():
        return fit_linear(head, x, y, t, test_targets, l2=l2)


def probe_table(feats: dict[str, torch.Tensor], targets: torch.Tensor, *, folds: int, seed: int,
                penalties=PROBE_L2, stages=STAGES) -> dict[str, dict]:
    """Cross-validated accuracy of a linear probe on each stage: ``{stage: {"acc", "std", "l2"}}``.

    ``feats[stage]`` (V, N, C) as :func:`view_features` returns; every view of a held-out image
    is left out with it, and it is tested on its un-augmented features. For each stage the
    L2 penalty with the best mean accuracy over the folds is kept (a diverged run scores 0).
    """
    unknown = [stage for stage in stages if stage not in feats]
    if unknown:
        raise ValueError(f"no features for stage(s) {unknown}; feats has {sorted(feats)} "
                         "(build them with view_features)")
    smallest = int(torch.bincount(targets).min()) if len(targets) else 0
    if not isinstance(folds, int) or not 2 <= folds <= smallest:
        raise ValueError(f"folds={folds!r}: cross-validation needs 2 <= folds <= the smallest class's "
                         f"{smallest} images; lower folds or add images")
    bad = [stage for stage in stages if not torch.isfinite(feats[stage]).all()]
    if bad:
        raise ValueError(f"the features of {bad} hold nan or inf: check the images and the weights")
    num_classes = int(targets.max()) + 1
    parts = fold_indices(targets, folds, seed)
    table = {}
    for stage in stages:
        best = None
        for l2 in penalties:
            accs = []
            for k, held in enumerate(parts):
                keep = torch.cat([p for j, p in enumerate(parts) if j != k])
                run = _fit(feats[stage][:, keep], targets[keep], feats[stage][0, held], targets[held],
                           l2, seed + k, num_classes)
                accs.append(0.0 if run["diverged"] else run["acc"])
            acc = torch.tensor(accs)
            if best is None or acc.mean() > best["acc"]:
                best = {"acc": float(acc.mean()), "std": float(acc.std()) if folds > 1 else 0.0, "l2": l2}
        table[stage] = best
    return table


def best_stage(table: dict[str, dict]) -> str:
    """The stage whose probe scored best (on a tie, the deeper one: fewer layers left untrained)."""
    return max(table, key=lambda s: (round(table[s]["acc"], 6), STAGES.index(s)))


def train_head(feats: torch.Tensor, targets: torch.Tensor, *, l2: float, seed: int,
               val: torch.Tensor | None = None, val_targets: torch.Tensor | None = None) -> tuple[nn.Sequential, dict]:
    """A (Standardize, Linear) head trained on every row of ``feats`` (V, N, C), as the probes are;
    its run (:func:`fit_linear`'s dict) is measured on ``val`` when given, else on the training rows."""
    num_classes = int(targets.max()) + 1
    x = feats.flatten(0, 1)
    if val is None:
        val, val_targets = feats[0], targets
    run = _fit(feats, targets, val, val_targets, l2, seed, num_classes)
    norm = Standardize(x.shape[1]).fit(x)
    head = nn.Sequential(norm, run["model"])
    return head, run


def cut_model(resnet: nn.Module, stage: str, num_classes: int) -> CutResNet:
    """An untrained :class:`CutResNet` with the shapes of a saved one (to load its state dict)."""
    width = stage_width(resnet, stage)
    return CutResNet(resnet, stage, nn.Sequential(Standardize(width), nn.Linear(width, num_classes)))


def plot_stage_probe(table: dict[str, dict], chosen: str | None = None):
    """A bar per stage: its cross-validated probe accuracy (± std over the folds); ``chosen`` darker."""
    import matplotlib.pyplot as plt

    from course_utils.i18n import figure_text

    stages = list(table)
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.bar(stages, [table[s]["acc"] for s in stages], yerr=[table[s]["std"] for s in stages], capsize=4,
           color=["tab:blue" if s == chosen else "tab:gray" for s in stages])
    ax.set_ylim(0, 1)
    ax.set_ylabel(figure_text("probe accuracy (cross-validated)", table=PLOT_TEXT))
    ax.set_title(figure_text("What each stage knows about your images", table=PLOT_TEXT))
    fig.tight_layout()
    return fig


#: the figure's labels in Chinese (:func:`course_utils.i18n.figure_text`)
PLOT_TEXT = {"probe accuracy (cross-validated)": "线性探测准确率（交叉验证）",
             "What each stage knows about your images": "每个阶段对你的图片学到了什么"}
