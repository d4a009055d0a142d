"""A real English corpus with no download: the docstrings of Python's own standard library.

:func:`collect_docstrings` reads the source files of a fixed list of standard-library modules
(no GUI modules, nothing like ``this`` or ``antigravity``) and keeps the docstrings of each
module and of its public classes, functions and methods, in sorted order. Nothing is imported. The result is
deterministic for a given interpreter: the same Python version gives the same corpus, byte for
byte (:func:`corpus_sha256`). Another version adds, removes or rewords some docstrings, so the
size, the checksum and every number trained on it move a little; the lesson does not change.

The text is Python's documentation, under the PSF License Agreement (see data/README.md).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import pkgutil
import random
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TASK_PACKAGES", "EXTRA_MODULES", "collect_docstrings", "corpus_text", "corpus_sha256",
           "task_split"]

#: The 10 packages of the classification task: present in Python 3.10 to 3.13, each with at
#: least 48 docstrings in 3.11 (20 test + 8 validation + 20 training).
TASK_PACKAGES = ("asyncio", "email", "http", "importlib", "logging", "multiprocessing",
                 "unittest", "urllib", "wsgiref", "xml")

#: More modules whose docstrings only feed pretraining (a module missing from an interpreter is
#: skipped). Not here on purpose: tkinter, turtle, idlelib (GUI), this, antigravity (act on
#: import), webbrowser, test (the regression suite).
EXTRA_MODULES = (
    "abc", "argparse", "ast", "base64", "bisect", "calendar", "cmd", "codecs", "collections", "concurrent",
    "configparser", "contextlib", "copy", "csv", "ctypes", "dataclasses", "datetime", "decimal",
    "difflib", "dis", "doctest", "enum", "filecmp", "fileinput", "fnmatch", "fractions",
    "ftplib", "functools", "getopt", "gettext", "glob", "gzip", "hashlib", "heapq", "hmac",
    "html", "imaplib", "inspect", "io", "ipaddress", "itertools", "json", "locale", "lzma",
    "mailbox", "mimetypes", "numbers", "operator", "optparse", "os", "pathlib", "pdb",
    "pickle", "platform", "plistlib", "poplib", "pprint", "pydoc", "queue", "random", "re",
    "reprlib", "sched", "secrets", "selectors", "shlex", "shutil", "signal", "smtplib",
    "socket", "socketserver", "sqlite3", "ssl", "statistics", "string", "struct", "subprocess",
    "tarfile", "tempfile", "textwrap", "threading", "timeit", "tokenize", "trace",
    "traceback", "types", "typing", "uuid", "warnings", "wave", "weakref",
    "xmlrpc", "zipfile", "zoneinfo")


@dataclass(frozen=True)
class Docstring:
    """One docstring: its text (indentation cleaned), where it was found, its package."""

    text: str
    module: str   # e.g. "email.mime.text"
    package: str  # the top-level name, e.g. "email": the label of the classification task


def _source_files(name: str) -> list[tuple[str, Path]]:
    """``(module name, source file)`` of a module or of a package and all its submodules,
    sorted, found without importing anything (tests and ``__main__`` left out)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return []  # not in this interpreter, or written in C (no source to read)
    found = [(name, Path(spec.origin))]
    for folder in spec.submodule_search_locations or []:
        for info in pkgutil.iter_modules([folder]):
            if info.name.startswith("test") or info.name == "__main__":
                continue
            found += _source_files(f"{name}.{info.name}")
    return sorted(found)


def _docstrings(tree: ast.Module) -> list[str]:
    """The module's docstring, then its public classes' and functions', then their methods'."""
    nodes: list[ast.AST] = [tree]
    kinds = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        if isinstance(node, kinds) and not node.name.startswith("_"):
            nodes.append(node)
            if isinstance(node, ast.ClassDef):
                nodes += [m for m in node.body if isinstance(m, kinds[1:])
                          and (not m.name.startswith("_") or m.name == "__init__")]
    return [doc for doc in (ast.get_docstring(n, clean=True) for n in nodes) if doc]


def collect_docstrings(packages: tuple[str, ...] = TASK_PACKAGES + EXTRA_MODULES,
                       min_chars: int = 40) -> list[Docstring]:
    """Every distinct docstring longer than ``min_chars`` characters, in a fixed order.

    The docstrings are read from the modules' *source files* with :mod:`ast`: nothing is
    imported or run, so neither the platform nor what else the process imported (some
    libraries patch standard-library functions) changes the result. A text seen twice is kept
    once, with the first package that had it.
    """
    seen: set[str] = set()
    docs: list[Docstring] = []
    for package in packages:
        for name, path in _source_files(package):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for text in _docstrings(tree):
                text = text.strip()
                if len(text) > min_chars and text not in seen:
                    seen.add(text)
                    docs.append(Docstring(text, name, package.split(".")[0]))
    return docs


def corpus_text(texts: list[str]) -> str:
    """The texts joined by blank lines: the pretraining corpus as one string."""
    return "\n\n".join(texts)


def corpus_sha256(text: str) -> str:
    """The sha256 of the corpus's UTF-8 bytes: equal on two machines = the same corpus."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def task_split(docs: list[Docstring], packages: tuple[str, ...] = TASK_PACKAGES, *,
               train_per_class: int = 20, val_per_class: int = 8, test_per_class: int = 20,
               seed: int = 0) -> dict[str, list[tuple[str, int]]]:
    """``{"train", "val", "test"}`` lists of ``(text, label)``, label = index in ``packages``.

    Per package, its docstrings are shuffled with ``seed`` and cut into test, val and train
    (in that order, so a larger ``train_per_class`` never changes the test set). The train
    list of size k per class is a prefix of the one of size K > k: nested data sizes.
    """
    need = train_per_class + val_per_class + test_per_class
    by_package = {p: sorted(d.text for d in docs if d.package == p) for p in packages}
    short = {p: len(t) for p, t in by_package.items() if len(t) < need}
    if short:
        raise ValueError(f"too few docstrings for {need} per class (train + val + test) in "
                         f"{short}; lower the sizes or choose larger packages")
    rng = random.Random(seed)
    splits: dict[str, list[tuple[str, int]]] = {"test": [], "val": []}
    per_class_train = []
    for label, package in enumerate(packages):
        texts = by_package[package]
        rng.shuffle(texts)
        splits["test"] += [(t, label) for t in texts[:test_per_class]]
        splits["val"] += [(t, label) for t in texts[test_per_class:test_per_class + val_per_class]]
        per_class_train.append([(t, label) for t in texts[test_per_class + val_per_class:need]])
    # round-robin over classes: the first k * num_classes examples hold k of each class
    splits["train"] = [pair for row in zip(*per_class_train) for pair in row]
    return splits
