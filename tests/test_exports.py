"""Every module of course_utils says what it exports (``__all__``), and every exported name is used.

A name is "used" when code outside its own module imports it or reads it as an attribute of its
module: a notebook's code cell (``notebooks/*.ipynb`` and the Chinese twins in ``notebooks/zh/``,
whose generated setup cell may differ), another module of course_utils (``__main__`` and
``commands``, the command line, included), ``benchmarks/`` or ``tools/``.

Uses found in ``tests/`` do not count: a test pins a name's behaviour, but a name only tests reach
is no part of what learners, the command line or the maintainers' scripts rely on, so exporting it
would advertise an API nobody calls (and every name would count as used, since tests import what
they test). Such a name may stay public, for its tests, without being exported. Uses are found by
parsing (``ast``; the notebooks' code cells with IPython's magics turned into Python first), never
by matching text.
"""

import ast
import json
from functools import cache
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

from tools.import_graph import module_files

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_utils"


FILES = module_files()  # dotted name ("data.glyphs"; "__init__": the package) -> file
MODULES = sorted(FILES)
#: Modules that others were editing when ``__all__`` was added everywhere; the integrator adds
#: theirs, and then this test (strict xfail) fails until the module is removed from this set.
PENDING: set[str] = set()


def _all_names(module: str) -> list[str] | None:
    """The names in the module's literal ``__all__``, or None when it has none."""
    tree = ast.parse(FILES[module].read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and node.value:
            return list(ast.literal_eval(node.value))
    return None


def _notebook_sources(path: Path) -> list[str]:
    """The code cells of a notebook as Python (magics and shell escapes made into calls)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    to_python = TransformerManager().transform_cell
    return [to_python("".join(c["source"])) for c in cells if c["cell_type"] == "code"]


def _user_sources() -> list[tuple[str, str]]:
    """(where, Python source) of everything whose uses count: notebooks, package, benchmarks, tools."""
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py"), *(ROOT / "tools").rglob("*.py")]
    sources = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in files]
    for nb in sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts):
        # one source per notebook: a module imported in one cell is read in later ones
        sources.append((str(nb.relative_to(ROOT)), "\n".join(_notebook_sources(nb))))
    return sources


def _ours(dotted: str) -> str | None:
    """``"course_utils.data.glyphs"`` -> ``"data.glyphs"``; None when not one of our modules."""
    parts = dotted.split(".")
    return ".".join(parts[1:]) if parts[0] == "course_utils" and len(parts) > 1 else None


def _imported_module(node: ast.ImportFrom, where: str) -> str | None:
    """The module a ``from X import ...`` reads from: its dotted name inside course_utils, "" for
    the package itself, None when not ours. A relative import counts from ``where``'s package."""
    if node.level and where.startswith("course_utils/"):
        package = Path(where).parent.parts[1:]
        base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
        return ".".join([*base, *((node.module or "").split(".") if node.module else [])])
    if node.module == "course_utils":
        return ""
    return _ours(node.module or "")


def _chain(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


def uses_in(source: str, where: str) -> set[tuple[str, str]]:
    """(module, name) pairs that one source reads from course_utils' modules.

    ``from course_utils.m import n`` uses ``(m, n)`` (``m`` may be dotted: ``data.glyphs``); a
    module bound to a name (``from course_utils.p import m``, ``import course_utils.m as m``,
    ``from . import m``) uses ``(m, n)`` for each ``m.n`` read, and so does ``course_utils.m.n``.
    """
    tree = ast.parse(source)
    found, aliases = set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = _imported_module(node, where)
            if module is None:
                continue
            for a in node.names:
                inner = f"{module}.{a.name}" if module else a.name
                if inner in FILES:  # a module, bound to a name
                    aliases[a.asname or a.name] = inner
                else:
                    found.add((module or "__init__", a.name))
        elif isinstance(node, ast.Import):
            for a in node.names:
                inner = _ours(a.name)
                if inner and a.asname:
                    aliases[a.asname] = inner
    for node in ast.walk(tree):
        chain = _chain(node) if isinstance(node, ast.Attribute) else None
        if not chain:
            continue
        head, _, rest = chain.partition(".")
        if head in aliases:
            chain = f"course_utils.{aliases[head]}.{rest}"
        inner = _ours(chain)
        if inner and "." in inner:
            module, _, name = inner.rpartition(".")
            if module in FILES and name not in FILES and f"{module}.{name}" not in FILES:
                found.add((module, name))
    return found


@cache
def users() -> dict[tuple[str, str], set[str]]:
    """(module, name) -> the files (notebooks, modules, scripts) outside that module that use it."""
    result: dict[tuple[str, str], set[str]] = {}
    for where, source in _user_sources():
        for module, name in uses_in(source, where):
            if module not in FILES or where != str(FILES[module].relative_to(ROOT)):
                result.setdefault((module, name), set()).add(where)
    return result


@pytest.mark.parametrize("module", [
    pytest.param(m, marks=pytest.mark.xfail(strict=True, reason="pending: being edited elsewhere"))
    if m in PENDING else m for m in MODULES])
def test_every_module_has_all(module):
    assert _all_names(module) is not None, f"course_utils/{module}.py has no __all__"


@pytest.mark.parametrize("module", MODULES)
def test_exported_names_exist_and_are_used(module):
    names = _all_names(module) or []
    assert len(names) == len(set(names)), f"{module}.__all__ repeats a name"
    defined = vars(__import__(f"course_utils.{module}", fromlist=["_"]))
    missing = [n for n in names if n not in defined]
    assert not missing, f"course_utils.{module}.__all__ names what it does not define: {missing}"
    unused = [n for n in names if not users().get((module, n))]
    assert not unused, (f"course_utils.{module} exports {unused}, which no notebook, module, "
                        "benchmark or tool uses: stop exporting them (or delete them)")


def test_uses_are_found_by_parsing():
    source = ("from course_utils.repro import get_device\nfrom course_utils import plots as p\n"
              "import course_utils.data as d\nimport course_utils\n"
              "from course_utils.experiments import transfer\nfrom course_utils.data.glyphs import render\n"
              "p.plot_history(h); d.load; course_utils.losses.assert_sane; transfer.GRID_CSV\n"
              "course_utils.cli.doctor.main\n"
              "x = 'from course_utils.optim import SGD'  # a string, not an import\n")
    assert uses_in(source, "notebooks/x.ipynb") == {
        ("repro", "get_device"), ("plots", "plot_history"), ("data", "load"), ("losses", "assert_sane"),
        ("experiments.transfer", "GRID_CSV"), ("data.glyphs", "render"), ("cli.doctor", "main")}
    relative = "from .data import load\nfrom . import plots\nplots.show\n"
    assert uses_in(relative, "course_utils/x.py") == {("data", "load"), ("plots", "show")}
    assert uses_in("from .glyphs import render\n", "course_utils/data/x.py") == {("data.glyphs", "render")}


def test_sources_include_every_kind_of_user():
    kinds = {where.split("/")[0] for where, _ in _user_sources()}
    assert kinds == {"course_utils", "benchmarks", "tools", "notebooks"}
    assert "course_utils/__main__.py" in users()[("cli.commands", "run")]  # the command line
    assert "notebooks/zh/00_setup.ipynb" in users()[("repro", "seed_everything")]
