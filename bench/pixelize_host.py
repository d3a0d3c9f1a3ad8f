"""Pixelize as the node runs it on a GPU: from the host-memory IMAGE a node receives to the host-memory IMAGE it
returns (copy in, pixelize, copy out), beside the copies alone (the floor) and the GPU-resident pixelize.

    python bench/pixelize_host.py [--runs 10] [--json FILE]

Prints one table; medians over --runs after a warm-up. Run it twice (two trees) to compare versions in one lease.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from dgx_pixels.ops.pixelize import pixelize

CASES = [  # label, source H, W, output h, w, batch
    ("1024²→128² K=16", 1024, 1024, 128, 128, 1),
    ("1024²→128² K=16", 1024, 1024, 128, 128, 16),
    ("1024²→128² K=16", 1024, 1024, 128, 128, 64),
    ("1080p→270p K=16", 1080, 1920, 270, 480, 1),
    ("1080p→270p K=16", 1080, 1920, 270, 480, 16),
]


def host_batch(height: int, width: int, batch: int) -> torch.Tensor:
    """A diffusion-like float32 [B,H,W,3] batch in ordinary (pageable) host memory, like ComfyUI's IMAGE."""
    g = torch.Generator().manual_seed(0)
    low = torch.rand(batch, 3, 8, 8, generator=g)
    smooth = torch.nn.functional.interpolate(low, size=(height, width), mode="bicubic", align_corners=False)
    return smooth.clamp(0, 1).permute(0, 2, 3, 1).contiguous()


def median_s(fn, runs: int) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        torch.cuda.synchronize()
        started = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device: this benchmark times the GPU path", file=sys.stderr)  # noqa: T201
        return 2
    device = torch.device("cuda")
    rows = []
    for label, height, width, out_h, out_w, batch in CASES:
        images = host_batch(height, width, batch)
        on_gpu = images.to(device)
        with torch.no_grad():
            copies = median_s(lambda: pixelize_copies(images, device, out_h, out_w, batch), args.runs)
            resident = median_s(lambda: pixelize(on_gpu, size=(out_w, out_h), colors=16), args.runs)
            node = median_s(lambda: pixelize(images.to(device), size=(out_w, out_h), colors=16).image.cpu(),
                            args.runs)
        rows.append({"case": label, "batch": batch, "node_path_s": node, "gpu_resident_s": resident,
                     "copies_only_s": copies, "node_images_per_s": batch / node,
                     "copy_limit_images_per_s": batch / copies})
        torch.cuda.empty_cache()
    header = f"{'case':18} {'batch':>5} {'node path img/s':>16} {'GPU-resident img/s':>19} {'copy limit img/s':>17}"
    print(header)  # noqa: T201
    for row in rows:
        print(f"{row['case']:18} {row['batch']:5d} {row['node_images_per_s']:16.1f} "  # noqa: T201
              f"{row['batch'] / row['gpu_resident_s']:19.1f} {row['copy_limit_images_per_s']:17.1f}")
    if args.json:
        args.json.write_text(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                                         "python": platform.python_version(), "rows": rows}, indent=1))
    return 0


def pixelize_copies(images: torch.Tensor, device: torch.device, out_h: int, out_w: int, batch: int) -> torch.Tensor:
    """The copies alone: the host IMAGE in, an output-sized RGBA batch out (what no pixelize can go below)."""
    images.to(device)
    return torch.empty(batch, out_h, out_w, 4, device=device).cpu()


if __name__ == "__main__":
    sys.exit(main())
