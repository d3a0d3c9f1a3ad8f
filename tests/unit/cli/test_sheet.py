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
