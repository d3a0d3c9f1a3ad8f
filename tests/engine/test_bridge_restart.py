"""The engine killed (SIGKILL of its process group) and restarted on the same port while the bridge follows jobs:
every job must end in a definite state within a bounded time, none may hang."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import pytest

from dgx_pixels.engine.client import EngineClient
from dgx_pixels.engine.jobs import FINAL_STATES, LOST, JobManager
from dgx_pixels.engine.local import pick_free_port, start_engine
from prompt_graph import Graph, txt2img

pytestmark = pytest.mark.engine
SETTLE_S = 120.0


def slow_prompt(checkpoint: str) -> dict:
    g = Graph()
    decoded = txt2img(g, checkpoint, text="pixel art", size=64, seed=uuid.uuid4().int % 10**9, steps=150, cfg=6.0)
    g.node("SaveImage", images=decoded.out(), filename_prefix="bridge/restart")
    return g.prompt


def test_engine_killed_and_restarted_mid_job_every_job_ends(engine_dir, tiny_checkpoint, tmp_path):
    port = pick_free_port()
    run = start_engine(port=port, engine_dir=engine_dir, run_dir=tmp_path / "engine", cpu=True)
    restarted = None
    try:
        async def go():
            nonlocal restarted
            manager = JobManager([run.url], tmp_path / "results",
                                 client_options={"poll_interval_s": 1.0, "reconnect_window_s": 90.0})
            try:
                jobs = [await manager.submit(slow_prompt(tiny_checkpoint)) for _ in range(3)]
                # Wait until the first job samples, so the kill lands mid-job with the others queued.
                deadline = time.monotonic() + 180
                while "step" not in jobs[0].message:
                    assert time.monotonic() < deadline, f"the first job never started: {jobs[0]}"
                    await asyncio.sleep(0.2)
                os.killpg(run.pid, signal.SIGKILL)
                run.process.wait(30)
                restarted = await asyncio.to_thread(start_engine, port=port, engine_dir=engine_dir,
                                                    run_dir=tmp_path / "engine2", cpu=True)
                began = time.monotonic()
                ended = await asyncio.wait_for(
                    asyncio.gather(*(manager.wait(job.job_id, SETTLE_S) for job in jobs)), SETTLE_S + 30)
                assert [job.status for job in ended] == [LOST] * 3, [job.describe() for job in ended]
                assert all(job.error for job in ended), "a lost job says why"
                assert time.monotonic() - began < SETTLE_S
                # The bridge keeps working against the restarted engine.
                async with EngineClient(restarted.url) as client:
                    assert await client.load() == 0
                for job in jobs:
                    assert (await manager.get(job.job_id)).status in FINAL_STATES
            finally:
                await manager.close()

        asyncio.run(go())
    finally:
        run.stop(timeout_s=5)
        if restarted is not None:
            restarted.stop(timeout_s=10)
