"""DGXPixels.TrainLora in the real engine: 2 steps at 64² on 3 tiny sprites in the input folder write a LoRA
into models/loras that the LoRA stack loads; a dataset path outside the input folder is a clear node error."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from PIL import Image

from dgx_pixels.lora.files import lora_info, read_header
from dgx_pixels.lora.train import state_path
from dgx_pixels.engine.client import ExecutionFailed
from prompt_graph import Graph

pytestmark = pytest.mark.engine


def train_graph(checkpoint: str, dataset_folder: str, lora_name: str) -> Graph:
    g = Graph()
    g.node("DGXPixels.TrainLora", dataset_folder=dataset_folder, ckpt_name=checkpoint, lora_name=lora_name,
           overwrite=False, steps=2, rank=4, alpha=2.0, learning_rate=1e-3, resolution=64, batch_size=1,
           trigger_words="pxl node", seed=3)
    return g


@pytest.fixture(scope="module")
def sprites(engine) -> str:
    """Three 16×16 captioned sprites in a fresh folder of the engine's input directory; returns its name."""
    name = f"test-dgx-sprites-{uuid.uuid4().hex[:8]}"
    folder = engine.run_dir / "input" / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"s{index}.png")
        (folder / f"s{index}.txt").write_text("slime sprite")
    return name


def test_node_trains_a_lora_that_the_stack_loads(engine, tiny_checkpoint, sprites, run_prompt):
    stem = f"test-dgx-node-{uuid.uuid4().hex[:8]}"
    out = engine.engine_dir / "models" / "loras" / f"{stem}.safetensors"
    try:
        result = run_prompt(train_graph(tiny_checkpoint, sprites, stem).prompt, timeout_s=300)
        summary = next(out_["text"][0] for out_ in result.outputs.values() if "text" in out_)
        assert summary.startswith(f"{stem}.safetensors: 2 steps, rank 4, alpha 2")
        assert out.is_file()
        info = lora_info(read_header(out).metadata)
        assert (info.rank, info.alpha, info.trigger_words) == (4, 2.0, ["pxl node"])

        g = Graph()
        ckpt = g.node("CheckpointLoaderSimple", ckpt_name=tiny_checkpoint)
        slots = {f"{k}_{i}": v for i in range(2, 5) for k, v in (("lora", "None"), ("strength_model", 1.0),
                                                                 ("strength_clip", 1.0))}
        stack = g.node("DGXPixels.LoraStack", model=ckpt.out(0), clip=ckpt.out(1), unloaded_keys="error",
                       lora_1=out.name, strength_model_1=1.0, strength_clip_1=1.0, **slots)
        g.node("PreviewAny", source=stack.out(2))
        g.node("PreviewAny", source=stack.out(3))
        texts = [o["text"][0] for o in run_prompt(g.prompt, timeout_s=300).outputs.values() if "text" in o]
        assert "pxl node" in texts
        assert any(f"{out.name}: 96/96 keys loaded" in text for text in texts), texts
    finally:
        out.unlink(missing_ok=True)
        state_path(out).unlink(missing_ok=True)


def test_dataset_path_outside_the_input_folder_is_a_node_error(engine, tiny_checkpoint, run_prompt):
    stem = f"test-dgx-escape-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ExecutionFailed) as caught:
        run_prompt(train_graph(tiny_checkpoint, "../models", stem).prompt, timeout_s=120)
    assert caught.value.node_type == "DGXPixels.TrainLora"
    assert "outside ComfyUI's input directory" in caught.value.exception_message
    assert not (engine.engine_dir / "models" / "loras" / f"{stem}.safetensors").exists()
