"""Does the digits' scale hold transfer back? The layer3 probe at the source's glyph scale.

    .venv/bin/python -m benchmarks.digit_scale

The source letters fill about 0.6-0.9 of the frame (``course_utils.data.glyphs``); the 8x8 digits,
blown up to 32 px, fill all of it. This shrinks each digit to ``scale`` of the frame on a dark
background (the normalized value of a black pixel), then runs notebook 05's ``probe-layer3-long``
arm on the frozen source model's layer3 features, under the grid's rules: the learning rate swept
on 5 images per class validated on 10 others, then 3 seeds at 5 and 10 images per class, every
run checked by ``losses.assert_sane``. Prints mean ± std per scale, next to the committed grid's
``small-cnn-long`` (the from-scratch network that transfer has to beat on the digits).
Not part of the notebooks: an experiment for whoever improves the source model (about 1 min).
"""

from __future__ import annotations

import statistics

import torch
import torch.nn.functional as F

from benchmarks.transfer_grid import SEEDS, SWEEP_K, VAL_K, load_target, summary
from course_utils.experiments import transfer
from course_utils.experiments.pretrain import pretrain_source_model
from course_utils.repro import pin_threads

SCALES = (1.0, 0.8, 0.65, 0.55)
ARM = "probe-layer3-long"
BLACK = -2.0  # a black pixel after the course's normalize: (0 - 0.5) / 0.25


def reframe(images: torch.Tensor, scale: float) -> torch.Tensor:
    """Shrink (N, 3, 32, 32) images to ``scale`` of the frame, centred on a black background."""
    if scale == 1.0:
        return images
    size = round(images.shape[-1] * scale)
    small = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    out = torch.full_like(images, BLACK)
    top = (images.shape[-1] - size) // 2
    out[:, :, top:top + size, top:top + size] = small
    return out


def main() -> None:
    pin_threads()
    source, info = pretrain_source_model(progress=False)
    x, y, xt, yt = load_target("digits")
    grid = summary(transfer.read_grid())
    print(f"source model: held-out accuracy {info['source_acc']:.3f}")
    for k in (5, 10):
        m, s = grid["digits", "small-cnn-long", k]
        print(f"  grid small-cnn-long, {k}/class: {m:.3f} ± {s:.3f}")
    for scale in SCALES:
        feats = transfer.stage_features(source, reframe(x, scale))["layer3"]
        test_feats = transfer.stage_features(source, reframe(xt, scale))["layer3"]
        data = {"layer3": (feats, test_feats)}
        index = transfer.per_class_indices(y, SWEEP_K, seed=0)
        val = transfer.per_class_indices(y, VAL_K, seed=100, exclude=index)
        tried = {lr: transfer.run_cell(ARM, source, data, y, yt, index, lr=lr, seed=0, val_index=val,
                                       check=False) for lr in transfer.lr_candidates(ARM)}
        lr = max((lr for lr, r in tried.items() if not r["diverged"]), key=lambda lr: tried[lr]["acc"])
        line = []
        for k in (5, 10):
            accs = [transfer.run_cell(ARM, source, data, y, yt, transfer.per_class_indices(y, k, seed=seed),
                                      lr=lr, seed=seed)["acc"] for seed in SEEDS]
            line.append(f"{k}/class {statistics.mean(accs):.3f} ± {statistics.stdev(accs):.3f}")
        print(f"digits at {scale:.2f} of the frame, {ARM} (lr {lr:g}): " + "   ".join(line), flush=True)


if __name__ == "__main__":
    main()
