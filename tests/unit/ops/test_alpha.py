"""Border flood fill: same answer as a plain BFS, linear time on mazes, interruptible."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dgx_pixels.ops.alpha import _connected_to_border, remove_background


def reference_reached(passable: np.ndarray) -> np.ndarray:
    """Plain BFS from every passable border pixel, 4-connected, one frame at a time."""
    out = np.zeros_like(passable, dtype=bool)
    for b, frame in enumerate(passable):
        h, w = frame.shape
        queue = deque((y, x) for y in range(h) for x in range(w)
                      if frame[y, x] and (y in (0, h - 1) or x in (0, w - 1)))
        for y, x in queue:
            out[b, y, x] = True
        while queue:
            y, x = queue.popleft()
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and frame[ny, nx] and not out[b, ny, nx]:
                    out[b, ny, nx] = True
                    queue.append((ny, nx))
    return out


def serpentine(n: int, vertical: bool = False) -> torch.Tensor:
    """A [1,n,n] 1-px corridor snaking over the whole frame, open to the border at one pixel only: the worst
    case for growing a region one step per pass (path length ~ n²/2)."""
    m = torch.zeros(n, n, dtype=torch.bool)
    rows = list(range(1, n - 1, 2))
    for k, y in enumerate(rows):
        m[y, 1 : n - 1] = True
        if k + 1 < len(rows):
            m[y + 1, n - 2 if k % 2 == 0 else 1] = True
    m[1, 0] = True
    return (m.T.contiguous() if vertical else m).unsqueeze(0)


def test_flood_fill_matches_bfs_on_seeded_random_masks():
    rng = np.random.default_rng(1234)
    for _ in range(200):
        b, h, w = rng.integers(1, 4), rng.integers(1, 24), rng.integers(1, 24)
        density = rng.uniform(0.3, 0.8)  # around the percolation threshold: long, tortuous clusters
        mask = rng.random((b, h, w)) < density
        got = _connected_to_border(torch.from_numpy(mask))
        assert got.dtype == torch.bool and got.shape == mask.shape
        assert np.array_equal(got.numpy(), reference_reached(mask))


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 3), st.integers(1, 16), st.integers(1, 16), st.integers(0, 2**32 - 1), st.floats(0.2, 0.9))
def test_flood_fill_matches_bfs_hypothesis(b, h, w, seed, density):
    mask = np.random.default_rng(seed).random((b, h, w)) < density
    assert np.array_equal(_connected_to_border(torch.from_numpy(mask)).numpy(), reference_reached(mask))


def test_flood_fill_handles_mazes_spirals_and_batches():
    maze = serpentine(33)
    assert torch.equal(_connected_to_border(maze), maze)
    closed = maze.clone()
    closed[0, 1, 0] = False  # no opening left: nothing reaches the border
    assert not _connected_to_border(closed).any()
    batch = torch.cat([maze, closed, serpentine(33, vertical=True)])
    expected = reference_reached(batch.numpy())
    assert np.array_equal(_connected_to_border(batch).numpy(), expected)
    # Frames do not leak into each other: frame 1 stays unreached though frames 0 and 2 are full.
    assert not expected[1].any() and expected[2].sum() == batch[2].sum()
    with pytest.raises(ValueError, match=r"\[B,H,W\]"):
        _connected_to_border(maze[0])


@pytest.mark.timeout(120)
@pytest.mark.parametrize("vertical", [False, True])
def test_flood_fill_is_fast_on_a_serpentine_corridor(vertical):
    # The old dilation loop needed one conv pass per corridor pixel (minutes at 256², hours at 1024²).
    maze = serpentine(1024, vertical)
    _connected_to_border(serpentine(64, vertical))  # warm-up (imports, allocator)
    t0 = time.perf_counter()
    reached = _connected_to_border(maze)
    elapsed = time.perf_counter() - t0
    assert torch.equal(reached, maze)
    assert elapsed < 1.0, f"flood fill of a 1024² serpentine took {elapsed:.2f} s"


def test_remove_background_flood_on_maze_keeps_only_the_sprite():
    maze = serpentine(64)[0]
    img = torch.zeros(1, 64, 64, 3)
    img[..., 1] = 1.0  # green walls...
    img[0][maze] = torch.tensor([0.0, 0.0, 1.0])  # ...and a blue corridor: the border's mode is green
    out = remove_background(img, "flood", key_rgb=(0.0, 0.0, 1.0))
    assert torch.equal(out[0, ..., 3] == 0, maze)


class Stop(Exception):
    pass


def test_check_interrupt_stops_the_flood_fill():
    calls = []

    def stop_on_third() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise Stop

    with pytest.raises(Stop):
        _connected_to_border(serpentine(256, vertical=True), check_interrupt=stop_on_third)
    assert len(calls) == 3  # called once per pass, and nothing ran after it raised

    seen = []
    _connected_to_border(serpentine(64), check_interrupt=lambda: seen.append(1))
    assert seen  # called on an uninterrupted run too


def test_check_interrupt_reaches_remove_background():
    def stop() -> None:
        raise Stop

    img = torch.zeros(1, 16, 16, 3)
    with pytest.raises(Stop):
        remove_background(img, "flood", check_interrupt=stop)
    # Methods without a long loop never call it.
    assert remove_background(img, "key", check_interrupt=stop).shape == (1, 16, 16, 4)
