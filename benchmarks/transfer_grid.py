"""Transfer versus baselines, and FAQ 2 on its two axes: the grid behind notebook 05.

    .venv/bin/python benchmarks/transfer_grid.py      # everything (the CPU seconds of each run: column cpu_s)
    .venv/bin/python benchmarks/transfer_grid.py --arms full,last-stage --targets digits

For each target (the *far* digits and the *near* glyphs) and each arm of
:mod:`course_utils.experiments.arms`: the learning rate is swept first (5 labelled images per class,
seed 0, measured on 10 other labelled training images per class, never on the test split), then
the arm runs with that learning rate at every size x 3 seeds (each seed draws other images and
another initialization), under the one budget rule (``arms.STEPS`` AdamW steps of
``transfer.BATCH_SIZE`` images; the ``-long`` arms 16x as many, the ``-aug`` arms the same on
augmented images, on the digits only), and is measured once on the test split. Every run must pass
``losses.assert_sane`` (first loss near ln C, no divergence, a lower loss at the end): if one
seed fails it at the swept learning rate, the whole arm reruns at the next smaller learning rate
that was sane in the sweep (the ``lr`` column records the one used). An arm for which no sane
learning rate is left has no grid rows: the sweep file says, for every learning rate, which run
failed and why (columns ``grid``, ``failed_k``, ``failed_seed``, ``problem``, ``problem_values``).
Every run also records its test accuracy before training (``first_acc``, about chance).

Writes ``course_utils/experiments/results/transfer_grid.csv`` (one row per run) and ``transfer_sweep.csv``
(every learning rate tried) -- package data, so that notebook 05 reads them wherever it runs --
and ``benchmarks/results/transfer_grid.png`` (the FAQ 2 figure). Rows of arms not re-run are
kept, so the grid can be completed arm by arm; each file is replaced atomically.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import statistics
import time
from pathlib import Path

import torch

from course_utils.data import target_dataset
from course_utils.experiments import transfer
from course_utils.experiments.arms import ARMS, get_arm, lr_candidates
from course_utils.experiments.features import NATIVE_PIXELS, prepare_target
from course_utils.experiments.pretrain import build_source_model, pretrain_source_model
from course_utils.internals.atomic import atomic_write
from course_utils.losses import SanityProblem
from course_utils.plots import plot_transfer_grid
from course_utils.repro import pin_threads

RESULTS = transfer.GRID_CSV.parent            # the CSVs: package data, read by notebook 05
FIGURE = Path(__file__).resolve().parent / "results" / "transfer_grid.png"
SIZES = {"digits": (5, 10, 50), "glyphs": (5, 50)}     # labelled images per class
SEEDS = (0, 1, 2)
SWEEP_K, VAL_K = 5, 10
FAQ2_ARMS = ("probe-fc", "probe-layer3", "last-stage", "full")
#: ``losses``: the mean training loss of each quarter of the run (space-separated; the last is
#: ``final_loss``), so that ``losses.assert_sane`` can re-check a stored run in full
GRID_FIELDS = ["target", "arm", "k", "n_train", "seed", "lr", "acc", "first_acc", "first_loss",
               "final_loss", "losses", "cpu_s", "source_acc"]
#: ``grid``: what happened at this lr in the grid run: "used", "failed" or "" (not tried); for "failed",
#: which run (``failed_k`` per class, ``failed_seed``) and why: ``losses.sanity_problem``'s English template
#: (``problem``) and its values as JSON (``problem_values``), which ``transfer.sweep_failure`` reads back
SWEEP_FIELDS = ["target", "arm", "lr", "val_acc", "diverged", "first_loss", "final_loss", "grid",
                "failed_k", "failed_seed", "problem", "problem_values"]


class GridRunFailed(AssertionError):
    """A grid run failed notebook 02's check: which one (``k`` per class, ``seed``) and why (``problem``)."""

    def __init__(self, k: int, seed: int, problem: SanityProblem) -> None:
        super().__init__(f"{k}/class seed {seed}, {problem}")
        self.k, self.seed, self.problem = k, seed, problem

    def record(self) -> dict:
        """The sweep file's columns for the lr this run failed at (see :data:`SWEEP_FIELDS`)."""
        return {"grid": "failed", "failed_k": self.k, "failed_seed": self.seed,
                "problem": self.problem.template, "problem_values": json.dumps(self.problem.values)}


def load_target(name: str) -> tuple[torch.Tensor, ...]:
    """(images, targets, test_images, test_targets) of a target task, as tensors."""
    def tensors(split):
        ds = target_dataset(name, split)
        return (torch.stack([ds[i][0] for i in range(len(ds))]),
                torch.as_tensor([int(ds[i][1]) for i in range(len(ds))]))
    return (*tensors("train"), *tensors("test"))


#: cheapest first: each arm's rows are saved when it finishes, so a cut-short run keeps them
ORDER = ("probe-fc", "probe-layer1", "probe-layer2", "probe-layer3", "probe-layer4", "pixels-logreg",
         "mlp", "small-cnn", "pixels-logreg-long", "probe-fc-long", "probe-layer3-long", "last-stage",
         "mlp-long", "full", "cut-layer3", "small-cnn-long", "resnet50-scratch", "last-stage-long",
         "cut-layer3-long", "full-long", "resnet50-scratch-long", "pixels-logreg-aug", "mlp-aug",
         "small-cnn-aug", "cut-layer3-aug", "full-aug", "resnet50-scratch-aug")
#: the augmented arms answer one question, on the far digits only: does the best transfer arm
#: beat the small CNN when both see augmented images (about 35 more minutes per target)
AUG_TARGETS = ("digits",)


def arms_for(target: str) -> tuple[str, ...]:
    """Every arm, cheapest first (the ``-aug`` arms only on :data:`AUG_TARGETS`)."""
    assert set(ORDER) == set(ARMS), set(ORDER) ^ set(ARMS)
    return tuple(a for a in ORDER if target in AUG_TARGETS or not ARMS[a].augment)


def failed_arms(sweeps: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """{(target, arm): its sweep rows} for the arms no learning rate could run sanely on every
    size and seed (so they have no grid rows), from the ``grid`` column of the sweep file."""
    arms: dict = {}
    for r in sweeps:
        arms.setdefault((r["target"], r["arm"]), []).append(r)
    return {key: rows for key, rows in arms.items() if not any(r["grid"] == "used" for r in rows)}


def read_rows(path: Path) -> list[dict]:
    return transfer.read_grid(path) if path.exists() else []


def write_rows(path: Path, fields: list[str], rows: list[dict]) -> None:
    """Write a CSV atomically (:func:`course_utils.internals.atomic.atomic_write`, flushed to disk before the
    rename): a crash leaves the previous file, never half of a new one."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    with atomic_write(path) as f:
        f.write(text.getvalue().encode("utf-8"))


def sweep(arm, source, data, y, yt, native) -> tuple[list[float], list[dict]]:
    """Try every candidate lr on (5/class seed 0 -> 10/class validation).

    Returns the best sane lr followed by the smaller sane ones (the fallbacks; none if every lr
    diverged), and the rows tried.
    """
    index = transfer.per_class_indices(y, SWEEP_K, seed=0)
    val = transfer.per_class_indices(y, VAL_K, seed=100, exclude=index)
    rows = []
    for lr in lr_candidates(arm, pixel_features=data["pixels"][0].shape[1]):
        r = transfer.run_cell(arm, source, data, y, yt, index, lr=lr, seed=0, val_index=val, check=False,
                              native=native)
        rows.append({"arm": arm, "lr": lr, "val_acc": round(r["acc"], 4), "diverged": r["diverged"],
                     "first_loss": round(r["first_loss"], 4), "final_loss": round(r["curve"][-1], 4)})
    sane = [row for row in rows if not row["diverged"]]
    if not sane:  # recorded in the sweep file; the arm gets no grid rows
        return [], rows
    best = max(sane, key=lambda row: row["val_acc"])["lr"]
    # the best first, then the smaller sane ones: the fallbacks if a seed diverges at the best
    return [best] + sorted((r["lr"] for r in sane if r["lr"] < best), reverse=True), rows


def run_target(target: str, arms, source, source_acc: float, grid: list, sweeps: list) -> None:
    x, y, xt, yt = load_target(target)
    data = prepare_target(source, x, xt, NATIVE_PIXELS[target])
    for arm in arms:
        lrs, tried = sweep(arm, source, data, y, yt, NATIVE_PIXELS[target])
        outcome = {}
        rows = []
        for lr in lrs:  # one rule for every arm: if any seed diverges, all rerun at the next lr
            try:
                rows = run_arm(target, arm, lr, source, source_acc, data, y, yt)
                outcome[lr] = {"grid": "used"}
                break
            except GridRunFailed as failure:
                outcome[lr] = failure.record()
                print(f"{target:>7} {arm:>17} lr {lr:g}: {failure}; next smaller lr", flush=True)
        sweeps[:] = [r for r in sweeps if (r["target"], r["arm"]) != (target, arm)]
        sweeps += [{"target": target, **r, **outcome.get(r["lr"], {"grid": ""})} for r in tried]
        grid[:] = [r for r in grid if (r["target"], r["arm"]) != (target, arm)] + rows
        write_rows(RESULTS / "transfer_grid.csv", GRID_FIELDS, grid)
        write_rows(RESULTS / "transfer_sweep.csv", SWEEP_FIELDS, sweeps)
        if not rows:
            print(f"{target:>7} {arm:>17}: a run failed at every sane lr {lrs}; no grid rows", flush=True)
            continue
        edge = transfer.at_edge([(r["lr"], r["val_acc"]) for r in tried], lr)
        if edge:  # notebook 05 prints these too; an arm a verdict rests on must not be one
            print(f"{target:>7} {arm:>17}: lr {lr:g} is at the {edge} edge of its sweep; a wider "
                  "sweep (arms.LRS) might find a better one", flush=True)
        accs = {k: [r["acc"] for r in rows if r["k"] == k] for k in SIZES[target]}
        print(f"{target:>7} {arm:>17} lr {lr:g}: " + "  ".join(
            f"{k}/class {statistics.mean(a):.3f}±{statistics.stdev(a):.3f}" for k, a in accs.items()),
            flush=True)


def run_arm(target, arm, lr, source, source_acc, data, y, yt) -> list[dict]:
    """Every size x seed of one arm at one lr; raises :class:`GridRunFailed` if a run is not sane."""
    rows = []
    for k in SIZES[target]:
        for seed in SEEDS:
            index = transfer.per_class_indices(y, k, seed=seed)
            start = time.process_time()
            try:
                r = transfer.run_cell(arm, source, data, y, yt, index, lr=lr, seed=seed,
                                      native=NATIVE_PIXELS[target])
            except AssertionError as exc:  # which run failed, and why, for the sweep file
                if not (exc.args and isinstance(exc.args[0], SanityProblem)):
                    raise  # not notebook 02's check: a bug, not a failed run
                raise GridRunFailed(k, seed, exc.args[0]) from None
            rows.append({"target": target, "arm": arm, "k": k, "n_train": len(index), "seed": seed,
                         "lr": lr, "acc": round(r["acc"], 4), "first_acc": round(r["first_acc"], 4),
                         "first_loss": round(r["first_loss"], 4), "final_loss": round(r["curve"][-1], 4),
                         "losses": " ".join(f"{v:.4f}" for v in r["curve"]),
                         "cpu_s": round(time.process_time() - start, 1),
                         "source_acc": round(source_acc, 4) if ARMS[arm].transfer else ""})
    return rows


def summary(rows: list[dict]) -> dict:
    """{(target, arm, k): (mean, std)} of the test accuracy over seeds."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["target"], r["arm"], int(r["k"])), []).append(float(r["acc"]))
    return {key: (statistics.mean(a), statistics.stdev(a) if len(a) > 1 else math.nan)
            for key, a in groups.items()}


def plot_faq2(rows: list[dict], path: Path) -> None:
    """FAQ 2 as one figure: accuracy vs labelled images per class, near and far, mean ± std."""
    import matplotlib

    matplotlib.use("Agg")
    fig = plot_transfer_grid(rows, [("glyphs", "near: new glyphs, unseen fonts", SIZES["glyphs"]),
                                    ("digits", "far: handwritten digits", SIZES["digits"])],
                             FAQ2_ARMS, ylabel="test accuracy (mean ± std, 3 seeds)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", default="digits,glyphs")
    parser.add_argument("--arms", default="all", help="comma-separated arms, or 'all'")
    args = parser.parse_args(argv)
    pin_threads()
    wanted = set(ARMS) if args.arms == "all" else {get_arm(a).name for a in args.arms.split(",")}
    if not any(ARMS[a].transfer for a in wanted):  # baselines never use the source model's features
        source, info = build_source_model(), {"source_acc": math.nan}
    else:
        source, info = pretrain_source_model(progress=True)
    grid = read_rows(RESULTS / "transfer_grid.csv")
    sweeps = read_rows(RESULTS / "transfer_sweep.csv")
    for target in args.targets.split(","):
        arms = [a for a in arms_for(target) if a in wanted]
        run_target(target, arms, source, info["source_acc"], grid, sweeps)
    plot_faq2(grid, FIGURE)


if __name__ == "__main__":
    main()
