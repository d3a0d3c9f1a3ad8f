"""ProgressTracker merges the engine's progress events into one value that never goes backwards.

These are fake event streams on purpose: out-of-order and re-sent events cannot be produced on demand by a real
engine (the real stream is covered by tests/engine/test_bridge_engine.py)."""

from __future__ import annotations

from dgx_pixels.engine.client import ProgressTracker, PromptResult


def feed_all(tracker: ProgressTracker, events: list[tuple[str, dict]]) -> list[float]:
    seen = []
    for kind, data in events:
        tracker.feed(kind, data)
        seen.append(tracker.fraction)
    return seen


def test_real_order_rises_to_below_one_then_finish_gives_one():
    tracker = ProgressTracker(["1", "2", "3", "4"])
    seen = feed_all(tracker, [
        ("execution_start", {}), ("execution_cached", {"nodes": ["1"]}),
        ("executing", {"node": "2"}), ("progress", {"node": "2", "value": 1, "max": 4}),
        ("progress", {"node": "2", "value": 4, "max": 4}), ("executing", {"node": "3"}),
        ("executed", {"node": "3"}), ("executing", {"node": "4"}),
        ("progress_state", {"nodes": {"4": {"state": "finished", "value": 1, "max": 1}}}),
    ])
    assert seen == sorted(seen)
    assert seen[1] == 0.25  # the cached node counts as done
    assert seen[-1] == 0.99
    tracker.finish()
    assert tracker.fraction == 1.0


def test_never_goes_backwards_on_resent_or_lower_events():
    tracker = ProgressTracker(["1", "2"])
    seen = feed_all(tracker, [
        ("progress", {"node": "1", "value": 3, "max": 4}),
        ("progress", {"node": "1", "value": 1, "max": 4}),  # a sub-sampler restarting its count
        ("progress_state", {"nodes": {"1": {"state": "running", "value": 0, "max": 10}}}),
        ("progress", {"node": "2", "value": 1, "max": 100}),
    ])
    assert seen == sorted(seen) and seen[0] == 0.375


def test_progress_state_display_node_ids_and_unknown_nodes():
    tracker = ProgressTracker(["5"])
    tracker.feed("progress_state", {"nodes": {"5.1": {"display_node_id": "5", "state": "running", "value": 2,
                                                      "max": 4}}})
    assert tracker.fraction == 0.5
    empty = ProgressTracker([])
    empty.feed("progress", {"node": "x", "value": 1, "max": 2})
    assert 0 < empty.fraction < 1


def test_from_cache_only_when_every_output_was_cached():
    assert PromptResult("p", {"9": {"images": []}}, ["1", "9"]).from_cache
    assert not PromptResult("p", {"9": {"images": []}}, ["1"]).from_cache
    assert not PromptResult("p", {}, ["1"]).from_cache
