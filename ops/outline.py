"""One-pixel outlines and cleanup of orphan pixels and jaggies, on palette-mapped RGBA pixel art."""

from __future__ import annotations

import torch
import torch.nn.functional as F

OUTLINES = ("none", "outer", "inner")

# Neighbour offsets (dy, dx): the four sides first, then the diagonals.
_SIDES = ((-1, 0), (0, 1), (1, 0), (0, -1))
_DIAGONALS = ((-1, 1), (1, 1), (1, -1), (-1, -1))


def _shift(x: torch.Tensor, dy: int, dx: int, fill: float = 0.0) -> torch.Tensor:
    # Value of the neighbour at (y+dy, x+dx) for every pixel of [B,H,W,...]; outside the image is ``fill``.
    h, w = x.shape[1:3]
    # F.pad lists the last dimension first: leave channel dims alone, pad W and H by one.
    spec = [0, 0] * (x.dim() - 3) + [1, 1, 1, 1]
    if x.dtype == torch.bool:
        padded = F.pad(x.to(torch.uint8), spec, value=int(fill)).bool()
    else:
        padded = F.pad(x, spec, value=fill)
    return padded[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]


def add_outline(image: torch.Tensor, rgb: tuple[float, float, float] | torch.Tensor, mode: str = "outer",
                diagonal: bool = False) -> torch.Tensor:
    """Return RGBA ``image`` with a 1 px outline of colour ``rgb``: around the sprite ("outer") or on its edge.

    Raises ValueError when the image has no alpha channel or ``mode`` is unknown.
    """
    if mode not in OUTLINES:
        raise ValueError(f"outline must be one of {', '.join(OUTLINES)}, got {mode!r}")
    if image.shape[-1] != 4:
        raise ValueError("an outline needs transparency: give an RGBA image or a mask")
    if mode == "none":
        return image
    colour = torch.as_tensor(rgb, dtype=image.dtype, device=image.device).reshape(3)
    opaque = image[..., 3] > 0
    offsets = _SIDES + (_DIAGONALS if diagonal else ())
    if mode == "outer":
        touch = torch.zeros_like(opaque)
        for dy, dx in offsets:
            touch |= _shift(opaque, dy, dx, fill=False)
        ring = touch & ~opaque
    else:
        edge = torch.zeros_like(opaque)
        for dy, dx in offsets:
            edge |= ~_shift(opaque, dy, dx, fill=False)
        ring = edge & opaque
    out = image.clone()
    out[..., :3] = torch.where(ring.unsqueeze(-1), colour.expand_as(out[..., :3]), out[..., :3])
    out[..., 3] = torch.where(ring, torch.ones_like(out[..., 3]), out[..., 3])
    return out


_OUTSIDE = -1.0


def _neighbours(image: torch.Tensor) -> torch.Tensor:
    # [B,H,W,8,C]; outside the image every channel is -1, which matches no real colour and is never picked.
    return torch.stack([_shift(image, dy, dx, fill=_OUTSIDE) for dy, dx in _SIDES + _DIAGONALS], dim=3)


def _inside(nb: torch.Tensor) -> torch.Tensor:
    return nb[..., -1] != _OUTSIDE


def _same(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().amax(-1) < 1.0 / 512


def remove_orphans(image: torch.Tensor) -> torch.Tensor:
    """Return ``image`` with every pixel unlike all 8 neighbours replaced by its neighbours' most common colour.

    Only colours already present are used, so palette adherence is kept. Works on RGB or RGBA.
    """
    img = image if image.shape[-1] == 4 else torch.cat([image, torch.ones_like(image[..., :1])], -1)
    nb = _neighbours(img)
    orphan = ~_same(nb, img.unsqueeze(3)).any(-1)
    votes = _same(nb.unsqueeze(4), nb.unsqueeze(3)).sum(-1) * _inside(nb)
    # First neighbour with the most votes: sides come first, so ties favour a side neighbour.
    pick = votes.argmax(-1, keepdim=True)
    repl = nb.gather(3, pick.unsqueeze(-1).expand(*pick.shape, img.shape[-1])).squeeze(3)
    out = torch.where(orphan.unsqueeze(-1), repl, img)
    return out if image.shape[-1] == 4 else out[..., :3]


def remove_jaggies(image: torch.Tensor) -> torch.Tensor:
    """Return ``image`` with the corner pixel of each L-shaped step in 1 px lines replaced (pixel-perfect lines).

    A pixel is removed when exactly two of its side neighbours share its colour, they are at a right angle, and
    neither the diagonal between them nor the opposite one does; it takes the most common colour of its other neighbours. Two passes over a
    checkerboard keep adjacent corners from being removed together.
    """
    img = image if image.shape[-1] == 4 else torch.cat([image, torch.ones_like(image[..., :1])], -1)
    b, h, w, _ = img.shape
    parity = (torch.arange(h, device=img.device)[:, None] + torch.arange(w, device=img.device)[None, :]) % 2
    for phase in (0, 1):
        nb = _neighbours(img)
        same = _same(nb, img.unsqueeze(3))
        sides, diags = same[..., :4], same[..., 4:]
        corner = torch.zeros_like(sides[..., 0])
        for j in range(4):
            # Sides j and j+1 continue the line; the diagonal between them (index j) must be empty, or the pixel
            # is part of a filled area; the opposite diagonal too, or removing it would cut a pixel off.
            corner |= (sides[..., j] & sides[..., (j + 1) % 4] & ~sides[..., (j + 2) % 4] & ~sides[..., (j + 3) % 4]
                       & ~diags[..., j] & ~diags[..., (j + 2) % 4])
        corner &= (img[..., 3] > 0) & (parity == phase)
        other = ~same & _inside(nb)
        votes = (_same(nb.unsqueeze(4), nb.unsqueeze(3)) & other.unsqueeze(3)).sum(-1) * other
        pick = votes.argmax(-1, keepdim=True)
        repl = nb.gather(3, pick.unsqueeze(-1).expand(*pick.shape, img.shape[-1])).squeeze(3)
        img = torch.where(corner.unsqueeze(-1), repl, img)
    return img if image.shape[-1] == 4 else img[..., :3]
