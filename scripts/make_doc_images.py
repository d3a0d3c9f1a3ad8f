"""Generate the pictures of docs/pixel.md and docs/workflows.md into docs/images/ (no engine needed).

Every picture comes from the pack's own ops, the demo's procedural knight and the synthetic fake-pixel-art
generator of the unit tests; pixel art is always enlarged by an integer factor with nearest scaling.

    .venv/bin/python scripts/make_doc_images.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]

from dgx_pixels.cli.demo_art import draw_knight_frame, draw_walk_cycle  # noqa: E402
from dgx_pixels.ops.grid import detect_grid, resample_grid  # noqa: E402
from dgx_pixels.ops.outline import remove_jaggies, remove_orphans  # noqa: E402
from dgx_pixels.ops.palette import builtin_palette, extract_palette  # noqa: E402
from dgx_pixels.ops.dither import apply_palette  # noqa: E402
from dgx_pixels.ops.pixelize import pixelize  # noqa: E402
from dgx_pixels.ops.sheet import AnimationTag, SheetOptions, build_sheet, durations_from_fps  # noqa: E402

BACKDROP = (236, 236, 240)
INK = (30, 30, 40)
FONT = ImageFont.load_default(size=13)
SMALL = ImageFont.load_default(size=11)


def load_pixel_synth():
    """Import tests/unit/pixel_synth.py by path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("pixel_synth", ROOT / "tests" / "pixel_synth.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image → IMAGE [1,H,W,C] float 0..1 (RGBA kept)."""
    return torch.from_numpy(np.asarray(image).copy()).float().div(255).unsqueeze(0)


def to_pil(image: torch.Tensor) -> Image.Image:
    """IMAGE [1,H,W,C] → PIL (RGB or RGBA), exact 8-bit values."""
    arr = (image[0].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return Image.fromarray(arr, "RGBA" if arr.shape[-1] == 4 else "RGB")


def checker(size: tuple[int, int], square: int = 8) -> Image.Image:
    """A light checkerboard that shows where an image is transparent."""
    board = Image.new("RGB", size, (250, 250, 250))
    draw = ImageDraw.Draw(board)
    for y in range(0, size[1], square):
        for x in range((y // square) % 2 * square, size[0], 2 * square):
            draw.rectangle([x, y, x + square - 1, y + square - 1], fill=(214, 214, 220))
    return board


def flatten(image: Image.Image) -> Image.Image:
    """Composite RGBA onto the checkerboard; RGB passes through."""
    if image.mode != "RGBA":
        return image.convert("RGB")
    board = checker(image.size)
    board.paste(image, (0, 0), image)
    return board


def zoom(image: Image.Image, factor: int) -> Image.Image:
    """Integer nearest enlargement: how pixel art should be looked at."""
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def fit(image: Image.Image, side: int) -> Image.Image:
    """Shrink a high-resolution source to ``side`` px wide for display (smooth: it is not pixel art)."""
    height = round(image.height * side / image.width)
    return image.resize((side, height), Image.Resampling.LANCZOS)


def panel_row(panels: list[tuple[Image.Image, str]], title: str | None = None, gap: int = 10) -> Image.Image:
    """Lay panels out left to right, each with its caption underneath."""
    shown = [flatten(p) for p, _ in panels]
    top = 22 if title else 6
    width = sum(p.width for p in shown) + gap * (len(shown) + 1)
    height = top + max(p.height for p in shown) + 24
    sheet = Image.new("RGB", (width, height), BACKDROP)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((gap, 4), title, fill=INK, font=FONT)
    x = gap
    for picture, (_, caption) in zip(shown, panels):
        sheet.paste(picture, (x, top))
        draw.text((x, top + picture.height + 4), caption, fill=INK, font=SMALL)
        x += picture.width + gap
    return sheet


def stack(rows: list[Image.Image]) -> Image.Image:
    """Stack images top to bottom on the backdrop."""
    out = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), BACKDROP)
    y = 0
    for row in rows:
        out.paste(row, (0, y))
        y += row.height
    return out


def save(image: Image.Image, out_dir: Path, name: str, made: list[tuple[str, int]]) -> None:
    """Write an optimised PNG (palette-quantised when it has at most 256 colours) and record its size."""
    path = out_dir / name
    image = image.convert("RGB")
    if image.getcolors(256) is not None:
        image = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    image.save(path, optimize=True)
    made.append((name, path.stat().st_size))


# ---------------------------------------------------------------------------------------------------------------
# docs/pixel.md

def modes_picture(knight: torch.Tensor) -> Image.Image:
    """The knight at 512² and pixelized to 64² (16 colours) in each cell mode, 4x."""
    panels = [(fit(to_pil(knight), 256), "source 512x512 (shown at 256)")]
    for mode in ("contrast", "kcentroid", "majority", "nearest", "area"):
        out = pixelize(knight, size=(64, 64), mode=mode, colors=16)
        panels.append((zoom(to_pil(out.image), 4), f"{mode}, 64x64, 16 colours"))
    return stack([panel_row(panels[:3]), panel_row(panels[3:])])


def palettes_picture(knight: torch.Tensor) -> Image.Image:
    """The knight at 64² mapped to three built-in palettes, each with its swatches."""
    panels = []
    for name in ("pico-8", "endesga-32", "game-boy"):
        palette = builtin_palette(name)
        out = to_pil(pixelize(knight, size=(64, 64), mode="contrast", palette=palette).image)
        picture = flatten(zoom(out, 4))
        swatch = 256 // len(palette.colors)
        strip = Image.new("RGB", (256, 12), BACKDROP)
        draw = ImageDraw.Draw(strip)
        for i, colour in enumerate(palette.colors):
            draw.rectangle([i * swatch, 0, (i + 1) * swatch - 1, 11], fill=tuple(int(v) for v in colour))
        framed = Image.new("RGB", (256, picture.height + 16), BACKDROP)
        framed.paste(picture, (0, 0))
        framed.paste(strip, (0, picture.height + 4))
        panels.append((framed, f"{name} ({len(palette.colors)} colours)"))
    return panel_row(panels)


def dither_picture() -> Image.Image:
    """A 96×24 colour ramp mapped to PICO-8 and to the Game Boy greens with no dither, Bayer 4×4 and FS, 3x."""
    xs = torch.linspace(0, 1, 96)
    ys = torch.linspace(0, 1, 24)
    red = xs[None, :].expand(24, 96)
    blue = 1 - xs[None, :].expand(24, 96)
    green = ys[:, None].expand(24, 96) * 0.8
    ramp = torch.stack([red * 0.9 + 0.05, green, blue * 0.7 + 0.1], dim=-1).unsqueeze(0)
    rows = [panel_row([(zoom(to_pil(ramp), 3), "source ramp, 96x24")])]
    for name in ("pico-8", "game-boy"):
        palette = builtin_palette(name)
        panels = [(zoom(to_pil(apply_palette(ramp, palette, dither)), 3), f"{name}, dither {dither}")
                  for dither in ("none", "bayer4", "fs")]
        rows.append(panel_row(panels))
    return stack(rows)


def alpha_picture(knight: torch.Tensor) -> Image.Image:
    """The knight painted on a flat backdrop: background kept, flood-fill removal, outer and inner outline."""
    rgb = knight[..., :3] * knight[..., 3:] + torch.tensor([0.55, 0.75, 0.55]) * (1 - knight[..., 3:])
    palette = builtin_palette("endesga-32")
    panels = [(fit(to_pil(rgb), 192), "source on a flat backdrop")]
    settings = (("alpha none: backdrop kept", {"alpha_mode": "none"}),
                ("background flood -> alpha", {"background": "flood"}),
                ("flood + outer outline", {"background": "flood", "outline": "outer"}),
                ("flood + inner outline", {"background": "flood", "outline": "inner"}))
    for caption, kwargs in settings:
        out = pixelize(rgb, size=(48, 48), mode="contrast", palette=palette, **kwargs)
        panels.append((zoom(to_pil(out.image), 4), caption))
    return stack([panel_row(panels[:3]), panel_row(panels[3:])])


def fake_sprite(synth) -> tuple[np.ndarray, np.ndarray, float]:
    """One fake pixel-art sprite: a 24×20 sprite at 7.3x with a phase offset, blur, noise and JPEG."""
    rng = np.random.default_rng(5)
    sprite = synth.make_sprite(rng, 24, 20)
    factor = 7.3
    return synth.fake_pixel_art(rng, sprite, factor, (2.6, -1.9)), sprite, factor


def grid_picture(synth) -> Image.Image:
    """Fake pixel art → detected cuts drawn over it → recovered native sprite next to the true one."""
    fake, sprite, factor = fake_sprite(synth)
    image = torch.from_numpy(fake.copy()).float().div(255).unsqueeze(0)
    grid = detect_grid(image)
    native = to_pil(resample_grid(image, grid, "majority", inset=0.2))
    cuts = zoom(Image.fromarray(fake), 2)
    draw = ImageDraw.Draw(cuts)
    for x in grid.x_bounds[1:-1]:
        draw.line([(round(2 * x), 0), (round(2 * x), cuts.height)], fill=(255, 0, 200))
    for y in grid.y_bounds[1:-1]:
        draw.line([(0, round(2 * y)), (cuts.width, round(2 * y))], fill=(255, 0, 200))
    # JPEG and noise shift colours a little: a cell counts as right within 24/255 per channel, as in the bench.
    diff = np.abs(np.asarray(native).astype(int) - sprite.astype(int)) if native.size == (24, 20) else None
    right = int((diff <= 24).all(-1).sum()) if diff is not None else 0
    panels = [(zoom(Image.fromarray(fake), 2), f"fake (2x): {fake.shape[1]}x{fake.shape[0]}, cell {factor} px"),
              (cuts, f"cuts found: {grid.width}x{grid.height}, cell {grid.cell_x:.2f} px"),
              (zoom(native, 14), f"recovered 14x: {right}/{24 * 20} cells right"),
              (zoom(Image.fromarray(sprite), 14), "true sprite, 14x")]
    return panel_row(panels)


# ---------------------------------------------------------------------------------------------------------------
# docs/workflows.md

LINK_COLOURS = {"IMAGE": (100, 160, 230), "MASK": (120, 200, 120), "MODEL": (180, 140, 230), "CLIP": (230, 200, 80),
                "VAE": (230, 100, 100), "LATENT": (230, 150, 200), "CONDITIONING": (230, 170, 90)}


def workflow_diagram(path: Path) -> Image.Image:
    """Boxes at the nodes' saved positions with title, type and widget values; links drawn output → input."""
    data = json.loads(path.read_text())
    nodes = {n["id"]: n for n in data["nodes"]}
    x0 = min(n["pos"][0] for n in nodes.values()) - 20
    y0 = min(n["pos"][1] for n in nodes.values()) - 20
    x1 = max(n["pos"][0] + n["size"][0] for n in nodes.values()) + 20
    y1 = max(n["pos"][1] + n["size"][1] for n in nodes.values()) + 20
    # Half the editor's size, smaller for big graphs so that the picture stays a page wide and a page high.
    scale = min(0.5, 1400 / (x1 - x0), 1400 / (y1 - y0))
    canvas = Image.new("RGB", (int((x1 - x0) * scale), int((y1 - y0) * scale) + 24), (40, 42, 48))
    draw = ImageDraw.Draw(canvas)

    def box(node: dict) -> tuple[float, float, float, float]:
        x, y = (node["pos"][0] - x0) * scale, (node["pos"][1] - y0) * scale + 24
        return x, y, x + node["size"][0] * scale, y + max(node["size"][1] * scale, 40)

    def sockets(node: dict) -> list[int]:
        # Widget inputs without a link are drawn as values, not sockets (as the editor does).
        return [i for i, put in enumerate(node.get("inputs") or []) if "widget" not in put or put.get("link")]

    def port_y(node: dict, slot: int, is_input: bool) -> float:
        row = sockets(node).index(slot) if is_input else slot
        return box(node)[1] + 22 + row * 12

    draw.text((8, 5), f"{path.name}: {len(nodes)} nodes, {len(data['links'])} links (drawn from the saved UI "
              "workflow)", fill=(220, 220, 225), font=SMALL)
    for node in nodes.values():
        left, top, right, bottom = box(node)
        ours = node["type"].startswith("DGXPixels.")
        draw.rectangle([left, top, right, bottom], fill=(58, 60, 68), outline=(120, 124, 136))
        draw.rectangle([left, top, right, top + 16], fill=(70, 110, 90) if ours else (80, 84, 96))
        title = node.get("title") or node["type"].removeprefix("DGXPixels.")
        draw.text((left + 4, top + 2), title[: int((right - left) / 6.5)], fill=(240, 240, 240), font=SMALL)
        values = [str(v) for v in node.get("widgets_values") or [] if not isinstance(v, (dict, list))]
        lines = [", ".join(values[i:i + 3]) for i in range(0, min(len(values), 9), 3)]
        for i, line in enumerate(lines[: int((bottom - top - 20) / 12)]):
            draw.text((left + 4, top + 20 + i * 12), line[: int((right - left) / 6)], fill=(190, 194, 204),
                      font=SMALL)
    # Links on top of the boxes, so that none hides behind a node it passes.
    for link in data["links"]:
        _, src, src_slot, dst, dst_slot, kind = link[:6]
        a, b = box(nodes[src]), box(nodes[dst])
        draw.line([(a[2], port_y(nodes[src], src_slot, False)), (b[0], port_y(nodes[dst], dst_slot, True))],
                  fill=LINK_COLOURS.get(kind, (200, 200, 200)), width=2 if len(data["links"]) < 40 else 1)
    for node in nodes.values():
        left, _, right, _ = box(node)
        for slot in sockets(node):
            y = port_y(node, slot, True)
            draw.ellipse([left - 3, y - 3, left + 3, y + 3], fill=(200, 200, 200))
        for slot, _ in enumerate(node.get("outputs") or []):
            y = port_y(node, slot, False)
            draw.ellipse([right - 3, y - 3, right + 3, y + 3], fill=(200, 200, 200))
    return canvas


def demo_sheet_picture() -> Image.Image:
    """The demo's walk cycle pixelized at 64² with endesga-32 (the demo's settings), packed as a grid sheet, 3x."""
    frames = torch.cat([to_tensor(frame) for frame in draw_walk_cycle(6, 512)])
    out = pixelize(frames, size=(64, 64), mode="contrast", palette=builtin_palette("endesga-32"), cleanup=True)
    sheet = build_sheet(out.image, tags=[AnimationTag("walk", 0, 5)], durations_ms=durations_from_fps(6, 8.0),
                        options=SheetOptions(layout="grid", padding=1, extrude=1, trim=False))
    atlas = Image.fromarray(sheet.pages[0], "RGBA")
    caption = (f"atlas {atlas.width}x{atlas.height}: 6 frames of 64x64, {len(sheet.textures)} unique after "
               "merging duplicates, tag walk, 8 fps (3x)")
    return panel_row([(zoom(atlas, 3), caption)])


def aseprite_picture() -> Image.Image:
    """The demo walk cycle written as .aseprite and read back (our reader), then swapped to another palette, 3x."""
    from dgx_pixels.ops.aseprite import aseprite_bytes, read_aseprite
    from dgx_pixels.ops.palette import Palette
    from dgx_pixels.ops.palette_swap import swap_palette

    endesga = builtin_palette("endesga-32")
    frames = torch.cat([to_tensor(frame) for frame in draw_walk_cycle(6, 512)])
    out = pixelize(frames, size=(48, 48), mode="contrast", palette=endesga, cleanup=True)
    sheet = build_sheet(out.image, tags=[AnimationTag("walk", 0, 5)], durations_ms=durations_from_fps(6, 8.0),
                        options=SheetOptions(layout="grid", trim=False))
    data = aseprite_bytes(sheet, endesga, {"palette": "endesga-32"})
    back = read_aseprite(data)
    written = [Image.fromarray((frame.numpy() * 255).round().astype(np.uint8), "RGBA") for frame in out.image]
    read = [Image.fromarray(frame, "RGBA") for frame in back.source_frames()]
    # Night: every colour of the palette darkened and blued, entry for entry (a swap by index, no re-quantization).
    night = Palette("night", (endesga.colors * np.array([0.45, 0.5, 0.8])).astype(np.uint8))
    swapped = swap_palette(torch.from_numpy(np.stack([np.asarray(f) for f in read])).float() / 255.0, endesga, [night])
    night_frames = [Image.fromarray((f.numpy() * 255).round().astype(np.uint8), "RGBA") for f in swapped]

    def strip(images: list[Image.Image]) -> Image.Image:
        row = Image.new("RGBA", (sum(i.width for i in images), max(i.height for i in images)))
        for index, image in enumerate(images):
            row.paste(image, (index * images[0].width, 0))
        return zoom(row, 3)

    return stack([panel_row([(strip(written), f"6 frames written as knight_walk.aseprite ({len(data)} bytes, "
                                               f"indexed, tag walk, 125 ms each)")]),
                  panel_row([(strip(read), f"read back: {len(back.frames)} frames, tags "
                                            f"{[tag.name for tag in back.tags]}, {len(back.palette_colors())} "
                                            "palette entries")]),
                  panel_row([(strip(night_frames), "palette swap by index to a night palette (exact, no "
                                                    "re-quantization)")])])


def image_to_pixel_art_picture(knight: torch.Tensor) -> Image.Image:
    """image_to_pixel_art's settings (8-px cells, 16 colours, alpha auto) on the demo knight."""
    out = pixelize(knight, cell_px=8, mode="contrast", colors=16)
    return panel_row([(fit(to_pil(knight), 256), "input 512x512"),
                      (zoom(to_pil(out.image), 4), f"output {out.image.shape[2]}x{out.image.shape[1]}, 4x")])


def cleanup_picture(synth, knight: torch.Tensor) -> Image.Image:
    """fake_pixel_art_cleanup's chain on a fake made from the knight: 48² pixel art re-rendered at 6.6x with
    blur, noise and JPEG → detect grid → 16-colour palette → orphans/jaggies."""
    flat = knight[..., :3] * knight[..., 3:] + torch.tensor([0.85, 0.8, 0.7]) * (1 - knight[..., 3:])
    small = pixelize(flat, size=(48, 48), mode="contrast", palette=builtin_palette("endesga-32")).image
    sprite = (small[0] * 255).round().to(torch.uint8).numpy()
    fake = synth.fake_pixel_art(np.random.default_rng(3), sprite, 6.6, (2.1, -1.4))
    image = torch.from_numpy(fake.copy()).float().div(255).unsqueeze(0)
    grid = detect_grid(image)
    native = resample_grid(image, grid, "majority", inset=0.2)
    mapped = apply_palette(native, extract_palette(native[..., :3], 16))
    rgba = torch.cat([mapped, torch.ones_like(mapped[..., :1])], dim=-1)
    clean = remove_jaggies(remove_orphans(rgba))
    return panel_row([(Image.fromarray(fake), "input (fake pixel art)"),
                      (zoom(to_pil(clean[..., :3]), 6), f"output {grid.width}x{grid.height} (true 48x48), 6x")])


def compare_picture(knight: torch.Tensor) -> Image.Image:
    """A Compare Grid laid out by our op: rows are palettes, columns are cell modes (a stand-in for LoRA × strength,
    which needs real models to show anything but noise)."""
    from dgx_pixels.ops.compare_grid import compare_grid

    palettes = ("pico-8", "endesga-32", "game-boy")
    modes = ("contrast", "majority", "area")
    cells = []
    for name in palettes:
        for mode in modes:
            out = pixelize(knight, size=(48, 48), mode=mode, palette=builtin_palette(name))
            cells.append(out.image[0, ..., :3].cpu().numpy())
    grid, _ = compare_grid(np.stack(cells), columns=len(modes), scale=3, gap_px=3, row_labels=list(palettes),
                           column_labels=list(modes), label_scale=2, background=0.15)
    return Image.fromarray((grid * 255).round().astype(np.uint8))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    synth = load_pixel_synth()
    knight = to_tensor(draw_knight_frame(0.0, 512))
    made: list[tuple[str, int]] = []
    save(modes_picture(knight), args.out, "pixel_modes.png", made)
    save(palettes_picture(knight), args.out, "pixel_palettes.png", made)
    save(dither_picture(), args.out, "pixel_dither.png", made)
    save(alpha_picture(knight), args.out, "pixel_alpha_outline.png", made)
    save(grid_picture(synth), args.out, "pixel_grid_recovery.png", made)
    for path in sorted((ROOT / "workflows").glob("*.json")):
        save(workflow_diagram(path), args.out, f"workflow_{path.stem}.png", made)
    save(image_to_pixel_art_picture(knight), args.out, "workflow_image_to_pixel_art_output.png", made)
    save(cleanup_picture(synth, knight), args.out, "workflow_fake_pixel_art_cleanup_output.png", made)
    save(demo_sheet_picture(), args.out, "workflow_demo_sprite_sheet.png", made)
    save(compare_picture(knight), args.out, "generate_compare_grid.png", made)
    save(aseprite_picture(), args.out, "aseprite_round_trip.png", made)
    for name, size in made:
        print(f"{size / 1024:7.1f} KiB  {name}")  # noqa: T201
    print(f"{sum(s for _, s in made) / 1024:7.1f} KiB  total")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
