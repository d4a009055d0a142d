"""GPT-2's architecture at a small size, from torch.nn: a decoder-only Transformer.

tokens (B, T) -> token embedding + learned position embedding -> n_layers pre-norm blocks
(x + attn(ln1(x)), then x + mlp(ln2(x))) -> final LayerNorm -> logits (B, T, V) through the
token embedding matrix again (tied input/output embeddings, as in GPT-2). Attention is causal:
position t sees positions 0..t only, so every position is trained to predict the next token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["GPTConfig", "gpt_parameter_count", "Block", "GPT", "GPTClassifier", "generate"]


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 1024
    context_length: int = 64   # the longest sequence the position embedding covers
    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 4
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")


def gpt_parameter_count(config: GPTConfig) -> int:
    """Parameters predicted from the shapes: V d + T d + L (12 d^2 + 13 d) + 2 d (tied head).

    Per block: 2 LayerNorms (4d), attention qkv (3d^2 + 3d) and projection (d^2 + d), MLP
    d -> 4d -> d (8d^2 + 5d). The output layer reuses the token embedding: no new parameters.
    """
    d, L = config.d_model, config.n_layers
    return (config.vocab_size + config.context_length) * d + L * (12 * d * d + 13 * d) + 2 * d


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        mask = torch.tril(torch.ones(config.context_length, config.context_length, dtype=torch.bool))
        self.register_buffer("causal_mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # (B, T, 3C) -> 3 x (B, T, C)
        # (B, T, C) -> (B, heads, T, C/heads): each head attends on its own slice
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))            # (B, h, T, T)
        scores = scores.masked_fill(~self.causal_mask[:T, :T], float("-inf"))  # no peeking ahead
        y = self.dropout(scores.softmax(dim=-1)) @ v                        # (B, h, T, C/h)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.d_model, 4 * config.d_model)
        self.act = nn.GELU(approximate="tanh")  # GPT-2's "gelu_new"
        self.proj = nn.Linear(4 * config.d_model, config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.act(self.fc(x)))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(config.d_model)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.mlp = MLP(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.ln1(x)))  # pre-norm: normalize the branch input
        return x + self.dropout(self.mlp(self.ln2(x)))


class GPT(nn.Module):
    """``model(idx)``: token ids (B, T) -> next-token logits (B, T, vocab_size)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.context_length, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tied: one (V, d) matrix reads and writes tokens
        self.apply(self._init)
        for block in self.blocks:  # GPT-2: residual outputs scaled down by sqrt(2 * n_layers)
            for proj in (block.attn.proj, block.mlp.proj):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * config.n_layers))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def features(self, idx: torch.Tensor) -> torch.Tensor:
        """Hidden states after the final LayerNorm, (B, T) -> (B, T, d_model)."""
        T = idx.size(1)
        if T > self.config.context_length:
            raise ValueError(f"sequence of {T} tokens is longer than context_length="
                             f"{self.config.context_length}; crop it (idx[:, -context_length:])")
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(idx))


class GPTClassifier(nn.Module):
    """A GPT body and a new linear ``head`` on one vector per text, read from its hidden states.

    ``model(idx, lengths)``: right-padded ids (B, T) and true lengths (B,) -> logits (B, C).
    ``pooling="mean"`` averages the hidden states over the real tokens; ``pooling="last"`` reads
    the last real token's (as Hugging Face's ``GPT2ForSequenceClassification`` does). Causal
    attention means real tokens never see the padding after them, so no mask is needed.
    """

    def __init__(self, body: GPT, num_classes: int, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in ("mean", "last"):
            raise ValueError(f"pooling must be 'mean' or 'last', got {pooling!r}")
        self.body = body
        self.pooling = pooling
        self.head = nn.Linear(body.config.d_model, num_classes)

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.body.features(idx)                                         # (B, T, d)
        if self.pooling == "last":
            pooled = h[torch.arange(idx.size(0), device=idx.device), lengths - 1]  # (B, d)
        else:
            real = torch.arange(idx.size(1), device=idx.device) < lengths[:, None]  # (B, T)
            pooled = (h * real[..., None]).sum(1) / lengths[:, None].clamp(min=1)   # (B, d)
        return self.head(pooled)


@torch.no_grad()
def generate(model: GPT, idx: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
             top_k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Append ``max_new_tokens`` sampled tokens to ``idx`` (B, T); ``temperature=0`` is greedy.

    Each step: logits of the last position / temperature, keep the ``top_k`` largest, sample.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    for _ in range(max_new_tokens):
        logits = model(idx[:, -model.config.context_length:])[:, -1, :]  # (B, V)
        if temperature == 0:
            nxt = logits.argmax(dim=-1, keepdim=True)
        else:
            logits = logits / temperature
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            nxt = torch.multinomial(logits.softmax(dim=-1), 1, generator=generator)
        idx = torch.cat([idx, nxt], dim=1)
    return idx
