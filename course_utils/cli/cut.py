"""``finetune --strategy auto`` and ``cut-*``: what each stage knows, which stage to cut after, the head.

``auto`` first measures what each stage of the pretrained network knows about the user's images
(a linear probe per stage, cross-validated on the training split:
:mod:`course_utils.experiments.stage_probe`), then cuts the network after the best stage and trains
a new head there (``cut-layer1`` .. ``cut-layer4``; ``cut-layer4`` keeps the whole network), with
augmented views when the data is small and they help in the same cross-validation.
"""

from __future__ import annotations

import torch

from course_utils.experiments.stage_probe import (
    AUGMENTS,
    CUT_STRATEGIES,
    HEAD_STEPS,
    CutResNet,
    best_stage,
    probe_table,
    train_head,
    view_features,
)
from course_utils.experiments.transfer import STAGES, stage_features
from course_utils.i18n import message

__all__ = ["probes", "finetune_cut"]

#: What the choice prints (:mod:`course_utils.i18n`'s one shape): English template -> Chinese, same fields.
MESSAGES: dict[str, str] = {
    "what each stage knows: a linear probe on its pooled output, {folds}-fold cross-validation on the {n} training "
    "images":
        "每个阶段学到了什么：在其汇聚后的输出上训练线性探测，在 {n} 张训练图片上做 {folds} 折交叉验证",
    "stage    probe acc        L2": "阶段     探测准确率       L2",
    "auto chose {strategy}: {stage} probes best ({acc:.3f} against {other} {other_acc:.3f} for the next best){what}":
        "auto 选择了 {strategy}：{stage} 的线性探测最好（{acc:.3f}，次好的 {other} 为 {other_acc:.3f}）{what}",
    "; the network is cut after {stage}: a new head on its pooled output":
        "；网络在 {stage} 之后截断，在其汇聚后的输出上训练一个新的分类头",
    "; the whole network is kept, with a new head": "；保留整个网络，换一个新的分类头",
    "{strategy} (as asked): a new head on the pooled output of {stage}":
        "{strategy}（按要求）：在 {stage} 汇聚后的输出上训练新的分类头",
    "augmentation {augment}: {with_aug:.3f} with {views} augmented views per image, {without:.3f} without (same "
    "cross-validation)":
        "数据增强 {augment}：每张图片加 {views} 个增强视图时为 {with_aug:.3f}，不加时为 {without:.3f}（同一交叉验证）",
    "augmentation none: {per_class} training images per class are enough (augmentation is tried below {limit})":
        "数据增强 none：每类 {per_class} 张训练图片已足够（少于 {limit} 张时才尝试增强）",
    "augmentation {augment} (as asked)": "数据增强 {augment}（按要求）",
    "head: logistic regression on {rows} cached feature rows (L2 {l2:g}, at most {steps} L-BFGS steps); nothing was "
    "chosen on the validation images, so their accuracy below is unbiased":
        "分类头：在 {rows} 行缓存特征上做逻辑回归（L2 {l2:g}，最多 {steps} 步 L-BFGS）；没有任何选择用到验证图片，"
        "所以下面的验证准确率没有偏差",
    "the saved head is then refit on all {n} images (training and validation) with the same stage, augmentation and "
    "L2; the validation accuracy is the one of the head trained on the {train} training images":
        "保存的分类头随后在全部 {n} 张图片（训练和验证）上用同样的阶段、数据增强和 L2 重新训练；"
        "验证准确率是只在 {train} 张训练图片上训练的分类头的结果",
}


#: below this many training images per class, ``auto`` tries augmentation (and keeps it if it helps)
AUGMENT_BELOW = 30


def probes(strategy: str) -> bool:
    """Whether ``strategy`` measures the stages first (auto) or trains a head on one (cut-*)."""
    return strategy == "auto" or strategy in CUT_STRATEGIES


def _tensors(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (transformed) image of ``dataset`` and its target, stacked: (N, 3, H, W), (N,)."""
    images, targets = zip(*(dataset[i] for i in range(len(dataset))))
    return torch.stack(images), torch.tensor(targets)


def finetune_cut(args, model, train, val, device, say) -> tuple[torch.nn.Module, list[dict], dict]:
    """``auto`` and ``cut-*``: probe every stage on cached features (cross-validated on the training
    split only), choose the stage and the augmentation, train the head; the cut model, its history
    row and what the report records."""
    images, targets = _tensors(train)
    model = model.to(device).eval()
    images = images.to(device)
    per_class = int(torch.bincount(targets).min())
    folds = min(4, per_class)
    seed = args.seed
    feats = {k: v.cpu() for k, v in view_features(model, images, seed=seed).items()}
    table = probe_table(feats, targets, folds=folds, seed=seed)
    say(message(MESSAGES, "what each stage knows: a linear probe on its pooled output, {folds}-fold cross-validation "
                          "on the {n} training images", folds=folds, n=len(targets)))
    say(message(MESSAGES, "stage    probe acc        L2"))
    for stage, row in table.items():
        say(f"{stage:<8} {row['acc']:.3f} ± {row['std']:.3f}  {row['l2']:g}")
    if args.strategy == "auto":
        stage = best_stage(table)
        other = max((s for s in table if s != stage), key=lambda s: table[s]["acc"])
        what = (message(MESSAGES, "; the whole network is kept, with a new head") if stage == STAGES[-1] else
                message(MESSAGES, "; the network is cut after {stage}: a new head on its pooled output", stage=stage))
        say(message(MESSAGES, "auto chose {strategy}: {stage} probes best ({acc:.3f} against {other} {other_acc:.3f} "
                              "for the next best){what}", strategy=f"cut-{stage}", stage=stage, acc=table[stage]["acc"],
                    other=other, other_acc=table[other]["acc"], what=what))
    else:
        stage = CUT_STRATEGIES[args.strategy]
        say(message(MESSAGES, "{strategy} (as asked): a new head on the pooled output of {stage}",
                              strategy=args.strategy, stage=stage))
    augment, chosen_row, stage_feats = args.augment, table[stage], feats[stage]
    if augment == "auto" and per_class >= AUGMENT_BELOW:
        augment = "none"
        say(message(MESSAGES, "augmentation none: {per_class} training images per class are enough (augmentation is "
                              "tried below {limit})", per_class=per_class, limit=AUGMENT_BELOW))
    elif augment == "none":
        say(message(MESSAGES, "augmentation {augment} (as asked)", augment=augment))
    else:
        views, settings = AUGMENTS["light" if augment == "auto" else augment]
        more = view_features(model, images, views=views, augment=settings, seed=seed)[stage].cpu()
        row = probe_table({stage: more}, targets, folds=folds, seed=seed, stages=(stage,))[stage]
        if augment == "auto":
            augment = "light" if row["acc"] > chosen_row["acc"] else "none"
            say(message(MESSAGES, "augmentation {augment}: {with_aug:.3f} with {views} augmented views per image, "
                                  "{without:.3f} without (same cross-validation)",
                                  augment=augment, views=views, with_aug=row["acc"],
                        without=chosen_row["acc"]))
        else:
            say(message(MESSAGES, "augmentation {augment} (as asked)", augment=augment))
        if augment != "none":
            chosen_row, stage_feats = row, more
    l2 = chosen_row["l2"]
    val_images, val_targets = _tensors(val)
    val_feats = stage_features(model, val_images.to(device), batch_size=64)[stage].cpu()
    head, run = train_head(stage_feats, targets, l2=l2, seed=seed, val=val_feats, val_targets=val_targets)
    say(message(MESSAGES, "head: logistic regression on {rows} cached feature rows (L2 {l2:g}, at most {steps} L-BFGS "
                          "steps); nothing was chosen on the validation images, so their accuracy below is unbiased",
                          steps=HEAD_STEPS, l2=l2, rows=stage_feats.shape[0] * stage_feats.shape[1]))
    cut = CutResNet(model, stage, head.to(device)).eval()
    cut.preprocessing = model.preprocessing
    with torch.no_grad():  # the validation logits of the head that never saw them: the honest estimate
        val_logits = head(val_feats.to(device))
    history = [{"epoch": 1, "train_loss": run["curve"][-1], "train_acc": None, "val_loss": None,
                "val_acc": run["acc"]}]
    refit = args.val is None  # the validation images came out of --data: the saved head learns from them too
    if refit:
        both = torch.cat([images, val_images.to(device)])
        views, settings = AUGMENTS[augment] if augment != "none" else (0, None)
        all_feats = view_features(model, both, views=views, augment=settings, seed=seed)[stage].cpu()
        head, _ = train_head(all_feats, torch.cat([targets, val_targets]), l2=l2, seed=seed)
        cut.norm, cut.fc = head.to(device)
        say(message(MESSAGES, "the saved head is then refit on all {n} images (training and validation) with the same "
                              "stage, augmentation and L2; the validation accuracy is the one of the head trained on "
                              "the {train} training images", n=len(both), train=len(targets)))
    chosen = f"cut-{stage}"
    return cut, history, {"probe": table, "probe_folds": folds, "stage": stage, "chosen": chosen,
                          "augment": augment, "l2": l2, "refit": refit,
                          "val_logits": val_logits, "val_targets": val_targets.to(device)}
