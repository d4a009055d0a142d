"""Transfer measured fairly: what each stage of a frozen network knows, and every arm on one budget.

    feats = stage_features(source_model, images)             # {"layer1": (N, 256), ..., "layer3_maps": ...}
    train, test = standardize(feats["layer3"][idx], feats_test["layer3"])
    result = train_arm(nn.Linear(1024, 10), train, targets[idx], test, test_targets, lr=1e-2, seed=0)

Every arm (a probe, a baseline trained from scratch, fine-tuning) is trained by :func:`train_arm`:
AdamW with a cosine schedule for the same number of optimizer steps (:data:`STEPS`) of the same
batch size, so that "A beats B" compares methods, not budgets. Its first loss and its loss curve
are checked against ln C (``losses.check_sane``, the check notebook 02 teaches).
"""

from __future__ import annotations

import copy
import csv
import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset
from torchvision.models import resnet50

from course_utils.augment import RandomAffine
from course_utils.losses import sanity_problem
from course_utils.training import evaluate, fit

__all__ = ["STEM", "STAGES", "CHUNKS", "stage_features", "standardize", "Standardize", "per_class_indices",
           "GRID_CSV", "read_grid", "TRANSFER_ARMS", "BASELINE_ARMS", "rule", "lr_candidates", "at_edge",
           "NATIVE_PIXELS", "prepare_target", "run_cell"]

STEM = ("conv1", "bn1", "relu", "maxpool")  # a torchvision ResNet before its first stage
STAGES = ("layer1", "layer2", "layer3", "layer4")
STEPS = 24          # optimizer steps per arm, for every arm: the one budget rule
BATCH_SIZE = 16
CHUNKS = 4          # the loss curve is recorded as the mean of each quarter of the run


@torch.no_grad()  # not inference_mode: the cached maps are trained on (last-stage)
def stage_features(model: nn.Module, images: torch.Tensor, *, keep_maps: Sequence[str] = (),
                   batch_size: int = 256) -> dict[str, torch.Tensor]:
    """Average-pooled output of every stage of a torchvision ResNet, in ``eval()`` mode.

    ``images`` (N, 3, H, W) -> ``{"layer1": (N, 256), ..., "layer4": (N, 2048)}``; ``"layer4"``
    is exactly the (N, 2048) input of ``fc``. Stages named in ``keep_maps`` are also returned
    unpooled as ``"<stage>_maps"`` (N, C, h, w), e.g. to train ``layer4`` on cached ``layer3``
    outputs. The model's mode is restored; its weights and BatchNorm statistics never change.
    """
    if not all(hasattr(model, name) for name in STEM + STAGES):
        raise ValueError("stage_features expects a torchvision ResNet: "
                         f"{', '.join(STEM)}, then {', '.join(STAGES)}")
    unknown = [s for s in keep_maps if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown} in keep_maps; choose from {STAGES}")
    was_training = model.training
    model.eval()
    out: dict[str, list[torch.Tensor]] = {}
    try:
        for batch in images.split(batch_size):
            x = batch
            for name in STEM:
                x = getattr(model, name)(x)
            for name in STAGES:
                x = getattr(model, name)(x)
                out.setdefault(name, []).append(x.mean(dim=(2, 3)))  # (B, C, h, w) -> (B, C)
                if name in keep_maps:
                    out.setdefault(f"{name}_maps", []).append(x.clone())
    finally:
        model.train(was_training)
    return {name: torch.cat(parts) for name, parts in out.items()}


def standardize(train: torch.Tensor, *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Scale each feature to mean 0, std 1 with statistics of ``train`` only; apply to ``others``.

    A feature almost constant on the training rows (a dead ReLU channel) would be blown up by
    its tiny std; its scale is floored at a tenth of the mean std.
    """
    mean, scale = _mean_and_scale(train)
    return tuple((t - mean) / scale for t in (train, *others))


def _mean_and_scale(train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    std = train.std(0)
    return train.mean(0), std.clamp_min(0.1 * std.mean().item() + 1e-12)


class Standardize(nn.Module):
    """:func:`standardize` as a layer, for a model that computes its own features: the statistics
    of the training rows are set once by :meth:`fit` and fixed afterwards."""

    def __init__(self, width: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("scale", torch.ones(width))

    def fit(self, train: torch.Tensor) -> Standardize:
        mean, scale = _mean_and_scale(train)
        self.mean.copy_(mean)
        self.scale.copy_(scale)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale


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


# ----------------------------------------------------------------------------- the arms
TRANSFER_ARMS = ("probe-fc", "probe-layer1", "probe-layer2", "probe-layer3", "probe-layer4",
                 "last-stage", "full", "cut-layer3", "probe-fc-long", "probe-layer3-long",
                 "last-stage-long", "full-long", "cut-layer3-long", "full-aug", "cut-layer3-aug")
BASELINE_ARMS = ("pixels-logreg", "mlp", "small-cnn", "resnet50-scratch",
                 "pixels-logreg-long", "mlp-long", "small-cnn-long", "resnet50-scratch-long",
                 "pixels-logreg-aug", "mlp-aug", "small-cnn-aug", "resnet50-scratch-aug")
#: "-long" arms: every arm but the stage probes again with 16x the budget, so that transfer is
#: also compared with baselines trained to convergence at an equal budget (long against long).
#: "-aug" arms: the long budget on augmented images (:class:`~course_utils.augment.RandomAffine`),
#: for every arm that can see a new view of its images each step (not the cached-feature ones)
LONG_STEPS = 16 * STEPS


def budget(arm: str) -> tuple[str, int]:
    """The arm's model and its number of steps: ``"full-long"`` and ``"full-aug"`` ->
    ``("full", LONG_STEPS)``, ``"full"`` -> ``("full", STEPS)``. A long or augmented run is built
    (bar the augmentation) and swept like its short one."""
    for suffix in ("-long", "-aug"):
        if arm.endswith(suffix):
            return arm.removesuffix(suffix), LONG_STEPS
    return arm, STEPS


def rule(arm: str) -> str:
    """The budget rule ``arm`` trains under, by its suffix: ``"short budget"``, ``"long budget"``
    (``-long``) or ``"augmented"`` (``-aug``). Only arms of one rule are compared."""
    return "long budget" if arm.endswith("-long") else "augmented" if arm.endswith("-aug") else "short budget"


#: the learning rates each arm is swept over (AdamW; a validation split picks one)
LRS = {"deep": (1e-4, 3e-4, 1e-3), "conv": (3e-4, 1e-3, 3e-3, 1e-2),
       "cnn": (1e-3, 3e-3, 1e-2, 3e-2, 1e-1), "shallow": (3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1),
       "wide": (1e-4, 3e-4, 1e-3, 3e-3)}


def lr_candidates(arm: str, pixel_features: int = 64) -> tuple[float, ...]:
    """The learning rates ``arm`` is swept over. A pixel model on many inputs (the glyphs'
    3,072) gets smaller ones: AdamW moves every weight by about ``lr`` per step, so the logits
    move about ``lr`` x the number of inputs."""
    arm, _ = budget(arm)
    if arm in ("pixels-logreg", "mlp") and pixel_features > 256:
        return LRS["wide"]
    if arm in ("last-stage", "full"):
        return LRS["deep"]
    if arm in ("cut-layer3", "resnet50-scratch"):
        return LRS["conv"]
    return LRS["cnn"] if arm.startswith("small-cnn") else LRS["shallow"]


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


#: the pixels a pixel model sees, at the target's native resolution: (size, channels)
NATIVE_PIXELS = {"digits": (8, 1),    # 8x8 grey scans, blown up to 32 px: pooling undoes it
                 "glyphs": (32, 3)}   # drawn at 32 px in colour


def pixels(images: torch.Tensor, size: int = 8, channels: int = 1) -> torch.Tensor:
    """The first ``channels`` channels average-pooled to ``size`` x ``size``, flattened:
    (N, 3, 32, 32) -> (N, channels * size**2); the default is the digits' native 8x8 grey."""
    return nn.functional.adaptive_avg_pool2d(images[:, :channels], size).flatten(1)


def prepare_target(source_model: nn.Module, images: torch.Tensor, test_images: torch.Tensor,
                   native: tuple[int, int] = NATIVE_PIXELS["digits"]) -> dict:
    """Every input an arm may need, for the training pool and the test split, computed once.

    ``images`` (N, 3, 32, 32) normalized. Keys, each a (train, test) pair: ``"images"``,
    ``"pixels"`` (:func:`pixels` at the target's ``native`` (size, channels), e.g. the digits'
    8x8 grey, (N, 64)), ``"layer1"``..``"layer4"`` (pooled stage outputs of the frozen source
    model) and ``"layer3_maps"`` (its unpooled layer3 outputs, the input of ``layer4``).
    """
    train = stage_features(source_model, images, keep_maps=["layer3"])
    test = stage_features(source_model, test_images, keep_maps=["layer3"])
    data = {name: (train[name], test[name]) for name in train}
    data["images"] = (images, test_images)
    data["pixels"] = (pixels(images, *native), pixels(test_images, *native))
    return data


class Pixels(nn.Module):
    """:func:`pixels` as a layer: a pixel model that sees each (augmented) image itself."""

    def __init__(self, size: int = 8, channels: int = 1):
        super().__init__()
        self.size, self.channels = size, channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return pixels(images, self.size, self.channels)


def build_arm(arm: str, source_model: nn.Module, num_classes: int, seed: int,
              native: tuple[int, int] = NATIVE_PIXELS["digits"]) -> tuple[nn.Module, str]:
    """A fresh model for ``arm`` (seeded) and the key of its input in :func:`prepare_target`
    (``native``: the target's (size, channels) of ``"pixels"``, as given to it).

    An ``-aug`` arm is its long arm behind :class:`~course_utils.augment.RandomAffine`, on
    ``"images"``; a pixel model then pools and standardizes each augmented image itself
    (:class:`Pixels`, then a :class:`Standardize` that :func:`run_cell` fits).
    """
    if arm not in TRANSFER_ARMS + BASELINE_ARMS:
        raise ValueError(f"unknown arm {arm!r}; choose from {TRANSFER_ARMS + BASELINE_ARMS}")
    torch.manual_seed(seed)
    model, key = _model(budget(arm)[0], source_model, num_classes, native[1] * native[0] ** 2)
    if rule(arm) != "augmented":
        return model, key
    if key == "pixels":
        model = nn.Sequential(Pixels(*native), Standardize(native[1] * native[0] ** 2), model)
    elif key != "images":
        raise ValueError(f"{arm}: only an arm that trains on images can be augmented, not on {key!r}")
    return nn.Sequential(RandomAffine(), model), "images"


def _model(arm: str, source_model: nn.Module, num_classes: int, pixel_features: int) -> tuple[nn.Module, str]:
    if arm == "pixels-logreg":
        return nn.Linear(pixel_features, num_classes), "pixels"
    if arm == "mlp":  # notebook 03's 9,610-parameter MLP on the digits' 8x8 pixels
        return nn.Sequential(nn.Linear(pixel_features, 128), nn.ReLU(),
                             nn.Linear(128, num_classes)), "pixels"
    if arm == "small-cnn":
        def block(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        return nn.Sequential(*block(3, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2),
                             *block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(64, num_classes)), "images"
    if arm == "resnet50-scratch":  # the source model's architecture and init recipe, no pretraining
        return resnet50(weights=None, num_classes=num_classes, zero_init_residual=True), "images"
    if arm == "probe-fc":  # the classic linear probe: fc on the raw pooled features
        return nn.Linear(2048, num_classes), "layer4"
    if arm.startswith("probe-layer"):  # standardized pooled stage output
        width = source_model.fc.in_features >> (4 - int(arm[-1]))
        return nn.Linear(width, num_classes), arm[len("probe-"):]
    if arm == "last-stage":  # layer4 + a new fc, trained on the frozen layer3 outputs
        head = nn.Linear(source_model.fc.in_features, num_classes)
        return nn.Sequential(copy.deepcopy(source_model.layer4), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), head), "layer3_maps"
    if arm == "cut-layer3":  # the source model cut after layer3 (layer4 and fc dropped), a new head
        body = [getattr(source_model, name) for name in STEM + STAGES[:3]]
        head = nn.Linear(source_model.fc.in_features // 2, num_classes)
        return nn.Sequential(*copy.deepcopy(body), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             head).requires_grad_(True), "images"
    model = copy.deepcopy(source_model)  # "full": every layer trains, from the source weights
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model.requires_grad_(True), "images"


def run_cell(arm: str, source_model: nn.Module, data: dict, targets: torch.Tensor,
             test_targets: torch.Tensor, index: torch.Tensor, *, lr: float, seed: int,
             val_index: torch.Tensor | None = None, check: bool = True,
             native: tuple[int, int] = NATIVE_PIXELS["digits"]) -> dict:
    """Train ``arm`` on the training rows ``index`` of ``data`` (:func:`prepare_target`); test it.

    With ``val_index`` (training rows disjoint from ``index``) it is measured on those instead
    of the test split: that is how learning rates are chosen (:func:`lr_candidates`).
    ``native`` is the one ``data`` was prepared with.
    """
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
    if key in ("pixels", *STAGES) and arm != "probe-fc":  # probe-fc: raw features, as usual
        train, test = standardize(train, test)
    steps = budget(arm)[1]
    return train_arm(model, train, targets[index], test, test_targets, lr=lr, seed=seed, steps=steps,
                     check=check, name=arm)
