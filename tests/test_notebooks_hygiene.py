"""Every notebook was produced by one clean run and follows the course's pattern."""

import re
import tomllib
from pathlib import Path

import nbformat
import pytest

from tools.nbenv import NOTEBOOKS, ROOT
from tools.sync_notebooks import course_config, problems

PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
MARKER = re.compile(r"#\s*NBVAL_\w+")
EXCLUDING = re.compile(r"^# (NBVAL_IGNORE_OUTPUT|NBVAL_SKIP)$", re.M)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def test_notebooks_are_numbered_in_order():
    names = [p.name for p in PATHS]
    assert names, "no notebooks found: nbval would test nothing"
    numbers = [int(re.match(r"^(\d\d)_[a-z0-9_]+\.ipynb$", n).group(1)) for n in names]
    assert numbers == list(range(len(numbers))), f"notebooks must be 00_, 01_, ... in order: {names}"


@pytest.fixture(params=PATHS, ids=[p.name for p in PATHS])
def nb(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_one_clean_top_to_bottom_run(nb):
    path, notebook = nb
    counts = [c.execution_count for c in code_cells(notebook)]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..N; re-run "
        f"`python -m tools.execute_notebooks {path.relative_to(ROOT)}` and commit")


def test_no_stored_errors_or_warnings(nb):
    path, notebook = nb
    for i, cell in enumerate(notebook.cells):
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"{path.name} cell {i}: stored error {out.get('ename')}"
            if out.output_type == "stream" and out.name == "stderr":
                assert "Warning" not in out.text, f"{path.name} cell {i}: a warning is stored: {out.text[:200]}"


def test_badge_setup_cell_and_seed_cell(nb):
    path, notebook = nb
    assert problems(path, course_config()) == []
    seed_cell = notebook.cells[2].source
    assert "pin_threads()" in seed_cell and "seed_everything(" in seed_cell, (
        f"{path.name}: cell 2 must pin threads and seed (see CONTRIBUTING.md)")
    assert notebook.metadata.kernelspec.name == "python3"


def test_summary_and_exercises(nb):
    path, notebook = nb
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert re.search(r"^#+ .*Summary", text, re.M), f"{path.name}: no Summary heading"
    assert re.search(r"^#+ .*Exercises", text, re.M), f"{path.name}: no Exercises heading"
    assert any("Exercise(" in c.source for c in code_cells(notebook)), f"{path.name}: no self-checking exercise"


def test_few_cells_excluded_from_comparison(nb):
    path, notebook = nb
    cells = code_cells(notebook)
    excluded = [c for c in cells if EXCLUDING.search(c.source)]
    assert len(excluded) <= len(cells) // 3, (
        f"{path.name}: {len(excluded)} of {len(cells)} code cells are excluded from comparison")


def test_nbval_markers_stand_alone(nb):
    """`# NBVAL_IGNORE_OUTPUT - because...` is silently ignored by nbval."""
    path, notebook = nb
    for cell in code_cells(notebook):
        for line in cell.source.splitlines():
            if MARKER.search(line):
                assert re.fullmatch(r"# NBVAL_(IGNORE_OUTPUT|SKIP|CHECK_OUTPUT|RAISES_EXCEPTION)", line.strip()), (
                    f"{path.name}: marker line {line!r} must be alone on its line")


def test_suite_runs_strict_nbval_over_notebooks():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    options = config["addopts"].split()
    assert "--nbval" in options and "--nbval-lax" not in options
    assert "notebooks" in config["testpaths"]


def test_readme_and_ci_run_the_same_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1)
    assert [l.split("#")[0].strip() for l in first_block.splitlines() if l.strip()][:2] == ["make lab", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test(\s|$)", ci, re.M), ".ci/run must run the README's command, make test"
