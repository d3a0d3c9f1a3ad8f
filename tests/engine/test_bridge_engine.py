"""The bridge and the engine client against the real engine: the FastMCP tools in memory, the official `mcp` SDK
over stdio and HTTP, validation errors, node failures, interrupts, a dropped WebSocket, and many concurrent jobs.

Prompts without a model (EmptyImage → UpscaleInteger → SaveImage) keep most of this cheap on CPU; the tiny checkpoint
runs only where the model path matters (64², 1-2 steps, or many steps for jobs that are interrupted). The HTTP bridge
subprocess starts with the module so its imports overlap the other tests; the stdio one uses the light entry point."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from dgx_pixels.engine.client import (
    EngineClient,
    ExecutionFailed,
    ExecutionInterrupted,
    JobLost,
    PromptValidationError,
    least_loaded,
)
from dgx_pixels.engine.jobs import JobManager
from dgx_pixels.mcp_bridge.server import build_server
from engine_helpers import stop_process
from prompt_graph import Graph

pytestmark = pytest.mark.engine
SMALL = {"width": 64, "height": 64, "steps": 2}
SDK_READ_TIMEOUT_S = 300.0


def solid_prompt(color: int, size: int = 16, factor: int = 2, prefix: str = "bridge/solid") -> dict:
    g = Graph()
    image = g.node("EmptyImage", width=size, height=size, batch_size=1, color=color)
    scaled = g.node("DGXPixels.UpscaleInteger", image=image.out(), factor=factor)
    g.node("SaveImage", images=scaled.out(0), filename_prefix=prefix)
    return g.prompt


def slow_prompt(checkpoint: str, steps: int = 60, seed: int | None = None) -> dict:
    from dgx_pixels.engine.params import find_workflow

    return find_workflow("txt2img_basic").apply({"checkpoint": checkpoint, "steps": steps, "width": 64,
                                                  "height": 64, "seed": seed or uuid.uuid4().int % 10**9})


def run(coro):
    return asyncio.run(coro)


# the client -------------------------------------------------------------------------------------------------


def test_client_maps_400_and_node_failure_and_recognises_cache(engine):
    async def go():
        async with EngineClient(engine.url) as client:
            bad = solid_prompt(1)
            bad["1"]["inputs"]["width"] = 0
            with pytest.raises(PromptValidationError) as caught:
                await client.run(bad, timeout_s=60)
            assert "node 1 (EmptyImage) input 'width'" in str(caught.value)

            g = Graph()
            image = g.node("EmptyImage", width=8, height=8, batch_size=1, color=uuid.uuid4().int % 2**24)
            mask = g.node("ImageToMask", image=image.out(), channel="alpha")  # RGB has no alpha: IndexError
            g.node("SaveImage", images=g.node("MaskToImage", mask=mask.out()).out(), filename_prefix="bridge/f")
            with pytest.raises(ExecutionFailed) as failed:
                await client.run(g.prompt, timeout_s=60)
            assert failed.value.node_id == "2" and failed.value.node_type == "ImageToMask"
            assert await client.job_state(failed.value.prompt_id) == "failed"

            prompt = solid_prompt(uuid.uuid4().int % 2**24)
            first = await client.run(prompt, timeout_s=60)
            again = await client.run(prompt, timeout_s=60)
            assert not first.from_cache and again.from_cache
            assert "checkpoints" in await client.models()
            assert await client.job_state(str(uuid.uuid4())) == "unknown"
            with pytest.raises(JobLost):
                await client.wait(str(uuid.uuid4()), timeout_s=10)
            assert await least_loaded(["http://127.0.0.1:9", engine.url]) == engine.url

    run(go())


class CuttableProxy:
    """A TCP proxy to the engine whose connections can be cut: a real dropped WebSocket, not a simulated one."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader, writer):
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    def close(self) -> None:
        self.cut()
        self.server.close()


def test_dropped_websocket_mid_job_reconnects_and_finishes(engine, tiny_checkpoint):
    port = int(engine.url.rsplit(":", 1)[1])

    async def go():
        proxy = CuttableProxy(port)
        proxy_port = await proxy.start()
        seen = []

        async def progress(fraction, message):
            seen.append(fraction)
            if len(seen) == 3:
                proxy.cut()

        try:
            async with EngineClient(f"http://127.0.0.1:{proxy_port}", poll_interval_s=1.0) as client:
                result = await client.run(slow_prompt(tiny_checkpoint, steps=6), timeout_s=120,
                                          on_progress=progress)
        finally:
            proxy.close()
        assert len(result.files()) == 1
        assert seen == sorted(seen) and seen[-1] == 1.0

    run(go())


def test_interrupt_and_queue_delete(engine, tiny_checkpoint):
    async def go():
        async with EngineClient(engine.url) as client:
            running = await client.submit(slow_prompt(tiny_checkpoint, steps=150))
            waiting = await client.submit(solid_prompt(uuid.uuid4().int % 2**24))
            started = asyncio.Event()

            def progress(fraction, message):
                if "step" in message:
                    started.set()

            follow = asyncio.ensure_future(client.wait(running.prompt_id, timeout_s=120, on_progress=progress,
                                                       client_id=running.client_id, ws=running.ws))
            await asyncio.wait_for(started.wait(), 120)
            assert await client.cancel(waiting.prompt_id) == "pending"
            await waiting.ws.close()
            assert await client.cancel(running.prompt_id) == "running"
            with pytest.raises(ExecutionInterrupted):
                await follow
            # The engine keeps no trace of a deleted pending prompt; the client that deleted it remembers.
            assert await client.job_state(waiting.prompt_id) == "interrupted"
            async with EngineClient(engine.url) as other:
                assert await other.job_state(waiting.prompt_id) == "unknown"

    run(go())


def test_fifty_concurrent_jobs_none_lost(engine):
    async def go(tmp):
        manager = JobManager([engine.url], tmp)
        try:
            colors = [(uuid.uuid4().int % 2**24) for _ in range(50)]
            jobs = await asyncio.gather(*(manager.submit(solid_prompt(c, size=8)) for c in colors))
            finished = await asyncio.gather(*(manager.wait(job.job_id, 120) for job in jobs))
        finally:
            await manager.close()
        assert [job.status for job in finished] == ["done"] * 50
        assert len({job.files[0].sha256 for job in finished}) == 50
        assert all(job.files[0].width == 16 for job in finished)

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        run(go(tmp))


# the MCP server, in memory ----------------------------------------------------------------------------------


def test_mcp_tools_in_memory(engine, tiny_checkpoint, tmp_path):
    mcp = build_server([engine.url], results_dir=tmp_path, progress_interval_s=0)

    async def go():
        async with Client(mcp, timeout=600) as client:
            names = {tool.name for tool in await client.list_tools()}
            assert {"list_workflows", "list_models", "generate", "generate_batch", "generate_sprite", "animate",
                    "deploy_to_bevy", "job_status", "cancel_job", "get_result"} <= names
            flows = {flow["name"]: flow for flow in
                     (await client.call_tool("list_workflows", {})).structured_content["workflows"]}
            assert "seed" in flows["txt2img_basic"]["params"] and "palette" in flows["text_to_sprite"]["params"]
            models = (await client.call_tool("list_models", {"folder": "checkpoints"})).structured_content
            assert tiny_checkpoint in models["models"]

            progress = []

            async def on_progress(value, total, message):
                progress.append(value)

            result = await client.call_tool("generate", {"params": {**SMALL, "seed": 11, "upscale": 2}, "wait_s": 300},
                                            progress_handler=on_progress)
            meta = result.structured_content
            assert meta["status"] == "done" and meta["files"][0]["width"] == 128
            kinds = [block.type for block in result.content]
            assert kinds[:3] == ["text", "image", "resource_link"]
            assert progress and progress == sorted(progress) and progress[-1] == 100
            contents = await client.read_resource(meta["files"][0]["uri"])
            assert len(contents[0].blob) > 0 or contents[0].blob

            for bad in ["dgx-pixels://results/../secret/x.png",
                        f"dgx-pixels://results/{meta['job_id']}/..%2F..%2Fetc",
                        "dgx-pixels://results/not-a-job/x.png"]:
                with pytest.raises(Exception):
                    await client.read_resource(bad)

            with pytest.raises(ToolError, match="did you mean 'euler'"):
                await client.call_tool("generate", {"params": {"sampler": "eulr"}})
            with pytest.raises(ToolError, match="dgx-pixels-tiny-sd15"):
                await client.call_tool("generate", {"params": {"checkpoint": "tiny.safetensors"}})
            with pytest.raises(ToolError, match="not a job id"):
                await client.call_tool("job_status", {"job_id": "../../etc/passwd"})

            # A long job answers with its id after the bounded wait, and is picked up later.
            pending = (await client.call_tool("generate", {"params": {**SMALL, "steps": 1, "seed": 12},
                                                           "wait_s": 0})).structured_content
            assert pending["status"] in ("pending", "running") and pending["job_id"]
            done = (await client.call_tool("get_result", {"job_id": pending["job_id"], "wait_s": 120}))
            assert done.structured_content["status"] == "done"

            slow = (await client.call_tool("generate", {"params": {**SMALL, "steps": 150, "seed": 13},
                                                        "wait_s": 0})).structured_content
            for _ in range(200):
                status = (await client.call_tool("job_status", {"job_id": slow["job_id"]})).structured_content
                if status["status"] == "running":
                    break
                await asyncio.sleep(0.1)
            cancelled = (await client.call_tool("cancel_job", {"job_id": slow["job_id"]})).structured_content
            assert cancelled["status"] == "interrupted"

    run(go())



# sprites: generate_sprite → animate → deploy_to_bevy ------------------------------------------------------


def png_data_url(color: tuple[int, int, int, int], size: int = 32) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    image.paste(color, (size // 4, size // 4, size - size // 4, size))
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_generate_sprite_animate_and_deploy(engine, tiny_checkpoint, tmp_path):
    from PIL import Image

    projects = tmp_path / "projects"
    (projects / "game").mkdir(parents=True)
    mcp = build_server([engine.url], results_dir=tmp_path / "results", project_roots=[projects])
    colours = ["#1a1c2c", "#5d275d", "#b13e53", "#ef7d57", "#ffcd75", "#a7f070"]
    sprite_args = {"prompt": "pixel art slime", "size": 16, "seed": 3, "checkpoint": tiny_checkpoint, "lora": "None",
                   "steps": 1, "render_px": 64, "wait_s": 300}

    async def go():
        async with Client(mcp, timeout=SDK_READ_TIMEOUT_S) as client:
            first = await client.call_tool("generate_sprite", {**sprite_args, "colors": colours})
            meta = first.structured_content
            assert meta["status"] == "done", meta
            assert [(f["width"], f["height"]) for f in meta["files"]] == [(16, 16)], "previews are no results"
            assert [block.type for block in first.content][:3] == ["text", "image", "resource_link"]
            with Image.open(meta["files"][0]["path"]) as sprite:
                pixels = np.asarray(sprite.convert("RGBA")).reshape(-1, 4)
            used = {tuple(int(v) for v in pixel[:3]) for pixel in pixels if pixel[3]}
            allowed = {tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in colours}
            assert used and used <= allowed, "every opaque pixel is a palette colour"

            second = (await client.call_tool("generate_sprite", {**sprite_args, "seed": 4, "palette": "pico-8"})
                      ).structured_content
            assert second["status"] == "done"

            with pytest.raises(ToolError, match="did you mean 'pico-8'"):
                await client.call_tool("generate_sprite", {**sprite_args, "palette": "pico8"})
            with pytest.raises(ToolError, match="dgx-pixels-tiny-sd15"):
                await client.call_tool("generate_sprite", {**sprite_args, "checkpoint": "dgx-pixels-tiny.safetensors"})
            with pytest.raises(ToolError, match="not a hex colour"):
                await client.call_tool("generate_sprite", {**sprite_args, "colors": ["#12345"]})

            sheet = await client.call_tool("animate", {"frames": [meta["files"][0]["uri"], second["job_id"]],
                                                       "name": "slime_idle", "fps": 8})
            sheet_meta = sheet.structured_content
            assert sheet_meta["status"] == "done" and sheet_meta["sheet"]["frames"] == 2
            names = {f["filename"] for f in sheet_meta["files"]}
            assert names == {"slime_idle.png", "slime_idle.json", "slime_idle.atlas.ron", "slime_idle.assets.ron"}
            links = [block.uri for block in sheet.content if block.type == "resource_link"]
            assert len(links) == len(names)
            png = next(uri for uri in links if str(uri).endswith(".png"))
            assert (await client.read_resource(str(png)))[0].blob

            dry = (await client.call_tool("deploy_to_bevy", {
                "sheet": sheet_meta["job_id"], "project": str(projects / "game"), "category": "enemy",
                "name": "slime", "dry_run": True})).structured_content
            assert dry["dry_run"] and not dry["written"] and not (projects / "game" / "assets").exists()
            done = (await client.call_tool("deploy_to_bevy", {
                "sheet": sheet_meta["job_id"], "project": "game", "category": "enemy", "name": "slime"})
                    ).structured_content
            assert done["written"]
            manifest = json.loads((projects / "game" / "assets" / "manifest.json").read_text())
            assert manifest["assets"]["enemy_slime_base"]["frames"] == 2
            assert all(Path(f["path"]).is_file() for f in done["files"])

    run(go())


def test_deploy_paths_are_confined_to_the_project_roots(tmp_path):
    """No engine needed: frames are uploaded, and every escape from the project root is refused."""
    root = tmp_path / "projects"
    (root / "game").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    frames = [png_data_url((200, 40, 40, 255)), png_data_url((40, 200, 40, 255))]

    async def go(mcp, expect_written: bool):
        async with Client(mcp, timeout=120) as client:
            sheet = (await client.call_tool("animate", {"frames": frames, "name": "blob", "layout": "pack"})
                     ).structured_content["job_id"]
            base = {"sheet": sheet, "category": "enemy", "name": "blob"}
            for project in ["..", "../elsewhere", str(outside), "game/../../elsewhere", "link", "/etc",
                            "~/dgx-pixels-never"]:
                with pytest.raises(ToolError, match="refused"):
                    await client.call_tool("deploy_to_bevy", {**base, "project": project})
            with pytest.raises(ToolError, match="cannot deploy"):
                await client.call_tool("deploy_to_bevy", {**base, "project": "game", "subdir": "../../elsewhere"})
            with pytest.raises(ToolError, match="not a job id"):
                await client.call_tool("deploy_to_bevy", {**base, "sheet": "../../etc", "project": "game"})
            with pytest.raises(ToolError, match="frames\\[0\\]"):
                await client.call_tool("animate", {"frames": ["dgx-pixels://results/../../etc/passwd"]})
            if expect_written:
                report = (await client.call_tool("deploy_to_bevy", {**base, "project": str(root / "game")})
                          ).structured_content
                assert report["written"]
        assert not any(outside.iterdir()), "nothing may be written outside the project roots"

    run(go(build_server(["http://127.0.0.1:9"], results_dir=tmp_path / "r1", project_roots=[root]), True))
    # Without --project-root, deploying is off altogether.
    with pytest.raises(ToolError, match="--project-root"):
        async def no_roots():
            async with Client(build_server(["http://127.0.0.1:9"], results_dir=tmp_path / "r2")) as client:
                sheet = (await client.call_tool("animate", {"frames": frames})).structured_content["job_id"]
                await client.call_tool("deploy_to_bevy", {"sheet": sheet, "project": str(root / "game"),
                                                          "category": "enemy", "name": "blob"})

        run(no_roots())


# the official mcp SDK over stdio and HTTP -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dgx_pixels_command() -> list[str]:
    """The full ``dgx-pixels`` command (loads every subcommand, torch included)."""
    return [sys.executable, "-m", "dgx_pixels.cli"]


def bridge_command() -> list[str]:
    """The light entry point of the bridge commands (no torch): what MCP client configs should launch."""
    return [sys.executable, "-m", "dgx_pixels.cli.bridge"]


class HttpBridge:
    def __init__(self, process: subprocess.Popen, url: str, log: Path):
        self.process, self.url, self.log = process, url, log


@pytest.fixture(scope="module", autouse=True)
def http_bridge(engine, tmp_path_factory):
    """``dgx-pixels mcp --transport http`` with a token, started with the module so its slow imports overlap the
    tests before the HTTP test."""
    folder = tmp_path_factory.mktemp("http-bridge")
    port = free_port()
    log = folder / "server.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen(dgx_pixels_command() + ["mcp", "--transport", "http", "--port", str(port),
                                                           "--token", "s3cret", "--engine", engine.url,
                                                           "--progress-interval", "0",
                                                           "--results", str(folder / "results")],
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        yield HttpBridge(process, f"http://127.0.0.1:{port}/mcp", log)
    finally:
        stop_process(process)


async def exercise_sdk_session(session, engine_url: str) -> None:
    from mcp_types import ImageContent

    await session.initialize()
    tools = {tool.name for tool in (await session.list_tools()).tools}
    assert {"generate", "generate_sprite", "animate", "deploy_to_bevy"} <= tools
    progress = []

    async def on_progress(value, total, message):
        progress.append(value)

    result = await session.call_tool("generate", {"params": {**SMALL, "seed": 21}, "wait_s": 300},
                                     read_timeout_seconds=SDK_READ_TIMEOUT_S, progress_callback=on_progress)
    assert not result.is_error, result
    assert result.structured_content["status"] == "done"
    assert any(isinstance(block, ImageContent) for block in result.content)
    assert progress and progress == sorted(progress) and progress[-1] == 100, progress
    bad = await session.call_tool("generate", {"params": {"width": 7}}, read_timeout_seconds=SDK_READ_TIMEOUT_S)
    assert bad.is_error and "below its minimum" in bad.content[0].text
    # A new user's first sprite: a prompt and small sizes; the engine has only the tiny checkpoint and no LoRA.
    sprite = await session.call_tool("generate_sprite", {"prompt": "pixel art slime", "size": 16, "render_px": 64,
                                                         "steps": 1, "wait_s": 300},
                                     read_timeout_seconds=SDK_READ_TIMEOUT_S)
    assert not sprite.is_error, sprite
    assert sprite.structured_content["status"] == "done" and len(sprite.structured_content["files"]) == 1


def test_official_mcp_client_over_stdio(engine, tmp_path):
    from mcp import ClientSession, StdioServerParameters, stdio_client

    command = bridge_command()
    params = StdioServerParameters(command=command[0],
                                   args=command[1:] + ["mcp", "--transport", "stdio", "--engine", engine.url,
                                                       "--results", str(tmp_path), "--progress-interval", "0"],
                                   env={**os.environ, "FASTMCP_LOG_LEVEL": "WARNING"})

    async def go():
        with open(tmp_path / "stderr.log", "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=SDK_READ_TIMEOUT_S) as session:
                    await exercise_sdk_session(session, engine.url)

    run(go())


def test_official_mcp_client_over_http_with_token(engine, http_bridge):
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def go():
        async with httpx2.AsyncClient(timeout=30) as plain:
            deadline = time.monotonic() + 180  # the full CLI imports torch: slow on a loaded machine
            while True:
                assert http_bridge.process.poll() is None, http_bridge.log.read_text()
                try:
                    response = await plain.post(http_bridge.url, json={})
                    break
                except httpx2.TransportError:
                    assert time.monotonic() < deadline, "the HTTP bridge did not start:\n" + http_bridge.log.read_text()
                    await asyncio.sleep(0.2)
            assert response.status_code == 401, "a request without the token must be refused"
        timeout = httpx2.Timeout(30, read=SDK_READ_TIMEOUT_S)
        async with httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret"}, timeout=timeout) as authed:
            async with streamable_http_client(http_bridge.url, http_client=authed) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=SDK_READ_TIMEOUT_S) as session:
                    await exercise_sdk_session(session, engine.url)

    run(go())


# the CLI ----------------------------------------------------------------------------------------------------


def test_cli_submit_status_cancel_exit_codes(engine, tiny_checkpoint, tmp_path, capsys):
    """In-process through the same parser and commands (each subprocess would pay the imports again); the exit
    code of a real process is checked once at the end."""
    from dgx_pixels.cli.bridge import main

    def cli(*args):
        capsys.readouterr()
        code = main(list(args) + ["--engine", engine.url])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    done = cli("submit", "txt2img_basic", "--set", "width=64", "--set", "height=64", "--set", "steps=1",
               "--set", "seed=31", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.split()[1]
    assert list(tmp_path.glob("*.png"))
    assert cli("status", job_id).returncode == 0
    invalid = cli("submit", "txt2img_basic", "--set", "sampler=eulr")
    assert invalid.returncode == 2 and "did you mean 'euler'" in invalid.stderr
    assert cli("status", str(uuid.uuid4())).returncode == 6
    queued = cli("submit", "txt2img_basic", "--set", "steps=150", "--set", f"seed={uuid.uuid4().int % 10**9}",
                 "--no-wait")
    assert queued.returncode == 4
    slow_id = queued.stdout.split()[1]
    assert cli("cancel", slow_id).returncode == 5
    unreachable = subprocess.run(bridge_command() + ["status", job_id, "--engine", "http://127.0.0.1:9"],
                                 capture_output=True, text=True, timeout=120)
    assert unreachable.returncode == 3, unreachable.stderr


def test_progress_notifications_are_for_long_work(engine, tmp_path):
    """A job that ends within the progress interval gets no notification; with interval 0 every change goes out,
    ending at 100."""
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 0}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "test/quick"}}}
    (workflows / "quick.api.json").write_text(json.dumps(prompt))
    (workflows / "quick.params.json").write_text(json.dumps({
        "name": "quick", "workflow": "quick.api.json",
        "params": {"color": {"node": "1", "input": "color", "type": "int", "min": 0, "max": 16777215}}}))

    async def progress_of(interval: float, colour: int) -> list[float]:
        seen = []

        async def on_progress(value, total, message):
            seen.append(value)

        mcp = build_server([engine.url], results_dir=tmp_path / f"r{interval}", workflow_dirs=[workflows],
                           progress_interval_s=interval)
        async with Client(mcp, timeout=120) as client:
            result = await client.call_tool("generate", {"workflow": "quick", "params": {"color": colour},
                                                         "wait_s": 60}, progress_handler=on_progress)
        assert result.structured_content["status"] == "done"
        return seen

    assert run(progress_of(30.0, 0x123456)) == [], "a job far shorter than the interval sends no progress"
    every = run(progress_of(0.0, 0x654321))
    assert every and every == sorted(every) and every[-1] == 100, every
    with pytest.raises(ValueError, match="progress interval"):
        build_server([engine.url], results_dir=tmp_path, progress_interval_s=-1)
