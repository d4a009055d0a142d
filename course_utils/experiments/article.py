"""The article's real task, when a network is there: ImageNet ResNet-50 -> CIFAR-10 at 224 px.

Notebook 05's online section is these two calls:

    reason = article_task_unavailable()          # None on Colab; offline, why it is skipped
    results = run_article_task(device, strategies=("linear-probe", "last-stage"))

Inputs go through the ImageNet weights' own transform (resize 232, crop 224, ImageNet mean and
std): ``preprocessing(model)``, never the course's 32-pixel normalization.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader, Subset

from course_utils.data import DatasetUnavailableError, target_dataset
from course_utils.experiments.runner import finetune_model, predict, select_precision
from course_utils.experiments.weights import imagenet_available, load_resnet50, preprocessing
from course_utils.finetune import STRATEGIES, extract_features, freeze
from course_utils.printed import say

__all__ = ["article_task_unavailable", "run_article_task"]


def article_task_unavailable() -> str | None:
    """``None`` when ImageNet weights and CIFAR-10 can be had here; else the reason, in one line."""
    if not imagenet_available():
        return say("no ImageNet weights here (not cached, and download.pytorch.org cannot be reached)")
    try:
        target_dataset("cifar10", "test", download=True)
    except DatasetUnavailableError as exc:
        return str(exc).split(". ")[0]
    return None


def run_article_task(device: torch.device | str, *, strategies: Sequence[str] = ("linear-probe", "last-stage"),
                     train_size: int = 5000, test_size: int = 2000, epochs: int = 2,
                     lr: float = 0.01, batch_size: int = 64, seed: int = 0) -> dict[str, dict]:
    """Fine-tune ImageNet ResNet-50 on the first ``train_size`` CIFAR-10 images, once per strategy.

    Returns ``{strategy: {"test_acc", "seconds", "history"}}``, accuracy on the first
    ``test_size`` test images. The defaults take a few minutes on a Colab GPU.
    """
    device = torch.device(device)
    results = {}
    for strategy in strategies:
        torch.manual_seed(seed)
        model = load_resnet50(10, "imagenet", verbose=not results)
        transform = preprocessing(model)  # 224 px, ImageNet mean/std: what these weights expect
        train = Subset(target_dataset("cifar10", "train", transform=transform, download=True), range(train_size))
        test = Subset(target_dataset("cifar10", "test", transform=transform, download=True), range(test_size))
        pin = device.type == "cuda"

        def loader(ds, shuffle, pin=pin):
            return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, pin_memory=pin,
                              generator=torch.Generator().manual_seed(seed))

        start = time.perf_counter()
        if strategy == "linear-probe":  # a frozen backbone: compute its features once, train the head
            freeze(model.to(device), STRATEGIES[strategy])
            train, test = (extract_features(model, loader(ds, False), device) for ds in (train, test))
            model, strategy_of_model = model.fc, "full"
        else:
            strategy_of_model = strategy
        history = finetune_model(model, strategy_of_model,
                                 loader(train, True), loader(test, False), epochs=epochs, lr=lr,
                                 device=device, log=None)
        logits, targets = predict(model, loader(test, False), device, precision=select_precision(device))
        results[strategy] = {"test_acc": (logits.argmax(1) == targets).float().mean().item(),
                             "seconds": time.perf_counter() - start, "history": history}
    return results

