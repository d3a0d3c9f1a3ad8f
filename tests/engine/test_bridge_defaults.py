"""What a new user meets with defaults only, through an MCP client against the real engine (which holds only the
tiny checkpoint and no LoRA): generate_sprite with just a prompt, final outputs without the engine's temp previews,
atomic batches, random seeds that are reported, and the state of a job cancelled while it was pending."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from dgx_pixels.engine.client import EngineClient
from dgx_pixels.engine.params import find_workflow
from dgx_pixels.mcp_bridge.server import build_server
from prompt_graph import Graph

pytestmark = pytest.mark.engine
TIMEOUT_S = 300.0
CHEAP = {"size": 16, "render_px": 64, "steps": 1, "wait_s": 300}  # sizes only: models and seed stay default


def run(coro):
    return asyncio.run(coro)


def slow_prompt(checkpoint: str) -> dict:
    """A txt2img job of many steps: it keeps the engine busy so a job queued behind it stays pending."""
    return find_workflow("txt2img_basic").apply({"checkpoint": checkpoint, "steps": 150, "width": 64, "height": 64,
                                                  "seed": uuid.uuid4().int % 10**9})


def test_generate_sprite_with_only_a_prompt_uses_what_the_engine_has(engine, tiny_checkpoint, tmp_path):
    mcp = build_server([engine.url], results_dir=tmp_path)

    async def go():
        async with Client(mcp, timeout=TIMEOUT_S) as client:
            # Only a prompt: the SDXL default and its pixel LoRA are not installed; the job is accepted anyway.
            queued = await client.call_tool("generate_sprite", {"prompt": "pixel art slime", "wait_s": 0})
            meta = queued.structured_content
            assert meta["status"] in ("pending", "running", "done"), meta
            assert any(tiny_checkpoint in note for note in meta["notes"]), meta
            assert any("without a LoRA" in note for note in meta["notes"]), meta
            assert isinstance(meta["seed"], int) and f"seed {meta['seed']}" in queued.content[0].text
            await client.call_tool("cancel_job", {"job_id": meta["job_id"]})  # 1024² on CPU: not worth waiting

            done = [(await client.call_tool("generate_sprite", {"prompt": "pixel art slime", **CHEAP}))
                    .structured_content for _ in range(2)]
            assert [d["status"] for d in done] == ["done", "done"], done
            assert all(len(d["files"]) == 1 and (d["files"][0]["width"], d["files"][0]["height"]) == (16, 16)
                       for d in done), "one sprite per job, no preview"
            assert done[0]["seed"] != done[1]["seed"], "a left-out seed is random"

            # (Other tests may leave LoRAs in the shared engine folder: the list is not asserted empty.)
            with pytest.raises(ToolError, match=r"LoRA pixel-art-xl\.safetensors is not installed.*models/loras "
                                                r"holds .*<engine>/models/loras"):
                await client.call_tool("generate_sprite", {"prompt": "slime", "lora": "pixel-art-xl.safetensors"})
            with pytest.raises(ToolError, match=rf"sd_xl_base_1\.0\.safetensors is not installed.*{tiny_checkpoint}"
                                                r".*models/checkpoints"):
                await client.call_tool("generate_sprite", {"prompt": "slime",
                                                           "checkpoint": "sd_xl_base_1.0.safetensors"})

    run(go())


def test_results_are_the_final_outputs_without_temp_previews(engine, tiny_checkpoint, tmp_path):
    # text_to_sprite ends in SaveImage and a PixelPreview; `generate` runs it as bundled (previews included).
    params = {"checkpoint": tiny_checkpoint, "lora": "None", "steps": 1, "render_width": 64, "render_height": 64,
              "width": 16, "height": 16, "seed": 5}
    mcp = build_server([engine.url], results_dir=tmp_path)

    async def go():
        async with Client(mcp, timeout=TIMEOUT_S) as client:
            single = (await client.call_tool("generate", {"workflow": "text_to_sprite", "params": params,
                                                          "wait_s": 300})).structured_content
            batch = (await client.call_tool("generate_batch", {"workflow": "text_to_sprite", "wait_s": 300,
                                                               "param_sets": [params, {**params, "seed": 6}]})
                     ).structured_content["jobs"]
        for job in [single, *batch]:
            assert job["status"] == "done", job
            assert [(f["filename"].startswith("ComfyUI_temp"), f["width"]) for f in job["files"]] == [(False, 16)]

        g = Graph()
        image = g.node("EmptyImage", width=8, height=8, batch_size=1, color=uuid.uuid4().int % 2**24)
        g.node("SaveImage", images=image.out(), filename_prefix="defaults/saved")
        g.node("PreviewImage", images=image.out())
        async with EngineClient(engine.url) as engine_client:
            result = await engine_client.run(g.prompt, timeout_s=60)
        assert [f.type for f in result.files()] == ["output"]
        assert sorted(f.type for f in result.files(include_temp=True)) == ["output", "temp"]

    run(go())


def test_generate_batch_queues_all_sets_or_none_and_reports_each_seed(engine, tiny_checkpoint, tmp_path):
    mcp = build_server([engine.url], results_dir=tmp_path)
    good = {"checkpoint": tiny_checkpoint, "steps": 1, "width": 64, "height": 64}

    async def go():
        async with EngineClient(engine.url) as engine_client, Client(mcp, timeout=TIMEOUT_S) as client:
            before = set(await engine_client.history_all())
            with pytest.raises(ToolError) as refused:
                await client.call_tool("generate_batch", {"param_sets": [good, good, {**good, "steps": 0}],
                                                          "wait_s": 0})
            await asyncio.sleep(1.0)  # anything wrongly queued would be running or done by now
            assert await engine_client.load() == 0
            assert set(await engine_client.history_all()) == before, "an invalid batch queues nothing"
            assert "nothing was queued" in str(refused.value) and "param_sets[2]" in str(refused.value)
            assert "param_sets[0]" not in str(refused.value)

            jobs = (await client.call_tool("generate_batch", {"param_sets": [good, good], "wait_s": 300})
                    ).structured_content["jobs"]
            assert [job["status"] for job in jobs] == ["done", "done"], jobs
            assert all(isinstance(job["seed"], int) for job in jobs) and jobs[0]["seed"] != jobs[1]["seed"]

    run(go())


def test_a_job_cancelled_while_pending_reads_interrupted_not_unknown(engine, tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))  # the CLI's record of cancels, away from the user's

    async def go():
        async with EngineClient(engine.url) as client:
            busy = await client.queue_prompt(slow_prompt(tiny_checkpoint))
            waiting = await client.queue_prompt(slow_prompt(tiny_checkpoint))
            cli_waiting = await client.queue_prompt(slow_prompt(tiny_checkpoint))
            try:
                assert await client.job_state(waiting) == "pending"
                assert await client.cancel(waiting) == "pending"
                assert await client.job_state(waiting) == "interrupted", "this client removed it from the queue"
                assert await client.job_state(str(uuid.uuid4())) == "unknown"

                # The CLI is another process: its cancel says the final state and what status will answer.
                cancelled = subprocess.run([sys.executable, "-m", "dgx_pixels.cli.bridge", "cancel", cli_waiting,
                                            "--engine", engine.url], capture_output=True, text=True, timeout=120)
                assert cancelled.returncode == 5, cancelled.stderr
                said = cancelled.stdout + cancelled.stderr
                assert "final state: interrupted" in said and "removed from the queue" in said, said
                # ...and a later `status`, yet another process, reads that record: interrupted, exit 5 (was unknown, 6).
                status = subprocess.run([sys.executable, "-m", "dgx_pixels.cli.bridge", "status", cli_waiting,
                                         "--engine", engine.url], capture_output=True, text=True, timeout=120)
                assert status.returncode == 5, status.stdout + status.stderr
                assert "interrupted" in status.stdout, status.stdout
            finally:
                await client.cancel(cli_waiting)
                await client.cancel(busy)

    run(go())


# The required arguments of each tool, as a new user would first try them (values only where a tool needs one).
FIRST_CALLS = {
    "generate_sprite": {"prompt": "pixel art slime", "wait_s": 0},
    "generate": {"wait_s": 0},
    "generate_batch": {"param_sets": [{}], "wait_s": 0},
    "animate": {"frames": ["not-a-frame"]},
    "deploy_to_bevy": {"sheet": "00000000-0000-0000-0000-000000000000", "project": "game", "category": "character",
                       "name": "hero"},
    "compare": {"prompt": "slime", "loras": ["None"], "wait_s": 0},
    "job_status": {"job_id": "00000000-0000-0000-0000-000000000000"},
    "get_result": {"job_id": "00000000-0000-0000-0000-000000000000"},
    "cancel_job": {"job_id": "00000000-0000-0000-0000-000000000000"},
    "pixelize_image": {"image": "data:image/png;base64,aGVsbG8="},
    "palette_swap": {"image": "data:image/png;base64,aGVsbG8=", "source": "pico-8", "targets": ["nes"]},
    "upload_image": {"image": "not base64 at all"},
    "validate_workflow": {"workflow": "{}"},
    "run_workflow": {"workflow": "{}"},
}


def test_every_tool_with_only_its_required_arguments_answers_or_says_what_to_do(engine, tmp_path):
    # Each first call either works or fails with one short line a user can act on: never a traceback, a pydantic
    # dump or an internal error. Jobs it queues are cancelled again.
    mcp = build_server([engine.url], results_dir=tmp_path)

    async def go():
        async with Client(mcp, timeout=TIMEOUT_S) as client:
            tools = {tool.name: tool for tool in await client.list_tools()}
            for name, tool in tools.items():
                required = set(tool.input_schema.get("required", []))
                args = FIRST_CALLS.get(name, {})
                assert required <= set(args), f"{name}: add its required arguments {required} to FIRST_CALLS"
                try:
                    result = await client.call_tool(name, args)
                except ToolError as refused:
                    message = str(refused)
                    assert message and "\n" not in message.strip() and "Traceback" not in message, (name, message)
                    assert "internal error" not in message.lower() and "errors.pydantic.dev" not in message, \
                        (name, message)
                    continue
                meta = result.structured_content or {}
                for job in [meta, *meta.get("jobs", [])]:
                    if job.get("status") in ("pending", "running"):
                        await client.call_tool("cancel_job", {"job_id": job["job_id"]})

    run(go())
