"""Comparison grids: a batch of results laid out in rows and columns, enlarged by a whole factor (nearest) and
labelled in a 5×7 pixel font drawn here, so every cell keeps its exact pixels.

Geometry (all in output pixels; ``s`` = cell scale, ``t`` = label scale, ``g`` = gap)::

    label height  TH = 7·t + 2·g   when there are column labels, else 0
    label width   LW = widest row label + 2·g   when there are row labels, else 0
    cell (r, c)   top-left (x, y) = (LW + g + c·(W·s + g), TH + g + r·(H·s + g))
    whole grid    (LW + g + cols·(W·s + g)) × (TH + g + rows·(H·s + g))

Column labels are centred over their column (cut to the cell width), row labels sit at x = g, centred on their row.
Text is 1.0 on every channel; the background and gaps are ``background`` (alpha 1 where there is alpha).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GLYPH_W, GLYPH_H = 5, 7
ADVANCE = GLYPH_W + 1  # one column of space after each glyph
MAX_CELLS = 256
MAX_SCALE = 32

# Each glyph is 7 rows of 5 columns, '#' lit. Lowercase letters draw as capitals; unknown characters as '?'.
GLYPHS: dict[str, tuple[str, ...]] = {
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "J": ("..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "Q": (".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "V": ("#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
    "Z": ("#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"),
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    " ": (".....", ".....", ".....", ".....", ".....", ".....", "....."),
    ".": (".....", ".....", ".....", ".....", ".....", ".##..", ".##.."),
    ",": (".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."),
    ":": (".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."),
    "-": (".....", ".....", ".....", "#####", ".....", ".....", "....."),
    "_": (".....", ".....", ".....", ".....", ".....", ".....", "#####"),
    "+": (".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."),
    "=": (".....", ".....", "#####", ".....", "#####", ".....", "....."),
    "/": (".....", "....#", "...#.", "..#..", ".#...", "#....", "....."),
    "(": ("...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."),
    ")": (".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."),
    "#": (".#.#.", ".#.#.", "#####", ".#.#.", "#####", ".#.#.", ".#.#."),
    "%": ("##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"),
    "?": (".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."),
    "!": ("..#..", "..#..", "..#..", "..#..", "..#..", ".....", "..#.."),
}


def glyph_bitmap(char: str) -> np.ndarray:
    """Return the 7×5 bool bitmap of ``char`` (lowercase as capitals, anything unknown as '?')."""
    rows = GLYPHS.get(char.upper(), GLYPHS["?"])
    return np.array([[cell == "#" for cell in row] for row in rows], dtype=bool)


def text_width_px(text: str, label_scale: int = 1) -> int:
    """Return the width of ``text`` in pixels (no trailing space); 0 for empty text."""
    return max(len(text) * ADVANCE - 1, 0) * label_scale


def render_text(text: str, label_scale: int = 1) -> np.ndarray:
    """Return ``text`` as a (7·t)×(width) bool mask, each font pixel a t×t block (t = ``label_scale``)."""
    if label_scale < 1:
        raise ValueError(f"label_scale must be a positive integer, got {label_scale!r}")
    mask = np.zeros((GLYPH_H, max(len(text) * ADVANCE - 1, 0)), dtype=bool)
    for index, char in enumerate(text):
        mask[:, index * ADVANCE:index * ADVANCE + GLYPH_W] = glyph_bitmap(char)
    return mask.repeat(label_scale, axis=0).repeat(label_scale, axis=1)


def fit_text(text: str, max_px: int, label_scale: int = 1) -> str:
    """Return ``text`` cut to the most characters that fit in ``max_px`` pixels."""
    chars = (max_px // label_scale + 1) // ADVANCE
    return text[:max(chars, 0)]


def parse_labels(text: str) -> list[str]:
    """Return the labels in ``text``: one per line, or comma-separated on a single line; blanks trimmed."""
    text = text.strip()
    if not text:
        return []
    parts = text.splitlines() if "\n" in text else text.split(",")
    return [part.strip() for part in parts]


@dataclass(frozen=True)
class GridLayout:
    """Where everything goes: the grid's size and the top-left corner of each cell, in output pixels."""

    rows: int
    columns: int
    cell_h: int
    cell_w: int
    height: int
    width: int
    label_w: int
    label_h: int
    gap_px: int

    def cell_origin(self, index: int) -> tuple[int, int]:
        """Return (y, x) of cell ``index`` (row-major)."""
        row, column = divmod(index, self.columns)
        return (self.label_h + self.gap_px + row * (self.cell_h + self.gap_px),
                self.label_w + self.gap_px + column * (self.cell_w + self.gap_px))


def plan_grid(count: int, image_h: int, image_w: int, *, columns: int = 0, scale: int = 1, gap_px: int = 2,
              row_labels: list[str] = (), column_labels: list[str] = (), label_scale: int = 1) -> GridLayout:
    """Return the layout of ``count`` images of image_h×image_w in a grid.

    ``columns`` 0 means one column per column label, or all in one row without labels. Raises ValueError for
    counts, scales or label lists that do not fit (more labels than rows/columns).
    """
    if not 1 <= count <= MAX_CELLS:
        raise ValueError(f"a comparison grid holds 1 to {MAX_CELLS} images, got {count}")
    for label, value, top in (("scale", scale, MAX_SCALE), ("label_scale", label_scale, 8), ("gap_px", gap_px, 64)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not \
                (0 if label == "gap_px" else 1) <= value <= top:
            raise ValueError(f"{label} must be a whole number in {0 if label == 'gap_px' else 1}..{top}, "
                             f"got {value!r}")
    if columns < 0:
        raise ValueError(f"columns must be 0 (automatic) or more, got {columns}")
    columns = columns or len(column_labels) or count
    columns = min(columns, count)
    rows = -(-count // columns)
    if len(column_labels) > columns:
        raise ValueError(f"{len(column_labels)} column labels for {columns} columns; give at most one per column")
    if len(row_labels) > rows:
        raise ValueError(f"{len(row_labels)} row labels for {rows} rows ({count} images in {columns} columns); "
                         "give at most one per row")
    cell_h, cell_w = image_h * scale, image_w * scale
    label_h = GLYPH_H * label_scale + 2 * gap_px if any(column_labels) else 0
    widest = max((text_width_px(text, label_scale) for text in row_labels), default=0)
    label_w = widest + 2 * gap_px if widest else 0
    return GridLayout(rows=rows, columns=columns, cell_h=cell_h, cell_w=cell_w,
                      height=label_h + gap_px + rows * (cell_h + gap_px),
                      width=label_w + gap_px + columns * (cell_w + gap_px),
                      label_w=label_w, label_h=label_h, gap_px=gap_px)


def _stamp(canvas: np.ndarray, mask: np.ndarray, y: int, x: int) -> None:
    h = min(mask.shape[0], canvas.shape[0] - y)
    w = min(mask.shape[1], canvas.shape[1] - x)
    if h > 0 and w > 0:
        region = canvas[y:y + h, x:x + w]
        region[mask[:h, :w]] = 1.0


def compare_grid(images: np.ndarray, *, columns: int = 0, scale: int = 1, gap_px: int = 2,
                 row_labels: list[str] = (), column_labels: list[str] = (), label_scale: int = 1,
                 background: float = 0.0) -> tuple[np.ndarray, GridLayout]:
    """Return (grid image H×W×C, its layout) of ``images`` ([B,H,W,C] floats, 1 to 4 channels) in row-major
    order, each enlarged ``scale`` times by repeating pixels, with labels drawn in the pixel font.

    Raises ValueError for an empty or non-4-D batch and whatever ``plan_grid`` refuses.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] == 0 or images.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"images must be a [B,H,W,C] batch with B ≥ 1 and C in 1..4, got shape {images.shape}")
    if not 0.0 <= background <= 1.0:
        raise ValueError(f"background must be a grey level in 0..1, got {background}")
    count, image_h, image_w, channels = images.shape
    layout = plan_grid(count, image_h, image_w, columns=columns, scale=scale, gap_px=gap_px,
                       row_labels=list(row_labels), column_labels=list(column_labels), label_scale=label_scale)
    canvas = np.full((layout.height, layout.width, channels), background, dtype=images.dtype)
    if channels in (2, 4):
        canvas[..., -1] = 1.0
    for index in range(count):
        y, x = layout.cell_origin(index)
        canvas[y:y + layout.cell_h, x:x + layout.cell_w] = images[index].repeat(scale, 0).repeat(scale, 1)
    text_layer = np.zeros(canvas.shape[:2], dtype=bool)
    for column, text in enumerate(column_labels):
        text = fit_text(text, layout.cell_w, label_scale)
        _, x = layout.cell_origin(column)
        _stamp(text_layer, render_text(text, label_scale),
               gap_px, x + (layout.cell_w - text_width_px(text, label_scale)) // 2)
    for row, text in enumerate(row_labels):
        y, _ = layout.cell_origin(row * layout.columns)
        _stamp(text_layer, render_text(text, label_scale),
               y + max((layout.cell_h - GLYPH_H * label_scale) // 2, 0), gap_px)
    canvas[text_layer] = 1.0
    return canvas, layout
