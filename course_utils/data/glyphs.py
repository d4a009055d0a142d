"""Printed glyphs in the fonts matplotlib ships, randomly distorted: the generator behind the
course's source task (capital letters) and its *near* target (lowercase letters, unseen fonts).

The fonts are split in two disjoint sets. :data:`SOURCE_FONTS` (DejaVu and STIX) render the
source task; :data:`HELD_OUT_FONTS` (the whole Computer Modern family) are never used by it, so
a target rendered in them is new both in its classes and in its typefaces.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["SOURCE_FONTS", "HELD_OUT_FONTS", "glyph_masks", "render_glyphs"]

#: 16 fonts for the source task: DejaVu Sans/Serif/Mono and STIX, each regular, bold, italic.
SOURCE_FONTS = ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
                "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic",
                "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique",
                "DejaVuSansMono-BoldOblique", "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic",
                "STIXGeneralBolIta")
#: 6 fonts the source never sees: Computer Modern roman, bold, sans, typewriter, italic, math italic.
HELD_OUT_FONTS = ("cmr10", "cmb10", "cmss10", "cmtt10", "cmti10", "cmmi10")


def font_path(name: str) -> Path:
    """The ``.ttf`` file of one of matplotlib's bundled fonts."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / f"{name}.ttf"


@lru_cache(maxsize=4)
def glyph_masks(chars: tuple[str, ...], fonts: tuple[str, ...], canvas: int = 64) -> torch.Tensor:
    """Ink masks ``(len(chars), len(fonts), canvas, canvas)`` in [0, 1]; each glyph centred, its
    longest side 3/4 of the canvas. A character a font lacks is refused (no blank or tofu box)."""
    from matplotlib.ft2font import FT2Font

    out = torch.zeros(len(chars), len(fonts), canvas, canvas)
    for j, name in enumerate(fonts):
        font = FT2Font(str(font_path(name)))
        for i, char in enumerate(chars):
            if font.get_char_index(ord(char)) == 0:  # index 0 is the font's "missing glyph" box
                raise ValueError(f"font {name!r} has no glyph for {char!r}; choose characters "
                                 "every font renders")
            font.set_size(48, 72)
            font.set_text(char, 0.0)
            font.draw_glyphs_to_bitmap()
            bitmap = torch.from_numpy(np.asarray(font.get_image(), dtype=np.float32) / 255)
            if bitmap.sum() == 0:
                raise ValueError(f"font {name!r} draws {char!r} with no ink")
            rows, cols = bitmap.sum(1).nonzero(), bitmap.sum(0).nonzero()
            bitmap = bitmap[rows.min():rows.max() + 1, cols.min():cols.max() + 1]  # tight box
            scale = 0.75 * canvas / max(bitmap.shape)
            h, w = (max(1, round(s * scale)) for s in bitmap.shape)
            glyph = F.interpolate(bitmap[None, None], size=(h, w), mode="area")[0, 0]
            top, left = (canvas - h) // 2, (canvas - w) // 2
            out[i, j, top:top + h, left:left + w] = glyph
    return out


def _uniform(g: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def render_glyphs(masks: torch.Tensor, n: int, image_size: int,
                  seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` seeded random images of the glyphs in ``masks`` ``(K, fonts, 64, 64)``.

    Returns uint8 images ``(n, 3, S, S)`` and labels ``(n,)``, classes balanced when ``K``
    divides ``n``. Each image: a random font, stroke width, rotation, scale, shear and shift;
    a third seen at 8-16 px and blown up again; random ink and paper colours; pixel noise.
    """
    g = torch.Generator().manual_seed(seed)
    k = masks.shape[0]
    labels = (torch.arange(n) % k)[torch.randperm(n, generator=g)]  # balanced classes
    fonts = torch.randint(masks.shape[1], (n,), generator=g)
    ink_masks = masks[labels, fonts][:, None]  # (n, 1, 64, 64)
    # stroke width: erode (min-pool), keep, or dilate (max-pool) the ink
    stroke = torch.randint(3, (n,), generator=g)
    thin, thick = -F.max_pool2d(-ink_masks, 3, 1, 1), F.max_pool2d(ink_masks, 3, 1, 1)
    ink_masks = torch.where((stroke == 0)[:, None, None, None], thin,
                            torch.where((stroke == 2)[:, None, None, None], thick, ink_masks))
    # random affine map (output -> input coordinates): rotation, scale, shear, shift
    angle = _uniform(g, n, -15, 15) * math.pi / 180
    scale = _uniform(g, n, 0.85, 1.3)  # >1 shrinks the glyph (we sample the input further out)
    shear = _uniform(g, n, -0.25, 0.25)
    shift = _uniform(g, 2 * n, -0.15, 0.15).view(n, 2)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin + shear, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)  # (n, 2, 3)
    theta[:, :, :2] *= scale[:, None, None]
    big = 2 * image_size
    grid = F.affine_grid(theta, (n, 1, big, big), align_corners=False)
    ink_masks = F.grid_sample(ink_masks, grid, mode="bilinear", padding_mode="zeros",
                              align_corners=False)
    ink_masks = F.interpolate(ink_masks, size=(image_size, image_size), mode="area")  # anti-aliased
    # a third are seen at a low resolution (8-16 px) and blown up again, like scanned digits
    low = torch.randint(8, 17, (n,), generator=g)
    blurry = torch.rand(n, generator=g) < 1 / 3
    for res in low[blurry].unique().tolist():
        pick = blurry & (low == res)
        small = F.interpolate(ink_masks[pick], size=(res, res), mode="area")
        ink_masks[pick] = F.interpolate(small, size=(image_size, image_size), mode="bilinear",
                                        align_corners=False)
    # colours: half light-grey ink on a dark background (as the target digits), half random RGB
    grey = torch.rand(n, generator=g) < 0.5
    ink = torch.where(grey[:, None], _uniform(g, n, 0.6, 1.0)[:, None].expand(n, 3),
                      torch.rand(n, 3, generator=g))
    paper = torch.where(grey[:, None], _uniform(g, n, 0.0, 0.25)[:, None].expand(n, 3),
                        torch.rand(n, 3, generator=g))
    weak = (ink - paper).abs().mean(1) < 0.3  # too little contrast: swap for a sure contrast
    ink[weak], paper[weak] = 1 - paper[weak].round(), paper[weak].round()
    images = paper[:, :, None, None] + ink_masks * (ink - paper)[:, :, None, None]
    images = images + _uniform(g, n, 0.0, 0.06)[:, None, None, None] * torch.randn(
        images.shape, generator=g)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8), labels
