"""Alpha, outline, cleanup and the one-call pixelize pipeline."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dgx_pixels.ops.alpha import binarize_alpha, remove_background
from dgx_pixels.host.memory import (
    PIXELIZE_BYTES_PER_PIXEL,
    available_bytes,
    cgroup_free,
    fits,
    pixelize_bytes,
    require_memory,
    require_pixelize_memory,
)
from dgx_pixels.ops.outline import add_outline, remove_jaggies, remove_orphans
from dgx_pixels.ops.palette import builtin_palette
from dgx_pixels.ops.pixelize import pixelize


def colours_of(image: torch.Tensor) -> set[tuple[int, int, int]]:
    rgb = image[..., :3]
    if image.shape[-1] == 4:
        rgb = rgb[image[..., 3] > 0]
    return {tuple(int(v) for v in c) for c in (rgb.reshape(-1, 3) * 255.0).numpy().astype(np.uint8)}


def sprite_on_background(batch: int = 1, size: int = 16) -> torch.Tensor:
    img = torch.zeros(batch, size, size, 3)
    img[..., 1] = 1.0  # green screen
    img[:, 4:12, 4:12] = torch.tensor([0.8, 0.2, 0.2])
    img[:, 7:9, 7:9] = torch.tensor([0.0, 1.0, 0.0])  # an enclosed green hole
    return img


def test_binarize_alpha_has_no_phantoms():
    img = torch.rand(2, 8, 8, 4, generator=torch.Generator().manual_seed(0))
    out = binarize_alpha(img, 0.5)
    assert set(out[..., 3].unique().tolist()) <= {0.0, 1.0}
    assert out[..., :3][out[..., 3] == 0].abs().max() == 0
    assert torch.equal(binarize_alpha(img[..., :3]), img[..., :3])


def test_flood_fill_keeps_enclosed_holes_unless_asked():
    img = sprite_on_background()
    flood = remove_background(img, "flood")
    assert flood[0, 0, 0, 3] == 0 and flood[0, 5, 5, 3] == 1
    assert flood[0, 7, 7, 3] == 1  # enclosed hole kept
    holes = remove_background(img, "flood", enclosed=True)
    assert holes[0, 7, 7, 3] == 0
    key = remove_background(img, "key", key_rgb=(0.0, 1.0, 0.0))
    assert torch.equal(key[..., 3], holes[..., 3])
    assert key[..., :3][key[..., 3] == 0].abs().max() == 0


def test_outer_and_inner_outline():
    img = torch.zeros(1, 7, 7, 4)
    img[0, 2:5, 2:5] = torch.tensor([1.0, 1.0, 1.0, 1.0])
    outer = add_outline(img, (0.0, 0.0, 0.0), "outer")
    assert int((outer[..., 3] > 0).sum()) == 9 + 12
    assert torch.equal(outer[0, 2:5, 2:5], img[0, 2:5, 2:5])
    inner = add_outline(img, (0.0, 0.0, 0.0), "inner")
    assert int((inner[..., 3] > 0).sum()) == 9
    assert inner[0, 3, 3, 0] == 1.0 and inner[0, 2, 2, 0] == 0.0
    with pytest.raises(ValueError, match="needs transparency"):
        add_outline(img[..., :3], (0.0, 0.0, 0.0))


def test_orphans_and_jaggies():
    img = torch.zeros(1, 5, 5, 3)
    img[0, 2, 2] = 1.0
    assert remove_orphans(img).abs().max() == 0
    # A staircase line: the corner pixel (1,1) of the L "(1,0)-(1,1)-(2,1)" goes.
    line = torch.zeros(1, 5, 5, 4)
    for y, x in ((0, 0), (1, 0), (1, 1), (2, 1), (2, 2), (3, 2)):
        line[0, y, x] = 1.0
    out = remove_jaggies(line)
    assert int((out[..., 3] > 0).sum()) < 6
    assert out[0, 0, 0, 3] == 1 and out[0, 3, 2, 3] == 1  # the ends stay


@settings(max_examples=10, deadline=None)
@given(batch=st.integers(1, 4), alpha=st.booleans(), k=st.integers(2, 12),
       dither=st.sampled_from(["none", "bayer2", "bayer8", "fs"]), mode=st.sampled_from(
           ["contrast", "kcentroid", "majority", "nearest", "area"]))
def test_pixelize_adherence_size_and_determinism(batch, alpha, k, dither, mode):
    img = torch.rand(batch, 40, 48, 4 if alpha else 3, generator=torch.Generator().manual_seed(batch * k))
    a = pixelize(img, size=(12, 10), colors=k, dither=dither, mode=mode, cleanup=True)
    b = pixelize(img, size=(12, 10), colors=k, dither=dither, mode=mode, cleanup=True)
    assert a.image.shape == (batch, 10, 12, 4 if alpha else 3)
    assert torch.equal(a.image, b.image)
    assert len(a.palette) <= k
    pal = {tuple(int(v) for v in c) for c in a.palette.colors}
    assert colours_of(a.image) <= pal  # 100% palette adherence, one palette for the batch
    if alpha:
        assert set(a.image[..., 3].unique().tolist()) <= {0.0, 1.0}
        assert a.image[..., :3][a.image[..., 3] == 0].abs().max() == 0


def test_pixelize_with_builtin_palette_mask_background_and_outline():
    img = sprite_on_background(batch=2, size=32)
    mask_alpha = torch.ones(2, 32, 32)
    res = pixelize(img, mask_alpha, cell_px=2, palette=builtin_palette("pico-8"), background="flood",
                   outline="outer")
    assert res.image.shape == (2, 16, 16, 4)
    assert colours_of(res.image) <= {tuple(int(v) for v in c) for c in res.palette.colors}
    assert res.image[0, 0, 0, 3] == 0
    assert (res.image[0, 2:6, 2:6, 3] > 0).any()  # the outline grew around the sprite
    assert torch.equal(res.image[0], res.image[1])


def test_pixelize_alpha_modes_and_colors_zero():
    img = torch.rand(1, 16, 16, 3, generator=torch.Generator().manual_seed(1))
    assert pixelize(img, size=(4, 4), colors=4, alpha_mode="keep").image.shape[-1] == 4
    assert pixelize(torch.rand(1, 16, 16, 4), size=(4, 4), colors=4, alpha_mode="none").image.shape[-1] == 3
    res = pixelize(img, size=(4, 4), colors=0)
    assert len(res.palette) <= 16


def test_pixelize_grid_auto_returns_native_size():
    native = torch.rand(1, 12, 10, 3, generator=torch.Generator().manual_seed(2))
    big = native.repeat_interleave(6, 1).repeat_interleave(6, 2)
    res = pixelize(big, grid="auto", colors=0)
    assert res.image.shape == (1, 12, 10, 3)
    res = pixelize(big, grid="auto", cell_px=6, colors=0)
    assert res.image.shape == (1, 12, 10, 3)


@pytest.mark.parametrize("kwargs,match", [
    (dict(image=torch.zeros(0, 8, 8, 3), size=(2, 2)), "empty batch"),
    (dict(image=torch.zeros(1, 1, 1, 3), size=(1, 1)), "at least 2x2"),
    (dict(image=torch.zeros(1, 8, 8, 1), size=(2, 2)), "greyscale"),
    (dict(image=torch.full((1, 8, 8, 3), float("nan")), size=(2, 2)), "NaN"),
    (dict(image=torch.rand(1, 8, 8, 3), cell_px=9), "larger than the 8x8 image"),
    (dict(image=torch.rand(1, 8, 8, 3)), "give a target size"),
    (dict(image=torch.rand(1, 8, 8, 3), size=(2, 2), alpha=torch.ones(1, 4, 4)), "mask is 4x4"),
    (dict(image=torch.rand(1, 8, 8, 3), size=(2, 2), mode="bicubic"), "mode must be one of"),
])
def test_pixelize_bad_input(kwargs, match):
    image = kwargs.pop("image")
    with pytest.raises(ValueError, match=match):
        pixelize(image, **kwargs)


@pytest.mark.parametrize("image,match", [
    # 400 frames of 8192² (an expanded view: no memory behind it) would need terabytes: refused before any work.
    (torch.zeros(1, 1, 1, 3).expand(400, 8192, 8192, 3),
     r"pixelizing 400 image\(s\) of 8192x8192 needs about 3200.0 GiB of memory on cpu"),
    # One [H,W,C] image is checked too.
    (torch.zeros(1, 1, 3).expand(8192 * 400, 8192, 3), r"pixelizing 1 image\(s\) of 8192x3276800 needs about 3200.0 GiB"),
])
def test_pixelize_memory_is_checked_from_the_shape(image, match):
    with pytest.raises(ValueError, match=match):
        require_pixelize_memory(image)


def test_memory_estimate_and_what_the_cpu_has_free():
    free = available_bytes("cpu")
    assert free is not None and 0 < free <= os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert pixelize_bytes((2, 64, 32, 4)) == 2 * 64 * 32 * PIXELIZE_BYTES_PER_PIXEL
    assert fits(1, "cpu") and not fits(free * 2, "cpu")
    with pytest.raises(ValueError, match="sorting the frames needs about"):
        require_memory(free * 2, "cpu", "sorting the frames")


def test_a_containers_memory_limit_counts(tmp_path):
    # cgroup files as the kernel writes them: v2 with a limit, v2 without, v1's "no limit" number, none at all.
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("8589934592\n")
    (v2 / "memory.current").write_text("2147483648\n")
    assert cgroup_free(v2) == 6 * 2**30
    (v2 / "memory.max").write_text("max\n")
    assert cgroup_free(v2) is None
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (v1 / "memory.usage_in_bytes").write_text("1000\n")
    assert cgroup_free(tmp_path / "v1") is None
    (v1 / "memory.limit_in_bytes").write_text("4096\n")
    assert cgroup_free(tmp_path / "v1") == 3096
    assert cgroup_free(tmp_path / "nothing") is None


def test_pixelize_converts_the_downscaled_image_to_oklab_once(monkeypatch):
    # Background removal, palette fitting and mapping all read one conversion (they change alpha, never colour).
    import dgx_pixels.ops.alpha as alpha_ops
    import dgx_pixels.ops.dither as dither_ops
    import dgx_pixels.ops.palette as palette_ops
    import dgx_pixels.ops.pixelize as pixelize_ops
    from dgx_pixels.ops.color import rgb_to_oklab

    image_sized = []

    def counting(rgb):
        if rgb.dim() == 4 and rgb.shape[1:3] == (32, 32):
            image_sized.append(rgb.shape)
        return rgb_to_oklab(rgb)

    for module in (alpha_ops, dither_ops, palette_ops, pixelize_ops):
        monkeypatch.setattr(module, "rgb_to_oklab", counting)
    image = torch.rand(2, 128, 128, 4, generator=torch.Generator().manual_seed(1))
    pixelize(image, size=(32, 32), colors=8, background="flood", dither="bayer4", outline="outer")
    assert len(image_sized) == 1


def test_colors_never_fail_because_a_sprite_has_fewer_pixels_or_more_colours():
    # More colours asked than the 2x2 output has pixels: a palette of what there is (was an error, also for the
    # Pixelize node's default 16 on tiny sprites).
    few = pixelize(torch.rand(1, 8, 8, 3, generator=torch.Generator().manual_seed(3)), size=(2, 2), colors=16)
    assert 1 <= len(few.palette) <= 4
    # colors=0 keeps the sprite's own colours; over 256 of them are merged to 256 (was an error).
    many = pixelize(torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(4)), size=(32, 32), colors=0)
    assert len(many.palette) == 256
    exact = torch.zeros(1, 8, 8, 3)
    exact[:, :4] = torch.tensor([1.0, 0.0, 0.0])
    assert len(pixelize(exact, size=(4, 4), colors=0).palette) == 2  # its own colours, exactly


def test_load_images_stand_in_mask_for_rgb_files_means_no_alpha():
    # LoadImage gives an RGB file a 64x64 zero MASK whatever its size: wired into Pixelize it must not fail.
    from dgx_pixels.ops.color import alpha_from_mask

    image = torch.rand(1, 128, 96, 3)
    assert alpha_from_mask(torch.zeros(1, 64, 64), image) is None
    with pytest.raises(ValueError, match="mask is 64x64"):
        alpha_from_mask(torch.ones(1, 64, 64), image)  # a real mask of the wrong size is still an error
    square = torch.rand(1, 64, 64, 3)
    assert alpha_from_mask(torch.zeros(1, 64, 64), square) is not None  # at 64x64 it is a real (opaque) mask
