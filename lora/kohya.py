"""Writing kohya-format LoRA files (``lora_unet_*``, ``lora_te*_*``, ``.alpha``) with ``ss_*``, ``modelspec.*``
and ``dgx_pixels.*`` metadata, atomically."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .files import META_BASE, META_PIXEL_SCALE, META_STRENGTH, META_TRIGGER

_ARCHITECTURE = {"sd15": "stable-diffusion-v1/lora", "sd2": "stable-diffusion-v2-768-v/lora",
                 "sdxl": "stable-diffusion-xl-v1-base/lora"}
_SS_BASE = {"sd15": "sd_v1", "sd2": "sd_v2", "sdxl": "sdxl_base_v1-0"}


def kohya_module_name(module_path: str, component: str = "unet") -> str:
    """``input_blocks.1.1.transformer_blocks.0.attn1.to_q`` → ``lora_unet_input_blocks_1_1_…_attn1_to_q``.

    ``component`` is "unet", "te" (SD1.x text encoder), "te1" or "te2" (SDXL's two text encoders).
    """
    return f"lora_{component}_" + module_path.replace(".", "_")


def build_metadata(*, family: str | None, rank: int, alpha: float, steps: int, learning_rate: float,
                   resolution: int, batch: int, trigger_words: list[str], base_name: str, title: str,
                   native_pixel_scale: int | None = None, recommended_strength: float = 1.0,
                   images: int = 0, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return the string metadata the trainer writes (kohya ``ss_*``, ``modelspec.*`` and ours)."""
    metadata = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(rank),
        "ss_network_alpha": f"{alpha:g}",
        "ss_base_model_version": _SS_BASE.get(family or "", family or "unknown"),
        "ss_sd_model_name": base_name,
        "ss_steps": str(steps),
        "ss_max_train_steps": str(steps),
        "ss_learning_rate": f"{learning_rate:g}",
        "ss_unet_lr": f"{learning_rate:g}",
        "ss_text_encoder_lr": "0",
        "ss_network_train_unet_only": "True",
        "ss_resolution": f"({resolution}, {resolution})",
        "ss_batch_size_per_device": str(batch),
        "ss_num_train_images": str(images),
        "ss_enable_bucket": "True",
        "ss_training_comment": "trained with dgx-pixels train-lora (peft, UNet attention projections)",
        "ss_tag_frequency": json.dumps({"dataset": {word: images for word in trigger_words}}),
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": _ARCHITECTURE.get(family or "", f"{family or 'unknown'}/lora"),
        "modelspec.implementation": "https://github.com/Stability-AI/generative-models",
        "modelspec.title": title,
        "modelspec.date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "modelspec.resolution": f"{resolution}x{resolution}",
        "modelspec.trigger_phrase": ", ".join(trigger_words),
        META_TRIGGER: json.dumps(trigger_words),
        META_BASE: family or "unknown",
        META_STRENGTH: f"{recommended_strength:g}",
    }
    if native_pixel_scale:
        metadata[META_PIXEL_SCALE] = str(int(native_pixel_scale))
    metadata.update(extra or {})
    return metadata


def save_atomic(tensors: dict, path: str | Path, metadata: dict[str, str]) -> Path:
    """Write a safetensors file through a temporary file renamed into place; the old file stays intact until then."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(partial), metadata=metadata)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
