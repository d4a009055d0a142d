"""The modules of course_utils by their dotted name inside the package, for the tests that read
its source (layering, exports): ``"repro"``, ``"data"`` for ``data/__init__.py``,
``"data.glyphs"``, ``"__init__"`` for the package itself."""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "course_utils"


def module_files() -> dict[str, Path]:
    """Dotted name inside the package -> its file."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found
