"""What this machine has free, checked before big work so a huge input is a clear error, never an out-of-memory kill.

The one place that reads the system's memory figures (/proc/meminfo, the cgroup); ops/ stays free of file access.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

# Peak memory of pixelize per input pixel, input included: 104-110 bytes measured on the CPU for 2048² and 4096²
# in every mode (contrast, kcentroid, majority, area, nearest, grid auto, with FS dithering), rounded up.
PIXELIZE_BYTES_PER_PIXEL = 128


def available_bytes(device: torch.device | str) -> int | None:
    """Return the memory free for new tensors on ``device`` (None when this system does not say)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # Memory PyTorch keeps reserved but unused is free for it too.
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if device.type != "cpu":
        return None
    known = [free for free in (_meminfo_available(), cgroup_free()) if free is not None]
    return min(known) if known else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:  # MemAvailable counts page cache the kernel can drop
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def cgroup_free(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Return what this process's memory cgroup (a container's limit) still allows, None without a limit.

    /proc/meminfo shows the host's memory even inside a container, so the cgroup limit is read too (v2, then v1).
    """
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            limit = (root / limit_file).read_text().strip()
            usage = int((root / usage_file).read_text())
        except (OSError, ValueError):
            continue
        if limit == "max" or int(limit) >= 1 << 60:  # v1 writes "no limit" as a number near 2**63
            return None
        return max(int(limit) - usage, 0)
    return None


def pixelize_bytes(shape: torch.Size | tuple[int, ...]) -> int:
    """Return the peak memory that pixelizing an image batch of ``shape`` [B,H,W,C] needs."""
    pixels = 1
    for side in shape[:-1]:
        pixels *= int(side)
    return pixels * PIXELIZE_BYTES_PER_PIXEL


def fits(needed: int, device: torch.device | str) -> bool:
    """Return whether ``needed`` bytes are free on ``device`` (True when the system does not say)."""
    free = available_bytes(device)
    return free is None or needed <= free


def require_memory(needed: int, device: torch.device | str, what: str) -> None:
    """Raise ValueError naming ``what`` when ``needed`` bytes are not free on ``device``."""
    free = available_bytes(device)
    if free is not None and needed > free:
        raise ValueError(f"{what} needs about {needed / 2**30:.1f} GiB of memory on {torch.device(device)} but "
                         f"only {free / 2**30:.1f} GiB are free; use fewer or smaller images (split the batch, or "
                         "downscale first)")


def require_pixelize_memory(image: torch.Tensor) -> None:
    """Raise ValueError when pixelizing ``image`` ([B,H,W,C] or one [H,W,C]) would not fit in free memory on its
    device. Reads only the shape, so a huge expanded view is refused before any pixel is touched."""
    if not isinstance(image, torch.Tensor) or image.dim() not in (3, 4):
        return  # pixelize itself names what is wrong with such an input
    frames = image.shape[0] if image.dim() == 4 else 1
    require_memory(pixelize_bytes(image.shape), image.device,
                   f"pixelizing {frames} image(s) of {image.shape[-2]}x{image.shape[-3]}")



def require_node_memory(needed_bytes: int, what: str, parameter: str) -> None:
    """Raise ValueError when a node's result (``needed_bytes``, on the CPU where ComfyUI keeps IMAGE tensors) would
    not fit in free memory; the message names the node's work ``what`` and the ``parameter`` to lower."""
    free = available_bytes("cpu")
    if free is not None and needed_bytes > free:
        raise ValueError(f"{what} needs about {needed_bytes / 2**30:.1f} GiB of memory but only "
                         f"{free / 2**30:.1f} GiB are free; lower {parameter}")


def image_bytes(batch: int, height: int, width: int, channels: int) -> int:
    """Return the bytes of a float32 IMAGE tensor of that shape."""
    return 4 * batch * height * width * channels
