"""Notebook 08's comparison of instruction fine-tuning runs, computed once and cached on disk.

Every arm gets the same budget (``steps`` AdamW steps of ``batch_size`` examples, a constant
learning rate chosen for that arm from ``sweep`` on the validation pairs, seed 0) and is then
run with every seed in ``seeds``. The arms:

- ``"scratch"``: the GPT's architecture with random weights, trained on the pairs;
- ``"SFT"``: the pretrained GPT (vocabulary grown by the four special tokens), every weight trained;
- ``"no mask"``: the same, with the loss on every token, the prompt's included;
- ``"LoRA"``: the pretrained GPT frozen, rank-``lora_r`` updates of every Linear layer of the
  blocks and the token embedding (so the new tokens' rows can learn) trained;
- ``"no SFT"``: the pretrained GPT with the template, not trained (evaluated only).

The result (metrics per run, validation curves, the seed-0 weights of ``"SFT"`` and ``"LoRA"``)
is saved at ``cache_dir()/sft_runs.pt`` with its key (:func:`cache_key`: this recipe's format,
the configuration, and the sha256 of the pairs and of the pretrained weights): a second call
with the same key loads it; any other key retrains (:mod:`course_utils.experiments.cached_run`).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from course_utils.data import cache_dir
from course_utils.experiments.cached_run import cached_run
from course_utils.gpt import GPT
from course_utils.parallel import fork_map
from course_utils.peft import apply_lora
from course_utils.sft import (
    SPECIAL_TOKENS,
    ChatTemplate,
    answer_nats,
    bits_per_byte,
    collate,
    first_word,
    greedy_answers,
    grow_vocab,
)

__all__ = ["SFTRunConfig", "make_arm", "sft_runs"]

FORMAT = "course_utils.sft_runs/2"  # bump when the recipe's code changes meaning
_ARMS = ("scratch", "SFT", "no mask", "LoRA")
LORA_TARGETS = ("qkv", "attn.proj", "mlp.fc", "mlp.proj")


@dataclass(frozen=True)
class SFTRunConfig:
    """Everything besides the pairs and the pretrained weights that decides the results."""

    steps: int = 40
    batch_size: int = 16
    max_tokens: int = 48           # pairs longer than this in the template are left out
    lora_r: int = 8
    seeds: tuple[int, ...] = (0, 1, 2)
    sweep: tuple[tuple[str, tuple[float, ...]], ...] = (
        ("scratch", (3e-4, 1e-3, 3e-3)), ("SFT", (3e-4, 1e-3, 3e-3)),
        ("no mask", (3e-4, 1e-3, 3e-3)), ("LoRA", (3e-4, 1e-3, 3e-3)))
    eval_every: int = 10           # validation answer loss for the curves
    eval_prompts: int = 160        # the first ones of the test split: generation metrics
    max_new_tokens: int = 24


def make_arm(arm: str, lm: GPT, seed: int, lora_r: int = 8) -> GPT:
    """The model an arm starts from (seeded: scratch's weights, LoRA's A matrices)."""
    if arm not in _ARMS + ("no SFT",):
        raise ValueError(f"unknown arm {arm!r}; one of {_ARMS + ('no SFT',)}")
    torch.manual_seed(seed)
    if arm == "scratch":
        config = dataclasses.replace(lm.config, vocab_size=lm.config.vocab_size + len(SPECIAL_TOKENS))
        return GPT(config)
    model = grow_vocab(copy.deepcopy(lm), len(SPECIAL_TOKENS))
    if arm == "LoRA":
        apply_lora(model, list(LORA_TARGETS), r=lora_r, train=["tok_emb"])
    return model


def train_sft(model: GPT, examples: list[tuple[list[int], int]], pad_id: int, *, lr: float,
              steps: int, batch_size: int, seed: int, mask_prompt: bool = True,
              on_step=None) -> list[float]:
    """AdamW on the trainable parameters, batches by seeded reshuffling each epoch; returns
    the training loss of every step (the first before any update). ``on_step(step)`` is called
    before step ``step`` (and after the last, with ``steps``): the place for evaluations."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    order = torch.empty(0, dtype=torch.long)
    losses = []
    for step in range(steps):
        if on_step is not None:
            on_step(step)
        model.train()
        if len(order) < batch_size:  # a new epoch: reshuffle
            order = torch.cat([order, torch.randperm(len(examples), generator=generator)])
        batch, order = order[:batch_size], order[batch_size:]
        inputs, targets = collate([examples[i] for i in batch.tolist()], pad_id, mask_prompt)
        logits = model(inputs)                                               # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())      # -100: ignored
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    if on_step is not None:
        on_step(steps)
    return losses


def _evaluate(model: GPT, template: ChatTemplate, examples, answers: list[str],
              n_prompts: int, max_new_tokens: int) -> dict:
    """Answer bits per byte on every example; first-word accuracy, exact match and stop rate
    of greedy answers to the first ``n_prompts``."""
    nats = answer_nats(model, examples, template.pad)
    prompts = [ids[:n] for ids, n in examples[:n_prompts]]
    outs = greedy_answers(model, prompts, template.end, max_new_tokens)
    texts = [template.decode(ids) for ids, _ in outs]
    refs = answers[:n_prompts]
    return {"bpb": bits_per_byte(nats, answers),
            "first_word": sum(first_word(t) == first_word(r) for t, r in zip(texts, refs)) / len(refs),
            "exact": sum(t == r for t, r in zip(texts, refs)) / len(refs),
            "stop": sum(stopped for _, stopped in outs) / len(outs)}


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def weights_sha256(model: GPT) -> str:
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def cache_key(config: SFTRunConfig, pairs: dict, lm: GPT) -> dict:
    texts = {k: [[p.prompt, p.answer] for p in v] for k, v in pairs.items()}
    return {"format": FORMAT, "config": json.loads(json.dumps(dataclasses.asdict(config))),
            "pairs_sha256": _sha(texts), "lm_sha256": weights_sha256(lm)}


def _sft_runs_path() -> Path:
    return cache_dir() / "sft_runs.pt"


def sft_runs(lm: GPT, tokenizer, pairs: dict, config: SFTRunConfig = SFTRunConfig(), *,
             force: bool = False, progress: bool = True, workers: int | None = None) -> dict:
    """The comparison: ``{"best_lr", "sweep", "rows", "weights", "seconds", "threads",
    "from_cache"}`` (see the module docstring), from the cache when its key matches (else run,
    saying why first when ``progress``, after checking that the cache is writable). The runs use
    one thread each, the arms in up to ``workers`` forked processes (``None``: one per core;
    :func:`course_utils.parallel.fork_map`), with the same results whatever ``workers`` is."""
    state, from_cache = cached_run(
        _sft_runs_path(), cache_key(config, pairs, lm),
        lambda: _compute(lm, tokenizer, pairs, config, progress, workers), force=force,
        announce=_say_why if progress else None)
    state["from_cache"] = from_cache
    return state


def _say_why(why: str) -> None:
    print(f"Running the SFT comparison: {why}.", flush=True)


def encode_pairs(template: ChatTemplate, pairs: list, max_tokens: int):
    """``(examples, answers)`` of the pairs that fit in ``max_tokens`` tokens."""
    encoded = [(template.encode(p.prompt, p.answer), p.answer) for p in pairs]
    kept = [(e, a) for e, a in encoded if len(e[0]) <= max_tokens]
    return [e for e, _ in kept], [a for _, a in kept]


def _compute(lm: GPT, tokenizer, pairs: dict, cfg: SFTRunConfig, progress: bool,
             workers: int | None) -> dict:
    start = time.perf_counter()
    template = ChatTemplate(tokenizer)
    (train, _), (val, val_answers), (test, test_answers) = (
        encode_pairs(template, pairs[k], cfg.max_tokens) for k in ("train", "val", "test"))

    def run(arm, lr, seed, curve=None):
        model = make_arm(arm, lm, seed, cfg.lora_r)

        def on_step(step):
            if curve is not None and step % cfg.eval_every == 0:
                nats = answer_nats(model, val, template.pad)
                curve.append([step, bits_per_byte(nats, val_answers)])

        losses = train_sft(model, train, template.pad, lr=lr, steps=cfg.steps,
                           batch_size=cfg.batch_size, seed=seed, mask_prompt=arm != "no mask",
                           on_step=on_step)
        return model.eval(), losses

    def one_arm(arm):
        """The arm's sweep on seed 0, then its runs at the chosen rate on every seed."""
        lrs = dict(cfg.sweep)[arm]
        sweep, kept = [], {}
        for lr in lrs:
            curve = []
            kept[lr], losses = run(arm, lr, 0, curve)
            sweep.append({"arm": arm, "lr": lr, "val_bpb": curve[-1][1], "losses": losses,
                          "curve": curve})
        best = min(sweep, key=lambda entry: entry["val_bpb"])
        rows, weights = [], None
        for seed in cfg.seeds:
            if seed == 0:
                model, losses, curve = kept[best["lr"]], best["losses"], best["curve"]
            else:
                curve = []
                model, losses = run(arm, best["lr"], seed, curve)
            rows.append({"arm": arm, "seed": seed, "lr": best["lr"], "losses": losses,
                         "curve": curve, **_evaluate(model, template, test, test_answers,
                                                     cfg.eval_prompts, cfg.max_new_tokens)})
            if seed == 0 and arm in ("SFT", "LoRA"):
                weights = model.state_dict()
        return sweep, best["lr"], rows, weights

    base = _evaluate(make_arm("no SFT", lm, 0).eval(), template, test, test_answers,
                     cfg.eval_prompts, cfg.max_new_tokens)  # untrained: the same for every seed
    rows = [{"arm": "no SFT", "seed": seed, "lr": None, "losses": None, "curve": None, **base}
            for seed in cfg.seeds]
    sweep, best_lr, weights = [], {}, {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models: one thread each, the arms in parallel processes
    try:
        arms = [arm for arm, _ in cfg.sweep]
        for arm, (arm_sweep, lr, arm_rows, arm_weights) in zip(arms, fork_map(one_arm, arms, workers)):
            sweep += arm_sweep
            best_lr[arm], rows = lr, rows + arm_rows
            if arm_weights is not None:
                weights[arm] = arm_weights
            if progress:
                print(f"{arm}: val bpb {[round(e['val_bpb'], 3) for e in arm_sweep]} -> lr {lr:g}")
    finally:
        torch.set_num_threads(threads)
    return {"sweep": sweep, "best_lr": best_lr, "rows": rows, "weights": weights,
            "seconds": time.perf_counter() - start, "threads": 1}
