"""Plots for the lessons: plain data in (lists of dicts), a matplotlib Figure out.

Nothing here trains or counts; matplotlib is imported when a function is called, so importing
this module changes no plotting style. The labels these functions write themselves (axis names,
legends) are in :data:`PLOT_TEXT` and come out in Chinese in a Chinese notebook when a CJK font is
installed (``i18n.figure_text``); in English they are exactly the keys. A label a caller passes is
drawn as given unless it is one of those keys (wrap others in ``figure_text("...")``).
"""

from __future__ import annotations

from collections.abc import Iterable

from course_utils.i18n import figure_text

__all__ = ["plot_parameter_counts", "plot_history", "plot_histories", "plot_confusion_matrix",
           "plot_prediction_grid", "plot_image_grid", "plot_layer_stats", "plot_memory_breakdown",
           "plot_transfer_grid", "plot_pretraining_curve"]

#: The labels the plots write themselves, in Chinese (``{}`` is filled after translating).
PLOT_TEXT = {
    "parameters": "参数量",
    "{} (log scale)": "{}（对数坐标）",
    "epoch": "迭代周期",
    "loss": "损失",
    "accuracy": "准确率",
    "train loss": "训练损失",
    "val loss": "验证损失",
    "train accuracy": "训练准确率",
    "val accuracy": "验证准确率",
    "train acc": "训练准确率",
    "val acc": "验证准确率",
    "chance ({:.3f})": "随机猜测（{:.3f}）",
    "predicted": "预测类别",
    "true": "真实类别",
    "{} (true {})": "{}（真实：{}）",
    "layer": "层",
    "weights": "权重",
    "gradients": "梯度",
    "optimizer": "优化器状态",
    "activations": "激活值",
    "device memory": "设备内存",
    "labelled images per class": "每类有标签图像数",
    "test accuracy (mean ± std over seeds)": "测试准确率（各随机种子的均值 ± 标准差）",
    "pretraining steps (0 = none)": "预训练步数（0 = 不预训练）",
    "fine-tuned GPT, {} per class": "微调后的 GPT，每类 {} 个",
    "bag of words, {} per class": "词袋，每类 {} 个",
}


def _label(text: str) -> str:
    """A label this module writes, in the language in use (see the module docstring)."""
    return figure_text(text, table=PLOT_TEXT)


def _figure(ax=None, **subplots):
    """``(figure, ax)``: the figure of the ``ax`` given (one axes or several), else a new
    ``plt.subplots(**subplots)``."""
    if ax is None:
        import matplotlib.pyplot as plt

        return plt.subplots(**subplots)
    return (ax.figure if hasattr(ax, "figure") else ax[0].figure), ax


def _finish(fig, title: str | None = None, *, ax=None, layout: bool = True):
    """``title`` on ``ax`` (else above the whole figure), the layout tightened; returns ``fig``."""
    if title:
        ax.set_title(title) if ax is not None else fig.suptitle(title)
    if layout:
        fig.tight_layout()
    return fig


def plot_parameter_counts(rows: Iterable[dict], *, label: str = "name", value: str = "parameters",
                          log: bool = True, title: str | None = None, ax=None):
    """Horizontal bars of ``row[value]`` per ``row[label]``, each bar annotated with its count.

    ``rows`` are plain dicts, e.g. from ``course_utils.params.parameter_table`` or written by
    hand (``[{"name": "Linear", "parameters": 262_656}, ...]``). A log axis (the default) keeps
    a 0-parameter layer and a 100-million one readable together; zeros are drawn as empty bars.
    Returns the Figure (pass ``ax`` to draw into an existing one).
    """
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
    fig, ax = _figure(ax, figsize=(7, 0.35 * len(rows) + 1.2))
    positions = range(len(rows))
    ax.barh(positions, [max(c, 0.5) if log else c for c in counts], color="tab:blue")
    ax.set_yticks(list(positions), names)
    ax.invert_yaxis()  # first row on top, as in a table
    if log:
        ax.set_xscale("log")
    else:
        from matplotlib.ticker import EngFormatter

        ax.xaxis.set_major_formatter(EngFormatter())  # 15 M rather than an offset "1e7"
    biggest = max(max(counts), 1)
    ax.set_xlim(0.5 if log else 0, biggest * (8 if log else 1.25))
    for y, c in zip(positions, counts):
        ax.annotate(f"{c:,}", (max(c, 0.5) if log else c, y), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=8)
    ax.set_xlabel(_label("{} (log scale)").format(_label(value)) if log else _label(value))
    return _finish(fig, title, ax=ax)


def plot_history(history: Iterable[dict], *, baseline: float | None = None,
                 title: str | None = None, axes=None):
    """Loss (left) and accuracy (right) per epoch, train and validation, from ``fit``'s history.

    ``history``: dicts with ``"epoch"`` and any of ``train_loss``, ``val_loss``, ``train_acc``,
    ``val_acc`` (``None`` values -- e.g. no validation set -- are skipped). ``baseline`` draws a
    dashed reference on the loss panel, e.g. ``math.log(num_classes)``, the loss at chance.
    Returns the Figure (pass two matplotlib ``axes`` to draw into existing ones).
    """
    rows = list(history)
    if not rows:
        raise ValueError("plot_history needs at least one epoch; fit(..., epochs=N) returns them")
    if "epoch" not in rows[0]:
        raise KeyError(f"history rows have no 'epoch' key; their keys are {sorted(rows[0])}. "
                       "Pass the list that fit() returns.")
    fig, axes = _figure(axes, nrows=1, ncols=2, figsize=(10, 3.6))
    for ax, metric, label in ((axes[0], "loss", "loss"), (axes[1], "acc", "accuracy")):
        for split, style in (("train", "-o"), ("val", "--s")):
            points = [(r["epoch"], r[f"{split}_{metric}"]) for r in rows
                      if r.get(f"{split}_{metric}") is not None]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, style, markersize=3, label=_label(f"{split} {label}"))
        ax.set_xlabel(_label("epoch"))
        ax.set_ylabel(_label(label))
        ax.grid(alpha=0.3)
    if baseline is not None:
        axes[0].axhline(baseline, color="gray", ls=":", label=_label("chance ({:.3f})").format(baseline))
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    return _finish(fig, title)


def plot_histories(histories: dict, *, metrics: tuple = ("train_loss", "val_acc"),
                   title: str | None = None):
    """Several runs side by side: one panel per metric, one line per run.

    ``histories`` maps a run's name to its ``fit`` history (a list of dicts with ``"epoch"``
    and the ``metrics`` keys). Returns the Figure.
    """
    if not histories:
        raise ValueError("plot_histories needs at least one run: {'name': history, ...}")
    fig, axes = _figure(nrows=1, ncols=len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for name, rows in histories.items():
            points = [(r["epoch"], r[metric]) for r in rows if r.get(metric) is not None]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, "-o", markersize=3, label=name)
        ax.set_xlabel(_label("epoch"))
        ax.set_ylabel(_label(metric.replace("_", " ")))
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8)
    return _finish(fig, title)


def plot_confusion_matrix(matrix, class_names: list, *, title: str | None = None):
    """A confusion matrix as a heat map: row = true class, column = predicted class, counts written in.

    ``matrix``: (C, C) counts (a nested list, NumPy array or tensor). Returns the Figure.
    """
    import numpy as np

    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] != len(class_names):
        raise ValueError(f"matrix must be ({len(class_names)}, {len(class_names)}) for "
                         f"{len(class_names)} class names, got shape {m.shape}")
    fig, ax = _figure(figsize=(0.45 * len(m) + 2.5, 0.45 * len(m) + 2))
    ax.imshow(m, cmap="Blues")
    ticks = range(len(m))
    ax.set_xticks(ticks, class_names)
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel(_label("predicted"))
    ax.set_ylabel(_label("true"))
    for i in ticks:
        for j in ticks:
            if m[i, j]:
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] > m.max() / 2 else "black")
    return _finish(fig, title, ax=ax)


def plot_prediction_grid(images, targets, predictions, class_names: list, *, ncols: int = 8,
                         title: str | None = None):
    """A grid of images titled with their predictions; mistakes in red with the true class.

    ``images``: (N, H, W) or (N, 3, H, W) pixels in [0, 1]; ``targets``, ``predictions``: (N,)
    class indices. Returns the Figure.
    """
    import numpy as np

    images = np.asarray(images)
    if images.ndim == 4:
        images = images.transpose(0, 2, 3, 1)  # (N, 3, H, W) -> (N, H, W, 3) for imshow
    n = len(images)
    if not n == len(targets) == len(predictions):
        raise ValueError(f"{n} images, {len(targets)} targets, {len(predictions)} predictions: "
                         "give one of each per image")
    nrows = -(-n // ncols)
    fig, axes = _figure(nrows=nrows, ncols=ncols, figsize=(1.2 * ncols, 1.35 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, t, p in zip(axes.flat, images, targets, predictions):
        ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        wrong = int(t) != int(p)
        ax.set_title(_label("{} (true {})").format(class_names[int(p)], class_names[int(t)]) if wrong
                     else str(class_names[int(p)]),
                     fontsize=8, color="red" if wrong else "black")
        if wrong:  # a red frame too, for readers who do not see red text
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_color("red")
                spine.set_linewidth(2)
    return _finish(fig, title)


def plot_image_grid(images, titles: list | None = None, *, ncols: int = 8,
                    title: str | None = None, ax=None):
    """Images side by side in one picture: ``images`` (N, 3, H, W) or (N, H, W), pixels in [0, 1].

    ``titles``: one label per image (optional). With ``ax``, the grid is drawn into that one
    axes as a single mosaic (so several grids can share a figure). Returns the Figure.
    """
    import numpy as np

    images = np.asarray(images, dtype=float)
    if images.ndim == 3:
        images = np.repeat(images[:, None], 3, axis=1)  # (N, H, W) -> (N, 3, H, W)
    if images.ndim != 4 or images.shape[1] != 3 or len(images) == 0:
        raise ValueError(f"images must be (N, 3, H, W) or (N, H, W) with N >= 1, got {images.shape}")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    n, _, h, w = images.shape
    nrows, pad = -(-n // ncols), 1 + (h // 16)
    mosaic = np.ones((nrows * (h + pad), ncols * (w + pad), 3))  # white gaps between images
    for i, image in enumerate(images.clip(0, 1)):
        r, c = divmod(i, ncols)
        mosaic[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = image.transpose(1, 2, 0)
    fig, ax = _figure(ax, figsize=(1.1 * ncols, 1.25 * nrows + (0.4 if title else 0)))
    ax.imshow(mosaic, interpolation="nearest")
    ax.axis("off")
    for i, text in enumerate(titles or []):
        r, c = divmod(i, ncols)
        ax.text(c * (w + pad) + w / 2, r * (h + pad) - 0.5, str(text), ha="center", va="bottom",
                fontsize=8)
    if title:
        ax.set_title(title, pad=14 if titles else 6)
    return fig


def plot_layer_stats(series: dict, *, ylabel: str, xlabel: str = "layer", log: bool = True,
                     title: str | None = None, ax=None):
    """One line per run of a statistic per layer (e.g. activation std, gradient norm).

    ``series`` maps a name to a list of numbers, one per layer (input side first). A log axis
    (the default) shows vanishing and exploding values together. Returns the Figure.
    """
    if not series:
        raise ValueError("plot_layer_stats needs at least one series: {'name': [value per layer]}")
    fig, ax = _figure(ax, figsize=(6, 4))
    for name, values in series.items():
        ax.plot(range(1, len(values) + 1), list(values), "-o", markersize=3, label=name)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel=_label(xlabel), ylabel=_label(ylabel))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _finish(fig, title, ax=ax, layout=False)


def plot_memory_breakdown(rows: Iterable[dict], *, label: str = "name",
                          parts: tuple = ("weights", "gradients", "optimizer", "activations"),
                          unit: float = 1e9, unit_name: str = "GB", limit: float | None = None,
                          limit_label: str = "device memory", title: str | None = None, ax=None):
    """Stacked horizontal bars: one bar per row, one segment per memory component.

    ``rows`` are plain dicts of bytes, e.g. ``{"name": "Adam", "weights": 4e9, ...}``; a missing
    part counts as 0. ``limit`` (bytes) draws a vertical line, e.g. one GPU's memory. Returns the
    Figure.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("plot_memory_breakdown needs at least one row")
    if any(label not in r for r in rows):
        raise KeyError(f"every row needs a {label!r} key (pass label=... to use another)")
    fig, ax = _figure(ax, figsize=(7.5, 0.45 * len(rows) + 1.4))
    positions = list(range(len(rows)))
    left = [0.0] * len(rows)
    for part in parts:
        widths = [r.get(part, 0) / unit for r in rows]
        ax.barh(positions, widths, left=left, label=_label(part))
        left = [a + b for a, b in zip(left, widths)]
    for y, total in zip(positions, left):
        ax.annotate(f"{total:,.1f} {unit_name}", (total, y), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=8)
    if limit is not None:
        ax.axvline(limit / unit, color="black", linestyle="--", linewidth=1)
        ax.annotate(_label(limit_label), (limit / unit, len(rows) - 0.5), xytext=(3, 0),
                    textcoords="offset points", fontsize=8)
    ax.set_yticks(positions, [str(r[label]) for r in rows])
    ax.invert_yaxis()  # first row on top, as in a table
    ax.set_xlim(0, max(left + [limit / unit if limit else 0]) * 1.25)
    ax.set_xlabel(unit_name)
    ax.legend(fontsize=8, loc="lower right")
    return _finish(fig, title, ax=ax)


def plot_transfer_grid(rows: Iterable[dict], panels: Iterable[tuple], arms: Iterable[str], *,
                       ylabel: str = "test accuracy (mean ± std over seeds)"):
    """Accuracy against labelled images per class, one panel per target, one line per arm.

    ``rows``: dicts with "target", "arm", "k" and "acc" (one per seed, e.g. the transfer grid's
    CSV rows); ``panels``: (target, title, sizes) triples; mean ± std over the rows of each point.
    """
    import statistics

    groups: dict = {}
    for r in rows:
        groups.setdefault((r["target"], r["arm"], int(r["k"])), []).append(float(r["acc"]))
    panels, arms = list(panels), list(arms)
    fig, axes = _figure(nrows=1, ncols=len(panels), figsize=(5 * len(panels), 3.8), sharey=True, squeeze=False)
    for ax, (target, title, sizes) in zip(axes[0], panels):
        for arm in arms:
            ks = [k for k in sizes if len(groups.get((target, arm, k), ())) > 1]
            if ks:
                accs = [groups[target, arm, k] for k in ks]
                ax.errorbar(ks, [statistics.mean(a) for a in accs], yerr=[statistics.stdev(a) for a in accs],
                            marker="o", capsize=3, label=arm)
        ax.set(title=title, xscale="log", xlabel=_label("labelled images per class"))
        ax.set_xticks(list(sizes), [str(k) for k in sizes])
        ax.minorticks_off()  # a log axis would otherwise label 2x10^1, 3x10^1, ...
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(_label(ylabel))
    if axes[0][-1].get_legend_handles_labels()[0]:
        axes[0][-1].legend(loc="lower right")
    return _finish(fig)


def plot_pretraining_curve(summary: dict, sizes: Iterable[int], *, ax=None,
                           ylabel: str = "test accuracy (mean ± std over seeds)"):
    """Fine-tuning accuracy against pretraining steps (log axis; 0 = no pretraining, drawn half a
    step left of the first budget), one line per training size, bag of words dashed beside it.

    ``summary``: ``{(arm, steps, per_class): (mean, std, n)}`` as ``lm_curve.curve_summary``
    returns, with arms "scratch" (steps 0), "full" and "bag of words" (steps None).
    """
    fig, ax = _figure(ax, figsize=(6.5, 3.8))
    budgets = sorted({steps for arm, steps, _ in summary if arm != "bag of words"})
    first = min(b for b in budgets if b) if any(budgets) else 1
    x_of = {b: (b if b else first / 2) for b in budgets}
    for i, k in enumerate(sizes):
        color = f"C{i}"
        points = [(x_of[b], *summary["full" if b else "scratch", b, k][:2]) for b in budgets]
        xs, means, stds = zip(*points)
        ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, color=color,
                    label=_label("fine-tuned GPT, {} per class").format(k))
        if ("bag of words", None, k) in summary:
            ax.axhline(summary["bag of words", None, k][0], color=color, linestyle="--",
                       label=_label("bag of words, {} per class").format(k))
    ax.set(xscale="log", xlabel=_label("pretraining steps (0 = none)"), ylabel=_label(ylabel))
    ax.set_xticks([x_of[b] for b in budgets], [str(b) for b in budgets])
    ax.minorticks_off()
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return _finish(fig)
