"""The committed transfer grid (benchmarks/transfer_grid.py): complete, sane, and reproducible."""

import csv
import math

import pytest
import torch

from benchmarks import transfer_grid as tg
from course_utils.experiments import features, transfer
from course_utils.losses import SanityProblem, assert_sane, sanity_problem
from course_utils.printed import PROBLEMS

ROWS = transfer.read_grid()


def stored(target, arm, k, seed):
    rows = [r for r in ROWS if (r["target"], r["arm"], int(r["k"]), int(r["seed"])) == (target, arm, k, seed)]
    assert len(rows) == 1, (f"the committed grid has {len(rows)} rows for {target} {arm} {k}/class seed {seed}: "
                            "run python benchmarks/transfer_grid.py (with the final source model)")
    return rows[0]


def test_grid_is_complete_and_every_run_sane():
    failed = tg.failed_arms(transfer.read_grid(transfer.SWEEP_CSV))
    for target in tg.SIZES:
        for arm in tg.arms_for(target):
            if (target, arm) in failed:  # no grid rows: every lr diverged in the sweep or failed a run
                assert not [r for r in ROWS if (r["target"], r["arm"]) == (target, arm)]
                assert all(r["diverged"] == "True" or r["grid"] == "failed"
                           for r in failed[target, arm]), failed[target, arm]
                continue
            for k in tg.SIZES[target]:
                for seed in tg.SEEDS:
                    row = stored(target, arm, k, seed)
                    losses = [float(v) for v in row["losses"].split()]  # the mean of each quarter
                    assert len(losses) == transfer.CHUNKS and losses[-1] == float(row["final_loss"]), row
                    assert_sane(float(row["first_loss"]), losses, 10, f"{target} {arm} {k}/class seed {seed}")
                    assert float(row["first_acc"]) < 0.3, row  # not solved before training starts


def test_transfer_beats_pixels_where_the_notebook_says_so():
    """Notebook 05's assertion: with 5 labels per class, the layer3 probe trained to convergence
    beats logistic regression on the pixels trained the same way, by >= 3 points and > 2 std."""
    table = tg.summary(ROWS)
    (mt, st), (mp, sp) = table["digits", "probe-layer3-long", 5], table["digits", "pixels-logreg-long", 5]
    assert mt - mp >= 0.03 and mt - mp > 2 * max(st, sp), (mt, st, mp, sp)


def test_one_baseline_cell_reruns_to_the_stored_accuracy():
    x, y, xt, yt = tg.load_target("digits")
    data = {"pixels": (features.pixels(x), features.pixels(xt))}
    row = stored("digits", "pixels-logreg-long", 5, 1)
    index = transfer.per_class_indices(y, 5, seed=1)
    r = transfer.run_cell("pixels-logreg-long", None, data, y, yt, index, lr=float(row["lr"]), seed=1)
    assert abs(r["acc"] - float(row["acc"])) < 0.01


@pytest.mark.slow
def test_one_transfer_cell_reruns_to_the_stored_accuracy():
    from course_utils.experiments.pretrain import pretrain_source_model

    source, info = pretrain_source_model(progress=False)
    row = stored("digits", "probe-layer3", 10, 2)
    x, y, xt, yt = tg.load_target("digits")
    data = transfer.prepare_target(source, x, xt)
    index = transfer.per_class_indices(y, 10, seed=2)
    r = transfer.run_cell("probe-layer3", source, data, y, yt, index, lr=float(row["lr"]), seed=2)
    if abs(float(row["source_acc"]) - info["source_acc"]) < 1e-3:  # the grid's own source model
        assert abs(r["acc"] - float(row["acc"])) < 0.02
    else:  # pretrained on another kind of CPU (last digits differ): land within the grid's spread,
        mean, std = tg.summary(ROWS)["digits", "probe-layer3", 10]  # as notebook 05 asserts
        assert abs(r["acc"] - mean) <= max(2 * std, 0.03), (r["acc"], mean, std)


def test_augmented_transfer_beats_every_baseline_where_the_notebook_says_so():
    """Notebook 05's augmentation verdict: with 5 and 10 labels per class, the cut ResNet-50 on
    augmented images beats every baseline, under every budget rule, by more than 2 std."""
    table = tg.summary(ROWS)
    for k in (5, 10):
        mt, st = table["digits", "cut-layer3-aug", k]
        for arm in transfer.BASELINE_ARMS:
            mb, sb = table["digits", arm, k]
            assert mt - mb > 2 * max(st, sb), (k, arm, mt, st, mb, sb)


def test_one_augmented_cell_reruns_to_the_stored_accuracy():
    """The augmentation draws from torch's generator, seeded by build_arm: a rerun is the same run."""
    x, y, xt, yt = tg.load_target("digits")
    data = {"images": (x, xt), "pixels": (features.pixels(x), features.pixels(xt))}
    row = stored("digits", "pixels-logreg-aug", 5, 1)
    index = transfer.per_class_indices(y, 5, seed=1)
    r = transfer.run_cell("pixels-logreg-aug", None, data, y, yt, index, lr=float(row["lr"]), seed=1)
    assert abs(r["acc"] - float(row["acc"])) < 0.01
    assert abs(r["first_loss"] - float(row["first_loss"])) < 1e-3


@pytest.mark.parametrize("path", [transfer.GRID_CSV, transfer.SWEEP_CSV], ids=lambda p: p.name)
def test_write_rows_rewrites_the_committed_grid_byte_for_byte(tmp_path, path):
    """The grid is written through course_utils.internals.atomic (one atomic write in the project): the same
    rows give the same bytes as the committed file, and no temporary file is left beside it."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    assert fields == (tg.GRID_FIELDS if path == transfer.GRID_CSV else tg.SWEEP_FIELDS)  # the benchmark's layout
    out = tmp_path / "grid.csv"
    tg.write_rows(out, fields, rows)
    assert out.read_bytes() == path.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["grid.csv"]


def test_every_failure_of_the_sweep_file_is_what_notebook_02s_check_says_of_its_losses():
    """Notebook 05 prints the sweep file's failures through say() (Chinese in the Chinese notebook): each one
    reads back as a sanity_problem message, and sanity_problem, given the losses stored with it, finds the
    same problem (the stored record is the check's verdict, not free text)."""
    sweep = transfer.read_grid(transfer.SWEEP_CSV)
    failures = [(r, transfer.sweep_failure(r)) for r in sweep if r["grid"] == "failed"]
    assert failures, "the notebook's text speaks of failed runs; the sweep file has none"
    assert all(transfer.sweep_failure(r) is None for r in sweep if r["grid"] != "failed")
    for row, (k, seed, problem) in failures:
        assert k in tg.SIZES[row["target"]] and seed in tg.SEEDS, row
        assert isinstance(problem, SanityProblem) and problem.template in PROBLEMS
        values = problem.values
        assert values["name"] == row["arm"], row
        again = sanity_problem(values.get("first_loss", math.log(10)), values["losses"], 10, values["name"])
        assert again is not None and again.template == problem.template, (row, again)


@pytest.mark.parametrize("first, losses", [(9.0, [1.0] * 4), (2.3, [2.3, float("nan")]), (2.3, [2.3, 9.0, 9.0, 9.0]),
                                           (2.3, [2.3] * 4)])
def test_a_failed_grid_run_round_trips_through_the_sweep_file(tmp_path, first, losses):
    """What the benchmark writes for each kind of sanity message reads back as the same message."""
    problem = sanity_problem(first, losses, 10, "probe-layer3")
    failure = tg.GridRunFailed(50, 2, problem)
    assert str(failure) == f"50/class seed 2, {problem}"  # what the benchmark prints
    row = {"target": "glyphs", "arm": "probe-layer3", "lr": 0.01, "val_acc": 0.3, "diverged": False,
           "first_loss": first, "final_loss": 1.0, **failure.record()}
    tg.write_rows(tmp_path / "sweep.csv", tg.SWEEP_FIELDS, [row, {**row, "lr": 0.001, "grid": "used"}])
    failed, used = transfer.read_grid(tmp_path / "sweep.csv")
    k, seed, read = transfer.sweep_failure(failed)
    assert (k, seed, str(read), read.template) == (50, 2, str(problem), problem.template)
    assert transfer.sweep_failure(used) is None


@pytest.mark.parametrize("change, match", [({"grid": "failed: probe-fc: did not learn"}, "grid is"),
                                           ({"problem": "{name}: ran out of memory"}, "does not write"),
                                           ({"problem_values": "{}"}, "do not fit"),
                                           ({"problem_values": "not json"}, "do not fit"),
                                           ({"failed_seed": ""}, "do not fit")])
def test_sweep_failure_names_a_row_it_cannot_read(change, match):
    problem = sanity_problem(2.3, [2.3] * 4, 10, "probe-fc")
    row = {"target": "digits", "arm": "probe-fc", "lr": "0.01",
           **{k: str(v) for k, v in tg.GridRunFailed(5, 0, problem).record().items()}}
    assert transfer.sweep_failure(row)[:2] == (5, 0)  # the row as written reads; the changed one does not
    with pytest.raises(ValueError, match=f"transfer_sweep.csv, digits probe-fc lr 0.01: .*{match}"):
        transfer.sweep_failure({**row, **change})


def test_run_arm_names_the_failed_run_and_lets_a_bug_through(monkeypatch):
    """A run that fails notebook 02's check becomes GridRunFailed (which size and seed, and the problem);
    any other AssertionError is a bug and propagates as it was raised."""
    problem = sanity_problem(2.3, [2.3] * 4, 10, "probe-fc")
    calls = []

    def run_cell(arm, source, data, y, yt, index, *, lr, seed, native):
        calls.append(seed)
        if len(calls) == 2:
            raise AssertionError(problem)
        return {"acc": 0.5, "first_acc": 0.1, "first_loss": 2.3, "curve": [2.0, 1.5, 1.2, 1.0]}

    monkeypatch.setattr(transfer, "run_cell", run_cell)
    y = torch.arange(10).repeat(60)
    with pytest.raises(tg.GridRunFailed) as failed:
        tg.run_arm("digits", "probe-fc", 0.01, None, 0.9, {}, y, y)
    assert (failed.value.k, failed.value.seed, failed.value.problem) == (tg.SIZES["digits"][0], tg.SEEDS[1], problem)

    def buggy(*args, **kwargs):
        raise AssertionError("a bug")

    monkeypatch.setattr(transfer, "run_cell", buggy)
    with pytest.raises(AssertionError, match="a bug") as bug:
        tg.run_arm("digits", "probe-fc", 0.01, None, 0.9, {}, y, y)
    assert not isinstance(bug.value, tg.GridRunFailed)
