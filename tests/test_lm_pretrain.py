"""Next-token pretraining: windows, loss near ln V at the start, falling, cached by config."""

import dataclasses
import math

import pytest
import torch

from course_utils.data import CacheNotWritableError
from course_utils.experiments import lm_pretrain
from course_utils.experiments.lm_pretrain import LMPretrainConfig, cache_key, get_batch, lm_checkpoint_path, pretrain_lm
from course_utils.gpt import GPTConfig

TINY = LMPretrainConfig(model=GPTConfig(vocab_size=64, context_length=8, d_model=16,
                                        n_layers=1, n_heads=2),
                        steps=60, batch_size=8, lr=1e-2, warmup_steps=5, eval_every=20)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    return tmp_path


def _tokens(n=4000):  # a learnable stream: a repeating pattern of 16 tokens
    return torch.arange(n) % 16


def test_windows_are_shifted_by_one():
    x, y = get_batch(torch.arange(100), 4, 8, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 8) and torch.equal(x[:, 1:], y[:, :-1])
    assert torch.equal(y, x + 1)
    with pytest.raises(ValueError, match="window"):
        get_batch(torch.arange(5), 1, 8, torch.Generator())


def test_loss_starts_near_ln_v_falls_and_is_cached(cache):
    model, info = pretrain_lm(_tokens(), _tokens(500), TINY, progress=False)
    first, last = info["history"][0], info["history"][-1]
    assert abs(first["val_loss"] - math.log(64)) < 0.1
    assert last["val_loss"] < 0.5 * math.log(64) and not info["from_cache"]
    assert lm_checkpoint_path().exists()
    again, info2 = pretrain_lm(_tokens(), _tokens(500), TINY, progress=False)
    assert info2["from_cache"] and info2["history"] == info["history"]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                  again.state_dict().values()))
    other = torch.roll(_tokens(), 3)
    _, info3 = pretrain_lm(other, _tokens(500), TINY, progress=False)
    assert not info3["from_cache"]  # other tokens: retrained


def test_damaged_cache_retrains(cache, capsys):
    pretrain_lm(_tokens(), _tokens(500), TINY, progress=False)
    lm_checkpoint_path().write_bytes(b"not a checkpoint")
    _, info = pretrain_lm(_tokens(), _tokens(500), TINY, progress=True)
    assert not info["from_cache"] and "unusable" in capsys.readouterr().out


def _changed(value):  # another valid value of a config field
    if isinstance(value, tuple):
        return tuple(v / 2 for v in value)
    if isinstance(value, float):
        return value + 0.05
    return value * 2 or 1  # doubled keeps d_model divisible by n_heads; 0 becomes 1


def test_every_config_field_is_in_the_cache_key():
    tokens, val = _tokens(), _tokens(500)
    key = cache_key(TINY, tokens, val)
    for field in dataclasses.fields(GPTConfig):
        model = dataclasses.replace(TINY.model, **{field.name: _changed(getattr(TINY.model, field.name))})
        assert cache_key(dataclasses.replace(TINY, model=model), tokens, val) != key, field.name
    for field in dataclasses.fields(LMPretrainConfig):
        if field.name != "model":
            other = dataclasses.replace(TINY, **{field.name: _changed(getattr(TINY, field.name))})
            assert cache_key(other, tokens, val) != key, field.name
    assert cache_key(TINY, tokens, _tokens(501)) != key


def test_stale_cache_is_detected_not_loaded(cache, capsys):
    pretrain_lm(_tokens(), _tokens(500), TINY, progress=False)
    longer = dataclasses.replace(TINY, steps=TINY.steps + 1)
    _, info = pretrain_lm(_tokens(), _tokens(500), longer, progress=True)
    assert not info["from_cache"] and len(info["history"]) == longer.steps
    assert "another configuration" in capsys.readouterr().out


def test_progress_says_why_once_and_no_progress_says_nothing(cache, capsys):
    # Notebook 08 pretrains with progress=False: its stored output shows nothing of the cache.
    pretrain_lm(_tokens(), _tokens(500), TINY, progress=False)
    assert capsys.readouterr().out == ""
    _, info = pretrain_lm(_tokens(), _tokens(500), TINY, progress=True, force=True)
    assert not info["from_cache"]
    assert capsys.readouterr().out == "Pretraining the GPT: force=True was passed.\n"
    lm_checkpoint_path().unlink()
    pretrain_lm(_tokens(), _tokens(500), TINY, progress=True)
    assert capsys.readouterr().out == f"Pretraining the GPT: no cached model at {lm_checkpoint_path()}.\n"


def test_an_unwritable_cache_fails_before_training(cache, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained although the model could not be saved")

    monkeypatch.setattr(lm_pretrain, "train_lm", no_training)
    lm_checkpoint_path().mkdir()
    with pytest.raises(CacheNotWritableError, match="COURSE_DATA_DIR"):
        pretrain_lm(_tokens(), _tokens(500), TINY, progress=False)
