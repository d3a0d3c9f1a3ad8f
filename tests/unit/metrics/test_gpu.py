"""NVML probing field by field. The fake NVML module below stands in for a GB10 driver (which answers
NOT_SUPPORTED for memory): this machine has no GPU, and a real NOT_SUPPORTED cannot be produced on demand.
Only these tests use a fake; everything else runs the real pynvml (which finds no library here)."""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

from dgx_pixels.metrics.gpu import NvmlProbe, read_meminfo, samples_from_system_stats
from dgx_pixels.metrics.registry import EngineMetrics, LiveState


class FakeNvmlError(Exception):
    pass


class FakeNotSupported(FakeNvmlError):
    pass


def fake_nvml(*, memory_supported: bool = False, init_fails: bool = False) -> SimpleNamespace:
    def not_supported(*_):
        raise FakeNotSupported("Not Supported")

    def init():
        if init_fails:
            raise FakeNvmlError("NVML Shared Library Not Found")

    return SimpleNamespace(
        NVMLError=FakeNvmlError, NVML_TEMPERATURE_GPU=0, NVML_CLOCK_SM=1,
        nvmlInit=init,
        nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: f"handle{i}",
        nvmlDeviceGetUUID=lambda h: "GPU-fake-0",
        nvmlDeviceGetName=lambda h: b"NVIDIA GB10",
        nvmlDeviceGetUtilizationRates=lambda h: SimpleNamespace(gpu=37, memory=0),
        nvmlDeviceGetTemperature=lambda h, sensor: 64,
        nvmlDeviceGetPowerUsage=lambda h: 45_500,
        nvmlDeviceGetTotalEnergyConsumption=lambda h: 9_000_000,
        nvmlDeviceGetClockInfo=not_supported,
        nvmlDeviceGetMemoryInfo=(lambda h: SimpleNamespace(total=100, used=30, free=70)) if memory_supported
        else not_supported,
    )


def write_meminfo(tmp_path, total_kb=131_072_000, available_kb=65_536_000):
    path = tmp_path / "meminfo"
    path.write_text(f"MemTotal:       {total_kb} kB\nMemFree:        1 kB\nMemAvailable:   {available_kb} kB\n")
    return path


def gpu_series(samples) -> dict[str, float]:
    text = EngineMetrics(lambda: LiveState(queue_pending=0, queue_running=0, gpus=samples)).exposition().decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.name.startswith("comfyui_gpu_")}


def test_without_nvml_there_are_no_gpu_series():
    assert NvmlProbe().sample() == []  # the real pynvml: no driver on this machine
    assert NvmlProbe(fake_nvml(init_fails=True)).sample() == []
    assert gpu_series([]) == {}


def test_not_supported_memory_keeps_other_fields_and_falls_back_to_meminfo(tmp_path):
    probe = NvmlProbe(fake_nvml(memory_supported=False), meminfo_path=str(write_meminfo(tmp_path)),
                      torch_fallback=False)
    [gpu] = probe.sample()
    assert (gpu.uuid, gpu.name) == ("GPU-fake-0", "NVIDIA GB10")
    assert gpu.utilization_ratio == 0.37 and gpu.temperature_celsius == 64.0
    assert gpu.power_watts == 45.5 and gpu.energy_joules == 9_000.0
    assert gpu.sm_clock_hertz is None
    assert gpu.memory_source == "meminfo"
    assert gpu.memory_total_bytes == 131_072_000 * 1024
    assert gpu.memory_used_bytes == (131_072_000 - 65_536_000) * 1024
    series = gpu_series([gpu])
    for name in ("comfyui_gpu_utilization_ratio", "comfyui_gpu_temperature_celsius", "comfyui_gpu_power_watts",
                 "comfyui_gpu_energy_joules_total", "comfyui_gpu_memory_used_bytes", "comfyui_gpu_memory_info"):
        assert name in series, name
    assert "comfyui_gpu_sm_clock_hertz" not in series


def test_not_supported_memory_without_fallback_drops_memory_only(tmp_path):
    probe = NvmlProbe(fake_nvml(memory_supported=False), meminfo_path=str(tmp_path / "absent"), torch_fallback=False)
    series = gpu_series(probe.sample())
    assert "comfyui_gpu_memory_used_bytes" not in series and "comfyui_gpu_memory_info" not in series
    assert series["comfyui_gpu_utilization_ratio"] == 0.37
    assert series["comfyui_gpu_temperature_celsius"] == 64.0


def test_nvml_memory_is_used_when_supported(tmp_path):
    [gpu] = NvmlProbe(fake_nvml(memory_supported=True), meminfo_path=str(write_meminfo(tmp_path))).sample()
    assert (gpu.memory_source, gpu.memory_used_bytes, gpu.memory_total_bytes) == ("nvml", 30.0, 100.0)


def test_samples_are_reused_within_min_interval():
    calls = []
    nvml = fake_nvml(memory_supported=True)
    count = nvml.nvmlDeviceGetCount
    nvml.nvmlDeviceGetCount = lambda: calls.append(1) or count()
    probe = NvmlProbe(nvml, min_interval_s=60.0)
    probe.sample()
    probe.sample()
    assert len(calls) == 1


def test_read_meminfo_and_system_stats_devices(tmp_path):
    assert read_meminfo(write_meminfo(tmp_path, 10, 4))["MemAvailable"] == 4 * 1024
    assert read_meminfo(tmp_path / "absent") == {}
    stats = {"devices": [{"name": "cpu", "type": "cpu", "index": None, "vram_total": 1, "vram_free": 1},
                         {"name": "cuda:0 NVIDIA H200", "type": "cuda", "index": 0, "vram_total": 100,
                          "vram_free": 25}]}
    [gpu] = samples_from_system_stats(stats)
    assert (gpu.index, gpu.memory_used_bytes, gpu.memory_source) == (0, 75.0, "system_stats")
