"""CONTRIBUTING.md's layer diagram is derived from the imports, so it cannot drift.

A module's floor is 0 ("leaves") when it imports nothing of ours, else one more than the highest
floor it imports. Every import counts, inside functions too. A cycle fails the test.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_utils"


def our_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] == "course_utils":
                found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names
                      if a.name.startswith("course_utils.")}
    return found - {path.stem}


def floors() -> dict[str, int]:
    graph = {p.stem: our_imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    result: dict[str, int] = {}

    def floor(name: str, path: tuple) -> int:
        assert name not in path, f"import cycle: {' -> '.join(path + (name,))}"
        if name not in result:
            result[name] = max((floor(d, path + (name,)) + 1 for d in graph[name]), default=0)
        return result[name]

    for name in graph:
        floor(name, ())
    return result


def diagram() -> dict[str, int]:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    block = re.search(r"Package layering.*?```\n(.*?)```", text, re.S).group(1)
    stated = {}
    for line in block.splitlines():
        label = re.match(r"(floor (\d+)|leaves)\s+(.*)", line)
        assert label, f"unreadable diagram line: {line!r}"
        level = int(label.group(2)) if label.group(2) else 0
        for name in label.group(3).split("#")[0].split():  # after '#': a comment
            stated[name] = level
    return stated


def test_the_layer_diagram_in_contributing_is_the_import_graph():
    derived, stated = floors(), diagram()
    wrong = {n: (stated.get(n), f) for n, f in derived.items() if stated.get(n) != f}
    extra = sorted(set(stated) - set(derived))
    assert not wrong and not extra, (
        f"CONTRIBUTING.md's diagram is out of date; (stated, actual) floor per module: {wrong}; "
        f"listed but not in the package: {extra}. Derived: {sorted(derived.items(), key=lambda x: x[1])}")


def test_lesson_modules_import_only_torch_and_numpy():
    lessons = ["finetune", "depth", "params", "losses", "optim", "augment"]
    for name in lessons:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
        roots = {(n.module or "") if isinstance(n, ast.ImportFrom) else a.name
                 for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                 for a in (n.names if isinstance(n, ast.Import) else [n])}
        outside = {r for r in roots if r.split(".")[0] not in
                   {"torch", "numpy", "__future__", "math", "typing", "itertools", "dataclasses",
                    "collections", "functools"}}
        assert not outside, f"lesson module {name} imports {outside}"
