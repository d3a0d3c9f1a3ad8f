"""Synthetic "fake pixel art" for grid-recovery tests and the benchmark: true sprites, upscaled badly."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter


def make_sprite(rng: np.random.Generator, width: int, height: int, n_colors: int = 6) -> np.ndarray:
    """Return a [height,width,3] uint8 sprite: blobs of a few colours inside a one-cell background border."""
    colors = rng.integers(0, 256, size=(n_colors, 3), dtype=np.uint8)
    sprite = np.empty((height, width, 3), dtype=np.uint8)
    sprite[:] = colors[0]
    for _ in range(rng.integers(6, 14)):
        c = colors[rng.integers(1, n_colors)]
        x0, y0 = rng.integers(1, width - 2), rng.integers(1, height - 2)
        x1 = min(width - 1, x0 + rng.integers(1, max(2, width // 2)))
        y1 = min(height - 1, y0 + rng.integers(1, max(2, height // 2)))
        sprite[y0:y1, x0:x1] = c
    # Single-cell speckles make every cell size 1 on the native grid (no 2-cell features everywhere).
    for _ in range(width * height // 12):
        sprite[rng.integers(1, height - 1), rng.integers(1, width - 1)] = colors[rng.integers(0, n_colors)]
    return sprite


def fake_pixel_art(rng: np.random.Generator, sprite: np.ndarray, factor: float, offset: tuple[float, float],
                   blur: float = 0.6, noise: float = 0.015, jpeg: int | None = 90) -> np.ndarray:
    """Return a [H,W,3] uint8 rendering of ``sprite`` with cells ``factor`` px wide shifted by ``offset``."""
    h, w = sprite.shape[:2]
    out_w, out_h = round(w * factor), round(h * factor)
    xs = np.clip(np.floor((np.arange(out_w) + 0.5 - offset[0]) / factor), 0, w - 1).astype(int)
    ys = np.clip(np.floor((np.arange(out_h) + 0.5 - offset[1]) / factor), 0, h - 1).astype(int)
    img = sprite[ys][:, xs]
    pil = Image.fromarray(img)
    if blur > 0:
        pil = pil.filter(ImageFilter.GaussianBlur(blur))
    arr = np.asarray(pil).astype(np.float32)
    arr = np.clip(arr + rng.normal(0, noise * 255, arr.shape), 0, 255).astype(np.uint8)
    if jpeg:
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=jpeg)
        arr = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return arr


def synthetic_set(seed: int, count: int, max_native: int = 40,
                  max_factor: float = 16.0) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Return ``count`` (fake image, true sprite, factor) triples with factors 3-``max_factor`` and random offsets."""
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(count):
        w, h = int(rng.integers(12, max_native)), int(rng.integers(12, max_native))
        sprite = make_sprite(rng, w, h)
        factor = float(rng.uniform(3.0, max_factor))
        # A phase of up to half a cell either way: all that an offset can mean modulo one cell, and it keeps
        # the true column count unambiguous (edge columns are between half and one and a half cells wide).
        offset = (float(rng.uniform(-factor / 2, factor / 2)), float(rng.uniform(-factor / 2, factor / 2)))
        items.append((fake_pixel_art(rng, sprite, factor, offset), sprite, factor))
    return items
