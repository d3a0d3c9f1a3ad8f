"""The text-to-sprite workflow the bridge and the CLI share: the bundled one (or the same pipeline built in code
when no manifest is bundled), prompts without preview-only nodes, and palettes given as colours."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .params import ParamSpec, Workflow, bundled_workflows

SPRITE_WORKFLOW = "text_to_sprite"
HEX_COLOUR = re.compile(r"^#?([0-9a-fA-F]{6})$")
# Nodes that only show an image in the editor; the bridge makes its own thumbnails.
PREVIEW_CLASSES = ("PreviewImage", "DGXPixels.PixelPreview")
SPRITE_PIXELIZE = {
    "width": 64, "height": 64, "cell_px": 0.0, "grid": "fixed", "mode": "contrast", "colors": 0, "dither": "none",
    "dither_strength": 1.0, "alpha": "auto", "alpha_threshold": 0.5, "background": "flood", "outline": "outer",
    "cleanup": False, "seed": 0,
}
"""Pixelize inputs (besides ``image`` and ``palette``) of the text-to-sprite pipelines built in code."""


def built_in_sprite_workflow() -> Workflow:
    """Return the text-to-sprite pipeline built in code (checkpoint → prompts → latent → KSampler → VAE decode →
    Pixelize with a loaded palette → SaveImage), with the same parameter names as the bundled manifest."""
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "pixel art sprite", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry, photo", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": 0,
            "steps": 20, "cfg": 6.0, "sampler_name": "euler_ancestral", "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "DGXPixels.PaletteLoad", "inputs": {"name": "endesga-32", "file": ""}},
        "8": {"class_type": "DGXPixels.Pixelize", "inputs": {**SPRITE_PIXELIZE, "image": ["6", 0], "palette": ["7", 0]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "dgx-pixels/sprite"}},
    }

    def spec(name, node, input_name, kind, default=None, **extra) -> ParamSpec:
        return ParamSpec(name=name, node=node, input=input_name, type=kind, default=default, **extra)

    params = [
        spec("prompt", "2", "text", "string"), spec("negative", "3", "text", "string"),
        spec("checkpoint", "1", "ckpt_name", "model", folder="checkpoints"),
        spec("seed", "5", "seed", "int", min=0, max=2**64 - 1), spec("steps", "5", "steps", "int", min=1, max=150),
        spec("cfg", "5", "cfg", "float", min=0.0, max=30.0), spec("sampler", "5", "sampler_name", "choice"),
        spec("render_width", "4", "width", "int", min=16, max=2048, multiple_of=8),
        spec("render_height", "4", "height", "int", min=16, max=2048, multiple_of=8),
        spec("palette", "7", "name", "choice"), spec("palette_file", "7", "file", "string"),
        spec("width", "8", "width", "int", min=1, max=512), spec("height", "8", "height", "int", min=1, max=512),
        spec("outline", "8", "outline", "choice"), spec("filename_prefix", "9", "filename_prefix", "string"),
    ]
    return Workflow(SPRITE_WORKFLOW, prompt, {p.name: p for p in params},
                    "Text to sprite (built in: no bundled manifest was found).")


def sprite_workflow(directories: list[Path]) -> Workflow:
    """Return the bundled text-to-sprite workflow when a manifest exists for it, else the built-in one."""
    return bundled_workflows(directories).get(SPRITE_WORKFLOW) or built_in_sprite_workflow()


def without_previews(prompt: dict) -> dict:
    """Return ``prompt`` without preview nodes nothing else reads (their temp images are not results)."""
    used = {value[0] for node in prompt.values() for value in node.get("inputs", {}).values()
            if isinstance(value, list) and len(value) == 2}
    return {node_id: node for node_id, node in prompt.items()
            if node.get("class_type") not in PREVIEW_CLASSES or node_id in used}


def palette_hex_file(colours: list[str]) -> tuple[str, bytes]:
    """Return (file name, .hex bytes) of a palette given as ``#rrggbb`` strings; the name is content-addressed.

    Raises ValueError naming the first colour that is not 6 hex digits, or when there are none or over 256.
    """
    if not colours or len(colours) > 256:
        raise ValueError(f"colors must hold 1 to 256 colours such as '#1a1c2c', got {len(colours or [])}")
    cleaned = []
    for colour in colours:
        match = HEX_COLOUR.match(str(colour).strip())
        if not match:
            raise ValueError(f"colour {colour!r} is not a hex colour like '#1a1c2c'")
        cleaned.append(match.group(1).lower())
    data = ("\n".join(cleaned) + "\n").encode()
    return f"dgx-pixels-{hashlib.sha256(data).hexdigest()[:16]}.hex", data
