"""Run independent single-threaded CPU jobs in forked worker processes, results in input order.

The notebooks' sweeps (notebook 04's depth arms, notebook 06's recipes) are many small
single-threaded trainings that do not depend on each other. On a 2-core machine one thread per
job and two jobs at a time is about twice as fast as one job at a time, and the results are the
same bits: every job seeds itself, and a job's numbers depend on its thread count, not on which
process runs it. :func:`fork_map` runs a list of jobs; :func:`fork_chains` runs chains of jobs in
which each job may depend on the ones before (a learning-rate sweep that stops early, then its seeds
side by side), a free worker taking the next job of any chain.

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

    One chain of :func:`fork_chains` that yields all the items at once, so the jobs are forked when
    it forks (the caller on one thread: ``course_utils.repro.pin_threads(1)`` first; ``workers``
    above 1) and there are 2 items or more; otherwise this is the plain loop. An exception in a job
    is raised here, as in the loop.
    """
    items = list(items)
    if len(items) < 2:
        _workers(workers)  # a bad count is refused whatever the items
        return [fn(item) for item in items]
    return fork_chains(fn, [_all_at_once(items)], workers)[0]


def _all_at_once(items: list):
    return (yield items)


def _run_item(item):
    return _JOBS[-1](item)


def _drive(chain: Generator, fn: Callable):
    """Run one chain in this process: send it ``fn`` of each item it yields (of each item of a list it
    yields, as a list); its return value."""
    try:
        got = next(chain)
        while True:
            got = chain.send([fn(item) for item in got] if isinstance(got, list) else fn(got))
    except StopIteration as stop:
        return stop.value


def fork_chains(fn: Callable[[T], R], chains: Iterable[Generator], workers: int | None = None) -> list:
    """Drive every generator of ``chains``; their return values, in order. A chain yields an item and
    is sent ``fn(item)`` back, or yields a list of items and is sent the list of their results,
    until it returns.

    A chain's steps run one after another, so each may depend on the results before it (a sweep
    that stops early, then its seeds); the items of one list, and the items of different chains,
    run at the same time in up to ``workers`` forked processes, and a worker that comes free takes
    the next item that is ready, from whichever chain. So unequal chains keep every core busy, where
    :func:`fork_map` over the chains would leave a core idle while the longest one finishes, and a
    chain that yields its last runs as one list does not leave a core idle at its end. The chains'
    own code runs in this process. ``workers=None`` uses every available core. The items are forked
    only when the caller runs on one thread, ``workers`` is 2 or more, and forking is available and
    safe (module docstring); otherwise ``fn`` runs here. The results are the same either way: those
    of driving the chains one after another here. An exception in a job is raised here.
    """
    workers = _workers(workers)
    chains = list(chains)
    if workers <= 1 or not chains or not _can_fork():
        return [_drive(chain, fn) for chain in chains]
    results: list = [None] * len(chains)
    ready: deque = deque()  # (chain index, position in its step, item) that may start now
    steps: dict[int, list] = {}  # chain index -> [its step's results so far, yielded a list?, still running]
    finished: queue.SimpleQueue = queue.SimpleQueue()  # (chain index, position, ok, result or exception)

    def advance(index: int, *sent) -> None:  # the chain's next step, or its return value
        try:
            got = chains[index].send(*sent) if sent else next(chains[index])
        except StopIteration as stop:
            results[index] = stop.value
            return
        items = got if isinstance(got, list) else [got]
        if not items:  # an empty list: nothing to run
            advance(index, [])
            return
        steps[index] = [[None] * len(items), isinstance(got, list), len(items)]
        ready.extend((index, position, item) for position, item in enumerate(items))

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
                        index, position, item = ready.popleft()
                        pool.apply_async(_run_item, (item,),
                                         callback=lambda r, i=index, p=position: finished.put((i, p, True, r)),
                                         error_callback=lambda e, i=index, p=position: finished.put((i, p, False, e)))
                        running += 1
                    index, position, ok, result = finished.get()
                    running -= 1
                    if not ok:
                        raise result
                    step = steps[index]
                    step[0][position] = result
                    step[2] -= 1
                    if step[2] == 0:
                        advance(index, step[0] if step[1] else step[0][0])
    finally:
        _JOBS.pop()
    return results
