"""Fine-tuning a pretrained ResNet-50 on a new task: which weights, which layers, which learning rates.

    model = load_resnet50(num_classes=10, weights="auto")    # ImageNet if reachable, else the course model
    freeze(model, ["layer4", "fc"])                          # everything else frozen, BatchNorm included
    optimizer = make_optimizer(model, lr=0.01)               # trainable parameters only

Command line (also under ``torchrun --nproc_per_node=N``; see :mod:`course_utils.distributed`):

    python -m course_utils.finetune --strategy last-stage --epochs 3
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.params import count_parameters

IMAGENET_HOST = "download.pytorch.org"
#: strategy name -> submodules left trainable (None: all of them); see :func:`freeze`.
STRATEGIES: dict[str, list[str] | None] = {
    "scratch": None, "linear-probe": ["fc"], "last-stage": ["layer4", "fc"],
    "full": None, "full-discriminative": None,
}


# ----------------------------------------------------------------------------- weights
def imagenet_weights_path() -> Path:
    """Where torchvision keeps (or would download) ResNet50_Weights.DEFAULT on this machine."""
    from torchvision.models import ResNet50_Weights

    url = ResNet50_Weights.DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def imagenet_available(timeout: float = 2.0) -> bool:
    """True when the ImageNet weights are cached, or their server answers within ``timeout`` s."""
    if imagenet_weights_path().is_file():
        return True
    reached = []

    def connect() -> None:
        try:
            with socket.create_connection((IMAGENET_HOST, 443), timeout=timeout):
                reached.append(True)
        except OSError:
            pass

    # a thread, because a DNS lookup offline can hang far longer than the connect timeout
    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(timeout)
    return bool(reached)


def _resnet50_with_head(state_dict: Mapping[str, torch.Tensor] | None, num_classes: int) -> nn.Module:
    from torchvision.models import resnet50

    if state_dict is None:
        return resnet50(weights=None, num_classes=num_classes)
    model = resnet50(weights=None, num_classes=state_dict["fc.weight"].shape[0])
    model.load_state_dict(state_dict)
    if model.fc.out_features != num_classes:  # a new task: a new, randomly initialised head
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def _load_imagenet(num_classes: int) -> nn.Module:
    from torchvision.models import ResNet50_Weights

    path, weights = imagenet_weights_path(), ResNet50_Weights.DEFAULT
    try:
        if not imagenet_available():
            raise OSError(f"{IMAGENET_HOST} cannot be reached")
        state = weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # offline: URLError, socket errors, a truncated file...
        raise RuntimeError(
            f"ImageNet weights for ResNet-50 are not cached at {path} and could not be "
            f"downloaded ({type(exc).__name__}: {exc}). On a machine with internet, download "
            f"{weights.url} and copy it to {path}; or use weights='course' (the course's own "
            "source model, no network needed).") from exc
    return _resnet50_with_head(state, num_classes)


def _load_checkpoint_file(path: Path) -> dict:
    from course_utils.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    state = state.get("model", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise ValueError(f"{path} does not hold a ResNet-50 state_dict (no 'fc.weight'); save one "
                         "with save_checkpoint(path, {'model': model.state_dict()})")
    return state


def load_resnet50(num_classes: int = 10, weights: str | os.PathLike | None = "auto", *,
                  verbose: bool = True) -> nn.Module:
    """A torchvision ResNet-50 with a ``num_classes`` head, from the weights named by ``weights``.

    ``"imagenet"`` (torchvision's DEFAULT weights, cached or downloaded), ``"course"`` (the source
    model of notebook 04, built and cached by ``pretrain_source_model()`` if missing), ``"auto"``
    (ImageNet when available, else the course model), ``None`` (random init) or a checkpoint path.
    A pretrained head that does not have ``num_classes`` outputs is replaced by a fresh one.
    Prints one line saying what was loaded (``verbose=False`` silences it).
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    note = ""
    if weights == "auto":
        weights = "imagenet" if imagenet_available() else "course"
        note = "" if weights == "imagenet" else " (ImageNet weights unavailable offline: falling back)"
    if weights is None:
        model, what = _resnet50_with_head(None, num_classes), "random initialization"
    elif weights == "imagenet":
        model, what = _load_imagenet(num_classes), "ImageNet weights (ResNet50_Weights.DEFAULT)"
    elif weights == "course":
        from course_utils.pretrain import pretrain_source_model

        source, _info = pretrain_source_model(progress=False)
        state = copy.deepcopy(source.state_dict())
        model, what = _resnet50_with_head(state, num_classes), "the course's source model (notebook 04)"
    elif isinstance(weights, os.PathLike) or (isinstance(weights, str) and (
            Path(weights).suffix or os.sep in weights)):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint at {path}; train and save one first, or use "
                                    "weights='auto' | 'imagenet' | 'course' | None")
        model, what = _resnet50_with_head(_load_checkpoint_file(path), num_classes), f"checkpoint {path.name}"
    else:
        raise ValueError(f"unknown weights {weights!r}; use 'auto', 'imagenet', 'course', None "
                         "or the path of a checkpoint file")
    if verbose:
        print(f"ResNet-50 with a {num_classes}-class head, weights: {what}{note}")
    return model


# ----------------------------------------------------------------------------- freezing
class _FrozenStats:
    """Mixin: a BatchNorm that always normalises with its running statistics, never updates them.

    ``model.train()`` reaches every submodule through ``train(mode)``; this one refuses the mode.
    """

    def train(self, mode: bool = True):
        return super().train(False)


class FrozenBatchNorm1d(_FrozenStats, nn.BatchNorm1d):
    pass


class FrozenBatchNorm2d(_FrozenStats, nn.BatchNorm2d):
    pass


class FrozenBatchNorm3d(_FrozenStats, nn.BatchNorm3d):
    pass


_FROZEN = {nn.BatchNorm1d: FrozenBatchNorm1d, nn.BatchNorm2d: FrozenBatchNorm2d,
           nn.BatchNorm3d: FrozenBatchNorm3d}
_UNFROZEN = {v: k for k, v in _FROZEN.items()}


def freeze(model: nn.Module, trainable: Sequence[str] | None) -> nn.Module:
    """Freeze every parameter except those of the submodules named in ``trainable``.

    Names are those of ``model.named_modules()`` (``"fc"``, ``"layer4"``, ``"layer4.2"``);
    ``None`` makes everything trainable again. BatchNorm layers outside ``trainable`` become
    frozen: they normalise with their running statistics even after ``model.train()`` (plain
    ``requires_grad_(False)`` leaves those statistics moving). Calling again re-freezes from scratch.
    """
    if isinstance(trainable, str):
        raise TypeError(f"trainable must be a list of names, e.g. [{trainable!r}], not a string")
    modules = dict(model.named_modules())
    unknown = [n for n in (trainable or []) if n not in modules or n == ""]
    if unknown:
        valid = ", ".join(n for n, _ in model.named_children())
        raise ValueError(f"unknown submodule name(s) {unknown}; valid top-level names: {valid} "
                         "(or dotted paths such as 'layer4.2')")
    for m in model.modules():  # undo an earlier freeze() first
        if type(m) in _UNFROZEN:
            m.__class__ = _UNFROZEN[type(m)]
            m.training = model.training
    if trainable is None:
        return model.requires_grad_(True)
    model.requires_grad_(False)
    keep = {id(m) for name in trainable for m in modules[name].modules()}
    for name in trainable:
        modules[name].requires_grad_(True)
    for m in model.modules():
        if type(m) in _FROZEN and id(m) not in keep:
            m.__class__ = _FROZEN[type(m)]
            m.training = False
    return model


# ----------------------------------------------------------------------------- optimizers
def param_groups(model: nn.Module, lrs: Mapping[str, float]) -> list[dict]:
    """Parameter groups for discriminative learning rates, trainable parameters only.

    ``lrs`` maps submodule names to learning rates, e.g. ``{"fc": 1e-2, "layer4": 3e-3,
    "*": 1e-3}``; the longest matching name wins and ``"*"`` takes every other parameter.
    Each group is ``{"name", "params", "lr"}``, ready for any ``torch.optim`` optimizer.
    """
    modules = dict(model.named_modules())
    unknown = [n for n in lrs if n != "*" and (n not in modules or n == "")]
    if unknown:
        valid = ", ".join(n for n, _ in model.named_children())
        raise ValueError(f"unknown submodule name(s) {unknown} in lrs; valid: {valid}, or '*'")
    groups: dict[str, list[nn.Parameter]] = {name: [] for name in lrs}
    orphans = []
    for pname, p in model.named_parameters():
        if not p.requires_grad:
            continue
        owners = [n for n in lrs if n != "*" and (pname == n or pname.startswith(n + "."))]
        owner = max(owners, key=len) if owners else ("*" if "*" in lrs else None)
        if owner is None:
            orphans.append(pname)
        else:
            groups[owner].append(p)
    if orphans:
        raise ValueError(f"no learning rate for trainable parameters {orphans[:3]}... "
                         f"({len(orphans)} in all); add their submodule to lrs, or '*'")
    return [{"name": n, "params": ps, "lr": float(lrs[n])} for n, ps in groups.items() if ps]


def make_optimizer(model: nn.Module, *, lr: float, momentum: float = 0.9,
                   weight_decay: float = 0.0, lrs: Mapping[str, float] | None = None
                   ) -> torch.optim.SGD:
    """SGD over the trainable parameters only (frozen ones get no momentum buffer, no decay).

    With ``lrs`` (see :func:`param_groups`) each group gets its own learning rate.
    """
    if lrs is not None:
        params: Iterable = param_groups(model, lrs)
    else:
        params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters: freeze(model, [...]) named none")
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


# ----------------------------------------------------------------------------- feature caching
def backbone_of(model: nn.Module) -> nn.Module:
    """The torchvision ResNet without its head: images (B, 3, H, W) -> features (B, 2048).

    Shares its modules (and weights) with ``model``; nothing is copied.
    """
    if not hasattr(model, "fc"):
        raise ValueError("backbone_of expects a torchvision ResNet (a model with an 'fc' head)")
    return nn.Sequential(*[m for n, m in model.named_children() if n != "fc"], nn.Flatten(1))


@torch.inference_mode()
def extract_features(model: nn.Module, loader: DataLoader,
                     device: torch.device | str | None = None) -> TensorDataset:
    """Run the (frozen) backbone once over ``loader``: a TensorDataset of (features, targets).

    Features are (N, 2048) float32 on the CPU, in the loader's order. Only valid when the
    backbone is frozen (no augmentation, BatchNorm frozen): then they never change.
    """
    if any(p.requires_grad for n, p in model.named_parameters() if not n.startswith("fc.")):
        raise ValueError("the backbone has trainable parameters: cached features would go stale; "
                         "freeze(model, ['fc']) first")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    backbone = backbone_of(model).eval()  # eval: no BatchNorm statistics may move here
    feats, targets = [], []
    try:
        for images, y in loader:
            feats.append(backbone(images.to(device)).float().cpu())  # (B, 2048)
            targets.append(torch.as_tensor(y))
    finally:
        model.train(was_training)
    return TensorDataset(torch.cat(feats), torch.cat(targets))


# ----------------------------------------------------------------------------- command line
def strategy_lrs(strategy: str, lr: float) -> dict[str, float] | None:
    """Per-submodule learning rates for ``strategy`` from a base (head) ``lr``; None: one lr."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    if strategy != "full-discriminative":
        return None
    # the head starts from random numbers and must move far; early layers are generic: move little
    return {"fc": lr, "layer4": lr / 3, "layer3": lr / 10, "*": lr / 30}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m course_utils.finetune",
                                description="Fine-tune ResNet-50 on the digits task (torchrun-ready).")
    p.add_argument("--strategy", choices=list(STRATEGIES), default="last-stage")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--weights", default="auto", help="auto | imagenet | course | none | a checkpoint path")
    p.add_argument("--dataset", default="digits", help="target dataset: digits | cifar10 (online)")
    p.add_argument("--train-size", type=int, default=400, help="first N training images (0: all)")
    p.add_argument("--test-size", type=int, default=0, help="first N test images (0: all)")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=32, help="global batch, split over processes")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate (of the head, when discriminative)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu | cuda (default: the best available)")
    p.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    p.add_argument("--save", type=Path, default=None, help="save the fine-tuned weights here")
    return p


def _first(dataset, n: int):
    from torch.utils.data import Subset

    if n < 0 or n > len(dataset):
        raise ValueError(f"asked for {n} examples, the dataset has {len(dataset)}")
    return Subset(dataset, range(n)) if n else dataset


def main(argv: Sequence[str] | None = None) -> dict:
    """Run one fine-tuning; return (and print, on rank 0) the result as a dict."""
    args = _parser().parse_args(argv)
    if args.epochs < 1:
        raise SystemExit("--epochs must be at least 1")
    from course_utils import distributed as ddp
    from course_utils.data import target_dataset
    from course_utils.repro import seed_everything
    from course_utils.training import evaluate, train_one_epoch

    info = ddp.init_distributed(args.device)
    try:
        weights = None if args.strategy == "scratch" or args.weights == "none" else args.weights
        with ddp.main_first(info):  # rank 0 builds any cache (source model, data) alone
            seed_everything(args.seed)  # same head initialisation in every process
            model = load_resnet50(10, weights, verbose=info.is_main)
            train = _first(target_dataset(args.dataset, "train", image_size=args.image_size), args.train_size)
            test = _first(target_dataset(args.dataset, "test", image_size=args.image_size), args.test_size)
        freeze(model, STRATEGIES[args.strategy])
        optimizer = make_optimizer(model, lr=args.lr, lrs=strategy_lrs(args.strategy, args.lr))
        model = ddp.prepare_model(model, info)  # after the optimizer: DDP keeps the same parameters
        loader = ddp.make_loader(train, args.batch_size, info, seed=args.seed)
        loss_fn = nn.CrossEntropyLoss()
        history = []
        for epoch in range(args.epochs):
            loader.sampler.set_epoch(epoch)
            stats = train_one_epoch(model, loader, loss_fn, optimizer, info.device, progress=False)
            row = {"epoch": epoch + 1, "train_loss": ddp.all_reduce_mean(stats["loss"], info),
                   "train_acc": ddp.all_reduce_mean(stats["acc"], info)}
            history.append(row)
            if info.is_main:
                print(f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}, "
                      f"acc {row['train_acc']:.3f}", flush=True)
        plain = ddp.unwrap(model)
        test_stats = evaluate(plain, DataLoader(test, batch_size=256), loss_fn, info.device)
        result = {"strategy": args.strategy, "world_size": info.world_size, "epochs": args.epochs,
                  "history": history, "test_loss": test_stats["loss"], "test_acc": test_stats["acc"],
                  "trainable_params": count_parameters(plain, trainable_only=True),
                  "fc_weight_sum": float(plain.fc.weight.detach().double().sum())}
        if info.is_main:
            print(f"test accuracy {result['test_acc']:.3f} ({args.strategy}, "
                  f"{info.world_size} process{'es' if info.world_size > 1 else ''})")
            if args.out:
                args.out.write_text(json.dumps(result, indent=2))
            if args.save:
                from course_utils.checkpoint import save_checkpoint

                save_checkpoint(args.save, {"model": plain.state_dict()})
        return result
    finally:
        ddp.cleanup(info)


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
