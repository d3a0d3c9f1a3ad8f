"""Sheets of generated sprites: built from the frame files a generation wrote, and exported into a Bevy project."""

from __future__ import annotations

from pathlib import Path

from .images import read_rgba


def build_variant_sheet(frame_paths: list[Path], tag: str, fps: float):
    """Return a grid SpriteSheet of the frames (untrimmed, one looping animation ``tag``)."""
    from ..ops.sheet import AnimationTag, SheetOptions, build_sheet, durations_from_fps

    frames = [read_rgba(path, f"frame {path}") for path in frame_paths]
    return build_sheet(frames, tags=[AnimationTag(tag, 0, len(frames) - 1)],
                       durations_ms=durations_from_fps(len(frames), fps),
                       options=SheetOptions(layout="grid", trim=False, merge_duplicates=False))


def export_sprites(sprites: list, project: Path, category: str, name: str, fps: float) -> list:
    """Export each variant's sheet into the Bevy project; return the export reports (raises ValueError)."""
    from .bevy import export_to_bevy

    return [export_to_bevy(build_variant_sheet(s.frames, "idle", fps), project, category=category, name=name,
                           variant=s.variant) for s in sprites]


def check_sprite_export(project: Path, category: str, name: str, variants: list[str], size: int, frames: int,
                        fps: float) -> None:
    """Raise ValueError when exporting sprites of ``size``² into ``project`` would be refused (frame size, names,
    folders), found by a dry run on a stand-in sheet, so nothing is rendered for an export that cannot happen."""
    import numpy as np

    from ..ops.sheet import AnimationTag, SheetOptions, build_sheet, durations_from_fps
    from .bevy import export_to_bevy

    stand_in = np.zeros((frames, size, size, 4), np.uint8)
    stand_in[..., 3] = 255
    sheet = build_sheet(stand_in, tags=[AnimationTag("idle", 0, frames - 1)],
                        durations_ms=durations_from_fps(frames, fps),
                        options=SheetOptions(layout="grid", trim=False, merge_duplicates=False))
    for variant in variants:
        export_to_bevy(sheet, project, category=category, name=name, variant=variant, dry_run=True)
