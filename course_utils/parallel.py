"""Run independent single-threaded CPU jobs in forked worker processes, results in input order.

The notebooks' sweeps (notebook 04's depth arms, notebook 06's recipes) are many small
single-threaded trainings that do not depend on each other. On a 2-core machine one thread per
job and two jobs at a time is about twice as fast as one job at a time, and the results are the
same bits: every job seeds itself, and a job's numbers depend on its thread count, not on which
process runs it. :func:`fork_map` runs a list of jobs; :func:`fork_chains` runs chains of jobs in
which each job may depend on the one before (a learning-rate sweep that stops early), a free
worker taking the next job of any chain.

Workers are *forked* so that they see the caller's functions and data (closures, notebook
variables) without pickling them; only each job's item and result travel. A forked child cannot use the
parent's OpenMP thread pool (a matmul on 2 threads hangs there), so the jobs are forked only when
the caller runs on one thread (``torch.set_num_threads(1)``). Otherwise, and where forking is
unavailable or unsafe (Windows, macOS's default, a process that has initialized CUDA), the jobs run
one after another in this process, with the same results.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import warnings
from collections import deque
from collections.abc import Callable, Generator, Iterable
from typing import TypeVar

import torch

__all__ = ["available_workers", "fork_chains", "fork_map"]

T = TypeVar("T")
R = TypeVar("R")

_JOBS: list = []  # the fn of the running fork_chains, read by the forked workers


def available_workers() -> int:
    """The number of CPU cores this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _workers(workers: int | None) -> int:
    """``workers``, checked; ``None``: every available core."""
    if workers is None:
        return available_workers()
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive int (or None for every core), got {workers!r}")
    return workers


def _can_fork() -> bool:
    return (sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
            and not torch.cuda.is_initialized() and torch.get_num_threads() == 1)


def fork_map(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> list[R]:
    """``[fn(item) for item in items]``, computed by up to ``workers`` forked processes.

    Each item is a chain of one job of :func:`fork_chains`, so the jobs are forked when it forks
    (the caller on one thread: ``course_utils.repro.pin_threads(1)`` first; ``workers`` above 1;
    2 items or more); otherwise this is the plain loop. An exception in a job is raised here, as
    in the loop.
    """
    return fork_chains(fn, [_one_job(item) for item in items], workers)


def _one_job(item):
    return (yield item)


def _run_item(item):
    return _JOBS[-1](item)


def _drive(chain: Generator, fn: Callable):
    """Run one chain in this process: send it ``fn`` of each item it yields; its return value."""
    try:
        item = next(chain)
        while True:
            item = chain.send(fn(item))
    except StopIteration as stop:
        return stop.value


def fork_chains(fn: Callable[[T], R], chains: Iterable[Generator[T, R, object]],
                workers: int | None = None) -> list:
    """Drive every generator of ``chains`` (each yields an item and is sent ``fn(item)`` back, until
    it returns); their return values, in order.

    A chain's items run one after another, so each may depend on the results before it (a sweep
    that stops early, then its seeds); items of different chains run at the same time in up to
    ``workers`` forked processes, and a worker that comes free takes the next item that is ready,
    from whichever chain. So unequal chains keep every core busy, where :func:`fork_map` over the
    chains would leave a core idle while the longest one finishes. The chains' own code runs in
    this process. ``workers=None`` uses every available core. The items are forked only when the
    caller runs on one thread, ``workers`` and the number of chains are both 2 or more, and forking
    is available and safe (module docstring); otherwise ``fn`` runs here. The results are the same
    either way: those of driving the chains one after another here. An exception in a job is
    raised here.
    """
    workers = _workers(workers)
    chains = list(chains)
    workers = min(workers, len(chains))
    if workers <= 1 or not _can_fork():
        return [_drive(chain, fn) for chain in chains]
    results: list = [None] * len(chains)
    ready: deque = deque()  # (chain index, item) that may start now
    finished: queue.SimpleQueue = queue.SimpleQueue()  # (chain index, ok, result or exception)

    def advance(index: int, *sent) -> None:  # the chain's next item, or its return value
        try:
            ready.append((index, chains[index].send(*sent) if sent else next(chains[index])))
        except StopIteration as stop:
            results[index] = stop.value

    for index in range(len(chains)):
        advance(index)
    _JOBS.append(fn)
    try:
        with warnings.catch_warnings():  # Python 3.12+ warns about fork in a threaded process
            warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                running = 0
                while ready or running:
                    while ready and running < workers:
                        index, item = ready.popleft()
                        pool.apply_async(_run_item, (item,),
                                         callback=lambda r, i=index: finished.put((i, True, r)),
                                         error_callback=lambda e, i=index: finished.put((i, False, e)))
                        running += 1
                    index, ok, result = finished.get()
                    running -= 1
                    if not ok:
                        raise result
                    advance(index, result)
    finally:
        _JOBS.pop()
    return results
