"""Plots for the lessons: plain data in (lists of dicts), a matplotlib Figure out.

Nothing here trains, counts or imports the rest of the course; matplotlib is imported when a
function is called, so importing this module changes no plotting style.
"""

from __future__ import annotations

from typing import Iterable


def plot_parameter_counts(rows: Iterable[dict], *, label: str = "name", value: str = "parameters",
                          log: bool = True, title: str | None = None, ax=None):
    """Horizontal bars of ``row[value]`` per ``row[label]``, each bar annotated with its count.

    ``rows`` are plain dicts, e.g. from ``course_utils.params.parameter_table`` or written by
    hand (``[{"name": "Linear", "parameters": 262_656}, ...]``). A log axis (the default) keeps
    a 0-parameter layer and a 100-million one readable together; zeros are drawn as empty bars.
    Returns the Figure (pass ``ax`` to draw into an existing one).
    """
    import matplotlib.pyplot as plt

    rows = list(rows)
    if not rows:
        raise ValueError("plot_parameter_counts needs at least one row")
    missing = [k for k in (label, value) if k not in rows[0]]
    if missing:
        raise KeyError(f"rows have no {missing} key(s); their keys are {sorted(rows[0])}. "
                       "Pass label=... and value=... to name the columns to plot.")
    names = [str(r[label]) for r in rows]
    counts = [int(r[value]) for r in rows]
    if any(c < 0 for c in counts):
        raise ValueError("parameter counts must be >= 0")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    else:
        fig = ax.figure
    positions = range(len(rows))
    ax.barh(positions, [max(c, 0.5) if log else c for c in counts], color="tab:blue")
    ax.set_yticks(list(positions), names)
    ax.invert_yaxis()  # first row on top, as in a table
    if log:
        ax.set_xscale("log")
    biggest = max(max(counts), 1)
    ax.set_xlim(0.5 if log else 0, biggest * (8 if log else 1.25))
    for y, c in zip(positions, counts):
        ax.annotate(f"{c:,}", (max(c, 0.5) if log else c, y), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=8)
    ax.set_xlabel(f"{value}" + (" (log scale)" if log else ""))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_history(history: Iterable[dict], *, baseline: float | None = None,
                 title: str | None = None, axes=None):
    """Loss (left) and accuracy (right) per epoch, train and validation, from ``fit``'s history.

    ``history``: dicts with ``"epoch"`` and any of ``train_loss``, ``val_loss``, ``train_acc``,
    ``val_acc`` (``None`` values -- e.g. no validation set -- are skipped). ``baseline`` draws a
    dashed reference on the loss panel, e.g. ``math.log(num_classes)``, the loss at chance.
    Returns the Figure (pass two matplotlib ``axes`` to draw into existing ones).
    """
    import matplotlib.pyplot as plt

    rows = list(history)
    if not rows:
        raise ValueError("plot_history needs at least one epoch; fit(..., epochs=N) returns them")
    if "epoch" not in rows[0]:
        raise KeyError(f"history rows have no 'epoch' key; their keys are {sorted(rows[0])}. "
                       "Pass the list that fit() returns.")
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    else:
        fig = axes[0].figure
    for ax, metric, label in ((axes[0], "loss", "loss"), (axes[1], "acc", "accuracy")):
        for split, style in (("train", "-o"), ("val", "--s")):
            points = [(r["epoch"], r[f"{split}_{metric}"]) for r in rows
                      if r.get(f"{split}_{metric}") is not None]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, style, markersize=3, label=f"{split} {label}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    if baseline is not None:
        axes[0].axhline(baseline, color="gray", ls=":", label=f"chance ({baseline:.3f})")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
