"""True-grid downscaling and grid recovery of fake pixel art."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pixel_synth import synthetic_set

from dgx_pixels.ops.grid import MODES, detect_grid, downscale, grid_from_cell, recover_pixels


def blocks(native: torch.Tensor, factor: int) -> torch.Tensor:
    return native.repeat_interleave(factor, 1).repeat_interleave(factor, 2)


@settings(max_examples=12, deadline=None)
@given(batch=st.integers(1, 4), h=st.integers(2, 40), w=st.integers(2, 40), alpha=st.booleans(),
       mode=st.sampled_from(MODES), data=st.data())
def test_downscale_size_is_always_exact(batch, h, w, alpha, mode, data):
    out_w, out_h = data.draw(st.integers(1, w)), data.draw(st.integers(1, h))
    img = torch.rand(batch, h, w, 4 if alpha else 3, generator=torch.Generator().manual_seed(h * w))
    out = downscale(img, out_w, out_h, mode)
    assert out.shape == (batch, out_h, out_w, img.shape[-1])
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, downscale(img, out_w, out_h, mode))


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_inverts_an_integer_upscale(mode):
    native = torch.rand(2, 6, 5, 4, generator=torch.Generator().manual_seed(0))
    native[..., 3] = (native[..., 3] > 0.3).float()
    native[..., :3] *= native[..., 3:]
    out = downscale(blocks(native, 4), 5, 6, mode)
    if mode == "area":
        assert torch.allclose(out, native, atol=1e-6)
    else:
        assert torch.allclose(out[..., 3], native[..., 3])
        opaque = native[..., 3] > 0
        assert torch.allclose(out[..., :3][opaque], native[..., :3][opaque], atol=1e-6)


def test_contrast_mode_keeps_a_thin_dark_outline_that_area_loses():
    img = torch.full((1, 32, 32, 3), 0.9)
    img[:, :, 13] = 0.05  # a 1 px dark line inside 8 px cells
    contrast = downscale(img, 4, 4, "contrast")
    area = downscale(img, 4, 4, "area")
    assert contrast[0, :, 1].max() < 0.1
    assert area[0, :, 1].min() > 0.7


def test_majority_and_kcentroid_pick_the_dominant_colour():
    img = torch.zeros(1, 4, 4, 3)
    img[0, :3, :, 0] = 1.0  # 12 red, 4 black
    for mode in ("majority", "kcentroid"):
        assert torch.allclose(downscale(img, 1, 1, mode)[0, 0, 0], torch.tensor([1.0, 0.0, 0.0]))


def test_transparent_samples_never_choose_the_colour():
    img = torch.zeros(1, 4, 4, 4)
    img[0, :2, :, :] = torch.tensor([0.2, 0.4, 0.6, 1.0])
    for mode in ("contrast", "kcentroid", "majority", "area"):
        out = downscale(img, 1, 1, mode)[0, 0, 0]
        assert torch.allclose(out[:3], torch.tensor([0.2, 0.4, 0.6]), atol=1e-6)
        assert out[3] == pytest.approx(0.5)


@pytest.mark.parametrize("bad,match", [
    (torch.zeros(0, 8, 8, 3), "empty batch"),
    (torch.zeros(1, 1, 1, 3), "at least 2x2"),
    (torch.zeros(1, 8, 8, 1), "greyscale"),
    (torch.full((1, 8, 8, 3), float("nan")), "NaN"),
])
def test_bad_images_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        downscale(bad, 2, 2)


def test_size_larger_than_image_and_unknown_mode():
    with pytest.raises(ValueError, match="larger than the 8x8 image"):
        downscale(torch.rand(1, 8, 8, 3), 9, 4)
    with pytest.raises(ValueError, match="mode must be one of"):
        downscale(torch.rand(1, 8, 8, 3), 4, 4, "bicubic")
    with pytest.raises(ValueError, match="larger than the image"):
        grid_from_cell(8, 8, 9.0)


def test_manual_grid_override_with_offset():
    native = torch.rand(1, 5, 7, 3, generator=torch.Generator().manual_seed(2))
    big = blocks(native, 6)[:, 2:, 2:]  # shift the phase by 2 px: cuts now at 4, 10, 16 ...
    grid = grid_from_cell(big.shape[1], big.shape[2], 6.0, offset_x=4.0, offset_y=4.0)
    out, used = recover_pixels(big, grid)
    assert (used.width, used.height) == (7, 5)
    assert torch.allclose(out, native, atol=1e-6)


def test_detect_grid_on_clean_integer_upscale():
    native = torch.rand(1, 14, 18, 3, generator=torch.Generator().manual_seed(4))
    grid = detect_grid(blocks(native, 5))
    assert (grid.width, grid.height) == (18, 14)
    assert grid.cell_x == pytest.approx(5.0, abs=0.05)


def test_grid_recovery_on_synthetic_fake_pixel_art():
    # True sprites upscaled by non-integer factors 3-16 with a random phase, blur, noise and JPEG.
    items = synthetic_set(seed=7, count=10, max_native=24, max_factor=10.0)
    exact, cells_right, cells = 0, 0, 0
    for fake, sprite, _ in items:
        image = torch.from_numpy(fake.copy()).float().div(255).unsqueeze(0)
        out, grid = recover_pixels(image)
        if (grid.width, grid.height) == (sprite.shape[1], sprite.shape[0]):
            exact += 1
            diff = (out[0] * 255 - torch.from_numpy(sprite).float()).abs().amax(-1)
            cells_right += int((diff < 48).sum())
            cells += diff.numel()
    assert exact / len(items) >= 0.8
    assert cells_right / max(cells, 1) >= 0.8


def test_one_grid_for_a_batch():
    native = torch.rand(3, 10, 12, 3, generator=torch.Generator().manual_seed(9))
    out, grid = recover_pixels(blocks(native, 4))
    assert out.shape == (3, 10, 12, 3)
    np.testing.assert_allclose(out.numpy(), native.numpy(), atol=1e-6)


@pytest.mark.parametrize("seed,index", [(2, 39), (4, 22), (3, 17), (4, 18)])
def test_small_cells_on_small_images_keep_their_size(seed, index):
    # 3-4 px cells on images of 50-120 px, once read as half cells (2.5, 2.1 px), a cell 14% too large or 2.5x.
    fake, sprite, factor = synthetic_set(seed=seed, count=index + 1, max_factor=5.0)[index]
    grid = detect_grid(torch.from_numpy(fake.copy()).float().div(255).unsqueeze(0))
    assert (grid.width, grid.height) == (sprite.shape[1], sprite.shape[0])
    assert grid.cell_x == pytest.approx(factor, rel=0.03)


@pytest.mark.parametrize("seed,index", [(101, 11), (103, 27)])
def test_edge_cells_are_placed_by_the_picture(seed, index):
    # A phase near half a cell: the right count with the grid one cell off at the edges got 75-79% of cells.
    fake, sprite, _ = synthetic_set(seed=seed, count=index + 1, max_factor=5.0)[index]
    out, _ = recover_pixels(torch.from_numpy(fake.copy()).float().div(255).unsqueeze(0))
    assert out.shape[1:3] == sprite.shape[:2]
    diff = (out[0] * 255 - torch.from_numpy(sprite).float()).abs().amax(-1)
    assert float((diff < 48).float().mean()) >= 0.95


def test_flat_image_gives_one_cell():
    grid = detect_grid(torch.full((1, 24, 20, 3), 0.5))
    assert (grid.width, grid.height) == (1, 1)
