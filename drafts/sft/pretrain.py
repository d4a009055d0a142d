import time, torch
from course_utils.repro import pin_threads, seed_everything
pin_threads(); seed_everything(0)
from course_utils.corpus import collect_docstrings, corpus_text, task_split
from course_utils.gpt import GPTConfig
from course_utils.lm_pretrain import LMPretrainConfig, pretrain_lm
from course_utils.tokenizer import train_bpe
docs = collect_docstrings()
split = task_split(docs, train_per_class=20, val_per_class=8, test_per_class=20, seed=0)
held_out = {text for name in ("val", "test") for text, _ in split[name]}
corpus = corpus_text([d.text for d in docs if d.text not in held_out])
tokenizer = train_bpe(corpus, 1024)
tokens = torch.tensor(tokenizer.encode(corpus))
cut = int(0.95 * len(tokens))
config = GPTConfig(vocab_size=1024, context_length=64, d_model=128, n_layers=3, n_heads=4)
pc = LMPretrainConfig(model=config, steps=800, batch_size=32, lr=3e-3, warmup_steps=40, eval_every=100, seed=0)
t=time.time()
lm, info = pretrain_lm(tokens[:cut], tokens[cut:], pc, progress=False)
print("from cache", info["from_cache"], info["seconds"], time.time()-t, info["history"][-1], flush=True)
