"""Datasets that need no network: a generated *source* task, two small *target* tasks, CIFAR-10.

The subpackage ``course_utils.data`` also holds what makes or reads the course's data:
:mod:`~course_utils.data.glyphs` (the letter generator), :mod:`~course_utils.data.images` (your
own image folders), :mod:`~course_utils.data.corpus` and :mod:`~course_utils.data.text` (text from
Python's standard library).

* :func:`source_dataset` -- the 26 printed capital letters in 16 of the fonts matplotlib ships
  (DejaVu, STIX: :data:`~course_utils.data.glyphs.SOURCE_FONTS`), randomly shifted, rotated, scaled,
  sheared, thickened or thinned, blurred to a low resolution, coloured and noised.
  Generated deterministically, in any quantity.
* :func:`target_dataset` -- ``"glyphs"``, the *near* target: 10 lowercase letters
  (:data:`NEAR_CLASSES`, none of them a capital's look-alike) in the 6 Computer Modern fonts the
  source never sees (:data:`~course_utils.data.glyphs.HELD_OUT_FONTS`), by the same generator;
  ``"digits"``, the *far* target: scikit-learn's 1,797 real handwritten digits (8x8, shipped inside
  scikit-learn); ``"cifar10"`` through torchvision when a network is there.

Every image is a ``(3, image_size, image_size)`` float tensor. Pixels start in [0, 1]; the one
transform the course uses for all datasets, :data:`normalize` (mean 0.5, std 0.25 per channel),
is applied unless another ``transform`` is given, so features learnt on one dataset fit another.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from torchvision import transforms as T

from course_utils.data.glyphs import HELD_OUT_FONTS, SOURCE_FONTS, glyph_masks, render_glyphs

__all__ = ["MEAN", "STD", "normalize", "SOURCE_CLASSES", "DatasetUnavailableError", "CacheNotWritableError",
           "cache_dir", "source_dataset", "target_dataset", "denormalize"]

#: The course's one input transform, for every dataset: [0, 1] pixels -> about [-2, 2].
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
normalize = T.Normalize(MEAN, STD)

#: The source task's classes: the 26 capital letters (no digits, so the target's classes are new).
SOURCE_CLASSES = list(string.ascii_uppercase)
_SOURCE_SEEDS = {"train": 1_000, "test": 2_000}  # distinct streams: no test image is a train image
_CHUNK = 20 * 26  # seeded chunks, each class-balanced; a smaller dataset is a prefix of a larger
SOURCE_SIZES = {"train": 16 * _CHUNK, "test": 4 * _CHUNK}  # 8,320 and 2,080 images
#: The near target's classes: 10 lowercase letters whose shapes differ from every capital
#: (not c, o, s, u, v, w, x, z, whose lowercase is a small capital, nor i, j, k, l, p, t, y).
NEAR_CLASSES = list("abdefghnqr")
NEAR_SIZES = {"train": 50 * len(NEAR_CLASSES), "test": 100 * len(NEAR_CLASSES)}  # 500, 1,000
_NEAR_SEEDS = {"train": 3_000, "test": 4_000}
DIGITS_TRAIN_PER_CLASS = 50  # 500 training images, the rest (1,297) for testing
TARGETS = ("digits", "glyphs", "cifar10")


class DatasetUnavailableError(RuntimeError):
    """A dataset cannot be loaded here (e.g. CIFAR-10 offline); the message says what to do."""


class CacheNotWritableError(OSError):
    """The data cache cannot be created or written; the message names the fix (COURSE_DATA_DIR)."""


def cache_dir() -> Path:
    """Where generated data, downloads and checkpoints live (created if missing).

    ``$COURSE_DATA_DIR`` when set; else ``<repo>/data/cache`` when running from a checkout;
    else ``~/.cache/course_utils``.
    """
    if os.environ.get("COURSE_DATA_DIR"):
        path = Path(os.environ["COURSE_DATA_DIR"]).expanduser()
    else:
        repo = Path(__file__).resolve().parents[2]
        checkout = (repo / "pyproject.toml").is_file() and (repo / "data").is_dir()
        path = repo / "data" / "cache" if checkout else Path.home() / ".cache" / "course_utils"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheNotWritableError(
            f"cannot create the course's data folder {path} ({type(exc).__name__}: {exc}); set "
            "the environment variable COURSE_DATA_DIR to a writable folder") from None
    return path


class ImageTensorDataset(Dataset):
    """Images held in memory as uint8 ``(N, 3, H, W)``, served as floats in [0, 1] + ``transform``."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, classes: list[str],
                 transform: Callable | None = None, name: str = "") -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        self.images, self.targets, self.classes = images, targets.long(), list(classes)
        self.transform = normalize if transform is None else transform
        self.name = name

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index].float() / 255  # (3, H, W) in [0, 1]
        return self.transform(image), int(self.targets[index])

    def __repr__(self) -> str:
        h, w = self.images.shape[-2:]
        return (f"{type(self).__name__}({self.name!r}, {len(self)} images of 3x{h}x{w}, "
                f"{len(self.classes)} classes)")


def _check_size(image_size: int) -> None:
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an int >= 8, got {image_size!r}")


def _check_split(split: str, allowed) -> None:
    if split not in allowed:
        raise ValueError(f"unknown split {split!r}; choose one of {sorted(allowed)}")


# ---------------------------------------------------------------- source: rendered letters

def source_dataset(split: str = "train", *, size: int | None = None, image_size: int = 32,
                   transform: Callable | None = None) -> ImageTensorDataset:
    """The course's generated source task: 26 printed capital letters, ``(3, S, S)`` images.

    Deterministic: the same arguments give the same images on any machine, and a dataset of
    ``size`` n is the first n images of a larger one. ``size`` defaults to
    ``SOURCE_SIZES[split]`` (8,320 train, 2,080 test). ``transform`` defaults to :data:`normalize`;
    pass ``torch.nn.Identity()`` for raw [0, 1] pixels.
    """
    _check_split(split, SOURCE_SIZES)
    _check_size(image_size)
    size = SOURCE_SIZES[split] if size is None else size
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    masks = glyph_masks(tuple(SOURCE_CLASSES), SOURCE_FONTS)
    chunks = [render_glyphs(masks, _CHUNK, image_size, _SOURCE_SEEDS[split] + c)
              for c in range(-(-size // _CHUNK))]
    images = torch.cat([c[0] for c in chunks])[:size]
    labels = torch.cat([c[1] for c in chunks])[:size]
    return ImageTensorDataset(images, labels, SOURCE_CLASSES, transform, name=f"letters/{split}")


# ---------------------------------------------------------------- targets: glyphs, digits, CIFAR-10

def _near_glyphs(split: str, image_size: int, transform: Callable | None) -> ImageTensorDataset:
    _check_split(split, NEAR_SIZES)
    masks = glyph_masks(tuple(NEAR_CLASSES), HELD_OUT_FONTS)
    images, labels = render_glyphs(masks, NEAR_SIZES[split], image_size, _NEAR_SEEDS[split])
    return ImageTensorDataset(images, labels, NEAR_CLASSES, transform, name=f"glyphs/{split}")


def _digits_split() -> dict[str, np.ndarray]:
    """Fixed stratified split of scikit-learn's digits: 50 per class for training, rest test."""
    from sklearn.datasets import load_digits

    y = load_digits().target
    rng = np.random.default_rng(0)
    train = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:DIGITS_TRAIN_PER_CLASS]
                                    for c in range(10)]))
    test = np.setdiff1d(np.arange(len(y)), train)
    return {"train": train, "test": test, "all": np.arange(len(y))}


def _digits(split: str, image_size: int, transform: Callable | None) -> ImageTensorDataset:
    from sklearn.datasets import load_digits

    _check_split(split, ("train", "test", "all"))
    bunch = load_digits()
    index = _digits_split()[split]
    pixels = torch.from_numpy(bunch.images[index]).float()[:, None] / 16  # (N, 1, 8, 8) in [0, 1]
    pixels = F.interpolate(pixels, size=(image_size, image_size), mode="bilinear",
                           align_corners=False).clamp(0, 1)
    images = (pixels.expand(-1, 3, -1, -1) * 255).round().to(torch.uint8)  # grey -> 3 channels
    targets = torch.from_numpy(bunch.target[index])
    return ImageTensorDataset(images, targets, [str(d) for d in range(10)], transform,
                              name=f"digits/{split}")


def _cifar10(split: str, image_size: int, transform: Callable | None, download: bool) -> Dataset:
    from torchvision.datasets import CIFAR10

    _check_split(split, ("train", "test"))
    root = cache_dir() / "cifar10"
    steps = [T.ToTensor()]
    if image_size != 32:
        steps.append(T.Resize(image_size, antialias=True))
    steps.append(normalize if transform is None else transform)
    try:
        return CIFAR10(root, train=split == "train", transform=T.Compose(steps), download=download)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; "not found" a RuntimeError
        how = ("the download failed (no network here?)" if download else
               "it is not downloaded yet (pass download=True on a machine with internet)")
        raise DatasetUnavailableError(
            f"CIFAR-10 is not available in {root}: {how}. On Colab, target_dataset('cifar10', "
            "download=True) fetches it (170 MB); offline, copy cifar-10-python.tar.gz into that "
            f"folder or use target_dataset('digits'), which needs no network. ({type(exc).__name__}: "
            f"{exc})") from None


def target_dataset(name: str = "digits", split: str = "train", *, image_size: int = 32,
                   transform: Callable | None = None, download: bool = False) -> Dataset:
    """A 10-class target task as ``(3, S, S)`` float images (``transform`` defaults to
    :data:`normalize`).

    ``"glyphs"`` (near the source): the lowercase letters :data:`NEAR_CLASSES` in the held-out
    Computer Modern fonts, same generator as the source; ``"train"`` 500 images (50 per class),
    ``"test"`` 1,000 (100 per class), drawn from distinct seeds.
    ``"digits"``: scikit-learn's handwritten digits (no network needed), a fixed stratified split:
    ``"train"`` 500 images (50 per class), ``"test"`` the other 1,297 (``"all"``: 1,797).
    ``"cifar10"``: torchvision's CIFAR-10 under ``cache_dir()/"cifar10"``; ``download=True`` fetches
    it; when it cannot be had, :class:`DatasetUnavailableError` says what to do.
    """
    _check_size(image_size)
    if name == "digits":
        return _digits(split, image_size, transform)
    if name == "glyphs":
        return _near_glyphs(split, image_size, transform)
    if name == "cifar10":
        return _cifar10(split, image_size, transform, download)
    raise ValueError(f"unknown target dataset {name!r}; choose one of {list(TARGETS)}")


def denormalize(images: torch.Tensor) -> torch.Tensor:
    """Undo :data:`normalize` for display: ``(..., 3, H, W)`` -> pixels in [0, 1]."""
    mean = torch.tensor(MEAN, device=images.device).view(3, 1, 1)
    std = torch.tensor(STD, device=images.device).view(3, 1, 1)
    return (images * std + mean).clamp(0, 1)
