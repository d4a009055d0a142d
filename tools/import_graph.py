"""Who imports what: the modules of ``course_utils`` and the notebooks, read from their source.

Modules are named by their dotted path inside the package: ``repro``, ``data`` (for
``data/__init__.py``), ``data.glyphs``, ``__init__`` (the package itself). Every import counts,
inside functions too. ``tests/test_layering.py`` derives CONTRIBUTING's layer diagram from
:func:`graph`; ``tools/affected.py`` follows it backwards from a changed file to the notebooks.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_utils"

__all__ = ["module_files", "our_imports", "graph", "notebook_imports"]


def module_files() -> dict[str, Path]:
    """Dotted name inside the package -> its file."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def our_imports(name: str, source: str, modules=None) -> set[str]:
    """The modules of ours that ``source`` (module ``name``'s, or a notebook's code) imports.

    ``from course_utils.p import m`` imports ``p.m`` when ``p.m`` is a module, else ``p``;
    ``modules`` are the names that exist (default: :func:`module_files`).
    """
    return set(_our_imports(name, source, frozenset(module_files() if modules is None else modules)))


@functools.cache  # keyed by the source itself: an edited file is parsed again
def _our_imports(name: str, source: str, modules: frozenset) -> frozenset:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "course_utils":
                continue
            base = ".".join(parts[1:])
            for alias in node.names:
                inner = f"{base}.{alias.name}" if base else alias.name
                found.add(inner if inner in modules else base)
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".", 1)[1] for a in node.names if a.name.startswith("course_utils.")}
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{name}: use absolute imports (from course_utils.x import y)")
    return frozenset(found - {name, ""})


def graph() -> dict[str, set[str]]:
    """Every module of the package (not the package's ``__init__``) -> the modules it imports."""
    files = {name: path for name, path in module_files().items() if name != "__init__"}
    return {name: our_imports(name, path.read_text(encoding="utf-8"), files) for name, path in files.items()}


_MAGIC = re.compile(r"^\s*[!%].*$", re.M)  # shell and magic lines are not Python
_RUN_MODULE = re.compile(r"-m\s+(course_utils(?:\.\w+)*)")  # `!python -m course_utils ...`, subprocess args


def notebook_imports(path: Path) -> set[str]:
    """The modules of ours a notebook's code cells import, or run as ``python -m course_utils...``
    (a shell line or a subprocess: ``course_utils`` alone runs its ``__main__``)."""
    path = Path(path)
    return set(_notebook_imports(str(path), path.stat().st_mtime_ns))


@functools.cache  # a notebook is read again once it changes on disk
def _notebook_imports(path: str, mtime_ns: int) -> frozenset:
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    found, modules = set(), set(module_files())
    for source in code:
        found |= our_imports(path, _MAGIC.sub("", source), modules)
        for module in _RUN_MODULE.findall(source):
            found.add(module.partition(".")[2] or "__main__")
    return frozenset(found)
