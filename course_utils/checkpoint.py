"""Checkpoints that survive interruptions: atomic saves, safe loads, clear errors.

* :func:`save_checkpoint` writes atomically (:mod:`course_utils.internals.atomic`): an interrupted
  save leaves the previous good checkpoint untouched, never a half-written file. It saves only
  what the loader can load back (:func:`validate_saveable`).
* :func:`load_checkpoint` checks the file first (:func:`verify_file`: the CRC of every record)
  and reads it with ``torch.load(..., weights_only=True)``: tensors, numbers, strings and
  containers only, so opening a file cannot run code hidden in it. A missing, corrupt or
  mismatched file raises :class:`CheckpointError` naming the file, what is wrong and the fix.
* :func:`rng_state` / :func:`set_rng_state` (from :mod:`course_utils.internals.rng_state`, re-exported
  here) capture and restore every random generator a run draws from.
"""

from __future__ import annotations

import errno
import os
import pickle
import re
import warnings
import zipfile
from collections import Counter, OrderedDict
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils.internals.atomic import atomic_write
from course_utils.internals.rng_state import loader_generators, rng_state, set_rng_state
from course_utils.repro import device_missing

__all__ = ["CheckpointError", "save_checkpoint", "verify_file", "load_checkpoint",
           "restore_states", "state_dict_mismatch", "loader_generators", "rng_state", "set_rng_state"]


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not fit the model/optimizer given."""


# torch.save's legacy (pre-1.6) format starts with a pickled magic number.
_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Save ``state`` (a dict of tensors, numbers, strings, lists, dicts) atomically; return the path.

    Only what :func:`load_checkpoint` can load back is saved: any other value (a NumPy number,
    a ``Path``, a dataclass...) raises ``TypeError`` naming its key, before anything is written.
    The write is atomic (:func:`course_utils.internals.atomic.atomic_write`): an interrupted save leaves
    the previous file untouched; the parent folder is created if needed, the file honours the
    umask, and temporary files of earlier saves that were killed are removed.
    """
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict (e.g. {{'model': model.state_dict()}}), "
                        f"got {type(state).__name__}")
    validate_saveable(state)
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"cannot save checkpoint {path}: it is a folder; pass a file "
                              f"name such as {path / 'checkpoint.pt'}")
    try:
        with atomic_write(path) as f:
            torch.save(state, f)
    except (OSError, RuntimeError) as exc:  # torch may wrap a failed write in a RuntimeError
        code = _errno(exc)
        if code is None:
            raise
        if code in (errno.ENOSPC, errno.EDQUOT):
            raise CheckpointError(f"cannot save checkpoint {path}: the disk is full; the "
                                  f"previous checkpoint (if any) is untouched; free some space "
                                  f"and save again") from exc
        if code in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST):
            raise CheckpointError(f"cannot save checkpoint {path}: the folder {path.parent} is "
                                  f"not writable ({os.strerror(code)}); choose another path "
                                  f"or fix its permissions") from exc
        raise CheckpointError(f"cannot save checkpoint {path}: {exc}; the previous checkpoint "
                              f"(if any) is untouched") from exc
    return path


_ATOMS = (int, float, bool, str, bytes, bytearray, complex, type(None), torch.Tensor,
          nn.Parameter, torch.Size, torch.dtype, torch.device, torch.layout)
_CONTAINERS = (dict, OrderedDict, Counter, list, tuple, set)
_HINTS = {"numpy": "convert it with float(x) / int(x), or torch.from_numpy(x) for an array",
          "Path": "store str(path)", "PosixPath": "store str(path)", "WindowsPath": "store str(path)"}


def validate_saveable(value: Any, where: str = "state") -> None:
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
    missing = device_missing(device)
    if missing:
        raise CheckpointError(f"map_location={map_location!r}, but {missing}: load with "
                              "map_location='cpu' (the default), the file itself is fine")


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


def _first_line(exc: BaseException) -> str:
    text = _plain(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _plain(exc: BaseException) -> str:
    """The exception's whole message, without the ANSI colour codes torch puts in it."""
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(exc)).strip()


def _errno(exc: BaseException | None) -> int | None:
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc.errno
        exc = exc.__cause__ or exc.__context__
    return None
