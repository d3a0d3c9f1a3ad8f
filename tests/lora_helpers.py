"""Helpers of the LoRA training tests: the worker script that trains in its own process, and a tiny dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

WORKER = Path(__file__).parent / "engine" / "lora_train_worker.py"


def write_sprites(folder: Path, count: int = 3, caption: str = "knight sprite") -> Path:
    """``count`` random 16×16 sprites with captions in ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"s{index}.png")
        (folder / f"s{index}.txt").write_text(caption)
    return folder
