"""A LoRA training set: a folder of images with ``.txt`` captions, put into aspect-ratio buckets.

Pixel art is usually drawn at its native size (a 32×48 sprite). Each image is enlarged by a whole-number factor
with nearest-neighbour until it covers its bucket and then centre-cropped, so every art pixel stays a crisp,
equal block in the training images. Everything here is checked before any model loads.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
MAX_ASPECT = 4.0


class DatasetError(ValueError):
    """A training folder that cannot be used, with what to fix."""


@dataclass(frozen=True)
class Sample:
    path: Path
    caption: str
    bucket: tuple[int, int]        # (width, height) in pixels
    pixel_scale: int               # whole-number nearest-neighbour factor applied (1 = none or downscaled)


@dataclass
class Dataset:
    samples: list[Sample]
    notices: list[str] = field(default_factory=list)

    def buckets(self) -> dict[tuple[int, int], list[int]]:
        """Return bucket → indices of its samples."""
        groups: dict[tuple[int, int], list[int]] = {}
        for index, sample in enumerate(self.samples):
            groups.setdefault(sample.bucket, []).append(index)
        return groups

    def native_pixel_scale(self) -> int:
        """The most common nearest-neighbour factor used (what the metadata records)."""
        return Counter(s.pixel_scale for s in self.samples).most_common(1)[0][0]


def bucket_sizes(resolution: int, step: int = 64, max_aspect: float = MAX_ASPECT) -> list[tuple[int, int]]:
    """Return (width, height) buckets with sides multiple of ``step`` and about ``resolution``² pixels."""
    if resolution < step or resolution % 8:
        raise DatasetError(f"resolution {resolution} must be a multiple of 8 and at least {step}")
    area = resolution * resolution
    sizes = {(resolution, resolution)}
    width = step
    while width <= resolution * max_aspect:
        height = max(step, int(area / width) // step * step)
        if 1 / max_aspect <= width / height <= max_aspect:
            sizes.add((width, height))
            sizes.add((height, width))
        width += step
    return sorted(sizes)


def nearest_bucket(width: int, height: int, buckets: list[tuple[int, int]]) -> tuple[int, int]:
    """The bucket whose aspect ratio is closest to width/height (in log space); ties go to the larger area."""
    aspect = math.log(width / height)
    return min(buckets, key=lambda b: (abs(math.log(b[0] / b[1]) - aspect), -b[0] * b[1]))


def fit_to_bucket(image: Image.Image, bucket: tuple[int, int], background=(255, 255, 255)) -> tuple[Image.Image, int]:
    """Return (RGB image of exactly ``bucket`` size, whole-number factor used).

    Images smaller than the bucket are enlarged by the smallest whole factor that covers it (nearest, so
    pixels stay square blocks), larger ones shrunk with nearest; both are then centre-cropped. Transparency is
    composited over ``background``.
    """
    if image.mode != "RGBA":
        image = image.convert("RGBA")
    flat = Image.new("RGBA", image.size, (*background, 255))
    flat.alpha_composite(image)
    image = flat.convert("RGB")
    width, height = image.size
    target_w, target_h = bucket
    factor = 1
    if width <= target_w and height <= target_h:
        factor = max(1, math.ceil(max(target_w / width, target_h / height)))
        image = image.resize((width * factor, height * factor), Image.Resampling.NEAREST)
    else:
        cover = max(target_w / width, target_h / height)
        image = image.resize((max(target_w, round(width * cover)), max(target_h, round(height * cover))),
                             Image.Resampling.NEAREST)
    left = (image.width - target_w) // 2
    top = (image.height - target_h) // 2
    return image.crop((left, top, left + target_w, top + target_h)), factor


def scan_folder(folder: str | Path, resolution: int, default_caption: str = "pixel art",
                trigger: str = "") -> Dataset:
    """Check every image and caption of ``folder``; return the Dataset with a bucket per image.

    Raises DatasetError for a missing or empty folder and lists every unreadable image. Images without a
    ``.txt`` caption get ``default_caption`` and a notice; ``trigger`` is put in front of captions lacking it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"training folder {folder} does not exist or is not a folder")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise DatasetError(f"training folder {folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    buckets = bucket_sizes(resolution)
    samples, unreadable, uncaptioned = [], [], []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.verify()
            with Image.open(path) as image:
                image.load()
                size = image.size
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            unreadable.append(f"{path.name} ({exc.__class__.__name__}: {exc})")
            continue
        if min(size) < 1 or max(size) / min(size) > 16:
            unreadable.append(f"{path.name} (size {size[0]}x{size[1]} is empty or too elongated)")
            continue
        caption_path = path.with_suffix(".txt")
        caption = caption_path.read_text(encoding="utf-8").strip() if caption_path.is_file() else ""
        if not caption:
            uncaptioned.append(path.name)
            caption = default_caption
        if trigger and trigger.lower() not in caption.lower():
            caption = f"{trigger}, {caption}"
        bucket = nearest_bucket(size[0], size[1], buckets)
        factor = max(1, math.ceil(max(bucket[0] / size[0], bucket[1] / size[1]))) if (
            size[0] <= bucket[0] and size[1] <= bucket[1]) else 1
        samples.append(Sample(path=path, caption=caption, bucket=bucket, pixel_scale=factor))
    if unreadable:
        raise DatasetError(f"{len(unreadable)} image(s) in {folder} cannot be read: " + "; ".join(unreadable)
                           + ". Remove or re-export them.")
    notices = []
    if uncaptioned:
        notices.append(f"{len(uncaptioned)} image(s) have no .txt caption and use the default caption "
                       f"{default_caption!r}: {', '.join(uncaptioned[:10])}" + (" …" if len(uncaptioned) > 10 else ""))
    return Dataset(samples=samples, notices=notices)


def load_pixels(sample: Sample) -> np.ndarray:
    """Return the sample's training image as float32 ``[H, W, 3]`` in 0..1 (bucket size)."""
    with Image.open(sample.path) as image:
        fitted, _ = fit_to_bucket(image, sample.bucket)
    return np.asarray(fitted, dtype=np.float32) / 255.0
