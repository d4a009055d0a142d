"""Pretraining the course's own ResNet-50 on the generated source task (printed letters).

Notebook 05 fine-tunes a pretrained ResNet-50. Where ImageNet weights cannot be downloaded
(CI, any offline machine) it uses this model instead: torchvision's ``resnet50`` architecture,
unchanged, with ``weights=None``, trained from scratch on :func:`course_utils.data.source_dataset`
by :func:`course_utils.training.fit`.

The result is cached at :func:`source_checkpoint_path`, together with the configuration that
produced it, the device and CPU thread count it was trained with, and its training history: a
second call loads it (and returns the same history). A checkpoint made with another
configuration, on another device type or with another thread count (the weights would differ in
their last digits), or an unreadable one, is retrained -- never silently: every training run first
says why it trains and about how long it will take, after checking that the cache is writable.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision.models import resnet50

from course_utils.data import SOURCE_CLASSES, cache_dir, source_dataset
from course_utils.experiments.cached_run import cached_run
from course_utils.repro import get_device
from course_utils.training import fit

__all__ = ["PretrainConfig", "source_checkpoint_path", "build_source_model", "pretrain_source_model",
           "pretraining_recipe"]

FORMAT = "course_utils.pretrain/2"  # bump when the data or the recipe changes meaning
#: Training images per second of the whole pretraining run (ResNet-50 at 32 px, AdamW step, data and the
#: per-epoch evaluation included) with 2 CPU threads on an idle 2-core machine: 342 s (the stored run of
#: notebook 04) and 330 s for the default configuration. The "about how long" estimate scales it by
#: threads and pixels; tests/test_pretrain.py checks it against notebook 04's stored run.
CPU_IMAGES_PER_SECOND_2_THREADS = 95


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that decides the pretrained weights (and the key of the cached checkpoint)."""

    train_size: int = 10400      # generated images (multiples of 520 are class-balanced)
    test_size: int = 1040        # held-out generated images for the source accuracy
    image_size: int = 32
    epochs: int = 3              # 3 x 162 = 486 steps: about 6 minutes on an idle 2-core CPU
    batch_size: int = 64
    optimizer: str = "adamw"     # "adamw", or "sgd" (Nesterov momentum 0.9)
    lr: float = 2e-3             # peak of the one-cycle schedule
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    seed: int = 0


def source_checkpoint_path() -> Path:
    """Where the pretrained source model is cached: ``cache_dir()/"resnet50_letters.pt"``."""
    return cache_dir() / "resnet50_letters.pt"


def build_source_model(config: PretrainConfig | None = None) -> nn.Module:
    """torchvision's ResNet-50, random init (seeded by ``config.seed``), 26 letter classes.

    ``zero_init_residual=True`` only changes the *initial values*: the last BatchNorm of every
    residual block starts at zero, so every block starts as the identity (Goyal et al., 2017),
    which keeps a short from-scratch run stable. The architecture is torchvision's, unchanged.
    """
    config = config or PretrainConfig()
    with torch.random.fork_rng(devices=[]):  # seed the init without touching the caller's RNG
        torch.manual_seed(config.seed)
        return resnet50(weights=None, num_classes=len(SOURCE_CLASSES), zero_init_residual=True)


def make_config(**config) -> PretrainConfig:
    """``PretrainConfig(**config)`` with an error that lists the valid names on a typo."""
    names = [f.name for f in dataclasses.fields(PretrainConfig)]
    unknown = sorted(set(config) - set(names))
    if unknown:
        raise TypeError(f"unknown pretraining option(s) {unknown}; valid: {names}")
    if config.get("optimizer", "adamw") not in ("sgd", "adamw"):
        raise ValueError(f"optimizer must be 'sgd' or 'adamw', got {config['optimizer']!r}")
    return PretrainConfig(**config)


def pretrain_source_model(*, force: bool = False, progress: bool = True,
                          device: torch.device | str | None = None,
                          **config) -> tuple[nn.Module, dict]:
    """Return the pretrained source ResNet-50 (in ``eval()`` mode) and what is known about it.

    Loads the cached checkpoint when it was made with the same configuration, device type and
    (on a CPU) thread count, and ``force`` is false; otherwise checks that the cache is
    writable, prints why and about how long training takes (whatever ``progress``, which only
    controls the progress bar), trains, then caches (:mod:`course_utils.experiments.cached_run`).
    ``config`` overrides :class:`PretrainConfig` fields.
    ``info`` = ``{"history", "source_acc", "path", "from_cache", "config", "seconds"}``
    (``seconds``: the training time when it was trained, stored with the checkpoint).
    """
    cfg = make_config(**config)
    path = source_checkpoint_path()
    device = get_device() if device is None else torch.device(device)
    model = build_source_model(cfg)
    key = {"format": FORMAT, "config": dataclasses.asdict(cfg), "device": str(device),
           "threads": torch.get_num_threads()}

    def announce(why: str) -> None:
        print(f"Pretraining the source ResNet-50: {why}. {_estimate(cfg, device)}", flush=True)

    def train() -> dict:
        with torch.random.fork_rng(devices=[]):  # e.g. DataLoader seeds: leave the caller's RNG
            result = _train(model, cfg, device, progress)
        return {**result, "model": {k: v.cpu() for k, v in model.state_dict().items()}}

    state, from_cache = cached_run(path, key, train, force=force, announce=announce,
                                   noun="model", compare=_run_key, reasons=_REASONS)
    if from_cache:
        model.load_state_dict(state["model"])
    model.to(device).eval()
    info = {"history": state["history"], "source_acc": state["source_acc"], "path": path,
            "from_cache": from_cache, "config": cfg, "seconds": state["seconds"]}
    return model, info


_REASONS = {"run": "the cached {noun} was made {old}, this run is {new} "
                   "(its weights would differ in the last digits)"}


def _run_key(state: dict) -> dict:
    """The key as compared: the stored device and thread count count only as the kind of run
    (the device type; the thread count on a CPU only), which is what decides the exact weights."""
    return {"format": state.get("format"), "config": state.get("config"),
            "run": _run_kind(state.get("device"), state.get("threads"))}


def _run_kind(device: str | None, threads: int | None) -> str:
    """``"on cpu with 2 thread(s)"`` / ``"on cuda"``: what decides the exact weights."""
    kind = torch.device(device).type if device else "an unknown device"
    return f"on cpu with {threads} thread(s)" if kind == "cpu" else f"on {kind}"


def _steps(cfg: PretrainConfig) -> int:
    """Training steps of the run: full batches only (``drop_last``), every epoch."""
    return cfg.epochs * (cfg.train_size // cfg.batch_size)


def _cpu_seconds(cfg: PretrainConfig, threads: int) -> float:
    """The estimated seconds of training on ``threads`` CPU threads (an evaluation image counts half)."""
    rate = CPU_IMAGES_PER_SECOND_2_THREADS * threads / 2 * (32 / cfg.image_size) ** 2
    return (_steps(cfg) * cfg.batch_size + cfg.epochs * cfg.test_size / 2) / rate


def _estimate(cfg: PretrainConfig, device: torch.device) -> str:
    """About how long training takes, from the measured speed of a 2-core CPU."""
    what = f"{_steps(cfg)} steps of {cfg.batch_size} images at {cfg.image_size} px"
    if device.type != "cpu":
        return f"{what}: a few minutes at most on {device.type}."
    seconds = _cpu_seconds(cfg, torch.get_num_threads())
    how_long = "under a minute" if seconds < 60 else f"about {round(seconds / 60)} min"
    return (f"{what}: {how_long} with {torch.get_num_threads()} CPU thread(s) on an otherwise "
            "idle machine; it is cached afterwards.")


def source_loaders(config: PretrainConfig | None = None) -> tuple[DataLoader, DataLoader]:
    """The pretraining data: shuffled training batches (seeded by ``config.seed``) and test batches.

    No augmentation on the fly: the variety (fonts, rotation, scale, shear, shift, stroke width,
    resolution, colour, noise) is in the generated images themselves.
    """
    cfg = config or PretrainConfig()
    train_set = source_dataset("train", size=cfg.train_size, image_size=cfg.image_size)
    test_set = source_dataset("test", size=cfg.test_size, image_size=cfg.image_size)
    generator = torch.Generator().manual_seed(cfg.seed)
    # drop_last: at 32 px layer4's feature map is 1x1, and train-mode BatchNorm cannot
    # normalise a batch of one image by its own statistics.
    train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True,
                              drop_last=True, generator=generator)
    return train_loader, DataLoader(test_set, batch_size=256)


def pretraining_recipe(model: nn.Module, config: PretrainConfig, steps_per_epoch: int
                       ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler,
                                  nn.Module]:
    """``(optimizer, scheduler, loss_fn)`` of the pretraining run, as notebook 04 writes them.

    AdamW (or Nesterov SGD) with ``config.weight_decay``; a one-cycle schedule over
    ``config.epochs * steps_per_epoch`` steps (a warm-up from ``lr / 25`` to ``lr`` in the first
    quarter, then a cosine anneal to almost 0), stepped once per batch; cross-entropy with
    ``config.label_smoothing``.
    """
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9,
                                    nesterov=True, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                      weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
        pct_start=0.25)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    return optimizer, scheduler, loss_fn


def _train(model: nn.Module, cfg: PretrainConfig, device: torch.device, progress: bool) -> dict:
    train_loader, test_loader = source_loaders(cfg)
    model.to(device=device, memory_format=torch.channels_last)  # faster convolutions on CPU
    optimizer, scheduler, loss_fn = pretraining_recipe(model, cfg, len(train_loader))
    start = time.perf_counter()
    history = fit(model, train_loader, loss_fn, optimizer, epochs=cfg.epochs,
                  val_loader=test_loader, device=device, scheduler=scheduler, progress=progress)
    seconds = time.perf_counter() - start
    model.to(memory_format=torch.contiguous_format)
    return {"history": history, "source_acc": history[-1]["val_acc"], "seconds": seconds,
            "classes": list(SOURCE_CLASSES)}
