"""Batch → sprite sheet → Bevy export in the real engine, and a bad input that fails cleanly."""

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from prompt_graph import Graph

from dgx_pixels.engine.client import ExecutionFailed, PromptValidationError

pytestmark = pytest.mark.engine


def _frames(g: Graph, colours, width=16, height=24):
    batch = None
    for colour in colours:
        img = g.node("EmptyImage", width=width, height=height, batch_size=1, color=colour)
        batch = img if batch is None else g.node("ImageBatch", image1=batch, image2=img)
    return batch


def test_batch_to_sheet_to_bevy(engine, run_prompt, tmp_path):
    project = tmp_path / "game"
    project.mkdir()
    g = Graph()
    walk = g.node(
        "DGXPixels.SpriteSheet", frames=_frames(g, [0xFF0000, 0x00FF00, 0x0000FF, 0x00FF00]), animation="walk",
        fps=8.0, direction="pingpong", repeat=0, pivot_x=0.5, pivot_y=1.0, layout="pack", columns=0, padding=1,
        extrude=1, trim=True, merge_duplicates=True, max_size=1024, power_of_two=False,
    )
    idle = g.node(
        "DGXPixels.SpriteSheet", frames=_frames(g, [0xFFFFFF, 0x808080]), animation="idle", fps=4.0,
        direction="forward", repeat=0, pivot_x=0.5, pivot_y=1.0, layout="pack", columns=0, padding=1, extrude=1,
        trim=True, merge_duplicates=True, max_size=1024, power_of_two=False,
    )
    both = g.node(
        "DGXPixels.CombineSpriteSheets", sheet_1=walk.out(2), sheet_2=idle.out(2), layout="pack", columns=0,
        padding=1, extrude=1, trim=True, merge_duplicates=True, max_size=1024, power_of_two=False,
    )
    export = g.node(
        "DGXPixels.BevyExport", sheet=both.out(2), project=str(project), category="character", name="knight",
        variant="base", subdir="sprites", dry_run=False,
    )
    result = run_prompt(g.prompt)
    assert "wrote 3 files" in result.outputs[export.node_id]["text"][0]
    folder = project / "assets" / "sprites" / "character_knight_base"
    doc = json.loads((folder / "character_knight_base.json").read_text())
    assert len(doc["frames"]) == 6
    assert [t["name"] for t in doc["meta"]["frameTags"]] == ["walk", "idle"]
    assert [f["duration"] for f in doc["frames"]] == [125] * 4 + [250] * 2
    # Frames 1 and 3 are both green: stored once.
    assert doc["frames"][1]["frame"] == doc["frames"][3]["frame"]
    manifest = json.loads((project / "assets" / "manifest.json").read_text())
    assert manifest["assets"]["character_knight_base"]["frames"] == 6


def test_bad_input_is_an_execution_error_and_engine_keeps_serving(engine, run_prompt, tmp_path):
    g = Graph()
    sheet = g.node(
        "DGXPixels.SpriteSheet", frames=_frames(g, [0xFF0000]), animation="walk", fps=8.0, direction="forward",
        repeat=0, pivot_x=0.5, pivot_y=1.0, layout="pack", columns=0, padding=0, extrude=0, trim=True,
        merge_duplicates=True, max_size=16, power_of_two=False,
    )
    g.node("DGXPixels.BevyExport", sheet=sheet.out(2), project=str(tmp_path / "missing"), category="character",
           name="knight", variant="base", subdir="sprites", dry_run=False)
    with pytest.raises(ExecutionFailed) as info:
        run_prompt(g.prompt)
    text = str(info.value)
    assert "DGXPixels.SpriteSheet" in text and "larger than the maximum atlas size 16" in text
    # The engine still answers: a good prompt runs afterwards.
    ok = Graph()
    frames = _frames(ok, [0x00FF00, 0x0000FF])
    node = ok.node(
        "DGXPixels.SpriteSheet", frames=frames, animation="idle", fps=8.0, direction="forward", repeat=0,
        pivot_x=0.5, pivot_y=1.0, layout="grid", columns=0, padding=0, extrude=0, trim=False,
        merge_duplicates=True, max_size=1024, power_of_two=False,
    )
    dry = ok.node("DGXPixels.BevyExport", sheet=node.out(2), project=str(tmp_path), category="item", name="gem",
                  variant="base", subdir="sprites", dry_run=True)
    result = run_prompt(ok.prompt)
    assert "would write 4 files" in result.outputs[dry.node_id]["text"][0]
    assert not (tmp_path / "assets").exists()


def test_mask_follows_comfyui_convention(engine, run_prompt, tmp_path):
    # A ComfyUI MASK is 1 where transparent: all transparent except an opaque 20x16 block at (4, 10).
    g = Graph()
    clear = g.node("SolidMask", value=1.0, width=32, height=40)
    block = g.node("SolidMask", value=0.0, width=20, height=16)
    mask = g.node("MaskComposite", destination=clear.out(0), source=block.out(0), x=4, y=10, operation="multiply")
    sheet = g.node(
        "DGXPixels.SpriteSheet", frames=_frames(g, [0xFF0000], 32, 40), animation="idle", fps=8.0, direction="forward",
        repeat=0, pivot_x=0.5, pivot_y=1.0, layout="pack", columns=0, padding=0, extrude=0, trim=True,
        merge_duplicates=True, max_size=1024, power_of_two=False, mask=mask.out(0),
    )
    export = g.node("DGXPixels.BevyExport", sheet=sheet.out(2), project=str(tmp_path), category="item", name="gem",
                    variant="base", subdir="sprites", dry_run=False)
    result = run_prompt(g.prompt)
    assert "wrote 3 files" in result.outputs[export.node_id]["text"][0]
    doc = json.loads((tmp_path / "assets" / "sprites" / "item_gem_base" / "item_gem_base.json").read_text())
    frame = doc["frames"][0]
    assert (frame["frame"]["w"], frame["frame"]["h"]) == (20, 16)
    assert frame["spriteSourceSize"] == {"x": 4, "y": 10, "w": 20, "h": 16}
    assert frame["sourceSize"] == {"w": 32, "h": 40}


def test_frames_that_need_several_pages_come_out_as_a_batch_of_pages(engine, run_prompt, fetch_image):
    g = Graph()
    colours = [0xFF0000, 0x00FF00, 0x0000FF]
    sheet = g.node(
        "DGXPixels.SpriteSheet", frames=_frames(g, colours, width=24, height=24), animation="spin", fps=8.0,
        direction="forward", repeat=0, pivot_x=0.5, pivot_y=1.0, layout="pack", columns=0, padding=0, extrude=0,
        trim=False, merge_duplicates=True, max_size=32, power_of_two=False,
    )
    saved = g.node("SaveImage", images=g.node("JoinImageWithAlpha", image=sheet.out(0), alpha=sheet.out(1)).out(0),
                   filename_prefix="test/sheet_pages")
    result = run_prompt(g.prompt)
    ui = result.outputs[sheet.node_id]
    (meta,) = ui["dgx_sheet"]
    assert len(meta["pages"]) == len(ui["images"]) == 3, "one preview per page"
    assert sorted(frame["page"] for frame in meta["frames"]) == [0, 1, 2]
    pages = [fetch_image(file).convert("RGBA") for file in result.files() if file.node_id == saved.node_id]
    assert len(pages) == 3 and all(page.size == (24, 24) for page in pages)
    by_page = {frame["page"]: index for index, frame in enumerate(meta["frames"])}
    for page_index, page in enumerate(pages):
        colour = colours[by_page[page_index]]
        assert page.getpixel((12, 12)) == (colour >> 16, (colour >> 8) & 255, colour & 255, 255)


def test_export_outside_the_allowed_roots_is_refused_when_queued(engine, run_prompt, tmp_path_factory):
    # /var/tmp is neither the output folder nor under $DGX_PIXELS_ALLOWED_ROOTS: refused at queue time, before the
    # sheet is even built, and nothing is written there.
    outside = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="dgx-pixels-outside-"))
    try:
        g = Graph()
        sheet = g.node(
            "DGXPixels.SpriteSheet", frames=_frames(g, [0xFF0000]), animation="idle", fps=8.0, direction="forward",
            repeat=0, pivot_x=0.5, pivot_y=1.0, layout="grid", columns=0, padding=0, extrude=0, trim=False,
            merge_duplicates=True, max_size=1024, power_of_two=False,
        )
        g.node("DGXPixels.BevyExport", sheet=sheet.out(2), project=str(outside), category="item", name="gem",
               variant="base", subdir="sprites", dry_run=False)
        with pytest.raises(PromptValidationError) as info:
            run_prompt(g.prompt)
        assert "outside the folders DGX-Pixels may write to" in str(info.value)
        assert "DGX_PIXELS_ALLOWED_ROOTS" in str(info.value)
        assert list(outside.iterdir()) == []
    finally:
        shutil.rmtree(outside)
