"""True-grid downscaling (five cell modes) and grid recovery for "fake" pixel art."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .alpha import zero_transparent
from .color import check_image, rgb_to_oklab

MODES = ("contrast", "kcentroid", "majority", "nearest", "area")


@dataclass(frozen=True)
class Grid:
    """Cell boundaries in source pixels: ``x_bounds`` has width+1 ascending cuts from 0 to W (``y_bounds`` alike).

    ``cell_x``/``cell_y`` are the typical cell sizes and ``offset_x``/``offset_y`` the phase of the cuts.
    """

    x_bounds: tuple[float, ...]
    y_bounds: tuple[float, ...]
    cell_x: float
    cell_y: float
    offset_x: float = 0.0
    offset_y: float = 0.0

    @property
    def width(self) -> int:
        """Number of cells across (the native width)."""
        return len(self.x_bounds) - 1

    @property
    def height(self) -> int:
        """Number of cells down (the native height)."""
        return len(self.y_bounds) - 1


def uniform_grid(height: int, width: int, out_height: int, out_width: int) -> Grid:
    """Return the grid that splits a ``height``x``width`` image into exactly ``out_height``x``out_width`` cells.

    Raises ValueError when the output is larger than the image or not positive.
    """
    if out_width < 1 or out_height < 1:
        raise ValueError(f"output size must be at least 1x1, got {out_width}x{out_height}")
    if out_width > width or out_height > height:
        raise ValueError(f"output size {out_width}x{out_height} is larger than the {width}x{height} image; "
                         "pixelizing only shrinks (use an integer upscale node to enlarge)")
    xs = tuple(i * width / out_width for i in range(out_width + 1))
    ys = tuple(i * height / out_height for i in range(out_height + 1))
    return Grid(xs, ys, width / out_width, height / out_height)


def grid_from_cell(height: int, width: int, cell_px: float, offset_x: float = 0.0, offset_y: float = 0.0,
                   cell_px_y: float | None = None) -> Grid:
    """Return the grid of cells ``cell_px`` wide whose cuts sit at ``offset + k*cell`` (the manual override).

    Slivers under half a cell at either edge join their neighbour. Raises ValueError when the cell is smaller
    than 1 px or larger than the image.
    """
    cell_y = cell_px if cell_px_y is None else cell_px_y
    for name, cell, side in (("cell", cell_px, width), ("cell (vertical)", cell_y, height)):
        if not cell >= 1:
            raise ValueError(f"{name} size must be at least 1 pixel, got {cell}")
        if cell > side:
            raise ValueError(f"{name} size {cell} px is larger than the image ({width}x{height}); "
                             f"use at most {side}")
    xs = _bounds_from_cuts(_comb(offset_x, cell_px, width), width, cell_px)
    ys = _bounds_from_cuts(_comb(offset_y, cell_y, height), height, cell_y)
    return Grid(xs, ys, float(cell_px), float(cell_y), offset_x % cell_px, offset_y % cell_y)


def _comb(offset: float, cell: float, length: int) -> list[float]:
    k0 = math.ceil((0 - offset) / cell)
    k1 = math.floor((length - offset) / cell)
    return [offset + k * cell for k in range(k0, k1 + 1)]


def _bounds_from_cuts(cuts: list[float], length: int, cell: float) -> tuple[float, ...]:
    inner = sorted(c for c in cuts if 0 < c < length)
    kept: list[float] = []
    for c in inner:
        if not kept or c - kept[-1] >= 0.5 * cell:
            kept.append(c)
    # Slivers under half a cell at either edge join their neighbour. The two edges are judged together: a canvas
    # usually holds a whole number of cells, so when the phase sits near half a cell (both slivers near half) the
    # count that matches length/cell decides, instead of noise in the phase dropping or keeping both.
    drop_first = bool(kept) and kept[0] < 0.5 * cell
    drop_last = len(kept) > int(drop_first) and length - kept[-1] < 0.5 * cell
    target = max(1, round(length / cell))
    count = len(kept) + 1 - int(drop_first) - int(drop_last)
    if len(kept) >= 2:
        first, last = kept[0] / cell, (length - kept[-1]) / cell
        if count > target and not (drop_first or drop_last) and min(first, last) < 0.75:
            drop_first, drop_last = first <= last, last < first
        elif count < target and drop_first and drop_last and max(first, last) > 0.25:
            drop_first, drop_last = first < last, last <= first
    if drop_last:
        kept.pop()
    if drop_first:
        kept.pop(0)
    return (0.0, *kept, float(length))


def _sample_index(bounds: tuple[float, ...], length: int, inset: float, device: torch.device) -> tuple[torch.Tensor, int]:
    b = torch.tensor(bounds, dtype=torch.float64)
    lo, hi = b[:-1], b[1:]
    span = hi - lo
    lo, hi = lo + inset * span, hi - inset * span
    n = max(1, math.ceil(float((hi - lo).max())))
    t = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    pos = lo[:, None] + t[None, :] * (hi - lo)[:, None]
    idx = pos.floor().long().clamp(0, length - 1)
    return idx.reshape(-1).to(device), n


def sample_cells(image: torch.Tensor, grid: Grid, inset: float = 0.0) -> torch.Tensor:
    """Return evenly spaced samples of each grid cell: [B, grid.height, grid.width, N, C].

    ``inset`` (0..0.45) skips that share of each cell's border, which is where blur lives in fake pixel art.
    """
    b, h, w, c = image.shape
    yi, ny = _sample_index(grid.y_bounds, h, inset, image.device)
    xi, nx = _sample_index(grid.x_bounds, w, inset, image.device)
    s = image.index_select(1, yi).index_select(2, xi)
    s = s.reshape(b, grid.height, ny, grid.width, nx, c).permute(0, 1, 3, 2, 4, 5)
    return s.reshape(b, grid.height, grid.width, ny * nx, c)


def _weighted_mean(x: torch.Tensor, wts: torch.Tensor) -> torch.Tensor:
    total = wts.sum(-1, keepdim=True)
    return (x * wts.unsqueeze(-1)).sum(-2) / total.clamp(min=1e-8)


def reduce_cells(samples: torch.Tensor, mode: str) -> torch.Tensor:
    """Return one colour per cell [B,h,w,C] from ``samples`` [B,h,w,N,C] by ``mode`` (see MODES).

    Transparent samples never pick the colour; a cell's alpha is its opaque coverage. Raises ValueError on an
    unknown mode.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    rgb = samples[..., :3]
    has_alpha = samples.shape[-1] == 4
    alpha = samples[..., 3] if has_alpha else torch.ones_like(rgb[..., 0])
    valid = (alpha > 0.5).float()
    # A cell with no opaque sample still gets a colour (it is zeroed later by its alpha).
    wts = torch.where(valid.sum(-1, keepdim=True) > 0, valid, torch.ones_like(valid))
    if mode == "nearest":
        centre = samples[..., samples.shape[-2] // 2, :]
        return centre
    if mode == "area":
        colour = _weighted_mean(rgb, alpha if has_alpha else wts)
    elif mode == "majority":
        colour = _majority(rgb, wts)
    elif mode == "kcentroid":
        colour = _kcentroid(rgb, wts)
    else:
        colour = _contrast(rgb, wts)
    if has_alpha:
        return torch.cat([colour, alpha.mean(-1, keepdim=True)], dim=-1)
    return colour


def _majority(rgb: torch.Tensor, wts: torch.Tensor) -> torch.Tensor:
    q = (rgb * 31).round().long()
    codes = (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]
    codes = torch.where(wts > 0, codes, torch.full_like(codes, 1 << 15))
    srt = codes.sort(-1).values
    n = srt.shape[-1]
    ar = torch.arange(n, device=rgb.device).expand_as(srt)
    new_run = torch.ones_like(srt, dtype=torch.bool)
    new_run[..., 1:] = srt[..., 1:] != srt[..., :-1]
    start = torch.where(new_run, ar, torch.zeros_like(ar)).cummax(-1).values
    run = ar - start + 1
    run = torch.where(srt == (1 << 15), torch.zeros_like(run), run)
    best = srt.gather(-1, run.argmax(-1, keepdim=True))
    # An actual sample of the winning colour, not a mean: identical pixels stay bit-identical.
    first = ((codes == best) & (wts > 0)).float().argmax(-1, keepdim=True)
    return rgb.gather(-2, first.unsqueeze(-1).expand(*first.shape, 3)).squeeze(-2)


def _kcentroid(rgb: torch.Tensor, wts: torch.Tensor, iterations: int = 4) -> torch.Tensor:
    lum = rgb_to_oklab(rgb)[..., 0]
    big = torch.finfo(lum.dtype).max
    dark = torch.where(wts > 0, lum, torch.full_like(lum, big)).argmin(-1, keepdim=True)
    light = torch.where(wts > 0, lum, torch.full_like(lum, -big)).argmax(-1, keepdim=True)
    c0 = rgb.gather(-2, dark.unsqueeze(-1).expand(*dark.shape, 3)).squeeze(-2)
    c1 = rgb.gather(-2, light.unsqueeze(-1).expand(*light.shape, 3)).squeeze(-2)
    for _ in range(iterations):
        d0 = ((rgb - c0.unsqueeze(-2)) ** 2).sum(-1)
        d1 = ((rgb - c1.unsqueeze(-2)) ** 2).sum(-1)
        in1 = (d1 < d0).float() * wts
        in0 = (d1 >= d0).float() * wts
        c0 = torch.where(in0.sum(-1, keepdim=True) > 0, _weighted_mean(rgb, in0), c0)
        c1 = torch.where(in1.sum(-1, keepdim=True) > 0, _weighted_mean(rgb, in1), c1)
    # Ties go to the darker cluster so the result is deterministic.
    pick1 = (in1.sum(-1) > in0.sum(-1)).unsqueeze(-1)
    return torch.where(pick1, c1, c0)


def _contrast(rgb: torch.Tensor, wts: torch.Tensor) -> torch.Tensor:
    lum = rgb_to_oklab(rgb)[..., 0]
    big = 1e4
    lo = torch.where(wts > 0, lum, torch.full_like(lum, big)).min(-1, keepdim=True).values
    hi = torch.where(wts > 0, lum, torch.full_like(lum, -big)).max(-1, keepdim=True).values
    spread = hi - lo
    total = wts.sum(-1, keepdim=True)
    dark_half = (lum < lo + 0.5 * spread).float() * wts
    dark_share = dark_half.sum(-1, keepdim=True) / total
    # A thin dark minority (an outline, an eye) is the detail area averaging loses: keep it.
    darkest = (lum <= lo + 0.3 * spread).float() * wts
    keep_dark = (dark_share > 0) & (dark_share <= 0.4)
    majority = torch.where(dark_share > 0.5, dark_half, wts - dark_half)
    flat = spread < 0.06
    choice = torch.where(flat, wts, torch.where(keep_dark, darkest, majority))
    return _weighted_mean(rgb, choice)


def downscale(image: torch.Tensor, width: int, height: int, mode: str = "contrast") -> torch.Tensor:
    """Return ``image`` [B,H,W,C] reduced to exactly [B,height,width,C], one value per cell chosen by ``mode``.

    Raises ValueError for a bad image, an unknown mode or a size larger than the image.
    """
    image = check_image(image)
    grid = uniform_grid(image.shape[1], image.shape[2], height, width)
    return resample_grid(image, grid, mode)


def resample_grid(image: torch.Tensor, grid: Grid, mode: str = "contrast", inset: float = 0.0) -> torch.Tensor:
    """Return [B, grid.height, grid.width, C]: one value per cell of ``grid`` chosen by ``mode``.

    Raises ValueError on an unknown mode.
    """
    # Nearest takes the one sample at each cell's centre.
    samples = sample_cells(image, grid, inset=0.4999 if mode == "nearest" else inset)
    return zero_transparent(reduce_cells(samples, mode))


def size_from_cell(height: int, width: int, cell_px: float) -> tuple[int, int]:
    """Return (out_height, out_width) for cells of ``cell_px``; raise ValueError when the cell exceeds the image."""
    if not cell_px >= 1:
        raise ValueError(f"cell size must be at least 1 pixel, got {cell_px}")
    if cell_px > min(height, width):
        raise ValueError(f"cell size {cell_px} px is larger than the {width}x{height} image; "
                         f"use at most {min(height, width)}")
    return max(1, round(height / cell_px)), max(1, round(width / cell_px))


# ---------------------------------------------------------------------------------------------------------------
# Grid recovery

def _edge_profiles(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    rgb = image[..., :3]
    if image.shape[-1] == 4:
        rgb = torch.cat([rgb * image[..., 3:], image[..., 3:]], dim=-1)
    ex = (rgb[:, :, 1:] - rgb[:, :, :-1]).abs().sum(-1).mean((0, 1))
    ey = (rgb[:, 1:] - rgb[:, :-1]).abs().sum(-1).mean((0, 2))
    return ex.double().cpu(), ey.double().cpu()


def _clean(e: torch.Tensor) -> torch.Tensor:
    # Noise and JPEG ringing give every gap a little energy; real cell edges stand well above the median.
    return (e - e.median()).clamp(min=0)


def _coherence(e: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    pos = torch.arange(1, len(e) + 1, dtype=torch.float64)
    out = torch.empty(len(freqs), dtype=torch.complex128)
    for s in range(0, len(freqs), 2048):
        ang = -2 * math.pi * freqs[s:s + 2048, None] * pos[None, :]
        out[s:s + 2048] = torch.complex(torch.cos(ang) @ e, torch.sin(ang) @ e)
    return out


def _fit_comb(e: torch.Tensor, period: float, phase: float, length: int) -> tuple[float, float, list[float]]:
    pos = torch.arange(1, len(e) + 1, dtype=torch.float64)
    cuts: list[float] = []
    for _ in range(3):
        k = torch.arange(math.ceil(-phase / period), math.floor((length - phase) / period) + 1, dtype=torch.float64)
        if len(k) < 2:
            break
        teeth = phase + k * period
        win = max(0.35 * period, 0.75)
        near = ((pos[None, :] - teeth[:, None]).abs() <= win).double() * e[None, :]
        energy = near.sum(1)
        centroid = torch.where(energy > 0, (near * pos).sum(1) / energy.clamp(min=1e-12), teeth)
        if int((energy > 0).sum()) < 2:
            break
        w = energy / energy.sum()
        km, cm = (w * k).sum(), (w * centroid).sum()
        var = (w * (k - km) ** 2).sum()
        if var <= 0:
            break
        period = float((w * (k - km) * (centroid - cm)).sum() / var)
        phase = float(cm - period * km)
        if period < 1:
            break
        cuts = [float(c) for c in centroid]
        strong = energy > 0.3 * energy[energy > 0].mean()
        cuts = [float(c) if bool(s) else float(t) for c, t, s in zip(centroid, teeth, strong)]
    return period, phase, cuts


def _rows_for_axis(image: torch.Tensor, axis: int) -> torch.Tensor:
    x = image if axis == 2 else image.transpose(1, 2)
    # A spread of 64 lines tells the candidate grids apart as well as all of them, at a fraction of the cost.
    if x.shape[1] > 64:
        x = x.index_select(1, torch.linspace(0, x.shape[1] - 1, 64).round().long().to(x.device))
    # Scored on the CPU: the lines are few, and per-cell sums there add in order, where a GPU's atomics would
    # let near ties between candidates fall differently from one run to the next.
    return x.contiguous().cpu()


def _interior_error(x: torch.Tensor, bounds: tuple[float, ...]) -> float:
    # Mean distance of each cell's inner half to that inner half's mean. Blur lives at cell borders and is left
    # out; a cut through real content (a wrong period or phase) is not. Oversampled grids score no better.
    length = x.shape[2]
    b = torch.tensor(bounds, dtype=torch.float64)
    centre = torch.arange(length, dtype=torch.float64) + 0.5
    owner = torch.bucketize(centre, b[1:-1])
    rel = (centre - b[owner]) / (b[owner + 1] - b[owner])
    inner = (rel >= 0.25) & (rel <= 0.75)
    if not bool(inner.any()):
        return float("inf")
    o = owner[inner].to(x.device)
    cols = x[:, :, inner.to(x.device)]
    n = len(bounds) - 1
    sums = torch.zeros(*x.shape[:2], n, x.shape[3], dtype=x.dtype, device=x.device).index_add_(2, o, cols)
    counts = torch.bincount(o, minlength=n).to(x.dtype)
    # Leave-one-out: a pixel is compared with the rest of its cell, so one-pixel interiors prove nothing.
    c = counts[o]
    usable = c >= 2
    if not bool(usable.any()):
        return float("inf")
    rest = (sums[:, :, o] - cols) / (c - 1).clamp(min=1)[None, :, None]
    return float((cols - rest).abs()[:, :, usable].mean())


def _capture(e: torch.Tensor, teeth: list[float], period: float) -> float:
    # Share of the edge energy within reach of the comb's teeth (blur spreads an edge by a pixel or so,
    # whatever the cell size), rescaled so that 0 is chance and 1 is every edge on a tooth.
    total = float(e.sum())
    if total <= 0 or not teeth:
        return 0.0
    pos = torch.arange(1, len(e) + 1, dtype=torch.float64)
    t = torch.tensor(teeth, dtype=torch.float64)
    near = (pos[:, None] - t[None, :]).abs().min(1).values <= max(0.15 * period, 1.0)
    # Relative to what a comb covering that share of positions would catch by chance: fine combs cover everything.
    coverage = float(near.double().mean())
    if coverage >= 1:
        return 0.0
    return (float(e[near].sum()) / total - coverage) / (1 - coverage)


def _axis_candidate(e: torch.Tensor, rows: torch.Tensor, period: float, length: int, drift: float,
                    fit: bool = True) -> tuple[float, tuple[float, ...], float, float, float] | None:
    """(period, bounds, phase, interior error, capture) of the comb near ``period``; ``fit`` refines the period."""
    pos = torch.arange(1, len(e) + 1, dtype=torch.float64)
    s = (e * torch.exp(torch.complex(torch.zeros_like(e), -2 * math.pi / period * pos))).sum()
    phase = (-math.atan2(float(s.imag), float(s.real)) / (2 * math.pi) * period) % period
    if fit:
        period, phase, cuts = _fit_comb(e, period, phase, length)
        if period < 1:
            return None
    else:
        cuts = []
    teeth = _comb(phase, period, length)
    snapped = cuts if len(cuts) == len(teeth) else teeth
    final = [c if abs(c - t) <= drift * period else t for c, t in zip(snapped, teeth)]
    bounds = _bounds_from_cuts(final, length, period)
    # Judged on the regular comb: cuts snapped to edges would make a harmonic look right.
    return period, bounds, phase % period, _interior_error(rows, bounds), _capture(e, teeth, period)


def _recover_axis(rows: torch.Tensor, e: torch.Tensor, min_cell: float, max_cell: float,
                  drift: float) -> list[tuple[tuple[float, ...], float, float]]:
    """Acceptable (bounds, period, phase) for one axis, best first (``e`` cleaned edge energy, ``rows`` its lines)."""
    length = rows.shape[2]
    if float(e.sum()) <= 0:
        return [((0.0, float(length)), float(length), 0.0)]
    freqs = torch.arange(1 / max_cell, 1 / min_cell, 0.2 / length, dtype=torch.float64)
    spectrum = _coherence(e, freqs)
    mag = spectrum.abs()
    is_peak = (mag[1:-1] >= mag[:-2]) & (mag[1:-1] >= mag[2:])
    idx = torch.nonzero(is_peak).flatten() + 1
    peaks = idx[mag[idx].argsort(descending=True)[:5]].tolist()
    candidates: list[tuple[float, tuple[float, ...], float, float, float]] = []
    seen: set[int] = set()
    fitted: set[tuple[float, float]] = set()
    for i in peaks:
        for m in range(1, 5):
            period = m / float(freqs[i])
            if not min_cell <= period <= max_cell or round(period * 20) in seen:
                continue
            seen.add(round(period * 20))
            fit = _axis_candidate(e, rows, period, length, drift)
            if fit is None or not min_cell * 0.9 <= fit[0] <= max_cell * 1.1:
                continue
            key = (round(fit[0], 2), round(fit[2], 1))
            if key in fitted:
                continue
            fitted.add(key)
            candidates.append(fit)
    if not candidates:
        return [((0.0, float(length)), float(length), 0.0)]
    best = min(c[3] for c in candidates)
    # The true comb puts a tooth near every real edge, while a cell too large (1.5x, 2x) misses the edges between
    # its teeth: among fairly flat grids (small cells look flatter, their inner half is a pixel or two, hence the
    # loose bound) the one that catches the most edge energy wins. Its harmonics (half or a third of the cell)
    # catch everything too, so a winner gives way to a multiple of itself that still explains most edges.
    ok = [c for c in candidates if c[3] <= best * 2.5 + 0.004]
    ok.sort(key=lambda c: (round(c[4], 2), -c[3]), reverse=True)
    chosen = ok[0]
    promoted = True
    while promoted:
        promoted = False
        for c in candidates:
            k = c[0] / chosen[0]
            if (round(k) in (2, 3) and abs(k - round(k)) <= 0.04 * round(k) and c[4] >= 0.7
                    and c[4] >= 0.8 * chosen[4] and c[3] <= best * 4 + 0.01):
                chosen, promoted = c, True
                break
    rest = [c for c in ok if c is not chosen]
    return [(bounds, period, phase) for period, bounds, phase, _, _ in [chosen, *rest]]


def _edge_variants(bounds: tuple[float, ...], length: int, cell: float) -> list[tuple[float, ...]]:
    """``bounds`` shifted by one cell: one edge cell merged into its neighbour and one split off at the other end.

    A phase near half a cell leaves each edge cell between half and one and a half cells wide: which edge holds
    the extra part cannot be told from the cuts (the count can: it stays), only from the picture.
    """
    cuts = list(bounds[1:-1])
    out = []
    if len(cuts) >= 2 and cuts[1] <= 1.75 * cell and length - cuts[-1] - cell >= 0.25 * cell:
        out.append((0.0, *cuts[1:], cuts[-1] + cell, float(length)))
    if len(cuts) >= 2 and length - cuts[-2] <= 1.75 * cell and cuts[0] - cell >= 0.25 * cell:
        out.append((0.0, cuts[0] - cell, *cuts[:-1], float(length)))
    return out


# Joint choice of the two axes: candidates per axis, blur widths tried, the window judged and the penalties.
_PER_AXIS = 6
_BLURS = (0.0, 0.5, 0.8, 1.2, 1.8)
_WINDOW = 192
_CELL_COST = 0.2
_ASPECT_COST = 0.25
_BLUR_REACH = 1.2
_EDGE_COST = 0.02


def _signal(image: torch.Tensor) -> torch.Tensor:
    rgb = image[..., :3]
    if image.shape[-1] == 4:
        rgb = torch.cat([rgb * image[..., 3:], image[..., 3:]], dim=-1)
    return rgb.float()


def _window(length: int) -> torch.Tensor:
    # Long sides are judged on their two ends (where the edge cells are decided) and their middle.
    if length <= _WINDOW:
        return torch.arange(length)
    part = _WINDOW // 3
    mid = (length - part) // 2
    return torch.cat([torch.arange(part), torch.arange(mid, mid + part), torch.arange(length - part, length)])


def _owners(bounds: tuple[float, ...], pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    b = torch.tensor(bounds, dtype=torch.float64)
    centre = pixels.double() + 0.5
    owner = torch.bucketize(centre, b[1:-1])
    rel = (centre - b[owner]) / (b[owner + 1] - b[owner])
    return owner, (rel >= 0.25) & (rel <= 0.75)


def _blur_matrix(pixels: torch.Tensor, sigma: float) -> torch.Tensor:
    # Row i holds the Gaussian weights of pixel i's neighbours (edges replicated): blurring is a matrix product.
    # Each run of consecutive pixels of the window is blurred on its own.
    size = len(pixels)
    if sigma == 0:
        return torch.eye(size)
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma * sigma))
    run = torch.cat([torch.zeros(1, dtype=torch.long), (pixels[1:] != pixels[:-1] + 1).long()]).cumsum(0)
    first = torch.zeros(int(run[-1]) + 1, dtype=torch.long).scatter_reduce_(0, run, torch.arange(size), "amin",
                                                                           include_self=False)
    last = torch.zeros(int(run[-1]) + 1, dtype=torch.long).scatter_reduce_(0, run, torch.arange(size), "amax",
                                                                          include_self=False)
    idx = torch.arange(size)[:, None] + torch.arange(-r, r + 1)[None, :]
    idx = torch.maximum(torch.minimum(idx, last[run][:, None]), first[run][:, None])
    return torch.zeros(size, size).scatter_add_(1, idx, (k / k.sum()).expand(size, -1).contiguous())


def _pair_scores(image: torch.Tensor, pairs: list[tuple[tuple[tuple[float, ...], float, float],
                                                        tuple[tuple[float, ...], float, float]]]) -> list[float]:
    """Score (lower is better) each (x, y) candidate by rebuilding the image from its cells.

    Fake pixel art is a nearest-neighbour upscale, blurred, plus noise: each cell takes the mean of its inner half,
    the cells are painted back and blurred by the best of a few widths, and the mean error is what is left. With
    the blur modelled, a finer grid (half cells) no longer fits better by drawing blurred borders, so a small
    scale-free price per cell (twice the cells must cut the error by 13%) keeps the coarsest grid that fits,
    while a grid a few percent off cuts through cells and fits visibly worse.
    """
    b, h, w = image.shape[:3]
    frames = image[torch.linspace(0, b - 1, min(b, 4)).round().long().to(image.device)]
    py, px = _window(h), _window(w)
    hh, ww = len(py), len(px)
    x = _signal(frames.index_select(1, py.to(image.device)).index_select(2, px.to(image.device))).cpu()
    target = x.permute(0, 3, 1, 2)  # [F,C,hh,ww]
    blur_y = torch.stack([_blur_matrix(py, s) for s in _BLURS])[:, None, None]  # [S,1,1,hh,hh]
    blur_x = torch.stack([_blur_matrix(px, s) for s in _BLURS])[:, None, None]
    scores = []
    for (xb, cx, _), (yb, cy, _) in pairs:
        ox, ix = _owners(xb, px)
        oy, iy = _owners(yb, py)
        nx, ny = len(xb) - 1, len(yb) - 1
        # Cell means of the inner half; a cell cut by the window may keep no inner pixel and takes all it has.
        wy = torch.zeros(ny, hh).index_put_((oy, torch.arange(hh)), torch.ones(hh))
        wx = torch.zeros(nx, ww).index_put_((ox, torch.arange(ww)), torch.ones(ww))
        wy_in, wx_in = wy * iy.float(), wx * ix.float()
        inner = wy_in @ target @ wx_in.T
        count = wy_in.sum(1)[:, None] * wx_in.sum(1)[None, :]
        full = (wy @ target @ wx.T) / (wy.sum(1)[:, None] * wx.sum(1)[None, :]).clamp(min=1)
        colour = torch.where(count > 0, inner / count.clamp(min=1), full)
        painted = (blur_y @ wy.T) @ colour @ (wx @ blur_x.transpose(-1, -2))  # [S,F,C,hh,ww]
        err = float((painted - target).abs().sum(2).mean((1, 2, 3)).min())
        # Edge cells are judged by a few pixels, often plain background: in a near tie the canvas that holds the
        # most nearly whole edge cells wins.
        edges = sum(abs((bd[1] - bd[0]) / c - 1) + abs((bd[-1] - bd[-2]) / c - 1)
                    for bd, c in ((xb, cx), (yb, cy)) if len(bd) > 2)
        # 0.01 is a floor for noise, so clean upscales (error near 0) are still told apart by their cell counts.
        scores.append(math.log(err + 0.01) + _CELL_COST * math.log(nx * ny) + _ASPECT_COST * abs(math.log(cx / cy))
                      + _EDGE_COST * edges)
    return scores


def detect_grid(image: torch.Tensor, min_cell_px: float = 2.0, max_cell_px: float | None = None,
                drift: float = 0.25) -> Grid:
    """Return the pixel grid of fake pixel art ``image`` (one grid for the whole batch, like animation frames).

    Cells may be non-integer; cuts may drift by up to ``drift`` of a cell. Raises ValueError for a bad image or
    bounds that leave no cell size to test.
    """
    image = check_image(image)
    h, w = image.shape[1:3]
    if max_cell_px is None:
        max_cell_px = max(min_cell_px + 1, min(h, w) / 4)
    if not 1 <= min_cell_px < max_cell_px:
        raise ValueError(f"min_cell_px ({min_cell_px}) must be at least 1 and below max_cell_px ({max_cell_px})")
    if not 0 <= drift <= 0.5:
        raise ValueError(f"drift must be between 0 and 0.5 of a cell, got {drift}")
    ex, ey = _edge_profiles(image)
    axes = [(_rows_for_axis(image, 2), _clean(ex)), (_rows_for_axis(image, 1), _clean(ey))]
    xs, ys = (_recover_axis(r, e, min_cell_px, max_cell_px, drift)[:_PER_AXIS] for r, e in axes)
    # Cells are almost always square: each axis also tries the other axis's leading cell sizes, fitted to its
    # own edges at that exact size (small cells on short sides often get a period a few percent off).
    leading = [[period for _, period, _ in found[:3]] for found in (xs, ys)]
    for mine, (rows, e), periods in ((xs, axes[0], leading[1]), (ys, axes[1], leading[0])):
        have = {b for b, _, _ in mine}
        for period in periods:
            fit = _axis_candidate(e, rows, period, rows.shape[2], drift, fit=False)
            if fit is not None and fit[1] not in have and min_cell_px * 0.9 <= period <= max_cell_px * 1.1:
                have.add(fit[1])
                mine.append((fit[1], fit[0], fit[2]))
    # Judged jointly: near-square pairs, and each axis's own best beside every cell size of the other.
    pairs = [(x, y) for i, x in enumerate(xs) for j, y in enumerate(ys)
             if i == 0 or j == 0 or abs(math.log(x[1] / y[1])) <= 0.15]
    chosen = _best_pair(image, pairs)
    # The chosen comb's edge cells, one axis at a time.
    for axis, length in ((0, w), (1, h)):
        bounds, cell, phase = chosen[axis]
        tries = [chosen]
        for variant in _edge_variants(bounds, length, cell):
            moved = list(chosen)
            moved[axis] = (variant, cell, phase)
            tries.append(tuple(moved))
        if len(tries) > 1:
            chosen = _best_pair(image, tries)
    (xb, cx, ox), (yb, cy, oy) = chosen
    return Grid(xb, yb, cx, cy, ox, oy)


def _best_pair(image: torch.Tensor, pairs: list) -> tuple:
    """The (x, y) candidate with the lowest score (the first one on a tie)."""
    scores = _pair_scores(image, pairs)
    return pairs[min(range(len(pairs)), key=scores.__getitem__)]


def recover_pixels(image: torch.Tensor, grid: Grid | None = None, mode: str = "majority",
                   inset: float = 0.2) -> tuple[torch.Tensor, Grid]:
    """Return (native-size image [B,grid.height,grid.width,C], grid) for fake pixel art.

    ``grid`` overrides detection. Cells are sampled away from their blurred borders: ``inset`` of each cell, and
    at least the 1.2 px next to each cut (blur reaches that far whatever the cell size, which matters for small
    cells). Raises ValueError for a bad image or mode.
    """
    image = check_image(image)
    grid = detect_grid(image) if grid is None else grid
    inset = max(inset, min(0.45, _BLUR_REACH / min(grid.cell_x, grid.cell_y)))
    return resample_grid(image, grid, mode, inset=inset), grid
