"""Pixel-exact integer scaling of IMAGE/MASK batches."""

from __future__ import annotations

import torch


def scale_nearest_integer(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Return ``images`` ([B,H,W,C] or [B,H,W]) with every pixel repeated ``factor`` times along H and W.

    Raises ValueError when ``factor`` is not a positive integer or the tensor is not 3-D/4-D.
    """
    if not isinstance(factor, int) or factor < 1:
        raise ValueError(f"scale factor must be a positive integer, got {factor!r}")
    if images.dim() not in (3, 4):
        raise ValueError(f"expected [B,H,W,C] or [B,H,W], got shape {tuple(images.shape)}")
    if factor == 1:
        return images
    return images.repeat_interleave(factor, dim=1).repeat_interleave(factor, dim=2)
