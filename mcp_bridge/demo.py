"""`make demo`: start the engine, run the pack's main job headlessly, and write what it made to a folder.

With real weights (an SDXL checkpoint in the engine's models/checkpoints) and a GPU it generates at 1024²; with
nothing downloaded it builds the tiny random-weight checkpoint and runs the same real path at 128² on the CPU.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .client import EngineClient, PromptResult
from .local_engine import cuda_available, find_engine_dir, start_engine

TINY_CHECKPOINT = "dgx-pixels-tiny-sd15.safetensors"
PROMPT = "pixel art sprite of a knight with a blue cape, side view, 16-bit, clean outline"


def say(text: str) -> None:
    print(f"[demo] {text}", flush=True)  # noqa: T201 (the demo's progress output)


def choose_checkpoint(engine_dir: Path, use_gpu: bool) -> tuple[str, int, int]:
    """Return (checkpoint name, image size, steps): a real SDXL checkpoint on a GPU, else the tiny one."""
    checkpoints = engine_dir / "models" / "checkpoints"
    real = sorted(p.name for p in checkpoints.glob("*.safetensors")
                  if p.name != TINY_CHECKPOINT and p.stat().st_size > 2 * 2**30)
    if real and use_gpu:
        return real[0], 1024, 20
    if real:
        say(f"found {real[0]} but no CUDA GPU: using the tiny checkpoint (a 1024² SDXL image takes hours on a CPU)")
    target = checkpoints / TINY_CHECKPOINT
    if not target.exists():
        say("building the tiny random-weight SD1.5 checkpoint (no downloads; its images are noise)")
        subprocess.run([sys.executable, "-m", "dgx_pixels.lora.tiny_checkpoint", "--engine", str(engine_dir),
                        "--out", str(target)], check=True)
    return TINY_CHECKPOINT, 128, 4


def demo_prompt(checkpoint: str, size: int, steps: int, seed: int = 7) -> dict:
    """API-format prompt of the demo: txt2img, then a pixel-exact 4x preview of the result."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry, photo", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "seed": seed, "steps": steps, "cfg": 6.0, "sampler_name": "euler", "scheduler": "normal",
            "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "demo/generated"}},
        "8": {"class_type": "DGXPixels.UpscaleInteger", "inputs": {"image": ["6", 0], "factor": 4}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "demo/preview_x4"}},
    }


async def _run_and_collect(url: str, prompt: dict, out_dir: Path) -> list[Path]:
    async with EngineClient(url) as client:
        last = [-1]

        def progress(fraction: float, where: str) -> None:
            percent = int(fraction * 100)
            if percent >= last[0] + 25:
                last[0] = percent
                say(f"  sampling {percent}%")

        result: PromptResult = await client.run(prompt, timeout_s=3600, on_progress=progress)
        written = []
        for file in result.files():
            target = out_dir / file.filename
            target.write_bytes(await client.download(file))
            written.append(target)
        return written


def run_demo(out_dir: Path, port: int | None = None, cpu: bool | None = None) -> int:
    """Run the demo end to end; return 0 and print where the outputs are."""
    started = time.monotonic()
    engine_dir = find_engine_dir()
    use_gpu = cuda_available() and not cpu
    checkpoint, size, steps = choose_checkpoint(engine_dir, use_gpu)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="dgx-pixels-demo-"))
    say(f"starting ComfyUI from {engine_dir} ({'GPU' if use_gpu else 'CPU'})")
    run = start_engine(port=port, engine_dir=engine_dir, run_dir=run_dir, cpu=not use_gpu)
    try:
        say(f"engine up at {run.url}; generating {size}x{size} with {checkpoint}, {steps} steps")
        written = asyncio.run(_run_and_collect(run.url, demo_prompt(checkpoint, size, steps), out_dir))
    finally:
        run.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    say(f"done in {time.monotonic() - started:.0f} s. Outputs in {out_dir}:")
    for path in written:
        say(f"  {path}")
    return 0
