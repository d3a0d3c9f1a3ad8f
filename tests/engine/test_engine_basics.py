"""The foundation's contract with the real engine: the pack loads, a real KSampler prompt runs, bad input is
reported per node and input, and the engine keeps serving."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dgx_pixels.engine.client import PromptValidationError
import prompt_graph
from prompt_graph import Graph, NodeRef

pytestmark = pytest.mark.engine

PACK_ROOT = Path(__file__).resolve().parents[2]


def pack_node_ids() -> set[str]:
    """Every node id declared in nodes/*.py (read from the source, so a node that fails to register is caught)."""
    ids = set()
    for path in (PACK_ROOT / "nodes").glob("*.py"):
        ids |= set(re.findall(r'node_id="(DGXPixels\.[A-Za-z0-9_.]+)"', path.read_text()))
    return ids


def txt2img(checkpoint: str, size: int = 128, batch: int = 1, steps: int = 4, seed: int = 1) -> tuple[Graph, NodeRef]:
    g = Graph()
    decoded = prompt_graph.txt2img(g, checkpoint, text="pixel art knight, 16-bit", size=size, batch=batch,
                                   steps=steps, seed=seed)
    return g, decoded


def test_object_info_lists_every_pack_node(engine_client_call):
    declared = pack_node_ids()
    assert declared, "no node ids found in nodes/*.py"
    info = engine_client_call(lambda client: client.object_info())
    missing = sorted(declared - set(info))
    assert not missing, f"declared but not registered in the engine: {missing}"
    for node_id in declared:
        assert info[node_id]["python_module"].startswith("custom_nodes.dgx_pixels")


def test_engine_log_has_no_import_failure_for_the_pack(engine, engine_client_call):
    engine_client_call(lambda client: client.system_stats())
    log = engine.log()
    assert "dgx_pixels" in log, "the engine log never mentions the pack: was it linked into custom_nodes?"
    failures = [line for line in log.splitlines()
                if "dgx_pixels" in line and ("IMPORT FAILED" in line or "Cannot import" in line)]
    assert not failures, "\n".join(failures)


def test_txt2img_on_tiny_checkpoint_reaches_history_and_view(engine, tiny_checkpoint, run_prompt, fetch_image):
    g, decoded = txt2img(tiny_checkpoint, size=128)
    g.node("SaveImage", images=decoded.out(), filename_prefix="foundation/txt2img")
    result = run_prompt(g.prompt)
    files = result.files()
    assert len(files) == 1
    image = fetch_image(files[0])
    assert image.size == (128, 128)
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    assert pixels.std() > 1.0, "the decoded image is flat: the sampler or VAE did not run"
    assert (engine.run_dir / "output" / files[0].subfolder / files[0].filename).exists()


def test_bad_input_is_reported_per_node_and_the_engine_keeps_serving(tiny_checkpoint, run_prompt):
    g, decoded = txt2img(tiny_checkpoint, size=128)
    g.prompt["4"]["inputs"]["width"] = 7  # EmptyLatentImage: below its minimum of 16
    g.prompt["5"]["inputs"]["sampler_name"] = "no_such_sampler"
    g.node("SaveImage", images=decoded.out(), filename_prefix="foundation/bad")
    with pytest.raises(PromptValidationError) as caught:
        run_prompt(g.prompt)
    errors = caught.value.node_errors
    assert errors["4"]["class_type"] == "EmptyLatentImage"
    assert errors["4"]["errors"][0]["type"] == "value_smaller_than_min"
    assert errors["4"]["errors"][0]["extra_info"]["input_name"] == "width"
    assert errors["5"]["errors"][0]["extra_info"]["input_name"] == "sampler_name"
    assert "width" in str(caught.value) and "EmptyLatentImage" in str(caught.value)

    g, decoded = txt2img(tiny_checkpoint, size=64, seed=2)
    g.node("SaveImage", images=decoded.out(), filename_prefix="foundation/after-bad")
    assert len(run_prompt(g.prompt).files()) == 1


def test_pack_node_runs_in_engine(tiny_checkpoint, run_prompt, fetch_image):
    g, decoded = txt2img(tiny_checkpoint, size=64, batch=2, steps=2, seed=3)
    scaled = g.node("DGXPixels.UpscaleInteger", image=decoded.out(), factor=3)
    g.node("SaveImage", images=scaled.out(0), filename_prefix="foundation/upscaled")
    files = run_prompt(g.prompt).files()
    assert len(files) == 2
    image = np.asarray(fetch_image(files[0]).convert("RGB"))
    assert image.shape == (192, 192, 3)
    # every 3x3 block is one colour
    blocks = image.reshape(64, 3, 64, 3, 3)
    assert (blocks == blocks[:, :1, :, :1, :]).all()
