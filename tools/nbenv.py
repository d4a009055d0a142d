"""The environment checked notebook runs use, shared by pytest (conftest.py) and the executor.

HOME-derived directories point at a writable temporary directory so that no cache or config
warning (matplotlib's font cache, IPython's profile dir) ever lands in a stored output.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"

#: The kind of CPU the stored outputs were made on (``tools.execute_notebooks`` writes it).
OUTPUTS_CPU = ROOT / "tests" / "stored_outputs_cpu.txt"
#: CPU features that change PyTorch's float32 results in the last digits (kernels chosen by them).
_NUMERIC_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile")


def all_notebooks() -> list[Path]:
    """Every notebook: the English ones, then their Chinese twins under notebooks/zh/ (each by name)."""
    return sorted(NOTEBOOKS.glob("*.ipynb")) + sorted((NOTEBOOKS / "zh").glob("*.ipynb"))


def cpu_kind() -> str:
    """One line naming what decides this CPU's float32 digits: vendor and model, the features
    PyTorch's kernels dispatch on, and PyTorch's own pick (``get_cpu_capability``).

    Stored outputs reproduce bit for bit only on a CPU of the same kind (and the same thread
    count and versions): 03's hand-derived gradients agree with autograd to 0 on one kind of
    x86 CPU and to 3e-08 on another.
    """
    import platform

    import torch

    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:  # not Linux
        pass
    model = info.get("model name") or platform.processor() or platform.machine()
    flags = set(info.get("flags", "").split())
    features = " ".join(f for f in _NUMERIC_FLAGS if f in flags) or "-"
    return (f"{info.get('vendor_id', platform.machine())} {model}; features {features}; "
            f"PyTorch {torch.__version__} kernels {torch.backends.cpu.get_cpu_capability()}")


def configure_env(base: str | os.PathLike | None = None, environ=None) -> Path:
    """Point MPLCONFIGDIR, IPYTHONDIR and JUPYTER_* at ``base`` (a fresh temp dir by default).

    Writes into ``environ`` (default ``os.environ``, which kernels started later inherit);
    pass a dict copy to build the environment of another process without touching ours.
    """
    environ = os.environ if environ is None else environ
    base = Path(base) if base else Path(tempfile.mkdtemp(prefix="course-nb-"))
    for var, sub in (("MPLCONFIGDIR", "mpl"), ("IPYTHONDIR", "ipython"),
                     ("JUPYTER_CONFIG_DIR", "jupyter-config"), ("JUPYTER_DATA_DIR", "jupyter-data"),
                     ("JUPYTER_RUNTIME_DIR", "jupyter-runtime")):
        path = base / sub
        path.mkdir(parents=True, exist_ok=True)
        environ[var] = str(path)
    environ["COURSE_DEVICE"] = "cpu"  # stored outputs were made on the CPU
    environ["JUPYTER_PLATFORM_DIRS"] = "1"  # silences jupyter_core's deprecation warning
    environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # debugpy's "frozen modules" warning
    return base
