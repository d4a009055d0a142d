"""One meaning per prefix, read from the package's source (nothing is imported):

* ``check_*`` takes something and returns a report (an exercise ``Verdict``, the doctor's
  ``Check``); a failed check is in the report, it never raises;
* ``assert_*`` raises ``AssertionError`` (or another error) when a run breaks a rule, as
  ``torch.testing.assert_close`` does, and returns None;
* ``validate_*`` raises ``TypeError`` / ``ValueError`` on bad input before any work starts, and
  returns None.

The return annotation is the contract: a ``check_*`` annotated ``-> None`` can only report by
raising, which is what ``assert_*`` / ``validate_*`` are for.
"""

import ast

import pytest

from tools.import_graph import module_files

REPORTS = {"Verdict", "Check"}
RAISING = ("assert_", "validate_")


def _functions(tree: ast.Module):
    """(qualified name, node) of the module's functions and of its classes' methods."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{node.name}.{item.name}", item


def naming_problems(source: str, module: str) -> list[str]:
    """What in ``source`` breaks the naming rule, one line per function ([] when none)."""
    problems = []
    for qualname, node in _functions(ast.parse(source)):
        returns = ast.unparse(node.returns) if node.returns is not None else None
        where = f"{module}.{qualname} -> {returns}"
        if node.name.startswith("check_") and returns not in REPORTS:
            problems.append(f"{where}: a check_* returns a report ({' or '.join(sorted(REPORTS))}); "
                            f"one that raises is assert_* (a broken run) or validate_* (bad input)")
        elif node.name.startswith(RAISING) and returns != "None":
            problems.append(f"{where}: assert_* / validate_* raise or return None; "
                            f"one that returns a report is check_*")
    return problems


def _names(prefixes) -> set[str]:
    found = set()
    for module, path in module_files().items():
        for qualname, node in _functions(ast.parse(path.read_text(encoding="utf-8"))):
            if node.name.startswith(prefixes):
                found.add(f"{module}.{qualname}")
    return found


def test_every_prefix_keeps_its_meaning():
    problems = []
    for module, path in sorted(module_files().items()):
        problems += naming_problems(path.read_text(encoding="utf-8"), module)
    assert not problems, "\n".join(problems)


def test_the_walk_sees_all_three_kinds():
    """Not vacuous: the functions the rule is about are found where they live."""
    checks, raising = _names(("check_",)), _names(RAISING)
    assert {"exercises.checks.check_log_softmax", "cli.doctor.check_python"} <= checks, checks
    assert {"losses.assert_sane", "checkpoint.validate_saveable", "training_checks.validate_setup",
            "training_checks.validate_loss", "training._Meter.assert_finite"} <= raising, raising


@pytest.mark.parametrize("source", [
    "def check_foo(x) -> None:\n    if not x:\n        raise ValueError(x)\n",  # raises: a validate_*
    "def check_foo(x):\n    assert x\n",  # no annotation: the contract is unstated
    "def check_foo(x) -> bool:\n    return bool(x)\n",  # not a report
    "class Run:\n    def check_losses(self) -> None:\n        raise AssertionError\n",  # a method too
    "def assert_foo(x) -> Verdict:\n    return Verdict(x)\n",  # returns a report: a check_*
    "def validate_foo(x) -> int:\n    return int(x)\n",
])
def test_the_rule_can_fail(source):
    assert naming_problems(source, "example"), source


def test_the_rule_accepts_each_kind():
    source = ("def check_foo(fn) -> Verdict:\n    return Verdict(True)\n"
              "def check_bar() -> Check:\n    return Check('bar', True)\n"
              "def assert_foo(losses) -> None:\n    assert losses\n"
              "def validate_foo(x) -> None:\n    if x is None:\n        raise TypeError\n"
              "def _check_private(x) -> int:\n    return x\n")
    assert naming_problems(source, "example") == []
