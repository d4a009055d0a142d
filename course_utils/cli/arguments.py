"""What ``finetune`` and ``predict`` share: their arguments, the check of an output path, the model
file's format and :class:`CommandError`, the bad input that is one line on stderr (exit status 2).

Every argument, folder and output path is checked before any weights are loaded or any training
starts; argparse's own usage errors keep their English text.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
from pathlib import Path

from course_utils.experiments.runner import PRECISIONS
from course_utils.experiments.stage_probe import AUGMENTS, CUT_STRATEGIES
from course_utils.finetune import STRATEGIES
from course_utils.i18n import message

__all__ = ["CommandError", "MODEL_FORMAT", "add_finetune_arguments", "add_predict_arguments", "writable_file"]

#: What ``finetune --save`` writes and ``predict --model`` reads.
MODEL_FORMAT = "course_utils.model/1"


#: The checks' messages (:mod:`course_utils.i18n`'s one shape): English template -> Chinese, the same fields.
MESSAGES: dict[str, str] = {
    "{flag} {path} is a folder; give a file name such as {example}":
        "{flag} {path} 是一个文件夹；请给出文件名，例如 {example}",
    "{flag}: cannot create folder {folder} ({reason}); choose another place":
        "{flag}：无法创建文件夹 {folder}（{reason}）；请换一个位置",
    "{flag}: folder {folder} is not writable; choose another place": "{flag}：文件夹 {folder} 不可写；请换一个位置",
}


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
    p.add_argument("--report", type=Path, help="folder for report.json, confusion_matrix.png and (auto / cut-*) "
                                               "stage_probe.png")


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="a file saved by `finetune --save`")
    p.add_argument("images", type=Path, nargs="+", help="image files or folders (searched recursively)")
    p.add_argument("--top", type=_number(int, 0), default=3, help="how many classes per image")
    p.add_argument("--csv", type=Path, help="also write the predictions to this CSV file")


def writable_file(path: Path, flag: str, example: str = "model.pt") -> None:
    if path.is_dir():
        raise CommandError(message(MESSAGES, "{flag} {path} is a folder; give a file name such as {example}",
                                             flag=flag, path=path, example=path / example))
    folder = path.parent if str(path.parent) else Path(".")
    existing = folder  # the folders are made when the file is written, not now: a failed run leaves none
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise CommandError(message(MESSAGES, "{flag}: cannot create folder {folder} ({reason}); choose another place",
                                             flag=flag, folder=folder, reason=os.strerror(errno.ENOTDIR)))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CommandError(message(MESSAGES, "{flag}: folder {folder} is not writable; choose another place",
                                             flag=flag, folder=existing))
