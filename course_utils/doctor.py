"""Environment check: ``python -m course_utils doctor`` prints [OK]/[WARN]/[FAIL] per requirement.

A [FAIL] is something the learner must fix (the command then exits with status 1); a [WARN] is
optional (no GPU, no network for the online extras). Paste the output into a bug report.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import re
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Callable

MIN_PYTHON = (3, 10)
DISTRIBUTION = "course-utils"  # this package, as pip knows it


def required_versions(requires: list[str] | None = None) -> dict[str, str]:
    """The course's run-time floors, ``{"torch": "2.4", ...}``, read from the installed package's
    metadata (that is, from pyproject.toml: one list, not a copy). Extras (``[dev]``) are left out."""
    if requires is None:
        requires = metadata.requires(DISTRIBUTION) or []
    floors = {}
    for requirement in requires:
        found = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9.]*)\s*(;.*)?$", requirement)
        if found and "extra" not in (found.group(3) or ""):
            floors[found.group(1)] = found.group(2)
    return floors


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "OK", "WARN" or "FAIL"
    detail: str

    def __str__(self) -> str:
        return f"[{self.status}] {self.name}: {self.detail}"


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_python(version_info=sys.version_info) -> Check:
    found = ".".join(map(str, version_info[:3]))
    if tuple(version_info[:2]) >= MIN_PYTHON:
        return Check("Python", "OK", found)
    need = ".".join(map(str, MIN_PYTHON))
    return Check("Python", "FAIL", f"{found}; the course needs Python >= {need} (see README: make lab)")


def check_package(dist: str, minimum: str, version_of: Callable[[str], str] = metadata.version) -> Check:
    try:
        found = version_of(dist)
    except metadata.PackageNotFoundError:
        return Check(dist, "FAIL", "not installed; run `make install` (or pip install -e '.[dev]')")
    if _version_tuple(found) < _version_tuple(minimum):
        return Check(dist, "FAIL", f"{found} is older than {minimum}; upgrade: pip install -U '{dist}>={minimum}'")
    return Check(dist, "OK", found)


def check_widgets() -> Check:
    """ipywidgets needs JupyterLab's widget extension (jupyterlab_widgets) to render."""
    try:
        found = metadata.version("jupyterlab_widgets")
    except metadata.PackageNotFoundError:
        return Check("JupyterLab widgets", "FAIL",
                     "jupyterlab_widgets is missing: sliders will show 'Error displaying widget'; "
                     "pip install -U ipywidgets")
    return Check("JupyterLab widgets", "OK", f"jupyterlab_widgets {found}")


def check_device() -> Check:
    import torch

    from course_utils.repro import get_device

    device = get_device()
    if device.type == "cuda":
        return Check("device", "OK", f"cuda ({torch.cuda.get_device_name(0)})")
    if device.type == "mps":
        return Check("device", "OK", "mps (Apple GPU)")
    return Check("device", "WARN", f"cpu only, {torch.get_num_threads()} threads: every notebook "
                 "runs on a CPU, in a few minutes; a GPU only makes the optional parts faster")


def check_data() -> Check:
    """The offline target dataset ships with scikit-learn: check it loads."""
    try:
        from sklearn.datasets import load_digits

        n = len(load_digits().target)
    except Exception as exc:  # noqa: BLE001 - report whatever broke
        return Check("offline data", "FAIL", f"scikit-learn's digits did not load ({exc}); "
                     "reinstall: pip install -U scikit-learn")
    return Check("offline data", "OK", f"scikit-learn digits: {n} images")


def check_cache() -> Check:
    """Generated data and the course's pretrained model are cached here: it must be writable,
    and every cached model intact (a truncated or damaged one is a problem to fix, not [OK])."""
    import tempfile

    from course_utils.checkpoint import CheckpointError, verify_file
    from course_utils.data import cache_dir

    try:
        path = cache_dir()
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as exc:
        return Check("cache", "FAIL", f"cannot write the course's cache ({exc}); set COURSE_DATA_DIR "
                     "to a writable folder")
    cached = sorted(path.glob("*.pt"))
    damaged = []
    for model in cached:
        try:
            verify_file(model)
        except CheckpointError as exc:
            damaged.append(f"{model.name} ({exc})")
    if damaged:
        return Check("cache", "FAIL", f"damaged cached model(s): {'; '.join(damaged)}. Delete "
                     "them: the notebook that needs a model rebuilds it")
    names = ", ".join(p.name for p in cached) or "none yet"
    return Check("cache", "OK", f"{path} (cached models: {names})")


def resolve(host: str, port: int, timeout: float) -> list:
    """``socket.getaddrinfo`` bounded by ``timeout`` (it has no timeout of its own): the lookup
    runs in a daemon thread that is abandoned if the resolver hangs. Raises ``OSError``."""
    result: dict = {}

    def lookup() -> None:
        try:
            result["addresses"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            result["error"] = exc

    thread = threading.Thread(target=lookup, daemon=True, name="doctor-dns")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"DNS lookup of {host} took more than {timeout:g} s")
    if "error" in result:
        raise result["error"]
    return result["addresses"]


def check_network(host: str = "download.pytorch.org", port: int = 443, timeout: float = 3.0) -> Check:
    """Can ``host`` be reached? At most about ``2 * timeout`` seconds: DNS, then connect."""
    try:
        family, kind, proto, _, address = resolve(host, port, timeout)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
    except OSError as exc:
        return Check("network", "WARN", f"{host} unreachable ({exc.strerror or exc}): the course "
                     "runs offline on its own data and models; ImageNet weights and CIFAR-10 need "
                     "a network (e.g. Colab)")
    return Check("network", "OK", f"{host} reachable: ImageNet weights and CIFAR-10 can be downloaded")


def run_checks(network: bool = True) -> list[Check]:
    checks = [check_python()]
    try:
        floors = required_versions()
    except metadata.PackageNotFoundError:
        floors = {}
        checks.append(Check(DISTRIBUTION, "FAIL", "the course package is not installed; run "
                            "`make install` (or pip install -e '.[dev]')"))
    checks += [check_package(dist, minimum) for dist, minimum in floors.items()]
    checks.append(check_widgets())
    if all(c.status != "FAIL" for c in checks if c.name in ("torch", "torchvision")):
        checks.append(check_device())
    checks.append(check_data())
    checks.append(check_cache())
    if network:
        checks.append(check_network())
    return checks


def main(network: bool = True) -> int:
    """Print every check; return 1 if any failed (something the learner must fix), else 0."""
    checks = run_checks(network=network)
    for check in checks:
        print(check)
    failed = [c for c in checks if c.status == "FAIL"]
    print(f"\n{len(failed)} problem(s) to fix." if failed else "\nAll required checks passed.")
    return 1 if failed else 0
