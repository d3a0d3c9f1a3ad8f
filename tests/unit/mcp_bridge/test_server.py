"""Server pieces that need no engine: loopback detection, the token rule, job ids as paths, thumbnails."""

from __future__ import annotations

import asyncio
import re

import pytest
from PIL import Image

from dgx_pixels.engine.jobs import check_job_id
from dgx_pixels.export.images import thumbnail_png
from dgx_pixels.mcp_bridge.server import is_loopback, parse_host, parse_origin, serve


def test_loopback_hosts():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")


def served(monkeypatch, **options):
    """Call serve with FastMCP.run replaced; return (server, run's keyword arguments)."""
    from fastmcp import FastMCP

    runs = []
    monkeypatch.setattr(FastMCP, "run", lambda self, **kwargs: runs.append((self, kwargs)))
    serve(["http://127.0.0.1:1"], transport="http", port=1, **options)
    assert len(runs) == 1
    return runs[0]


def test_http_beyond_loopback_without_a_token_gets_a_generated_one_on_stderr(monkeypatch, capsys):
    server, kwargs = served(monkeypatch, host="0.0.0.0")
    out, err = capsys.readouterr()
    tokens = re.findall(r"Bearer (\S+)", err)
    assert len(tokens) == 1 and len(tokens[0]) >= 32 and not out
    assert asyncio.run(server.auth.verify_token(tokens[0])) is not None
    assert asyncio.run(server.auth.verify_token("guess")) is None
    assert kwargs["middleware"], "the Host/Origin guard is installed"
    served(monkeypatch, host="0.0.0.0")
    assert re.findall(r"Bearer (\S+)", capsys.readouterr().err) != tokens, "a new token each start"


def test_a_given_token_or_a_loopback_bind_prints_none(monkeypatch, capsys):
    server, _ = served(monkeypatch, host="0.0.0.0", token="s3cret")
    assert asyncio.run(server.auth.verify_token("s3cret")) is not None
    server, _ = served(monkeypatch, host="127.0.0.1")
    assert server.auth is None
    assert capsys.readouterr() == ("", "")


def test_allowed_host_and_origin_syntax():
    assert parse_host("Example.test") == ("example.test", None)
    assert parse_host("example.test:8443") == ("example.test", 8443)
    assert parse_host("[::1]:8765") == ("::1", 8765) and parse_host("::1") == ("::1", None)
    assert parse_origin("https://App.example.test") == ("https", "app.example.test", 443)
    assert parse_origin("http://localhost:8765/") == ("http", "localhost", 8765)
    for bad in ["", "a/b", "x:0", "x:65536", "x:y", "[::1", "[::1]x", "user@x"]:
        with pytest.raises(ValueError):
            parse_host(bad)
    for bad in ["null", "evil.example", "ftp://x.test", "http://x.test/path", "http://u@x.test", "http://x:99999"]:
        with pytest.raises(ValueError):
            parse_origin(bad)


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
