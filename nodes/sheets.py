"""Nodes that pack frames into sprite sheets and export them into a Bevy project.

MASK inputs and outputs follow ComfyUI's convention (as LoadImage gives them): 1 where transparent. The sheet ops
work with alpha (1 = opaque); the conversion happens here, at the node boundary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from comfy_api.latest import io, ui

from ..export.bevy import CATEGORIES, export_to_bevy
from ..export.paths import check_node_target
from ..metrics.counters import count_sprites_exported
from ..ops.color import alpha_from_mask, mask_from_alpha
from ..ops.sheet import DIRECTIONS, AnimationTag, SheetOptions, build_sheet, combine_sheets, durations_from_fps, sheet_summary

SpriteSheetType = io.Custom("DGX_SPRITE_SHEET")


def _layout_inputs() -> list:
    return [
        io.Combo.Input("layout", options=["pack", "grid"], default="pack",
                       tooltip="pack: MaxRects, smallest atlas, trimmed frames. grid: equal cells (Bevy from_grid)."),
        io.Int.Input("columns", default=0, min=0, max=256, tooltip="Grid columns (0 = automatic). Ignored when packing."),
        io.Int.Input("padding", default=1, min=0, max=64, tooltip="Transparent pixels between frames."),
        io.Int.Input("extrude", default=1, min=0, max=16,
                     tooltip="Repeat each frame's border pixels this many times outward, against texture bleeding."),
        io.Boolean.Input("trim", default=True, tooltip="Cut transparent borders (offsets are recorded). Packing only."),
        io.Boolean.Input("merge_duplicates", default=True, tooltip="Store identical frames once in the atlas."),
        io.Int.Input("max_size", default=2048, min=16, max=4096, tooltip="Largest atlas side in pixels."),
        io.Boolean.Input("power_of_two", default=False, tooltip="Round the packed atlas sides up to powers of two."),
    ]


def _options(layout, columns, padding, extrude, trim, merge_duplicates, max_size, power_of_two) -> SheetOptions:
    return SheetOptions(
        layout=layout, columns=columns, padding=padding, extrude=extrude, trim=trim,
        merge_duplicates=merge_duplicates, max_size=max_size, power_of_two=power_of_two,
    )


def _sheet_preview(sheet, pages: torch.Tensor, cls) -> dict:
    """UI data for the editor extension: the atlas pages (saved to temp), each frame's page and rect and duration,
    the tags."""
    saved = ui.PreviewImage(pages, cls=cls).as_dict()["images"]
    frames = [{"page": rect.page, "x": rect.x, "y": rect.y, "w": rect.w, "h": rect.h,
               "duration_ms": frame.duration_ms}
              for frame in sheet.frames for rect in [sheet.textures[frame.texture]]]
    tags = [{"name": tag.name, "from": tag.start, "to": tag.end, "direction": tag.direction} for tag in sheet.tags]
    return {"images": saved, "text": [sheet_summary(sheet)],
            "dgx_sheet": [{"pages": saved, "frames": frames, "tags": tags}]}


def _outputs(sheet, cls) -> io.NodeOutput:
    pages = torch.from_numpy(sheet.pages_batch().astype(np.float32) / 255.0)
    return io.NodeOutput(pages[..., :3].contiguous(), mask_from_alpha(pages).contiguous(), sheet,
                         ui=_sheet_preview(sheet, pages, cls))


class SpriteSheet(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.SpriteSheet",
            display_name="Sprite Sheet",
            category="DGX-Pixels/sheets",
            description="Packs an IMAGE batch (one animation) into an atlas with tags, durations and pivots.",
            inputs=[
                io.Image.Input("frames", tooltip="The animation's frames as one batch, in playback order. RGBA "
                               "frames ([B,H,W,4]) keep their alpha channel; RGB frames are opaque unless a mask is given."),
                io.String.Input("animation", default="idle", tooltip="Name of the animation tag (e.g. idle, walk)."),
                io.Float.Input("fps", default=10.0, min=0.1, max=120.0, step=0.1, tooltip="Playback speed; each frame lasts 1000/fps ms."),
                io.Combo.Input("direction", options=list(DIRECTIONS), default="forward", tooltip="Aseprite tag direction."),
                io.Int.Input("repeat", default=0, min=0, max=1000, tooltip="How many times to play (0 = loop forever)."),
                io.Float.Input("pivot_x", default=0.5, min=-1.0, max=2.0, step=0.01, tooltip="Pivot x in the frame (0 left, 1 right)."),
                io.Float.Input("pivot_y", default=1.0, min=-1.0, max=2.0, step=0.01, tooltip="Pivot y in the frame (0 top, 1 bottom = feet)."),
                *_layout_inputs(),
                io.Mask.Input("mask", optional=True, tooltip="Optional transparency per frame (1 = transparent, as "
                              "LoadImage gives); one mask for all frames or one per frame. Overrides an alpha channel."),
            ],
            outputs=[
                io.Image.Output("atlas", tooltip="The atlas (RGB): one image per page, a batch when the frames "
                                "need several pages (smaller pages padded with transparency); its transparency is "
                                "the mask output."),
                io.Mask.Output("atlas_mask", tooltip="Transparency of the atlas pages (1 = transparent), for SaveImage/JoinImageWithAlpha."),
                SpriteSheetType.Output("sheet", tooltip="The sheet with its metadata, for Combine Sprite Sheets or Export to Bevy."),
            ],
        )

    @classmethod
    def execute(cls, frames, animation, fps, direction, repeat, pivot_x, pivot_y, layout, columns, padding, extrude,
                trim, merge_duplicates, max_size, power_of_two, mask=None) -> io.NodeOutput:
        if not animation.strip():
            raise ValueError("animation: give the animation a name, e.g. 'walk'")
        count = int(frames.shape[0])
        names = [f"{animation}_{i:04d}" for i in range(count)]
        tags = [AnimationTag(animation, 0, count - 1, direction, repeat)] if count else []
        sheet = build_sheet(
            frames, alpha_from_mask(mask, frames), tags=tags, durations_ms=durations_from_fps(count, fps), names=names,
            pivot=(pivot_x, pivot_y),
            options=_options(layout, columns, padding, extrude, trim, merge_duplicates, max_size, power_of_two),
        )
        return _outputs(sheet, cls)


class CombineSpriteSheets(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.CombineSpriteSheets",
            display_name="Combine Sprite Sheets",
            category="DGX-Pixels/sheets",
            description="Re-packs several animations (idle, walk, attack…) into one atlas, keeping every tag.",
            inputs=[
                SpriteSheetType.Input("sheet_1", tooltip="First animation's sheet."),
                SpriteSheetType.Input("sheet_2", tooltip="Second animation's sheet."),
                *_layout_inputs(),
                SpriteSheetType.Input("sheet_3", optional=True, tooltip="Optional third animation."),
                SpriteSheetType.Input("sheet_4", optional=True, tooltip="Optional fourth animation."),
            ],
            outputs=[
                io.Image.Output("atlas", tooltip="The atlas (RGB): one image per page, a batch when the frames "
                                "need several pages (smaller pages padded with transparency); its transparency is "
                                "the mask output."),
                io.Mask.Output("atlas_mask", tooltip="Transparency of the atlas pages (1 = transparent)."),
                SpriteSheetType.Output("sheet", tooltip="The combined sheet, for Export to Bevy."),
            ],
        )

    @classmethod
    def execute(cls, sheet_1, sheet_2, layout, columns, padding, extrude, trim, merge_duplicates, max_size,
                power_of_two, sheet_3=None, sheet_4=None) -> io.NodeOutput:
        sheets = [s for s in (sheet_1, sheet_2, sheet_3, sheet_4) if s is not None]
        options = _options(layout, columns, padding, extrude, trim, merge_duplicates, max_size, power_of_two)
        return _outputs(combine_sheets(sheets, options=options), cls)


class BevyExport(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.BevyExport",
            display_name="Export to Bevy",
            category="DGX-Pixels/sheets",
            description="Writes the sheet (PNG, Aseprite JSON, .atlas.ron, .assets.ron) into <project>/assets safely.",
            is_output_node=True,
            inputs=[
                SpriteSheetType.Input("sheet", tooltip="A sheet from Sprite Sheet or Combine Sprite Sheets."),
                io.String.Input("project", default="", tooltip="Path of the Bevy project (the folder holding assets/)."),
                io.Combo.Input("category", options=list(CATEGORIES), default="character", tooltip="Asset category (first part of the name)."),
                io.String.Input("name", default="hero", tooltip="Asset name: lowercase letters, digits and '-'."),
                io.String.Input("variant", default="base", tooltip="Variant: lowercase letters, digits and '-'."),
                io.String.Input("subdir", default="sprites", tooltip="Folder under assets/ (no '..', not absolute)."),
                io.Boolean.Input("dry_run", default=False, tooltip="Only report what would be written."),
                io.Boolean.Input("aseprite", default=False, optional=True,
                                 tooltip="Also write <asset>.aseprite (for bevy_aseprite_ultra) in the same export."),
                io.Boolean.Input("rgba", default=False, optional=True,
                                 tooltip="RGBA atlas PNGs instead of palette PNGs (used when ≤256 colours)."),
            ],
            outputs=[io.String.Output("summary")],
        )

    @classmethod
    def validate_inputs(cls, project: str) -> bool | str:
        # Runs when the prompt is queued, so a bad target is refused before any sampling starts.
        try:
            _export_target(project)
        except (ValueError, PermissionError) as exc:
            return str(exc)
        return True

    @classmethod
    def execute(cls, sheet, project, category, name, variant, subdir, dry_run, aseprite=False,
                rgba=False) -> io.NodeOutput:
        target = _export_target(project)
        report = export_to_bevy(sheet, target, category=category, name=name.strip(), variant=variant.strip(),
                                subdir=subdir.strip(), dry_run=dry_run, aseprite=aseprite, rgba=rgba)
        if report.written:
            count_sprites_exported(len(sheet.frames))
        text = report.summary()
        return io.NodeOutput(text, ui=ui.PreviewText(text))


def _export_target(project: str) -> Path:
    """Return the Bevy project folder resolved, when the pack may write there; raise ValueError or PermissionError."""
    import folder_paths

    if not project.strip():
        raise ValueError("project: give the path of your Bevy project (the folder that holds assets/)")
    return check_node_target(project.strip(), folder_paths.get_output_directory(), "project")


NODES = [SpriteSheet, CombineSpriteSheets, BevyExport]
