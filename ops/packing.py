"""Rectangle packing for sprite atlases: a uniform grid and MaxRects (best short side fit).

MaxRects follows Jylänki, "A Thousand Ways to Pack the Bin" (2010): the free space is kept as a list of maximal
free rectangles; each rectangle goes where its shorter leftover side is smallest. The bin size is searched (widths
around the square root of the total area, a binary search on the height), several sort orders are tried together
with the "global choice" variant (at each step, the best rectangle of all the remaining ones is placed), and the
smallest bin wins. Rectangles are never rotated: a pixel-art atlas must not turn sprites.

Everything is deterministic: ties are broken by input order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SORT_ORDERS: tuple[str, ...] = ("area", "max_side", "height", "width", "perimeter")
GLOBAL_CHOICE = "global"
# Global choice costs O(n²); above this many rectangles only the sorted orders run.
GLOBAL_CHOICE_MAX_RECTS = 150
_BIG = 1 << 24
_NEVER = 1 << 62


@dataclass(frozen=True)
class Placement:
    """Top-left corner of one packed rectangle on one page."""

    page: int
    x: int
    y: int


@dataclass(frozen=True)
class PackResult:
    """Where each input rectangle went (same order as the input) and the size of every page."""

    page_sizes: tuple[tuple[int, int], ...]
    placements: tuple[Placement, ...]
    method: str

    @property
    def occupancy(self) -> float:
        """Never computed here (the packer does not keep the sizes); see :func:`occupancy`."""
        raise AttributeError("use dgx_pixels.ops.packing.occupancy(sizes, result)")


def occupancy(sizes: Sequence[tuple[int, int]], result: PackResult) -> float:
    """Return the share (0..1) of all page area covered by the rectangles ``sizes``."""
    used = sum(int(w) * int(h) for w, h in sizes)
    total = sum(w * h for w, h in result.page_sizes)
    return used / total if total else 0.0


def _next_pow2(value: int) -> int:
    return 1 << max(0, (int(value) - 1).bit_length())


def _order_indices(sizes: np.ndarray, order: str) -> np.ndarray:
    w, h = sizes[:, 0], sizes[:, 1]
    if order == "area":
        key = (w * h) * _BIG + np.maximum(w, h)
    elif order == "max_side":
        key = np.maximum(w, h) * _BIG + np.minimum(w, h)
    elif order == "height":
        key = h * _BIG + w
    elif order == "width":
        key = w * _BIG + h
    elif order == "perimeter":
        key = (w + h) * _BIG + np.maximum(w, h)
    else:
        raise ValueError(f"unknown sort order {order!r}; expected one of {SORT_ORDERS}")
    # Descending key, ascending input index on ties (lexsort sorts by the last key first).
    return np.lexsort((np.arange(len(sizes)), -key))


class _FreeSpace:
    """Maximal free rectangles of one bin, as an int64 array of rows (x, y, w, h)."""

    def __init__(self, width: int, height: int) -> None:
        self.free = np.array([[0, 0, width, height]], dtype=np.int64)

    def best_for(self, w: int, h: int) -> tuple[int, int, int]:
        """(free index, short leftover, long leftover) of the best fit, index -1 when nothing fits."""
        f = self.free
        dw = f[:, 2] - w
        dh = f[:, 3] - h
        ok = (dw >= 0) & (dh >= 0)
        if not ok.any():
            return -1, _NEVER, _NEVER
        short = np.minimum(dw, dh)
        long = np.maximum(dw, dh)
        score = np.where(ok, short * _BIG + long, _NEVER)
        idx = int(np.argmin(score))
        return idx, int(short[idx]), int(long[idx])

    def best_matrix(self, ws: np.ndarray, hs: np.ndarray) -> tuple[int, int]:
        """(row in ws/hs, free index) of the globally best pair; (-1, -1) when none fits."""
        f = self.free
        dw = f[None, :, 2] - ws[:, None]
        dh = f[None, :, 3] - hs[:, None]
        ok = (dw >= 0) & (dh >= 0)
        if not ok.any():
            return -1, -1
        score = np.where(ok, np.minimum(dw, dh) * _BIG + np.maximum(dw, dh), _NEVER)
        flat = int(np.argmin(score))
        return divmod(flat, f.shape[0])

    def place(self, x: int, y: int, w: int, h: int) -> None:
        f = self.free
        fx, fy, fw, fh = f[:, 0], f[:, 1], f[:, 2], f[:, 3]
        hit = (x < fx + fw) & (x + w > fx) & (y < fy + fh) & (y + h > fy)
        if not hit.any():
            return
        keep = f[~hit]
        hx, hy, hw, hh = (col for col in f[hit].T)
        parts = []
        m = x > hx
        parts.append(np.column_stack((hx[m], hy[m], x - hx[m], hh[m])))
        m = x + w < hx + hw
        parts.append(np.column_stack((np.full(m.sum(), x + w), hy[m], hx[m] + hw[m] - (x + w), hh[m])))
        m = y > hy
        parts.append(np.column_stack((hx[m], hy[m], hw[m], y - hy[m])))
        m = y + h < hy + hh
        parts.append(np.column_stack((hx[m], np.full(m.sum(), y + h), hw[m], hy[m] + hh[m] - (y + h))))
        new = np.concatenate(parts).astype(np.int64)
        if len(new) == 0:
            self.free = keep
            return
        # Only new parts can be redundant: kept rectangles were already maximal and the parts lie inside
        # rectangles that no kept one contained.
        allr = np.concatenate([keep, new])
        nx, ny, nw, nh = (new[:, i][:, None] for i in range(4))
        ax, ay, aw, ah = (allr[:, i][None, :] for i in range(4))
        inside = (nx >= ax) & (ny >= ay) & (nx + nw <= ax + aw) & (ny + nh <= ay + ah)
        k = len(keep)
        own = np.arange(len(new))
        inside[own, k + own] = False
        equal = (nx == ax) & (ny == ay) & (nw == aw) & (nh == ah)
        # Of two equal new parts keep the first one.
        later_equal = equal & (np.arange(len(allr))[None, :] > (k + own)[:, None])
        redundant = (inside & ~later_equal).any(axis=1)
        self.free = np.concatenate([keep, new[~redundant]])


def _pack_one_bin(sizes: np.ndarray, bin_w: int, bin_h: int, method: str, *, partial: bool = False):
    """Positions (n×2, -1 where not placed) or None when ``partial`` is False and something does not fit."""
    n = len(sizes)
    pos = np.full((n, 2), -1, dtype=np.int64)
    space = _FreeSpace(bin_w, bin_h)
    if method == GLOBAL_CHOICE:
        remaining = list(range(n))
        while remaining:
            rem = np.array(remaining)
            row, fidx = space.best_matrix(sizes[rem, 0], sizes[rem, 1])
            if row < 0:
                if partial:
                    break
                return None
            i = int(rem[row])
            fx, fy = int(space.free[fidx, 0]), int(space.free[fidx, 1])
            w, h = int(sizes[i, 0]), int(sizes[i, 1])
            space.place(fx, fy, w, h)
            pos[i] = (fx, fy)
            remaining.pop(row)
        return pos
    for i in _order_indices(sizes, method):
        w, h = int(sizes[i, 0]), int(sizes[i, 1])
        fidx, _, _ = space.best_for(w, h)
        if fidx < 0:
            if partial:
                continue
            return None
        fx, fy = int(space.free[fidx, 0]), int(space.free[fidx, 1])
        space.place(fx, fy, w, h)
        pos[i] = (fx, fy)
    return pos


def _methods(n: int) -> list[str]:
    # Global choice is the best heuristic but O(n²) per bin; big inputs only get the fast sorted orders.
    if n <= GLOBAL_CHOICE_MAX_RECTS:
        return [GLOBAL_CHOICE, *SORT_ORDERS]
    return ["area", "max_side"]


def _try_fit(sizes: np.ndarray, bin_w: int, bin_h: int, methods: Sequence[str]):
    for method in methods:
        pos = _pack_one_bin(sizes, bin_w, bin_h, method)
        if pos is not None:
            return method, pos
    return None


# Target occupancies tried from tight to loose when searching a bin height for a given width.
_OCCUPANCY_STEPS = (1.0, 0.985, 0.97, 0.95, 0.93, 0.9, 0.86, 0.8, 0.7, 0.55, 0.4, 0.25)


def _search_single_bin(sizes: np.ndarray, padding: int, max_size: int, power_of_two: bool):
    """Smallest (w, h, method, positions) holding every rectangle in one bin, or None."""
    n = len(sizes)
    # Padding goes between rectangles only: grow each rectangle and the bin by the padding.
    grown = sizes + padding
    area = int((grown[:, 0] * grown[:, 1]).sum())
    min_w = int(sizes[:, 0].max())
    min_h = int(sizes[:, 1].max())
    if power_of_two:
        widths = []
        w = _next_pow2(min_w)
        while w <= max_size:
            widths.append(w)
            w *= 2
    else:
        root = math.sqrt(area)
        factors = (1.0, 1.2) if n > GLOBAL_CHOICE_MAX_RECTS else (1.0, 1.1, 0.9, 1.25, 1.5, 0.8)
        widths = list(dict.fromkeys(max(min_w, min(max_size, int(math.ceil(root * f)))) for f in factors))
        single_row = int(grown[:, 0].sum()) - padding
        if n <= 16 and single_row <= max_size:
            widths.append(single_row)
    methods = _methods(n)

    def fit_height(width: int, heights: list[int], use: Sequence[str]):
        """Binary search of the smallest height in ``heights`` that ``use`` fits; (height, method, pos) or None."""
        lo, hi, found = 0, len(heights) - 1, None
        while lo <= hi:
            mid = (lo + hi) // 2
            got = _try_fit(grown, width + padding, heights[mid] + padding, use)
            if got is None:
                lo = mid + 1
            else:
                found = (heights[mid], *got)
                hi = mid - 1
        return found

    def heights_for(width: int) -> list[int]:
        lower = max(min_h, -(-area // (width + padding)) - padding)
        if lower > max_size:
            return []
        if power_of_two:
            out, h = [], _next_pow2(lower)
            while h <= max_size:
                out.append(h)
                h *= 2
            return out
        return sorted({min(max_size, int(math.ceil(lower / occ))) for occ in _OCCUPANCY_STEPS} | {max_size})

    def used(width: int, height: int, pos: np.ndarray) -> tuple[int, int]:
        if power_of_two:
            return width, height
        return int((pos[:, 0] + sizes[:, 0]).max()), int((pos[:, 1] + sizes[:, 1]).max())

    # Pass 1: every width with one fast order. Pass 2: the best width with every order (and global choice) at
    # the heights below what pass 1 reached.
    best = None
    for width in widths:
        heights = heights_for(width)
        if not heights or (best is not None and width * heights[0] >= best[0] * best[1]):
            continue
        found = fit_height(width, heights, ["area"])
        if found is None:
            found = fit_height(width, heights[-1:], methods)
            if found is None:
                continue
        height, method, pos = found
        w_out, h_out = used(width, height, pos)
        if best is None or (w_out * h_out, max(w_out, h_out)) < (best[0] * best[1], max(best[0], best[1])):
            best = (w_out, h_out, method, pos, width, height)
    if best is None:
        return None
    width, height = best[4], best[5]
    tighter = [h for h in heights_for(width) if h < height]
    if tighter:
        found = fit_height(width, tighter, methods)
        if found is not None:
            h2, method, pos = found
            w_out, h_out = used(width, h2, pos)
            if w_out * h_out < best[0] * best[1]:
                best = (w_out, h_out, method, pos, width, h2)
    return best[:4]


def pack_maxrects(
    sizes: Sequence[tuple[int, int]],
    *,
    padding: int = 0,
    max_size: int = 4096,
    power_of_two: bool = False,
    multipack: bool = True,
) -> PackResult:
    """Pack rectangles ``sizes`` ((w, h) each) into the smallest page(s) with MaxRects best-short-side-fit.

    ``padding`` transparent pixels separate neighbours (not the page border). Pages are at most ``max_size`` on a
    side (power-of-two sides when ``power_of_two``). When everything does not fit in one page and ``multipack``,
    further pages are opened. Raises ValueError for an empty list, a non-positive size, a rectangle larger than
    ``max_size``, or too many rectangles for one page when ``multipack`` is False.
    """
    if len(sizes) == 0:
        raise ValueError("nothing to pack: the list of frames is empty; give at least one frame")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if max_size < 1:
        raise ValueError(f"max_size must be >= 1, got {max_size}")
    arr = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
    if (arr <= 0).any():
        bad = int(np.argmax((arr <= 0).any(axis=1)))
        raise ValueError(f"frame {bad} has size {tuple(arr[bad])}; every frame needs a width and height >= 1")
    too_big = (arr > max_size).any(axis=1)
    if too_big.any():
        bad = int(np.argmax(too_big))
        raise ValueError(
            f"frame {bad} is {arr[bad, 0]}x{arr[bad, 1]} px, larger than the maximum atlas size {max_size}; "
            "raise max_size (up to 4096) or use smaller frames"
        )
    single = _search_single_bin(arr, padding, max_size, power_of_two)
    if single is not None:
        w, h, method, pos = single
        return PackResult(((w, h),), tuple(Placement(0, int(x), int(y)) for x, y in pos), method)
    if not multipack:
        raise ValueError(
            f"{len(arr)} frames do not fit in one {max_size}x{max_size} atlas; enable multipack, raise max_size "
            "or split the frames into several sheets"
        )
    return _multipack(arr, padding, max_size, power_of_two)


def _multipack(arr: np.ndarray, padding: int, max_size: int, power_of_two: bool) -> PackResult:
    placements: list[Placement | None] = [None] * len(arr)
    page_sizes: list[tuple[int, int]] = []
    remaining = np.arange(len(arr))
    methods = set()
    while len(remaining):
        sub = arr[remaining]
        pos = _pack_one_bin(sub + padding, max_size + padding, max_size + padding, "area", partial=True)
        on_page = remaining[pos[:, 0] >= 0]
        # Shrink the page to the smallest bin holding exactly these rectangles.
        shrunk = _search_single_bin(arr[on_page], padding, max_size, power_of_two)
        page = len(page_sizes)
        if shrunk is None:
            placed = pos[pos[:, 0] >= 0]
            w = int((placed[:, 0] + arr[on_page, 0]).max())
            h = int((placed[:, 1] + arr[on_page, 1]).max())
            if power_of_two:
                w, h = _next_pow2(w), _next_pow2(h)
            page_sizes.append((w, h))
            methods.add("area")
            for i, (x, y) in zip(on_page, placed):
                placements[int(i)] = Placement(page, int(x), int(y))
        else:
            w, h, method, spos = shrunk
            page_sizes.append((w, h))
            methods.add(method)
            for i, (x, y) in zip(on_page, spos):
                placements[int(i)] = Placement(page, int(x), int(y))
        remaining = remaining[pos[:, 0] < 0]
    return PackResult(tuple(page_sizes), tuple(p for p in placements if p is not None), "+".join(sorted(methods)))


def pack_grid(
    count: int,
    cell_w: int,
    cell_h: int,
    *,
    columns: int = 0,
    rows: int = 0,
    padding: int = 0,
    offset: int = 0,
    max_size: int = 4096,
) -> tuple[tuple[int, int], tuple[Placement, ...], int, int]:
    """Lay ``count`` cells of ``cell_w``×``cell_h`` left→right, top→bottom like Bevy's ``from_grid``.

    Returns ((page_w, page_h), placements, columns, rows). ``columns``/``rows`` of 0 mean "choose" (a near-square
    grid). Raises ValueError when ``count`` is 0, the grid cannot hold ``count`` cells, or the page would exceed
    ``max_size``.
    """
    if count <= 0:
        raise ValueError("nothing to lay out: the list of frames is empty; give at least one frame")
    if columns < 0 or rows < 0:
        raise ValueError(f"columns and rows must be >= 0 (0 = automatic), got {columns}x{rows}")
    if columns == 0 and rows == 0:
        columns = math.ceil(math.sqrt(count))
    if columns == 0:
        columns = math.ceil(count / rows)
    if rows == 0:
        rows = math.ceil(count / columns)
    if columns * rows < count:
        raise ValueError(
            f"a {columns}x{rows} grid holds {columns * rows} frames but there are {count}; "
            f"use at least {math.ceil(count / columns)} rows or leave rows at 0"
        )
    page_w = offset * 2 + columns * cell_w + (columns - 1) * padding
    page_h = offset * 2 + rows * cell_h + (rows - 1) * padding
    if page_w > max_size or page_h > max_size:
        raise ValueError(
            f"a {columns}x{rows} grid of {cell_w}x{cell_h} cells is {page_w}x{page_h} px, over the maximum atlas "
            f"size {max_size}; change columns/rows, raise max_size or use packing"
        )
    placements = tuple(
        Placement(0, offset + (i % columns) * (cell_w + padding), offset + (i // columns) * (cell_h + padding))
        for i in range(count)
    )
    return (page_w, page_h), placements, columns, rows
