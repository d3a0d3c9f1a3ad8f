"""Exporter mode: Prometheus metrics of an engine the pack is not loaded into, read over its HTTP API.

It polls ``/queue``, ``/history`` (incrementally: only entries it has not counted yet) and ``/system_stats`` with
the shared EngineClient, and serves the same metric names as the in-engine hook where the API allows:
prompts by status, execution time and queue wait (from the engine's message timestamps), node errors, cache hits,
images written, queue gauges, system memory and GPU memory (from ``/system_stats``). Per-node timing, process
metrics and NVML fields need the hook. ``comfyui_engine_up`` says whether the last poll reached the engine.

On start it counts the whole history the engine still holds (up to 10,000 prompts), so its totals describe that
window; Prometheus treats the exporter's restart like any counter reset.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Gauge

from ..engine.client import EngineClient, EngineClientError
from .gpu import samples_from_system_stats
from .registry import EngineMetrics, LiveState, outcome_from_history

log = logging.getLogger(__name__)

ENGINE_HISTORY_LIMIT = 10_000  # ComfyUI's MAXIMUM_HISTORY_SIZE
SEEN_LIMIT = 2 * ENGINE_HISTORY_LIMIT


class Exporter:
    """Counts an engine's prompts from its API. Call ``poll(client)`` periodically; ``exposition()`` any time."""

    def __init__(self, *, history_window: int = 64):
        self.history_window = history_window
        self.metrics = EngineMetrics(self._live_state, node_timing=False)
        self.engine_up = Gauge("comfyui_engine_up", "1 when the exporter's last poll reached the engine, else 0.",
                               registry=self.metrics.registry)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._primed = False
        self._live: LiveState | None = None

    def _live_state(self) -> LiveState | None:
        return self._live

    def exposition(self) -> bytes:
        return self.metrics.exposition()

    async def poll(self, client: EngineClient) -> bool:
        """Read the engine once; return True when it answered (``comfyui_engine_up`` follows)."""
        try:
            queue = await client.get_json("/queue")
            stats = await client.system_stats()
            await self._count_new_history(client)
        except EngineClientError as exc:
            log.warning("metrics exporter: %s", exc)
            self.engine_up.set(0)
            return False
        system = stats.get("system") or {}
        self._live = LiveState(queue_pending=len(queue.get("queue_pending") or []),
                               queue_running=len(queue.get("queue_running") or []),
                               memory_total_bytes=system.get("ram_total"),
                               memory_available_bytes=system.get("ram_free"),
                               gpus=samples_from_system_stats(stats))
        self.engine_up.set(1)
        return True

    async def _count_new_history(self, client: EngineClient) -> None:
        if not self._primed:
            entries = await client.history_all()
        else:
            window = self.history_window
            while True:
                entries = await client.history_all(window)
                # Grow the window until it reaches back to something already counted.
                if len(entries) < window or window >= ENGINE_HISTORY_LIMIT or any(p in self._seen for p in entries):
                    break
                window = min(window * 4, ENGINE_HISTORY_LIMIT)
        self._primed = True
        for prompt_id, entry in entries.items():
            if prompt_id in self._seen or not isinstance(entry, dict):
                continue
            self._seen[prompt_id] = None
            if len(self._seen) > SEEN_LIMIT:
                self._seen.popitem(last=False)
            self.metrics.record_prompt(outcome_from_history(entry))


async def serve(engine_url: str, *, host: str = "127.0.0.1", port: int = 9188, interval_s: float = 5.0,
                ready: asyncio.Event | None = None) -> None:
    """Poll ``engine_url`` every ``interval_s`` and serve GET /metrics on host:port until cancelled."""
    exporter = Exporter()

    async def metrics_route(request: web.Request) -> web.Response:
        return web.Response(body=exporter.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics_route)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("metrics exporter: serving http://%s:%d/metrics for %s", host, port, engine_url)
    try:
        async with EngineClient(engine_url, request_timeout_s=max(5.0, interval_s)) as client:
            await exporter.poll(client)
            if ready is not None:
                ready.set()
            while True:
                await asyncio.sleep(interval_s)
                await exporter.poll(client)
    finally:
        await runner.cleanup()
