"""The stored outputs of a notebook compared with a fresh run, exactly as ``pytest --nbval`` does.

The browser test runs a notebook once, in JupyterLab, and uses this module to make that run the
strict check of its stored outputs as well, so that no notebook is executed twice in ``make test``
(see ``conftest.py``: nbval then skips the notebooks the browser checks).

nbval's own code does the comparing: its cell markers and tags (``# NBVAL_IGNORE_OUTPUT``,
``# NBVAL_SKIP``, ``raises-exception``), ``coalesce_streams`` and ``IPyNbCell.compare_outputs``
(which output keys are compared: text and HTML, not images, widget model ids or metadata), with the
sanitize file that ``pyproject.toml`` passes to nbval. One thing differs between a kernel and
JupyterLab and is bridged here: what an ``ipywidgets.interact`` callback prints or shows goes, in
JupyterLab, into the interact's Output widget instead of the cell's outputs. The caller passes
what that widget shows (its text, and how many images), and it is compared with the cell's stored
stream text and image count (trailing spaces ignored: the page gives text, not the raw stream).
"""

from __future__ import annotations

import difflib
import json
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import nbformat
from nbformat.v4.rwbase import rejoin_lines
from nbval.plugin import (
    IPyNbCell,
    coalesce_streams,
    find_comment_markers,
    find_metadata_tags,
    get_sanitize_patterns,
    nocolors,
)

from tools.nbenv import SANITIZE

#: The output keys nbval does not compare in strict mode (IPyNbFile.skip_compare without --nbdime).
SKIP_COMPARE = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")
IMAGES = ("image/png", "image/jpeg", "image/svg+xml")


class _Cell:
    """Just enough of an nbval cell item for its comparison methods to run unchanged."""

    colors = nocolors
    compare_outputs = IPyNbCell.compare_outputs
    sanitize = IPyNbCell.sanitize

    def __init__(self, patterns: dict) -> None:
        self.parent = SimpleNamespace(sanitize_patterns=patterns, skip_compare=SKIP_COMPARE)
        self.comparison_traceback: list[str] = []

    def format_output_compare(self, key, left, right) -> None:
        diff = difflib.unified_diff(str(left).splitlines(), str(right).splitlines(),
                                    "stored", "this run", lineterm="", n=1)
        self.comparison_traceback.append(f"mismatch {key!r}:\n" + "\n".join(list(diff)[:40]))


def sanitize_patterns(path: Path = SANITIZE) -> dict:
    """The regex -> replacement pairs of nbval's sanitize file, in order."""
    return dict(get_sanitize_patterns(Path(path).read_text(encoding="utf-8")))


def cell_options(cell: nbformat.NotebookNode) -> dict:
    """nbval's options for one code cell: ``check`` (compare outputs), ``skip``, ``check_exception``."""
    options = defaultdict(bool, find_metadata_tags(cell.metadata))
    options.update(dict(find_comment_markers(cell.source)))
    options.setdefault("check", True)
    return options


def from_lab_json(raw: dict) -> nbformat.NotebookNode:
    """A notebook node from JupyterLab's ``model.toJSON()``, with multi-line strings joined as
    ``nbformat.read`` joins them (so that both sides of a comparison look alike)."""
    raw = json.loads(json.dumps(raw))
    for cell in raw.get("cells", []):
        if cell.get("attachments", 0) is None:
            del cell["attachments"]
    return rejoin_lines(nbformat.from_dict(raw))


def _is_image(output) -> bool:
    return any(k in output.get("data", {}) for k in IMAGES)


def _strip_lines(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def compare_cell(stored: nbformat.NotebookNode, executed: nbformat.NotebookNode,
                 patterns: dict, interact: dict | None = None) -> str | None:
    """``None`` when ``executed``'s outputs match ``stored``'s as nbval would judge them, else why.

    ``interact``: for a cell showing an ``interact`` widget, ``{"text": ..., "images": n}`` as the
    page shows them inside the widget.
    """
    options = cell_options(stored)
    if options["skip"] or not options["check"] or stored.get("execution_count") is None:
        return None
    reference = coalesce_streams([nbformat.from_dict(o) for o in stored.outputs])
    test = coalesce_streams([nbformat.from_dict(o) for o in executed.get("outputs", [])])
    if interact is not None:
        stored_images = sum(1 for o in reference if _is_image(o))
        if interact.get("images", 0) != stored_images:
            return (f"the interact widget shows {interact.get('images', 0)} image(s), the stored "
                    f"output has {stored_images}")
        # JupyterLab puts the callback's prints and figures inside the widget, and what the cell
        # prints itself before or after interact() in the cell's outputs: together they must be
        # the stored streams; the rest (the widget itself) is compared as nbval does.
        stored_text = "".join(o.text for o in reference if o.output_type == "stream")
        cell_text = "".join(o.text for o in test if o.output_type == "stream")
        reference = [o for o in reference if o.output_type != "stream" and not _is_image(o)]
        test = [o for o in test if o.output_type != "stream"]
        cell = _Cell(patterns)
        shown, want = interact.get("text", ""), _strip_lines(cell.sanitize(stored_text))
        seen = [_strip_lines(cell.sanitize(a + b)) for a, b in ((cell_text, shown), (shown, cell_text))]
        if want not in seen:
            cell.format_output_compare("interact output", want, seen[0])
            return "\n".join(cell.comparison_traceback)
    cell = _Cell(patterns)
    if cell.compare_outputs(test, reference):
        return None
    return "\n".join(cell.comparison_traceback)


def compare_notebook(stored: nbformat.NotebookNode, executed: nbformat.NotebookNode,
                     patterns: dict | None = None, interacts: dict[int, dict] | None = None) -> list[str]:
    """One line (or block) per code cell whose fresh outputs differ from the stored ones."""
    patterns = sanitize_patterns() if patterns is None else patterns
    interacts = interacts or {}
    if len(stored.cells) != len(executed.cells):
        return [f"the run has {len(executed.cells)} cells, the stored notebook {len(stored.cells)}"]
    problems = []
    for i, (ref, run) in enumerate(zip(stored.cells, executed.cells)):
        if ref.cell_type != "code":
            continue
        why = compare_cell(ref, run, patterns, interacts.get(i))
        if why:
            first = ref.source.strip().splitlines()[0][:60] if ref.source.strip() else ""
            problems.append(f"cell {i} ({first!r}): outputs differ from the stored ones\n{why}")
    return problems
