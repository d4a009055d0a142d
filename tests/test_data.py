"""course_utils.data: deterministic, correctly shaped, correctly labelled datasets; clear errors."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader

from course_utils.data import (
    MEAN,
    NEAR_CLASSES,
    SOURCE_CLASSES,
    STD,
    DatasetUnavailableError,
    cache_dir,
    denormalize,
    normalize,
    source_dataset,
    target_dataset,
)
from course_utils.data.glyphs import HELD_OUT_FONTS, SOURCE_FONTS, glyph_masks

RAW = torch.nn.Identity()


def test_cache_dir_follows_env_and_is_created(tmp_path, monkeypatch):
    where = tmp_path / "somewhere" / "deep"
    monkeypatch.setenv("COURSE_DATA_DIR", str(where))
    assert cache_dir() == where and where.is_dir()


def test_cache_dir_in_a_checkout_is_git_ignored_data_cache(monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    path = cache_dir()
    assert path.parts[-2:] == ("data", "cache") and path.is_dir()


def test_source_shapes_labels_and_range():
    ds = source_dataset("train", size=1040, transform=RAW)
    assert len(ds) == 1040 and ds.classes == SOURCE_CLASSES and len(ds.classes) == 26
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and isinstance(y, int)
    assert ds.targets.min() >= 0 and ds.targets.max() < 26
    assert torch.bincount(ds.targets, minlength=26).tolist() == [40] * 26  # balanced
    assert ds.images.float().std() > 20  # images are not blank


def test_source_is_deterministic_and_a_prefix_of_a_larger_set():
    a = source_dataset("train", size=520)
    b = source_dataset("train", size=1100)
    assert torch.equal(a.images, b.images[:520]) and torch.equal(a.targets, b.targets[:520])
    again = source_dataset("train", size=520)
    assert torch.equal(a.images, again.images)


def test_source_splits_differ_and_size_is_configurable():
    train, test = source_dataset("train", size=64), source_dataset("test", size=64)
    assert not torch.equal(train.images, test.images)
    small = source_dataset("test", size=10, image_size=16)
    assert small[3][0].shape == (3, 16, 16)


def test_default_transform_is_the_course_normalization():
    raw, normed = source_dataset("test", size=8, transform=RAW), source_dataset("test", size=8)
    x_raw, x_norm = raw[5][0], normed[5][0]
    expected = (x_raw - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    torch.testing.assert_close(x_norm, expected)
    torch.testing.assert_close(x_norm, normalize(x_raw))
    torch.testing.assert_close(denormalize(x_norm), x_raw)


def test_digits_split_is_fixed_stratified_and_disjoint():
    train, test = target_dataset("digits", "train"), target_dataset("digits", "test")
    assert (len(train), len(test)) == (500, 1297)
    assert torch.bincount(train.targets).tolist() == [50] * 10
    assert train.classes == [str(d) for d in range(10)]
    both = torch.cat([train.images.flatten(1), test.images.flatten(1)])
    assert len(torch.unique(both, dim=0)) >= len(both) - 5  # (sklearn has a few duplicate images)
    assert torch.equal(train.images, target_dataset("digits", "train").images)


def test_digits_pixels_and_labels_match_scikit_learn():
    # At 8 px no resizing happens: our images are sklearn's, scaled 0..16 -> 0..1, on 3 channels.
    ds = target_dataset("digits", "all", image_size=8, transform=RAW)
    bunch = load_digits()
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    assert x.shape == (1797, 3, 8, 8)
    expected = torch.from_numpy(bunch.images / 16).float()[:, None].expand(-1, 3, -1, -1)
    torch.testing.assert_close(x, expected, atol=0.5 / 255 + 1e-6, rtol=0)
    assert np.array_equal(ds.targets.numpy(), bunch.target)


def test_datasets_batch_in_a_dataloader():
    loader = DataLoader(target_dataset("digits", "test"), batch_size=32)
    images, targets = next(iter(loader))
    assert images.shape == (32, 3, 32, 32) and targets.dtype == torch.int64


def test_fonts_split_and_every_target_has_classes_the_source_lacks():
    assert not set(SOURCE_FONTS) & set(HELD_OUT_FONTS) and len(HELD_OUT_FONTS) >= 4
    digits = target_dataset("digits", "train").classes
    for target in (NEAR_CLASSES, digits):
        assert not set(target) & set(SOURCE_CLASSES), target
    assert not set(NEAR_CLASSES) & set(digits) and len(NEAR_CLASSES) == 10


@pytest.mark.parametrize("chars, fonts", [(SOURCE_CLASSES, SOURCE_FONTS),
                                          (NEAR_CLASSES, HELD_OUT_FONTS)])
def test_every_glyph_renders_in_every_font_it_is_used_in(chars, fonts):
    masks = glyph_masks(tuple(chars), tuple(fonts))  # (classes, fonts, 64, 64)
    ink = masks.sum((2, 3))
    assert (ink > 20).all(), "a glyph came out (nearly) blank"
    for j, font in enumerate(fonts):  # within a font, no two characters draw the same shape
        flat = masks[:, j].flatten(1)
        gaps = torch.cdist(flat, flat, p=1) + torch.eye(len(chars)) * 1e9
        assert gaps.min() > 20, (font, gaps.min())


def test_a_missing_glyph_is_refused_not_drawn_as_a_box():
    with pytest.raises(ValueError, match="no glyph for 'α'"):
        glyph_masks(("a", "α"), ("cmr10",))


def test_near_target_splits_are_balanced_deterministic_and_new():
    train, test = target_dataset("glyphs", "train"), target_dataset("glyphs", "test")
    assert (len(train), len(test)) == (500, 1000) and train.classes == NEAR_CLASSES
    assert torch.bincount(train.targets).tolist() == [50] * 10
    assert torch.bincount(test.targets).tolist() == [100] * 10
    assert torch.equal(train.images, target_dataset("glyphs", "train").images)
    both = torch.cat([train.images.flatten(1), test.images.flatten(1)])
    assert len(torch.unique(both, dim=0)) == len(both)  # no test image is a train image
    assert train[0][0].shape == (3, 32, 32) and train.images.float().std() > 20


@pytest.mark.parametrize("download", [False, True])
def test_cifar10_offline_is_a_clear_error(tmp_path, monkeypatch, download):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    if download:  # no network in CI; simulate it anyway so the test never downloads 170 MB
        import urllib.request

        def offline(*args, **kwargs):
            raise urllib.error.URLError("Name or service not known")

        monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetUnavailableError) as info:
        target_dataset("cifar10", "train", download=download)
    message = str(info.value)
    assert "CIFAR-10" in message and str(tmp_path) in message and "digits" in message
    assert "download=True" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no URLError stack


@pytest.mark.parametrize("call, words", [
    (lambda: target_dataset("mnist"), "unknown target dataset 'mnist'"),
    (lambda: target_dataset("digits", "val"), "unknown split 'val'"),
    (lambda: source_dataset("valid"), "unknown split 'valid'"),
    (lambda: source_dataset(size=0), "size must be a positive int"),
    (lambda: source_dataset(image_size=4), "image_size must be an int >= 8"),
    (lambda: target_dataset("glyphs", "all"), "unknown split 'all'"),
])
def test_bad_arguments_say_what_is_allowed(call, words):
    with pytest.raises(ValueError, match=words):
        call()
