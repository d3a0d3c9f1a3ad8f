"""The metric definitions, shared by the in-engine hook and the remote exporter.

Naming: what any ComfyUI engine does is ``comfyui_*`` (the exporter serves the same names for an engine without the
pack); what only this pack does is ``dgx_pixels_*``. Base units in names, counters end in ``_total``, ratios are 0-1,
and no label ever carries a prompt id. The one open-ended label, ``node_class``, is capped (see ``NodeClassLabels``).

The functions that read a finished prompt (``outcome_from_history``) are pure, so the hook (which sees
``PromptQueue.task_done``) and the exporter (which reads ``/history``) count a prompt the same way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .gpu import GpuSample

# A sprite at 64² takes well under a second; an SDXL batch on a busy shared GPU can take half an hour.
DURATION_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)
PROMPT_STATUSES = ("success", "error", "interrupted")
NODE_CLASS_LIMIT = 200
OTHER_NODE_CLASS = "other"
GPU_LABELS = ("gpu", "UUID")


@dataclass
class PromptOutcome:
    """What one finished prompt contributes to the counters."""

    status: str
    images_written: int = 0
    cached_nodes: int = 0
    error_node_classes: list[str] = field(default_factory=list)
    execution_s: float | None = None
    queue_wait_s: float | None = None


def _messages(status: dict | None) -> list[tuple[str, dict]]:
    pairs = []
    for item in (status or {}).get("messages") or []:
        if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], dict):
            pairs.append((str(item[0]), item[1]))
    return pairs


def prompt_status(status: dict | None) -> str:
    """Return "success", "error" or "interrupted" for a history ``status`` dict (a missing status is an error)."""
    messages = _messages(status)
    if any(name == "execution_interrupted" for name, _ in messages):
        return "interrupted"
    if status and status.get("status_str") == "success":
        return "success"
    return "error"


def outcome_from_history(entry: dict) -> PromptOutcome:
    """Return the PromptOutcome of a history entry (``{prompt, outputs, status}``, as /history serves it).

    Durations come from the engine's message timestamps (ms) and ``extra_data.create_time``; the hook replaces them
    with its own clock readings. Images are counted only for output nodes that ran in this prompt (not from cache)
    and only when they went to the output folder (``type == "output"``, not previews).
    """
    status = entry.get("status")
    messages = _messages(status)
    cached: set[str] = set()
    started_ms = finished_ms = None
    errors = []
    for name, data in messages:
        if name == "execution_cached":
            cached.update(str(node) for node in data.get("nodes") or [])
        elif name == "execution_start":
            started_ms = data.get("timestamp")
        elif name in ("execution_success", "execution_error", "execution_interrupted"):
            finished_ms = data.get("timestamp")
            if name == "execution_error":
                errors.append(str(data.get("node_type") or "unknown"))
    images = 0
    for node_id, output in (entry.get("outputs") or {}).items():
        if str(node_id) in cached or not isinstance(output, dict):
            continue
        for item in output.get("images") or []:
            if isinstance(item, dict) and item.get("type", "output") == "output":
                images += 1
    outcome = PromptOutcome(prompt_status(status), images, len(cached), errors)
    if started_ms is not None and finished_ms is not None:
        outcome.execution_s = max(0.0, (finished_ms - started_ms) / 1000.0)
    prompt = entry.get("prompt")
    if started_ms is not None and isinstance(prompt, (list, tuple)) and len(prompt) > 3:
        created_ms = (prompt[3] or {}).get("create_time") if isinstance(prompt[3], dict) else None
        if created_ms is not None:
            outcome.queue_wait_s = max(0.0, (started_ms - created_ms) / 1000.0)
    return outcome


class NodeClassLabels:
    """Caps the ``node_class`` label: the first ``limit`` classes seen keep their name, later ones become "other"."""

    def __init__(self, limit: int = NODE_CLASS_LIMIT):
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, node_class: str) -> str:
        if node_class in self._seen:
            return node_class
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(node_class)
                return node_class
        return OTHER_NODE_CLASS


@dataclass
class LiveState:
    """What is read at scrape time rather than counted: the queue, system memory and the GPUs."""

    queue_pending: int
    queue_running: int
    memory_total_bytes: int | None = None
    memory_available_bytes: int | None = None
    gpus: list[GpuSample] = field(default_factory=list)


class _LiveCollector:
    """Yields the scrape-time gauges. Without ``describe`` the registry never calls it at registration."""

    def __init__(self, read_state: Callable[[], LiveState | None]):
        self.read_state = read_state

    def collect(self) -> Iterable:
        state = self.read_state()
        if state is None:
            return
        pending = GaugeMetricFamily("comfyui_queue_pending", "Prompts waiting in the queue.")
        pending.add_metric([], state.queue_pending)
        running = GaugeMetricFamily("comfyui_queue_running", "Prompts executing now (0 or 1).")
        running.add_metric([], state.queue_running)
        yield pending
        yield running
        if state.memory_total_bytes is not None:
            total = GaugeMetricFamily("comfyui_system_memory_total_bytes", "Physical memory of the engine's host.")
            total.add_metric([], state.memory_total_bytes)
            yield total
        if state.memory_available_bytes is not None:
            available = GaugeMetricFamily("comfyui_system_memory_available_bytes",
                                          "Memory available for new allocations on the engine's host (MemAvailable).")
            available.add_metric([], state.memory_available_bytes)
            yield available
        yield from gpu_families(state.gpus)


_GPU_GAUGES = (
    ("utilization_ratio", "comfyui_gpu_utilization_ratio", "GPU busy fraction over the last sample period (0-1)."),
    ("memory_used_bytes", "comfyui_gpu_memory_used_bytes", "GPU memory in use (see comfyui_gpu_memory_info)."),
    ("memory_free_bytes", "comfyui_gpu_memory_free_bytes", "GPU memory free."),
    ("memory_total_bytes", "comfyui_gpu_memory_total_bytes", "GPU memory in all."),
    ("temperature_celsius", "comfyui_gpu_temperature_celsius", "GPU core temperature."),
    ("power_watts", "comfyui_gpu_power_watts", "GPU power draw."),
    ("sm_clock_hertz", "comfyui_gpu_sm_clock_hertz", "GPU SM clock."),
)


def gpu_families(gpus: list[GpuSample]) -> Iterable:
    """Yield one family per GPU field that at least one GPU reported; a field no GPU has is left out entirely."""
    for attr, name, help_text in _GPU_GAUGES:
        family = GaugeMetricFamily(name, help_text, labels=GPU_LABELS)
        for gpu in gpus:
            value = getattr(gpu, attr)
            if value is not None:
                family.add_metric([str(gpu.index), gpu.uuid], value)
        if family.samples:
            yield family
    energy = CounterMetricFamily("comfyui_gpu_energy_joules", "GPU energy used since the driver loaded.",
                                 labels=GPU_LABELS)
    info = GaugeMetricFamily("comfyui_gpu_memory_info", "Where the GPU memory numbers come from (value 1).",
                             labels=(*GPU_LABELS, "name", "source"))
    for gpu in gpus:
        if gpu.energy_joules is not None:
            energy.add_metric([str(gpu.index), gpu.uuid], gpu.energy_joules)
        if gpu.memory_source is not None:
            info.add_metric([str(gpu.index), gpu.uuid, gpu.name, gpu.memory_source], 1)
    if energy.samples:
        yield energy
    if info.samples:
        yield info


class _WithoutCreated:
    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self) -> Iterable:
        for family in self.registry.collect():
            family.samples = [sample for sample in family.samples if not sample.name.endswith("_created")]
            yield family


class EngineMetrics:
    """All counters and histograms of one engine, in their own registry.

    ``read_state`` is called at each scrape for the queue, memory and GPU gauges; pass None to leave them out.
    """

    def __init__(self, read_state: Callable[[], LiveState | None] | None = None, *,
                 registry: CollectorRegistry | None = None, node_class_limit: int = NODE_CLASS_LIMIT,
                 node_timing: bool = True):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.node_class = NodeClassLabels(node_class_limit)
        self.prompts = Counter("comfyui_prompts", "Prompts finished, by final status.", ["status"], registry=r)
        for status in PROMPT_STATUSES:
            self.prompts.labels(status)
        self.prompt_execution = Histogram("comfyui_prompt_execution_seconds",
                                          "Time from a prompt leaving the queue to its end, by final status.",
                                          ["status"], buckets=DURATION_BUCKETS_S, registry=r)
        for status in PROMPT_STATUSES:
            self.prompt_execution.labels(status)
        self.queue_wait = Histogram("comfyui_prompt_queue_wait_seconds",
                                    "Time a prompt waited in the queue before it started.",
                                    buckets=DURATION_BUCKETS_S, registry=r)
        self.node_execution = None
        if node_timing:
            self.node_execution = Histogram("comfyui_node_execution_seconds",
                                            "Time one node took to execute (cache hits excluded), by node class.",
                                            ["node_class"], buckets=DURATION_BUCKETS_S, registry=r)
        self.node_errors = Counter("comfyui_node_errors", "Nodes that raised and failed their prompt, by node class.",
                                   ["node_class"], registry=r)
        self.node_cache_hits = Counter("comfyui_node_cache_hits", "Nodes served from the engine's cache.",
                                       registry=r)
        self.images_written = Counter("comfyui_images_written",
                                      "Images saved to the output folder by nodes that ran (previews excluded).",
                                      registry=r)
        self.prompts_rejected = Counter("comfyui_prompts_rejected",
                                        "Prompts the engine refused when queued (HTTP 400), by error type.",
                                        ["error_type"], registry=r)
        self.sprites_exported = Counter("dgx_pixels_sprites_exported", "Sprites written by the pack's exporters.",
                                        registry=r)
        self.palettes_applied = Counter("dgx_pixels_palettes_applied", "Palette applications by the pack's nodes.",
                                        registry=r)
        self.loras_loaded = Counter("dgx_pixels_loras_loaded", "LoRAs loaded by the pack's nodes.", registry=r)
        if read_state is not None:
            r.register(_LiveCollector(read_state))

    def exposition(self) -> bytes:
        """Return the Prometheus text exposition (without the ``*_created`` series, which only add noise here)."""
        return generate_latest(_WithoutCreated(self.registry))

    def record_prompt(self, outcome: PromptOutcome) -> None:
        """Count one finished prompt."""
        status = outcome.status if outcome.status in PROMPT_STATUSES else "error"
        self.prompts.labels(status).inc()
        if outcome.execution_s is not None:
            self.prompt_execution.labels(status).observe(outcome.execution_s)
        if outcome.queue_wait_s is not None:
            self.queue_wait.observe(outcome.queue_wait_s)
        if outcome.images_written:
            self.images_written.inc(outcome.images_written)
        if outcome.cached_nodes:
            self.node_cache_hits.inc(outcome.cached_nodes)
        for node_class in outcome.error_node_classes:
            self.node_errors.labels(self.node_class(node_class)).inc()

    def record_node(self, node_class: str, seconds: float) -> None:
        """Observe one node execution."""
        if self.node_execution is not None:
            self.node_execution.labels(self.node_class(node_class)).observe(seconds)
