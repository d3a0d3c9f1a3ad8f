"""The shipped Grafana dashboard and alert rules: valid, and naming only metrics we export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import ProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from dgx_pixels.metrics.exporter import Exporter
from dgx_pixels.metrics.gpu import GpuSample
from dgx_pixels.metrics.registry import EngineMetrics, LiveState, PromptOutcome

METRICS_DIR = Path(__file__).resolve().parents[3] / "metrics"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"
NAME = re.compile(r"\b((?:comfyui|dgx_pixels|process)_[a-zA-Z0-9_]+)")
PROMQL_WORDS = {"sum", "by", "rate", "increase", "topk", "clamp_min", "histogram_quantile", "deriv", "and", "or"}


def exported_names() -> set[str]:
    """Every sample name the hook and the exporter can produce (a GPU with every field reported)."""
    gpu = GpuSample(index=0, uuid="u", name="n", utilization_ratio=1, memory_used_bytes=1, memory_free_bytes=1,
                    memory_total_bytes=2, memory_source="nvml", temperature_celsius=1, power_watts=1,
                    energy_joules=1, sm_clock_hertz=1)
    metrics = EngineMetrics(lambda: LiveState(queue_pending=0, queue_running=0, memory_total_bytes=1,
                                              memory_available_bytes=1, gpus=[gpu]))
    ProcessCollector(registry=metrics.registry)
    metrics.record_node("KSampler", 1.0)  # labelled families show samples only once a label value exists
    metrics.record_prompt(PromptOutcome("error", error_node_classes=["KSampler"]))
    text = metrics.exposition().decode() + Exporter().exposition().decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((METRICS_DIR / "grafana-dashboard.json").read_text())
    assert dashboard["title"] and dashboard["uid"] and isinstance(dashboard["schemaVersion"], int)
    exprs, ids = [], set()
    for panel in dashboard["panels"]:
        assert panel["id"] not in ids
        ids.add(panel["id"])
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["refId"] and target["expr"].strip()
            exprs.append(target["expr"])
    return exprs


def test_dashboard_is_structurally_valid_and_uses_only_our_names():
    exprs = dashboard_exprs()
    names = exported_names()
    used = {match for expr in exprs for match in NAME.findall(expr)}
    assert used and not used - names, f"dashboard names metrics nobody exports: {sorted(used - names)}"
    # each of the three areas is covered
    assert any("gpu" in n for n in used) and "comfyui_prompts_total" in used and "process_resident_memory_bytes" in used


def test_alert_rules_use_only_our_names():
    text = (METRICS_DIR / "alerts.yml").read_text()
    used = set(NAME.findall(text))
    assert used and not used - exported_names(), sorted(used - exported_names())


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_alert_rules_and_the_dashboard_queries(tmp_path):
    checked = subprocess.run(["promtool", "check", "rules", str(METRICS_DIR / "alerts.yml")], capture_output=True)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    # The dashboard's PromQL, parsed by Prometheus itself as recording rules.
    rules = "groups:\n  - name: dashboard\n    rules:\n" + "".join(
        f"      - record: dashboard:expr{i}\n        expr: {json.dumps(expr)}\n"
        for i, expr in enumerate(dashboard_exprs()))
    (tmp_path / "dashboard-rules.yml").write_text(rules)
    checked = subprocess.run(["promtool", "check", "rules", str(tmp_path / "dashboard-rules.yml")],
                             capture_output=True)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def test_docs_list_every_metric():
    documented = set(NAME.findall(DOCS.read_text()))
    families = {re.sub(r"_(bucket|count|sum)$", "", name) for name in exported_names()
                if not name.startswith("process_")}
    assert not families - documented, sorted(families - documented)
