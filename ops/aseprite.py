"""The Aseprite binary format (``.aseprite``/``.ase``): a sprite sheet to bytes, and bytes back to frames.

Written from Aseprite's ``docs/ase-file-specs.md``: a 128-byte header (magic 0xA5E0), then one frame record per
frame (magic 0xF1FA, its duration) holding chunks. Frame 0 carries the colour profile (0x2007), the old palette
(0x0004, for readers that predate 0x2019), the palette (0x2019), the sprite's user data (0x2020: our metadata as
JSON text), the layer (0x2004), the tags (0x2018) and the pivot slice (0x2022); every frame carries its cel
(0x2005, zlib-compressed, cut to its non-transparent pixels and placed at their offset; a frame identical to an
earlier one is a linked cel). A sprite of at most 255 colours (plus the transparent index 0) is written indexed
(8 bpp), others as RGBA (32 bpp).

Pure: bytes in, bytes out; nothing here touches a file.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._version import __version__
from .sheet import (
    DIRECTIONS,
    AnimationTag,
    SheetOptions,
    SpriteSheet,
    build_sheet,
    extract_frame,
    trim_bounds,
    validate_tags,
)

HEADER_MAGIC = 0xA5E0
FRAME_MAGIC = 0xF1FA
HEADER_SIZE = 128
FRAME_HEADER_SIZE = 16
CHUNK_OLD_PALETTE = 0x0004
CHUNK_LAYER = 0x2004
CHUNK_CEL = 0x2005
CHUNK_COLOR_PROFILE = 0x2007
CHUNK_TAGS = 0x2018
CHUNK_PALETTE = 0x2019
CHUNK_USER_DATA = 0x2020
CHUNK_SLICE = 0x2022
CEL_RAW, CEL_LINKED, CEL_COMPRESSED, CEL_TILEMAP = 0, 1, 2, 3
DEPTH_RGBA, DEPTH_GRAYSCALE, DEPTH_INDEXED = 32, 16, 8
TRANSPARENT_INDEX = 0
MAX_COLORS = 256
MAX_WORD = 0xFFFF
USER_DATA_KEY = "dgx_pixels"
# Tag directions in the spec's order (0 forward, 1 reverse, 2 ping-pong, 3 ping-pong reverse) = ops.sheet's order.
_DIRECTION_CODES = {name: code for code, name in enumerate(DIRECTIONS)}
_LAYER_VISIBLE_EDITABLE = 1 | 2
_LAYER_GROUP, _LAYER_TILEMAP = 1, 2
_HEADER_FLAG_OPACITY_VALID = 1
_SRGB = 1
# Aseprite itself refuses sprites above this side; a header asking for more is a broken or hostile file.
_MAX_SIDE = 65535
_MAX_PIXELS = 1 << 28


@dataclass(frozen=True)
class AsepriteCel:
    """Where one frame's cel of layer ``layer`` sits: its top-left (x, y) on the canvas and its size; ``link`` is
    the frame whose pixels it reuses (a linked cel), else None."""

    layer: int
    x: int
    y: int
    w: int
    h: int
    link: int | None = None


@dataclass(frozen=True)
class AsepriteDocument:
    """What :func:`read_aseprite` found: the canvas size, colour depth, every frame composited to canvas-sized
    H×W×4 uint8, durations (ms), tags, the palette (RGBA rows), the transparent index, layer names, each frame's
    cels, pivots (from a ``pivot`` slice, if any) and the sprite's user-data text and our metadata from it."""

    width: int
    height: int
    color_depth: int
    frames: tuple[np.ndarray, ...]
    durations_ms: tuple[int, ...]
    tags: tuple[AnimationTag, ...]
    palette: np.ndarray
    transparent_index: int
    layers: tuple[str, ...]
    cels: tuple[tuple[AsepriteCel, ...], ...]
    pivots: tuple[tuple[int, int] | None, ...] = ()
    user_data: str = ""
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def metadata(self) -> dict[str, Any]:
        """Return the metadata the writer was given (seed, prompt, palette name…), or {} for a foreign file."""
        value = self.extras.get("metadata")
        return dict(value) if isinstance(value, Mapping) else {}

    def palette_colors(self) -> np.ndarray:
        """Return the palette without the transparent entry of an indexed sprite ([K,4] uint8 RGBA)."""
        if self.color_depth != DEPTH_INDEXED or not 0 <= self.transparent_index < len(self.palette):
            return self.palette.copy()
        return np.delete(self.palette, self.transparent_index, axis=0)

    def source_frames(self) -> list[np.ndarray]:
        """Return each frame at its source size (our files record it; a foreign file's frames are canvas-sized)."""
        sizes = self.extras.get("frames")
        if not isinstance(sizes, list) or len(sizes) != len(self.frames):
            return [f.copy() for f in self.frames]
        out = []
        for frame, entry in zip(self.frames, sizes):
            w, h = int(entry.get("w", self.width)), int(entry.get("h", self.height))
            out.append(frame[: max(1, min(h, self.height)), : max(1, min(w, self.width))].copy())
        return out

    def frame_names(self) -> list[str]:
        """Return the frame names our writer recorded, else ``frame_0000``…"""
        entries = self.extras.get("frames")
        names = [str(e.get("name", "")) for e in entries] if isinstance(entries, list) else []
        if len(names) != len(self.frames) or len(set(names)) != len(names) or not all(names):
            return [f"frame_{i:04d}" for i in range(len(self.frames))]
        return names

    def to_sheet(self, options: SheetOptions = SheetOptions()) -> SpriteSheet:
        """Return a :class:`SpriteSheet` of the frames, durations, tags and pivots packed by ``options``.

        Raises ValueError when the file's tags do not fit its frames.
        """
        frames = self.source_frames()
        pivots = []
        for frame, pivot in zip(frames, self.pivots or [None] * len(frames)):
            h, w = frame.shape[:2]
            px, py = pivot if pivot is not None else (w // 2, h)
            pivots.append((px / w, py / h))
        return build_sheet(frames, tags=self.tags, durations_ms=list(self.durations_ms), names=self.frame_names(),
                           pivot=np.array(pivots, dtype=np.float64), options=options)


# --- writing ------------------------------------------------------------------------------------------------------


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) > MAX_WORD:
        raise ValueError(f"text of {len(data)} bytes is longer than an Aseprite string holds ({MAX_WORD})")
    return struct.pack("<H", len(data)) + data


def _chunk(kind: int, payload: bytes) -> bytes:
    return struct.pack("<IH", len(payload) + 6, kind) + payload


def _palette_rows(palette: Any) -> np.ndarray:
    """[K,4] uint8 RGBA rows of a palette given as an ops.palette.Palette (``.colors``), an array or RGB(A) tuples."""
    colors = np.asarray(getattr(palette, "colors", palette))
    if colors.ndim != 2 or colors.shape[1] not in (3, 4) or len(colors) == 0:
        raise ValueError(f"palette: expected [K,3] or [K,4] colours, got shape {colors.shape}")
    if colors.dtype != np.uint8 and (colors.min() < 0 or colors.max() > 255):
        raise ValueError("palette: colour values must be 0-255")
    colors = colors.astype(np.uint8)
    if colors.shape[1] == 3:
        colors = np.concatenate([colors, np.full((len(colors), 1), 255, np.uint8)], axis=1)
    return colors


def _pack_rgba(rgba: np.ndarray) -> np.ndarray:
    """One uint32 per pixel (R in the low byte), so colours compare and sort as single numbers."""
    flat = np.ascontiguousarray(rgba, dtype=np.uint8).reshape(-1, 4).astype(np.uint32)
    return flat[:, 0] | (flat[:, 1] << 8) | (flat[:, 2] << 16) | (flat[:, 3] << 24)


def _indexed_palette(frames: Sequence[np.ndarray], palette: np.ndarray | None) -> np.ndarray | None:
    """The palette of an indexed sprite: the transparent entry at index 0, the given palette, then any colour the
    frames use that it lacks; None when that exceeds 256 entries (the sprite is then written RGBA)."""
    used = np.unique(np.concatenate([_pack_rgba(f) for f in frames]))
    used = used[(used >> 24) != 0]  # every fully clear pixel is the transparent index
    rows = [np.zeros((1, 4), np.uint8)]
    known = np.zeros(0, np.uint32)
    if palette is not None:
        rows.append(palette)
        known = _pack_rgba(palette)
    extra = used[~np.isin(used, known)]
    if 1 + len(known) + len(extra) > MAX_COLORS:
        return None
    rows.append(np.stack([(extra >> s) & 0xFF for s in (0, 8, 16, 24)], axis=1).astype(np.uint8).reshape(-1, 4))
    return np.concatenate(rows, axis=0)


def _to_indices(rgba: np.ndarray, palette: np.ndarray) -> np.ndarray:
    keys = _pack_rgba(palette)
    # The first entry of a colour wins (a palette may repeat one); the transparent entry only takes clear pixels.
    order = np.argsort(keys[1:], kind="stable") + 1
    sorted_keys = keys[order]
    pixels = _pack_rgba(rgba)
    found = order[np.clip(np.searchsorted(sorted_keys, pixels), 0, len(order) - 1)] if len(order) else pixels * 0
    out = np.where((pixels >> 24) == 0, TRANSPARENT_INDEX, found).astype(np.uint8)
    return out.reshape(rgba.shape[:2])


def _header(file_size: int, frames: int, width: int, height: int, depth: int, speed: int, colors: int) -> bytes:
    header = struct.pack(
        "<IHHHHHIHIIB3xHBBhhHH84x",
        file_size, HEADER_MAGIC, frames, width, height, depth, _HEADER_FLAG_OPACITY_VALID, speed, 0, 0,
        TRANSPARENT_INDEX if depth == DEPTH_INDEXED else 0, colors,
        1, 1, 0, 0, 0, 0,  # pixel ratio 1:1; no grid
    )
    assert len(header) == HEADER_SIZE
    return header


def _frame_record(duration: int, chunks: Sequence[bytes]) -> bytes:
    body = b"".join(chunks)
    count = len(chunks)
    head = struct.pack("<IHHH2xI", FRAME_HEADER_SIZE + len(body), FRAME_MAGIC, min(count, MAX_WORD), duration, count)
    return head + body


def _palette_chunks(palette: np.ndarray) -> list[bytes]:
    old = struct.pack("<HBB", 1, 0, len(palette) % MAX_COLORS) + palette[:, :3].tobytes()
    new = struct.pack("<III8x", len(palette), 0, len(palette) - 1)
    new += b"".join(struct.pack("<HBBBB", 0, *map(int, row)) for row in palette)
    return [_chunk(CHUNK_OLD_PALETTE, old), _chunk(CHUNK_PALETTE, new)]


def _tags_chunk(tags: Sequence[AnimationTag]) -> bytes:
    payload = struct.pack("<H8x", len(tags))
    for tag in tags:
        if tag.repeat > MAX_WORD:
            raise ValueError(f"animation tag {tag.name!r}: repeat {tag.repeat} exceeds Aseprite's {MAX_WORD}")
        payload += struct.pack("<HHBH6x3Bx", tag.start, tag.end, _DIRECTION_CODES[tag.direction], tag.repeat, 0, 0, 0)
        payload += _string(tag.name)
    return _chunk(CHUNK_TAGS, payload)


def _pivot_slice_chunk(sizes: Sequence[tuple[int, int]], pivots: Sequence[tuple[int, int]]) -> bytes:
    payload = struct.pack("<III", len(sizes), 2, 0) + _string("pivot")  # flag 2: keys carry a pivot
    for frame, ((w, h), (px, py)) in enumerate(zip(sizes, pivots)):
        payload += struct.pack("<IiiIIii", frame, 0, 0, w, h, px, py)
    return _chunk(CHUNK_SLICE, payload)


def _cel_chunk(x: int, y: int, pixels: np.ndarray) -> bytes:
    h, w = pixels.shape[:2]
    head = struct.pack("<HhhBHh5x", 0, x, y, 255, CEL_COMPRESSED, 0)
    return _chunk(CHUNK_CEL, head + struct.pack("<HH", w, h) + zlib.compress(np.ascontiguousarray(pixels).tobytes(), 9))


def _linked_cel_chunk(x: int, y: int, link: int) -> bytes:
    return _chunk(CHUNK_CEL, struct.pack("<HhhBHh5xH", 0, x, y, 255, CEL_LINKED, 0, link))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"metadata value {value!r} ({type(value).__name__}) is not JSON; give text or numbers")


def aseprite_bytes(
    sheet: SpriteSheet,
    palette: Any = None,
    metadata: Mapping[str, Any] | None = None,
    *,
    layer: str = "sprite",
) -> bytes:
    """Return the ``.aseprite`` file of ``sheet``: one frame per sheet frame with its duration, its tags, a
    ``pivot`` slice, one layer named ``layer`` and our ``metadata`` (seed, prompt, palette name… any JSON) as the
    sprite's user data. ``palette`` (an ops.palette.Palette, [K,3]/[K,4] array or RGB tuples) comes first in the
    file's palette; the sprite is indexed when it and the frames' colours fit in 256 entries, RGBA otherwise.

    Raises ValueError for more than 65535 frames, a duration or side over 65535, a bad palette, tag or layer name,
    or metadata that is not JSON.
    """
    frames = [extract_frame(sheet, i) for i in range(len(sheet.frames))]
    if not frames or len(frames) > MAX_WORD:
        raise ValueError(f"an Aseprite file holds 1-{MAX_WORD} frames, the sheet has {len(frames)}")
    validate_tags(sheet.tags, len(frames))
    if not layer.strip():
        raise ValueError("layer: give the layer a name, e.g. 'knight'")
    width = max(f.shape[1] for f in frames)
    height = max(f.shape[0] for f in frames)
    if width > MAX_WORD or height > MAX_WORD:
        raise ValueError(f"frames of {width}x{height} px exceed Aseprite's {MAX_WORD} px a side")
    durations = [int(f.duration_ms) for f in sheet.frames]
    if any(not 1 <= d <= MAX_WORD for d in durations):
        raise ValueError(f"frame durations must be 1-{MAX_WORD} ms for Aseprite, got {min(durations)}-{max(durations)}")
    given = _palette_rows(palette) if palette is not None else None
    if given is not None and len(given) > MAX_COLORS:
        raise ValueError(f"palette: {len(given)} colours; an Aseprite palette written here holds at most {MAX_COLORS}")
    indexed_palette = _indexed_palette(frames, given)
    if indexed_palette is not None:
        depth, file_palette = DEPTH_INDEXED, indexed_palette
    else:
        depth = DEPTH_RGBA
        file_palette = given if given is not None else np.array([[0, 0, 0, 255]], np.uint8)

    extras = {
        "version": 1,
        "generator": f"dgx-pixels {__version__}",
        "metadata": dict(metadata or {}),
        "frames": [{"name": f.name, "w": f.source_w, "h": f.source_h} for f in sheet.frames],
    }
    user_text = json.dumps({USER_DATA_KEY: extras}, sort_keys=True, default=_json_default)
    first = [
        _chunk(CHUNK_COLOR_PROFILE, struct.pack("<HHI8x", _SRGB, 0, 0)),
        *_palette_chunks(file_palette),
        # Right after the palette chunk, user data belongs to the sprite itself (spec, Aseprite 1.3).
        _chunk(CHUNK_USER_DATA, struct.pack("<I", 1) + _string(user_text)),
        _chunk(CHUNK_LAYER, struct.pack("<HHHHHHB3x", _LAYER_VISIBLE_EDITABLE, 0, 0, 0, 0, 0, 255) + _string(layer)),
    ]
    if sheet.tags:
        first.append(_tags_chunk(sheet.tags))
    first.append(_pivot_slice_chunk([(f.source_w, f.source_h) for f in sheet.frames],
                                    [f.pivot_px for f in sheet.frames]))

    records = []
    seen: dict[tuple, int] = {}
    for index, frame in enumerate(frames):
        chunks = list(first) if index == 0 else []
        x, y, w, h = trim_bounds(frame)
        crop = frame[y : y + h, x : x + w]
        if crop[:, :, 3].any():  # a fully clear frame has no cel at all, as in Aseprite
            key = (x, y, crop.shape, crop.tobytes())
            if key in seen:
                chunks.append(_linked_cel_chunk(x, y, seen[key]))
            else:
                seen[key] = index
                pixels = _to_indices(crop, file_palette) if depth == DEPTH_INDEXED else crop
                chunks.append(_cel_chunk(x, y, pixels))
        records.append(_frame_record(durations[index], chunks))
    body = b"".join(records)
    total = HEADER_SIZE + len(body)
    return _header(total, len(frames), width, height, depth, durations[0], len(file_palette)) + body


# --- reading ------------------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes, start: int = 0, end: int | None = None, what: str = "file") -> None:
        self.data, self.pos, self.end, self.what = data, start, len(data) if end is None else end, what

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > self.end:
            raise ValueError(f"Aseprite {self.what} is cut short at byte {self.pos}")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def raw(self, size: int) -> bytes:
        if size < 0 or self.pos + size > self.end:
            raise ValueError(f"Aseprite {self.what} is cut short at byte {self.pos}")
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return bytes(out)

    def string(self) -> str:
        (length,) = self.take("<H")
        return self.raw(length).decode("utf-8", errors="replace")


def _inflate(data: bytes, expected: int) -> bytes:
    # Bounded: a hostile cel cannot inflate past the size its header declares.
    out = zlib.decompressobj().decompress(data, expected + 1)
    if len(out) != expected:
        raise ValueError(f"Aseprite cel holds {len(out)} bytes of pixels, expected {expected}")
    return out


def _cel_rgba(pixels: bytes, w: int, h: int, depth: int, palette: np.ndarray, transparent: int) -> np.ndarray:
    if depth == DEPTH_RGBA:
        return np.frombuffer(pixels, np.uint8).reshape(h, w, 4).copy()
    if depth == DEPTH_GRAYSCALE:
        ga = np.frombuffer(pixels, np.uint8).reshape(h, w, 2)
        return np.stack([ga[..., 0], ga[..., 0], ga[..., 0], ga[..., 1]], axis=2)
    index = np.frombuffer(pixels, np.uint8).reshape(h, w)
    table = np.zeros((MAX_COLORS, 4), np.uint8)
    table[: min(len(palette), MAX_COLORS)] = palette[:MAX_COLORS]
    out = table[index]
    out[index == transparent] = 0
    return out


def _over(dst: np.ndarray, src: np.ndarray, opacity: float) -> None:
    """Composite ``src`` over ``dst`` in place (Aseprite's normal blend, straight alpha)."""
    sa = src[..., 3:4].astype(np.float64) / 255.0 * opacity
    da = dst[..., 3:4].astype(np.float64) / 255.0
    oa = sa + da * (1.0 - sa)
    rgb = (src[..., :3] * sa + dst[..., :3] * da * (1.0 - sa)) / np.where(oa > 0, oa, 1.0)
    dst[..., :3] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    dst[..., 3:4] = np.clip(np.rint(oa * 255.0), 0, 255).astype(np.uint8)


def read_aseprite(data: bytes) -> AsepriteDocument:
    """Return the :class:`AsepriteDocument` of ``.aseprite`` bytes: frames composited from the visible image layers,
    durations, tags, palette, layers, cels, pivots and user data.

    Raises ValueError naming the problem for anything that is not a well-formed Aseprite file (wrong magic, cut
    short, an unknown colour depth, a cel outside its declared size, a canvas over 2^28 pixels).
    """
    data = bytes(data)
    head = _Reader(data, 0, min(len(data), HEADER_SIZE), "header")
    (file_size, magic, frame_count, width, height, depth, flags, _speed, _, _, transparent, colors,
     _pw, _ph, _gx, _gy, _gw, _gh) = head.take("<IHHHHHIHIIB3xHBBhhHH84x")
    if magic != HEADER_MAGIC:
        raise ValueError(f"not an Aseprite file (magic 0x{magic:04X}, expected 0x{HEADER_MAGIC:04X})")
    if depth not in (DEPTH_RGBA, DEPTH_GRAYSCALE, DEPTH_INDEXED):
        raise ValueError(f"Aseprite colour depth {depth} is not 32, 16 or 8 bits per pixel")
    if width < 1 or height < 1 or width * height > _MAX_PIXELS:
        raise ValueError(f"Aseprite canvas {width}x{height} px is empty or too large")
    if frame_count < 1:
        raise ValueError("Aseprite file has no frames")
    bpp = depth // 8
    palette = np.zeros((0, 4), np.uint8)
    layers: list[dict[str, Any]] = []
    tags: list[AnimationTag] = []
    durations: list[int] = []
    cel_lists: list[list[AsepriteCel]] = []
    pixels_of: dict[tuple[int, int], np.ndarray] = {}  # (frame, layer) → the cel's RGBA pixels
    pivots: dict[int, tuple[int, int]] = {}
    user_text = ""
    pos = HEADER_SIZE
    for frame_index in range(frame_count):
        fhead = _Reader(data, pos, len(data), f"frame {frame_index}")
        frame_bytes, fmagic, old_count, duration, new_count = fhead.take("<IHHH2xI")
        if fmagic != FRAME_MAGIC or frame_bytes < FRAME_HEADER_SIZE or pos + frame_bytes > len(data):
            raise ValueError(f"Aseprite frame {frame_index} is damaged (magic 0x{fmagic:04X}, {frame_bytes} bytes)")
        chunk_count = new_count or old_count
        chunk_pos = fhead.pos
        frame_end = pos + frame_bytes
        cels: list[AsepriteCel] = []
        last_kind = None
        for _ in range(chunk_count):
            chead = _Reader(data, chunk_pos, frame_end, f"frame {frame_index}")
            size, kind = chead.take("<IH")
            if size < 6 or chunk_pos + size > frame_end:
                raise ValueError(f"Aseprite frame {frame_index}: chunk 0x{kind:04X} of {size} bytes overruns the frame")
            body = _Reader(data, chead.pos, chunk_pos + size, f"chunk 0x{kind:04X} of frame {frame_index}")
            if kind == CHUNK_PALETTE:
                total, first_i, last_i = body.take("<III8x")
                if total > MAX_COLORS * 256 or last_i >= total or first_i > last_i:
                    raise ValueError(f"Aseprite palette chunk is inconsistent ({total} entries, {first_i}-{last_i})")
                if len(palette) != total:
                    grown = np.zeros((total, 4), np.uint8)
                    grown[: min(total, len(palette))] = palette[:total]
                    palette = grown
                for i in range(first_i, last_i + 1):
                    entry_flags, r, g, b, a = body.take("<HBBBB")
                    palette[i] = (r, g, b, a)
                    if entry_flags & 1:
                        body.string()
            elif kind == CHUNK_OLD_PALETTE and len(palette) == 0:
                (packets,) = body.take("<H")
                entries: dict[int, tuple[int, int, int, int]] = {}
                at = 0
                for _p in range(packets):
                    skip, count = body.take("<BB")
                    at += skip
                    for _c in range(count or 256):
                        entries[at] = (*body.take("<BBB"), 255)
                        at += 1
                palette = np.zeros((max(entries, default=-1) + 1, 4), np.uint8)
                for i, rgba in entries.items():
                    palette[i] = rgba
            elif kind == CHUNK_LAYER:
                lflags, ltype, level, _w, _h, blend, opacity = body.take("<HHHHHHB3x")
                layers.append({"flags": lflags, "type": ltype, "level": level, "blend": blend,
                               "opacity": opacity if flags & _HEADER_FLAG_OPACITY_VALID else 255,
                               "name": body.string()})
            elif kind == CHUNK_TAGS:
                (count,) = body.take("<H8x")
                for _t in range(count):
                    start, end, direction, repeat = body.take("<HHBH6x3Bx")[:4]
                    tags.append(AnimationTag(body.string(), start, end,
                                             DIRECTIONS[direction] if direction < len(DIRECTIONS) else "forward",
                                             repeat))
            elif kind == CHUNK_USER_DATA and last_kind in (CHUNK_PALETTE, CHUNK_OLD_PALETTE) and frame_index == 0:
                (uflags,) = body.take("<I")
                if uflags & 1:
                    user_text = body.string()
            elif kind == CHUNK_SLICE:
                keys, sflags, _ = body.take("<III")
                name = body.string()
                for _k in range(keys):
                    key_frame, _x, _y, _sw, _sh = body.take("<IiiII")
                    if sflags & 1:
                        body.take("<iiII")
                    if sflags & 2:
                        px, py = body.take("<ii")
                        if name == "pivot":
                            pivots[key_frame] = (px, py)
            elif kind == CHUNK_CEL:
                layer_index, x, y, _opacity, cel_type, _z = body.take("<HhhBHh5x")
                if cel_type == CEL_LINKED:
                    (link,) = body.take("<H")
                    source = pixels_of.get((link, layer_index))
                    if source is None:
                        raise ValueError(f"Aseprite frame {frame_index}: linked cel points at frame {link}, "
                                         "which has no cel on that layer")
                    pixels_of[(frame_index, layer_index)] = source
                    cels.append(AsepriteCel(layer_index, x, y, source.shape[1], source.shape[0], link))
                elif cel_type in (CEL_RAW, CEL_COMPRESSED):
                    w, h = body.take("<HH")
                    if w * h > _MAX_PIXELS:
                        raise ValueError(f"Aseprite frame {frame_index}: a {w}x{h} px cel is too large")
                    rest = body.raw(body.end - body.pos)
                    raw = _inflate(rest, w * h * bpp) if cel_type == CEL_COMPRESSED else rest[: w * h * bpp]
                    if len(raw) != w * h * bpp:
                        raise ValueError(f"Aseprite frame {frame_index}: a raw cel is cut short")
                    pixels_of[(frame_index, layer_index)] = _cel_rgba(raw, w, h, depth, palette, transparent)
                    cels.append(AsepriteCel(layer_index, x, y, w, h))
                # Tilemap cels (type 3) need their tileset: not drawn here.
            last_kind = kind
            chunk_pos += size
        durations.append(int(duration))
        cel_lists.append(cels)
        pos = frame_end
    if file_size != pos:
        # Aseprite writes the exact size; a mismatch means trailing junk or a truncated header field.
        raise ValueError(f"Aseprite header says {file_size} bytes but the frames end at byte {pos}")

    frames = []
    for frame_index, cels in enumerate(cel_lists):
        canvas = np.zeros((height, width, 4), np.uint8)
        for cel in sorted(cels, key=lambda c: c.layer):
            info = layers[cel.layer] if cel.layer < len(layers) else {"flags": 1, "type": 0, "opacity": 255}
            if not info["flags"] & 1 or info["type"] in (_LAYER_GROUP, _LAYER_TILEMAP) or info["flags"] & 64:
                continue  # hidden, group, tilemap or reference layers are not part of the picture
            src = pixels_of[(frame_index, cel.layer)]
            x0, y0 = max(cel.x, 0), max(cel.y, 0)
            x1, y1 = min(cel.x + src.shape[1], width), min(cel.y + src.shape[0], height)
            if x1 <= x0 or y1 <= y0:
                continue
            part = src[y0 - cel.y : y1 - cel.y, x0 - cel.x : x1 - cel.x]
            _over(canvas[y0:y1, x0:x1], part, info["opacity"] / 255.0)
        canvas[canvas[:, :, 3] == 0, :3] = 0  # canonical: clear pixels carry no colour, as in ops.sheet
        frames.append(canvas)

    extras: dict[str, Any] = {}
    if user_text:
        try:
            doc = json.loads(user_text)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get(USER_DATA_KEY), dict):
            extras = doc[USER_DATA_KEY]
    valid_tags = tuple(t for t in tags if 0 <= t.start <= t.end < frame_count)
    return AsepriteDocument(
        width=width, height=height, color_depth=depth, frames=tuple(frames), durations_ms=tuple(durations),
        tags=valid_tags, palette=palette, transparent_index=int(transparent),
        layers=tuple(str(layer["name"]) for layer in layers), cels=tuple(tuple(c) for c in cel_lists),
        pivots=_pivots_per_frame(pivots, frame_count),
        user_data=user_text, extras=extras,
    )


def _pivots_per_frame(keys: Mapping[int, tuple[int, int]], count: int) -> tuple[tuple[int, int] | None, ...]:
    """A slice key holds from its frame until the next key (spec), so frames between keys take the last one."""
    if not keys:
        return ()
    out: list[tuple[int, int] | None] = []
    current = None
    for frame in range(count):
        current = keys.get(frame, current)
        out.append(current)
    return tuple(out)


def aseprite_palette_name(doc: AsepriteDocument) -> str:
    """Return the palette name our metadata records ("" when none)."""
    return str(doc.metadata.get("palette", "") or "")
