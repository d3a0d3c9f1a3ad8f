"""Sprite sheets: frames → one atlas plus the metadata a game needs (rects, trims, tags, durations, pivots).

A :class:`SpriteSheet` is the in-memory model shared by the nodes, the CLI and the export writer. Frames are kept
as canonical RGBA8 (fully transparent pixels have RGB zeroed, so "phantom" colours never make two frames differ
or leak into the atlas); the atlas holds each unique frame once, trimmed, with optional extrusion and padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from .packing import pack_grid, pack_maxrects

DIRECTIONS: tuple[str, ...] = ("forward", "reverse", "pingpong", "pingpong_reverse")
LAYOUTS: tuple[str, ...] = ("pack", "grid")
MAX_ATLAS_PX = 4096


@dataclass(frozen=True)
class AnimationTag:
    """A named animation: frames ``start``..``end`` (inclusive), played in ``direction``, ``repeat`` times (0 = loop)."""

    name: str
    start: int
    end: int
    direction: str = "forward"
    repeat: int = 0


@dataclass(frozen=True)
class TextureRect:
    """The inner (unextruded) rectangle of one unique frame image on an atlas page."""

    page: int
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class FrameInfo:
    """One logical frame: which texture shows it, where the trimmed content sat in the source, timing, pivot."""

    name: str
    texture: int
    source_w: int
    source_h: int
    trim_x: int
    trim_y: int
    duration_ms: int
    pivot_px: tuple[int, int]


@dataclass(frozen=True)
class GridInfo:
    """Bevy ``TextureAtlasLayout::from_grid`` arguments that reproduce the texture rects of a grid sheet."""

    tile_w: int
    tile_h: int
    columns: int
    rows: int
    padding_x: int
    padding_y: int
    offset_x: int
    offset_y: int


@dataclass(frozen=True)
class SheetOptions:
    """How a sheet was built; reused when sheets are combined."""

    layout: str = "pack"
    columns: int = 0
    rows: int = 0
    padding: int = 0
    extrude: int = 0
    trim: bool = True
    merge_duplicates: bool = True
    max_size: int = MAX_ATLAS_PX
    power_of_two: bool = False


@dataclass(frozen=True)
class SpriteSheet:
    """Atlas pages (H×W×4 uint8), unique texture rects, logical frames, animation tags and the source frames."""

    pages: tuple[np.ndarray, ...]
    textures: tuple[TextureRect, ...]
    frames: tuple[FrameInfo, ...]
    tags: tuple[AnimationTag, ...]
    options: SheetOptions
    grid: GridInfo | None = None
    sources: tuple[np.ndarray, ...] = field(default=(), repr=False)
    pack_method: str = ""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the first page."""
        return int(self.pages[0].shape[1]), int(self.pages[0].shape[0])

    def pages_batch(self) -> np.ndarray:
        """Every page as one [P,H,W,4] uint8 array; pages smaller than the largest are padded with transparent
        pixels (right and bottom), since a batch has one size."""
        height = max(page.shape[0] for page in self.pages)
        width = max(page.shape[1] for page in self.pages)
        batch = np.zeros((len(self.pages), height, width, 4), dtype=np.uint8)
        for index, page in enumerate(self.pages):
            batch[index, : page.shape[0], : page.shape[1]] = page
        return batch

    def anchor(self, index: int) -> tuple[float, float]:
        """Bevy ``Anchor`` (x right, y up, -0.5..0.5 over the trimmed rect) that puts frame ``index``'s pivot at the
        sprite's position, so trimmed frames do not jitter."""
        frame = self.frames[index]
        rect = self.textures[frame.texture]
        px = frame.pivot_px[0] - frame.trim_x
        py = frame.pivot_px[1] - frame.trim_y
        return (round(px / rect.w - 0.5, 6), round(0.5 - py / rect.h, 6))


def _to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _frame_to_rgba8(image: np.ndarray, alpha: np.ndarray | None, index: int) -> np.ndarray:
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"frame {index} has shape {image.shape}; expected H×W×C with C = 1, 3 or 4")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"frame {index} is empty ({image.shape[1]}x{image.shape[0]} px)")
    if image.dtype == np.uint8:
        data = image.astype(np.float32) / 255.0
    else:
        data = image.astype(np.float32)
    if image.shape[2] == 1:
        data = np.repeat(data, 3, axis=2)
    if data.shape[2] == 3:
        data = np.concatenate([data, np.ones(data.shape[:2] + (1,), np.float32)], axis=2)
    if alpha is not None:
        a = alpha.astype(np.float32) / 255.0 if alpha.dtype == np.uint8 else alpha.astype(np.float32)
        if a.shape != data.shape[:2]:
            raise ValueError(
                f"mask {index} is {a.shape[1]}x{a.shape[0]} px but frame {index} is "
                f"{data.shape[1]}x{data.shape[0]}; the mask must match the frames"
            )
        data[:, :, 3] = a
    if not np.isfinite(data).all():
        raise ValueError(f"frame {index} contains NaN or infinite values")
    rgba = np.clip(np.rint(data * 255.0), 0, 255).astype(np.uint8)
    return canonical_rgba(rgba)


def canonical_rgba(rgba: np.ndarray) -> np.ndarray:
    """Return a copy of an H×W×4 uint8 frame with the RGB of fully transparent pixels set to 0."""
    out = np.array(rgba, dtype=np.uint8, copy=True)
    out[out[:, :, 3] == 0, :3] = 0
    return out


def frames_to_rgba(frames, mask=None) -> list[np.ndarray]:
    """Return canonical H×W×4 uint8 frames from an IMAGE batch [B,H,W,C] (float 0..1 or uint8) or a list of
    H×W×C arrays of any sizes, with an optional alpha ``mask`` ([B,H,W] or a list; 1 = opaque).

    Raises ValueError for an empty batch, bad shapes, NaNs, or a mask whose count or size differs from the frames.
    """
    if frames is None:
        raise ValueError("frames: nothing given; connect an IMAGE batch or give a list of frames")
    if isinstance(frames, (list, tuple)):
        items = [_to_numpy(f) for f in frames]
    else:
        arr = _to_numpy(frames)
        if arr.ndim == 3 and arr.shape[-1] in (1, 3, 4):
            arr = arr[None]
        if arr.ndim != 4:
            raise ValueError(f"frames: expected an IMAGE batch [B,H,W,C], got shape {arr.shape}")
        items = list(arr)
    if len(items) == 0:
        raise ValueError("frames: the batch is empty; give at least one frame")
    masks: list[np.ndarray | None] = [None] * len(items)
    if mask is not None:
        if isinstance(mask, (list, tuple)):
            mlist = [_to_numpy(m) for m in mask]
        else:
            marr = _to_numpy(mask)
            if marr.ndim == 2:
                marr = marr[None]
            if marr.ndim != 3:
                raise ValueError(f"mask: expected [B,H,W], got shape {marr.shape}")
            mlist = list(marr)
        if len(mlist) == 1 and len(items) > 1:
            mlist = mlist * len(items)
        if len(mlist) != len(items):
            raise ValueError(f"mask: {len(mlist)} masks for {len(items)} frames; give one mask per frame (or one)")
        masks = mlist
    return [_frame_to_rgba8(img, m, i) for i, (img, m) in enumerate(zip(items, masks))]


def trim_bounds(rgba: np.ndarray) -> tuple[int, int, int, int]:
    """Return (x, y, w, h) of the non-transparent pixels of an H×W×4 frame; (0, 0, 1, 1) for a fully clear frame."""
    alpha = rgba[:, :, 3] > 0
    rows = np.flatnonzero(alpha.any(axis=1))
    cols = np.flatnonzero(alpha.any(axis=0))
    if len(rows) == 0:
        return 0, 0, 1, 1
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def durations_from_fps(count: int, fps: float) -> list[int]:
    """Return ``count`` per-frame durations in ms for ``fps`` frames per second (rounded, at least 1 ms).

    Raises ValueError when ``fps`` is not positive.
    """
    if not fps or fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    return [max(1, int(round(1000.0 / fps)))] * count


def validate_tags(tags: Sequence[AnimationTag], frame_count: int) -> None:
    """Raise ValueError naming the tag when a range falls outside 0..frame_count-1, a name repeats or is empty,
    the direction is unknown or repeat is negative; return None otherwise."""
    seen: set[str] = set()
    for tag in tags:
        if not tag.name or not tag.name.strip():
            raise ValueError("animation tag names must not be empty")
        if tag.name in seen:
            raise ValueError(f"animation tag {tag.name!r} is defined twice; give each animation its own name")
        seen.add(tag.name)
        if not (0 <= tag.start <= tag.end < frame_count):
            raise ValueError(
                f"animation tag {tag.name!r} covers frames {tag.start}-{tag.end} but there are {frame_count} frames "
                f"(valid indices 0-{frame_count - 1}, start <= end)"
            )
        if tag.direction not in DIRECTIONS:
            raise ValueError(f"animation tag {tag.name!r}: direction {tag.direction!r} is not one of {DIRECTIONS}")
        if tag.repeat < 0:
            raise ValueError(f"animation tag {tag.name!r}: repeat must be >= 0 (0 = loop forever), got {tag.repeat}")


def parse_tag(spec: str) -> AnimationTag:
    """Return the tag of a ``NAME:FROM-TO[:DIRECTION[:REPEAT]]`` string; raises ValueError for any other form."""
    parts = spec.split(":")
    if len(parts) < 2 or len(parts) > 4 or "-" not in parts[1]:
        raise ValueError(f"tag {spec!r}: expected NAME:FROM-TO[:DIRECTION[:REPEAT]], e.g. walk:0-7:pingpong")
    start_s, _, end_s = parts[1].partition("-")
    try:
        start, end = int(start_s), int(end_s)
        repeat = int(parts[3]) if len(parts) > 3 else 0
    except ValueError:
        raise ValueError(f"tag {spec!r}: FROM, TO and REPEAT must be whole numbers") from None
    direction = parts[2] if len(parts) > 2 else "forward"
    return AnimationTag(parts[0], start, end, direction, repeat)


def _pivots(pivot, count: int) -> list[tuple[float, float]]:
    if pivot is None:
        return [(0.5, 1.0)] * count
    arr = np.asarray(pivot, dtype=np.float64)
    if arr.shape == (2,):
        return [(float(arr[0]), float(arr[1]))] * count
    if arr.shape == (count, 2):
        return [(float(a), float(b)) for a, b in arr]
    raise ValueError(f"pivot: give one (x, y) pair or one per frame ({count}), got shape {arr.shape}")


def build_sheet(
    frames,
    mask=None,
    *,
    tags: Sequence[AnimationTag] = (),
    durations_ms: Sequence[int] | int = 100,
    names: Sequence[str] | None = None,
    pivot=(0.5, 1.0),
    options: SheetOptions = SheetOptions(),
) -> SpriteSheet:
    """Return a :class:`SpriteSheet` packing ``frames`` (IMAGE batch or list of arrays of any sizes, optional alpha
    ``mask``) by ``options``: trim, merge identical frames, grid or MaxRects, padding, extrusion.

    ``pivot`` is normalised in the source frame (x right, y down; (0.5, 1) = bottom centre), one pair or one per
    frame. Raises ValueError for empty input, bad tags/durations/options, frames of different sizes in a grid,
    or a frame larger than ``options.max_size``.
    """
    rgba = frames_to_rgba(frames, mask)
    return _build_from_rgba(rgba, tags=tags, durations_ms=durations_ms, names=names, pivot=pivot, options=options)


def _check_options(options: SheetOptions) -> None:
    if options.layout not in LAYOUTS:
        raise ValueError(f"layout {options.layout!r} is not one of {LAYOUTS}")
    if options.padding < 0 or options.extrude < 0:
        raise ValueError(f"padding and extrude must be >= 0, got {options.padding} and {options.extrude}")
    if not (1 <= options.max_size <= MAX_ATLAS_PX):
        raise ValueError(f"max_size must be 1..{MAX_ATLAS_PX}, got {options.max_size}")


def _build_from_rgba(
    rgba: list[np.ndarray],
    *,
    tags: Sequence[AnimationTag],
    durations_ms: Sequence[int] | int,
    names: Sequence[str] | None,
    pivot,
    options: SheetOptions,
    pivots_px: Sequence[tuple[int, int]] | None = None,
) -> SpriteSheet:
    _check_options(options)
    n = len(rgba)
    if n == 0:
        raise ValueError("frames: the batch is empty; give at least one frame")
    tags = tuple(tags)
    validate_tags(tags, n)
    if isinstance(durations_ms, (int, np.integer)):
        durations = [int(durations_ms)] * n
    else:
        durations = [int(d) for d in durations_ms]
    if len(durations) != n:
        raise ValueError(f"durations_ms: {len(durations)} durations for {n} frames; give one per frame or one number")
    if any(d < 1 for d in durations):
        raise ValueError(f"durations_ms must all be >= 1 ms, got {min(durations)}")
    if names is None:
        names = [f"frame_{i:04d}" for i in range(n)]
    names = list(names)
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"names: need {n} distinct frame names, got {len(names)} ({len(set(names))} distinct)")
    if pivots_px is None:
        pivots_px = [
            (int(round(px * f.shape[1])), int(round(py * f.shape[0]))) for (px, py), f in zip(_pivots(pivot, n), rgba)
        ]

    grid_mode = options.layout == "grid"
    if grid_mode:
        shapes = {f.shape[:2] for f in rgba}
        if len(shapes) > 1:
            listed = ", ".join(f"{w}x{h}" for h, w in sorted(shapes)[:4])
            raise ValueError(
                f"frames have different sizes ({listed}); a uniform grid needs equal frames — use layout 'pack'"
            )
    trim = options.trim and not grid_mode
    e = options.extrude

    # Unique textures: identical trimmed RGBA content (phantom pixels are already zeroed) shares one rect.
    bounds = [trim_bounds(f) if trim else (0, 0, f.shape[1], f.shape[0]) for f in rgba]
    crops = [f[y : y + h, x : x + w] for f, (x, y, w, h) in zip(rgba, bounds)]
    texture_of: list[int] = []
    unique: list[int] = []
    seen: dict[tuple, int] = {}
    for i, crop in enumerate(crops):
        key = (crop.shape, crop.tobytes()) if options.merge_duplicates else (i,)
        if key not in seen:
            seen[key] = len(unique)
            unique.append(i)
        texture_of.append(seen[key])

    grid = None
    if grid_mode:
        fh, fw = rgba[0].shape[:2]
        (pw, ph), cells, cols, rows = pack_grid(
            len(unique),
            fw + 2 * e,
            fh + 2 * e,
            columns=options.columns,
            rows=options.rows,
            padding=options.padding,
            max_size=options.max_size,
        )
        page_sizes = ((pw, ph),)
        placements = cells
        method = "grid"
        grid = GridInfo(fw, fh, cols, rows, options.padding + 2 * e, options.padding + 2 * e, e, e)
    else:
        block_sizes = [(crops[i].shape[1] + 2 * e, crops[i].shape[0] + 2 * e) for i in unique]
        result = pack_maxrects(
            block_sizes, padding=options.padding, max_size=options.max_size, power_of_two=options.power_of_two
        )
        page_sizes, placements, method = result.page_sizes, result.placements, result.method

    pages = [np.zeros((h, w, 4), dtype=np.uint8) for w, h in page_sizes]
    textures = []
    for place, i in zip(placements, unique):
        crop = crops[i]
        block = np.pad(crop, ((e, e), (e, e), (0, 0)), mode="edge") if e else crop
        bh, bw = block.shape[:2]
        pages[place.page][place.y : place.y + bh, place.x : place.x + bw] = block
        textures.append(TextureRect(place.page, place.x + e, place.y + e, crop.shape[1], crop.shape[0]))

    frame_infos = tuple(
        FrameInfo(
            name=names[i],
            texture=texture_of[i],
            source_w=int(rgba[i].shape[1]),
            source_h=int(rgba[i].shape[0]),
            trim_x=bounds[i][0],
            trim_y=bounds[i][1],
            duration_ms=durations[i],
            pivot_px=(int(pivots_px[i][0]), int(pivots_px[i][1])),
        )
        for i in range(n)
    )
    return SpriteSheet(
        pages=tuple(pages),
        textures=tuple(textures),
        frames=frame_infos,
        tags=tags,
        options=options,
        grid=grid,
        sources=tuple(rgba),
        pack_method=method,
    )


def extract_frame(sheet: SpriteSheet, index: int) -> np.ndarray:
    """Return frame ``index`` restored at its source size (H×W×4 uint8) from the atlas and the metadata alone.

    Raises IndexError for an index outside the sheet.
    """
    if not 0 <= index < len(sheet.frames):
        raise IndexError(f"frame index {index} outside 0..{len(sheet.frames) - 1}")
    frame = sheet.frames[index]
    rect = sheet.textures[frame.texture]
    out = np.zeros((frame.source_h, frame.source_w, 4), dtype=np.uint8)
    page = sheet.pages[rect.page]
    out[frame.trim_y : frame.trim_y + rect.h, frame.trim_x : frame.trim_x + rect.w] = page[
        rect.y : rect.y + rect.h, rect.x : rect.x + rect.w
    ]
    return out


def combine_sheets(
    sheets: Sequence[SpriteSheet], *, options: SheetOptions | None = None
) -> SpriteSheet:
    """Return one sheet holding every frame and animation of ``sheets`` (in order), re-packed by ``options``
    (default: the first sheet's). Frame indices of later tags are shifted; clashing frame names get a suffix.

    Raises ValueError for no sheets, two animations with the same name, or a sheet without source frames.
    """
    if not sheets:
        raise ValueError("sheets: nothing to combine; give at least one sprite sheet")
    rgba: list[np.ndarray] = []
    names: list[str] = []
    durations: list[int] = []
    pivots: list[tuple[int, int]] = []
    tags: list[AnimationTag] = []
    used_names: set[str] = set()
    for number, sheet in enumerate(sheets):
        if len(sheet.sources) != len(sheet.frames):
            raise ValueError(f"sheet {number + 1} has no source frames to re-pack (it was loaded from files?)")
        base = len(rgba)
        for frame, src in zip(sheet.frames, sheet.sources):
            name, k = frame.name, 1
            while name in used_names:
                name = f"{frame.name}_{k}"
                k += 1
            used_names.add(name)
            names.append(name)
            rgba.append(src)
            durations.append(frame.duration_ms)
            pivots.append(frame.pivot_px)
        for tag in sheet.tags:
            if any(t.name == tag.name for t in tags):
                raise ValueError(
                    f"two sheets both have an animation named {tag.name!r}; rename one before combining"
                )
            tags.append(replace(tag, start=tag.start + base, end=tag.end + base))
    return _build_from_rgba(
        rgba,
        tags=tags,
        durations_ms=durations,
        names=names,
        pivot=None,
        options=options or sheets[0].options,
        pivots_px=pivots,
    )


def texture_indices(sheet: SpriteSheet, tag: AnimationTag) -> list[int]:
    """Return the atlas texture index of each frame of ``tag`` in order (what a Bevy ``TextureAtlas.index`` takes)."""
    return [sheet.frames[i].texture for i in range(tag.start, tag.end + 1)]


def sheet_summary(sheet: SpriteSheet) -> str:
    """Return a one-line human summary: size, frames, unique textures, animations, occupancy."""
    w, h = sheet.size
    used = sum(t.w * t.h for t in sheet.textures)
    total = sum(p.shape[0] * p.shape[1] for p in sheet.pages)
    anims = ", ".join(f"{t.name}[{t.start}-{t.end}]" for t in sheet.tags) or "none"
    pages = f", {len(sheet.pages)} pages" if len(sheet.pages) > 1 else ""
    return (
        f"{w}x{h} px{pages}, {len(sheet.frames)} frames, {len(sheet.textures)} unique, "
        f"{sheet.options.layout} ({sheet.pack_method}), occupancy {used / total:.1%}, animations: {anims}"
    )
