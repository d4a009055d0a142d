"""Data augmentation as a layer: every training batch a new random view of each image.

    model = nn.Sequential(RandomAffine(), body)
    model.train()   # each image rotated, rescaled and shifted at random, anew every step
    model.eval()    # the identity: test images are seen as they are

Like ``nn.Dropout``, it acts only in training mode, so any training loop applies it unchanged and
evaluation never sees it. It draws one transform *per image*, from torch's global generator (seed
it for a reproducible run); ``torchvision.transforms.v2.RandomAffine`` draws one per call, which
on a batch gives every image the same transform.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["RandomAffine"]


class RandomAffine(nn.Module):
    """Rotate each image by up to ``degrees``, rescale it by a factor in 1 ± ``scale`` and shift it
    by up to ``shift`` of its width and height, uniformly at random (train mode only).

    Input and output (N, C, H, W). What moves into the frame from outside is each image's own
    background: the smallest value of each of its channels (black, after normalization).
    """

    def __init__(self, degrees: float = 12.0, scale: float = 0.1, shift: float = 0.05):
        super().__init__()
        if not (degrees >= 0 and 0 <= scale < 1 and 0 <= shift < 0.5):
            raise ValueError(f"RandomAffine needs degrees >= 0, 0 <= scale < 1 and 0 <= shift < 0.5; "
                             f"got degrees={degrees}, scale={scale}, shift={shift}")
        self.degrees, self.scale, self.shift = degrees, scale, shift

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return images
        n = images.shape[0]

        def uniform(*shape):  # in [-1, 1)
            return torch.rand(*shape, device=images.device) * 2 - 1

        return affine(images, uniform(n) * math.radians(self.degrees), 1 + uniform(n) * self.scale,
                      uniform(n, 2) * self.shift)

    def extra_repr(self) -> str:
        return f"degrees={self.degrees}, scale={self.scale}, shift={self.shift}"


def affine(images: torch.Tensor, angle: torch.Tensor, zoom: torch.Tensor,
           shift: torch.Tensor) -> torch.Tensor:
    """Each image's content turned counter-clockwise (as displayed) by ``angle[n]`` radians, grown
    by ``zoom[n]`` about the centre and moved by ``-shift[n]`` (fractions of the width and the
    height: as if the camera moved by ``shift[n]``).

    ``images`` (N, C, H, W); ``angle``, ``zoom`` (N,); ``shift`` (N, 2). Bilinear; what comes into
    the frame from outside is each image's background (the smallest value of each channel).
    """
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    offset = 2 * shift  # affine_grid's coordinates run from -1 to 1 across the image
    # theta maps each output position to where it reads the input: [[cos, -sin, x], [sin, cos, y]]
    theta = torch.stack([torch.stack([cos, -sin, offset[:, 0]], 1),
                         torch.stack([sin, cos, offset[:, 1]], 1)], 1).to(images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    background = images.amin(dim=(2, 3), keepdim=True)
    return F.grid_sample(images - background, grid, align_corners=False) + background
