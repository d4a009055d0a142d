"""Check the oldest versions pyproject.toml promises: install each runtime floor, run the checks.

    python -m tools.check_floors [--venv .venv-floors] [--install-only] [-- PYTEST ARGS]

``pyproject.toml`` declares ranges (``torch>=2.4``): Colab and ``make lab`` take the newest
versions in them, ``make test`` the exact ones in ``constraints-test.txt``. This script checks the
other end: it installs the course into its own virtual environment with every runtime dependency
held at its floor (``torch==2.4`` ...; the dev tools keep their ranges) and runs the unit tests
plus every notebook with ``--nbval-lax``: each cell must run and each ``assert`` in it hold, but the
stored outputs are not compared (older numerics print other last digits). The browser test is
left out (it compares outputs). A floor that fails here is raised in pyproject.toml to the
oldest version that passes, and the README says which versions were checked.

Its own data cache (``COURSE_DATA_DIR``, beside the venv) keeps the checkpoints made by the old
versions away from the working tree's.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def floors(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """``{name: floor}`` of every runtime dependency declared as ``name>=floor``."""
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    found = {}
    for dep in deps:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*", dep)
        if not match:
            raise ValueError(f"pyproject dependency {dep!r} is not of the form name>=floor")
        found[match.group(1)] = match.group(2)
    return found


def constraints_text(pins: dict[str, str]) -> str:
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default=str(ROOT / ".venv-floors"))
    parser.add_argument("--install-only", action="store_true")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    venv = Path(args.venv)
    python = venv / "bin" / "python"
    pins = floors()
    constraints = venv / "floors.txt"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    constraints.write_text(constraints_text(pins), encoding="utf-8")
    print("floors:", ", ".join(f"{k}=={v}" for k, v in sorted(pins.items())), flush=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(constraints),
                    "-e", f"{ROOT}[dev]"], check=True, cwd=ROOT)
    installed = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True,
                               text=True, check=True).stdout
    for name in sorted(pins):
        line = next((row for row in installed.splitlines()
                     if row.lower().replace("_", "-").startswith(name.lower().replace("_", "-") + "==")), "?")
        print(f"  installed {line}")
    if args.install_only:
        return 0
    env = dict(os.environ, COURSE_DATA_DIR=str(venv / "data-cache"))
    command = [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=",
               "--nbval-lax", "--nbval-current-env", "-m", "not browser", "-ra",
               *(args.pytest_args or ["tests", "notebooks"])]
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
