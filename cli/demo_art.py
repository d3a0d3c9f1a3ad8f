"""The demo's input: a high-resolution, anti-aliased knight drawn procedurally, as a walk cycle.

It plays the part of a diffusion model's "fake" pixel art: smooth gradients, soft edges and far too many colours,
at 512². The demo turns these frames into real pixel art, a sprite sheet and a Bevy export.
"""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFilter

SUPERSAMPLE = 2
Color = tuple[int, int, int]


def _gradient(size: tuple[int, int], top: Color, bottom: Color) -> Image.Image:
    height = size[1]
    column = Image.new("RGB", (1, height))
    for y in range(height):
        t = y / max(1, height - 1)
        column.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))
    return column.resize(size)


class _Painter:
    """Draws filled, outlined shapes with vertical gradients onto an RGBA canvas."""

    def __init__(self, side: int):
        self.side = side
        self.canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        self.outline_px = max(2, side // 90)

    def shape(self, draw_fn, top: Color, bottom: Color, outline: Color = (28, 22, 38)) -> None:
        mask = Image.new("L", self.canvas.size, 0)
        draw_fn(ImageDraw.Draw(mask), 255)
        # Blur + threshold grows the shape by about outline_px (a MaxFilter that wide is far slower).
        grown = mask.filter(ImageFilter.BoxBlur(self.outline_px)).point(lambda v: 255 if v > 8 else 0)
        self.canvas.paste(Image.new("RGBA", self.canvas.size, outline + (255,)), (0, 0), grown)
        fill = _gradient(self.canvas.size, top, bottom).convert("RGBA")
        self.canvas.paste(fill, (0, 0), mask)

    def soft(self, draw_fn, color: Color, alpha: int) -> None:
        mask = Image.new("L", self.canvas.size, 0)
        draw_fn(ImageDraw.Draw(mask), alpha)
        layer = Image.new("RGBA", self.canvas.size, color + (0,))
        layer.putalpha(mask.filter(ImageFilter.GaussianBlur(self.side / 80)))
        self.canvas = Image.alpha_composite(self.canvas, layer)


def draw_knight_frame(phase: float, size: int = 512) -> Image.Image:
    """Return one RGBA frame of the knight's walk at ``phase`` in [0, 1)."""
    s = size * SUPERSAMPLE
    u = s / 100.0  # drawing units: the canvas is 100 units wide
    p = _Painter(s)
    swing = math.sin(2 * math.pi * phase)
    bob = abs(math.cos(2 * math.pi * phase)) * 1.6 * u

    p.soft(lambda d, a: d.ellipse([30 * u, 88 * u, 70 * u, 95 * u], fill=a), (10, 8, 20), 140)

    def leg(offset: float, lift: float):
        def draw(d, a):
            x = 50 * u + offset * u
            d.rounded_rectangle([x - 6 * u, 62 * u, x + 6 * u, 88 * u - lift], radius=3 * u, fill=a)
        return draw

    p.shape(leg(-7 + 5 * swing, max(0.0, swing) * 3 * u), (70, 72, 96), (40, 40, 60))
    cape_sway = 4 * swing * u
    p.shape(lambda d, a: d.polygon([(38 * u, 36 * u - bob), (62 * u, 36 * u - bob),
                                    (70 * u + cape_sway, 78 * u), (30 * u + cape_sway, 78 * u)], fill=a),
            (200, 40, 52), (110, 18, 40))
    p.shape(leg(7 - 5 * swing, max(0.0, -swing) * 3 * u), (92, 96, 124), (48, 50, 72))
    p.shape(lambda d, a: d.rounded_rectangle([35 * u, 38 * u - bob, 65 * u, 68 * u - bob], radius=6 * u, fill=a),
            (150, 190, 230), (50, 90, 150))
    p.shape(lambda d, a: d.rectangle([35 * u, 58 * u - bob, 65 * u, 62 * u - bob], fill=a),
            (150, 100, 50), (100, 60, 30))
    # sword, swinging against the stride
    angle = math.radians(20 + 10 * swing)
    hx, hy = 68 * u, 56 * u - bob
    tip = (hx + math.sin(angle) * 38 * u, hy - math.cos(angle) * 38 * u)
    nx, ny = math.cos(angle) * 2.2 * u, math.sin(angle) * 2.2 * u
    p.shape(lambda d, a: d.polygon([(hx - nx, hy - ny), (hx + nx, hy + ny), tip], fill=a),
            (240, 244, 250), (150, 160, 180))
    p.shape(lambda d, a: d.rounded_rectangle([hx - 6 * u, hy - 1.5 * u, hx + 6 * u, hy + 1.5 * u],
                                             radius=u, fill=a), (230, 190, 60), (160, 110, 30))
    # helmet, visor and plume
    p.shape(lambda d, a: d.ellipse([36 * u, 12 * u - bob, 64 * u, 42 * u - bob], fill=a), (235, 238, 245),
            (120, 128, 150))
    p.shape(lambda d, a: d.rounded_rectangle([41 * u, 25 * u - bob, 62 * u, 29 * u - bob], radius=u, fill=a),
            (20, 18, 30), (20, 18, 30))
    plume = 3 * swing * u
    p.shape(lambda d, a: d.ellipse([44 * u - plume, 3 * u - bob, 56 * u - plume, 17 * u - bob], fill=a),
            (250, 80, 90), (170, 30, 60))
    p.soft(lambda d, a: d.ellipse([40 * u, 15 * u - bob, 50 * u, 22 * u - bob], fill=a), (255, 255, 255), 150)
    return p.canvas.resize((size, size), Image.Resampling.LANCZOS)


def draw_walk_cycle(frames: int = 6, size: int = 512) -> list[Image.Image]:
    """Return ``frames`` RGBA frames of one walk cycle."""
    return [draw_knight_frame(i / frames, size) for i in range(frames)]
