"""``python -m course_utils predict``: classify images with a model saved by ``finetune --save``.

    python -m course_utils predict --model MODEL.pt IMAGE_OR_FOLDER [...] [--top K] [--csv FILE]

A file that is not such a model, a missing path or a folder without images is a one-line error
(:class:`~course_utils.cli.arguments.CommandError`); every image is decoded before any work.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import torch
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.models import resnet50

from course_utils.checkpoint import CheckpointError, load_checkpoint, state_dict_mismatch
from course_utils.cli.arguments import MODEL_FORMAT, CommandError, writable_file
from course_utils.data.images import load_image
from course_utils.experiments.runner import predict
from course_utils.experiments.stage_probe import cut_model
from course_utils.experiments.transfer import STAGES
from course_utils.experiments.weights import load_resnet50, preprocessing
from course_utils.i18n import message
from course_utils.internals.atomic import atomic_write

__all__ = ["run_predict"]

#: The command's messages (:mod:`course_utils.i18n`'s one shape): English template -> Chinese, the same fields.
MESSAGES: dict[str, str] = {
    "{path} is not a model file (not a torch.save archive); pass the file written by `python -m course_utils finetune "
    "--save`":
        "{path} 不是模型文件（不是 torch.save 保存的归档）；请传入 `python -m course_utils finetune --save` 写出的文件",
    "{path} is not a model saved by `python -m course_utils finetune --save` (no class names or preprocessing in it); "
    "fine-tune and save one first":
        "{path} 不是由 `python -m course_utils finetune --save` 保存的模型（其中没有类别名和预处理信息）；"
        "请先微调并保存一个模型",
    "{path} does not fit a ResNet-50 cut after {stage}: {problems}; save it again with `python -m course_utils "
    "finetune --save`":
        "{path} 与在 {stage} 之后截断的 ResNet-50 不匹配：{problems}；请用 `python -m course_utils finetune --save` 重"
        "新保存",
    "{path}: no images in this folder (extensions {extensions}, ...); pass image files or a folder that holds some":
        "{path}：这个文件夹里没有图片（扩展名 {extensions} 等）；请传入图片文件或含有图片的文件夹",
    "{path}: no such image file or folder": "{path}：没有这个图片文件或文件夹",
    "{count} non-image files skipped": "跳过了 {count} 个非图片文件",
    "predictions for {count} images written to {path}": "{count} 张图片的预测已写入 {path}",
}


def load_model(path: Path) -> tuple[torch.nn.Module, dict]:
    """A model saved by ``finetune --save`` and its metadata; a clear error for any other file."""
    if path.is_file() and not zipfile.is_zipfile(path):
        raise CommandError(message(MESSAGES, "{path} is not a model file (not a torch.save archive); pass the file "
                                             "written by `python -m course_utils finetune --save`", path=path))
    try:
        saved = load_checkpoint(path)  # weights_only=True: a file cannot run code
    except CheckpointError as exc:
        raise CommandError(str(exc)) from exc
    if saved.get("format") != MODEL_FORMAT:
        raise CommandError(message(MESSAGES, "{path} is not a model saved by `python -m course_utils finetune --save` "
                                             "(no class names or preprocessing in it); fine-tune and save one first",
                                             path=path))
    if "stage" not in saved:  # a whole ResNet-50 (every model saved before the cut strategies)
        return load_resnet50(len(saved["classes"]), path, verbose=False).eval(), saved
    stage = saved["stage"]
    if stage not in STAGES:
        raise CommandError(message(MESSAGES, "{path} does not fit a ResNet-50 cut after {stage}: {problems}; save it "
                                             "again with `python -m course_utils finetune --save`",
                                             path=path, stage=stage, problems="unknown stage"))
    model = cut_model(resnet50(weights=None), stage, len(saved["classes"]))
    problems = state_dict_mismatch(model, saved["model"], limit=2)
    if problems:
        raise CommandError(message(MESSAGES, "{path} does not fit a ResNet-50 cut after {stage}: {problems}; save it "
                                             "again with `python -m course_utils finetune --save`",
                                             path=path, stage=stage, problems=problems[:300]))
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
                raise CommandError(message(MESSAGES, "{path}: no images in this folder (extensions {extensions}, "
                                                     "...); pass image files or a folder that holds some", path=item,
                                           extensions=", ".join(IMG_EXTENSIONS[:4])))
            paths += found
            skipped += len(files) - len(found)
        elif item.is_file():
            paths.append(item)
        else:
            raise CommandError(message(MESSAGES, "{path}: no such image file or folder", path=item))
    return paths, skipped


def run_predict(args, batch_size: int = 64) -> list[list[tuple[str, float]]]:
    if args.csv is not None:
        writable_file(args.csv, "--csv", example="predictions.csv")
    if not args.model.is_file():  # before decoding every image: a typo in --model stops at once
        load_model(args.model)  # raises the checkpoint's own "does not exist" error
    paths, skipped = image_paths(args.images)
    for path in paths:  # every image decoded once before any work: a bad one stops the run here
        load_image(path)
    model, saved = load_model(args.model)
    transform, classes = preprocessing(model), saved["classes"]
    if skipped:
        print(message(MESSAGES, "{count} non-image files skipped", count=skipped))
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
        print(message(MESSAGES, "predictions for {count} images written to {path}", count=len(rows), path=args.csv))
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
