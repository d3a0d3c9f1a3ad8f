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


UI_WORKFLOWS = sorted(p for p in WORKFLOWS.glob("*.json"))
RENDER_PX = 64


def rgba_sprite(path: Path) -> Path:
    """A 96×96 RGBA PNG: a 12×12 sprite on a transparent background, blown up 8× (fake pixel art)."""
    rgb = np.asarray(fake_pixel_art().resize((96, 96), Image.NEAREST))
    alpha = np.where((rgb == 255).all(axis=2), 0, 255).astype(np.uint8)
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path)
    return path


def tiny_settings(workflow, checkpoint: str, image: Path, project: Path) -> list[str]:
    """``--set`` values, through manifest names only, that make ``workflow`` small enough for the CPU engine."""
    values = {}
    for name, spec in workflow.params.items():
        if spec.type == "model" and spec.folder == "checkpoints":
            values[name] = checkpoint
        elif spec.type == "image":
            values[name] = str(image)  # a local file: submit uploads it
        elif spec.type == "choice" and (name == "lora" or name.startswith("lora_")):
            values[name] = "None"
        elif name in ("render_width", "render_height"):
            values[name] = RENDER_PX
        elif name == "steps":
            values[name] = 2
        elif name in ("frames", "variants"):
            values[name] = 2
        elif name == "project":
            values[name] = str(project)
    return [f"{name}={value}" for name, value in values.items()]


@pytest.mark.parametrize("ui", UI_WORKFLOWS, ids=lambda p: p.stem)
def test_every_workflow_runs_headless_through_submit_by_its_manifest(ui, engine, tiny_checkpoint, tmp_path):
    """Each editor workflow has an API twin and a manifest, and `submit NAME --set ...` runs it (image workflows
    with a local PNG that submit uploads). Failed before: image_to_pixel_art and four others had no manifest."""
    import subprocess
    import sys

    from dgx_pixels.engine.params import find_workflow

    name = ui.stem
    assert (WORKFLOWS / "api" / f"{name}.api.json").exists(), f"{name} has no API twin"
    assert (WORKFLOWS / "api" / f"{name}.params.json").exists(), f"{name} has no parameter manifest"
    workflow = find_workflow(name)
    project = tmp_path / "game"
    (project / "assets").mkdir(parents=True)
    settings = tiny_settings(workflow, tiny_checkpoint, rgba_sprite(tmp_path / "sprite.png"), project)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "dgx_pixels.cli.bridge", "submit", name, "--engine", engine.url,
               "--out", str(out), "--timeout", "240"]
    for pair in settings:
        command += ["--set", pair]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"submit {name} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    pngs = sorted(out.glob("*.png"))
    assert pngs, f"{name} wrote no PNG into --out: {done.stdout}"
    for png in pngs:
        with Image.open(png) as image:
            assert max(image.size) <= 1024, f"{png.name} is {image.size}"
    if "project" in workflow.params:
        assert any((project / "assets").rglob("*.png")), "the Bevy export wrote no PNG into assets/"
    if name == "image_to_pixel_art":
        # The sprite stands on a transparent background: LoadImage's MASK reaches Pixelize, so the saved
        # pixel art is transparent there too (it came out on an opaque background before).
        with Image.open(pngs[0]) as saved:
            rgba = np.asarray(saved.convert("RGBA"))
        assert rgba[0, 0, 3] == 0 and rgba[-1, -1, 3] == 0, "the transparent background was lost"
        assert (rgba[..., 3] == 255).any(), "the sprite itself must stay opaque"


def test_an_image_parameter_names_a_missing_file_before_anything_runs(engine, tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "dgx_pixels.cli.bridge", "submit", "image_to_pixel_art",
                           "--engine", engine.url, "--set", f"image={tmp_path / 'nowhere.png'}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "neither a local image file nor an image in the engine's input folder" in done.stderr + done.stdout
