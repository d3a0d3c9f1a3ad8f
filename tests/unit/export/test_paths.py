"""Where nodes may write: ComfyUI's output folder and $DGX_PIXELS_ALLOWED_ROOTS, every symbolic link resolved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dgx_pixels.export.paths import ALLOWED_ROOTS_ENV, check_node_target, configured_roots


def test_roots_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(ALLOWED_ROOTS_ENV, f"{tmp_path / 'a'}{os.pathsep}{os.pathsep}~/games")
    assert configured_roots() == [(tmp_path / "a").resolve(), Path("~/games").expanduser().resolve()]


def test_node_targets_inside_the_roots_pass_and_others_are_refused(tmp_path, monkeypatch):
    output, games, outside = tmp_path / "output", tmp_path / "games", tmp_path / "elsewhere"
    for folder in (output, games / "knight", outside):
        folder.mkdir(parents=True)
    monkeypatch.setenv(ALLOWED_ROOTS_ENV, str(games))
    assert check_node_target("bevy/game", output, "project") == (output / "bevy" / "game").resolve()
    assert check_node_target(str(games / "knight"), output, "project") == (games / "knight").resolve()
    (games / "escape").symlink_to(outside)
    for target in (str(outside), "/var/tmp", "../elsewhere", str(games / "escape"), str(games / "knight/../../elsewhere")):
        with pytest.raises(PermissionError, match=f"outside the folders DGX-Pixels may write to.*{ALLOWED_ROOTS_ENV}"):
            check_node_target(target, output, "project")
    monkeypatch.delenv(ALLOWED_ROOTS_ENV)
    with pytest.raises(PermissionError):
        check_node_target(str(games / "knight"), output, "project")


def test_single_files_are_written_whole_with_the_normal_mode(tmp_path):
    from dgx_pixels.export.files import write_file_atomic

    old = os.umask(0o022)
    try:
        path = write_file_atomic(tmp_path / "out.png", b"png bytes")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"png bytes"
    assert path.stat().st_mode & 0o777 == 0o644  # mkstemp's 0600 hid pixelize outputs from the user's tools
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
