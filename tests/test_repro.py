import random

import numpy as np
import pytest
import torch

from course_utils.repro import CHECKED_THREADS, get_device, pin_threads, seed_everything


def draw():
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_same_seed_same_numbers_everywhere():
    seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    seed_everything(124)
    assert draw() != first


def test_returned_generator_is_seeded():
    g1, g2 = seed_everything(7), seed_everything(7)
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True, None])
def test_bad_seed_is_rejected(bad):
    with pytest.raises(ValueError, match="seed"):
        seed_everything(bad)


def test_pin_threads_sets_and_returns_previous():
    original = torch.get_num_threads()
    try:
        assert pin_threads(1) == original
        assert torch.get_num_threads() == 1
        assert pin_threads() == 1
        assert torch.get_num_threads() == CHECKED_THREADS == 2
    finally:
        torch.set_num_threads(original)


@pytest.mark.parametrize("bad", [0, -2, 1.0, "2"])
def test_pin_threads_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="num_threads"):
        pin_threads(bad)


def test_same_thread_count_gives_identical_training():
    def run():
        seed_everything(0)
        model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(512, 32), torch.randint(0, 4, (512,))
        for _ in range(30):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    original = torch.get_num_threads()
    try:
        pin_threads(2)
        assert torch.equal(run(), run())
    finally:
        torch.set_num_threads(original)


def test_get_device_prefers_environment_then_hardware(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    monkeypatch.delenv("COURSE_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert get_device().type == expected


def test_get_device_explains_a_missing_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA was asked for but is not available"):
        get_device("cuda")
