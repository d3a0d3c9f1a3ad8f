"""Every bundled API workflow runs in the real engine on the tiny checkpoint (small, 1-2 steps), its UI twin
converts to exactly the same prompt, and the editor's template list shows the workflows."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgx_pixels.engine.ui_to_api import ui_to_api

pytestmark = pytest.mark.engine

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
API_TWINS = sorted(p for p in (WORKFLOWS / "api").glob("*.api.json")
                   if (WORKFLOWS / p.name.replace(".api", "")).exists())
SIZE = 128


def fake_pixel_art() -> Image.Image:
    """A 16×16 sprite blown up 8× (what 'fake pixel art' looks like), with a white background."""
    rng = np.random.default_rng(7)
    sprite = np.full((16, 16, 3), 255, np.uint8)
    sprite[3:13, 4:12] = rng.choice([[200, 40, 40], [40, 40, 200], [30, 30, 30]], size=(10, 8))
    return Image.fromarray(sprite.repeat(8, 0).repeat(8, 1))


def for_tiny_engine(prompt: dict, checkpoint: str, image_name: str, project: Path) -> dict:
    """The prompt with the tiny checkpoint, no LoRA, ≤128² latents, 2 steps, our test image and a temp project."""
    for entry in prompt.values():
        inputs, kind = entry["inputs"], entry["class_type"]
        if kind == "CheckpointLoaderSimple":
            inputs["ckpt_name"] = checkpoint
        elif kind == "DGXPixels.LoraStack":
            for name in inputs:
                if name.startswith("lora_"):
                    inputs[name] = "None"
        elif kind == "EmptyLatentImage":
            inputs.update(width=SIZE, height=SIZE, batch_size=min(inputs["batch_size"], 2))
        elif kind == "KSampler":
            inputs["steps"] = 2
        elif kind == "LoadImage":
            inputs["image"] = image_name
        elif kind == "DGXPixels.BevyExport":
            inputs["project"] = str(project)
    return prompt


@pytest.mark.parametrize("path", API_TWINS, ids=lambda p: p.name.removesuffix(".api.json"))
def test_bundled_workflow_runs_on_the_tiny_checkpoint(path, engine, tiny_checkpoint, run_prompt, upload_png,
                                                      fetch_image):
    image_name = upload_png(fake_pixel_art(), "dgx_fake_pixel_art.png")
    project = engine.run_dir / "bevy_game"
    (project / "assets").mkdir(parents=True, exist_ok=True)
    prompt = for_tiny_engine(json.loads(path.read_text()), tiny_checkpoint, image_name, project)
    result = run_prompt(prompt, timeout_s=240)
    saved = [f for f in result.files() if f.type == "output"]
    assert saved, f"{path.name} saved no image; outputs: {list(result.outputs)}"
    image = fetch_image(saved[0])
    assert max(image.size) <= SIZE * 2
    if any(e["class_type"] == "DGXPixels.BevyExport" for e in prompt.values()):
        assert any((project / "assets").rglob("*.png")), "the Bevy export wrote no PNG into assets/"


@pytest.mark.parametrize("path", API_TWINS, ids=lambda p: p.name.removesuffix(".api.json"))
def test_ui_twin_converts_to_the_api_twin(path, engine_client_call):
    info = engine_client_call(lambda client: client.object_info())
    ui = json.loads((WORKFLOWS / path.name.replace(".api", "")).read_text())
    assert ui_to_api(ui, info) == json.loads(path.read_text())


def test_template_list_includes_our_workflows(engine):
    with urllib.request.urlopen(f"{engine.url}/api/workflow_templates", timeout=30) as response:
        templates = json.load(response)
    ours = set(templates.get("dgx_pixels", []))
    expected = {p.name.removesuffix(".api.json") for p in API_TWINS}
    assert expected <= ours, f"missing from the template list: {sorted(expected - ours)}"
    assert not [name for name in ours if name.endswith((".api", ".params"))], "API twins leak into the templates"
