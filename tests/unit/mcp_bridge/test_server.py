"""Server pieces that need no engine: loopback detection, the token rule, job ids as paths, thumbnails."""

from __future__ import annotations

import pytest
from PIL import Image

from dgx_pixels.engine.jobs import check_job_id
from dgx_pixels.export.images import thumbnail_png
from dgx_pixels.mcp_bridge.server import is_loopback, serve


def test_loopback_hosts():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")


def test_http_beyond_loopback_needs_a_token():
    with pytest.raises(ValueError, match="--token"):
        serve(["http://127.0.0.1:1"], transport="http", host="0.0.0.0", port=1)


@pytest.mark.parametrize("bad", ["../etc", "..", "a/b", "", "05182DF8-3F18-48EC-A555-99BC06BE2C90",
                                 "05182df8-3f18-48ec-a555-99bc06be2c90/../x"])
def test_job_ids_that_could_escape_the_results_folder_are_refused(bad):
    with pytest.raises(ValueError):
        check_job_id(bad)
    assert check_job_id("05182df8-3f18-48ec-a555-99bc06be2c90")


def test_thumbnails_scale_pixel_art_with_nearest_neighbour(tmp_path):
    import io

    small = Image.new("RGB", (16, 8), (0, 0, 0))
    small.putpixel((3, 2), (255, 0, 0))
    small.save(tmp_path / "s.png")
    thumb = Image.open(io.BytesIO(thumbnail_png(tmp_path / "s.png", 256)))
    assert thumb.size == (256, 128)
    assert {c for _, c in thumb.convert("RGBA").getcolors()} == {(0, 0, 0, 255), (255, 0, 0, 255)}, "no blends"
    Image.new("RGB", (1024, 512)).save(tmp_path / "b.png")
    assert Image.open(io.BytesIO(thumbnail_png(tmp_path / "b.png", 256))).size == (256, 128)
    (tmp_path / "x.json").write_text("{}")
    assert thumbnail_png(tmp_path / "x.json") is None


@pytest.mark.parametrize("colours", [5, 256, 300])
def test_thumbnails_keep_every_pixel_and_alpha_exactly(tmp_path, colours):
    import io

    import numpy as np

    rng = np.random.default_rng(colours)
    lut = rng.integers(0, 256, (colours, 4), dtype=np.uint8)
    lut[0, 3] = 0  # a transparent colour must stay transparent
    sprite = lut[rng.integers(0, colours, (40, 24))]
    Image.fromarray(sprite, "RGBA").save(tmp_path / "s.png")
    thumb = np.asarray(Image.open(io.BytesIO(thumbnail_png(tmp_path / "s.png", 256))).convert("RGBA"))
    assert thumb.shape == (240, 144, 4)
    assert np.array_equal(thumb, sprite.repeat(6, axis=0).repeat(6, axis=1))
