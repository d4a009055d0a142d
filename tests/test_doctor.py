import importlib.metadata as metadata
import socket
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
import torch

from course_utils import doctor
from course_utils.checkpoint import save_checkpoint


def test_python_version_check():
    assert doctor.check_python((3, 11, 7)).status == "OK"
    old = doctor.check_python((3, 8, 10))
    assert old.status == "FAIL" and ">= 3.10" in old.detail


@pytest.mark.parametrize("found, status", [("2.14.1+cu130", "OK"), ("2.4", "OK"), ("2.3.1", "FAIL"),
                                           ("1.13.0", "FAIL")])
def test_package_version_check(found, status):
    assert doctor.check_package("torch", "2.4", version_of=lambda _: found).status == status


def test_missing_package_says_how_to_install():
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    check = doctor.check_package("nbval", "0.11", version_of=missing)
    assert check.status == "FAIL" and "make install" in check.detail


def test_main_exits_nonzero_on_a_failure(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "run_checks", lambda network=True: [
        doctor.Check("Python", "OK", "3.11"), doctor.Check("torch", "FAIL", "not installed")])
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert "[FAIL] torch: not installed" in out and "1 problem(s) to fix" in out


def test_warnings_do_not_fail(monkeypatch):
    monkeypatch.setattr(doctor, "run_checks", lambda network=True: [doctor.Check("network", "WARN", "offline")])
    assert doctor.main() == 0


def test_command_line_runs_here():
    result = subprocess.run([sys.executable, "-m", "course_utils", "doctor", "--offline"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("Python", "torch", "torchvision", "ipywidgets", "JupyterLab widgets", "device",
                 "offline data", "cache"):
        assert f"] {name}:" in result.stdout
    assert "[FAIL]" not in result.stdout


def test_unwritable_cache_is_a_failure(tmp_path, monkeypatch):
    target = tmp_path / "not-a-dir"
    target.write_text("a file where the cache folder should be")
    monkeypatch.setenv("COURSE_DATA_DIR", str(target))
    check = doctor.check_cache()
    assert check.status == "FAIL" and "COURSE_DATA_DIR" in check.detail


def test_writable_cache_lists_models(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    save_checkpoint(tmp_path / "model.pt", {"model": {"w": torch.ones(3)}})
    check = doctor.check_cache()
    assert check.status == "OK" and "model.pt" in check.detail


@pytest.mark.parametrize("damage", ["empty", "truncated", "flipped byte"])
def test_damaged_cached_model_is_a_failure(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    path = save_checkpoint(tmp_path / "model.pt", {"model": {"w": torch.arange(1000.0)}})
    data = bytearray(path.read_bytes())
    if damage == "flipped byte":
        data[data.index(torch.arange(1000.0)[500:502].numpy().tobytes())] ^= 1
    path.write_bytes({"empty": b"", "truncated": bytes(data[:len(data) // 2]),
                      "flipped byte": bytes(data)}[damage])
    check = doctor.check_cache()
    assert check.status == "FAIL" and "model.pt" in check.detail and "Delete" in check.detail


def test_network_probe_is_bounded_when_dns_hangs(monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(doctor.socket, "getaddrinfo", lambda *a, **k: release.wait(30))
    start = time.perf_counter()
    check = doctor.check_network(timeout=0.3)
    release.set()
    assert time.perf_counter() - start < 2
    assert check.status == "WARN" and "DNS lookup" in check.detail


def test_network_probe_reports_a_failed_lookup(monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(doctor.socket, "getaddrinfo", no_dns)
    check = doctor.check_network(timeout=0.3)
    assert check.status == "WARN" and "Name or service not known" in check.detail


def test_floors_come_from_the_installed_package_and_match_pyproject():
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    expected = dict(r.split(">=") for r in pyproject["project"]["dependencies"])
    assert doctor.required_versions() == expected  # stale metadata? re-run `make install`


def test_floor_parsing_skips_extras_and_unpinned():
    requires = ["torch>=2.4", "numpy >= 1.24", "nbval>=0.11; extra == 'dev'", "tqdm"]
    assert doctor.required_versions(requires) == {"torch": "2.4", "numpy": "1.24"}
