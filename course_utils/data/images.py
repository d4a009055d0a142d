"""Your own images: a folder per class, checked before any training starts.

    DIR/cat/001.jpg, DIR/cat/002.png, DIR/dog/xyz.jpeg ...   (torchvision's ImageFolder layout)

:func:`image_folder` returns a dataset of ``(image, class index)`` after checking the layout:
at least two classes, every class with at least one image, every image readable. Files whose
name does not end in an image extension (``.txt``, ``.DS_Store``, ...) are skipped and counted,
never silently trained on; a file with an image extension that cannot be decoded stops the run.
Hidden files and folders (``.thumbnails/``) are left out. A folder of splits (``train/``, ``val/``,
each with the class folders inside) is refused with the fix, not read as two classes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS

__all__ = ["ImageFolderError", "load_image", "image_folder", "stratified_split"]

#: Folder names that name a split of a dataset, not a class of it.
SPLIT_NAMES = {"train", "training", "val", "valid", "validation", "test", "testing", "eval"}


class ImageFolderError(ValueError):
    """An image folder cannot be used as it is; the message names the problem and the fix."""


def load_image(path: str | os.PathLike) -> Image.Image:
    """The image at ``path`` as RGB, fully decoded; a clear error when it is not a readable image."""
    path = Path(path)
    if not path.is_file():
        raise ImageFolderError(f"{path}: no such image file")
    try:
        with Image.open(path) as image:
            if image.mode.startswith("I;16"):  # 16-bit grey (PNG): convert() would clip it at 255, white
                image = Image.fromarray((np.asarray(image, dtype=np.float64) / 257).round().astype(np.uint8))
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
    splits = [name for name in classes if name.lower() in SPLIT_NAMES]
    if len(splits) >= 2 and all(not _image_files(root / name) for name in splits):
        train = next((s for s in splits if s.lower() in ("train", "training")), splits[0])
        val = next((s for s in splits if s != train and s.lower() in ("val", "valid", "validation", "eval")),
                   next(s for s in splits if s != train))
        raise ImageFolderError(f"{root} holds the splits {splits}, not classes: each has its class folders "
                               f"inside; pass one split as the data and another as the validation folder, "
                               f"e.g. --data {root / train} --val {root / val}")
    samples, skipped = [], 0
    for index, name in enumerate(classes):
        folder = root / name
        files = sorted(p for p in folder.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(folder).parts))
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


def _image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder`` (not in its sub-folders)."""
    return [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS]


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
