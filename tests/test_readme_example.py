"""The worked ``finetune`` run in README.md ("Fine-tune on your own images") is the one that
``benchmarks/cli_quality.py`` kept, and README.zh-CN.md shows the same run: the same numbers, and
the held-out accuracies that follow it are the ones in ``benchmarks/results/cli_quality.csv``.
Re-running the benchmark without updating the READMEs fails here."""

from __future__ import annotations

import csv
import re

from tools.nbenv import ROOT

RESULTS = ROOT / "benchmarks" / "results"


def worked_run(name: str) -> tuple[str, str]:
    """(the text block of the worked run, the paragraph after it) in a README at the repository root."""
    text = (ROOT / name).read_text(encoding="utf-8")
    match = re.search(r"```text\n(10 .*?)\n```\n\n(.+?)\n\n", text, flags=re.S)
    assert match, f"{name}: no worked finetune run (a ```text block starting with '10 ')"
    return match.group(1), match.group(2)


def numbers(text: str) -> list[str]:
    return re.findall(r"\d+\.\d+", text)


def kept_accuracy(arm: str) -> str:
    """The held-out accuracy of ``arm`` in the example's run (symbols, 10 per class, seed 0)."""
    with open(RESULTS / "cli_quality.csv", newline="", encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f)
                   if (r["target"], r["k"], r["seed"], r["arm"]) == ("symbols", "10", "0", arm))
    return f"{float(row['acc']):.2f}"


def test_the_english_readme_shows_the_kept_run():
    block, _ = worked_run("README.md")
    assert block == (RESULTS / "cli_quality_example.txt").read_text(encoding="utf-8").strip("\n")


def test_the_chinese_readme_shows_the_same_run():
    english, chinese = worked_run("README.md")[0], worked_run("README.zh-CN.md")[0]
    assert numbers(chinese) == numbers(english)
    assert len(chinese.splitlines()) == len(english.splitlines())


def test_the_held_out_accuracies_are_the_benchmarks():
    expected = [kept_accuracy("auto"), kept_accuracy("pixels-logreg")]
    for name in ("README.md", "README.zh-CN.md"):
        after = worked_run(name)[1]
        assert numbers(after)[:2] == expected, f"{name}: {after[:200]!r}"
