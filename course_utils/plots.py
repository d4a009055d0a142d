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
