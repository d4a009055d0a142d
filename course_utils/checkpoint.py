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

import os
import pickle
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not fit the model/optimizer given."""


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Save ``state`` (a dict of tensors, numbers, strings, lists, dicts) atomically; return the path.

    The parent folder is created if needed.
    """
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict (e.g. {{'model': model.state_dict()}}), "
                        f"got {type(state).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them visible
        os.replace(tmp_name, path)
    except BaseException:  # also KeyboardInterrupt: never leave the temporary file behind
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu", *,
                    model: nn.Module | None = None, optimizer: Any = None,
                    scheduler: Any = None) -> dict:
    """Load a checkpoint saved by :func:`save_checkpoint` and return its dict.

    If ``model`` / ``optimizer`` / ``scheduler`` are given, their state is restored from the
    checkpoint's ``"model"`` / ``"optimizer"`` / ``"scheduler"`` entries, and a mismatch
    (missing or unexpected keys, different shapes, different parameter groups) raises
    :class:`CheckpointError` before anything is changed in the model.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist"
                              + (" (it is a folder)" if path.is_dir() else "")
                              + ": check the path, or train first to create it")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive (since PyTorch 1.6)
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated (it is not a zip "
                              f"archive as torch.save writes): delete it and save again")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"checkpoint {path} holds objects that weights_only=True refuses to load (only "
            f"tensors, numbers, strings and containers are allowed): {_first_line(exc)}") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated (delete it and save "
                              f"again): {_first_line(exc)}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a dict "
                              f"of states; was it written by save_checkpoint?")
    restore_states(state, path, model=model, optimizer=optimizer, scheduler=scheduler)
    return state


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
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
