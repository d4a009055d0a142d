"""Does pretraining pay? The curve behind notebook 07's section 5 (issue 28, item 5).

    .venv/bin/python benchmarks/gpt_pretraining_curve.py   # ~24 min on 2 cores (6,400 steps alone: 629 s)
    .venv/bin/python benchmarks/gpt_pretraining_curve.py --budgets 0,100 --seeds 0   # a quick look

The data, tokenizer, model and recipes are notebook 07's: the docstring corpus of this Python
(the task's validation and test texts left out), a 1,024-token BPE, the 3-layer GPT, pretrained by
``lm_pretrain``'s recipe for each budget of :data:`course_utils.experiments.lm_curve.BUDGETS`
(each its own run, at two threads as the notebook does), then fully fine-tuned on the 10-package
task (:func:`course_utils.experiments.lm_curve.finetune_curve`: learning rate swept on validation,
3 seeds x 10 and 20 per class, every run checked sane; one thread per run, two at a time), beside
notebook 07's bag-of-words baseline (TF-IDF + logistic regression, C swept on validation).

Writes ``course_utils/experiments/results/gpt_pretraining_curve.csv`` (package data: notebook 07
plots it and checks its own live runs against it) and ``benchmarks/results/gpt_pretraining_curve.png``,
each replaced atomically (with ``--output``, the figure goes beside that file), and prints the table.
"""

from __future__ import annotations

import argparse
import csv
import io
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from course_utils.data.corpus import TASK_PACKAGES, collect_docstrings, corpus_text, task_split
from course_utils.experiments import lm_curve
from course_utils.experiments.lm_pretrain import LMPretrainConfig
from course_utils.gpt import GPTConfig
from course_utils.internals.atomic import atomic_write
from course_utils.plots import plot_pretraining_curve
from course_utils.repro import pin_threads
from course_utils.text_finetune import encode_texts
from course_utils.tokenizer import train_bpe

FIGURE = Path(__file__).resolve().parent / "results" / "gpt_pretraining_curve.png"
VOCAB_SIZE, MAX_LEN, BOW_C = 1024, 64, (1.0, 10.0, 100.0)


def notebook_07_data():
    """Notebook 07's corpus split, tokenizer and encoded task, built by the same calls."""
    docs = collect_docstrings()
    split = task_split(docs, train_per_class=20, val_per_class=8, test_per_class=20, seed=0)
    held_out = {text for name in ("val", "test") for text, _ in split[name]}
    corpus = corpus_text([d.text for d in docs if d.text not in held_out])
    tokenizer = train_bpe(corpus, VOCAB_SIZE)
    tokens = torch.tensor(tokenizer.encode(corpus))
    cut = int(0.95 * len(tokens))

    def encoded(pairs):
        ids, lengths = encode_texts(tokenizer.encode, [t for t, _ in pairs], MAX_LEN)
        return ids, lengths, torch.tensor([y for _, y in pairs])

    task = {name: encoded(split[name]) for name in ("train", "val", "test")}
    return tokenizer, tokens[:cut], tokens[cut:], task


def bag_of_words_rows(tokenizer, task, sizes) -> list[dict]:
    """Notebook 07's baseline on exactly the text the GPT reads: C swept at the first size on
    validation, then measured on test at every size (deterministic: one row per size)."""
    def text(ids, lengths):
        return [tokenizer.decode(row[:n].tolist()) for row, n in zip(ids, lengths)]

    def fit(k, C):
        ids, lengths, targets = (t[:k * len(TASK_PACKAGES)] for t in task["train"])
        vectorizer = TfidfVectorizer(sublinear_tf=True)
        clf = LogisticRegression(C=C, max_iter=2000).fit(vectorizer.fit_transform(text(ids, lengths)),
                                                         targets.numpy())
        return lambda data: float((clf.predict(vectorizer.transform(text(*data[:2])))
                                   == data[2].numpy()).mean())

    rows, val_scores = [], []
    for C in BOW_C:
        val_scores.append(fit(sizes[0], C)(task["val"]))
        rows.append({"arm": "bag of words", "phase": "sweep", "per_class": sizes[0], "lr": C,
                     "acc": val_scores[-1], "sane": True})
    best_C = BOW_C[int(np.argmax(val_scores))]
    rows += [{"arm": "bag of words", "phase": "test", "per_class": k, "seed": 0, "lr": best_C,
              "acc": fit(k, best_C)(task["test"]), "sane": True} for k in sizes]
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budgets", default=",".join(map(str, lm_curve.BUDGETS)))
    parser.add_argument("--seeds", default=",".join(map(str, lm_curve.SEEDS)))
    parser.add_argument("--output", type=Path, default=lm_curve.CURVE_CSV)
    args = parser.parse_args(argv)
    budgets = [int(b) for b in args.budgets.split(",")]
    seeds = tuple(int(s) for s in args.seeds.split(","))

    start = time.perf_counter()
    pin_threads(2)  # the notebook's pretraining threads: the 800-step run is the notebook's model
    tokenizer, train_tokens, val_tokens, task = notebook_07_data()
    model_config = GPTConfig(vocab_size=VOCAB_SIZE, context_length=64, d_model=128, n_layers=3,
                             n_heads=4)
    config = LMPretrainConfig(model=model_config, steps=800, batch_size=32, lr=3e-3,
                              warmup_steps=40, eval_every=100, seed=0)
    bodies = lm_curve.pretrain_budgets(config, train_tokens, val_tokens, budgets)
    for b, body in bodies.items():
        print(f"pretrained {b:5d} steps: validation loss {body['val_loss']:.3f} in {body['seconds']:.0f} s",
              flush=True)
    pin_threads(1)  # one thread per fine-tuning run, as notebook 07 runs its grid
    rows = lm_curve.finetune_curve(bodies, model_config, task["train"], task["val"], task["test"],
                                   len(TASK_PACKAGES), seeds=seeds)
    tokens_per_step = config.batch_size * model_config.context_length
    for r in rows:
        body = bodies[r["steps"]]
        r.update(tokens=r["steps"] * tokens_per_step, pretrain_s=round(body["seconds"], 1),
                 val_loss=round(body["val_loss"], 4))
    rows += bag_of_words_rows(tokenizer, task, lm_curve.SIZES)

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=lm_curve.FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: r.get(k, "") for k in lm_curve.FIELDS} for r in rows)
    with atomic_write(args.output) as f:
        f.write(text.getvalue().encode())

    summary = lm_curve.curve_summary(lm_curve.read_curve(args.output))
    print(f"\n{'steps':>6s}{'val loss':>10s}" + "".join(f"{f'acc @ {k}/class':>18s}" for k in lm_curve.SIZES))
    for b in budgets:
        arm = "full" if b else "scratch"
        cells = [f"{summary[arm, b, k][0]:.3f} ± {summary[arm, b, k][1]:.3f}" for k in lm_curve.SIZES]
        print(f"{b:6d}{bodies[b]['val_loss']:10.3f}" + "".join(f"{c:>18s}" for c in cells))
    print("bag of words    " + "".join(f"{summary['bag of words', None, k][0]:>18.3f}" for k in lm_curve.SIZES))
    fig = plot_pretraining_curve(summary, lm_curve.SIZES)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    figure = FIGURE if args.output == lm_curve.CURVE_CSV else args.output.with_suffix(".png")
    with atomic_write(figure) as f:
        f.write(buffer.getvalue())
    print(f"\nwrote {args.output} and {figure} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
