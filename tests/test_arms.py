"""course_utils.experiments.arms: the grid's arms as a table, pinned to what the grid was run with.

The names are the keys of the committed grid CSVs, so every arm must keep its budget, its
learning rates, its input and its model: :data:`AS_RUN` is what the arms were when the grid ran
(written down from the code that parsed the names by suffix, before the table replaced it).
"""

import pytest
import torch
from torchvision.models import resnet50

from course_utils.augment import RandomAffine
from course_utils.experiments import arms, transfer
from course_utils.experiments.arms import ARMS, Arm, build_arm, get_arm, lr_candidates, rule
from course_utils.experiments.features import Pixels, Standardize, pixels, standardize

DEEP, CONV = (1e-4, 3e-4, 1e-3), (3e-4, 1e-3, 3e-3, 1e-2)
CNN, SHALLOW, WIDE = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1), (3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1), (1e-4, 3e-4, 1e-3, 3e-3)
#: name: (steps, rule, lrs on 64 pixels, lrs on 3,072 pixels, input key, standardized by run_cell,
#:        parameters and modules of the model built for 10 classes from a ResNet-50)
AS_RUN = {
    "probe-fc": (24, "short budget", SHALLOW, SHALLOW, "layer4", False, 20_490, 1),
    "probe-layer1": (24, "short budget", SHALLOW, SHALLOW, "layer1", True, 2_570, 1),
    "probe-layer2": (24, "short budget", SHALLOW, SHALLOW, "layer2", True, 5_130, 1),
    "probe-layer3": (24, "short budget", SHALLOW, SHALLOW, "layer3", True, 10_250, 1),
    "probe-layer4": (24, "short budget", SHALLOW, SHALLOW, "layer4", True, 20_490, 1),
    "last-stage": (24, "short budget", DEEP, DEEP, "layer3_maps", False, 14_985_226, 32),
    "full": (24, "short budget", DEEP, DEEP, "images", False, 23_528_522, 151),
    "cut-layer3": (24, "short budget", CONV, CONV, "images", False, 8_553_546, 124),
    "probe-fc-long": (384, "long budget", SHALLOW, SHALLOW, "layer4", True, 20_490, 1),
    "probe-layer3-long": (384, "long budget", SHALLOW, SHALLOW, "layer3", True, 10_250, 1),
    "last-stage-long": (384, "long budget", DEEP, DEEP, "layer3_maps", False, 14_985_226, 32),
    "full-long": (384, "long budget", DEEP, DEEP, "images", False, 23_528_522, 151),
    "cut-layer3-long": (384, "long budget", CONV, CONV, "images", False, 8_553_546, 124),
    "full-aug": (384, "augmented", DEEP, DEEP, "images", False, 23_528_522, 153),
    "cut-layer3-aug": (384, "augmented", CONV, CONV, "images", False, 8_553_546, 126),
    "pixels-logreg": (24, "short budget", SHALLOW, WIDE, "pixels", True, 650, 1),
    "mlp": (24, "short budget", SHALLOW, WIDE, "pixels", True, 9_610, 4),
    "small-cnn": (24, "short budget", CNN, CNN, "images", False, 24_458, 15),
    "resnet50-scratch": (24, "short budget", CONV, CONV, "images", False, 23_528_522, 151),
    "pixels-logreg-long": (384, "long budget", SHALLOW, WIDE, "pixels", True, 650, 1),
    "mlp-long": (384, "long budget", SHALLOW, WIDE, "pixels", True, 9_610, 4),
    "small-cnn-long": (384, "long budget", CNN, CNN, "images", False, 24_458, 15),
    "resnet50-scratch-long": (384, "long budget", CONV, CONV, "images", False, 23_528_522, 151),
    "pixels-logreg-aug": (384, "augmented", SHALLOW, WIDE, "images", False, 650, 6),
    "mlp-aug": (384, "augmented", SHALLOW, WIDE, "images", False, 9_610, 9),
    "small-cnn-aug": (384, "augmented", CNN, CNN, "images", False, 24_458, 17),
    "resnet50-scratch-aug": (384, "augmented", CONV, CONV, "images", False, 23_528_522, 153),
}
TRANSFER = tuple(AS_RUN)[:15]  # the grid's order: notebook 05 prints its tables in it
BASELINES = tuple(AS_RUN)[15:]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return resnet50(weights=None, num_classes=26).eval()


def test_the_table_holds_every_arm_of_the_grid_in_its_order():
    assert tuple(ARMS) == tuple(AS_RUN) and all(a.name == name for name, a in ARMS.items())
    assert (arms.TRANSFER_ARMS, arms.BASELINE_ARMS) == (TRANSFER, BASELINES)
    assert (transfer.TRANSFER_ARMS, transfer.rule, transfer.build_arm) == (TRANSFER, rule, build_arm)  # notebook 05
    assert {r["arm"] for r in transfer.read_grid()} == set(ARMS)  # the committed grid's keys


@pytest.mark.parametrize("name", AS_RUN)
def test_every_arm_keeps_the_budget_rule_and_learning_rates_it_ran_with(name):
    steps, budget_rule, lrs, lrs_wide, key, standardized, _, _ = AS_RUN[name]
    arm = ARMS[name]
    assert (arm.steps, arm.rule, rule(name), rule(arm)) == (steps, budget_rule, budget_rule, budget_rule)
    assert lr_candidates(name) == lr_candidates(arm, pixel_features=256) == lrs
    assert lr_candidates(name, pixel_features=3072) == lrs_wide
    assert arm.augment == (budget_rule == "augmented")
    assert (arm.standardize and not arm.augment) == standardized  # what run_cell does to the input
    assert get_arm(name) is arm and get_arm(arm) is arm


def test_every_arm_builds_the_model_it_ran_with(model):
    for name, (*_, key, _, n_params, n_modules) in AS_RUN.items():
        built, got_key = build_arm(name, model, 10, seed=0)
        assert got_key == key, name
        assert sum(p.numel() for p in built.parameters()) == n_params, name
        assert len(list(built.modules())) == n_modules, name
        assert all(p.requires_grad for p in built.parameters()), name
    for name, n_params in (("pixels-logreg", 3072 * 10 + 10), ("mlp-aug", 3072 * 128 + 128 + 128 * 10 + 10)):
        built, _ = build_arm(name, model, 10, seed=0, native=(32, 3))  # the glyphs: 32x32 colour pixels
        assert sum(p.numel() for p in built.parameters()) == n_params, name


def test_a_long_arm_is_its_short_arm_under_another_rule(model):
    for name, arm in ARMS.items():
        short = ARMS[name.removesuffix("-long").removesuffix("-aug")]
        assert short.rule == "short budget" and short.under(arm.rule).name == name
        assert (arm.model, arm.features, arm.lrs, arm.transfer) == (short.model, short.features, short.lrs,
                                                                  short.transfer), name
        if name != "probe-fc-long":  # standardized, unlike probe-fc: as the grid ran it
            assert arm == short.under(arm.rule), name
    assert ARMS["probe-fc-long"].standardize and not ARMS["probe-fc"].standardize
    images = torch.randn(2, 3, 32, 32)
    for name in ("small-cnn", "cut-layer3"):  # the same weights for the same seed
        short, long = build_arm(name, model, 10, seed=5)[0].eval(), build_arm(name + "-long", model, 10, seed=5)[0]
        torch.testing.assert_close(short(images), long.eval()(images), rtol=0, atol=0)
    with pytest.raises(ValueError, match="already under the long budget rule"):
        ARMS["full-long"].under("augmented")


def test_unknown_arms_are_refused_with_the_valid_names(model):
    for call in (lambda: get_arm("probe-layer9x"), lambda: rule("full-longer"), lambda: lr_candidates("mlp-aug2"),
                 lambda: build_arm("probe-layer9x", model, 10, 0),
                 lambda: transfer.run_cell("Full", model, {}, torch.zeros(2), torch.zeros(2), torch.arange(2),
                                           lr=0.1, seed=0)):
        with pytest.raises(ValueError, match=r"unknown arm '.*'; the arms are: probe-fc, probe-layer1, .*, "
                                             r"resnet50-scratch-aug$"):
            call()


def test_an_arm_that_cannot_be_built_is_refused_when_it_is_defined():
    with pytest.raises(ValueError, match="only an arm that trains on images can be augmented"):
        ARMS["probe-layer3"].under("augmented")
    with pytest.raises(ValueError, match="only an arm that trains on images can be augmented"):
        Arm("last-stage-aug", "last-stage", "layer3_maps", "deep", rule="augmented")
    with pytest.raises(ValueError, match="a small-cnn model reads"):
        Arm("cnn-on-features", "small-cnn", "layer3", "cnn")
    with pytest.raises(ValueError, match="only flat features"):
        Arm("full-std", "full", "images", "deep", standardize=True)
    with pytest.raises(ValueError, match="unknown lrs 'huge'"):
        Arm("probe", "linear", "layer3", "huge")
    with pytest.raises(ValueError, match="unknown rule"):
        Arm("probe", "linear", "layer3", "shallow", rule="long")


def test_build_arm_shapes_and_a_new_arm(model):
    for name, shape in [("pixels-logreg", (2, 64)), ("mlp", (2, 64)), ("small-cnn", (2, 3, 32, 32)),
                        ("probe-layer2", (2, 512)), ("last-stage", (2, 1024, 2, 2)), ("cut-layer3", (2, 3, 32, 32))]:
        built, _ = build_arm(name, model, 7, seed=0)
        assert built.eval()(torch.randn(shape)).shape == (2, 7), name
    cut, _ = build_arm("cut-layer3", model, 10, 0)  # conv1..layer3 of the source, copied
    kept = {n: p for n, p in model.named_parameters() if not n.startswith(("layer4", "fc"))}
    assert sum(p.numel() for p in cut.parameters()) == sum(p.numel() for p in kept.values()) + 1024 * 10 + 10
    torch.testing.assert_close(cut[0].weight, model.conv1.weight)
    assert cut[0].weight is not model.conv1.weight
    mlp_on_layer2 = Arm("mlp-layer2", "mlp", "layer2", "shallow", standardize=True)  # not in the grid, built alike
    built, key = build_arm(mlp_on_layer2, model, 7, seed=0)
    assert key == "layer2" and built[0].in_features == 512


def test_an_augmented_arm_is_its_long_arm_behind_random_affine(model):
    images = torch.randn(6, 3, 32, 32)
    for name in ("small-cnn", "cut-layer3"):
        augmented, key = build_arm(name + "-aug", model, 10, seed=3)
        plain, _ = build_arm(name + "-long", model, 10, seed=3)
        assert key == "images" and isinstance(augmented[0], RandomAffine)
        torch.testing.assert_close(augmented.eval()(images), plain.eval()(images), rtol=0, atol=0)
    # a pixel model pools and standardizes each image itself, as prepare_target + run_cell do
    augmented, key = build_arm("mlp-aug", model, 10, seed=3)
    plain, plain_key = build_arm("mlp-long", model, 10, seed=3)
    assert (key, plain_key) == ("images", "pixels")
    assert [type(m) for m in augmented[1][:2]] == [Pixels, Standardize]
    augmented[1][1].fit(pixels(images))
    torch.testing.assert_close(augmented.eval()(images), plain(standardize(pixels(images))[0]), rtol=1e-5, atol=1e-6)
    torch.manual_seed(0)
    assert not torch.allclose(augmented.train()(images), plain(standardize(pixels(images))[0]))
