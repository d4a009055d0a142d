"""course_utils.experiments.transfer: stage features against torchvision's forward, the sanity check, one budget."""

import math

import pytest
import torch
from torch import nn
from torchvision.models import resnet50

from course_utils.experiments import transfer


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return resnet50(weights=None, num_classes=26).eval()


def test_stage_features_layer4_is_what_fc_sees(model):
    images = torch.randn(3, 3, 32, 32)
    seen = {}
    model.fc.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    feats = transfer.stage_features(model, images, keep_maps=["layer3"], batch_size=2)
    model.eval()
    model(images)  # torchvision's own forward, the oracle
    torch.testing.assert_close(feats["layer4"], seen["x"], rtol=1e-4, atol=1e-4)  # other batch sizes
    assert model.layer4(feats["layer3_maps"]).mean(dim=(2, 3)).allclose(feats["layer4"], atol=1e-5)
    assert [feats[s].shape[1] for s in transfer.STAGES] == [256, 512, 1024, 2048]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # nothing moved


def test_stage_features_rejects_bad_input(model):
    with pytest.raises(ValueError, match="keep_maps"):
        transfer.stage_features(model, torch.randn(1, 3, 32, 32), keep_maps=["layer5"])
    with pytest.raises(ValueError, match="torchvision ResNet"):
        transfer.stage_features(nn.Linear(2, 2), torch.randn(1, 2))


def test_standardize_uses_train_statistics_and_floors_dead_features():
    train = torch.cat([torch.randn(50, 3) * torch.tensor([1.0, 5.0, 0.2]) + 3, torch.zeros(50, 1)], 1)
    test = torch.ones(4, 4)
    a, b = transfer.standardize(train, test)
    torch.testing.assert_close(a[:, :3].mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(a[:, :3].std(0), torch.ones(3))
    expected = (test[:, :3] - train[:, :3].mean(0)) / train[:, :3].std(0)
    torch.testing.assert_close(b[:, :3], expected)
    assert b[:, 3].abs().max() < 100  # a constant column is not divided by ~0


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


def test_build_arm_shapes(model):
    for arm, key, shape in [("pixels-logreg", "pixels", (2, 64)), ("mlp", "pixels", (2, 64)),
                            ("small-cnn", "images", (2, 3, 32, 32)), ("probe-layer2", "layer2", (2, 512)),
                            ("last-stage", "layer3_maps", (2, 1024, 2, 2)),
                            ("cut-layer3", "images", (2, 3, 32, 32))]:
        built, got_key = transfer.build_arm(arm, model, 7, seed=0)
        assert got_key == key and built.eval()(torch.randn(shape)).shape == (2, 7), arm
    assert sum(p.numel() for p in transfer.build_arm("mlp", model, 10, 0)[0].parameters()) == 9_610
    cut, _ = transfer.build_arm("cut-layer3", model, 10, 0)  # conv1..layer3 of the source, copied
    kept = {n: p for n, p in model.named_parameters() if not n.startswith(("layer4", "fc"))}
    assert sum(p.numel() for p in cut.parameters()) == sum(p.numel() for p in kept.values()) + 1024 * 10 + 10
    assert all(p.requires_grad for p in cut.parameters())
    torch.testing.assert_close(cut[0].weight, model.conv1.weight)
    assert cut[0].weight is not model.conv1.weight
    with pytest.raises(ValueError, match="unknown arm"):
        transfer.build_arm("probe-layer9x", model, 10, 0)


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


def test_a_long_arm_is_its_short_arm_with_more_steps():
    assert transfer.budget("full-long") == ("full", transfer.LONG_STEPS)
    assert transfer.budget("full") == ("full", transfer.STEPS)
    for arm in transfer.TRANSFER_ARMS + transfer.BASELINE_ARMS:
        assert transfer.lr_candidates(arm) == transfer.lr_candidates(transfer.budget(arm)[0])


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


def test_an_augmented_arm_is_its_long_arm_behind_random_affine(model):
    from course_utils.augment import RandomAffine

    assert transfer.budget("cut-layer3-aug") == ("cut-layer3", transfer.LONG_STEPS)
    assert [transfer.rule(a) for a in ("full", "full-long", "full-aug")] == ["short budget", "long budget", "augmented"]
    images = torch.randn(6, 3, 32, 32)
    for arm in ("small-cnn", "cut-layer3"):
        augmented, key = transfer.build_arm(arm + "-aug", model, 10, seed=3)
        plain, _ = transfer.build_arm(arm + "-long", model, 10, seed=3)
        assert key == "images" and isinstance(augmented[0], RandomAffine)
        torch.testing.assert_close(augmented.eval()(images), plain.eval()(images), rtol=0, atol=0)
    # a pixel model pools and standardizes each image itself, as prepare_target + run_cell do
    augmented, key = transfer.build_arm("mlp-aug", model, 10, seed=3)
    plain, plain_key = transfer.build_arm("mlp-long", model, 10, seed=3)
    assert (key, plain_key) == ("images", "pixels")
    augmented[1][1].fit(transfer.pixels(images))
    torch.testing.assert_close(augmented.eval()(images), plain(transfer.standardize(transfer.pixels(images))[0]),
                               rtol=1e-5, atol=1e-6)
    torch.manual_seed(0)
    assert not torch.allclose(augmented.train()(images), plain(transfer.standardize(transfer.pixels(images))[0]))


def test_an_arm_on_cached_features_cannot_be_augmented(model, monkeypatch):
    monkeypatch.setattr(transfer, "TRANSFER_ARMS", transfer.TRANSFER_ARMS + ("probe-layer3-aug",))
    with pytest.raises(ValueError, match="only an arm that trains on images can be augmented"):
        transfer.build_arm("probe-layer3-aug", model, 10, seed=0)


def test_at_edge_names_a_chosen_rate_that_beat_its_only_neighbour():
    sweep = [(1e-2, 0.90), (1e-3, 0.80), (1e-1, 0.85)]  # any order
    assert transfer.at_edge(sweep, 1e-2) is None
    assert transfer.at_edge([(1e-3, 0.9), (1e-2, 0.8), (1e-1, 0.7)], 1e-3) == "bottom"
    assert transfer.at_edge([(1e-3, 0.7), (1e-2, 0.8), (1e-1, 0.9)], 1e-1) == "top"
    assert transfer.at_edge([(1e-3, 0.9), (1e-2, 0.9)], 1e-3) is None  # a tie: the neighbour is as good
    assert transfer.at_edge([(1e-3, 0.9)], 1e-3) is None
