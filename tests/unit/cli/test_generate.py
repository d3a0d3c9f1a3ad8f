"""``dgx-pixels generate --bevy``: every option is checked before any work is queued on the engine."""

from __future__ import annotations

from dgx_pixels.cli.main import main

CLOSED = "http://127.0.0.1:9"  # nothing listens: reaching the engine at all would exit 3, not 2


def test_an_export_that_would_be_refused_is_refused_before_rendering(tmp_path, capsys):
    # 8-px sprites are below Bevy export's 16-px frames: refused before the engine is asked anything.
    code = main(["generate", "character", "knight", "--size", "8", "--bevy", str(tmp_path), "--engine", CLOSED,
                 "--out", str(tmp_path / "sprites")])
    assert code == 2
    assert "outside 16-4096" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # the dry run wrote nothing, not even a state folder


def test_a_valid_export_target_goes_on_to_the_engine(tmp_path, capsys):
    code = main(["generate", "character", "knight", "--size", "32", "--bevy", str(tmp_path), "--engine", CLOSED,
                 "--out", str(tmp_path / "sprites")])
    assert code == 3, capsys.readouterr().err
