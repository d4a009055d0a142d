"""Print the bad-inputs table: how each row of ``tests/test_bad_inputs.py`` turns out, by module.

    python -m tools.bad_inputs_report            # counts per module, then every row not as expected
    python -m tools.bad_inputs_report --all      # every row with its outcome

Outcome classes (see ``tests/test_bad_inputs.py``): works, clear (refused with a message that
names the problem and the fix), raw (another exception), silent (returned where it should have
refused, or a wrong result). The targets are 0 raw and 0 silent. Exit status 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

TABLE = Path(__file__).resolve().parents[1] / "tests" / "test_bad_inputs.py"
CLASSES = ("works", "clear", "raw", "silent")


def load_table(path: Path = TABLE):
    spec = importlib.util.spec_from_file_location("bad_inputs_table", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run(table) -> list[tuple[object, str, str]]:
    """Each row with its outcome class and detail, every row in an empty folder of its own."""
    results = []
    for row in table.ROWS:
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kind, detail = table.outcome(row, Path(tmp))
        results.append((row, kind, detail))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="list every row, not only failures")
    args = parser.parse_args(argv)
    results = run(load_table())
    per_module: dict[str, Counter] = {}
    for row, kind, _ in results:
        per_module.setdefault(row.module, Counter())[kind] += 1
    total = sum(per_module.values(), Counter())
    header = f"{'module':<12}{'inputs':>8}" + "".join(f"{c:>8}" for c in CLASSES)
    print(header)
    print("-" * len(header))
    for module, counts in list(per_module.items()) + [("TOTAL", total)]:
        print(f"{module:<12}{sum(counts.values()):>8}" + "".join(f"{counts[c]:>8}" for c in CLASSES))
    expected_refusals = sum(1 for row, _, _ in results if not hasattr(row.expect, "check"))
    print(f"\n{len(results)} inputs tried: {expected_refusals} should be refused, "
          f"{len(results) - expected_refusals} should work.")
    for row, kind, detail in results:
        bad = kind in ("raw", "silent")
        if args.all or bad:
            print(f"  [{kind:>6}] {row.module}: {row.id}" + (f"  -- {detail}" if detail else ""))
    failures = total["raw"] + total["silent"]
    print(f"\nraw errors: {total['raw']}, silent wrong results: {total['silent']} (targets: 0, 0)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
