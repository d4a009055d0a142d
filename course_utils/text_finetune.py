"""Fine-tuning a GPT classifier on short texts, one recipe for every arm of a comparison.

Every arm (head only, LoRA, full, from scratch) gets the same budget: ``steps`` AdamW steps of
``batch_size`` examples, constant learning rate (each arm's own, chosen on a validation split).
What differs between arms is only which parameters have ``requires_grad=True``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from course_utils.memory import PeakMemory, tensor_bytes

__all__ = ["encode_texts", "accuracy", "train_classifier"]


def encode_texts(encode: Callable[[str], list[int]], texts: Sequence[str],
                 max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (N, max_len), right-padded with 0 and cut at ``max_len``, and lengths (N,)."""
    ids = torch.zeros(len(texts), max_len, dtype=torch.long)
    lengths = torch.zeros(len(texts), dtype=torch.long)
    for i, text in enumerate(texts):
        tokens = encode(text)[:max_len]
        if not tokens:
            raise ValueError(f"text {i} encodes to no tokens; drop empty texts first")
        ids[i, :len(tokens)] = torch.tensor(tokens)
        lengths[i] = len(tokens)
    return ids, lengths


@torch.no_grad()
def accuracy(model: nn.Module, ids: torch.Tensor, lengths: torch.Tensor,
             targets: torch.Tensor, batch_size: int = 256) -> float:
    was_training = model.training
    model.eval()
    correct = sum((model(ids[i:i + batch_size], lengths[i:i + batch_size]).argmax(1)
                   == targets[i:i + batch_size]).sum().item()
                  for i in range(0, len(targets), batch_size))
    model.train(was_training)
    return correct / len(targets)


def train_classifier(model: nn.Module, ids: torch.Tensor, lengths: torch.Tensor,
                     targets: torch.Tensor, *, lr: float, steps: int, batch_size: int = 16,
                     seed: int = 0, weight_decay: float = 0.01) -> dict:
    """Train the trainable parameters of ``model`` for ``steps`` steps; batches are drawn by
    reshuffling the examples each epoch (seeded). Returns ``{"losses", "seconds",
    "trainable", "peak_bytes"}``: ``peak_bytes`` = weights + AdamW's state + the most bytes of
    tensors created at once during the second step (activations, gradients), measured; hence
    ``steps`` >= 2 (the first step creates AdamW's state).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("no parameter requires a gradient: unfreeze something to train")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int >= 2 (the memory peak is measured on the second step, "
                         f"once AdamW's state exists), got {steps!r}")
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    order = torch.empty(0, dtype=torch.long)
    losses, peak = [], 0
    model.train()
    start = time.perf_counter()
    for step in range(steps):
        if len(order) < batch_size:  # a new epoch: reshuffle
            order = torch.cat([order, torch.randperm(len(targets), generator=generator)])
        batch, order = order[:batch_size], order[batch_size:]
        if step == 1:  # measure one steady step (AdamW state is created at the first)
            with PeakMemory() as mem:
                loss = _step(model, optimizer, ids[batch], lengths[batch], targets[batch])
            peak = mem.peak
        else:
            loss = _step(model, optimizer, ids[batch], lengths[batch], targets[batch])
        losses.append(loss)
    seconds = time.perf_counter() - start
    model.eval()
    state = [s for group in optimizer.state.values() for s in group.values()
             if isinstance(s, torch.Tensor)]
    return {"losses": losses, "seconds": seconds, "trainable": sum(p.numel() for p in params),
            "peak_bytes": tensor_bytes(list(model.parameters())) + tensor_bytes(state) + peak}


def _step(model, optimizer, ids, lengths, targets) -> float:
    loss = F.cross_entropy(model(ids, lengths), targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()
