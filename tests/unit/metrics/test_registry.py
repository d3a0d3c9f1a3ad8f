"""The metric definitions and the pure reading of finished prompts, without an engine."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dgx_pixels.metrics.gpu import GpuSample
from dgx_pixels.metrics.registry import (
    DURATION_BUCKETS_S,
    EngineMetrics,
    LiveState,
    NodeClassLabels,
    PromptOutcome,
    outcome_from_history,
    prompt_status,
)


def history_entry(final: str, *, cached=(), outputs=None, node_type="KSampler", create_ms=1_000, start_ms=3_000,
                  end_ms=7_500) -> dict:
    messages = [["execution_start", {"prompt_id": "p", "timestamp": start_ms}],
                ["execution_cached", {"nodes": list(cached), "prompt_id": "p", "timestamp": start_ms}]]
    if final == "success":
        messages.append(["execution_success", {"prompt_id": "p", "timestamp": end_ms}])
    elif final == "error":
        messages.append(["execution_error", {"prompt_id": "p", "node_type": node_type, "timestamp": end_ms}])
    else:
        messages.append(["execution_interrupted", {"prompt_id": "p", "node_type": node_type, "timestamp": end_ms}])
    return {"prompt": [0, "p", {}, {"create_time": create_ms, "client_id": "c"}, ["9"]],
            "outputs": outputs or {},
            "status": {"status_str": "success" if final == "success" else "error", "completed": final == "success",
                       "messages": messages}}


def samples_of(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_status_comes_from_messages_then_status_str():
    assert prompt_status(history_entry("success")["status"]) == "success"
    assert prompt_status(history_entry("error")["status"]) == "error"
    assert prompt_status(history_entry("interrupted")["status"]) == "interrupted"
    assert prompt_status(None) == "error"


def test_outcome_counts_saved_images_of_nodes_that_ran_only():
    outputs = {"9": {"images": [{"filename": "a.png", "type": "output"}, {"filename": "b.png", "type": "output"}]},
               "10": {"images": [{"filename": "c.png", "type": "temp"}]},  # a preview
               "11": {"images": [{"filename": "d.png", "type": "output"}]}}
    outcome = outcome_from_history(history_entry("success", cached=["11", "1"], outputs=outputs))
    assert outcome.status == "success"
    assert outcome.images_written == 2
    assert outcome.cached_nodes == 2
    assert outcome.execution_s == pytest.approx(4.5)
    assert outcome.queue_wait_s == pytest.approx(2.0)
    assert outcome.error_node_classes == []


def test_outcome_of_failed_and_interrupted_prompts():
    failed = outcome_from_history(history_entry("error", node_type="DGXPixels.Boom"))
    assert (failed.status, failed.error_node_classes) == ("error", ["DGXPixels.Boom"])
    interrupted = outcome_from_history(history_entry("interrupted"))
    assert (interrupted.status, interrupted.error_node_classes) == ("interrupted", [])


def test_buckets_span_fifty_ms_to_thirty_minutes():
    assert DURATION_BUCKETS_S[0] == 0.05 and DURATION_BUCKETS_S[-1] == 1800.0
    assert list(DURATION_BUCKETS_S) == sorted(DURATION_BUCKETS_S)


def test_node_class_label_is_capped():
    label = NodeClassLabels(limit=2)
    assert [label("A"), label("B"), label("C"), label("A")] == ["A", "B", "other", "A"]


def test_recorded_prompts_appear_with_exact_totals():
    metrics = EngineMetrics(lambda: LiveState(queue_pending=3, queue_running=1, memory_total_bytes=8_000,
                                              memory_available_bytes=2_000))
    metrics.record_prompt(PromptOutcome("success", images_written=2, cached_nodes=1, execution_s=700.0,
                                        queue_wait_s=0.01))
    metrics.record_prompt(PromptOutcome("error", error_node_classes=["VAEDecode"], execution_s=0.2))
    metrics.record_node("KSampler", 0.3)
    found = samples_of(metrics.exposition().decode())
    assert found[("comfyui_prompts_total", (("status", "success"),))] == 1
    assert found[("comfyui_prompts_total", (("status", "error"),))] == 1
    assert found[("comfyui_prompts_total", (("status", "interrupted"),))] == 0
    # 700 s lands in a real bucket, not only in +Inf
    assert found[("comfyui_prompt_execution_seconds_bucket", (("le", "600.0"), ("status", "success")))] == 0
    assert found[("comfyui_prompt_execution_seconds_bucket", (("le", "1200.0"), ("status", "success")))] == 1
    assert found[("comfyui_node_errors_total", (("node_class", "VAEDecode"),))] == 1
    assert found[("comfyui_node_execution_seconds_count", (("node_class", "KSampler"),))] == 1
    assert found[("comfyui_images_written_total", ())] == 2
    assert found[("comfyui_node_cache_hits_total", ())] == 1
    assert found[("comfyui_queue_pending", ())] == 3
    assert found[("comfyui_queue_running", ())] == 1
    assert found[("comfyui_system_memory_available_bytes", ())] == 2_000
    assert not any(name.endswith("_created") for name, _ in found)
    assert not any(name.startswith("comfyui_gpu_") for name, _ in found), "no GPU sampled, so no GPU series"


def test_gpu_series_carry_dcgm_labels():
    gpu = GpuSample(index=0, uuid="GPU-1234", name="NVIDIA GB10", utilization_ratio=0.5, temperature_celsius=61.0,
                    power_watts=40.5, energy_joules=1234.0, memory_total_bytes=100.0, memory_free_bytes=40.0,
                    memory_used_bytes=60.0, memory_source="meminfo")
    metrics = EngineMetrics(lambda: LiveState(queue_pending=0, queue_running=0, gpus=[gpu]))
    found = samples_of(metrics.exposition().decode())
    labels = (("UUID", "GPU-1234"), ("gpu", "0"))
    assert found[("comfyui_gpu_utilization_ratio", labels)] == 0.5
    assert found[("comfyui_gpu_memory_used_bytes", labels)] == 60.0
    assert found[("comfyui_gpu_energy_joules_total", labels)] == 1234.0
    assert found[("comfyui_gpu_memory_info", (*labels[:1], ("gpu", "0"), ("name", "NVIDIA GB10"),
                                              ("source", "meminfo")))] == 1
    assert ("comfyui_gpu_sm_clock_hertz", labels) not in found  # a field nobody reported is absent


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus) is not installed")
def test_exposition_passes_promtool_check_metrics():
    gpu = GpuSample(index=0, uuid="GPU-1", name="x", utilization_ratio=0.1, temperature_celsius=50.0)
    metrics = EngineMetrics(lambda: LiveState(queue_pending=0, queue_running=0, memory_total_bytes=1,
                                              memory_available_bytes=1, gpus=[gpu]))
    metrics.record_prompt(PromptOutcome("success", images_written=1, execution_s=1.0, queue_wait_s=0.1))
    metrics.record_node("KSampler", 0.5)
    checked = subprocess.run(["promtool", "check", "metrics"], input=metrics.exposition(), capture_output=True)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert not checked.stdout.strip() and not checked.stderr.strip(), checked.stdout.decode()


def test_pack_counters_are_safe_outside_the_engine():
    from dgx_pixels.metrics import counters
    from dgx_pixels.metrics.hook import engine_metrics

    before = engine_metrics().palettes_applied._value.get()
    counters.count_palette_applied(2)
    counters.count_palette_applied(0)
    counters.count_sprites_exported()
    counters.count_lora_loaded(1)
    assert engine_metrics().palettes_applied._value.get() == before + 2
