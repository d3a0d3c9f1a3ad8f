"""Images the bridge handles itself: pixelizing an uploaded or earlier image with the pack's ops (no engine, no
model), naming uploads for the engine's input folder, and the closed choices the pixel tools offer.

The choices are spelled out here rather than imported from ``ops`` because ``ops`` imports torch, and the bridge's
light entry point must start without it; tests/unit/mcp_bridge checks that they match ``ops``. torch is imported
only when a pixelize call runs.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from ..ops.palettes_builtin import BUILTIN_HEX

DitherName = Literal["none", "bayer2", "bayer4", "bayer8", "fs"]
AlphaName = Literal["auto", "keep", "none"]
ModeName = Literal["contrast", "kcentroid", "majority", "nearest", "area"]
# Built from the palette table (no torch in it), so a new built-in palette becomes a choice without an edit here.
PaletteName = Literal[tuple(BUILTIN_HEX)]  # type: ignore[valid-type]
MAX_SIZE = 1024  # the side of a pixelized image; pixel art past this is surely a wrong argument
# The top of the input folder: LoadImage lists only the files there, and the engine checks the name against that list.
UPLOAD_SUBFOLDER = ""
UPLOAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class PixelizeOptions:
    """What pixelize_image was asked for; ``size`` None means the grid is recovered from the image."""

    size: int | None = None
    cell_px: float | None = None
    palette: str | None = None
    colors: tuple[str, ...] = ()
    num_colors: int = 16
    dither: str = "none"
    alpha: str = "auto"
    mode: str = "contrast"
    seed: int = 0
    rgba: bool = False


class GridInfo(BaseModel):
    """The grid the image was sampled on."""

    mode: Literal["auto", "size", "cell"] = Field(description="auto: detected; size: fixed by size; cell: by cell_px")
    cell_x: float = Field(description="width of one cell in source pixels")
    cell_y: float = Field(description="height of one cell in source pixels")
    offset_x: float = Field(description="phase of the vertical cuts in source pixels")
    offset_y: float = Field(description="phase of the horizontal cuts in source pixels")


class PixelizeInfo(BaseModel):
    """The pixel art a pixelize_image call made."""

    width: int = Field(description="width of the pixel art in pixels")
    height: int = Field(description="height of the pixel art in pixels")
    source_width: int = Field(description="width of the input image")
    source_height: int = Field(description="height of the input image")
    palette: list[str] = Field(description="the palette used, as '#rrggbb'")
    palette_name: str = Field(description="the built-in palette's name, 'custom', or 'extracted'")
    grid: GridInfo
    alpha: bool = Field(description="whether the PNG keeps transparency")


class SavedFileInfo(BaseModel):
    """One file of a job, as job_status and get_result describe it."""

    model_config = {"extra": "allow"}
    filename: str
    uri: str = Field(description="dgx-pixels://results/<job_id>/<file>: read it as a resource, or pass it on")
    width: int | None = None
    height: int | None = None


class PixelizeOutput(BaseModel):
    """The structured result of pixelize_image: the local job holding the PNG, and what was made."""

    model_config = {"extra": "allow"}
    job_id: str = Field(description="id of the finished local job; its files are dgx-pixels://results/<job_id>/...")
    status: str
    files: list[SavedFileInfo]
    pixelize: PixelizeInfo


def target_size(width: int, height: int, side: int) -> tuple[int, int]:
    """Return (W, H) whose longer side is ``side`` and whose aspect ratio is the image's (each at least 1)."""
    if width >= height:
        return side, max(1, round(height * side / width))
    return max(1, round(width * side / height)), side


def pixelize_png(data: bytes, options: PixelizeOptions, label: str = "image") -> tuple[bytes, PixelizeInfo]:
    """Return (PNG bytes at native size, what was made) of the image ``data`` pixelized with ``options``.

    Raises ValueError naming the problem: unreadable image, bad palette colour, a size the image cannot hold, or
    too little free memory."""
    import torch

    from ..export.images import encode_png, read_image
    from ..host.memory import require_pixelize_memory
    from ..ops.palette import builtin_palette, palette_from_hex
    from ..ops.pixelize import pixelize

    arr, has_alpha = read_image(data, label)
    if not has_alpha:
        arr = arr[..., :3]
    image = torch.from_numpy(arr.copy()).float().div(255.0).unsqueeze(0)
    source_h, source_w = arr.shape[:2]
    require_pixelize_memory(image)
    if options.palette and options.colors:
        raise ValueError("give palette (a name) or colors (a list of '#rrggbb'), not both")
    palette = (builtin_palette(options.palette) if options.palette
               else palette_from_hex("custom", list(options.colors)) if options.colors else None)
    if options.size is not None:
        grid_mode, size, grid = "size", target_size(source_w, source_h, options.size), "fixed"
    elif options.cell_px is not None:
        grid_mode, size, grid = "cell", None, "fixed"
    else:
        grid_mode, size, grid = "auto", None, "auto"
    result = pixelize(image, size=size, cell_px=options.cell_px, grid=grid, mode=options.mode,
                      colors=options.num_colors, palette=palette, dither=options.dither, alpha_mode=options.alpha,
                      seed=options.seed)
    out = (result.image[0].clamp(0, 1) * 255.0).round().to(torch.uint8).cpu().numpy()
    # An indexed PNG whose palette is the one used, in its order (RGB/RGBA when asked, or over 256 colours).
    png = encode_png(out, result.palette.colors, indexed=not options.rgba)
    g = result.grid
    info = PixelizeInfo(
        width=int(out.shape[1]), height=int(out.shape[0]), source_width=int(source_w), source_height=int(source_h),
        palette=["#" + colour.lstrip("#").lower() for colour in result.palette.hex()],
        palette_name=options.palette or ("custom" if options.colors else "extracted"),
        grid=GridInfo(mode=grid_mode, cell_x=float(g.cell_x), cell_y=float(g.cell_y),
                      offset_x=float(g.offset_x), offset_y=float(g.offset_y)),
        alpha=out.shape[-1] == 4)
    return png, info


class SwapInfo(BaseModel):
    """The variants a palette_swap call made."""

    width: int = Field(description="width of the sprite (and of each variant) in pixels")
    height: int = Field(description="height of the sprite in pixels")
    source: list[str] = Field(description="the source palette, as '#rrggbb'")
    variants: list[str] = Field(description="file name of each variant, in the order of targets")
    sheet: str | None = Field(description="file name of the variants side by side (several targets), else null")
    unknown_pixels: int = Field(description="visible pixels whose colour is not in the source palette (kept as "
                                "they are; only possible with unknown='keep')")


def swap_palette_pngs(data: bytes, source: str | list[str], targets: list[str | list[str]], unknown: str,
                      rgba: bool = False, stem: str = "sprite") -> tuple[list[tuple[str, bytes]], SwapInfo]:
    """Return ([(file name, PNG bytes)] of each variant then, for several targets, the side-by-side sheet; what was
    made) of the image ``data`` swapped from palette ``source`` to each of ``targets`` (a built-in name or a list
    of '#rrggbb' each). Raises ValueError for an unreadable image, a bad palette, a target shorter than the source
    or, with ``unknown`` "error", pixels whose colour is not in the source."""
    import torch

    from ..export.images import encode_png, read_image
    from ..ops.palette_swap import SHEET_SUFFIX, palette_indices, side_by_side, swap_palette, variant_names

    source_palette = palette_of(source, "source")
    target_palettes = [palette_of(target, f"target {number}") for number, target in enumerate(targets, 1)]
    arr, has_alpha = read_image(data, "image")
    if not has_alpha:
        arr = arr[..., :3]
    image = torch.from_numpy(arr.copy()).float().div(255.0).unsqueeze(0)
    variants = swap_palette(image, source_palette, target_palettes, unknown=unknown)  # type: ignore[arg-type]
    _, known = palette_indices(image, source_palette)
    visible = image[..., 3] > 0 if image.shape[-1] == 4 else torch.ones_like(known)

    def png(frame: torch.Tensor, palette) -> bytes:
        out = (frame.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
        return encode_png(out, palette, indexed=not rgba)

    names = variant_names(stem, target_palettes)
    files = [(name, png(frame, target.colors)) for name, frame, target in zip(names, variants, target_palettes)]
    sheet = None
    if len(target_palettes) > 1:
        sheet = f"{stem}{SHEET_SUFFIX}.png"
        files.append((sheet, png(side_by_side(variants)[0], None)))
    info = SwapInfo(width=int(arr.shape[1]), height=int(arr.shape[0]),
                    source=["#" + colour.lower() for colour in source_palette.hex()], variants=names, sheet=sheet,
                    unknown_pixels=int((visible & ~known).sum()))
    return files, info


def palette_of(spec: str | list[str], label: str):
    """Return the Palette a tool argument names: a built-in palette's name, or its colours as '#rrggbb' strings;
    raise ValueError naming ``label`` otherwise."""
    from ..ops.palette import builtin_palette, palette_from_hex

    try:
        if isinstance(spec, str):
            return builtin_palette(spec)
        return palette_from_hex(f"{label.replace(' ', '-')}-colors", list(spec))
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from None


def upload_name(data: bytes, name: str | None) -> str:
    """Return the file name an upload gets in the engine's input folder: ``name`` (checked) or one made from the
    content's hash, so uploading the same image twice names one file. Raises ValueError for an unsafe name."""
    if name is None:
        return f"dgx-pixels-upload-{hashlib.sha256(data).hexdigest()[:16]}.png"
    if not UPLOAD_NAME.match(name) or ".." in name:
        raise ValueError(f"name {name!r} must be letters, digits, '.', '_' or '-' (no folders), e.g. hero.png")
    return name if name.lower().endswith(".png") else name + ".png"


def png_bytes(data: bytes, label: str) -> tuple[bytes, int, int]:
    """Return (PNG bytes, width, height) of any PIL-readable image ``data`` (re-encoded when it is not a PNG);
    raise ValueError naming ``label`` when it is not an image."""
    from PIL import Image

    from ..export.images import read_image

    arr, _ = read_image(data, label)
    height, width = arr.shape[:2]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return data, width, height
    buffer = io.BytesIO()
    Image.fromarray(arr, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue(), width, height
