"""Seamless tiles: seam measure, 3×3 preview and wrap-around convolutions (pure torch, no engine)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dgx_pixels.ops.tiling import check_axis, circular_padding, measure_seams, tile_preview


def periodic_image(batch: int = 1, h: int = 16, w: int = 24, channels: int = 3) -> torch.Tensor:
    """A smooth image whose last column/row continues into its first: it tiles perfectly."""
    ys = torch.arange(h).float().view(h, 1) / h
    xs = torch.arange(w).float().view(1, w) / w
    base = 0.5 + 0.4 * torch.sin(2 * torch.pi * xs) * torch.cos(2 * torch.pi * ys)
    image = base.unsqueeze(-1).repeat(1, 1, channels).unsqueeze(0).repeat(batch, 1, 1, 1)
    return image


def test_periodic_image_has_seam_like_its_interior():
    report = measure_seams(periodic_image())
    # The seam is one more pair of neighbours: no larger than the steepest step inside the image.
    assert report.ratio_x < 2 and report.ratio_y < 2
    assert report.seam_error("both") < 0.2


def test_gradient_has_a_visible_seam_only_along_its_axis():
    image = torch.linspace(0, 1, 32).view(1, 1, 32, 1).repeat(1, 16, 1, 3)
    report = measure_seams(image)
    assert report.seam_x == pytest.approx(1.0)
    assert report.ratio_x > 20
    assert report.seam_y == pytest.approx(0.0)
    assert report.seam_error("y") == pytest.approx(0.0)
    assert report.seam_error("both") == pytest.approx(0.5)
    assert "seam x 1.0000" in report.summary()


def test_alpha_channel_is_ignored_and_batch_is_averaged():
    rgb = periodic_image(batch=2)
    alpha = torch.zeros_like(rgb[..., :1])
    alpha[:, :, 0] = 1.0
    assert measure_seams(torch.cat([rgb, alpha], -1)) == measure_seams(rgb)


def test_measure_rejects_bad_images():
    with pytest.raises(ValueError, match="at least 2x2"):
        measure_seams(torch.zeros(1, 1, 8, 3))
    with pytest.raises(ValueError, match="channels"):
        measure_seams(torch.zeros(1, 8, 8, 2))


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), channels=st.sampled_from([3, 4]),
       repeats=st.integers(1, 4), axis=st.sampled_from(["both", "x", "y"]))
def test_tile_preview_shape_and_content(batch, h, w, channels, repeats, axis):
    image = torch.rand(batch, h, w, channels)
    tiled = tile_preview(image, repeats, axis)
    rows = repeats if axis in ("y", "both") else 1
    cols = repeats if axis in ("x", "both") else 1
    assert tiled.shape == (batch, h * rows, w * cols, channels)
    for r in range(rows):
        for c in range(cols):
            assert torch.equal(tiled[:, r * h:(r + 1) * h, c * w:(c + 1) * w], image)


def test_tile_preview_and_axis_errors():
    with pytest.raises(ValueError, match="repeats"):
        tile_preview(torch.zeros(1, 4, 4, 3), 0)
    with pytest.raises(ValueError, match="axis must be one of"):
        check_axis("z")
    assert check_axis("x") == (True, False)


def small_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv2d(8, 3, 5, padding=2), torch.nn.Conv2d(3, 3, 1))


def roll_commutes(net: torch.nn.Module, x: torch.Tensor, dim: int) -> bool:
    shift = 5
    return torch.allclose(net(torch.roll(x, shift, dim)), torch.roll(net(x), shift, dim), atol=1e-5)


@pytest.mark.parametrize("axis, x_wraps, y_wraps", [("both", True, True), ("x", True, False), ("y", False, True)])
def test_circular_padding_makes_convs_periodic_on_the_chosen_axis(axis, x_wraps, y_wraps):
    net = small_net()
    x = torch.rand(2, 3, 12, 16)
    before = net(x)
    with circular_padding(net, axis) as changed:
        assert changed == 2  # the 1×1 conv has no padding to wrap
        out = net(x)
        assert out.shape == before.shape
        assert roll_commutes(net, x, 3) is x_wraps
        assert roll_commutes(net, x, 2) is y_wraps
    assert torch.equal(net(x), before), "the model must be exactly as before after the block"
    assert [m.padding for m in net if isinstance(m, torch.nn.Conv2d)] == [(1, 1), (2, 2), (0, 0)]
    assert all(not m._forward_pre_hooks for m in net.modules())


def test_circular_padding_restores_on_error():
    net = small_net()
    with pytest.raises(RuntimeError, match="boom"):
        with circular_padding(net):
            raise RuntimeError("boom")
    assert net[0].padding == (1, 1) and not net[0]._forward_pre_hooks
