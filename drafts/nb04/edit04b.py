import json, sys, uuid
path = sys.argv[1]
nb = json.load(open(path))
cells = nb["cells"]
byid = {c["id"]: c for c in cells}

def lines(text):
    ls = text.split("\n")
    return [l + "\n" for l in ls[:-1]] + ([ls[-1]] if ls[-1] else [])

def src(cid):
    return "".join(byid[cid]["source"])

def set_src(cid, text):
    byid[cid]["source"] = lines(text)

def replace(cid, old, new):
    s = src(cid)
    assert s.count(old) == 1, (cid, old[:70], s.count(old))
    set_src(cid, s.replace(old, new))

def new_cell(kind, text, cid):
    c = {"cell_type": kind, "id": cid, "metadata": {}, "source": lines(text)}
    if kind == "code":
        c.update(execution_count=None, outputs=[])
    return c

def insert_after(cid, *new):
    i = [c["id"] for c in cells].index(cid)
    cells[i + 1:i + 1] = list(new)
    for c in new:
        byid[c["id"]] = c

# cell 0: what you will learn
replace("6b0434c6", "- how to pretrain a ResNet-50 from scratch on a *source* task, cache the checkpoint, and look at\n  what its first-layer filters and its features learned.",
        "- how to pretrain a ResNet-50 from scratch on a *source* task with a recipe written out and\n  explained (AdamW, a one-cycle schedule, label smoothing, residual branches started at zero),\n  cache the checkpoint, and look at what its first-layer filters and its features learned.")

# section 4 prose: where the plumbing lives
replace("f3d0c84a", "To see what each one does *on its own*, we train five networks of the same depth — a stem\nconvolution, 10 blocks of two 3×3 convolutions (16 channels), a pooled linear head: 21\nconvolutions + `fc` — that differ in one ingredient at a time:",
        "To see what each one does *on its own*, we train five networks of the same depth — a stem\nconvolution, 10 blocks of two 3×3 convolutions (16 channels), a pooled linear head: 21\nconvolutions + `fc`, built by `DeepNet` from `course_utils.depth_sweep` with section 2's residual\nblock (asserted below) — that differ in one ingredient at a time:")
replace("34faa05d", "Now train all five with the same budget and the same rules:",
        "Now train all five with the same budget and the same rules. The loop (`train_arm`, notebook\n03's loop with SGD), the sweep (`sweep_arms`) and the tables are plumbing in\n`course_utils.depth_sweep`, to read beside this notebook; the rules they apply are these:")

# section 5
set_src("54d16edd", """## 5 · Pretraining our own ResNet-50

Notebook 05 fine-tunes a *pretrained* ResNet-50. On Colab it can download ImageNet weights; here
it cannot, so the course pretrains its own: torchvision's `resnet50` architecture, unchanged,
`weights=None`, 26 outputs, trained from scratch on the letters with the training loop of
notebook 03 (`course_utils.training.fit`). The recipe is the lesson, so it is written out below,
one choice at a time, and checked to be what `pretrain_source_model` runs.

**The data.** 10,400 generated letters (400 per class) at 32 px, and 1,040 others held out for
the test accuracy. Nothing is augmented during training: every image is already a random
distortion of its letter (section 1's list: font, rotation, scale, shear, shift, stroke width,
resolution, colour, noise), so 3 epochs are 3 shuffled passes over 10,400 different images.
Batches of 64, reshuffled every epoch by a seeded generator, with `drop_last=True` (section 2:
no batch of one at `layer4`'s 1×1 map): 162 steps per epoch, 486 in all.

**The model: `zero_init_residual=True`.** The last BatchNorm of every bottleneck block starts with
its scale at 0, so every block's residual branch $F(x)$ starts at 0 and each block passes its
input on (through its projection, for the first block of a stage). It is the start that made
section 4's residual + BN network pass the check; it changes initial values, not the
architecture.""")

cell_model = new_cell("code", '''from course_utils.pretrain import (PretrainConfig, build_source_model, pretrain_source_model,
                                   source_checkpoint_path)
from course_utils.pretrain import pretraining_recipe as library_recipe

config = PretrainConfig()
print(config)
print("checkpoint file:", source_checkpoint_path().name)

torch.manual_seed(config.seed)
model = resnet50(weights=None, num_classes=len(SOURCE_CLASSES), zero_init_residual=True)
last_norms = [block.bn3.weight for stage in (model.layer1, model.layer2, model.layer3, model.layer4)
              for block in stage]
assert all(w.abs().max() == 0 for w in last_norms)
print(f"{len(last_norms)} bottleneck blocks, the scale of each one's last BatchNorm starts at 0")
library_model = build_source_model(config)  # where pretrain_source_model starts
assert all(torch.equal(p, q) for p, q in zip(model.state_dict().values(), library_model.state_dict().values()))
print("the same initial weights as the library's build_source_model(config): True")''', "a4e1c0d1")

md_recipe = new_cell("markdown", """**The optimizer, the schedule and the loss.**

- **AdamW**, learning rate 0.002, weight decay 0.05. Adam's per-parameter step sizes (notebook
  03) let one learning rate serve layers whose gradients differ by orders of magnitude, 50 layers
  deep, from a random start; a run this short has no budget for section 4's sweep. AdamW's
  *decoupled* weight decay shrinks every weight by `lr × 0.05` per step, apart from the gradient
  statistics (in plain Adam the decay would be divided by them).
- **A one-cycle schedule**, stepped after every batch: a warm-up from 1/25 of the peak to the peak
  over the first quarter of the steps — at the start Adam's moment estimates rest on a few batches
  and BatchNorm's statistics still move, so large steps there are risky — then a cosine anneal to
  almost 0, so that the last steps settle instead of bouncing at the peak rate.
- **Label smoothing 0.1**: the target puts $0.9 + 0.1/26$ on the true letter and $0.1/26$ on each
  other one. The loss then stops rewarding ever larger logits once the softmax matches that target:
  its lowest possible value is the target's entropy, not 0 (computed below).

The library also stores the convolutions' tensors channels-last (NHWC) during the run: a memory
layout, not part of the recipe; this notebook does not time it.""", "b7d2e9f3")

cell_recipe = new_cell("code", '''def pretraining_recipe(model, config, steps_per_epoch):
    """(optimizer, scheduler, loss_fn) of the pretraining run."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(      # stepped after every batch
        optimizer, max_lr=config.lr, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
        pct_start=0.25)                                   # warm-up over the first quarter of the steps
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    return optimizer, scheduler, loss_fn


assert config.optimizer == "adamw"
steps_per_epoch = config.train_size // config.batch_size   # drop_last: 162 full batches

# The library's recipe is this one: one training step of section 2's small CNN (26 outputs) from the
# same state gives the same weights with each, bit for bit, and the same learning rate at every step.
images, targets = next(iter(DataLoader(letters, batch_size=config.batch_size)))
schedules, stepped = [], []
for recipe in (pretraining_recipe, library_recipe):
    net = copy.deepcopy(small_cnn)
    optimizer, scheduler, loss_fn = recipe(net, config, steps_per_epoch)
    lrs = []
    for step in range(config.epochs * steps_per_epoch):
        lrs.append(optimizer.param_groups[0]["lr"])       # the rate this step uses
        if step == 0:
            loss = loss_fn(net(images), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
    schedules.append(lrs)
    stepped.append(net)
assert schedules[0] == schedules[1]
assert all(torch.equal(p, q) for p, q in zip(stepped[0].state_dict().values(), stepped[1].state_dict().values()))
assert not torch.equal(stepped[0][0][0].weight, small_cnn[0][0].weight)  # the step did move the weights
lrs = schedules[0]
peak = lrs.index(max(lrs))
print(f"one step with each recipe: the same weights, bit for bit; the same rate at all {len(lrs)} steps")
print(f"learning rate: {lrs[0]:.1e} at step 0, peak {lrs[peak]:.1e} at step {peak}, {lrs[-1]:.1e} at the last step")

eps, K = config.label_smoothing, len(SOURCE_CLASSES)
smoothed = torch.full((K,), eps / K)
smoothed[0] += 1 - eps                                    # the target of an image of class 0
lowest = -(smoothed * smoothed.log()).sum()               # its entropy
torch.testing.assert_close(F.cross_entropy(smoothed.log()[None], torch.tensor([0]), label_smoothing=eps),
                           lowest)
print(f"label smoothing {eps}: target {1 - eps + eps / K:.4f} on the true class, {eps / K:.4f} on each "
      f"other; lowest possible loss {lowest:.3f}, reached when the softmax equals the target")''', "c9a3f5b2")

md_run = new_cell("markdown", """### The run, cached

`pretrain_source_model` builds that model, that recipe and those loaders, and trains with `fit`.
The checkpoint is cached under `data/cache/` (git-ignored) with its configuration, the thread
count it was trained with, and its training history, so a second call — here, or in notebook
05 — loads it instead of training, and returns the same numbers. A checkpoint made with another
configuration or another thread count, or a damaged one, is retrained, never silently reused;
whenever it trains, it first prints why and about how long it will take (an estimated 3 minutes on an
idle 2-core CPU).""", "d2b8e4a6")

insert_after("54d16edd", cell_model, md_recipe, cell_recipe, md_run)
# the old config cell is replaced by cell_model
i = [c["id"] for c in cells].index("226735f4")
del cells[i]

# after the run: the cached run followed the schedule above
replace("fdb1f4be", 'assert info["source_acc"] >= 0.90, info["source_acc"]\n',
        'assert info["source_acc"] >= 0.90, info["source_acc"]\n'
        'assert info["config"] == config\n'
        'for row in info["history"]:  # the cached run followed the schedule above, and label smoothing\'s floor\n'
        '    assert math.isclose(row["lr"], lrs[(row["epoch"] - 1) * steps_per_epoch], rel_tol=1e-9), row\n'
        '    assert row["train_loss"] > lowest\n')
replace("fdb1f4be", 'print(f"held-out source accuracy at least 90% (chance: {1 / 26:.1%}): {info[\'source_acc\'] >= 0.90}")',
        'print(f"held-out source accuracy at least 90% (chance: {1 / 26:.1%}): {info[\'source_acc\'] >= 0.90}")\n'
        'print(f"the cached run\'s rate at the start of each epoch is the schedule\'s at steps 0, {steps_per_epoch}, "\n'
        '      f"{2 * steps_per_epoch}: True")')

# summary
replace("04ec7ecf", "- **Pretraining**: `pretrain_source_model()` trains torchvision's ResNet-50 from scratch on\n  generated letters, caches the checkpoint with its configuration and history, and reloads it.",
        "- **Pretraining**: `pretrain_source_model()` trains torchvision's ResNet-50 from scratch on\n  generated letters with the recipe of section 5 — `zero_init_residual=True`, AdamW, a one-cycle\n  schedule, label smoothing 0.1 — asserted to be the library's (same initial weights, same step,\n  same rates, the rates the cached run recorded), caches the checkpoint with its configuration and\n  history, and reloads it.")

json.dump(nb, open(path, "w"), indent=1, ensure_ascii=False)
open(path, "a").write("\n")
