"""Rectangle packing for sprite atlases: a uniform grid, MaxRects and a skyline packer.

MaxRects follows Jylänki, "A Thousand Ways to Pack the Bin" (2010): the free space is kept as a list of maximal
free rectangles, updated incrementally (only free rectangles that the new one overlaps are split, and only the new
pieces are checked for containment). The single-page search sweeps the bin width over every integer between about
0.6 and 1.8 times the square root of the total area (coarse to fine, so a cut-short sweep still covers the range)
and, for each width, asks several packers to beat the best page so far: a packer gets a bin whose height is the
largest that would still give a smaller page, so hopeless passes stop early. Small sets try MaxRects
bottom-left, best-short-side-fit (also with the "global choice"), and contact-point with several sort orders;
up to :data:`MAXRECTS_MAX_RECTS` rectangles MaxRects bottom-left and the skyline packer; larger sets the skyline
bottom-left packer, which is linear in the skyline length per rectangle. The sweep stops when a fixed amount of
work (:data:`SEARCH_WORK`, counted in free rectangles and skyline segments examined, not in seconds) is spent,
so 1,000 rectangles stay well under 200 ms and small sets get an exhaustive sweep. Rectangles are never rotated:
a pixel-art atlas must not turn sprites.

Everything is deterministic: ties are broken by input order and the work limit is a count, not a clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

SORT_ORDERS: tuple[str, ...] = ("area", "max_side", "height", "width", "perimeter")
GLOBAL_CHOICE = "global"
# Global choice costs O(n² · free rects) per bin; only small sets get it.
GLOBAL_CHOICE_MAX_RECTS = 48
# Above this many rectangles only the skyline packer runs (pure-Python MaxRects grows quadratically).
MAXRECTS_MAX_RECTS = 300
# Up to this many rectangles the fixed-bin MaxRects rules (best short side fit, contact point) join the sweep.
TIGHTEN_MAX_RECTS = 120
# Work (free rectangles / skyline segments examined) one single-page search may spend; ~100 ms of CPython here.
SEARCH_WORK = 240_000
# Bin widths swept, as factors of the square root of the total area; the listed ones are tried first.
_WIDTH_RANGE = (0.6, 1.8)
_WIDTH_FACTORS = (1.0, 0.9, 1.1, 0.8, 1.25, 1.5, 1.75, 2.0)
# A page longer than this many times its width (or the reverse) is taken only when nothing else fits, apart from
# the single row that small sets may get: a one-column strip is no sprite sheet, and tools refuse sides < 16 px.
MAX_ASPECT = 4

_Sizes = list[tuple[int, int]]
_Positions = list[tuple[int, int]]


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


def _order(sizes: _Sizes, order: str) -> list[int]:
    """Indices of ``sizes`` by descending ``order`` key, ascending index on ties."""
    keys = {
        "area": lambda wh: (wh[0] * wh[1], max(wh)),
        "max_side": lambda wh: (max(wh), min(wh)),
        "height": lambda wh: (wh[1], wh[0]),
        "width": lambda wh: (wh[0], wh[1]),
        "perimeter": lambda wh: (wh[0] + wh[1], max(wh)),
    }
    if order not in keys:
        raise ValueError(f"unknown sort order {order!r}; expected one of {SORT_ORDERS}")
    key = keys[order]
    return sorted(range(len(sizes)), key=lambda i: (tuple(-k for k in key(sizes[i])), i))


def _place_free(free: list[tuple[int, int, int, int]], x: int, y: int, w: int, h: int) -> None:
    """Update the maximal free rectangles ``free`` in place after occupying (x, y, w, h)."""
    x2, y2 = x + w, y + h
    keep = []
    new = []
    for rect in free:
        fx, fy, fw, fh = rect
        fx2, fy2 = fx + fw, fy + fh
        if x >= fx2 or x2 <= fx or y >= fy2 or y2 <= fy:
            keep.append(rect)
            continue
        if x > fx:
            new.append((fx, fy, x - fx, fh))
        if x2 < fx2:
            new.append((x2, fy, fx2 - x2, fh))
        if y > fy:
            new.append((fx, fy, fw, y - fy))
        if y2 < fy2:
            new.append((fx, y2, fw, fy2 - y2))
    # Kept rectangles stay maximal (each new piece lies inside a split rectangle that no kept one contained), so
    # only the new pieces can be redundant.
    for j, (ax, ay, aw, ah) in enumerate(new):
        ax2, ay2 = ax + aw, ay + ah
        inside = False
        for k, (bx, by, bw, bh) in enumerate(new):
            if k != j and bx <= ax and by <= ay and bx + bw >= ax2 and by + bh >= ay2:
                # Of two equal pieces keep the first.
                if (bx, by, bw, bh) != (ax, ay, aw, ah) or k < j:
                    inside = True
                    break
        if not inside:
            for bx, by, bw, bh in keep:
                if bx <= ax and by <= ay and bx + bw >= ax2 and by + bh >= ay2:
                    inside = True
                    break
        if not inside:
            keep.append((ax, ay, aw, ah))
    free[:] = keep


def _maxrects(
    sizes: _Sizes,
    order: Sequence[int],
    bin_w: int,
    bin_h: int,
    rule: str,
    *,
    partial: bool = False,
    work: list[int] | None = None,
):
    """Positions (None where not placed) packing ``order`` into one bin by ``rule`` ("bssf": best short side fit,
    "bl": bottom-left, "cp": contact point, the longest edge shared with the bin and placed rectangles), or None
    when ``partial`` is False and a rectangle does not fit. ``work[0]`` grows by the free rectangles examined."""
    free = [(0, 0, bin_w, bin_h)]
    pos: list[tuple[int, int] | None] = [None] * len(sizes)
    bssf = rule == "bssf"
    cp = rule == "cp"
    placed: list[tuple[int, int, int, int]] = []
    never = 1 << 62
    spent = 0
    for i in order:
        w, h = sizes[i]
        best1 = best2 = never
        bx = by = -1
        spent += 2 * len(free)
        for fx, fy, fw, fh in free:
            dw = fw - w
            dh = fh - h
            if dw < 0 or dh < 0:
                continue
            if bssf:
                s1, s2 = (dw, dh) if dw < dh else (dh, dw)
            elif cp:
                s1, s2 = -_contact(placed, fx, fy, w, h, bin_w, bin_h), fy
                spent += len(placed)
            else:
                s1, s2 = fy + h, fx
            if s1 < best1 or (s1 == best1 and s2 < best2):
                best1, best2, bx, by = s1, s2, fx, fy
        if bx < 0:
            if partial:
                continue
            if work is not None:
                work[0] += spent
            return None
        pos[i] = (bx, by)
        if cp:
            placed.append((bx, by, w, h))
        _place_free(free, bx, by, w, h)
    if work is not None:
        work[0] += spent
    return pos


def _contact(placed: list[tuple[int, int, int, int]], x: int, y: int, w: int, h: int, bin_w: int, bin_h: int) -> int:
    """Length of the edges of (x, y, w, h) shared with the bin border and the ``placed`` rectangles."""
    x2, y2 = x + w, y + h
    score = 0
    if x == 0 or x2 == bin_w:
        score += h
    if y == 0 or y2 == bin_h:
        score += w
    for px, py, pw, ph in placed:
        if px == x2 or px + pw == x:
            score += max(0, min(py + ph, y2) - max(py, y))
        if py == y2 or py + ph == y:
            score += max(0, min(px + pw, x2) - max(px, x))
    return score


def _maxrects_global(sizes: _Sizes, bin_w: int, bin_h: int, work: list[int] | None = None):
    """Positions packing every rectangle by best short side fit with a global choice, or None when one does not
    fit."""
    free = [(0, 0, bin_w, bin_h)]
    pos: list[tuple[int, int] | None] = [None] * len(sizes)
    remaining = list(range(len(sizes)))
    never = 1 << 62
    spent = 0
    while remaining:
        best1 = best2 = never
        pick = bx = by = -1
        spent += len(free) * (len(remaining) + 2)
        for slot, i in enumerate(remaining):
            w, h = sizes[i]
            for fx, fy, fw, fh in free:
                dw = fw - w
                dh = fh - h
                if dw < 0 or dh < 0:
                    continue
                s1, s2 = (dw, dh) if dw < dh else (dh, dw)
                if s1 < best1 or (s1 == best1 and s2 < best2):
                    best1, best2, pick, bx, by = s1, s2, slot, fx, fy
        if pick < 0:
            if work is not None:
                work[0] += spent
            return None
        i = remaining.pop(pick)
        pos[i] = (bx, by)
        _place_free(free, bx, by, *sizes[i])
    if work is not None:
        work[0] += spent
    return pos


def _skyline(sizes: _Sizes, order: Sequence[int], bin_w: int, bin_h: int, work: list[int] | None = None):
    """Positions packing ``order`` bottom-left on a skyline of width ``bin_w``, or None when the height would
    pass ``bin_h``. ``work[0]`` grows by the skyline segments examined."""
    xs = [0]
    ys = [0]
    ends = [bin_w]
    pos: list[tuple[int, int] | None] = [None] * len(sizes)
    spent = 0
    for i in order:
        w, h = sizes[i]
        best_top = best_x = 1 << 62
        best_seg = -1
        best_y = 0
        count = len(xs)
        # Each segment costs ~2 free-rectangle checks of MaxRects (the covered-segment walk, the merge).
        spent += 2 * count
        for s in range(count):
            x = xs[s]
            right = x + w
            if right > bin_w:
                break
            y = ys[s]
            t = s
            while ends[t] < right:
                t += 1
                if ys[t] > y:
                    y = ys[t]
            top = y + h
            if top < best_top or (top == best_top and x < best_x):
                best_top, best_x, best_seg, best_y = top, x, s, y
        if best_seg < 0 or best_top > bin_h:
            if work is not None:
                work[0] += spent
            return None
        x, right = best_x, best_x + w
        pos[i] = (x, best_y)
        # Replace the covered segments by one at the new top; keep the remainder of the last covered one.
        t = best_seg
        while t + 1 < len(xs) and xs[t + 1] < right:
            t += 1
        tail_end = ends[t]
        tail_y = ys[t]
        new_x = [x]
        new_y = [best_top]
        new_e = [right]
        if tail_end > right:
            new_x.append(right)
            new_y.append(tail_y)
            new_e.append(tail_end)
        xs[best_seg : t + 1] = new_x
        ys[best_seg : t + 1] = new_y
        ends[best_seg : t + 1] = new_e
        # Merge neighbours at the same height so the skyline stays short.
        s = max(0, best_seg - 1)
        stop = min(len(xs) - 1, best_seg + 2)
        while s < stop:
            if ys[s] == ys[s + 1]:
                ends[s] = ends[s + 1]
                del xs[s + 1], ys[s + 1], ends[s + 1]
                stop -= 1
            else:
                s += 1
    if work is not None:
        work[0] += spent
    return pos


def _extent(sizes: _Sizes, pos: _Positions) -> tuple[int, int]:
    return max(x + w for (x, _), (w, _) in zip(pos, sizes)), max(y + h for (_, y), (_, h) in zip(pos, sizes))


def _candidate_widths(
    grown: _Sizes, area: int, padding: int, limit: int, power_of_two: bool, single_row: bool
) -> list[int]:
    """Bin widths (padding included) to try, best guesses first, then every width of the swept range coarse to
    fine so that a search cut short by the work limit still covers the whole range."""
    min_w = max(w for w, _ in grown)
    if power_of_two:
        widths = []
        side = _next_pow2(min_w - padding)
        while side + padding <= limit:
            widths.append(side + padding)
            side *= 2
        return widths
    root = math.sqrt(area)
    lo = max(min_w, min(limit, math.floor(root * _WIDTH_RANGE[0])))
    hi = max(lo, min(limit, math.ceil(root * _WIDTH_RANGE[1])))
    widths = [max(min_w, min(limit, math.ceil(root * f))) for f in _WIDTH_FACTORS]
    row = sum(w for w, _ in grown)
    if single_row and len(grown) <= 16 and row <= limit:
        widths.append(row)
    step = 1 << max(0, (hi - lo).bit_length() - 1)
    while step >= 1:
        widths.extend(range(lo, hi + 1, step))
        step //= 2
    return list(dict.fromkeys(widths))


def _passes(n: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(strip passes, fixed-bin passes) as (packer or rule, sort order), cheapest and most often best first.

    A strip pass lays rectangles out the same whatever the bin height (it only fails when they pass it); a
    fixed-bin pass uses the height, so it is repeated with a lower bin while it keeps finding smaller pages."""
    if n > MAXRECTS_MAX_RECTS:
        return [("skyline", "height")], []
    strip = [("maxrects-bl", "height"), ("skyline", "height")]
    if n > TIGHTEN_MAX_RECTS:
        return strip, []
    strip.append(("maxrects-bl", "max_side"))
    fixed = [("cp", "height"), ("cp", "max_side"), ("cp", "perimeter"), ("bssf", "area"), ("bssf", "height")]
    if n <= GLOBAL_CHOICE_MAX_RECTS:
        fixed.append((GLOBAL_CHOICE, ""))
    return strip, fixed


def _search_single_bin(real: _Sizes, padding: int, max_size: int, power_of_two: bool, budget: int | None = None):
    """Smallest (w, h, method, positions) holding every rectangle of ``real`` in one bin, or None.

    Half the work goes to rows (the packers fill the bin upwards), half to columns: the same search on the
    transposed sizes, whose layout is transposed back (the sprites themselves are not turned)."""
    if budget is None:
        budget = SEARCH_WORK
    rows = _search_oriented(real, padding, max_size, power_of_two, budget // 2, single_row=True)
    flipped = [(h, w) for w, h in real]
    cols = _search_oriented(flipped, padding, max_size, power_of_two, budget // 2, single_row=False)
    if cols is None:
        return rows
    cols = (cols[1], cols[0], f"{cols[2]}-columns", [(y, x) for x, y in cols[3]])
    if rows is None:
        return cols
    row_w = sum(w for w, _ in real) + (len(real) - 1) * padding
    return min(rows, cols, key=lambda page: _page_key(page[0], page[1], row_w))


def _page_key(w: int, h: int, row_w: int | None) -> tuple[bool, int, int]:
    """Sort key of a page of w x h: over-long pages (except a single row ``row_w`` wide) last, then by area, then
    by the longer side."""
    return max(w, h) > MAX_ASPECT * min(w, h) and w != row_w, w * h, max(w, h)


def _search_oriented(
    real: _Sizes, padding: int, max_size: int, power_of_two: bool, budget: int, *, single_row: bool
):
    """Smallest (w, h, method, positions) holding every rectangle of ``real`` in one bin, or None.

    Every candidate width gets every pass of :func:`_passes`, each in a bin just low enough that success means a
    smaller page than the best so far; the sweep stops once ``budget`` work is spent, but never before a first
    page is found."""
    n = len(real)
    # Padding goes between rectangles only: grow each rectangle and the bin by the padding.
    grown = [(w + padding, h + padding) for w, h in real]
    limit = max_size + padding
    area = sum(w * h for w, h in grown)
    min_h = max(h for _, h in grown)
    orderings: dict[str, list[int]] = {}
    work = [0]

    def ordered(name: str) -> list[int]:
        if name not in orderings:
            orderings[name] = _order(grown, name)
        return orderings[name]

    def out_size(bin_w: int, pos: _Positions) -> tuple[int, int]:
        w, h = _extent(real, pos)
        if power_of_two:
            return bin_w - padding, _next_pow2(h)
        return w, h

    row_w = sum(w for w, _ in real) + (n - 1) * padding if single_row else None

    def page_key(w: int, h: int) -> tuple[bool, int, int]:
        return _page_key(w, h, row_w)

    def height_cap(bin_w: int) -> int:
        """Tallest output height at ``bin_w`` whose page would be smaller than the best one (all if none or the
        best one is over-long)."""
        if best is None or page_key(best[0], best[1])[0]:
            return max_size
        cap = (best[0] * best[1] - 1) // (bin_w - padding)
        if power_of_two:
            cap = 1 << (cap.bit_length() - 1) if cap > 0 else 0
        return min(max_size, cap)

    strip, fixed = _passes(n)
    best = None
    for bin_w in _candidate_widths(grown, area, padding, limit, power_of_two, single_row):
        if best is not None and work[0] >= budget:
            break
        floor_h = max(min_h, -(-area // bin_w)) - padding
        if power_of_two:
            floor_h = _next_pow2(floor_h)
        for kind, (packer, order) in [("strip", p) for p in strip] + [("fixed", p) for p in fixed]:
            while True:
                cap = height_cap(bin_w)
                if cap < floor_h or (best is not None and work[0] >= budget):
                    break
                if packer == "skyline":
                    pos = _skyline(grown, ordered(order), bin_w, cap + padding, work)
                elif packer == "maxrects-bl":
                    pos = _maxrects(grown, ordered(order), bin_w, cap + padding, "bl", work=work)
                elif packer == GLOBAL_CHOICE:
                    pos = _maxrects_global(grown, bin_w, cap + padding, work)
                else:
                    pos = _maxrects(grown, ordered(order), bin_w, cap + padding, packer, work=work)
                if pos is None:
                    break
                w, h = out_size(bin_w, pos)
                if best is not None and page_key(w, h) >= page_key(best[0], best[1]):
                    break
                if packer == GLOBAL_CHOICE:
                    method = GLOBAL_CHOICE
                elif packer in ("skyline", "maxrects-bl"):
                    method = f"{packer}-{order}"
                else:
                    method = f"maxrects-{packer}-{order}"
                best = (w, h, method, pos)
                if kind == "strip":
                    break
    return best


def pack_maxrects(
    sizes: Sequence[tuple[int, int]],
    *,
    padding: int = 0,
    max_size: int = 4096,
    power_of_two: bool = False,
    multipack: bool = True,
) -> PackResult:
    """Pack rectangles ``sizes`` ((w, h) each) into the smallest page(s): MaxRects for up to
    :data:`MAXRECTS_MAX_RECTS` rectangles, a skyline packer above.

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
    real = [(int(w), int(h)) for w, h in sizes]
    for i, (w, h) in enumerate(real):
        if w <= 0 or h <= 0:
            raise ValueError(f"frame {i} has size {(w, h)}; every frame needs a width and height >= 1")
        if w > max_size or h > max_size:
            raise ValueError(
                f"frame {i} is {w}x{h} px, larger than the maximum atlas size {max_size}; "
                "raise max_size (up to 4096) or use smaller frames"
            )
    single = _search_single_bin(real, padding, max_size, power_of_two)
    if single is not None:
        w, h, method, pos = single
        return PackResult(((w, h),), tuple(Placement(0, x, y) for x, y in pos), method)
    if not multipack:
        raise ValueError(
            f"{len(real)} frames do not fit in one {max_size}x{max_size} atlas; enable multipack, raise max_size "
            "or split the frames into several sheets"
        )
    return _multipack(real, padding, max_size, power_of_two)


def _multipack(real: _Sizes, padding: int, max_size: int, power_of_two: bool) -> PackResult:
    placements: list[Placement | None] = [None] * len(real)
    page_sizes: list[tuple[int, int]] = []
    methods: set[str] = set()
    remaining = list(range(len(real)))
    # A power-of-two page can be no larger than the largest power of two within max_size.
    side = 1 << (max_size.bit_length() - 1) if power_of_two else max_size
    while remaining:
        sub = [(real[i][0] + padding, real[i][1] + padding) for i in remaining]
        order = _order(sub, "area")
        if len(sub) <= MAXRECTS_MAX_RECTS:
            pos = _maxrects(sub, order, side + padding, side + padding, "bssf", partial=True)
        else:
            pos = _skyline_partial(sub, order, side + padding)
        if all(p is None for p in pos):
            raise ValueError(
                f"a frame does not fit in a {side}x{side} power-of-two page; raise max_size or use smaller frames"
            )
        on_page = [i for i, p in zip(remaining, pos) if p is not None]
        page = len(page_sizes)
        # Shrink the page to the smallest bin holding exactly these rectangles.
        shrunk = _search_single_bin([real[i] for i in on_page], padding, max_size, power_of_two)
        if shrunk is None:
            placed = [p for p in pos if p is not None]
            w, h = _extent([real[i] for i in on_page], placed)
            if power_of_two:
                w, h = _next_pow2(w), _next_pow2(h)
            methods.add("maxrects-bssf-area")
        else:
            w, h, method, placed = shrunk
            methods.add(method)
        page_sizes.append((w, h))
        for i, (x, y) in zip(on_page, placed):
            placements[i] = Placement(page, x, y)
        remaining = [i for i, p in zip(remaining, pos) if p is None]
    return PackResult(tuple(page_sizes), tuple(p for p in placements if p is not None), "+".join(sorted(methods)))


def _skyline_partial(sizes: _Sizes, order: Sequence[int], side: int) -> list[tuple[int, int] | None]:
    """Positions of the longest prefix of ``order`` that the skyline packer fits in a ``side``² bin (None after)."""
    lo, hi, best = 1, len(order), None
    while lo <= hi:
        mid = (lo + hi) // 2
        got = _skyline(sizes, order[:mid], side, side)
        if got is None:
            hi = mid - 1
        else:
            best, lo = got, mid + 1
    if best is None:
        return [None] * len(sizes)
    return best


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
