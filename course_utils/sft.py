"""Instruction pairs from the standard library, a chat template, and the prompt-masked loss.

A pair is a function's **signature** (``"dedent(text)"``, ``"Stats.sort_stats(*field)"``) and the
**first sentence of its docstring** (``"Remove any common leading whitespace from every line in
`text`."``), read from source with :mod:`ast` (nothing imported). Training pairs come from the
modules of the pretraining corpus (:mod:`course_utils.data.corpus`), validation and test pairs from
:data:`VAL_MODULES` and :data:`TEST_MODULES`: standard-library modules that are *not* in that
corpus, so the test measures what the model learned to do, not what it read.

One example in the chat template, with four tokens added after the BPE vocabulary::

    <|user|> dedent(text) <|assistant|> Remove any common ... <|end|>      (<|pad|> after it)

The targets of position t are ``ids[t + 1]``, and -100 (ignored by the loss) wherever that next
token belongs to the prompt (``<|user|>`` ... ``<|assistant|>``) or is padding: the loss reads
the answer **and the end token** only. Notebook 08 writes these steps in its cells and asserts them
equal to this module, which the cached comparison (:mod:`course_utils.experiments.sft_runs`) uses.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from course_utils.data.corpus import EXTRA_MODULES, TASK_PACKAGES, _source_files
from course_utils.gpt import GPT, GPTConfig

__all__ = ["VAL_MODULES", "TEST_MODULES", "SPECIAL_TOKENS", "FIGURE_TEXT", "sft_splits", "ChatTemplate",
           "grow_vocab", "collate", "answer_nats", "greedy_answers", "first_word", "bits_per_byte"]

#: Standard-library modules outside the pretraining corpus (present with source in 3.10-3.13;
#: one missing from an interpreter is skipped; the corpus leaves GUI modules out, so tkinter and
#: turtle are unseen too). Validation: the learning-rate sweep.
VAL_MODULES = ("bdb", "code", "codeop", "ensurepip", "linecache", "pickletools", "pkgutil",
               "pty", "py_compile", "tabnanny", "tty", "turtle", "venv")
#: Test: the numbers the notebook reports.
TEST_MODULES = ("bz2", "colorsys", "compileall", "copyreg", "curses", "dbm", "getpass",
                "graphlib", "modulefinder", "netrc", "profile", "pstats", "pyclbr", "quopri",
                "rlcompleter", "shelve", "symtable", "sysconfig", "tkinter", "tracemalloc",
                "zipapp")

SPECIAL_TOKENS = ("<|user|>", "<|assistant|>", "<|end|>", "<|pad|>")

#: Notebook 08's figure labels in Chinese (``i18n.figure_text(label, table=FIGURE_TEXT)``).
FIGURE_TEXT = {"step": "步", "validation answer bits per byte": "验证集回答的每字节比特数"}


@dataclass(frozen=True)
class Pair:
    """An instruction (a signature), its answer (a docstring's first sentence), its module."""

    prompt: str
    answer: str
    module: str


def first_sentence(doc: str) -> str:
    """The docstring's first paragraph up to its first full stop, on one line ("" if none)."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    found = re.match(r"(.+?[.!?])(\s|$)", paragraph)
    return found.group(1) if found else ""


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef, owner: str | None) -> str:
    args = node.args
    if owner and args.args and args.args[0].arg in ("self", "cls"):  # the bound argument
        args = ast.arguments(posonlyargs=args.posonlyargs, args=args.args[1:],
                             vararg=args.vararg, kwonlyargs=args.kwonlyargs,
                             kw_defaults=args.kw_defaults, kwarg=args.kwarg,
                             defaults=args.defaults[-len(args.args[1:]):] if args.args[1:]
                             and args.defaults else [])
    for a in ast.walk(args):  # no annotations: shorter prompts, the same in every version
        if isinstance(a, ast.arg):
            a.annotation = None
    return f"{owner + '.' if owner else ''}{node.name}({ast.unparse(args)})"


def _signature_pairs(packages: tuple[str, ...], max_chars: int = 120) -> list[Pair]:
    """``(signature, first sentence)`` of every public function and method with a docstring
    in ``packages`` (and their submodules), in a fixed order; answers over ``max_chars``
    characters or without a full stop are left out."""
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
    pairs = []
    for package in packages:
        for name, path in _source_files(package):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            found = [(n, None) for n in tree.body if isinstance(n, kinds)]
            for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
                if not cls.name.startswith("_"):
                    found += [(m, cls.name) for m in cls.body if isinstance(m, kinds)]
            for node, owner in found:
                doc = ast.get_docstring(node, clean=True)
                if node.name.startswith("_") or not doc:
                    continue
                answer = first_sentence(doc)
                if 10 <= len(answer) <= max_chars:
                    pairs.append(Pair(_signature(node, owner), answer, name))
    return pairs


def sft_splits(max_chars: int = 120) -> dict[str, list[Pair]]:
    """``{"train", "val", "test"}``: train from the pretraining corpus's modules, val and test
    from :data:`VAL_MODULES` and :data:`TEST_MODULES`. A pair is kept once; a val or test pair
    whose prompt or answer also occurs in train (or test in val) is dropped."""
    splits, seen_prompts, seen_answers, keep = {}, set(), set(), set()
    for split, packages in [("train", TASK_PACKAGES + EXTRA_MODULES), ("val", VAL_MODULES),
                            ("test", TEST_MODULES)]:
        kept = []
        for pair in _signature_pairs(packages, max_chars):
            if (pair.prompt, pair.answer) in keep:
                continue
            if split != "train" and (pair.prompt in seen_prompts or pair.answer in seen_answers):
                continue
            keep.add((pair.prompt, pair.answer))
            kept.append(pair)
        seen_prompts |= {p.prompt for p in kept}
        seen_answers |= {p.answer for p in kept}
        splits[split] = kept
    return splits


class ChatTemplate:
    """``encode(prompt, answer)`` -> token ids and the prompt's length, in the chat template.

    The four special tokens take the ids after the BPE vocabulary: ``user``, ``assistant``,
    ``end``, ``pad``. ``encode(prompt)`` (no answer) ends with ``<|assistant|>``: a generation
    prompt.
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        base = tokenizer.vocab_size
        self.user, self.assistant, self.end, self.pad = range(base, base + len(SPECIAL_TOKENS))
        self.vocab_size = base + len(SPECIAL_TOKENS)

    def encode(self, prompt: str, answer: str | None = None) -> tuple[list[int], int]:
        ids = [self.user] + self.tokenizer.encode(prompt) + [self.assistant]
        prompt_len = len(ids)
        if answer is not None:
            ids += self.tokenizer.encode(answer) + [self.end]
        return ids, prompt_len

    def decode(self, ids) -> str:
        base, out, run = self.tokenizer.vocab_size, [], []
        for i in list(ids):
            if i >= base:
                out.append(self.tokenizer.decode(run) + SPECIAL_TOKENS[i - base])
                run = []
            else:
                run.append(i)
        return "".join(out) + self.tokenizer.decode(run)


@torch.no_grad()
def grow_vocab(model: GPT, n_new: int) -> GPT:
    """A copy of ``model`` with ``n_new`` more token rows, each the mean of the old rows (the
    tied output layer grows with them). Outputs on old tokens are unchanged."""
    old = model.tok_emb.weight
    config = GPTConfig(**{**model.config.__dict__, "vocab_size": old.size(0) + n_new})
    grown = GPT(config)
    state = model.state_dict()
    state["tok_emb.weight"] = torch.cat([old, old.mean(0, keepdim=True).expand(n_new, -1)])
    state["head.weight"] = state["tok_emb.weight"]
    grown.load_state_dict(state)
    return grown.train(model.training)


def sft_targets(ids: list[int], prompt_len: int) -> list[int]:
    """Targets of ``ids[:-1]``: ``ids[t + 1]``, or -100 where that token is in the prompt."""
    return [ids[t + 1] if t + 1 >= prompt_len else -100 for t in range(len(ids) - 1)]


def collate(examples: list[tuple[list[int], int]], pad_id: int, mask_prompt: bool = True
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded inputs (B, T) and targets (B, T): -100 on padding and, if ``mask_prompt``,
    on the prompt. ``examples``: ``(ids, prompt_len)`` from :meth:`ChatTemplate.encode`."""
    T = max(len(ids) for ids, _ in examples) - 1
    inputs = torch.full((len(examples), T), pad_id)
    targets = torch.full((len(examples), T), -100)
    for row, (ids, prompt_len) in enumerate(examples):
        n = len(ids) - 1
        inputs[row, :n] = torch.tensor(ids[:-1])
        targets[row, :n] = torch.tensor(sft_targets(ids, prompt_len if mask_prompt else 1))
    return inputs, targets


@torch.no_grad()
def answer_nats(model: GPT, examples: list[tuple[list[int], int]], pad_id: int,
                batch_size: int = 64) -> torch.Tensor:
    """Per example: the summed loss (nats) of its answer tokens and its end token."""
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(examples), batch_size):
        inputs, targets = collate(examples[i:i + batch_size], pad_id)
        loss = F.cross_entropy(model(inputs).transpose(1, 2), targets, reduction="none")
        out.append(loss.sum(1))  # ignored targets contribute 0
    model.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def greedy_answers(model: GPT, prompts: list[list[int]], end_id: int, max_new_tokens: int = 32
                   ) -> list[tuple[list[int], bool]]:
    """Greedy answer of each prompt (ids ending with ``<|assistant|>``): ``(tokens before the
    end token, stopped?)``. Prompts of equal length run as one batch (no padding needed)."""
    was_training = model.training
    model.eval()
    results: dict[int, tuple[list[int], bool]] = {}
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_length.setdefault(len(p), []).append(i)
    for length, rows in sorted(by_length.items()):
        idx = torch.tensor([prompts[i] for i in rows])
        steps = min(max_new_tokens, model.config.context_length - length)
        done = torch.zeros(len(rows), dtype=torch.bool)
        for _ in range(steps):
            nxt = model(idx)[:, -1].argmax(-1, keepdim=True)
            idx = torch.cat([idx, nxt], 1)
            done |= nxt[:, 0] == end_id
            if done.all():
                break
        for r, i in enumerate(rows):
            new = idx[r, length:].tolist()
            stopped = end_id in new
            results[i] = (new[:new.index(end_id)] if stopped else new, stopped)
    model.train(was_training)
    return [results[i] for i in range(len(prompts))]


def first_word(text: str) -> str:
    """The first word of a text (letters, digits, underscores), "" if none."""
    found = re.search(r"\w+", text)
    return found.group(0) if found else ""


def bits_per_byte(nats: torch.Tensor, answers: list[str]) -> float:
    """Total answer loss in bits divided by the answers' UTF-8 bytes."""
    return nats.sum().item() / math.log(2) / sum(len(a.encode()) for a in answers)
