"""Instruction fine-tuning (notebook 08): held-out pairs, the chat template, the label mask,
the end token's loss, the grown vocabulary, the checker, and the cached comparison."""

from functools import lru_cache

import pytest
import torch
from torch.nn import functional as F

from course_utils.data.corpus import EXTRA_MODULES, TASK_PACKAGES, collect_docstrings
from course_utils.exercises.checks_sft import check_sft_targets, reference_targets
from course_utils.experiments.sft_runs import SFTRunConfig, cache_key, make_arm, sft_runs, train_sft
from course_utils.gpt import GPT, GPTConfig
from course_utils.sft import (
    TEST_MODULES,
    VAL_MODULES,
    ChatTemplate,
    Pair,
    answer_nats,
    collate,
    first_sentence,
    greedy_answers,
    grow_vocab,
    sft_splits,
    sft_targets,
)
from course_utils.tokenizer import train_bpe


@lru_cache(maxsize=1)
def _splits():
    return sft_splits()


class _Tok:  # bytes as tokens: enough for the template
    vocab_size = 256

    def encode(self, text):
        return list(text.encode())

    def decode(self, ids):
        return bytes(ids).decode(errors="replace")


def test_held_out_modules_never_reach_pretraining():
    held_out = set(VAL_MODULES) | set(TEST_MODULES)
    corpus_modules = set(TASK_PACKAGES) | set(EXTRA_MODULES)
    assert not held_out & corpus_modules and not set(VAL_MODULES) & set(TEST_MODULES)
    read = {d.module.split(".")[0] for d in collect_docstrings()}  # what pretraining reads
    assert read <= corpus_modules and not read & held_out


def test_splits_by_package_without_overlap():
    splits = _splits()
    assert len(splits["train"]) > 1500 and len(splits["val"]) > 100 and len(splits["test"]) > 400
    for name, modules in [("val", VAL_MODULES), ("test", TEST_MODULES)]:
        assert {p.module.split(".")[0] for p in splits[name]} <= set(modules)
    assert {p.module.split(".")[0] for p in splits["train"]} <= set(TASK_PACKAGES + EXTRA_MODULES)
    train_prompts = {p.prompt for p in splits["train"]}
    train_answers = {p.answer for p in splits["train"]}
    for p in splits["val"] + splits["test"]:
        assert p.prompt not in train_prompts and p.answer not in train_answers


def test_first_sentence():
    assert first_sentence("Return the value.\n\nMore text.") == "Return the value."
    assert first_sentence("Join two\npaths. Then more.") == "Join two paths."
    assert first_sentence("no full stop") == ""


def test_template_pad_is_not_end_and_decodes():
    template = ChatTemplate(_Tok())
    assert len({template.user, template.assistant, template.end, template.pad}) == 4
    assert template.pad != template.end and template.vocab_size == 260
    ids, n = template.encode("f(x)", "Do it.")
    assert ids[0] == template.user and ids[n - 1] == template.assistant and ids[-1] == template.end
    assert template.decode(ids) == "<|user|>f(x)<|assistant|>Do it.<|end|>"
    assert template.encode("f(x)") == (ids[:n], n)


def test_targets_mask_the_prompt_keep_answer_and_end():
    template = ChatTemplate(_Tok())
    ids, n = template.encode("f(x)", "Do.")
    targets = sft_targets(ids, n)
    assert targets == reference_targets(ids, n) and len(targets) == len(ids) - 1
    assert targets[:n - 1] == [-100] * (n - 1) and targets[n - 1:] == ids[n:]
    assert targets[-1] == template.end
    short = template.encode("g()", "A.")
    inputs, batch_targets = collate([(ids, n), short], template.pad)
    assert inputs.shape == batch_targets.shape == (2, len(ids) - 1)
    pad_cols = len(ids) - len(short[0])
    assert (inputs[1, -pad_cols:] == template.pad).all() and (batch_targets[1, -pad_cols:] == -100).all()
    unmasked = collate([(ids, n)], template.pad, mask_prompt=False)[1]
    assert unmasked[0].tolist() == ids[1:]


def test_end_token_has_a_non_zero_loss():
    template = ChatTemplate(_Tok())
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=template.vocab_size, context_length=32, d_model=16,
                          n_layers=1, n_heads=2))
    ids, n = template.encode("f(x)", "Do.")
    inputs, targets = collate([(ids, n)], template.pad)
    per_token = F.cross_entropy(model(inputs).transpose(1, 2), targets, reduction="none")[0]
    assert per_token[-1] > 0 and targets[0, -1] == template.end
    assert answer_nats(model, [(ids, n)], template.pad)[0] == pytest.approx(per_token.sum().item())


def test_grow_vocab_keeps_old_outputs_and_uses_the_mean():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50, context_length=8, d_model=16, n_layers=1, n_heads=2)).eval()
    grown = grow_vocab(model, 4).eval()
    x = torch.randint(50, (2, 8))
    torch.testing.assert_close(grown(x)[..., :50], model(x))
    mean = model.tok_emb.weight.mean(0)
    assert torch.equal(grown.tok_emb.weight[50:], mean.expand(4, -1))
    assert grown.head.weight is grown.tok_emb.weight


#: words a verdict must hold -> a wrong targets function
SFT_MISTAKES = {
    "prompt is not masked": lambda ids, p: ids[1:],
    "not shifted": lambda ids, p: [ids[t] if t >= p - 1 else -100 for t in range(len(ids) - 1)],
    "predicts nothing": lambda ids, p: [i if t >= p else -100 for t, i in enumerate(ids)],
    "end token is masked": lambda ids, p: [ids[t + 1] if p - 1 <= t < len(ids) - 2 else -100
                                           for t in range(len(ids) - 1)],
    "first answer token": lambda ids, p: [ids[t + 1] if t >= p else -100 for t in range(len(ids) - 1)],
    "<|assistant|>": lambda ids, p: [ids[t + 1] if t + 2 >= p else -100 for t in range(len(ids) - 1)],
    "answer tokens are masked": lambda ids, p: [-100] * (len(ids) - 1),
}


def test_checker_names_each_mistake():
    def stub(ids, prompt_len):
        raise NotImplementedError

    assert check_sft_targets(stub).waiting
    assert check_sft_targets(reference_targets).correct
    for words, fn in SFT_MISTAKES.items():
        verdict = check_sft_targets(fn)
        assert not verdict.correct and words in verdict.message, (words, verdict.message)


def test_greedy_answers_stop_at_end():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=10, context_length=8, d_model=16, n_layers=1, n_heads=2))
    with torch.no_grad():  # a zero output layer: every logit equal, argmax = token 0 = the end
        model.head.weight.zero_()
        model.ln_f.bias.zero_()
    out = greedy_answers(model, [[1, 2], [3, 4], [5]], end_id=0, max_new_tokens=3)
    assert out == [([], True)] * 3  # every logit equal: argmax is token 0, the end


def _tiny():
    tokenizer = train_bpe("def f(x): Return x. " * 20, 260)
    torch.manual_seed(0)
    lm = GPT(GPTConfig(vocab_size=260, context_length=32, d_model=16, n_layers=1, n_heads=2))
    pairs = {k: [Pair(f"f{i}(x)", f"Return {i} times x.", "m") for i in range(n)]
             for k, n in [("train", 24), ("val", 6), ("test", 6)]}
    cfg = SFTRunConfig(steps=8, batch_size=4, max_tokens=32, lora_r=2, seeds=(0, 1),
                       sweep=tuple((arm, (1e-3, 1e-2)) for arm in ("scratch", "SFT", "no mask", "LoRA")),
                       eval_every=4, eval_prompts=3, max_new_tokens=4)
    return lm, tokenizer, pairs, cfg


def test_train_sft_learns_and_is_seeded():
    lm, tokenizer, pairs, _ = _tiny()
    template = ChatTemplate(tokenizer)
    examples = [template.encode(p.prompt, p.answer) for p in pairs["train"]]
    runs = [train_sft(make_arm("SFT", lm, 0), examples, template.pad, lr=1e-2, steps=30,
                      batch_size=8, seed=0) for _ in range(2)]
    assert runs[0] == runs[1] and sum(runs[0][-5:]) / 5 < 0.7 * runs[0][0]
    lora = make_arm("LoRA", lm, 0)
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert "tok_emb.weight" in trainable and all("lora_" in n or n == "tok_emb.weight" for n in trainable)


def test_sft_runs_are_cached_by_key(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    lm, tokenizer, pairs, cfg = _tiny()
    first = sft_runs(lm, tokenizer, pairs, cfg, progress=False)
    assert not first["from_cache"] and (tmp_path / "sft_runs.pt").exists()
    assert {r["arm"] for r in first["rows"]} == {"no SFT", "scratch", "SFT", "no mask", "LoRA"}
    assert len(first["rows"]) == 5 * len(cfg.seeds) and set(first["weights"]) == {"SFT", "LoRA"}
    again = sft_runs(lm, tokenizer, pairs, cfg, progress=False)
    assert again["from_cache"] and again["rows"] == first["rows"]
    other = dict(pairs, test=pairs["test"][:-1])
    assert cache_key(cfg, other, lm) != cache_key(cfg, pairs, lm)
    assert not sft_runs(lm, tokenizer, other, cfg, progress=False)["from_cache"]


def test_sft_runs_in_two_processes_equal_one_process(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    lm, tokenizer, pairs, cfg = _tiny()
    threads = torch.get_num_threads()
    one = sft_runs(lm, tokenizer, pairs, cfg, progress=False, force=True, workers=1)
    two = sft_runs(lm, tokenizer, pairs, cfg, progress=False, force=True, workers=2)
    assert torch.get_num_threads() == threads  # restored after the runs' one thread
    assert repr(one["rows"]) == repr(two["rows"]) and one["best_lr"] == two["best_lr"]
    assert repr(one["sweep"]) == repr(two["sweep"]) and one["threads"] == two["threads"] == 1
    for arm in ("SFT", "LoRA"):
        assert all(torch.equal(one["weights"][arm][k], t) for k, t in two["weights"][arm].items())
