"""RandomAffine and affine, checked against exact rotations and shifts done with torch.rot90/roll."""
import math

import pytest
import torch

from course_utils.augment import RandomAffine, affine


def test_eval_mode_is_the_identity_and_a_zero_range_changes_nothing():
    images = torch.randn(4, 3, 8, 8)
    assert RandomAffine().eval()(images) is images
    torch.testing.assert_close(RandomAffine(0, 0, 0).train()(images), images, rtol=0, atol=1e-5)


def test_a_quarter_turn_is_rot90():
    images = torch.randn(2, 3, 6, 6)
    turned = affine(images, torch.full((2,), math.pi / 2), torch.ones(2), torch.zeros(2, 2))
    torch.testing.assert_close(turned, torch.rot90(images, 1, dims=(2, 3)), rtol=0, atol=1e-5)


def test_a_shift_of_one_pixel_is_a_roll_with_the_background_coming_in():
    images = torch.full((1, 1, 6, 6), -1.0)  # a background of -1, as after normalization
    images[0, 0, 2, 1:5] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    moved = affine(images, torch.zeros(1), torch.ones(1), torch.tensor([[1 / 6, 0.0]]))
    expected = torch.roll(images, -1, dims=3)  # content one pixel to the left
    expected[..., -1] = -1.0  # what comes in from outside is the background, not 0
    torch.testing.assert_close(moved, expected, rtol=0, atol=1e-5)


def test_a_zoom_grows_the_content_about_the_centre():
    images = torch.zeros(1, 1, 8, 8)
    images[0, 0, 3:5, 3:5] = 1.0  # a 2x2 square in the middle
    grown = affine(images, torch.zeros(1), torch.full((1,), 2.0), torch.zeros(1, 2))
    # twice as wide and high: four times the area (bilinear sampling keeps the sum of the pixels)
    torch.testing.assert_close(grown.sum(), 4 * images.sum(), rtol=0, atol=1e-4)
    assert grown[0, 0, 0].abs().max() < 1e-6 and (grown[0, 0, 2:6, 2:6] > 0.5).all()
    torch.testing.assert_close(grown[0, 0], grown[0, 0].flip(0).flip(1))  # still centred


def test_each_image_gets_its_own_transform_and_a_seed_repeats_them():
    images = torch.randn(1, 3, 16, 16).expand(6, -1, -1, -1)
    layer = RandomAffine().train()
    torch.manual_seed(0)
    first = layer(images)
    assert all(not torch.allclose(first[0], first[i]) for i in range(1, 6))
    torch.manual_seed(0)
    torch.testing.assert_close(layer(images), first, rtol=0, atol=0)


@pytest.mark.parametrize("kwargs", [{"degrees": -1}, {"scale": 1.0}, {"shift": 0.5}])
def test_bad_ranges_are_refused(kwargs):
    with pytest.raises(ValueError, match="RandomAffine needs"):
        RandomAffine(**kwargs)
