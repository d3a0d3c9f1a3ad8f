"""Palette swap by index (``ops.palette_swap``): exact, no re-quantization, transparent pixels untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dgx_pixels.ops.palette import Palette, builtin_palette
from dgx_pixels.ops.palette_swap import (
    UnknownColorsError,
    palette_indices,
    side_by_side,
    swap_palette,
    variant_names,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def _palette(name: str, colors) -> Palette:
    return Palette(name, np.asarray(colors, dtype=np.uint8))


def _image(palette: Palette, idx: np.ndarray, alpha: np.ndarray | None = None) -> torch.Tensor:
    rgb = palette.colors[idx]
    arr = rgb if alpha is None else np.concatenate([rgb, alpha[..., None]], axis=-1)
    return torch.from_numpy(arr.astype(np.float32) / 255.0)


def _u8(image: torch.Tensor) -> np.ndarray:
    return (image * 255.0).round().to(torch.uint8).numpy()


@st.composite
def swap_cases(draw):
    k = draw(st.integers(1, 12))
    distinct = draw(st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=k, max_size=k, unique=True))
    source = _palette("src", distinct)
    targets = [_palette(f"t{n}", draw(st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=k + extra,
                                                max_size=k + extra)))
               for n, extra in enumerate(draw(st.lists(st.integers(0, 3), min_size=1, max_size=3)))]
    b, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, k, (b, h, w))
    alpha = None
    if draw(st.booleans()):
        alpha = rng.choice(np.array([0, 255, 128], dtype=np.uint8), (b, h, w))
    return source, targets, idx, alpha


@settings(max_examples=150, deadline=None)
@given(swap_cases())
def test_swap_maps_entry_i_to_entry_i_exactly(case):
    source, targets, idx, alpha = case
    image = _image(source, idx, alpha)
    out = swap_palette(image, source, targets)
    b = image.shape[0]
    assert out.shape == (b * len(targets), *image.shape[1:])
    for n, target in enumerate(targets):
        got = _u8(out[n * b:(n + 1) * b])
        want = target.colors[idx]
        if alpha is None:
            assert np.array_equal(got, want)
        else:
            visible = alpha > 0
            assert np.array_equal(got[..., :3][visible], want[visible])
            # Transparent pixels are left exactly as they were, and alpha is never touched.
            assert np.array_equal(got[~visible], _u8(image)[~visible])
            assert np.array_equal(got[..., 3], alpha)


@settings(max_examples=60, deadline=None)
@given(swap_cases())
def test_swapping_there_and_back_restores_the_sprite(case):
    source, targets, idx, alpha = case
    target = targets[0]
    if len({tuple(c) for c in target.colors[:len(source)].tolist()}) < len(source):
        return  # a target that merges two entries cannot be swapped back
    image = _image(source, idx, alpha)
    there = swap_palette(image, source, [target])
    back = swap_palette(there, _palette("back", target.colors[:len(source)]), [source])
    assert torch.equal(back, image)


def test_many_targets_give_frames_target_by_target():
    pico = builtin_palette("pico-8")
    idx = np.arange(16).reshape(2, 2, 4)  # two frames
    image = _image(pico, idx)
    reversed_pico = _palette("rev", pico.colors[::-1])
    out = swap_palette(image, pico, [pico, reversed_pico, builtin_palette("endesga-32")])
    assert out.shape == (6, 2, 4, 3)
    assert torch.equal(out[:2], image)
    assert np.array_equal(_u8(out[2:4]), pico.colors[15 - idx])
    assert np.array_equal(_u8(out[4:]), builtin_palette("endesga-32").colors[idx])


def test_unknown_colours_are_an_error_with_how_many_and_an_example():
    pal = _palette("duo", [[0, 0, 0], [255, 255, 255]])
    image = _image(pal, np.zeros((1, 2, 3), dtype=int))
    image[0, 1, 2] = torch.tensor([1.0, 0.0, 0.0])
    image[0, 0, 1] = torch.tensor([0.0, 1.0, 0.0])
    with pytest.raises(UnknownColorsError) as caught:
        swap_palette(image, pal, [pal])
    message = str(caught.value)
    assert "2 pixel(s)" in message and "#00FF00 at x=1, y=0 of frame 0" in message and "'duo'" in message
    assert caught.value.count == 2 and caught.value.example == "#00FF00"
    assert isinstance(caught.value, ValueError)
    inverted = _palette("inv", [[255, 255, 255], [0, 0, 0]])
    kept = swap_palette(image, pal, [inverted], unknown="keep")
    assert _u8(kept[0, 1, 2]).tolist() == [255, 0, 0] and _u8(kept[0, 0, 0]).tolist() == [255, 255, 255]


def test_transparent_pixels_of_any_colour_are_no_error_and_stay_as_they_are():
    pal = _palette("duo", [[0, 0, 0], [255, 255, 255]])
    image = torch.zeros(1, 2, 2, 4)
    image[0, 0, 0] = torch.tensor([0.2, 0.4, 0.6, 0.0])  # a hidden colour outside the palette
    image[0, 1, 1] = torch.tensor([1.0, 1.0, 1.0, 1.0])
    out = swap_palette(image, pal, [_palette("inv", [[255, 255, 255], [9, 9, 9]])])
    assert torch.equal(out[0, 0, 0], image[0, 0, 0])
    assert _u8(out[0, 1, 1]).tolist() == [9, 9, 9, 255]
    assert _u8(out[0, 0, 1]).tolist() == [0, 0, 0, 0]


def test_a_colour_listed_twice_takes_its_first_index():
    source = _palette("dup", [[10, 10, 10], [20, 20, 20], [10, 10, 10]])
    idx, known = palette_indices(_image(source, np.array([[[0, 1, 2]]])), source)
    assert idx.tolist() == [[[0, 1, 0]]] and known.all()


@pytest.mark.parametrize("targets, message", [
    ([], "at least one target"),
    ([_palette("short", [[1, 2, 3]])], "target palette 1 ('short') has 1 colours but the source palette"),
])
def test_bad_targets_are_refused(targets, message):
    pal = _palette("duo", [[0, 0, 0], [255, 255, 255]])
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        swap_palette(_image(pal, np.zeros((1, 1, 1), dtype=int)), pal, targets)


def test_bad_image_or_mode_is_refused():
    pal = _palette("duo", [[0, 0, 0], [255, 255, 255]])
    with pytest.raises(ValueError, match="B,H,W,3"):
        swap_palette(torch.zeros(2, 2, 3), pal, [pal])
    with pytest.raises(ValueError, match="unknown must be"):
        swap_palette(torch.zeros(1, 2, 2, 3), pal, [pal], unknown="drop")  # type: ignore[arg-type]


def test_variant_names_and_sheet():
    named = [_palette("Endesga 32", [[0, 0, 0]]), _palette("night", [[0, 0, 0]]), _palette("night", [[1, 1, 1]])]
    assert variant_names("hero", named) == ["hero_endesga-32.png", "hero_night-2.png", "hero_night-3.png"]
    frames = torch.rand(3, 4, 5, 4)
    sheet = side_by_side(frames)
    assert sheet.shape == (1, 4, 15, 4) and torch.equal(sheet[0, :, 5:10], frames[1])
