"""The pretraining-compute curve (notebook 07): its runs are notebook 07's arms, each budget is the
course's recipe, and the shipped CSV holds every run the notebook plots, each one sane."""

import copy
import dataclasses
import io

import pytest
import torch

from course_utils.experiments import lm_curve
from course_utils.experiments.lm_pretrain import LMPretrainConfig, train_lm
from course_utils.gpt import GPT, GPTClassifier, GPTConfig
from course_utils.losses import sanity_problem
from tools.nbenv import ROOT

TINY = LMPretrainConfig(model=GPTConfig(vocab_size=32, context_length=8, d_model=16, n_layers=1,
                                        n_heads=2),
                        steps=800, batch_size=8, lr=1e-2, warmup_steps=2, eval_every=100, eval_batches=2)


def _tokens(n=2000):
    return torch.arange(n) % 16


def _same(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_each_budget_is_its_own_run_of_the_recipe_from_the_same_initial_weights():
    bodies = lm_curve.pretrain_budgets(TINY, _tokens(), _tokens(300), budgets=(0, 3))
    torch.manual_seed(TINY.seed)
    init = GPT(TINY.model)
    assert _same(bodies[0]["state"], init.state_dict()) and bodies[0]["seconds"] == 0
    trained = copy.deepcopy(init)
    train_lm(trained, _tokens(), _tokens(300), dataclasses.replace(TINY, steps=3))  # eval_every differs
    assert _same(bodies[3]["state"], trained.state_dict())
    assert bodies[3]["val_loss"] < bodies[0]["val_loss"]


def test_the_runs_are_built_as_notebook_07_builds_its_scratch_and_full_arms():
    torch.manual_seed(5)
    lm = GPT(TINY.model).eval()
    bodies = {7: {"state": lm.state_dict()}}
    torch.manual_seed(1)  # notebook 07: full = the pretrained body, the head drawn from the seed
    full = GPTClassifier(copy.deepcopy(lm), 4)
    torch.manual_seed(1)  # scratch = body and head drawn from the seed
    scratch = GPTClassifier(GPT(TINY.model), 4)
    assert _same(lm_curve._classifier(bodies, TINY.model, 7, 4, 1).state_dict(), full.state_dict())
    assert _same(lm_curve._classifier(bodies, TINY.model, 0, 4, 1).state_dict(), scratch.state_dict())


def _task(n, seed):  # 4 classes in round-robin order; class c's sequences are made of token c
    g = torch.Generator().manual_seed(seed)
    targets = torch.arange(n) % 4
    ids = (targets[:, None] * 4 + torch.randint(4, (n, 8), generator=g)) % 32
    return ids, torch.full((n,), 8), targets


def test_the_sweep_picks_the_best_sane_rate_and_every_seed_and_size_runs_at_it():
    bodies = lm_curve.pretrain_budgets(TINY, _tokens(), _tokens(300), budgets=(0, 2))
    rows = lm_curve.finetune_curve(bodies, TINY.model, _task(24, 0), _task(12, 1), _task(12, 2), 4,
                                   sweep=(1e-3, 1e-2, 1e3), sizes=(2, 6), seeds=(0, 1), steps=8,
                                   batch_size=4, workers=1)
    sweep = [r for r in rows if r["phase"] == "sweep"]
    test = [r for r in rows if r["phase"] == "test"]
    assert len(sweep) == 2 * 3 and len(test) == 2 * 2 * 2
    for b in (0, 2):
        tried = {r["lr"]: r for r in sweep if r["steps"] == b}
        assert not tried[1e3]["sane"]  # a rate of 1000 diverges: never chosen
        chosen = {r["lr"] for r in test if r["steps"] == b}
        sane = [lr for lr, r in tried.items() if r["sane"]]
        assert chosen == {max(sane, key=lambda lr: tried[lr]["acc"])}
    assert {r["arm"] for r in test} == {"scratch", "full"}
    assert all(len(r["losses"].split()) == 8 for r in rows)


def test_read_curve_refuses_a_file_that_is_not_a_curve(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("target,arm,acc\nx,y,0.5\n")
    with pytest.raises(ValueError, match="gpt_pretraining_curve.py"):
        lm_curve.read_curve(path)


def test_the_shipped_curve_is_complete_and_every_run_sane():
    rows = lm_curve.read_curve()
    summary = lm_curve.curve_summary(rows)
    for b in lm_curve.BUDGETS:
        arm = "full" if b else "scratch"
        tried = {r["lr"]: r for r in rows if r["steps"] == b and r["phase"] == "sweep"}
        assert set(tried) == set(lm_curve.SWEEP), f"budget {b}: sweep incomplete"
        test = [r for r in rows if r["steps"] == b and r["phase"] == "test"]
        assert {(r["per_class"], r["seed"]) for r in test} == {
            (k, s) for k in lm_curve.SIZES for s in lm_curve.SEEDS}
        for r in test:  # re-checked from the stored losses, not only the stored flag
            assert sanity_problem(r["losses"][0], r["losses"], 10) is None and r["sane"]
        best = max((lr for lr, r in tried.items() if r["sane"]), key=lambda lr: tried[lr]["acc"])
        assert {r["lr"] for r in test} == {best}
        for k in lm_curve.SIZES:
            assert summary[arm, b, k][2] == len(lm_curve.SEEDS)
    for k in lm_curve.SIZES:
        assert ("bag of words", None, k) in summary


def test_the_figure_draws_every_point_and_the_baseline():
    rows = lm_curve.read_curve()
    from course_utils.plots import plot_pretraining_curve

    fig = plot_pretraining_curve(lm_curve.curve_summary(rows), lm_curve.SIZES)
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_marker() == "o"]  # not the error bars' caps
    assert all(len(line.get_xdata()) == len(lm_curve.BUDGETS) for line in lines)
    assert len(lines) == len(lm_curve.SIZES)
    assert len(ax.get_legend().get_texts()) == 2 * len(lm_curve.SIZES)
    fig.savefig(io.BytesIO(), format="png")


@pytest.mark.parametrize("readme, words", [("README.md", "(0 to {:,} steps)"), ("README.zh-CN.md", "（0 到 {:,} 步）")],
                         ids=["en", "zh"])
def test_the_readmes_give_the_range_of_the_shipped_curve(readme, words):
    """The README's row for notebook 07 names the pretraining budgets its curve runs over."""
    longest = max(r["steps"] for r in lm_curve.read_curve() if r["steps"] is not None)
    assert words.format(longest) in (ROOT / readme).read_text(encoding="utf-8"), (readme, longest)
