"""course_utils.experiments.pretrain: torchvision's ResNet-50 trained on the source task, cached by config.

The runs here are tiny (a few steps at 16 px) so the suite stays fast; the recipe is the same.
"""

import dataclasses
import re

import nbformat
import pytest
import torch
from torchvision.models import resnet50

from course_utils.checkpoint import load_checkpoint, save_checkpoint
from course_utils.data import SOURCE_CLASSES, CacheNotWritableError
from course_utils.experiments import cached_run, pretrain
from course_utils.experiments.pretrain import (
    FORMAT,
    PretrainConfig,
    build_source_model,
    pretrain_source_model,
    source_checkpoint_path,
)
from tools.nbenv import NOTEBOOKS

TINY = dict(train_size=64, test_size=32, image_size=16, epochs=1, batch_size=32)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("cache")
        mp.setenv("COURSE_DATA_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def first_run(module_cache):
    """One tiny training shared by the tests below (each one restores the cache it changes)."""
    torch.manual_seed(123)
    model, info = pretrain_source_model(progress=False, device="cpu", **TINY)
    return model, info, torch.get_rng_state(), info["path"].read_bytes()


@pytest.fixture
def trained(first_run):
    model, info, rng_after, original = first_run
    if info["path"].read_bytes() != original:  # a previous test replaced the cached file
        info["path"].write_bytes(original)
    return model, info, rng_after


def weights_equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_checkpoint_lives_in_the_cache_dir(cache):
    assert source_checkpoint_path().parent == cache


def test_architecture_is_torchvisions_resnet50_with_26_classes():
    model = build_source_model()
    reference = resnet50(weights=None, num_classes=len(SOURCE_CLASSES))
    assert [(k, v.shape) for k, v in model.state_dict().items()] == \
           [(k, v.shape) for k, v in reference.state_dict().items()]
    assert sum(p.numel() for p in model.parameters()) == 25_557_032 - 2049 * 1000 + 2049 * 26
    assert weights_equal(model, build_source_model())  # the init is seeded


def test_first_call_trains_and_caches_with_history_and_config(trained):
    model, info, _ = trained
    assert not info["from_cache"] and info["path"] == source_checkpoint_path()
    assert info["config"] == PretrainConfig(**TINY)
    assert [row["epoch"] for row in info["history"]] == [1]
    assert 0 <= info["source_acc"] <= 1 and info["source_acc"] == info["history"][-1]["val_acc"]
    assert not model.training  # returned ready for evaluation / feature extraction
    state = load_checkpoint(info["path"])  # weights_only=True: plain data only
    assert state["format"] == FORMAT and state["config"] == dataclasses.asdict(info["config"])
    assert state["history"] == info["history"]


def test_training_leaves_the_global_random_state_alone(trained):
    # Cells after the pretraining must print the same whether it trained or loaded the cache.
    _, _, after = trained
    torch.manual_seed(123)
    assert torch.equal(after, torch.get_rng_state())


def test_second_call_loads_the_same_model_and_history(trained):
    model, info, _ = trained
    again, info_again = pretrain_source_model(progress=False, device="cpu", **TINY)
    assert info_again["from_cache"]
    assert info_again["history"] == info["history"] and info_again["seconds"] == info["seconds"]
    assert weights_equal(model, again)


def test_training_is_deterministic(trained):
    model, info, _ = trained
    retrained, info2 = pretrain_source_model(force=True, progress=False, device="cpu", **TINY)
    assert not info2["from_cache"] and weights_equal(model, retrained)

    def strip(h):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in h]

    assert strip(info2["history"]) == strip(info["history"])


def test_another_config_is_retrained_not_reused(trained, capsys):
    model, _, _ = trained
    other, info = pretrain_source_model(progress=True, device="cpu", **{**TINY, "seed": 1})
    assert not info["from_cache"] and info["config"].seed == 1
    assert "another configuration" in capsys.readouterr().out
    assert not weights_equal(model, other)
    # the cache now holds the new config: asking for the old one retrains again
    _, back = pretrain_source_model(progress=False, device="cpu", **TINY)
    assert not back["from_cache"]


def test_a_corrupt_cache_is_retrained_with_a_message(trained, capsys):
    _, info, _ = trained
    info["path"].write_bytes(b"not a checkpoint")
    _, again = pretrain_source_model(progress=True, device="cpu", **TINY)
    assert not again["from_cache"]
    out = capsys.readouterr().out
    assert "unusable" in out and str(info["path"]) in out
    assert load_checkpoint(info["path"])["format"] == FORMAT  # and the file was repaired


def test_a_truncated_cache_is_announced_even_without_progress(trained, capsys):
    # Before: progress=False retrained a truncated model for minutes without a word.
    _, info, _ = trained
    info["path"].write_bytes(info["path"].read_bytes()[:100_000])
    _, again = pretrain_source_model(progress=False, device="cpu", **TINY)
    out = capsys.readouterr().out
    assert not again["from_cache"]
    assert "Pretraining the source ResNet-50" in out and "corrupt or truncated" in out
    assert "2 steps of 32 images at 16 px: under a minute" in out


def test_an_empty_cache_says_why_and_how_long(cache, capsys, monkeypatch):
    monkeypatch.setattr(pretrain, "_train", _no_training)
    with pytest.raises(_Trained):
        pretrain_source_model(progress=False, device="cpu")
    out = capsys.readouterr().out
    assert f"no cached model at {source_checkpoint_path()}" in out
    assert "486 steps of 64 images at 32 px: about" in out and "min" in out


def test_a_cache_built_with_another_thread_count_is_not_reused(trained, capsys):
    # Before: the thread count was stored but never compared.
    _, info, _ = trained
    state = load_checkpoint(info["path"])
    state["threads"] = torch.get_num_threads() + 1
    save_checkpoint(info["path"], state)
    _, again = pretrain_source_model(progress=False, device="cpu", **TINY)
    out = capsys.readouterr().out
    assert not again["from_cache"]
    assert f"made on cpu with {torch.get_num_threads() + 1} thread(s)" in out
    assert f"this run is on cpu with {torch.get_num_threads()} thread(s)" in out
    _, back = pretrain_source_model(progress=False, device="cpu", **TINY)
    assert back["from_cache"]  # the retrained cache matches this run


class _Trained(Exception):
    pass


def _no_training(*args, **kwargs):
    raise _Trained("training started")


def test_a_read_only_cache_fails_before_training(cache, monkeypatch):
    # Before: minutes of pretraining, then a raw PermissionError that threw the model away.
    monkeypatch.setattr(pretrain, "_train", _no_training)

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(cache))

    monkeypatch.setattr(cached_run.tempfile, "mkstemp", read_only)
    with pytest.raises(CacheNotWritableError, match="COURSE_DATA_DIR") as info:
        pretrain_source_model(progress=False, device="cpu", **TINY)
    assert "Permission denied" in str(info.value) and "nothing was computed" in str(info.value)


def test_a_folder_in_place_of_the_checkpoint_fails_before_training(cache, monkeypatch):
    monkeypatch.setattr(pretrain, "_train", _no_training)
    source_checkpoint_path().mkdir()
    with pytest.raises(CacheNotWritableError, match="is a folder.*COURSE_DATA_DIR"):
        pretrain_source_model(progress=False, device="cpu", **TINY)


def test_an_uncreatable_cache_dir_names_the_fix(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "file" / "cache"))
    with pytest.raises(CacheNotWritableError, match="COURSE_DATA_DIR"):
        source_checkpoint_path()


def test_unknown_option_lists_the_valid_ones(cache):
    with pytest.raises(TypeError, match=r"unknown pretraining option\(s\) \['epoch'\].*'epochs'"):
        pretrain_source_model(epoch=3)
    assert not source_checkpoint_path().exists()


def test_unknown_optimizer_is_a_clear_error(cache):
    with pytest.raises(ValueError, match="optimizer must be 'sgd' or 'adamw', got 'adam'"):
        pretrain_source_model(optimizer="adam")


def test_the_time_a_learner_is_told_is_that_of_notebook_04s_stored_run():
    """Before pretraining, a learner reads "about N min": within 20 % of what the stored run of notebook 04
    (2 threads, the default configuration) printed it took, so that the estimate is not a wish; the READMEs
    give the same minutes."""
    nb = nbformat.read(NOTEBOOKS / "04_developing_a_deep_model.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    took = float(re.search(r"training took (\d+\.\d) min", printed)[1]) * 60
    estimate = pretrain._cpu_seconds(PretrainConfig(), threads=2)
    assert abs(estimate - took) <= 0.2 * took, (f"notebook 04's stored run took {took:.0f} s, the estimate is "
                                                f"{estimate:.0f} s: update CPU_IMAGES_PER_SECOND_2_THREADS")
    minutes = round(took / 60)  # and the READMEs' table says as much
    assert f"in about {minutes} minutes" in (NOTEBOOKS.parent / "README.md").read_text(encoding="utf-8")
    assert f"约 {minutes} 分钟" in (NOTEBOOKS.parent / "README.zh-CN.md").read_text(encoding="utf-8")
