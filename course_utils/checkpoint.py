"""Checkpoints that survive interruptions: atomic saves, safe loads, clear errors.

* :func:`save_checkpoint` writes to a temporary file in the same folder, flushes it to disk,
  then renames it over the target with :func:`os.replace` (atomic on POSIX and Windows). An
  interrupted save leaves the previous good checkpoint untouched, never a half-written file.
* :func:`load_checkpoint` reads with ``torch.load(..., weights_only=True)``: tensors, numbers,
  strings, lists, tuples and dicts only, so opening a file cannot run code hidden in it.
  A missing, corrupt or mismatched file raises :class:`CheckpointError` naming the file and
  what is wrong.
* :func:`rng_state` / :func:`set_rng_state` capture and restore every random generator a run
  draws from, so that a resumed run continues exactly where the interrupted one stopped.
"""

from __future__ import annotations

import errno
import glob
import os
import pickle
import random
import re
import secrets
import time
import warnings
import zipfile
from collections import Counter, OrderedDict
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not fit the model/optimizer given."""


# torch.save's legacy (pre-1.6) format starts with a pickled magic number.
_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Save ``state`` (a dict of tensors, numbers, strings, lists, dicts) atomically; return the path.

    Only what :func:`load_checkpoint` can load back is saved: any other value (a NumPy number,
    a ``Path``, a dataclass...) raises ``TypeError`` naming its key, before anything is written.
    The parent folder is created if needed; the file honours the umask. Temporary files left
    by an earlier save of the same file that was killed are removed.
    """
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict (e.g. {{'model': model.state_dict()}}), "
                        f"got {type(state).__name__}")
    check_saveable(state)
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"cannot save checkpoint {path}: it is a folder; pass a file "
                              f"name such as {path / 'checkpoint.pt'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(path)
        f, tmp = _create_temp(path)
    except OSError as exc:
        raise CheckpointError(f"cannot save checkpoint {path}: the folder {path.parent} is not "
                              f"writable ({exc.strerror or exc}); choose another path or fix its "
                              f"permissions") from exc
    try:
        with f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them visible
        os.replace(tmp, path)
    except BaseException as exc:  # also KeyboardInterrupt: never leave the temporary file behind
        tmp.unlink(missing_ok=True)
        if _errno(exc) in (errno.ENOSPC, errno.EDQUOT):
            raise CheckpointError(f"cannot save checkpoint {path}: the disk is full; the "
                                  f"previous checkpoint (if any) is untouched; free some space "
                                  f"and save again") from exc
        if isinstance(exc, OSError):
            raise CheckpointError(f"cannot save checkpoint {path}: {exc}; the previous "
                                  f"checkpoint (if any) is untouched") from exc
        raise
    return path


_ATOMS = (int, float, bool, str, bytes, bytearray, complex, type(None), torch.Tensor,
          nn.Parameter, torch.Size, torch.dtype, torch.device, torch.layout)
_CONTAINERS = (dict, OrderedDict, Counter, list, tuple, set)
_HINTS = {"numpy": "convert it with float(x) / int(x), or torch.from_numpy(x) for an array",
          "Path": "store str(path)", "PosixPath": "store str(path)", "WindowsPath": "store str(path)"}


def check_saveable(value: Any, where: str = "state") -> None:
    """Raise ``TypeError`` naming the first value that ``torch.load(weights_only=True)`` refuses."""
    stack = [(value, where)]
    seen: set[int] = set()
    while stack:
        value, where = stack.pop()
        kind = type(value)
        if kind in _ATOMS:
            continue
        if kind not in _CONTAINERS:
            name = f"{kind.__module__}.{kind.__qualname__}"
            hint = (_HINTS.get(kind.__module__.split(".")[0]) or _HINTS.get(kind.__name__)
                    or ("store dataclasses.asdict(x)" if is_dataclass(value) else
                        "store x.state_dict()" if hasattr(value, "state_dict") else
                        "store it as numbers, strings, lists or dicts"))
            raise TypeError(f"cannot save {where}: a {name}, which load_checkpoint "
                            f"(weights_only=True) would refuse to load; {hint}")
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, dict):
            for key, item in value.items():
                stack.append((key, f"a key of {where}"))
                stack.append((item, f"{where}[{key!r}]"))
        else:
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value))


def verify_file(path: str | os.PathLike) -> Path:
    """Check that ``path`` is an intact file written by ``torch.save``; raise :class:`CheckpointError`.

    Reads every record and compares its CRC (a flipped byte is found, not loaded); a file in
    the legacy (pre-1.6, non-zip) format passes, as ``torch.load`` still reads it.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist"
                              + (" (it is a folder)" if path.is_dir() else "")
                              + ": check the path, or train first to create it")
    with open(path, "rb") as f:
        head = f.read(len(_LEGACY_MAGIC))
    if head.startswith(_LEGACY_MAGIC):
        return path
    if not head:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes), e.g. an interrupted copy: "
                              f"delete it and save again")
    if not zipfile.is_zipfile(path):
        if head.startswith(b"PK"):
            raise CheckpointError(f"checkpoint {path} is corrupt or truncated (its zip archive "
                                  f"is incomplete): delete it and save again")
        raise CheckpointError(f"{path} is not a file written by torch.save (neither a zip "
                              f"archive nor a legacy torch file; it starts with {head[:8]!r}): "
                              f"check the path")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # reads every record, checks its CRC-32
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({exc}): delete it "
                              f"and save again") from exc
    if bad is not None:
        raise CheckpointError(f"checkpoint {path} is corrupt: record {bad!r} fails its CRC "
                              f"check (damaged on disk or in a copy): delete it and save again")
    return path


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu", *,
                    model: nn.Module | None = None, optimizer: Any = None,
                    scheduler: Any = None) -> dict:
    """Load a checkpoint saved by :func:`save_checkpoint` and return its dict.

    The file is checked first (:func:`verify_file`: CRC of every record). If ``model`` /
    ``optimizer`` / ``scheduler`` are given, their state is restored from the checkpoint's
    ``"model"`` / ``"optimizer"`` / ``"scheduler"`` entries, and a mismatch (missing or
    unexpected keys, different shapes, different parameter groups) raises
    :class:`CheckpointError` before anything is changed in the model.
    """
    _check_map_location(map_location)
    path = verify_file(path)
    try:
        with warnings.catch_warnings():  # legacy files: torch warns about TypedStorage
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"checkpoint {path} holds objects that weights_only=True refuses to load (only "
            f"tensors, numbers, strings and containers are allowed; opening it could run code "
            f"hidden in it). PyTorch says: {_plain(exc)}") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"checkpoint {path} could not be read (delete it and save "
                              f"again if it is damaged): {_plain(exc)}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a dict "
                              f"of states; was it written by save_checkpoint?")
    restore_states(state, path, model=model, optimizer=optimizer, scheduler=scheduler)
    return state


def _check_map_location(map_location: Any) -> None:
    if not isinstance(map_location, (str, torch.device)):
        return  # a dict or a function: torch.load checks it
    try:
        device = torch.device(map_location)
    except RuntimeError as exc:
        raise ValueError(f"map_location={map_location!r} is not a device ({_plain(exc)}); "
                         f"use 'cpu' or 'cuda'") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CheckpointError(f"map_location={map_location!r}, but PyTorch sees no CUDA GPU on "
                              f"this machine: load with map_location='cpu' (the default), the "
                              f"file itself is fine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise CheckpointError(f"map_location={map_location!r}, but this machine has no Apple "
                              f"GPU (MPS): load with map_location='cpu' (the default)")


def restore_states(state: dict, path: str | os.PathLike, *, model: nn.Module | None = None,
                   optimizer: Any = None, scheduler: Any = None) -> None:
    """Load ``state["model"]`` etc. into the objects given; ``path`` only names the file in errors.

    Everything is checked before the model is changed: a mismatch raises :class:`CheckpointError`.
    """
    for name, obj in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is not None and state.get(name) is None:
            raise CheckpointError(f"checkpoint {path} has no {name!r} entry to restore "
                                  f"(it has: {', '.join(map(str, state)) or 'nothing'})")
    if model is not None:
        problems = state_dict_mismatch(model, state["model"])
        if problems:
            raise CheckpointError(f"checkpoint {path} does not fit this model: {problems}")
        model.load_state_dict(state["model"])
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is not None:
            try:
                obj.load_state_dict(state[name])
            except (ValueError, KeyError, RuntimeError, TypeError) as exc:
                raise CheckpointError(f"checkpoint {path}: its {name} state does not fit this "
                                      f"{type(obj).__name__}: {_first_line(exc)}") from exc


def state_dict_mismatch(model: nn.Module, state_dict: dict, limit: int = 5) -> str:
    """Describe how ``state_dict`` differs from ``model.state_dict()``; '' when they fit."""
    if not isinstance(state_dict, dict):
        return f"the model state is a {type(state_dict).__name__}, not a state dict"
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
              for k, v in expected.items()
              if k in state_dict and isinstance(state_dict[k], torch.Tensor)
              and state_dict[k].shape != v.shape]
    parts = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                         ("shape mismatch", shapes)):
        if items:
            more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
            parts.append(f"{label} {', '.join(items[:limit])}{more}")
    return "; ".join(parts)


def loader_generators(loader: Any) -> dict[str, torch.Generator]:
    """The torch generators that decide a DataLoader's order (shuffling, worker seeds), by role."""
    found: dict[str, torch.Generator] = {}
    for name, owner in (("loader", loader), ("sampler", getattr(loader, "sampler", None)),
                        ("batch_sampler", getattr(getattr(loader, "batch_sampler", None),
                                                  "sampler", None))):
        gen = getattr(owner, "generator", None)
        if isinstance(gen, torch.Generator) and all(gen is not g for g in found.values()):
            found[name] = gen  # the loader hands its generator to its sampler: count it once
    return found


def rng_state(loader: Any = None) -> dict:
    """Every random state a training run draws from, as tensors and numbers (weights_only-safe).

    PyTorch's CPU (and CUDA) generators, Python's and NumPy's, and the generators of ``loader``.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
             "generators": {k: g.get_state() for k, g in loader_generators(loader).items()}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, loader: Any = None) -> None:
    """Restore what :func:`rng_state` captured (the loader's generators matched by role)."""
    torch.set_rng_state(state["torch"].cpu())
    random.setstate(_as_tuple(state["python"]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    for role, gen in loader_generators(loader).items():
        if role in state["generators"]:
            gen.set_state(state["generators"][role].cpu())


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def _first_line(exc: BaseException) -> str:
    text = _plain(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _plain(exc: BaseException) -> str:
    """The exception's whole message, without the ANSI colour codes torch puts in it."""
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(exc)).strip()


def _errno(exc: BaseException) -> int | None:
    while exc is not None:  # torch may wrap the OSError of a failed write in a RuntimeError
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc.errno
        exc = exc.__cause__ or exc.__context__
    return None


# ---- temporary files ------------------------------------------------------------------------
# A save writes ``.<name>.<pid>-<random>.tmp`` next to the target. A save killed mid-write
# (SIGKILL, power loss) leaves it behind; the next save of the same target removes those whose
# process is gone (on Windows, where that cannot be asked cheaply, those older than a day).

def _create_temp(path: Path):
    """Open a new temporary file next to ``path``; mode 0o666 minus the umask (like open())."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
        except FileExistsError:
            continue
        return os.fdopen(fd, "wb"), tmp
    raise FileExistsError(f"could not create a temporary file next to {path}")


def _remove_stale_temps(path: Path) -> None:
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:-4].split("-")[0]
        if not _alive(int(pid) if pid.isdigit() else None, tmp):
            tmp.unlink(missing_ok=True)


def _alive(pid: int | None, tmp: Path) -> bool:
    if pid is None or pid == os.getpid():
        return False  # written by an older version, or by this process (which is not saving it)
    if os.name == "nt":
        return time.time() - tmp.stat().st_mtime < 86400
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
