"""Packing ops: MaxRects and grid placements, trimming, merging, extrusion, round trip, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dgx_pixels.ops.packing import occupancy, pack_grid, pack_maxrects
from dgx_pixels.ops.sheet import (
    AnimationTag,
    SheetOptions,
    build_sheet,
    combine_sheets,
    extract_frame,
    frames_to_rgba,
    parse_tag,
    trim_bounds,
)


def _assert_no_overlap(sizes, result, padding=0):
    boxes = []
    for (w, h), p in zip(sizes, result.placements):
        pw, ph = result.page_sizes[p.page]
        assert 0 <= p.x and 0 <= p.y and p.x + w <= pw and p.y + h <= ph
        for page, x, y, w2, h2 in boxes:
            if page == p.page:
                apart = p.x >= x + w2 + padding or x >= p.x + w + padding or p.y >= y + h2 + padding or y >= p.y + h + padding
                assert apart, f"{p} overlaps {(x, y, w2, h2)}"
        boxes.append((p.page, p.x, p.y, w, h))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 24), st.integers(1, 24)), min_size=1, max_size=16),
    st.integers(0, 2),
    st.booleans(),
)
def test_maxrects_places_every_rect_without_overlap(sizes, padding, pow2):
    result = pack_maxrects(sizes, padding=padding, power_of_two=pow2)
    assert len(result.placements) == len(sizes)
    _assert_no_overlap(sizes, result, padding)
    if pow2:
        for w, h in result.page_sizes:
            assert w & (w - 1) == 0 and h & (h - 1) == 0


def test_maxrects_is_deterministic_and_dense_on_equal_frames():
    sizes = [(16, 24)] * 16
    a, b = pack_maxrects(sizes), pack_maxrects(sizes)
    assert a == b
    assert occupancy(sizes, a) == 1.0


def test_maxrects_occupancy_on_mixed_sprites():
    rng = np.random.default_rng(3)
    sizes = [tuple(int(v) for v in rng.integers(8, 33, 2)) for _ in range(80)]
    assert occupancy(sizes, pack_maxrects(sizes)) > 0.85


def test_multipack_opens_pages_past_max_size():
    sizes = [(30, 30)] * 10
    result = pack_maxrects(sizes, max_size=64)
    assert len(result.page_sizes) >= 3
    assert all(w <= 64 and h <= 64 for w, h in result.page_sizes)
    _assert_no_overlap(sizes, result)
    with pytest.raises(ValueError, match="do not fit"):
        pack_maxrects(sizes, max_size=64, multipack=False)


@pytest.mark.parametrize(
    ("sizes", "match"),
    [([], "empty"), ([(0, 3)], "width and height"), ([(5000, 4)], "larger than the maximum atlas size")],
)
def test_maxrects_bad_input(sizes, match):
    with pytest.raises(ValueError, match=match):
        pack_maxrects(sizes)


def test_grid_matches_bevy_from_grid_and_refuses_small_grids():
    (w, h), cells, cols, rows = pack_grid(5, 10, 8, columns=3, padding=2)
    assert (cols, rows) == (3, 2) and (w, h) == (34, 18)
    assert [(c.x, c.y) for c in cells] == [(0, 0), (12, 0), (24, 0), (0, 10), (12, 10)]
    with pytest.raises(ValueError, match="holds 4 frames but there are 5"):
        pack_grid(5, 8, 8, columns=2, rows=2)
    with pytest.raises(ValueError, match="empty"):
        pack_grid(0, 8, 8)


def _sprite_frames(rng, count=6, size=(20, 24)):
    frames = []
    for _ in range(count):
        h, w = size
        f = np.zeros((h, w, 4), np.uint8)
        y0, x0 = rng.integers(0, h // 3), rng.integers(0, w // 3)
        f[y0 : y0 + h // 2, x0 : x0 + w // 2] = rng.integers(0, 256, (h // 2, w // 2, 4))
        f[..., 3] = np.where(f[..., 3] > 60, f[..., 3], 0)
        frames.append(f)
    return frames


@pytest.mark.parametrize("layout", ["pack", "grid"])
@pytest.mark.parametrize("extrude", [0, 2])
def test_round_trip_restores_every_frame(layout, extrude):
    rng = np.random.default_rng(7)
    frames = _sprite_frames(rng)
    frames.append(frames[1].copy())
    sheet = build_sheet(frames, options=SheetOptions(layout=layout, padding=1, extrude=extrude))
    canon = frames_to_rgba(frames)
    for i in range(len(frames)):
        assert np.array_equal(extract_frame(sheet, i), canon[i])
    assert sheet.frames[-1].texture == sheet.frames[1].texture
    assert len(sheet.textures) == len(frames) - 1


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), st.integers(1, 20), st.integers(0, 2**32 - 1)), min_size=1, max_size=12))
def test_round_trip_property_frames_of_any_size(specs):
    frames = []
    for w, h, seed in specs:
        rng = np.random.default_rng(seed)
        f = rng.random((h, w, 4)).astype(np.float32)
        f[..., 3] = (f[..., 3] > 0.5).astype(np.float32)
        frames.append(f)
    sheet = build_sheet(frames, options=SheetOptions(extrude=1, padding=1))
    canon = frames_to_rgba(frames)
    for i, want in enumerate(canon):
        assert np.array_equal(extract_frame(sheet, i), want)


def test_extrusion_prevents_bleeding():
    # Two solid frames of different colours: every pixel within `extrude` of a frame's rect has its colour.
    red = np.zeros((8, 8, 4), np.uint8)
    red[...] = (255, 0, 0, 255)
    blue = np.zeros((8, 8, 4), np.uint8)
    blue[...] = (0, 0, 255, 255)
    sheet = build_sheet([red, blue], options=SheetOptions(extrude=2, padding=0))
    page = sheet.pages[0]
    for frame, colour in zip(sheet.frames, ((255, 0, 0, 255), (0, 0, 255, 255))):
        r = sheet.textures[frame.texture]
        ring = page[r.y - 2 : r.y + r.h + 2, r.x - 2 : r.x + r.w + 2]
        assert ring.shape[:2] == (r.h + 4, r.w + 4)
        assert (ring == colour).all()


def test_trim_records_offsets_and_pivot_anchor():
    f = np.zeros((32, 32, 4), np.uint8)
    f[10:30, 8:24] = 255
    assert trim_bounds(f) == (8, 10, 16, 20)
    sheet = build_sheet([f], pivot=(0.5, 1.0))
    frame = sheet.frames[0]
    assert (frame.trim_x, frame.trim_y, frame.source_w, frame.source_h) == (8, 10, 32, 32)
    assert frame.pivot_px == (16, 32)
    # pivot (16, 32) in the source is (8, 22) in the 16x20 trimmed rect: x centre, 2 px below the bottom.
    assert sheet.anchor(0) == (0.0, -0.6)


def test_phantom_pixels_do_not_block_merging():
    a = np.zeros((4, 4, 4), np.uint8)
    a[1:3, 1:3] = 200
    b = a.copy()
    b[0, 0] = (9, 9, 9, 0)  # invisible junk colour
    sheet = build_sheet([a, b])
    assert len(sheet.textures) == 1
    sheet2 = build_sheet([a, b], options=SheetOptions(merge_duplicates=False))
    assert len(sheet2.textures) == 2


def test_mask_is_alpha_and_rgb_frames_get_opaque_alpha():
    img = np.ones((2, 4, 4, 3), np.float32) * 0.5
    mask = np.zeros((2, 4, 4), np.float32)
    mask[:, 1:3, 1:3] = 1.0
    sheet = build_sheet(img, mask)
    assert sheet.textures[0].w == 2 and len(sheet.textures) == 1
    opaque = build_sheet(img, options=SheetOptions(trim=True))
    assert opaque.textures[0].w == 4


def test_combine_keeps_tags_shifted_and_frames():
    rng = np.random.default_rng(1)
    idle = build_sheet(_sprite_frames(rng, 2), tags=[AnimationTag("idle", 0, 1)], names=["idle_0", "idle_1"])
    walk = build_sheet(_sprite_frames(rng, 3), tags=[AnimationTag("walk", 0, 2, "pingpong", 3)], durations_ms=80)
    both = combine_sheets([idle, walk])
    assert [(t.name, t.start, t.end) for t in both.tags] == [("idle", 0, 1), ("walk", 2, 4)]
    assert [f.duration_ms for f in both.frames] == [100, 100, 80, 80, 80]
    for i, src in enumerate(idle.sources + walk.sources):
        assert np.array_equal(extract_frame(both, i), src)
    with pytest.raises(ValueError, match="both have an animation named 'idle'"):
        combine_sheets([idle, idle])


def test_deterministic_sheet():
    rng = np.random.default_rng(5)
    frames = _sprite_frames(rng, 8)
    a = build_sheet(frames, options=SheetOptions(extrude=1))
    b = build_sheet([f.copy() for f in frames], options=SheetOptions(extrude=1))
    assert a.textures == b.textures and np.array_equal(a.pages[0], b.pages[0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"frames": np.zeros((0, 8, 8, 3))}, "empty"),
        ({"tags": [AnimationTag("walk", 2, 9)]}, "'walk' covers frames 2-9 but there are 3 frames"),
        ({"tags": [AnimationTag("a", 0, 1), AnimationTag("a", 1, 2)]}, "defined twice"),
        ({"tags": [AnimationTag("a", 0, 1, "sideways")]}, "direction"),
        ({"durations_ms": [100, 100]}, "2 durations for 3 frames"),
        ({"options": SheetOptions(max_size=4)}, "larger than the maximum atlas size 4"),
        ({"frames": [np.zeros((8, 8, 4)), np.zeros((9, 8, 4))], "options": SheetOptions(layout="grid")},
         "different sizes"),
        ({"options": SheetOptions(layout="grid", columns=1, rows=1, merge_duplicates=False)}, "holds 1 frames but there are 3"),
        ({"options": SheetOptions(layout="spiral")}, "layout"),
        ({"mask": np.ones((2, 8, 8))}, "2 masks for 3 frames"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, match):
    args = {"frames": np.ones((3, 8, 8, 4), np.float32)}
    args.update(kwargs)
    frames = args.pop("frames")
    mask = args.pop("mask", None)
    with pytest.raises(ValueError, match=match):
        build_sheet(frames, mask, **args)


def test_parse_tag():
    assert parse_tag("walk:0-7:pingpong:2") == AnimationTag("walk", 0, 7, "pingpong", 2)
    assert parse_tag("idle:3-3") == AnimationTag("idle", 3, 3)
    with pytest.raises(ValueError, match="NAME:FROM-TO"):
        parse_tag("walk")


def test_skyline_path_for_large_sets_is_dense_deterministic_and_paged():
    rng = np.random.default_rng(11)
    sizes = [tuple(int(v) for v in rng.integers(8, 40, 2)) for _ in range(400)]
    result = pack_maxrects(sizes, padding=1)
    assert result.method.startswith("skyline") and result == pack_maxrects(sizes, padding=1)
    _assert_no_overlap(sizes, result, padding=1)
    assert occupancy(sizes, pack_maxrects(sizes)) > 0.93
    paged = pack_maxrects(sizes, max_size=160, power_of_two=True)
    assert len(paged.page_sizes) > 1 and len(paged.placements) == len(sizes)
    assert all(w <= 160 and h <= 160 and w & (w - 1) == 0 and h & (h - 1) == 0 for w, h in paged.page_sizes)
    _assert_no_overlap(sizes, paged)


def test_column_layouts_are_transposed_back_without_overlap():
    rng = np.random.default_rng(0)
    sizes = [tuple(int(v) for v in rng.integers(8, 40, 2)) for _ in range(60)]
    result = pack_maxrects(sizes, padding=1)
    assert result.method.endswith("-columns"), "this set packs best in columns; pick another seed if that changed"
    _assert_no_overlap(sizes, result, padding=1)
    assert result == pack_maxrects(sizes, padding=1)


def test_a_one_column_strip_is_not_chosen_when_a_sheet_fits():
    # A 12 px wide column would hold these frames with the least waste, but it is no sprite sheet (and Bevy export refuses
    # sides under 16 px): a page longer than 4:1 is taken only when nothing else fits.
    sizes = [(12, 38), (11, 14)]  # stacked: 12x52 holds them with less area than any other page
    (width, height), = pack_maxrects(sizes).page_sizes
    assert max(width, height) <= 4 * min(width, height), (width, height)
    (width, height), = pack_maxrects([(100, 10)]).page_sizes
    assert (width, height) == (100, 10), "one long frame still gets its own long page"


def test_pages_batch_pads_smaller_pages_with_transparency():
    frames = np.zeros((3, 40, 40, 4), np.uint8)
    frames[:2] = (200, 10, 10, 255)
    frames[2, :16, :16] = (10, 200, 10, 255)  # trimmed to 16x16: the last page is smaller
    sheet = build_sheet(frames, options=SheetOptions(layout="pack", max_size=48, trim=True, merge_duplicates=False))
    sizes = [page.shape[:2] for page in sheet.pages]
    assert len(sizes) == 3 and sizes[2] != sizes[0]
    batch = sheet.pages_batch()
    assert batch.shape == (3, 40, 40, 4)
    for page, padded in zip(sheet.pages, batch):
        h, w = page.shape[:2]
        assert np.array_equal(padded[:h, :w], page)
        assert not padded[h:].any() and not padded[:, w:].any(), "padding is transparent black"
