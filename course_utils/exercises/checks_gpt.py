"""Implement-it checkers of notebook 07: causal self-attention, and a pre-norm Transformer block's ``forward``.

``check_causal_attention(my_causal_attention)`` compares the learner's attention with
``F.scaled_dot_product_attention(is_causal=True)`` and names the usual near misses (no mask, no
1/√d, the softmax over the wrong axis). ``check_block_forward(my_block_forward)`` runs the learner's
``my_block_forward(block, x)`` on seeded :class:`~course_utils.gpt.Block` modules next to ``block(x)``
(GPT-2's pre-norm block: ``x + attn(ln1(x))``, then ``+ mlp(ln2(...))``), values then gradients, and
names the usual mistakes (a residual connection missing, post-norm, the branches swapped).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from course_utils.exercises import Verdict
from course_utils.exercises.checks import _call, _correct, _gradient_differs, _Mismatch, _run, _same
from course_utils.gpt import Block, GPTConfig
from course_utils.i18n import message, translate

__all__ = ["check_causal_attention", "check_block_forward"]

#: What these checkers add to the shared verdicts (:data:`course_utils.exercises.MESSAGES`): their cases
#: and the hints for near misses, English -> Chinese, the one shape of :mod:`course_utils.i18n`.
MESSAGES: dict[str, str] = {
    # check_causal_attention
    "q, k, v of shape (2, 3, 5, 16) (batch, heads, T, d)": "q、k、v（形状 (2, 3, 5, 16)，即 batch, heads, T, d）",
    "q, k, v of shape (4, 7, 8) (batch, T, d)": "q、k、v（形状 (4, 7, 8)，即 batch, T, d）",
    "one token, shape (1, 1, 1, 4)": "只有一个词元（形状 (1, 1, 1, 4)）",
    " (gradient of {name})": "中的 {name} ",
    ", gradients of q, k and v too": "，q、k、v 的梯度也一致",
    " It equals attention without the causal mask: set the scores of keys after the query to -inf before the softmax.":
        " 它等于没有因果掩码的注意力：在 softmax 之前，把排在查询之后的键的分数设为 -inf。",
    " It equals causal attention without the 1/√d scaling: divide the scores by √d (d = q.size(-1)).":
        " 它等于没有 1/√d 缩放的因果注意力：把分数除以 √d（d = q.size(-1)）。",
    " It equals a softmax over the queries (dim=-2): take it over the keys (dim=-1), so each query's weights sum to 1.":
        " 它等于沿查询维度（dim=-2）做的 softmax：应沿键的维度（dim=-1）做，使每个查询的权重之和为 1。",
    # check_block_forward
    "Block(d_model=8, n_heads=2), x of shape (2, 5, 8)": "Block(d_model=8, n_heads=2)（x 的形状为 (2, 5, 8)）",
    "Block(d_model=12, n_heads=3), x of shape (1, 7, 12)": "Block(d_model=12, n_heads=3)（x 的形状为 (1, 7, 12)）",
    ", gradients of x and of the block's weights too": "，x 和模块权重的梯度也一致",
    " It equals the block without residual connections: add each branch's output to its input (x = x + attn(ln1(x)), "
    "then x = x + mlp(ln2(x))).":
        " 它等于没有残差连接的模块：把每个分支的输出加回它的输入（x = x + attn(ln1(x))，再 x = x + mlp(ln2(x))）。",
    " It equals the block without the residual around attention: x = x + attn(ln1(x)).":
        " 它等于注意力分支没有残差的模块：应为 x = x + attn(ln1(x))。",
    " It equals the block without the residual around the MLP: x = x + mlp(ln2(x)).":
        " 它等于 MLP 分支没有残差的模块：应为 x = x + mlp(ln2(x))。",
    " It equals a post-norm block (LayerNorm after the addition, as in the original Transformer): GPT-2 normalizes "
    "the branch input instead, x + attn(ln1(x)).":
        " 它等于后置归一化（post-norm，原始 Transformer 的做法：先相加再 LayerNorm）的模块：GPT-2 归一化的是分支的输入"
        "，x + attn(ln1(x))。",
    " It equals a block whose residual path carries ln1(x) instead of x: add the branch to the un-normalized x.":
        " 它等于残差通路上传的是 ln1(x) 而不是 x 的模块：应把分支的输出加到未归一化的 x 上。",
    " It equals the block with the MLP before attention: attention comes first.":
        " 它等于先 MLP 后注意力的模块：应先注意力，再 MLP。",
}


def _same_or_near_miss(got, expected: torch.Tensor, case: str,
                       near_misses: Callable[..., dict[str, torch.Tensor]], *inputs) -> None:
    """:func:`~course_utils.exercises.checks._same`; when ``got`` differs, the verdict ends with the hint
    of the known near miss (``near_misses(*inputs)``: hint -> its output) that ``got`` equals, if any."""
    try:
        _same(got, expected, case)
    except _Mismatch as mismatch:
        with torch.no_grad():
            misses = near_misses(*inputs)
        for hint, wrong in misses.items():
            if torch.is_tensor(got) and got.shape == wrong.shape and torch.allclose(
                    got.detach().double(), wrong.double(), atol=1e-5, rtol=1e-5):
                raise _Mismatch(str(mismatch) + hint) from None
        raise


def _attention_near_misses(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> dict[str, torch.Tensor]:
    """Typical wrong causal attentions, each with what to fix."""
    sdpa, T = nn.functional.scaled_dot_product_attention, q.size(-2)
    scores = (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).masked_fill(
        ~torch.ones(T, T, dtype=torch.bool).tril(), -math.inf)
    wrong = {" It equals attention without the causal mask: set the scores of keys after the query to -inf before "
             "the softmax.": sdpa(q, k, v),
             " It equals causal attention without the 1/√d scaling: divide the scores by √d (d = q.size(-1)).":
                 sdpa(q, k, v, is_causal=True, scale=1.0),
             " It equals a softmax over the queries (dim=-2): take it over the keys (dim=-1), so each query's weights "
             "sum to 1.": scores.softmax(dim=-2) @ v}
    return {translate(MESSAGES, hint): out for hint, out in wrong.items()}


def check_causal_attention(causal_attention: Callable) -> Verdict:
    """``causal_attention(q, k, v)`` for tensors (..., T, d): ``softmax(q kᵀ/√d + causal mask) v``,
    against ``F.scaled_dot_product_attention(is_causal=True)``, values then gradients; values
    equal to a known near miss (no mask, no 1/√d, softmax over the queries) say so."""
    g = torch.Generator().manual_seed(0)
    sdpa = nn.functional.scaled_dot_product_attention
    shapes = {translate(MESSAGES, "q, k, v of shape (2, 3, 5, 16) (batch, heads, T, d)"): (2, 3, 5, 16),
              translate(MESSAGES, "q, k, v of shape (4, 7, 8) (batch, T, d)"): (4, 7, 8),
              translate(MESSAGES, "one token, shape (1, 1, 1, 4)"): (1, 1, 1, 4)}
    cases = {case: tuple(torch.randn(shape, generator=g) for _ in range(3)) for case, shape in shapes.items()}

    def checker() -> str:
        for case, (q, k, v) in cases.items():
            got = _call(causal_attention, case, q.clone(), k.clone(), v.clone())
            _same_or_near_miss(got, sdpa(q, k, v, is_causal=True), case, _attention_near_misses, q, k, v)
        for case, (q, k, v) in cases.items():
            ours, theirs = ([t.clone().requires_grad_(True) for t in (q, k, v)] for _ in range(2))
            weights = torch.randn(v.shape, generator=g)  # a generic downstream loss
            out = _call(causal_attention, case, *ours)
            if not out.requires_grad:
                raise _Mismatch(_gradient_differs(case, math.inf))
            (out * weights).sum().backward()
            (sdpa(*theirs, is_causal=True) * weights).sum().backward()
            for name, mine, ref in zip("qkv", ours, theirs):
                diff = math.inf if mine.grad is None else (mine.grad - ref.grad).abs().max().item()
                if not diff <= 1e-5:
                    raise _Mismatch(_gradient_differs(case + message(MESSAGES, " (gradient of {name})", name=name),
                                                      diff))
        return _correct(reference="F.scaled_dot_product_attention(is_causal=True)",
                        n=len(cases), extra=translate(MESSAGES, ", gradients of q, k and v too"))

    return _run(checker)


def _near_misses(block: Block, x: torch.Tensor) -> dict[str, torch.Tensor]:
    attn, mlp, ln1, ln2 = block.attn, block.mlp, block.ln1, block.ln2
    h = x + attn(ln1(x))
    post = ln1(x + attn(x))
    wrong = {
        " It equals the block without residual connections: add each branch's output to its input (x = x + "
        "attn(ln1(x)), then x = x + mlp(ln2(x))).": mlp(ln2(attn(ln1(x)))),
        " It equals the block without the residual around attention: x = x + attn(ln1(x)).":
            attn(ln1(x)) + mlp(ln2(attn(ln1(x)))),
        " It equals the block without the residual around the MLP: x = x + mlp(ln2(x)).": mlp(ln2(h)),
        " It equals a post-norm block (LayerNorm after the addition, as in the original Transformer): GPT-2 "
        "normalizes the branch input instead, x + attn(ln1(x)).": ln2(post + mlp(post)),
        " It equals a block whose residual path carries ln1(x) instead of x: add the branch to the un-normalized x.":
            (ln1(x) + attn(ln1(x))) + mlp(ln2(ln1(x) + attn(ln1(x)))),
        " It equals the block with the MLP before attention: attention comes first.":
            (x + mlp(ln2(x))) + attn(ln1(x + mlp(ln2(x)))),
    }
    return {translate(MESSAGES, hint): out for hint, out in wrong.items()}


def check_block_forward(block_forward: Callable) -> Verdict:
    """``block_forward(block, x)`` for a :class:`~course_utils.gpt.Block` and x (B, T, d):
    ``x + attn(ln1(x))`` then ``+ mlp(ln2(.))``, against ``block(x)``, values then gradients
    (of x and of every weight of the block)."""
    def case(seed: int, d: int, heads: int, shape: tuple[int, ...]) -> tuple[Block, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        block = Block(GPTConfig(vocab_size=8, context_length=16, d_model=d, n_heads=heads))
        with torch.no_grad():  # LayerNorm weights and biases away from 1 and 0: testable
            for p in block.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * (0.3 if p.dim() > 1 else 0.5)
                        + (1.0 if p.dim() == 1 and p.shape[0] == d else 0.0))
        return block, torch.randn(shape, generator=g)

    cases = {translate(MESSAGES, "Block(d_model=8, n_heads=2), x of shape (2, 5, 8)"): case(0, 8, 2, (2, 5, 8)),
             translate(MESSAGES, "Block(d_model=12, n_heads=3), x of shape (1, 7, 12)"): case(1, 12, 3, (1, 7, 12))}

    def checker() -> str:
        for name, (block, x) in cases.items():
            got = _call(block_forward, name, block, x.clone())
            _same_or_near_miss(got, block(x), name, _near_misses, block, x)
        for name, (block, x) in cases.items():
            params = list(block.parameters())
            ours, theirs = (x.clone().requires_grad_(True) for _ in range(2))
            weights = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
            out = _call(block_forward, name, block, ours)
            if not out.requires_grad:
                raise _Mismatch(_gradient_differs(name, math.inf))
            mine = torch.autograd.grad((out * weights).sum(), [ours] + params, allow_unused=True)
            ref = torch.autograd.grad((block(theirs) * weights).sum(), [theirs] + params)
            for a, b in zip(mine, ref):
                diff = math.inf if a is None else (a - b).abs().max().item()
                if not diff <= 1e-4:
                    raise _Mismatch(_gradient_differs(name, diff))
        return _correct(reference="block(x)", n=len(cases),
                        extra=translate(MESSAGES, ", gradients of x and of the block's weights too"))

    return _run(checker)
