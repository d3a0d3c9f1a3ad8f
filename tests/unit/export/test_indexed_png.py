"""Indexed PNGs (``export.images.encode_png``, Bevy pages): mode P, the palette's own order, transparency kept."""

from __future__ import annotations

import io

import numpy as np
import pytest
from dgx_pixels.export.bevy import encode_png as bevy_png
from dgx_pixels.export.bevy import export_to_bevy, sheet_files, validate_png_bytes
from dgx_pixels.export.images import encode_png, index_colors, indexed_png
from dgx_pixels.ops.palette import builtin_palette
from dgx_pixels.ops.sheet import SheetOptions, build_sheet
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _entries(image: Image.Image) -> np.ndarray:
    """The PNG's palette as N×4 RGBA (alpha from tRNS)."""
    rgb = np.array(image.getpalette(), dtype=np.uint8).reshape(-1, 3)
    alpha = np.full(len(rgb), 255, dtype=np.uint8)
    trns = image.info.get("transparency")
    if isinstance(trns, int):
        alpha[trns] = 0
    elif isinstance(trns, bytes):
        alpha[:len(trns)] = np.frombuffer(trns, dtype=np.uint8)
    return np.concatenate([rgb, alpha[:, None]], axis=1)


@st.composite
def sprites(draw):
    k = draw(st.integers(1, 40))
    colors = np.array(draw(st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=k, max_size=k,
                                    unique=True)), dtype=np.uint8)
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rgb = colors[rng.integers(0, k, (h, w))]
    alpha = rng.choice(np.array([0, 255], dtype=np.uint8), (h, w), p=[0.3, 0.7]) if draw(st.booleans()) else None
    return colors, rgb, alpha


@settings(max_examples=120, deadline=None)
@given(sprites(), st.booleans())
def test_a_sprite_in_a_palette_is_an_indexed_png_in_the_palettes_order(case, palette_known):
    colors, rgb, alpha = case
    if alpha is not None:
        rgb = np.where(alpha[..., None] == 0, 0, rgb)  # pixelize zeroes the colour of transparent pixels
    pixels = rgb if alpha is None else np.concatenate([rgb, alpha[..., None]], axis=-1)
    image = _open(encode_png(pixels, colors if palette_known else None))
    assert image.mode == "P" and image.format == "PNG"
    entries = _entries(image)
    if palette_known:
        # Entry i is palette colour i, opaque, used or not; a transparent entry follows when there is one.
        assert np.array_equal(entries[:len(colors), :3], colors) and (entries[:len(colors), 3] == 255).all()
        assert len(entries) == len(colors) + int(alpha is not None and bool((alpha == 0).any()))
    back = np.asarray(image.convert("RGBA"))
    assert np.array_equal(back[..., :3], rgb)
    assert (back[..., 3] == 255).all() if alpha is None else np.array_equal(back[..., 3], alpha)
    if alpha is None:
        assert "transparency" not in image.info
    assert encode_png(pixels, colors if palette_known else None) == encode_png(pixels, colors if palette_known
                                                                               else None)  # deterministic


def test_translucent_and_off_palette_colours_follow_the_palette():
    pal = builtin_palette("game-boy").colors
    pixels = np.zeros((2, 3, 4), dtype=np.uint8)
    pixels[..., :3], pixels[..., 3] = pal[1], 255
    pixels[0, 0] = [200, 0, 0, 255]  # not in the palette
    pixels[0, 1] = [*pal[2], 128]  # a palette colour, half transparent
    image = _open(encode_png(pixels, pal))
    entries = _entries(image)
    assert np.array_equal(entries[:4, :3], pal) and len(entries) == 6
    assert np.array_equal(np.asarray(image.convert("RGBA")), pixels)
    assert np.asarray(image)[1, 2] == 1  # palette index 1 stays index 1


def test_over_256_colours_is_rgba_and_rgba_can_be_asked_for():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (32, 32, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    assert _open(encode_png(pixels)).mode == "RGBA"
    few = np.zeros((4, 4, 3), dtype=np.uint8)
    assert _open(encode_png(few, indexed=False)).mode == "RGB"
    assert _open(encode_png(few)).mode == "P"
    with pytest.raises(ValueError, match="H×W×3 or H×W×4"):
        encode_png(np.zeros((4, 4), dtype=np.uint8))


def test_hidden_colours_of_transparent_pixels_merge_only_when_that_makes_it_fit():
    rng = np.random.default_rng(1)
    pixels = np.zeros((32, 32, 4), dtype=np.uint8)
    pixels[..., :3] = rng.integers(0, 256, (32, 32, 3))  # 1024 different hidden colours
    pixels[:4, :4] = [10, 20, 30, 255]
    image = _open(encode_png(pixels))
    assert image.mode == "P" and len(_entries(image)) == 2
    back = np.asarray(image.convert("RGBA"))
    assert (back[4:, :, 3] == 0).all() and (back[:4, :4] == [10, 20, 30, 255]).all()
    # When they fit, even hidden colours come back exactly.
    small = pixels[:4, :8]
    assert np.array_equal(np.asarray(_open(encode_png(small)).convert("RGBA")), small)


def test_a_full_palette_with_transparency_gives_up_the_order_but_stays_indexed():
    colors = np.stack([np.arange(256), np.zeros(256), np.zeros(256)], axis=1).astype(np.uint8)
    pixels = np.zeros((2, 2, 4), dtype=np.uint8)
    pixels[0] = [5, 0, 0, 255]
    image = _open(encode_png(pixels, colors))
    assert image.mode == "P" and len(_entries(image)) == 2
    assert np.array_equal(np.asarray(image.convert("RGBA")), pixels)


def test_a_colour_listed_twice_in_the_palette_takes_its_first_index():
    colors = np.array([[1, 1, 1], [2, 2, 2], [1, 1, 1]], dtype=np.uint8)
    indices, entries = index_colors(np.full((1, 2, 3), 1, dtype=np.uint8), colors)
    assert indices.tolist() == [[0, 0]] and len(entries) == 3
    with pytest.raises(ValueError, match="past the palette"):
        indexed_png(np.array([[3]], dtype=np.uint8), entries)


def _sheet_frames(colours: int) -> list[np.ndarray]:
    rng = np.random.default_rng(2)
    pal = rng.integers(0, 256, (colours, 3), dtype=np.uint8)
    frames = []
    for _ in range(4):
        frame = np.zeros((16, 16, 4), dtype=np.uint8)
        frame[2:14, 2:14, :3] = pal[rng.integers(0, colours, (12, 12))]
        frame[2:14, 2:14, 3] = 255
        frames.append(frame)
    return frames


def test_bevy_pages_are_indexed_with_trns_and_pass_the_asset_checks(tmp_path):
    sheet = build_sheet(_sheet_frames(12), options=SheetOptions(layout="grid", columns=2, rows=2))
    name, data = sheet_files(sheet, "hero", "hero.png")[0]
    image = _open(data)
    assert image.mode == "P" and "transparency" in image.info
    assert np.array_equal(np.asarray(image.convert("RGBA")), sheet.pages[0])
    assert validate_png_bytes(data, name)[0] == []
    assert _open(bevy_png(sheet.pages[0], indexed=False)).mode == "RGBA"
    report = export_to_bevy(sheet, tmp_path, category="character", name="hero", variant="base")
    assert report.written and not report.errors


def test_a_page_of_many_colours_stays_rgba():
    sheet = build_sheet([np.random.default_rng(3).integers(0, 256, (32, 32, 4), dtype=np.uint8) | 1],
                        options=SheetOptions(layout="grid", columns=1, rows=1))
    assert _open(sheet_files(sheet, "hero", "hero.png")[0][1]).mode == "RGBA"
