"""The pack's own counters and the engine's rejected prompts, read from /metrics as Prometheus would: exact deltas
over a baseline (the engine is shared with other tests)."""

from __future__ import annotations

import pytest
from dgx_pixels.engine.client import PromptValidationError
from engine_helpers import delta, scrape
from prompt_graph import Graph

pytestmark = pytest.mark.engine


def test_pack_counters_and_rejected_prompts_count_exactly(engine, run_prompt, tmp_path):
    before = scrape(engine.url)
    g = Graph()
    frames = g.node("EmptyImage", width=32, height=32, batch_size=2, color=0x3366CC)
    pixelized = g.node("DGXPixels.Pixelize", image=frames.out(0), width=8, height=8, cell_px=0.0, grid="fixed",
           mode="contrast", colors=4, dither="none", dither_strength=1.0, alpha="auto", alpha_threshold=0.5,
           background="none", outline="none", cleanup=False, seed=0)
    three = g.node("EmptyImage", width=16, height=16, batch_size=3, color=0xCC3366)
    palette = g.node("DGXPixels.PaletteLoad", name="pico-8", file="")
    mapped = g.node("DGXPixels.ApplyPalette", image=three.out(0), palette=palette.out(0), dither="none", strength=1.0)
    # Only nodes that lead to an output run.
    g.node("PreviewImage", images=pixelized.out(0))
    g.node("PreviewImage", images=mapped.out(0))
    sheet = g.node(
        "DGXPixels.SpriteSheet", frames=frames.out(0), animation="idle", fps=8.0, direction="forward", repeat=0,
        pivot_x=0.5, pivot_y=1.0, layout="grid", columns=0, padding=0, extrude=0, trim=False,
        merge_duplicates=False, max_size=1024, power_of_two=False)
    g.node("DGXPixels.BevyExport", sheet=sheet.out(2), project=str(tmp_path), category="item", name="gem",
           variant="base", subdir="sprites", dry_run=False)
    g.node("DGXPixels.BevyExport", sheet=sheet.out(2), project=str(tmp_path), category="item", name="gem",
           variant="dry", subdir="sprites", dry_run=True)
    run_prompt(g.prompt)
    bad = Graph()
    bad.node("DGXPixels.PixelPreview", image=["999", 0], zoom=2)  # links to a node that does not exist
    with pytest.raises(PromptValidationError):
        run_prompt(bad.prompt)
    after = scrape(engine.url)
    assert delta(before, after, "dgx_pixels_palettes_applied_total") == 2 + 3
    assert delta(before, after, "dgx_pixels_sprites_exported_total") == 2  # the dry run writes nothing
    rejected = sum(value - before.get(key, 0.0) for key, value in after.items()
                   if key[0] == "comfyui_prompts_rejected_total")
    assert rejected == 1
