"""Bad inputs and faults, one table row each: every one works correctly or is refused clearly.

A row is ``Row(id, module, call, expect)``: ``call(tmp)`` runs the input (``tmp`` is an empty
folder of its own) and ``expect`` is ``Works(check)`` (the result must pass ``check``) or
``Refused(errors, phrase)`` (an exception of type ``errors`` whose message matches the regular
expression ``phrase``: the message names the problem and the fix). :func:`outcome` sorts what
happened into four classes:

* ``works``  -- returned, and the result is right;
* ``clear``  -- refused with the expected error type and message;
* ``raw``    -- any other exception (a raw torch/Python error, or a wrong message);
* ``silent`` -- returned although it should have been refused, or returned a wrong result.

To extend the table, append rows to ``ROWS`` (e.g. ``ROWS += [Row("cli: --lr nan", "cli", ...)]``).
``python -m tools.bad_inputs_report`` prints the counts per module.
"""

from __future__ import annotations

import errno
import math
import os
import pickle
import re
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import memory, peft
from course_utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from course_utils.cli import doctor
from course_utils.internals import atomic
from course_utils.losses import cross_entropy, log_softmax, softmax
from course_utils.optim import SGD
from course_utils.training import evaluate, fit, train_one_epoch


@dataclass(frozen=True)
class Works:
    check: Callable[[Any], bool] = lambda result: True


@dataclass(frozen=True)
class Refused:
    errors: type[BaseException] | tuple[type[BaseException], ...]
    phrase: str  # a regular expression searched in str(exception)


@dataclass(frozen=True)
class Row:
    id: str
    module: str
    call: Callable[[Path], Any]
    expect: Works | Refused


def outcome(row: Row, tmp: Path) -> tuple[str, str]:
    """``(class, detail)``: class is "works", "clear", "raw" or "silent" (see the module doc)."""
    try:
        result = row.call(tmp)
    except Exception as exc:  # noqa: BLE001 - sorting every exception is the point
        expect = row.expect
        if (isinstance(expect, Refused) and isinstance(exc, expect.errors)
                and re.search(expect.phrase, str(exc), re.S)):
            return "clear", str(exc).splitlines()[0][:160]
        return "raw", f"{type(exc).__name__}: {str(exc)[:300]}"
    if isinstance(row.expect, Works):
        try:
            if row.expect.check(result):
                return "works", ""
        except Exception as exc:  # noqa: BLE001 - a check that cannot run is a wrong result
            return "silent", f"check failed: {type(exc).__name__}: {exc}"
    return "silent", f"returned {result!r:.200}"


# ---- helpers used by the rows --------------------------------------------------------------

def tiny(n: int = 48, classes: int = 3, seed: int = 0, shuffle: bool = False):
    """A small classifier, its SGD and a loader of n 2-D points in ``classes`` classes."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, classes))
    x, y = torch.randn(n, 2), torch.arange(n) % classes
    gen = torch.Generator().manual_seed(1) if shuffle else None
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=shuffle, generator=gen)
    return model, torch.optim.SGD(model.parameters(), lr=0.1), loader


def run_fit(epochs=1, *, model=None, optimizer=None, loader=None, loss_fn=None, **kwargs):
    m, o, ld = tiny()
    return fit(model if model is not None else m, loader if loader is not None else ld,
               loss_fn if loss_fn is not None else nn.CrossEntropyLoss(),
               optimizer if optimizer is not None else o, epochs=epochs, progress=False,
               **kwargs)


def loader_of(x, y, batch_size=16):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


def with_lr(value):
    model, optimizer, loader = tiny()
    optimizer.param_groups[0]["lr"] = value  # torch's SGD checks only at construction
    return fit(model, loader, nn.CrossEntropyLoss(), optimizer, epochs=1, progress=False)


def nan_input_fit(value):
    _, _, loader = tiny()
    x, y = loader.dataset.tensors
    x = x.clone()
    x[20] = value
    return run_fit(loader=loader_of(x, y))


def finished(tmp: Path, epochs: int = 2, shuffle: bool = True, scheduler: bool = False):
    """A finished fit checkpoint in tmp; returns its path."""
    model, optimizer, loader = tiny(shuffle=shuffle)
    sched = torch.optim.lr_scheduler.StepLR(optimizer, 3) if scheduler else None
    fit(model, loader, nn.CrossEntropyLoss(), optimizer, epochs=epochs, scheduler=sched,
        checkpoint_path=tmp / "run.pt", progress=False)
    return tmp / "run.pt"


def resume(tmp: Path, *, epochs=2, lr=0.1, n=48, shuffle=True, model=None, scheduler=False,
           path=None):
    path = path or finished(tmp)
    m, o, _ = tiny(seed=5)
    m = model or m
    o = torch.optim.SGD(m.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(o, 3) if scheduler else None
    x, y = torch.randn(n, 2), torch.arange(n) % 3
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=shuffle,
                        generator=torch.Generator().manual_seed(1) if shuffle else None)
    return fit(m, loader, nn.CrossEntropyLoss(), o, epochs=epochs, scheduler=sched,
               checkpoint_path=path, resume=True, progress=False)


def interrupted_resume(tmp: Path):
    """A run killed in epoch 3 of 3, resumed: it must equal the uninterrupted run."""
    def run(loss_fn, path=None, resume_=False):
        model, optimizer, loader = tiny(shuffle=True)
        history = fit(model, loader, loss_fn, optimizer, epochs=3, checkpoint_path=path,
                      resume=resume_, progress=False)
        return model, history

    expected, _ = run(nn.CrossEntropyLoss())
    calls = {"n": 0}

    def dying(logits, targets):
        calls["n"] += 1
        if calls["n"] > 7:  # epoch 3 (3 batches per epoch)
            raise KeyboardInterrupt
        return nn.functional.cross_entropy(logits, targets)

    try:
        run(dying, tmp / "run.pt")
    except KeyboardInterrupt:
        pass
    resumed, history = run(nn.CrossEntropyLoss(), tmp / "run.pt", True)
    return all(torch.equal(a, b) for a, b in zip(expected.state_dict().values(),
                                                 resumed.state_dict().values())) and len(history) == 3


def saved(tmp: Path, state=None) -> Path:
    return save_checkpoint(tmp / "ckpt.pt", state if state is not None else
                           {"w": torch.arange(2000, dtype=torch.float32), "epoch": 3})


def damaged(tmp: Path, how: str) -> Path:
    path = saved(tmp)
    data = bytearray(path.read_bytes())
    if how == "tensor byte":
        data[data.index(torch.arange(2000.0)[1000:1002].numpy().tobytes())] ^= 0x10
    elif how == "pickle byte":
        data[data.index(b"epoch")] ^= 0x01
    elif how == "last byte":
        data = data[:-1]
    elif how == "half":
        data = data[:len(data) // 2]
    elif how == "empty":
        data = bytearray()
    elif how == "text":
        data = bytearray(b"this is a note, not a model\n" * 5)
    path.write_bytes(bytes(data))
    return path


class Plant:
    """A pickle that would create ``marker`` when unpickled (code execution)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def malicious(tmp: Path, legacy: bool) -> Any:
    marker = tmp / "pwned"
    path = tmp / "evil.pt"
    torch.save({"model": Plant(marker)}, path, _use_new_zipfile_serialization=not legacy)
    try:
        return load_checkpoint(path)
    finally:
        assert not marker.exists(), "the malicious file ran code"


def plain_pickle(tmp: Path):
    path = tmp / "data.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    return load_checkpoint(path)


def foreign_zip(tmp: Path):
    import zipfile
    path = tmp / "archive.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "not a model")
    return load_checkpoint(path)


def legacy(tmp: Path):
    path = tmp / "old.pt"
    torch.save({"w": torch.ones(3)}, path, _use_new_zipfile_serialization=False)
    return load_checkpoint(path)


def full_disk(tmp: Path):
    """A save that hits ENOSPC mid-write: clear error, previous file intact, no temp left."""
    path = saved(tmp)
    real = atomic._create_temp

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    with mock.patch.object(atomic, "_create_temp",
                           lambda p: (lambda f, t: (Full(f), t))(*real(p))):
        try:
            save_checkpoint(path, {"w": torch.zeros(10)})
        finally:
            assert load_checkpoint(path)["epoch"] == 3
            assert sorted(p.name for p in tmp.iterdir()) == ["ckpt.pt"]


def read_only(tmp: Path):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    with mock.patch.object(atomic.os, "open", denied):
        return save_checkpoint(tmp / "ckpt.pt", {"x": 1})


def interrupted_save(tmp: Path):
    path = saved(tmp)

    def dying(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    with mock.patch.object(torch, "save", dying):
        try:
            save_checkpoint(path, {"epoch": 4})
        except KeyboardInterrupt:
            pass
    return load_checkpoint(path)["epoch"] == 3 and [p.name for p in tmp.iterdir()] == ["ckpt.pt"]


def stale_temps(tmp: Path):
    path = saved(tmp)
    (tmp / ".ckpt.pt.999999999-abcd1234.tmp").write_bytes(b"left by a killed save")
    (tmp / ".ckpt.pt.q1w2e3r4.tmp").write_bytes(b"left by an older version")
    save_checkpoint(path, {"x": 2})
    return [p.name for p in tmp.iterdir()]


def umask_mode(tmp: Path):
    old = os.umask(0o027)
    try:
        return stat.S_IMODE(saved(tmp).stat().st_mode)
    finally:
        os.umask(old)


@dataclass
class Config:
    lr: float


def sgd_step(lr, **kwargs):
    w = torch.ones(2, requires_grad=True)
    opt = SGD([w], lr=lr, **kwargs)
    (w ** 2).sum().backward()
    opt.step()
    return w.detach()


def sparse_step():
    emb = nn.Embedding(5, 2, sparse=True)
    opt = SGD(emb.parameters(), lr=0.1)
    emb(torch.tensor([1])).sum().backward()
    opt.step()


def consumed():
    params = nn.Linear(2, 2).parameters()
    list(params)
    return SGD(params, lr=0.1)


def hanging_dns():
    release = threading.Event()
    with mock.patch.object(doctor.socket, "getaddrinfo", lambda *a, **k: release.wait(20)):
        start = time.perf_counter()
        check = doctor.check_network(timeout=0.2)
        release.set()
    return check, time.perf_counter() - start


def no_dns():
    def fail(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    with mock.patch.object(doctor.socket, "getaddrinfo", fail):
        return doctor.check_network(timeout=0.2)


def cache_check(tmp: Path, how: str | None):
    with mock.patch.dict(os.environ, {"COURSE_DATA_DIR": str(tmp / "cache")}):
        (tmp / "cache").mkdir()
        if how == "not a folder":
            (tmp / "cache").rmdir()
            (tmp / "cache").write_text("a file")
        else:
            path = saved(tmp / "cache")
            path.rename(tmp / "cache" / "model.pt")
            if how is not None:
                damaged(tmp / "cache", how).rename(tmp / "cache" / "model.pt")
        return doctor.check_cache()


def same_as_torch(ours, theirs):
    return lambda result: torch.allclose(result, theirs(), equal_nan=True, atol=1e-6)


def lora_twice():
    model = nn.Sequential(nn.Linear(4, 4))
    peft.apply_lora(model, ["0"], r=1)
    return peft.apply_lora(model, ["0"], r=1)


NAN, INF = float("nan"), float("inf")
Z = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
Y = torch.tensor([0, 1, 2, 0])

# ---- the table ------------------------------------------------------------------------------

ROWS: list[Row] = []


def row(id: str, module: str, call: Callable[[Path], Any], expect: Works | Refused) -> None:
    ROWS.append(Row(id, module, call, expect))


def no_tmp(fn: Callable[[], Any]) -> Callable[[Path], Any]:
    return lambda tmp: fn()


# losses
DIM = r"dim=-?\d+ is out of range for a \d-D tensor"
for name, fn in (("softmax", softmax), ("log_softmax", log_softmax)):
    row(f"{name}(dim=5) on 2-D", "losses", no_tmp(lambda fn=fn: fn(Z, dim=5)), Refused(IndexError, DIM))
    row(f"{name}(dim=-3) on 2-D", "losses", no_tmp(lambda fn=fn: fn(Z, dim=-3)), Refused(IndexError, DIM))
    row(f"{name}(dim=1.0)", "losses", no_tmp(lambda fn=fn: fn(Z, dim=1.0)), Refused(TypeError, "dim must be an int"))
    row(f"{name}(dim='1')", "losses", no_tmp(lambda fn=fn: fn(Z, dim="1")), Refused(TypeError, "dim must be an int"))
    row(f"{name} of int logits", "losses", no_tmp(lambda fn=fn: fn(torch.tensor([1, 2]))), Refused(TypeError, "floating-point tensor"))
    row(f"{name} of a list", "losses", no_tmp(lambda fn=fn: fn([1.0, 2.0])), Refused(TypeError, "floating-point tensor, got list"))
    row(f"{name} of None", "losses", no_tmp(lambda fn=fn: fn(None)), Refused(TypeError, "floating-point tensor, got NoneType"))
    tfn = getattr(torch, name)
    row(f"{name} of huge logits", "losses", no_tmp(lambda fn=fn: fn(torch.tensor([1000., 1001., 1002.]))),
        Works(same_as_torch(fn, lambda tfn=tfn: tfn(torch.tensor([1000., 1001., 1002.]), -1))))
    row(f"{name} with -inf logits", "losses", no_tmp(lambda fn=fn: fn(torch.tensor([-INF, 0., 1.]))),
        Works(same_as_torch(fn, lambda tfn=tfn: tfn(torch.tensor([-INF, 0., 1.]), -1))))
    row(f"{name} of all -inf (nan like torch)", "losses", no_tmp(lambda fn=fn: fn(torch.full((3,), -INF))),
        Works(same_as_torch(fn, lambda tfn=tfn: tfn(torch.full((3,), -INF), -1))))
    row(f"{name} of a 0-D tensor", "losses", no_tmp(lambda fn=fn: fn(torch.tensor(2.0))),
        Works(same_as_torch(fn, lambda tfn=tfn: tfn(torch.tensor(2.0), -1))))

F = nn.functional
CE = [
    ("float class indices", lambda: cross_entropy(Z, Y.float()), Refused(TypeError, r"class indices .*targets\.long\(\)")),
    ("bool targets", lambda: cross_entropy(Z, Y.bool()), Refused(TypeError, "must be integers, got torch.bool")),
    ("target == num_classes", lambda: cross_entropy(Z, torch.tensor([0, 1, 3, 0])), Refused(ValueError, r"in \[0, 3\).*\[3\]")),
    ("negative target", lambda: cross_entropy(Z, torch.tensor([0, -2, 1, 0])), Refused(ValueError, r"found \[-2\]")),
    ("targets of wrong length", lambda: cross_entropy(Z, Y[:3]), Refused(ValueError, r"must have shape \(4,\)")),
    ("probabilities not summing to 1", lambda: cross_entropy(Z, torch.full((4, 3), 0.5)), Refused(ValueError, "sum to 1")),
    ("negative probabilities", lambda: cross_entropy(Z, torch.tensor([[1.5, -0.5, 0.0]] * 4)), Refused(ValueError, "non-negative")),
    ("probabilities of wrong shape", lambda: cross_entropy(Z, torch.full((4, 2), 0.5)), Refused(ValueError, r"logits' shape \(4, 3\)")),
    ("reduction='avg'", lambda: cross_entropy(Z, Y, reduction="avg"), Refused(ValueError, "reduction must be one of")),
    ("label_smoothing=1.5", lambda: cross_entropy(Z, Y, label_smoothing=1.5), Refused(ValueError, r"label_smoothing must be in \[0, 1\]")),
    ("label_smoothing=-0.1", lambda: cross_entropy(Z, Y, label_smoothing=-0.1), Refused(ValueError, "label_smoothing must be")),
    ("label_smoothing=nan", lambda: cross_entropy(Z, Y, label_smoothing=NAN), Refused(ValueError, "label_smoothing must be")),
    ("weight of wrong length", lambda: cross_entropy(Z, Y, weight=torch.ones(4)), Refused(ValueError, r"weight must have shape \(3,\)")),
    ("0-D logits", lambda: cross_entropy(torch.tensor(1.0), torch.tensor(0)), Refused(ValueError, "class dimension")),
    ("int logits", lambda: cross_entropy(torch.tensor([[1, 2]]), torch.tensor([0])), Refused(TypeError, "floating-point")),
    ("list targets", lambda: cross_entropy(Z, [0, 1, 2, 0]), Refused(TypeError, "targets must be a tensor")),
    ("list logits", lambda: cross_entropy([[0.1, 0.2]], torch.tensor([0])), Refused(ValueError, "logits must be a tensor")),
]
for name, fn, expect in CE:
    row(f"cross_entropy: {name}", "losses", no_tmp(fn), expect)
CE_WORKS = [
    ("every target ignored (nan like torch)", lambda: cross_entropy(Z, torch.full((4,), -100)), lambda: F.cross_entropy(Z, torch.full((4,), -100))),
    ("empty batch (nan like torch)", lambda: cross_entropy(Z[:0], Y[:0]), lambda: F.cross_entropy(Z[:0], Y[:0])),
    ("nan in logits propagates", lambda: cross_entropy(Z.clone().fill_(NAN), Y), lambda: F.cross_entropy(Z.clone().fill_(NAN), Y)),
    ("float64 logits", lambda: cross_entropy(Z.double(), Y), lambda: F.cross_entropy(Z.double(), Y)),
    ("int32 targets", lambda: cross_entropy(Z, Y.int()), lambda: F.cross_entropy(Z, Y.long())),
    ("uint8 targets", lambda: cross_entropy(Z, Y.to(torch.uint8)), lambda: F.cross_entropy(Z, Y.long())),
    ("(C,) logits, 0-D target", lambda: cross_entropy(Z[0], Y[0]), lambda: F.cross_entropy(Z[0], Y[0])),
    ("huge logits", lambda: cross_entropy(Z * 1e4, Y), lambda: F.cross_entropy(Z * 1e4, Y)),
    ("custom ignore_index", lambda: cross_entropy(Z, torch.tensor([0, 7, 2, 7]), ignore_index=7), lambda: F.cross_entropy(Z, torch.tensor([0, 7, 2, 7]), ignore_index=7)),
]
for name, fn, oracle in CE_WORKS:
    row(f"cross_entropy: {name}", "losses", no_tmp(fn), Works(same_as_torch(fn, oracle)))

# optim
for name, value in (("nan", NAN), ("inf", INF), ("-inf", -INF), ("-0.1", -0.1)):
    row(f"SGD(lr={name})", "optim", no_tmp(lambda v=value: sgd_step(v)), Refused(ValueError, "lr must be a finite number >= 0"))
for name, value in (("'0.1'", "0.1"), ("None", None), ("True", True), ("[0.1]", [0.1])):
    row(f"SGD(lr={name})", "optim", no_tmp(lambda v=value: sgd_step(v)), Refused(TypeError, "lr must be a number"))
for option in ("momentum", "weight_decay", "dampening"):
    for name, value in (("nan", NAN), ("inf", INF), ("-1", -1.0)):
        row(f"SGD({option}={name})", "optim", no_tmp(lambda o=option, v=value: sgd_step(0.1, **{o: v})),
            Refused(ValueError, f"{option} must be a finite number >= 0"))
    row(f"SGD({option}='0.9')", "optim", no_tmp(lambda o=option: sgd_step(0.1, **{o: "0.9"})),
        Refused(TypeError, f"{option} must be a number"))
OPTIM = [
    ("dampening=2", lambda: sgd_step(0.1, dampening=2.0), Refused(ValueError, r"dampening must be in \[0, 1\]")),
    ("nesterov without momentum", lambda: sgd_step(0.1, nesterov=True), Refused(ValueError, "nesterov=True needs momentum > 0")),
    ("nesterov with dampening", lambda: sgd_step(0.1, momentum=0.9, dampening=0.5, nesterov=True), Refused(ValueError, "dampening=0")),
    ("empty parameter list", lambda: SGD([], lr=0.1), Refused(ValueError, r"empty parameter list: pass model.parameters\(\)")),
    ("a consumed generator", consumed, Refused(ValueError, "consumed already")),
    ("a model instead of its parameters", lambda: SGD(nn.Linear(2, 2), lr=0.1), Refused(TypeError, r"got a model \(Linear\); pass its parameters")),
    ("a single tensor", lambda: SGD(torch.zeros(2, requires_grad=True), lr=0.1), Refused(TypeError, "single tensor; pass a list")),
    ("an int as params", lambda: SGD(3, lr=0.1), Refused(TypeError, "needs an iterable of tensors")),
    ("group lr nan", lambda: SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": NAN}], lr=0.1), Refused(ValueError, "lr must be a finite number")),
    ("group lr -1", lambda: SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": -1.0}], lr=0.1), Refused(ValueError, "lr must be a finite number >= 0")),
    ("group momentum inf", lambda: SGD([{"params": [torch.zeros(1, requires_grad=True)], "momentum": INF}], lr=0.1), Refused(ValueError, "momentum must be a finite")),
    ("add_param_group with lr nan", lambda: SGD([torch.zeros(1, requires_grad=True)], lr=0.1).add_param_group({"params": [torch.ones(1, requires_grad=True)], "lr": NAN}), Refused(ValueError, "lr must be a finite")),
    ("sparse gradients", sparse_step, Refused(RuntimeError, "dense gradients only; use torch.optim.SGD")),
]
for name, fn, expect in OPTIM:
    row(f"SGD: {name}", "optim", no_tmp(fn), expect)
row("SGD(lr=0) changes nothing", "optim", no_tmp(lambda: sgd_step(0.0)), Works(lambda w: w.tolist() == [1.0, 1.0]))
row("SGD(lr=tensor(0.1)) steps like a float", "optim", no_tmp(lambda: sgd_step(torch.tensor(0.1))), Works(lambda w: torch.allclose(w, torch.full((2,), 0.8))))
row("SGD(lr=np.float64(0.1)) steps", "optim", no_tmp(lambda: sgd_step(np.float64(0.1))), Works(lambda w: torch.allclose(w, torch.full((2,), 0.8))))

# checkpoint: saving
SAVE_BAD = [
    ("numpy.float64", np.float64(0.5), r"numpy\.float64.*float\(x\)"),
    ("numpy.int64", np.int64(3), r"numpy\.int64.*int\(x\)"),
    ("numpy array", np.ones(3), r"numpy\.ndarray.*torch\.from_numpy"),
    ("pathlib.Path", Path("runs/a"), r"Path.*str\(path\)"),
    ("dataclass", Config(0.1), r"Config.*dataclasses\.asdict"),
    ("a model object", nn.Linear(2, 2), r"Linear.*state_dict\(\)"),
    ("an optimizer object", torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1), r"SGD.*state_dict\(\)"),
    ("a lambda", lambda: 1, r"function.*numbers, strings, lists or dicts"),
    ("a frozenset", frozenset({1}), "frozenset"),
    ("a range", range(3), "range"),
    ("an object()", object(), "builtins.object"),
]
for name, value, phrase in SAVE_BAD:
    row(f"save_checkpoint with {name}", "checkpoint",
        lambda tmp, v=value: save_checkpoint(tmp / "c.pt", {"metrics": {"x": v}}),
        Refused(TypeError, r"cannot save state\['metrics'\]\['x'\]: .*" + phrase))
row("save_checkpoint with a Path as a key", "checkpoint",
    lambda tmp: save_checkpoint(tmp / "c.pt", {Path("a"): 1}), Refused(TypeError, "cannot save a key of state"))
row("save_checkpoint deep in a list", "checkpoint",
    lambda tmp: save_checkpoint(tmp / "c.pt", {"h": [{"acc": 1.0}, {"acc": np.float32(1)}]}),
    Refused(TypeError, r"state\['h'\]\[1\]\['acc'\]: a numpy\.float32"))
row("save_checkpoint of a list", "checkpoint", lambda tmp: save_checkpoint(tmp / "c.pt", [1]), Refused(TypeError, "state must be a dict"))
row("save_checkpoint to a folder", "checkpoint", lambda tmp: save_checkpoint(tmp, {"x": 1}), Refused(CheckpointError, "it is a folder; pass a file name"))
row("save_checkpoint under a file", "checkpoint",
    lambda tmp: (tmp / "f").write_text("x") and save_checkpoint(tmp / "f" / "c.pt", {"x": 1}), Refused(CheckpointError, "is not writable"))
row("save_checkpoint to a read-only folder", "checkpoint", read_only, Refused(CheckpointError, r"not writable \(Permission denied\)"))
row("save_checkpoint on a full disk", "checkpoint", full_disk, Refused(CheckpointError, "the disk is full; the previous checkpoint .* is untouched"))
row("save interrupted mid-write", "checkpoint", interrupted_save, Works(lambda ok: ok is True))
row("save removes temp files of killed saves", "checkpoint", stale_temps, Works(lambda names: names == ["ckpt.pt"]))
row("save honours the umask (027 -> 0640)", "checkpoint", umask_mode, Works(lambda mode: mode == 0o640))
SAVE_OK = {"int": 1, "float": 0.5, "bool": True, "None": None, "str": "s", "bytes": b"b",
           "complex": 1j, "tuple": (1, 2), "set": {1}, "nested": {"a": [1, {"b": 2}]},
           "int key": {3: "x"}, "Size": torch.Size([2]), "dtype": torch.float16,
           "device": torch.device("cpu"), "empty dict": {}}
for name, value in SAVE_OK.items():
    row(f"save then load {name}", "checkpoint",
        lambda tmp, v=value: load_checkpoint(save_checkpoint(tmp / "c.pt", {"v": v}))["v"],
        Works(lambda r, v=value: r == v and type(r) is type(v)))
row("save then load a Parameter", "checkpoint",
    lambda tmp: load_checkpoint(save_checkpoint(tmp / "c.pt", {"p": nn.Parameter(torch.ones(2))}))["p"],
    Works(lambda r: torch.equal(r, torch.ones(2))))

# checkpoint: loading
DAMAGE = [
    ("tensor byte", r"corrupt: record '.*' fails its CRC check.*delete it"),
    ("pickle byte", r"corrupt: record '.*data\.pkl' fails its CRC check"),
    ("last byte", r"corrupt or truncated.*delete it and save again"),
    ("half", r"corrupt or truncated.*delete it and save again"),
    ("empty", r"is empty \(0 bytes\).*delete it and save again"),
    ("text", r"not a file written by torch\.save.*check the path"),
]
for how, phrase in DAMAGE:
    row(f"load a file damaged: {how}", "checkpoint", lambda tmp, h=how: load_checkpoint(damaged(tmp, h)), Refused(CheckpointError, phrase))
LOAD = [
    ("a missing file", lambda tmp: load_checkpoint(tmp / "nope.pt"), Refused(CheckpointError, "does not exist: check the path")),
    ("a folder", lambda tmp: load_checkpoint(tmp), Refused(CheckpointError, r"\(it is a folder\)")),
    ("a malicious zip pickle", lambda tmp: malicious(tmp, legacy=False), Refused(CheckpointError, "weights_only=True refuses.*could run code")),
    ("a malicious legacy pickle", lambda tmp: malicious(tmp, legacy=True), Refused(CheckpointError, "weights_only=True refuses")),
    ("a plain pickle file", plain_pickle, Refused(CheckpointError, "not a file written by torch.save")),
    ("a zip that is not a checkpoint", foreign_zip, Refused(CheckpointError, "could not be read")),
    ("a tensor, not a dict", lambda tmp: (torch.save(torch.ones(2), tmp / "t.pt"), load_checkpoint(tmp / "t.pt")), Refused(CheckpointError, "holds a Tensor, not a dict")),
    ("map_location='gpu'", lambda tmp: load_checkpoint(saved(tmp), map_location="gpu"), Refused(ValueError, "is not a device.*'cpu' or 'cuda'")),
    ("into a model of another shape", lambda tmp: load_checkpoint(saved(tmp, {"model": nn.Linear(2, 3).state_dict()}), model=nn.Linear(2, 4)), Refused(CheckpointError, r"does not fit this model: shape mismatch weight")),
    ("into a model with other keys", lambda tmp: load_checkpoint(saved(tmp, {"model": nn.Linear(2, 3).state_dict()}), model=nn.Sequential(nn.Linear(2, 3))), Refused(CheckpointError, "missing keys 0.weight")),
    ("a model state that is a list", lambda tmp: load_checkpoint(saved(tmp, {"model": [1]}), model=nn.Linear(2, 3)), Refused(CheckpointError, "not a state dict")),
    ("without an optimizer entry", lambda tmp: load_checkpoint(saved(tmp), optimizer=torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)), Refused(CheckpointError, "has no 'optimizer' entry")),
    ("an optimizer of other groups", lambda tmp: load_checkpoint(saved(tmp, {"optimizer": torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1).state_dict()}), optimizer=torch.optim.SGD(list(nn.Linear(2, 2).parameters())[:1], lr=0.1)), Refused(CheckpointError, "optimizer state does not fit this SGD")),
]
if not torch.cuda.is_available():
    LOAD.append(("map_location='cuda' without a GPU", lambda tmp: load_checkpoint(saved(tmp), map_location="cuda"), Refused(CheckpointError, "no CUDA GPU here.*the file itself is fine")))
if not torch.backends.mps.is_available():
    LOAD.append(("map_location='mps' without an Apple GPU", lambda tmp: load_checkpoint(saved(tmp), map_location="mps"), Refused(CheckpointError, "no Apple GPU")))
for name, fn, expect in LOAD:
    row(f"load {name}", "checkpoint", fn, expect)
row("load a legacy (pre-1.6) file", "checkpoint", legacy, Works(lambda s: torch.equal(s["w"], torch.ones(3))))

# training
DEVICE = []
if not torch.cuda.is_available():
    DEVICE.append(("device='cuda' without a GPU", dict(device="cuda"), Refused(ValueError, "no CUDA GPU here.*get_device")))
if not torch.backends.mps.is_available():
    DEVICE.append(("device='mps' without an Apple GPU", dict(device="mps"), Refused(ValueError, "no Apple GPU")))
FIT = DEVICE + [
    ("device='gpu'", dict(device="gpu"), Refused(ValueError, "is not a device")),
    ("epochs=-1", dict(epochs=-1), Refused(ValueError, "epochs must be a non-negative int")),
    ("epochs=2.5", dict(epochs=2.5), Refused(ValueError, "epochs must be a non-negative int")),
    ("epochs=True", dict(epochs=True), Refused(ValueError, "epochs must be a non-negative int")),
    ("epochs='3'", dict(epochs="3"), Refused(ValueError, "epochs must be a non-negative int")),
    ("resume without checkpoint_path", dict(resume=True), Refused(ValueError, "resume=True needs checkpoint_path")),
    ("ReduceLROnPlateau", dict(scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau(torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1))), Refused(TypeError, "ReduceLROnPlateau needs a metric.*fit\\(\\.\\.\\., epochs=1\\) in a loop")),
    ("an optimizer over another model", dict(optimizer=torch.optim.SGD(nn.Linear(2, 3).parameters(), lr=0.1)), Refused(ValueError, "updates none of this model's parameters")),
    ("a number as optimizer", dict(optimizer=0.1), Refused(TypeError, "optimizer must be a torch.optim optimizer")),
    ("a string as loss_fn", dict(loss_fn="cross_entropy"), Refused(TypeError, "loss_fn must be a function")),
    ("a per-sample loss", dict(loss_fn=nn.CrossEntropyLoss(reduction="none")), Refused(ValueError, "must return a scalar tensor")),
    ("a loss that returns a float", dict(loss_fn=lambda z, y: 1.0), Refused(ValueError, "must return a scalar tensor")),
    ("a model that is a function", dict(model=lambda x: x), Refused(TypeError, "model must be an nn.Module")),
    ("an empty loader", dict(loader=[]), Refused(ValueError, "yielded no batches")),
    ("a loader of triples", dict(loader=[(torch.randn(2, 2), torch.tensor([0, 1]), 0)]), Refused(ValueError, r"pair \(inputs, targets\).*length 3")),
    ("a loader of tensors", dict(loader=[torch.randn(4, 2)]), Refused(ValueError, r"pair \(inputs, targets\)")),
    ("an int as loader", dict(loader=5), Refused(TypeError, "loader must be iterable")),
    ("labels == num_classes", dict(loader=loader_of(torch.randn(8, 2), torch.arange(8) % 4)), Refused(ValueError, r"class index \[3\] but the model outputs 3 classes")),
    ("negative labels", dict(loader=loader_of(torch.randn(8, 2), -(torch.arange(8) % 3) - 1)), Refused(ValueError, r"class index \[-3, -2, -1\]")),
    ("float labels", dict(loader=loader_of(torch.randn(8, 2), (torch.arange(8) % 3).float())), Refused(TypeError, r"class indices.*y\.long\(\)")),
    ("labels of wrong length", dict(loader=[(torch.randn(4, 2), torch.tensor([0, 1]))]), Refused(ValueError, "Expected input batch_size|batch_size")),
    ("inputs of wrong width", dict(loader=loader_of(torch.randn(8, 5), torch.arange(8) % 3)), Refused(RuntimeError, "shapes cannot be multiplied")),
    ("checkpoint_path is a folder", dict(checkpoint_path="."), Refused(CheckpointError, "it is a folder")),
]
for name, kwargs, expect in FIT:
    def call(tmp, kwargs=kwargs):
        kwargs = dict(kwargs)
        if kwargs.get("checkpoint_path") == ".":
            kwargs["checkpoint_path"] = tmp
        if "epochs" in kwargs:
            return run_fit(**kwargs)
        return run_fit(1, **kwargs)
    row(f"fit: {name}", "training", call, expect)
NONFINITE = [
    ("lr nan set into torch's SGD", lambda: with_lr(NAN), Refused(ValueError, "optimizer's lr is nan")),
    ("lr -0.1 set into torch's SGD", lambda: with_lr(-0.1), Refused(ValueError, "optimizer's lr is -0.1")),
    ("lr 1e30 (diverges)", lambda: with_lr(1e30), Refused(FloatingPointError, r"loss became (nan|inf) at epoch 1, step \d.*learning rate too high")),
    ("a nan input", lambda: nan_input_fit(NAN), Refused(FloatingPointError, r"loss became nan at epoch 1, step 2 .*bad data")),
    ("an inf input", lambda: nan_input_fit(INF), Refused(FloatingPointError, r"loss became nan at epoch 1, step 2")),
    ("log of 0 in the loss", lambda: run_fit(loss_fn=lambda z, y: F.nll_loss(torch.log(torch.softmax(z * 1e4, 1)), y)), Refused(FloatingPointError, "log of 0")),
]
for name, fn, expect in NONFINITE:
    row(f"fit: {name}", "training", no_tmp(fn), expect)
TRAIN = [
    ("train_one_epoch: labels out of range", lambda tmp: (lambda m, o, ld: train_one_epoch(m, loader_of(torch.randn(8, 2), torch.arange(8) + 1), nn.CrossEntropyLoss(), o, progress=False))(*tiny()), Refused(ValueError, r"class index \[3, 4, 5, 6, 7\] but the model outputs 3 classes \(valid: 0 to 2\)")),
    ("train_one_epoch: ReduceLROnPlateau", lambda tmp: (lambda m, o, ld: train_one_epoch(m, ld, nn.CrossEntropyLoss(), o, scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau(o), progress=False))(*tiny()), Refused(TypeError, "ReduceLROnPlateau needs a metric")),
    ("train_one_epoch: optimizer of another model", lambda tmp: (lambda m, o, ld: train_one_epoch(nn.Linear(2, 3), ld, nn.CrossEntropyLoss(), o, progress=False))(*tiny()), Refused(ValueError, "updates none of this model's parameters")),
    ("evaluate: an empty loader", lambda tmp: evaluate(tiny()[0], [], nn.CrossEntropyLoss()), Refused(ValueError, "yielded no batches")),
    ("evaluate: labels out of range", lambda tmp: evaluate(tiny()[0], loader_of(torch.randn(8, 2), torch.arange(8) + 1), nn.CrossEntropyLoss()), Refused(ValueError, r"class index \[3, 4, 5, 6, 7\] but the model outputs 3")),
    ("evaluate: device='cuda' without a GPU" if not torch.cuda.is_available() else "evaluate: device='gpu'", lambda tmp: evaluate(tiny()[0], tiny()[2], nn.CrossEntropyLoss(), device="cuda" if not torch.cuda.is_available() else "gpu"), Refused(ValueError, "no CUDA GPU|is not a device")),
]
for name, fn, expect in TRAIN:
    row(name, "training", fn, expect)
row("fit: epochs=0 returns []", "training", no_tmp(lambda: run_fit(0)), Works(lambda h: h == []))
row("fit: regression", "training",
    no_tmp(lambda: (lambda m: fit(m, loader_of(torch.randn(8, 2), torch.randn(8, 1)), nn.MSELoss(), torch.optim.SGD(m.parameters(), lr=0.1), epochs=1, progress=False))(nn.Linear(2, 1))),
    Works(lambda h: h[0]["train_acc"] is None and math.isfinite(h[0]["train_loss"])))
row("fit: partially frozen model trains", "training",
    no_tmp(lambda: (lambda m: fit(m, tiny()[2], nn.CrossEntropyLoss(), torch.optim.SGD(m[2].parameters(), lr=0.1), epochs=1, progress=False))(tiny()[0])),
    Works(lambda h: len(h) == 1 and 0 <= h[0]["train_acc"] <= 1))
# resume
RESUME = [
    ("with fewer epochs than done", lambda tmp: resume(tmp, epochs=1), Refused(CheckpointError, "holds 2 finished epochs, but epochs=1 was asked")),
    ("with another lr", lambda tmp: resume(tmp, lr=0.01), Refused(CheckpointError, "trained with lr=0.1 .*this optimizer has lr=0.01")),
    ("with a smaller dataset", lambda tmp: resume(tmp, n=32), Refused(CheckpointError, "steps_per_epoch=3, but this train_loader has steps_per_epoch=2")),
    ("with a dataset of other size", lambda tmp: resume(tmp, n=40), Refused(CheckpointError, "dataset_size=48, but this train_loader has dataset_size=40")),
    ("with an unshuffled loader", lambda tmp: resume(tmp, shuffle=False), Refused(CheckpointError, "build the DataLoader the same way")),
    ("with another model", lambda tmp: resume(tmp, model=nn.Sequential(nn.Linear(2, 9), nn.ReLU(), nn.Linear(9, 3))), Refused(CheckpointError, "does not fit this model")),
    ("with a scheduler it did not have", lambda tmp: resume(tmp, scheduler=True), Refused(CheckpointError, "trained without a scheduler")),
    ("from a checkpoint not written by fit", lambda tmp: resume(tmp, path=saved(tmp)), Refused(CheckpointError, "not written by fit")),
    ("from a corrupt checkpoint", lambda tmp: resume(tmp, path=damaged(tmp, "tensor byte")), Refused(CheckpointError, "fails its CRC check")),
    ("from a truncated checkpoint", lambda tmp: resume(tmp, path=damaged(tmp, "half")), Refused(CheckpointError, "corrupt or truncated")),
    ("with the same setup", lambda tmp: resume(tmp), Works(lambda h: [e["epoch"] for e in h] == [1, 2])),
    ("with more epochs (continues)", lambda tmp: resume(tmp, epochs=3), Works(lambda h: [e["epoch"] for e in h] == [1, 2, 3])),
    ("when no checkpoint exists yet (fresh start)", lambda tmp: resume(tmp, path=tmp / "new.pt"), Works(lambda h: len(h) == 2)),
    ("after an interruption mid-epoch", interrupted_resume, Works(lambda same: same is True)),
]
for name, fn, expect in RESUME:
    row(f"fit resume {name}", "training", fn, expect)

# doctor
row("doctor: DNS that hangs", "doctor", no_tmp(hanging_dns), Works(lambda r: r[0].status == "WARN" and "DNS lookup" in r[0].detail and r[1] < 2))
row("doctor: DNS that fails", "doctor", no_tmp(no_dns), Works(lambda c: c.status == "WARN" and "Name or service" in c.detail))
for how in ("tensor byte", "half", "empty", "text"):
    row(f"doctor: cached model damaged ({how})", "doctor", lambda tmp, h=how: cache_check(tmp, h), Works(lambda c: c.status == "FAIL" and "model.pt" in c.detail))
row("doctor: intact cached model", "doctor", lambda tmp: cache_check(tmp, None), Works(lambda c: c.status == "OK" and "model.pt" in c.detail))
row("doctor: cache is a file", "doctor", lambda tmp: cache_check(tmp, "not a folder"), Works(lambda c: c.status == "FAIL" and "COURSE_DATA_DIR" in c.detail))
row("doctor: Python 3.8", "doctor", no_tmp(lambda: doctor.check_python((3, 8, 0))), Works(lambda c: c.status == "FAIL"))
row("doctor: package missing", "doctor", no_tmp(lambda: doctor.check_package("nope-not-installed", "1.0")), Works(lambda c: c.status == "FAIL" and "make install" in c.detail))
row("doctor: package too old", "doctor", no_tmp(lambda: doctor.check_package("torch", "99.0")), Works(lambda c: c.status == "FAIL" and "upgrade" in c.detail))

# memory
MEM = [
    ("training_state_bytes(nan)", lambda: memory.training_state_bytes(NAN), Refused(TypeError, r"num_params must be >= 0 \(an int\), got float nan")),
    ("training_state_bytes(1.5)", lambda: memory.training_state_bytes(1.5), Refused(TypeError, "num_params must be >= 0 .an int.")),
    ("training_state_bytes('10')", lambda: memory.training_state_bytes("10"), Refused(TypeError, "got str '10'")),
    ("training_state_bytes(True)", lambda: memory.training_state_bytes(True), Refused(TypeError, "got bool")),
    ("training_state_bytes(-1)", lambda: memory.training_state_bytes(-1), Refused(ValueError, "num_params must be >= 0")),
    ("trainable > num_params", lambda: memory.training_state_bytes(10, trainable_params=11), Refused(ValueError, "trainable_params <= num_params")),
    ("trainable nan", lambda: memory.training_state_bytes(10, trainable_params=NAN), Refused(TypeError, "trainable_params must be")),
    ("unknown recipe", lambda: memory.training_state_bytes(10, recipe="adamw"), Refused(ValueError, "unknown recipe 'adamw'; choose one of")),
    ("activation batch_size nan", lambda: memory.transformer_activation_bytes(NAN, 1, 1, 1), Refused(TypeError, "batch_size must be >= 1")),
    ("activation batch_size 0", lambda: memory.transformer_activation_bytes(0, 1, 1, 1), Refused(ValueError, "batch_size must be >= 1")),
    ("activation seq_len 1.5", lambda: memory.transformer_activation_bytes(1, 1.5, 1, 1), Refused(TypeError, "seq_len must be >= 1")),
    ("activation n_heads -1", lambda: memory.transformer_activation_bytes(1, 1, 1, 1, n_heads=-1), Refused(ValueError, "n_heads must be >= 0")),
    ("activation d_ff 0", lambda: memory.transformer_activation_bytes(1, 1, 1, 1, d_ff=0), Refused(ValueError, "d_ff must be >= 1")),
    ("training_flops(nan, 1)", lambda: memory.training_flops(NAN, 1), Refused(TypeError, "num_params must be >= 0")),
    ("training_flops(inf, 1)", lambda: memory.training_flops(INF, 1), Refused(TypeError, "num_params must be")),
    ("training_flops(1, -5)", lambda: memory.training_flops(1, -5), Refused(ValueError, "num_tokens must be >= 0")),
    ("tensor_bytes(None)", lambda: memory.tensor_bytes(None), Refused(TypeError, "must be an iterable of tensors")),
    ("tensor_bytes([1, 2])", lambda: memory.tensor_bytes([1, 2]), Refused(TypeError, "expected tensors, got int")),
    ("saved_tensor_bytes(3)", lambda: memory.saved_tensor_bytes(3), Refused(TypeError, "fn must be a function")),
]
for name, fn, expect in MEM:
    row(f"memory: {name}", "memory", no_tmp(fn), expect)
row("memory: training_state_bytes(np.int64(10))", "memory", no_tmp(lambda: memory.training_state_bytes(np.int64(10), "sgd").total), Works(lambda t: t == 80 and type(t) is int))
row("memory: tensor_bytes(one tensor)", "memory", no_tmp(lambda: memory.tensor_bytes(torch.ones(3))), Works(lambda b: b == 12))

# peft
L4 = lambda: nn.Linear(4, 4)  # noqa: E731
PEFT = [
    ("LoRALinear(Conv2d)", lambda: peft.LoRALinear(nn.Conv2d(1, 1, 1), r=1), Refused(TypeError, "wraps an nn.Linear, got Conv2d")),
    ("LoRALinear r=0", lambda: peft.LoRALinear(L4(), r=0), Refused(ValueError, "1 <= r <= min")),
    ("LoRALinear r=2.0", lambda: peft.LoRALinear(L4(), r=2.0), Refused(ValueError, "must be an int")),
    ("LoRALinear r=True", lambda: peft.LoRALinear(L4(), r=True), Refused(ValueError, "must be an int")),
    ("LoRALinear r=5 > 4", lambda: peft.LoRALinear(L4(), r=5), Refused(ValueError, r"min\(in_features, out_features\) = 4")),
    ("LoRALinear alpha=nan", lambda: peft.LoRALinear(L4(), r=1, alpha=NAN), Refused(ValueError, "alpha must be a positive number")),
    ("LoRALinear alpha=0", lambda: peft.LoRALinear(L4(), r=1, alpha=0), Refused(ValueError, "alpha must be a positive number")),
    ("LoRALinear alpha='a'", lambda: peft.LoRALinear(L4(), r=1, alpha="a"), Refused(TypeError, "alpha must be a positive number, got str")),
    ("apply_lora to a string", lambda: peft.apply_lora("model", ["q"], r=1), Refused(TypeError, "model must be an nn.Module")),
    ("apply_lora targets=None", lambda: peft.apply_lora(nn.Sequential(L4()), None, r=1), Refused(TypeError, "targets must be layer names")),
    ("apply_lora unknown target", lambda: peft.apply_lora(nn.Sequential(L4()), ["q"], r=1), Refused(ValueError, r"no nn.Linear layer named \['q'\].*look like: 0")),
    ("apply_lora predicate selects none", lambda: peft.apply_lora(nn.Sequential(L4()), lambda n, m: False, r=1), Refused(ValueError, "selected no nn.Linear")),
    ("apply_lora train= typo", lambda: peft.apply_lora(nn.Sequential(L4(), nn.Linear(4, 2)), ["0"], r=1, train=["hed"]), Refused(ValueError, r"train=\['hed'\] names no parameter.*stay frozen")),
    ("apply_lora twice", lora_twice, Refused(ValueError, "already hold a LoRALinear")),
    ("merge_lora(3)", lambda: peft.merge_lora(3), Refused(TypeError, "model must be an nn.Module")),
    ("lora_parameters(None)", lambda: peft.lora_parameters(None), Refused(TypeError, "model must be an nn.Module")),
]
for name, fn, expect in PEFT:
    row(f"peft: {name}", "peft", no_tmp(fn), expect)


# ---- stage_probe: the per-stage probes behind `finetune --strategy auto` ------------------------
from course_utils.experiments import stage_probe  # noqa: E402


def probe_feats(nan: bool = False):
    torch.manual_seed(0)
    f = {"layer1": torch.randn(1, 12, 4), "layer2": torch.randn(1, 12, 4)}
    if nan:
        f["layer2"][0, 3, 1] = float("nan")
    return f


PROBE_TARGETS = torch.arange(12) % 3  # 4 images per class
STAGE_PROBE = [
    ("probe_table folds=1", lambda: stage_probe.probe_table(probe_feats(), PROBE_TARGETS, folds=1, seed=0, stages=("layer1",)), Refused(ValueError, "needs 2 <= folds <= the smallest class's 4 images")),
    ("probe_table folds > smallest class", lambda: stage_probe.probe_table(probe_feats(), PROBE_TARGETS, folds=5, seed=0, stages=("layer1",)), Refused(ValueError, "lower folds or add images")),
    ("probe_table stage not in feats", lambda: stage_probe.probe_table(probe_feats(), PROBE_TARGETS, folds=2, seed=0, stages=("layer3",)), Refused(ValueError, r"no features for stage\(s\) \['layer3'\]")),
    ("probe_table nan features", lambda: stage_probe.probe_table(probe_feats(nan=True), PROBE_TARGETS, folds=2, seed=0, stages=("layer2",)), Refused(ValueError, "hold nan or inf: check the images")),
    ("probe_table works", lambda: stage_probe.probe_table(probe_feats(), PROBE_TARGETS, folds=2, seed=0, stages=("layer1",)), Works(lambda t: 0 <= t["layer1"]["acc"] <= 1 and t["layer1"]["l2"] in stage_probe.PROBE_L2)),
    ("CutResNet unknown stage", lambda: stage_probe.CutResNet(nn.Module(), "layer5", nn.Sequential(nn.Identity(), nn.Identity())), Refused(ValueError, "unknown stage 'layer5'; choose from layer1")),
]
for name, fn, expect in STAGE_PROBE:
    row(f"stage_probe: {name}", "stage_probe", no_tmp(fn), expect)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input(row, tmp_path):
    kind, detail = outcome(row, tmp_path)
    assert kind == ("works" if isinstance(row.expect, Works) else "clear"), f"{kind}: {detail}"


def test_the_table_is_large_and_its_ids_unique():
    assert len(ROWS) >= 150
    assert len({r.id for r in ROWS}) == len(ROWS)


def test_outcome_sorts_each_class():
    ok, boom = Works(lambda r: r == 1), Refused(ValueError, "clear phrase")
    tmp = Path(".")
    assert outcome(Row("w", "t", lambda t: 1, ok), tmp)[0] == "works"
    assert outcome(Row("s", "t", lambda t: 2, ok), tmp)[0] == "silent"
    assert outcome(Row("s2", "t", lambda t: 2, boom), tmp)[0] == "silent"
    assert outcome(Row("c", "t", lambda t: (_ for _ in ()).throw(ValueError("a clear phrase")), boom), tmp)[0] == "clear"
    assert outcome(Row("r", "t", lambda t: (_ for _ in ()).throw(ValueError("other")), boom), tmp)[0] == "raw"
    assert outcome(Row("r2", "t", lambda t: (_ for _ in ()).throw(KeyError("clear phrase")), boom), tmp)[0] == "raw"
