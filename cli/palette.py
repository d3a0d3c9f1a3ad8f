"""``dgx-pixels palette export`` and ``dgx-pixels palette-swap``: palette files and palette swaps, no engine needed.

``add_palette_parsers(subparsers)`` registers both; each sets ``func`` to a callable taking the parsed namespace and
returning an exit code.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ..export.files import write_file_atomic
from ..export.images import encode_png
from ..ops.palette import PALETTE_FORMATS, builtin_palette_names, palette_file_bytes
from ..ops.palette_swap import (SHEET_SUFFIX, UnknownColorsError, check_swap_palettes, side_by_side, swap_palette,
                                variant_names)
from .common import check_out_dir, check_writable_file, err, say, writable_dir
from .pixelize import load_image, resolve_palette


def _format_of(out: Path, fmt: str | None) -> str:
    """The format asked for, or the one ``out``'s extension names; ValueError when neither says."""
    if fmt:
        return fmt
    suffix = out.suffix.lower().lstrip(".")
    if suffix in PALETTE_FORMATS:
        return suffix
    raise ValueError(f"--out {out}: say the format with --format ({'|'.join(PALETTE_FORMATS)}) or end the file name "
                     f"in one of .{', .'.join(PALETTE_FORMATS)}")


def run_palette_export(args: argparse.Namespace) -> int:
    """Write the palette ``args.palette`` as ``args.out`` in ``args.format``; return the exit code (2 on bad input)."""
    try:
        out = Path(args.out)
        check_writable_file(out)
        fmt = _format_of(out, args.format)
        palette = resolve_palette(args.palette, "PALETTE")
        out.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomic(out, palette_file_bytes(palette, fmt))
    except ValueError as exc:
        err(f"palette export: {exc}")
        return 2
    say(f"{out} ({fmt}, {len(palette)} colours)")
    return 0


def run_palette_swap(args: argparse.Namespace) -> int:
    """Swap ``args.sprite`` from ``args.source`` to each ``args.targets`` palette and write the variants and their
    side-by-side sheet into ``args.out``; return the exit code (2 on bad input)."""
    try:
        sprite = Path(args.sprite)
        out_dir = Path(args.out)
        check_out_dir(out_dir)  # before reading anything: a cheap mistake to report before work
        source = resolve_palette(args.source, "--from")
        targets = [resolve_palette(text, "--to") for text in args.targets]
        check_swap_palettes(source, targets)
        image = load_image(sprite)
        try:
            variants = swap_palette(image, source, targets, unknown="keep" if args.keep_unknown else "error")
        except UnknownColorsError as exc:
            raise ValueError(f"{exc.summary}; check --from, or keep such pixels as they are with --keep-unknown") \
                from None
        names = variant_names(sprite.stem, targets)
        files = [(out_dir / name, _png(frame, target.colors, args.rgba))
                 for name, frame, target in zip(names, variants, targets)]
        if len(targets) > 1:
            files.append((out_dir / f"{sprite.stem}{SHEET_SUFFIX}.png", _png(side_by_side(variants)[0], None, args.rgba)))
        writable_dir(out_dir)
        for path, data in files:  # all encoded before any is written: no half-done output folder
            write_file_atomic(path, data)
            say(str(path))
    except ValueError as exc:
        err(f"palette-swap: {exc}")
        return 2
    return 0


def _png(image: torch.Tensor, palette: np.ndarray | None, rgba: bool) -> bytes:
    """PNG bytes of one [H,W,C] float image: indexed in ``palette``'s order unless ``rgba``."""
    arr = (image.clamp(0, 1) * 255.0).round().to(torch.uint8).cpu().numpy()
    return encode_png(arr, palette, indexed=not rgba)


def add_palette_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``palette`` (with ``palette export``) and ``palette-swap`` on ``subparsers``; returns nothing."""
    names = ", ".join(builtin_palette_names())
    group = subparsers.add_parser("palette", help="palette files: export a built-in or converted palette",
                                  description="Palette files (no engine needed).")
    commands = group.add_subparsers(dest="palette_command", required=True)
    export = commands.add_parser(
        "export", help="write a palette as .gpl, .hex, .pal or a 1xN PNG strip",
        description="Writes the palette to FILE: GIMP .gpl, Lospec .hex, JASC .pal or a 1xN PNG strip (one pixel "
                    "per colour, in order). The format comes from --format or FILE's extension.")
    export.add_argument("palette", metavar="NAME|FILE", help=f"built-in ({names}) or a .hex/.gpl/.pal/.png file")
    export.add_argument("--format", choices=list(PALETTE_FORMATS), default=None,
                        help="file format (default: from --out's extension)")
    export.add_argument("--out", required=True, metavar="FILE", help="the palette file to write")
    export.set_defaults(func=run_palette_export)

    swap = subparsers.add_parser(
        "palette-swap", help="recolour a sprite from one palette to others by index (no engine needed)",
        description="Each pixel whose colour is entry i of --from becomes entry i of the --to palette, exactly (no "
                    "re-quantization); transparent pixels stay transparent. Writes DIR/<sprite>_<palette>.png per "
                    f"--to palette (indexed PNG in that palette's order) and, with several, DIR/<sprite>{SHEET_SUFFIX}"
                    ".png with the variants side by side.")
    swap.add_argument("sprite", metavar="SPRITE", help="the sprite image (PNG, ...), drawn in the --from palette")
    swap.add_argument("--from", dest="source", required=True, metavar="PAL",
                      help=f"the sprite's palette: built-in ({names}) or a palette file")
    swap.add_argument("--to", dest="targets", action="append", required=True, metavar="PAL",
                      help="a target palette with at least as many colours; repeat for more variants")
    swap.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    swap.add_argument("--keep-unknown", action="store_true",
                      help="leave pixels whose colour is not in --from as they are (default: an error)")
    swap.add_argument("--rgba", action="store_true", help="write RGB/RGBA PNGs instead of indexed (palette) PNGs")
    swap.set_defaults(func=run_palette_swap)
