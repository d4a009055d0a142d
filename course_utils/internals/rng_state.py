"""Every random state a training run draws from, captured and restored (for exact resumes).

:func:`rng_state` returns PyTorch's CPU (and CUDA) generators, Python's and NumPy's, and the
generators of a DataLoader, as tensors and numbers (so that ``torch.load(weights_only=True)``
reads them back); :func:`set_rng_state` restores them, and a resumed run continues exactly
where the interrupted one stopped.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["loader_generators", "rng_state", "set_rng_state"]


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
