"""Per-notebook wall time and peak memory of the checked run (strict nbval), one at a time.

    python benchmarks/notebook_budget.py [--cold] [notebooks/NN_x.ipynb ...]

Each notebook runs as `python -m pytest <notebook>` in its own wrapper process; the peak resident
memory reported is the largest of that run's processes (pytest or the kernel), from getrusage.
Budget: the English notebooks together <= 5 minutes with a warm cache and <= 12 minutes from an
empty one (`--cold`: a fresh COURSE_DATA_DIR for the whole run, so notebook 04 pretrains the course
ResNet-50 and notebook 07 its GPT, as on a fresh clone), each <= 3 GiB, on a 2-core CPU; and with a
warm cache notebook 07, the one that trains the most in front of the learner, <= 90 s on its own.

Machines of one kind differ up to 2x in speed at equal GEMM peak, so a calibration run is printed
before the notebooks and again after them: the fp32 GEMM rate and the training speed of the two
models at the heart of the course (ResNet-50 at 32 px, notebook 07's GPT), each the median of its
repeats with the best in brackets. Compare times across machines through those rates. The best
says what kind of machine it is; the median, and how far "after" is from "before", say how busy it
was (on a shared host the same notebooks took 294 s one day and 355 s another, while the best
GEMM rate read *higher* on the slower day).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARM_SECONDS, COLD_SECONDS, BUDGET_GIB = 5 * 60, 12 * 60, 3.0
#: A notebook's own limit with a warm cache, besides the total's.
WARM_NOTEBOOK_SECONDS = {"07_small_gpt.ipynb": 90}

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


CALIBRATION = r"""
import json, time, torch
from torch import nn
from torchvision.models import resnet50
from course_utils.gpt import GPT, GPTConfig

def rates(step, work, repeats):  # work units per second: (median, best) of `repeats` after a warm-up
    step()
    times = sorted(_timed(step) for _ in range(repeats))
    return work / times[len(times) // 2], work / times[0]

def _timed(step):
    start = time.perf_counter(); step(); return time.perf_counter() - start

torch.manual_seed(0)
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
gemm = rates(lambda: a @ b, 2 * 1024**3 / 1e9, 10)

def train_step(model, inputs, targets, loss_fn):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    def step():
        optimizer.zero_grad()
        loss_fn(model(inputs), targets).backward()
        optimizer.step()
    return step

cnn = resnet50(num_classes=10)
images, labels = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
resnet = rates(train_step(cnn, images, labels, nn.functional.cross_entropy), 64, 5)

gpt = GPT(GPTConfig(vocab_size=1024, context_length=64, d_model=128, n_layers=3, n_heads=4))
tokens = torch.randint(0, 1024, (32, 65))
lm_loss = lambda logits, t: nn.functional.cross_entropy(logits.flatten(0, 1), t.flatten())
gpt_rate = rates(train_step(gpt, tokens[:, :-1], tokens[:, 1:], lm_loss), 1, 10)
print(json.dumps({"gemm_gflops": gemm, "resnet50_img_s": resnet, "gpt_steps_s": gpt_rate,
                  "threads": torch.get_num_threads()}))
"""


def calibrate(env: dict) -> dict:
    """The machine's speed on the course's own work, measured in a fresh process (~15 s):
    each rate as (median, best)."""
    out = subprocess.run([sys.executable, "-c", CALIBRATION], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def calibration_line(when: str, speed: dict) -> str:
    """One line of rates: median, with the best of the repeats in brackets."""
    def rate(key, fmt):
        median, best = speed[key]
        return f"{median:{fmt}} ({best:{fmt}})"
    return (f"calibration {when} ({speed['threads']} threads; median (best)): "
            f"fp32 GEMM {rate('gemm_gflops', '.0f')} GFLOP/s, "
            f"ResNet-50 training {rate('resnet50_img_s', '.0f')} img/s (32 px, batch 64), "
            f"GPT training {rate('gpt_steps_s', '.1f')} steps/s (notebook 07's model, batch 32)")


def measure(path: Path, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", WRAPPER, str(path)], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    cold = "--cold" in argv
    paths = [Path(a) for a in argv if a != "--cold"] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    env = dict(os.environ)
    if cold:  # one empty cache for the whole run, as on a fresh clone
        env["COURSE_DATA_DIR"] = tempfile.mkdtemp(prefix="course-cold-cache-")
    budget = COLD_SECONDS if cold else WARM_SECONDS
    print(calibration_line("before", calibrate(env)))
    total, worst, ok = 0.0, 0.0, True
    print(f"{'notebook':40s} {'time (s)':>9s} {'peak (GiB)':>10s}  result"
          f"  ({'empty' if cold else 'warm'} cache)")
    over = []  # the notebooks over their own limit
    for path in paths:
        r = measure(path, env)
        total, worst = total + r["seconds"], max(worst, r["peak_gib"])
        ok &= r["rc"] == 0
        limit, mark = None if cold else WARM_NOTEBOOK_SECONDS.get(path.name), ""
        if limit is not None:
            mark = f"  (its budget: {limit} s{', OVER' if r['seconds'] > limit else ''})"
            if r["seconds"] > limit:
                over.append(path.name)
        print(f"{path.name:40s} {r['seconds']:9.1f} {r['peak_gib']:10.2f}  {r['tail']}{mark}")
    print(f"{'total':40s} {total:9.1f} {worst:10.2f}  (budget: {budget} s, {BUDGET_GIB} GiB each)")
    print(calibration_line("after", calibrate(env)))
    within = total <= budget and worst <= BUDGET_GIB and not over
    print("within budget" if within else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
