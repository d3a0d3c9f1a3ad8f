"""EngineBalancer: concurrent choices count the choices made before them, so they spread over idle engines.

The engines' queues are faked to look empty to every caller (as they do when all callers read them before any has
queued); the real engines are in tests/engine/test_bridge_placement.py."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from dgx_pixels.engine import client as client_module
from dgx_pixels.engine.client import EngineBalancer, EngineUnreachable

A, B = "http://engine-a", "http://engine-b"


@pytest.fixture
def idle_queues(monkeypatch):
    """Both engines answer with an empty queue, after a pause that lets every concurrent caller read first."""
    queues = {A: set(), B: set()}

    async def fake(url, *, request_timeout_s=5.0):
        await asyncio.sleep(0.01)
        return None if queues.get(url) is None else set(queues[url])

    monkeypatch.setattr(client_module, "queued_ids", fake)
    return queues


def test_eighteen_concurrent_choices_split_nine_nine(idle_queues):
    async def go():
        balancer = EngineBalancer([A, B])
        chosen = await asyncio.gather(*(balancer.choose() for _ in range(18)))
        return balancer, Counter(chosen)

    balancer, counts = asyncio.run(go())
    assert counts == {A: 9, B: 9}
    assert balancer.load() == {A: 9, B: 9}


def test_queued_jobs_count_once_and_stop_counting_when_finished(idle_queues):
    async def go():
        balancer = EngineBalancer([A, B])
        url = await balancer.choose()
        assert url == A
        balancer.queued(url, "job-1")  # uses up the placement: still one job on A, not two
        assert balancer.load() == {A: 1, B: 0}
        idle_queues[A] = {"job-1"}  # the engine now lists it too: still one
        assert await balancer.choose(reserve=False) == B
        balancer.finished(A, "job-1")
        idle_queues[A] = set()
        assert balancer.load() == {A: 0, B: 0}
        second = await balancer.choose()
        balancer.release(second)  # preparing failed: the place is given back
        assert balancer.load() == {A: 0, B: 0}

    asyncio.run(go())


def test_placements_lapse_and_an_absent_engine_is_skipped(idle_queues):
    async def go():
        balancer = EngineBalancer([A, B], placement_ttl_s=0.0)
        assert [await balancer.choose() for _ in range(3)] == [A, A, A], "unqueued choices lapsed at once"
        idle_queues[A] = None  # A stops answering
        assert await balancer.choose() == B
        idle_queues[B] = None
        with pytest.raises(EngineUnreachable, match="no engine answered"):
            await balancer.choose()

    asyncio.run(go())
