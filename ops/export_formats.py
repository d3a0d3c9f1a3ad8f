"""Metadata formats of a sprite sheet: Aseprite JSON (array form), Bevy ``.atlas.ron``, bevy_asset_loader
``.assets.ron``, and a small RON reader (enough for the files written here; used by tests and the CLI).

All functions return text or plain data; none touches the file system.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._version import __version__
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


def page_image_names(image_name: str, count: int) -> list[str]:
    """Return the image file name of each of ``count`` pages: page 0 is ``image_name`` itself, page ``p`` > 0 is
    ``<stem>_<p><suffix>`` (``hero.png`` → ``hero.png``, ``hero_1.png``, ``hero_2.png``…)."""
    stem, dot, suffix = image_name.rpartition(".")
    if not dot:
        stem, suffix = image_name, ""
    return [image_name] + [f"{stem}_{p}{dot}{suffix}" for p in range(1, count)]


def page_local_indices(sheet: SpriteSheet) -> list[int]:
    """Return, for each texture of ``sheet``, its index among the textures of its own page (the ``TextureAtlas``
    index into that page's layout). Equal to the texture index on a single-page sheet."""
    seen = [0] * len(sheet.pages)
    out = []
    for t in sheet.textures:
        out.append(seen[t.page])
        seen[t.page] += 1
    return out


def _frame_entry(sheet: SpriteSheet, frame: FrameInfo) -> dict[str, Any]:
    rect = sheet.textures[frame.texture]
    return {
        "filename": frame.name,
        "frame": _rect(rect.x, rect.y, rect.w, rect.h),
        "rotated": False,
        "trimmed": (rect.w, rect.h) != (frame.source_w, frame.source_h),
        "spriteSourceSize": _rect(frame.trim_x, frame.trim_y, rect.w, rect.h),
        "sourceSize": {"w": frame.source_w, "h": frame.source_h},
        "duration": int(frame.duration_ms),
    }


def _tag_entry(tag: AnimationTag, start: int, end: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": tag.name, "from": start, "to": end, "direction": tag.direction}
    if tag.repeat > 0:
        entry["repeat"] = str(tag.repeat)
    entry["color"] = "#000000ff"
    return entry


def aseprite_json(sheet: SpriteSheet, image_name: str) -> dict[str, Any]:
    """Return the Aseprite "json-array" document of ``sheet`` whose (first) atlas page is ``image_name``.

    Frames, ``meta.frameTags`` (``repeat`` as a string, only when > 0) and a ``pivot`` slice with one key per frame
    follow Aseprite's fields exactly; everything else of ours sits under ``meta["dgx_pixels"]``.

    A multi-page sheet stays one strict Aseprite document for page 0 (Aseprite has one image per file): ``frames``
    holds the frames on page 0 in their order, ``frameTags`` the animations that lie wholly on page 0 (renumbered),
    the pivot slice keys those frames. ``meta.dgx_pixels.pages`` lists every page (image name from
    :func:`page_image_names`, size), ``framePages``/``texturePages`` give each frame's and texture's page, and
    ``meta.dgx_pixels.frames``/``frameTags``/``pivots`` hold every frame, animation and pivot of the whole sheet.
    """
    paged = len(sheet.pages) > 1
    frame_pages = [sheet.textures[f.texture].page for f in sheet.frames]
    on_page0 = [i for i, p in enumerate(frame_pages) if p == 0]
    local = {i: k for k, i in enumerate(on_page0)}
    frames = [_frame_entry(sheet, sheet.frames[i]) for i in on_page0]
    tags = [
        _tag_entry(tag, local[tag.start], local[tag.end])
        for tag in sheet.tags
        if all(frame_pages[i] == 0 for i in range(tag.start, tag.end + 1))
    ]
    slices = [
        {
            "name": "pivot",
            "color": "#0000ffff",
            "keys": [
                {
                    "frame": local[i],
                    "bounds": _rect(0, 0, sheet.frames[i].source_w, sheet.frames[i].source_h),
                    "pivot": {"x": int(sheet.frames[i].pivot_px[0]), "y": int(sheet.frames[i].pivot_px[1])},
                }
                for i in on_page0
            ],
        }
    ]
    w, h = sheet.size
    options = sheet.options
    names = page_image_names(image_name, len(sheet.pages))
    extras: dict[str, Any] = {
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
        "pages": [
            {"image": name, "size": {"w": int(page.shape[1]), "h": int(page.shape[0])}}
            for name, page in zip(names, sheet.pages)
        ],
        "texturePages": [t.page for t in sheet.textures],
        "framePages": frame_pages,
    }
    if paged:
        extras["frames"] = [_frame_entry(sheet, f) for f in sheet.frames]
        extras["frameTags"] = [_tag_entry(t, t.start, t.end) for t in sheet.tags]
        extras["pivots"] = [[int(f.pivot_px[0]), int(f.pivot_px[1])] for f in sheet.frames]
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


def sheet_from_aseprite(doc: dict[str, Any], atlas_rgba: np.ndarray | Sequence[np.ndarray]) -> SpriteSheet:
    """Return the :class:`SpriteSheet` described by an Aseprite json-array ``doc`` written here and its atlas
    page(s) (H×W×4 uint8 each; one array, or a sequence with every page in order for a multi-page sheet). Source
    frames are restored from the atlas, so the sheet can be re-exported or combined.

    Raises ValueError when ``doc`` is not in array form, lacks our ``meta.dgx_pixels`` extras, or does not match the
    atlas page count or sizes.
    """
    if not isinstance(doc.get("frames"), list):
        raise ValueError("sheet JSON: 'frames' must be a list (Aseprite json-array form)")
    meta = doc.get("meta", {})
    extras = meta.get(EXTRAS_KEY)
    if not isinstance(extras, dict):
        raise ValueError(f"sheet JSON: meta.{EXTRAS_KEY} is missing; only sheets written by DGX-Pixels can be reloaded")
    pages = [atlas_rgba] if isinstance(atlas_rgba, np.ndarray) else list(atlas_rgba)
    size = meta.get("size", {})
    page_meta = extras.get("pages") or [{"image": meta.get("image", "?"), "size": size}]
    if len(pages) != len(page_meta):
        names = ", ".join(str(p.get("image")) for p in page_meta)
        raise ValueError(f"sheet JSON describes {len(page_meta)} atlas pages ({names}) but {len(pages)} were given")
    for p, (entry, page) in enumerate(zip(page_meta, pages)):
        psize = entry.get("size", {})
        if (psize.get("w"), psize.get("h")) != (page.shape[1], page.shape[0]):
            raise ValueError(
                f"sheet JSON says atlas page {p} ({entry.get('image')}) is {psize.get('w')}x{psize.get('h')} but the "
                f"PNG is {page.shape[1]}x{page.shape[0]}"
            )
    texture_pages = extras.get("texturePages") or [0] * len(extras["textures"])
    textures = tuple(TextureRect(int(p), *map(int, t)) for p, t in zip(texture_pages, extras["textures"]))
    entries = extras.get("frames", doc["frames"])
    pivots: dict[int, tuple[int, int]] = {}
    if "pivots" in extras:
        pivots = {i: (int(x), int(y)) for i, (x, y) in enumerate(extras["pivots"])}
    else:
        for sl in meta.get("slices", []):
            if sl.get("name") == "pivot":
                for key in sl.get("keys", []):
                    if "pivot" in key:
                        pivots[int(key["frame"])] = (int(key["pivot"]["x"]), int(key["pivot"]["y"]))
    frames = []
    for i, (entry, tex) in enumerate(zip(entries, extras["frameTextures"])):
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
        for t in extras.get("frameTags", meta.get("frameTags", []))
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
        pages=tuple(np.ascontiguousarray(p, dtype=np.uint8) for p in pages),
        textures=textures,
        frames=tuple(frames),
        tags=tags,
        options=options,
        grid=grid,
        pack_method=str(extras.get("packMethod", "")),
    )
    sources = tuple(extract_frame(sheet, i) for i in range(len(frames)))
    return SpriteSheet(sheet.pages, textures, sheet.frames, tags, options, grid, sources, sheet.pack_method)


# RON strings (ron-rs `parse_escape`): UTF-8 stands as is; the escapes are \' \" \\ \n \r \t \0, \xHH and
# \u{H} to \u{HHHHHH}. JSON's \u00e9 is rejected ("Missing { in Unicode escape"), so json.dumps is no RON encoder.
_RON_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}
# Escaped on output: the quote and backslash (syntax), C0/DEL/C1 controls and the Unicode line/paragraph
# separators (invisible or line-breaking in an editor); everything else is written as UTF-8.
_RON_NEEDS_ESCAPE = re.compile("[\"\\\\\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _ron_string(value: str) -> str:
    """Return ``value`` as a RON string literal that ron-rs reads back as ``value``.

    Raises ValueError when ``value`` holds a lone surrogate (e.g. an undecodable file name), which neither RON's
    ``char`` nor UTF-8 can carry.
    """
    bad = _SURROGATE.search(value)
    if bad:
        raise ValueError(f"RON: cannot write the lone surrogate U+{ord(bad.group()):04X} in {value!r}")
    return '"' + _RON_NEEDS_ESCAPE.sub(_ron_escape, value) + '"'


def _ron_escape(match: re.Match[str]) -> str:
    ch = match.group()
    return _RON_SHORT_ESCAPES.get(ch) or f"\\u{{{ord(ch):x}}}"


def _ron_float(value: float) -> str:
    text = repr(float(value))
    return text if ("." in text or "e" in text) else text + ".0"


def _layout_lines(size: tuple[int, int], rects: list[TextureRect], indent: str) -> list[str]:
    lines = [f"{indent}layout: (", f"{indent}    size: ({size[0]}, {size[1]}),", f"{indent}    textures: ["]
    for t in rects:
        lines.append(f"{indent}        (min: ({t.x}, {t.y}), max: ({t.x + t.w}, {t.y + t.h})),")
    lines += [f"{indent}    ],", f"{indent}),"]
    return lines


def atlas_ron(sheet: SpriteSheet, image_name: str) -> str:
    """Return the ``.atlas.ron`` text of ``sheet`` whose first page is ``image_name``.

    ``image``/``layout`` describe page 0 in Bevy's ``TextureAtlasLayout`` shape (``size``, ``textures`` as URects);
    ``pages`` lists every page (page 0 included) as ``(image, layout)``, page ``p`` > 0 being named by
    :func:`page_image_names`. Each frame has its ``page`` and ``index`` (the ``TextureAtlas`` index into that
    page's layout), duration, Bevy anchor, source size and trim offset; each animation lists its frames' indices,
    durations in ms, direction and repeat, and (multi-page sheets only; absent means all on page 0) each frame's page.
    """
    local = page_local_indices(sheet)
    names = page_image_names(image_name, len(sheet.pages))
    per_page: list[list[TextureRect]] = [[] for _ in sheet.pages]
    for t in sheet.textures:
        per_page[t.page].append(t)
    sizes = [(int(p.shape[1]), int(p.shape[0])) for p in sheet.pages]
    lines = ["(", f"    image: {_ron_string(image_name)},"]
    lines += _layout_lines(sizes[0], per_page[0], "    ")
    lines.append("    pages: [")
    for name, size, rects in zip(names, sizes, per_page):
        lines += ["        (", f"            image: {_ron_string(name)},"]
        lines += _layout_lines(size, rects, "            ")
        lines.append("        ),")
    lines += ["    ],", "    frames: ["]
    for i, f in enumerate(sheet.frames):
        ax, ay = sheet.anchor(i)
        lines.append(
            f"        (name: {_ron_string(f.name)}, page: {sheet.textures[f.texture].page}, index: {local[f.texture]}, "
            f"duration_ms: {f.duration_ms}, anchor: ({_ron_float(ax)}, {_ron_float(ay)}), "
            f"source_size: ({f.source_w}, {f.source_h}), offset: ({f.trim_x}, {f.trim_y})),"
        )
    lines += ["    ],", "    animations: {"]
    for tag in sheet.tags:
        textures = texture_indices(sheet, tag)
        indices = ", ".join(str(local[t]) for t in textures)
        pages = ", ".join(str(sheet.textures[t].page) for t in textures)
        pages_field = f"pages: [{pages}], " if len(sheet.pages) > 1 else ""
        durations = ", ".join(str(sheet.frames[i].duration_ms) for i in range(tag.start, tag.end + 1))
        lines.append(
            f"        {_ron_string(tag.name)}: (frames: [{indices}], {pages_field}durations_ms: [{durations}], "
            f"direction: {_RON_DIRECTIONS[tag.direction]}, repeat: {tag.repeat}),"
        )
    lines += ["    },", ")", ""]
    return "\n".join(lines)


def assets_ron(sheet: SpriteSheet, image_path: str, key: str) -> str:
    """Return a bevy_asset_loader ``.assets.ron`` with ``"<key>.image"`` (nearest sampling) and ``"<key>.layout"``
    (grid fields). Raises ValueError when the sheet is not a uniform grid on one page (bevy_asset_loader only knows
    one image with one grid layout).
    """
    g = sheet.grid
    if g is None:
        raise ValueError("an .assets.ron needs a uniform grid sheet (layout 'grid'); packed sheets use .atlas.ron")
    if len(sheet.pages) != 1:
        raise ValueError(
            f"an .assets.ron holds one image with one grid, but this grid sheet has {len(sheet.pages)} pages; "
            "use the .atlas.ron (one layout per page) or fewer frames per sheet"
        )
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
      | (?P<raw_string>r(?P<hashes>\#*)"(?P<raw_body>.*?)"(?P=hashes))
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
        if kind == "raw_string":  # no escapes inside r"..." / r#"..."#: the body is the value
            tokens.append((kind, match.group("raw_body")))
        elif kind != "comment":
            tokens.append((kind, match.group(kind)))
    return tokens


_RON_UNESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "0": "\0"}
_RON_UNICODE_ESCAPE = re.compile(r"\{([0-9A-Fa-f]{1,6})\}")
_RON_BYTE_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})")


def _ron_unescape(literal: str) -> str:
    r"""Return the value of the quoted RON string ``literal``, by ron-rs's escape rules.

    Raises ValueError on an escape ron-rs rejects: JSON's ``\uXXXX`` without braces, ``\b``, ``\f``, ``\/``, an
    empty, over-long or unclosed ``\u{...}``, a surrogate or out-of-range code point, or ``\x`` bytes that are not
    one UTF-8 character.
    """
    body, out, i = literal[1:-1], [], 0
    while True:
        j = body.find("\\", i)
        if j < 0:
            out.append(body[i:])
            return "".join(out)
        out.append(body[i:j])
        kind = body[j + 1 : j + 2]
        if kind in _RON_UNESCAPES:
            out.append(_RON_UNESCAPES[kind])
            i = j + 2
        elif kind == "u":
            match = _RON_UNICODE_ESCAPE.match(body, j + 2)
            if match is None:
                raise ValueError(
                    f"RON: bad Unicode escape {body[j : j + 10]!r} in {literal!r}: RON needs 1-6 hex digits in "
                    "braces, like \\u{e9}; JSON's \\u00e9 form is rejected by ron-rs (\"Missing { in Unicode escape\")"
                )
            code = int(match.group(1), 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise ValueError(f"RON: \\u{{{match.group(1)}}} in {literal!r} is not a Unicode scalar value")
            out.append(chr(code))
            i = match.end()
        elif kind == "x":
            # ron-rs: one \xHH is an ASCII char; a non-ASCII lead byte takes up to three more \xHH, which must
            # make exactly one UTF-8 character.
            data, i = bytearray(), j
            while len(data) < 4 and (byte := _RON_BYTE_ESCAPE.match(body, i)):
                data.append(int(byte.group(1), 16))
                i = byte.end()
                try:
                    out.append(data.decode("utf-8"))
                    break
                except UnicodeDecodeError:
                    continue
            else:
                raise ValueError(f"RON: \\x escapes at {body[j : j + 16]!r} in {literal!r} are not one UTF-8 character")
        else:
            raise ValueError(f"RON: unknown escape {body[j : j + 2]!r} in {literal!r}")


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
            return _ron_unescape(text)
        if kind == "raw_string":
            self.i += 1
            return text
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
