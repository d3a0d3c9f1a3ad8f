"""``make demo`` as a new user runs it: its own engine, the CPU, no downloaded model; the knight ends up in a Bevy
project in the demo's output folder (which the engine must be allowed to write to)."""

from __future__ import annotations

import json

import pytest

from dgx_pixels.cli.demo import run_demo

pytestmark = pytest.mark.engine


def test_demo_exports_the_knight_into_its_bevy_project(tmp_path, monkeypatch):
    monkeypatch.delenv("DGX_PIXELS_ALLOWED_ROOTS", raising=False)  # as on a fresh machine
    assert run_demo(out_dir=tmp_path / "demo", cpu=True) == 0
    assets = tmp_path / "demo" / "bevy_demo" / "assets"
    manifest = json.loads((assets / "manifest.json").read_text())
    assert "character_knight_base" in manifest["assets"]
    folder = assets / "sprites" / "character_knight_base"
    assert {p.name for p in folder.iterdir()} >= {"character_knight_base.png", "character_knight_base.atlas.ron"}
    # The same knight as an indexed Aseprite file: 6 frames, the walk tag, 8 fps, the Endesga 32 palette.
    from dgx_pixels.export.aseprite import read_aseprite_file
    from dgx_pixels.ops.palettes_builtin import BUILTIN_HEX

    doc = read_aseprite_file(tmp_path / "demo" / "knight_walk.aseprite")
    assert len(doc.frames) == 6 and doc.durations_ms == (125,) * 6 and doc.layers == ("knight",)
    assert [(t.name, t.start, t.end) for t in doc.tags] == [("walk", 0, 5)] and doc.color_depth == 8
    assert ["%02X%02X%02X" % tuple(c[:3]) for c in doc.palette_colors()[:32]] == list(BUILTIN_HEX["endesga-32"])
    assert doc.metadata["palette"] == "endesga-32"
