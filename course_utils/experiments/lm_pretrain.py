"""Pretraining a GPT by next-token prediction, cached on disk like the course's ResNet-50.

A batch is ``batch_size`` random windows of ``context_length + 1`` tokens from the corpus; the
model reads the first ``context_length`` and is scored (cross-entropy) on predicting each next
one. The loss starts near ``ln(vocab_size)`` (a uniform guess) and falls as the model learns.

The result is cached at ``cache_dir()/gpt_docstrings.pt`` together with its key
(:func:`cache_key`: the recipe's format, *every* field of the configuration, the model's
included, and the sha256 of the train and validation tokens) and its history: a second call
with the same key loads it (checked on load); a file with any other key is stale and retrains
(:mod:`course_utils.experiments.cached_run`, the rule of the ResNet-50's cache too).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from course_utils.data import cache_dir
from course_utils.experiments.cached_run import cached_run
from course_utils.gpt import GPT, GPTConfig

__all__ = ["LMPretrainConfig", "evaluate_lm", "pretrain_lm", "train_lm"]

FORMAT = "course_utils.lm_pretrain/2"  # bump when the code of the recipe changes meaning


@dataclass(frozen=True)
class LMPretrainConfig:
    """Everything that decides the pretrained weights besides the tokens (the cache key)."""

    model: GPTConfig = GPTConfig()
    steps: int = 800
    batch_size: int = 32
    lr: float = 3e-3             # peak; linear warm-up, then cosine decay to lr * min_lr_ratio
    warmup_steps: int = 40
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1    # on matrices only (not on biases and LayerNorms)
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0       # max global gradient norm
    eval_every: int = 100
    eval_batches: int = 8        # validation loss: mean over this many fixed batches of 32
    seed: int = 0


def cache_key(config: LMPretrainConfig, train_tokens: torch.Tensor,
              val_tokens: torch.Tensor) -> dict:
    """What a cached model must match to be loaded: any field changed = stale = retrain."""
    return {"format": FORMAT, "config": dataclasses.asdict(config),
            "train_sha256": tokens_sha256(train_tokens), "val_sha256": tokens_sha256(val_tokens)}


def tokens_sha256(tokens: torch.Tensor) -> str:
    return hashlib.sha256(tokens.to(torch.int64).numpy().tobytes()).hexdigest()


def lm_checkpoint_path() -> Path:
    return cache_dir() / "gpt_docstrings.pt"


def get_batch(tokens: torch.Tensor, batch_size: int, context_length: int,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows: inputs (B, T) and targets (B, T) = the same windows shifted by one."""
    if tokens.numel() <= context_length:
        raise ValueError(f"{tokens.numel()} tokens cannot fill one window of {context_length + 1}")
    starts = torch.randint(tokens.numel() - context_length, (batch_size,), generator=generator)
    windows = torch.stack([tokens[s:s + context_length + 1] for s in starts.tolist()])
    return windows[:, :-1], windows[:, 1:]


def lm_loss(model: GPT, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = model(inputs)                                          # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())  # mean over B*T predictions


@torch.no_grad()
def evaluate_lm(model: GPT, tokens: torch.Tensor, context_length: int, batches: int = 8,
                batch_size: int = 32, seed: int = 1) -> float:
    """Mean next-token loss on ``batches`` fixed random batches of ``tokens``."""
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    losses = [lm_loss(model, *get_batch(tokens, batch_size, context_length, generator)).item()
              for _ in range(batches)]
    model.train(was_training)
    return sum(losses) / len(losses)


def pretrain_lm(train_tokens: torch.Tensor, val_tokens: torch.Tensor,
                config: LMPretrainConfig = LMPretrainConfig(), *, force: bool = False,
                progress: bool = True) -> tuple[GPT, dict]:
    """Return the pretrained GPT (``eval()`` mode) and ``info`` = ``{"history", "from_cache",
    "seconds", "path"}``; history holds ``{"step", "train_loss", "val_loss"}`` dicts.

    Loads the cached model when :func:`cache_key` matches and ``force`` is false; otherwise
    trains it (saying why first when ``progress``), after checking that the cache is writable.
    """
    key = cache_key(config, train_tokens, val_tokens)
    path = lm_checkpoint_path()
    with torch.random.fork_rng(devices=[]):  # the init is seeded; the caller's RNG is left alone
        torch.manual_seed(config.seed)
        model = GPT(config.model)

    def train() -> dict:
        return {**train_lm(model, train_tokens, val_tokens, config, progress),
                "model": model.state_dict()}

    state, from_cache = cached_run(path, key, train, force=force, noun="model",
                                   announce=_say_why if progress else None)
    if from_cache:
        model.load_state_dict(state["model"])
    info = {"history": state["history"], "seconds": state["seconds"],
            "from_cache": from_cache, "path": path}
    return model.eval(), info


def _say_why(why: str) -> None:
    print(f"Pretraining the GPT: {why}.", flush=True)


def train_lm(model: GPT, train_tokens: torch.Tensor, val_tokens: torch.Tensor,
             cfg: LMPretrainConfig, progress: bool = False) -> dict:
    """The pretraining loop, in place on ``model`` (notebook 07 writes the same loop in a cell
    and asserts its steps equal): AdamW (decay on matrices only), linear warm-up then cosine
    decay, gradient clipping, validation every ``eval_every`` steps. Returns ``{"history",
    "seconds", "threads"}``; the RNG of the batches is ``cfg.seed``'s own generator."""
    T = cfg.model.context_length
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]  # no decay on biases, norms
    rest = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": rest, "weight_decay": 0.0}], lr=cfg.lr,
                                  betas=cfg.betas)

    def lr_at(step: int) -> float:  # multiplier of cfg.lr
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        done = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * done))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    generator = torch.Generator().manual_seed(cfg.seed)
    history = []
    start = time.perf_counter()
    model.train()
    with tqdm(range(cfg.steps), disable=not progress, desc="pretraining", unit="step") as bar:
        for step in bar:
            loss = lm_loss(model, *get_batch(train_tokens, cfg.batch_size, T, generator))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            row = {"step": step + 1, "train_loss": loss.item(), "val_loss": None}
            if (step + 1) % cfg.eval_every == 0 or step == 0 or step + 1 == cfg.steps:
                row["val_loss"] = evaluate_lm(model, val_tokens, T, cfg.eval_batches)
                bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{row['val_loss']:.3f}")
            history.append(row)
    model.eval()
    return {"history": history, "seconds": time.perf_counter() - start,
            "threads": torch.get_num_threads()}
