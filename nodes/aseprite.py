"""Nodes that read and write Aseprite files (``.aseprite``/``.ase``): frames, durations, tags and our metadata.

MASK outputs follow ComfyUI's convention (1 where transparent), as in sheets.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from comfy_api.latest import io, ui

from ..export.aseprite import is_aseprite_path, read_aseprite_file, write_aseprite_file
from ..export.paths import check_node_target
from ..ops.color import mask_from_alpha
from ..ops.sheet import sheet_summary
from .sheets import SpriteSheetType, _layout_inputs, _options

Palette = io.Custom("DGX_PALETTE")
CATEGORY = "DGX-Pixels/sheets"


def _input_file(file: str) -> Path:
    """Return ``file`` resolved inside ComfyUI's input folder; raise ValueError otherwise."""
    import folder_paths

    if not file.strip():
        raise ValueError("Load Aseprite: no file given; put an .aseprite file in ComfyUI's input folder and type "
                         "its name")
    root = Path(folder_paths.get_input_directory()).resolve()
    path = (root / file.strip()).resolve()
    if root not in path.parents:
        raise ValueError(f"Load Aseprite: {file!r} is outside ComfyUI's input folder")
    if not is_aseprite_path(path):
        raise ValueError(f"Load Aseprite: {file!r} is not an .aseprite or .ase file")
    return path


class LoadAseprite(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.LoadAseprite",
            display_name="Load Aseprite",
            category=CATEGORY,
            description="Reads an .aseprite file: every frame (visible layers merged), its durations, tags and "
                        "pivots, as an IMAGE batch and a sprite sheet for Export to Bevy.",
            inputs=[
                io.String.Input("file", default="", tooltip="An .aseprite/.ase file inside ComfyUI's input folder."),
                *_layout_inputs(),
            ],
            outputs=[
                io.Image.Output("frames", tooltip="Every frame at the sprite's canvas size (RGB)."),
                io.Mask.Output("mask", tooltip="Transparency of each frame (1 = transparent)."),
                SpriteSheetType.Output("sheet", tooltip="The frames packed as a sheet with the file's tags and "
                                       "durations."),
                io.String.Output("metadata", tooltip="Our metadata (seed, prompt, palette) as JSON; {} for files "
                                 "made elsewhere."),
            ],
        )

    @classmethod
    def execute(cls, file, layout, columns, padding, extrude, trim, merge_duplicates, max_size,
                power_of_two) -> io.NodeOutput:
        doc = read_aseprite_file(_input_file(file))
        sheet = doc.to_sheet(_options(layout, columns, padding, extrude, trim, merge_duplicates, max_size,
                                      power_of_two))
        frames = torch.from_numpy(np.stack(doc.frames).astype(np.float32) / 255.0)
        metadata = json.dumps(doc.metadata, sort_keys=True)
        text = f"{Path(file).name}: {doc.color_depth} bpp, layers {', '.join(doc.layers)}; {sheet_summary(sheet)}"
        return io.NodeOutput(frames[..., :3].contiguous(), mask_from_alpha(frames).contiguous(), sheet, metadata,
                             ui=ui.PreviewText(text))


class SaveAseprite(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.SaveAseprite",
            display_name="Save Aseprite",
            category=CATEGORY,
            description="Writes a sprite sheet as an .aseprite file (frames, durations, tags, pivots; indexed "
                        "with the palette when the sprite has at most 255 colours).",
            is_output_node=True,
            inputs=[
                SpriteSheetType.Input("sheet", tooltip="A sheet from Sprite Sheet, Combine Sprite Sheets or Load "
                                      "Aseprite."),
                io.String.Input("path", default="sprites/sprite.aseprite",
                                tooltip="Where to write: relative to ComfyUI's output folder, or under a folder "
                                "in $DGX_PIXELS_ALLOWED_ROOTS."),
                io.String.Input("layer", default="sprite", tooltip="Name of the layer (what it holds, e.g. knight)."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, tooltip="Seed recorded in the "
                             "file's user data."),
                io.String.Input("prompt", default="", multiline=True, tooltip="Prompt recorded in the user data."),
                Palette.Input("palette", optional=True, tooltip="Palette written first in the file's palette."),
            ],
            outputs=[io.String.Output("written", tooltip="The path of the written file.")],
        )

    @classmethod
    def execute(cls, sheet, path, layer, seed, prompt, palette=None) -> io.NodeOutput:
        import folder_paths

        if not is_aseprite_path(path.strip()):
            raise ValueError(f"Save Aseprite: path {path!r} must end in .aseprite or .ase")
        target = check_node_target(path.strip(), folder_paths.get_output_directory(), "path")
        target.parent.mkdir(parents=True, exist_ok=True)
        metadata = {"seed": int(seed), "prompt": prompt, "palette": getattr(palette, "name", "") if palette else ""}
        written = write_aseprite_file(sheet, target, palette, metadata, layer=layer.strip() or "sprite")
        text = f"wrote {written} ({written.stat().st_size} bytes, {len(sheet.frames)} frames)"
        return io.NodeOutput(str(written), ui=ui.PreviewText(text))


NODES = [LoadAseprite, SaveAseprite]
