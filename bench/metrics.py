"""Benchmark of the metrics hook: prompt time with the hook on vs off, and scrape time with 10,000 prompts.

    .venv/bin/python bench/metrics.py [--prompts 10] [--scrapes 300] [--skip-engines]

Prints a table. "on vs off" starts two engines of the same build (one with DGX_PIXELS_METRICS=0) and alternates the
same 64², 2-step prompt (new seed each time, so nothing is cached) between them. Goals: ≤1 % overhead, scrape
p99 ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from dgx_pixels.engine.client import EngineClient
from dgx_pixels.engine.local import find_engine_dir, start_engine
from dgx_pixels.metrics.registry import EngineMetrics, LiveState, PromptOutcome

TINY_CHECKPOINT = "dgx-pixels-tiny-sd15.safetensors"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_scrape(prompts: int, scrapes: int) -> dict[str, float]:
    """Record ``prompts`` synthetic prompts (7 nodes each, 60 node classes) and time the exposition."""
    rng = random.Random(0)
    metrics = EngineMetrics(lambda: LiveState(queue_pending=3, queue_running=1, memory_total_bytes=1,
                                              memory_available_bytes=1))
    classes = [f"Node{i}" for i in range(60)]
    began = time.perf_counter()
    for _ in range(prompts):
        status = rng.choices(["success", "error", "interrupted"], [90, 7, 3])[0]
        metrics.record_prompt(PromptOutcome(status, images_written=rng.randint(0, 4), cached_nodes=rng.randint(0, 5),
                                            error_node_classes=[rng.choice(classes)] if status == "error" else [],
                                            execution_s=rng.lognormvariate(1, 1.5), queue_wait_s=rng.random() * 10))
        for _ in range(7):
            metrics.record_node(rng.choice(classes), rng.lognormvariate(-1, 1.5))
    record_us = (time.perf_counter() - began) / prompts * 1e6
    times = []
    for _ in range(scrapes):
        start = time.perf_counter()
        body = metrics.exposition()
        times.append(time.perf_counter() - start)
    return {"record_us_per_prompt": record_us, "p50_ms": percentile(times, 0.5) * 1e3,
            "p99_ms": percentile(times, 0.99) * 1e3, "bytes": len(body)}


def prompt(seed: int) -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_CHECKPOINT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "pixel art", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
                                                   "latent_image": ["4", 0], "seed": seed, "steps": 2, "cfg": 1.0,
                                                   "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "bench/metrics"}},
    }


async def timed_prompt(url: str, seed: int) -> float:
    async with EngineClient(url) as client:
        start = time.perf_counter()
        await client.run(prompt(seed), timeout_s=300)
        return time.perf_counter() - start


def bench_engines(prompts: int, scrapes: int) -> list[tuple[str, str]]:
    engine_dir = find_engine_dir()
    if not (engine_dir / "models" / "checkpoints" / TINY_CHECKPOINT).exists():
        return [("engines", f"skipped: {TINY_CHECKPOINT} missing (run the engine tests once)")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for name, value in (("on", "1"), ("off", "0")):
            os.environ["DGX_PIXELS_METRICS"] = value
            runs[name] = start_engine(engine_dir=engine_dir, run_dir=Path(tmp) / name, cpu=True)
        os.environ.pop("DGX_PIXELS_METRICS")
        try:
            times: dict[str, list[float]] = {"on": [], "off": []}
            for name in runs:  # warm-up: load the checkpoint
                asyncio.run(timed_prompt(runs[name].url, 0))
            for i in range(prompts):
                for name in (("on", "off") if i % 2 == 0 else ("off", "on")):
                    times[name].append(asyncio.run(timed_prompt(runs[name].url, 1000 + i)))
            on, off = statistics.median(times["on"]), statistics.median(times["off"])
            rows.append(("prompt median, hook on", f"{on * 1e3:.1f} ms"))
            rows.append(("prompt median, hook off", f"{off * 1e3:.1f} ms"))
            rows.append(("hook overhead (median)", f"{(on - off) / off * 100:+.2f} % over {prompts} prompts each"))
            scrape_s = []
            for _ in range(scrapes):
                start = time.perf_counter()
                with urllib.request.urlopen(runs["on"].url + "/metrics", timeout=10) as answer:  # noqa: S310
                    answer.read()
                scrape_s.append(time.perf_counter() - start)
            rows.append(("HTTP scrape of the engine p50 / p99",
                         f"{percentile(scrape_s, 0.5) * 1e3:.2f} / {percentile(scrape_s, 0.99) * 1e3:.2f} ms"))
        finally:
            for run in runs.values():
                run.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=10, help="prompts per engine for hook on vs off")
    parser.add_argument("--scrapes", type=int, default=300)
    parser.add_argument("--skip-engines", action="store_true", help="only the in-process scrape benchmark")
    args = parser.parse_args()
    scrape = bench_scrape(10_000, args.scrapes)
    rows = [("record one prompt (7 nodes)", f"{scrape['record_us_per_prompt']:.1f} µs"),
            ("exposition with 10,000 prompts p50 / p99",
             f"{scrape['p50_ms']:.2f} / {scrape['p99_ms']:.2f} ms ({scrape['bytes']} bytes)")]
    if not args.skip_engines:
        rows += bench_engines(args.prompts, args.scrapes)
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  value")  # noqa: T201
    for name, value in rows:
        print(f"{name:<{width}}  {value}")  # noqa: T201


if __name__ == "__main__":
    main()
