"""Under pytest-xdist (`make test` on 4+ cores), conftest.py decides what must share one worker."""

import importlib.util
import re

import pytest

from tools.nbenv import ROOT

_spec = importlib.util.spec_from_file_location("course_conftest", ROOT / "conftest.py")
conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conftest)


def test_a_notebooks_cells_share_a_group_and_other_notebooks_do_not():
    cell = "notebooks/03_sgd_and_the_training_loop.ipynb::Cell {}"
    assert conftest.group_of(cell.format(0)) == conftest.group_of(cell.format(12)) is not None
    assert conftest.group_of("notebooks/zh/03_sgd_and_the_training_loop.ipynb::Cell 0") \
        not in {None, conftest.group_of(cell.format(0))}


def test_the_readers_of_a_cache_share_the_group_of_the_notebook_that_fills_it():
    fills = conftest.group_of("notebooks/07_small_gpt.ipynb::Cell 3")
    assert fills == "gpt"
    for reader in ("notebooks/08_instruction_tuning.ipynb::Cell 0",
                   "notebooks/zh/08_instruction_tuning.ipynb::Cell 5",
                   "tests/test_browser.py::test_notebook_in_browser[zh/07_small_gpt.ipynb]"):
        assert conftest.group_of(reader) == fills, reader
    assert conftest.group_of("tests/test_transfer_grid.py::test_one_transfer_cell_reruns_to_the_stored_"
                             "accuracy") == conftest.group_of("notebooks/05_finetuning_resnet50"
                                                              ".ipynb::Cell 1") == "resnet50"


def test_a_unit_test_may_go_anywhere():
    assert conftest.group_of("tests/test_gpt.py::test_attention_is_causal") is None


@pytest.mark.parametrize("chain", list(conftest.CHAINS))
def test_every_chain_member_exists(chain):
    """A renamed notebook or test would silently leave its chain (and race for the cache)."""
    notebooks = {p.stem for p in (ROOT / "notebooks").rglob("*.ipynb")}
    tests = set(re.findall(r"^def (test_\w+)", "\n".join(
        p.read_text() for p in (ROOT / "tests").glob("test_*.py")), re.M))
    for member in conftest.CHAINS[chain]:
        assert member in notebooks | tests, f"{member} (chain {chain!r}) names no notebook or test"


def test_only_a_worker_runs_the_chains_first(monkeypatch):
    class Item:
        def __init__(self, nodeid):
            self.nodeid = nodeid

    ids = ["tests/test_gpt.py::test_a", "notebooks/zh/08_instruction_tuning.ipynb::Cell 0",
           "tests/test_browser.py::test_notebook_runs_in_jupyterlab[04_developing_a_deep_model.ipynb]"]
    items = [Item(i) for i in ids]
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    conftest.pytest_collection_modifyitems(None, items)
    assert [i.nodeid for i in items] == ids  # one process: pytest's order, the browser module whole
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    conftest.pytest_collection_modifyitems(None, items)
    assert [i.nodeid for i in items] == [ids[2], ids[1], ids[0]]  # resnet50, then gpt, then the rest
