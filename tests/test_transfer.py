"""course_utils.experiments.transfer: the labelled rows, one budget and the sanity check, a cell of the grid."""

import math

import pytest
import torch
from torch import nn
from torchvision.models import resnet50

from course_utils.experiments import transfer
from course_utils.experiments.arms import ARMS


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return resnet50(weights=None, num_classes=26).eval()


def test_per_class_indices():
    targets = torch.arange(10).repeat(20)
    a = transfer.per_class_indices(targets, 5, seed=0)
    assert torch.equal(torch.bincount(targets[a]), torch.full((10,), 5))
    assert torch.equal(a, transfer.per_class_indices(targets, 5, seed=0))
    assert not torch.equal(a, transfer.per_class_indices(targets, 5, seed=1))
    b = transfer.per_class_indices(targets, 10, seed=3, exclude=a)
    assert not set(a.tolist()) & set(b.tolist())
    with pytest.raises(ValueError, match="only 15 images left"):
        transfer.per_class_indices(targets, 16, seed=0, exclude=a)
    for k in (0, 2.5, True):
        with pytest.raises(ValueError, match="k must be a positive int"):
            transfer.per_class_indices(targets, k, seed=0)


def test_train_arm_learns_within_the_budget():
    torch.manual_seed(0)
    centers = torch.randn(4, 8)
    targets = torch.arange(4).repeat(30)
    inputs = centers[targets] + 0.3 * torch.randn(120, 8)
    steps = []
    model = nn.Linear(8, 4)
    with torch.no_grad():  # the accuracy before training, by hand
        before = (model(inputs[80:]).argmax(1) == targets[80:]).float().mean().item()
    model.register_forward_hook(lambda m, i, o: steps.append(m.training))
    r = transfer.train_arm(model, inputs[:80], targets[:80], inputs[80:], targets[80:], lr=0.1, seed=0)
    assert r["first_acc"] == pytest.approx(before) and r["first_acc"] < 0.9 < r["acc"]
    assert sum(steps) == transfer.STEPS  # exactly the budget: one train-mode forward per step
    assert abs(r["first_loss"] - math.log(4)) < 0.5 * math.log(4) and len(r["curve"]) == transfer.CHUNKS
    assert r["acc"] > 0.9 and not r["diverged"]
    with pytest.raises(AssertionError, match="diverged"):
        transfer.train_arm(nn.Linear(8, 4), inputs[:80], targets[:80], inputs[80:], targets[80:],
                           lr=1e4, seed=0)


def test_plot_transfer_grid_draws_mean_and_spread_per_arm():
    import matplotlib

    matplotlib.use("Agg")
    from course_utils.plots import plot_transfer_grid

    rows = [{"target": "t", "arm": "a", "k": k, "acc": acc}
            for k, accs in ((5, (0.5, 0.7)), (50, (0.8, 0.8))) for acc in accs]
    rows.append({"target": "t", "arm": "b", "k": 5, "acc": 0.9})  # one seed only: no point drawn
    fig = plot_transfer_grid(rows, [("t", "a title", (5, 50))], ["a", "b"])
    ax = fig.axes[0]
    (line,) = ax.get_lines()[:1]
    assert list(line.get_xdata()) == [5, 50] and list(line.get_ydata()) == [0.6, 0.8]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a"]
    assert ax.get_title() == "a title"


def test_run_cell_refuses_data_not_from_prepare_target():
    targets = torch.arange(10).repeat(2)
    with pytest.raises(KeyError, match="prepare_target"):
        transfer.run_cell("mlp", None, {"layer3": (torch.zeros(20, 4), torch.zeros(20, 4))}, targets, targets,
                          torch.arange(10), lr=0.01, seed=0)


def test_run_cell_refuses_a_native_size_that_is_not_the_datas():
    targets = torch.arange(10).repeat(2)
    data = {"pixels": (torch.zeros(20, 64), torch.zeros(20, 64))}
    with pytest.raises(ValueError, match="pass the native that prepare_target was given"):
        transfer.run_cell("mlp", None, data, targets, targets, torch.arange(10), lr=0.01, seed=0,
                          native=transfer.NATIVE_PIXELS["glyphs"])


def test_at_edge_names_a_chosen_rate_that_beat_its_only_neighbour():
    sweep = [(1e-2, 0.90), (1e-3, 0.80), (1e-1, 0.85)]  # any order
    assert transfer.at_edge(sweep, 1e-2) is None
    assert transfer.at_edge([(1e-3, 0.9), (1e-2, 0.8), (1e-1, 0.7)], 1e-3) == "bottom"
    assert transfer.at_edge([(1e-3, 0.7), (1e-2, 0.8), (1e-1, 0.9)], 1e-1) == "top"
    assert transfer.at_edge([(1e-3, 0.9), (1e-2, 0.9)], 1e-3) is None  # a tie: the neighbour is as good
    assert transfer.at_edge([(1e-3, 0.9)], 1e-3) is None


@pytest.mark.parametrize("name", ["probe-fc", "probe-fc-long", "pixels-logreg"])
def test_run_cell_is_train_arm_on_the_arms_input_standardized_as_the_grid_ran_it(model, name):
    torch.manual_seed(0)
    targets, test_targets = torch.arange(4).repeat(6), torch.arange(4).repeat(2)
    data = {"layer4": (3 + 5 * torch.randn(24, 2048), 3 + 5 * torch.randn(8, 2048)),
            "pixels": (torch.randn(24, 64), torch.randn(8, 64))}
    index = torch.arange(0, 24, 2)
    got = transfer.run_cell(name, model, data, targets, test_targets, index, lr=1e-3, seed=1, check=False)
    arm, standardized = ARMS[name], name != "probe-fc"  # probe-fc alone trains on the raw features
    train, test = data[arm.features][0][index], data[arm.features][1]
    if standardized:
        train, test = transfer.standardize(train, test)
    torch.manual_seed(1)
    head = nn.Linear(train.shape[1], 4)
    want = transfer.train_arm(head, train, targets[index], test, test_targets, lr=1e-3, seed=1, steps=arm.steps,
                              check=False)
    assert (got["curve"], got["acc"], got["first_loss"]) == (want["curve"], want["acc"], want["first_loss"])
