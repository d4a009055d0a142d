"""Where a ResNet-50's weights come from, and the preprocessing that travels with them.

    model = load_resnet50(10, "auto")        # ImageNet if it can be had, else the course model
    transform = preprocessing(model)         # what the weights expect: 224 px + ImageNet mean/std,
                                             # or the course's 32 px + mean 0.5 / std 0.25

``weights=`` takes ``"imagenet"`` (torchvision's DEFAULT), a ``ResNet50_Weights`` member,
``"course"`` (notebook 04's source model), ``"auto"``, ``None`` (random) or a checkpoint path.
Every file is read with ``torch.load(..., weights_only=True)``: opening one cannot run code.
Its errors and the line it prints are in :data:`MESSAGES` (English -> Chinese), in the course's language.
The model carries ``model.preprocessing`` (a plain dict, saved with it by the command line);
:func:`preprocessing` turns it into a transform for PIL images or [0, 1] float tensors.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn
from torchvision.models import ResNet50_Weights, resnet50
from torchvision.transforms._presets import ImageClassification

from course_utils.checkpoint import CheckpointError, load_checkpoint, state_dict_mismatch
from course_utils.data import MEAN, STD
from course_utils.experiments.pretrain import pretrain_source_model
from course_utils.i18n import message

__all__ = ["WeightsError", "preprocessing", "imagenet_available", "load_resnet50"]

#: What a learner reads, errors and the "what was loaded" line: English template -> Chinese, same fields.
MESSAGES: dict[str, str] = {
    "{where} does not hold ResNet-50 weights{hint}: {problems}. Pass a whole ResNet-50's checkpoint (python -m "
    "course_utils finetune saves one with --strategy full, last-stage, linear-probe, full-discriminative or scratch; "
    "auto and cut-* save a cut network), or weights 'imagenet', 'course' or None (--weights imagenet|course|none)":
        "{where} 里不是 ResNet-50 的权重{hint}：{problems}。请传入完整 ResNet-50 的检查点（python -m course_utils "
        "finetune 用 --strategy full、last-stage、linear-probe、full-discriminative 或 scratch 时保存的就是；auto 和 "
        "cut-* 保存的是截断的网络），或者用权重 'imagenet'、'course' 或 None（--weights imagenet|course|none）",
    " (it looks like a ResNet-18/34: BasicBlocks, 512 features)":
        "（看起来是 ResNet-18/34：BasicBlock 结构，512 维特征）",
    "ImageNet weights for ResNet-50 are not cached at {path} and {host} cannot be reached. On a machine with "
    "internet, download {url} and copy it to {path}; or use weights='course' (the course's own source model, no "
    "network needed).":
        "ResNet-50 的 ImageNet 权重没有缓存在 {path}，也连不上 {host}。请在能上网的机器上下载 {url}，复制到 {path}；"
        "或者用 weights='course'（课程自己的源模型，不需要网络）。",
    "ImageNet weights are not cached and {host} cannot be reached": "ImageNet 权重没有缓存，也连不上 {host}",
    "downloading {url} to {path} failed ({reason}); try again, or use weights='course'":
        "把 {url} 下载到 {path} 失败（{reason}）；请重试，或者用 weights='course'",
    "the cached ImageNet weights at {path} are corrupt or truncated; delete that file and it will be downloaded again "
    "(the check said: {reason})":
        "{path} 处缓存的 ImageNet 权重已损坏或不完整；删除这个文件，下次会重新下载（检查结果：{reason}）",
    "no checkpoint at {path}; train and save one first, or use weights='auto' | 'imagenet' | 'course' | None":
        "{path} 处没有检查点；请先训练并保存一个，或者用 weights='auto' | 'imagenet' | 'course' | None",
    "{path} does not hold a ResNet-50 state_dict (no 'fc.weight'); save one with save_checkpoint(path, "
    "{{'model': model.state_dict()}})":
        "{path} 里没有 ResNet-50 的 state_dict（缺少 'fc.weight'）；请用 save_checkpoint(path, "
        "{{'model': model.state_dict()}}) 保存",
    " (falling back: {reason})": "（改用课程模型：{reason}）",
    "ResNet-50 with a {num_classes}-class head, weights: {what}{note}":
        "ResNet-50，{num_classes} 类分类头，权重：{what}{note}",
    "random initialization": "随机初始化",
    "ImageNet weights (ResNet50_Weights.{name})": "ImageNet 权重（ResNet50_Weights.{name}）",
    "the course's source model (notebook 04)": "课程的源模型（笔记本 04）",
    "checkpoint {name}": "检查点 {name}",
    "ImageNet file {path}": "ImageNet 文件 {path}",
    "the course model": "课程模型",
}

IMAGENET_HOST = "download.pytorch.org"
#: The course model's inputs: 32-pixel images, the course's one normalization (course_utils.data).
COURSE_PREPROCESSING = {"name": "course", "resize_size": 32, "crop_size": 32,
                        "mean": list(MEAN), "std": list(STD)}


class WeightsError(RuntimeError):
    """Weights cannot be had or do not fit; the message says why and what to do."""


def imagenet_preprocessing(weights: ResNet50_Weights = ResNet50_Weights.DEFAULT) -> dict:
    """``weights.transforms()`` as a plain dict (resize, centre crop 224, ImageNet mean/std)."""
    t = weights.transforms()
    return {"name": f"imagenet:{weights.name}", "resize_size": t.resize_size[0],
            "crop_size": t.crop_size[0], "mean": list(t.mean), "std": list(t.std)}


def preprocessing(spec: nn.Module | Mapping) -> ImageClassification:
    """The input transform a model (or a preprocessing dict) expects: PIL image or (3, H, W) in [0, 1].

    Resize the short side, crop the centre, normalize: torchvision's own ``ImageClassification``,
    the object ``ResNet50_Weights.DEFAULT.transforms()`` returns.
    """
    if isinstance(spec, nn.Module):
        if not isinstance(getattr(spec, "preprocessing", None), Mapping):
            raise ValueError("this model carries no preprocessing: load it with load_resnet50(), "
                             "or pass COURSE_PREPROCESSING / imagenet_preprocessing() yourself")
        spec = spec.preprocessing
    return ImageClassification(crop_size=int(spec["crop_size"]), resize_size=int(spec["resize_size"]),
                               mean=tuple(spec["mean"]), std=tuple(spec["std"]), antialias=True)


def imagenet_weights_path(weights: ResNet50_Weights = ResNet50_Weights.DEFAULT) -> Path:
    """Where torchvision keeps (or would download) ``weights`` on this machine (under TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / weights.url.rsplit("/", 1)[-1]


def imagenet_available(timeout: float = 2.0,
                       weights: ResNet50_Weights = ResNet50_Weights.DEFAULT) -> bool:
    """True when the ImageNet weights are cached, or their server answers within ``timeout`` s."""
    if imagenet_weights_path(weights).is_file():
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


def _check_resnet50(state: Mapping, where: str) -> None:
    """One clear line when ``state`` is not a ResNet-50 state dict (ResNet-18, a VGG, ...)."""
    expected = resnet50(weights=None, num_classes=state["fc.weight"].shape[0] if
                        isinstance(state.get("fc.weight"), torch.Tensor) else 1000)
    problems = state_dict_mismatch(expected, dict(state), limit=2)
    if problems:
        hint = message(MESSAGES, " (it looks like a ResNet-18/34: BasicBlocks, 512 features)") if \
            "layer1.0.conv3.weight" not in state and "layer1.0.conv1.weight" in state else ""
        raise WeightsError(message(MESSAGES, "{where} does not hold ResNet-50 weights{hint}: {problems}. Pass a "
                                             "whole ResNet-50's checkpoint (python -m course_utils finetune saves one "
                                             "with --strategy full, last-stage, linear-probe, full-discriminative or "
                                             "scratch; auto and cut-* save a cut network), or weights 'imagenet', "
                                             "'course' or None (--weights imagenet|course|none)",
                                             where=where, hint=hint, problems=problems[:300]))


def _resnet50_with_head(state: Mapping | None, num_classes: int, where: str) -> nn.Module:
    if state is None:
        return resnet50(weights=None, num_classes=num_classes)
    _check_resnet50(state, where)
    model = resnet50(weights=None, num_classes=state["fc.weight"].shape[0])
    model.load_state_dict(state)
    if model.fc.out_features != num_classes:  # a new task: a new, randomly initialised head
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def _imagenet_state(weights: ResNet50_Weights) -> dict:
    """The cached (or downloaded, hash-checked) state dict, read with weights_only=True."""
    path = imagenet_weights_path(weights)
    if not path.is_file():
        if not imagenet_available(weights=weights):
            raise WeightsError(message(MESSAGES, "ImageNet weights for ResNet-50 are not cached at {path} and {host} "
                                                 "cannot be reached. On a machine with internet, download {url} and "
                                                 "copy it to {path}; or use weights='course' (the course's own source "
                                                 "model, no network needed).", path=path, host=IMAGENET_HOST,
                                       url=weights.url))
        path.parent.mkdir(parents=True, exist_ok=True)
        hash_prefix = path.stem.rsplit("-", 1)[-1]  # torchvision names files <name>-<sha256[:8]>
        try:
            torch.hub.download_url_to_file(weights.url, str(path), hash_prefix=hash_prefix, progress=True)
        except (OSError, RuntimeError) as exc:  # URLError is an OSError; a bad hash a RuntimeError
            raise WeightsError(message(MESSAGES, "downloading {url} to {path} failed ({reason}); try again, or use "
                                                 "weights='course'", url=weights.url, path=path,
                                       reason=exc)) from None
    try:
        state = load_checkpoint(path)  # torch.load(..., weights_only=True) and a zip check
    except CheckpointError as exc:
        raise WeightsError(message(MESSAGES, "the cached ImageNet weights at {path} are corrupt or truncated; delete "
                                             "that file and it will be downloaded again (the check said: {reason})",
                                             path=path, reason=exc)) from None
    return state


def _checkpoint_state(path: Path) -> tuple[dict, dict]:
    """(state_dict, metadata) of a checkpoint file: our saves, ``{'model': ...}`` or a bare state dict."""
    if not path.is_file():
        raise FileNotFoundError(message(MESSAGES, "no checkpoint at {path}; train and save one first, or use "
                                                  "weights='auto' | 'imagenet' | 'course' | None", path=path))
    try:
        saved = load_checkpoint(path)
    except CheckpointError as exc:
        raise WeightsError(str(exc)) from None
    state = saved.get("model", saved)
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise WeightsError(message(MESSAGES, "{path} does not hold a ResNet-50 state_dict (no 'fc.weight'); save one "
                                             "with save_checkpoint(path, {{'model': model.state_dict()}})", path=path))
    return state, saved


def _course_state(verbose: bool) -> dict:
    source, _info = pretrain_source_model(progress=verbose)  # the cached checkpoint, or trains it
    return {k: v.detach().cpu().clone() for k, v in source.state_dict().items()}


def load_resnet50(num_classes: int = 10, weights: str | os.PathLike | ResNet50_Weights | None = "auto",
                  *, verbose: bool = True) -> nn.Module:
    """A torchvision ResNet-50 with a ``num_classes`` head, from the weights named by ``weights``.

    ``"imagenet"`` (= ``ResNet50_Weights.DEFAULT``) or any ``ResNet50_Weights`` member, cached or
    downloaded; ``"course"`` (notebook 04's source model, built and cached if missing); ``"auto"``
    (ImageNet when it can be had, else the course model); ``None`` (random init); or a checkpoint
    path. A pretrained head without ``num_classes`` outputs is replaced by a fresh one. The model
    gets ``model.preprocessing`` (see :func:`preprocessing`). Prints one line saying what was
    loaded (``verbose=False`` silences it).
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    note, state = "", None
    if weights == "auto":
        try:
            if not imagenet_available():
                raise WeightsError(message(MESSAGES, "ImageNet weights are not cached and {host} cannot be "
                                                     "reached", host=IMAGENET_HOST))
            state, weights = _imagenet_state(ResNet50_Weights.DEFAULT), ResNet50_Weights.DEFAULT
        except WeightsError as exc:
            reason = re.split("; |；", str(exc))[0]  # the cause, not the advice that follows it
            weights, note = "course", message(MESSAGES, " (falling back: {reason})", reason=reason)
    if weights == "imagenet":
        weights = ResNet50_Weights.DEFAULT
    prep = COURSE_PREPROCESSING
    if weights is None:
        model, what = _resnet50_with_head(None, num_classes, ""), message(MESSAGES, "random initialization")
    elif isinstance(weights, ResNet50_Weights):
        state = state if state is not None else _imagenet_state(weights)
        where = message(MESSAGES, "ImageNet file {path}", path=imagenet_weights_path(weights))
        model = _resnet50_with_head(state, num_classes, where)
        what = message(MESSAGES, "ImageNet weights (ResNet50_Weights.{name})", name=weights.name)
        prep = imagenet_preprocessing(weights)
    elif weights == "course":
        model = _resnet50_with_head(_course_state(verbose), num_classes, message(MESSAGES, "the course model"))
        what = message(MESSAGES, "the course's source model (notebook 04)")
    elif isinstance(weights, os.PathLike) or (isinstance(weights, str) and (
            Path(weights).suffix or os.sep in weights)):
        state, saved = _checkpoint_state(Path(weights))
        model = _resnet50_with_head(state, num_classes, str(weights))
        what = message(MESSAGES, "checkpoint {name}", name=Path(weights).name)
        prep = saved.get("preprocessing", COURSE_PREPROCESSING)
    else:
        raise ValueError(f"unknown weights {weights!r}; use 'auto', 'imagenet', 'course', None, "
                         "a ResNet50_Weights member or the path of a checkpoint file")
    model.preprocessing = dict(prep)
    if verbose:
        print(message(MESSAGES, "ResNet-50 with a {num_classes}-class head, weights: {what}{note}",
                      num_classes=num_classes, what=what, note=note))
    return model
