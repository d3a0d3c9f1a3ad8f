"""Palette mapping with dithering: none, ordered Bayer (anchored to the output grid) and Floyd-Steinberg."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .color import rgb_to_oklab
from .palette import Palette, nearest_palette_index

DITHERS = ("none", "bayer2", "bayer4", "bayer8", "fs")


def bayer_matrix(n: int) -> torch.Tensor:
    """Return the n×n Bayer threshold matrix (n in 2, 4, 8) with values centred on 0 in (-0.5, 0.5)."""
    if n not in (2, 4, 8):
        raise ValueError(f"Bayer matrix size must be 2, 4 or 8, got {n}")
    m = torch.zeros(1, 1, dtype=torch.long)
    while m.shape[0] < n:
        m = torch.cat([torch.cat([4 * m, 4 * m + 2], 1), torch.cat([4 * m + 3, 4 * m + 1], 1)], 0)
    return (m.float() + 0.5) / (n * n) - 0.5


def _palette_step(palette_lab: torch.Tensor) -> float:
    # Typical distance between neighbouring palette colours: how far one dither step should push a colour.
    if len(palette_lab) < 2:
        return 0.0
    d = torch.cdist(palette_lab, palette_lab)
    d.fill_diagonal_(float("inf"))
    return float(d.min(1).values.median())


def apply_palette(image: torch.Tensor, palette: Palette, dither: str = "none", strength: float = 1.0,
                  lab: torch.Tensor | None = None, check_interrupt: Callable[[], None] | None = None) -> torch.Tensor:
    """Return ``image`` [B,H,W,C] with every opaque pixel set to a colour of ``palette`` (alpha kept).

    Ordered dither depends only on a pixel's position and colour, so static regions never flicker between
    frames. ``lab`` is ``image``'s colours already in OKLab (a caller that has them saves a conversion). Raises
    ValueError on an unknown dither or a strength outside 0..2. ``check_interrupt`` is called once per row of
    Floyd-Steinberg (a pure-Python loop; it raises to stop).
    """
    if dither not in DITHERS:
        raise ValueError(f"dither must be one of {', '.join(DITHERS)}, got {dither!r}")
    if not 0.0 <= strength <= 2.0:
        raise ValueError(f"dither strength must be between 0 and 2, got {strength}")
    rgb = image[..., :3]
    alpha = image[..., 3] if image.shape[-1] == 4 else None
    pal_lab = palette.oklab(image.device)
    pal_rgb = palette.rgb(image.device)
    if dither == "fs" and strength > 0:
        # The diffusion runs on the CPU; OKLab is taken there too, so a GPU input dithers to the CPU's pixels.
        idx = _floyd_steinberg(rgb_to_oklab(rgb.cpu()), alpha, palette.oklab(), strength,
                               check_interrupt).to(image.device)
    else:
        lab = rgb_to_oklab(rgb) if lab is None else lab
        if dither.startswith("bayer") and strength > 0:
            n = int(dither[5:])
            h, w = image.shape[1:3]
            tile = bayer_matrix(n).to(image.device).repeat((h + n - 1) // n, (w + n - 1) // n)[:h, :w]
            lab = lab.clone()
            lab[..., 0] = lab[..., 0] + strength * _palette_step(pal_lab) * tile
        idx = nearest_palette_index(lab, pal_lab)
    out = pal_rgb[idx]
    if alpha is None:
        return out
    out = torch.where((alpha > 0).unsqueeze(-1), out, torch.zeros_like(out))
    return torch.cat([out, alpha.unsqueeze(-1)], dim=-1)


def _floyd_steinberg(lab: torch.Tensor, alpha: torch.Tensor | None, pal_lab: torch.Tensor,
                     strength: float, check_interrupt: Callable[[], None] | None = None) -> torch.Tensor:
    # Error diffusion is sequential by nature (with serpentine rows, each row waits for the whole row above), so
    # it runs on the CPU in float64, frame by frame, over plain Python lists: per pixel that is several times
    # quicker than small numpy operations.
    work = lab.detach().double().cpu().numpy()
    palette = [tuple(colour) for colour in pal_lab.double().cpu().tolist()]
    opaque = np.ones(work.shape[:3], dtype=bool) if alpha is None else (alpha > 0.5).cpu().numpy()
    idx = np.array([_diffuse_frame(frame, mask, palette, strength, check_interrupt)
                    for frame, mask in zip(work, opaque)],
                   dtype=np.int64).reshape(opaque.shape)
    return torch.from_numpy(idx)


def _diffuse_frame(lab: np.ndarray, opaque: np.ndarray, palette: list[tuple[float, float, float]],
                   strength: float, check_interrupt: Callable[[], None] | None = None) -> list[list[int]]:
    """Floyd-Steinberg over one OKLab frame [H,W,3]; return palette indices per row. Transparent pixels neither
    pass error on nor receive it."""
    h, w = opaque.shape
    ls, as_, bs = (lab[..., c].tolist() for c in range(3))
    visible = opaque.tolist()
    out = [[0] * w for _ in range(h)]
    for y in range(h):
        if check_interrupt is not None:
            check_interrupt()
        # Serpentine: odd rows run right to left so the error does not pile up on one side.
        step = 1 if y % 2 == 0 else -1
        row_l, row_a, row_b, row_visible, row_out = ls[y], as_[y], bs[y], visible[y], out[y]
        below = (ls[y + 1], as_[y + 1], bs[y + 1], visible[y + 1]) if y + 1 < h else None
        for x in range(w) if step == 1 else range(w - 1, -1, -1):
            lum, a, b = row_l[x], row_a[x], row_b[x]
            best, k = float("inf"), 0
            for i, (pl, pa, pb) in enumerate(palette):
                dl, da, db = lum - pl, a - pa, b - pb
                d = dl * dl + da * da + db * db
                if d < best:
                    best, k = d, i
            row_out[x] = k
            if not row_visible[x]:
                continue
            pl, pa, pb = palette[k]
            el, ea, eb = (lum - pl) * strength, (a - pa) * strength, (b - pb) * strength
            nx = x + step
            if 0 <= nx < w and row_visible[nx]:
                row_l[nx] += el * (7 / 16)
                row_a[nx] += ea * (7 / 16)
                row_b[nx] += eb * (7 / 16)
            if below is None:
                continue
            next_l, next_a, next_b, next_visible = below
            for nx, weight in ((x - step, 3 / 16), (x, 5 / 16), (x + step, 1 / 16)):
                if 0 <= nx < w and next_visible[nx]:
                    next_l[nx] += el * weight
                    next_a[nx] += ea * weight
                    next_b[nx] += eb * weight
    return out
