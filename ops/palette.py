"""The palette type, palette files, built-ins, extraction (median cut + k-means in OKLab) and mapping."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .color import oklab_to_rgb, rgb_to_oklab
from .palettes_builtin import BUILTIN_HEX

MAX_COLORS = 256
# Distance chunks keep [pixels x K] matrices small at 2048² x 256 colours.
_CHUNK = 1 << 16
# Enough pixels for a stable palette; more only costs time.
_MAX_FIT_PIXELS = 1 << 16


@dataclass(frozen=True, eq=False)
class Palette:
    """An ordered set of sRGB colours: ``colors`` is a [K,3] uint8 array; ``source`` says where it came from."""

    name: str
    colors: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        colors = np.asarray(self.colors)
        if colors.ndim != 2 or colors.shape[1] != 3 or len(colors) == 0:
            raise ValueError(f"palette {self.name!r} needs colours as a [K,3] array with K >= 1, "
                             f"got shape {colors.shape}")
        object.__setattr__(self, "colors", np.ascontiguousarray(colors, dtype=np.uint8))

    def __len__(self) -> int:
        return len(self.colors)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Palette) and np.array_equal(self.colors, other.colors)

    def __hash__(self) -> int:
        return hash(self.colors.tobytes())

    def rgb(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Return the colours as float32 [K,3] in 0..1 on ``device``."""
        return torch.from_numpy(self.colors).to(device).float() / 255.0

    def oklab(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Return the colours in OKLab, float32 [K,3] on ``device``."""
        return rgb_to_oklab(self.rgb(device))

    def hex(self) -> list[str]:
        """Return the colours as ``RRGGBB`` strings."""
        return ["%02X%02X%02X" % tuple(int(v) for v in c) for c in self.colors]


def palette_from_hex(name: str, hex_colors: list[str] | tuple[str, ...], source: str = "") -> Palette:
    """Return a Palette from ``RRGGBB`` strings (``#`` optional); raise ValueError on a malformed colour."""
    colors = []
    for text in hex_colors:
        value = text.strip().lstrip("#")
        if len(value) == 8:  # RRGGBBAA exports: the palette is RGB only
            value = value[:6]
        if not re.fullmatch(r"[0-9a-fA-F]{6}", value):
            raise ValueError(f"palette {name!r}: {text!r} is not a colour; expected RRGGBB hex")
        colors.append([int(value[i:i + 2], 16) for i in (0, 2, 4)])
    if not colors:
        raise ValueError(f"palette {name!r} has no colours")
    if len(colors) > MAX_COLORS:
        raise ValueError(f"palette {name!r} has {len(colors)} colours; a palette holds at most {MAX_COLORS}")
    return Palette(name, np.array(colors, dtype=np.uint8), source)


def builtin_palette_names() -> list[str]:
    """Return the names of the built-in palettes."""
    return list(BUILTIN_HEX)


def builtin_palette(name: str) -> Palette:
    """Return the built-in palette ``name`` (case-insensitive); raise ValueError listing the valid names."""
    key = name.strip().lower().replace(" ", "-").replace("_", "-")
    if key not in BUILTIN_HEX:
        raise ValueError(f"unknown palette {name!r}; built-in palettes are: {', '.join(BUILTIN_HEX)}")
    return palette_from_hex(key, BUILTIN_HEX[key], source="builtin")


def parse_palette(data: bytes, filename: str) -> Palette:
    """Return the Palette in ``data``, read by the extension of ``filename`` (.hex, .gpl, .pal, .png, .txt).

    Raises ValueError when the file is empty, not of a supported kind, or holds no colours.
    """
    name = Path(filename).stem
    ext = Path(filename).suffix.lower()
    if not data:
        raise ValueError(f"palette file {filename!r} is empty")
    if ext == ".png" or data[:8] == b"\x89PNG\r\n\x1a\n":
        return _parse_png_strip(data, filename)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"palette file {filename!r} is not text; use .hex, .gpl, JASC .pal or a PNG strip") from exc
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"palette file {filename!r} is empty")
    if lines[0] == "GIMP Palette":
        return _parse_gpl(lines, name, filename)
    if lines[0] == "JASC-PAL":
        return _parse_jasc(lines, name, filename)
    if ext in (".hex", ".txt", ""):
        hexes = [line for line in lines if not line.startswith(";") and not line.startswith("//")]
        try:
            return palette_from_hex(name, hexes, source=filename)
        except ValueError as exc:
            raise ValueError(f"palette file {filename!r}: {exc}") from exc
    raise ValueError(f"palette file {filename!r} is not a .hex, GIMP .gpl, JASC .pal or PNG palette")


PALETTE_FORMATS: tuple[str, ...] = ("gpl", "hex", "pal", "png")


def palette_to_gpl(palette: Palette) -> str:
    """Return ``palette`` as a GIMP palette (.gpl) text: its name, then one ``R G B\tRRGGBB`` line per colour."""
    # A line break in the name would end the Name: line early and turn the rest into a bogus colour row.
    name = " ".join(palette.name.split()) or "palette"
    rows = [f"{r:3d} {g:3d} {b:3d}\t{code}" for (r, g, b), code in zip(palette.colors.tolist(), palette.hex())]
    return "\n".join(["GIMP Palette", f"Name: {name}", "Columns: 0", "#", *rows]) + "\n"


def palette_to_hex(palette: Palette) -> str:
    """Return ``palette`` as a .hex text (Lospec's format): one ``rrggbb`` line per colour, in order."""
    return "".join(f"{code.lower()}\n" for code in palette.hex())


def palette_to_pal(palette: Palette) -> str:
    """Return ``palette`` as a JASC-PAL (.pal) text with CRLF line ends, as Paint Shop Pro and Aseprite write it."""
    rows = [f"{r} {g} {b}" for r, g, b in palette.colors.tolist()]
    return "\r\n".join(["JASC-PAL", "0100", str(len(palette)), *rows]) + "\r\n"


def palette_to_png(palette: Palette) -> bytes:
    """Return ``palette`` as a 1×K PNG strip, one pixel per colour in order; the PNG is indexed and its own PLTE is
    the palette too (pixel i is index i), so both readers of palette strips get the same colours."""
    image = Image.frombytes("P", (len(palette), 1), bytes(range(len(palette))))
    image.putpalette(palette.colors.tobytes(), rawmode="RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def palette_file_bytes(palette: Palette, fmt: str) -> bytes:
    """Return the bytes of ``palette`` as a file of format ``fmt`` (gpl, hex, pal or png); raise ValueError for
    another format."""
    if fmt == "png":
        return palette_to_png(palette)
    writers = {"gpl": palette_to_gpl, "hex": palette_to_hex, "pal": palette_to_pal}
    if fmt not in writers:
        raise ValueError(f"unknown palette format {fmt!r}; use one of {', '.join(PALETTE_FORMATS)}")
    return writers[fmt](palette).encode("utf-8")


def _rgb_row(line: str) -> list[list[int]]:
    """``[[r, g, b]]`` when ``line`` starts with three decimal numbers (each capped at 255), else ``[]``."""
    parts = line.split()
    if len(parts) >= 3 and all(p.isdigit() for p in parts[:3]):
        return [[min(255, int(p)) for p in parts[:3]]]
    return []


def _parse_gpl(lines: list[str], name: str, filename: str) -> Palette:
    colors = []
    for line in lines[1:]:
        if line.startswith("#") or ":" in line.split()[0]:
            if line.lower().startswith("name:"):
                name = line.split(":", 1)[1].strip() or name
            continue
        colors.extend(_rgb_row(line))
    if not colors:
        raise ValueError(f"palette file {filename!r} (GIMP .gpl) lists no colours")
    if len(colors) > MAX_COLORS:
        raise ValueError(f"palette file {filename!r} lists {len(colors)} colours; a palette holds at most {MAX_COLORS}")
    return Palette(name, np.array(colors, dtype=np.uint8), filename)


def _parse_jasc(lines: list[str], name: str, filename: str) -> Palette:
    colors = []
    for line in lines[3:]:
        colors.extend(_rgb_row(line))
    if not colors:
        raise ValueError(f"palette file {filename!r} (JASC .pal) lists no colours")
    if len(colors) > MAX_COLORS:
        raise ValueError(f"palette file {filename!r} lists {len(colors)} colours; a palette holds at most {MAX_COLORS}")
    return Palette(name, np.array(colors, dtype=np.uint8), filename)


def _parse_png_strip(data: bytes, filename: str) -> Palette:
    try:
        with Image.open(io.BytesIO(data)) as img:
            rgba = np.asarray(img.convert("RGBA"))
    except Exception as exc:  # PIL raises many kinds for a broken file
        raise ValueError(f"palette file {filename!r} is not a readable PNG: {exc}") from exc
    pixels = rgba.reshape(-1, 4)
    pixels = pixels[pixels[:, 3] > 0, :3]
    if len(pixels) == 0:
        raise ValueError(f"palette file {filename!r} has no opaque pixels")
    # First-seen order, so a lospec strip keeps its published order.
    _, first = np.unique(pixels, axis=0, return_index=True)
    colors = pixels[np.sort(first)]
    if len(colors) > MAX_COLORS:
        raise ValueError(f"palette image {filename!r} has {len(colors)} colours; a palette holds at most {MAX_COLORS}")
    return Palette(Path(filename).stem, colors, filename)


def _gather_fit_pixels(rgb: torch.Tensor, alpha: torch.Tensor | None, seed: int) -> torch.Tensor:
    pixels = rgb.reshape(-1, 3)
    if alpha is not None:
        pixels = pixels[alpha.reshape(-1) > 0.5]
    if len(pixels) > _MAX_FIT_PIXELS:
        # The generator lives on the CPU so the same seed picks the same pixels on every device.
        gen = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(pixels), generator=gen)[:_MAX_FIT_PIXELS].sort().values
        pixels = pixels[idx.to(pixels.device)]
    return pixels


def _median_cut(lab: torch.Tensor, k: int) -> torch.Tensor:
    def _score(box: torch.Tensor) -> float:
        return float(((box - box.mean(0)) ** 2).sum()) if len(box) > 1 else -1.0

    boxes = [lab]
    scores = [_score(lab)]
    while len(boxes) < k:
        # Split the box holding the most squared error, along its widest OKLab axis, at the median.
        i = int(np.argmax(scores))
        if scores[i] <= 0:
            break
        box = boxes.pop(i)
        scores.pop(i)
        axis = int((box.max(0).values - box.min(0).values).argmax())
        order = box[:, axis].argsort(stable=True)
        half = len(box) // 2
        for part in (box[order[:half]], box[order[half:]]):
            boxes.append(part)
            scores.append(_score(part))
    return torch.stack([b.mean(0) for b in boxes])


def _nearest(points: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    # |p-c|² = |p|² - 2p·c + |c|²; |p|² is the same for every centre, so it is left out. One addmm writes the
    # [N,K] matrix once (3x faster than separate ops at K=256); faster than cdist too.
    return torch.addmm(centres.pow(2).sum(1), points, (-2 * centres).T).argmin(1)


def cluster_sums(points: torch.Tensor, assign: torch.Tensor, k: int) -> torch.Tensor:
    """Return the sum of ``points`` [N,C] per cluster ``assign`` [N] as [k,C], the same bits on every run.

    On the CPU a weighted ``bincount`` per channel adds in order (4x faster than ``index_add_``); on a GPU both add
    with atomics in whatever order threads finish, so there the sums are one-hot matrix products in float64, chunk
    by chunk in a fixed order."""
    if points.device.type == "cpu":
        return torch.stack([torch.bincount(assign, weights=points[:, c], minlength=k)
                            for c in range(points.shape[1])], dim=1).to(points.dtype)
    return cluster_sums_by_matmul(points, assign, k)


def cluster_sums_by_matmul(points: torch.Tensor, assign: torch.Tensor, k: int, chunk: int = 8192) -> torch.Tensor:
    """``cluster_sums`` as one-hot products (deterministic on any device; float64, so no TF32 rounding)."""
    total = torch.zeros(k, points.shape[1], dtype=torch.float64, device=points.device)
    for start in range(0, len(points), chunk):
        one_hot = torch.nn.functional.one_hot(assign[start:start + chunk], k).to(torch.float64)
        total += one_hot.T @ points[start:start + chunk].to(torch.float64)
    return total.to(points.dtype)


def extract_palette(rgb: torch.Tensor, k: int, alpha: torch.Tensor | None = None, seed: int = 0,
                    iterations: int = 12, name: str = "extracted", lab: torch.Tensor | None = None) -> Palette:
    """Return one palette of at most ``k`` colours fitted to all opaque pixels of the batch ``rgb`` [B,H,W,3].

    Median cut in OKLab seeds k-means (deterministic), refined by Lloyd iterations. ``lab`` is ``rgb`` already in
    OKLab, when the caller has it. Fewer opaque pixels than ``k`` give a palette of that many colours (a small or
    mostly transparent sprite is not an error). Raises ValueError when ``k`` is outside 1..256 or no pixel is
    opaque.
    """
    if not 1 <= k <= MAX_COLORS:
        raise ValueError(f"colors must be between 1 and {MAX_COLORS}, got {k}")
    pixels = _gather_fit_pixels(rgb if lab is None else lab, alpha, seed)
    if len(pixels) == 0:
        raise ValueError("the image has no opaque pixels to take a palette from; lower the alpha threshold")
    k = min(k, len(pixels))
    lab = rgb_to_oklab(pixels) if lab is None else pixels
    centres = _median_cut(lab, k)
    for _ in range(iterations):
        assign = _nearest(lab, centres)
        sums = cluster_sums(lab, assign, len(centres))
        counts = torch.bincount(assign, minlength=len(centres)).unsqueeze(1).float()
        centres = torch.where(counts > 0, sums / counts.clamp(min=1), centres)
    colors = (oklab_to_rgb(centres) * 255.0).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
    _, first = np.unique(colors, axis=0, return_index=True)
    return Palette(name, colors[np.sort(first)], source=f"k-means OKLab k={k} seed={seed}")


def nearest_palette_index(lab: torch.Tensor, palette_lab: torch.Tensor) -> torch.Tensor:
    """Return, for OKLab colours ``lab`` [...,3], the index of the nearest ``palette_lab`` [K,3] colour."""
    flat = lab.reshape(-1, 3)
    out = torch.empty(len(flat), dtype=torch.long, device=flat.device)
    for start in range(0, len(flat), _CHUNK):
        out[start:start + _CHUNK] = _nearest(flat[start:start + _CHUNK], palette_lab)
    return out.reshape(lab.shape[:-1])


def map_to_palette(rgb: torch.Tensor, palette: Palette) -> torch.Tensor:
    """Return ``rgb`` [...,3] with every colour replaced by its nearest palette colour in OKLab."""
    pal_rgb = palette.rgb(rgb.device)
    return pal_rgb[nearest_palette_index(rgb_to_oklab(rgb), palette.oklab(rgb.device))]


def palette_image(palette: Palette, swatch_px: int = 16) -> torch.Tensor:
    """Return a one-row IMAGE [1, swatch_px, K*swatch_px, 3] showing the palette's colours."""
    row = palette.rgb().unsqueeze(0)
    return row.repeat_interleave(swatch_px, dim=1).unsqueeze(0).repeat_interleave(swatch_px, dim=1)
