"""Files that are never half-written: write to a temporary file, then rename it over the target.

:func:`atomic_write` opens ``.<name>.<pid>-<random>.tmp`` next to the target, and only when the
block succeeds flushes it to disk and renames it over the target with :func:`os.replace`
(atomic on POSIX and Windows): a reader sees the old file or the new one, never a mix. On an
exception (``KeyboardInterrupt`` included) the temporary file is removed. A process killed
mid-write (SIGKILL, power loss) cannot clean up: the next write of the same target removes the
temporary files whose process is gone (on Windows, those older than a day). The file is
created with mode 0o666 minus the umask, like ``open()``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """``with atomic_write(path) as f: f.write(...)``: ``path`` appears complete or not at all.

    The parent folder is created if needed. ``OSError`` (no permission, disk full) propagates
    after the temporary file is removed; the previous ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    f, tmp = _create_temp(path)
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them visible
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove the temporary files of earlier writes of ``path`` whose process is gone."""
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:-4].split("-")[0]
        if not _alive(int(pid) if pid.isdigit() else None, tmp):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _create_temp(path: Path) -> tuple[BinaryIO, Path]:
    """A new temporary file next to ``path``, mode 0o666 minus the umask (as open() creates)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
        except FileExistsError:
            continue
        return os.fdopen(fd, "wb"), tmp
    raise FileExistsError(f"could not create a temporary file next to {path}")


def _alive(pid: int | None, tmp: Path) -> bool:
    if pid is None or pid == os.getpid():
        return False  # written by an older version, or by this process (which is not writing it)
    if os.name == "nt":  # os.kill(pid, 0) would signal the process there
        return time.time() - tmp.stat().st_mtime < 86400
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by another user
    return True
