"""The course as learners meet it: a real browser runs every notebook in JupyterLab.

nbval runs kernels; learners use JupyterLab. For every ``notebooks/*.ipynb`` this test opens a
copy in JupyterLab (served from the installed course on 127.0.0.1, random port and token),
drives Debian's Chromium with Playwright, clears the stored outputs and runs all cells from the
menu, then checks what a learner sees: every cell ran, no error and no stderr output (warnings,
progress bars as raw text), no "Error displaying widget", the notebook's widgets rendered live,
interact sliders redraw their output, and each exercise answers (wrong, right, hint, solution).
It also compares every output with the stored one exactly as strict ``pytest --nbval`` does
(``tests/stored_outputs.py``): this run is the notebook's strict check, and ``conftest.py`` has
nbval skip the notebooks this test runs, so that ``make test`` executes each notebook once.

    pytest -m browser                      # only this (about 30-45 s per small notebook)
    pytest tests/test_browser.py -k 00_    # one notebook
    pytest -m "not browser"                # everything else

Artifacts in ``test-artifacts/browser/``: per notebook a full-length screenshot ``NN_x.png``,
the first exercise after checking ``NN_x-exercise.png``, a report ``NN_x.json`` (problems,
timings, widgets, blocked outside requests), the notebook as the browser ran it
``NN_x.executed.ipynb``; ``summary.md`` (one row per notebook) and
``jupyterlab.log``, one of each per pytest-xdist worker under ``make test`` (``summary-gw0.md``,
...). Without Chromium or Playwright the test skips, except under CI (``$CI`` set), where it
fails. ``$COURSE_BROWSER_TIMEOUT`` (s, default 900) bounds one notebook's Run All.

The Chinese twins of the four heaviest notebooks (:data:`ZH_SKIPPED`) are skipped unless
``$COURSE_BROWSER_ALL_ZH=1``: they take 4 of CI's 30 minutes, and add no code the browser has
not run (their code is the English twin's, cell for cell: ``tests/test_zh_drift.py``). What is
Chinese about them is still checked: strict nbval runs them in Chinese (a glyph missing from the
figures' font warns on stderr, which fails the stored-output comparison), and the other Chinese
notebooks check, in the browser, the Markdown, the exercise widgets and the figures' CJK font.
Without Chromium (a contributor's laptop) or with ``-m "not browser"``, nbval checks every notebook.
"""

from __future__ import annotations

import os
import shutil
import time
import unicodedata
import uuid
from pathlib import Path

import nbformat
import pytest

import tests.browser_support as support
from tests.browser_support import LabServer, expectations, launch_chromium, run_notebook
from tools.nbenv import NOTEBOOKS, ROOT, all_notebooks

NOTEBOOK_PATHS = all_notebooks()
ZH_SKIPPED = ("04_developing_a_deep_model.ipynb", "06_large_models.ipynb", "07_small_gpt.ipynb",
              "08_instruction_tuning.ipynb")
SKIP_ZH = pytest.mark.skipif(os.environ.get("COURSE_BROWSER_ALL_ZH") != "1",
                             reason="the Chinese twin of a heavy notebook (COURSE_BROWSER_ALL_ZH=1 runs it)")
ARTIFACTS = ROOT / "test-artifacts" / "browser"
TIMEOUT = float(os.environ.get("COURSE_BROWSER_TIMEOUT", "900"))
#: "-gw0", "-gw1" under pytest-xdist (each worker serves its own JupyterLab), else "".
WORKER = f"-{os.environ['PYTEST_XDIST_WORKER']}" if os.environ.get("PYTEST_XDIST_WORKER") else ""


def require_browser() -> None:
    """Skip on a learner's machine without Chromium/Playwright; fail in CI, which installs both."""
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "Playwright for Python is not installed (pip install -e '.[dev]')"
    if reason is None and support.chromium_path() is None:
        reason = ("Debian's Chromium is not installed (sudo apt-get install -y chromium), "
                  "or set $COURSE_CHROMIUM to a Chromium binary")
    if reason and os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must provide it (.ci/run installs it)", pytrace=False)
    if reason:
        pytest.skip(reason)


REPORTS: list = []  # this worker's NotebookReports, summarised in test-artifacts/browser/summary{WORKER}.md


def write_summary(reports: list, startup: float) -> None:
    rows = [f"JupyterLab started in {startup:.1f} s.\n",
            "| notebook | problems | open s | run all s | checks s | total s | widgets | exercises checked "
            "| sliders moved |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in reports:
        shown = ", ".join(f"{k} {v}" for k, v in r.widgets.items() if v)
        checks = sum(r.seconds.get(k, 0) for k in ("checks", "sliders", "exercises"))
        rows.append(f"| {r.notebook} | {len(r.problems)} | {r.seconds.get('open', '-')} | "
                    f"{r.seconds.get('run', '-')} | {checks:.1f} | {r.seconds['total']} | {shown} | "
                    f"{r.exercises_checked} | {r.sliders_moved} |")
    (ARTIFACTS / f"summary{WORKER}.md").write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_browser()
    root = tmp_path_factory.mktemp("lab-root")
    # A copy: JupyterLab autosaves what it runs. data/ is linked so that ../data resolves as in nbval.
    shutil.copytree(NOTEBOOKS, root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (root / "data").symlink_to(ROOT / "data", target_is_directory=True)
    (root / "scratch").mkdir()
    start = time.monotonic()
    with LabServer(root, ARTIFACTS / f"jupyterlab{WORKER}.log") as server:
        startup = time.monotonic() - start
        try:
            yield server
        finally:
            write_summary(REPORTS, startup)


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []
    with sync_playwright() as playwright:
        context = launch_chromium(playwright, tmp_path_factory.mktemp("chromium-profile"), lab, blocked)
        try:
            yield context, blocked
        finally:
            context.close()


def run(lab, browser, relative: str, source: nbformat.NotebookNode, timeout: float = TIMEOUT, **options):
    context, blocked = browser
    report = run_notebook(context, lab, relative, source, ARTIFACTS, timeout=timeout, blocked=blocked, **options)
    REPORTS.append(report)
    print(f"\n{relative}: {report.seconds} widgets={report.widgets} "
          f"exercises checked={report.exercises_checked} sliders moved={report.sliders_moved} "
          f"blocked outside requests={report.blocked_requests}")
    return report


def checked_in_browser(path) -> bool:
    """Whether this session's browser test runs ``path`` (and so is its strict output check)."""
    path = Path(path).resolve()
    if path not in {p.resolve() for p in NOTEBOOK_PATHS}:
        return False
    return not (path.parent.name == "zh" and path.name in ZH_SKIPPED
                and os.environ.get("COURSE_BROWSER_ALL_ZH") != "1")


def browser_params() -> list:
    """Every notebook; the Chinese twins named in :data:`ZH_SKIPPED` marked to skip."""
    return [pytest.param(p, id=p.relative_to(NOTEBOOKS).as_posix(),
                         marks=[SKIP_ZH] if p.parent.name == "zh" and p.name in ZH_SKIPPED else [])
            for p in NOTEBOOK_PATHS]


def test_the_skipped_chinese_notebooks_exist_and_the_browser_still_runs_chinese_ones():
    """A renamed notebook must not leave a stale name here, nor the browser without Chinese."""
    zh = {p.name for p in NOTEBOOK_PATHS if p.parent.name == "zh"}
    assert set(ZH_SKIPPED) <= zh, f"no such Chinese notebook: {set(ZH_SKIPPED) - zh}"
    assert len(zh - set(ZH_SKIPPED)) >= 3, "the browser should still run several Chinese notebooks"


@pytest.mark.browser
@pytest.mark.parametrize("path", browser_params())
def test_notebook_runs_in_jupyterlab(path, lab, browser):
    source = nbformat.read(path, as_version=4)
    report = run(lab, browser, f"notebooks/{path.relative_to(NOTEBOOKS).as_posix()}", source)
    assert not report.problems, report.describe()
    expected = expectations(source)
    assert report.exercises_checked == len(expected.exercises), report.describe()


# ---- the harness itself: it must pass a healthy notebook and catch each kind of breakage ----

def scratch(lab, name: str, cells: list[nbformat.NotebookNode]) -> tuple[str, nbformat.NotebookNode]:
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}})
    nbformat.write(nb, lab.root / "scratch" / name)
    return f"scratch/{name}", nb


def code(source: str, *outputs: dict) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source, outputs=[nbformat.from_dict(o) for o in outputs])


WIDGET_OUTPUT = {"output_type": "display_data", "metadata": {}, "data": {
    "text/plain": "IntSlider(value=3)",
    "application/vnd.jupyter.widget-view+json": {"version_major": 2, "version_minor": 0,
                                                 "model_id": "0" * 32}}}


@pytest.mark.browser
def test_harness_passes_a_healthy_notebook(lab, browser):
    relative, nb = scratch(lab, "healthy.ipynb", [
        nbformat.v4.new_markdown_cell("# A healthy notebook"),
        code("from ipywidgets import IntSlider, interact\n\n\n"
             "def square(n=3):\n    print('n squared is', n * n)\n\n\n"
             "interact(square, n=IntSlider(value=3, min=0, max=5));"),
        code("from course_utils.exercises import Exercise\n\n"
             "ex = Exercise('What is 2 + 2?', answer=4, hint='Count.', solution='4')\nex.widget()"),
        code("print(ex.check(4))", {"output_type": "stream", "name": "stdout", "text": "✅ Correct: 4.\n"}),
        code("keyed = Exercise('The ln C of 1,000 classes?', key='02.1')\nkeyed.widget()"),
        code("from tqdm.auto import tqdm\n\nfor _ in tqdm(range(3)):\n    pass"),
    ])
    report = run(lab, browser, relative, nb, timeout=180)
    assert report.problems == [], report.describe()
    assert report.exercises_checked == 2 and report.sliders_moved == 1, report.describe()
    assert report.widgets["sliders"] == 1 and report.widgets["exercises"] == 2
    assert report.widgets["progress_bars"] == 1, "tqdm.auto must draw a widget, not text"


@pytest.mark.browser
def test_harness_compares_the_outputs_with_the_stored_ones_as_nbval_does(lab, browser):
    """The browser run is the strict output check of the notebooks it runs (conftest.py)."""
    def ran(source: str, text: str, *more: dict) -> nbformat.NotebookNode:
        cell = code(source, {"output_type": "stream", "name": "stdout", "text": text}, *more)
        cell.execution_count = 1
        return cell

    relative, nb = scratch(lab, "stored.ipynb", [
        ran("print(6 * 7)", "42\n"),                                   # as stored
        ran("print(6 * 7)", "41\n"),                                   # a changed digit
        ran("# NBVAL_IGNORE_OUTPUT\nprint(6 * 7)", "0\n"),              # not compared
        ran("from ipywidgets import interact\n\n"                       # the widget prints n = 1
            "interact(lambda n=1: print('n =', n), n=(0, 3));", "n = 2\n", WIDGET_OUTPUT),
    ])
    report = run(lab, browser, relative, nb, timeout=180)
    differ = [p for p in report.problems if "differ from the stored" in p]
    assert [p.split(" ")[1] for p in differ] == ["1", "3"], report.describe()
    assert "-41" in differ[0] and "+42" in differ[0], differ[0]  # - stored, + this run
    assert "-n = 2" in differ[1] and "+n = 1" in differ[1], differ[1]


@pytest.mark.browser
def test_harness_catches_each_kind_of_breakage(lab, browser):
    relative, nb = scratch(lab, "broken.ipynb", [
        code("import warnings\n\nwarnings.warn('careful')"),
        code("display({'application/vnd.jupyter.widget-view+json': {'version_major': 2, "
             "'version_minor': 0, 'model_id': 'f' * 32}, 'text/plain': 'a widget'}, raw=True)"),
        code("from course_utils.exercises import Exercise\n\n"
             "broken = Exercise('1 + 1?', answer=2)\nbox = broken.widget()\n"
             "box.children[1].children[1]._click_handlers.callbacks.clear()  # Check does nothing\n"
             "box"),
        code("x = 1  # the stored run showed a widget here; this run does not", WIDGET_OUTPUT),
        code("1 / 0"),
        code("print('never reached')"),
    ])
    # the widget whose Check does nothing is given 3 s to answer (15 s in the notebooks)
    report = run(lab, browser, relative, nb, timeout=180, respond_within=3)
    text = "\n".join(report.problems)
    for expected in ("cell 0 ('import warnings') wrote to stderr",
                     "cell 1 shows 'Error displaying widget",
                     "cell 2 (broken.widget()): the exercise did not respond",
                     "cell 3: no rendered widget '.jupyter-widgets'",
                     "cell 4 ('1 / 0') raised ZeroDivisionError",
                     "cells [5] did not run"):
        assert expected in text, f"the harness missed {expected!r}:\n{report.describe()}"
    assert len(report.problems) == 6, report.describe()


@pytest.mark.browser
def test_tofu_detector_sees_chinese_glyphs_and_catches_empty_boxes(browser):
    """The Chinese notebooks' check (support.chinese_problems) reads glyphs, not text: it passes
    Chinese drawn with a CJK font and fails characters no font has, which the browser draws as
    identical empty boxes (here from Unicode's private use plane, as a stand-in for Chinese
    without a font)."""
    context, _ = browser
    page = context.new_page()
    try:
        page.set_content("<p id='zh'>中文字体渲染检查：深度学习与微调</p>"
                         "<p id='boxes'>\U000F0001\U000F0002\U000F0003\U000F0004 x</p>")
        assert support.glyph_problems(page, "#zh", "Chinese") == []
        found = support.glyph_problems(page, "#boxes", "boxes", pattern=r"[\u{F0000}-\u{FFFFD}]")
        assert len(found) == 1 and "renders as empty boxes" in found[0], found
        assert "no Chinese text found" in support.glyph_problems(page, "#boxes", "no Chinese")[0]
    finally:
        page.close()


@pytest.mark.browser
def test_chinese_row_names_line_up_in_jupyterlabs_output_area(lab, browser):
    """course_utils.i18n.WIDE, measured where learners read the tables: in a JupyterLab stream output
    (its own CSS, this machine's fonts), a row named in Chinese and padded by ``Text`` starts its next
    column where an English row does, within half a column; padded as a terminal would (2 columns a
    Chinese character), the row of six characters falls short by more than one."""
    from course_utils.i18n import Text

    names = ["LoRA", "只训练分类头", "全量微调（末词元）", "普通网络，Kaiming 初始化", "太小（std 0.01）", "实验组"]
    by_text = [f"{Text(name):28}" for name in names]
    as_terminal = [name + " " * (28 - sum(1 + (unicodedata.east_asian_width(c) in "WF") for c in name))
                   for name in names]  # a terminal's rule (wcwidth): 2 columns a wide character
    context, _ = browser
    page = context.new_page()
    try:
        page.goto(f"{lab.base_url}/lab/workspaces/font-{uuid.uuid4().hex[:8]}?token={lab.token}")
        page.wait_for_function("() => window.jupyterapp && document.querySelector('#jp-main-dock-panel')",
                               timeout=60_000)
        where = page.evaluate("""(rows) => {
            const out = document.createElement('div');
            out.className = 'lm-Widget jp-RenderedText jp-OutputArea-output';
            out.setAttribute('data-mime-type', 'application/vnd.jupyter.stdout');
            const pre = document.createElement('pre');
            out.appendChild(pre);
            document.body.appendChild(out);
            const bars = rows.map((row) => {
                const line = document.createElement('div'), bar = document.createElement('span');
                line.textContent = row; bar.textContent = '|'; line.appendChild(bar); pre.appendChild(line);
                return bar;
            });
            const ten = document.createElement('span');
            ten.textContent = '0123456789'; pre.appendChild(ten);
            return {x: bars.map((b) => b.getBoundingClientRect().left),
                    column: ten.getBoundingClientRect().width / 10,
                    font: getComputedStyle(pre).fontFamily};
        }""", by_text + as_terminal)
    finally:
        page.close()
    column, x = where["column"], where["x"]
    ours = [(xi - x[0]) / column for xi in x[:len(names)]]
    terminal = [(xi - x[0]) / column for xi in x[len(names):]]
    assert all(abs(off) <= 0.5 for off in ours), (where["font"], dict(zip(names, ours)))
    assert terminal[1] < -1, (where["font"], dict(zip(names, terminal)))  # the measurement can tell


@pytest.mark.browser
def test_chinese_check_catches_figures_drawn_without_the_cjk_font(lab, browser):
    """A Chinese scratch notebook whose figure is labelled through figure_text, after which
    matplotlib's fonts are put back: the check must say the figure was not drawn with the CJK
    font (on a machine with one), and find the Markdown and the exercise drawn in Chinese."""
    (lab.root / "scratch" / "zh").mkdir(exist_ok=True)
    relative, nb = scratch(lab, "zh/figure.ipynb", [
        nbformat.v4.new_markdown_cell("# 中文图表检查\n\n图中的标签用中文书写。"),
        code("import matplotlib.pyplot as plt\nfrom course_utils.i18n import figure_text\n\n"
             "plt.plot([1, 2], [2, 1])\nplt.ylabel(figure_text('loss'))\nplt.show()"),
        code("import matplotlib\n\nmatplotlib.rcParams['font.sans-serif'] = ['DejaVu Sans']"),
        code("from course_utils.exercises import Exercise\n\nex = Exercise('1 + 1?', key='02.1')\nex.widget()"),
    ])
    report = run(lab, browser, relative, nb, timeout=180)
    assert report.chinese["Markdown"]["count"] >= 2 and report.chinese["exercise widget"]["count"] >= 2
    assert report.chinese["figures"]["language"] == "zh", report.chinese
    assert report.chinese["figures"]["font"] is not None, "this check needs a CJK font (fonts-noto-cjk)"
    assert report.problems == [f"1 figure(s) with translated labels were not drawn with the CJK font "
                               f"{report.chinese['figures']['font']!r} (matplotlib's first sans-serif is "
                               "'DejaVu Sans')"], report.describe()


# ---- without a browser: what the harness expects, and how it behaves without Chromium ------

def test_expectations_come_from_the_notebook_itself():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("interact(f) in prose is not a call"),
        code("from ipywidgets import IntSlider, interact\nslider = IntSlider()  # built, not shown"),
        code("interact(f, x=slider);"),
        code("ex = Exercise('q', answer=1010)\nex.widget()"),
        code("print(ex.check(1010))", {"output_type": "stream", "name": "stdout", "text": "✅ Correct: 1010.\n"}),
        code("other = Exercise('q', check=lambda a: True)\nbox = other.widget()\nbox"),
        code("print(other.check(n_params))", {"output_type": "stream", "name": "stdout", "text": "✅ ...\n"}),
        code("   "),
        code("x = 1", WIDGET_OUTPUT),
        code("%time y = 2"),
        code("third = Exercise('q', answer=73_728, hint='h')\nthird.widget()"),
        code("print(third.check(expected(layer)))", {"output_type": "stream", "name": "stdout", "text": "✅\n"}),
        code("keyed = Exercise('q', key='00.2')\nkeyed.widget()"),
        code("fourth = Exercise('q', key='02.4')\nfourth.widget()"),
    ])
    nb.cells[9].metadata["tags"] = ["raises-exception"]
    expect = expectations(nb)
    assert expect.code_cells == [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13]
    assert expect.selectors == {2: [".widget-interact"], 3: [".course-exercise"], 5: [".course-exercise"],
                                8: [".jupyter-widgets"], 10: [".course-exercise"], 12: [".course-exercise"],
                                13: [".course-exercise"]}
    assert [(e.cell, e.name, e.answer) for e in expect.exercises] == [
        (3, "ex", "1010"), (5, "other", None), (10, "third", "73728"),
        (12, "keyed", "python -m course_utils doctor"), (13, "fourth", "0.91")]
    assert expect.raises == {9}


def test_output_problems_read_the_executed_notebook():
    nb = nbformat.v4.new_notebook(cells=[code("a = 1"), code("b = 2"), code("c = 3"), code("d = 4")])
    counts, outputs = [1, 2, 3, None], [
        [], [{"output_type": "stream", "name": "stderr", "text": "  0%|  | 0/3\n"}],
        [{"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []}], []]
    for cell, count, outs in zip(nb.cells, counts, outputs):
        cell.execution_count, cell.outputs = count, [nbformat.from_dict(o) for o in outs]
    problems = support.output_problems(nb, expectations(nb))
    assert problems == [
        "cell 1 ('b = 2') wrote to stderr (a warning or a text progress bar?): '0%|  | 0/3'",
        "cell 2 ('c = 3') raised ValueError: bad",
        "cells [3] did not run (Run All stops at the first error)"]
    nb.cells[3].execution_count = 2
    assert "ran out of order" in support.output_problems(nb, expectations(nb))[-1]


def test_server_environment_is_nbvals_and_leaves_ours_alone(tmp_path):
    before = dict(os.environ)
    env = LabServer(tmp_path, tmp_path / "log")._environment(tmp_path)
    assert dict(os.environ) == before
    assert env["COURSE_DEVICE"] == "cpu" and env["MPLCONFIGDIR"].startswith(str(tmp_path))
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    assert env["JUPYTERLAB_SETTINGS_DIR"] == str(tmp_path / "lab-settings") and settings.is_file()


@pytest.mark.parametrize("ci, outcome", [("", pytest.skip.Exception), ("1", pytest.fail.Exception)])
def test_without_chromium_skip_for_learners_fail_in_ci(monkeypatch, ci, outcome):
    monkeypatch.setattr(support, "chromium_path", lambda: None)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="Chromium is not installed"):
        require_browser()
