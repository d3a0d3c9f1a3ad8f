"""A real Prometheus scrapes the engine's /metrics while a scripted mixed load runs; its totals must match exactly.

The load: a prompt without client_id, one with it, a cached re-run, a failing node and an interrupted prompt.
Expected totals are deltas over a baseline read before the load (the engine is shared with other tests), and the
per-node counts are checked against what the engine itself wrote into /history.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dgx_pixels.engine.client import EngineClient
from dgx_pixels.engine.local import pick_free_port
import prompt_graph
from engine_helpers import stop_process
from prompt_graph import Graph

pytestmark = [pytest.mark.engine,
              pytest.mark.skipif(shutil.which("prometheus") is None,
                                 reason="Debian's prometheus is not installed (.ci/run installs it)")]

SCRAPE_INTERVAL_S = 1


def get_text(url: str, timeout_s: float = 10.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (loopback)
        return response.read().decode()


class Prometheus:
    def __init__(self, url: str, process: subprocess.Popen, log_path):
        self.url, self.process, self.log_path = url, process, log_path

    def query(self, expr: str) -> list[dict]:
        body = json.loads(get_text(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, expr: str) -> float | None:
        """The single value of ``expr`` (None when it has no series)."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def names(self) -> set[str]:
        return set(json.loads(get_text(f"{self.url}/api/v1/label/__name__/values"))["data"])


@pytest.fixture(scope="module")
def prometheus(engine, tmp_path_factory):
    work = tmp_path_factory.mktemp("prometheus")
    target = engine.url.split("://", 1)[1]
    (work / "prometheus.yml").write_text(
        "global:\n"
        f"  scrape_interval: {SCRAPE_INTERVAL_S}s\n"
        f"  scrape_timeout: {SCRAPE_INTERVAL_S}s\n"
        "scrape_configs:\n"
        "  - job_name: comfyui\n"
        "    metrics_path: /metrics\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n")
    port = pick_free_port()
    log_path = work / "prometheus.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["prometheus", f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Prometheus(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if server.value('up{job="comfyui"}') == 1:
                    break
            except OSError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "Prometheus never scraped the engine:\n" + log_path.read_text()
            time.sleep(0.5)
        yield server
    finally:
        stop_process(process)


def engine_samples(url: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(get_text(url + "/metrics")):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def total(samples: dict, name: str, **labels: str) -> float:
    """Sum of ``name`` over the series whose labels include ``labels``."""
    return sum(value for (sample_name, sample_labels), value in samples.items()
               if sample_name == name and set(labels.items()) <= set(sample_labels))


def txt2img(checkpoint: str, *, seed: int, batch: int = 1, steps: int = 1, prefix: str = "metrics/img") -> dict:
    g = Graph()
    decoded = prompt_graph.txt2img(g, checkpoint, text="pixel art slime", size=64, batch=batch, seed=seed,
                                   steps=steps, cfg=1.0)
    g.node("SaveImage", images=decoded.out(), filename_prefix=prefix)
    return g.prompt


def failing_prompt() -> dict:
    """SaveImage refuses, at run time, to write outside the output folder."""
    g = Graph()
    image = g.node("EmptyImage", width=8, height=8, batch_size=1, color=0)
    g.node("SaveImage", images=image.out(), filename_prefix="../../outside/metrics")
    return g.prompt


async def post_without_client_id(client: EngineClient, prompt: dict) -> str:
    prompt_id = str(uuid.uuid4())
    async with aiohttp.ClientSession() as session:
        async with session.post(client.url + "/prompt", json={"prompt": prompt, "prompt_id": prompt_id}) as answer:
            assert answer.status == 200, await answer.text()
    return prompt_id


async def wait_history(client: EngineClient, prompt_id: str, timeout_s: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while (entry := await client.history(prompt_id)) is None:
        assert time.monotonic() < deadline, f"prompt {prompt_id} did not finish"
        await asyncio.sleep(0.2)
    return entry


async def interrupt_long_prompt(client: EngineClient, checkpoint: str) -> str:
    prompt_id = await client.queue_prompt(txt2img(checkpoint, seed=99, steps=10_000, prefix="metrics/never"))
    deadline = time.monotonic() + 120
    while prompt_id not in (await client.queue())["running"]:
        assert time.monotonic() < deadline, "the long prompt never started"
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # let it pass the start of execution, where the engine clears the interrupt flag
    while await client.history(prompt_id) is None:
        assert time.monotonic() < deadline, "the long prompt was not interrupted"
        await client.interrupt(prompt_id)
        await asyncio.sleep(1.0)
    return prompt_id


async def mixed_load(url: str, checkpoint: str) -> list[str]:
    async with EngineClient(url) as client:
        headless = await post_without_client_id(client, txt2img(checkpoint, seed=11, prefix="metrics/headless"))
        await wait_history(client, headless)
        with_client = txt2img(checkpoint, seed=12, batch=2, prefix="metrics/client")
        first = await client.run(with_client, timeout_s=120)
        rerun = await client.run(with_client, timeout_s=120)
        failed = await client.queue_prompt(failing_prompt())
        await wait_history(client, failed)
        interrupted = await interrupt_long_prompt(client, checkpoint)
        return [headless, first.prompt_id, rerun.prompt_id, failed, interrupted]


def expected_from_history(entries: list[dict]) -> dict[str, int]:
    """Node executions and cache hits as the engine's own messages tell them."""
    runs = hits = 0
    for entry in entries:
        messages = dict((name, data) for name, data in entry["status"]["messages"])
        cached = messages["execution_cached"]["nodes"]
        hits += len(cached)
        for final in ("execution_error", "execution_interrupted"):
            if final in messages:
                runs += len(messages[final]["executed"])
                break
        else:
            runs += len(entry["prompt"][2]) - len(cached)
    return {"runs": runs, "hits": hits}


def test_prometheus_totals_match_a_mixed_load_exactly(engine, tiny_checkpoint, prometheus):
    before = engine_samples(engine.url)
    started = time.time()
    prompt_ids = asyncio.run(mixed_load(engine.url, tiny_checkpoint))
    finished = time.time()

    async def histories():
        async with EngineClient(engine.url) as client:
            return [await client.history(pid) for pid in prompt_ids]

    entries = asyncio.run(histories())
    assert [e["status"]["status_str"] for e in entries] == ["success", "success", "success", "error", "error"]
    expected_nodes = expected_from_history(entries)

    # Wait for a scrape that started after the load ended.
    deadline = time.monotonic() + 30
    while (prometheus.value('timestamp(up{job="comfyui"})') or 0) < finished + SCRAPE_INTERVAL_S:
        assert time.monotonic() < deadline, "Prometheus stopped scraping"
        time.sleep(0.3)

    def delta(name: str, expr: str | None = None, **labels: str) -> float:
        selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
        got = prometheus.value(expr or f"sum({name}{{{selector}}})") or 0.0
        return got - total(before, name, **labels)

    assert delta("comfyui_prompts_total", status="success") == 3
    assert delta("comfyui_prompts_total", status="error") == 1
    assert delta("comfyui_prompts_total", status="interrupted") == 1
    assert delta("comfyui_prompt_execution_seconds_count", status="success") == 3
    assert delta("comfyui_prompt_execution_seconds_count", status="error") == 1
    assert delta("comfyui_prompt_execution_seconds_count", status="interrupted") == 1
    assert delta("comfyui_prompt_queue_wait_seconds_count") == 5
    assert delta("comfyui_images_written_total") == 3  # 1 headless + 2 from the batch; the cached re-run wrote none
    assert delta("comfyui_node_errors_total", node_class="SaveImage") == 1
    assert delta("comfyui_node_errors_total") == 1
    assert delta("comfyui_node_execution_seconds_count") == expected_nodes["runs"]
    assert delta("comfyui_node_cache_hits_total") == expected_nodes["hits"]
    assert delta("comfyui_node_execution_seconds_count", node_class="KSampler") == 2  # the interrupted one failed
    assert prometheus.value("comfyui_queue_pending") == 0
    assert prometheus.value("comfyui_queue_running") == 0
    # Buckets reach 30 min and every observation of this load sits below +Inf's neighbour.
    buckets = {r["metric"]["le"] for r in prometheus.query("comfyui_prompt_execution_seconds_bucket")}
    assert {"0.05", "1800.0", "+Inf"} <= buckets
    assert prometheus.value('sum(comfyui_prompt_execution_seconds_bucket{le="1800.0"})') == \
        prometheus.value("sum(comfyui_prompt_execution_seconds_count)")
    elapsed_s = finished - started
    assert 0 < delta("comfyui_prompt_execution_seconds_sum") <= elapsed_s


def test_without_nvml_gpu_series_are_absent_and_the_rest_present(engine, prometheus):
    deadline = time.monotonic() + 15
    while "comfyui_queue_pending" not in (names := prometheus.names()):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert not [name for name in names if name.startswith("comfyui_gpu_")]
    for name in ("comfyui_prompts_total", "comfyui_prompt_execution_seconds_bucket",
                 "comfyui_prompt_queue_wait_seconds_bucket", "comfyui_node_errors_total",
                 "comfyui_node_cache_hits_total", "comfyui_images_written_total", "comfyui_queue_pending",
                 "comfyui_queue_running", "comfyui_system_memory_total_bytes", "comfyui_system_memory_available_bytes",
                 "dgx_pixels_sprites_exported_total", "dgx_pixels_palettes_applied_total",
                 "dgx_pixels_loras_loaded_total", "process_resident_memory_bytes"):
        assert name in names, name


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_live_exposition_passes_promtool(engine):
    text = get_text(engine.url + "/metrics")
    checked = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True)
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout.decode() + checked.stderr.decode()
    assert get_text(engine.url + "/api/metrics").startswith("# HELP")
