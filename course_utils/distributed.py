"""Data-parallel training with DistributedDataParallel (DDP), on CPUs (gloo) or GPUs (nccl).

``torchrun --nproc_per_node=N script.py`` starts N copies of a script and tells each its
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` through the environment. Each process trains a
replica of the model on its own 1/N of every global batch; DDP averages the gradients, so every
replica takes the same step as one process would on the whole batch. Two things keep that
promise exact here: every process sees disjoint slices of the *same* shuffled order
(:func:`make_loader`), and BatchNorm layers that train compute their batch statistics over the
global batch (:func:`convert_sync_batchnorm`). Without torchrun everything runs as one process.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce as differentiable_all_reduce
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from course_utils.repro import get_device

__all__ = ["run_launcher", "DistInfo", "init_distributed", "cleanup", "main_first", "make_loader",
           "all_reduce_mean", "prepare_model", "unwrap"]


#: What PyTorch 2.14's gloo backend prints when it aborts a CPU process as it exits, after the
#: work is done (about 2 launches in 25 here; a barrier before destroy_process_group does not help).
GLOO_EXIT_ABORT = "terminate called without an active exception"


def run_launcher(command: list[str], *, attempts: int = 3, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(command, capture_output=True, text=True, **kwargs)`` for a torchrun launch.

    Relaunches only after gloo's exit-time abort (:data:`GLOO_EXIT_ABORT`), at most ``attempts``
    times in all; any other failure is returned at once for the caller to report.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    for _ in range(attempts):
        result = subprocess.run(command, capture_output=True, text=True, **kwargs)
        if result.returncode == 0 or GLOO_EXIT_ABORT not in result.stderr:
            break
    return result


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None  # None: a single process, no process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device | str | None = None) -> DistInfo:
    """Join the process group torchrun describes (gloo on CPU, nccl on CUDA), or run alone.

    ``device`` forces one (``"cpu"``); by default each process takes GPU ``LOCAL_RANK`` when
    CUDA is there, else the CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = get_device()
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if world_size == 1:
        return DistInfo(device=device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world_size, local_rank, device, backend)


def cleanup(info: DistInfo) -> None:
    """Leave the process group (no-op for a single process)."""
    if info.backend is not None and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.backend is not None:
        dist.barrier()


@contextlib.contextmanager
def main_first(info: DistInfo) -> Iterator[None]:
    """Let rank 0 run the block first (e.g. build a cache), then the others (which reuse it)."""
    if not info.is_main:
        barrier(info)
    yield
    if info.is_main:
        barrier(info)


def make_loader(dataset: Dataset, batch_size: int, info: DistInfo, *, seed: int = 0,
                shuffle: bool = True, drop_last: bool = False, pin_memory: bool = False) -> DataLoader:
    """A loader giving this process its share of every *global* batch of ``batch_size``.

    The shuffled order depends on ``seed`` and the epoch only (call
    ``loader.sampler.set_epoch(epoch)`` each epoch), so N processes together see exactly the
    batches one process would. Keep ``len(dataset)`` a multiple of the world size: the sampler
    pads with repeated samples otherwise. ``drop_last`` drops each process's last, short batch
    (train-mode BatchNorm cannot normalise one image); ``pin_memory`` for fast copies to a GPU.
    """
    if batch_size % info.world_size:
        raise ValueError(f"the global batch size {batch_size} must be divisible by the number "
                         f"of processes ({info.world_size})")
    sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank,
                                 shuffle=shuffle, seed=seed, drop_last=False)
    return DataLoader(dataset, batch_size=batch_size // info.world_size, sampler=sampler,
                      drop_last=drop_last, pin_memory=pin_memory)


def all_reduce_mean(value: float, info: DistInfo) -> float:
    """The mean of a per-process number over all processes (the number itself when alone)."""
    if info.backend is None:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64,
                     device=info.device if info.backend == "nccl" else "cpu")
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


def _global_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over all processes, differentiably: the gradient is all-reduced back the same way."""
    return differentiable_all_reduce(t)


class SyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics cover the global batch, on any device (gloo too).

    ``nn.SyncBatchNorm`` is GPU-only; this is the same idea in a few lines: sum, count and
    squared deviations are all-reduced, with gradients flowing back through the all-reduce.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, H, W)
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        packed = torch.cat([x.sum((0, 2, 3)), x.new_tensor([x.numel() / x.shape[1]])])
        packed = _global_sum(packed)
        n = packed[-1]
        mean = packed[:-1] / n                                          # (C,)
        var = _global_sum(((x - mean[None, :, None, None]) ** 2).sum((0, 2, 3))) / n  # biased
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * n / (n - 1), m)  # unbiased, as BatchNorm
        y = (x - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        return y * self.weight[None, :, None, None] + self.bias[None, :, None, None] if self.affine else y


def convert_sync_batchnorm(model: nn.Module, info: DistInfo) -> nn.Module:
    """Make every *trainable* ``BatchNorm2d`` synchronise its statistics across processes.

    Frozen BatchNorm (see ``course_utils.finetune.freeze``) uses fixed statistics and is left
    alone. On CUDA this is ``nn.SyncBatchNorm``; on CPU our :class:`SyncBatchNorm2d`.
    """
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            if info.device.type == "cuda":
                new = nn.SyncBatchNorm.convert_sync_batchnorm(child)
            else:
                new = SyncBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                      child.track_running_stats).to(child.running_mean.device)
                new.load_state_dict(child.state_dict())
                new.requires_grad_(child.weight.requires_grad if child.affine else False)
                new.train(child.training)
            setattr(model, name, new)
        else:
            convert_sync_batchnorm(child, info)
    return model


def prepare_model(model: nn.Module, info: DistInfo) -> nn.Module:
    """Move ``model`` to this process's device; under torchrun, sync its BatchNorm and wrap it in DDP.

    The DDP wrapper keeps the model as ``.module`` (save that, not the wrapper).
    """
    model = model.to(info.device)
    if info.backend is None:
        return model
    model = convert_sync_batchnorm(model, info)
    ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside a DDP wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
