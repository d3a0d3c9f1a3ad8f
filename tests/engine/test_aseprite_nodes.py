"""Save Aseprite → Load Aseprite in the real engine: frames, tags, durations and metadata survive the round trip."""

import json

import numpy as np
import pytest
from prompt_graph import Graph

from dgx_pixels.engine.client import ExecutionFailed
from dgx_pixels.export.aseprite import read_aseprite_file

pytestmark = pytest.mark.engine

SHEET_INPUTS = dict(pivot_x=0.5, pivot_y=1.0, layout="pack", columns=0, padding=1, extrude=1, trim=True,
                    merge_duplicates=True, max_size=1024, power_of_two=False)
LAYOUT = {k: v for k, v in SHEET_INPUTS.items() if k not in ("pivot_x", "pivot_y")}


def _frames(g: Graph, colours):
    batch = None
    for colour in colours:
        img = g.node("EmptyImage", width=16, height=24, batch_size=1, color=colour)
        batch = img if batch is None else g.node("ImageBatch", image1=batch, image2=img)
    return batch


def test_save_then_load_aseprite(engine, run_prompt, tmp_path):
    target = tmp_path / "knight.aseprite"
    g = Graph()
    sheet = g.node("DGXPixels.SpriteSheet", frames=_frames(g, [0xBE4A2F, 0xD77643, 0xEAD4AA]), animation="walk",
                   fps=8.0, direction="pingpong", repeat=2, **SHEET_INPUTS)
    pal = g.node("DGXPixels.PaletteLoad", name="endesga-32", file="")
    save = g.node("DGXPixels.SaveAseprite", sheet=sheet.out(2), path=str(target), layer="knight", seed=42,
                  prompt="a knight", palette=pal.out(0))
    result = run_prompt(g.prompt)
    assert result.outputs[save.node_id]["text"][0].startswith(f"wrote {target}")
    doc = read_aseprite_file(target)
    assert doc.color_depth == 8 and doc.layers == ("knight",) and doc.durations_ms == (125, 125, 125)
    assert doc.metadata == {"seed": 42, "prompt": "a knight", "palette": "endesga-32"}
    assert [tuple(c[:3]) for c in doc.palette_colors()[:2]] == [(0xBE, 0x4A, 0x2F), (0xD7, 0x76, 0x43)]

    (engine.run_dir / "input" / "knight.aseprite").write_bytes(target.read_bytes())
    g = Graph()
    load = g.node("DGXPixels.LoadAseprite", file="knight.aseprite", **LAYOUT)
    project = tmp_path / "game"
    project.mkdir()
    g.node("DGXPixels.BevyExport", sheet=load.out(2), project=str(project), category="character",
           name="knight", variant="base", subdir="sprites", dry_run=False)
    result = run_prompt(g.prompt)
    assert "8 bpp, layers knight" in result.outputs[load.node_id]["text"][0]
    doc_json = json.loads((project / "assets/sprites/character_knight_base/character_knight_base.json").read_text())
    assert [t["name"] for t in doc_json["meta"]["frameTags"]] == ["walk"]
    assert doc_json["meta"]["frameTags"][0]["direction"] == "pingpong"
    assert [f["duration"] for f in doc_json["frames"]] == [125] * 3
    assert np.array_equal(doc.frames[0][0, 0], [0xBE, 0x4A, 0x2F, 255])


def test_load_aseprite_outside_the_input_folder_fails_cleanly(engine, run_prompt, tmp_path):
    g = Graph()
    load = g.node("DGXPixels.LoadAseprite", file="../../etc/passwd.aseprite", **LAYOUT)
    g.node("DGXPixels.SaveAseprite", sheet=load.out(2), path=str(tmp_path / "x.aseprite"), layer="x", seed=0,
           prompt="")
    with pytest.raises(ExecutionFailed) as info:
        run_prompt(g.prompt)
    assert "outside ComfyUI's input folder" in str(info.value)
