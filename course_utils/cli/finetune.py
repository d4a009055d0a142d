"""``python -m course_utils finetune``: check everything, load the weights, fine-tune, save the model.

    python -m course_utils finetune --data DIR [--val DIR] --save MODEL.pt [--report DIR] ...

Every argument, folder and output path is checked before any weights are loaded or any training
starts (:func:`_check_finetune`). ``--strategy auto`` and ``cut-*`` go through
:mod:`course_utils.cli.cut`; the other strategies train with
:func:`course_utils.experiments.runner.finetune_model`. ``finetune`` also runs under
``torchrun --nproc_per_node=N -m course_utils finetune ...``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader, Subset

from course_utils import distributed as ddp
from course_utils.checkpoint import save_checkpoint
from course_utils.cli.arguments import MODEL_FORMAT, CommandError, writable_file
from course_utils.cli.cut import finetune_cut, probes
from course_utils.data.images import image_folder, stratified_split
from course_utils.experiments.runner import confusion_matrix, finetune_model, predict, select_precision
from course_utils.experiments.stage_probe import plot_stage_probe
from course_utils.experiments.weights import load_resnet50, preprocessing
from course_utils.i18n import message
from course_utils.plots import plot_confusion_matrix
from course_utils.repro import device_missing, get_device, seed_everything

__all__ = ["run_finetune"]

#: The command's messages (:mod:`course_utils.i18n`'s one shape): English template -> Chinese, the same fields.
MESSAGES: dict[str, str] = {
    "--batch-size {batch_size} must be divisible by the {world_size} processes":
        "--batch-size {batch_size} 必须能被进程数 {world_size} 整除",
    "--weights {weights}: no such file; use auto | imagenet | course | none or a checkpoint path":
        "--weights {weights}：文件不存在；请用 auto | imagenet | course | none 或一个检查点文件的路径",
    "--augment {augment} works with --strategy auto and the cut-* strategies only; drop --augment or choose one of "
    "them":
        "--augment {augment} 只能与 --strategy auto 和 cut-* 策略一起使用；请去掉 --augment 或者换用这些策略",
    "--strategy {strategy} measures each stage by cross-validation on the training images and needs at least 2 per "
    "class ({name!r} has {count} for training); add images, or pass --strategy last-stage":
        "--strategy {strategy} 要在训练图片上用交叉验证衡量每个阶段，每个类别至少需要 2 张（{name!r} 只有 {count} 张用"
        "于训练）；请添加图片，或者用 --strategy last-stage",
    "--val classes {val} differ from --data classes {train}; use the same class sub-folder names in both":
        "--val 的类别 {val} 与 --data 的类别 {train} 不同；两者的类别子文件夹名称必须相同",
    "--val shares {n} images with --data (e.g. {example}): its accuracy would not be unbiased; pass a folder of "
    "other images, or drop --val to hold out 20% of --data":
        "--val 与 --data 有 {n} 张相同的图片（例如 {example}）：这样得到的准确率不再无偏；"
        "请给出一个由其他图片组成的文件夹，或者去掉 --val，从 --data 中留出 20%",
    "{kind} was asked for (--device {device}) but is not available here ({missing}); drop --device to use the best "
    "available one, or pass --device cpu":
        "要求使用 {kind}（--device {device}），但这里没有（{missing}）；去掉 --device 以使用最好的可用设备，"
        "或者用 --device cpu",
    "{n} classes {classes}: {train} training, {val} validation images":
        "{n} 个类别 {classes}：{train} 张训练图片，{val} 张验证图片",
    " ({count} non-image files skipped)": "（跳过了 {count} 个非图片文件）",
    "validation accuracy {acc:.3f}; model saved to {path}": "验证准确率 {acc:.3f}；模型已保存到 {path}",
    "warning: the training loss rose from {first:.3f} to {last:.3f}: the learning rate is probably too high (try --lr "
    "10 times smaller)":
        "警告：训练损失从 {first:.3f} 升到了 {last:.3f}：学习率可能太大（试试把 --lr 缩小到十分之一）",
    "report: {files}": "报告：{files}",
}


def _check_finetune(args, info: ddp.DistInfo):
    """Everything that can be checked cheaply, before any weights are loaded: the datasets."""
    writable_file(args.save, "--save")
    if args.report is not None:
        writable_file(args.report / "report.json", "--report")
    if args.batch_size % info.world_size:
        raise CommandError(message(MESSAGES, "--batch-size {batch_size} must be divisible by the {world_size} "
                                             "processes", batch_size=args.batch_size, world_size=info.world_size))
    weights = None if args.weights == "none" or args.strategy == "scratch" else args.weights
    if weights not in (None, "auto", "imagenet", "course") and not Path(weights).is_file():
        raise CommandError(message(MESSAGES, "--weights {weights}: no such file; use auto | imagenet | course | none "
                                             "or a checkpoint path", weights=weights))
    if args.augment not in ("auto", "none") and not probes(args.strategy):
        raise CommandError(message(MESSAGES, "--augment {augment} works with --strategy auto and the cut-* strategies "
                                             "only; drop --augment or choose one of them", augment=args.augment))
    train = image_folder(args.data)
    if probes(args.strategy):
        counts = torch.bincount(torch.tensor(train.targets), minlength=len(train.classes)).tolist()
        held = 0 if args.val is not None else 1  # stratified_split keeps one per class at least
        name, count = min(zip(train.classes, counts), key=lambda nc: nc[1])
        if count - held < 2 and (args.val is not None or count >= 2):
            raise CommandError(message(MESSAGES, "--strategy {strategy} measures each stage by cross-validation on "
                                                 "the training images and needs at least 2 per class ({name!r} has "
                                                 "{count} for training); add images, or pass --strategy last-stage",
                                                 strategy=args.strategy, name=name,
                                       count=count - held))
    if args.val is None:
        train_idx, val_idx = stratified_split(train.targets, 0.2, seed=args.seed, classes=train.classes)
        train, val = Subset(train, train_idx), Subset(train, val_idx)
        train.classes = val.classes = train.dataset.classes
    else:
        val = image_folder(args.val)
        if val.classes != train.classes:
            raise CommandError(message(MESSAGES, "--val classes {val} differ from --data classes {train}; use the "
                                                 "same class sub-folder names in both",
                                                 val=val.classes, train=train.classes))
        shared = {p.resolve() for p, _ in train.samples} & {p.resolve() for p, _ in val.samples}
        if shared:
            raise CommandError(message(MESSAGES, "--val shares {n} images with --data (e.g. {example}): its accuracy "
                                                 "would not be unbiased; pass a folder of other images, or drop --val "
                                                 "to hold out 20% of --data", n=len(shared), example=min(shared)))
    return weights, train, val, (train.dataset if isinstance(train, Subset) else train).skipped


def _set_transform(dataset, transform) -> None:
    (dataset.dataset if isinstance(dataset, Subset) else dataset).transform = transform


def run_finetune(args) -> dict:
    missing = device_missing(torch.device(args.device)) if args.device else None
    if missing:  # e.g. --device cuda on a machine without a GPU: the fix is a flag, not get_device()'s
        raise CommandError(message(MESSAGES, "{kind} was asked for (--device {device}) but is not available here "
                                             "({missing}); drop --device to use the best available one, or pass "
                                             "--device cpu", kind=args.device.upper(), device=args.device,
                                   missing=missing))
    device = get_device(args.device) if args.device else None
    info = ddp.init_distributed(device)
    try:
        weights, train, val, skipped = _check_finetune(args, info)
        say = print if info.is_main else (lambda *a, **k: None)
        say(message(MESSAGES, "{n} classes {classes}: {train} training, {val} validation images",
                              n=len(train.classes), classes=train.classes, train=len(train), val=len(val))
            + (message(MESSAGES, " ({count} non-image files skipped)", count=skipped) if skipped else ""))
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
        if probes(args.strategy):
            model, history, extra = finetune_cut(args, model, train, val, info.device, say)
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
        val_acc = (logits.argmax(1) == targets).float().mean().item() if probes(args.strategy) else \
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
            say(message(MESSAGES, "validation accuracy {acc:.3f}; model saved to {path}",
                                  acc=result["val_acc"], path=args.save))
            if len(history) > 1 and history[-1]["train_loss"] > history[0]["train_loss"]:
                say(message(MESSAGES, "warning: the training loss rose from {first:.3f} to {last:.3f}: the learning "
                                      "rate is probably too high (try --lr 10 times smaller)",
                                      first=history[0]["train_loss"], last=history[-1]["train_loss"]))
            if args.report is not None:
                written = _write_report(args.report, result)
                say(message(MESSAGES, "report: {files}", files=", ".join(str(p) for p in written)))
        return result
    finally:
        ddp.cleanup(info)


def _write_report(folder: Path, result: dict) -> list[Path]:
    """report.json, confusion_matrix.png and (auto / cut-*) stage_probe.png; the files written."""
    written = [folder / "report.json", folder / "confusion_matrix.png"]
    folder.mkdir(parents=True, exist_ok=True)  # checked writable before the run, made now
    written[0].write_text(json.dumps(result, indent=2))
    fig = plot_confusion_matrix(result["confusion_matrix"], result["classes"])
    fig.savefig(written[1], dpi=100)
    plt.close(fig)
    if "probe" in result:
        fig = plot_stage_probe(result["probe"], result["stage"])
        fig.savefig(folder / "stage_probe.png", dpi=100)
        plt.close(fig)
        written.append(folder / "stage_probe.png")
    return written
