"""The inputs the transfer grid's arms train on: what each stage of a frozen network computes, and pixels.

    feats = stage_features(source_model, images)             # {"layer1": (N, 256), ..., "layer4": (N, 2048)}
    train, test = standardize(feats["layer3"][idx], feats_test["layer3"])
    data = prepare_target(source_model, images, test_images)  # every input of every arm, computed once

A probe sees the average-pooled output of one stage, standardized with the statistics of its
training rows; a pixel model sees the images pooled to the target's native resolution
(:data:`NATIVE_PIXELS`). :mod:`course_utils.experiments.arms` names which input each arm takes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["STEM", "STAGES", "stage_features", "standardize", "Standardize", "NATIVE_PIXELS", "Pixels",
           "prepare_target"]

STEM = ("conv1", "bn1", "relu", "maxpool")  # a torchvision ResNet before its first stage
STAGES = ("layer1", "layer2", "layer3", "layer4")


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


#: the pixels a pixel model sees, at the target's native resolution: (size, channels)
NATIVE_PIXELS = {"digits": (8, 1),    # 8x8 grey scans, blown up to 32 px: pooling undoes it
                 "glyphs": (32, 3)}   # drawn at 32 px in colour


def pixels(images: torch.Tensor, size: int = 8, channels: int = 1) -> torch.Tensor:
    """The first ``channels`` channels average-pooled to ``size`` x ``size``, flattened:
    (N, 3, 32, 32) -> (N, channels * size**2); the default is the digits' native 8x8 grey."""
    return nn.functional.adaptive_avg_pool2d(images[:, :channels], size).flatten(1)


class Pixels(nn.Module):
    """:func:`pixels` as a layer: a pixel model that sees each (augmented) image itself."""

    def __init__(self, size: int = 8, channels: int = 1):
        super().__init__()
        self.size, self.channels = size, channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return pixels(images, self.size, self.channels)


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
