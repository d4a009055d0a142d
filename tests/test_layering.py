"""CONTRIBUTING.md's layer diagram is derived from the imports, so it cannot drift; the package's
roles (its subpackages) are enforced here too.

A module's floor is 0 ("leaves") when it imports nothing of ours, else one more than the highest
floor it imports. Every import counts, inside functions too. A cycle fails the test. Modules are
named by their dotted path inside the package: ``repro``, ``data`` (``data/__init__.py``),
``data.glyphs``, ``experiments.pretrain``.
"""

import ast
import re
from pathlib import Path

from tools.import_graph import graph, module_files, our_imports

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_utils"
#: Top-level modules that are notebook plumbing, not lessons: seeding and threads, printed text,
#: tables and figure text in the learner's language, plots, forked sweeps, checkpoints.
TOOLKIT = {"repro", "printed", "tables", "i18n", "plots", "parallel", "checkpoint"}
SUBPACKAGES = {"data", "exercises", "experiments", "cli", "internals"}
#: What each role may import (besides itself). Lessons are the other top-level modules.
MAY_IMPORT = {
    "lessons": {"lessons", "toolkit", "data"},
    "toolkit": {"toolkit", "internals"},
    "internals": {"internals"},
    "data": {"data", "toolkit", "internals"},
    "exercises": {"exercises", "lessons", "toolkit", "data", "internals"},
    "experiments": {"experiments", "lessons", "toolkit", "data", "internals"},
    "cli": {"cli", "experiments", "lessons", "toolkit", "data", "internals"},
    "__main__": {"cli"},
}


MODULES = {name: path for name, path in module_files().items() if name != "__init__"}


def role(name: str) -> str:
    top = name.split(".")[0]
    if top in SUBPACKAGES or top == "__main__":
        return top
    return "toolkit" if top in TOOLKIT else "lessons"


def floors() -> dict[str, int]:
    edges = graph()
    result: dict[str, int] = {}

    def floor(name: str, path: tuple) -> int:
        assert name not in path, f"import cycle: {' -> '.join(path + (name,))}"
        if name not in result:
            result[name] = max((floor(d, path + (name,)) + 1 for d in edges[name]), default=0)
        return result[name]

    for name in edges:
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


def test_every_module_imports_only_what_its_role_may():
    wrong = [f"{name} ({role(name)}) imports {dep} ({role(dep)})"
             for name, deps in graph().items() for dep in sorted(deps)
             if role(dep) != role(name) and role(dep) not in MAY_IMPORT[role(name)]]
    assert not wrong, "role rules broken (see MAY_IMPORT): " + "; ".join(wrong)


def test_the_roles_are_the_folders():
    assert {role(n) for n in MODULES} == set(MAY_IMPORT)
    assert TOOLKIT <= set(MODULES) and all("/" not in n for n in TOOLKIT)
    lessons = sorted(n for n in MODULES if role(n) == "lessons")
    assert {"params", "depth", "losses", "optim", "training", "finetune", "peft", "gpt"} <= set(lessons)
    for package in SUBPACKAGES:
        assert (PACKAGE / package / "__init__.py").is_file()


def test_the_role_check_can_fail():
    assert role("experiments.pretrain") == "experiments" and role("gpt") == "lessons"
    assert "experiments" not in MAY_IMPORT["lessons"] and "cli" not in MAY_IMPORT["experiments"]
    source = "from course_utils.experiments.pretrain import x\nfrom course_utils.cli import commands\n"
    assert our_imports("gpt", source) == {"experiments.pretrain", "cli.commands"}


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
