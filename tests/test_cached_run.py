"""course_utils.experiments.cached_run: load when the key matches, else say why once, check the
folder is writable, compute, save atomically."""

import pytest
import torch

from course_utils.checkpoint import load_checkpoint, save_checkpoint
from course_utils.data import CacheNotWritableError
from course_utils.experiments import cached_run as C
from course_utils.experiments.cached_run import cached_run

KEY = {"format": "toy/1", "config": {"lr": 0.1, "model": {"width": 16}}, "data_sha256": "abc"}


class Run:
    """A compute function that counts its calls and what was announced."""

    def __init__(self, fail=False):
        self.calls, self.said, self.fail = 0, [], fail

    def __call__(self):
        self.calls += 1
        if self.fail:
            raise KeyboardInterrupt("interrupted mid-run")
        return {"weights": torch.arange(4.0), "history": [{"step": 1, "loss": 0.5}]}

    def announce(self, why):
        self.said.append(why)


def _run(path, key=KEY, run=None, **kw):
    run = run or Run()
    state, hit = cached_run(path, key, run, announce=run.announce, **kw)
    return state, hit, run


def test_the_first_call_computes_and_saves_the_key_with_the_result(tmp_path):
    path = tmp_path / "toy.pt"
    state, hit, run = _run(path)
    assert not hit and run.calls == 1 and run.said == [f"no cached result at {path}"]
    stored = load_checkpoint(path)
    assert {k: stored[k] for k in KEY} == KEY and torch.equal(stored["weights"], torch.arange(4.0))
    assert state.keys() == stored.keys()


def test_a_matching_key_loads_without_computing_or_saying_anything(tmp_path):
    path = tmp_path / "toy.pt"
    first, _, _ = _run(path)
    before = path.read_bytes()
    again, hit, run = _run(path)
    assert hit and run.calls == 0 and run.said == []
    assert again["history"] == first["history"] and torch.equal(again["weights"], first["weights"])
    assert path.read_bytes() == before  # a hit does not rewrite the file


@pytest.mark.parametrize("field, value, why", [
    ("format", "toy/2", "was made by another version of the recipe ('toy/1', now 'toy/2')"),
    ("config", {"lr": 0.2, "model": {"width": 16}}, "with another configuration (lr 0.1 -> 0.2)"),
    ("config", {"lr": 0.1, "model": {"width": 32}},
     "with another configuration (model.width 16 -> 32)"),
    ("config", {"lr": 0.1}, "with another configuration (model {'width': 16} -> (none))"),
    ("data_sha256", "abd", "was made with another data_sha256 ('abc', now 'abd')"),
])
def test_another_key_recomputes_and_says_which_field_differs(tmp_path, field, value, why):
    path = tmp_path / "toy.pt"
    _run(path)
    state, hit, run = _run(path, {**KEY, field: value})
    assert not hit and run.calls == 1 and len(run.said) == 1
    assert run.said[0].startswith(f"the cached result at {path} ") and run.said[0].endswith(why)
    assert load_checkpoint(path)[field] == value  # the cache now holds the new key
    assert _run(path, {**KEY, field: value})[1]


def test_the_first_differing_field_is_the_one_said(tmp_path):
    path = tmp_path / "toy.pt"
    _run(path)
    _, _, run = _run(path, {**KEY, "format": "toy/2", "data_sha256": "abd"})
    assert "another version of the recipe" in run.said[0] and "data_sha256" not in run.said[0]


@pytest.mark.parametrize("damage", [b"", b"not a checkpoint", "truncated"])
def test_an_unreadable_file_is_recomputed_with_a_message(tmp_path, damage):
    path = tmp_path / "toy.pt"
    _run(path)
    path.write_bytes(path.read_bytes()[:300] if damage == "truncated" else damage)
    _, hit, run = _run(path, noun="model")
    assert not hit and run.calls == 1 and len(run.said) == 1
    assert run.said[0].startswith(f"the cached model at {path} is unusable, corrupt or truncated (")
    assert _run(path)[1]  # and the file was repaired


def test_force_recomputes_and_says_so(tmp_path):
    path = tmp_path / "toy.pt"
    _run(path)
    _, hit, run = _run(path, force=True)
    assert not hit and run.calls == 1 and run.said == ["force=True was passed"]


def test_no_announce_computes_silently(tmp_path, capsys):
    state, hit = cached_run(tmp_path / "toy.pt", KEY, Run())
    assert not hit and capsys.readouterr().out == ""


def test_a_derived_field_is_compared_through_compare_and_phrased_by_reasons(tmp_path):
    # As the ResNet: "device" and "threads" are stored; only the kind of run they make counts.
    def kind(d):
        return {"run": d["device"].split(":")[0] + ("" if d["device"] != "cpu" else f"/{d['threads']}")}

    path = tmp_path / "toy.pt"
    kw = dict(compare=kind, reasons={"run": "it was made on {old}, this run is on {new}"})
    _run(path, {"device": "cuda:0", "threads": 4}, **kw)
    assert _run(path, {"device": "cuda", "threads": 2}, **kw)[1]  # same kind of run: a hit
    _, hit, run = _run(path, {"device": "cpu", "threads": 2}, **kw)
    assert not hit and run.said == ["it was made on cuda, this run is on cpu/2"]


def _no_compute():
    raise AssertionError("computed although the result could not be saved")


def test_an_unwritable_folder_fails_before_computing(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(C.tempfile, "mkstemp", read_only)
    said = []
    with pytest.raises(CacheNotWritableError, match="Permission denied.*nothing was computed.*"
                                                    "COURSE_DATA_DIR"):
        cached_run(tmp_path / "toy.pt", KEY, _no_compute, announce=said.append)
    assert said == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["a folder in its place", "a file in place of its folder"])
def test_a_path_that_cannot_be_a_file_fails_before_computing(tmp_path, where):
    path = tmp_path / "toy.pt"
    if where == "a folder in its place":
        path.mkdir()
    else:
        (tmp_path / "file").write_text("not a folder")
        path = tmp_path / "file" / "toy.pt"
    with pytest.raises(CacheNotWritableError, match="COURSE_DATA_DIR"):
        cached_run(path, KEY, _no_compute)


def test_a_failed_computation_leaves_the_previous_file_whole(tmp_path):
    path = tmp_path / "toy.pt"
    _run(path)
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        _run(path, {**KEY, "format": "toy/2"}, Run(fail=True))
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["toy.pt"]
    assert _run(path)[1]  # the old result is still there for the old key
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "new.pt", run=Run(fail=True))
    assert not (tmp_path / "new.pt").exists()


def test_a_failed_save_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "toy.pt"
    _run(path)
    before = path.read_bytes()

    def save_dies(state, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", save_dies)
    with pytest.raises(Exception, match="disk is full"):
        _run(path, {**KEY, "format": "toy/2"})
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["toy.pt"]


def test_a_result_may_not_overwrite_its_key(tmp_path):
    def sneaky():
        return {"format": "toy/0", "weights": torch.zeros(1)}

    with pytest.raises(ValueError, match=r"\['format'\]"):
        cached_run(tmp_path / "toy.pt", KEY, sneaky)
    assert not (tmp_path / "toy.pt").exists()


def test_a_file_saved_before_the_helper_existed_loads(tmp_path):
    # The caches of the course were written by save_checkpoint with their key fields at the top.
    path = tmp_path / "old.pt"
    save_checkpoint(path, {**KEY, "weights": torch.ones(2), "threads": 2})
    state, hit, run = _run(path)
    assert hit and run.calls == 0 and torch.equal(state["weights"], torch.ones(2))
