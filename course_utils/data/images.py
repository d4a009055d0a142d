"""Your own images: a folder per class, checked before any training starts.

    DIR/cat/001.jpg, DIR/cat/002.png, DIR/dog/xyz.jpeg ...   (torchvision's ImageFolder layout)

:func:`image_folder` returns a dataset of ``(image, class index)`` after checking the layout:
at least two classes, every class with at least one image, every image readable. Files whose
name does not end in an image extension (``.txt``, ``.DS_Store``, ...) are skipped and counted,
never silently trained on; a file with an image extension that cannot be decoded stops the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS

__all__ = ["ImageFolderError", "load_image", "image_folder", "stratified_split"]


class ImageFolderError(ValueError):
    """An image folder cannot be used as it is; the message names the problem and the fix."""


def load_image(path: str | os.PathLike) -> Image.Image:
    """The image at ``path`` as RGB, fully decoded; a clear error when it is not a readable image."""
    path = Path(path)
    if not path.is_file():
        raise ImageFolderError(f"{path}: no such image file")
    try:
        with Image.open(path) as image:
            return image.convert("RGB")  # convert() decodes every pixel: truncation shows here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageFolderError(f"{path} is not a readable image ({type(exc).__name__}: {exc}); "
                               "remove or replace it") from None


class FolderDataset(Dataset):
    """``(transform(image), class index)`` for each ``(path, index)`` in ``samples``."""

    def __init__(self, samples: Sequence[tuple[Path, int]], classes: Sequence[str],
                 transform: Callable | None = None, skipped: int = 0) -> None:
        self.samples, self.classes = list(samples), list(classes)
        self.targets = [y for _, y in self.samples]
        self.transform, self.skipped = transform, skipped

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, target = self.samples[index]
        image = load_image(path)
        return (self.transform(image) if self.transform else image), target


def image_folder(root: str | os.PathLike, transform: Callable | None = None, *,
                 verify: bool = True) -> FolderDataset:
    """The images under ``root/<class>/`` as a dataset; ``classes`` sorted by name.

    ``verify`` decodes every image once now, so a corrupt file is reported before training.
    ``dataset.skipped`` counts the files skipped for not having an image extension.
    """
    root = Path(root)
    if not root.is_dir():
        raise ImageFolderError(f"image folder {root} does not exist (or is not a folder); pass a "
                               "folder with one sub-folder of images per class")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        found = f"only {classes[0]!r}" if classes else "none"
        raise ImageFolderError(f"{root} needs at least 2 class sub-folders (found {found}); "
                               "put each class's images in its own sub-folder, e.g. cat/ and dog/")
    samples, skipped = [], 0
    for index, name in enumerate(classes):
        files = sorted(p for p in (root / name).rglob("*") if p.is_file() and not p.name.startswith("."))
        images = [p for p in files if p.suffix.lower() in IMG_EXTENSIONS]
        skipped += len(files) - len(images)
        if not images:
            raise ImageFolderError(f"class folder {root / name} has no images (extensions: "
                                   f"{', '.join(IMG_EXTENSIONS[:4])}, ...); add some or remove it")
        samples += [(p, index) for p in images]
    if verify:
        for path, _ in samples:
            load_image(path)
    return FolderDataset(samples, classes, transform, skipped)


def stratified_split(targets: Sequence[int], val_fraction: float = 0.2, seed: int = 0,
                     classes: Sequence[str] | None = None) -> tuple[list[int], list[int]]:
    """Indices ``(train, val)``: about ``val_fraction`` of each class held out, seeded.

    Every class keeps at least one training and one validation image, so it needs two.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction!r}")
    targets = torch.as_tensor(list(targets))
    g = torch.Generator().manual_seed(seed)
    train, val = [], []
    for c in targets.unique().tolist():
        members = torch.nonzero(targets == c).flatten()
        if len(members) < 2:
            name = repr(classes[c]) if classes is not None else c
            raise ImageFolderError(f"class {name} has {len(members)} image; holding out a validation "
                                   "part needs at least 2 per class (add images, or pass --val DIR)")
        members = members[torch.randperm(len(members), generator=g)].tolist()
        n_val = min(max(1, round(val_fraction * len(members))), len(members) - 1)
        val += members[:n_val]
        train += members[n_val:]
    return sorted(train), sorted(val)
