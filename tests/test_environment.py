"""pyproject.toml and environment.yml must list the same packages with the same floors."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name where they differ
NOT_IN_CONDA = {"python", "pip"}
REQUIREMENT = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(.*)$")


def split(requirement: str) -> tuple[str, str]:
    name, spec = REQUIREMENT.match(requirement.strip()).groups()
    return name.lower(), spec.replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return dict(split(r) for r in reqs)


def conda_requirements(text: str | None = None) -> dict[str, str]:
    found = {}
    text = text if text is not None else (ROOT / "environment.yml").read_text()
    for line in text.split("\ndependencies:", 1)[1].splitlines():
        item = re.match(r"^\s+-\s+([^#]+?)\s*(#.*)?$", line)
        if not item or item.group(1).endswith(":") or item.group(1).startswith("-e"):
            continue
        name, spec = split(item.group(1))
        if name not in NOT_IN_CONDA:
            found[name] = spec
    return found


def test_environment_yml_matches_pyproject():
    expected = {CONDA_NAMES.get(name, name): spec for name, spec in pyproject_requirements().items()}
    assert conda_requirements() == expected


def test_ranges_not_pins():
    for name, spec in pyproject_requirements().items():
        assert spec.startswith(">="), f"{name}{spec}: use a floor (>=), not a pin"


def test_environment_yml_installs_the_course_itself():
    assert re.search(r"^\s+-\s+-e\s+\.\s*$", (ROOT / "environment.yml").read_text(), re.M)


def test_parser_sees_a_difference():
    """Guard the guard: a package missing from environment.yml is detected."""
    text = (ROOT / "environment.yml").read_text()
    assert "tqdm" in conda_requirements(text)
    assert "tqdm" not in conda_requirements(text.replace("  - tqdm>=4.65\n", ""))
