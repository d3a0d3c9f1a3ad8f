"""Aseprite JSON field by field, RON files through our parser, reload from JSON + PNG."""

import json

import numpy as np
import pytest

from dgx_pixels.ops.export_formats import (
    EXTRAS_KEY,
    aseprite_json,
    aseprite_json_text,
    assets_ron,
    atlas_ron,
    parse_ron,
    sheet_from_aseprite,
)
from dgx_pixels.ops.sheet import AnimationTag, SheetOptions, build_sheet, extract_frame


def _frames():
    frames = np.zeros((4, 16, 12, 4), np.uint8)
    for i in range(4):
        frames[i, 2 + i : 12, 3:9] = (40 * i, 200, 10, 255)
    frames[3] = frames[2]
    return frames


@pytest.fixture
def sheet():
    return build_sheet(
        _frames(),
        tags=[AnimationTag("idle", 0, 1), AnimationTag("walk", 1, 3, "pingpong", 2)],
        durations_ms=[100, 120, 80, 80],
        pivot=(0.5, 1.0),
        options=SheetOptions(extrude=1, padding=1),
    )


def test_aseprite_json_fields(sheet):
    doc = json.loads(aseprite_json_text(sheet, "hero.png"))
    assert set(doc) == {"frames", "meta"}
    assert isinstance(doc["frames"], list) and len(doc["frames"]) == 4
    for i, entry in enumerate(doc["frames"]):
        assert set(entry) == {"filename", "frame", "rotated", "trimmed", "spriteSourceSize", "sourceSize", "duration"}
        assert entry["filename"] == f"frame_{i:04d}"
        assert entry["rotated"] is False
        assert set(entry["frame"]) == {"x", "y", "w", "h"}
        assert set(entry["spriteSourceSize"]) == {"x", "y", "w", "h"}
        assert entry["sourceSize"] == {"w": 12, "h": 16}
        assert entry["frame"]["w"] == entry["spriteSourceSize"]["w"] == 6
        assert entry["trimmed"] is True
        assert entry["spriteSourceSize"]["x"] == 3 and entry["spriteSourceSize"]["y"] == 2 + min(i, 2)
        rect = sheet.textures[sheet.frames[i].texture]
        assert entry["frame"] == {"x": rect.x, "y": rect.y, "w": rect.w, "h": rect.h}
    assert [e["duration"] for e in doc["frames"]] == [100, 120, 80, 80]
    assert doc["frames"][3]["frame"] == doc["frames"][2]["frame"]  # merged duplicate
    meta = doc["meta"]
    assert meta["image"] == "hero.png" and meta["format"] == "RGBA8888" and meta["scale"] == "1"
    assert meta["size"] == {"w": sheet.size[0], "h": sheet.size[1]}
    assert meta["frameTags"] == [
        {"name": "idle", "from": 0, "to": 1, "direction": "forward", "color": "#000000ff"},
        {"name": "walk", "from": 1, "to": 3, "direction": "pingpong", "repeat": "2", "color": "#000000ff"},
    ]
    (pivot_slice,) = meta["slices"]
    assert pivot_slice["name"] == "pivot"
    assert pivot_slice["keys"][0] == {"frame": 0, "bounds": {"x": 0, "y": 0, "w": 12, "h": 16}, "pivot": {"x": 6, "y": 16}}
    # Only Aseprite's own meta keys plus our single namespaced key.
    assert set(meta) == {"app", "version", "image", "format", "size", "scale", "frameTags", "layers", "slices", EXTRAS_KEY}


def test_with_extrusion_frame_points_at_inner_rect(sheet):
    page = sheet.pages[0]
    for entry, src in zip(aseprite_json(sheet, "x.png")["frames"], sheet.sources):
        f, s = entry["frame"], entry["spriteSourceSize"]
        inner = page[f["y"] : f["y"] + f["h"], f["x"] : f["x"] + f["w"]]
        assert np.array_equal(inner, src[s["y"] : s["y"] + s["h"], s["x"] : s["x"] + s["w"]])


def test_atlas_ron_parses_into_bevy_layout_shape(sheet):
    doc = parse_ron(atlas_ron(sheet, "hero.png"))
    assert doc["image"] == "hero.png"
    layout = doc["layout"]
    assert layout["size"] == sheet.size
    assert len(layout["textures"]) == len(sheet.textures)
    for rect, t in zip(layout["textures"], sheet.textures):
        assert rect == {"min": (t.x, t.y), "max": (t.x + t.w, t.y + t.h)}
    assert [f["index"] for f in doc["frames"]] == [f.texture for f in sheet.frames]
    assert doc["frames"][0]["anchor"] == sheet.anchor(0)
    walk = doc["animations"]["walk"]
    assert walk == {
        "frames": [sheet.frames[i].texture for i in (1, 2, 3)],
        "durations_ms": [120, 80, 80],
        "direction": "PingPong",
        "repeat": 2,
    }


def test_assets_ron_only_for_grids_and_parses(sheet):
    with pytest.raises(ValueError, match="uniform grid"):
        assets_ron(sheet, "a.png", "hero")
    grid = build_sheet(_frames(), options=SheetOptions(layout="grid", columns=3, extrude=1, padding=2))
    doc = parse_ron(assets_ron(grid, "sprites/hero/hero.png", "hero"))
    assert doc["hero.image"] == {"$type": "Image", "path": "sprites/hero/hero.png", "sampler": "Nearest"}
    lay = doc["hero.layout"]
    assert lay["$type"] == "TextureAtlasLayout"
    assert (lay["tile_size_x"], lay["tile_size_y"], lay["columns"], lay["rows"]) == (12, 16, 3, 1)
    assert (lay["padding_x"], lay["offset_x"]) == (4, 1)
    # Bevy's from_grid rects equal ours.
    for i, t in enumerate(grid.textures):
        col, row = i % lay["columns"], i // lay["columns"]
        assert t.x == lay["offset_x"] + col * (lay["tile_size_x"] + lay["padding_x"])
        assert t.y == lay["offset_y"] + row * (lay["tile_size_y"] + lay["padding_y"])


def test_ron_parser_handles_the_usual_forms():
    text = '#![enable(implicit_some)]\n// comment\n(a: [1, -2.5, 3e2], b: Some("x"), c: None, d: {"k": (1, 2)}, e: Enum, f: true,)'
    assert parse_ron(text) == {"a": [1, -2.5, 300.0], "b": "x", "c": None, "d": {"k": (1, 2)}, "e": "Enum", "f": True}
    with pytest.raises(ValueError):
        parse_ron("(a: 1")
    with pytest.raises(ValueError):
        parse_ron("(a: 1) extra")


def test_reload_from_json_and_png_restores_frames(sheet):
    doc = aseprite_json(sheet, "hero.png")
    again = sheet_from_aseprite(json.loads(json.dumps(doc)), sheet.pages[0])
    assert again.tags == sheet.tags and again.frames == sheet.frames
    for i, src in enumerate(sheet.sources):
        assert np.array_equal(extract_frame(again, i), src)
    doc["meta"].pop(EXTRAS_KEY)
    with pytest.raises(ValueError, match="meta.dgx_pixels"):
        sheet_from_aseprite(doc, sheet.pages[0])


def _many_frames(count=40, side=32):
    rng = np.random.default_rng(7)
    frames = np.zeros((count, side, side, 4), np.uint8)
    for i in range(count):
        top, left = i % 5, (i * 3) % 7
        frames[i, top : side - 1, left : side - 2] = rng.integers(0, 256, (side - 1 - top, side - 2 - left, 4))
        frames[i, top : side - 1, left : side - 2, 3] = 255
    frames[-1] = frames[0]  # a duplicate merged onto frame 0's texture
    return frames


@pytest.fixture
def paged():
    sheet = build_sheet(
        _many_frames(),
        tags=[AnimationTag("walk", 0, 9, "pingpong", 3), AnimationTag("idle", 10, 39)],
        durations_ms=list(range(50, 90)),
        pivot=(0.5, 1.0),
        options=SheetOptions(max_size=64, extrude=1),
    )
    assert len(sheet.pages) > 2 and all(max(p.shape[:2]) <= 64 for p in sheet.pages)
    return sheet


def test_multi_page_aseprite_json_is_strict_for_page_zero(paged):
    doc = json.loads(aseprite_json_text(paged, "hero.png"))
    meta, extras = doc["meta"], doc["meta"][EXTRAS_KEY]
    on_page0 = [i for i, f in enumerate(paged.frames) if paged.textures[f.texture].page == 0]
    assert [e["filename"] for e in doc["frames"]] == [paged.frames[i].name for i in on_page0]
    assert meta["image"] == "hero.png" and meta["size"] == {"w": paged.size[0], "h": paged.size[1]}
    assert set(meta) == {"app", "version", "image", "format", "size", "scale", "frameTags", "layers", "slices", EXTRAS_KEY}
    for entry in doc["frames"]:
        f = entry["frame"]
        assert f["x"] + f["w"] <= paged.size[0] and f["y"] + f["h"] <= paged.size[1]
    # Tags in frameTags index into this document's frames and lie wholly on page 0.
    for tag in meta["frameTags"]:
        assert 0 <= tag["from"] <= tag["to"] < len(doc["frames"])
    assert [k["frame"] for k in meta["slices"][0]["keys"]] == list(range(len(on_page0)))
    assert [p["image"] for p in extras["pages"]] == ["hero.png"] + [f"hero_{p}.png" for p in range(1, len(paged.pages))]
    assert extras["framePages"] == [paged.textures[f.texture].page for f in paged.frames]
    assert len(extras["frames"]) == 40 and [t["name"] for t in extras["frameTags"]] == ["walk", "idle"]


def test_multi_page_round_trip_from_json_and_pages(paged):
    doc = json.loads(aseprite_json_text(paged, "hero.png"))
    again = sheet_from_aseprite(doc, list(paged.pages))
    assert again.frames == paged.frames and again.tags == paged.tags and again.textures == paged.textures
    for i, src in enumerate(paged.sources):
        assert np.array_equal(extract_frame(again, i), src)
    with pytest.raises(ValueError, match="pages"):
        sheet_from_aseprite(doc, paged.pages[0])


def test_multi_page_atlas_ron_restores_every_frame(paged):
    doc = parse_ron(atlas_ron(paged, "hero.png"))
    assert doc["image"] == "hero.png" and len(doc["pages"]) == len(paged.pages)
    assert doc["layout"] == doc["pages"][0]["layout"]
    for p, (entry, page) in enumerate(zip(doc["pages"], paged.pages)):
        assert entry["image"] == ("hero.png" if p == 0 else f"hero_{p}.png")
        assert entry["layout"]["size"] == (page.shape[1], page.shape[0])
    for i, (frame, src) in enumerate(zip(doc["frames"], paged.sources)):
        (x0, y0), (x1, y1) = (doc["pages"][frame["page"]]["layout"]["textures"][frame["index"]][k] for k in ("min", "max"))
        out = np.zeros_like(src)
        ox, oy = frame["offset"]
        out[oy : oy + y1 - y0, ox : ox + x1 - x0] = paged.pages[frame["page"]][y0:y1, x0:x1]
        assert np.array_equal(out, src), i
        assert frame["anchor"] == paged.anchor(i)
    walk = doc["animations"]["walk"]
    assert [(p, i) for p, i in zip(walk["pages"], walk["frames"])] == [
        (doc["frames"][k]["page"], doc["frames"][k]["index"]) for k in range(10)
    ]
    assert walk["durations_ms"] == list(range(50, 60)) and walk["direction"] == "PingPong" and walk["repeat"] == 3


def test_multi_page_grid_assets_ron_is_refused():
    import dataclasses

    grid = build_sheet(_frames(), options=SheetOptions(layout="grid"))
    two = dataclasses.replace(grid, pages=(grid.pages[0], grid.pages[0]))
    with pytest.raises(ValueError, match="2 pages"):
        assets_ron(two, "a.png", "hero")
