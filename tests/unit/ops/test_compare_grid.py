"""The comparison grid: exact cell positions, nearest integer scaling, the pixel font and its labels."""

from __future__ import annotations

import numpy as np
import pytest

from dgx_pixels.ops.compare_grid import (
    ADVANCE,
    GLYPH_H,
    GLYPH_W,
    GLYPHS,
    compare_grid,
    fit_text,
    glyph_bitmap,
    parse_labels,
    plan_grid,
    render_text,
    text_width_px,
)


def batch(count: int, h: int = 3, w: int = 2, c: int = 3) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.random((count, h, w, c)).astype(np.float32) * 0.5  # below 1.0: never mistaken for text


def test_every_glyph_is_seven_rows_of_five_and_covers_letters_digits():
    for char, rows in GLYPHS.items():
        assert len(rows) == GLYPH_H and all(len(row) == GLYPH_W and set(row) <= {"#", "."} for row in rows), char
    for char in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:":
        assert char in GLYPHS
    assert len({rows for char, rows in GLYPHS.items() if char != " "}) == len(GLYPHS) - 1, "two glyphs look alike"


def test_lowercase_draws_as_capitals_and_unknown_as_question_mark():
    assert (glyph_bitmap("k") == glyph_bitmap("K")).all()
    assert (glyph_bitmap("§") == glyph_bitmap("?")).all()


def test_render_text_places_glyphs_with_one_column_gap_and_scales_by_blocks():
    mask = render_text("I1")
    assert mask.shape == (GLYPH_H, 2 * ADVANCE - 1) == (7, 11)
    assert (mask[:, :5] == glyph_bitmap("I")).all() and not mask[:, 5].any() and (mask[:, 6:] == glyph_bitmap("1")).all()
    big = render_text("I1", 3)
    assert big.shape == (21, 33) and (big[::3, ::3] == mask).all()
    assert text_width_px("", 2) == 0 and render_text("").shape == (7, 0)


def test_fit_text_and_parse_labels():
    assert fit_text("ABCDEFG", 17) == "ABC"  # 3 glyphs = 17 px
    assert fit_text("ABCDEFG", 16) == "AB"
    assert parse_labels("a.safetensors, b ,c") == ["a.safetensors", "b", "c"]
    assert parse_labels("lora a\nlora b") == ["lora a", "lora b"]
    assert parse_labels("  ") == []


def test_layout_formula_and_cell_origins():
    layout = plan_grid(6, 3, 2, columns=3, scale=4, gap_px=2, row_labels=["A", "BB"], column_labels=["0", "1", "2"])
    assert (layout.rows, layout.columns, layout.cell_h, layout.cell_w) == (2, 3, 12, 8)
    assert layout.label_h == 7 + 4 and layout.label_w == 11 + 4
    assert layout.cell_origin(0) == (13, 17)
    assert layout.cell_origin(4) == (13 + 14, 17 + 10)
    assert (layout.height, layout.width) == (11 + 2 + 2 * 14, 15 + 2 + 3 * 10)


def test_cells_are_exact_nearest_enlargements_and_gaps_are_background():
    images = batch(5)
    grid, layout = compare_grid(images, columns=3, scale=3, gap_px=1)
    assert grid.shape == (layout.height, layout.width, 3) == (1 + 2 * 10, 1 + 3 * 7, 3)
    covered = np.zeros(grid.shape[:2], bool)
    for index in range(5):
        y, x = layout.cell_origin(index)
        cell = grid[y:y + 9, x:x + 6]
        assert (cell == images[index].repeat(3, 0).repeat(3, 1)).all()
        covered[y:y + 9, x:x + 6] = True
    assert (grid[~covered] == 0.0).all(), "the gaps and the empty sixth cell must be background"


def test_labels_are_drawn_where_the_layout_says():
    images = batch(4, h=10, w=10)
    grid, layout = compare_grid(images, columns=2, scale=2, gap_px=2, row_labels=["A", "B"], column_labels=["0", "1"])
    y, x = layout.cell_origin(1)
    text_x = x + (layout.cell_w - text_width_px("1")) // 2
    assert (grid[2:9, text_x:text_x + 5, 0] == render_text("1")).all()
    y, _ = layout.cell_origin(2)
    text_y = y + (layout.cell_h - 7) // 2
    assert (grid[text_y:text_y + 7, 2:7, 1] == render_text("B")).all()
    assert (grid[grid[..., 0] == 1.0] == 1.0).all(), "text is white on every channel"


def test_alpha_background_is_opaque():
    grid, _ = compare_grid(batch(2, c=4), gap_px=3)
    assert (grid[0, 0] == [0, 0, 0, 1]).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(scale=0), "scale"), (dict(scale=2.5), "scale"), (dict(gap_px=-1), "gap_px"),
    (dict(columns=-1), "columns"), (dict(column_labels=["a", "b", "c"], columns=2), "column labels"),
    (dict(row_labels=["a", "b", "c"], columns=2), "row labels"),
])
def test_bad_options_are_refused_with_their_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare_grid(batch(4), **kwargs)


def test_bad_batches_are_refused():
    with pytest.raises(ValueError, match="batch"):
        compare_grid(np.zeros((0, 4, 4, 3)))
    with pytest.raises(ValueError, match="batch"):
        compare_grid(np.zeros((4, 4, 3)))
