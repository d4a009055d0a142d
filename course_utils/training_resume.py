"""What ``fit`` writes after each epoch, and how ``fit(resume=True)`` continues from it.

A snapshot holds the model, optimizer and scheduler states, the history, every random state,
and a record of the setup (the optimizer's options, batches per epoch, dataset size). Before a
resume changes anything, the record is compared with the setup asked for now: a different lr,
dataset or too few epochs would continue silently with the old values, so it is refused.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from course_utils.checkpoint import (
    CheckpointError,
    load_checkpoint,
    loader_generators,
    restore_states,
    rng_state,
    set_rng_state,
    state_dict_mismatch,
)

__all__ = ["run_record", "snapshot", "restore_run"]

CHECKPOINT_FORMAT = "course_utils.fit/1"


def run_record(optimizer: Any, loader: Any) -> dict:
    """The setup of a run as plain values: optimizer options per group, batches, samples."""
    options = [{k: (float(v) if torch.is_tensor(v) else v) for k, v in group.items()
                if k != "params" and (torch.is_tensor(v) or type(v) in (int, float, bool))}
               for group in optimizer.param_groups]
    dataset = getattr(loader, "dataset", None)
    return {"options": options,
            "steps_per_epoch": len(loader) if hasattr(loader, "__len__") else None,
            "dataset_size": len(dataset) if hasattr(dataset, "__len__") else None}


def snapshot(model: nn.Module, optimizer: Any, scheduler: Any, loader: Any, history: list,
             epochs: int, record: dict) -> dict:
    return {"format": CHECKPOINT_FORMAT, "epoch": len(history), "epochs": epochs,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "history": history, "rng": rng_state(loader), "setup": record}


def restore_run(path: str | os.PathLike, model: nn.Module, optimizer: Any, scheduler: Any,
                loader: Any, device: torch.device, epochs: int,
                record: dict) -> tuple[list[dict], dict]:
    """Check everything first, then load: a mismatch leaves the model and RNGs untouched.

    Returns the history so far and the setup record to keep writing.
    """
    state = load_checkpoint(path, map_location=device)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {path} was not written by fit() (format "
                              f"{state.get('format')!r}); pass another checkpoint_path")
    if (scheduler is None) != (state.get("scheduler") is None):
        raise CheckpointError(f"checkpoint {path} was trained "
                              f"{'with' if scheduler is None else 'without'} a scheduler; "
                              f"resume with the same setup as the interrupted run")
    saved, current = sorted(state["rng"]["generators"]), sorted(loader_generators(loader))
    if saved != current:
        raise CheckpointError(f"checkpoint {path}: the train loader's generators {saved} do not "
                              f"match this loader's {current}; build the DataLoader the same way")
    problems = state_dict_mismatch(model, state.get("model"))
    if problems:  # the most basic mismatch first
        raise CheckpointError(f"checkpoint {path} does not fit this model: {problems}")
    _compare(path, state, epochs, record)
    restore_states(state, path, model=model, optimizer=optimizer, scheduler=scheduler)
    set_rng_state(state["rng"], loader)
    return list(state["history"]), state.get("setup", record)


def _compare(path, state: dict, epochs: int, record: dict) -> None:
    fix = "resume with the same setup as the interrupted run, or pass a new checkpoint_path " \
          "to start over"
    done = len(state["history"])
    if epochs < done:
        raise CheckpointError(f"checkpoint {path} holds {done} finished epochs, but epochs="
                              f"{epochs} was asked: ask for epochs={state.get('epochs', done)} "
                              f"to get that run back, or pass a new checkpoint_path")
    saved = state.get("setup")
    if saved is None:  # written before fit recorded its setup: nothing to compare
        return
    for key in ("steps_per_epoch", "dataset_size"):
        if None not in (saved[key], record[key]) and saved[key] != record[key]:
            raise CheckpointError(f"checkpoint {path} was trained with {key}={saved[key]}, but "
                                  f"this train_loader has {key}={record[key]}: {fix}")
    if len(saved["options"]) != len(record["options"]):
        raise CheckpointError(f"checkpoint {path} has {len(saved['options'])} parameter groups, "
                              f"this optimizer {len(record['options'])}: {fix}")
    for i, (old, new) in enumerate(zip(saved["options"], record["options"])):
        for key in sorted(old.keys() & new.keys()):
            if old[key] != new[key]:
                raise CheckpointError(f"checkpoint {path} was trained with {key}={old[key]} "
                                      f"(parameter group {i}), but this optimizer has {key}="
                                      f"{new[key]}: {fix}")
