"""``dgx-pixels palette export``, ``dgx-pixels palette-swap`` and indexed ``pixelize`` output, through ``main``."""

from __future__ import annotations

import numpy as np
import pytest
from dgx_pixels.cli.main import main
from dgx_pixels.export.palettes import load_palette_file
from dgx_pixels.ops.palette import (
    PALETTE_FORMATS,
    Palette,
    builtin_palette,
    palette_file_bytes,
    palette_to_gpl,
    parse_palette,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

PICO = builtin_palette("pico-8")
GAME_BOY = builtin_palette("game-boy")


def _entries(image: Image.Image) -> np.ndarray:
    return np.array(image.getpalette(), dtype=np.uint8).reshape(-1, 3)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=1, max_size=256), st.sampled_from(PALETTE_FORMATS))
def test_every_format_reads_back_as_the_same_palette(colors, fmt):
    palette = Palette("mine", np.array(colors, dtype=np.uint8))
    back = parse_palette(palette_file_bytes(palette, fmt), f"mine.{fmt}")
    if fmt == "png":  # a strip is read by its pixels, first-seen: a colour listed twice is read once
        _, first = np.unique(palette.colors, axis=0, return_index=True)
        assert np.array_equal(back.colors, palette.colors[np.sort(first)])
    else:
        assert back == palette


def test_gpl_keeps_the_name_on_one_line():
    text = palette_to_gpl(Palette("two\nlines", PICO.colors))
    assert text.splitlines()[:2] == ["GIMP Palette", "Name: two lines"]
    assert parse_palette(text.encode(), "x.gpl").name == "two lines"


@pytest.mark.parametrize("fmt", PALETTE_FORMATS)
def test_palette_export_writes_each_format(tmp_path, capsys, fmt):
    out = tmp_path / "pals" / f"pico.{fmt}"
    assert main(["palette", "export", "pico-8", "--out", str(out)]) == 0
    assert f"({fmt}, 16 colours)" in capsys.readouterr().out
    assert load_palette_file(out) == PICO
    if fmt == "png":
        with Image.open(out) as strip:
            assert strip.size == (16, 1) and strip.mode == "P"
            assert np.array_equal(_entries(strip), PICO.colors)
            assert np.array_equal(np.asarray(strip.convert("RGB"))[0], PICO.colors)
    if fmt == "pal":
        assert out.read_bytes().startswith(b"JASC-PAL\r\n0100\r\n16\r\n")


def test_palette_export_converts_a_file_and_takes_format_over_the_extension(tmp_path):
    src = tmp_path / "gb.hex"
    src.write_text("\n".join(GAME_BOY.hex()))
    out = tmp_path / "gb.txt"
    assert main(["palette", "export", str(src), "--format", "gpl", "--out", str(out)]) == 0
    assert out.read_text().startswith("GIMP Palette\nName: gb\n")
    assert parse_palette(out.read_bytes(), "gb.gpl") == GAME_BOY


@pytest.mark.parametrize("argv, message", [
    (["pico-8", "--out", "{tmp}/p.txt"], "say the format with --format"),
    (["nope", "--out", "{tmp}/p.gpl"], "unknown palette 'nope'"),
    (["missing.gpl", "--out", "{tmp}/p.gpl"], "no such file"),
    (["pico-8", "--out", "{tmp}"], "is a folder"),
])
def test_palette_export_errors_are_one_line(tmp_path, capsys, argv, message):
    assert main(["palette", "export", *[a.replace("{tmp}", str(tmp_path)) for a in argv]]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def _sprite(tmp_path, alpha: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A 6x5 sprite in PICO-8 with a transparent corner; returns (palette indices, RGBA pixels)."""
    idx = np.arange(30).reshape(5, 6) % 16
    rgba = np.concatenate([PICO.colors[idx], np.full((5, 6, 1), 255, dtype=np.uint8)], axis=-1)
    if alpha:
        rgba[0, 0] = 0
    Image.fromarray(rgba if alpha else rgba[..., :3]).save(tmp_path / "hero.png")
    return idx, rgba


def test_palette_swap_writes_indexed_variants_and_a_sheet(tmp_path, capsys):
    idx, rgba = _sprite(tmp_path)
    reversed_pico = tmp_path / "night.hex"
    reversed_pico.write_text("\n".join(PICO.hex()[::-1]))
    out = tmp_path / "out"
    code = main(["palette-swap", str(tmp_path / "hero.png"), "--from", "pico-8", "--to", str(reversed_pico),
                 "--to", "endesga-32", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / n) for n in ("hero_night.png", "hero_endesga-32.png", "hero_swaps.png")]
    for name, target, want in (("hero_night.png", 16, PICO.colors[15 - idx]),
                               ("hero_endesga-32.png", 32, builtin_palette("endesga-32").colors[idx])):
        with Image.open(out / name) as image:
            assert image.mode == "P"
            # The PNG's palette is the target palette in its order (then the one transparent entry).
            target_colors = np.array([[int(h[i:i + 2], 16) for i in (0, 2, 4)] for h in PICO.hex()[::-1]]) \
                if target == 16 else builtin_palette("endesga-32").colors
            assert np.array_equal(_entries(image)[:target], target_colors) and len(_entries(image)) == target + 1
            back = np.asarray(image.convert("RGBA"))
            assert back[0, 0, 3] == 0 and (back[..., 3].ravel()[1:] == 255).all()
            assert np.array_equal(back[..., :3][back[..., 3] > 0], want[rgba[..., 3] > 0])
    with Image.open(out / "hero_swaps.png") as sheet:
        assert sheet.size == (12, 5)
        both = np.asarray(sheet.convert("RGBA"))
        assert np.array_equal(both[:, 6:], np.asarray(Image.open(out / "hero_endesga-32.png").convert("RGBA")))


def test_palette_swap_one_target_no_sheet_and_rgba(tmp_path):
    idx, _ = _sprite(tmp_path, alpha=False)
    out = tmp_path / "out"
    assert main(["palette-swap", str(tmp_path / "hero.png"), "--from", "pico-8", "--to", "pico-8",
                 "--out", str(out), "--rgba"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["hero_pico-8.png"]
    with Image.open(out / "hero_pico-8.png") as image:
        assert image.mode == "RGB" and np.array_equal(np.asarray(image), PICO.colors[idx])


def test_palette_swap_refuses_unknown_colours_unless_kept(tmp_path, capsys):
    _sprite(tmp_path)
    args = ["palette-swap", str(tmp_path / "hero.png"), "--from", "game-boy", "--to", "endesga-32",
            "--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "29 pixel(s) have a colour that is not in the source palette 'game-boy', e.g. #1D2B53 at x=1, y=0" in err
    assert "--keep-unknown" in err and not (tmp_path / "out").exists()
    assert main([*args, "--keep-unknown"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--from", "endesga-32", "--to", "pico-8"], "target palette 1 ('pico-8') has 16 colours but the source"),
    (["--from", "pico-8", "--to", "nope"], "unknown palette 'nope'"),
    (["--from", "pico-8", "--to", "x.gpl"], "--to 'x.gpl': no such file"),
])
def test_palette_swap_bad_palettes_exit_2(tmp_path, capsys, argv, message):
    _sprite(tmp_path)
    assert main(["palette-swap", str(tmp_path / "hero.png"), *argv, "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err


def test_pixelize_writes_an_indexed_png_in_the_palettes_order(tmp_path):
    rng = np.random.default_rng(0)
    arr = PICO.colors[rng.integers(0, 16, (16, 16))]
    rgba = np.concatenate([arr, np.full((16, 16, 1), 255, dtype=np.uint8)], axis=-1)
    rgba[:4, :4, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "in.png")
    assert main(["pixelize", str(tmp_path / "in.png"), "--out", str(tmp_path / "o"), "--cell", "2",
                 "--palette", "pico-8", "--mode", "nearest"]) == 0
    with Image.open(tmp_path / "o" / "in.png") as image:
        assert image.mode == "P" and image.size == (8, 8)
        assert np.array_equal(_entries(image)[:16], PICO.colors)
        back = np.asarray(image.convert("RGBA"))
        assert (back[:2, :2, 3] == 0).all() and (back[2:, 2:, 3] == 255).all()
    assert main(["pixelize", str(tmp_path / "in.png"), "--out", str(tmp_path / "r"), "--cell", "2",
                 "--palette", "pico-8", "--rgba"]) == 0
    with Image.open(tmp_path / "r" / "in.png") as image:
        assert image.mode == "RGBA"
