"""`make demo`: start the engine, run the pack's main job headlessly, and write what it made to a folder.

With real weights (an SDXL checkpoint in the engine's models/checkpoints) and a GPU it generates at 1024²; with
nothing downloaded it builds the tiny random-weight checkpoint and runs the same real path at 128² on the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from ..engine.client import EngineClient, PromptResult
from ..export.aseprite import write_aseprite_file
from ..export.bevy import read_sheet_dir
from ..ops.palettes_builtin import BUILTIN_HEX
from .demo_art import draw_walk_cycle
from ..engine.local import cuda_available, find_engine_dir, start_engine

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


def txt2img_prompt(checkpoint: str, size: int, steps: int, seed: int = 7) -> dict:
    """API-format prompt: txt2img through the real KSampler, then pixelized to 64² with 16 colours."""
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
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "generated"}},
        "8": {"class_type": "DGXPixels.Pixelize", "inputs": {**PIXELIZE_DEFAULTS, "image": ["6", 0], "colors": 16}},
        "9": {"class_type": "DGXPixels.UpscaleInteger", "inputs": {"image": ["8", 0], "factor": 4}},
        "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": "generated_pixelized_x4"}},
    }


PIXELIZE_DEFAULTS = {
    "width": 64, "height": 64, "cell_px": 0.0, "grid": "fixed", "mode": "contrast", "colors": 0,
    "dither": "none", "dither_strength": 1.0, "alpha": "auto", "alpha_threshold": 0.5, "background": "none",
    "outline": "none", "cleanup": True, "seed": 0,
}


def sprite_prompt(frame_names: list[str], bevy_project: Path, palette: str = "endesga-32") -> dict:
    """API-format prompt: uploaded 512² frames → one RGBA batch → pixelized 64² with a built-in palette
    → sprite sheet with a walk tag → Bevy export, plus saved previews."""
    prompt: dict = {}
    batch_ref = None
    for index, name in enumerate(frame_names):
        load, rgba = f"load{index}", f"rgba{index}"
        prompt[load] = {"class_type": "LoadImage", "inputs": {"image": name}}
        prompt[rgba] = {"class_type": "JoinImageWithAlpha", "inputs": {"image": [load, 0], "alpha": [load, 1]}}
        if batch_ref is None:
            batch_ref = [rgba, 0]
        else:
            prompt[f"batch{index}"] = {"class_type": "ImageBatch", "inputs": {"image1": batch_ref, "image2": [rgba, 0]}}
            batch_ref = [f"batch{index}", 0]
    prompt.update({
        "palette": {"class_type": "DGXPixels.PaletteLoad", "inputs": {"name": palette, "file": ""}},
        "pixelize": {"class_type": "DGXPixels.Pixelize", "inputs": {
            **PIXELIZE_DEFAULTS, "image": batch_ref, "palette": ["palette", 0]}},
        "frames_x8": {"class_type": "DGXPixels.UpscaleInteger", "inputs": {"image": ["pixelize", 0], "factor": 8}},
        "save_frames": {"class_type": "SaveImage", "inputs": {"images": ["pixelize", 0],
                                                             "filename_prefix": "knight_walk_frame"}},
        "save_frames_x8": {"class_type": "SaveImage", "inputs": {"images": ["frames_x8", 0],
                                                                "filename_prefix": "knight_walk_frame_x8"}},
        "sheet": {"class_type": "DGXPixels.SpriteSheet", "inputs": {
            "frames": ["pixelize", 0], "animation": "walk", "fps": 8.0, "direction": "forward", "repeat": 0,
            "pivot_x": 0.5, "pivot_y": 1.0, "layout": "grid", "columns": 0, "padding": 1, "extrude": 1,
            "trim": False, "merge_duplicates": True, "max_size": 2048, "power_of_two": False}},
        "atlas_rgba": {"class_type": "JoinImageWithAlpha", "inputs": {"image": ["sheet", 0], "alpha": ["sheet", 1]}},
        "save_atlas": {"class_type": "SaveImage", "inputs": {"images": ["atlas_rgba", 0],
                                                            "filename_prefix": "knight_walk_atlas"}},
        "export": {"class_type": "DGXPixels.BevyExport", "inputs": {
            "sheet": ["sheet", 2], "project": str(bevy_project), "category": "character", "name": "knight",
            "variant": "base", "subdir": "sprites", "dry_run": False}},
    })
    return prompt


async def _run_and_collect(url: str, prompt: dict, out_dir: Path, label: str) -> tuple[list[Path], dict]:
    async with EngineClient(url) as client:
        last = [-1]

        def progress(fraction: float, where: str) -> None:
            percent = int(fraction * 100)
            if percent >= last[0] + 25:
                last[0] = percent
                say(f"  {label} {percent}%")

        result: PromptResult = await client.run(prompt, timeout_s=3600, on_progress=progress)
        written = []
        for file in result.files():
            target = out_dir / file.filename
            target.write_bytes(await client.download(file))
            written.append(target)
        return written, result.outputs


async def _upload_frames(url: str, frames: list) -> list[str]:
    names = []
    async with EngineClient(url) as client:
        for index, frame in enumerate(frames):
            buffer = io.BytesIO()
            frame.save(buffer, format="PNG")
            names.append(await client.upload_image(buffer.getvalue(), f"demo_knight_{index:02}.png", overwrite=True))
    return names


def write_gif(frame_paths: list[Path], target: Path, duration_ms: int) -> Path:
    """Write an animated GIF of the frames (already upscaled) with transparency kept as a flat background."""
    frames = []
    for path in frame_paths:
        with Image.open(path) as image:
            flat = Image.new("RGBA", image.size, (236, 232, 222, 255))
            flat.alpha_composite(image.convert("RGBA"))
            frames.append(flat.convert("RGB"))
    frames[0].save(target, save_all=True, append_images=frames[1:], duration=duration_ms, loop=0)
    return target


def write_demo_aseprite(bevy_project: Path, target: Path, palette: str = "endesga-32") -> Path:
    """Write the exported knight sheet (6 frames, tag walk, 8 fps) as an indexed .aseprite file with ``palette``;
    return its path. Raises ValueError when the export is missing."""
    sheet = read_sheet_dir(bevy_project / "assets/sprites/character_knight_base/character_knight_base.json")
    colors = [tuple(int(h[i : i + 2], 16) for i in (0, 2, 4)) for h in BUILTIN_HEX[palette]]
    metadata = {"seed": PIXELIZE_DEFAULTS["seed"], "palette": palette,
                "prompt": "drawn 6-frame walk cycle (cli/demo_art.py), pixelized to 64²"}
    return write_aseprite_file(sheet, target, colors, metadata, layer="knight")


def run_demo(out_dir: Path, port: int | None = None, cpu: bool | None = None) -> int:
    """Run the demo end to end; return 0 and print where the outputs are."""
    started = time.monotonic()
    engine_dir = find_engine_dir()
    use_gpu = cuda_available() and not cpu
    checkpoint, size, steps = choose_checkpoint(engine_dir, use_gpu)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    bevy_project = out_dir / "bevy_demo"
    (bevy_project / "assets").mkdir(parents=True, exist_ok=True)
    say("drawing a 6-frame walk cycle of a knight at 512² (smooth, anti-aliased: not pixel art yet)")
    frames = draw_walk_cycle(6, 512)
    for index, frame in enumerate(frames):
        frame.save(out_dir / f"source_knight_{index:02}.png")
    run_dir = Path(tempfile.mkdtemp(prefix="dgx-pixels-demo-"))
    say(f"starting ComfyUI from {engine_dir} ({'GPU' if use_gpu else 'CPU'})")
    # The demo's Bevy project lies in its own output folder, outside the engine's: allow the engine to write there.
    run = start_engine(port=port, engine_dir=engine_dir, run_dir=run_dir, cpu=not use_gpu, allowed_roots=[out_dir])
    try:
        say(f"engine up at {run.url}")
        say(f"1/2 generating {size}x{size} with {checkpoint} ({steps} steps), then pixelizing it")
        written, _ = asyncio.run(_run_and_collect(run.url, txt2img_prompt(checkpoint, size, steps), out_dir,
                                                  "sampling"))
        say("2/2 pixelizing the knight (64², Endesga 32 palette), packing a sprite sheet, exporting to Bevy")
        names = asyncio.run(_upload_frames(run.url, frames))
        sprite_files, outputs = asyncio.run(_run_and_collect(run.url, sprite_prompt(names, bevy_project), out_dir,
                                                             "sprite"))
        written += sprite_files
    finally:
        run.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    big_frames = sorted(p for p in sprite_files if p.name.startswith("knight_walk_frame_x8"))
    gif = write_gif(big_frames, out_dir / "knight_walk_x8.gif", duration_ms=125)
    written.append(write_demo_aseprite(bevy_project, out_dir / "knight_walk.aseprite"))
    summary = " ".join(outputs.get("export", {}).get("text", [])) or "(no summary)"
    say(f"done in {time.monotonic() - started:.0f} s. Outputs in {out_dir}:")
    for path in [*written, gif]:
        say(f"  {path.relative_to(out_dir)}")
    say(f"Bevy project: {bevy_project} — {summary}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(out_dir=Path(args.out), port=args.port, cpu=True if args.cpu else None)


def add_demo_parser(commands) -> None:
    demo = commands.add_parser("demo", help="start an engine, run the demo pipeline, write the outputs")
    demo.add_argument("--out", default="demo_output", help="folder for the demo's outputs")
    demo.add_argument("--port", type=int, default=None)
    demo.add_argument("--cpu", action="store_true", help="force CPU")
    demo.set_defaults(func=cmd_demo)
