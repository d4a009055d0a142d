"""Repository-wide pytest configuration: the environment notebook kernels inherit, one nbval
adjustment so that a cell behaves under test exactly as it does in JupyterLab, and which
notebooks nbval leaves to the browser test.

Each notebook is executed once per ``make test``. The browser test (``tests/test_browser.py``)
runs a notebook in JupyterLab and compares its outputs with the stored ones exactly as nbval
does (``tests/stored_outputs.py``); for the notebooks it runs, nbval's own run would repeat the
same check, so nbval skips them. It does so only when the browser test will really run them in
this session: Chromium and Playwright present, ``tests/test_browser.py`` among the collected
paths, its marker not deselected (``-m "not browser"``) and no ``-k`` filter. A notebook named
on the command line (``pytest notebooks/03_x.ipynb``) is always checked by nbval.
"""

import importlib.util
import os
from pathlib import Path

from tools.nbenv import OUTPUTS_CPU, ROOT, configure_env, cpu_kind

BROWSER_TEST = ROOT / "tests" / "test_browser.py"


def _execute_like_jupyterlab(self, cell_input, allow_stdin=None):
    # nbval 0.11 executes cells with store_history=False. IPython then does not see a cell's
    # trailing ';' (its check reads the input history), so `plt.plot(x);` or `interact(f);`
    # would print a repr under test that JupyterLab, Colab and nbclient never show.
    return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin,
                           stop_on_error=False)


def pytest_configure(config):
    configure_env()  # kernels started by nbval inherit this process's environment
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(GroupScheduling(), "course-group-scheduling")
    try:
        from nbval.kernel import RunningKernel
    except ImportError:  # nbval not installed: unit tests still run
        return
    RunningKernel.execute_cell_input = _execute_like_jupyterlab


def pytest_report_header(config):
    """Which CPU made the stored outputs and which runs them: on another kind of CPU a notebook's
    last printed digits can differ (see CONTRIBUTING, "what keeps the stored outputs reproducible")."""
    made_on = OUTPUTS_CPU.read_text().strip() if OUTPUTS_CPU.exists() else "not recorded"
    here = cpu_kind()
    lines = [f"stored outputs made on: {made_on}", f"this CPU:               {here}"]
    if made_on != here:
        lines.append("  another kind of CPU: stored numbers may differ in their last digits here")
    return lines


def _browser_test_runs(config) -> bool:
    from _pytest.mark.expression import Expression

    from tests.browser_support import chromium_path

    if config.option.keyword or importlib.util.find_spec("playwright") is None or not chromium_path():
        return False
    markexpr = config.option.markexpr
    if markexpr and not Expression.compile(markexpr).evaluate(lambda name: name == "browser"):
        return False
    paths = [Path(a.split("::")[0]).resolve() for a in config.args] or [ROOT]
    return any(p == BROWSER_TEST or p in BROWSER_TEST.parents for p in paths)


def pytest_ignore_collect(collection_path, config):
    if collection_path.suffix != ".ipynb" or config.getoption("nbval", default=False) is False:
        return None
    if collection_path.resolve() in {Path(a.split("::")[0]).resolve() for a in config.args}:
        return None  # named on the command line: nbval checks it
    if not hasattr(config, "_course_browser_runs"):
        config._course_browser_runs = _browser_test_runs(config)
    if not config._course_browser_runs:
        return None
    from tests.test_browser import checked_in_browser

    return True if checked_in_browser(collection_path) else None


#: Notebooks that fill a cache which later ones read (the course ResNet-50, the GPT and its SFT
#: runs), with the tests that read it, English and Chinese. Under pytest-xdist (`make test` on
#: four cores or more) each chain goes to one worker as a whole, in this order, and first, since it
#: is the longest work there is.
CHAINS = {
    "resnet50": ("04_developing_a_deep_model", "05_finetuning_resnet50",
                 "test_one_transfer_cell_reruns_to_the_stored_accuracy"),
    "gpt": ("07_small_gpt", "08_instruction_tuning"),
}


def chain_of(nodeid: str) -> str | None:
    """The chain (a key of :data:`CHAINS`) a test belongs to, if any: its id names a member
    (a notebook's cell under nbval, its browser test, a unit test)."""
    return next((chain for chain, members in CHAINS.items()
                 if any(member in nodeid for member in members)), None)


def group_of(nodeid: str) -> str | None:
    """What a test must share one worker with, in order: its chain, else its notebook (the
    cells of a notebook share one kernel under nbval); None if it may go anywhere."""
    path = nodeid.partition("::")[0]
    return chain_of(nodeid) or (path if path.endswith(".ipynb") else None)


def pytest_collection_modifyitems(config, items):
    """On a pytest-xdist worker, run the chains first, in order; the rest keeps its order. In one
    process the order stays pytest's, where each cache is filled before it is read (the browser
    test's module, which opens JupyterLab once, stays in one piece)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    chains = list(CHAINS)
    rank = {}
    for index, item in enumerate(items):
        chain = chain_of(item.nodeid)
        rank[item] = (chains.index(chain) if chain else len(chains), index)
    items.sort(key=rank.__getitem__)


class GroupScheduling:
    """A pytest-xdist plugin: under ``--dist loadscope`` a scope is :func:`group_of` a test, else
    its module, as pytest-xdist's own. (``--dist loadgroup`` marks cannot do it: pytest-xdist
    3.8 writes the group into ``item._nodeid``, which pytest 9 no longer reads; measured, the
    cells of one notebook went to both workers and lost their kernel's state.)"""

    @staticmethod
    def pytest_xdist_make_scheduler(config, log):
        if config.getvalue("dist") != "loadscope":
            return None
        from xdist.scheduler import LoadScopeScheduling

        class Scheduling(LoadScopeScheduling):
            def _split_scope(self, nodeid):
                return group_of(nodeid) or super()._split_scope(nodeid)

        return Scheduling(config, log)
