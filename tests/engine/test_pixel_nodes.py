"""The pixel nodes in the real engine: txt2img → pixel art, an uploaded RGBA sprite, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from prompt_graph import Graph, txt2img

from dgx_pixels.engine.client import ExecutionFailed

pytestmark = pytest.mark.engine

PIXELIZE_DEFAULTS = dict(
    width=32, height=32, cell_px=0.0, grid="fixed", mode="contrast", colors=8, dither="bayer4", dither_strength=1.0,
    alpha="auto", alpha_threshold=0.5, background="none", outline="none", cleanup=True, seed=0,
)


def _txt2img(g: Graph, checkpoint: str, batch: int = 4):
    return txt2img(g, checkpoint, size=128, batch=batch, seed=3, steps=2)


def _files(result, prefix: str):
    return sorted((f for f in result.files() if f.filename.startswith(prefix)), key=lambda f: f.filename)


def _colours(image: Image.Image) -> set[tuple[int, ...]]:
    arr = np.asarray(image.convert("RGBA"))
    opaque = arr[arr[..., 3] > 0][:, :3]
    return {tuple(int(v) for v in c) for c in opaque}


def test_txt2img_batch_pixelized_with_one_palette(engine, tiny_checkpoint, run_prompt, fetch_image):
    g = Graph()
    decoded = _txt2img(g, tiny_checkpoint)
    pix = g.node("DGXPixels.Pixelize", image=decoded.out(), **PIXELIZE_DEFAULTS)
    g.node("SaveImage", images=pix.out(0), filename_prefix="pixel_art")
    # The palette of the batch, reused on the full-size frames, and a preview zoom recovered by grid detection.
    applied = g.node("DGXPixels.ApplyPalette", image=decoded.out(), palette=pix.out(2), dither="fs", strength=1.0)
    g.node("SaveImage", images=applied.out(0), filename_prefix="pixel_applied")
    zoom = g.node("DGXPixels.PixelPreview", image=pix.out(0), zoom=4)
    grid = g.node("DGXPixels.DetectGrid", image=zoom.out(0), min_cell_px=2.0, max_cell_px=0.0, drift=0.25,
                  mode="majority")
    g.node("SaveImage", images=grid.out(0), filename_prefix="pixel_regrid")
    result = run_prompt(g.prompt, timeout_s=600)

    art = [fetch_image(f) for f in _files(result, "pixel_art")]
    assert len(art) == 4 and all(im.size == (32, 32) for im in art)
    shared = set().union(*(_colours(im) for im in art))
    assert len(shared) <= 8, "the batch must share one palette of at most 8 colours"
    applied_imgs = [fetch_image(f) for f in _files(result, "pixel_applied")]
    assert len(applied_imgs) == 4 and applied_imgs[0].size == (128, 128)
    assert set().union(*(_colours(im) for im in applied_imgs)) <= shared
    regrid = [fetch_image(f) for f in _files(result, "pixel_regrid")]
    assert [im.size for im in regrid] == [(32, 32)] * 4
    assert np.array_equal(np.asarray(regrid[0].convert("RGB")), np.asarray(art[0].convert("RGB")))


def _sprite_rgba() -> Image.Image:
    arr = np.zeros((64, 64, 4), dtype=np.uint8)
    arr[16:48, 16:48] = (200, 60, 40, 255)
    arr[24:40, 24:40] = (250, 220, 90, 255)
    arr[30:34, 30:34, 3] = 0  # an enclosed transparent hole
    return Image.fromarray(arr, "RGBA")


def test_uploaded_rgba_sprite_keeps_alpha(engine, run_prompt, fetch_image, upload_png):
    name = upload_png(_sprite_rgba(), "dgx_pixel_sprite.png")
    g = Graph()
    load = g.node("LoadImage", image=name)
    pal = g.node("DGXPixels.PaletteLoad", name="pico-8", file="")
    options = dict(PIXELIZE_DEFAULTS, width=0, height=0, cell_px=4.0, dither="none", outline="outer", cleanup=False)
    pix = g.node("DGXPixels.Pixelize", image=load.out(0), mask=load.out(1), palette=pal.out(0), **options)
    g.node("SaveImage", images=pix.out(0), filename_prefix="pixel_rgba")
    clean = g.node("DGXPixels.AlphaCleanup", image=load.out(0), mask=load.out(1), threshold=0.5, background="none",
                   key_color="", tolerance=0.05, enclosed_holes=False)
    outlined = g.node("DGXPixels.OutlineCleanup", image=clean.out(0), outline="inner", color="#000000",
                      remove_orphans=True, remove_jaggies=True)
    g.node("SaveImage", images=outlined.out(0), filename_prefix="pixel_outlined")
    result = run_prompt(g.prompt)

    (art_file,) = _files(result, "pixel_rgba")
    art = fetch_image(art_file)
    assert art.mode == "RGBA" and art.size == (16, 16)
    arr = np.asarray(art)
    assert set(np.unique(arr[..., 3]).tolist()) <= {0, 255}
    assert arr[arr[..., 3] == 0][:, :3].max() == 0, "transparent pixels must have RGB 0"
    assert arr[0, 0, 3] == 0 and arr[8, 5, 3] == 255  # background clear, sprite kept
    pico = {(0, 0, 0), (29, 43, 83), (126, 37, 83), (0, 135, 81), (171, 82, 54), (95, 87, 79), (194, 195, 199),
            (255, 241, 232), (255, 0, 77), (255, 163, 0), (255, 236, 39), (0, 228, 54), (41, 173, 255),
            (131, 118, 156), (255, 119, 168), (255, 204, 170)}
    assert _colours(art) <= pico
    assert arr[3, 8, 3] == 255 and tuple(arr[3, 8, :3]) == (0, 0, 0)  # outer outline in the darkest colour
    (outlined_file,) = _files(result, "pixel_outlined")
    outlined_arr = np.asarray(fetch_image(outlined_file))
    assert outlined_arr.shape == (64, 64, 4)
    assert tuple(outlined_arr[16, 16]) == (0, 0, 0, 255)


def test_bad_input_is_an_execution_error_and_the_engine_keeps_serving(engine, run_prompt, fetch_image):
    g = Graph()
    img = g.node("EmptyImage", width=16, height=16, batch_size=1, color=0xFF0000)
    pix = g.node("DGXPixels.Pixelize", image=img.out(0), **dict(PIXELIZE_DEFAULTS, width=64, height=64))
    g.node("SaveImage", images=pix.out(0), filename_prefix="pixel_bad")
    with pytest.raises(ExecutionFailed) as info:
        run_prompt(g.prompt)
    assert info.value.node_type == "DGXPixels.Pixelize"
    assert "larger than the 16x16 image" in str(info.value)

    bad_file = Graph()
    pal = bad_file.node("DGXPixels.PaletteLoad", name="file", file="does-not-exist.gpl")
    bad_file.node("DGXPixels.PixelPreview", image=pal.out(1), zoom=2)
    with pytest.raises(ExecutionFailed) as info:
        run_prompt(bad_file.prompt)
    assert info.value.node_type == "DGXPixels.PaletteLoad" and "cannot read palette file" in str(info.value)

    ok = Graph()
    img = ok.node("EmptyImage", width=16, height=16, batch_size=2, color=0x00FF00)
    pix = ok.node("DGXPixels.Pixelize", image=img.out(0), **dict(PIXELIZE_DEFAULTS, width=4, height=4))
    ok.node("SaveImage", images=pix.out(0), filename_prefix="pixel_after_bad")
    files = _files(run_prompt(ok.prompt), "pixel_after_bad")
    assert len(files) == 2 and fetch_image(files[0]).size == (4, 4)


@pytest.mark.parametrize("node,inputs,parameter", [
    ("DGXPixels.PixelPreview", {"zoom": 64}, "lower zoom"),
    ("DGXPixels.UpscaleInteger", {"factor": 64}, "lower factor"),
    ("DGXPixels.TilePreview", {"axis": "both", "repeats": 8}, "lower repeats"),
    ("DGXPixels.CompareGrid", {"row_labels": "", "column_labels": "", "columns": 0, "scale": 32, "gap_px": 4,
                               "label_scale": 1}, "lower scale"),
])
def test_a_result_too_big_for_memory_is_a_clear_error_naming_the_parameter(engine, run_prompt, node, inputs,
                                                                            parameter):
    # Two 8192² frames (1.6 GB) enlarged 8-64 times would need 100+ GiB: refused before allocating, engine serving.
    g = Graph()
    frames = g.node("EmptyImage", width=8192, height=8192, batch_size=2, color=0)
    image_input = "images" if node == "DGXPixels.CompareGrid" else "image"
    result = g.node(node, **{image_input: frames.out(0)}, **inputs)
    g.node("PreviewImage", images=result.out(0))  # only nodes that lead to an output run
    with pytest.raises(ExecutionFailed) as info:
        run_prompt(g.prompt)
    assert "GiB of memory but only" in str(info.value) and parameter in str(info.value)
    ok = Graph()
    small = ok.node("EmptyImage", width=8, height=8, batch_size=1, color=0xFF0000)
    ok.node("DGXPixels.PixelPreview", image=small.out(0), zoom=2)
    run_prompt(ok.prompt)
