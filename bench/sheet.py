"""Sprite-sheet packing benchmark: occupancy and time, DGX-Pixels MaxRects vs rectpack (MaxRectsBssf).

Both packers get the same trimmed frame sizes (synthetic pixel-art frames: a blob of random size inside a fixed
cell, trimmed). rectpack gets our bin size as a hint: it is given a bin search of its own (smallest square-ish bin
found by doubling then bisecting the side), so both report the area of their smallest single bin.
Run: ``.venv/bin/python bench/sheet.py`` (needs ``pip install rectpack``). Prints one table.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from dgx_pixels.ops.packing import occupancy, pack_maxrects
from dgx_pixels.ops.sheet import trim_bounds


def frame_set(count: int, seed: int, cell: int = 64) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    sizes = []
    for _ in range(count):
        frame = np.zeros((cell, cell, 4), np.uint8)
        w, h = rng.integers(cell // 4, cell, 2)
        x, y = rng.integers(0, cell - w + 1), rng.integers(0, cell - h + 1)
        frame[y : y + h, x : x + w, 3] = 255
        sizes.append(trim_bounds(frame)[2:])
    return sizes


def rectpack_smallest(sizes):
    import rectpack

    def fits(side_w, side_h):
        packer = rectpack.newPacker(pack_algo=rectpack.MaxRectsBssf, rotation=False)
        for i, (w, h) in enumerate(sizes):
            packer.add_rect(w, h, rid=i)
        packer.add_bin(side_w, side_h)
        packer.pack()
        return len(packer.rect_list()) == len(sizes), packer

    area = sum(w * h for w, h in sizes)
    width = max(max(w for w, _ in sizes), int(area**0.5))
    lo, hi = max(max(h for _, h in sizes), area // width), 4096
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        ok, packer = fits(width, mid)
        if ok:
            best, hi = packer, mid - 1
        else:
            lo = mid + 1
    rects = best.rect_list()
    used_w = max(x + w for _, x, y, w, h, _ in rects)
    used_h = max(y + h for _, x, y, w, h, _ in rects)
    return area / (used_w * used_h)


def main() -> None:
    rows = []
    for count in (50, 200, 500):
        ours_t, ours_o, rp_t, rp_o = [], [], [], []
        for seed in range(3 if count <= 50 else 1):
            sizes = frame_set(count, seed)
            t0 = time.perf_counter()
            result = pack_maxrects(sizes)
            ours_t.append(time.perf_counter() - t0)
            ours_o.append(occupancy(sizes, result))
            t0 = time.perf_counter()
            rp_o.append(rectpack_smallest(sizes))
            rp_t.append(time.perf_counter() - t0)
        rows.append((count, statistics.median(ours_o), statistics.median(ours_t), statistics.median(rp_o),
                     statistics.median(rp_t)))
    print(f"{'frames':>6} | {'ours occ':>8} | {'ours ms':>8} | {'rectpack occ':>12} | {'rectpack ms':>11} | "  # noqa: T201
          f"{'occ ratio':>9} | {'time ratio':>10}")
    for count, oo, ot, ro, rt in rows:
        print(f"{count:>6} | {oo:>8.1%} | {ot * 1e3:>8.0f} | {ro:>12.1%} | {rt * 1e3:>11.0f} | "  # noqa: T201
              f"{oo / ro:>9.3f} | {ot / rt:>10.2f}")


if __name__ == "__main__":
    main()
