"""`sheet` and `deploy` subcommands on PNG files (no engine)."""

import argparse
import json

import numpy as np
from PIL import Image

from dgx_pixels.cli.sheet import add_deploy_parser, add_sheet_parser


def _run(argv):
    parser = argparse.ArgumentParser(prog="dgx-pixels")
    sub = parser.add_subparsers(required=True)
    add_sheet_parser(sub)
    add_deploy_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def _frames(folder, count=4):
    folder.mkdir()
    paths = []
    for i in range(count):
        data = np.zeros((24, 24, 4), np.uint8)
        data[6:20, 4 + i : 16 + i] = (200, 40 * i, 30, 255)
        path = folder / f"f{i}.png"
        Image.fromarray(data, "RGBA").save(path)
        paths.append(str(path))
    return paths


def test_sheet_then_deploy(tmp_path, capsys):
    frames = _frames(tmp_path / "frames")
    out = tmp_path / "out"
    rc = _run(["sheet", *frames, "--out", str(out), "--name", "character_knight_base", "--pack", "--trim",
               "--extrude", "1", "--padding", "1", "--tag", "walk:0-3:pingpong", "--fps", "12"])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "character_knight_base.atlas.ron", "character_knight_base.json", "character_knight_base.png"]
    doc = json.loads((out / "character_knight_base.json").read_text())
    assert doc["meta"]["frameTags"][0]["direction"] == "pingpong" and doc["frames"][0]["duration"] == 83
    game = tmp_path / "game"
    game.mkdir()
    assert _run(["deploy", str(out), "--bevy", str(game), "--dry-run"]) == 0
    assert not (game / "assets").exists()
    assert _run(["deploy", str(out), "--bevy", str(game)]) == 0
    assert (game / "assets/sprites/character_knight_base/character_knight_base.png").exists()
    assert "wrote 3 files" in capsys.readouterr().out


def test_grid_and_errors(tmp_path, capsys):
    frames = _frames(tmp_path / "frames")
    assert _run(["sheet", *frames, "--out", str(tmp_path / "g"), "--name", "hero", "--grid", "2x2"]) == 0
    assert (tmp_path / "g" / "hero.assets.ron").exists()
    assert _run(["sheet", *frames, "--out", str(tmp_path / "h"), "--name", "hero", "--grid", "1x2"]) == 2
    assert _run(["sheet", *frames, "--out", str(tmp_path / "h"), "--name", "a/b"]) == 2
    assert _run(["sheet", *frames, "--out", str(tmp_path / "h"), "--name", "x", "--tag", "walk:0-9"]) == 2
    assert _run(["deploy", str(tmp_path / "g"), "--bevy", str(tmp_path / "nope"), "--category", "enemy"]) == 2
    err = capsys.readouterr().err
    assert "holds 2 frames but there are 4" in err and "path separators" in err and "covers frames 0-9" in err
    assert "does not exist" in err
    assert not (tmp_path / "h").exists() or not any((tmp_path / "h").iterdir())


def test_multi_page_sheet_deploys_every_page(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(3)
    frames = []
    for i in range(12):
        data = rng.integers(0, 255, (32, 32, 4), dtype=np.uint8)
        data[..., 3] = 255  # opaque and all different: nothing trims or merges
        Image.fromarray(data, "RGBA").save(folder / f"f{i:02}.png")
        frames.append(str(folder / f"f{i:02}.png"))
    out = tmp_path / "out"
    assert _run(["sheet", *frames, "--out", str(out), "--name", "effect_noise_base", "--pack",
                 "--max-size", "64", "--padding", "0", "--extrude", "0"]) == 0
    pages = sorted(p.name for p in out.glob("effect_noise_base*.png"))
    assert len(pages) >= 3, pages
    project = tmp_path / "game"
    project.mkdir()
    assert _run(["deploy", str(out / "effect_noise_base.json"), "--bevy", str(project)]) == 0
    entry = json.loads((project / "assets" / "manifest.json").read_text())["assets"]["effect_noise_base"]
    deployed = project / "assets" / "sprites" / "effect_noise_base"
    assert len(entry["pages"]) == len(pages)
    for page in pages:
        assert (deployed / page).read_bytes() == (out / page).read_bytes()


def test_sheet_from_aseprite_keeps_durations_tags_and_pixels(tmp_path, capsys):
    from dgx_pixels.export.aseprite import write_aseprite_file
    from dgx_pixels.ops.sheet import AnimationTag, build_sheet, extract_frame

    frames = [np.asarray(Image.open(p)) for p in _frames(tmp_path / "frames")]
    source = build_sheet(frames, tags=[AnimationTag("walk", 0, 3, "pingpong", 2)], durations_ms=[90, 100, 110, 120])
    ase = write_aseprite_file(source, tmp_path / "knight.aseprite", metadata={"seed": 5})
    out = tmp_path / "out"
    assert _run(["sheet", "--from", str(ase), "--out", str(out), "--name", "character_knight_base", "--pack"]) == 0
    doc = json.loads((out / "character_knight_base.json").read_text())
    assert [f["duration"] for f in doc["frames"]] == [90, 100, 110, 120]
    assert doc["meta"]["frameTags"][0] | {"color": None} == {
        "name": "walk", "from": 0, "to": 3, "direction": "pingpong", "repeat": "2", "color": None}
    from dgx_pixels.export.bevy import read_sheet_dir

    again = read_sheet_dir(out / "character_knight_base.json")
    assert [extract_frame(again, i).tobytes() for i in range(4)] == [f.tobytes() for f in frames]
    # --fps and --tag replace the file's timing and tags.
    assert _run(["sheet", "--from", str(ase), "--out", str(out), "--name", "b", "--fps", "10",
                 "--tag", "run:1-2"]) == 0
    doc = json.loads((out / "b.json").read_text())
    assert [f["duration"] for f in doc["frames"]] == [100] * 4 and doc["meta"]["frameTags"][0]["name"] == "run"
    # Errors are one line, exit 2.
    assert _run(["sheet", "--from", str(ase), str(tmp_path / "frames/f0.png"), "--out", str(out), "--name", "c"]) == 2
    assert _run(["sheet", "--from", str(tmp_path / "nope.aseprite"), "--out", str(out), "--name", "c"]) == 2
    assert _run(["sheet", "--out", str(out), "--name", "c"]) == 2
    err = capsys.readouterr().err
    assert "not both" in err and "cannot read Aseprite file" in err and "--from FILE.aseprite" in err


def test_deploy_can_add_the_aseprite_file_and_write_rgba_pages(tmp_path, capsys):
    frames = _frames(tmp_path / "frames")
    out = tmp_path / "out"
    assert _run(["sheet", *frames, "--out", str(out), "--name", "character_knight_base", "--tag", "walk:0-3"]) == 0
    game = tmp_path / "game"
    game.mkdir()
    folder = game / "assets/sprites/character_knight_base"
    assert _run(["deploy", str(out), "--bevy", str(game)]) == 0
    with Image.open(folder / "character_knight_base.png") as page:
        assert page.mode == "P"  # few colours: a palette PNG by default
    assert not (folder / "character_knight_base.aseprite").exists()
    assert _run(["deploy", str(out), "--bevy", str(game), "--aseprite", "--rgba"]) == 0
    with Image.open(folder / "character_knight_base.png") as page:
        assert page.mode == "RGBA"
    assert (folder / "character_knight_base.aseprite").read_bytes()[4:6] == b"\xe0\xa5"  # the format's magic
