"""course_utils.distributed: sharded loaders, a CPU SyncBatchNorm, and `torchrun -m course_utils finetune`.

Oracles: one process on the global batch (plain ``nn.BatchNorm2d``, the plain CLI run).
"""

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from PIL import Image
from torch import nn
from torch.utils.data import TensorDataset

from course_utils.distributed import (
    GLOO_EXIT_ABORT,
    DistInfo,
    SyncBatchNorm2d,
    all_reduce_mean,
    convert_sync_batchnorm,
    main_first,
    make_loader,
    prepare_model,
    run_launcher,
    unwrap,
)

ROOT = Path(__file__).resolve().parents[1]


def test_shards_together_are_the_single_process_batches():
    data = TensorDataset(torch.arange(24.0)[:, None], torch.arange(24))
    one = make_loader(data, 8, DistInfo(), seed=3)
    two = [make_loader(data, 8, DistInfo(rank=r, world_size=2), seed=3) for r in range(2)]
    for epoch in range(2):
        for loader in [one, *two]:
            loader.sampler.set_epoch(epoch)
        singles = [y for _, y in one]
        shards = list(zip(*[list(shard) for shard in two]))
        assert len(singles) == len(shards) == 3
        for whole, (a, b) in zip(singles, shards):
            assert a[1].shape == (4,)  # each process gets half of the global batch
            assert sorted(whole.tolist()) == sorted(a[1].tolist() + b[1].tolist())
    last = torch.cat([y for _, y in one]).tolist()
    one.sampler.set_epoch(0)
    assert torch.cat([y for _, y in one]).tolist() != last  # a new epoch, a new order


def test_loader_rejects_an_indivisible_global_batch():
    data = TensorDataset(torch.zeros(8, 1), torch.zeros(8))
    with pytest.raises(ValueError, match="divisible"):
        make_loader(data, 5, DistInfo(rank=0, world_size=2))


def test_single_process_helpers_are_no_ops():
    info = DistInfo()
    assert info.is_main and all_reduce_mean(2.5, info) == 2.5
    with main_first(info):
        pass
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    assert prepare_model(model, info) is model and unwrap(model) is model


def test_convert_sync_batchnorm_keeps_state_and_skips_frozen():
    from course_utils.finetune import FrozenBatchNorm2d, freeze

    model = nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)),
                          nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)))
    with torch.no_grad():
        model[1][1].running_mean.fill_(0.5)
    freeze(model, ["1"])
    convert_sync_batchnorm(model, DistInfo())
    assert type(model[0][1]) is FrozenBatchNorm2d  # frozen statistics need no syncing
    assert type(model[1][1]) is SyncBatchNorm2d
    assert torch.all(model[1][1].running_mean == 0.5) and model[1][1].weight.requires_grad
    x = torch.randn(6, 4, 5, 5)
    model.train()
    reference = nn.BatchNorm2d(4).train()
    reference.load_state_dict(model[1][1].state_dict())
    # outside a process group it is exactly BatchNorm2d
    torch.testing.assert_close(model[1][1](x), reference(x))


def _sync_bn_worker(rank: int, world: int, init_file: str, x, w, g, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        bn = SyncBatchNorm2d(x.shape[1]).train()
        with torch.no_grad():
            bn.weight.copy_(w)
        part = x.chunk(world)[rank].clone().requires_grad_(True)
        y = bn(part)
        # the loss of the whole batch, split: each process holds its share
        (y * g.chunk(world)[rank]).sum().backward()
        grads = [bn.weight.grad.clone(), bn.bias.grad.clone()]
        for t in grads:
            dist.all_reduce(t)  # what DDP does with parameter gradients (it averages; we sum)
        torch.save({"y": y.detach(), "x_grad": part.grad, "w_grad": grads[0], "b_grad": grads[1],
                    "running_mean": bn.running_mean, "running_var": bn.running_var},
                   os.path.join(out_dir, f"{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_sync_batchnorm_over_two_processes_equals_batchnorm_on_the_whole_batch(tmp_path):
    torch.manual_seed(0)
    x, g = torch.randn(8, 3, 4, 4) * 3 + 1, torch.randn(8, 3, 4, 4)
    w = torch.rand(3) + 0.5
    mp.spawn(_sync_bn_worker, args=(2, str(tmp_path / "init"), x, w, g, str(tmp_path)), nprocs=2)
    parts = [torch.load(tmp_path / f"{r}.pt", weights_only=True) for r in range(2)]

    bn = nn.BatchNorm2d(3).train()
    with torch.no_grad():
        bn.weight.copy_(w)
    xx = x.clone().requires_grad_(True)
    y = bn(xx)
    (y * g).sum().backward()
    torch.testing.assert_close(torch.cat([p["y"] for p in parts]), y.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.cat([p["x_grad"] for p in parts]), xx.grad, rtol=1e-4, atol=1e-5)
    for p in parts:
        torch.testing.assert_close(p["w_grad"], bn.weight.grad, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(p["b_grad"], bn.bias.grad, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(p["running_mean"], bn.running_mean)
        torch.testing.assert_close(p["running_var"], bn.running_var)


def write_image_folder(root: Path, classes=("a", "b", "c", "d"), per_class: int = 20, size: int = 32) -> Path:
    """Class ``k``'s images: noise around a class colour, PNG and JPEG alternately."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        colour = np.array([(k * 70) % 256, (k * 130 + 40) % 256, (255 - k * 60) % 256])
        for i in range(per_class):
            pixels = np.clip(colour + rng.normal(0, 40, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


def _cli(tmp_path: Path, name: str, launcher: list[str]) -> tuple[dict, dict, str]:
    data = write_image_folder(tmp_path / "images")
    args = ["--data", str(data), "--strategy", "last-stage", "--epochs", "1", "--weights", "none",
            "--batch-size", "32", "--device", "cpu", "--save", str(tmp_path / f"{name}.pt"),
            "--report", str(tmp_path / name)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "default"}
    proc = run_launcher([*launcher, *args], cwd=ROOT, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    saved = torch.load(tmp_path / f"{name}.pt", weights_only=True)
    return json.loads((tmp_path / name / "report.json").read_text()), saved, proc.stderr


@pytest.mark.slow
def test_cli_on_two_processes_matches_one_process_with_the_same_global_batch(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    one, one_model, stderr = _cli(tmp_path, "one", [sys.executable, "-m", "course_utils", "finetune"])
    assert "Warning" not in stderr, stderr  # `python -m course_utils finetune` runs clean
    two, two_model, _ = _cli(tmp_path, "two", [torchrun, "--nproc_per_node=2", "-m", "course_utils", "finetune"])
    assert (one["world_size"], two["world_size"]) == (1, 2)
    # layer4's BatchNorm trains here: without synced statistics the losses differ
    for a, b in zip(one["history"], two["history"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=2e-3)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=2e-3)
    torch.testing.assert_close(one_model["model"]["fc.weight"], two_model["model"]["fc.weight"],
                               atol=1e-4, rtol=1e-3)


def test_run_launcher_retries_only_the_gloo_exit_abort(tmp_path):
    counter = tmp_path / "n"
    script = ("import pathlib, sys\n"
              f"p = pathlib.Path({str(counter)!r}); n = int(p.read_text()) + 1 if p.exists() else 1\n"
              "p.write_text(str(n))\n"
              "if n < 3: sys.stderr.write(sys.argv[1]); sys.exit(134)\n")
    result = run_launcher([sys.executable, "-c", script, GLOO_EXIT_ABORT])
    assert result.returncode == 0 and counter.read_text() == "3"
    counter.unlink()
    result = run_launcher([sys.executable, "-c", script, "some other crash"])
    assert result.returncode == 134 and counter.read_text() == "1"  # no retry for other failures
