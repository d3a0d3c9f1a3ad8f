"""The trainer on the tiny checkpoint (CPU): a few steps lower the loss on a fixed batch, ComfyUI patches exactly
the peft-merged weights (alpha ≠ rank), the file loads through core LoraLoader and ours with no key left out,
and resume refuses another rank before loading anything.

Everything that imports ``comfy`` runs in a subprocess (``lora_train_worker.py``): ComfyUI's
folder on ``sys.path`` would shadow modules of this pytest process. One tiny LoRA (64², rank 4, alpha 2, 3 steps)
is trained once per module and shared by every test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from dgx_pixels.lora.files import lora_info, read_header
from dgx_pixels.lora.train import CheckpointMismatchError, TrainConfig, state_path, train_lora
from lora_helpers import WORKER, write_sprites
from prompt_graph import Graph

pytestmark = pytest.mark.engine

RANK, ALPHA, STEPS = 4, 2.0, 3


@pytest.fixture(scope="module")
def trained(tmp_path_factory, engine_dir, tiny_checkpoint):
    """Train once in a worker process; yields (lora file, the worker's JSON report, dataset folder)."""
    work = tmp_path_factory.mktemp("lora-train")
    data = write_sprites(work / "sprites")
    folder = engine_dir / "models" / "loras"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"test-dgx-trained-{uuid.uuid4().hex[:8]}.safetensors"
    report = work / "report.json"
    done = subprocess.run([sys.executable, str(WORKER), "--engine-dir", str(engine_dir), "--base", tiny_checkpoint,
                           "--data", str(data), "--out", str(out), "--report", str(report), "--steps", str(STEPS),
                           "--rank", str(RANK), "--alpha", str(ALPHA)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    yield out, json.loads(report.read_text()), data
    out.unlink(missing_ok=True)
    state_path(out).unlink(missing_ok=True)


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(trained):
    _, report, _ = trained
    assert report["loss_after"] < report["loss_before"]


def test_file_is_kohya_with_metadata(trained):
    out, _, _ = trained
    header = read_header(out)
    assert all(k.startswith("lora_unet_") for k in header.shapes) and len(header.shapes) == 96
    info = lora_info(header.metadata)
    assert (info.rank, info.alpha, info.base_model, info.trigger_words, info.native_pixel_scale) == \
        (RANK, ALPHA, "sd15", ["pxl"], 4)


def test_comfy_patches_the_peft_merged_weights(trained):
    _, report, _ = trained
    patch = report["patch"]
    assert patch["not_loaded"] == [] and patch["keys_loaded"] == 96
    assert len(patch["layers"]) == 32
    for name, layer in patch["layers"].items():
        assert layer["merged_abs_max"] > 0, f"{name}: the LoRA did not change this layer"
        assert layer["relative"] < 1e-3, f"{name}: relative difference {layer['relative']:.2e}"


def test_resume_with_another_rank_fails_before_loading(trained, engine_dir, tiny_checkpoint, monkeypatch):
    import dgx_pixels.lora.comfy_runtime as comfy_runtime

    def no_loading(*args, **kwargs):
        raise AssertionError("the trainer started loading ComfyUI before refusing the resume state")

    # Safe in this process: the check must fire before anything imports comfy, and this stops it if it does not.
    monkeypatch.setattr(comfy_runtime, "import_comfy", no_loading)
    out, _, data = trained
    assert state_path(out).is_file()
    config = TrainConfig(data=data, base=tiny_checkpoint, out=out, steps=STEPS, rank=8, alpha=ALPHA, resolution=64,
                         resume=True, cpu=True, progress=False, engine_dir=engine_dir)
    with pytest.raises(CheckpointMismatchError, match="rank 4") as caught:
        train_lora(config)
    assert "--rank 4" in str(caught.value)


def test_trained_file_loads_through_core_and_ours_without_unloaded_keys(trained, engine, tiny_checkpoint,
                                                                         run_prompt):
    out, _, _ = trained
    name = out.name
    g = Graph()
    ckpt = g.node("CheckpointLoaderSimple", ckpt_name=tiny_checkpoint)
    core = g.node("LoraLoader", model=ckpt.out(0), clip=ckpt.out(1), lora_name=name, strength_model=1.0,
                  strength_clip=1.0)
    slots = {f"{k}_{i}": v for i in range(2, 5) for k, v in (("lora", "None"), ("strength_model", 1.0),
                                                             ("strength_clip", 1.0))}
    ours = g.node("DGXPixels.LoraStack", model=core.out(0), clip=core.out(1), unloaded_keys="error", lora_1=name,
                  strength_model_1=0.5, strength_clip_1=0.5, **slots)
    g.node("PreviewAny", source=ours.out(3))
    positive = g.node("CLIPTextEncode", text="pxl knight", clip=ours.out(1))
    latent = g.node("EmptyLatentImage", width=64, height=64, batch_size=1)
    sampled = g.node("KSampler", model=ours.out(0), positive=positive.out(), negative=positive.out(),
                     latent_image=latent.out(), seed=1, steps=1, cfg=1.0, sampler_name="euler", scheduler="normal",
                     denoise=1.0)
    g.node("PreviewImage", images=g.node("VAEDecode", samples=sampled.out(), vae=ckpt.out(2)).out())
    result = run_prompt(g.prompt, timeout_s=300)
    report = next(out["text"][0] for out in result.outputs.values() if "text" in out)
    assert f"{name}: 96/96 keys loaded" in report
    unloaded = [line for line in engine.log().splitlines() if "lora key not loaded" in line or "NOT LOADED" in line]
    assert not [line for line in unloaded if "lora_unet_" in line], unloaded[:5]
