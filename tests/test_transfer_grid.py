"""The committed transfer grid (benchmarks/transfer_grid.py): complete, sane, and reproducible."""

import csv

import pytest

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
                assert all(r["diverged"] == "True" or r["grid"].startswith("failed")
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


def test_write_rows_rewrites_the_committed_grid_byte_for_byte(tmp_path):
    """The grid is written through course_utils.internals.atomic (one atomic write in the project): the same
    rows give the same bytes as the committed file, and no temporary file is left beside it."""
    path = transfer.GRID_CSV
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    out = tmp_path / "grid.csv"
    tg.write_rows(out, fields, rows)
    assert out.read_bytes() == path.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["grid.csv"]


def failure_note(k, seed, problem):
    """How benchmarks/transfer_grid.py notes a failed grid run in the sweep file (run_arm's message, cut at ';')."""
    return f"failed: {AssertionError(f'{k}/class seed {seed}, {problem}')}".split(";")[0]


def test_every_failure_note_of_the_sweep_file_reads_back_as_it_was_written():
    """Notebook 05 prints the sweep file's failures through say() (Chinese in the Chinese notebook): each note
    is read back into the sanity_problem message it was cut from, exactly."""
    notes = [r["grid"] for r in transfer.read_grid(transfer.SWEEP_CSV) if r["grid"].startswith("failed")]
    assert notes, "the notebook's text speaks of failed runs; the sweep file has none"
    for note in notes:
        k, seed, problem = transfer.sweep_failure(note)
        assert isinstance(problem, SanityProblem) and problem.template in PROBLEMS
        assert failure_note(k, seed, problem) == note


@pytest.mark.parametrize("first, losses", [(9.0, [1.0] * 4), (2.3, [2.3, float("nan")]), (2.3, [2.3, 9.0, 9.0, 9.0]),
                                           (2.3, [2.3] * 4)])
def test_sweep_failure_reads_each_kind_of_sanity_message(first, losses):
    problem = sanity_problem(first, losses, 10, "probe-layer3")
    k, seed, read = transfer.sweep_failure(failure_note(50, 2, problem))
    assert (k, seed, str(read), read.template) == (50, 2, str(problem), problem.template)


@pytest.mark.parametrize("note, expected", [("used", None), ("", None)])
def test_sweep_failure_of_a_run_that_did_not_fail(note, expected):
    assert transfer.sweep_failure(note) is expected


@pytest.mark.parametrize("note", ["failed: 50/class seed 0, probe-fc: ran out of memory",
                                  "failed: probe-fc: did not learn"])
def test_sweep_failure_names_a_note_it_cannot_read(note):
    with pytest.raises(ValueError, match="sweep"):
        transfer.sweep_failure(note)
