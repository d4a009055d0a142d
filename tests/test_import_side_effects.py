"""Importing course_utils (every module of it) must have no side effects."""

import json
import pkgutil
import subprocess
import sys

import course_utils

MODULES = sorted(m.name for m in pkgutil.walk_packages(course_utils.__path__, "course_utils.")
                 if m.name != "course_utils.__main__")  # every subpackage and module in them

PROBE = r"""
import json, random, socket, sys
import numpy as np, torch, matplotlib

def fail_network(*args, **kwargs):
    raise AssertionError("network access during import")
socket.socket.connect = fail_network
socket.create_connection = fail_network

before = {
    "random": random.getstate(), "numpy": np.random.get_state()[1].tolist(),
    "torch": torch.get_rng_state().tolist(), "threads": torch.get_num_threads(),
    "rc": {k: repr(v) for k, v in matplotlib.rcParams.items()},
    "backend": matplotlib.get_backend(),
}
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
after = {
    "random": random.getstate(), "numpy": np.random.get_state()[1].tolist(),
    "torch": torch.get_rng_state().tolist(), "threads": torch.get_num_threads(),
    "rc": {k: repr(v) for k, v in matplotlib.rcParams.items()},
    "backend": matplotlib.get_backend(),
}
changed = sorted(k for k in before if before[k] != after[k])
sys.stderr.write(json.dumps(changed))
"""


def test_there_are_modules_to_check():
    assert {"course_utils.repro", "course_utils.data", "course_utils.data.glyphs", "course_utils.cli",
            "course_utils.cli.doctor", "course_utils.experiments.pretrain"} <= set(MODULES)


def test_importing_every_module_changes_nothing_and_prints_nothing():
    result = subprocess.run([sys.executable, "-c", PROBE, *MODULES], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", f"importing printed: {result.stdout!r}"
    changed = json.loads(result.stderr.strip().splitlines()[-1])
    assert changed == [], f"importing course_utils changed global state: {changed}"


def test_probe_detects_a_side_effect():
    """The probe itself must be able to fail: seeding during 'import' is caught."""
    result = subprocess.run([sys.executable, "-c", PROBE.replace(
        "for name in sys.argv[1:]:", "torch.manual_seed(1); print('hi')\nfor name in sys.argv[1:]:"),
        "course_utils"], capture_output=True, text=True, timeout=300)
    assert result.stdout == "hi\n"
    assert "torch" in json.loads(result.stderr.strip().splitlines()[-1])
