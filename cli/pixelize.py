"""``dgx-pixels pixelize``: pixel art from image files with the pack's ops, no engine needed.

``add_pixelize_parser(subparsers)`` registers the subcommand; it sets ``func`` to a callable taking the parsed
namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from ..export.files import write_file_atomic
from ..export.images import encode_png, read_image
from ..export.palettes import load_palette_file
from ..host.memory import require_memory, require_pixelize_memory
from ..ops.dither import DITHERS
from ..ops.grid import MODES
from ..ops.palette import Palette, builtin_palette, builtin_palette_names, extract_palette
from ..ops.pixelize import ALPHA_MODES, pixelize
from ..ops.scale import scale_nearest_integer
from .common import check_out_dir, err, say, writable_dir

MAX_OUTPUT_SIDE = 16384  # pixels per side of an enlarged output; past that --scale is surely a typo
# float32 per channel of the enlarged image, then its clamped, ×255 and rounded copies made while saving
SCALE_BYTES_PER_CHANNEL = 4 * 4


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)[xX](\d+)", text)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise argparse.ArgumentTypeError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 64x64")
    return int(match.group(1)), int(match.group(2))


def load_image(path: Path) -> torch.Tensor:
    """Return the image at ``path`` as [1,H,W,C] float (C=4 when it has transparency); raise ValueError if it is
    missing, unreadable or too large (every PIL mode is converted by ``export.images.to_rgba8``)."""
    arr, alpha = read_image(path, f"input {path}")
    if not alpha:
        arr = arr[..., :3]
    return torch.from_numpy(arr.copy()).float().div(255.0).unsqueeze(0)


def check_scaled_size(height: int, width: int, channels: int, scale: int) -> None:
    """Return None when a ``height``×``width`` image enlarged ``scale``× is a sane size that fits in free memory;
    raise ValueError before anything is allocated otherwise."""
    if max(height, width) * scale > MAX_OUTPUT_SIDE:
        raise ValueError(f"--scale {scale}: a {width}x{height} image would become {width * scale}x{height * scale}, "
                         f"over {MAX_OUTPUT_SIDE} px per side")
    require_memory(height * width * scale * scale * channels * SCALE_BYTES_PER_CHANNEL, "cpu",
                   f"enlarging a {width}x{height} image {scale}x")


def save_png_atomic(image: torch.Tensor, path: Path, palette: Palette | None = None, indexed: bool = True) -> None:
    """Write one [H,W,C] float image as PNG at ``path`` via a temporary file in the same folder and a rename;
    returns None. With ``indexed`` (and at most 256 colours) it is a palette PNG whose entries start with
    ``palette``'s colours in their order, else RGB or RGBA."""
    arr = (image.clamp(0, 1) * 255.0).round().to(torch.uint8).cpu().numpy()
    write_file_atomic(path, encode_png(arr, None if palette is None else palette.colors, indexed=indexed))


def resolve_palette(text: str, option: str = "--palette") -> Palette:
    """Return the built-in palette named ``text`` or the palette file at ``text``; raise ValueError naming
    ``option`` otherwise."""
    if Path(text).is_dir():  # load_palette_file would fail on it with a bare "Is a directory"
        raise ValueError(f"{option} {text}: is a folder, not a palette file")
    if Path(text).suffix and Path(text).exists():
        return load_palette_file(text)
    if text.lower().replace(" ", "-").replace("_", "-") in builtin_palette_names():
        return builtin_palette(text)
    if Path(text).suffix:
        raise ValueError(f"{option} {text!r}: no such file")
    return builtin_palette(text)


def run_pixelize(args: argparse.Namespace) -> int:
    """Pixelize ``args.inputs`` into ``args.out``; return the exit code (2 on bad input)."""
    try:
        if args.scale < 1:
            raise ValueError(f"--scale must be a positive integer, got {args.scale}")
        if args.size is not None:  # the output size is known: refuse a huge --scale before any work
            check_scaled_size(args.size[1], args.size[0], 4, args.scale)
        elif args.scale > MAX_OUTPUT_SIDE:
            raise ValueError(f"--scale {args.scale}: the output would be over {MAX_OUTPUT_SIDE} px per side")
        paths = [Path(p) for p in args.inputs]
        out_dir = Path(args.out)
        check_out_dir(out_dir)  # before reading inputs: a cheap mistake to report before slow work
        images = [load_image(p) for p in paths]
        writable_dir(out_dir)
        names = [out_dir / (p.stem + ".png") for p in paths]
        if len(set(names)) != len(names):
            raise ValueError("two inputs have the same file name; their outputs would overwrite each other")
        palette = resolve_palette(args.palette) if args.palette else None
        grid = "auto" if args.grid == "auto" else "fixed"
        if grid == "fixed" and args.size is None and args.cell is None:
            raise ValueError("say the output size: --size WxH, --cell N or --grid auto")
        options = dict(size=args.size, cell_px=args.cell, grid=grid, mode=args.mode, dither=args.dither,
                       alpha_mode=args.alpha, outline="outer" if args.outline else "none", cleanup=args.cleanup,
                       background=args.background, seed=args.seed)
        results: list[torch.Tensor] = []
        shapes = {tuple(img.shape[1:]) for img in images}
        if args.shared_palette and len(shapes) == 1:
            # Frames of one animation: one batch, one palette fitted to all of them.
            require_pixelize_memory(torch.cat(images))
            done = pixelize(torch.cat(images), colors=args.colors, palette=palette, **options)
            results, palettes = list(done.image), [done.palette] * len(images)
        else:
            # Unrelated images each get their own palette (one shared palette cost 18 points of cells right on a
            # set of unrelated sprites); --shared-palette fits one to all of them.
            if palette is None and args.colors > 0 and args.shared_palette:
                pixels = torch.cat([img[..., :3].reshape(1, -1, 1, 3) for img in images], dim=1)
                alpha = torch.cat([(img[..., 3] if img.shape[-1] == 4 else torch.ones_like(img[..., 0])).reshape(1, -1, 1)
                                   for img in images], dim=1)
                palette = extract_palette(pixels, args.colors, alpha=alpha, seed=args.seed)
            for img in images:
                require_pixelize_memory(img)
            done_each = [pixelize(img, colors=args.colors, palette=palette, **options) for img in images]
            results, palettes = [done.image[0] for done in done_each], [done.palette for done in done_each]
        for image in results:  # all checked before any is written: no half-done output folder
            check_scaled_size(image.shape[0], image.shape[1], image.shape[2], args.scale)
        for image, target, used in zip(results, names, palettes):
            if args.scale > 1:
                image = scale_nearest_integer(image.unsqueeze(0), args.scale)[0]
            save_png_atomic(image, target, used, indexed=not args.rgba)
            say(str(target))
    except ValueError as exc:
        err(f"pixelize: {exc}")
        return 2
    return 0


def add_pixelize_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``pixelize`` on ``subparsers`` and return its parser."""
    p = subparsers.add_parser(
        "pixelize", help="turn images into pixel art at native size (no engine needed)",
        description="Each output is written to DIR/<input name>.png at native size: an indexed PNG whose palette "
                    "is the one used, in its order (tRNS keeps transparency), or RGB/RGBA with --rgba. "
                    "Each input gets its own palette unless --shared-palette (frames of one animation).",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files (PNG, JPEG, WebP, ...)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--size", type=_size, metavar="WxH", help="exact output size, e.g. 64x64")
    size.add_argument("--cell", type=float, metavar="N", help="cell size in source pixels")
    p.add_argument("--grid", choices=["fixed", "auto"], default="fixed",
                   help="auto: recover the grid of fake pixel art (with --cell: manual cell override)")
    colour = p.add_mutually_exclusive_group()
    colour.add_argument("--colors", type=int, default=16, metavar="K",
                        help="fit a palette of at most K colours (default 16; 0 keeps the sprite's own colours)")
    p.add_argument("--shared-palette", action="store_true",
                   help="fit one palette to all inputs (frames of one animation) instead of one per input")
    colour.add_argument("--palette", metavar="NAME_OR_FILE",
                        help=f"built-in ({', '.join(builtin_palette_names())}) or .hex/.gpl/.pal/.png file")
    p.add_argument("--dither", choices=list(DITHERS), default="none")
    p.add_argument("--alpha", choices=list(ALPHA_MODES), default="auto")
    p.add_argument("--background", choices=["none", "key", "flood"], default="none",
                   help="remove the background colour (flood: only connected to the border)")
    p.add_argument("--outline", action="store_true", help="add a 1 px outer outline in the darkest colour")
    p.add_argument("--cleanup", action="store_true", help="remove orphan pixels and jaggies")
    p.add_argument("--mode", choices=list(MODES), default="contrast", help="how each cell picks its colour")
    p.add_argument("--scale", type=int, default=1, metavar="N", help="enlarge the output N× (nearest)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rgba", action="store_true",
                   help="write RGB/RGBA PNGs instead of indexed (palette) PNGs")
    p.set_defaults(func=run_pixelize)
    return p
