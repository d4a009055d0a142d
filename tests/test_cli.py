"""python -m course_utils finetune / predict on image folders the tests write (PNG and JPEG).

Bad inputs: each is one line on stderr, exit status 2, before any weights load or training
starts (``load_resnet50`` is replaced by a tripwire for those). The end-to-end run uses random
weights (``--weights none``) on 32-pixel images: the architecture is real, nothing is downloaded.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from course_utils import commands, runner
from course_utils.__main__ import main
from course_utils.checkpoint import save_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_distributed import write_image_folder  # noqa: E402


@pytest.fixture(autouse=True)
def english(monkeypatch):
    """The messages are asserted in English (whatever the locale) unless a test says zh."""
    monkeypatch.setenv("COURSE_LANG", "en")


@pytest.fixture
def images(tmp_path):
    return write_image_folder(tmp_path / "images", classes=("cat", "dog"), per_class=6, size=24)


@pytest.fixture
def no_loading(monkeypatch):
    """A tripwire: a bad input must be refused before any weights are loaded."""
    def tripwire(*args, **kwargs):
        raise AssertionError("weights were loaded before the bad input was refused")
    monkeypatch.setattr(commands, "load_resnet50", tripwire)


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def _finetune(images, tmp_path, *extra):
    return ["finetune", "--data", str(images), "--weights", "none", "--epochs", "1", "--device", "cpu",
            "--batch-size", "4", "--save", str(tmp_path / "out" / "model.pt"), *extra]


def _bad_folders(tmp_path, images):
    one = tmp_path / "one"; (one / "cat").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(one / "cat" / "a.png")
    empty_class = tmp_path / "emptyclass"; (empty_class / "cat").mkdir(parents=True); (empty_class / "dog").mkdir()
    Image.new("RGB", (8, 8)).save(empty_class / "cat" / "a.png")
    (empty_class / "dog" / "readme.txt").write_text("not an image")
    corrupt = tmp_path / "corrupt"
    write_image_folder(corrupt, classes=("cat", "dog"), per_class=2, size=8)
    (corrupt / "dog" / "9.jpg").write_bytes((corrupt / "dog" / "0.jpg").read_bytes()[:60])
    other = write_image_folder(tmp_path / "other", classes=("cat", "fox"), per_class=2, size=8)
    (tmp_path / "empty").mkdir()
    return {"missing": (tmp_path / "nope", "does not exist"), "empty": (tmp_path / "empty", "found none"),
            "one class": (one, "found only 'cat'"), "class without images": (empty_class, "dog has no images"),
            "corrupt image": (corrupt, "9.jpg is not a readable image"), "other": other}


def test_every_bad_input_is_one_line_before_any_work(tmp_path, images, capsys, no_loading):
    folders = _bad_folders(tmp_path, images)
    for name, (folder, phrase) in {k: v for k, v in folders.items() if k != "other"}.items():
        assert phrase in _error(capsys, _finetune(folder, tmp_path)), name
    assert "--val classes ['cat', 'fox'] differ" in _error(
        capsys, _finetune(images, tmp_path, "--val", str(folders["other"])))
    for flag, value in (("--lr", "nan"), ("--lr", "-1"), ("--lr", "0"), ("--lr", "inf"), ("--epochs", "0"),
                        ("--epochs", "-2"), ("--batch-size", "0"), ("--image-size", "4"), ("--lr", "x")):
        with pytest.raises(SystemExit) as exit_:  # argparse: usage + one error line, status 2
            main(_finetune(images, tmp_path, flag, value))
        assert exit_.value.code == 2
        assert f"argument {flag}" in capsys.readouterr().err
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert "cannot create folder" in _error(capsys, _finetune(images, tmp_path, "--report", str(blocker / "r")))
    assert "is a folder" in _error(capsys, ["finetune", "--data", str(images), "--save", str(tmp_path)])
    assert "no such file" in _error(capsys, _finetune(images, tmp_path, "--weights", str(tmp_path / "w.pt"))
                                    + ["--strategy", "full"])
    if not torch.cuda.is_available():
        assert "CUDA was asked for" in _error(capsys, _finetune(images, tmp_path, "--device", "cuda"))
    lonely = write_image_folder(tmp_path / "lonely", classes=("cat", "dog"), per_class=1, size=8)
    assert "class 'cat' has 1 image" in _error(capsys, _finetune(lonely, tmp_path))
    assert not (tmp_path / "out" / "model.pt").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_report_into_a_read_only_folder_is_refused_first(tmp_path, images, capsys, no_loading):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert "not writable" in _error(capsys, _finetune(images, tmp_path, "--report", str(locked)))


def test_finetune_then_predict_on_png_and_jpeg(tmp_path, images, capsys):
    (images / "cat" / "notes.txt").write_text("skipped, and counted")
    report = tmp_path / "report"
    assert main(_finetune(images, tmp_path, "--report", str(report), "--strategy", "linear-probe")) == 0
    out = capsys.readouterr().out
    assert "2 classes ['cat', 'dog']: 10 training, 2 validation images (1 non-image files skipped)" in out
    assert "epoch  train_loss  train_acc  val_loss  val_acc" in out and "validation accuracy" in out
    result = json.loads((report / "report.json").read_text())
    assert result["classes"] == ["cat", "dog"] and len(result["history"]) == 1
    assert np.array(result["confusion_matrix"]).sum() == 2
    assert (report / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    saved = torch.load(tmp_path / "out" / "model.pt", weights_only=True)
    assert saved["classes"] == ["cat", "dog"] and saved["arch"] == "resnet50"
    assert saved["strategy"] == "linear-probe" and saved["preprocessing"]["crop_size"] == 32
    # predict needs nothing but the model file
    pictures = [images / "cat" / "1.png", images / "dog" / "0.jpg"]
    assert main(["predict", "--model", str(tmp_path / "out" / "model.pt"), *map(str, pictures), "--top", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{pictures[0]}: ")
    probabilities = [float(x.split()[-1]) for x in lines[1].split(": ")[1].split(", ")]
    assert len(probabilities) == 2 and sum(probabilities) == pytest.approx(1, abs=2e-3)  # top 5 of 2 classes
    # the predictions are the model's own: recompute one by hand
    model, _ = commands.load_model(tmp_path / "out" / "model.pt")
    from course_utils.weights import preprocessing
    with torch.no_grad():
        p = model(preprocessing(model)(Image.open(pictures[0]).convert("RGB"))[None]).softmax(1)[0]
    assert f"{['cat', 'dog'][int(p.argmax())]} {float(p.max()):.3f}" in lines[0]


def test_a_rising_training_loss_is_flagged(tmp_path, images, capsys, monkeypatch):
    rows = [{"epoch": e, "train_loss": loss, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5}
            for e, loss in ((1, 1.1), (2, 3.0))]
    monkeypatch.setattr(commands, "finetune_model", lambda *a, **k: rows)
    assert main(_finetune(images, tmp_path)) == 0
    assert "warning: the training loss rose from 1.100 to 3.000" in capsys.readouterr().out


def test_predict_refuses_files_that_are_not_our_models_or_images(tmp_path, images, capsys):
    plain = save_checkpoint(tmp_path / "plain.pt", {"model": {"w": torch.zeros(1)}})
    assert "not a model saved by" in _error(capsys, ["predict", "--model", str(plain), str(images / "cat" / "0.jpg")])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00" * 100)
    err = _error(capsys, ["predict", "--model", str(garbage), str(images / "cat" / "0.jpg")])
    assert "not a model file" in err and "delete" not in err  # no destructive advice


def test_cuda_precision_is_bf16_where_supported_else_fp16(monkeypatch):
    for supported, expected in ((True, "bf16"), (False, "fp16")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
        assert runner.select_precision("cuda") == expected
    assert runner.select_precision("cuda", "fp32") == "fp32"


def test_precision_selection_and_a_bf16_autocast_step_on_the_cpu():
    assert runner.select_precision("cpu") == "fp32"
    assert runner.select_precision("cpu", "bf16") == "bf16"
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        runner.select_precision("cpu", "fp16")
    with pytest.raises(ValueError, match="unknown precision"):
        runner.select_precision("cpu", "half")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    twin = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    twin.load_state_dict(model.state_dict())
    batches = [(torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,))) for _ in range(20)]
    losses = {}
    for name, m, precision in (("fp32", model, "fp32"), ("bf16", twin, "bf16")):
        opt = torch.optim.SGD(m.parameters(), lr=0.05)
        losses[name] = [runner.train_epoch(m, batches, nn.CrossEntropyLoss(), opt, torch.device("cpu"),
                                           precision=precision)["loss"] for _ in range(5)]
    assert losses["bf16"][-1] < losses["bf16"][0]  # the same downward trend as float32
    assert losses["bf16"][-1] == pytest.approx(losses["fp32"][-1], rel=0.05)
    assert losses["bf16"] != losses["fp32"]  # bf16 really ran (rounding differs)


def test_confusion_matrix_counts_true_rows_predicted_columns():
    m = runner.confusion_matrix(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 0, 1, 2]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_the_commands_own_errors_and_warning_in_chinese(tmp_path, images, capsys, monkeypatch, no_loading):
    monkeypatch.setenv("COURSE_LANG", "zh")

    def error(argv) -> str:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("错误：") and err.count("\n") == 1, err
        return err

    assert f"--save {tmp_path} 是一个文件夹；请给出文件名" in error(
        ["finetune", "--data", str(images), "--save", str(tmp_path)])
    other = write_image_folder(tmp_path / "other", classes=("cat", "fox"), per_class=2, size=8)
    assert "--val 的类别 ['cat', 'fox'] 与 --data 的类别 ['cat', 'dog'] 不同" in error(
        _finetune(images, tmp_path, "--val", str(other)))
    plain = save_checkpoint(tmp_path / "plain.pt", {"model": {"w": torch.zeros(1)}})
    assert "不是由 `python -m course_utils finetune --save` 保存的模型" in error(
        ["predict", "--model", str(plain), str(images / "cat" / "0.jpg")])
    assert "does not exist" in error(_finetune(tmp_path / "nope", tmp_path))  # images.py: English


def test_the_rising_loss_warning_in_chinese(tmp_path, images, capsys, monkeypatch):
    monkeypatch.setenv("COURSE_LANG", "zh")
    rows = [{"epoch": e, "train_loss": loss, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5}
            for e, loss in ((1, 1.1), (2, 3.0))]
    monkeypatch.setattr(commands, "finetune_model", lambda *a, **k: rows)
    assert main(_finetune(images, tmp_path)) == 0
    assert "警告：训练损失从 1.100 升到了 3.000：学习率可能太大" in capsys.readouterr().out
