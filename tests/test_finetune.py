"""course_utils.finetune: freezing (BatchNorm included), parameter groups, feature caching.

PyTorch is the oracle: eval-mode BatchNorm, torch.optim.SGD, and the naive training loop.
"""

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision.models.resnet import BasicBlock, ResNet

from course_utils.finetune import (
    FrozenBatchNorm2d,
    backbone_of,
    extract_features,
    freeze,
    make_optimizer,
    param_groups,
    strategy_lrs,
)
from course_utils.params import count_parameters
from course_utils.training import fit

ROOT = Path(__file__).resolve().parents[1]


def tiny_resnet(num_classes: int = 4) -> nn.Module:
    """A torchvision ResNet (same module names as ResNet-50), small enough for unit tests."""
    torch.manual_seed(0)
    return ResNet(BasicBlock, [1, 1, 1, 1], num_classes=num_classes)


def bn_state(model: nn.Module) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "batches" in k}


# ---------------------------------------------------------------------------- freeze
def test_requires_grad_alone_lets_batchnorm_statistics_move():
    model = tiny_resnet().requires_grad_(False).train()
    before = bn_state(model)
    model(torch.randn(4, 3, 16, 16))
    assert not torch.equal(before["bn1.running_mean"], model.bn1.running_mean)  # the pitfall


def test_freeze_keeps_frozen_batchnorm_statistics_fixed_after_train():
    model = tiny_resnet()
    freeze(model, ["layer4", "fc"])
    model.train()
    before = bn_state(model)
    x = torch.randn(4, 3, 16, 16)
    model(x)
    after = bn_state(model)
    frozen = [k for k in before if not k.startswith("layer4")]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert not torch.equal(before["layer4.0.bn1.running_mean"], after["layer4.0.bn1.running_mean"])
    assert type(model.bn1) is FrozenBatchNorm2d and not model.bn1.training
    assert type(model.layer4[0].bn1) is nn.BatchNorm2d and model.layer4[0].bn1.training
    # a frozen BatchNorm computes exactly what eval mode computes
    reference = nn.BatchNorm2d(model.bn1.num_features).eval()
    reference.load_state_dict(model.bn1.state_dict())
    h = torch.randn(4, model.bn1.num_features, 8, 8)
    torch.testing.assert_close(model.bn1(h), reference(h), rtol=0, atol=0)


def test_freeze_sets_requires_grad_by_name_and_can_be_undone():
    model = tiny_resnet()
    total = count_parameters(model)
    freeze(model, ["fc"])
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"fc.weight", "fc.bias"}
    assert count_parameters(model, trainable_only=True) == model.fc.weight.numel() + 4
    assert count_parameters(model) == total  # nothing removed, only frozen
    freeze(model, ["layer4.0.conv2"])  # dotted names; a new call starts over
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"layer4.0.conv2.weight"}
    freeze(model, None)
    assert all(p.requires_grad for p in model.parameters())
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in model.modules())
    model.train()
    assert model.bn1.training
    # the state dict is the plain model's: it loads into an unfrozen ResNet
    tiny_resnet().load_state_dict(freeze(model, ["fc"]).state_dict())


def test_freeze_rejects_unknown_names_listing_the_valid_ones():
    model = tiny_resnet()
    with pytest.raises(ValueError, match="layer5.*conv1, bn1.*layer4, avgpool, fc"):
        freeze(model, ["layer5"])
    with pytest.raises(TypeError, match=r"\['fc'\]"):
        freeze(model, "fc")
    assert all(p.requires_grad for p in model.parameters())  # nothing changed


# ---------------------------------------------------------------------------- optimizers
def test_param_groups_longest_name_wins_and_frozen_parameters_are_left_out():
    model = freeze(tiny_resnet(), ["layer3", "layer4", "fc"])
    groups = param_groups(model, {"fc": 0.1, "layer4": 0.01, "layer4.0.conv1": 0.5, "*": 0.001})
    by_name = {g["name"]: g for g in groups}
    assert {n: g["lr"] for n, g in by_name.items()} == {"fc": 0.1, "layer4": 0.01,
                                                        "layer4.0.conv1": 0.5, "*": 0.001}

    def ids(module):
        return {id(p) for p in module.parameters()}

    assert {id(p) for p in by_name["*"]["params"]} == ids(model.layer3)
    assert {id(p) for p in by_name["layer4.0.conv1"]["params"]} == ids(model.layer4[0].conv1)
    assert {id(p) for p in by_name["layer4"]["params"]} == ids(model.layer4) - ids(model.layer4[0].conv1)
    assert sum(len(g["params"]) for g in groups) == sum(p.requires_grad for p in model.parameters())


def test_param_groups_errors():
    model = tiny_resnet()
    with pytest.raises(ValueError, match="no learning rate.*'\\*'"):
        param_groups(model, {"fc": 0.1})
    with pytest.raises(ValueError, match="unknown.*head.*fc"):
        param_groups(model, {"head": 0.1, "*": 0.01})


def test_make_optimizer_equals_torch_sgd_over_trainable_parameters():
    torch.manual_seed(1)
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 4, (8,))
    ours = freeze(tiny_resnet(), ["layer4", "fc"])
    theirs = freeze(tiny_resnet(), ["layer4", "fc"])
    opt = make_optimizer(ours, lr=0.1, momentum=0.9, weight_decay=1e-4,
                         lrs={"fc": 0.1, "*": 0.01})
    ref = torch.optim.SGD([{"params": theirs.fc.parameters(), "lr": 0.1},
                           {"params": theirs.layer4.parameters(), "lr": 0.01}],
                          lr=0.1, momentum=0.9, weight_decay=1e-4)
    assert len(opt.param_groups[0]["params"]) + len(opt.param_groups[1]["params"]) == \
        sum(p.requires_grad for p in ours.parameters())
    for model, o in ((ours, opt), (theirs, ref)):
        model.train()
        for _ in range(3):
            o.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            o.step()
    for (n, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        torch.testing.assert_close(a, b, msg=n)
    with pytest.raises(ValueError, match="no trainable"):
        make_optimizer(freeze(tiny_resnet(), []), lr=0.1)


def test_strategy_lrs():
    assert strategy_lrs("full", 0.1) is None
    lrs = strategy_lrs("full-discriminative", 0.03)
    assert lrs["fc"] == 0.03 and lrs["fc"] > lrs["layer4"] > lrs["layer3"] > lrs["*"]
    with pytest.raises(ValueError, match="linear-probe"):
        strategy_lrs("partial", 0.1)


# ---------------------------------------------------------------------------- feature caching
def test_backbone_features_feed_the_head():
    model = tiny_resnet().eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model.fc(backbone_of(model)(x)), model(x))


def test_training_the_head_on_cached_features_equals_the_naive_loop():
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(24, 3, 16, 16), torch.randint(0, 4, (24,)))
    naive, cached = tiny_resnet(), tiny_resnet()
    for model in (naive, cached):
        freeze(model, ["fc"])
    loss_fn = nn.CrossEntropyLoss()

    def loader(ds):
        return DataLoader(ds, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(5))

    # naive: the frozen backbone reruns on every batch of every epoch
    h1 = fit(naive, loader(data), loss_fn, make_optimizer(naive, lr=0.1), epochs=3, progress=False)
    features = extract_features(cached, DataLoader(data, batch_size=10))
    assert features.tensors[0].shape == (24, 512) and torch.equal(features.tensors[1], data.tensors[1])
    h2 = fit(cached.fc, loader(features), loss_fn, make_optimizer(cached.fc, lr=0.1), epochs=3,
             progress=False)
    torch.testing.assert_close(cached.fc.weight, naive.fc.weight, rtol=1e-4, atol=1e-5)
    for a, b in zip(h1, h2):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
    assert bn_state(cached).keys() == bn_state(naive).keys()
    for k, v in bn_state(cached).items():
        assert torch.equal(v, bn_state(tiny_resnet())[k])  # no statistic moved anywhere


def test_extract_features_refuses_a_trainable_backbone():
    with pytest.raises(ValueError, match="freeze"):
        extract_features(freeze(tiny_resnet(), ["layer4", "fc"]), [])


def test_learning_rates_must_be_finite_and_non_negative():
    model = tiny_resnet()
    for bad in (float("nan"), float("inf"), -0.1):
        with pytest.raises(ValueError, match="finite number >= 0"):
            make_optimizer(model, lr=bad)
    with pytest.raises(ValueError, match="learning rate is 1e-3 to 1e-1"):
        make_optimizer(model, lr=-0.1)
    for name in ("momentum", "weight_decay"):  # the learning-rate hint only where it is one
        with pytest.raises(ValueError, match=name) as error:
            make_optimizer(model, lr=0.1, **{name: float("nan")})
        assert "learning rate" not in str(error.value)
    with pytest.raises(ValueError, match=r"lrs\['fc'\]"):
        make_optimizer(model, lr=0.1, lrs={"fc": -1.0, "*": 0.1})  # gradient ascent on the head


def test_lesson_module_imports_only_torch():
    import ast

    tree = ast.parse((ROOT / "course_utils" / "finetune.py").read_text())
    roots = {(n.module if isinstance(n, ast.ImportFrom) else a.name).split(".")[0]
             for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
             for a in (n.names if isinstance(n, ast.Import) else [n])}
    assert roots <= {"torch", "__future__", "math", "typing", "collections"}, roots  # collections.abc: Iterable


# ---------------------------------------------------------------------------- plots used by notebook 05
def test_evaluation_plots_take_plain_data_and_check_shapes():
    import matplotlib

    matplotlib.use("Agg")
    from course_utils.plots import plot_confusion_matrix, plot_histories, plot_prediction_grid

    history = [{"epoch": 1, "train_loss": 1.0, "val_acc": 0.5}, {"epoch": 2, "train_loss": 0.5, "val_acc": 0.7}]
    assert len(plot_histories({"a": history, "b": history}).axes) == 2
    fig = plot_confusion_matrix([[3, 1], [0, 4]], ["x", "y"])
    assert [t.get_text() for t in fig.axes[0].texts] == ["3", "1", "4"]  # zero cells stay blank
    with pytest.raises(ValueError, match="2, 2"):
        plot_confusion_matrix([[1, 2, 3]], ["x", "y"])
    fig = plot_prediction_grid(torch.rand(3, 3, 8, 8), torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]),
                               ["x", "y"], ncols=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["x", "x (true y)", "y"]
    with pytest.raises(ValueError, match="one of each"):
        plot_prediction_grid(torch.rand(3, 8, 8), [0, 1], [0, 1], ["x", "y"])
    with pytest.raises(ValueError, match="at least one run"):
        plot_histories({})
