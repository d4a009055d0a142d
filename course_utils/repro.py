"""Reproducibility: seeds, the device, and the CPU thread count used for checked runs.

On a CPU, PyTorch's results are bit-identical across runs *at a fixed thread count*, but
differ (from about the 4th decimal after a few dozen training steps) between 1 and 2 threads.
The notebooks' stored outputs are compared by ``pytest --nbval``, so every notebook pins the
thread count with :func:`pin_threads` whatever the number of cores of the machine.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["seed_everything", "pin_threads", "get_device", "device_missing"]

#: Thread count for checked (nbval) runs. 2 matches Colab's free CPU and the CI machine.
CHECKED_THREADS = 2


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) generators.

    Returns a fresh ``torch.Generator`` seeded with ``seed``, for code that takes one explicitly
    (e.g. ``DataLoader(..., generator=g)``).
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def pin_threads(num_threads: int = CHECKED_THREADS) -> int:
    """Fix PyTorch's intra-op CPU thread count; return the previous count.

    Results depend on how work is split between threads, not on the number of cores, so
    pinning the count makes printed numbers identical on a 2-core laptop and a 64-core server.
    """
    if not isinstance(num_threads, int) or isinstance(num_threads, bool) or num_threads < 1:
        raise ValueError(f"num_threads must be a positive int, got {num_threads!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    os.environ["OMP_NUM_THREADS"] = str(num_threads)  # for child processes (e.g. torchrun)
    return previous


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple's MPS, then the CPU.

    ``prefer="cpu"`` (or any device string) forces a choice; asking for an absent device
    raises a ``RuntimeError`` that says what is available. Without ``prefer``, the environment
    variable ``COURSE_DEVICE`` decides when set (the test suite sets ``COURSE_DEVICE=cpu`` so
    that stored outputs are compared on the CPU even on a machine with a GPU).
    """
    prefer = prefer if prefer is not None else (os.environ.get("COURSE_DEVICE") or None)
    if prefer is not None:
        device = torch.device(prefer)
        missing = device_missing(device)
        if missing:
            raise RuntimeError(f"{device.type.upper()} was asked for but is not available here "
                               f"({missing}); use get_device() to pick the best available device, "
                               "or prefer='cpu'.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_missing(device: torch.device) -> str | None:
    """Why ``device`` cannot be used on this machine (e.g. "PyTorch sees no CUDA GPU here"), or None.

    One check for every place that accepts a device (``get_device``, ``fit``, ``load_checkpoint``'s
    ``map_location``); each caller adds the fix that fits it.
    """
    if device.type == "cuda" and not torch.cuda.is_available():
        return "PyTorch sees no CUDA GPU here"
    if device.type == "mps" and not _mps_available():
        return "this machine has no Apple GPU (MPS)"
    return None


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
