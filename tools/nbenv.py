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
