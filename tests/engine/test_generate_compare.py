"""generate and compare against the real engine: the tiny checkpoint, 64² renders, 1 step, two tiny LoRAs trained
by the pack's trainer (in a worker process, 2 steps, rank 4)."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgx_pixels.lora.train import state_path
from dgx_pixels.engine.client import EngineClient
from dgx_pixels.cli.main import main
from dgx_pixels.engine.requests import CompareRequest, comparison_prompt
from dgx_pixels.ops.compare_grid import plan_grid
from lora_helpers import WORKER, write_sprites

pytestmark = pytest.mark.engine
SIZE = 16


@pytest.fixture(scope="module")
def two_loras(tmp_path_factory, engine_dir, tiny_checkpoint):
    work = tmp_path_factory.mktemp("compare-loras")
    folder = engine_dir / "models" / "loras"
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for index in range(2):
        data = write_sprites(work / f"sprites{index}", caption=f"sprite {index}")
        out = folder / f"test-dgx-cmp{index}-{uuid.uuid4().hex[:6]}.safetensors"
        done = subprocess.run([sys.executable, str(WORKER), "--engine-dir", str(engine_dir), "--base",
                               tiny_checkpoint, "--data", str(data), "--out", str(out), "--report",
                               str(work / f"r{index}.json"), "--steps", "2", "--rank", "4", "--lr", "0.5"],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        made.append(out)
    yield [p.name for p in made]
    for path in made:
        path.unlink(missing_ok=True)
        state_path(path).unlink(missing_ok=True)


def tiny_args(engine, tiny_checkpoint) -> list[str]:
    return ["--engine", engine.url, "--checkpoint", tiny_checkpoint, "--render-px", "64", "--steps", "1"]


def test_generate_writes_named_frames_a_sheet_and_exports(engine, tiny_checkpoint, tmp_path):
    project = tmp_path / "game"
    (project / "assets").mkdir(parents=True)
    code = main(["generate", "character", "Medieval knight", "--size", str(SIZE), "--frames", "2", "--count", "2",
                 "--out", str(tmp_path / "out"), "--bevy", str(project), *tiny_args(engine, tiny_checkpoint)])
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    for variant in ("base-1", "base-2"):
        for frame in range(2):
            assert f"character_medieval-knight_{variant}_{frame:04d}.png" in names
        assert f"character_medieval-knight_{variant}.png" in names
        assert f"character_medieval-knight_{variant}.atlas.ron" in names
    with Image.open(tmp_path / "out" / "character_medieval-knight_base-1_0000.png") as image:
        assert image.size == (SIZE, SIZE)
    manifest = json.loads((project / "assets" / "manifest.json").read_text())
    assert set(manifest["assets"]) == {"character_medieval-knight_base-1", "character_medieval-knight_base-2"}


def test_missing_checkpoint_names_the_file_and_the_tiny_way(engine, tmp_path, capsys):
    code = main(["generate", "item", "sword", "--engine", engine.url, "--out", str(tmp_path),
                 "--checkpoint", "not-here.safetensors"])
    err = capsys.readouterr().err
    assert code == 2 and "not-here.safetensors" in err and "models/checkpoints" in err
    assert "--checkpoint dgx-pixels-tiny-sd15.safetensors" in err


def test_compare_grid_cells_labels_and_strength_zero(engine, tiny_checkpoint, two_loras, tmp_path):
    out = tmp_path / "grid.png"
    code = main(["compare", "knight", "--lora", two_loras[0], "--lora", two_loras[1], "--strengths", "0,1",
                 "--seed", "3", "--size", str(SIZE), "--scale", "2", "--palette", "pico-8", "--out", str(out),
                 *tiny_args(engine, tiny_checkpoint)])
    assert code == 0
    grid = np.asarray(Image.open(out).convert("RGB"))
    rows = [Path(name).stem for name in two_loras]
    layout = plan_grid(4, SIZE, SIZE, columns=2, scale=2, gap_px=4, row_labels=rows,
                       column_labels=["0", "1"])
    assert grid.shape[:2] == (layout.height, layout.width)
    cells = []
    for index in range(4):
        y, x = layout.cell_origin(index)
        cell = grid[y:y + 2 * SIZE, x:x + 2 * SIZE]
        assert (cell == cell[::2, ::2].repeat(2, 0).repeat(2, 1)).all(), "a cell is not an exact 2× enlargement"
        cells.append(cell[::2, ::2])
    assert (cells[0] == cells[2]).all(), "strength 0 of both LoRAs must be the same picture"

    # The base model alone (no LoRA), same prompt and seed: the strength-0 cells.
    request = CompareRequest("knight", ["None"], [1.0], seed=3, checkpoint=tiny_checkpoint, size=SIZE,
                             render_px=64, steps=1, palette="pico-8", scale=1)
    prompt = comparison_prompt(request)

    async def base_image():
        async with EngineClient(engine.url) as client:
            result = await client.run(prompt, timeout_s=300)
            save = max(prompt, key=int)
            return await client.download(next(f for f in result.files() if f.node_id == save))

    base = np.asarray(Image.open(io.BytesIO(asyncio.run(base_image()))).convert("RGB"))
    layout_one = plan_grid(1, SIZE, SIZE, columns=1, row_labels=["None"], column_labels=["1"], gap_px=4)
    y, x = layout_one.cell_origin(0)
    assert (base[y:y + SIZE, x:x + SIZE] == cells[0]).all(), "strength 0 differs from the base model"
