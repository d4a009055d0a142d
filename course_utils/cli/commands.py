"""``python -m course_utils finetune`` and ``predict``: your own images, two commands.

    python -m course_utils finetune --data DIR [--val DIR] --save MODEL.pt [--report DIR] ...
    python -m course_utils predict --model MODEL.pt IMAGE_OR_FOLDER [...] [--top K] [--csv FILE]

``--strategy auto`` (the default) first measures what each stage of the pretrained network
knows about the user's images (a linear probe per stage, cross-validated on the training
split: :mod:`course_utils.experiments.stage_probe`), then cuts the network after the best stage and trains a
new head there (``cut-layer1`` .. ``cut-layer4``; ``cut-layer4`` keeps the whole network), with
augmented views when the data is small and they help in the same cross-validation.

Every argument, folder and output path is checked before any weights are loaded or any
training starts; a problem is one line on stderr (exit status 2) that says what to do.
``finetune`` also runs under ``torchrun --nproc_per_node=N -m course_utils finetune ...``.

The commands' own errors and warnings are in :data:`MESSAGES`, in the language in use
(``i18n.language()``: e.g. ``COURSE_LANG=zh``); errors raised by the modules below them (image
folders, weights, checkpoints) and argparse's usage errors keep their English text.
"""

from __future__ import annotations

import argparse
import csv
import io
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
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.models import resnet50

from course_utils import distributed as ddp
from course_utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, state_dict_mismatch
from course_utils.data.images import ImageFolderError, image_folder, load_image, stratified_split
from course_utils.experiments.runner import PRECISIONS, confusion_matrix, finetune_model, predict, select_precision
from course_utils.experiments.stage_probe import (
    AUGMENTS,
    CUT_STRATEGIES,
    HEAD_STEPS,
    CutResNet,
    best_stage,
    cut_model,
    plot_stage_probe,
    probe_table,
    train_head,
    view_features,
)
from course_utils.experiments.transfer import STAGES, stage_features
from course_utils.experiments.weights import WeightsError, load_resnet50, preprocessing
from course_utils.finetune import STRATEGIES
from course_utils.i18n import message
from course_utils.internals.atomic import atomic_write
from course_utils.plots import plot_confusion_matrix
from course_utils.repro import get_device, seed_everything

__all__ = ["add_finetune_arguments", "add_predict_arguments", "run"]

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
    "too_few_to_probe": {"en": "--strategy {strategy} measures each stage by cross-validation on the training "
                               "images and needs at least 2 per class ({name!r} has {count} for training); "
                               "add images, or pass --strategy last-stage",
                         "zh": "--strategy {strategy} 要在训练图片上用交叉验证衡量每个阶段，每个类别至少需要 2 张"
                               "（{name!r} 只有 {count} 张用于训练）；请添加图片，或者用 --strategy last-stage"},
    "augment_needs_cut": {"en": "--augment {augment} works with --strategy auto and the cut-* strategies only; "
                                "drop --augment or choose one of them",
                          "zh": "--augment {augment} 只能与 --strategy auto 和 cut-* 策略一起使用；请去掉 --augment "
                                "或者换用这些策略"},
    "probe_header": {"en": "what each stage knows: a linear probe on its pooled output, {folds}-fold "
                           "cross-validation on the {n} training images",
                     "zh": "每个阶段学到了什么：在其汇聚后的输出上训练线性探测，"
                           "在 {n} 张训练图片上做 {folds} 折交叉验证"},
    "probe_columns": {"en": "stage    probe acc        L2", "zh": "阶段     探测准确率       L2"},
    "chose_auto": {"en": "auto chose {strategy}: {stage} probes best ({acc:.3f} against {other} {other_acc:.3f} "
                         "for the next best){what}",
                   "zh": "auto 选择了 {strategy}：{stage} 的线性探测最好（{acc:.3f}，次好的 {other} 为 "
                         "{other_acc:.3f}）{what}"},
    "what_cut": {"en": "; the network is cut after {stage}: a new head on its pooled output",
                 "zh": "；网络在 {stage} 之后截断，在其汇聚后的输出上训练一个新的分类头"},
    "what_whole": {"en": "; the whole network is kept, with a new head",
                   "zh": "；保留整个网络，换一个新的分类头"},
    "chose_named": {"en": "{strategy} (as asked): a new head on the pooled output of {stage}",
                    "zh": "{strategy}（按要求）：在 {stage} 汇聚后的输出上训练新的分类头"},
    "augment_measured": {"en": "augmentation {augment}: {with_aug:.3f} with {views} augmented views per image, "
                               "{without:.3f} without (same cross-validation)",
                         "zh": "数据增强 {augment}：每张图片加 {views} 个增强视图时为 {with_aug:.3f}，不加时为 "
                               "{without:.3f}（同一交叉验证）"},
    "augment_large": {"en": "augmentation none: {per_class} training images per class are enough (augmentation "
                            "is tried below {limit})",
                      "zh": "数据增强 none：每类 {per_class} 张训练图片已足够（少于 {limit} 张时才尝试增强）"},
    "augment_given": {"en": "augmentation {augment} (as asked)", "zh": "数据增强 {augment}（按要求）"},
    "head_trained": {"en": "head: logistic regression on {rows} cached feature rows (L2 {l2:g}, at most {steps} "
                           "L-BFGS steps); nothing was chosen on the validation images, so their accuracy "
                           "below is unbiased",
                     "zh": "分类头：在 {rows} 行缓存特征上做逻辑回归（L2 {l2:g}，最多 {steps} 步 L-BFGS）；"
                           "没有任何选择用到验证图片，所以下面的验证准确率没有偏差"},
    "refit": {"en": "the saved head is then refit on all {n} images (training and validation) with the same stage, "
                    "augmentation and L2; the validation accuracy is the one of the head trained on the {train} "
                    "training images",
              "zh": "保存的分类头随后在全部 {n} 张图片（训练和验证）上用同样的阶段、数据增强和 L2 重新训练；"
                    "验证准确率是只在 {train} 张训练图片上训练的分类头的结果"},
    "no_images": {"en": "{path}: no images in this folder (extensions {extensions}, ...); pass image files "
                        "or a folder that holds some",
                  "zh": "{path}：这个文件夹里没有图片（扩展名 {extensions} 等）；请传入图片文件或含有图片的文件夹"},
    "no_such_input": {"en": "{path}: no such image file or folder", "zh": "{path}：没有这个图片文件或文件夹"},
    "split": {"en": "{n} classes {classes}: {train} training, {val} validation images",
              "zh": "{n} 个类别 {classes}：{train} 张训练图片，{val} 张验证图片"},
    "skipped_note": {"en": " ({count} non-image files skipped)", "zh": "（跳过了 {count} 个非图片文件）"},
    "saved": {"en": "validation accuracy {acc:.3f}; model saved to {path}",
              "zh": "验证准确率 {acc:.3f}；模型已保存到 {path}"},
    "report_written": {"en": "report: {json}, {png}", "zh": "报告：{json}，{png}"},
    "skipped_files": {"en": "{count} non-image files skipped", "zh": "跳过了 {count} 个非图片文件"},
    "csv_written": {"en": "predictions for {count} images written to {path}",
                    "zh": "{count} 张图片的预测已写入 {path}"},
    "cut_mismatch": {"en": "{path} does not fit a ResNet-50 cut after {stage}: {problems}; save it again with "
                           "`python -m course_utils finetune --save`",
                     "zh": "{path} 与在 {stage} 之后截断的 ResNet-50 不匹配：{problems}；请用 "
                           "`python -m course_utils finetune --save` 重新保存"},
}

#: below this many training images per class, ``auto`` tries augmentation (and keeps it if it helps)
AUGMENT_BELOW = 30


class CommandError(Exception):
    """A bad argument or input: printed as one line, exit status 2."""


def _number(kind, low: float, *, strict: bool = True):
    """An argparse type: a finite ``kind`` greater than (or equal to) ``low``."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"{text} must be a finite number {'>' if strict else '>='} {low}")
        return value
    return parse


def add_finetune_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="image folder: one sub-folder per class")
    p.add_argument("--val", type=Path, help="validation image folder (default: hold out 20%% of --data)")
    p.add_argument("--weights", default="auto", help="auto | imagenet | course | none | a checkpoint path")
    p.add_argument("--strategy", choices=["auto", *CUT_STRATEGIES, *STRATEGIES], default="auto",
                   help="auto: measure each stage, then cut after the best one (cut-layerN)")
    p.add_argument("--augment", choices=["auto", *AUGMENTS], default="auto",
                   help="augmented views for auto / cut-* (auto: tried when data is small, kept if it helps)")
    p.add_argument("--epochs", type=_number(int, 0), default=3, help="epochs (not used by auto / cut-*)")
    p.add_argument("--image-size", type=_number(int, 8, strict=False), default=None,
                   help="crop size (default: what the weights expect, 224 ImageNet / 32 course)")
    p.add_argument("--batch-size", type=_number(int, 0), default=32, help="global, split over processes")
    p.add_argument("--lr", type=_number(float, 0.0), default=0.01,
                   help="learning rate of the head (not used by auto / cut-*: their head is a logistic "
                        "regression, its L2 penalty chosen by cross-validation)")
    p.add_argument("--seed", type=_number(int, 0, strict=False), default=0)
    p.add_argument("--device", choices=["cpu", "cuda", "mps"], default=None, help="default: the best available")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help="auto: bf16/fp16 on CUDA, fp32 else")
    p.add_argument("--save", type=Path, required=True, help="the fine-tuned model file (.pt)")
    p.add_argument("--report", type=Path, help="folder for report.json and confusion_matrix.png")


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="a file saved by `finetune --save`")
    p.add_argument("images", type=Path, nargs="+", help="image files or folders (searched recursively)")
    p.add_argument("--top", type=_number(int, 0), default=3, help="how many classes per image")
    p.add_argument("--csv", type=Path, help="also write the predictions to this CSV file")


def _writable_file(path: Path, flag: str) -> None:
    if path.is_dir():
        raise CommandError(message(MESSAGES, "is_folder", flag=flag, path=path, example=path / "model.pt"))
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(message(MESSAGES, "cannot_create", flag=flag, folder=folder, reason=exc.strerror)) from exc
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
    if args.augment not in ("auto", "none") and not _probes(args.strategy):
        raise CommandError(message(MESSAGES, "augment_needs_cut", augment=args.augment))
    train = image_folder(args.data)
    if _probes(args.strategy):
        counts = torch.bincount(torch.tensor(train.targets), minlength=len(train.classes)).tolist()
        held = 0 if args.val is not None else 1  # stratified_split keeps one per class at least
        name, count = min(zip(train.classes, counts), key=lambda nc: nc[1])
        if count - held < 2 and (args.val is not None or count >= 2):
            raise CommandError(message(MESSAGES, "too_few_to_probe", strategy=args.strategy, name=name,
                                       count=count - held))
    if args.val is None:
        train_idx, val_idx = stratified_split(train.targets, 0.2, seed=args.seed, classes=train.classes)
        train, val = Subset(train, train_idx), Subset(train, val_idx)
        train.classes = val.classes = train.dataset.classes
    else:
        val = image_folder(args.val)
        if val.classes != train.classes:
            raise CommandError(message(MESSAGES, "val_classes", val=val.classes, train=train.classes))
    return weights, train, val, (train.dataset if isinstance(train, Subset) else train).skipped


def _probes(strategy: str) -> bool:
    """Whether ``strategy`` measures the stages first (auto) or trains a head on one (cut-*)."""
    return strategy == "auto" or strategy in CUT_STRATEGIES


def _set_transform(dataset, transform) -> None:
    (dataset.dataset if isinstance(dataset, Subset) else dataset).transform = transform


def run_finetune(args) -> dict:
    try:
        device = get_device(args.device) if args.device else None
    except RuntimeError as exc:  # e.g. --device cuda on a machine without a GPU
        raise CommandError(str(exc)) from exc
    info = ddp.init_distributed(device)
    try:
        weights, train, val, skipped = _check_finetune(args, info)
        say = print if info.is_main else (lambda *a, **k: None)
        say(message(MESSAGES, "split", n=len(train.classes), classes=train.classes, train=len(train), val=len(val))
            + (message(MESSAGES, "skipped_note", count=skipped) if skipped else ""))
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
        start = time.perf_counter()
        extra, saved_extra = {}, {"arch": "resnet50"}
        if _probes(args.strategy):
            model, history, extra = _finetune_cut(args, model, train, val, info.device, say)
            saved_extra = {"arch": "resnet50-cut", "stage": extra["stage"], "augment": extra["augment"]}
        else:
            say("epoch  train_loss  train_acc  val_loss  val_acc")
            history = finetune_model(model, args.strategy, train_loader, val_loader, epochs=args.epochs,
                                     lr=args.lr, precision=args.precision,
                                     info=info, progress=True, log=say)
        if "val_logits" in extra:  # auto / cut-*: from the head trained before any refit
            logits, targets = extra.pop("val_logits"), extra.pop("val_targets")
        else:
            logits, targets = predict(model, val_loader, info.device,
                                      precision=select_precision(info.device, args.precision))
        matrix = confusion_matrix(logits.argmax(1), targets, len(train.classes))
        val_acc = (logits.argmax(1) == targets).float().mean().item() if _probes(args.strategy) else \
            (history[-1]["val_acc"] if history else None)
        result = {"classes": train.classes, "strategy": args.strategy, "weights": str(args.weights),
                  "preprocessing": model.preprocessing, "world_size": info.world_size, **extra,
                  "history": history, "val_acc": val_acc,
                  "confusion_matrix": matrix.tolist(), "seconds": time.perf_counter() - start}
        if info.is_main:
            save_checkpoint(args.save, {"format": MODEL_FORMAT, **saved_extra, "model": model.state_dict(),
                                        "classes": train.classes, "preprocessing": model.preprocessing,
                                        "strategy": result.get("chosen", args.strategy),
                                        "weights": str(args.weights)})
            say(message(MESSAGES, "saved", acc=result["val_acc"], path=args.save))
            if len(history) > 1 and history[-1]["train_loss"] > history[0]["train_loss"]:
                say(message(MESSAGES, "loss_rose", first=history[0]["train_loss"], last=history[-1]["train_loss"]))
            if args.report is not None:
                _write_report(args.report, result)
                say(message(MESSAGES, "report_written", json=args.report / "report.json",
                            png=args.report / "confusion_matrix.png"))
        return result
    finally:
        ddp.cleanup(info)


def _tensors(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (transformed) image of ``dataset`` and its target, stacked: (N, 3, H, W), (N,)."""
    images, targets = zip(*(dataset[i] for i in range(len(dataset))))
    return torch.stack(images), torch.tensor(targets)


def _finetune_cut(args, model, train, val, device, say) -> tuple[torch.nn.Module, list[dict], dict]:
    """``auto`` and ``cut-*``: probe every stage on cached features (cross-validated on the training
    split only), choose the stage and the augmentation, train the head; the cut model, its history
    row and what the report records."""
    images, targets = _tensors(train)
    model = model.to(device).eval()
    images = images.to(device)
    per_class = int(torch.bincount(targets).min())
    folds = min(4, per_class)
    seed = args.seed
    feats = {k: v.cpu() for k, v in view_features(model, images, seed=seed).items()}
    table = probe_table(feats, targets, folds=folds, seed=seed)
    say(message(MESSAGES, "probe_header", folds=folds, n=len(targets)))
    say(message(MESSAGES, "probe_columns"))
    for stage, row in table.items():
        say(f"{stage:<8} {row['acc']:.3f} ± {row['std']:.3f}  {row['l2']:g}")
    if args.strategy == "auto":
        stage = best_stage(table)
        other = max((s for s in table if s != stage), key=lambda s: table[s]["acc"])
        what = message(MESSAGES, "what_whole" if stage == STAGES[-1] else "what_cut", stage=stage)
        say(message(MESSAGES, "chose_auto", strategy=f"cut-{stage}", stage=stage, acc=table[stage]["acc"],
                    other=other, other_acc=table[other]["acc"], what=what))
    else:
        stage = CUT_STRATEGIES[args.strategy]
        say(message(MESSAGES, "chose_named", strategy=args.strategy, stage=stage))
    augment, chosen_row, stage_feats = args.augment, table[stage], feats[stage]
    if augment == "auto" and per_class >= AUGMENT_BELOW:
        augment = "none"
        say(message(MESSAGES, "augment_large", per_class=per_class, limit=AUGMENT_BELOW))
    elif augment == "none":
        say(message(MESSAGES, "augment_given", augment=augment))
    else:
        views, settings = AUGMENTS["light" if augment == "auto" else augment]
        more = view_features(model, images, views=views, augment=settings, seed=seed)[stage].cpu()
        row = probe_table({stage: more}, targets, folds=folds, seed=seed, stages=(stage,))[stage]
        if augment == "auto":
            augment = "light" if row["acc"] > chosen_row["acc"] else "none"
            say(message(MESSAGES, "augment_measured", augment=augment, views=views, with_aug=row["acc"],
                        without=chosen_row["acc"]))
        else:
            say(message(MESSAGES, "augment_given", augment=augment))
        if augment != "none":
            chosen_row, stage_feats = row, more
    l2 = chosen_row["l2"]
    val_images, val_targets = _tensors(val)
    val_feats = stage_features(model, val_images.to(device), batch_size=64)[stage].cpu()
    head, run = train_head(stage_feats, targets, l2=l2, seed=seed, val=val_feats, val_targets=val_targets)
    say(message(MESSAGES, "head_trained", steps=HEAD_STEPS, l2=l2, rows=stage_feats.shape[0] * stage_feats.shape[1]))
    cut = CutResNet(model, stage, head.to(device)).eval()
    cut.preprocessing = model.preprocessing
    with torch.no_grad():  # the validation logits of the head that never saw them: the honest estimate
        val_logits = head(val_feats.to(device))
    history = [{"epoch": 1, "train_loss": run["curve"][-1], "train_acc": None, "val_loss": None,
                "val_acc": run["acc"]}]
    refit = args.val is None  # the validation images came out of --data: the saved head learns from them too
    if refit:
        both = torch.cat([images, val_images.to(device)])
        views, settings = AUGMENTS[augment] if augment != "none" else (0, None)
        all_feats = view_features(model, both, views=views, augment=settings, seed=seed)[stage].cpu()
        head, _ = train_head(all_feats, torch.cat([targets, val_targets]), l2=l2, seed=seed)
        cut.norm, cut.fc = head.to(device)
        say(message(MESSAGES, "refit", n=len(both), train=len(targets)))
    chosen = f"cut-{stage}"
    return cut, history, {"probe": table, "probe_folds": folds, "stage": stage, "chosen": chosen,
                          "augment": augment, "l2": l2, "refit": refit,
                          "val_logits": val_logits, "val_targets": val_targets.to(device)}


def _write_report(folder: Path, result: dict) -> None:
    (folder / "report.json").write_text(json.dumps(result, indent=2))
    fig = plot_confusion_matrix(result["confusion_matrix"], result["classes"])
    fig.savefig(folder / "confusion_matrix.png", dpi=100)
    plt.close(fig)
    if "probe" in result:
        fig = plot_stage_probe(result["probe"], result["stage"])
        fig.savefig(folder / "stage_probe.png", dpi=100)
        plt.close(fig)


def load_model(path: Path) -> tuple[torch.nn.Module, dict]:
    """A model saved by ``finetune --save`` and its metadata; a clear error for any other file."""
    if path.is_file() and not zipfile.is_zipfile(path):
        raise CommandError(message(MESSAGES, "not_a_model_file", path=path))
    try:
        saved = load_checkpoint(path)  # weights_only=True: a file cannot run code
    except CheckpointError as exc:
        raise CommandError(str(exc)) from exc
    if saved.get("format") != MODEL_FORMAT:
        raise CommandError(message(MESSAGES, "not_our_model", path=path))
    if "stage" not in saved:  # a whole ResNet-50 (every model saved before the cut strategies)
        return load_resnet50(len(saved["classes"]), path, verbose=False).eval(), saved
    stage = saved["stage"]
    if stage not in STAGES:
        raise CommandError(message(MESSAGES, "cut_mismatch", path=path, stage=stage, problems="unknown stage"))
    model = cut_model(resnet50(weights=None), stage, len(saved["classes"]))
    problems = state_dict_mismatch(model, saved["model"], limit=2)
    if problems:
        raise CommandError(message(MESSAGES, "cut_mismatch", path=path, stage=stage, problems=problems[:300]))
    model.load_state_dict(saved["model"])
    model.preprocessing = dict(saved["preprocessing"])
    return model.eval(), saved


def image_paths(inputs: list[Path]) -> tuple[list[Path], int]:
    """The image files named by ``inputs`` (files, or folders searched recursively, sorted) and the
    number of other files skipped in those folders; a clear error for a missing path or an empty folder."""
    paths, skipped = [], 0
    for item in inputs:
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.is_file() and not p.name.startswith("."))
            found = [p for p in files if p.suffix.lower() in IMG_EXTENSIONS]
            if not found:
                raise CommandError(message(MESSAGES, "no_images", path=item,
                                           extensions=", ".join(IMG_EXTENSIONS[:4])))
            paths += found
            skipped += len(files) - len(found)
        elif item.is_file():
            paths.append(item)
        else:
            raise CommandError(message(MESSAGES, "no_such_input", path=item))
    return paths, skipped


def run_predict(args, batch_size: int = 64) -> list[list[tuple[str, float]]]:
    if args.csv is not None:
        _writable_file(args.csv, "--csv")
    paths, skipped = image_paths(args.images)
    for path in paths:  # every image decoded once before any work: a bad one stops the run here
        load_image(path)
    model, saved = load_model(args.model)
    transform, classes = preprocessing(model), saved["classes"]
    if skipped:
        print(message(MESSAGES, "skipped_files", count=skipped))
    rows, k = [], min(args.top, len(classes))
    for start in range(0, len(paths), batch_size):
        batch = paths[start:start + batch_size]
        images = torch.stack([transform(load_image(p)) for p in batch])
        logits, _ = predict(model, [(images, torch.zeros(len(images)))], torch.device("cpu"))
        top = logits.softmax(1).topk(k, dim=1)
        for path, values, indices in zip(batch, top.values, top.indices):
            row = [(classes[i], float(v)) for v, i in zip(values.tolist(), indices.tolist())]
            print(f"{path}: " + ", ".join(f"{name} {p:.3f}" for name, p in row))
            rows.append(row)
    if args.csv is not None:
        _write_csv(args.csv, paths, rows, k)
        print(message(MESSAGES, "csv_written", count=len(rows), path=args.csv))
    return rows


def _write_csv(path: Path, paths: list[Path], rows: list, k: int) -> None:
    """path, class_1, prob_1, ..., class_k, prob_k: one line per image, written atomically."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["path", *[f"{c}_{i}" for i in range(1, k + 1) for c in ("class", "prob")]])
    for p, row in zip(paths, rows):
        writer.writerow([str(p), *[x for name, prob in row for x in (name, f"{prob:.6f}")]])
    with atomic_write(path) as f:
        f.write(text.getvalue().encode("utf-8"))


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
