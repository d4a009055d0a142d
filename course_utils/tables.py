"""The tables the notebooks print, in the learner's language: column names through
:func:`course_utils.printed.term`, widths in screen columns (:func:`course_utils.i18n.columns`: a
Chinese character takes 5/3 of a column in JupyterLab's font), so that the Chinese edition's tables
line up as the English ones do.

* :func:`format_table` -- rows of :func:`course_utils.params.parameter_table` or
  :func:`~course_utils.params.group_rows` (plain dicts) as aligned text with a total line.
"""

from __future__ import annotations

from collections.abc import Iterable

from course_utils.i18n import Text, columns
from course_utils.printed import say, term

__all__ = ["format_table"]

#: The columns :func:`format_table` shows, in this order, when the rows have them.
COLUMNS = ("name", "type", "shape", "parameters", "trainable", "layers", "formula")
NUMERIC = {"parameters", "trainable", "layers"}  # right-aligned, summed in the total line


def format_table(rows: Iterable[dict], max_rows: int | None = None) -> str:
    """Render rows (from :func:`~course_utils.params.parameter_table` or
    :func:`~course_utils.params.group_rows`) as aligned text, a total line under them; with
    ``max_rows``, only the first rows and how many more there are."""
    rows = list(rows)
    if not rows:
        return say("(no rows: the model has no parameters)")
    names = [c for c in COLUMNS if c in rows[0]]
    shown = rows if max_rows is None or len(rows) <= max_rows else rows[:max_rows]

    def cell(row, c):
        return f"{row[c]:,}" if isinstance(row[c], int) else str(row[c])

    total = {c: "" for c in names} | {"name": term("total")}
    for c in NUMERIC & set(names):
        total[c] = sum(r[c] for r in rows)
    header = [term(c) for c in names]
    body = [[cell(r, c) for c in names] for r in shown]
    foot = [cell(total, c) for c in names]
    widths = [max(columns(v) for v in column) for column in zip(header, *body, foot)]

    def line(values):
        return "  ".join(format(Text(v), f"{'>' if c in NUMERIC else '<'}{w}")
                         for v, w, c in zip(values, widths, names)).rstrip()

    rule = line(["-" * w for w in widths])
    out = [line(header), rule] + [line(v) for v in body]
    if len(shown) < len(rows):
        out.append(say("... {n} more rows", n=len(rows) - len(shown)))
    return "\n".join(out + [rule, line(foot)])
