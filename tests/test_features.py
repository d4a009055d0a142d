"""course_utils.experiments.features: stage features against torchvision's forward, standardization, pixels."""

import pytest
import torch
from torch import nn
from torchvision.models import resnet50

from course_utils.experiments import features, transfer


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
    feats = features.stage_features(model, images, keep_maps=["layer3"], batch_size=2)
    model.eval()
    model(images)  # torchvision's own forward, the oracle
    torch.testing.assert_close(feats["layer4"], seen["x"], rtol=1e-4, atol=1e-4)  # other batch sizes
    assert model.layer4(feats["layer3_maps"]).mean(dim=(2, 3)).allclose(feats["layer4"], atol=1e-5)
    assert [feats[s].shape[1] for s in features.STAGES] == [256, 512, 1024, 2048]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # nothing moved


def test_stage_features_rejects_bad_input(model):
    with pytest.raises(ValueError, match="keep_maps"):
        features.stage_features(model, torch.randn(1, 3, 32, 32), keep_maps=["layer5"])
    with pytest.raises(ValueError, match="torchvision ResNet"):
        features.stage_features(nn.Linear(2, 2), torch.randn(1, 2))


def test_standardize_uses_train_statistics_and_floors_dead_features():
    train = torch.cat([torch.randn(50, 3) * torch.tensor([1.0, 5.0, 0.2]) + 3, torch.zeros(50, 1)], 1)
    test = torch.ones(4, 4)
    a, b = features.standardize(train, test)
    torch.testing.assert_close(a[:, :3].mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(a[:, :3].std(0), torch.ones(3))
    expected = (test[:, :3] - train[:, :3].mean(0)) / train[:, :3].std(0)
    torch.testing.assert_close(b[:, :3], expected)
    assert b[:, 3].abs().max() < 100  # a constant column is not divided by ~0



def test_prepare_target_computes_every_input_once(model):
    images, test_images = torch.randn(5, 3, 32, 32), torch.randn(3, 3, 32, 32)
    data = features.prepare_target(model, images, test_images, native=features.NATIVE_PIXELS["glyphs"])
    assert {k: tuple(v[0].shape) for k, v in data.items()} == {
        "layer1": (5, 256), "layer2": (5, 512), "layer3": (5, 1024), "layer4": (5, 2048),
        "layer3_maps": (5, 1024, 2, 2), "images": (5, 3, 32, 32), "pixels": (5, 3072)}
    assert all(len(test) == 3 for _, test in data.values())
    torch.testing.assert_close(data["pixels"][1], features.Pixels(32, 3)(test_images), rtol=0, atol=0)
    digits = features.pixels(images)  # the default: the digits' 8x8 grey, the mean of 4x4 blocks of channel 0
    torch.testing.assert_close(digits[:, 0], images[:, 0, :4, :4].mean(dim=(1, 2)))
    # the command line and stage_probe import these through transfer
    assert (transfer.stage_features, transfer.STAGES, transfer.Standardize) == (
        features.stage_features, features.STAGES, features.Standardize)
