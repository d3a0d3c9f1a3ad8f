"""Every PIL mode read back as 8-bit RGBA by ``export.images`` (``to_rgba8`` through ``read_rgba``)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dgx_pixels.export.images import read_image, read_rgba, thumbnail_png, to_rgba8


def _saved(image: Image.Image, path, fmt: str, **options):
    image.save(path, format=fmt, **options)
    return path


def _grey(rgba: np.ndarray) -> list[int]:
    """The grey levels of a one-row image, checking that R=G=B and alpha is opaque."""
    assert (rgba[..., 0] == rgba[..., 1]).all() and (rgba[..., 1] == rgba[..., 2]).all()
    assert (rgba[..., 3] == 255).all()
    return rgba[0, :, 0].tolist()


def test_16_bit_grey_png_is_scaled_not_white(tmp_path):
    image = Image.fromarray(np.array([[0, 257, 40000, 65535]], dtype=np.uint16))
    assert image.mode == "I;16"
    path = _saved(image, tmp_path / "g16.png", "PNG")
    with Image.open(path) as reopened:
        assert reopened.mode.startswith("I")  # I;16 (Pillow 10+) or I (older) for a 16-bit PNG
    assert _grey(read_rgba(path, "g16")) == [0, 1, 156, 255]


def test_32_bit_int_tiff_over_255_is_taken_as_16_bit_range(tmp_path):
    image = Image.fromarray(np.array([[0, 1000, 32768, 65535]], dtype=np.int32))
    assert image.mode == "I"
    path = _saved(image, tmp_path / "i.tif", "TIFF")
    assert _grey(read_rgba(path, "i")) == [0, 4, 128, 255]


def test_32_bit_int_tiff_up_to_255_is_taken_as_8_bit_range(tmp_path):
    path = _saved(Image.fromarray(np.array([[-5, 0, 100, 255]], dtype=np.int32)), tmp_path / "i8.tif", "TIFF")
    assert _grey(read_rgba(path, "i8")) == [0, 0, 100, 255]


def test_float_tiff_0_to_1_and_0_to_255(tmp_path):
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0, np.nan]], dtype=np.float32))
    assert unit.mode == "F"
    assert _grey(read_rgba(_saved(unit, tmp_path / "f1.tif", "TIFF"), "f1")) == [0, 128, 255, 0]
    wide = Image.fromarray(np.array([[0.0, 100.0, 254.6, 300.0]], dtype=np.float32))
    assert _grey(read_rgba(_saved(wide, tmp_path / "f255.tif", "TIFF"), "f255")) == [0, 100, 255, 255]


def test_palette_png_with_transparency(tmp_path):
    image = Image.fromarray(np.array([[0, 1, 2]], dtype=np.uint8), "P")
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (253 * 3))
    path = _saved(image, tmp_path / "p.png", "PNG", transparency=1)
    rgba, alpha = read_image(path, "p")
    assert alpha
    assert rgba[0].tolist() == [[255, 0, 0, 255], [0, 255, 0, 0], [0, 0, 255, 255]]


def test_grey_with_alpha(tmp_path):
    image = Image.fromarray(np.array([[[10, 255], [200, 0]]], dtype=np.uint8), "LA")
    rgba, alpha = read_image(_saved(image, tmp_path / "la.png", "PNG"), "la")
    assert alpha
    assert rgba[0].tolist() == [[10, 10, 10, 255], [200, 200, 200, 0]]


def test_cmyk(tmp_path):
    image = Image.new("CMYK", (2, 1))
    image.putpixel((0, 0), (0, 0, 0, 0))
    image.putpixel((1, 0), (0, 255, 255, 0))
    rgba = read_rgba(_saved(image, tmp_path / "c.tif", "TIFF"), "cmyk")
    assert rgba[0].tolist() == [[255, 255, 255, 255], [255, 0, 0, 255]]


def test_one_bit(tmp_path):
    image = Image.new("1", (2, 1))
    image.putpixel((1, 0), 1)
    assert _grey(read_rgba(_saved(image, tmp_path / "b.png", "PNG"), "1")) == [0, 255]


@pytest.mark.parametrize("mode,pixel,expected", [
    ("L", 77, [77, 77, 77, 255]),
    ("RGB", (1, 2, 3), [1, 2, 3, 255]),
    ("RGBA", (1, 2, 3, 4), [1, 2, 3, 4]),
])
def test_eight_bit_modes(tmp_path, mode, pixel, expected):
    path = _saved(Image.new(mode, (1, 1), pixel), tmp_path / f"{mode}.png", "PNG")
    rgba, alpha = read_image(path, mode)
    assert rgba.dtype == np.uint8 and rgba.shape == (1, 1, 4)
    assert rgba[0, 0].tolist() == expected
    assert alpha == (mode == "RGBA")


def test_bytes_source_and_in_memory_image():
    buffer = io.BytesIO()
    Image.fromarray(np.array([[65535]], dtype=np.uint16)).save(buffer, format="PNG")
    assert read_rgba(buffer.getvalue(), "bytes")[0, 0].tolist() == [255, 255, 255, 255]
    assert to_rgba8(Image.fromarray(np.array([[0.25]], dtype=np.float32)))[0, 0].tolist() == [64, 64, 64, 255]


def test_thumbnail_of_16_bit_grey_is_not_white(tmp_path):
    path = _saved(Image.fromarray(np.full((4, 4), 40000, dtype=np.uint16)), tmp_path / "t.png", "PNG")
    with Image.open(io.BytesIO(thumbnail_png(path))) as thumb:
        assert thumb.convert("RGBA").getpixel((0, 0)) == (156, 156, 156, 255)


@pytest.mark.parametrize("what", ["missing", "folder", "garbage"])
def test_unreadable_sources_raise_value_error_naming_the_label(tmp_path, what):
    path = tmp_path / "x.png"
    if what == "folder":
        path.mkdir()
    elif what == "garbage":
        path.write_bytes(b"nope")
    with pytest.raises(ValueError, match="^frame 7: "):
        read_rgba(path, "frame 7")
