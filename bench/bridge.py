"""Bridge latency: one small no-model workflow (EmptyImage → UpscaleInteger → SaveImage, a new colour each run so the
engine's cache never answers) run directly through the engine client, through the FastMCP server in memory, and
through the MCP server as a client launches it: over stdio and over streamable HTTP. Each path queues, waits for the end and fetches the output; the paths
take turns run by run, so that load from elsewhere falls on each alike.

Run: ``.venv/bin/python bench/bridge.py [--runs 40] [--engine URL]`` (without --engine it starts a CPU engine).
Prints one table: p50/p95 per path, and the bridge's p50 overhead over direct HTTP (goal: at most 15 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dgx_pixels.engine.client import EngineClient

PROMPT = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 0}},
    "2": {"class_type": "DGXPixels.UpscaleInteger", "inputs": {"image": ["1", 0], "factor": 2}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "bench/bridge"}},
}
MANIFEST = {"name": "bench_solid", "workflow": "bench_solid.api.json",
            "params": {"color": {"node": "1", "input": "color", "type": "int", "min": 0, "max": 16777215}}}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Colours:
    def __init__(self):
        self.next = int(time.time() * 1000) % 16_000_000

    def __call__(self) -> int:
        self.next = (self.next + 7919) % 16_777_216
        return self.next


async def time_direct(client: EngineClient, colour) -> float:
    prompt = json.loads(json.dumps(PROMPT))
    prompt["1"]["inputs"]["color"] = colour()
    began = time.perf_counter()
    result = await client.run(prompt, timeout_s=60)
    for file in result.files():
        await client.download(file)
    return time.perf_counter() - began


async def time_mcp(client, colour) -> float:
    began = time.perf_counter()
    result = await client.call_tool("generate", {"workflow": "bench_solid", "params": {"color": colour()},
                                                 "wait_s": 60})
    elapsed = time.perf_counter() - began
    if result.structured_content["status"] != "done":
        raise RuntimeError(f"bench job did not finish: {result.structured_content}")
    return elapsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def connect_http(port: int, server: subprocess.Popen):
    from fastmcp import Client

    deadline = time.monotonic() + 120
    while True:
        client = Client(f"http://127.0.0.1:{port}/mcp", timeout=120)
        try:
            await client.__aenter__()
            return client
        except Exception:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def run_all(url: str, runs: int, folder: Path) -> dict[str, list[float]]:
    """Time the three paths in rounds, one run of each per round in rotating order, so that load from elsewhere
    on the machine falls on all of them alike."""
    from fastmcp import Client
    from fastmcp.client.transports import StdioTransport

    from dgx_pixels.mcp_bridge.server import build_server

    workflows = folder / "workflows"
    workflows.mkdir()
    (workflows / "bench_solid.api.json").write_text(json.dumps(PROMPT))
    (workflows / "bench_solid.params.json").write_text(json.dumps(MANIFEST))
    colour = Colours()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "dgx_pixels.cli.jobs", "mcp", "--transport", "http",
                               "--port", str(port), "--engine", url, "--results", str(folder / "http"),
                               "--workflows", str(workflows)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mcp = build_server([url], results_dir=folder / "mem", workflow_dirs=[workflows])
    stdio = StdioTransport(sys.executable, ["-m", "dgx_pixels.cli.jobs", "mcp", "--engine", url,
                                            "--results", str(folder / "stdio"), "--workflows", str(workflows)],
                           env={**os.environ, "FASTMCP_LOG_LEVEL": "WARNING"})
    try:
        async with (EngineClient(url) as direct, Client(mcp, timeout=120) as memory,
                    Client(stdio, timeout=120) as piped):
            http = await connect_http(port, server)
            try:
                paths = {"direct HTTP (EngineClient)": lambda: time_direct(direct, colour),
                         "MCP in memory (fastmcp)": lambda: time_mcp(memory, colour),
                         "MCP over stdio (fastmcp)": lambda: time_mcp(piped, colour),
                         "MCP over HTTP (fastmcp)": lambda: time_mcp(http, colour)}
                results: dict[str, list[float]] = {name: [] for name in paths}
                names = list(paths)
                for round_ in range(runs + 2):
                    turn = round_ % len(names)
                    for name in names[turn:] + names[:turn]:
                        elapsed = await paths[name]()
                        if round_ >= 2:  # the first rounds warm the engine and the sessions
                            results[name].append(elapsed)
            finally:
                await http.__aexit__(None, None, None)
    finally:
        server.terminate()
        server.wait(10)
    return results


def table(results: dict[str, list[float]]) -> str:
    direct = statistics.median(next(iter(results.values())))
    rows = [f"{'path':30} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8} {'p50 overhead ms':>16} {'p50 ratio':>10}"]
    for name, times in results.items():
        p50 = statistics.median(times)
        rows.append(f"{name:30} {len(times):5d} {p50 * 1e3:8.1f} {percentile(times, 0.95) * 1e3:8.1f} "
                    f"{(p50 - direct) * 1e3:16.1f} {p50 / direct:10.2f}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--engine", default=None, help="an engine URL (default: start a CPU engine)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        run = None
        url = args.engine
        if url is None:
            from dgx_pixels.engine.local import pick_free_port, start_engine

            run = start_engine(port=pick_free_port(), run_dir=folder / "engine", cpu=True)
            url = run.url
        try:
            results = asyncio.run(run_all(url, args.runs, folder))
        finally:
            if run is not None:
                run.stop()
    print(table(results))  # noqa: T201 (a benchmark prints its table)


if __name__ == "__main__":
    main()
