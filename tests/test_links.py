"""Links a learner clicks: every relative link and image in the notebooks and the Markdown docs
resolves (file, and #anchor when given), and every Colab badge or Colab/GitHub link points to the
repository configured in pyproject.toml and to a notebook or file that exists.

The badge format and the Colab address come from tools/sync_notebooks.py (the one source of
truth); this test only finds links and resolves them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from tools.nbenv import NOTEBOOKS, ROOT
from tools.sync_notebooks import BADGE_RE, all_notebooks, badge, colab_url, course_config, notebook_id

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
INLINE = re.compile(r"\]\(\s*(<[^>]*>|[^)\s]+)")                 # [text](target), ![alt](src)
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.M)  # [id]: target
HTML_ATTR = re.compile(r"<(?:a|img|source)\b[^>]*?\b(?:href|src)\s*=\s*[\"']([^\"']+)[\"']", re.I)
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.M)
HTML_ID = re.compile(r"<a\b[^>]*\b(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.I)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
SKIP_DIRS = {"test-artifacts", "build", "node_modules", "__pycache__"}


def link_targets(markdown: str) -> list[str]:
    """Link and image targets in Markdown, outside code blocks and code spans, in order."""
    text = CODE_SPAN.sub("", FENCE.sub("", markdown))
    found = [(m.start(), m.group(1)) for pattern in (INLINE, REFERENCE, HTML_ATTR)
             for m in pattern.finditer(text)]
    return [target.strip("<>") for _, target in sorted(found)]


def anchors(path: Path) -> set[str]:
    """The headings (and <a id=...>) of a notebook or Markdown file, normalised by :func:`slug`."""
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    else:
        text = path.read_text(encoding="utf-8")
    text = FENCE.sub("", text)
    return {slug(h) for h in HEADING.findall(text)} | {slug(a) for a in HTML_ID.findall(text)}


def slug(text: str) -> str:
    """Letters and digits only, lower case: GitHub's and JupyterLab's anchors both reduce to it."""
    return re.sub(r"[\W_]+", "", unquote(text).lower())


def documents() -> list[Path]:
    """The notebooks and the Markdown files a learner or maintainer reads (not hidden or built ones)."""
    docs = all_notebooks()  # English, then the Chinese twins in notebooks/zh/
    for path in sorted(ROOT.glob("*.md")) + sorted(ROOT.glob("*/*.md")):
        parts = path.relative_to(ROOT).parts
        if not any(p.startswith(".") or p in SKIP_DIRS or p.endswith(".egg-info") for p in parts):
            docs.append(path)
    return docs


def markdown_parts(path: Path) -> list[tuple[str, str, dict]]:
    """(where, markdown, attachments) for each Markdown cell of a notebook, or the whole file."""
    if path.suffix != ".ipynb":
        return [(path.name, path.read_text(encoding="utf-8"), {})]
    nb = nbformat.read(path, as_version=4)
    return [(f"{notebook_id(path)} cell {i}", c.source, c.get("attachments", {}))
            for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]


def git_ignored(paths: list[Path]) -> set[Path]:
    """Which of ``paths`` git ignores (a fresh clone would not have them)."""
    if not paths or shutil.which("git") is None or not (ROOT / ".git").exists():
        return set()
    out = subprocess.run(["git", "check-ignore", "--stdin", "-z"], cwd=ROOT, capture_output=True,
                         input="\0".join(str(p) for p in paths), text=True)
    return {Path(p) for p in out.stdout.split("\0") if p}


def local_problem(doc: Path, target: str, attachments: dict) -> tuple[str | None, Path | None]:
    """Why a relative target does not resolve (or None), and the file it names."""
    if target.startswith("attachment:"):
        name = unquote(target.removeprefix("attachment:"))
        return (None if name in attachments else f"no attachment {name!r} in the cell"), None
    parts = urlsplit(target)
    file = (doc.parent / unquote(parts.path)).resolve() if parts.path else doc
    if ROOT not in file.parents and file != ROOT:
        return f"{target!r} points outside the repository", None
    if not file.exists():
        return f"{target!r}: {file.relative_to(ROOT)} does not exist", None
    if parts.fragment and file.suffix in (".ipynb", ".md") and slug(parts.fragment) not in anchors(file):
        return f"{target!r}: no heading #{parts.fragment} in {file.relative_to(ROOT)}", None
    return None, file


def remote_problem(target: str, config: dict) -> str | None:
    """Colab and GitHub links into the course must name the configured repository and a real file."""
    colab = "https://colab.research.google.com/github/"
    github = "https://github.com/"
    if target.startswith(colab):
        name = target.split("/notebooks/", 1)[-1]  # '00_setup.ipynb' or 'zh/00_setup.ipynb'
        if target != colab_url(name, config):
            return f"{target!r} is not {colab_url(name, config)!r} ([tool.course] in pyproject.toml)"
        if not (NOTEBOOKS / name).is_file():
            return f"{target!r}: notebooks/{name} does not exist"
    elif target.startswith(github) and target.lower().startswith(github + config["repository"].lower() + "/"):
        match = re.match(rf"{re.escape(github + config['repository'])}/(?:blob|tree)/([^/]+)/([^#?]+)", target)
        if match and match.group(1) != config["branch"]:
            return f"{target!r} names branch {match.group(1)!r}, not {config['branch']!r}"
        if match and not (ROOT / unquote(match.group(2))).exists():
            return f"{target!r}: {match.group(2)} does not exist in this repository"
    return None


DOCS = documents()


@pytest.mark.parametrize("doc", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_every_link_resolves(doc):
    config, broken, files = course_config(), [], []
    for where, markdown, attachments in markdown_parts(doc):
        for target in link_targets(markdown):
            if SCHEME.match(target) and not target.startswith("attachment:"):
                problem = remote_problem(target, config) if target.startswith("https://") else None
            else:
                problem, file = local_problem(doc, target, attachments)
                files += [(where, target, file)] if file is not None else []
            if problem:
                broken.append(f"{where}: {problem}")
    ignored = git_ignored([f for _, _, f in files])
    broken += [f"{where}: {target!r} is git-ignored: a fresh clone does not have it"
               for where, target, f in files if f in ignored]
    assert not broken, "broken links:\n" + "\n".join(broken)


@pytest.mark.parametrize("doc", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_colab_badges_point_to_this_repository(doc):
    config, wrong = course_config(), []
    for where, markdown, _ in markdown_parts(doc):
        for found in BADGE_RE.findall(markdown):
            name = found.split("/notebooks/", 1)[-1].rstrip(")")
            if found != badge(name, config):  # that the notebook exists: test_every_link_resolves
                wrong.append(f"{where}: {found} is not {badge(name, config)}")
            elif doc.suffix == ".ipynb" and where.endswith(" cell 0") and name != notebook_id(doc):
                wrong.append(f"{where}: the notebook's own badge opens {name}")
    assert not wrong, "\n".join(wrong)


# ---- the link finder itself ----------------------------------------------------------------

def test_link_targets_finds_links_images_badges_references_and_html_but_not_code():
    markdown = (
        "See [notebook 01](01_depth.ipynb#Depth-of-a-model) and ![a plot](img/loss.png \"Loss\").\n"
        "[![Open In Colab](https://colab.example/badge.svg)](https://colab.example/nb)\n"
        "`[not a link](nowhere.md)` and a [ref][r].\n\n"
        "```python\nx = d[k](y)  # ](code.md)\n```\n"
        "<img src=\"figures/arch.svg\" width=300> <a href='../README.md'>home</a>\n\n"
        "[r]: <docs/with space.md>\n"
    )
    assert link_targets(markdown) == [
        "01_depth.ipynb#Depth-of-a-model", "img/loss.png", "https://colab.example/badge.svg",
        "https://colab.example/nb", "figures/arch.svg", "../README.md", "docs/with space.md"]


def test_slug_matches_github_and_jupyterlab_anchors():
    heading = "2. Cross-entropy: from $L$ to `F.cross_entropy`"
    assert slug("2-cross-entropy-from-l-to-fcross_entropy") == slug(heading)  # GitHub's
    assert slug("2.-Cross-entropy:-from-$L$-to-F.cross_entropy") == slug(heading)  # Lab's
    assert slug("术语表-glossary") == slug("术语表 Glossary")


def test_local_and_remote_problems_are_reported(tmp_path):
    config = {"repository": "course-from-scratch/deep-model-finetuning", "branch": "main"}
    readme = ROOT / "README.md"
    assert local_problem(readme, "notebooks/no_such.ipynb", {})[0].endswith("does not exist")
    assert "outside the repository" in local_problem(readme, "../../etc/passwd", {})[0]
    assert local_problem(readme, "attachment:a.png", {"a.png": {}})[0] is None
    assert "no attachment" in local_problem(readme, "attachment:b.png", {})[0]
    first = next(NOTEBOOKS.glob("*.ipynb"), None)
    if first is not None:
        assert local_problem(readme, f"notebooks/{first.name}#no-such-heading-anywhere", {})[0]
        text = "\n".join(c.source for c in nbformat.read(first, as_version=4).cells)
        heading = HEADING.search(text).group(1)
        github_anchor = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        assert local_problem(readme, f"notebooks/{first.name}#{github_anchor}", {}) == (None, first)
        assert remote_problem(colab_url(first.name, config), config) is None
    assert "is not" in remote_problem(
        "https://colab.research.google.com/github/someone/else/blob/main/notebooks/00_setup.ipynb", config)
    assert "does not exist" in remote_problem(colab_url("99_nothing.ipynb", config), config)
    assert "branch" in remote_problem(
        f"https://github.com/{config['repository']}/blob/dev/README.md", config)


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_git_ignored_paths_are_found():
    cache, readme = ROOT / "data" / "cache" / "weights.pt", ROOT / "README.md"
    assert git_ignored([cache, readme]) == {cache}
