"""Notebook 05's claims about the committed transfer grid, as tests over its CSV.

Section 5 of the notebook states its verdicts in a few bullets printed from the numbers; every
sentence of its prose (and of the summary) that reads a verdict off the grid is checked here, so a
new grid that changes a verdict fails a test that names the sentence. "A beats B" means a gap in
mean test accuracy larger than twice the larger standard deviation over the seeds.
"""

from __future__ import annotations

import statistics

import pytest
from torchvision.models import resnet50

from course_utils.experiments import transfer
from course_utils.losses import assert_sane

GRID = transfer.read_grid()
SWEEP = transfer.read_grid(transfer.SWEEP_CSV)
CHOSEN_LR = {(r["target"], r["arm"]): float(r["lr"]) for r in GRID}
SIZES = (5, 10, 50)
FAQ2 = ("probe-fc", "probe-layer3", "last-stage", "full")
rule = transfer.rule


def cell(target, arm, k):
    """(mean, std) of the test accuracy over the seeds; None where the grid has no run."""
    accs = [float(r["acc"]) for r in GRID if (r["target"], r["arm"], int(r["k"])) == (target, arm, k)]
    return (statistics.mean(accs), statistics.stdev(accs)) if len(accs) > 1 else None


def verdict(a, b, target="digits", k=5):
    (ma, sa), (mb, sb) = cell(target, a, k), cell(target, b, k)
    gap, noise = ma - mb, 2 * max(sa, sb)
    return "beats" if gap > noise else ("loses to" if -gap > noise else "no difference from")


def best_of(target, k, suffix=""):
    ran = [a + suffix for a in FAQ2 if cell(target, a + suffix, k)]
    best = max(ran, key=lambda a: cell(target, a, k)[0])
    return best, [a for a in ran if a != best and verdict(best, a, target, k) == "no difference from"]


def at_edge(target, arm):
    tried = [(r["lr"], r["val_acc"]) for r in SWEEP if (r["target"], r["arm"]) == (target, arm)]
    return transfer.at_edge(tried, CHOSEN_LR.get((target, arm)))


def test_every_run_sane_and_the_task_not_solved_before_training():
    for r in GRID:
        losses = [float(v) for v in r["losses"].split()]
        assert_sane(float(r["first_loss"]), losses, 10, f"{r['target']} {r['arm']} {r['k']}/class seed {r['seed']}")
    assert max(float(r["first_acc"]) for r in GRID) < 0.3


def test_the_headline_arms_were_not_chosen_at_an_edge_of_their_sweep():
    for arm in ("cut-layer3", "cut-layer3-long", "probe-layer3", "probe-layer3-long", "pixels-logreg-long",
                "mlp-long", "small-cnn-long", "resnet50-scratch-long", "cut-layer3-aug", "pixels-logreg-aug",
                "mlp-aug", "small-cnn-aug", "resnet50-scratch-aug"):
        assert not at_edge("digits", arm), arm


@pytest.mark.parametrize("k", SIZES)
def test_far_digits_the_middle_stage_transfers(k):
    """'the pooled last stage ... does no better than logistic regression on the pixels, while the
    probe on layer3 beats every arm that goes through layer4, at every size'."""
    for arm in ("probe-fc", "probe-layer1", "probe-layer2", "probe-layer4"):
        assert verdict(arm, "pixels-logreg", k=k) != "beats", arm
    for arm in ("probe-fc", "probe-layer4", "last-stage", "full"):
        assert verdict("probe-layer3", arm, k=k) == "beats", arm


def test_layer3_features_beat_the_pixels_with_five_labels():
    """'probe-layer3-long beats pixels-logreg-long by at least 3 points' and both pixel models."""
    (mt, _), (mp, _) = cell("digits", "probe-layer3-long", 5), cell("digits", "pixels-logreg-long", 5)
    assert mt - mp >= 0.03 and verdict("probe-layer3-long", "pixels-logreg-long") == "beats"
    assert verdict("probe-layer3-long", "mlp-long") == "beats"


@pytest.mark.parametrize("k", (5, 10))
def test_cut_layer3_is_the_best_transfer_arm_and_ties_the_small_cnn(k):
    for suffix, budget in (("", "short budget"), ("-long", "long budget")):
        ran = [a for a in transfer.TRANSFER_ARMS if rule(a) == budget]
        assert max(ran, key=lambda a: cell("digits", a, k)[0]) == "cut-layer3" + suffix
    assert all(verdict(a, "small-cnn-long", k=k) != "beats" for a in transfer.TRANSFER_ARMS if rule(a) != "augmented")
    assert verdict("cut-layer3-long", "small-cnn-long", k=k) == "no difference from"
    assert all(verdict(a, "resnet50-scratch-long", k=k) == "beats" for a in ("probe-layer3-long", "full-long"))
    assert verdict("full-long", "probe-layer3-long", k=k) == "no difference from"


def test_all_500_digits_cut_layer3_long_is_the_best_arm_without_augmentation():
    k50 = {a: cell("digits", a, 50)[0] for a in transfer.TRANSFER_ARMS + transfer.BASELINE_ARMS
           if cell("digits", a, 50) and rule(a) != "augmented"}
    assert max(k50, key=k50.get) == "cut-layer3-long"
    assert verdict("cut-layer3-long", "small-cnn-long", k=50) == "beats"
    assert verdict("full-long", "small-cnn-long", k=50) == "no difference from"


def test_cut_layer3_keeps_8_6_million_weights_and_trails_on_the_near_glyphs():
    cut = transfer.build_arm("cut-layer3", resnet50(weights=None), 10, seed=0)[0]
    assert round(sum(p.numel() for p in cut.parameters()) / 1e6, 1) == 8.6
    for s in ("", "-long"):
        assert cell("glyphs", "cut-layer3" + s, 5)[0] < min(cell("glyphs", a + s, 5)[0] for a in FAQ2)


def test_near_glyphs_the_last_stage_transfers():
    """'with 16x the steps the last stage beats the layer3 probe with 5 labels per class and ties
    it with 50, and with 5 labels per class no fine-tuning arm beats it'."""
    for k in (5, 50):
        assert verdict("probe-fc-long", "probe-layer3-long", "glyphs", k) != "loses to", k
    assert verdict("probe-fc-long", "probe-layer3-long", "glyphs", 5) == "beats"
    assert "probe-fc-long" in (best_of("glyphs", 5, "-long")[0], *best_of("glyphs", 5, "-long")[1])
    assert verdict("full-long", "probe-fc-long", "glyphs", 5) == "no difference from"


def test_short_budget_glyphs_probe_fc_is_undertrained():
    """'the probe's sweep chose the smallest rate it tried, 3e-4 ... its loss is still above 1'."""
    losses = [float(r["final_loss"]) for r in GRID if (r["target"], r["arm"]) == ("glyphs", "probe-fc")]
    assert min(losses) > 1 and all(verdict("full", "probe-fc", "glyphs", k) == "beats" for k in (5, 50))
    assert at_edge("glyphs", "probe-fc") == "bottom" and CHOSEN_LR["glyphs", "probe-fc"] == 3e-4


def test_rules_of_thumb():
    """24 steps: neither rule shows; 16x the steps: both hold."""
    assert best_of("digits", 50)[0] == "probe-layer3"
    near, ties = best_of("glyphs", 5)
    assert "probe-fc" not in (near, *ties)
    near, ties = best_of("glyphs", 5, "-long")
    assert "probe-fc-long" in (near, *ties)
    far, ties = best_of("digits", 50, "-long")
    assert {"last-stage-long", "full-long"} & {far, *ties}
    for target in ("digits", "glyphs"):
        assert verdict("full-long", "probe-layer3-long", target, k=50) == "beats", target


@pytest.mark.parametrize("k", (5, 50))
def test_near_glyphs_every_faq2_arm_beats_every_baseline_by_20_points(k):
    for suffix in ("", "-long"):
        arms = [a + suffix for a in FAQ2]
        bases = [b for b in transfer.BASELINE_ARMS if rule(b) == rule(arms[0]) and cell("glyphs", b, k)]
        worst = min(cell("glyphs", a, k)[0] for a in arms)
        best_base = max(cell("glyphs", b, k)[0] for b in bases)
        assert worst - best_base >= 0.2, (k, suffix)
        assert all(verdict(a, b, "glyphs", k) == "beats" for a in arms for b in bases), (k, suffix)
    assert all(verdict(a, "mlp-long", "glyphs", k) != "beats" for a in ("probe-layer1", "probe-layer2"))
