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

from course_utils.__main__ import main
from course_utils.checkpoint import save_checkpoint
from course_utils.cli import arguments, cut, finetune as finetune_command, predict
from course_utils.data.images import image_folder, load_image
from course_utils.experiments import runner
from course_utils.training import train_one_epoch

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
    for module in (finetune_command, predict):
        monkeypatch.setattr(module, "load_resnet50", tripwire)


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def _finetune(images, tmp_path, *extra):
    return ["finetune", "--data", str(images), "--weights", "none", "--epochs", "1", "--device", "cpu",
            "--batch-size", "4", "--save", str(tmp_path / "out" / "model.pt"), *extra]


def _bad_folders(tmp_path, images):
    one = tmp_path / "one"
    (one / "cat").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(one / "cat" / "a.png")
    empty_class = tmp_path / "emptyclass"
    (empty_class / "cat").mkdir(parents=True)
    (empty_class / "dog").mkdir()
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
        no_gpu = _error(capsys, _finetune(images, tmp_path, "--device", "cuda"))
        assert "CUDA was asked for" in no_gpu and "pass --device cpu" in no_gpu and "get_device" not in no_gpu
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
    model, _ = predict.load_model(tmp_path / "out" / "model.pt")
    from course_utils.experiments.weights import preprocessing
    with torch.no_grad():
        p = model(preprocessing(model)(Image.open(pictures[0]).convert("RGB"))[None]).softmax(1)[0]
    assert f"{['cat', 'dog'][int(p.argmax())]} {float(p.max()):.3f}" in lines[0]


def test_a_rising_training_loss_is_flagged(tmp_path, images, capsys, monkeypatch):
    rows = [{"epoch": e, "train_loss": loss, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5}
            for e, loss in ((1, 1.1), (2, 3.0))]
    monkeypatch.setattr(finetune_command, "finetune_model", lambda *a, **k: rows)
    assert main(_finetune(images, tmp_path, "--strategy", "last-stage")) == 0
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
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, supported=supported, **k: supported)
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
    for name, m, autocast in (("fp32", model, None), ("bf16", twin, torch.autocast("cpu", dtype=torch.bfloat16))):
        opt = torch.optim.SGD(m.parameters(), lr=0.05)
        losses[name] = [train_one_epoch(m, batches, nn.CrossEntropyLoss(), opt, "cpu", autocast=autocast,
                                        progress=False)["loss"] for _ in range(5)]
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
    monkeypatch.setattr(finetune_command, "finetune_model", lambda *a, **k: rows)
    assert main(_finetune(images, tmp_path, "--strategy", "last-stage")) == 0
    assert "警告：训练损失从 1.100 升到了 3.000：学习率可能太大" in capsys.readouterr().out


# ----------------------------------------------------------------------------- --strategy auto / cut-*
from course_utils.experiments import stage_probe  # noqa: E402
from course_utils.experiments.transfer import STAGES  # noqa: E402


def _features_where(stage_that_knows: str, targets: torch.Tensor, views: int = 1, seed: int = 0,
                    widths=(16, 32, 48, 64)) -> dict:
    """Fake pooled features: only ``stage_that_knows`` carries the class (a shifted mean), the rest noise."""
    g = torch.Generator().manual_seed(seed)
    feats = {}
    for stage, width in zip(STAGES, widths):
        f = torch.randn(views, len(targets), width, generator=g)
        if stage == stage_that_knows:  # class c shifts features c*k .. c*k + k - 1
            k = width // 8
            for c in targets.unique().tolist():
                f[:, targets == c, c * k:(c + 1) * k] += 6.0
        feats[stage] = f
    return feats


@pytest.mark.parametrize("stage", ["layer2", "layer3"])
def test_auto_picks_the_stage_the_probes_rank_best(stage):
    targets = torch.arange(40) % 4
    table = stage_probe.probe_table(_features_where(stage, targets), targets, folds=4, seed=0)
    assert table[stage]["acc"] > max(table[s]["acc"] for s in STAGES if s != stage) + 0.4
    assert stage_probe.best_stage(table) == stage
    # a tie goes to the deeper stage; the folds are disjoint and cover every image once
    assert stage_probe.best_stage({s: {"acc": 0.5} for s in STAGES}) == "layer4"
    folds = stage_probe.fold_indices(targets, 4, seed=0)
    assert sorted(torch.cat(folds).tolist()) == list(range(40))
    assert all(torch.bincount(targets[f], minlength=4).min() >= 2 for f in folds)


@pytest.mark.slow
def test_auto_on_the_command_line_chooses_what_the_table_shows(tmp_path, images, capsys, monkeypatch):
    """The real command, with stage features faked so that layer3 knows the classes: it cuts there,
    reports the table (text, JSON, figure) and saves a cut model that predict runs."""
    def fake(model, x, *, views=0, augment=None, seed=0, batch_size=64):
        ys = torch.tensor([0] * (len(x) // 2) + [1] * (len(x) - len(x) // 2))  # images sorted by class
        return _features_where("layer3", ys, views=1 + views, seed=seed, widths=(256, 512, 1024, 2048))

    monkeypatch.setattr(cut, "view_features", fake)
    report = tmp_path / "report"
    assert main(_finetune(images, tmp_path, "--report", str(report))) == 0
    out = capsys.readouterr().out
    assert "2-fold cross-validation on the 10 training images" not in out  # 5 per class: 4 folds
    assert "4-fold cross-validation on the 10 training images" in out
    assert "auto chose cut-layer3: layer3 probes best" in out and "the network is cut after layer3" in out
    assert "augmentation" in out and "validation accuracy" in out
    assert "the saved head is then refit on all 12 images" in out  # 10 training + 2 validation
    result = json.loads((report / "report.json").read_text())
    # the accuracy printed is the one of the head that never saw the validation images, not the refit one's
    assert result["refit"] and result["val_acc"] == pytest.approx(result["history"][0]["val_acc"])
    assert result["chosen"] == "cut-layer3" and set(result["probe"]) == set(STAGES)
    assert result["probe"]["layer3"]["acc"] == max(r["acc"] for r in result["probe"].values())
    assert (report / "stage_probe.png").read_bytes()[:4] == b"\x89PNG"
    assert f"report: {report / 'report.json'}, {report / 'confusion_matrix.png'}, {report / 'stage_probe.png'}" in out
    saved = torch.load(tmp_path / "out" / "model.pt", weights_only=True)
    assert saved["stage"] == "layer3" and saved["strategy"] == "cut-layer3"
    assert not any(k.startswith("layer4") for k in saved["model"])


@pytest.mark.slow
def test_a_cut_model_saves_loads_and_predicts_folders_into_a_csv(tmp_path, images, capsys):
    (images / "dog" / "notes.txt").write_text("skipped, and counted")
    assert main(_finetune(images, tmp_path, "--strategy", "cut-layer2", "--augment", "light")) == 0
    out = capsys.readouterr().out
    assert "cut-layer2 (as asked): a new head on the pooled output of layer2" in out
    assert "augmentation light (as asked)" in out
    model, saved = predict.load_model(tmp_path / "out" / "model.pt")
    assert isinstance(model, stage_probe.CutResNet) and model.stage == "layer2" and not hasattr(model, "layer3")
    nested = tmp_path / "inbox" / "deeper"
    nested.mkdir(parents=True)
    (nested / "x.png").write_bytes((images / "cat" / "1.png").read_bytes())
    (tmp_path / "inbox" / "readme.md").write_text("not an image")
    table = tmp_path / "out" / "predictions.csv"
    argv = ["predict", "--model", str(tmp_path / "out" / "model.pt"), str(images / "dog"), str(tmp_path / "inbox"),
            str(images / "cat" / "0.jpg"), "--top", "2", "--csv", str(table)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2 non-image files skipped"
    assert lines[-1] == f"predictions for 8 images written to {table}" and len(lines) == 10
    import csv
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows][-2:] == [str(nested / "x.png"), str(images / "cat" / "0.jpg")]
    assert list(rows[0]) == ["path", "class_1", "prob_1", "class_2", "prob_2"]
    # the probabilities are the model's own: recompute one by hand
    from course_utils.experiments.weights import preprocessing
    with torch.no_grad():
        p = model(preprocessing(model)(Image.open(nested / "x.png").convert("RGB"))[None]).softmax(1)[0]
    assert rows[-2]["class_1"] == ["cat", "dog"][int(p.argmax())]
    assert float(rows[-2]["prob_1"]) == pytest.approx(float(p.max()), abs=1e-5)
    assert float(rows[-2]["prob_1"]) + float(rows[-2]["prob_2"]) == pytest.approx(1, abs=1e-5)


def test_predict_bad_inputs_are_one_line_before_any_work(tmp_path, images, capsys, monkeypatch):
    model = save_checkpoint(tmp_path / "m.pt", {"model": {"w": torch.zeros(1)}})  # never reached

    def tripwire(*args, **kwargs):
        raise AssertionError("the model was loaded before the bad input was refused")

    monkeypatch.setattr(predict, "load_model", tripwire)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "a.txt").write_text("x")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    for inputs, phrase in (([tmp_path / "nope.png"], "nope.png: no such image file or folder"),
                           ([tmp_path / "empty"], "no images in this folder"),
                           ([images, bad], "bad.png is not a readable image")):
        assert phrase in _error(capsys, ["predict", "--model", str(model), *map(str, inputs)])
    assert "is a folder" in _error(capsys, ["predict", "--model", str(model), str(images), "--csv", str(tmp_path)])


def test_finetune_refuses_augment_without_probes_and_too_few_images_for_the_folds(tmp_path, images, capsys,
                                                                                 no_loading):
    assert "--augment strong works with --strategy auto and the cut-* strategies only" in _error(
        capsys, _finetune(images, tmp_path, "--strategy", "last-stage", "--augment", "strong"))
    lonely = write_image_folder(tmp_path / "lonely", classes=("cat", "dog"), per_class=1, size=8)
    assert "needs at least 2 per class ('cat' has 1 for training)" in _error(
        capsys, _finetune(lonely, tmp_path, "--val", str(images)))
    two = write_image_folder(tmp_path / "two", classes=("cat", "dog"), per_class=2, size=8)
    assert "needs at least 2 per class ('cat' has 1 for training)" in _error(capsys, _finetune(two, tmp_path))


def test_an_old_whole_network_model_file_still_loads(tmp_path):
    """Models saved before the cut strategies: no 'stage' key, a whole ResNet-50 state dict."""
    from torchvision.models import resnet50
    torch.manual_seed(0)
    net = resnet50(num_classes=2)
    path = save_checkpoint(tmp_path / "old.pt", {"format": arguments.MODEL_FORMAT, "arch": "resnet50",
                                                 "model": net.state_dict(), "classes": ["cat", "dog"],
                                                 "preprocessing": {"name": "course", "resize_size": 32,
                                                                   "crop_size": 32, "mean": [0.5] * 3,
                                                                   "std": [0.25] * 3},
                                                 "strategy": "last-stage", "weights": "course"})
    model, saved = predict.load_model(path)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), net.eval()(x))


from test_weights import course_stand_in, fake_imagenet, torch_home  # noqa: E402,F401  (fixtures)


@pytest.mark.slow
@pytest.mark.parametrize("weights", ["imagenet", "course"])
def test_auto_on_both_weight_routes_offline(weights, tmp_path, images, capsys, request):
    """ImageNet weights (the fake cached state dict, no network) and the course model (a stand-in):
    auto measures, cuts, saves a model with that route's preprocessing, and predict runs it."""
    request.getfixturevalue("fake_imagenet" if weights == "imagenet" else "course_stand_in")
    argv = ["finetune", "--data", str(images), "--weights", weights, "--image-size", "32", "--augment", "none",
            "--device", "cpu", "--save", str(tmp_path / "m.pt")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert ("ImageNet weights" if weights == "imagenet" else "the course's source model") in out
    assert "auto chose cut-layer" in out and "augmentation none (as asked)" in out
    saved = torch.load(tmp_path / "m.pt", weights_only=True)
    name = "imagenet:IMAGENET1K_V2" if weights == "imagenet" else "course"
    assert saved["preprocessing"]["name"] == name and saved["preprocessing"]["crop_size"] == 32
    assert main(["predict", "--model", str(tmp_path / "m.pt"), str(images)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 12


def test_a_folder_of_splits_is_refused_not_read_as_two_classes(tmp_path, capsys, no_loading):
    """train/ and val/, each with the class folders inside: once read as the classes 'train' and 'val'."""
    for split in ("train", "val"):
        write_image_folder(tmp_path / "split" / split, classes=("cat", "dog"), per_class=3, size=8)
    err = _error(capsys, _finetune(tmp_path / "split", tmp_path))
    assert "holds the splits ['train', 'val'], not classes" in err
    assert f"--data {tmp_path / 'split' / 'train'} --val {tmp_path / 'split' / 'val'}" in err
    write_image_folder(tmp_path / "named", classes=("test", "train"), per_class=2, size=8)  # images in them: classes
    assert image_folder(tmp_path / "named").classes == ["test", "train"]


def test_validation_images_that_are_also_training_images_are_refused(tmp_path, images, capsys, no_loading):
    err = _error(capsys, _finetune(images, tmp_path, "--val", str(images)))
    assert "--val shares 12 images with --data" in err and "would not be unbiased" in err


def test_hidden_folders_are_left_out_and_16_bit_grey_is_scaled_not_clipped(tmp_path, images):
    (images / "cat" / ".thumbnails").mkdir()
    Image.new("RGB", (8, 8)).save(images / "cat" / ".thumbnails" / "t.png")
    assert len(image_folder(images)) == 12  # 6 per class, the thumbnail not among them
    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I;16")
    pixels = np.asarray(load_image(tmp_path / "grey16.png"))
    assert pixels.dtype == np.uint8 and (pixels == 255).mean() < 0.01  # clipped at 255, it was 99.6 % white
    np.testing.assert_allclose(pixels[..., 0], np.round(ramp / 257), atol=0)  # not 255 from 256 up


def test_a_refused_command_leaves_no_folder_behind(tmp_path, images, capsys, no_loading):
    """The output folders are checked (the nearest existing one must be writable), not made, before the run."""
    _error(capsys, ["finetune", "--data", str(tmp_path / "nope"), "--save", str(tmp_path / "e1" / "sub" / "m.pt"),
                    "--report", str(tmp_path / "e1" / "rep")])
    assert not (tmp_path / "e1").exists()
    err = _error(capsys, ["predict", "--model", str(tmp_path / "nope.pt"), str(images),
                          "--csv", str(tmp_path / "e2" / "p.csv")])
    assert "does not exist" in err and not (tmp_path / "e2").exists()
