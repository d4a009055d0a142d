"""``python -m course_utils finetune`` and ``predict``: your own images, two commands.

    python -m course_utils finetune --data DIR [--val DIR] --save MODEL.pt [--report DIR] ...
    python -m course_utils predict --model MODEL.pt IMAGE [IMAGE ...] [--top K]

Every argument, folder and output path is checked before any weights are loaded or any
training starts; a problem is one line on stderr (exit status 2) that says what to do.
``finetune`` also runs under ``torchrun --nproc_per_node=N -m course_utils finetune ...``.

The commands' own errors and warnings are in :data:`MESSAGES`, in the language in use
(``i18n.language()``: e.g. ``COURSE_LANG=zh``); errors raised by the modules below them (image
folders, weights, checkpoints) and argparse's usage errors keep their English text.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import zipfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader, Subset

from course_utils import distributed as ddp
from course_utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from course_utils.finetune import STRATEGIES
from course_utils.i18n import message
from course_utils.images import ImageFolderError, image_folder, load_image, stratified_split
from course_utils.plots import plot_confusion_matrix
from course_utils.repro import get_device, seed_everything
from course_utils.runner import PRECISIONS, confusion_matrix, finetune_model, predict, select_precision
from course_utils.weights import WeightsError, load_resnet50, preprocessing

MODEL_FORMAT = "course_utils.model/1"

#: The commands' messages, ``{key: {"en": ..., "zh": ...}}``, formatted with the same fields.
MESSAGES = {
    "error": {"en": "error: {problem}", "zh": "错误：{problem}"},
    "is_folder": {"en": "{flag} {path} is a folder; give a file name such as {example}",
                  "zh": "{flag} {path} 是一个文件夹；请给出文件名，例如 {example}"},
    "cannot_create": {"en": "{flag}: cannot create folder {folder} ({reason}); choose another place",
                      "zh": "{flag}：无法创建文件夹 {folder}（{reason}）；请换一个位置"},
    "not_writable": {"en": "{flag}: folder {folder} is not writable; choose another place",
                     "zh": "{flag}：文件夹 {folder} 不可写；请换一个位置"},
    "batch_split": {"en": "--batch-size {batch_size} must be divisible by the {world_size} processes",
                    "zh": "--batch-size {batch_size} 必须能被进程数 {world_size} 整除"},
    "no_weights_file": {"en": "--weights {weights}: no such file; use auto | imagenet | course | none or a "
                              "checkpoint path",
                        "zh": "--weights {weights}：文件不存在；请用 auto | imagenet | course | none 或一个"
                              "检查点文件的路径"},
    "val_classes": {"en": "--val classes {val} differ from --data classes {train}; use the same class "
                          "sub-folder names in both",
                    "zh": "--val 的类别 {val} 与 --data 的类别 {train} 不同；两者的类别子文件夹名称必须相同"},
    "not_a_model_file": {"en": "{path} is not a model file (not a torch.save archive); pass the file "
                               "written by `python -m course_utils finetune --save`",
                         "zh": "{path} 不是模型文件（不是 torch.save 保存的归档）；请传入 "
                               "`python -m course_utils finetune --save` 写出的文件"},
    "not_our_model": {"en": "{path} is not a model saved by `python -m course_utils finetune --save` "
                            "(no class names or preprocessing in it); fine-tune and save one first",
                      "zh": "{path} 不是由 `python -m course_utils finetune --save` 保存的模型（其中没有类别名"
                            "和预处理信息）；请先微调并保存一个模型"},
    "loss_rose": {"en": "warning: the training loss rose from {first:.3f} to {last:.3f}: the learning rate "
                        "is probably too high (try --lr 10 times smaller)",
                  "zh": "警告：训练损失从 {first:.3f} 升到了 {last:.3f}：学习率可能太大（试试把 --lr 缩小到"
                        "十分之一）"},
}


class CommandError(Exception):
    """A bad argument or input: printed as one line, exit status 2."""


def _number(kind, low: float, *, strict: bool = True):
    """An argparse type: a finite ``kind`` greater than (or equal to) ``low``."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}")
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"{text} must be a finite number {'>' if strict else '>='} {low}")
        return value
    return parse


def add_finetune_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="image folder: one sub-folder per class")
    p.add_argument("--val", type=Path, help="validation image folder (default: hold out 20%% of --data)")
    p.add_argument("--weights", default="auto", help="auto | imagenet | course | none | a checkpoint path")
    p.add_argument("--strategy", choices=list(STRATEGIES), default="last-stage")
    p.add_argument("--epochs", type=_number(int, 0), default=3)
    p.add_argument("--image-size", type=_number(int, 8, strict=False), default=None,
                   help="crop size (default: what the weights expect, 224 ImageNet / 32 course)")
    p.add_argument("--batch-size", type=_number(int, 0), default=32, help="global, split over processes")
    p.add_argument("--lr", type=_number(float, 0.0), default=0.01, help="learning rate (of the head)")
    p.add_argument("--seed", type=_number(int, 0, strict=False), default=0)
    p.add_argument("--device", choices=["cpu", "cuda", "mps"], default=None, help="default: the best available")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help="auto: bf16/fp16 on CUDA, fp32 else")
    p.add_argument("--save", type=Path, required=True, help="the fine-tuned model file (.pt)")
    p.add_argument("--report", type=Path, help="folder for report.json and confusion_matrix.png")


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="a file saved by `finetune --save`")
    p.add_argument("images", type=Path, nargs="+", help="image files")
    p.add_argument("--top", type=_number(int, 0), default=3, help="how many classes per image")


def _writable_file(path: Path, flag: str) -> None:
    if path.is_dir():
        raise CommandError(message(MESSAGES, "is_folder", flag=flag, path=path, example=path / "model.pt"))
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(message(MESSAGES, "cannot_create", flag=flag, folder=folder, reason=exc.strerror))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CommandError(message(MESSAGES, "not_writable", flag=flag, folder=folder))


def _check_finetune(args, info: ddp.DistInfo):
    """Everything that can be checked cheaply, before any weights are loaded: the datasets."""
    _writable_file(args.save, "--save")
    if args.report is not None:
        _writable_file(args.report / "report.json", "--report")
    if args.batch_size % info.world_size:
        raise CommandError(message(MESSAGES, "batch_split", batch_size=args.batch_size, world_size=info.world_size))
    weights = None if args.weights == "none" or args.strategy == "scratch" else args.weights
    if weights not in (None, "auto", "imagenet", "course") and not Path(weights).is_file():
        raise CommandError(message(MESSAGES, "no_weights_file", weights=weights))
    train = image_folder(args.data)
    if args.val is None:
        train_idx, val_idx = stratified_split(train.targets, 0.2, seed=args.seed, classes=train.classes)
        train, val = Subset(train, train_idx), Subset(train, val_idx)
        train.classes = val.classes = train.dataset.classes
    else:
        val = image_folder(args.val)
        if val.classes != train.classes:
            raise CommandError(message(MESSAGES, "val_classes", val=val.classes, train=train.classes))
    return weights, train, val, (train.dataset if isinstance(train, Subset) else train).skipped


def _set_transform(dataset, transform) -> None:
    (dataset.dataset if isinstance(dataset, Subset) else dataset).transform = transform


def run_finetune(args) -> dict:
    try:
        device = get_device(args.device) if args.device else None
    except RuntimeError as exc:  # e.g. --device cuda on a machine without a GPU
        raise CommandError(str(exc))
    info = ddp.init_distributed(device)
    try:
        weights, train, val, skipped = _check_finetune(args, info)
        say = print if info.is_main else (lambda *a, **k: None)
        say(f"{len(train.classes)} classes {train.classes}: {len(train)} training, {len(val)} validation images"
            + (f" ({skipped} non-image files skipped)" if skipped else ""))
        with ddp.main_first(info):  # rank 0 builds any cache (the course model) alone
            seed_everything(args.seed)  # the same new head in every process
            model = load_resnet50(len(train.classes), weights, verbose=info.is_main)
        if args.image_size is not None:
            p = model.preprocessing
            model.preprocessing = dict(p, crop_size=args.image_size,
                                       resize_size=round(args.image_size * p["resize_size"] / p["crop_size"]))
        for dataset in (train, val):
            _set_transform(dataset, preprocessing(model))
        pin = info.device.type == "cuda"
        train_loader = ddp.make_loader(train, args.batch_size, info, seed=args.seed,
                                       drop_last=len(train) > args.batch_size, pin_memory=pin)
        val_loader = DataLoader(val, batch_size=max(args.batch_size, 64), pin_memory=pin)
        say("epoch  train_loss  train_acc  val_loss  val_acc")
        start = time.perf_counter()
        history = finetune_model(model, args.strategy, train_loader, val_loader, epochs=args.epochs,
                                 lr=args.lr, precision=args.precision, info=info, progress=True, log=say)
        logits, targets = predict(model, val_loader, info.device, precision=select_precision(info.device, args.precision))
        matrix = confusion_matrix(logits.argmax(1), targets, len(train.classes))
        result = {"classes": train.classes, "strategy": args.strategy, "weights": str(args.weights),
                  "preprocessing": model.preprocessing, "world_size": info.world_size,
                  "history": history, "val_acc": history[-1]["val_acc"] if history else None,
                  "confusion_matrix": matrix.tolist(), "seconds": time.perf_counter() - start}
        if info.is_main:
            save_checkpoint(args.save, {"format": MODEL_FORMAT, "arch": "resnet50", "model": model.state_dict(),
                                        "classes": train.classes, "preprocessing": model.preprocessing,
                                        "strategy": args.strategy, "weights": str(args.weights)})
            say(f"validation accuracy {result['val_acc']:.3f}; model saved to {args.save}")
            if len(history) > 1 and history[-1]["train_loss"] > history[0]["train_loss"]:
                say(message(MESSAGES, "loss_rose", first=history[0]["train_loss"], last=history[-1]["train_loss"]))
            if args.report is not None:
                _write_report(args.report, result)
                say(f"report: {args.report / 'report.json'}, {args.report / 'confusion_matrix.png'}")
        return result
    finally:
        ddp.cleanup(info)


def _write_report(folder: Path, result: dict) -> None:
    (folder / "report.json").write_text(json.dumps(result, indent=2))
    fig = plot_confusion_matrix(result["confusion_matrix"], result["classes"])
    fig.savefig(folder / "confusion_matrix.png", dpi=100)
    plt.close(fig)


def load_model(path: Path) -> tuple[torch.nn.Module, dict]:
    """A model saved by ``finetune --save`` and its metadata; a clear error for any other file."""
    if path.is_file() and not zipfile.is_zipfile(path):
        raise CommandError(message(MESSAGES, "not_a_model_file", path=path))
    try:
        saved = load_checkpoint(path)  # weights_only=True: a file cannot run code
    except CheckpointError as exc:
        raise CommandError(str(exc))
    if saved.get("format") != MODEL_FORMAT:
        raise CommandError(message(MESSAGES, "not_our_model", path=path))
    return load_resnet50(len(saved["classes"]), path, verbose=False).eval(), saved


def run_predict(args) -> list[list[tuple[str, float]]]:
    model, saved = load_model(args.model)
    transform, classes = preprocessing(model), saved["classes"]
    images = torch.stack([transform(load_image(p)) for p in args.images])  # all checked first
    logits, _ = predict(model, [(images, torch.zeros(len(images)))], torch.device("cpu"))
    probs = logits.softmax(1)
    top = probs.topk(min(args.top, len(classes)), dim=1)
    rows = []
    for path, values, indices in zip(args.images, top.values, top.indices):
        row = [(classes[i], float(v)) for v, i in zip(values.tolist(), indices.tolist())]
        print(f"{path}: " + ", ".join(f"{name} {p:.3f}" for name, p in row))
        rows.append(row)
    return rows


def run(command: str, args) -> int:
    """Run a parsed command; bad input is one line on stderr and exit status 2."""
    try:
        if command == "finetune":
            run_finetune(args)
        else:
            run_predict(args)
    except (CommandError, ImageFolderError, WeightsError, FileNotFoundError, FloatingPointError) as exc:
        print(message(MESSAGES, "error", problem=exc), file=sys.stderr)
        return 2
    return 0
