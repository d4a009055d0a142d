"""Per-notebook wall time and peak memory of the checked run (strict nbval), one at a time.

    python benchmarks/notebook_budget.py [notebooks/NN_x.ipynb ...]

Each notebook runs as `python -m pytest <notebook>` in its own wrapper process; the peak resident
memory reported is the largest of that run's processes (pytest or the kernel), from getrusage.
Budget (issue 2): all notebooks together <= 8 minutes on a 2-core CPU, each < 3 GiB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS, BUDGET_GIB = 8 * 60, 3.0

WRAPPER = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", sys.argv[1]],
                      capture_output=True, text=True)
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
print(json.dumps({"seconds": seconds, "peak_gib": peak_kib / 2**20, "rc": proc.returncode, "tail": tail}))
"""


def measure(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", WRAPPER, str(path)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    total, worst, ok = 0.0, 0.0, True
    print(f"{'notebook':40s} {'time (s)':>9s} {'peak (GiB)':>10s}  result")
    for path in paths:
        r = measure(path)
        total, worst = total + r["seconds"], max(worst, r["peak_gib"])
        ok &= r["rc"] == 0
        print(f"{path.name:40s} {r['seconds']:9.1f} {r['peak_gib']:10.2f}  {r['tail']}")
    print(f"{'total':40s} {total:9.1f} {worst:10.2f}  (budget: {BUDGET_SECONDS} s, {BUDGET_GIB} GiB each)")
    within = total <= BUDGET_SECONDS and worst <= BUDGET_GIB
    print("within budget" if within else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
