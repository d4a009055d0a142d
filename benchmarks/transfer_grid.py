"""Transfer versus baselines, and FAQ 2 on its two axes: the grid behind notebook 05.

    .venv/bin/python benchmarks/transfer_grid.py      # everything (the CPU seconds of each run: column cpu_s)
    .venv/bin/python benchmarks/transfer_grid.py --arms full,last-stage --targets digits

For each target (the *far* digits and the *near* glyphs) and each arm of
:mod:`course_utils.transfer`: the learning rate is swept first (5 labelled images per class,
seed 0, measured on 10 other labelled training images per class, never on the test split), then
the arm runs with that learning rate at every size x 3 seeds (each seed draws other images and
another initialization), under the one budget rule (``transfer.STEPS`` AdamW steps of
``transfer.BATCH_SIZE`` images), and is measured once on the test split. Every run must pass
``transfer.check_sane`` (first loss near ln C, no divergence): if one seed fails it at the swept
learning rate, the whole arm reruns at the next smaller learning rate that was sane in the sweep
(the ``lr`` column records the one used), and the script stops if none is left.

Writes ``course_utils/results/transfer_grid.csv`` (one row per run) and ``transfer_sweep.csv``
(every learning rate tried) -- package data, so that notebook 05 reads them wherever it runs --
and ``benchmarks/results/transfer_grid.png`` (the FAQ 2 figure). Rows of arms not re-run are
kept, so the grid can be completed arm by arm; each file is replaced atomically.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from course_utils import transfer
from course_utils.data import target_dataset
from course_utils.plots import plot_transfer_grid
from course_utils.pretrain import build_source_model, pretrain_source_model
from course_utils.repro import pin_threads

RESULTS = transfer.GRID_CSV.parent            # the CSVs: package data, read by notebook 05
FIGURE = Path(__file__).resolve().parent / "results" / "transfer_grid.png"
SIZES = {"digits": (5, 10, 50), "glyphs": (5, 50)}     # labelled images per class
SEEDS = (0, 1, 2)
SWEEP_K, VAL_K = 5, 10
FAQ2_ARMS = ("probe-fc", "probe-layer3", "last-stage", "full")
GRID_FIELDS = ["target", "arm", "k", "n_train", "seed", "lr", "acc", "first_loss", "final_loss",
               "cpu_s", "source_acc"]
SWEEP_FIELDS = ["target", "arm", "lr", "val_acc", "diverged", "first_loss", "final_loss"]


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
         "mlp-long", "full", "small-cnn-long",
         "resnet50-scratch")


def arms_for(target: str) -> tuple[str, ...]:
    """Every arm on both targets, except ResNet-50 from scratch on the near glyphs: there, at
    every learning rate its sweep passed (1e-3, then 3e-4), some seed's loss rose instead of
    falling within the 24 steps, so it never ran sanely; the small CNN is the scratch baseline."""
    arms = transfer.TRANSFER_ARMS + tuple(a for a in transfer.BASELINE_ARMS
                                          if not (target == "glyphs" and a == "resnet50-scratch"))
    assert set(arms) <= set(ORDER)
    return tuple(a for a in ORDER if a in arms)


def read_rows(path: Path) -> list[dict]:
    return transfer.read_grid(path) if path.exists() else []


def write_rows(path: Path, fields: list[str], rows: list[dict]) -> None:
    """Write a CSV atomically: a crash leaves the previous file, never half of a new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a results file is for everyone
    os.replace(tmp, path)


def sweep(arm, source, data, y, yt) -> tuple[list[float], list[dict]]:
    """Try every candidate lr on (5/class seed 0 -> 10/class validation).

    Returns the best sane lr followed by the smaller sane ones (the fallbacks), and the rows tried.
    """
    index = transfer.per_class_indices(y, SWEEP_K, seed=0)
    val = transfer.per_class_indices(y, VAL_K, seed=100, exclude=index)
    rows = []
    for lr in transfer.lr_candidates(arm, pixel_features=data["pixels"][0].shape[1]):
        r = transfer.run_cell(arm, source, data, y, yt, index, lr=lr, seed=0, val_index=val, check=False)
        rows.append({"arm": arm, "lr": lr, "val_acc": round(r["acc"], 4), "diverged": r["diverged"],
                     "first_loss": round(r["first_loss"], 4), "final_loss": round(r["curve"][-1], 4)})
    sane = [row for row in rows if not row["diverged"]]
    if not sane:
        raise RuntimeError(f"{arm}: every learning rate diverged: {rows}")
    best = max(sane, key=lambda row: row["val_acc"])["lr"]
    # the best first, then the smaller sane ones: the fallbacks if a seed diverges at the best
    return [best] + sorted((r["lr"] for r in sane if r["lr"] < best), reverse=True), rows


def run_target(target: str, arms, source, source_acc: float, grid: list, sweeps: list) -> None:
    x, y, xt, yt = load_target(target)
    data = transfer.prepare_target(source, x, xt, transfer.NATIVE_PIXELS[target])
    for arm in arms:
        lrs, tried = sweep(arm, source, data, y, yt)
        sweeps[:] = [r for r in sweeps if (r["target"], r["arm"]) != (target, arm)]
        sweeps += [{"target": target, **r} for r in tried]
        for lr in lrs:  # one rule for every arm: if any seed diverges, all rerun at the next lr
            try:
                rows = run_arm(target, arm, lr, source, source_acc, data, y, yt)
                break
            except AssertionError as exc:
                print(f"{target:>7} {arm:>17} lr {lr:g}: a seed diverged ({exc}); next smaller lr")
        else:
            raise RuntimeError(f"{target} {arm}: a seed diverged at every sane lr {lrs}")
        grid[:] = [r for r in grid if (r["target"], r["arm"]) != (target, arm)] + rows
        write_rows(RESULTS / "transfer_grid.csv", GRID_FIELDS, grid)
        write_rows(RESULTS / "transfer_sweep.csv", SWEEP_FIELDS, sweeps)
        accs = {k: [r["acc"] for r in rows if r["k"] == k] for k in SIZES[target]}
        print(f"{target:>7} {arm:>17} lr {lr:g}: " + "  ".join(
            f"{k}/class {statistics.mean(a):.3f}±{statistics.stdev(a):.3f}" for k, a in accs.items()),
            flush=True)


def run_arm(target, arm, lr, source, source_acc, data, y, yt) -> list[dict]:
    """Every size x seed of one arm at one lr; raises AssertionError if a run is not sane."""
    rows = []
    for k in SIZES[target]:
        for seed in SEEDS:
            index = transfer.per_class_indices(y, k, seed=seed)
            start = time.process_time()
            r = transfer.run_cell(arm, source, data, y, yt, index, lr=lr, seed=seed)
            rows.append({"target": target, "arm": arm, "k": k, "n_train": len(index), "seed": seed,
                             "lr": lr, "acc": round(r["acc"], 4), "first_loss": round(r["first_loss"], 4),
                             "final_loss": round(r["curve"][-1], 4),
                             "cpu_s": round(time.process_time() - start, 1),
                             "source_acc": round(source_acc, 4) if arm in transfer.TRANSFER_ARMS else ""})
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
    wanted = set(transfer.TRANSFER_ARMS + transfer.BASELINE_ARMS if args.arms == "all"
                 else args.arms.split(","))
    if wanted <= set(transfer.BASELINE_ARMS):  # baselines never use the source model's features
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
