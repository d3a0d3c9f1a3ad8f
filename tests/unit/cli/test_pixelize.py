"""``dgx-pixels pixelize`` on files, without an engine."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from PIL import Image

from dgx_pixels.cli.pixelize import add_pixelize_parser


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_pixelize_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["pixelize", *argv])
    return args.func(args)


def test_frames_share_one_palette_and_keep_alpha(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        arr = rng.integers(0, 256, (32, 32, 4), dtype=np.uint8)
        arr[..., 3] = np.where(arr[..., 3] > 60, 255, 0)
        Image.fromarray(arr, "RGBA").save(tmp_path / f"frame{i}.png")
    out = tmp_path / "out"
    code = run([str(tmp_path / f"frame{i}.png") for i in range(3)] + ["--out", str(out), "--size", "8x8",
                                                                        "--colors", "6", "--scale", "3",
                                                                        "--shared-palette"])
    assert code == 0
    images = [Image.open(out / f"frame{i}.png") for i in range(3)]
    assert all(im.mode == "P" and im.size == (24, 24) for im in images)  # indexed, read back as RGBA below
    colours = set()
    for im in images:
        arr = np.asarray(im.convert("RGBA"))
        colours |= {tuple(c) for c in arr[arr[..., 3] > 0][:, :3].tolist()}
        assert arr[arr[..., 3] == 0][:, :3].max(initial=0) == 0
    assert len(colours) <= 6
    assert not list(out.glob("*.tmp"))  # atomic writes leave nothing behind


def test_builtin_palette_grid_auto_and_jpeg_input(tmp_path):
    native = np.random.default_rng(1).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(native).resize((72, 60), Image.NEAREST).save(tmp_path / "fake.png")
    assert run([str(tmp_path / "fake.png"), "--out", str(tmp_path), "--grid", "auto", "--palette", "game-boy"]) == 0
    result = Image.open(tmp_path / "fake.png")
    assert result.size == (12, 10) and result.mode == "P" and "transparency" not in result.info
    gb = {(15, 56, 15), (48, 98, 48), (139, 172, 15), (155, 188, 15)}
    assert {tuple(c) for c in np.asarray(result.convert("RGB")).reshape(-1, 3).tolist()} <= gb


@pytest.mark.parametrize("argv,message", [
    (["--size", "8x8", "--palette", "nope"], "unknown palette"),
    (["--size", "8x8", "--palette", "missing.gpl"], "no such file"),
    ([], "say the output size"),
    (["--size", "99x99"], "larger than"),
])
def test_bad_arguments_exit_2_with_a_message(tmp_path, capsys, argv, message):
    Image.new("RGB", (16, 16), (10, 20, 30)).save(tmp_path / "in.png")
    assert run([str(tmp_path / "in.png"), "--out", str(tmp_path / "o"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_16_bit_grey_input_is_not_white(tmp_path):
    """A 16-bit greyscale PNG (PIL mode I;16) used to come out white: PIL's own conversion clips it to 255."""
    Image.fromarray(np.full((16, 16), 40000, dtype=np.uint16)).save(tmp_path / "grey16.png")
    assert run([str(tmp_path / "grey16.png"), "--out", str(tmp_path / "o"), "--size", "4x4"]) == 0
    result = np.asarray(Image.open(tmp_path / "o" / "grey16.png").convert("RGB"))
    assert abs(int(result[0, 0, 0]) - 156) <= 2 and (result == result[0, 0]).all()


def test_huge_scale_is_refused_before_allocating(tmp_path, capsys):
    Image.new("RGB", (16, 16), (10, 20, 30)).save(tmp_path / "in.png")
    assert run([str(tmp_path / "in.png"), "--out", str(tmp_path / "o"), "--cell", "2", "--scale", "5000"]) == 2
    assert "px per side" in capsys.readouterr().err
    assert not (tmp_path / "o" / "in.png").exists()


def test_unrelated_inputs_get_their_own_palettes_unless_shared(tmp_path):
    from dgx_pixels.cli.main import main

    rng = np.random.default_rng(0)
    warm = (rng.random((32, 32, 3)) * [255, 90, 40]).astype(np.uint8)
    cold = (rng.random((32, 32, 3)) * [40, 90, 255]).astype(np.uint8)
    for name, pixels in (("warm", warm), ("cold", cold)):
        Image.fromarray(pixels, "RGB").save(tmp_path / f"{name}.png")
    inputs = [str(tmp_path / "warm.png"), str(tmp_path / "cold.png")]

    def palettes(out):
        return [set(map(tuple, np.asarray(Image.open(out / f"{name}.png").convert("RGB")).reshape(-1, 3).tolist()))
                for name in ("warm", "cold")]

    assert main(["pixelize", *inputs, "--out", str(tmp_path / "own"), "--size", "8x8", "--colors", "4"]) == 0
    warm_own, cold_own = palettes(tmp_path / "own")
    assert warm_own.isdisjoint(cold_own)  # each fitted to its own sprite (one palette served both before)
    assert main(["pixelize", *inputs, "--out", str(tmp_path / "shared"), "--size", "8x8", "--colors", "4",
                 "--shared-palette"]) == 0
    warm_shared, cold_shared = palettes(tmp_path / "shared")
    assert len(warm_shared | cold_shared) <= 4
