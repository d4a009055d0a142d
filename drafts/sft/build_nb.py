"""Build notebooks/08_instruction_tuning.ipynb from the cells below (run from the worktree root)."""
import json
import sys

import nbformat

sys.path.insert(0, "/tmp/sft")
from prose import MD  # noqa: E402  the Markdown cells, by name

nb07 = nbformat.read("notebooks/07_small_gpt.ipynb", as_version=4)
cells = []


def md(name):
    cells.append(nbformat.v4.new_markdown_cell(MD[name].strip("\n")))


def code(src, tags=None):
    c = nbformat.v4.new_code_cell(src.strip("\n"))
    if tags:
        c.metadata["tags"] = tags
    cells.append(c)


md("title")
cells.append(nbformat.v4.new_code_cell(nb07.cells[1].source))
cells[-1].metadata["tags"] = ["colab-setup"]
code('''
from course_utils.repro import get_device, pin_threads, seed_everything

pin_threads()  # 2 threads: on the same kind of CPU, the printed numbers match the stored ones
seed_everything(0)
device = get_device()
print("device:", device)
''')
md("s1")
code('''
import math
import time

import matplotlib.pyplot as plt
import torch
from torch.nn import functional as F

from course_utils.corpus import collect_docstrings, corpus_text, task_split
from course_utils.gpt import GPT, GPTConfig, generate
from course_utils.lm_pretrain import LMPretrainConfig, pretrain_lm
from course_utils.tokenizer import train_bpe

start = time.process_time()
docs = collect_docstrings()  # notebook 07's corpus, tokenizer and token stream, rebuilt
split = task_split(docs, train_per_class=20, val_per_class=8, test_per_class=20, seed=0)
held_out = {text for name in ("val", "test") for text, _ in split[name]}
corpus = corpus_text([d.text for d in docs if d.text not in held_out])
tokenizer = train_bpe(corpus, 1024)
tokens = torch.tensor(tokenizer.encode(corpus))
cut = int(0.95 * len(tokens))
config = GPTConfig(vocab_size=1024, context_length=64, d_model=128, n_layers=3, n_heads=4)
pretrain_config = LMPretrainConfig(model=config, steps=800, batch_size=32, lr=3e-3,
                                   warmup_steps=40, eval_every=100, seed=0)
''')
code('''
# NBVAL_IGNORE_OUTPUT
lm, lm_info = pretrain_lm(tokens[:cut], tokens[cut:], pretrain_config, progress=False)
print(f"{'loaded from cache' if lm_info['from_cache'] else 'pretrained (first run)'}; "
      f"{time.process_time() - start:.1f} s of CPU time for this cell and the one above")
''')
code('''
V = tokenizer.vocab_size
val_loss = lm_info["history"][-1]["val_loss"]
print(f"{tokenizer}, {sum(p.numel() for p in lm.parameters()):,} parameters, "
      f"validation loss {val_loss:.2f} (perplexity {math.exp(val_loss):.0f})")
''')
md("s2")
code('''
from collections import Counter

from course_utils.corpus import EXTRA_MODULES, TASK_PACKAGES
from course_utils.sft import TEST_MODULES, VAL_MODULES, first_word, sft_splits

pairs = sft_splits()  # {"train", "val", "test"}: Pair(prompt, answer, module)
read = {d.module.split(".")[0] for d in docs}  # the packages pretraining read
assert read <= set(TASK_PACKAGES + EXTRA_MODULES) and not read & set(VAL_MODULES + TEST_MODULES)
for name, rows in pairs.items():
    packages = Counter(p.module.split(".")[0] for p in rows)
    print(f"{name:5s} {len(rows):5d} pairs from {len(packages):3d} packages, "
          f"most from {', '.join(f'{k} ({n})' for k, n in packages.most_common(3))}")
print()
for p in pairs["test"][:3]:
    print(f"{p.module:8s} {p.prompt!r}\\n{'':8s} -> {p.answer!r}")
''')
md("s3")
code('''
from course_utils.sft import SPECIAL_TOKENS, ChatTemplate

USER, ASSISTANT, END, PAD = V, V + 1, V + 2, V + 3  # four new ids after the 1,024 BPE tokens


def chat(prompt, answer=None):
    """<|user|> prompt <|assistant|> [answer <|end|>] -> (ids, prompt_len)."""
    ids = [USER] + tokenizer.encode(prompt) + [ASSISTANT]
    prompt_len = len(ids)
    if answer is not None:
        ids = ids + tokenizer.encode(answer) + [END]
    return ids, prompt_len


template = ChatTemplate(tokenizer)  # the library's, for the cached runs: the same ids
assert (template.user, template.assistant, template.end, template.pad) == (USER, ASSISTANT, END, PAD)
assert PAD != END  # padding is ignored by the loss; the end token must not be
MAX_TOKENS = 48
encoded = {name: [chat(p.prompt, p.answer) for p in rows] for name, rows in pairs.items()}
assert all(e == template.encode(p.prompt, p.answer) for name in pairs
           for e, p in zip(encoded[name], pairs[name]))
fits = {name: [i for i, (ids, _) in enumerate(rows) if len(ids) <= MAX_TOKENS]
        for name, rows in encoded.items()}
train, val, test = ([encoded[name][i] for i in fits[name]] for name in ("train", "val", "test"))
test_answers = [pairs["test"][i].answer for i in fits["test"]]
for name, rows in zip(("train", "val", "test"), (train, val, test)):
    n_prompt = sum(n for _, n in rows) / len(rows)
    n_answer = sum(len(ids) - n for ids, n in rows) / len(rows)
    print(f"{name:5s} {len(rows):5d} of {len(encoded[name]):5d} pairs fit in {MAX_TOKENS} tokens: "
          f"prompt {n_prompt:.1f} + answer {n_answer:.1f} tokens on average (end token included)")
print(template.decode(test[0][0]))
''')
md("s3b")
code('''
from course_utils.sft import grow_vocab

old = lm.tok_emb.weight.detach()
new_rows = old.mean(0, keepdim=True).expand(len(SPECIAL_TOKENS), -1)  # (4, d): the mean row
chat_lm = GPT(GPTConfig(**{**config.__dict__, "vocab_size": V + len(SPECIAL_TOKENS)}))
state = dict(lm.state_dict())
state["tok_emb.weight"] = state["head.weight"] = torch.cat([old, new_rows])  # tied: one matrix
chat_lm.load_state_dict(state)
chat_lm.eval()
x = tokens[None, :64]
with torch.no_grad():
    torch.testing.assert_close(chat_lm(x)[..., :V], lm(x), rtol=0, atol=0)  # old tokens: as before
assert torch.equal(chat_lm.tok_emb.weight, grow_vocab(lm, len(SPECIAL_TOKENS)).tok_emb.weight)
print(f"vocabulary {V} -> {chat_lm.config.vocab_size}: {len(SPECIAL_TOKENS)} x {config.d_model} = "
      f"{len(SPECIAL_TOKENS) * config.d_model} new parameters")
''')
md("s3c")
code('''
from course_utils.sft import collate


def collate_batch(examples, mask_prompt=True):
    """Right-padded inputs (B, T) and targets (B, T) of (ids, prompt_len) examples."""
    T = max(len(ids) for ids, _ in examples) - 1
    inputs = torch.full((len(examples), T), PAD)
    targets = torch.full((len(examples), T), -100)  # -100: ignored by F.cross_entropy
    for row, (ids, prompt_len) in enumerate(examples):
        ids = torch.tensor(ids)
        inputs[row, :len(ids) - 1] = ids[:-1]
        targets[row, :len(ids) - 1] = ids[1:]  # position t predicts token t + 1...
        if mask_prompt:
            targets[row, :prompt_len - 1] = -100  # ...but not the prompt's tokens
    return inputs, targets


for mask_prompt in (True, False):
    ours = collate_batch(train[:16], mask_prompt)
    assert all(torch.equal(a, b) for a, b in zip(ours, collate(train[:16], PAD, mask_prompt)))

ids, prompt_len = test[0]
inputs, targets = collate_batch([(ids, prompt_len)])
with torch.no_grad():
    per_token = F.cross_entropy(chat_lm(inputs)[0], targets[0], reduction="none")
print(f"{'input':>16s} {'target':>16s}  loss (nats)")
for t in range(len(ids) - 1):
    target = "-100" if targets[0, t] < 0 else repr(template.decode([targets[0, t].item()]))
    loss = f"{per_token[t]:.2f}" if targets[0, t] >= 0 else "-"
    print(f"{template.decode([inputs[0, t].item()])!r:>16s} {target:>16s}  {loss}")
assert (per_token[:prompt_len - 1] == 0).all() and (targets[0, prompt_len - 1:] >= 0).all()
assert targets[0, -1] == END and per_token[-1] > 0  # the end token is a target, its loss counts
bug = torch.where(targets == END, -100, targets)  # "PAD = END, and ignore the pad id"
print(f"with PAD = END and the pad id ignored, the end token's target becomes {bug[0, -1].item()}")
''')
md("s4")
code('''
def train_sft(model, examples, *, lr, steps, batch_size, seed, mask_prompt=True):
    """AdamW on the trainable parameters; returns the model (eval mode) and each step's loss."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    order = torch.empty(0, dtype=torch.long)
    losses = []
    model.train()
    for step in range(steps):
        if len(order) < batch_size:  # a new epoch: reshuffle
            order = torch.cat([order, torch.randperm(len(examples), generator=generator)])
        batch, order = order[:batch_size], order[batch_size:]
        inputs, targets = collate_batch([examples[i] for i in batch.tolist()], mask_prompt)
        logits = model(inputs)  # (B, T, V + 4)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())  # mean over answer tokens
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model.eval(), losses
''')
md("s4b")
code('''
# NBVAL_IGNORE_OUTPUT
from course_utils.sft_runs import SFTRunConfig, make_arm, sft_runs

sft_config = SFTRunConfig(steps=40, batch_size=16, max_tokens=MAX_TOKENS)
start = time.process_time()
results = sft_runs(lm, tokenizer, pairs, sft_config, progress=False)
print(f"{'loaded from cache' if results['from_cache'] else 'computed'} in "
      f"{time.process_time() - start:.1f} s of CPU time (the runs took {results['seconds']:.0f} s)")
''')
code('''
from course_utils.losses import sanity_problem

C = V + len(SPECIAL_TOKENS)  # the classes of every next-token prediction
for arm, lrs in sft_config.sweep:
    runs = [s for s in results["sweep"] if s["arm"] == arm]
    failed = [sanity_problem(s["losses"][0], s["losses"], C, f"{arm}, lr {s['lr']:g}") for s in runs]
    assert not failed[lrs.index(results["best_lr"][arm])], f"{arm}: the chosen rate is not sane"
    print(f"{arm:8s}", "  ".join(f"lr {s['lr']:g}: {s['val_bpb']:.3f}{' x' if f else ''}"
                                 for s, f in zip(runs, failed)), f"-> {results['best_lr'][arm]:g}")

start = time.process_time()
model, losses = train_sft(make_arm("SFT", lm, seed=0), train, lr=results["best_lr"]["SFT"],
                          steps=sft_config.steps, batch_size=sft_config.batch_size, seed=0)
cached = next(r for r in results["rows"] if r["arm"] == "SFT" and r["seed"] == 0)
print(f"this notebook's loop, SFT seed 0: losses {losses[0]:.3f} -> {losses[-1]:.3f}, "
      f"the cached run's {cached['losses'][0]:.3f} -> {cached['losses'][-1]:.3f}")
assert max(abs(a - b) for a, b in zip(losses, cached["losses"])) < 1e-3
loop_seconds = time.process_time() - start
''')
code('''
# NBVAL_IGNORE_OUTPUT
print(f"one SFT run of {sft_config.steps} steps: {loop_seconds:.1f} s of CPU time")
''')
md("s5")
code('''
import numpy as np

from course_utils.losses import check_sane

ARMS = ("no SFT", "scratch", "SFT", "no mask", "LoRA")
METRICS = {"bpb": "answer bpb", "first_word": "first word", "exact": "exact", "stop": "stop rate"}
rows = results["rows"]
for r in rows:
    if r["losses"] is not None:  # every trained run: sane (first loss near ln C, no divergence)
        check_sane(r["losses"][0], r["losses"], C, f"{r['arm']}, seed {r['seed']}")


def summary(arm, key):
    values = [r[key] for r in rows if r["arm"] == arm]
    return float(np.mean(values)), float(np.std(values, ddof=1))


n_eval = sft_config.eval_prompts
majority = Counter(first_word(p.answer) for p in pairs["train"]).most_common(1)[0][0]
baseline = sum(first_word(a) == majority for a in test_answers[:n_eval]) / n_eval
print(f"{'arm':8s}{'lr':>8s}" + "".join(f"{m:>16s}" for m in METRICS.values()))
for arm in ARMS:
    lr = results["best_lr"].get(arm)
    print(f"{arm:8s}{lr or '-':>8}" + "".join(f"{'%.3f ± %.3f' % summary(arm, k):>16s}" for k in METRICS))
print(f"{'always ' + repr(majority):16s}{'-':>16s}{baseline:16.3f}")
print(f"(test: {len(test)} answers for bits per byte, the first {n_eval} answered greedily; "
      f"mean ± std over {len(sft_config.seeds)} seeds)")
''')
code('''
def verdict(a, b, key, lower_is_better=False):
    (ma, sa), (mb, sb) = summary(a, key), summary(b, key)
    gap, noise = (mb - ma if lower_is_better else ma - mb), 2 * max(sa, sb, 0.005)
    word = "beats" if gap > noise else "loses to" if -gap > noise else "no difference from"
    print(f"{METRICS[key]}: {a} {word} {b} ({ma:.3f} vs {mb:.3f}, 2 x spread {noise:.3f})")
    return word


words = {(a, b, k): verdict(a, b, k, k == "bpb") for a, b, k in [
    ("SFT", "scratch", "bpb"), ("SFT", "no mask", "bpb"), ("LoRA", "SFT", "bpb"),
    ("SFT", "no SFT", "bpb"), ("SFT", "scratch", "first_word"), ("LoRA", "SFT", "first_word")]}
stop = {arm: summary(arm, "stop")[0] for arm in ARMS}
print("stop rate:", ", ".join(f"{arm} {v:.2f}" for arm, v in stop.items()))
sft_first = summary("SFT", "first_word")
print(f"first word: SFT {sft_first[0]:.3f} vs always {majority!r} {baseline:.3f}")
''')
code('''
from course_utils.i18n import figure_text
from course_utils.sft import FIGURE_TEXT

fig, ax = plt.subplots(figsize=(6, 3))
for arm in ARMS[1:]:
    curves = np.array([r["curve"] for r in rows if r["arm"] == arm])  # (seeds, points, 2)
    steps, mean, std = curves[0, :, 0], curves[:, :, 1].mean(0), curves[:, :, 1].std(0, ddof=1)
    ax.plot(steps, mean, "o-", label=arm)
    ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
ax.set_xlabel(figure_text("step", table=FIGURE_TEXT))
ax.set_ylabel(figure_text("validation answer bits per byte", table=FIGURE_TEXT))
ax.legend()
plt.show()
''')
md("s6")
code('''
from course_utils.sft import greedy_answers

sft_model = make_arm("SFT", lm, seed=0)
sft_model.load_state_dict(results["weights"]["SFT"])
sft_model.eval()
for name, p in model.named_parameters():  # the notebook's run and the cached one: equal
    torch.testing.assert_close(p, sft_model.state_dict()[name], rtol=0, atol=1e-4)

SHOWN = [0, 1, 2]
shown = [pairs["test"][fits["test"][i]] for i in SHOWN]
prompts = [chat(p.prompt)[0] for p in shown]
before = greedy_answers(chat_lm, prompts, END, sft_config.max_new_tokens)
after = greedy_answers(sft_model, prompts, END, sft_config.max_new_tokens)
for p, (b, b_stop), (a, a_stop) in zip(shown, before, after):
    print(f"{p.prompt}\\n  reference: {p.answer!r}")
    print(f"  before:    {tokenizer.decode(b)!r}{' <|end|>' if b_stop else ' ...'}")
    print(f"  after:     {tokenizer.decode(a)!r}{' <|end|>' if a_stop else ' ...'}")
''')
code('''
prompt = torch.tensor([prompts[0]])
for temperature, top_k in [(0.7, 20), (1.0, 20), (0.0, None)]:
    out = generate(sft_model, prompt, 24, temperature=temperature, top_k=top_k,
                   generator=torch.Generator().manual_seed(0))[0, prompt.size(1):].tolist()
    answer = out[:out.index(END) + 1] if END in out else out
    print(f"T={temperature}, top_k={top_k}: {template.decode(answer)!r}")
''')
code('''
import warnings

from peft import LoraConfig, get_peft_model

from course_utils.hf_bridge import copy_lora_to_peft, to_hf_model

hf_model = to_hf_model(sft_model)
ours = generate(sft_model, prompt, 24, temperature=0)[0, prompt.size(1):].tolist()
theirs = hf_model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=24,
                           do_sample=False, eos_token_id=END, pad_token_id=PAD)[0, prompt.size(1):].tolist()
ours = ours[:ours.index(END) + 1] if END in ours else ours  # Hugging Face stops at the end token
assert ours == theirs
print("GPT2LMHeadModel, same greedy answer:", repr(template.decode(theirs)))

lora_model = make_arm("LoRA", lm, seed=0)
lora_model.load_state_dict(results["weights"]["LoRA"])
lora_model.eval()
base = GPT(lora_model.config)
base.load_state_dict({name.replace(".base.", "."): p for name, p in lora_model.state_dict().items()
                      if "lora_" not in name})  # the frozen weights (and the trained embedding)
lora_config = LoraConfig(r=sft_config.lora_r, lora_alpha=sft_config.lora_r, lora_dropout=0.0,
                         target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True)
with warnings.catch_warnings():  # peft calls a transformers method that v5 renamed
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
    peft_model = get_peft_model(to_hf_model(base), lora_config)
print("copied", copy_lora_to_peft(lora_model, peft_model), "LoRA matrices into peft")
inputs, _ = collate_batch(test[:32])
with torch.no_grad():
    diff = (peft_model(inputs).logits - lora_model(inputs)).abs().max()
print(f"LoRA: ours vs peft, max |logits difference| on 32 test examples = {diff:.1e}")
assert diff < 1e-4
''')
md("summary")
md("exercises")
code('''
from course_utils.checks_sft import check_sft_targets
from course_utils.exercises import Exercise

ex1 = Exercise("Growing the vocabulary of our GPT (d = 128, tied embeddings) by the 4 special tokens: "
               "how many parameters does the model gain?", key="08.1")
ex1.widget()
''')
code('''
ex2 = Exercise("An example has a 7-token prompt (<code>&lt;|user|&gt;</code> and "
               "<code>&lt;|assistant|&gt;</code> included) and a 9-token answer, plus "
               "<code>&lt;|end|&gt;</code>. With prompt masking, how many of its targets count in the loss?",
               key="08.2")
ex2.widget()
''')
code('''
ex3 = Exercise("The answers of a test set hold 20,000 UTF-8 bytes and their summed loss is 24,000 nats. "
               "What is the answer loss in bits per byte (2 decimals)?", key="08.3")
ex3.widget()
''')
md("implement")
code('''
def my_sft_targets(ids, prompt_len):
    """Targets of ids[:-1]: ids[t + 1], or -100 where that next token is in the prompt."""
    raise NotImplementedError  # your code here


print(check_sft_targets(my_sft_targets))
''')
md("open")
code('''
my_answers = {ex1: None, ex2: None, ex3: None}
for ex, answer in my_answers.items():
    print(ex.key, ex.check(answer))
''')

nb = nbformat.v4.new_notebook()
nb.cells = cells
nb.metadata = {k: v for k, v in nb07.metadata.items() if k != "widgets"}
nbformat.validate(nb)
nbformat.write(nb, "notebooks/08_instruction_tuning.ipynb")
print(len(cells), "cells")
