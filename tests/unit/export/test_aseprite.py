"""``.aseprite`` files on disk, and the Bevy export's ``aseprite`` option (one more file in the same transaction)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from dgx_pixels.export.aseprite import read_aseprite_file, write_aseprite_file
from dgx_pixels.export.bevy import export_to_bevy, list_backups
from dgx_pixels.ops.sheet import AnimationTag, SheetOptions, build_sheet, extract_frame


def _sheet(count: int = 4, shift: int = 0):
    frames = []
    for i in range(count):
        f = np.zeros((32, 32, 4), np.uint8)
        f[4 + i : 20 + i, 6 + shift : 22 + shift] = (190, 74, 47, 255)
        f[8, 10 + i] = (255, 255, 255, 255)
        frames.append(f)
    return build_sheet(frames, tags=[AnimationTag("walk", 0, count - 1, "pingpong", 2)], durations_ms=125,
                       options=SheetOptions(layout="grid", trim=False))


def test_write_then_read_file(tmp_path):
    sheet = _sheet()
    path = write_aseprite_file(sheet, tmp_path / "knight.aseprite", [(190, 74, 47), (255, 255, 255)],
                               {"seed": 3, "prompt": "knight", "palette": "mine"}, layer="knight")
    assert oct(path.stat().st_mode & 0o777) != "0o600"  # the user's normal mode, not mkstemp's
    doc = read_aseprite_file(path)
    assert [f.tobytes() for f in doc.source_frames()] == [extract_frame(sheet, i).tobytes() for i in range(4)]
    assert doc.tags == sheet.tags and doc.durations_ms == (125,) * 4 and doc.metadata["seed"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["knight.aseprite"]  # no temporary left behind


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"\.aseprite or \.ase"):
        write_aseprite_file(_sheet(), tmp_path / "knight.png")
    with pytest.raises(ValueError, match="cannot read Aseprite file"):
        read_aseprite_file(tmp_path / "missing.aseprite")
    (tmp_path / "bad.aseprite").write_bytes(b"\0" * 200)
    with pytest.raises(ValueError, match="bad.aseprite: not an Aseprite file"):
        read_aseprite_file(tmp_path / "bad.aseprite")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.aseprite")
        with pytest.raises(ValueError, match="not a regular file"):
            read_aseprite_file(tmp_path / "pipe.aseprite")


def test_bevy_export_writes_the_aseprite_file_in_the_same_transaction(tmp_path):
    project = tmp_path / "game"
    project.mkdir()
    sheet = _sheet()
    dry = export_to_bevy(sheet, project, category="character", name="knight", aseprite=True, dry_run=True)
    assert "character_knight_base.aseprite" in [p.name for p, _ in dry.files] and not (project / "assets").exists()
    report = export_to_bevy(sheet, project, category="character", name="knight", aseprite=True)
    folder = project / "assets/sprites/character_knight_base"
    target = folder / "character_knight_base.aseprite"
    assert report.written and target in [p for p, _ in report.files]
    doc = read_aseprite_file(target)
    assert doc.layers == ("knight",) and doc.tags == sheet.tags
    assert [f.tobytes() for f in doc.source_frames()] == [extract_frame(sheet, i).tobytes() for i in range(4)]
    manifest = json.loads((project / "assets/manifest.json").read_text())
    assert "sprites/character_knight_base/character_knight_base.aseprite" in manifest["assets"][
        "character_knight_base"]["files"]
    assert not list(folder.glob("*.dgxtmp")) and not (project / ".dgx-pixels/journal.json").exists()

    # A new export with it replaces it and backs the old one up; one without it removes it (no mixed versions).
    export_to_bevy(_sheet(shift=3), project, category="character", name="knight", aseprite=True)
    backups = list_backups(project, "character_knight_base")
    assert (backups[-1] / "character_knight_base.aseprite").read_bytes() != target.read_bytes()
    export_to_bevy(sheet, project, category="character", name="knight")
    assert not target.exists()
    assert (list_backups(project, "character_knight_base")[-1] / "character_knight_base.aseprite").exists()


def test_bevy_export_refuses_a_sheet_aseprite_cannot_hold_before_writing(tmp_path):
    project = tmp_path / "game"
    project.mkdir()
    frames = np.zeros((2, 16, 16, 4), np.uint8)
    frames[..., 3] = 255
    sheet = build_sheet(frames, durations_ms=[70000, 10], options=SheetOptions(layout="grid", trim=False))
    with pytest.raises(ValueError, match="durations"):
        export_to_bevy(sheet, project, category="item", name="gem", aseprite=True)
    assert not (project / "assets").exists()
