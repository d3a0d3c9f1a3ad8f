"""Seamless tiling in the real engine: the patched model and VAE make tiles whose seams are less visible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dgx_pixels.ops.tiling import measure_seams
from prompt_graph import Graph

pytestmark = pytest.mark.engine

SIZE = 64
SEEDS = (3, 4)


def tile_prompt(checkpoint: str, tiling: bool, prefix: str) -> dict:
    g = Graph()
    ckpt = g.node("CheckpointLoaderSimple", ckpt_name=checkpoint)
    model, vae = ckpt.out(0), ckpt.out(2)
    if tiling:
        patched = g.node("DGXPixels.SeamlessTiling", model=model, vae=vae, axis="both")
        model, vae = patched.out(0), patched.out(1)
    positive = g.node("CLIPTextEncode", text="pixel art grass tile, top-down", clip=ckpt.out(1))
    negative = g.node("CLIPTextEncode", text="blurry", clip=ckpt.out(1))
    latent = g.node("EmptyLatentImage", width=SIZE, height=SIZE, batch_size=len(SEEDS))
    sampled = g.node("KSampler", model=model, positive=positive.out(), negative=negative.out(),
                     latent_image=latent.out(), seed=SEEDS[0], steps=2, cfg=5.0, sampler_name="euler",
                     scheduler="normal", denoise=1.0)
    decoded = g.node("VAEDecode", samples=sampled.out(), vae=vae)
    g.node("SaveImage", images=decoded.out(), filename_prefix=prefix)
    g.node("DGXPixels.TilePreview", image=decoded.out(), axis="both", repeats=3)
    return g.prompt


def saved_batch(result, fetch_image) -> torch.Tensor:
    """The SaveImage batch of ``result`` as a [B,H,W,3] tensor (the preview node writes temp files)."""
    files = [f for f in result.files() if f.type == "output"]
    assert len(files) == len(SEEDS)
    images = [np.asarray(fetch_image(f).convert("RGB"), dtype=np.float32) / 255.0 for f in files]
    return torch.from_numpy(np.stack(images))


def test_seamless_tiling_lowers_the_seam_error(tiny_checkpoint, run_prompt, fetch_image):
    plain = run_prompt(tile_prompt(tiny_checkpoint, False, "tiling/plain"))
    tiled = run_prompt(tile_prompt(tiny_checkpoint, True, "tiling/tiled"))
    plain_report = measure_seams(saved_batch(plain, fetch_image))
    tiled_report = measure_seams(saved_batch(tiled, fetch_image))
    assert tiled_report.seam_error() < plain_report.seam_error(), (plain_report.summary(), tiled_report.summary())
    # With wrap-around everywhere the seam is just another pair of neighbouring pixels.
    assert tiled_report.ratio_x < 1.5 and tiled_report.ratio_y < 1.5, tiled_report.summary()

    preview = tiled.outputs[next(k for k, v in tiled.outputs.items() if "dgx_seam_error" in v)]
    assert len(preview["images"]) == len(SEEDS)
    assert 0.0 <= preview["dgx_seam_error"][0] < 1.0
    preview_file = next(f for f in tiled.files(include_temp=True) if f.type == "temp")
    preview_image = fetch_image(preview_file)
    assert preview_image.size == (SIZE * 3, SIZE * 3)


def test_plain_model_is_unchanged_after_a_tiling_run(tiny_checkpoint, run_prompt, fetch_image):
    """Running the tiling graph must not leave wrap-around padding in the shared model or VAE."""
    first = saved_batch(run_prompt(tile_prompt(tiny_checkpoint, False, "tiling/again_a")), fetch_image)
    run_prompt(tile_prompt(tiny_checkpoint, True, "tiling/between"))
    again = run_prompt(tile_prompt(tiny_checkpoint, False, "tiling/again_b"))
    sampler_id = next(k for k, v in tile_prompt(tiny_checkpoint, False, "x").items() if v["class_type"] == "KSampler")
    assert sampler_id not in again.cached_nodes, "the sampler was served from cache: the test proves nothing"
    assert torch.equal(first, saved_batch(again, fetch_image))
