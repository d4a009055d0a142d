"""Keep the Chinese notebooks (``notebooks/zh/``) the twins of the English ones.

    python -m tools.zh_drift                      # report every drift; exit 1 if any
    python -m tools.zh_drift --scaffold 04_x.ipynb # start a Chinese twin: English code, Markdown to translate
    python -m tools.zh_drift --stamp zh/04_x.ipynb # after translating: record which English text it follows
    python -m tools.zh_drift --sync-code zh/04_x.ipynb  # copy changed English code cells (then re-execute)
    python -m tools.zh_drift --rebuild zh/04_x.ipynb    # English cells added/removed: re-pair, keep translations

The rules (``tests/test_zh_drift.py`` enforces them):

* the same cells in the same order: code for code, Markdown for Markdown;
* each code cell's CODE equals the English one's after comments and blank lines are stripped
  (comments may be translated; code may not differ), with the same nbval markers
  (``# NBVAL_*`` lines) and the same cell tags. Except cell 1, the setup cell tagged
  ``colab-setup``: ``tools/sync_notebooks.py`` writes it per language and checks it;
* each translated Markdown cell records the SHA-1 of the English text it translates
  (``metadata.zh.source_sha1``); when the English cell changes, the tool names the Chinese cell
  that needs attention. ``--stamp`` records the current English text after a translation.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
import re
import sys
import tokenize
from pathlib import Path

import nbformat

from tools.nbenv import NOTEBOOKS
from tools.sync_notebooks import SETUP_TAG, course_config, setup_source

ZH = NOTEBOOKS / "zh"
MARKER = re.compile(r"^\s*#\s*(NBVAL_[A-Z_]+)\s*$", re.M)
TODO = "<!-- zh: translate the English text below, then run python -m tools.zh_drift --stamp -->\n"


def strip_comments(source: str) -> str:
    """The code of a cell without comments, blank lines and trailing spaces.

    Python is tokenized (so '#' inside a string stays); a cell that is not plain Python
    (IPython magics, shell escapes) falls back to dropping whole-line comments.
    """
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
                  if t.type != tokenize.COMMENT]
        text = tokenize.untokenize(tokens)
    except (tokenize.TokenError, IndentationError, SyntaxError, ValueError):
        text = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
    lines = (line.rstrip() for line in text.splitlines())
    return "\n".join(line for line in lines if line.strip())


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def twin(zh_path: Path) -> Path:
    """The English notebook a Chinese one translates (same file name, one folder up)."""
    return zh_path.parent.parent / zh_path.name


def is_setup_cell(index: int, cell) -> bool:
    """Cell 1 tagged ``colab-setup``: written per language by ``tools.sync_notebooks`` (checked
    there), so its code is not compared with the English cell's."""
    return index == 1 and cell.cell_type == "code" and SETUP_TAG in cell.metadata.get("tags", [])


def _chinese_setup(cell) -> None:
    """Give a copied English setup cell the Chinese setup code (``tools.sync_notebooks``)."""
    cell.source = setup_source(course_config(), "zh")


def _first_difference(a: str, b: str) -> str:
    for n, (x, y) in enumerate(zip(a.splitlines(), b.splitlines()), 1):
        if x != y:
            return f"line {n}: English {x.strip()!r} vs Chinese {y.strip()!r}"
    return "one has more lines than the other"


def drift(en_nb, zh_nb, name: str) -> list[str]:
    """Every difference between an English notebook and its Chinese twin, one line each,
    naming the notebook and the cell (0-based index, as ``nbformat`` and JupyterLab count)."""
    found = []
    if len(en_nb.cells) != len(zh_nb.cells):
        found.append(f"zh/{name}: {len(zh_nb.cells)} cells, the English notebook has "
                     f"{len(en_nb.cells)} (cells must pair one-to-one)")
    for i, (en, zh) in enumerate(zip(en_nb.cells, zh_nb.cells)):
        where = f"zh/{name} cell {i}"
        if en.cell_type != zh.cell_type:
            found.append(f"{where}: a {zh.cell_type} cell where the English has a {en.cell_type} cell")
            continue
        if en.cell_type == "code":
            generated = is_setup_cell(i, en) and is_setup_cell(i, zh)
            if not generated and strip_comments(en.source) != strip_comments(zh.source):
                found.append(f"{where}: code differs from the English cell "
                             f"({_first_difference(strip_comments(en.source), strip_comments(zh.source))})")
            if MARKER.findall(en.source) != MARKER.findall(zh.source):
                found.append(f"{where}: nbval markers {MARKER.findall(zh.source)} differ from the "
                             f"English {MARKER.findall(en.source)}")
            if en.metadata.get("tags", []) != zh.metadata.get("tags", []):
                found.append(f"{where}: tags {zh.metadata.get('tags', [])} differ from the English "
                             f"{en.metadata.get('tags', [])}")
        elif en.cell_type == "markdown":
            recorded = zh.metadata.get("zh", {}).get("source_sha1")
            if zh.source.startswith(TODO):
                found.append(f"{where}: not translated yet")
            elif recorded != sha1(en.source):
                found.append(f"{where}: the English Markdown changed since this translation "
                             "(update it, then --stamp)")
    return found


def check(paths: list[Path] | None = None) -> list[str]:
    """Drift of every Chinese notebook (or of ``paths``) against its English twin."""
    paths = sorted(ZH.glob("*.ipynb")) if paths is None else paths
    found = []
    for path in paths:
        en = twin(path)
        if not en.is_file():
            found.append(f"zh/{path.name}: no English notebook {en.name} to translate")
            continue
        found += drift(nbformat.read(en, as_version=4), nbformat.read(path, as_version=4), path.name)
    return found


def scaffold(en_path: Path) -> Path:
    """Write ``zh/<name>``: the English notebook, outputs cleared, each Markdown cell marked
    to translate. Refuses to overwrite an existing twin."""
    zh_path = ZH / en_path.name
    if zh_path.exists():
        raise FileExistsError(f"{zh_path} exists: edit it, or delete it to start again")
    nb = nbformat.read(en_path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if is_setup_cell(i, cell):
                _chinese_setup(cell)
        elif cell.cell_type == "markdown":
            cell.source = TODO + cell.source
    ZH.mkdir(exist_ok=True)
    nbformat.write(nb, zh_path)
    return zh_path


def stamp(zh_path: Path) -> int:
    """Record, in each translated Markdown cell, the SHA-1 of the English text it now follows.
    Returns how many cells were stamped (cells still marked to translate are skipped)."""
    en_nb = nbformat.read(twin(zh_path), as_version=4)
    zh_nb = nbformat.read(zh_path, as_version=4)
    stamped = 0
    for en, zh in zip(en_nb.cells, zh_nb.cells):
        if en.cell_type == zh.cell_type == "markdown" and not zh.source.startswith(TODO):
            zh.metadata.setdefault("zh", {})["source_sha1"] = sha1(en.source)
            stamped += 1
    nbformat.write(zh_nb, zh_path)
    return stamped


def sync_code(zh_path: Path) -> list[int]:
    """Copy every English code cell whose code differs into the Chinese twin (its comments
    become the English ones: translate them again). The setup cell stays Chinese. Returns the
    indices copied."""
    en_nb = nbformat.read(twin(zh_path), as_version=4)
    zh_nb = nbformat.read(zh_path, as_version=4)
    if [c.cell_type for c in en_nb.cells] != [c.cell_type for c in zh_nb.cells]:
        raise ValueError(f"{zh_path.name}: the cells do not pair one-to-one; insert or delete "
                         "cells by hand first (python -m tools.zh_drift shows where)")
    copied = []
    for i, (en, zh) in enumerate(zip(en_nb.cells, zh_nb.cells)):
        if en.cell_type == "code" and (strip_comments(en.source) != strip_comments(zh.source)
                                       or en.metadata.get("tags") != zh.metadata.get("tags")):
            if is_setup_cell(i, en) and is_setup_cell(i, zh):
                continue
            zh_nb.cells[i] = copy.deepcopy(en)
            if is_setup_cell(i, en):
                _chinese_setup(zh_nb.cells[i])
            copied.append(i)
    nbformat.write(zh_nb, zh_path)
    return copied


def rebuild(zh_path: Path) -> list[int]:
    """Re-pair a Chinese twin with its English notebook after cells were added, removed or moved.

    The result has the English cells, in order: a Markdown cell keeps the Chinese translation
    stamped with that very English text (wherever it was), a code cell keeps the Chinese cell
    with the same code (its translated comments), the setup cell gets the Chinese setup code;
    anything else is the English cell, Markdown marked to translate. Outputs are cleared
    (re-execute). Returns the Markdown cells to translate.
    """
    en_nb = nbformat.read(twin(zh_path), as_version=4)
    old = nbformat.read(zh_path, as_version=4)
    translated = {c.metadata["zh"]["source_sha1"]: c for c in old.cells if c.cell_type == "markdown"
                  and "source_sha1" in c.metadata.get("zh", {}) and not c.source.startswith(TODO)}
    code = {strip_comments(c.source): c for c in old.cells if c.cell_type == "code"}
    cells, todo = [], []
    for i, en in enumerate(en_nb.cells):
        cell = copy.deepcopy(en)
        if en.cell_type == "markdown":
            if sha1(en.source) in translated:
                cell = copy.deepcopy(translated[sha1(en.source)])
            else:
                cell.source = TODO + en.source
                todo.append(i)
        elif en.cell_type == "code":
            kept = code.get(strip_comments(en.source))
            if is_setup_cell(i, en):
                _chinese_setup(cell)
            elif kept is not None and MARKER.findall(kept.source) == MARKER.findall(en.source):
                cell.source = kept.source
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    old.cells = cells
    nbformat.write(old, zh_path)
    return todo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--scaffold", type=Path, metavar="EN_NOTEBOOK")
    group.add_argument("--stamp", type=Path, metavar="ZH_NOTEBOOK")
    group.add_argument("--sync-code", type=Path, metavar="ZH_NOTEBOOK")
    group.add_argument("--rebuild", type=Path, metavar="ZH_NOTEBOOK")
    args = parser.parse_args(argv)

    def resolve(path: Path, folder: Path) -> Path:
        return path if path.is_file() else folder / path.name

    if args.scaffold:
        print(f"wrote {scaffold(resolve(args.scaffold, NOTEBOOKS))}: translate its Markdown cells")
        return 0
    if args.stamp:
        print(f"stamped {stamp(resolve(args.stamp, ZH))} Markdown cells")
        return 0
    if args.sync_code:
        cells = sync_code(resolve(args.sync_code, ZH))
        print(f"copied English code into cells {cells}: translate their comments, re-execute")
        return 0
    if args.rebuild:
        todo = rebuild(resolve(args.rebuild, ZH))
        print(f"re-paired with the English cells; Markdown cells to translate: {todo or 'none'}; "
              "then --stamp and re-execute")
        return 0
    found = check()
    for line in found:
        print(line)
    print(f"{len(found)} Chinese cell(s) need attention" if found else "no drift")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
