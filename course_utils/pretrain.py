"""Pretraining the course's own ResNet-50 on the generated source task (printed letters).

Notebook 05 fine-tunes a pretrained ResNet-50. Where ImageNet weights cannot be downloaded
(CI, any offline machine) it uses this model instead: torchvision's ``resnet50`` architecture,
unchanged, with ``weights=None``, trained from scratch on :func:`course_utils.data.source_dataset`
by :func:`course_utils.training.fit`.

The result is cached at :func:`source_checkpoint_path`, together with the configuration that
produced it and its training history: a second call loads it (and prints the same history),
while a checkpoint made with another configuration, or an unreadable one, is retrained.
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

from course_utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from course_utils.data import SOURCE_CLASSES, cache_dir, source_dataset
from course_utils.repro import get_device
from course_utils.training import fit

FORMAT = "course_utils.pretrain/2"  # bump when the data or the recipe changes meaning


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that decides the pretrained weights (and the key of the cached checkpoint)."""

    train_size: int = 5200       # generated images (multiples of 520 are class-balanced)
    test_size: int = 1040        # held-out generated images for the source accuracy
    image_size: int = 32
    epochs: int = 2
    batch_size: int = 32         # small batches: more steps for the same compute
    optimizer: str = "adamw"     # "adamw", or "sgd" (Nesterov momentum 0.9)
    lr: float = 1e-3             # peak of the one-cycle schedule
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

    Loads the cached checkpoint when it was made with the same configuration (and ``force`` is
    false); otherwise trains, then caches. ``config`` overrides :class:`PretrainConfig` fields.
    ``info`` = ``{"history", "source_acc", "path", "from_cache", "config", "seconds"}``
    (``seconds``: the training time when it was trained, stored with the checkpoint).
    """
    cfg = make_config(**config)
    path = source_checkpoint_path()
    device = get_device() if device is None else torch.device(device)
    model = build_source_model(cfg)
    state = None if force else _cached_state(path, cfg, progress)
    trained = state is None
    if trained:
        with torch.random.fork_rng(devices=[]):  # e.g. DataLoader seeds: leave the caller's RNG
            state = _train(model, cfg, device, progress)
        state["model"] = {k: v.cpu() for k, v in model.state_dict().items()}
        save_checkpoint(path, state)
    else:
        model.load_state_dict(state["model"])
    model.to(device).eval()
    info = {"history": state["history"], "source_acc": state["source_acc"], "path": path,
            "from_cache": not trained, "config": cfg, "seconds": state["seconds"]}
    return model, info


def _cached_state(path: Path, cfg: PretrainConfig, progress: bool) -> dict | None:
    """The cached checkpoint's dict if it was made by this recipe and ``cfg``, else None."""
    if not path.exists():
        return None
    try:
        state = load_checkpoint(path)
    except CheckpointError as exc:
        _say(progress, f"Cached source model unusable ({exc}); training a new one.")
        return None
    if state.get("format") != FORMAT or state.get("config") != dataclasses.asdict(cfg):
        _say(progress, f"Cached source model at {path} was made with another configuration; "
                       "training a new one.")
        return None
    return state


def _train(model: nn.Module, cfg: PretrainConfig, device: torch.device, progress: bool) -> dict:
    train_set = source_dataset("train", size=cfg.train_size, image_size=cfg.image_size)
    test_set = source_dataset("test", size=cfg.test_size, image_size=cfg.image_size)
    generator = torch.Generator().manual_seed(cfg.seed)
    # drop_last: at 32 px layer4's feature map is 1x1, and train-mode BatchNorm cannot
    # normalise a batch of one image by its own statistics.
    train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True,
                              drop_last=True, generator=generator)
    test_loader = DataLoader(test_set, batch_size=256)
    model.to(device=device, memory_format=torch.channels_last)  # faster convolutions on CPU
    if cfg.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True,
                                    weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=len(train_loader),
        pct_start=0.25)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    start = time.perf_counter()
    history = fit(model, train_loader, loss_fn, optimizer, epochs=cfg.epochs,
                  val_loader=test_loader, device=device, scheduler=scheduler, progress=progress)
    seconds = time.perf_counter() - start
    model.to(memory_format=torch.contiguous_format)
    return {"format": FORMAT, "config": dataclasses.asdict(cfg), "history": history,
            "source_acc": history[-1]["val_acc"], "seconds": seconds,
            "classes": list(SOURCE_CLASSES), "threads": torch.get_num_threads(),
            "device": str(device)}


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message)
