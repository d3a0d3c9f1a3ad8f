"""DGXPixels.LoraStack in the real engine with LoRAs built from the tiny checkpoint's own layer shapes:
strength 0 is the base model, a LoRA changes the image, peft names load, and wrong files fail loudly."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from dgx_pixels.lora.files import read_header
from dgx_pixels.engine.client import ExecutionFailed
from prompt_graph import Graph

pytestmark = pytest.mark.engine

ATTN = (".to_q.weight", ".to_k.weight", ".to_v.weight", ".to_out.0.weight")


def attention_shapes(checkpoint_path) -> dict[str, tuple[int, ...]]:
    """ldm module path → weight shape for every attention projection of the checkpoint's UNet."""
    prefix = "model.diffusion_model."
    return {key[len(prefix):-len(".weight")]: shape for key, shape in read_header(checkpoint_path).shapes.items()
            if key.startswith(prefix) and ".attn" in key and key.endswith(ATTN)}


def make_lora(shapes, *, style="kohya", rank=4, alpha=2.0, context_dim=None, scale=0.5, seed=0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for path, (out_dim, in_dim) in shapes.items():
        if context_dim and "attn2" in path and (".to_k" in path or ".to_v" in path):
            in_dim = context_dim
        down = torch.randn(rank, in_dim, generator=generator) * scale
        up = torch.randn(out_dim, rank, generator=generator) * scale
        if style == "kohya":
            name = "lora_unet_" + path.replace(".", "_")
            tensors.update({f"{name}.lora_down.weight": down, f"{name}.lora_up.weight": up,
                            f"{name}.alpha": torch.tensor(alpha)})
        else:  # peft, as saved by get_peft_model_state_dict on ComfyUI's UNet
            tensors.update({f"base_model.model.{path}.lora_A.weight": down,
                            f"base_model.model.{path}.lora_B.weight": up})
    return tensors


@pytest.fixture(scope="module")
def loras(engine, tiny_checkpoint):
    folder = engine.engine_dir / "models" / "loras"
    folder.mkdir(parents=True, exist_ok=True)
    shapes = attention_shapes(engine.engine_dir / "models" / "checkpoints" / tiny_checkpoint)
    assert shapes, "no attention projections found in the tiny checkpoint"
    tag = uuid.uuid4().hex[:8]
    files = {
        "kohya": (make_lora(shapes), {"dgx_pixels.trigger_words": '["pxl knight"]', "ss_network_dim": "4"}),
        "peft": (make_lora(shapes, style="peft", seed=1), {"modelspec.trigger_phrase": "pxl peft"}),
        "sdxl": (make_lora(shapes, context_dim=2048, seed=2), {}),
        "extra": ({**make_lora(shapes, seed=3), "lora_unet_no_such_layer.lora_down.weight": torch.zeros(4, 8),
                   "lora_unet_no_such_layer.lora_up.weight": torch.zeros(8, 4)}, {}),
    }
    names = {}
    for kind, (tensors, metadata) in files.items():
        names[kind] = f"test-dgx-{kind}-{tag}.safetensors"
        save_file(tensors, str(folder / names[kind]), metadata=metadata)
    yield names
    for name in names.values():
        (folder / name).unlink(missing_ok=True)


def graph(checkpoint, stack: dict | None, prefix: str):
    g = Graph()
    ckpt = g.node("CheckpointLoaderSimple", ckpt_name=checkpoint)
    model, clip, stacked = ckpt.out(0), ckpt.out(1), None
    if stack is not None:
        inputs = {"unloaded_keys": "error"}
        for index in range(1, 5):
            inputs.update({f"lora_{index}": "None", f"strength_model_{index}": 1.0, f"strength_clip_{index}": 1.0})
        inputs.update(stack)
        stacked = g.node("DGXPixels.LoraStack", model=model, clip=clip, **inputs)
        model, clip = stacked.out(0), stacked.out(1)
        g.node("PreviewAny", source=stacked.out(2))
        g.node("PreviewAny", source=stacked.out(3))
    positive = g.node("CLIPTextEncode", text="pixel art knight", clip=clip)
    negative = g.node("CLIPTextEncode", text="blurry", clip=clip)
    latent = g.node("EmptyLatentImage", width=64, height=64, batch_size=1)
    sampled = g.node("KSampler", model=model, positive=positive.out(), negative=negative.out(), latent_image=latent.out(),
                     seed=7, steps=2, cfg=4.0, sampler_name="euler", scheduler="normal", denoise=1.0)
    decoded = g.node("VAEDecode", samples=sampled.out(), vae=ckpt.out(2))
    g.node("SaveImage", images=decoded.out(), filename_prefix=f"lora-test/{prefix}")
    return g


def render(run_prompt, fetch_image, g):
    result = run_prompt(g.prompt, timeout_s=300)
    # By node id (trigger text preview, then report preview): the engine's output order is execution order.
    texts = [result.outputs[node]["text"][0] for node in sorted(result.outputs, key=int)
             if "text" in result.outputs[node]]
    return np.asarray(fetch_image(result.files()[0]).convert("RGB"), dtype=np.float32), texts


def test_strength_zero_is_the_base_and_a_lora_changes_the_image(tiny_checkpoint, loras, run_prompt, fetch_image):
    base, _ = render(run_prompt, fetch_image, graph(tiny_checkpoint, None, "base"))
    zero, _ = render(run_prompt, fetch_image, graph(tiny_checkpoint, {
        "lora_1": loras["kohya"], "strength_model_1": 0.0, "strength_clip_1": 0.0}, "zero"))
    assert np.array_equal(base, zero)
    applied, texts = render(run_prompt, fetch_image, graph(tiny_checkpoint, {
        "lora_1": loras["kohya"], "strength_model_1": 1.0, "strength_clip_1": 1.0}, "one"))
    assert np.abs(applied - base).mean() > 1.0
    assert texts[0] == "pxl knight"
    assert f"{loras['kohya']}: 96/96 keys loaded (kohya format)" in texts[1]


def test_peft_names_are_converted_and_stack_with_kohya(tiny_checkpoint, loras, run_prompt, fetch_image, engine):
    _, texts = render(run_prompt, fetch_image, graph(tiny_checkpoint, {
        "lora_1": loras["kohya"], "lora_2": loras["peft"], "strength_model_2": 0.7}, "peft"))
    assert texts[0] == "pxl knight, pxl peft"
    assert f"{loras['peft']}: 64/64 keys loaded (peft format)" in texts[1]
    assert loras["peft"] not in "".join(line for line in engine.log().splitlines() if "lora key not loaded" in line)


def test_lora_for_another_family_gives_a_clear_error(tiny_checkpoint, loras, run_prompt):
    with pytest.raises(ExecutionFailed) as caught:
        run_prompt(graph(tiny_checkpoint, {"lora_1": loras["sdxl"]}, "sdxl").prompt)
    message = caught.value.exception_message
    assert caught.value.node_type == "DGXPixels.LoraStack"
    assert loras["sdxl"] in message and "SDXL" in message and "Stable Diffusion 1.x" in message


def test_unloaded_keys_fail_by_default_and_warn_on_request(tiny_checkpoint, loras, run_prompt, fetch_image):
    with pytest.raises(ExecutionFailed) as caught:
        run_prompt(graph(tiny_checkpoint, {"lora_1": loras["extra"]}, "extra").prompt)
    assert "lora_unet_no_such_layer.lora_down.weight" in caught.value.exception_message
    g = graph(tiny_checkpoint, {"lora_1": loras["extra"]}, "extra-warn")
    next(node for node in g.prompt.values() if node["class_type"] == "DGXPixels.LoraStack")["inputs"][
        "unloaded_keys"] = "warn"
    _, texts = render(run_prompt, fetch_image, g)
    assert "96/98 keys loaded" in texts[1] and "no_such_layer" in texts[1]


def test_each_lora_loaded_is_counted(tiny_checkpoint, loras, run_prompt, engine):
    from engine_helpers import delta, scrape

    before = scrape(engine.url)
    run_prompt(graph(tiny_checkpoint, {"lora_1": loras["kohya"], "lora_2": loras["peft"],
                                       "strength_model_2": 0.0, "strength_clip_2": 0.0}, "count").prompt)
    # Two LoRAs in the stack, the second at strength 0 (skipped, never loaded).
    assert delta(before, scrape(engine.url), "dgx_pixels_loras_loaded_total") == 1
