"""The one-call pixel-art pipeline: grid → alpha → palette → dither → cleanup → outline."""

from __future__ import annotations

from collections.abc import Callable

from dataclasses import dataclass

import torch

from .alpha import binarize_alpha, remove_background, zero_transparent
from .color import check_image, check_mask, rgb_to_oklab
from .dither import apply_palette
from .grid import Grid, detect_grid, grid_from_cell, resample_grid, size_from_cell, uniform_grid
from .outline import add_outline, remove_jaggies, remove_orphans
from .palette import Palette, extract_palette

ALPHA_MODES = ("auto", "keep", "none")
MAX_SIDE = 8192


@dataclass(frozen=True)
class PixelizeResult:
    """What ``pixelize`` returns: the native-size image (RGBA when alpha is kept), the palette used, the grid."""

    image: torch.Tensor
    palette: Palette
    grid: Grid

    @property
    def alpha(self) -> torch.Tensor:
        """Alpha [B,H,W] (1 = opaque); all ones for an RGB result."""
        if self.image.shape[-1] == 4:
            return self.image[..., 3]
        return torch.ones_like(self.image[..., 0])


def with_alpha(image: torch.Tensor, alpha: torch.Tensor | None) -> torch.Tensor:
    """Return ``image`` as RGBA using ``alpha`` [B,H,W] (1 = opaque) when given, else its own alpha or opaque."""
    rgb = image[..., :3]
    if alpha is None:
        alpha = image[..., 3] if image.shape[-1] == 4 else torch.ones_like(rgb[..., 0])
    return zero_transparent(torch.cat([rgb, alpha.unsqueeze(-1)], dim=-1))


def pick_grid(image: torch.Tensor, size: tuple[int, int] | None = None, cell_px: float | None = None,
              grid: str = "fixed", offset: tuple[float, float] = (0.0, 0.0)) -> Grid:
    """Return the grid to sample: exact ``size`` (W,H), ``cell_px`` cells, or recovered when ``grid`` is "auto".

    With "auto" and a ``cell_px``, the cell and ``offset`` are a manual override. Raises ValueError when nothing
    says the size, or the size/cell does not fit the image.
    """
    h, w = image.shape[1:3]
    if grid == "auto":
        if cell_px:
            return grid_from_cell(h, w, float(cell_px), offset[0], offset[1])
        return detect_grid(image)
    if grid != "fixed":
        raise ValueError(f"grid must be 'fixed' or 'auto', got {grid!r}")
    if size is not None and size[0] > 0 and size[1] > 0:
        return uniform_grid(h, w, int(size[1]), int(size[0]))
    if cell_px:
        out_h, out_w = size_from_cell(h, w, float(cell_px))
        return uniform_grid(h, w, out_h, out_w)
    raise ValueError("give a target size (width and height), a cell size, or grid='auto'")


def pixelize(image: torch.Tensor, alpha: torch.Tensor | None = None, *, size: tuple[int, int] | None = None,
             cell_px: float | None = None, grid: str = "fixed", offset: tuple[float, float] = (0.0, 0.0),
             mode: str = "contrast", colors: int = 16, palette: Palette | None = None, dither: str = "none",
             dither_strength: float = 1.0, alpha_mode: str = "auto", alpha_threshold: float = 0.5,
             background: str = "none", background_tolerance: float = 0.05, enclosed_holes: bool = False,
             outline: str = "none", cleanup: bool = False, seed: int = 0,
             check_interrupt: Callable[[], None] | None = None) -> PixelizeResult:
    """Return pixel art at native size with every opaque pixel in one palette shared by the whole batch.

    ``alpha`` is [B,H,W] with 1 = opaque. ``palette`` wins over ``colors`` (0 keeps the downscaled colours).
    ``check_interrupt`` is called inside long loops (ComfyUI's interrupt check raises to stop the work).
    Raises ValueError, naming the input, for bad images, masks, sizes, modes or palettes.
    """
    image = check_image(image)
    if max(image.shape[1:3]) > MAX_SIDE:
        raise ValueError(f"image is {image.shape[2]}x{image.shape[1]}; the largest side supported is {MAX_SIDE} px")
    if alpha_mode not in ALPHA_MODES:
        raise ValueError(f"alpha must be one of {', '.join(ALPHA_MODES)}, got {alpha_mode!r}")
    alpha = check_mask(alpha, image, name="mask")
    has_alpha = alpha is not None or image.shape[-1] == 4
    rgba = with_alpha(image, alpha)

    chosen = pick_grid(rgba, size, cell_px, grid, offset)
    small = resample_grid(rgba, chosen, mode, inset=0.2 if grid == "auto" else 0.0)
    # One OKLab conversion serves every step below: they change alpha only, never an opaque pixel's colour.
    small_lab = rgb_to_oklab(small[..., :3])

    if background != "none":
        small = remove_background(small, background, tolerance=background_tolerance, enclosed=enclosed_holes,
                                  check_interrupt=check_interrupt,
                                  lab=small_lab)
        has_alpha = True
    keep_alpha = alpha_mode == "keep" or (alpha_mode == "auto" and has_alpha)
    if keep_alpha:
        small = binarize_alpha(small, alpha_threshold)
    else:
        small = torch.cat([small[..., :3], torch.ones_like(small[..., 3:])], dim=-1)

    if palette is None:
        if colors == 0:
            palette = _palette_of(small, seed)
        else:
            palette = extract_palette(small[..., :3], colors, alpha=small[..., 3], seed=seed, lab=small_lab)
    small = apply_palette(small, palette, dither, dither_strength, lab=small_lab, check_interrupt=check_interrupt)
    if cleanup:
        small = remove_jaggies(remove_orphans(small))
    if outline != "none":
        small = add_outline(small, darkest_color(palette), outline)
    small = zero_transparent(small)
    return PixelizeResult(small if keep_alpha else small[..., :3], palette, chosen)


def darkest_color(palette: Palette) -> torch.Tensor:
    """Return the palette colour with the lowest OKLab lightness as float [3] (the usual outline colour)."""
    return palette.rgb()[rgb_to_oklab(palette.rgb())[:, 0].argmin()]


def _palette_of(image: torch.Tensor, seed: int = 0) -> Palette:
    """colors=0: the sprite's own colours. Up to 256 are kept exactly; beyond, near-identical colours are merged by
    fitting 256 (a palette's worth), never an error."""
    pixels = image[..., :3][image[..., 3] > 0]
    q = (pixels * 255).round().to(torch.uint8).unique(dim=0)
    if len(q) == 0:
        raise ValueError("the image has no opaque pixels; lower the alpha threshold")
    if len(q) > 256:
        fitted = extract_palette(image[..., :3], 256, alpha=image[..., 3], seed=seed)
        return Palette("downscaled", fitted.colors, source=f"{len(q)} colours of the downscaled image merged to "
                                                              f"{len(fitted)}")
    return Palette("downscaled", q.cpu().numpy(), source="colours of the downscaled image")
