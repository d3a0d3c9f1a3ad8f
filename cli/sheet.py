"""``dgx-pixels sheet`` and ``dgx-pixels deploy``: sprite sheets from PNG files, no engine needed.

``add_sheet_parser(subparsers)`` / ``add_deploy_parser(subparsers)`` register the subcommands; each sets
``func`` to a callable taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..export.aseprite import read_aseprite_file
from ..export.bevy import CATEGORIES, export_to_bevy, read_sheet_dir, split_asset_name, write_sheet_dir
from ..ops.sheet import AnimationTag, SheetOptions, build_sheet, durations_from_fps, parse_tag, sheet_summary
from ..export.images import read_rgba
from .common import check_out_dir, err, say, writable_dir


def _grid(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)[xX](\d+)", text)
    if not match:
        raise argparse.ArgumentTypeError(f"--grid {text!r}: expected COLSxROWS, e.g. 8x2")
    return int(match.group(1)), int(match.group(2))


DEFAULT_FPS = 10.0


def _sheet_from_aseprite(args: argparse.Namespace, options: SheetOptions):
    """Return the sheet of ``args.source`` (an .aseprite file): its frames, durations, tags and pivots, unless
    --fps, --tag or a --pivot other than the default replace them. Raises ValueError naming the file."""
    doc = read_aseprite_file(args.source)
    sheet = doc.to_sheet(options)
    if not (args.fps is not None or args.tag or tuple(args.pivot) != (0.5, 1.0)):
        return sheet
    frames = doc.source_frames()
    tags = [parse_tag(t) for t in args.tag] or list(doc.tags)
    durations = durations_from_fps(len(frames), args.fps) if args.fps is not None else list(doc.durations_ms)
    pivots = [f.pivot_px for f in sheet.frames]
    pivot = (args.pivot[0], args.pivot[1]) if tuple(args.pivot) != (0.5, 1.0) else [
        (px / f.shape[1], py / f.shape[0]) for (px, py), f in zip(pivots, frames)]
    return build_sheet(frames, tags=tags, durations_ms=durations, names=doc.frame_names(), pivot=pivot,
                       options=options)


def run_sheet(args: argparse.Namespace) -> int:
    """Build a sheet from ``args.frames`` and write it into ``args.out``; return the exit code (2 on bad input)."""
    try:
        paths = [Path(p) for p in args.frames]
        if args.source and paths:
            raise ValueError("give either FRAMES or --from FILE.aseprite, not both")
        if not paths and not args.source:
            raise ValueError("FRAMES: give at least one PNG file (or --from FILE.aseprite)")
        check_out_dir(args.out)  # before reading frames: a cheap mistake to report before slow work
        cols, rows = args.grid if args.grid else (0, 0)
        options = SheetOptions(
            layout="grid" if args.grid else "pack", columns=cols, rows=rows, padding=args.padding,
            extrude=args.extrude, trim=args.trim, merge_duplicates=not args.no_merge, max_size=args.max_size,
            power_of_two=args.power_of_two,
        )
        if args.source:
            sheet = _sheet_from_aseprite(args, options)
        else:
            frames = [read_rgba(p, f"frame {p}") for p in paths]
            tags = [parse_tag(t) for t in args.tag] or [AnimationTag(args.name, 0, len(frames) - 1)]
            names = [p.stem for p in paths] if len({p.stem for p in paths}) == len(paths) else None
            sheet = build_sheet(
                frames, tags=tags, durations_ms=durations_from_fps(len(frames), DEFAULT_FPS if args.fps is None else args.fps),
                names=names, pivot=(args.pivot[0], args.pivot[1]), options=options,
            )
        written = write_sheet_dir(sheet, writable_dir(args.out), args.name)
    except ValueError as exc:
        err(f"sheet: {exc}")
        return 2
    say(sheet_summary(sheet))
    for path in written:
        say(str(path))
    return 0


def add_sheet_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``sheet`` on ``subparsers`` (from ``ArgumentParser.add_subparsers``); return its parser."""
    p = subparsers.add_parser(
        "sheet", help="pack PNG frames into a sprite sheet (PNG + Aseprite JSON + .atlas.ron)",
        description="Writes NAME.png, NAME.json, NAME.atlas.ron (and NAME.assets.ron for grids) into DIR. The "
        "frames are PNG files, or every frame of an .aseprite file (--from) with its durations, tags and pivots.",
    )
    p.add_argument("frames", nargs="*", metavar="FRAMES", help="PNG frames in playback order")
    p.add_argument("--from", dest="source", metavar="FILE.aseprite",
                   help="take frames, durations, tags and pivots from an Aseprite file instead of PNG frames")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--name", required=True, help="base name of the written files")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--grid", type=_grid, metavar="COLSxROWS", help="uniform grid of equal cells")
    mode.add_argument("--pack", action="store_true", help="MaxRects packing (the default)")
    p.add_argument("--fps", type=float, default=None,
                   help="frames per second (default 10; with --from, the file's own durations)")
    p.add_argument("--tag", action="append", default=[], metavar="NAME:FROM-TO[:DIR[:REPEAT]]",
                   help="animation tag; repeatable (default: one tag NAME over all frames)")
    p.add_argument("--padding", type=int, default=0, help="pixels between frames")
    p.add_argument("--extrude", type=int, default=0, help="pixels of edge extrusion around each frame")
    p.add_argument("--trim", action="store_true", help="trim transparent borders (packing only)")
    p.add_argument("--no-merge", action="store_true", help="keep identical frames separately")
    p.add_argument("--max-size", type=int, default=4096, help="largest atlas side (default 4096)")
    p.add_argument("--power-of-two", action="store_true", help="power-of-two atlas sides")
    p.add_argument("--pivot", type=float, nargs=2, default=(0.5, 1.0), metavar=("X", "Y"),
                   help="pivot in the frame, 0..1 from the top-left (default 0.5 1 = bottom centre)")
    p.set_defaults(func=run_sheet)
    return p


def _find_sheet(source: str) -> tuple[Path, Path, str]:
    path = Path(source)
    if path.is_dir():
        jsons = sorted(q for q in path.glob("*.json") if (q.with_suffix(".png")).exists())
        if len(jsons) != 1:
            raise ValueError(f"{path}: expected exactly one NAME.json with NAME.png, found {len(jsons)}")
        json_path = jsons[0]
    else:
        json_path = path if path.suffix == ".json" else path.with_suffix(".json")
    png_path = json_path.with_suffix(".png")
    if not json_path.is_file() or not png_path.is_file():
        raise ValueError(f"{source}: no sheet there (need {json_path.name} and {png_path.name})")
    return json_path, png_path, json_path.stem


def run_deploy(args: argparse.Namespace) -> int:
    """Deploy a sheet written by ``sheet`` into a Bevy project; return the exit code (2 on bad input)."""
    try:
        json_path, png_path, stem = _find_sheet(args.source)
        sheet = read_sheet_dir(json_path)
        if args.category or args.variant or args.asset_name:
            category = args.category or "character"
            name = args.asset_name or stem
            variant = args.variant or "base"
        else:
            category, name, variant = split_asset_name(stem)
        report = export_to_bevy(sheet, args.bevy, category=category, name=name, variant=variant,
                                subdir=args.subdir, dry_run=args.dry_run, aseprite=args.aseprite, rgba=args.rgba)
    except ValueError as exc:
        err(f"deploy: {exc}")
        return 2
    say(report.summary())
    return 0


def add_deploy_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``deploy`` on ``subparsers``; return its parser."""
    p = subparsers.add_parser(
        "deploy", help="export a sheet into a Bevy project's assets/ (atomic, backed up, indexed)",
        description="SHEET_DIR_OR_NAME is a folder or NAME(.json) written by `dgx-pixels sheet`. Without "
        "--category/--name/--variant, NAME must follow category_name_variant.",
    )
    p.add_argument("source", metavar="SHEET_DIR_OR_NAME")
    p.add_argument("--bevy", required=True, metavar="PROJECT", help="Bevy project root (holds assets/)")
    p.add_argument("--dry-run", action="store_true", help="report what would be written, write nothing")
    p.add_argument("--subdir", default="sprites", help="folder under assets/ (default sprites)")
    p.add_argument("--category", choices=CATEGORIES, help="asset category")
    p.add_argument("--name", dest="asset_name", help="asset name (default: the sheet's file name)")
    p.add_argument("--variant", help="asset variant (default base)")
    p.add_argument("--aseprite", action="store_true",
                   help="also write <asset>.aseprite (for bevy_aseprite_ultra) in the same export")
    p.add_argument("--rgba", action="store_true", help="RGBA atlas PNGs (default: palette PNGs when ≤256 colours)")
    p.set_defaults(func=run_deploy)
    return p
