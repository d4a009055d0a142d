"""course_utils.parallel: fork_map and fork_chains give the loop's results, in order, from forked workers."""

import os
import sys
import time

import pytest
import torch

from course_utils.parallel import available_workers, fork_chains, fork_map

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks on Linux only")


@pytest.fixture
def one_thread():
    """Jobs are forked only from a caller on one thread (the notebooks pin it around a sweep)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def seeded_training(seed):
    """A tiny seeded training run: its numbers depend on the seed and the thread count only."""
    torch.manual_seed(seed)
    model = torch.nn.Linear(8, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item(), model.weight.detach().clone()


@linux
def test_workers_give_the_loops_results_in_input_order(one_thread):
    seeds = [3, 1, 4, 1, 5]
    loop = [seeded_training(s) for s in seeds]
    forked = fork_map(seeded_training, seeds, workers=2)
    assert [loss for loss, _ in forked] == [loss for loss, _ in loop]  # the same bits
    for (_, w1), (_, w2) in zip(forked, loop):
        assert torch.equal(w1, w2)


@linux
def test_jobs_run_in_other_processes_and_see_the_callers_closure(one_thread):
    offset = 100  # a local the workers read without pickling it

    def job(i):
        return os.getpid(), i + offset

    results = fork_map(job, range(4), workers=2)
    assert [value for _, value in results] == [100, 101, 102, 103]
    assert os.getpid() not in {pid for pid, _ in results}


@linux
def test_jobs_run_on_one_thread_in_other_processes(one_thread):
    results = fork_map(lambda _: (os.getpid(), torch.get_num_threads()), range(2), workers=2)
    assert [threads for _, threads in results] == [1, 1]
    assert os.getpid() not in {pid for pid, _ in results}


def test_a_caller_on_several_threads_runs_the_jobs_in_this_process():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)  # a forked child would hang in the parent's OpenMP pool
    try:
        x = torch.randn(256, 256)
        x @ x                 # the pool is started
        assert fork_map(lambda _: (os.getpid(), (x @ x).shape), range(2), workers=2) == \
            [(os.getpid(), (256, 256))] * 2
    finally:
        torch.set_num_threads(previous)


def test_one_worker_runs_in_this_process():
    assert fork_map(lambda _: os.getpid(), range(3), workers=1) == [os.getpid()] * 3


@linux
def test_an_exception_in_a_job_reaches_the_caller(one_thread):
    def job(i):
        if i == 2:
            raise KeyError(f"job {i} failed")
        return i

    with pytest.raises(KeyError, match="job 2 failed"):
        fork_map(job, range(4), workers=2)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_bad_worker_counts_are_refused(workers):
    with pytest.raises(ValueError, match="workers must be a positive int"):
        fork_map(str, [1, 2], workers=workers)
    with pytest.raises(ValueError, match="workers must be a positive int"):
        fork_chains(str, [pids_chain(1, [])], workers=workers)


def test_available_workers_is_a_positive_int():
    assert isinstance(available_workers(), int) and available_workers() >= 1


def countdown(start: int, log: list | None = None):
    """A chain: yields seeds, each next one computed from the result it was sent; returns the results."""
    results, seed = [], start
    while seed > 0:
        loss, _ = result = yield seed
        results.append(result)
        if log is not None:
            log.append(seed)
        seed = seed - 1 - int(loss * 1000) % 2  # the next job depends on this one's result
    return results


def driven_by_hand(start: int) -> list:
    chain, results = countdown(start), None
    try:
        seed = next(chain)
        while True:
            seed = chain.send(seeded_training(seed))
    except StopIteration as stop:
        results = stop.value
    return results


@linux
def test_chains_give_the_loops_results_in_input_order(one_thread):
    starts = [7, 2, 5, 1, 9]
    by_hand = [driven_by_hand(s) for s in starts]
    assert all(len(r) >= 1 for r in by_hand)
    for workers in (1, 2, 3):
        got = fork_chains(seeded_training, [countdown(s) for s in starts], workers=workers)
        assert len(got) == len(by_hand)
        for mine, theirs in zip(got, by_hand):
            assert [loss for loss, _ in mine] == [loss for loss, _ in theirs]
            assert all(torch.equal(a, b) for (_, a), (_, b) in zip(mine, theirs))


@linux
def test_chains_run_their_jobs_in_other_processes_in_order(one_thread):
    logs = [[], []]
    pids = fork_chains(lambda seed: os.getpid(), [countdown(0), pids_chain(3, logs[0]), pids_chain(4, logs[1])],
                       workers=2)
    assert pids[0] == []
    assert os.getpid() not in pids[1] + pids[2]
    assert logs == [[3, 2, 1], [4, 3, 2, 1]]  # each chain's jobs one after another, in its order


def pids_chain(n: int, log: list):
    pids = []
    for seed in range(n, 0, -1):
        pids.append((yield seed))
        log.append(seed)
    return pids


def test_chains_on_several_threads_run_in_this_process():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        pids = fork_chains(lambda seed: os.getpid(), [pids_chain(2, []), pids_chain(3, [])], workers=2)
    finally:
        torch.set_num_threads(previous)
    assert set(pids[0] + pids[1]) == {os.getpid()}


@linux
def test_an_exception_in_a_chained_job_reaches_the_caller(one_thread):
    def job(seed):
        if seed == 2:
            raise KeyError(f"job {seed} failed")
        return seed

    with pytest.raises(KeyError, match="job 2 failed"):
        fork_chains(job, [pids_chain(1, []), pids_chain(3, [])], workers=2)


def batches_chain(log: list):
    """A chain that yields a list of seeds (run side by side), then one seed that depends on their results."""
    first = yield [3, 1, 4]
    log.append(len(first))
    last = yield 1 + int(first[0][0] * 1000) % 5
    empty = yield []  # nothing to run: sent back an empty list
    return first + [last], empty


@linux
def test_a_chain_may_yield_a_list_of_jobs_run_side_by_side(one_thread):
    logs = [[], []]
    by_hand = _drive_here(batches_chain(logs[0]))
    got = fork_chains(seeded_training, [batches_chain(logs[1]), countdown(3)], workers=2)[0]
    assert logs == [[3], [3]] and got[1] == by_hand[1] == []
    assert [loss for loss, _ in got[0]] == [loss for loss, _ in by_hand[0]]  # the same bits, in order
    pids = fork_chains(lambda seed: (os.getpid(), time.sleep(0.3))[0], [pids_batch()], workers=2)[0]
    assert len(set(pids)) == 2 and os.getpid() not in pids  # the list's jobs ran in two workers


def pids_batch():
    return (yield [1, 2])


def _drive_here(chain):
    return fork_chains(seeded_training, [chain], workers=1)[0]
