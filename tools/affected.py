"""The notebooks a change can affect: what ``make check`` runs under strict nbval while you work.

    python -m tools.affected                 # changes since main's merge-base, committed or not
    python -m tools.affected --base HEAD~3   # since another revision
    python -m tools.affected --why           # and why each notebook is in the list

A changed notebook brings its twin in the other language (same code, cell for cell). A changed
module of ``course_utils`` brings every notebook that imports it, directly or through other
modules (:mod:`tools.import_graph`, inside functions too, and ``python -m course_utils`` as its
``__main__``); a changed data file of the package, every module in its folder. A change to what
every run shares (``pyproject.toml``, the test lock, ``conftest.py``, ``data/``, the tools and
tests that execute or compare notebooks) brings every notebook. Other files (Markdown, unit tests,
benchmarks) bring none: the unit tests cover them. The list errs on the side of more: ``make test``
(every notebook, in the browser too) stays the check before a push, and CI runs it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path, PurePosixPath

from tools.import_graph import ROOT, graph, module_files, notebook_imports
from tools.nbenv import all_notebooks

#: Changes that can move every notebook's outputs (paths relative to the repository, "/" = a folder).
EVERYTHING = ("pyproject.toml", "constraints-test.txt", "conftest.py", "data/", "tools/nbenv.py",
              "tests/stored_outputs.py", "tests/nbval_sanitize.cfg")


def _changed_modules(path: PurePosixPath, files: dict[str, Path]) -> set[str]:
    """The modules a changed file under course_utils/ stands for: itself, or for a data file
    (an answer key, a results table) every module of the package whose folder holds it."""
    relative = PurePosixPath(path.relative_to("course_utils"))
    if relative.suffix == ".py":
        parts = relative.with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)
        return {name}
    package = (ROOT / "course_utils" / relative).parent
    while not (package / "__init__.py").is_file() and package != ROOT / "course_utils":
        package = package.parent  # experiments/results/x.csv -> experiments/
    return {name for name, file in files.items() if file.parent == package}


def _with_packages(names: set[str]) -> set[str]:
    """Importing ``cli.doctor`` runs ``cli/__init__.py`` first: the names and their packages."""
    return names | {".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 1)}


def _importers(changed: set[str]) -> set[str]:
    """The modules that import any of ``changed``, directly or through others, and those themselves."""
    edges = {name: _with_packages(deps | {name}) - {name} for name, deps in graph().items()}
    reached = set(changed)
    while True:
        more = {name for name, deps in edges.items() if deps & reached} - reached
        if not more:
            return reached
        reached |= more


def affected(changed: list[str], notebooks: list[PurePosixPath] | None = None) -> dict[str, str]:
    """Changed paths (relative, "/"-separated) -> {notebook path: why}, in the order to run them
    (English first, then Chinese; by number, so a cache is filled before it is read)."""
    if notebooks is None:
        notebooks = [PurePosixPath(p.relative_to(ROOT).as_posix()) for p in all_notebooks()]
    why: dict[PurePosixPath, str] = {}
    files = module_files()
    modules: set[str] = set()  # the changed modules of course_utils
    for name in changed:
        path = PurePosixPath(name)
        if any(name == e or (e.endswith("/") and name.startswith(e)) for e in EVERYTHING):
            for nb in notebooks:
                why.setdefault(nb, f"{name} changed (every notebook depends on it)")
        elif path.suffix == ".ipynb" and path.parts[0] == "notebooks":  # it and its twin: the same name
            for nb in notebooks:
                if nb.name == path.name:
                    why.setdefault(nb, f"{name} changed" if nb == path else f"its twin {name} changed")
        elif path.parts[0] == "course_utils":
            modules |= _changed_modules(path, files)
    if modules:
        reached = _importers(modules)
        for nb in notebooks:
            hit = sorted(_with_packages(notebook_imports(ROOT / nb)) & reached)
            if hit:
                why.setdefault(nb, f"imports {', '.join(hit[:3])}{' ...' if len(hit) > 3 else ''}; "
                                   f"changed: {', '.join(sorted(modules))}")
    return {str(nb): why[nb] for nb in notebooks if nb in why}


def changed_files(base: str | None) -> list[str]:
    """Files changed since ``base`` (default: the merge-base with main), committed or not, and
    the untracked files git does not ignore."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout
        except FileNotFoundError:
            raise SystemExit("tools.affected: git is not installed; run `make test` (every notebook) instead") from None

    if base is None:
        for candidate in ("origin/main", "main"):
            try:
                base = git("merge-base", "HEAD", candidate).strip()
                break
            except subprocess.CalledProcessError:
                continue
        else:
            raise SystemExit("tools.affected: no branch 'main' or 'origin/main' to compare with; "
                             "pass --base REV")
    try:
        tracked = git("diff", "--name-only", base).splitlines()
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"tools.affected: git cannot compare with {base!r}: {exc.stderr.strip()[:200]}") from None
    untracked = git("ls-files", "--others", "--exclude-standard").splitlines()
    return sorted(set(tracked) | set(untracked))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.affected", description=__doc__.split("\n")[0])
    parser.add_argument("--base", help="compare with this revision (default: the merge-base with main)")
    parser.add_argument("--why", action="store_true",
                        help="also list each notebook with the reason on stderr (stdout stays the bare paths)")
    args = parser.parse_args(argv)
    found = affected(changed_files(args.base))
    for notebook, reason in found.items():
        print(notebook)
        if args.why:
            print(f"{notebook}: {reason}", file=sys.stderr)
    if args.why and not found:
        print("no notebook can be affected by this change: unit tests only", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
