"""tools/affected.py: the notebooks `make check` runs for a change must include every notebook the
change can reach. The oracle is Python itself: a notebook's imports, run in a fresh interpreter,
load modules; a change to any of them must bring that notebook."""

import ast
import json
import subprocess
import sys

import pytest

from tools.affected import affected, main
from tools.import_graph import ROOT, module_files
from tools.nbenv import all_notebooks

NOTEBOOKS = [p.relative_to(ROOT).as_posix() for p in all_notebooks()]  # English, then Chinese


def test_a_notebook_brings_itself_and_its_twin_only():
    assert list(affected(["notebooks/zh/03_sgd_and_the_training_loop.ipynb"])) == [
        "notebooks/03_sgd_and_the_training_loop.ipynb", "notebooks/zh/03_sgd_and_the_training_loop.ipynb"]


def test_prose_benchmarks_and_unit_tests_bring_no_notebook():
    assert affected(["README.md", "CONTRIBUTING.md", "tests/test_gpt.py", "benchmarks/cli_quality.py"]) == {}


@pytest.mark.parametrize("shared", ["pyproject.toml", "constraints-test.txt", "conftest.py",
                                    "tests/nbval_sanitize.cfg"])
def test_what_every_run_shares_brings_every_notebook_english_first(shared):
    assert list(affected([shared])) == NOTEBOOKS


def test_the_command_line_reaches_the_notebook_that_runs_it():
    found = affected(["course_utils/cli/predict.py"])
    runs_cli = [nb for nb in NOTEBOOKS if "-m course_utils" in _code(nb)]
    assert runs_cli and set(runs_cli) <= set(found)


def test_a_results_table_reaches_the_notebooks_that_read_it():
    found = affected(["course_utils/experiments/results/gpt_pretraining_curve.csv"])
    assert "notebooks/07_small_gpt.ipynb" in found and "notebooks/zh/07_small_gpt.ipynb" in found
    assert "notebooks/02_cross_entropy.ipynb" not in found  # it imports no experiment


def _code(notebook: str) -> str:
    cells = json.loads((ROOT / notebook).read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def _imports_of(notebook: str) -> str:
    """Every import statement of a notebook's code cells (inside functions too), one per line."""
    cells = json.loads((ROOT / notebook).read_text(encoding="utf-8"))["cells"]
    lines = []
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or source.lstrip().startswith(("!", "%")):
            continue
        lines += [ast.unparse(node) for node in ast.walk(ast.parse(source))
                  if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.parametrize("notebook", ["notebooks/00_setup.ipynb",  # the command line's doctor
                                      "notebooks/07_small_gpt.ipynb"])  # the most modules of all
def test_every_module_a_notebook_loads_brings_that_notebook(notebook):
    probe = _imports_of(notebook) + "\nimport sys\nprint(*(m for m in sys.modules if m.startswith('course_utils.')))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout.split()
    files = module_files()
    names = [m.removeprefix("course_utils.") for m in loaded]
    assert len(names) >= 3, f"the probe loaded too little to mean anything: {names}"
    missed = [m for m in names if notebook not in affected([files[m].relative_to(ROOT).as_posix()])]
    assert not missed, f"a change to {missed} would not run {notebook}"


def test_the_command_prints_notebook_paths_only(capsys):
    assert main(["--base", "HEAD"]) == 0
    printed = capsys.readouterr().out.split()
    assert all(line in NOTEBOOKS for line in printed), printed


def test_an_unknown_base_is_a_clear_error():
    with pytest.raises(SystemExit, match="cannot compare with 'no-such-revision'"):
        main(["--base", "no-such-revision"])
