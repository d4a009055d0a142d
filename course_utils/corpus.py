"""A real English corpus with no download: the docstrings of Python's own standard library.

:func:`collect_docstrings` imports a fixed list of standard-library modules (no GUI, no
network, no module that acts on import such as ``this`` or ``antigravity``) and reads the
docstrings of each module, its classes, functions and methods, in sorted order. The result is
deterministic for a given interpreter: the same Python version gives the same corpus, byte for
byte (:func:`corpus_sha256`). Another version adds, removes or rewords some docstrings, so the
size, the checksum and every number trained on it move a little; the lesson does not change.

The text is Python's documentation, under the PSF License Agreement (see data/README.md).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import pkgutil
import random
import warnings
from dataclasses import dataclass

#: The 10 packages of the classification task: large, present in Python 3.10 to 3.13.
TASK_PACKAGES = ("asyncio", "collections", "email", "http", "importlib", "logging",
                 "multiprocessing", "unittest", "urllib", "xml")

#: More modules whose docstrings only feed pretraining (a module missing from an interpreter is
#: skipped). Not here on purpose: tkinter, turtle, idlelib (GUI), this, antigravity (act on
#: import), webbrowser, test (the regression suite).
EXTRA_MODULES = (
    "abc", "argparse", "ast", "base64", "bisect", "calendar", "cmd", "codecs", "concurrent",
    "configparser", "contextlib", "copy", "csv", "ctypes", "dataclasses", "datetime", "decimal",
    "difflib", "dis", "doctest", "enum", "filecmp", "fileinput", "fnmatch", "fractions",
    "ftplib", "functools", "getopt", "gettext", "glob", "gzip", "hashlib", "heapq", "hmac",
    "html", "imaplib", "inspect", "io", "ipaddress", "itertools", "json", "locale", "lzma",
    "mailbox", "mimetypes", "numbers", "operator", "optparse", "os", "pathlib", "pdb",
    "pickle", "platform", "plistlib", "poplib", "pprint", "pydoc", "queue", "random", "re",
    "reprlib", "sched", "secrets", "selectors", "shlex", "shutil", "signal", "smtplib",
    "socket", "socketserver", "sqlite3", "ssl", "statistics", "string", "struct", "subprocess",
    "tarfile", "tempfile", "textwrap", "threading", "timeit", "tokenize", "trace",
    "traceback", "types", "typing", "uuid", "warnings", "wave", "weakref", "wsgiref",
    "xmlrpc", "zipfile", "zoneinfo")


@dataclass(frozen=True)
class Docstring:
    """One docstring: its text (``inspect.cleandoc``-ed), where it was found, its package."""

    text: str
    module: str   # e.g. "email.mime.text"
    package: str  # the top-level name, e.g. "email": the label of the classification task


def _submodules(name: str) -> list[str]:
    module = importlib.import_module(name)
    if not hasattr(module, "__path__"):
        return [name]
    found = sorted(info.name for info in pkgutil.walk_packages(module.__path__, name + ".")
                   if ".test" not in info.name and not info.name.endswith("__main__"))
    return [name] + found


def _documented(module) -> list:
    """The module, then its own public classes and functions, then their public methods."""
    # public names only: private helpers are sometimes patched by other libraries at run time
    own = [v for k, v in sorted(vars(module).items())
           if not k.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v))
           and getattr(v, "__module__", None) == module.__name__]
    methods = [v for cls in own if inspect.isclass(cls)
               for k, v in sorted(vars(cls).items())
               if inspect.isfunction(v) and (not k.startswith("_") or k == "__init__")]
    return [module] + own + methods


def collect_docstrings(packages: tuple[str, ...] = TASK_PACKAGES + EXTRA_MODULES,
                       min_chars: int = 40) -> list[Docstring]:
    """Every distinct docstring longer than ``min_chars`` characters, in a fixed order.

    Packages are walked in the order given, their submodules sorted; a submodule that cannot be
    imported on this platform (``asyncio.windows_events`` on Linux) is skipped. A text seen
    twice is kept once, with the first package that had it.
    """
    with warnings.catch_warnings():  # e.g. typing.io warns when read; not the learner's concern
        warnings.simplefilter("ignore")
        docs = _collect(packages, min_chars)
    # a canonical order, whatever order the interpreter listed attributes in
    rank = {p: i for i, p in enumerate(packages)}
    return sorted(docs, key=lambda d: (rank[d.package], d.module, d.text))


def _collect(packages: tuple[str, ...], min_chars: int) -> list[Docstring]:
    seen: set[str] = set()
    docs: list[Docstring] = []
    for package in packages:
        try:
            names = _submodules(package)
        except ImportError:
            continue  # not in this interpreter (e.g. removed in a newer Python)
        for name in names:
            try:
                module = importlib.import_module(name)
            except Exception:  # platform-specific module; its text is simply not in the corpus
                continue
            for obj in _documented(module):
                doc = obj.__doc__ if isinstance(getattr(obj, "__doc__", None), str) else ""
                text = inspect.cleandoc(doc).strip()  # 3.11's cleandoc can keep a blank tail
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
               train_per_class: int = 20, val_per_class: int = 10, test_per_class: int = 20,
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
