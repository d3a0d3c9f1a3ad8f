"""Image files the bridge and the CLI read back: one loader for PNG (or any PIL-readable) data as RGBA arrays.

numpy and PIL are imported when first used, so importing this module stays cheap.
"""

from __future__ import annotations

import io
from pathlib import Path


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
