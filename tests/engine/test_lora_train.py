"""The trainer on the tiny checkpoint (CPU): a few steps lower the loss on a fixed batch, ComfyUI patches exactly
the peft-merged weights (alpha ≠ rank), the file loads through core LoraLoader and ours with no key left out,
and resume refuses another rank."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import torch
from PIL import Image

from dgx_pixels.lora.files import load_state_dict, lora_info, read_header
from dgx_pixels.lora.train import CheckpointMismatchError, LoraTrainer, TrainConfig, state_path
from prompt_graph import Graph

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def trained(tmp_path_factory, engine_dir, tiny_checkpoint):
    data = tmp_path_factory.mktemp("sprites")
    rng = np.random.default_rng(0)
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(data / f"s{index}.png")
        (data / f"s{index}.txt").write_text("knight sprite")
    folder = engine_dir / "models" / "loras"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"test-dgx-trained-{uuid.uuid4().hex[:8]}.safetensors"
    config = TrainConfig(data=data, base=tiny_checkpoint, out=out, steps=3, rank=4, alpha=2.0, lr=2e-3,
                         resolution=64, trigger="pxl", cpu=True, progress=False, engine_dir=engine_dir)
    trainer = LoraTrainer(config)
    trainer.prepare()
    fixed = trainer.sample_batch(torch.Generator().manual_seed(5))
    before = trainer.loss_on(fixed)
    for _ in range(config.steps):
        trainer.step(torch.Generator(), batch=fixed)
    after = trainer.loss_on(fixed)
    trainer.save()
    yield trainer, before, after
    out.unlink(missing_ok=True)
    state_path(out).unlink(missing_ok=True)


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(trained):
    _, before, after = trained
    assert after < before


def test_file_is_kohya_with_metadata(trained):
    trainer, _, _ = trained
    header = read_header(trainer.config.out)
    assert all(k.startswith("lora_unet_") for k in header.shapes) and len(header.shapes) == 96
    info = lora_info(header.metadata)
    assert (info.rank, info.alpha, info.base_model, info.trigger_words, info.native_pixel_scale) == \
        (4, 2.0, "sd15", ["pxl"], 4)


def test_comfy_patches_the_peft_merged_weights(trained):
    import comfy.sd

    from dgx_pixels.lora.apply import apply_lora

    trainer, _, _ = trained
    model, clip, _, _ = comfy.sd.load_checkpoint_guess_config(str(trainer.base_path), output_vae=False)
    patched, _, report = apply_lora(model, None, load_state_dict(trainer.config.out), 1.0, 0.0, name="trained")
    assert report.not_loaded == [] and report.keys_loaded == 96
    patched.patch_model()
    try:
        weights = patched.model.diffusion_model.state_dict()
        for name, module in trainer.lora_modules.items():
            merged_delta = module.get_delta_weight("default").float()
            comfy_delta = weights[f"{name}.weight"].float() - module.base_layer.weight.float()
            assert merged_delta.abs().max() > 0
            relative = (comfy_delta - merged_delta).norm() / merged_delta.norm()
            assert relative < 1e-3, f"{name}: relative difference {relative:.2e}"
    finally:
        patched.unpatch_model()


def test_resume_with_another_rank_fails_before_loading(trained):
    trainer, _, _ = trained
    config = TrainConfig(**{**trainer.config.__dict__, "rank": 8, "resume": True})
    with pytest.raises(CheckpointMismatchError, match="rank 4"):
        LoraTrainer(config).check_inputs()


def test_trained_file_loads_through_core_and_ours_without_unloaded_keys(trained, engine, tiny_checkpoint,
                                                                         run_prompt):
    trainer, _, _ = trained
    name = trainer.config.out.name
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
