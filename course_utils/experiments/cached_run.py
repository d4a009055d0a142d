"""One cached run: compute an expensive result once, keep it on disk with the key that made it.

The course caches three expensive runs this way (its ResNet-50's pretraining, its GPT's, the SFT
comparison of notebook 08). :func:`cached_run` is the one rule they share:

1. the cached file is loaded (:func:`course_utils.checkpoint.load_checkpoint`: checked, and
   ``weights_only``) and used when its stored key equals the key asked for;
2. otherwise the reason is said once, through the caller's ``announce``: no file, an unreadable
   file, or the first field of the key that differs (old and new value), or ``force``;
3. the cache folder is checked to be writable *before* the expensive work (minutes of training
   are not thrown away by a read-only folder at the end);
4. the result is computed and saved atomically (:func:`course_utils.checkpoint.save_checkpoint`):
   an error in the computation or the save leaves the previous file as it was.

A damaged file or another key always means "compute it again", never a wrong result.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from course_utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from course_utils.data import CacheNotWritableError

__all__ = ["cached_run"]

#: How a differing field is said; ``{noun}``, ``{path}``, ``{old}``, ``{new}`` are filled in
#: (``{diff}`` too for a dict: its entries that differ). A caller may phrase its own fields.
REASONS = {
    "format": "the cached {noun} at {path} was made by another version of the recipe "
              "({old!r}, now {new!r})",
    "config": "the cached {noun} at {path} was made with another configuration ({diff})",
}
OTHER_FIELD = "the cached {noun} at {path} was made with another {field} ({old!r}, now {new!r})"


def cached_run(path: str | os.PathLike, key: dict, compute: Callable[[], dict], *,
               force: bool = False, announce: Callable[[str], None] | None = None,
               noun: str = "result", compare: Callable[[dict], dict] | None = None,
               reasons: dict[str, str] | None = None) -> tuple[dict, bool]:
    """``(state, from_cache)``: the state cached at ``path`` when it was saved with ``key``, else
    ``{**key, **compute()}``, computed and saved.

    ``key``: the fields (plain data) that decide the result; they are saved with it.
    ``announce(why)``: called once, before computing, with why there is no usable cache
    (``None``: say nothing). ``noun`` names the result in that sentence ("model").
    ``compare(d)``: what of a key or a stored state is compared (default: the fields of ``key``),
    for a field derived from stored ones (the ResNet's "run": device type and thread count).
    ``reasons``: how to say that a field differs, by field name (default :data:`REASONS`).
    Raises :class:`CacheNotWritableError` before computing when the result could not be saved.
    """
    path = Path(path)
    view = compare or (lambda d: {k: d.get(k) for k in key})
    if force:
        why = "force=True was passed"
    else:
        state, why = _load(path, key, view, noun, {**REASONS, **(reasons or {})})
        if state is not None:
            return state, True
    _ensure_writable(path, noun)  # fail now, not after minutes of work
    if announce is not None:
        announce(why)
    result = compute()
    clash = sorted(set(result) & set(key))
    if clash:
        raise ValueError(f"compute() returned the key's own field(s) {clash}; the key is saved as given")
    state = {**key, **result}
    save_checkpoint(path, state)
    return state, False


def _load(path: Path, key: dict, view: Callable[[dict], dict], noun: str,
          reasons: dict) -> tuple[dict | None, str]:
    """The stored state if ``view`` reads the same key in it as in ``key``, else None and why."""
    if not path.exists():
        return None, f"no cached {noun} at {path}"
    try:
        state = load_checkpoint(path)
    except CheckpointError as exc:
        return None, f"the cached {noun} at {path} is unusable, corrupt or truncated ({exc})"
    wanted, stored = view(key), view(state)
    for field, new in wanted.items():
        old = stored.get(field)
        if old != new:  # the first field that differs: the format first, as the key lists it
            diff = _diff(old, new) if isinstance(new, dict) else ""
            template = reasons.get(field, OTHER_FIELD)
            return None, template.format(noun=noun, path=path, field=field, old=old, new=new,
                                         diff=diff)
    return state, ""


def _diff(old, new: dict, prefix: str = "") -> str:
    """``"lr 0.1 -> 0.2, model.d_model 16 -> 32"``: the entries that differ, nested ones by path."""
    old = old if isinstance(old, dict) else {}
    parts = []
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(old.get(k), dict):
            parts += [part for part in [_diff(old[k], v, f"{prefix}{k}.")] if part]
        elif old.get(k) != v:
            parts.append(f"{prefix}{k} {old.get(k)!r} -> {v!r}")
    parts += [f"{prefix}{k} {old[k]!r} -> (none)" for k in old if k not in new]
    return ", ".join(parts)


def _ensure_writable(path: Path, noun: str) -> None:
    """Raise :class:`CacheNotWritableError` unless a file can be created next to ``path``."""
    try:
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CacheNotWritableError(
            f"cannot save the {noun} to {path} ({type(exc).__name__}: {exc}); nothing was "
            "computed. Set the environment variable COURSE_DATA_DIR to a writable folder "
            "(e.g. COURSE_DATA_DIR=/tmp/course_data) and run again.") from None
