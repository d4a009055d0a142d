"""Feature caching for a frozen backbone, side by side with the naive loop.

    .venv/bin/python benchmarks/feature_cache.py                   # course source model, 5 epochs
    .venv/bin/python benchmarks/feature_cache.py --epochs 10 --weights none

Linear probe on the digits task (ResNet-50, 32 px): the naive loop runs the frozen backbone on
every batch of every epoch; the cached version runs it once (``extract_features``) and trains
the head on the stored (N, 2048) features. Same head initialisation, same batch order: the two
heads must end equal (up to float rounding) with the same test accuracy, and the speedup should
approach the number of epochs (goal: at least 0.8 x epochs). The two runs alternate ``--repeats``
times and the fastest of each counts, so that a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_utils.data import target_dataset
from course_utils.experiments.weights import load_resnet50
from course_utils.finetune import extract_features, freeze, make_optimizer
from course_utils.repro import pin_threads, seed_everything
from course_utils.training import evaluate, fit


def probe(weights, train, epochs: int, lr: float, cached: bool) -> tuple[nn.Module, float]:
    """Train a linear probe; return (model, seconds of training, feature extraction included)."""
    seed_everything(0)  # the same new head in both runs
    model = freeze(load_resnet50(10, weights, verbose=False), ["fc"])

    def loader(ds):
        return DataLoader(ds, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))

    start = time.perf_counter()
    if cached:
        features = extract_features(model, DataLoader(train, batch_size=128))  # once: (N, 2048)
        fit(model.fc, loader(features), nn.CrossEntropyLoss(), make_optimizer(model.fc, lr=lr),
            epochs=epochs, progress=False)
    else:
        fit(model, loader(train), nn.CrossEntropyLoss(), make_optimizer(model, lr=lr),
            epochs=epochs, progress=False)
    return model, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--weights", default="course", help="course | imagenet | none | a path")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    pin_threads(args.threads)
    weights = None if args.weights == "none" else args.weights
    load_resnet50(10, weights)  # builds/loads the source model outside the timings
    train, test = target_dataset("digits", "train"), target_dataset("digits", "test")
    best = {"naive": float("inf"), "cached": float("inf")}
    models = {}
    for _ in range(args.repeats):
        for name in ("naive", "cached"):
            models[name], seconds = probe(weights, train, args.epochs, args.lr, name == "cached")
            best[name] = min(best[name], seconds)
    test_loader = DataLoader(test, batch_size=256)
    acc = {n: evaluate(m, test_loader, nn.CrossEntropyLoss())["acc"] for n, m in models.items()}
    diff = (models["naive"].fc.weight - models["cached"].fc.weight).abs().max().item()
    speedup = best["naive"] / best["cached"]
    print(f"linear probe, {len(train)} images, {args.epochs} epochs, {torch.get_num_threads()} threads")
    print(f"naive loop (backbone every epoch): {best['naive']:7.2f} s   test acc {acc['naive']:.4f}")
    print(f"cached features (backbone once):   {best['cached']:7.2f} s   test acc {acc['cached']:.4f}")
    print(f"speedup {speedup:.2f}x = {speedup / args.epochs:.2f} x epochs (goal >= 0.8); "
          f"max |head weight difference| {diff:.2e}")


if __name__ == "__main__":
    main()
