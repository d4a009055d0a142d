"""course_utils.pretrain: torchvision's ResNet-50 trained on the source task, cached by config.

The runs here are tiny (a few steps at 16 px) so the suite stays fast; the recipe is the same.
"""

import dataclasses

import pytest
import torch
from torchvision.models import resnet50

from course_utils.checkpoint import load_checkpoint
from course_utils.data import SOURCE_CLASSES
from course_utils.pretrain import (FORMAT, PretrainConfig, build_source_model,
                                   pretrain_source_model, source_checkpoint_path)

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
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]
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


def test_unknown_option_lists_the_valid_ones(cache):
    with pytest.raises(TypeError, match=r"unknown pretraining option\(s\) \['epoch'\].*'epochs'"):
        pretrain_source_model(epoch=3)
    assert not source_checkpoint_path().exists()


def test_unknown_optimizer_is_a_clear_error(cache):
    with pytest.raises(ValueError, match="optimizer must be 'sgd' or 'adamw', got 'adam'"):
        pretrain_source_model(optimizer="adam")
