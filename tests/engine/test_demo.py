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
