"""Helpers for tests/test_browser.py: JupyterLab on 127.0.0.1 driven by Debian's Chromium.

Three pieces, usable alone:

* :func:`expectations` reads a notebook file and says what a learner must see once it has run
  (which cells make widgets, which are exercises, which answers the notebook itself checks);
* :class:`LabServer` serves a throwaway copy of the notebooks with a random port and token, in
  the environment ``pytest --nbval`` gives its kernels (``tools.nbenv.configure_env``);
* :func:`run_notebook` opens one notebook in a page, runs it as a learner would (menus: Clear
  Outputs, Run All), checks what is on screen, clicks the exercises and sliders, saves
  screenshots, and returns a :class:`NotebookReport` whose ``problems`` list is empty when all is well.

The page is read through ``window.jupyterapp`` (``--LabApp.expose_app_in_browser``) only to
get the executed notebook as JSON; everything a learner would do goes through the menus and
the widgets themselves.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from course_utils.exercises import answer_key
from tests.stored_outputs import compare_notebook, from_lab_json
from tools.nbenv import configure_env

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
#: Typed into every exercise to see it answer "not right"; no course question has this answer.
WRONG_ANSWER = "surely-not-the-answer"

# JupyterLab user settings for the test server: every cell stays in the page (no windowing,
# so off-screen cells can be checked), and Lab asks nothing of the internet.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
}


def chromium_path() -> str | None:
    """Debian's Chromium (``$COURSE_CHROMIUM`` overrides), or None when it is not installed."""
    for candidate in (os.environ.get("COURSE_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


# ---- what a notebook promises ---------------------------------------------------------------

@dataclass
class ExerciseCell:
    cell: int             # index of the cell that shows ``name.widget()``
    name: str             # the Exercise's variable
    answer: str | None    # the right answer as a learner types it: from the answer key for
                          # Exercise(..., key="01.1"), or a literal Exercise(..., answer=1010) or
                          # ✅ ex.check("relu") in notebooks still on the old API


@dataclass
class Expectations:
    code_cells: list[int]                          # non-empty code cells: each must run
    selectors: dict[int, list[str]]                # cell -> CSS selectors that must render there
    exercises: list[ExerciseCell]
    raises: set[int] = field(default_factory=set)  # cells tagged raises-exception


def _tree(source: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError:  # IPython magics: no calls we can see for sure
        return ast.Module(body=[], type_ignores=[])


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _typed(node: ast.expr) -> str | None:
    """What a learner would type for a literal answer (``1010``, ``"微调"``), else None."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None
    return value if isinstance(value, str) else repr(value) if isinstance(value, (int, float)) else None


def _keyed(key: ast.expr) -> str | None:
    """What a learner would type for ``Exercise(..., key="02.1")``: the answer key's answer."""
    if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
        return None
    answer = answer_key.entry(key.value)["answer"]
    answer = answer[0] if isinstance(answer, list) else answer
    return answer if isinstance(answer, str) else repr(answer)


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value or ""


def _displays(tree: ast.Module) -> bool:
    """Whether a cell's last statement is an expression (Jupyter displays its value)."""
    return bool(tree.body) and isinstance(tree.body[-1], ast.Expr)


def expectations(nb: nbformat.NotebookNode) -> Expectations:
    """What must be on screen after Run All, derived from the notebook's own code and outputs.

    ``interact(...)`` always shows a ``.widget-interact``. A cell that shows a widget (its
    stored output holds one, or its last line is an expression) must show a ``.widget-slider``
    if it builds a slider, a ``.course-exercise`` for ``ex.widget()``, and some rendered widget.
    """
    code, selectors, exercises, raises = [], {}, [], set()
    correct: dict[str, str] = {}  # exercise variable -> an answer the notebook checks with a ✅
    for i, cell in enumerate(nb.cells):
        source = _text(cell.source)
        if cell.cell_type != "code" or not source.strip():
            continue
        code.append(i)
        if "raises-exception" in cell.metadata.get("tags", []):
            raises.add(i)
        outputs = cell.get("outputs", [])
        wanted, tree = set(), _tree(source)
        shows = any(WIDGET_MIME in o.get("data", {}) for o in outputs) or _displays(tree)
        assigned = {id(node.value): [t.id for t in node.targets if isinstance(t, ast.Name)]
                    for node in ast.walk(tree) if isinstance(node, ast.Assign)}
        for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
            name = _callee(call)
            owner = call.func.value if isinstance(call.func, ast.Attribute) else None
            if name in ("interact", "interact_manual"):
                wanted.add(".widget-interact")
            elif name.endswith("Slider") and shows:
                wanted.add(".widget-slider")
            elif name == "widget" and not call.args and isinstance(owner, ast.Name) and shows:
                wanted.add(".course-exercise")
                exercises.append(ExerciseCell(i, owner.id, None))
            elif name == "Exercise":  # Exercise(..., key="NN.k") or Exercise(..., answer=<literal>)
                for target in assigned.get(id(call), []):
                    given = {k.arg: k.value for k in call.keywords}
                    typed = (_keyed(given["key"]) if "key" in given
                             else _typed(given["answer"]) if "answer" in given else None)
                    if typed is not None:
                        correct[target] = typed
            elif name == "check" and len(call.args) == 1 and isinstance(owner, ast.Name):
                stored = "".join(_text(o.get("text")) for o in outputs)
                typed = _typed(call.args[0])
                if typed is not None and stored.startswith("✅"):
                    correct.setdefault(owner.id, typed)
        if any(WIDGET_MIME in o.get("data", {}) for o in outputs):
            wanted.add(".jupyter-widgets")
        if wanted:
            selectors[i] = sorted(wanted)
    for ex in exercises:
        ex.answer = correct.get(ex.name)
    return Expectations(code, selectors, exercises, raises)


# ---- the server -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """JupyterLab serving ``root`` on 127.0.0.1 with a random port and token; a context manager.

    ``root`` should be a copy (Lab autosaves). The server's environment is the one nbval gives
    its kernels, in a fresh directory; its log goes to ``log_path``.
    """

    def __init__(self, root: Path, log_path: Path, startup_timeout: float = 120.0) -> None:
        self.root, self.log_path, self.startup_timeout = Path(root), Path(log_path), startup_timeout
        self.port, self.token = free_port(), uuid.uuid4().hex
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self._home: tempfile.TemporaryDirectory | None = None

    def _environment(self, home: Path) -> dict[str, str]:
        env = dict(os.environ)
        configure_env(home / "env", environ=env)  # the server's environment; ours is untouched
        settings = home / "lab-settings"
        for name, values in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values), encoding="utf-8")
        env.update(JUPYTERLAB_SETTINGS_DIR=str(settings),
                   JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"))
        return env

    def __enter__(self) -> LabServer:
        self._home = tempfile.TemporaryDirectory(prefix="course-lab-")
        env = self._environment(Path(self._home.name))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                   "--ServerApp.ip=127.0.0.1", f"--port={self.port}", "--port-retries=0",
                   f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
                   "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly"]
        with open(self.log_path, "ab") as log:  # a worker may serve more than once
            self.process = subprocess.Popen(command, env=env, cwd=self.root, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_until_up()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.process.returncode}; "
                                   f"its log ({self.log_path}) ends:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within {self.startup_timeout:.0f} s; "
                           f"its log ends:\n{self.log_tail()}")

    def api(self, method: str, path: str):
        request = urllib.request.Request(f"{self.base_url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Shut every session and kernel down (after each notebook: memory stays low)."""
        try:
            for session in self.api("GET", "/api/sessions"):
                self.api("DELETE", f"/api/sessions/{session['id']}")
            for kernel in self.api("GET", "/api/kernels"):
                self.api("DELETE", f"/api/kernels/{kernel['id']}")
        except (urllib.error.URLError, OSError):
            pass  # the server is gone already: nothing left to shut down

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def url(self, notebook: str, workspace: str) -> str:
        return f"{self.base_url}/lab/workspaces/{workspace}/tree/{notebook}?token={self.token}"

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.shutdown_kernels()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self._home is not None:
            self._home.cleanup()
            self._home = None


# ---- the browser --------------------------------------------------------------------------------

def launch_chromium(playwright, profile: Path, server: LabServer, blocked: list[str]):
    """Debian's Chromium with a fresh profile; requests that leave the Lab server are aborted
    (and listed in ``blocked``): the test never depends on, or talks to, the internet."""
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=chromium_path(), args=CHROMIUM_FLAGS, headless=True,
        viewport={"width": 1280, "height": 900}, locale="en-US")

    def refuse(route) -> None:
        blocked.append(route.request.url)
        route.abort()

    context.route(lambda url: not url.startswith(server.base_url + "/"), refuse)
    return context


# ---- one notebook in the browser ------------------------------------------------------------

@dataclass
class NotebookReport:
    notebook: str
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # open, run, checks, total
    widgets: dict[str, int] = field(default_factory=dict)    # rendered widgets, by kind
    exercises_checked: int = 0
    sliders_moved: int = 0
    screenshots: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    chinese: dict = field(default_factory=dict)  # a Chinese notebook's glyph and figure-font checks

    def describe(self) -> str:
        lines = [f"{self.notebook}: {len(self.problems)} problem(s) in JupyterLab"]
        lines += [f"  - {p}" for p in self.problems]
        lines.append(f"  screenshots: {', '.join(self.screenshots) or 'none'}")
        if self.console_errors:
            lines.append("  browser console errors: " + " | ".join(self.console_errors[:5]))
        return "\n".join(lines)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1, ensure_ascii=False), encoding="utf-8")


_STATE_JS = """(sel) => {
  const panel = document.querySelector(sel);
  if (!panel) return null;
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
      .map(e => e.textContent.trim());
  const status = panel.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status');
  const dialog = document.querySelector('.jp-Dialog')?.innerText ?? null;
  return {prompts, status, dialog};
}"""
_READY_JS = """(path) => {
  for (const w of window.jupyterapp?.shell.widgets('main') ?? [])
    if (w.context && w.context.path === path) {
      const kernel = w.sessionContext?.session?.kernel;
      return {ready: w.context.isReady, cells: w.content.widgets.length,
              kernel: kernel ? kernel.status : null};
    }
  return null;
}"""
_MODEL_JS = """(path) => {
  for (const w of window.jupyterapp.shell.widgets('main'))
    if (w.context && w.context.path === path) return w.context.model.toJSON();
  return null;
}"""
# A widget output is a top-level output showing "Loading widget..." until the manager has drawn
# the view inside it, or has written "Error displaying widget: ..." into it.
_TOP_OUTPUTS = ".jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output"
_PENDING_WIDGETS_JS = """(sel) => [...document.querySelectorAll(sel)]
  .filter(e => e.textContent.trim().startsWith('Loading widget')).length"""
_WIDGET_KINDS = {"widget_views": f"{_TOP_OUTPUTS}:has(.jupyter-widgets)",
                 "sliders": ".widget-slider", "interacts": ".widget-interact",
                 "exercises": ".course-exercise", "progress_bars": ".widget-hprogress"}


def _wait_for_kernel(page, notebook: str, n_cells: int, timeout: float = 120.0) -> list[str]:
    """Wait until the notebook is loaded (all its cells) and its kernel is idle: a Run All sent
    earlier does nothing, or runs an empty notebook. A kernel dialog is answered and reported."""
    from playwright.sync_api import TimeoutError

    deadline, problems, state = time.monotonic() + timeout, [], None
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog")
        if dialog.count() and "Select Kernel" in dialog.inner_text():
            problems.append("JupyterLab asked the learner to select a kernel: the notebook's "
                            "metadata.kernelspec should name 'python3'")
            dialog.get_by_role("button", name="Select").click()
        state = page.evaluate(_READY_JS, notebook)
        if state and state["ready"] and state["cells"] == n_cells and state["kernel"] == "idle":
            page.locator(f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()
            return problems
        page.wait_for_timeout(250)
    raise TimeoutError(f"the notebook or its kernel was not ready within {timeout:.0f} s "
                       f"(last state: {state})")


def _wait_for_widgets(page, timeout: float = 30.0) -> list[str]:
    """Wait until every widget output has drawn itself, or said it cannot (which takes a moment)."""
    selector, deadline = f"{PANEL} {_TOP_OUTPUTS}", time.monotonic() + timeout
    while (pending := page.evaluate(_PENDING_WIDGETS_JS, selector)) and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    return [f"{pending} widget(s) still 'Loading widget...' after {timeout:.0f} s"] if pending else []


def _menu(page, menu: str, item: str) -> None:
    page.get_by_role("menuitem", name=menu, exact=True).click()
    page.get_by_role("menuitem", name=item, exact=True).click()


def _wait_for_run(page, timeout: float) -> str | None:
    """Wait until Run All has finished; return a problem, or None when every cell ran."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = page.evaluate(_STATE_JS, PANEL)
        if state is None:
            return "the notebook panel disappeared while it ran"
        if state["dialog"]:
            return f"JupyterLab showed a dialog while the notebook ran: {state['dialog'][:300]!r}"
        if state["status"] in ("dead", "autorestarting", "restarting"):
            return f"the kernel died while the notebook ran (status {state['status']}; out of memory?)"
        running = any("*" in p for p in state["prompts"])
        started = any(re.search(r"\d", p) for p in state["prompts"])
        if state["status"] == "idle" and started and not running:
            return None
        page.wait_for_timeout(500)
    return f"Run All did not finish within {timeout:.0f} s (raise $COURSE_BROWSER_TIMEOUT?)"


def output_problems(executed: nbformat.NotebookNode, expect: Expectations) -> list[str]:
    """Cells that did not run, errors, stderr (warnings, text progress bars): from the run's JSON."""
    problems, counts, not_run = [], [], []
    for i in expect.code_cells:
        cell = executed.cells[i]
        first_line = _text(cell.source).strip().splitlines()[0][:60]
        if cell.get("execution_count") is None:
            not_run.append(i)
            continue
        counts.append(cell.execution_count)
        for out in cell.get("outputs", []):
            if out.output_type == "error" and i not in expect.raises:
                problems.append(f"cell {i} ({first_line!r}) raised {out.ename}: {_text(out.evalue)[:300]}")
            elif out.output_type == "stream" and out.name == "stderr":
                problems.append(f"cell {i} ({first_line!r}) wrote to stderr (a warning or a text "
                                f"progress bar?): {_text(out.text).strip()[:300]!r}")
    if not_run:
        why = " (Run All stops at the first error)" if any("raised" in p for p in problems) else ""
        problems.append(f"cells {not_run} did not run{why}")
    if counts != sorted(set(counts)):
        problems.append(f"cells ran out of order: execution counts {counts}")
    return problems


def _interact_views(page, expect: Expectations) -> dict[int, dict]:
    """What each ``interact`` shows inside its Output widget (JupyterLab puts the callback's
    prints and figures there, not in the cell's outputs): its text and its number of images."""
    cells, views = page.locator(f"{PANEL} .jp-Notebook .jp-Cell"), {}
    for i, selectors in expect.selectors.items():
        output = cells.nth(i).locator(".widget-interact .widget-output").first
        if ".widget-interact" not in selectors or not output.count():
            continue  # a missing interact is reported by _dom_problems
        views[i] = output.evaluate("""(e) => {
          const outs = [...e.querySelectorAll('.jp-OutputArea-output')];
          return {text: outs.filter(o => !o.querySelector('img')).map(o => o.textContent).join(''),
                  images: e.querySelectorAll('img').length};
        }""")
    return views


def _dom_problems(page, executed: nbformat.NotebookNode, expect: Expectations) -> list[str]:
    cells = page.locator(f"{PANEL} .jp-Notebook .jp-Cell")
    if cells.count() != len(executed.cells):
        return [f"the page shows {cells.count()} cells, the notebook has {len(executed.cells)}"]
    problems = []
    for i in expect.code_cells:
        if executed.cells[i].get("execution_count") is None:
            continue  # reported already as "did not run"
        outputs = cells.nth(i).locator(".jp-Cell-outputArea").first
        text = outputs.inner_text() if outputs.count() else ""
        if "Error displaying widget" in text:
            line = next(row for row in text.splitlines() if "Error displaying widget" in row)
            problems.append(f"cell {i} shows {line.strip()[:200]!r}")
        for selector in expect.selectors.get(i, []):
            if outputs.locator(selector).count() == 0:
                shown = text.strip().replace("\n", " ")[:160]
                problems.append(f"cell {i}: no rendered widget {selector!r} (the cell shows {shown!r})")
    return problems


# ---- the Chinese notebooks: Chinese text must render as Chinese, not as empty boxes ("tofu") ----

CJK = r"[\u4e00-\u9fff]"
# Draws up to 12 distinct characters (matching `pattern`) of the first element under `sel` whose
# text has some, each alone on a canvas in the element's own computed font, and compares the
# pictures: with a font that has them they are all different and none is blank; without one the
# browser draws the same empty box for each, the box it draws for U+10FFFD (a code point no font
# has). Returns null when no element has such characters.
_GLYPHS_JS = r"""([sel, pattern]) => {
  const re = new RegExp(pattern, 'u');
  const el = [...document.querySelectorAll(sel)].find(e => re.test(e.innerText));
  if (!el) return null;
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let node = walker.nextNode();
  while (node && !re.test(node.data)) node = walker.nextNode();
  const style = getComputedStyle(node ? node.parentElement : el);
  const font = `${style.fontStyle} ${style.fontWeight} 32px ${style.fontFamily}`;
  const chars = [...new Set([...el.innerText].filter(c => re.test(c)))].slice(0, 12);
  const draw = (text) => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 48;
    const ctx = canvas.getContext('2d');
    ctx.font = font;
    ctx.textBaseline = 'top';
    ctx.fillText(text, 4, 4);
    return canvas.toDataURL();
  };
  const tofu = draw('\u{10FFFD}'), blank = draw(' '), drawn = chars.map(draw);
  return {font: style.fontFamily, sample: chars.join(''), count: chars.length,
          distinct: new Set(drawn).size, tofu: drawn.filter(d => d === tofu).length,
          blank: drawn.filter(d => d === blank).length};
}"""


def glyph_problems(page, selector: str, where: str, pattern: str = CJK, seen: dict | None = None) -> list[str]:
    """Empty boxes (or nothing) where the first element under ``selector`` has Chinese text;
    the measurement goes into ``seen[where]``."""
    found = page.evaluate(_GLYPHS_JS, [selector, pattern])
    if seen is not None:
        seen[where] = found
    if found is None or found["count"] < 2:
        return [f"{where}: no Chinese text found to check (selector {selector!r})"]
    if found["tofu"] or found["blank"] or found["distinct"] < found["count"]:
        return [f"{where}: Chinese text renders as empty boxes ({found['sample']!r} in font "
                f"{found['font'][:80]!r}: {found['distinct']} distinct glyphs for {found['count']} "
                f"characters, {found['tofu']} like a missing glyph, {found['blank']} blank); install "
                "a CJK font (Debian: fonts-noto-cjk)"]
    return []


_KERNEL_JS = """async ([path, code]) => {
  for (const w of window.jupyterapp.shell.widgets('main'))
    if (w.context && w.context.path === path) {
      let out = '';
      const future = w.sessionContext.session.kernel.requestExecute({code, store_history: false});
      future.onIOPub = (msg) => {
        if (msg.header.msg_type === 'stream') out += msg.content.text;
        if (msg.header.msg_type === 'error') out += `${msg.content.ename}: ${msg.content.evalue}`;
      };
      await future.done;
      return out;
    }
  return null;
}"""
_FIGURE_FONT_PROBE = ("import json, matplotlib\nfrom course_utils import i18n\n"
                      "print(json.dumps({'language': i18n.language(), 'font': i18n.cjk_font(), "
                      "'sans': matplotlib.rcParams['font.sans-serif'][0]}))")


def chinese_problems(page, notebook: str, executed: nbformat.NotebookNode, seen: dict) -> list[str]:
    """A Chinese notebook, run: its Markdown and its first exercise widget draw Chinese glyphs
    (no tofu), and its kernel drew the figures with a CJK font: it speaks zh, matplotlib knows a
    CJK font, and the figures whose labels go through ``figure_text`` (or a plot of
    ``course_utils.plots``) put it first (a missing glyph would also have warned on stderr,
    which :func:`output_problems` reports). What was measured goes into ``seen``."""
    problems = glyph_problems(page, f"{PANEL} .jp-MarkdownCell .jp-RenderedMarkdown", "Markdown", seen=seen)
    if page.locator(f"{PANEL} .course-exercise").count():
        problems += glyph_problems(page, f"{PANEL} .course-exercise", "exercise widget", seen=seen)
    labelled = [c for c in executed.cells if c.cell_type == "code"
                and any("image/png" in o.get("data", {}) for o in c.get("outputs", []))
                and re.search(r"figure_text\(|plot_\w+\(", _text(c.source))]
    if not labelled:
        return problems
    raw = page.evaluate(_KERNEL_JS, [notebook, _FIGURE_FONT_PROBE]) or ""
    try:
        kernel = json.loads(raw.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return problems + [f"could not ask the kernel which font drew the figures: {raw[:300]!r}"]
    seen["figures"] = dict(kernel, labelled_figure_cells=len(labelled))
    if kernel["language"] != "zh":
        problems.append(f"the kernel of a Chinese notebook speaks {kernel['language']!r}: figures and "
                        "messages are in English (i18n.language() did not see notebooks/zh/)")
    elif kernel["font"] is None:
        problems.append("matplotlib knows no CJK font in the kernel: the figures' labels stayed English "
                        "(install fonts-noto-cjk; `python -m course_utils doctor` says more)")
    elif kernel["sans"] != kernel["font"]:
        problems.append(f"{len(labelled)} figure(s) with translated labels were not drawn with the CJK "
                        f"font {kernel['font']!r} (matplotlib's first sans-serif is {kernel['sans']!r})")
    return problems


def _try_exercise(page, root, ex: ExerciseCell, respond_within: float = 15.0) -> list[str]:
    """Type a wrong answer and Check; type the notebook's own right answer and press Enter;
    open the hint and the solution. Each step must change what the learner sees within
    ``respond_within`` seconds."""
    from playwright.sync_api import Error, expect

    where, wait_ms = f"cell {ex.cell} ({ex.name}.widget())", respond_within * 1000
    answer, verdict = root.locator(".course-exercise-answer input"), root.locator(".course-exercise-verdict")
    extra = root.locator(".course-exercise-extra")
    try:
        root.scroll_into_view_if_needed()
        answer.fill(WRONG_ANSWER)
        root.locator("button.course-exercise-check").click()
        expect(verdict).to_contain_text("❌", timeout=wait_ms)
        expect(verdict).to_have_class(re.compile(r"\bcourse-exercise-wrong\b"))
        if ex.answer is not None:
            answer.fill(ex.answer)
            answer.press("Enter")
            expect(verdict).to_contain_text("✅", timeout=wait_ms)
        for button, word in (("hint", "Hint|提示"), ("reveal", "Solution|解答")):  # English or Chinese
            button = root.locator(f"button.course-exercise-{button}")
            if button.is_enabled():
                button.click()
                expect(extra).to_contain_text(re.compile(word), timeout=wait_ms)
    except (AssertionError, Error) as exc:
        first = str(exc).strip().splitlines()[0][:300]
        return [f"{where}: the exercise did not respond as a learner expects: {first}"]
    return []


def _try_slider(page, interact) -> list[str]:
    """Move an interact's first slider one step with the keyboard (pressing "Run Interact" for
    ``interact_manual``); the interact's output must change. The slider is put back after."""
    from playwright.sync_api import Error

    handle, output = interact.locator(".noUi-handle").first, interact.locator(".widget-output").first
    readout, run_button = interact.locator(".widget-readout").first, interact.locator("button")

    def step(key: str) -> None:
        handle.press(key)
        if run_button.count():
            run_button.first.click()

    try:
        interact.scroll_into_view_if_needed()
        before, value = output.inner_html(), readout.inner_text()
        handle.focus()
        key, back = "ArrowRight", "ArrowLeft"
        step(key)
        page.wait_for_timeout(300)
        if readout.inner_text() == value:  # at its maximum: step down instead
            key, back = back, key
            step(key)
        deadline = time.monotonic() + 15
        while output.inner_html() == before and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        if output.inner_html() == before:
            return [f"slider {value!r} -> {readout.inner_text()!r}: the interact output did not change"]
        step(back)
    except Error as exc:
        return [f"could not move an interact slider: {str(exc).strip().splitlines()[0][:300]}"]
    return []


def _screenshot_full(page, path: Path, max_height: int = 16_000) -> None:
    """The whole notebook in one image: make the window as tall as the notebook for a moment."""
    size = page.viewport_size
    height = page.evaluate("(sel) => document.querySelector(sel + ' .jp-WindowedPanel-outer')"
                           "?.scrollHeight ?? 0", PANEL)
    page.set_viewport_size({"width": size["width"], "height": min(max_height, height + 160)})
    page.evaluate("(sel) => { const s = document.querySelector(sel + ' .jp-WindowedPanel-outer');"
                  " if (s) s.scrollTop = 0; }", PANEL)
    page.wait_for_timeout(500)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def _interact(page, expect: Expectations, report: NotebookReport, exercise_shot: Path,
              respond_within: float = 15.0) -> list[Path]:
    """Move each interact's slider, then answer each exercise; screenshot the first exercise."""
    mark, shots = time.monotonic(), []
    for interact in page.locator(f"{PANEL} .widget-interact:has(.noUi-handle)").all():
        found = _try_slider(page, interact)
        report.problems += found
        report.sliders_moved += not found
    report.seconds["sliders"] = time.monotonic() - mark
    mark = time.monotonic()
    for ex in expect.exercises:
        cell = page.locator(f"{PANEL} .jp-Notebook .jp-Cell").nth(ex.cell)
        root = cell.locator(".course-exercise").first
        if root.count():  # a missing widget is reported by _dom_problems already
            found = _try_exercise(page, root, ex, respond_within)
            report.problems += found
            report.exercises_checked += not found
            if not shots:
                page.screenshot(path=str(exercise_shot))
                shots.append(exercise_shot)
    report.seconds["exercises"] = time.monotonic() - mark
    return shots


def run_notebook(context, server: LabServer, notebook: str, source: nbformat.NotebookNode,
                 artifacts: Path, timeout: float = 900.0,
                 blocked: list[str] | None = None, strict: bool = True,
                 respond_within: float = 15.0) -> NotebookReport:
    """Open ``notebook`` (path relative to the server root), Run All, check, click, screenshot.

    ``source`` is the notebook as stored (what to expect); ``blocked`` the list
    :func:`launch_chromium` fills (this notebook's share goes into the report). ``strict``: also
    compare every output with the stored one as ``pytest --nbval`` does (a problem per cell).
    ``respond_within``: the seconds an exercise widget gets to answer each click.
    """
    # artifacts of notebooks/zh/NN_x.ipynb are named zh-NN_x.* (beside the English NN_x.*)
    stem = "-".join(Path(notebook).parts[1:-1] + (Path(notebook).stem,))
    blocked = blocked if blocked is not None else []
    first_blocked, shots = len(blocked), []
    report, expect = NotebookReport(notebook), expectations(source)
    artifacts.mkdir(parents=True, exist_ok=True)
    page = context.new_page()
    page.on("console", lambda m: report.console_errors.append(m.text[:300]) if m.type == "error" else None)
    page.on("pageerror", lambda e: report.console_errors.append(f"uncaught: {str(e)[:300]}"))
    start = time.monotonic()
    try:
        page.goto(server.url(notebook, workspace=f"test-{uuid.uuid4().hex[:8]}"))
        report.problems += _wait_for_kernel(page, notebook, len(source.cells))
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # room for the notebook
        report.seconds["open"] = time.monotonic() - start
        _menu(page, "Edit", "Clear Outputs of All Cells")  # any widget seen now is a live one
        page.wait_for_function("""(sel) => ![...document.querySelectorAll(sel + ' .jp-InputPrompt')]
                                   .some(e => /\\d/.test(e.textContent))""", arg=PANEL, timeout=15_000)
        _menu(page, "Run", "Run All Cells")
        mark = time.monotonic()
        stuck = _wait_for_run(page, timeout)
        report.seconds["run"] = time.monotonic() - mark
        report.problems += [stuck] if stuck else []
        mark = time.monotonic()
        raw = page.evaluate(_MODEL_JS, notebook)
        (artifacts / f"{stem}.executed.ipynb").write_text(json.dumps(raw, indent=1), encoding="utf-8")
        executed = from_lab_json(raw)  # the notebook as the learner got it, saved above
        report.problems += output_problems(executed, expect)
        report.problems += _wait_for_widgets(page)
        report.problems += _dom_problems(page, executed, expect)
        if strict:  # this run is the notebook's strict nbval check too (tests/stored_outputs.py)
            report.problems += compare_notebook(source, executed, interacts=_interact_views(page, expect))
        if "zh" in Path(notebook).parts[:-1]:
            report.problems += chinese_problems(page, notebook, executed, report.chinese)
        report.widgets = {kind: page.locator(f"{PANEL} {sel}").count() for kind, sel in _WIDGET_KINDS.items()}
        report.seconds["checks"] = time.monotonic() - mark
        if not stuck:  # a busy or dead kernel answers no click: that is reported already
            shots += _interact(page, expect, report, artifacts / f"{stem}-exercise.png", respond_within)
        _screenshot_full(page, artifacts / f"{stem}.png")
        shots.append(artifacts / f"{stem}.png")
    except Exception as exc:  # Playwright timeouts and the like: a problem, with a picture
        report.problems.append(f"the browser run broke off: {type(exc).__name__}: "
                               f"{str(exc).strip().splitlines()[0][:300]}")
        try:
            page.screenshot(path=str(artifacts / f"{stem}-failed.png"))
            shots.append(artifacts / f"{stem}-failed.png")
        except Exception:
            pass
    finally:
        report.seconds["total"] = time.monotonic() - start
        report.seconds = {k: round(v, 1) for k, v in report.seconds.items()}
        report.blocked_requests = sorted(set(blocked[first_blocked:]))
        report.screenshots = [str(p) for p in shots]
        page.close()
        server.shutdown_kernels()
        report.save(artifacts / f"{stem}.json")
    return report
