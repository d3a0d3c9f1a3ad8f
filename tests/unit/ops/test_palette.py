"""Palettes: built-ins, files, extraction, mapping, dithering."""

from __future__ import annotations

import os
import io

import numpy as np
import pytest
import torch
from dgx_pixels.export.palettes import load_palette_file
from dgx_pixels.ops.color import oklab_to_rgb, rgb_to_oklab
from dgx_pixels.ops.dither import DITHERS, apply_palette, bayer_matrix
from dgx_pixels.ops.palette import (
    Palette,
    builtin_palette,
    builtin_palette_names,
    cluster_sums,
    cluster_sums_by_matmul,
    extract_palette,
    map_to_palette,
    parse_palette,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image


def colours_of(image: torch.Tensor) -> set[tuple[int, int, int]]:
    """Opaque colours of an image as uint8 triples (truncated like ComfyUI's SaveImage does)."""
    rgb = image[..., :3]
    if image.shape[-1] == 4:
        rgb = rgb[image[..., 3] > 0]
    q = (rgb.reshape(-1, 3) * 255.0).numpy().astype(np.uint8)
    return {tuple(int(v) for v in c) for c in q}


def palette_set(p: Palette) -> set[tuple[int, int, int]]:
    return {tuple(int(v) for v in c) for c in p.colors}


def test_oklab_round_trip_and_known_values():
    rgb = torch.rand(500, 3, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(oklab_to_rgb(rgb_to_oklab(rgb)), rgb, atol=2e-4)
    white = rgb_to_oklab(torch.ones(3))
    assert white[0] == pytest.approx(1.0, abs=1e-3) and white[1:].abs().max() < 1e-3


def test_builtins_are_complete():
    names = builtin_palette_names()
    for required in ("pico-8", "nes", "game-boy", "db16", "db32", "endesga-32", "aap-64", "sweetie-16", "c64", "cga"):
        assert required in names
    sizes = {n: len(builtin_palette(n)) for n in names}
    assert sizes["pico-8"] == 16 and sizes["game-boy"] == 4 and sizes["db32"] == 32 and sizes["aap-64"] == 64
    assert builtin_palette("PICO 8").hex()[8] == "FF004D"
    with pytest.raises(ValueError, match="built-in palettes are"):
        builtin_palette("nope")


def test_parse_hex_gpl_jasc_png(tmp_path):
    expect = {(255, 0, 0), (0, 255, 0), (0, 0, 255)}
    hex_pal = parse_palette(b"ff0000\n00FF00\n#0000ff\n", "rgb.hex")
    gpl = parse_palette(b"GIMP Palette\nName: Prim\nColumns: 3\n#\n255 0 0 red\n  0 255   0\t green\n0 0 255\n", "p.gpl")
    jasc = parse_palette(b"JASC-PAL\r\n0100\r\n3\r\n255 0 0\r\n0 255 0\r\n0 0 255\r\n", "p.pal")
    strip = Image.new("RGB", (3, 1))
    strip.putdata([(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    buf = io.BytesIO()
    strip.resize((24, 8), Image.NEAREST).save(buf, format="PNG")
    png = parse_palette(buf.getvalue(), "strip.png")
    for pal in (hex_pal, gpl, jasc, png):
        assert palette_set(pal) == expect and len(pal) == 3
    assert gpl.name == "Prim"
    assert png.hex() == ["FF0000", "00FF00", "0000FF"]  # published order kept
    path = tmp_path / "x.hex"
    path.write_bytes(b"123456\n")
    assert load_palette_file(path).hex() == ["123456"]


@pytest.mark.parametrize("data,name,match", [
    (b"", "empty.hex", "empty"),
    (b"\n\n", "blank.hex", "empty"),
    (b"zzzzzz\n", "bad.hex", "not a colour"),
    (b"GIMP Palette\nName: x\n", "none.gpl", "no colours"),
    (b"\x89PNG\r\n\x1a\nbroken", "broken.png", "not a readable PNG"),
    (b"\xff\xfe\x00", "bin.pal", "not text"),
])
def test_bad_palette_files(data, name, match):
    with pytest.raises(ValueError, match=match):
        parse_palette(data, name)


def test_missing_palette_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read palette file"):
        load_palette_file(tmp_path / "missing.gpl")


@settings(max_examples=8, deadline=None)
@given(k=st.integers(1, 12), batch=st.integers(1, 4), seed=st.integers(0, 3))
def test_extract_palette_is_bounded_and_deterministic(k, batch, seed):
    rgb = torch.rand(batch, 12, 12, 3, generator=torch.Generator().manual_seed(seed))
    a = extract_palette(rgb, k, seed=seed)
    b = extract_palette(rgb, k, seed=seed)
    assert 1 <= len(a) <= k
    assert np.array_equal(a.colors, b.colors)
    mapped = map_to_palette(rgb, a)
    assert colours_of(mapped) <= palette_set(a)


def test_extract_palette_ignores_transparent_pixels_and_checks_k():
    rgb = torch.zeros(1, 4, 4, 3)
    rgb[0, :2] = torch.tensor([1.0, 0.0, 0.0])
    alpha = torch.zeros(1, 4, 4)
    alpha[0, :2] = 1
    pal = extract_palette(rgb, 2, alpha=alpha)
    assert palette_set(pal) == {(255, 0, 0)}
    assert palette_set(extract_palette(rgb, 9, alpha=alpha)) == {(255, 0, 0)}  # 9 > 8 opaque pixels: no error
    with pytest.raises(ValueError, match="between 1 and 256"):
        extract_palette(rgb, 300)


def test_extract_palette_finds_the_true_colours():
    truth = torch.tensor([[230, 25, 25], [25, 204, 51], [25, 25, 230], [242, 242, 230]], dtype=torch.uint8)
    idx = torch.randint(0, 4, (2, 16, 16), generator=torch.Generator().manual_seed(3))
    pal = extract_palette(truth.float()[idx] / 255, 4)
    assert palette_set(pal) == {tuple(c.tolist()) for c in truth}


def test_bayer_matrices():
    for n in (2, 4, 8):
        m = bayer_matrix(n)
        assert m.shape == (n, n) and len(m.unique()) == n * n
        assert m.min() > -0.5 and m.max() < 0.5
    with pytest.raises(ValueError):
        bayer_matrix(3)


@pytest.mark.parametrize("dither", DITHERS)
@pytest.mark.parametrize("channels", [3, 4])
def test_apply_palette_adherence_all_dithers(dither, channels):
    pal = builtin_palette("pico-8")
    img = torch.rand(2, 16, 16, channels, generator=torch.Generator().manual_seed(5))
    if channels == 4:
        img[..., 3] = (img[..., 3] > 0.3).float()
    out = apply_palette(img, pal, dither, 1.0)
    assert out.shape == img.shape
    assert colours_of(out) <= palette_set(pal)
    if channels == 4:
        assert torch.equal(out[..., 3], img[..., 3])
        assert out[..., :3][img[..., 3] == 0].abs().max() == 0  # no phantom pixels
    assert torch.equal(out, apply_palette(img, pal, dither, 1.0))


def test_ordered_dither_is_stable_in_static_regions():
    # Two "frames" that differ only in one corner: the dither pattern elsewhere must not move.
    pal = builtin_palette("game-boy")
    ramp = torch.linspace(0, 1, 32).view(1, 1, 32, 1).expand(1, 32, 32, 3).clone()
    frame2 = ramp.clone()
    frame2[:, :8, :8] = 1.0 - frame2[:, :8, :8]
    out = apply_palette(torch.cat([ramp, frame2]), pal, "bayer4", 1.0)
    static = torch.ones(32, 32, dtype=torch.bool)
    static[:8, :8] = False
    assert torch.equal(out[0][static], out[1][static])
    assert len(colours_of(out[:1])) > 2  # it really dithers the ramp


def test_dither_rejects_bad_arguments():
    pal = builtin_palette("cga")
    with pytest.raises(ValueError, match="dither must be one of"):
        apply_palette(torch.rand(1, 4, 4, 3), pal, "atkinson")
    with pytest.raises(ValueError, match="strength"):
        apply_palette(torch.rand(1, 4, 4, 3), pal, "fs", 5.0)


def test_cluster_sums_by_matmul_match_the_cpu_sums_and_repeat_bit_for_bit():
    # The GPU path of k-means; checked here on the CPU, where the ordered bincount sums are the reference.
    gen = torch.Generator().manual_seed(3)
    points = torch.rand(20_000, 3, generator=gen) * 2 - 1
    assign = torch.randint(0, 37, (20_000,), generator=gen)
    reference = cluster_sums(points, assign, 40)
    by_matmul = cluster_sums_by_matmul(points, assign, 40, chunk=4096)
    assert torch.allclose(by_matmul, reference, atol=1e-3)
    assert torch.allclose(reference, torch.zeros(40, 3).index_add_(0, assign, points), atol=1e-4)
    assert torch.equal(by_matmul[37:], torch.zeros(3, 3)), "empty clusters sum to zero"
    assert torch.equal(by_matmul, cluster_sums_by_matmul(points, assign, 40, chunk=4096))


def test_palette_files_that_would_block_or_flood_the_engine_are_refused(tmp_path):
    # A named pipe with no writer: reading it blocked the engine forever before.
    fifo = tmp_path / "pipe.hex"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        load_palette_file(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        load_palette_file("/dev/zero")
    with pytest.raises(ValueError, match="not a regular file"):
        load_palette_file(tmp_path)
    many = tmp_path / "many.hex"
    many.write_text("".join(f"{i:06x}\n" for i in range(300)))
    with pytest.raises(ValueError, match="300 colours; a palette holds at most 256"):
        load_palette_file(many)
    gpl = tmp_path / "many.gpl"
    gpl.write_text("GIMP Palette\n" + "".join(f"{i % 256} {i // 256} 0\n" for i in range(1000)))
    with pytest.raises(ValueError, match="1000 colours"):
        load_palette_file(gpl)
    huge = tmp_path / "huge.hex"
    huge.write_text("000000\n" * 200_000)
    with pytest.raises(ValueError, match="the limit is 1048576"):
        load_palette_file(huge)


def test_floyd_steinberg_stops_when_interrupted():
    # The diffusion is a pure-Python loop over pixels: ComfyUI's interrupt must reach it row by row.
    rows = []

    def interrupt():
        rows.append(1)
        if len(rows) == 3:
            raise InterruptedError("stop")

    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(0))
    with pytest.raises(InterruptedError):
        apply_palette(image, builtin_palette("pico-8"), "fs", 1.0, check_interrupt=interrupt)
    assert len(rows) == 3
