"""Run independent single-threaded CPU jobs in forked worker processes, results in input order.

The notebooks' sweeps (notebook 04's depth arms, notebook 06's recipes) are many small
single-threaded trainings that do not depend on each other. On a 2-core machine one thread per
job and two jobs at a time is about twice as fast as one job at a time, and the results are the
same bits: every job seeds itself, and a job's numbers depend on its thread count, not on which
process runs it.

Workers are *forked* so that they see the caller's functions and data (closures, notebook
variables) without pickling them; only the results travel back. A forked child cannot use the
parent's OpenMP thread pool (a matmul on 2 threads hangs there), so the jobs are forked only when
the caller runs on one thread (``torch.set_num_threads(1)``). Otherwise, and where forking is
unavailable or unsafe (Windows, macOS's default, a process that has initialized CUDA), the jobs run
one after another in this process, with the same results.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import TypeVar

import torch

__all__ = ["available_workers", "fork_map"]

T = TypeVar("T")
R = TypeVar("R")

_JOBS: list = []  # (fn, items) of the running fork_map, read by the forked workers


def available_workers() -> int:
    """The number of CPU cores this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _can_fork() -> bool:
    return (sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
            and not torch.cuda.is_initialized() and torch.get_num_threads() == 1)


def _run_job(index: int):
    fn, items = _JOBS[-1]
    return fn(items[index])


def fork_map(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> list[R]:
    """``[fn(item) for item in items]``, computed by up to ``workers`` forked processes.

    ``workers=None`` uses every available core. The jobs are forked only when the caller runs on
    one thread (pin it first: ``course_utils.repro.pin_threads(1)``); otherwise, or when ``workers``
    is 1, there are fewer than 2 items, or forking is unavailable or unsafe, this is the plain loop.
    An exception in a job is raised here, as in the loop.
    """
    if workers is None:
        workers = available_workers()
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive int (or None for every core), got {workers!r}")
    items = list(items)
    workers = min(workers, len(items))
    if workers <= 1 or not _can_fork():
        return [fn(item) for item in items]
    _JOBS.append((fn, items))
    try:
        with warnings.catch_warnings():  # Python 3.12+ warns about fork in a threaded process
            warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
            context = multiprocessing.get_context("fork")
            with context.Pool(workers) as pool:
                return pool.map(_run_job, range(len(items)), chunksize=1)
    finally:
        _JOBS.pop()
