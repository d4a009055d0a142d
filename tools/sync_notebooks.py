"""Rewrite every notebook's "Open in Colab" badge and Colab setup cell from pyproject.toml.

The repository address lives in ONE place, ``[tool.course]`` in pyproject.toml. The Chinese
twins under ``notebooks/zh/`` get badges that open them (``.../notebooks/zh/NN_x.ipynb``).

    python -m tools.sync_notebooks [NB ...] # rewrite badges and setup cells in place
    python -m tools.sync_notebooks --check  # exit 1 if any notebook disagrees (CI does this)

Pattern every notebook follows: cell 0 is Markdown that starts with the title line and the
badge line; cell 1 is the setup cell below, tagged ``colab-setup``. A Chinese notebook's setup
cell also sets ``COURSE_LANG=zh`` (Colab does not tell the kernel where the notebook is) and, on
Colab, installs a CJK font for the figures; ``tools/zh_drift.py`` leaves that cell to this tool.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import nbformat

from tools.nbenv import NOTEBOOKS, ROOT, all_notebooks

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_RE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
SETUP_TAG = "colab-setup"


def course_config(pyproject: Path = ROOT / "pyproject.toml") -> dict:
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["course"]
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", config["repository"]):
        raise ValueError(f"[tool.course] repository must be 'owner/name', got {config['repository']!r}")
    return config


def colab_url(notebook_name: str, config: dict) -> str:
    return (f"https://colab.research.google.com/github/{config['repository']}/blob/"
            f"{config['branch']}/notebooks/{notebook_name}")


def badge(notebook_name: str, config: dict) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook_name, config)})"


SETUP = {
    "en": """\
# Setup. On Colab: install the course package (about 1 minute). Elsewhere: nothing to do,
# `make lab` already installed it.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "course-utils @ {url}"], check=True)""",
    "zh": """\
# 准备。在 Colab 上：安装课程包（约 1 分钟）和一种中文字体。其他地方：`make lab` 已经装好，
# 这里只选择中文。
import os
import sys

os.environ.setdefault("COURSE_LANG", "zh")  # 用中文：Colab 看不出本笔记本在 zh/ 目录中
if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "course-utils @ {url}"], check=True)
    # 图中的中文需要 CJK 字体；安装失败时图的标签保持英文
    subprocess.run(["apt-get", "-qq", "install", "-y", "fonts-noto-cjk"], check=False)""",
}


def setup_source(config: dict, language: str = "en") -> str:
    """The setup cell (cell 1) of a notebook in ``language`` (``"en"`` or ``"zh"``)."""
    return SETUP[language].format(url=f"git+https://github.com/{config['repository']}@{config['branch']}")


def notebook_language(path: Path) -> str:
    """``"zh"`` for a Chinese twin (a notebook in a ``zh`` folder), else ``"en"``."""
    return "zh" if Path(path).parent.name == "zh" else "en"


def notebook_id(path: Path) -> str:
    """The notebook's path under notebooks/ ('00_setup.ipynb', 'zh/00_setup.ipynb'): what its
    Colab address ends with."""
    try:
        return Path(path).resolve().relative_to(NOTEBOOKS).as_posix()
    except ValueError:  # a notebook outside notebooks/ (a test's scratch copy)
        return Path(path).name


def problems(path: Path, config: dict) -> list[str]:
    """What is wrong with one notebook's badge and setup cell (empty when all agree)."""
    nb = nbformat.read(path, as_version=4)
    name = notebook_id(path)
    found = []
    if len(nb.cells) < 2 or nb.cells[0].cell_type != "markdown":
        return [f"{path.name}: cell 0 must be Markdown with the title and the Colab badge"]
    badges = BADGE_RE.findall(nb.cells[0].source)
    if badges != [badge(name, config)]:
        found.append(f"{name}: Colab badge missing or not pointing at {colab_url(name, config)}")
    setup = nb.cells[1]
    if setup.cell_type != "code" or setup.source != setup_source(config, notebook_language(path)):
        found.append(f"{name}: cell 1 is not the standard {notebook_language(path)} Colab setup cell "
                     "(python -m tools.sync_notebooks rewrites it)")
    if SETUP_TAG not in setup.metadata.get("tags", []):
        found.append(f"{name}: cell 1 lacks the '{SETUP_TAG}' tag")
    return found


def sync(path: Path, config: dict) -> bool:
    """Rewrite one notebook's badge and setup cell; return True when it changed."""
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    head = nb.cells[0]
    if BADGE_RE.search(head.source):
        head.source = BADGE_RE.sub(badge(notebook_id(path), config), head.source)
    else:  # insert the badge after the title line
        lines = head.source.split("\n")
        head.source = "\n".join(lines[:1] + ["", badge(notebook_id(path), config)] + lines[1:])
    setup = nb.cells[1] if len(nb.cells) > 1 else None
    if setup is None or setup.cell_type != "code" or SETUP_TAG not in setup.metadata.get("tags", []):
        setup = nbformat.v4.new_code_cell()
        nb.cells.insert(1, setup)
    setup.source = setup_source(config, notebook_language(path))
    setup.metadata["tags"] = sorted(set(setup.metadata.get("tags", [])) | {SETUP_TAG})
    after = nbformat.writes(nb)
    if after != before:
        path.write_text(after + ("" if after.endswith("\n") else "\n"), encoding="utf-8")
    return after != before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook")
    parser.add_argument("--check", action="store_true", help="only report, exit 1 on a mismatch")
    args = parser.parse_args(argv)
    config = course_config()
    paths = args.notebooks or all_notebooks()
    if args.check:
        found = [p for path in paths for p in problems(path, config)]
        print("\n".join(found) or f"{len(paths)} notebooks agree with [tool.course]")
        return 1 if found else 0
    for path in paths:
        if sync(path, config):
            print(f"rewrote {notebook_id(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
