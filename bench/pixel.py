"""Pixel-art benchmark: prints one table, each of our rows beside its anchor measured in the same run.

    python bench/pixel.py [--runs 3] [--grid-count 30] [--device cpu|cuda]
    python bench/pixel.py --grid-only --grid-set hard --grid-seeds 1,2,3   # grid recovery rows alone

The standard grid set has cells 3-16 px; the hard set, per seed s, ``--grid-count`` fakes with cells 3-5 px
(seed s) and as many with cells 3-8 px (seed s+6), mostly small images.

Anchors (installed only for this benchmark, never pack dependencies): PixelOE (``pip install pixeloe``, torch
backend), Pillow box resize + quantize(kmeans), proper-pixel-art (``pip install proper-pixel-art``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from pixel_synth import synthetic_set  # noqa: E402

from dgx_pixels.ops.color import rgb_to_oklab  # noqa: E402
from dgx_pixels.ops.grid import recover_pixels  # noqa: E402
from dgx_pixels.ops.pixelize import pixelize  # noqa: E402


def test_image(size: int = 1024, seed: int = 0) -> torch.Tensor:
    """A diffusion-like test picture: smooth colour fields, shaded blobs with thin dark outlines. [1,H,W,3]."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 6, 6, generator=g)
    img = F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)[0].permute(1, 2, 0)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    for _ in range(14):
        cx, cy, r = (torch.rand(3, generator=g) * torch.tensor([size, size, size / 6])).tolist()
        r += size / 20
        d = ((xx - cx) ** 2 + (yy - cy) ** 2).float().sqrt()
        colour = torch.rand(3, generator=g)
        shade = (1 - 0.5 * ((xx - cx + r / 2) ** 2 + (yy - cy + r / 2) ** 2).float().sqrt() / (2 * r)).clamp(0.3, 1)
        inside = d < r
        img[inside] = (colour * shade[..., None])[inside]
        img[(d >= r) & (d < r + size / 256 * 1.5)] = 0.05
    return img.unsqueeze(0)


def timed(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def oklab_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((rgb_to_oklab(a[..., :3]) - rgb_to_oklab(b[..., :3])).norm(dim=-1).mean())


def unique_colours(img: torch.Tensor) -> int:
    return len(torch.unique((img[..., :3] * 255).round().reshape(-1, 3), dim=0))


def run_pixeloe(img: torch.Tensor, k: int):
    from pixeloe.torch.pixelize import pixelize as oe_pixelize

    with torch.no_grad():
        out = oe_pixelize(img.permute(0, 3, 1, 2), pixel_size=8, mode="contrast", do_quant=True, num_colors=k,
                          no_post_upscale=True, backend="torch")
    return out.permute(0, 2, 3, 1).clamp(0, 1)


def pillow_area_kmeans(img: torch.Tensor, size: int, k: int) -> torch.Tensor:
    pil = Image.fromarray((img[0].cpu().numpy() * 255).round().astype(np.uint8))
    small = pil.resize((size, size), Image.BOX).quantize(k, kmeans=8, dither=Image.Dither.NONE).convert("RGB")
    return torch.from_numpy(np.asarray(small).copy()).float().div(255).unsqueeze(0)


def grid_items(kind: str, seeds: list[int], count: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    items = []
    for seed in seeds:
        if kind == "hard":
            items += synthetic_set(seed=seed, count=count, max_factor=5.0)
            items += synthetic_set(seed=seed + 6, count=count, max_factor=8.0)
        else:
            items += synthetic_set(seed=seed, count=count)
    return items


def grid_rows(count: int, kind: str = "standard", seeds: tuple[int, ...] = (11,)) -> list[tuple[str, str, str, str]]:
    items = grid_items(kind, list(seeds), count)
    ours_exact = ours_cells = ppa_exact = ppa_cells = cells = ppa_total = 0
    ours_t, ppa_t = [], []
    try:
        from proper_pixel_art import pixelate as ppa
    except ImportError:
        ppa = None
    for fake, sprite, _ in items:
        truth = torch.from_numpy(sprite).float()
        t = time.perf_counter()
        out, grid = recover_pixels(torch.from_numpy(fake.copy()).float().div(255).unsqueeze(0))
        ours_t.append(time.perf_counter() - t)
        cells += truth.shape[0] * truth.shape[1]
        if out.shape[1:3] == truth.shape[:2]:
            ours_exact += 1
            ours_cells += int(((out[0] * 255 - truth).abs().amax(-1) < 48).sum())
        if ppa is not None:
            t = time.perf_counter()
            res = np.asarray(ppa(Image.fromarray(fake)).image.convert("RGB")).astype(np.float32)
            ppa_t.append(time.perf_counter() - t)
            ppa_total += truth.shape[0] * truth.shape[1]
            if res.shape[:2] == tuple(truth.shape[:2]):
                ppa_exact += 1
                ppa_cells += int((np.abs(res - sprite.astype(np.float32)).max(-1) < 48).sum())
    n = len(items)
    anchor_exact = f"{ppa_exact / n:.1%}" if ppa else "not installed"
    anchor_cells = f"{ppa_cells / max(ppa_total, 1):.1%}" if ppa else "-"
    anchor_time = f"{statistics.median(ppa_t) * 1000:.0f} ms" if ppa_t else "-"
    return [
        (f"grid recovery exact size ({n} fakes, {'hard 3-5x/3-8x' if kind == 'hard' else '3-16x'}, "
         f"seeds {','.join(map(str, seeds))})", f"{ours_exact / n:.1%}", anchor_exact, "proper-pixel-art"),
        ("grid recovery cells right (all cells)", f"{ours_cells / cells:.1%}", anchor_cells, "proper-pixel-art"),
        ("grid recovery median time per image", f"{statistics.median(ours_t) * 1000:.0f} ms", anchor_time,
         "proper-pixel-art"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--grid-count", type=int, default=30)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--grid-only", action="store_true", help="only the grid recovery rows")
    parser.add_argument("--grid-set", choices=("standard", "hard"), default="standard")
    parser.add_argument("--grid-seeds", default=None, help="comma-separated (default 11, or 1,2,3 for hard)")
    args = parser.parse_args()
    seeds = tuple(int(v) for v in (args.grid_seeds or ("1,2,3" if args.grid_set == "hard" else "11")).split(","))
    if args.grid_only:
        print_rows(grid_rows(args.grid_count, args.grid_set, seeds))
        return
    device = torch.device(args.device)
    k, size = 16, 128
    img = test_image().to(device)
    rows: list[tuple[str, str, str, str]] = []

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def ours(mode: str):
        out = pixelize(img, size=(size, size), colors=k, mode=mode).image
        sync()
        return out

    ours("contrast")  # warm-up (kernels, caches)
    t_ours, out_contrast = timed(lambda: ours("contrast"), args.runs)
    try:
        run_pixeloe(img, k)
        t_oe, out_oe = timed(lambda: run_pixeloe(img, k), args.runs)
    except ImportError:
        t_oe, out_oe = float("nan"), None
    rows.append((f"speed 1024²→128² K=16 contrast ({device.type}), median s", f"{t_ours:.3f}",
                 f"{t_oe:.3f}" if out_oe is not None else "not installed",
                 f"PixelOE torch; ours is {t_oe / t_ours:.1f}x faster" if out_oe is not None else "PixelOE"))

    reference = F.interpolate(img.permute(0, 3, 1, 2), size=(size, size), mode="area").permute(0, 2, 3, 1)
    _, out_area = timed(lambda: ours("area"), 1)
    pil = pillow_area_kmeans(img.cpu(), size, k).to(device)
    e_area, e_pil = oklab_error(out_area, reference), oklab_error(pil, reference)
    rows.append(("OKLab error vs area downscale, K=16 (area mode)", f"{e_area:.4f} ({unique_colours(out_area)} col)",
                 f"{e_pil:.4f} ({unique_colours(pil)} col)", f"Pillow box+kmeans; ratio {e_area / e_pil:.2f}"))
    if out_oe is not None:
        rows.append(("OKLab error vs area downscale, K=16 (contrast)",
                     f"{oklab_error(out_contrast, reference):.4f} ({unique_colours(out_contrast)} col)",
                     f"{oklab_error(out_oe, reference):.4f} ({unique_colours(out_oe)} col)", "PixelOE"))
    t_big, big = timed(lambda: pixelize(torch.rand(1, 2048, 2048, 3, generator=torch.Generator().manual_seed(0))
                                        .to(device), size=(256, 256), colors=256), 1)
    rows.append(("2048² → 256², 256 colours (no crash), s", f"{t_big:.2f} ({unique_colours(big.image)} col)", "-",
                 "stability"))
    a = ours("contrast")
    rows.append(("bit-identical rerun", str(torch.equal(a, out_contrast)), "-", "determinism"))
    if not args.skip_grid:
        rows.extend(grid_rows(args.grid_count, args.grid_set, seeds))
    print_rows(rows)


def print_rows(rows: list[tuple[str, str, str, str]]) -> None:
    header = ("measure", "ours", "anchor", "anchor / note")
    widths = [max(len(r[i]) for r in [*rows, header]) for i in range(4)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))  # noqa: T201


if __name__ == "__main__":
    main()
