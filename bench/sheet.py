"""Sprite-sheet packing benchmark: occupancy and time, DGX-Pixels vs rectpack (MaxRectsBssf).

Both packers get the same trimmed frame sizes from two synthetic pixel-art sets: "blobs" (a blob of random size
inside a 64 px cell, trimmed: sizes 16-63 px, very mixed) and "anims" (animations of 8 frames whose trimmed sizes
jitter by a few pixels around a per-animation size, like walk cycles). Occupancy is the frames' area over the used
atlas area. rectpack gets a bin search of its own at width √area: a bisection of the height, limited to
RECTPACK_STEPS steps (its pure-Python MaxRects takes ~7 s per pass at 500 frames and ~50 s at 1,000, so the
1,000-frame rows are not run for it). Every set is drawn with two seeds (one row each; ours is timed as the median
of 3 runs). Run: ``.venv/bin/python bench/sheet.py`` (needs ``pip install rectpack``). Prints one table.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from dgx_pixels.ops.packing import occupancy, pack_maxrects
from dgx_pixels.ops.sheet import trim_bounds


RECTPACK_STEPS = {50: 8, 200: 6, 500: 3}
SEEDS = (0, 1)


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


def anim_set(count: int, seed: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    sizes = []
    while len(sizes) < count:
        base_w, base_h = rng.integers(12, 48), rng.integers(16, 56)
        for _ in range(min(8, count - len(sizes))):
            sizes.append((int(base_w + rng.integers(-3, 4)), int(base_h + rng.integers(-2, 3))))
    return sizes


def rectpack_smallest(sizes, steps: int):
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
    lo = max(max(h for _, h in sizes), area // width)
    hi = int(lo / 0.8)
    best = None
    while best is None:
        ok, packer = fits(width, hi)
        if ok:
            best = packer
        else:
            lo, hi = hi + 1, hi * 2
    hi -= 1
    for _ in range(steps):
        if lo > hi:
            break
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
    for set_name, make in (("blobs", frame_set), ("anims", anim_set)):
        for count in (50, 200, 500, 1000):
            for seed in SEEDS:
                sizes = make(count, seed)
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    result = pack_maxrects(sizes)
                    times.append(time.perf_counter() - t0)
                rp_o = rp_t = None
                if count in RECTPACK_STEPS:
                    t0 = time.perf_counter()
                    rp_o = rectpack_smallest(sizes, RECTPACK_STEPS[count])
                    rp_t = time.perf_counter() - t0
                rows.append((set_name, count, seed, occupancy(sizes, result), statistics.median(times), rp_o, rp_t,
                             result.method))
    print(f"{'set':>5} | {'frames':>6} | {'seed':>4} | {'ours occ':>8} | {'ours ms':>7} | {'rectpack occ':>12} | "  # noqa: T201
          f"{'rectpack ms':>11} | {'search steps':>12} | method")
    for set_name, count, seed, oo, ot, ro, rt, method in rows:
        rp_occ = f"{ro:>12.1%}" if ro is not None else f"{'not run':>12}"
        rp_ms = f"{rt * 1e3:>11.0f}" if rt is not None else f"{'-':>11}"
        steps = RECTPACK_STEPS.get(count, "-")
        print(f"{set_name:>5} | {count:>6} | {seed:>4} | {oo:>8.1%} | {ot * 1e3:>7.0f} | {rp_occ} | {rp_ms} | "  # noqa: T201
              f"{steps!s:>12} | {method}")


if __name__ == "__main__":
    main()
