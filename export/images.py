"""Image files the bridge and the CLI read back: one loader for PNG (or any PIL-readable) data as RGBA arrays, and
the nearest-neighbour thumbnails the bridge sends inline.

numpy and PIL are imported when first used, so importing this module stays cheap.
"""

from __future__ import annotations

import io
from pathlib import Path

THUMBNAIL_PX = 256


def read_rgba(source: Path | bytes, label: str):
    """Return the image at ``source`` (a path, or the file's bytes) as an H×W×4 uint8 array; raise ValueError
    naming ``label`` when PIL cannot read it."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            return np.asarray(image.convert("RGBA"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{label}: cannot be read as an image ({exc})") from None


def _indexed(image):
    """Return ``image`` as an exact palette ("P", RGBA palette) image, or None when it has over 256 colours.

    Pixel art nearly always fits; one byte per pixel makes the PNG several times quicker to encode than RGBA."""
    import numpy as np
    from PIL import Image

    rgba = image.convert("RGBA")
    counted = rgba.getcolors(256)
    if counted is None:
        return None
    palette = np.array([colour for _, colour in counted], dtype=np.uint8)
    keys = palette.view(np.uint32).ravel()
    order = np.argsort(keys)  # searchsorted needs the packed keys in order
    palette, keys = palette[order], keys[order]
    pixels = np.ascontiguousarray(np.asarray(rgba)).view(np.uint32)[..., 0]
    indexed = Image.fromarray(np.searchsorted(keys, pixels).astype(np.uint8), "P")
    indexed.putpalette(palette.tobytes(), rawmode="RGBA")
    return indexed


def thumbnail_png(path: Path, max_px: int = THUMBNAIL_PX) -> bytes | None:
    """Return a PNG of the image at ``path`` scaled with nearest-neighbour to fit ``max_px`` (small pixel art is
    enlarged by a whole factor, large images shrunk), or None when it is not an image."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            width, height = image.size
            if max(width, height) <= max_px:
                factor = max(1, max_px // max(width, height))
                size = (width * factor, height * factor)
                source = image
            else:
                scale = max_px / max(width, height)
                size = (max(1, round(width * scale)), max(1, round(height * scale)))
                source = image.resize(size, Image.Resampling.NEAREST)
            indexed = _indexed(source)
            small = (source if indexed is None else indexed).resize(size, Image.Resampling.NEAREST)
            buffer = io.BytesIO()
            small.save(buffer, format="PNG", compress_level=1)  # fast: a thumbnail is sent once, never stored
            return buffer.getvalue()
    except Exception:  # not an image PIL can read: no thumbnail, the resource link still carries it
        return None
