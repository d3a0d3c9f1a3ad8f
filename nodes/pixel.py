"""Nodes that turn images into game-ready pixel art: pixelize, grid, palettes, palette swap, alpha, outline, preview.

MASK inputs and outputs follow ComfyUI's convention (as LoadImage gives them): 1 where transparent.
"""

from __future__ import annotations

from pathlib import Path

import torch
from comfy_api.latest import io, ui

from ..export.palettes import load_palette_file
from ..host.memory import fits, image_bytes, pixelize_bytes, require_node_memory, require_pixelize_memory
from ..metrics.counters import count_palette_applied
from ..ops import outline as outline_ops
from ..ops.alpha import BACKGROUNDS, binarize_alpha, remove_background
from ..ops.color import alpha_from_mask, check_image, mask_from_alpha
from ..ops.dither import DITHERS, apply_palette
from ..ops.grid import MODES, detect_grid, recover_pixels
from ..ops.outline import OUTLINES, add_outline
from ..ops.palette import (
    MAX_COLORS,
    builtin_palette,
    builtin_palette_names,
    extract_palette,
    palette_image,
)
from ..ops.palette_swap import UNKNOWN_MODES, swap_palette
from ..ops.pixelize import ALPHA_MODES, darkest_color, pixelize, with_alpha
from ..ops.scale import scale_nearest_integer

Palette = io.Custom("DGX_PALETTE")
CATEGORY = "DGX-Pixels/pixel"


def _rgba(image: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """IMAGE (+ optional ComfyUI mask, 1 = transparent) → checked RGBA batch."""
    image = check_image(image)
    return with_alpha(image, alpha_from_mask(mask, image))


def _parse_hex_rgb(text: str, name: str) -> tuple[float, float, float]:
    value = text.strip().lstrip("#")
    if len(value) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in value):
        raise ValueError(f"{name} must be a colour like #1A1C2C, got {text!r}")
    return tuple(int(value[i:i + 2], 16) / 255.0 for i in (0, 2, 4))


class Pixelize(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.Pixelize",
            display_name="Pixelize (DGX-Pixels)",
            category=CATEGORY,
            description="Turns an image batch into real pixel art at its native size: one colour per cell, one "
                        "palette for the whole batch, clean alpha. The common path in one node.",
            inputs=[
                io.Image.Input("image", tooltip="Image batch (RGB or RGBA) to pixelize; frames share one palette."),
                io.Int.Input("width", default=64, min=0, max=4096,
                             tooltip="Output width in pixels (exact). 0 = use cell_px instead."),
                io.Int.Input("height", default=64, min=0, max=4096,
                             tooltip="Output height in pixels (exact). 0 = use cell_px instead."),
                io.Float.Input("cell_px", default=0.0, min=0.0, max=512.0, step=0.01,
                               tooltip="Cell size in source pixels (used when width/height are 0). With grid "
                                       "'auto' it overrides detection."),
                io.Combo.Input("grid", options=["fixed", "auto"], default="fixed",
                               tooltip="'fixed' cuts a regular grid; 'auto' recovers the grid of fake pixel art "
                                       "(non-integer cells, offset) and returns it at its true size."),
                io.Combo.Input("mode", options=list(MODES), default="contrast",
                               tooltip="How a cell picks its colour: contrast keeps thin dark outlines; "
                                       "kcentroid = dominant cluster; majority = most common; nearest = centre; "
                                       "area = average."),
                io.Int.Input("colors", default=16, min=0, max=MAX_COLORS,
                             tooltip="Palette size fitted to the batch (k-means in OKLab). 0 keeps the downscaled "
                                     "colours. Ignored when a palette is connected."),
                io.Combo.Input("dither", options=list(DITHERS), default="none",
                               tooltip="none, ordered Bayer 2/4/8 (stable between frames) or Floyd-Steinberg."),
                io.Float.Input("dither_strength", default=1.0, min=0.0, max=2.0, step=0.05,
                               tooltip="How strongly the dither pushes colours (0 = off)."),
                io.Combo.Input("alpha", options=list(ALPHA_MODES), default="auto",
                               tooltip="auto: keep transparency when the input has some; keep: always RGBA; "
                                       "none: opaque RGB."),
                io.Float.Input("alpha_threshold", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="Cells with at least this opacity become opaque, the rest transparent."),
                io.Combo.Input("background", options=list(BACKGROUNDS), default="none",
                               tooltip="Remove the background: key = every pixel of the border colour; flood = "
                                       "only the part connected to the border."),
                io.Combo.Input("outline", options=list(OUTLINES), default="none",
                               tooltip="Add a 1 px outline in the palette's darkest colour, outside or on the "
                                       "sprite's edge (needs transparency)."),
                io.Boolean.Input("cleanup", default=False,
                                 tooltip="Remove orphan pixels and L-shaped jaggies after mapping."),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1,
                             tooltip="Seed for palette fitting on large images; same seed, same result."),
                io.Mask.Input("mask", optional=True,
                              tooltip="Optional transparency mask (1 = transparent, as LoadImage gives)."),
                Palette.Input("palette", optional=True,
                              tooltip="Optional palette to map to (from Palette Load / Palette From Images)."),
            ],
            outputs=[
                io.Image.Output("out_image", display_name="image", tooltip="Pixel art at native size (RGBA when alpha is kept)."),
                io.Mask.Output("out_mask", display_name="mask", tooltip="Transparency of the result (1 = transparent)."),
                Palette.Output("out_palette", display_name="palette", tooltip="The palette used, to reuse on other images or frames."),
            ],
        )

    @classmethod
    def execute(cls, image, width, height, cell_px, grid, mode, colors, dither, dither_strength, alpha,
                alpha_threshold, background, outline, cleanup, seed, mask=None, palette=None) -> io.NodeOutput:
        import comfy.model_management

        # IMAGE tensors live on the CPU between nodes; pixelizing on the GPU is ~10x faster per batch, when the
        # batch fits there (otherwise the CPU, which checks its own memory).
        device = comfy.model_management.get_torch_device()
        if not fits(pixelize_bytes(image.shape), device):
            device = torch.device("cpu")
        if device.type == "cpu":
            require_pixelize_memory(image)
        image = check_image(image).to(device)
        alpha_in = alpha_from_mask(mask, image)
        size = (width, height) if width > 0 and height > 0 else None
        if grid == "fixed" and size is None and cell_px <= 0:
            raise ValueError("Pixelize needs a size: set width and height, or cell_px, or grid 'auto'")
        result = pixelize(
            image, alpha_in, size=size, cell_px=cell_px or None, grid=grid, mode=mode,
            colors=colors, palette=palette, dither=dither, dither_strength=dither_strength, alpha_mode=alpha,
            alpha_threshold=alpha_threshold, background=background, outline=outline, cleanup=cleanup, seed=seed,
            check_interrupt=comfy.model_management.throw_exception_if_processing_interrupted,
        )
        out = result.image.cpu()
        count_palette_applied(out.shape[0])
        return io.NodeOutput(out, mask_from_alpha(out), result.palette)


class DetectGrid(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.DetectGrid",
            display_name="Detect Pixel Grid",
            category=CATEGORY,
            description="Finds the pixel grid of fake pixel art (cells of any size, offset, drift) and returns the "
                        "image at its true native size.",
            inputs=[
                io.Image.Input("image", tooltip="Fake pixel art (for example a 1024² diffusion output); one grid "
                                                "is found for the whole batch."),
                io.Float.Input("min_cell_px", default=2.0, min=1.0, max=256.0, step=0.1,
                               tooltip="Smallest cell size to consider, in source pixels."),
                io.Float.Input("max_cell_px", default=0.0, min=0.0, max=1024.0, step=0.1,
                               tooltip="Largest cell size to consider; 0 = a quarter of the shorter side."),
                io.Float.Input("drift", default=0.25, min=0.0, max=0.5, step=0.05,
                               tooltip="How far (share of a cell) a cut may drift from the regular grid."),
                io.Combo.Input("mode", options=list(MODES), default="majority",
                               tooltip="How each recovered cell picks its colour (sampled away from blurred "
                                       "borders)."),
            ],
            outputs=[
                io.Image.Output("out_image", display_name="image", tooltip="The image at its recovered native size."),
                io.Int.Output("out_width", display_name="width", tooltip="Native width in cells."),
                io.Int.Output("out_height", display_name="height", tooltip="Native height in cells."),
                io.Float.Output("out_cell_px", display_name="cell_px", tooltip="Detected horizontal cell size in source pixels."),
            ],
        )

    @classmethod
    def execute(cls, image, min_cell_px, max_cell_px, drift, mode) -> io.NodeOutput:
        image = check_image(image)
        grid = detect_grid(image, min_cell_px, max_cell_px or None, drift)
        out, grid = recover_pixels(image, grid, mode)
        return io.NodeOutput(out, grid.width, grid.height, float(grid.cell_x))


class PaletteLoad(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.PaletteLoad",
            display_name="Palette Load",
            category=CATEGORY,
            description="Loads a built-in retro palette, or a palette file (.hex, .gpl, JASC .pal, PNG strip) "
                        "from ComfyUI's input folder.",
            inputs=[
                io.Combo.Input("name", options=builtin_palette_names() + ["file"], default="pico-8",
                               tooltip="A built-in palette, or 'file' to read the file named below."),
                io.String.Input("file", default="",
                                tooltip="Palette file inside ComfyUI's input folder (used when name is 'file'), "
                                        "e.g. palettes/my.hex."),
            ],
            outputs=[
                Palette.Output("out_palette", display_name="palette", tooltip="The palette."),
                io.Image.Output("out_swatch", display_name="swatch", tooltip="A strip showing the palette's colours."),
            ],
        )

    @classmethod
    def execute(cls, name, file) -> io.NodeOutput:
        if name != "file":
            palette = builtin_palette(name)
        else:
            import folder_paths

            if not file.strip():
                raise ValueError("Palette Load: name is 'file' but no file is given; put a palette file in "
                                 "ComfyUI's input folder and type its name")
            root = Path(folder_paths.get_input_directory()).resolve()
            path = (root / file.strip()).resolve()
            if root not in path.parents:
                raise ValueError(f"Palette Load: {file!r} is outside ComfyUI's input folder")
            palette = load_palette_file(path)
        # The editor extension draws swatches from ui.dgx_palette.
        return io.NodeOutput(palette, palette_image(palette), ui={"dgx_palette": [f"#{c}" for c in palette.hex()]})


class PaletteFromImages(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.PaletteFromImages",
            display_name="Palette From Images",
            category=CATEGORY,
            description="Fits one palette (k-means in OKLab, deterministic) to every opaque pixel of a batch, so "
                        "all frames of an animation can share it.",
            inputs=[
                io.Image.Input("image", tooltip="Images (or animation frames) to take the colours from."),
                io.Int.Input("colors", default=16, min=1, max=MAX_COLORS, tooltip="Most colours in the palette."),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1,
                             tooltip="Seed for sampling pixels of large images."),
                io.Mask.Input("mask", optional=True, tooltip="Optional mask; transparent pixels (1) are ignored."),
            ],
            outputs=[
                Palette.Output("out_palette", display_name="palette", tooltip="The fitted palette."),
                io.Image.Output("out_swatch", display_name="swatch", tooltip="A strip showing the palette's colours."),
            ],
        )

    @classmethod
    def execute(cls, image, colors, seed, mask=None) -> io.NodeOutput:
        b, h, w = _shape(image)
        # The RGBA copy, and OKLab of the sampled pixels.
        require_node_memory(2 * image_bytes(b, h, w, 4), f"fitting a palette to {b} image(s) of {w}x{h}", "the batch")
        rgba = _rgba(image, mask)
        palette = extract_palette(rgba[..., :3], colors, alpha=rgba[..., 3], seed=seed)
        # The editor extension draws swatches from ui.dgx_palette.
        return io.NodeOutput(palette, palette_image(palette), ui={"dgx_palette": [f"#{c}" for c in palette.hex()]})


class ApplyPalette(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.ApplyPalette",
            display_name="Apply Palette",
            category=CATEGORY,
            description="Maps every opaque pixel to the nearest palette colour (in OKLab), with optional dither.",
            inputs=[
                io.Image.Input("image", tooltip="Image batch to recolour (RGB or RGBA)."),
                Palette.Input("palette", tooltip="The palette to map to."),
                io.Combo.Input("dither", options=list(DITHERS), default="none",
                               tooltip="none, ordered Bayer 2/4/8 (stable between frames) or Floyd-Steinberg."),
                io.Float.Input("strength", default=1.0, min=0.0, max=2.0, step=0.05,
                               tooltip="How strongly the dither pushes colours (0 = off)."),
                io.Mask.Input("mask", optional=True, tooltip="Optional transparency mask (1 = transparent)."),
            ],
            outputs=[
                io.Image.Output("out_image", display_name="image", tooltip="The recoloured image (alpha kept)."),
                io.Mask.Output("out_mask", display_name="mask", tooltip="Transparency (1 = transparent)."),
            ],
        )

    @classmethod
    def execute(cls, image, palette, dither, strength, mask=None) -> io.NodeOutput:
        import comfy.model_management

        b, h, w = _shape(image)
        # Distances from every pixel to every palette colour, besides the RGBA copies.
        require_node_memory(image_bytes(b, h, w, len(palette) + 12), f"mapping {b} image(s) of {w}x{h} to "
                            f"{len(palette)} colours", "the batch or the palette size")
        image = check_image(image)
        src = image if mask is None and image.shape[-1] == 3 else _rgba(image, mask)
        out = apply_palette(src, palette, dither, strength,
                            check_interrupt=comfy.model_management.throw_exception_if_processing_interrupted)
        count_palette_applied(out.shape[0])
        return io.NodeOutput(out, mask_from_alpha(out))


EXTRA_SWAP_TARGETS = 7  # target_2..target_8: eight variants from one node, enough for a set of team colours


class PaletteSwap(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        extra = [Palette.Input(f"target_{n}", optional=True, tooltip=f"Optional palette for variant {n}.")
                 for n in range(2, EXTRA_SWAP_TARGETS + 2)]
        return io.Schema(
            node_id="DGXPixels.PaletteSwap",
            display_name="Palette Swap",
            category=CATEGORY,
            description="Recolours a sprite by palette index, exactly: each pixel whose colour is entry i of the "
                        "source palette becomes entry i of the target (team colours, day/night, damage flash). "
                        "No re-quantization; transparent pixels stay transparent. Several targets give a batch of "
                        "variants.",
            inputs=[
                io.Image.Input("image", tooltip="Sprite batch drawn in the source palette (RGB or RGBA)."),
                Palette.Input("source", tooltip="The palette the sprite is drawn in (its order defines the "
                                                "indices)."),
                Palette.Input("target", tooltip="The palette to swap to; at least as many colours as the source."),
                io.Combo.Input("unknown", options=list(UNKNOWN_MODES), default="error",
                               tooltip="A visible pixel whose colour is not in the source palette: error stops "
                                       "with how many and an example; keep leaves it as it is."),
                io.Mask.Input("mask", optional=True, tooltip="Optional transparency mask (1 = transparent)."),
                *extra,
            ],
            outputs=[
                io.Image.Output("out_image", display_name="image",
                                tooltip="The variants: every frame for target, then every frame for target_2..."),
                io.Mask.Output("out_mask", display_name="mask", tooltip="Transparency (1 = transparent)."),
            ],
        )

    @classmethod
    def execute(cls, image, source, target, unknown, mask=None, **targets) -> io.NodeOutput:
        b, h, w = _shape(image)
        palettes = [target] + [targets[f"target_{n}"] for n in range(2, EXTRA_SWAP_TARGETS + 2)
                               if targets.get(f"target_{n}") is not None]
        # The RGBA copy, the per-pixel index and match, then one output per target.
        require_node_memory(image_bytes(b, h, w, 4 * (2 + len(palettes))),
                            f"swapping {b} image(s) of {w}x{h} to {len(palettes)} palette(s)", "the batch")
        image = check_image(image, min_side=1)  # a 1 px wide sprite swaps as well as any
        src = image if mask is None else with_alpha(image, alpha_from_mask(mask, image))
        try:
            out = swap_palette(src, source, palettes, unknown=unknown)
        except ValueError as exc:  # UnknownColorsError too: shown to the user as a plain input error
            raise ValueError(str(exc)) from None
        return io.NodeOutput(out, mask_from_alpha(out))


class AlphaCleanup(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.AlphaCleanup",
            display_name="Alpha Cleanup",
            category=CATEGORY,
            description="Makes alpha binary, removes the background (colour key or border flood fill) and zeroes "
                        "the colour of transparent pixels (no phantom pixels).",
            inputs=[
                io.Image.Input("image", tooltip="Image batch (RGB or RGBA)."),
                io.Float.Input("threshold", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="Pixels at least this opaque become opaque; the rest transparent."),
                io.Combo.Input("background", options=list(BACKGROUNDS), default="flood",
                               tooltip="none; key = every pixel near the key colour; flood = only those "
                                       "connected to the border."),
                io.String.Input("key_color", default="",
                                tooltip="Background colour like #FF00FF; empty = the most common border colour."),
                io.Float.Input("tolerance", default=0.05, min=0.0, max=1.0, step=0.01,
                               tooltip="How far (OKLab distance) a colour may be from the key and still count "
                                       "as background."),
                io.Boolean.Input("enclosed_holes", default=False,
                                 tooltip="With flood: also clear background-coloured holes inside the sprite."),
                io.Mask.Input("mask", optional=True, tooltip="Optional transparency mask (1 = transparent)."),
            ],
            outputs=[
                io.Image.Output("out_image", display_name="image", tooltip="RGBA image with binary alpha."),
                io.Mask.Output("out_mask", display_name="mask", tooltip="Transparency (1 = transparent)."),
            ],
        )

    @classmethod
    def execute(cls, image, threshold, background, key_color, tolerance, enclosed_holes, mask=None) -> io.NodeOutput:
        import comfy.model_management

        b, h, w = _shape(image)
        # RGBA and OKLab copies, distances and the flood fill's labels.
        require_node_memory(image_bytes(b, h, w, 16), f"cleaning the alpha of {b} image(s) of {w}x{h}", "the batch")
        rgba = _rgba(image, mask)
        key = _parse_hex_rgb(key_color, "key_color") if key_color.strip() else None
        out = remove_background(rgba, background, key, tolerance, enclosed_holes,
                                check_interrupt=comfy.model_management.throw_exception_if_processing_interrupted)
        out = binarize_alpha(out, threshold)
        return io.NodeOutput(out, mask_from_alpha(out))


class OutlineCleanup(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.OutlineCleanup",
            display_name="Outline And Cleanup",
            category=CATEGORY,
            description="Removes orphan pixels and L-shaped jaggies, then draws a 1 px outline around (outer) or "
                        "on the edge of (inner) the sprite.",
            inputs=[
                io.Image.Input("image", tooltip="Pixel art at native size (RGBA, or RGB with a mask)."),
                io.Combo.Input("outline", options=list(OUTLINES), default="outer",
                               tooltip="outer: around the sprite; inner: on its edge pixels; none: cleanup only."),
                io.String.Input("color", default="",
                                tooltip="Outline colour like #1A1C2C; empty = the palette's darkest colour "
                                        "(or black without a palette)."),
                io.Boolean.Input("remove_orphans", default=True,
                                 tooltip="Replace single pixels unlike all 8 neighbours."),
                io.Boolean.Input("remove_jaggies", default=True,
                                 tooltip="Remove the corner pixel of L-shaped steps in 1 px lines."),
                io.Mask.Input("mask", optional=True, tooltip="Optional transparency mask (1 = transparent)."),
                Palette.Input("palette", optional=True, tooltip="Optional palette: the outline takes its darkest "
                                                                "colour."),
            ],
            outputs=[
                io.Image.Output("out_image", display_name="image", tooltip="The cleaned, outlined RGBA image."),
                io.Mask.Output("out_mask", display_name="mask", tooltip="Transparency (1 = transparent)."),
            ],
        )

    @classmethod
    def execute(cls, image, outline, color, remove_orphans, remove_jaggies, mask=None,
                palette=None) -> io.NodeOutput:
        out = _rgba(image, mask)
        if remove_orphans:
            out = outline_ops.remove_orphans(out)
        if remove_jaggies:
            out = outline_ops.remove_jaggies(out)
        if color.strip():
            rgb = _parse_hex_rgb(color, "color")
        elif palette is not None:
            rgb = darkest_color(palette)
        else:
            rgb = (0.0, 0.0, 0.0)
        out = add_outline(out, rgb, outline)
        return io.NodeOutput(out, mask_from_alpha(out))


class PixelPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.PixelPreview",
            display_name="Pixel Preview",
            category=CATEGORY,
            description="Shows pixel art enlarged by an integer nearest-neighbour zoom, so every pixel stays a "
                        "crisp square.",
            is_output_node=True,
            inputs=[
                io.Image.Input("image", tooltip="Pixel art to preview (any batch size)."),
                io.Int.Input("zoom", default=8, min=1, max=64, tooltip="Each pixel is shown as zoom×zoom pixels."),
            ],
            outputs=[io.Image.Output("out_image", display_name="image", tooltip="The zoomed image, for saving or further use.")],
        )

    @classmethod
    def execute(cls, image, zoom) -> io.NodeOutput:
        b, h, w = _shape(image)
        require_node_memory(image_bytes(b, h * zoom, w * zoom, image.shape[-1]),
                            f"previewing {b} image(s) of {w}x{h} at zoom {zoom}", "zoom (or preview fewer frames)")
        zoomed = scale_nearest_integer(check_image(image, min_side=1), zoom)
        return io.NodeOutput(zoomed, ui=ui.PreviewImage(zoomed, cls=cls))


def _shape(image: torch.Tensor) -> tuple[int, int, int]:
    """Return (batch, height, width) of an IMAGE given as [B,H,W,C] or one [H,W,C] (shape only, no pixel read)."""
    if not isinstance(image, torch.Tensor) or image.dim() not in (3, 4):
        raise ValueError("image must be an IMAGE tensor [B,H,W,C]")
    return (image.shape[0], image.shape[1], image.shape[2]) if image.dim() == 4 else (1, image.shape[0], image.shape[1])


NODES = [Pixelize, DetectGrid, PaletteLoad, PaletteFromImages, ApplyPalette, PaletteSwap, AlphaCleanup, OutlineCleanup,
         PixelPreview]
