"""Palette swap: recolour a sprite from one palette to another by index (team colours, day/night, damage flash).

Exact, with no re-quantization: a pixel whose colour is entry i of the source palette becomes entry i of the
target. Colours are compared as 8-bit values (``round(v * 255)``), the precision of every PNG the pack reads and
writes.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import torch

from .palette import Palette

UNKNOWN_MODES: tuple[str, ...] = ("error", "keep")
Unknown = Literal["error", "keep"]
SHEET_SUFFIX = "_swaps"  # <sprite>_swaps.png: every variant side by side


class UnknownColorsError(ValueError):
    """Visible pixels whose colour is not in the source palette; ``summary`` says how many and shows one, so a
    front end can add its own way to keep them (the message names ``unknown='keep'``)."""

    def __init__(self, summary: str, count: int, example: str) -> None:
        super().__init__(f"{summary}; pick the palette the sprite was drawn with, or keep such pixels as they are "
                         f"(unknown='keep')")
        self.summary = summary
        self.count = count
        self.example = example


def _packed(rgb8: torch.Tensor) -> torch.Tensor:
    """R<<16 | G<<8 | B of uint8-valued colours [...,3] as int64 (one number per colour, for exact lookups)."""
    rgb = rgb8.to(torch.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def check_swap_palettes(source: Palette, targets: list[Palette]) -> None:
    """Return None when ``targets`` can each take the place of ``source``; raise ValueError naming the first target
    with fewer colours than the source, or when there is no target."""
    if not targets:
        raise ValueError("give at least one target palette")
    for number, target in enumerate(targets, 1):
        if len(target) < len(source):
            raise ValueError(f"target palette {number} ({target.name!r}) has {len(target)} colours but the source "
                             f"palette {source.name!r} has {len(source)}; a target needs at least as many colours "
                             f"as the source (entry i of the source becomes entry i of the target)")


def palette_indices(image: torch.Tensor, source: Palette) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (indices [B,H,W] int64, known [B,H,W] bool): the source palette index of each pixel of ``image``
    [B,H,W,C] (float 0..1, C = 3 or 4) and whether its colour is in the palette at all (False there, index 0).

    A colour listed twice in ``source`` takes its first index. Transparent pixels are indexed like any other."""
    rgb8 = (image[..., :3].clamp(0, 1) * 255.0).round()
    keys = _packed(rgb8)
    source_keys = _packed(torch.from_numpy(source.colors.astype(np.int64)))
    # np.unique sorts and keeps each key's first position, which is what a duplicated entry must map to.
    unique, first = np.unique(source_keys.numpy(), return_index=True)
    unique_t = torch.from_numpy(unique).to(keys.device)
    first_t = torch.from_numpy(first).to(keys.device)
    position = torch.searchsorted(unique_t, keys.reshape(-1)).clamp(max=len(unique) - 1)
    known = (unique_t[position] == keys.reshape(-1)).reshape(keys.shape)
    indices = torch.where(known, first_t[position].reshape(keys.shape), torch.zeros_like(keys))
    return indices, known


def swap_palette(image: torch.Tensor, source: Palette, targets: list[Palette], *,
                 unknown: Unknown = "error") -> torch.Tensor:
    """Return ``image`` [B,H,W,C] recoloured once per target palette, as [B*len(targets),H,W,C]: all B frames for
    the first target, then all for the second, and so on. Each pixel whose colour is entry i of ``source`` gets
    entry i of the target; alpha is kept, and fully transparent pixels (alpha 0) are left exactly as they are.

    ``unknown`` says what happens to a visible pixel whose colour is not in ``source``: "error" raises
    UnknownColorsError, a ValueError (how many, and an example colour with its place); "keep" leaves it unchanged. Also raises ValueError for an
    image that is not [B,H,W,3|4], for no target, or for a target with fewer colours than the source.
    """
    if image.dim() != 4 or image.shape[-1] not in (3, 4):
        raise ValueError(f"image must be [B,H,W,3] or [B,H,W,4], got shape {tuple(image.shape)}")
    if unknown not in UNKNOWN_MODES:
        raise ValueError(f"unknown must be one of {', '.join(UNKNOWN_MODES)}, got {unknown!r}")
    check_swap_palettes(source, targets)
    indices, known = palette_indices(image, source)
    # Alpha 0 after 8-bit rounding: such a pixel shows nothing, so its colour is neither checked nor changed.
    visible = (image[..., 3] * 255.0).round() > 0 if image.shape[-1] == 4 else torch.ones_like(known)
    missing = visible & ~known
    count = int(missing.sum())
    if count and unknown == "error":
        b, y, x = (int(v) for v in missing.nonzero()[0])
        colour = "#%02X%02X%02X" % tuple(int(v) for v in (image[b, y, x, :3].clamp(0, 1) * 255.0).round())
        raise UnknownColorsError(f"{count} pixel(s) have a colour that is not in the source palette "
                                 f"{source.name!r}, e.g. {colour} at x={x}, y={y} of frame {b}", count, colour)
    swap = visible & known
    outputs = []
    for target in targets:
        # Exactly c/255 per channel, as the palette ops store colours, so 8-bit writers get c back.
        colours = target.rgb(image.device).to(image.dtype)
        rgb = torch.where(swap.unsqueeze(-1), colours[indices], image[..., :3])
        outputs.append(torch.cat([rgb, image[..., 3:]], dim=-1))
    return torch.cat(outputs, dim=0)


def side_by_side(images: torch.Tensor) -> torch.Tensor:
    """Return the frames of ``images`` [N,H,W,C] in one row, [1,H,N*W,C], first frame on the left."""
    if images.dim() != 4 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty [N,H,W,C] batch, got shape {tuple(images.shape)}")
    return torch.cat(list(images), dim=1).unsqueeze(0)


def _file_part(text: str) -> str:
    """A palette name as a safe piece of a file name ("Endesga 32" → "endesga-32")."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "palette"


def variant_names(stem: str, targets: list[Palette]) -> list[str]:
    """Return one PNG file name per target, ``<stem>_<palette name>.png``, numbered where two names would clash."""
    parts = [_file_part(t.name) for t in targets]
    return [f"{stem}_{part}.png" if parts.count(part) == 1 else f"{stem}_{part}-{number}.png"
            for number, part in enumerate(parts, 1)]
