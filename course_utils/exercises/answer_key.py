"""The answer key of the course's exercises: answer, tolerance, hint and solution per exercise id.

An exercise id is ``"NN.k"``: notebook ``NN``, exercise ``k``. The entries of notebook ``NN`` are
stored in the package data file ``course_utils/exercises/answers/NN.b64`` as base64-encoded JSON **only so
that a learner who opens it does not read the answers at a glance**; it is not a secret and not
a protection. ``Exercise(question, key="02.1")`` reads its entry here. One file per notebook, so
that work on two notebooks never touches the same file.

Maintainers: ``entries = load()``, change the dict, then ``rewrite(entries)`` (rewrites the files
whose entries changed); ``tests/test_exercises.py`` checks every entry.
Each entry: ``answer`` (a number, a text, or a list of accepted texts), optional ``rel_tol``
(for numbers), ``hint`` and ``solution`` (course HTML), and ``zh``: the Chinese ``question``,
``hint`` and ``solution`` that the Chinese notebooks show (``tests/test_i18n.py`` requires them).
"""

from __future__ import annotations

import base64
import json
import os
import textwrap
from functools import lru_cache
from pathlib import Path

from course_utils.internals.atomic import atomic_write

__all__ = ["entry"]

#: The folder of the per-notebook answer files (package data).
ANSWERS = Path(__file__).resolve().parent / "answers"


def _decode(text: str) -> dict[str, dict]:
    """The entries stored in one answer file's text."""
    return json.loads(base64.b64decode("".join(text.split())).decode("utf-8"))


def _encode(entries: dict[str, dict]) -> str:
    """The text of an answer file for ``entries`` (sorted, 96-character lines)."""
    raw = json.dumps(entries, ensure_ascii=False, sort_keys=True, indent=0).encode("utf-8")
    return "\n".join(textwrap.wrap(base64.b64encode(raw).decode("ascii"), 96)) + "\n"


@lru_cache(maxsize=1)
def _all() -> str:
    entries: dict[str, dict] = {}
    for path in sorted(ANSWERS.glob("*.b64")):
        entries.update(_decode(path.read_text(encoding="ascii")))
    return json.dumps(entries)


def load() -> dict[str, dict]:
    """Every entry, keyed by exercise id (a fresh copy: changing it changes nothing here)."""
    return json.loads(_all())


def keys() -> list[str]:
    return sorted(load())


def entry(key: str) -> dict:
    """The entry of one exercise; a clear KeyError naming the known ids of that notebook."""
    entries = load()
    if key not in entries:
        same = [k for k in sorted(entries) if k.split(".")[0] == str(key).split(".")[0]]
        raise KeyError(f"no exercise {key!r} in course_utils.exercises.answer_key (this notebook's ids: "
                       f"{same or 'none'}); add it with answer_key.rewrite(...)")
    return entries[key]


def rewrite(entries: dict[str, dict], folder: str | os.PathLike | None = None) -> list[Path]:
    """Store ``entries`` as one file per notebook in ``folder`` (default :data:`ANSWERS`), each
    written atomically; a notebook's file that no entry names any more is removed. Returns the
    files written."""
    for key, value in entries.items():
        if not isinstance(value, dict) or "answer" not in value:
            raise ValueError(f"entry {key!r} must be a dict with an 'answer', got {value!r}")
    folder = Path(folder) if folder is not None else ANSWERS
    folder.mkdir(parents=True, exist_ok=True)
    by_notebook: dict[str, dict] = {}
    for key, value in entries.items():
        by_notebook.setdefault(str(key).split(".")[0], {})[key] = value
    written = []
    for notebook, part in sorted(by_notebook.items()):
        path = folder / f"{notebook}.b64"
        text = _encode(part)
        if not path.exists() or path.read_text(encoding="ascii") != text:
            with atomic_write(path) as f:
                f.write(text.encode("ascii"))
            written.append(path)
    for path in folder.glob("*.b64"):
        if path.stem not in by_notebook:
            path.unlink()
    if folder.resolve() == ANSWERS:  # the package's own key: serve the new entries now
        _all.cache_clear()
    return written
