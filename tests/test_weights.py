"""course_utils.experiments.weights: every weights route offline, the preprocessing that travels with them.

The ImageNet route is tested with a FAKE cached state dict (random weights, torchvision's file
name and format) under a temporary TORCH_HOME; the course model with a stand-in (no pretraining).
"""

import os
import pickle
import re
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader
from torchvision.models import ResNet50_Weights, resnet18, resnet50

from course_utils import i18n
from course_utils.checkpoint import save_checkpoint
from course_utils.data import target_dataset
from course_utils.experiments import weights as W
from course_utils.experiments.weights import (
    COURSE_PREPROCESSING,
    WeightsError,
    imagenet_weights_path,
    load_resnet50,
    preprocessing,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty TORCH_HOME, and no network: only what the test caches there exists."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(W.socket, "create_connection", _no_network)
    return tmp_path / "torch"


def _no_network(*args, **kwargs):
    raise OSError("network is unreachable (test)")


@pytest.fixture
def fake_imagenet(torch_home):
    """A random ResNet-50 state dict saved where torchvision caches ResNet50_Weights.DEFAULT."""
    torch.manual_seed(4)
    model = resnet50()
    path = imagenet_weights_path()
    assert str(path).startswith(str(torch_home)) and path.name == "resnet50-11ad3fa6.pth"
    path.parent.mkdir(parents=True)
    torch.save(model.state_dict(), path)
    return model, path


@pytest.fixture
def course_stand_in(monkeypatch):
    """pretrain_source_model replaced by a random 26-class ResNet-50: nothing is pretrained."""
    torch.manual_seed(3)
    source = resnet50(num_classes=26)
    monkeypatch.setattr(W, "pretrain_source_model", lambda **kw: (source, {"from_cache": True}))
    return source


def test_imagenet_route_sees_224_pixel_imagenet_normalized_tensors(fake_imagenet, capsys):
    fake, _ = fake_imagenet
    model = load_resnet50(10, "auto")
    assert "ImageNet weights (ResNet50_Weights.IMAGENET1K_V2)" in capsys.readouterr().out
    torch.testing.assert_close(model.conv1.weight, fake.conv1.weight)
    assert model.preprocessing["crop_size"] == 224 and model.preprocessing["resize_size"] == 232
    # the model's transform IS torchvision's weights.transforms(): same output on the same image
    digits = target_dataset("digits", "test", transform=preprocessing(model))
    reference = target_dataset("digits", "test", transform=ResNet50_Weights.DEFAULT.transforms())
    x, _ = next(iter(DataLoader(digits, batch_size=4)))
    assert x.shape == (4, 3, 224, 224)
    torch.testing.assert_close(x, next(iter(DataLoader(reference, batch_size=4)))[0])
    raw = target_dataset("digits", "test", transform=torch.nn.Identity())[0][0]  # [0, 1] pixels
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    up = torch.nn.functional.interpolate(raw[None], size=232, mode="bilinear", antialias=True)[0]
    torch.testing.assert_close(x[0], ((up - mean) / std)[:, 4:228, 4:228], atol=1e-5, rtol=0)


def test_torchvision_enums_are_accepted(fake_imagenet):
    model = load_resnet50(10, ResNet50_Weights.DEFAULT, verbose=False)
    assert model.preprocessing["name"] == "imagenet:IMAGENET1K_V2"
    model = load_resnet50(10, ResNet50_Weights.IMAGENET1K_V2, verbose=False)
    torch.testing.assert_close(model.conv1.weight, fake_imagenet[0].conv1.weight)
    with pytest.raises(WeightsError, match="resnet50-0676ba61.pth.*cannot be reached"):
        load_resnet50(10, ResNet50_Weights.IMAGENET1K_V1)  # V1 is not cached here


def test_course_model_keeps_the_course_preprocessing(torch_home, course_stand_in, capsys):
    model = load_resnet50(10, "auto")  # nothing cached, no network: the course model
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "course's source model" in out and "falling back" in out
    assert model.preprocessing == COURSE_PREPROCESSING
    torch.testing.assert_close(model.layer3[0].conv1.weight, course_stand_in.layer3[0].conv1.weight)
    assert model.layer3[0].conv1.weight.data_ptr() != course_stand_in.layer3[0].conv1.weight.data_ptr()
    x = preprocessing(model)(torch.rand(3, 32, 32))
    assert x.shape == (3, 32, 32)


def test_the_learner_reads_the_fallback_and_the_offline_error_in_chinese_under_zh(
        torch_home, course_stand_in, capsys, monkeypatch):
    monkeypatch.setattr(i18n, "_chosen", "zh")
    load_resnet50(10, "auto")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("ResNet-50，10 类分类头，权重：课程的源模型")
    assert "改用课程模型：ImageNet 权重没有缓存，也连不上 download.pytorch.org" in out
    with pytest.raises(WeightsError, match="也连不上 download.pytorch.org。请在能上网的机器上下载"):
        load_resnet50(10, "imagenet")


def test_explicit_imagenet_offline_says_where_to_put_the_file(torch_home):
    with pytest.raises(WeightsError) as info:
        load_resnet50(10, "imagenet")
    message = str(info.value)
    assert str(torch_home / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth") in message
    assert "download.pytorch.org" in message and "weights='course'" in message


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_cached_imagenet_is_reported_and_auto_falls_back(fake_imagenet, course_stand_in,
                                                                 capsys, damage):
    _, path = fake_imagenet
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a torch file" * 10)
    with pytest.raises(WeightsError, match="corrupt or truncated; delete that file"):
        load_resnet50(10, "imagenet", verbose=False)
    model = load_resnet50(10, "auto")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "falling back: the cached ImageNet weights" in out
    assert "corrupt" in out and model.preprocessing == COURSE_PREPROCESSING


def test_resnet18_checkpoint_as_resnet50_is_one_clear_line(tmp_path):
    path = save_checkpoint(tmp_path / "r18.pt", {"model": resnet18(num_classes=10).state_dict()})
    with pytest.raises(WeightsError) as info:
        load_resnet50(10, path)
    message = str(info.value)
    assert "does not hold ResNet-50 weights" in message and "ResNet-18/34" in message
    assert "\n" not in message and len(message) < 700


def test_checkpoint_round_trip_predicts_the_same(tmp_path, capsys):
    model = load_resnet50(10, None, verbose=False).eval()
    path = save_checkpoint(tmp_path / "tuned.pt", {"model": model.state_dict()})
    again = load_resnet50(10, path).eval()
    assert "checkpoint tuned.pt" in capsys.readouterr().out
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)
    assert load_resnet50(4, path, verbose=False).fc.out_features == 4  # new task, new head
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_resnet50(10, tmp_path / "missing.pt")
    bad = save_checkpoint(tmp_path / "bad.pt", {"weights": torch.zeros(1)})
    with pytest.raises(WeightsError, match="fc.weight"):
        load_resnet50(10, bad)
    with pytest.raises(ValueError, match="'auto', 'imagenet', 'course'"):
        load_resnet50(10, "imagent")
    with pytest.raises(ValueError, match="num_classes"):
        load_resnet50(0, None)


class _Payload:
    """Unpickling this calls os.system: what a crafted 'weights' file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _malicious(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {"fc.weight": torch.zeros(2, 2048)}, "x": _Payload(marker)}, path)
    return path


def test_a_malicious_file_runs_nothing_on_any_loading_path(tmp_path, fake_imagenet, course_stand_in):
    from course_utils.cli.arguments import CommandError
    from course_utils.cli.predict import load_model

    marker = tmp_path / "pwned"
    _malicious(fake_imagenet[1], marker)  # the torch-hub cache file the course tells you to fill
    for weights in ("imagenet", ResNet50_Weights.DEFAULT):
        with pytest.raises(WeightsError, match="corrupt"):
            load_resnet50(10, weights, verbose=False)
    load_resnet50(10, "auto", verbose=False)  # falls back to the course model
    checkpoint = _malicious(tmp_path / "tuned.pt", marker)
    with pytest.raises(WeightsError, match="weights_only"):
        load_resnet50(10, checkpoint)
    with pytest.raises(CommandError, match="weights_only"):
        load_model(checkpoint)
    assert not marker.exists()
    pickle.loads(pickle.dumps(_Payload(marker)))  # the control: a plain unpickle runs the payload
    assert marker.exists()


def test_every_torch_load_in_the_repository_is_weights_only():
    calls = []
    for path in [*ROOT.glob("course_utils/**/*.py"), *ROOT.glob("tools/*.py"), *ROOT.glob("benchmarks/*.py"),
                 *ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("tests/*.py")]:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"torch\.load\(", text):
            depth, end = 1, match.end()
            while depth and end < len(text):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                end += 1
            calls.append((path.name, text[match.start():end]))
    assert calls, "the scan found no torch.load at all: the pattern is broken"
    unsafe = [(name, call) for name, call in calls if "weights_only=True" not in call]
    assert not unsafe, f"torch.load without weights_only=True: {unsafe}"
