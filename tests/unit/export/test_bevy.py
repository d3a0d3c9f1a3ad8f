"""The export writer: layout of files, manifest, backups, dry run, validation, refused paths."""

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgx_pixels.export.bevy import (
    asset_name_for,
    export_to_bevy,
    list_backups,
    split_asset_name,
    validate_png_bytes,
    write_sheet_dir,
)
from dgx_pixels.ops.export_formats import parse_ron
from dgx_pixels.ops.sheet import AnimationTag, SheetOptions, build_sheet


def _sheet(layout="grid", colour=200):
    frames = np.zeros((4, 16, 16, 4), np.uint8)
    for i in range(4):
        frames[i, 2:14, 2 + i : 10 + i] = (colour, 40 * i, 0, 255)
    return build_sheet(frames, tags=[AnimationTag("walk", 0, 3)], options=SheetOptions(layout=layout))


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_export_writes_all_files_and_manifest(tmp_path):
    report = export_to_bevy(_sheet(), tmp_path, category="character", name="knight", variant="base")
    folder = tmp_path / "assets" / "sprites" / "character_knight_base"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"character_knight_base{ext}" for ext in (".assets.ron", ".atlas.ron", ".json", ".png")]
    with Image.open(folder / "character_knight_base.png") as img:
        # Under 256 colours the page is an indexed PNG (the image crate Bevy uses expands it to RGBA8).
        assert img.mode == "P"
        assert np.array_equal(np.asarray(img.convert("RGBA")), _sheet().pages[0])
    manifest = json.loads((tmp_path / "assets" / "manifest.json").read_text())
    entry = manifest["assets"]["character_knight_base"]
    assert entry["path"] == "sprites/character_knight_base/character_knight_base.png"
    assert (entry["category"], entry["variant"], entry["frames"]) == ("character", "base", 4)
    assert entry["resolution"] == list(Image.open(folder / "character_knight_base.png").size)
    assert report.written and not report.errors
    ron = parse_ron((folder / "character_knight_base.assets.ron").read_text())
    assert ron["character_knight_base.image"]["path"] == entry["path"]
    assert list(tmp_path.glob("assets/**/*.dgxtmp")) == []


def test_packed_sheet_has_no_assets_ron_and_manifest_keeps_other_assets(tmp_path):
    export_to_bevy(_sheet(), tmp_path, category="character", name="knight", variant="base")
    export_to_bevy(_sheet("pack"), tmp_path, category="enemy", name="slime", variant="red")
    folder = tmp_path / "assets" / "sprites" / "enemy_slime_red"
    assert not (folder / "enemy_slime_red.assets.ron").exists()
    manifest = json.loads((tmp_path / "assets" / "manifest.json").read_text())
    assert sorted(manifest["assets"]) == ["character_knight_base", "enemy_slime_red"]


def test_backups_keep_last_five(tmp_path):
    for colour in range(8):
        export_to_bevy(_sheet(colour=100 + colour), tmp_path, category="item", name="gem", variant="a")
    backups = list_backups(tmp_path, "item_gem_a")
    assert len(backups) == 5
    assert [b.name for b in backups] == [f"{n:06d}" for n in range(3, 8)]
    # The newest backup holds the previous (7th) export.
    prev = _sheet(colour=106)
    png = backups[-1] / "item_gem_a.png"
    assert np.array_equal(np.asarray(Image.open(png).convert("RGBA")), prev.pages[0])


def test_dry_run_writes_nothing(tmp_path):
    before = _tree(tmp_path)
    report = export_to_bevy(_sheet(), tmp_path, category="npc", name="sage", variant="old", dry_run=True)
    assert _tree(tmp_path) == before and not (tmp_path / "assets").exists()
    assert report.dry_run and not report.written and len(report.files) == 4
    assert "would write 4 files" in report.summary()


def test_validation_errors_and_warnings():
    def png(w, h, mode="RGBA"):
        buf = io.BytesIO()
        Image.new(mode, (w, h)).save(buf, format="PNG")
        return buf.getvalue()

    assert validate_png_bytes(png(64, 32), "a") == ([], [])
    errors, warnings = validate_png_bytes(png(48, 32), "a")
    assert errors == [] and "power of two" in warnings[0]
    assert "outside 16-4096" in validate_png_bytes(png(8, 32), "a")[0][0]
    assert "colour mode L" in validate_png_bytes(png(32, 32, "L"), "a")[0][0]
    assert "not a PNG" in validate_png_bytes(b"GIF89a", "a")[0][0]


def test_too_small_atlas_is_refused_before_writing(tmp_path):
    tiny = build_sheet(np.ones((1, 4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="outside 16-4096"):
        export_to_bevy(tiny, tmp_path, category="item", name="dot", variant="a")
    assert _tree(tmp_path) == {}


@pytest.mark.parametrize(
    ("category", "name", "variant", "match"),
    [
        ("hero", "knight", "base", "category"),
        ("character", "../knight", "base", "path separator"),
        ("character", "a/b", "base", "path separator"),
        ("character", "a\\b", "base", "path separator"),
        ("character", "Knight", "base", "lowercase"),
        ("character", "knight_x", "base", "lowercase"),
        ("character", "knight", "", "lowercase"),
    ],
)
def test_names_are_checked(category, name, variant, match):
    with pytest.raises(ValueError, match=match):
        asset_name_for(category, name, variant)


def test_split_asset_name():
    assert split_asset_name("enemy_slime_red") == ("enemy", "slime", "red")
    with pytest.raises(ValueError, match="category_name_variant"):
        split_asset_name("slime")


TRAVERSAL_SUBDIRS = [
    "..", "../..", "../outside", "sprites/../../outside", "/tmp/abs", "/", "\\\\server\\share", "C:/x",
    "sprites/..", "a/../../..", "./../x", "sprites\\..\\..", "..\\x", "a//b", "a/./b", " ", "sprites/\x00",
]


@pytest.mark.parametrize("subdir", TRAVERSAL_SUBDIRS)
def test_traversal_corpus_writes_nothing(tmp_path, subdir):
    project = tmp_path / "game"
    project.mkdir()
    with pytest.raises(ValueError):
        export_to_bevy(_sheet(), project, category="item", name="gem", variant="a", subdir=subdir)
    assert _tree(tmp_path) == {}


def test_symlinks_are_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    project = tmp_path / "game"
    (project / "assets").mkdir(parents=True)
    os.symlink(outside, project / "assets" / "sprites")
    with pytest.raises(ValueError, match="symbolic link"):
        export_to_bevy(_sheet(), project, category="item", name="gem", variant="a")
    linked_assets = tmp_path / "game2"
    linked_assets.mkdir()
    os.symlink(outside, linked_assets / "assets")
    with pytest.raises(ValueError, match="symbolic link"):
        export_to_bevy(_sheet(), linked_assets, category="item", name="gem", variant="a")
    assert list(outside.iterdir()) == []


def test_missing_or_unwritable_project(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        export_to_bevy(_sheet(), tmp_path / "nope", category="item", name="gem", variant="a")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            _check_unwritable_as_nobody()
        else:
            with pytest.raises(ValueError, match="not writable"):
                export_to_bevy(_sheet(), locked, category="item", name="gem", variant="a")
    finally:
        locked.chmod(0o700)


def _check_unwritable_as_nobody() -> None:
    """Root writes anywhere, so as root the same check runs in a child process dropped to uid/gid 65534 (nobody)
    against a root-owned read-only folder: the real permission fault, not a mock."""
    if not shutil.which("setpriv"):
        pytest.fail("running as root without setpriv: cannot produce an unwritable folder for this user")
    with tempfile.TemporaryDirectory(dir="/tmp") as top:
        Path(top).chmod(0o755)  # nobody must reach the folder to see that it cannot write there
        locked = Path(top) / "locked"
        locked.mkdir(mode=0o555)
        code = ("import sys; sys.path.insert(0, sys.argv[1]); from test_bevy import _sheet\n"
                "from dgx_pixels.export.bevy import export_to_bevy\n"
                "try:\n"
                "    export_to_bevy(_sheet(), sys.argv[2], category='item', name='gem', variant='a')\n"
                "except ValueError as exc:\n"
                "    print(exc)\n"
                "else:\n"
                "    sys.exit('exported into a folder it cannot write')\n")
        done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                               code, str(Path(__file__).resolve().parent), str(locked)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "not writable" in done.stdout, done.stdout + done.stderr
        assert list(locked.iterdir()) == []


def test_corrupt_manifest_is_refused_before_writing(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json is not valid JSON"):
        export_to_bevy(_sheet(), tmp_path, category="item", name="gem", variant="a")
    assert sorted(_tree(tmp_path)) == ["assets/manifest.json"]


def test_write_sheet_dir(tmp_path):
    paths = write_sheet_dir(_sheet(), tmp_path / "out", "hero")
    assert [p.name for p in paths] == ["hero.png", "hero.json", "hero.atlas.ron", "hero.assets.ron"]
    with pytest.raises(ValueError, match="path separators"):
        write_sheet_dir(_sheet(), tmp_path / "out", "../hero")


def _paged_sheet(colour=0, count=40):
    frames = np.zeros((count, 32, 32, 4), np.uint8)
    for i in range(count):
        frames[i, 1 + i % 4 : 31, 2:30] = (i * 6 % 256, colour, 255 - i, 255)
    sheet = build_sheet(
        frames, tags=[AnimationTag("walk", 0, count - 1)], options=SheetOptions(max_size=64, extrude=1)
    )
    assert len(sheet.pages) > 1
    return sheet


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGBA"))


def test_multi_page_export_round_trips_from_disk(tmp_path):
    from dgx_pixels.ops.export_formats import sheet_from_aseprite
    from dgx_pixels.ops.sheet import extract_frame

    sheet = _paged_sheet()
    n = len(sheet.pages)
    report = export_to_bevy(sheet, tmp_path, category="character", name="knight", variant="base")
    asset = "character_knight_base"
    folder = tmp_path / "assets" / "sprites" / asset
    pngs = [f"{asset}.png"] + [f"{asset}_{p}.png" for p in range(1, n)]
    assert sorted(p.name for p in folder.iterdir()) == sorted([*pngs, f"{asset}.json", f"{asset}.atlas.ron"])
    assert [p.name for p, _ in report.files] == [*pngs, f"{asset}.json", f"{asset}.atlas.ron"]
    doc = json.loads((folder / f"{asset}.json").read_text())
    pages = [_png(folder / entry["image"]) for entry in doc["meta"]["dgx_pixels"]["pages"]]
    again = sheet_from_aseprite(doc, pages)
    for i, src in enumerate(sheet.sources):
        assert np.array_equal(extract_frame(again, i), src)
    ron = parse_ron((folder / f"{asset}.atlas.ron").read_text())
    assert [p["image"] for p in ron["pages"]] == pngs
    entry = json.loads((tmp_path / "assets" / "manifest.json").read_text())["assets"][asset]
    assert entry["pages"] == [f"sprites/{asset}/{name}" for name in pngs]
    assert entry["files"][:n] == entry["pages"] and entry["path"] == entry["pages"][0]
    assert list(tmp_path.glob("assets/**/*.dgxtmp")) == []


def test_multi_page_dry_run_writes_nothing(tmp_path):
    sheet = _paged_sheet()
    before = _tree(tmp_path)
    report = export_to_bevy(sheet, tmp_path, category="npc", name="sage", variant="old", dry_run=True)
    assert _tree(tmp_path) == before and not report.written
    assert len(report.files) == len(sheet.pages) + 2


def test_fewer_pages_later_removes_and_backs_up_old_pages(tmp_path):
    big, small = _paged_sheet(count=40), _paged_sheet(colour=9, count=12)
    assert len(big.pages) > len(small.pages)
    export_to_bevy(big, tmp_path, category="item", name="gem", variant="a")
    export_to_bevy(small, tmp_path, category="item", name="gem", variant="a")
    folder = tmp_path / "assets" / "sprites" / "item_gem_a"
    page_files = sorted(p.name for p in folder.glob("*.png"))
    assert page_files == sorted(["item_gem_a.png"] + [f"item_gem_a_{p}.png" for p in range(1, len(small.pages))])
    (backup,) = list_backups(tmp_path, "item_gem_a")
    assert len(list(backup.glob("*.png"))) == len(big.pages)
    last = len(big.pages) - 1
    assert np.array_equal(_png(backup / f"item_gem_a_{last}.png"), big.pages[last])


def test_write_sheet_dir_multi_page(tmp_path):
    sheet = _paged_sheet()
    paths = write_sheet_dir(sheet, tmp_path / "out", "hero")
    n = len(sheet.pages)
    assert [p.name for p in paths] == ["hero.png"] + [f"hero_{p}.png" for p in range(1, n)] + [
        "hero.json",
        "hero.atlas.ron",
    ]
    for p, page in enumerate(sheet.pages):
        assert np.array_equal(_png(paths[p]), page)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "hero_1.json").write_text("{}")
    with pytest.raises(ValueError, match="would overwrite"):
        write_sheet_dir(sheet, tmp_path / "other", "hero")
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["hero_1.json"]
