"""The checksums data/README.md gives, so that two machines can compare their generated images,
are those of the images this code generates (where they can be: the versions and the kind of CPU
the README names, which are those of the stored outputs)."""

from __future__ import annotations

import hashlib
import re

import matplotlib
import pytest
import torch

from course_utils.data import source_dataset, target_dataset
from tools.nbenv import OUTPUTS_CPU, ROOT, cpu_kind

README = (ROOT / "data" / "README.md").read_text(encoding="utf-8")


def stated(after: str) -> str:
    """The first sha256 the README gives after the text ``after``."""
    found = re.search(re.escape(after) + r".*?`([0-9a-f]{64})`", README, re.S)
    assert found, f"data/README.md gives no sha256 after {after!r}"
    return found.group(1)


def test_the_readme_names_the_versions_and_cpu_its_checksums_hold_for():
    assert "matplotlib 3.11.2" in README and "torch 2.14.1" in README
    assert "`tests/stored_outputs_cpu.txt`" in README


@pytest.mark.skipif(cpu_kind() != OUTPUTS_CPU.read_text().strip()
                    or matplotlib.__version__ != "3.11.2" or not torch.__version__.startswith("2.14.1"),
                    reason="the README's checksums are for matplotlib 3.11.2, torch 2.14.1, the stored outputs' CPU")
@pytest.mark.parametrize("after, images", [
    ("Deterministic", lambda: source_dataset("test").images),
    ("the test images' sha256", lambda: target_dataset("glyphs", "test").images),
], ids=["letters test", "glyphs test"])
def test_the_readme_checksums_are_those_of_the_generated_images(after, images):
    assert hashlib.sha256(images().numpy().tobytes()).hexdigest() == stated(after)
