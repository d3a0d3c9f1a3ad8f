"""The .aseprite writer and reader: byte layout against the spec, round trips, and an independent reader
(the npm package ase-parser, tests/tools/ase-check) that must see exactly what we wrote."""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from dgx_pixels.ops.aseprite import (
    CHUNK_CEL,
    CHUNK_COLOR_PROFILE,
    CHUNK_LAYER,
    CHUNK_OLD_PALETTE,
    CHUNK_PALETTE,
    CHUNK_SLICE,
    CHUNK_TAGS,
    CHUNK_USER_DATA,
    aseprite_bytes,
    read_aseprite,
)
from dgx_pixels.ops.palettes_builtin import BUILTIN_HEX
from dgx_pixels.ops.sheet import AnimationTag, SheetOptions, build_sheet, extract_frame

ASE_CHECK = Path(__file__).resolve().parents[2] / "tools" / "ase-check"
ENDESGA = [tuple(int(h[i : i + 2], 16) for i in (0, 2, 4)) for h in BUILTIN_HEX["endesga-32"]]


def _frames(count: int = 6, colors: list | None = None, size: tuple[int, int] = (20, 24)) -> list[np.ndarray]:
    """A walk-like cycle: a body that moves down and right, a half-transparent pixel, an empty last frame."""
    colors = colors or ENDESGA
    w, h = size
    out = []
    for i in range(count - 1):
        f = np.zeros((h, w, 4), np.uint8)
        f[3 + i % 3 : 13 + i % 3, 2 + i : 9 + i] = (*colors[i % len(colors)], 255)
        f[5 + i % 3, 4 + i] = (*colors[(i + 7) % len(colors)], 255)
        out.append(f)
    out.append(np.zeros((h, w, 4), np.uint8))
    return out


TAGS = [
    AnimationTag("walk", 0, 2, "forward", 0),
    AnimationTag("turn", 2, 3, "reverse", 3),
    AnimationTag("bob", 3, 5, "pingpong", 1),
    AnimationTag("back", 0, 1, "pingpong_reverse", 0),
]
DURATIONS = [100, 125, 80, 250, 65535, 1]


def _sheet(frames=None, *, tags=TAGS, durations=DURATIONS, options=SheetOptions()):
    frames = _frames() if frames is None else frames
    return build_sheet(frames, tags=tags, durations_ms=durations[: len(frames)],
                       names=[f"knight_{i:02}" for i in range(len(frames))], pivot=(0.5, 1.0), options=options)


def _chunks(data: bytes) -> list[list[tuple[int, bytes]]]:
    """Walk the file by the spec alone: header, then per frame (16-byte header, 0xF1FA) its chunks (size, type)."""
    frames = struct.unpack_from("<H", data, 6)[0]
    pos, out = 128, []
    for _ in range(frames):
        size, magic, old, _duration, new = struct.unpack_from("<IHHH2xI", data, pos)
        assert magic == 0xF1FA
        assert old == min(new, 0xFFFF)
        chunk_pos, chunks = pos + 16, []
        for _ in range(new):
            csize, kind = struct.unpack_from("<IH", data, chunk_pos)
            chunks.append((kind, data[chunk_pos + 6 : chunk_pos + csize]))
            chunk_pos += csize
        assert chunk_pos == pos + size, "a frame's size must be its header plus its chunks"
        out.append(chunks)
        pos += size
    assert pos == len(data)
    return out


def test_header_and_frame_layout_follow_the_spec():
    sheet = _sheet()
    data = aseprite_bytes(sheet, ENDESGA, {"seed": 7, "prompt": "knight", "palette": "endesga-32"}, layer="knight")
    (size, magic, frames, w, h, depth, flags, speed, zero1, zero2, transparent, colors, pw, ph, gx, gy, gw, gh) = (
        struct.unpack_from("<IHHHHHIHIIB3xHBBhhHH", data, 0))
    assert (size, magic, frames, w, h) == (len(data), 0xA5E0, 6, 20, 24)
    assert depth == 8 and transparent == 0 and colors == 1 + len(ENDESGA)  # indexed: transparent entry + palette
    assert flags & 1 and speed == 100 and (zero1, zero2) == (0, 0) and (pw, ph) == (1, 1)
    assert (gx, gy, gw, gh) == (0, 0, 0, 0) and data[44:128] == bytes(84)
    chunks = _chunks(data)
    kinds0 = [k for k, _ in chunks[0]]
    assert kinds0 == [CHUNK_COLOR_PROFILE, CHUNK_OLD_PALETTE, CHUNK_PALETTE, CHUNK_USER_DATA, CHUNK_LAYER,
                      CHUNK_TAGS, CHUNK_SLICE, CHUNK_CEL]
    durations = []
    pos = 128
    for _ in range(frames):
        fsize, _, _, duration, _ = struct.unpack_from("<IHHH2xI", data, pos)
        durations.append(duration)
        pos += fsize
    assert durations == DURATIONS
    # The cel of frame 0: layer 0 at the trimmed position, opacity 255, type 2 (zlib), z 0, then w, h, pixels.
    cel = dict(chunks[0])[CHUNK_CEL]
    layer, x, y, opacity, cel_type, z, cw, ch = struct.unpack_from("<HhhBHh5xHH", cel, 0)
    assert (layer, x, y, opacity, cel_type, z, cw, ch) == (0, 2, 3, 255, 2, 0, 7, 10)
    indices = np.frombuffer(zlib.decompress(cel[20:]), np.uint8).reshape(ch, cw)
    assert set(np.unique(indices)) <= set(range(1 + len(ENDESGA)))
    # The layer chunk: visible + editable, normal image layer, named for what it holds.
    lflags, ltype, level, _, _, blend, lopacity = struct.unpack_from("<HHHHHHB3x", dict(chunks[0])[CHUNK_LAYER])
    assert (lflags, ltype, level, blend, lopacity) == (3, 0, 0, 0, 255)
    assert dict(chunks[0])[CHUNK_LAYER][16:] == struct.pack("<H", 6) + b"knight"
    # The palette chunk: every entry, index 0 the clear one, then Endesga 32 in order.
    pal = dict(chunks[0])[CHUNK_PALETTE]
    count, first, last = struct.unpack_from("<III", pal, 0)
    assert (count, first, last) == (33, 0, 32)
    entries = [struct.unpack_from("<HBBBB", pal, 20 + 6 * i) for i in range(count)]
    assert entries[0] == (0, 0, 0, 0, 0) and [e[1:4] for e in entries[1:]] == ENDESGA
    # The old palette (0x0004) repeats the colours for readers older than 0x2019.
    old = dict(chunks[0])[CHUNK_OLD_PALETTE]
    assert struct.unpack_from("<HBB", old, 0) == (1, 0, 33) and old[4 + 3:4 + 6] == bytes(ENDESGA[0])
    # Tags: direction codes 0-3 in the spec's order, repeat as a WORD.
    tags = dict(chunks[0])[CHUNK_TAGS]
    assert struct.unpack_from("<H", tags, 0) == (4,)
    # The fully clear last frame has no cel; the rest have exactly one.
    assert [sum(k == CHUNK_CEL for k, _ in c) for c in chunks] == [1, 1, 1, 1, 1, 0]


def test_round_trip_keeps_pixels_tags_durations_palette_and_metadata():
    sheet = _sheet()
    meta = {"seed": 1234, "prompt": "a knight, héros 龍", "palette": "endesga-32"}
    doc = read_aseprite(aseprite_bytes(sheet, ENDESGA, meta, layer="knight"))
    assert doc.color_depth == 8 and doc.transparent_index == 0
    assert [f.tobytes() for f in doc.source_frames()] == [extract_frame(sheet, i).tobytes() for i in range(6)]
    assert list(doc.durations_ms) == DURATIONS
    assert list(doc.tags) == TAGS
    assert [tuple(c[:3]) for c in doc.palette_colors()] == ENDESGA and (doc.palette_colors()[:, 3] == 255).all()
    assert doc.metadata == meta and doc.layers == ("knight",)
    assert doc.frame_names() == [f.name for f in sheet.frames]
    assert list(doc.pivots) == [f.pivot_px for f in sheet.frames]
    cel = doc.cels[1][0]
    assert (cel.x, cel.y, cel.w, cel.h) == (3, 4, 7, 10)
    again = doc.to_sheet(sheet.options)
    assert [extract_frame(again, i).tobytes() for i in range(6)] == [extract_frame(sheet, i).tobytes() for i in range(6)]
    assert again.tags == sheet.tags and [f.duration_ms for f in again.frames] == DURATIONS
    assert [f.pivot_px for f in again.frames] == [f.pivot_px for f in sheet.frames]


def test_many_colours_fall_back_to_rgba_and_keep_partial_alpha():
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (20, 20, 4), dtype=np.uint8) for _ in range(2)]
    frames[0][:, :, 3] = 255
    sheet = _sheet(frames, tags=[AnimationTag("noise", 0, 1)], durations=[40, 60])
    data = aseprite_bytes(sheet)
    assert struct.unpack_from("<H", data, 12) == (32,)
    doc = read_aseprite(data)
    assert doc.color_depth == 32
    assert [f.tobytes() for f in doc.source_frames()] == [extract_frame(sheet, i).tobytes() for i in range(2)]


def test_colours_beyond_the_palette_are_added_and_duplicates_become_linked_cels():
    frames = _frames(4, colors=[(1, 2, 3), (250, 0, 0)])
    frames[2] = frames[1].copy()
    frames[1][0, 0] = (9, 9, 9, 128)  # a half-transparent colour: an indexed entry with its own alpha
    frames[2][0, 0] = (9, 9, 9, 128)
    sheet = _sheet(frames, tags=[], durations=[100] * 4)
    doc = read_aseprite(aseprite_bytes(sheet, [(250, 0, 0)]))
    assert doc.color_depth == 8
    assert tuple(doc.palette[1]) == (250, 0, 0, 255) and (9, 9, 9, 128) in map(tuple, doc.palette)
    assert doc.cels[2][0].link == 1
    assert [f.tobytes() for f in doc.source_frames()] == [extract_frame(sheet, i).tobytes() for i in range(4)]


def test_frames_of_different_sizes_keep_their_sizes():
    frames = [np.zeros((16, 12, 4), np.uint8), np.zeros((30, 20, 4), np.uint8)]
    frames[0][2:5, 2:5] = (10, 200, 10, 255)
    frames[1][20:29, 3:18] = (200, 10, 10, 255)
    sheet = _sheet(frames, tags=[AnimationTag("hit", 0, 1)], durations=[50, 70])
    doc = read_aseprite(aseprite_bytes(sheet))
    assert (doc.width, doc.height) == (20, 30)
    assert [f.shape for f in doc.source_frames()] == [(16, 12, 4), (30, 20, 4)]
    assert [f.tobytes() for f in doc.source_frames()] == [extract_frame(sheet, i).tobytes() for i in range(2)]


@pytest.mark.parametrize(
    "durations, message",
    [([70000, 1, 1, 1, 1, 1], "durations"), ([1] * 6, None)],
)
def test_writer_refuses_what_aseprite_cannot_hold(durations, message):
    sheet = _sheet(durations=durations)
    if message is None:
        aseprite_bytes(sheet)
        return
    with pytest.raises(ValueError, match=message):
        aseprite_bytes(sheet)
    with pytest.raises(ValueError, match="layer"):
        aseprite_bytes(_sheet(), layer=" ")
    with pytest.raises(ValueError, match="palette"):
        aseprite_bytes(_sheet(), [(1, 2)])
    with pytest.raises(ValueError, match="257 colours"):
        aseprite_bytes(_sheet(), [(i % 256, i // 256, 0) for i in range(257)])


def test_reader_refuses_broken_files():
    data = aseprite_bytes(_sheet())
    with pytest.raises(ValueError, match="not an Aseprite file"):
        read_aseprite(data[:4] + b"PK" + data[6:])
    with pytest.raises(ValueError, match="cut short|damaged|overruns"):
        read_aseprite(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut short"):
        read_aseprite(data[:60])
    # A cel that claims far more pixels than its zlib stream holds (or inflates past its size) is refused.
    bomb = bytearray(data)
    first_cel = data.index(struct.pack("<HhhBHh5x", 0, 2, 3, 255, 2, 0))
    struct.pack_into("<HH", bomb, first_cel + 16, 7, 11)
    with pytest.raises(ValueError, match="expected"):
        read_aseprite(bytes(bomb))


# --- the independent reader --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ase_check() -> list[str]:
    """The command that runs ase-parser on a file; skipped where ``npm ci`` has not run in tests/tools/ase-check,
    unless $DGX_PIXELS_REQUIRE_ASE_CHECK is set (CI sets it, so there the check must run)."""
    required = bool(os.environ.get("DGX_PIXELS_REQUIRE_ASE_CHECK"))
    node = shutil.which("node")
    if node is None or not (ASE_CHECK / "node_modules" / "ase-parser").is_dir():
        reason = ("the independent .aseprite check needs node and `npm ci` in tests/tools/ase-check "
                  "(installs ase-parser from package-lock.json)")
        if required:
            pytest.fail(reason)
        pytest.skip(reason)
    return [node, str(ASE_CHECK / "check.js")]


def _independent(command: list[str], path: Path) -> dict:
    done = subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _canvas(sheet, index: int, width: int, height: int) -> bytes:
    frame = extract_frame(sheet, index)
    canvas = np.zeros((height, width, 4), np.uint8)
    canvas[: frame.shape[0], : frame.shape[1]] = frame
    return canvas.tobytes()


@pytest.mark.parametrize("mode", ["indexed", "rgba", "sizes"])
def test_independent_reader_sees_what_we_wrote(ase_check, tmp_path, mode):
    if mode == "indexed":
        sheet, palette = _sheet(), ENDESGA
    elif mode == "rgba":
        rng = np.random.default_rng(5)
        frames = [rng.integers(0, 256, (18, 22, 4), dtype=np.uint8) for _ in range(3)]
        sheet, palette = _sheet(frames, tags=[AnimationTag("noise", 0, 2, "pingpong", 4)]), None
    else:
        frames = [np.zeros((16, 12, 4), np.uint8), np.zeros((30, 20, 4), np.uint8), np.zeros((30, 20, 4), np.uint8)]
        frames[0][2:5, 2:5] = (10, 200, 10, 255)
        frames[1][20:29, 3:18] = (200, 10, 10, 255)
        frames[2] = frames[1].copy()
        sheet, palette = _sheet(frames, tags=[AnimationTag("hit", 0, 2, "reverse", 2)]), [(200, 10, 10)]
    path = tmp_path / "sprite.aseprite"
    path.write_bytes(aseprite_bytes(sheet, palette, {"seed": 1, "prompt": "p", "palette": "x"}, layer="knight"))
    seen = _independent(ase_check, path)
    ours = read_aseprite(path.read_bytes())
    n = len(sheet.frames)
    assert seen["fileSize"] == seen["actualSize"] == path.stat().st_size
    assert (seen["numFrames"], seen["width"], seen["height"]) == (n, ours.width, ours.height)
    assert seen["colorDepth"] == (8 if mode != "rgba" else 32) and seen["pixelRatio"] == "1:1"
    assert seen["colorProfile"]["type"] == "sRGB"
    assert [f["duration"] for f in seen["frames"]] == [f.duration_ms for f in sheet.frames]
    assert seen["tags"] == [{"name": t.name, "from": t.start, "to": t.end, "direction": t.direction,
                             "repeat": t.repeat} for t in sheet.tags]
    assert [(layer["name"], layer["type"], layer["visible"], layer["opacity"]) for layer in seen["layers"]] == [
        ("knight", 0, True, 255)]
    assert seen["palette"] == ours.palette.tolist() and seen["numColors"] == len(ours.palette)
    if mode != "rgba":
        assert seen["transparentIndex"] == 0 and seen["palette"][0] == [0, 0, 0, 0]
        assert [tuple(c[:3]) for c in seen["palette"][1 : 1 + len(palette)]] == [tuple(c) for c in palette]
    for index, frame in enumerate(seen["frames"]):
        assert [(c["x"], c["y"], c["w"], c["h"], c["link"]) for c in frame["cels"]] == [
            (c.x, c.y, c.w, c.h, c.link) for c in ours.cels[index]]
        assert base64.b64decode(frame["rgba"]) == _canvas(sheet, index, ours.width, ours.height), f"frame {index}"
    pivots = seen["slices"][0]
    assert pivots["name"] == "pivot" and [k["pivot"] for k in pivots["keys"]] == [list(f.pivot_px) for f in sheet.frames]
    if mode == "sizes":
        assert seen["frames"][2]["cels"][0]["link"] == 1
