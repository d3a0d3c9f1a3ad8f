"""Seamless tiles: how visible the wrap-around seam is, a 3×3 tiled preview, and wrap-around convolutions.

``circular_padding`` makes the zero padding of a model's Conv2d layers wrap around (x, y or both) for as long as
the ``with`` block lasts and then puts every layer back exactly as it was, so a model shared with other
workflows is never left changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .color import check_image

AXES = ("both", "x", "y")
_EPS = 1e-6


def check_axis(axis: str) -> tuple[bool, bool]:
    """Return (wrap_x, wrap_y) for ``axis`` ("x", "y" or "both"); raise ValueError for anything else."""
    if axis not in AXES:
        raise ValueError(f"axis must be one of {', '.join(AXES)}; got {axis!r}")
    return axis in ("x", "both"), axis in ("y", "both")


@dataclass(frozen=True)
class SeamReport:
    """How visible the seams are when an image is tiled.

    ``seam_x``/``seam_y``: mean absolute difference (0..1 per channel) between the last and the first column/row,
    the pixels that meet when the image repeats. ``interior_x``/``interior_y``: the same measure between
    neighbouring columns/rows inside the image. ``ratio_x``/``ratio_y``: seam over interior; about 1 means the
    seam looks like any other column/row, well above 1 means a visible seam.
    """

    seam_x: float
    seam_y: float
    interior_x: float
    interior_y: float

    @property
    def ratio_x(self) -> float:
        return self.seam_x / max(self.interior_x, _EPS)

    @property
    def ratio_y(self) -> float:
        return self.seam_y / max(self.interior_y, _EPS)

    def seam_error(self, axis: str = "both") -> float:
        """Return the mean wrap-around difference over the tiled ``axis`` (0 = perfect seam, 1 = worst)."""
        wrap_x, wrap_y = check_axis(axis)
        values = [v for v, on in ((self.seam_x, wrap_x), (self.seam_y, wrap_y)) if on]
        return sum(values) / len(values)

    def summary(self) -> str:
        """Return one line for people: the seam errors and how they compare with the image's interior."""
        return (f"seam x {self.seam_x:.4f} ({self.ratio_x:.2f}× interior), "
                f"seam y {self.seam_y:.4f} ({self.ratio_y:.2f}× interior)")


def measure_seams(image: torch.Tensor) -> SeamReport:
    """Return the SeamReport of ``image`` [B,H,W,C] (RGB or RGBA, 0..1), averaged over the batch.

    Only colour channels count; raises ValueError for a malformed image or one smaller than 2×2.
    """
    image = check_image(image, min_side=2)
    rgb = image[..., :3].float()
    seam_x = (rgb[:, :, -1] - rgb[:, :, 0]).abs().mean()
    seam_y = (rgb[:, -1] - rgb[:, 0]).abs().mean()
    interior_x = (rgb[:, :, 1:] - rgb[:, :, :-1]).abs().mean()
    interior_y = (rgb[:, 1:] - rgb[:, :-1]).abs().mean()
    return SeamReport(float(seam_x), float(seam_y), float(interior_x), float(interior_y))


def tile_preview(image: torch.Tensor, repeats: int = 3, axis: str = "both") -> torch.Tensor:
    """Return ``image`` [B,H,W,C] repeated ``repeats`` times along the tiled ``axis`` (3×3 by default).

    Raises ValueError for a malformed image, ``repeats`` below 1 or an unknown axis.
    """
    image = check_image(image, min_side=1)
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}")
    wrap_x, wrap_y = check_axis(axis)
    return image.repeat(1, repeats if wrap_y else 1, repeats if wrap_x else 1, 1)


def _wrapped_padding(conv: torch.nn.Conv2d, wrap_x: bool, wrap_y: bool) -> tuple[int, int] | None:
    """Return the (pad_y, pad_x) this conv's pre-hook must add by wrapping, or None when it has nothing to wrap."""
    if not isinstance(conv.padding, tuple) or conv.padding_mode != "zeros":
        return None  # "same"/"valid" strings and non-zero padding modes are left alone
    pad_y = conv.padding[0] if wrap_y else 0
    pad_x = conv.padding[1] if wrap_x else 0
    return (pad_y, pad_x) if pad_y or pad_x else None


@contextmanager
def circular_padding(model: torch.nn.Module, axis: str = "both") -> Iterator[int]:
    """Within the block, every Conv2d of ``model`` pads by wrapping around on ``axis`` instead of with zeros.

    Yields the number of layers changed. On exit each layer gets back its own padding and loses the hook, even
    when the block raises. Raises ValueError for an unknown axis.
    """
    wrap_x, wrap_y = check_axis(axis)
    changed: list[tuple[torch.nn.Conv2d, tuple, object]] = []
    try:
        for module in model.modules():
            if not isinstance(module, torch.nn.Conv2d):
                continue
            wrapped = _wrapped_padding(module, wrap_x, wrap_y)
            if wrapped is None:
                continue
            pad_y, pad_x = wrapped

            def wrap_input(_module, args, pad_y=pad_y, pad_x=pad_x):
                return (F.pad(args[0], (pad_x, pad_x, pad_y, pad_y), mode="circular"), *args[1:])

            handle = module.register_forward_pre_hook(wrap_input)
            original = module.padding
            changed.append((module, original, handle))
            module.padding = (original[0] - pad_y, original[1] - pad_x)
        yield len(changed)
    finally:
        for module, original, handle in changed:
            module.padding = original
            handle.remove()
