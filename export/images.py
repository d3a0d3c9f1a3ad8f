"""Image files the bridge and the CLI read back: one loader for PNG (or any PIL-readable) data as RGBA arrays, the
one conversion of every PIL mode to 8-bit RGBA (``to_rgba8``, for the nodes too), the nearest-neighbour
thumbnails the bridge sends inline, and the PNG encoding of pixel art (``encode_png``: an indexed PNG whenever the
image has at most 256 colours, in a known palette's own order).

numpy and PIL are imported when first used, so importing this module stays cheap.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

THUMBNAIL_PX = 256
_GREY_WIDE_MODES = ("I", "F")  # plus every "I;16..." mode: PIL's convert("RGBA") clips these to 255, i.e. white


def has_alpha(image: Image.Image) -> bool:
    """Return whether ``image`` carries transparency (an alpha band, or a tRNS colour/palette entry)."""
    return image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info


def to_rgba8(image: Image.Image) -> np.ndarray:
    """Return ``image`` (any PIL mode) as an H×W×4 uint8 array, scaling wide greyscale instead of clipping it.

    I;16 (and I;16B/L/N) scale 0..65535 to 0..255; I (32-bit int) is taken as 0..65535 when its maximum is over
    255, else as 0..255 already (negative values become 0); F (float) is taken as 0..1 when its maximum is at most
    1, else as 0..255 (clipped; NaN becomes 0). A tRNS grey value of a 16-bit image becomes alpha 0. Every other
    mode (1, L, LA, P with tRNS, RGB, RGBA, CMYK, YCbCr...) goes through PIL's own RGBA conversion, which applies
    a palette's transparency.
    """
    import numpy as np

    mode = image.mode
    if not (mode.startswith("I;16") or mode in _GREY_WIDE_MODES):
        return np.asarray(image.convert("RGBA"))
    raw = np.asarray(image)
    if raw.ndim != 2:  # PIL gives 2-D arrays for these modes; anything else is a mode this code does not know
        raise ValueError(f"image mode {mode} has an unexpected shape {raw.shape}")
    values = np.nan_to_num(raw.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    top = float(values.max(initial=0.0))
    if mode.startswith("I;16") or (mode == "I" and top > 255):
        values = values * (255.0 / 65535.0)
    elif mode == "F" and top <= 1.0:
        values = values * 255.0
    grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    alpha = np.full_like(grey, 255)
    transparency = image.info.get("transparency")
    if isinstance(transparency, int):  # a tRNS grey value is given in the image's own (16-bit) range
        alpha[raw == transparency] = 0
    return np.ascontiguousarray(np.stack([grey, grey, grey, alpha], axis=-1))


def read_image(source: Path | str | bytes, label: str) -> tuple[np.ndarray, bool]:
    """Return the image at ``source`` (a path, or the file's bytes) as (H×W×4 uint8 array, whether it has
    transparency); raise ValueError naming ``label`` when it is missing, not a regular file, unreadable, not an
    image, or too large for PIL's decompression-bomb limit."""
    from PIL import Image

    try:
        if not isinstance(source, bytes):
            # A FIFO or device would block Image.open forever; a folder gets a clearer message than EISDIR.
            mode = os.stat(source).st_mode
            if stat.S_ISDIR(mode):
                raise ValueError(f"{label}: is a folder, not an image file")
            if not stat.S_ISREG(mode):
                raise ValueError(f"{label}: is not a regular file")
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            return to_rgba8(image), has_alpha(image)
    except Image.DecompressionBombError as exc:
        raise ValueError(f"{label}: too large to read safely ({exc})") from None
    except OSError as exc:
        raise ValueError(f"{label}: cannot be read as an image ({exc.strerror or exc})") from None
    except ValueError as exc:
        if str(exc).startswith(f"{label}:"):
            raise
        raise ValueError(f"{label}: cannot be read as an image ({exc})") from None


def read_rgba(source: Path | str | bytes, label: str) -> np.ndarray:
    """Return the image at ``source`` (a path, or the file's bytes) as an H×W×4 uint8 array (see ``to_rgba8``);
    raise ValueError naming ``label`` when it cannot be read (see ``read_image``)."""
    return read_image(source, label)[0]


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
        with Image.open(path) as opened:
            # 16-bit and float greyscale would come out white through PIL's own conversion.
            image = Image.fromarray(to_rgba8(opened), "RGBA") if opened.mode.startswith(("I", "F")) else opened
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


MAX_PALETTE_ENTRIES = 256  # a PNG palette (PLTE) holds at most 256 entries


def index_colors(pixels: np.ndarray, palette: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Return (H×W uint8 indices, N×4 uint8 RGBA entries) of an H×W×3 or H×W×4 uint8 image, exactly, or None when
    it needs more than 256 entries. Raises ValueError for an array of another shape.

    With ``palette`` (K×3 uint8), entry i is palette colour i (opaque) for every i, used or not, so indices match
    the palette's own; the image's other colours (transparent, translucent, not in the palette) follow, in the
    order of their RGBA value. When the palette and those colours do not fit in 256 entries, the palette order is
    given up (the image's colours alone, in RGBA order). Fully transparent pixels of different RGB are merged
    into one entry only when that is what makes the image fit: their RGB is invisible."""
    import numpy as np

    arr = np.asarray(pixels)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ValueError(f"an image to index must be H×W×3 or H×W×4, got shape {arr.shape}")
    if arr.shape[-1] == 3:
        arr = np.concatenate([arr, np.full(arr.shape[:2] + (1,), 255, dtype=np.uint8)], axis=-1)
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    found = _index_rgba(arr, palette)
    if found is None:
        transparent = arr[..., 3] == 0
        if transparent.any() and arr[transparent][:, :3].any():
            arr = arr.copy()
            arr[transparent] = 0
            found = _index_rgba(arr, palette)
    return found


def _keys(rgba: np.ndarray) -> np.ndarray:
    """RGBA bytes packed as R<<24|G<<16|B<<8|A, the same on every platform (so the entry order is too)."""
    import numpy as np

    return np.ascontiguousarray(rgba).view(">u4")[..., 0].astype(np.uint32)


def _index_rgba(rgba: np.ndarray, palette: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    import numpy as np
    from PIL import Image

    # PIL counts colours in C with a hash and stops past the limit: far quicker than np.unique on a large page.
    counted = Image.fromarray(rgba, "RGBA").getcolors(MAX_PALETTE_ENTRIES)
    if counted is None:
        return None
    used = np.array([colour for _, colour in counted], dtype=np.uint8).reshape(-1, 4)
    used = used[np.argsort(_keys(used), kind="stable")]
    entries = used
    if palette is not None:
        pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
        pal_rgba = np.concatenate([pal, np.full((len(pal), 1), 255, dtype=np.uint8)], axis=1)
        extra = used[~np.isin(_keys(used), _keys(pal_rgba))]
        if len(pal_rgba) + len(extra) <= MAX_PALETTE_ENTRIES:
            entries = np.concatenate([pal_rgba, extra])
    # A palette may list a colour twice: every pixel of it takes the first index, as the palette's own order says.
    unique_keys, first = np.unique(_keys(entries), return_index=True)
    indices = first[np.searchsorted(unique_keys, _keys(rgba))].astype(np.uint8)
    return indices, np.ascontiguousarray(entries)


def indexed_png(indices: np.ndarray, entries: np.ndarray) -> bytes:
    """Return a palette PNG (mode P) of H×W uint8 ``indices`` into N×4 RGBA ``entries`` (N ≤ 256): PLTE holds the
    entries' RGB in order and tRNS their alpha when any is below 255. Deterministic (no timestamps). Raises
    ValueError for more than 256 entries or an index past the last entry."""
    import numpy as np
    from PIL import Image

    entries = np.asarray(entries, dtype=np.uint8).reshape(-1, 4)
    if not 1 <= len(entries) <= MAX_PALETTE_ENTRIES:
        raise ValueError(f"a PNG palette holds 1 to {MAX_PALETTE_ENTRIES} entries, got {len(entries)}")
    if indices.size and int(indices.max()) >= len(entries):
        raise ValueError(f"index {int(indices.max())} is past the palette's {len(entries)} entries")
    image = Image.fromarray(np.ascontiguousarray(indices, dtype=np.uint8), "P")
    # An RGB palette of exactly N entries: Pillow writes PLTE with N entries (and a 1/2/4-bit image when N is small).
    image.putpalette(entries[:, :3].tobytes(), rawmode="RGB")
    options: dict = {}
    if (entries[:, 3] < 255).any():
        options["transparency"] = entries[:, 3].tobytes()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, **options)
    return buffer.getvalue()


def encode_png(pixels: np.ndarray, palette: np.ndarray | None = None, *, indexed: bool = True) -> bytes:
    """Return the PNG encoding of an H×W×3 or H×W×4 uint8 image: a palette PNG (mode P, tRNS for transparency,
    entries in ``palette``'s order when given; see ``index_colors``) when ``indexed`` and it has at most 256
    colours, else RGB8 or RGBA8. Deterministic (no timestamps). Raises ValueError for an array of another shape."""
    import numpy as np
    from PIL import Image

    arr = np.ascontiguousarray(pixels, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ValueError(f"an image to encode must be H×W×3 or H×W×4, got shape {arr.shape}")
    found = index_colors(arr, palette) if indexed else None
    if found is not None:
        return indexed_png(*found)
    buffer = io.BytesIO()
    Image.fromarray(arr, "RGBA" if arr.shape[-1] == 4 else "RGB").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
