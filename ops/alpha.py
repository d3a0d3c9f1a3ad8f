"""Binary alpha, background removal (colour key and border flood fill) and phantom-pixel cleanup."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .color import rgb_to_oklab

BACKGROUNDS = ("none", "key", "flood")


def binarize_alpha(image: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Return RGBA ``image`` with alpha set to 0 or 1 at ``threshold`` and RGB zeroed where alpha is 0.

    An RGB image comes back unchanged. Raises ValueError when ``threshold`` is outside 0..1.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"alpha threshold must be between 0 and 1, got {threshold}")
    if image.shape[-1] != 4:
        return image
    alpha = (image[..., 3] >= max(threshold, 1e-6)).to(image.dtype)
    return zero_transparent(torch.cat([image[..., :3], alpha.unsqueeze(-1)], dim=-1))


def zero_transparent(image: torch.Tensor) -> torch.Tensor:
    """Return RGBA ``image`` with RGB set to 0 wherever alpha is 0 (no phantom pixels); RGB passes through."""
    if image.shape[-1] != 4:
        return image
    keep = (image[..., 3:] > 0).to(image.dtype)
    return torch.cat([image[..., :3] * keep, image[..., 3:]], dim=-1)


def border_color(image: torch.Tensor) -> torch.Tensor:
    """Return, per frame, the most common colour on the image border as [B,3] (the usual background)."""
    rgb = image[..., :3]
    border = torch.cat([rgb[:, 0], rgb[:, -1], rgb[:, :, 0], rgb[:, :, -1]], dim=1)
    q = (border * 31).round().long()
    codes = (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]
    out = []
    for frame_codes, frame in zip(codes, border):
        mode = torch.mode(frame_codes).values
        out.append(frame[frame_codes == mode].mean(0))
    return torch.stack(out)


def remove_background(image: torch.Tensor, method: str = "flood", key_rgb: tuple[float, float, float] | None = None,
                      tolerance: float = 0.05, enclosed: bool = False, lab: torch.Tensor | None = None) -> torch.Tensor:
    """Return RGBA ``image`` with the background made transparent (RGB zeroed there).

    ``method`` "key" clears every pixel within ``tolerance`` (OKLab distance) of the key colour; "flood" clears
    only those connected to the image border, plus enclosed holes when ``enclosed``. The key defaults to the
    most common border colour of each frame. ``lab`` is the RGB already in OKLab, when the caller has it. Raises ValueError on an unknown method or tolerance outside 0..1.
    """
    if method not in BACKGROUNDS:
        raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}, got {method!r}")
    if not 0.0 <= tolerance <= 1.0:
        raise ValueError(f"background tolerance must be between 0 and 1, got {tolerance}")
    if image.shape[-1] == 3:
        image = torch.cat([image, torch.ones_like(image[..., :1])], dim=-1)
    if method == "none":
        return image
    if key_rgb is None:
        key = border_color(image)
    else:
        key = torch.tensor(key_rgb, dtype=image.dtype, device=image.device).expand(image.shape[0], 3)
    lab = rgb_to_oklab(image[..., :3]) if lab is None else lab
    dist = (lab - rgb_to_oklab(key)[:, None, None, :]).norm(dim=-1)
    candidate = (dist <= tolerance) & (image[..., 3] > 0)
    if method == "flood" and not enclosed:
        candidate = _connected_to_border(candidate | (image[..., 3] <= 0)) & candidate
    alpha = torch.where(candidate, torch.zeros_like(image[..., 3]), image[..., 3])
    return zero_transparent(torch.cat([image[..., :3], alpha.unsqueeze(-1)], dim=-1))


def _connected_to_border(passable: torch.Tensor) -> torch.Tensor:
    # Grow from the border through passable pixels (4-connected) until nothing changes.
    seed = torch.zeros_like(passable)
    seed[:, 0], seed[:, -1], seed[:, :, 0], seed[:, :, -1] = True, True, True, True
    reached = seed & passable
    kernel = torch.tensor([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=torch.float32, device=passable.device)
    kernel = kernel.view(1, 1, 3, 3)
    while True:
        grown = F.conv2d(reached.float().unsqueeze(1), kernel, padding=1).squeeze(1) > 0
        grown = grown & passable
        if torch.equal(grown, reached):
            return reached
        reached = grown
