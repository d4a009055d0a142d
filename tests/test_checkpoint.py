"""Checkpoints: atomic saves, weights_only loads, and clear errors for bad files."""

import os
import stat
import subprocess
import sys
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, state_dict_mismatch


@dataclass
class Point:
    x: int
    y: int


def small_model(hidden: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, 2))


def test_round_trip_restores_model_optimizer_and_scheduler(tmp_path):
    model = small_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    sched.step()
    path = save_checkpoint(tmp_path / "sub" / "ckpt.pt",
                           {"model": model.state_dict(), "optimizer": opt.state_dict(),
                            "scheduler": sched.state_dict(), "epoch": 3, "note": "hello"})
    assert path == tmp_path / "sub" / "ckpt.pt" and path.is_file()

    other = small_model()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    opt2 = torch.optim.SGD(other.parameters(), lr=0.1, momentum=0.9)
    sched2 = torch.optim.lr_scheduler.StepLR(opt2, step_size=1, gamma=0.5)
    state = load_checkpoint(path, model=other, optimizer=opt2, scheduler=sched2)
    assert state["epoch"] == 3 and state["note"] == "hello"
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.05)
    torch.testing.assert_close(opt2.state_dict()["state"][0]["momentum_buffer"],
                               opt.state_dict()["state"][0]["momentum_buffer"])
    assert sched2.state_dict() == sched.state_dict()


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "ckpt.pt", {"value": torch.tensor([1.0])})
    real_save = torch.save

    def dying_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")  # some bytes reach the disk, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"value": torch.tensor([2.0])})
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(path)["value"].item() == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]  # no temp file left


def test_save_overwrites_atomically_and_rejects_non_dicts(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"epoch": 1})
    save_checkpoint(path, {"epoch": 2})
    assert load_checkpoint(path)["epoch"] == 2
    with pytest.raises(TypeError, match="state must be a dict"):
        save_checkpoint(path, [1, 2])


def test_missing_file_names_the_file(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="nope.pt does not exist"):
        load_checkpoint(missing)
    with pytest.raises(CheckpointError, match="it is a folder"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("damage, message", [
    ("garbage", r"ckpt\.pt is not a file written by torch\.save .*check the path"),
    ("truncated", r"ckpt\.pt is corrupt or truncated.*delete it and save again"),
    ("empty", r"ckpt\.pt is empty \(0 bytes\).*delete it and save again")])
def test_damaged_file_names_the_file(tmp_path, damage, message):
    path = save_checkpoint(tmp_path / "ckpt.pt", {"model": small_model().state_dict()})
    data = path.read_bytes()
    path.write_bytes({"garbage": b"not a checkpoint at all" * 10,
                      "truncated": data[: len(data) // 2], "empty": b""}[damage])
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_a_flipped_byte_inside_a_tensor_is_found_by_the_crc(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", {"w": torch.arange(4096, dtype=torch.float32)})
    data = bytearray(path.read_bytes())
    start = data.index(torch.arange(4096, dtype=torch.float32)[100:104].numpy().tobytes())
    data[start + 1] ^= 0xFF  # one byte of the tensor's storage record
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"corrupt: record '.*' fails its CRC check"):
        load_checkpoint(path)


def test_legacy_file_loads_and_cuda_without_gpu_is_not_called_corrupt(tmp_path):
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    assert load_checkpoint(legacy)["w"].tolist() == [1.0, 1.0]
    path = save_checkpoint(tmp_path / "ckpt.pt", {"w": torch.ones(2)})
    if not torch.cuda.is_available():
        with pytest.raises(CheckpointError, match="no CUDA GPU.*map_location='cpu'") as info:
            load_checkpoint(path, map_location="cuda")
        assert "delete" not in str(info.value) and "corrupt" not in str(info.value)


@pytest.mark.parametrize("value, where, hint", [
    (np.float64(0.5), r"numpy\.float64", r"float\(x\)"),
    (np.ones(2), r"numpy\.ndarray", "torch.from_numpy"),
    (Path("a"), r"pathlib\.\w*Path", r"str\(path\)"),
    (Point(1, 2), r"test_checkpoint\.Point", r"dataclasses\.asdict")])
def test_what_cannot_load_does_not_save(tmp_path, value, where, hint):
    path = tmp_path / "ckpt.pt"
    with pytest.raises(TypeError, match=rf"cannot save state\['metrics'\]\['acc'\]: a {where}"
                                        rf".*{hint}"):
        save_checkpoint(path, {"metrics": {"acc": value}})
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_what_saves_loads(tmp_path):
    state = {"i": 1, "f": 0.5, "b": True, "n": None, "s": "x", "c": 1j, "bytes": b"x",
             "t": (1, 2), "l": [1, [2]], "set": {3}, "od": OrderedDict(a=1), 3: "int key",
             "size": torch.Size([2]), "dtype": torch.float16, "device": torch.device("cpu"),
             "param": nn.Parameter(torch.ones(2))}
    loaded = load_checkpoint(save_checkpoint(tmp_path / "ckpt.pt", state))
    assert loaded.keys() == state.keys()
    assert {k: v for k, v in loaded.items() if k != "param"} == \
        {k: v for k, v in state.items() if k != "param"}


def test_load_error_keeps_torchs_explanation_without_ansi_codes(tmp_path):
    path = tmp_path / "unsafe.pt"
    torch.save({"payload": Sneaky()}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    text = str(info.value)
    assert "\x1b" not in text and "PyTorch says: Weights only load failed" in text
    assert "weights_only" in text.split("PyTorch says:")[1].split("\n", 1)[1]  # more than line 1


def test_saves_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "ckpt.pt", {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_stale_temp_files_of_killed_saves_are_removed(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", {"x": 1})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = [tmp_path / f".ckpt.pt.{dead}-0123abcd.tmp", tmp_path / ".ckpt.pt.x1y2z3.tmp"]
    alive = tmp_path / f".ckpt.pt.{os.getppid()}-0123abcd.tmp"  # a save still running elsewhere
    other = tmp_path / f".other.pt.{dead}-0123abcd.tmp"
    for f in stale + [alive, other]:
        f.write_bytes(b"half")
    save_checkpoint(path, {"x": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ckpt.pt", alive.name,
                                                                 other.name])


class Sneaky:
    def __reduce__(self):  # what an unsafe pickle would run on load
        return (print, ("pwned",))


def test_weights_only_refuses_arbitrary_objects(tmp_path, capsys):
    path = tmp_path / "unsafe.pt"
    torch.save({"payload": Sneaky()}, path)
    with pytest.raises(CheckpointError, match="weights_only=True refuses"):
        load_checkpoint(path)
    assert "pwned" not in capsys.readouterr().out


def test_non_dict_checkpoint(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="holds a Tensor, not a dict"):
        load_checkpoint(path)


def test_mismatched_model_is_reported_and_left_untouched(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", {"model": small_model(hidden=4).state_dict()})
    wider = small_model(hidden=5)
    before = {k: v.clone() for k, v in wider.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"ckpt\.pt does not fit this model: shape "
                                              r"mismatch 0\.weight: checkpoint \(4, 3\) vs model "
                                              r"\(5, 3\)"):
        load_checkpoint(path, model=wider)
    for k, v in wider.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)

    deeper = nn.Sequential(*small_model(hidden=4), nn.Linear(2, 2))
    with pytest.raises(CheckpointError, match=r"missing keys 3\.weight, 3\.bias"):
        load_checkpoint(path, model=deeper)
    with pytest.raises(CheckpointError, match="has no 'optimizer' entry"):
        load_checkpoint(path, optimizer=torch.optim.SGD(small_model().parameters(), lr=0.1))


def test_mismatched_optimizer_is_reported(tmp_path):
    model = small_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = save_checkpoint(tmp_path / "ckpt.pt", {"optimizer": opt.state_dict()})
    other = torch.optim.SGD(list(model.parameters())[:2], lr=0.1)
    with pytest.raises(CheckpointError, match=r"its optimizer state does not fit this SGD"):
        load_checkpoint(path, optimizer=other)


def test_state_dict_mismatch_lists_unexpected_keys():
    model = small_model()
    extra = dict(model.state_dict(), **{"head.weight": torch.zeros(1)})
    assert state_dict_mismatch(model, model.state_dict()) == ""
    assert state_dict_mismatch(model, extra) == "unexpected keys head.weight"
    assert "not a state dict" in state_dict_mismatch(model, [1])


def test_rng_state_survives_a_weights_only_round_trip(tmp_path):
    import random

    import numpy as np
    from torch.utils.data import DataLoader

    from course_utils.checkpoint import rng_state, set_rng_state

    loader = DataLoader(list(range(10)), batch_size=3, shuffle=True,
                        generator=torch.Generator().manual_seed(4))

    def draws():
        return (torch.rand(3).tolist(), random.random(), np.random.rand(), [b.tolist() for b in loader])

    path = save_checkpoint(tmp_path / "rng.pt", {"rng": rng_state(loader)})
    expected = draws()
    assert draws() != expected  # the generators moved on
    set_rng_state(load_checkpoint(path)["rng"], loader)
    assert draws() == expected
