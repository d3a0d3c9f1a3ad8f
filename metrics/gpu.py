"""GPU probing through NVML, one field at a time.

Each NVML call is made on its own, so a field the driver does not support (GB10's unified memory answers
NOT_SUPPORTED for ``nvmlDeviceGetMemoryInfo``) drops that field only. Memory then falls back to
``torch.cuda.mem_get_info`` (only when the process already has CUDA up: we never create a context) and then to
``/proc/meminfo`` (unified memory is the host's memory). NVML calls block: call ``sample`` from a worker thread,
never from the engine's event loop (the /metrics route runs the whole scrape in one).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)


@dataclass
class GpuSample:
    """One GPU at one moment; a field is None when neither NVML nor a fallback could read it."""

    index: int
    uuid: str = ""
    name: str = ""
    utilization_ratio: float | None = None
    memory_used_bytes: float | None = None
    memory_free_bytes: float | None = None
    memory_total_bytes: float | None = None
    memory_source: str | None = None
    temperature_celsius: float | None = None
    power_watts: float | None = None
    energy_joules: float | None = None
    sm_clock_hertz: float | None = None


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def read_meminfo(path: str | Path = "/proc/meminfo") -> dict[str, int]:
    """Return /proc/meminfo as {field: bytes}; {} where it cannot be read (not Linux)."""
    values = {}
    try:
        text = Path(path).read_text()
    except OSError:
        return values
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[name.strip()] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    return values


def _meminfo_memory(path: str) -> tuple[float, float] | None:
    info = read_meminfo(path)
    if "MemTotal" not in info or "MemAvailable" not in info:
        return None
    return float(info["MemTotal"]), float(info["MemAvailable"])


def _torch_memory(index: int) -> tuple[float, float] | None:
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        if not torch.cuda.is_initialized():
            return None
        free, total = torch.cuda.mem_get_info(index)
    except Exception:  # any failure just moves on to the next fallback
        return None
    return float(total), float(free)


class NvmlProbe:
    """Samples every NVML GPU. ``nvml`` is the module to use (``pynvml`` by default; tests may pass a fake)."""

    def __init__(self, nvml: Any = None, *, meminfo_path: str = "/proc/meminfo", min_interval_s: float = 1.0,
                 torch_fallback: bool = True):
        self._nvml = nvml
        self.meminfo_path = meminfo_path
        self.min_interval_s = min_interval_s
        self.torch_fallback = torch_fallback
        self._ready: bool | None = None  # None: not tried yet
        self._lock = threading.Lock()
        self._last: tuple[float, list[GpuSample]] = (float("-inf"), [])
        self._failed_fields: set[str] = set()

    def _init(self) -> bool:
        if self._ready is not None:
            return self._ready
        try:
            if self._nvml is None:
                import pynvml

                self._nvml = pynvml
            self._nvml.nvmlInit()
            self._ready = True
        except Exception as exc:  # no driver, no library, no GPU: the GPU series are simply absent
            log.info("NVML not available (%s): GPU metrics are off", exc)
            self._ready = False
        return self._ready

    def _field(self, name: str, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Exception as exc:  # NVMLError_NotSupported and friends: this field only
            if name not in self._failed_fields:
                self._failed_fields.add(name)
                log.info("NVML field %s unavailable: %s", name, exc)
            return None

    def sample(self) -> list[GpuSample]:
        """Return one GpuSample per GPU ([] without NVML); reuses a sample younger than ``min_interval_s``."""
        with self._lock:
            now = time.monotonic()
            if now - self._last[0] < self.min_interval_s:
                return self._last[1]
            samples = self._sample() if self._init() else []
            self._last = (now, samples)
            return samples

    def _sample(self) -> list[GpuSample]:
        nvml = self._nvml
        count = self._field("count", nvml.nvmlDeviceGetCount) or 0
        samples = []
        for index in range(count):
            handle = self._field("handle", lambda: nvml.nvmlDeviceGetHandleByIndex(index))
            if handle is None:
                continue
            gpu = GpuSample(index=index)
            gpu.uuid = _text(self._field("uuid", lambda: nvml.nvmlDeviceGetUUID(handle)) or "")
            gpu.name = _text(self._field("name", lambda: nvml.nvmlDeviceGetName(handle)) or "")
            rates = self._field("utilization", lambda: nvml.nvmlDeviceGetUtilizationRates(handle))
            if rates is not None:
                gpu.utilization_ratio = float(rates.gpu) / 100.0
            temperature = self._field("temperature",
                                      lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
            if temperature is not None:
                gpu.temperature_celsius = float(temperature)
            power_mw = self._field("power", lambda: nvml.nvmlDeviceGetPowerUsage(handle))
            if power_mw is not None:
                gpu.power_watts = float(power_mw) / 1000.0
            energy_mj = self._field("energy", lambda: nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
            if energy_mj is not None:
                gpu.energy_joules = float(energy_mj) / 1000.0
            clock_mhz = self._field("sm_clock", lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))
            if clock_mhz is not None:
                gpu.sm_clock_hertz = float(clock_mhz) * 1e6
            self._memory(gpu, handle, count)
            samples.append(gpu)
        return samples

    def _memory(self, gpu: GpuSample, handle: Any, count: int) -> None:
        memory = self._field("memory", lambda: self._nvml.nvmlDeviceGetMemoryInfo(handle))
        if memory is not None:
            gpu.memory_total_bytes = float(memory.total)
            gpu.memory_used_bytes = float(memory.used)
            gpu.memory_free_bytes = float(memory.free)
            gpu.memory_source = "nvml"
            return
        # NVML and torch may number GPUs differently (CUDA_VISIBLE_DEVICES); only trust torch for a single GPU.
        found = _torch_memory(gpu.index) if self.torch_fallback and count == 1 else None
        source = "torch"
        if found is None:
            found, source = _meminfo_memory(self.meminfo_path), "meminfo"
        if found is not None:
            total, free = found
            gpu.memory_total_bytes, gpu.memory_free_bytes = total, free
            gpu.memory_used_bytes = total - free
            gpu.memory_source = source


def samples_from_system_stats(stats: dict) -> list[GpuSample]:
    """Return GpuSamples (memory only) from an engine's /system_stats ``devices``; CPU devices are skipped."""
    samples = []
    for position, device in enumerate(stats.get("devices") or []):
        if not isinstance(device, dict) or device.get("type") == "cpu":
            continue
        total, free = device.get("vram_total"), device.get("vram_free")
        index = device.get("index")
        gpu = GpuSample(index=int(index) if isinstance(index, int) else position, name=str(device.get("name", "")))
        if isinstance(total, (int, float)) and isinstance(free, (int, float)):
            gpu.memory_total_bytes, gpu.memory_free_bytes = float(total), float(free)
            gpu.memory_used_bytes = float(total) - float(free)
            gpu.memory_source = "system_stats"
        samples.append(gpu)
    return samples
