MD = {}
MD["title"] = r"""
# 08 · Instruction fine-tuning a small GPT: chat template, masked loss, LoRA, and proof it worked

**指令微调（SFT）：把预训练的 GPT 变成一个会回答、会停下的助手** — in Chinese, 大模型微调 today
means first of all supervised instruction fine-tuning (SFT) of a pretrained language model, often
with LoRA. Notebook 07 pretrained a small GPT on Python's docstrings; here it learns to *answer*:
given a function's signature, say what the function does, in one sentence, and stop.

What you will learn in this notebook:
- how to build instruction data that ships with Python, split **by package** so that the test
  packages were never read in pretraining;
- a **chat template** with special tokens (`<|user|>`, `<|assistant|>`, `<|end|>`, `<|pad|>`)
  added to the tokenizer and the model (new embedding rows), and why PAD must not be END;
- the **prompt-masked loss**: targets -100 everywhere except the answer and the end token, written
  and checked;
- SFT runs compared side by side with the same data and budget, over seeds: from the pretrained
  model, from scratch, without prompt masking, with LoRA, and the pretrained model with no SFT;
- how to tell that SFT worked: held-out answer loss in bits per byte, a task metric against its
  majority-guess baseline, and the **stop rate**;
- generation (temperature, top-k) from the fine-tuned model, and the same greedy answer from
  Hugging Face `transformers`; our LoRA equal to `peft`'s.
"""
MD["s1"] = r"""
Everything runs on the CPU, whatever `device` says.

## 1 · The pretrained GPT of notebook 07

Notebook 07 pretrained a GPT-2-shaped model (3 layers, 128 wide, a 1,024-token byte-level BPE) on
the docstrings of a fixed list of standard-library modules. We rebuild the same corpus, tokenizer
and token stream (a few seconds), and `pretrain_lm` finds its weights in the cache by that key (on
a fresh clone it pretrains them, about two minutes, as notebook 07 does).
"""
MD["s2"] = r"""
## 2 · Instruction data that ships with Python

An instruction pair here is a function's **signature** (the prompt) and the **first sentence of
its docstring** (the answer): `"BZ2File.write(data)"` → `"Write a byte string to the file."`.
`sft_splits` reads them from source with `ast`, like the corpus, and splits them **by package**:

- **train**: the public functions and methods of the pretraining corpus's packages;
- **validation** (for the learning-rate sweep) and **test** (for the reported numbers):
  standard-library modules that are *not* in the corpus (`tkinter` and `turtle`, which the corpus
  leaves out as GUI modules, and smaller ones like `symtable`, `pstats`, `bdb`). A test package
  seen in pretraining would measure recall of its docstrings, not the skill of answering. A
  validation or test pair whose prompt or answer also occurs in train is dropped.

The cell checks what pretraining read: no validation or test package among them.
"""
MD["s3"] = r"""
## 3 · A chat template with special tokens

A chat model reads a conversation in a fixed format, with tokens that no text can produce:

`<|user|>` *prompt* `<|assistant|>` *answer* `<|end|>` (`<|pad|>` ... to fill a batch)

**Our design: grow the vocabulary.** The BPE keeps its 1,024 tokens; the four special tokens take
ids 1,024 to 1,027, so no text ever encodes to them (a byte-level BPE can encode *any* string,
`"<|end|>"` included, but as 5 ordinary tokens). The other common design, reusing ids the
tokenizer reserved and never trained, needs a tokenizer that reserved some: ours did not.

We keep answers short enough to fit: a pair is used when its template holds at most 48 tokens
(the model reads 64).
"""
MD["s3b"] = r"""
**New embedding rows.** The model must grow too: 4 new rows in the token embedding, which is also
the output layer (tied). Each new row starts as the **mean of the existing rows** (recent
`transformers` initialise resized embeddings around that mean too): a random row would give the
new tokens arbitrary logits, a zero row a logit of exactly 0 whatever the context; the mean row
gives them the logit of an "average token", so the untrained model neither prefers nor rules them
out. The old tokens' logits do not change (asserted).
"""
MD["s3c"] = r"""
**The prompt-masked loss.** Position $t$ of the inputs `ids[:-1]` is trained to predict
`ids[t + 1]`. SFT counts only the predictions of the **answer and of the end token**: every target
inside the prompt (the prompt's tokens after `<|user|>`, up to `<|assistant|>`) and every padding
position becomes **-100**, which `F.cross_entropy` ignores (`ignore_index=-100`). The end token
*must* stay a target: it is how the model learns to stop.

The classic bug (shipped by some from-scratch SFT projects): **PAD = END, and the pad id ignored in
the loss**. Then the end token's target is ignored too, the model is never trained to produce it,
and it never stops. With its own `<|pad|>`, padding and ending are different tokens. Below, one
test example before SFT: its prompt contributes nothing, and the end token's loss is large (the
pretrained model has never seen it).
"""
MD["s4"] = r"""
## 4 · Fine-tuning: the loop and the comparison

The loop is notebook 03's, on the batches above: AdamW on the parameters that require a gradient,
a constant learning rate, batches drawn by reshuffling every epoch (seeded).
"""
MD["s4b"] = r"""
**The arms**, same data, same budget (40 steps of 16 examples, about a quarter of an epoch), each
with its own learning rate picked from a sweep of three on the validation answer loss (seed 0),
then run with 3 seeds:

| arm | starts from | trains | loss on |
| --- | --- | --- | --- |
| no SFT | the pretrained GPT, vocabulary grown | nothing | - |
| scratch | random weights, same architecture | everything | answer + end |
| SFT | the pretrained GPT, vocabulary grown | everything | answer + end |
| no mask | the pretrained GPT, vocabulary grown | everything | every token (prompt too) |
| LoRA | the pretrained GPT, vocabulary grown | rank-8 LoRA (`course_utils.peft`) on every Linear layer of the blocks + the token embedding | answer + end |

LoRA trains the embedding as well: with frozen embeddings the four new rows would stay equal, and
`<|end|>` would always tie with `<|pad|>` (`peft` users do the same with `modules_to_save`). The 20
runs take about a minute of CPU, once: their metrics and the seed-0 weights of SFT and LoRA are
cached under the data folder, keyed by this configuration, the pairs and the pretrained weights.
Every run must pass notebook 02's sanity check (first loss within 50 % of $\ln C$, $C$ = 1,028
possible next tokens; no divergence; it learned). And to show that the cache holds what this loop
computes, the cell below runs SFT seed 0 again with the notebook's `train_sft` and compares.
"""
MD["s5"] = r"""
## 5 · Did SFT work? Three measurements

- **answer bpb**: the held-out answers' loss (answer tokens and `<|end|>`, teacher-forced) in
  bits per UTF-8 byte of the answers: it compares models whatever their tokenizer;
- **first word**: greedy answers to the first 160 test prompts; is the first word right
  (`"Return"`, `"Set"`, `"Write"`...)? Its baseline: always answer the most common first word of
  the training answers. **exact** is the whole sentence right;
- **stop rate**: the share of greedy answers that end with `<|end|>` within 24 tokens.
"""
MD["s6"] = r"""
## 6 · Before and after, sampling, and the same model in Hugging Face

Three fixed held-out prompts, answered greedily by the pretrained model with the template (before)
and by SFT seed 0 (after):
"""
MD["summary"] = r"""
## Summary

TODO
"""
MD["exercises"] = r"""
## Exercises

Each exercise checks itself: type your answer and press **Check**; **Hint** and **Show solution**
help when you are stuck. The implement-it one asks for code.
"""
MD["implement"] = r"""
**Implement it.** Write the targets of one example, as a list: `ids` is the whole example in the
chat template, `prompt_len` the length of its prompt (`<|user|>` ... `<|assistant|>`). The inputs
are `ids[:-1]`; the target of position `t` is `ids[t + 1]`, or -100 when that token belongs to the
prompt. The checker runs three examples and names the mistake it recognises (no shift, prompt not
masked, an off-by-one at the prompt's end, answer tokens masked, the end token masked). It ships
as a stub, so it says "not implemented yet".
"""
MD["open"] = r"""
**Open questions** (think, then try in a new cell):
1. With prompt masking, the model is never trained to predict the signature. What would it learn
   from the prompts if it were (the "no mask" arm), and why can that help or hurt when the prompts
   are long and the answers short?
2. Our answers are first sentences, so the end token comes right after a full stop. Which
   answers would need the end token's loss most, and how would you check that the model stops for
   the right reason?
3. LoRA had to train the embedding so that the new tokens could differ. Which smaller set of
   parameters would be enough?

Answer in code instead of the boxes (replace `None`, run the cell):
"""
