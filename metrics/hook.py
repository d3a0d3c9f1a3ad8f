"""The in-engine hook: counts every prompt where the engine records it and serves ``GET /metrics``.

Hook points (ComfyUI 0.3.75), chosen because they see prompts with and without a ``client_id``:
- ``PromptQueue.get``: a prompt leaves the queue (queue wait, from the engine's own ``create_time``);
- ``PromptQueue.task_done``: a prompt's final status, messages and outputs, as history records them;
- ``execution.execute``: one node of a prompt (per-class time; cache hits excluded).
The wrappers run on the prompt worker thread, take microseconds and never raise into the engine. The route runs
the whole scrape (queue, /proc/meminfo, NVML) on a worker thread, never on the server's event loop.

Set ``DGX_PIXELS_METRICS=0`` in the engine's environment to leave the engine untouched.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, ProcessCollector

from .gpu import NvmlProbe, read_meminfo
from .registry import EngineMetrics, LiveState, outcome_from_history

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
DISABLE_ENV = "DGX_PIXELS_METRICS"
_EXPECTED_EXECUTE_PARAMS = ["server", "dynprompt", "caches", "current_item", "extra_data", "executed", "prompt_id"]

_lock = threading.Lock()
_metrics: EngineMetrics | None = None
_queue: Any = None
_probe = NvmlProbe()
_scrape_pool: ThreadPoolExecutor | None = None


def engine_metrics() -> EngineMetrics:
    """Return this process's EngineMetrics (created on first use; live gauges only once the hook is installed)."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = EngineMetrics(_read_live_state)
            ProcessCollector(registry=_metrics.registry)
        return _metrics


def _read_live_state() -> LiveState | None:
    queue = _queue
    if queue is None:
        return None
    running, pending = queue.get_current_queue_volatile()
    memory = read_meminfo()
    return LiveState(queue_pending=len(pending), queue_running=len(running),
                     memory_total_bytes=memory.get("MemTotal"), memory_available_bytes=memory.get("MemAvailable"),
                     gpus=_probe.sample())


def scrape() -> bytes:
    """Return the exposition text of this process's metrics (blocking: NVML; call it off the event loop)."""
    return engine_metrics().exposition()


async def metrics_route(request) -> Any:
    """aiohttp handler of GET /metrics."""
    from aiohttp import web

    global _scrape_pool
    if _scrape_pool is None:
        _scrape_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dgx-pixels-metrics")
    body = await asyncio.get_running_loop().run_in_executor(_scrape_pool, scrape)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _wrap_queue(queue: Any, metrics: EngineMetrics) -> None:
    original_get, original_task_done = queue.get, queue.task_done
    started: dict[int, float] = {}

    def get(*args, **kwargs):
        found = original_get(*args, **kwargs)
        if found is not None:
            try:
                item, item_id = found
                started[item_id] = time.perf_counter()
                _node_pending.clear()
                created_ms = item[3].get("create_time") if isinstance(item[3], dict) else None
                if created_ms is not None:
                    metrics.queue_wait.observe(max(0.0, time.time() - created_ms / 1000.0))
            except Exception:
                log.debug("metrics: could not read a dequeued prompt", exc_info=True)
        return found

    def task_done(item_id, history_result, *args, **kwargs):
        began = started.pop(item_id, None)
        ended = time.perf_counter()
        original_task_done(item_id, history_result, *args, **kwargs)
        try:
            status = kwargs.get("status", args[0] if args else None)
            entry = {"outputs": (history_result or {}).get("outputs"),
                     "status": status._asdict() if status is not None else None}
            outcome = outcome_from_history(entry)
            outcome.queue_wait_s = None  # observed when the prompt left the queue
            outcome.execution_s = ended - began if began is not None else None
            metrics.record_prompt(outcome)
        except Exception:
            log.warning("metrics: could not count a finished prompt", exc_info=True)

    queue.get, queue.task_done = get, task_done


_node_pending: dict[str, float] = {}


def _wrap_node_execute(execution: Any, metrics: EngineMetrics) -> bool:
    original = execution.execute
    params = list(inspect.signature(original).parameters)[:len(_EXPECTED_EXECUTE_PARAMS)]
    if params != _EXPECTED_EXECUTE_PARAMS:
        log.warning("metrics: execution.execute has parameters %s; per-node timing is off for this engine", params)
        return False
    success, pending = execution.ExecutionResult.SUCCESS, execution.ExecutionResult.PENDING

    async def execute(*args, **kwargs):
        dynprompt, node_id, executed = args[1], args[3], args[5]
        was_done = node_id in executed
        began = time.perf_counter()
        result = await original(*args, **kwargs)
        try:
            elapsed = time.perf_counter() - began
            if result[0] == pending:  # async nodes and subgraph expansions come back later
                _node_pending[node_id] = _node_pending.get(node_id, 0.0) + elapsed
            else:
                elapsed += _node_pending.pop(node_id, 0.0)
                if result[0] == success and node_id in executed and not was_done:
                    metrics.record_node(dynprompt.get_node(node_id)["class_type"], elapsed)
        except Exception:
            log.debug("metrics: could not time node %s", node_id, exc_info=True)
        return result

    execute.__wrapped__ = original
    execution.execute = execute
    return True


def _wrap_validate_prompt(execution: Any, metrics: EngineMetrics) -> None:
    # POST /prompt refuses a prompt (HTTP 400) when validation fails; it never reaches the queue, so only here is
    # it seen.
    original = execution.validate_prompt

    async def validate_prompt(*args, **kwargs):
        result = await original(*args, **kwargs)
        try:
            if not result[0]:
                error_type = (result[1] or {}).get("type", "unknown") if isinstance(result[1], dict) else "unknown"
                metrics.prompts_rejected.labels(error_type=str(error_type)).inc()
        except Exception:
            log.debug("metrics: could not count a rejected prompt", exc_info=True)
        return result

    validate_prompt.__wrapped__ = original
    execution.validate_prompt = validate_prompt


def _add_route(routes: Any) -> bool:
    for route in routes:
        if getattr(route, "path", None) == METRICS_PATH and getattr(route, "method", None) == "GET":
            log.warning("metrics: another extension already serves %s; DGX-Pixels leaves it alone", METRICS_PATH)
            return False
    routes.get(METRICS_PATH)(metrics_route)
    return True


def install() -> bool:
    """Install the hook into the running engine (once). Returns False when disabled or outside an engine.

    Raises only on an engine whose internals differ from what the hook expects; the pack's entry point catches that.
    """
    global _queue
    if os.environ.get(DISABLE_ENV, "1").strip().lower() in ("0", "false", "off", "no"):
        log.info("metrics: %s is off; no /metrics route", DISABLE_ENV)
        return False
    if _queue is not None:
        return True
    import execution
    from server import PromptServer

    server = getattr(PromptServer, "instance", None)
    if server is None or getattr(server, "prompt_queue", None) is None:
        return False
    metrics = engine_metrics()
    _wrap_queue(server.prompt_queue, metrics)
    _wrap_node_execute(execution, metrics)
    _wrap_validate_prompt(execution, metrics)
    _add_route(server.routes)
    _queue = server.prompt_queue
    log.info("metrics: serving %s (Prometheus text format)", METRICS_PATH)
    return True
