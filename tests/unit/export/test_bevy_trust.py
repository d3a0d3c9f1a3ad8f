"""What the export may touch: never outside the project (symlinked state, backup or asset folders), only files it
made (backup records), all-or-nothing under SIGKILL, names within real file-system limits, normal file modes."""

import contextlib
import json
import os
import random
import signal
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from dgx_pixels.export.bevy import export_to_bevy, list_backups, read_sheet_dir, sheet_files, write_sheet_dir
from dgx_pixels.ops.sheet import SheetOptions, build_sheet


def _sheet(colour=200):
    frames = np.zeros((4, 16, 16, 4), np.uint8)
    for i in range(4):
        frames[i, 2:14, 2 + i : 10 + i] = (colour, 40 * i, 0, 255)
    return build_sheet(frames)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _outside_with_backups(outside: Path, asset: str) -> dict[str, bytes]:
    for n in range(1, 8):
        folder = outside / "backups" / asset / f"{n:06d}"
        folder.mkdir(parents=True)
        (folder / "precious.txt").write_text(f"not the pack's {n}")
    return _tree(outside)


def test_symlinked_state_folder_is_refused_and_nothing_outside_changes(tmp_path):
    outside, project = tmp_path / "outside", tmp_path / "game"
    project.mkdir()
    before = _outside_with_backups(outside, "item_gem_a")
    os.symlink(outside, project / ".dgx-pixels")
    for colour in range(3):
        with pytest.raises(ValueError, match=r"\.dgx-pixels is a symbolic link"):
            export_to_bevy(_sheet(100 + colour), project, category="item", name="gem", variant="a")
    assert _tree(outside) == before
    assert not (project / "assets").exists()


def test_symlinked_backup_folder_is_refused_and_never_pruned(tmp_path):
    outside, project = tmp_path / "outside", tmp_path / "game"
    project.mkdir()
    before = _outside_with_backups(outside, "item_gem_a")
    export_to_bevy(_sheet(1), project, category="item", name="gem", variant="a")
    (project / ".dgx-pixels" / "backups").mkdir()
    os.symlink(outside / "backups" / "item_gem_a", project / ".dgx-pixels" / "backups" / "item_gem_a")
    written = _tree(project / "assets")
    for colour in range(3):
        with pytest.raises(ValueError, match="item_gem_a is a symbolic link"):
            export_to_bevy(_sheet(100 + colour), project, category="item", name="gem", variant="a")
    assert _tree(outside) == before
    assert _tree(project / "assets") == written


def test_symlinked_asset_folder_is_refused(tmp_path):
    outside, project = tmp_path / "outside", tmp_path / "game"
    outside.mkdir()
    (project / "assets" / "sprites").mkdir(parents=True)
    os.symlink(outside, project / "assets" / "sprites" / "item_gem_a")
    with pytest.raises(ValueError, match="symbolic link"):
        export_to_bevy(_sheet(), project, category="item", name="gem", variant="a")
    assert list(outside.iterdir()) == []


def test_rotation_deletes_only_the_files_a_backup_recorded(tmp_path):
    export_to_bevy(_sheet(100), tmp_path, category="item", name="gem", variant="a")
    export_to_bevy(_sheet(101), tmp_path, category="item", name="gem", variant="a")
    (first,) = list_backups(tmp_path, "item_gem_a")
    (first / "notes.txt").write_text("the user's")
    (first / "mine").mkdir()
    (first / "mine" / "keep.png").write_bytes(b"x")
    for colour in range(102, 110):
        export_to_bevy(_sheet(colour), tmp_path, category="item", name="gem", variant="a")
    assert len(list_backups(tmp_path, "item_gem_a")) == 5
    # Taken out of the count by a rename, emptied of what its record listed, kept for what the user put there.
    left = first.with_name(first.name + ".gone")
    assert not first.exists() and sorted(p.name for p in left.iterdir()) == ["mine", "notes.txt"]
    assert (left / "mine" / "keep.png").read_bytes() == b"x"


def test_empty_backup_folders_do_not_count_toward_the_last_five(tmp_path):
    root = tmp_path / ".dgx-pixels" / "backups" / "item_gem_a"
    for colour in range(100, 108):
        export_to_bevy(_sheet(colour), tmp_path, category="item", name="gem", variant="a")
        root.mkdir(parents=True, exist_ok=True)
        numbers = [int(p.name) for p in root.iterdir() if p.name.isdigit()]
        (root / f"{max(numbers, default=0) + 1:06d}").mkdir()  # what a kill after mkdir left with the old writer
    backups = list_backups(tmp_path, "item_gem_a")
    assert len(backups) == 5 and all(any(b.glob("*.png")) for b in backups)


# SIGKILL at random moments. Children are forked (no interpreter start-up), so 100 kills take ~10 s on 2 cores.
KILLS = 100


def _versions():
    frames = np.random.default_rng(7).integers(0, 256, (6, 96, 96, 4), dtype=np.uint8)
    frames[..., 3] = 255
    one_page = build_sheet(frames, options=SheetOptions(layout="grid", merge_duplicates=False))
    three_pages = build_sheet(frames[:3], options=SheetOptions(layout="pack", max_size=128, merge_duplicates=False))
    assert len(one_page.pages) == 1 and len(three_pages.pages) == 3
    return one_page, three_pages


def _expected(sheet, asset):
    return dict(sheet_files(sheet, asset, f"sprites/{asset}/{asset}.png"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_sigkill_at_random_never_leaves_a_mixed_version(tmp_path):
    asset = "effect_blast_base"
    versions = _versions()
    expected = [_expected(sheet, asset) for sheet in versions]
    folder = tmp_path / "assets" / "sprites" / asset
    rnd = random.Random(4321)
    mixed = []
    for kill in range(KILLS):
        pid = os.fork()
        if pid == 0:  # the child exports the two versions in turn until killed
            try:
                for i in range(10_000):
                    export_to_bevy(versions[(i + kill) % 2], tmp_path, category="effect", name="blast")
            finally:
                os._exit(1)
        time.sleep(rnd.uniform(0.0, 0.12))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        json_path = folder / f"{asset}.json"
        with contextlib.suppress(ValueError):
            read_sheet_dir(json_path)  # a read first finishes the interrupted export
        if not folder.is_dir():
            continue
        found = {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}
        if not found:
            continue
        manifest = json.loads((tmp_path / "assets" / "manifest.json").read_text())["assets"].get(asset)
        listed = sorted(Path(f).name for f in manifest["files"]) if manifest else None
        if not any(found == want and listed == sorted(want) for want in expected):
            mixed.append(kill)
        assert [p.name for p in folder.iterdir() if p.name.endswith(".dgxtmp")] == []
        backups = list_backups(tmp_path, asset)
        assert len(backups) <= 5, f"kill {kill} left {len(backups)} backups"
        for backup in backups:
            held = {p.name: p.read_bytes() for p in backup.iterdir() if p.name != "dgx-backup.json"}
            assert held in expected, f"backup {backup.name} holds a mix"
    assert mixed == [], f"{len(mixed)} of {KILLS} kills left PNG, JSON, RON and manifest from different exports"


LONG = "a" * 300


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda p: export_to_bevy(_sheet(), p, category="item", name=LONG, variant="a"), "name"),
        (lambda p: export_to_bevy(_sheet(), p, category="item", name="gem", variant="b" * 240), "variant"),
        (lambda p: export_to_bevy(_sheet(), p, category="item", name="gem", variant="a", subdir="s" * 256), "subdir"),
        (lambda p: write_sheet_dir(_sheet(), p / "out", LONG), "name"),
        (lambda p: write_sheet_dir(_sheet(), p / "out", "é" * 120), "name"),  # 240 bytes, too long with suffixes
    ],
)
def test_too_long_names_are_refused_before_writing(tmp_path, call, field):
    with pytest.raises(ValueError, match=rf"^{field} .*255-byte limit"):
        call(tmp_path)
    assert _tree(tmp_path) == {}


def test_longest_allowed_asset_name_exports(tmp_path):
    name = "n" * (255 - len(".item__a.assets.ron.dgxtmp"))
    export_to_bevy(_sheet(), tmp_path, category="item", name=name, variant="a")
    with pytest.raises(ValueError, match="255-byte"):
        export_to_bevy(_sheet(), tmp_path, category="item", name=name + "n", variant="a")


@pytest.mark.parametrize("name", ["CON", "con.txt", "Lpt9", "nul .x", "COM1.png", "a\x00b", "a:b", "hero.", " hero",
                                  ".hero", "a\nb", "a/b", "a\\b"])
def test_unportable_sheet_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match=r"^name "):
        write_sheet_dir(_sheet(), tmp_path / "out", name)
    assert _tree(tmp_path) == {}


@pytest.mark.parametrize("subdir", ["CON", "sprites/aux", "sprites.", "a/prn.x"])
def test_unportable_subdirs_are_refused(tmp_path, subdir):
    with pytest.raises(ValueError, match=r"^subdir "):
        export_to_bevy(_sheet(), tmp_path, category="item", name="gem", variant="a", subdir=subdir)
    assert _tree(tmp_path) == {}


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_written_files_get_the_umask_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        export_to_bevy(_sheet(1), tmp_path, category="item", name="gem", variant="a")
        export_to_bevy(_sheet(2), tmp_path, category="item", name="gem", variant="a")
        write_sheet_dir(_sheet(), tmp_path / "out", "hero")
    finally:
        os.umask(old)
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "export.lock"]
    assert len(files) >= 10  # 3 asset files, manifest, 3 backed up + record, 3 sheet files
    assert {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {
        str(p.relative_to(tmp_path)): oct(mode) for p in files
    }
