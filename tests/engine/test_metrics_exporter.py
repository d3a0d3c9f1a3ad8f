"""Exporter mode against the real engine: its totals equal what /history says, it counts new prompts once, and
the ``dgx-pixels metrics-exporter`` command serves a valid exposition."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dgx_pixels.engine.client import EngineClient
from dgx_pixels.engine.local import pick_free_port
from dgx_pixels.metrics.exporter import Exporter
from engine_helpers import stop_process
from prompt_graph import Graph

pytestmark = pytest.mark.engine


def values(text: bytes | str) -> dict[tuple[str, tuple], float]:
    text = text.decode() if isinstance(text, bytes) else text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def statuses(history: dict) -> dict[str, int]:
    counts = {"success": 0, "error": 0, "interrupted": 0}
    for entry in history.values():
        names = {name for name, _ in entry["status"]["messages"]}
        status = "interrupted" if "execution_interrupted" in names else entry["status"]["status_str"]
        counts[status] += 1
    return counts


def failing_prompt() -> dict:
    g = Graph()
    image = g.node("EmptyImage", width=8, height=8, batch_size=1, color=0)
    g.node("SaveImage", images=image.out(), filename_prefix="../../outside/exporter")
    return g.prompt


def test_exporter_counts_history_once_and_incrementally(engine):
    async def go():
        exporter = Exporter(history_window=2)
        async with EngineClient(engine.url) as client:
            assert await exporter.poll(client)
            history = await client.history_all()
            first = values(exporter.exposition())
            prompt_id = await client.queue_prompt(failing_prompt())
            while await client.history(prompt_id) is None:
                await asyncio.sleep(0.1)
            assert await exporter.poll(client)
            assert await exporter.poll(client)  # a second poll must not count it again
            second = values(exporter.exposition())
        async with EngineClient("http://127.0.0.1:9") as dead:
            assert not await exporter.poll(dead)
        return history, first, second, values(exporter.exposition())

    history, first, second, after_dead = asyncio.run(go())
    for status, count in statuses(history).items():
        assert first[("comfyui_prompts_total", (("status", status),))] == count
        assert first[("comfyui_prompt_execution_seconds_count", (("status", status),))] == count
    assert first[("comfyui_engine_up", ())] == 1
    assert second[("comfyui_prompts_total", (("status", "error"),))] == \
        first[("comfyui_prompts_total", (("status", "error"),))] + 1
    assert second.get(("comfyui_node_errors_total", (("node_class", "SaveImage"),)), 0) == \
        first.get(("comfyui_node_errors_total", (("node_class", "SaveImage"),)), 0) + 1
    assert second[("comfyui_queue_pending", ())] == 0
    assert ("comfyui_system_memory_total_bytes", ()) in second
    assert not any(name.startswith("comfyui_node_execution_seconds") for name, _ in second)
    assert after_dead[("comfyui_engine_up", ())] == 0


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_exporter_command_serves_a_valid_exposition(engine):
    port = pick_free_port()
    process = subprocess.Popen([sys.executable, "-m", "dgx_pixels.cli", "metrics-exporter",
                                "--engine", engine.url, "--port", str(port), "--interval", "0.5"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:  # noqa: S310
                    text = answer.read()
                if b"comfyui_engine_up 1.0" in text:
                    break
            except OSError:
                pass
            assert process.poll() is None, process.stdout.read().decode()
            assert time.monotonic() < deadline, "the exporter never served metrics"
            time.sleep(0.3)
        checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True)
        assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout.decode()
    finally:
        stop_process(process)
