"""The standard-library docstring corpus: deterministic, clean, and a disjoint task split."""

import subprocess
import sys

import pytest

from course_utils.data.corpus import (
    TASK_PACKAGES,
    Docstring,
    collect_docstrings,
    corpus_sha256,
    corpus_text,
    task_split,
)


@pytest.fixture(scope="module")
def docs():
    return collect_docstrings()


def test_sizes_and_labels(docs):
    assert len(docs) > 2000
    assert all(len(d.text) > 40 and d.text == d.text.strip() for d in docs)
    assert len({d.text for d in docs}) == len(docs)  # no duplicates
    assert {d.package for d in docs} >= set(TASK_PACKAGES)
    assert all(d.module == d.package or d.module.startswith(d.package + ".") for d in docs)


def test_same_corpus_in_a_fresh_interpreter(docs):
    code = ("from course_utils.data.corpus import *; "
            "print(corpus_sha256(corpus_text([d.text for d in collect_docstrings()])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == corpus_sha256(corpus_text([d.text for d in docs]))


def test_task_split_is_disjoint_balanced_and_nested(docs):
    split = task_split(docs, train_per_class=20, val_per_class=8, test_per_class=20)
    texts = {k: {t for t, _ in v} for k, v in split.items()}
    assert not texts["train"] & texts["test"] and not texts["val"] & texts["test"]
    assert not texts["train"] & texts["val"]
    for name, n in (("train", 20), ("val", 8), ("test", 20)):
        labels = [y for _, y in split[name]]
        assert all(labels.count(c) == n for c in range(len(TASK_PACKAGES)))
    first = split["train"][:10 * len(TASK_PACKAGES)]  # a prefix holds 10 of every class
    assert sorted(y for _, y in first) == sorted(list(range(10)) * 10)
    smaller = task_split(docs, train_per_class=10, val_per_class=8, test_per_class=20)
    assert smaller["test"] == split["test"] and smaller["train"] == first


def test_too_small_a_package_is_a_clear_error():
    docs = [Docstring("x" * 50 + str(i), "email", "email") for i in range(5)]
    with pytest.raises(ValueError, match="too few docstrings"):
        task_split(docs, ("email",), train_per_class=3, val_per_class=1, test_per_class=2)


def test_checksum_is_of_the_utf8_bytes():
    import hashlib
    assert corpus_sha256(corpus_text(["é", "b"])) == hashlib.sha256("é\n\nb".encode()).hexdigest()
