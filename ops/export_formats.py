"""Metadata formats of a sprite sheet: Aseprite JSON (array form), Bevy ``.atlas.ron``, bevy_asset_loader
``.assets.ron``, and a small RON reader (enough for the files written here; used by tests and the CLI).

All functions return text or plain data; none touches the file system.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from .. import __version__
from .sheet import (
    AnimationTag,
    FrameInfo,
    GridInfo,
    SheetOptions,
    SpriteSheet,
    TextureRect,
    extract_frame,
    texture_indices,
)

APP_URL = "https://github.com/dgx-pixels/dgx-pixels"
EXTRAS_KEY = "dgx_pixels"
_RON_DIRECTIONS = {"forward": "Forward", "reverse": "Reverse", "pingpong": "PingPong", "pingpong_reverse": "PingPongReverse"}


def _rect(x: int, y: int, w: int, h: int) -> dict[str, int]:
    return {"x": int(x), "y": int(y), "w": int(w), "h": int(h)}


def aseprite_json(sheet: SpriteSheet, image_name: str) -> dict[str, Any]:
    """Return the Aseprite "json-array" document of a single-page ``sheet`` whose atlas is ``image_name``.

    Frames, ``meta.frameTags`` (``repeat`` as a string, only when > 0) and a ``pivot`` slice with one key per frame
    follow Aseprite's fields exactly; everything else of ours sits under ``meta["dgx_pixels"]``. Raises ValueError
    for a multi-page sheet.
    """
    if len(sheet.pages) != 1:
        raise ValueError(
            f"the sheet has {len(sheet.pages)} atlas pages; one export holds one page — raise max_size or split "
            "the animations into several sheets"
        )
    frames = []
    for frame in sheet.frames:
        rect = sheet.textures[frame.texture]
        trimmed = (rect.w, rect.h) != (frame.source_w, frame.source_h)
        frames.append(
            {
                "filename": frame.name,
                "frame": _rect(rect.x, rect.y, rect.w, rect.h),
                "rotated": False,
                "trimmed": trimmed,
                "spriteSourceSize": _rect(frame.trim_x, frame.trim_y, rect.w, rect.h),
                "sourceSize": {"w": frame.source_w, "h": frame.source_h},
                "duration": int(frame.duration_ms),
            }
        )
    tags = []
    for tag in sheet.tags:
        entry: dict[str, Any] = {"name": tag.name, "from": tag.start, "to": tag.end, "direction": tag.direction}
        if tag.repeat > 0:
            entry["repeat"] = str(tag.repeat)
        entry["color"] = "#000000ff"
        tags.append(entry)
    slices = [
        {
            "name": "pivot",
            "color": "#0000ffff",
            "keys": [
                {
                    "frame": i,
                    "bounds": _rect(0, 0, f.source_w, f.source_h),
                    "pivot": {"x": int(f.pivot_px[0]), "y": int(f.pivot_px[1])},
                }
                for i, f in enumerate(sheet.frames)
            ],
        }
    ]
    w, h = sheet.size
    options = sheet.options
    extras = {
        "version": 1,
        "generator": f"dgx-pixels {__version__}",
        "layout": options.layout,
        "packMethod": sheet.pack_method,
        "padding": options.padding,
        "extrude": options.extrude,
        "trim": options.trim,
        "mergeDuplicates": options.merge_duplicates,
        "powerOfTwo": options.power_of_two,
        "maxSize": options.max_size,
        "grid": None if sheet.grid is None else dict(sheet.grid.__dict__),
        "textures": [[t.x, t.y, t.w, t.h] for t in sheet.textures],
        "frameTextures": [f.texture for f in sheet.frames],
        "anchors": [list(sheet.anchor(i)) for i in range(len(sheet.frames))],
    }
    return {
        "frames": frames,
        "meta": {
            "app": APP_URL,
            "version": __version__,
            "image": image_name,
            "format": "RGBA8888",
            "size": {"w": w, "h": h},
            "scale": "1",
            "frameTags": tags,
            "layers": [{"name": "sprite", "opacity": 255, "blendMode": "normal"}],
            "slices": slices,
            EXTRAS_KEY: extras,
        },
    }


def aseprite_json_text(sheet: SpriteSheet, image_name: str) -> str:
    """Return :func:`aseprite_json` as indented JSON text (stable key order, trailing newline)."""
    return json.dumps(aseprite_json(sheet, image_name), indent=1) + "\n"


def sheet_from_aseprite(doc: dict[str, Any], atlas_rgba: np.ndarray) -> SpriteSheet:
    """Return the :class:`SpriteSheet` described by an Aseprite json-array ``doc`` written here and its atlas
    (H×W×4 uint8). Source frames are restored from the atlas, so the sheet can be re-exported or combined.

    Raises ValueError when ``doc`` is not in array form, lacks our ``meta.dgx_pixels`` extras, or does not match the
    atlas size.
    """
    if not isinstance(doc.get("frames"), list):
        raise ValueError("sheet JSON: 'frames' must be a list (Aseprite json-array form)")
    meta = doc.get("meta", {})
    extras = meta.get(EXTRAS_KEY)
    if not isinstance(extras, dict):
        raise ValueError(f"sheet JSON: meta.{EXTRAS_KEY} is missing; only sheets written by DGX-Pixels can be reloaded")
    size = meta.get("size", {})
    if (size.get("w"), size.get("h")) != (atlas_rgba.shape[1], atlas_rgba.shape[0]):
        raise ValueError(
            f"sheet JSON says the atlas is {size.get('w')}x{size.get('h')} but the PNG is "
            f"{atlas_rgba.shape[1]}x{atlas_rgba.shape[0]}"
        )
    textures = tuple(TextureRect(0, *map(int, t)) for t in extras["textures"])
    pivots = {}
    for sl in meta.get("slices", []):
        if sl.get("name") == "pivot":
            for key in sl.get("keys", []):
                if "pivot" in key:
                    pivots[int(key["frame"])] = (int(key["pivot"]["x"]), int(key["pivot"]["y"]))
    frames = []
    for i, (entry, tex) in enumerate(zip(doc["frames"], extras["frameTextures"])):
        src = entry["sourceSize"]
        sss = entry["spriteSourceSize"]
        frames.append(
            FrameInfo(
                name=str(entry["filename"]),
                texture=int(tex),
                source_w=int(src["w"]),
                source_h=int(src["h"]),
                trim_x=int(sss["x"]),
                trim_y=int(sss["y"]),
                duration_ms=int(entry.get("duration", 100)),
                pivot_px=pivots.get(i, (int(src["w"]) // 2, int(src["h"]))),
            )
        )
    tags = tuple(
        AnimationTag(t["name"], int(t["from"]), int(t["to"]), t.get("direction", "forward"), int(t.get("repeat", 0)))
        for t in meta.get("frameTags", [])
    )
    options = SheetOptions(
        layout=extras.get("layout", "pack"),
        padding=int(extras.get("padding", 0)),
        extrude=int(extras.get("extrude", 0)),
        trim=bool(extras.get("trim", True)),
        merge_duplicates=bool(extras.get("mergeDuplicates", True)),
        max_size=int(extras.get("maxSize", 4096)),
        power_of_two=bool(extras.get("powerOfTwo", False)),
    )
    grid = GridInfo(**extras["grid"]) if extras.get("grid") else None
    sheet = SpriteSheet(
        pages=(np.ascontiguousarray(atlas_rgba, dtype=np.uint8),),
        textures=textures,
        frames=tuple(frames),
        tags=tags,
        options=options,
        grid=grid,
        pack_method=str(extras.get("packMethod", "")),
    )
    sources = tuple(extract_frame(sheet, i) for i in range(len(frames)))
    return SpriteSheet(sheet.pages, textures, sheet.frames, tags, options, grid, sources, sheet.pack_method)


def _ron_string(value: str) -> str:
    return json.dumps(value)


def _ron_float(value: float) -> str:
    text = repr(float(value))
    return text if ("." in text or "e" in text) else text + ".0"


def atlas_ron(sheet: SpriteSheet, image_name: str) -> str:
    """Return the ``.atlas.ron`` text of a single-page ``sheet``: ``layout`` in Bevy's ``TextureAtlasLayout`` shape
    (``size``, ``textures`` as URects), frame names → texture index, animations (texture indices, durations in ms,
    direction, repeat) and per-frame Bevy anchors. Raises ValueError for a multi-page sheet.
    """
    if len(sheet.pages) != 1:
        raise ValueError(f"the sheet has {len(sheet.pages)} atlas pages; one .atlas.ron describes one page")
    w, h = sheet.size
    lines = ["(", f"    image: {_ron_string(image_name)},", "    layout: (", f"        size: ({w}, {h}),", "        textures: ["]
    for t in sheet.textures:
        lines.append(f"            (min: ({t.x}, {t.y}), max: ({t.x + t.w}, {t.y + t.h})),")
    lines += ["        ],", "    ),", "    frames: ["]
    for i, f in enumerate(sheet.frames):
        ax, ay = sheet.anchor(i)
        lines.append(
            f"        (name: {_ron_string(f.name)}, index: {f.texture}, duration_ms: {f.duration_ms}, "
            f"anchor: ({_ron_float(ax)}, {_ron_float(ay)}), source_size: ({f.source_w}, {f.source_h}), "
            f"offset: ({f.trim_x}, {f.trim_y})),"
        )
    lines += ["    ],", "    animations: {"]
    for tag in sheet.tags:
        indices = ", ".join(str(i) for i in texture_indices(sheet, tag))
        durations = ", ".join(str(sheet.frames[i].duration_ms) for i in range(tag.start, tag.end + 1))
        lines.append(
            f"        {_ron_string(tag.name)}: (frames: [{indices}], durations_ms: [{durations}], "
            f"direction: {_RON_DIRECTIONS[tag.direction]}, repeat: {tag.repeat}),"
        )
    lines += ["    },", ")", ""]
    return "\n".join(lines)


def assets_ron(sheet: SpriteSheet, image_path: str, key: str) -> str:
    """Return a bevy_asset_loader ``.assets.ron`` with ``"<key>.image"`` (nearest sampling) and ``"<key>.layout"``
    (grid fields). Raises ValueError when the sheet is not a uniform grid (bevy_asset_loader only knows grids).
    """
    g = sheet.grid
    if g is None:
        raise ValueError("an .assets.ron needs a uniform grid sheet (layout 'grid'); packed sheets use .atlas.ron")
    return (
        "({\n"
        f"    {_ron_string(key + '.image')}: Image(\n"
        f"        path: {_ron_string(image_path)},\n"
        "        sampler: Nearest,\n"
        "    ),\n"
        f"    {_ron_string(key + '.layout')}: TextureAtlasLayout(\n"
        f"        tile_size_x: {g.tile_w},\n"
        f"        tile_size_y: {g.tile_h},\n"
        f"        columns: {g.columns},\n"
        f"        rows: {g.rows},\n"
        f"        padding_x: {g.padding_x},\n"
        f"        padding_y: {g.padding_y},\n"
        f"        offset_x: {g.offset_x},\n"
        f"        offset_y: {g.offset_y},\n"
        "    ),\n"
        "})\n"
    )


# ---------------------------------------------------------------------------------------------------------------
# A small RON reader. Values map to Python as: struct/named struct → dict (a name is kept under "$type"),
# tuple → tuple, list → list, map → dict, string → str, number → int/float, bool → bool, bare identifier
# (enum unit variant) → str, Some(x) → x, None → None.

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<comment>//[^\n]*|/\*.*?\*/)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[()\[\]{}:,])
    )""",
    re.VERBOSE | re.DOTALL,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        if text.startswith("#![", pos):
            pos = text.index("]", pos) + 1
            continue
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(f"RON: unexpected character {text[pos]!r} at offset {pos}")
        pos = match.end()
        kind = match.lastgroup
        if kind != "comment":
            tokens.append((kind, match.group(kind)))
    return tokens


class _RonParser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else ("eof", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise ValueError(f"RON: expected {value!r}, found {tok[1]!r} (token {self.i})")
        self.i += 1
        return tok

    def value(self) -> Any:
        kind, text = self.peek()
        if kind == "string":
            self.i += 1
            return json.loads(text)
        if kind == "number":
            self.i += 1
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "ident":
            self.i += 1
            if text in ("true", "false"):
                return text == "true"
            if text == "None":
                return None
            if self.peek()[1] == "(":
                if text == "Some":
                    self.take("(")
                    inner = self.value()
                    self.take(")")
                    return inner
                inner = self.paren()
                if isinstance(inner, dict):
                    return {"$type": text, **inner}
                return {"$type": text, "$fields": inner}
            return text
        if text == "(":
            return self.paren()
        if text == "[":
            return self.seq("[", "]")
        if text == "{":
            return self.map()
        raise ValueError(f"RON: unexpected {text or 'end of input'!r} (token {self.i})")

    def paren(self) -> Any:
        self.take("(")
        if self.peek()[0] == "ident" and self.peek(1)[1] == ":":
            out: dict[str, Any] = {}
            while self.peek()[1] != ")":
                name = self.take()[1]
                self.take(":")
                out[name] = self.value()
                if self.peek()[1] == ",":
                    self.take(",")
            self.take(")")
            return out
        items = []
        while self.peek()[1] != ")":
            items.append(self.value())
            if self.peek()[1] == ",":
                self.take(",")
        self.take(")")
        return items[0] if len(items) == 1 and isinstance(items[0], dict) and "$type" not in items[0] else tuple(items)

    def seq(self, open_: str, close: str) -> list[Any]:
        self.take(open_)
        items = []
        while self.peek()[1] != close:
            items.append(self.value())
            if self.peek()[1] == ",":
                self.take(",")
        self.take(close)
        return items

    def map(self) -> dict[Any, Any]:
        self.take("{")
        out: dict[Any, Any] = {}
        while self.peek()[1] != "}":
            key = self.value()
            self.take(":")
            out[key if not isinstance(key, list) else tuple(key)] = self.value()
            if self.peek()[1] == ",":
                self.take(",")
        self.take("}")
        return out


def parse_ron(text: str) -> Any:
    """Return the Python value of a RON document (see the mapping above). Raises ValueError on malformed input."""
    parser = _RonParser(text)
    value = parser.value()
    if parser.peek()[0] != "eof":
        raise ValueError(f"RON: trailing input after the value at token {parser.i}")
    return value
