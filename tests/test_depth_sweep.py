"""course_utils.experiments.depth_sweep: notebook 04's deep networks, one-run loop, learning-rate sweep, tables."""

import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from course_utils.experiments.depth_sweep import (
    DeepNet,
    ResidualBlock,
    final_loss,
    first_loss,
    format_results,
    format_sweep,
    results_table,
    sweep_arms,
    train_arm,
)


def toy_task(n=64, seed=0):
    """4 classes of (3, 8, 8) images told apart by which quadrant is bright: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    targets = torch.arange(n) % 4
    images = 0.1 * torch.randn(n, 3, 8, 8, generator=g)
    for i, t in enumerate(targets.tolist()):
        r, c = divmod(t, 2)
        images[i, :, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 1.0
    return TensorDataset(images, targets)


TRAIN, TEST = toy_task(64, 0), toy_task(32, 1)


def linear():
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                         nn.Linear(32, 4))


def test_residual_block_with_zero_branch_is_relu_of_its_input():
    block = ResidualBlock(4)
    nn.init.zeros_(block.f[-1].weight)
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(block(x), torch.relu(x))


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("batchnorm", [False, True])
def test_deepnet_has_21_convs_and_the_right_output(residual, batchnorm):
    model = DeepNet(residual=residual, batchnorm=batchnorm)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 21
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == batchnorm
    assert any(isinstance(m, ResidualBlock) for m in model.modules()) == residual


def test_train_arm_learns_is_seeded_and_starts_at_first_loss():
    losses, accuracy = train_arm(linear, lr=0.1, seed=0, train_set=TRAIN, test_set=TEST, steps=30,
                                 batch_size=16)
    assert len(losses) == 30  # 4 batches an epoch: the loop runs over several epochs
    assert sum(losses[-5:]) / 5 < 0.5 * losses[0]
    assert accuracy == 1.0
    again = train_arm(linear, lr=0.1, seed=0, train_set=TRAIN, test_set=TEST, steps=30, batch_size=16)
    assert again == (losses, accuracy)
    other, _ = train_arm(linear, lr=0.1, seed=1, train_set=TRAIN, test_set=TEST, steps=30, batch_size=16)
    assert other != losses
    assert first_loss(linear, 0, TRAIN, batch_size=16) == losses[0]


def test_a_diverging_run_stops_with_no_accuracy():
    losses, accuracy = train_arm(mlp, lr=1e10, seed=0, train_set=TRAIN, test_set=TEST, steps=50,
                                 batch_size=16)
    assert accuracy is None and not math.isfinite(losses[-1]) and len(losses) < 50
    assert final_loss(losses, accuracy) == math.inf
    assert final_loss([5.0] * 5 + [1.0] * 10, 0.5) == 1.0  # the mean of the last 10 steps


def test_sweep_stops_after_the_best_rate_and_rejects_diverging_runs():
    arms = {"mlp": mlp}
    result = sweep_arms(arms, TRAIN, TEST, lrs=(1e-3, 0.03, 1e10, 1e11), seeds=(0, 1), steps=20,
                        num_classes=4)
    tried = result.sweep["mlp"]
    assert list(tried) == [1e-3, 0.03, 1e10]  # stops at the first failing run after a sane one
    assert "mlp, lr 10000000000.0, seed 0" in result.rejected["mlp", 1e10, 0]
    lr, runs = result.runs["mlp"]
    assert lr == 0.03 and len(runs) == 2 and runs[0] == tried[0.03]
    assert final_loss(*tried[0.03]) < final_loss(*tried[1e-3])
    text = format_sweep(result)
    assert "nanx" in text.splitlines()[2] and text.splitlines()[2].rstrip().endswith("0.03")
    assert "-" in text.splitlines()[2]  # 1e11 was not tried
    assert "the other seeds passed the check too" in text


def test_results_table_is_mean_and_spread_over_seeds():
    result = sweep_arms({"linear": linear}, TRAIN, TEST, lrs=(0.3,), seeds=(0, 1, 2), steps=12,
                        num_classes=4)
    lr, runs = result.runs["linear"]
    row = results_table(result)["linear"]
    accs = torch.tensor([acc for _, acc in runs])
    assert row["lr"] == lr and row["acc"] == pytest.approx((accs.mean().item(), accs.std().item()))
    firsts = torch.tensor([losses[0] for losses, _ in runs])
    assert row["first"][0] == pytest.approx(firsts.mean().item())
    assert row["highest"] == max(max(losses) for losses, _ in runs)
    text = format_results(results_table(result))
    assert text.splitlines()[1].startswith("linear") and f"{row['acc'][0]:.3f}" in text


def test_an_arm_with_no_sane_rate_is_left_out():
    result = sweep_arms({"mlp": mlp}, TRAIN, TEST, lrs=(1e10,), seeds=(0, 1), steps=10,
                        num_classes=4)
    assert "mlp" not in result.runs and "none" in format_sweep(result)


def test_arms_in_two_processes_give_the_same_result_as_one_after_another():
    arms = {"linear": linear, "mlp": mlp, "diverges": mlp}
    args = dict(lrs=(1e-3, 0.03, 0.3, 1e10), seeds=(0, 1), steps=12, num_classes=4)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # jobs are forked only from a caller on one thread
    try:
        one = sweep_arms(arms, TRAIN, TEST, workers=1, **args)
        two = sweep_arms(arms, TRAIN, TEST, workers=2, **args)
    finally:
        torch.set_num_threads(previous)
    assert any(accuracy is None for tried in one.sweep.values() for _, accuracy in tried.values())
    assert repr(one.sweep) == repr(two.sweep) and repr(one.runs) == repr(two.runs)  # nan != nan
    assert list(one.rejected.items()) == list(two.rejected.items()) and one.rejected
    assert format_sweep(one) == format_sweep(two)
