"""Binary alpha, background removal (colour key and border flood fill) and phantom-pixel cleanup."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

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
                      tolerance: float = 0.05, enclosed: bool = False, lab: torch.Tensor | None = None, *,
                      check_interrupt: Callable[[], None] | None = None) -> torch.Tensor:
    """Return RGBA ``image`` with the background made transparent (RGB zeroed there).

    ``method`` "key" clears every pixel within ``tolerance`` (OKLab distance) of the key colour; "flood" clears
    only those connected to the image border, plus enclosed holes when ``enclosed``. The key defaults to the
    most common border colour of each frame. ``lab`` is the RGB already in OKLab, when the caller has it.
    ``check_interrupt`` is called between passes of the flood fill and stops it by raising. Raises ValueError on
    an unknown method or tolerance outside 0..1, and whatever ``check_interrupt`` raises.
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
        passable = candidate | (image[..., 3] <= 0)
        candidate = _connected_to_border(passable, check_interrupt=check_interrupt) & candidate
    alpha = torch.where(candidate, torch.zeros_like(image[..., 3]), image[..., 3])
    return zero_transparent(torch.cat([image[..., :3], alpha.unsqueeze(-1)], dim=-1))


def _connected_to_border(passable: torch.Tensor, *,
                         check_interrupt: Callable[[], None] | None = None) -> torch.Tensor:
    """Return [B,H,W] bool on ``passable``'s device: the passable pixels 4-connected to the frame border.

    Connected-components labelling of horizontal runs (union-find: min-label hooking and pointer jumping) in
    numpy, O(pixels + runs × log) even for a 1-px serpentine corridor. ``check_interrupt`` is called once per
    pass and stops the work by raising. Raises ValueError when ``passable`` is not [B,H,W], and whatever
    ``check_interrupt`` raises.
    """
    if passable.dim() != 3:
        raise ValueError(f"flood fill expects a [B,H,W] mask, got shape {tuple(passable.shape)}")
    # numpy on the CPU: its gathers and cumsum are several times faster than torch's CPU kernels here, and a
    # bool mask from a GPU is cheap to copy (1 byte per pixel) next to the colour work around it.
    p = passable.detach().bool().cpu().numpy()
    if p.size == 0:
        return passable.bool().clone()
    reached = _border_runs_reached(p, check_interrupt)
    return torch.from_numpy(reached).to(passable.device)


def _border_runs_reached(p: np.ndarray, check_interrupt: Callable[[], None] | None) -> np.ndarray:
    """Return the pixels of bool [B,H,W] ``p`` 4-connected to the border; raises what ``check_interrupt`` raises."""
    index = np.int32 if p.size < np.iinfo(np.int32).max else np.int64
    # Nodes are horizontal runs of passable pixels (far fewer than pixels on sprites and mazes), numbered from 1
    # in row-major order; node 0 stands for "the border", so touching the border is just being joined to node 0.
    start = p.copy()
    start[..., 1:] &= ~p[..., :-1]
    run = np.cumsum(start, axis=None, dtype=index).reshape(p.shape)  # run id of each passable pixel
    n_nodes = int(run[-1, -1, -1]) + 1
    # Runs in consecutive rows of one frame touch where a pixel and the one below are both passable; one edge per
    # overlap interval (its first column) is enough and keeps the edge list about as long as the run list.
    down = p[:, :-1] & p[:, 1:]
    first = down.copy()
    first[..., 1:] &= ~down[..., :-1]
    # Border runs: every run of the first and last row, and the runs holding column 0 or column W-1.
    touching = np.concatenate([
        run[:, 0][start[:, 0]], run[:, -1][start[:, -1]], run[..., 0][p[..., 0]], run[..., -1][p[..., -1]],
    ])
    u = np.concatenate([run[:, :-1][first], np.zeros_like(touching)])
    v = np.concatenate([run[:, 1:][first], touching])
    parent = np.arange(n_nodes, dtype=index)
    while True:
        if check_interrupt is not None:
            check_interrupt()
        # parent is fully compressed here, so these are roots. Hooking the larger root under the smallest one it
        # touches keeps parent[x] <= x (no cycles). A tree not hooked this round has only larger neighbours and
        # hooks next round unless one hooked onto it: within two rounds every tree merges, so the trees per
        # component halve every two rounds: O(log) rounds of O(edges) work.
        ru, rv = parent[u], parent[v]
        live = ru != rv
        if not live.any():
            break
        # Edges inside one tree stay inside it: drop them so later rounds get cheaper.
        u, v, ru, rv = u[live], v[live], ru[live], rv[live]
        np.minimum.at(parent, np.maximum(ru, rv), np.minimum(ru, rv))
        while True:  # pointer jumping: the depth of every tree halves per pass
            if check_interrupt is not None:
                check_interrupt()
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return p & (parent[run] == 0)
