"""The image and workflow tools against the real engine through the FastMCP client: upload_image feeding a bundled
image workflow via run_workflow, validate_workflow naming missing node types and models, queue and system stats.
No diffusion model runs: the image workflow is LoadImage → Pixelize → SaveImage."""

from __future__ import annotations

import asyncio
import base64
import io
import json

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from PIL import Image

from dgx_pixels.engine.params import BUNDLED_DIR
from dgx_pixels.mcp_bridge.server import build_server

pytestmark = pytest.mark.engine


def checker_png(size: int = 32, cell: int = 8) -> str:
    image = Image.new("RGB", (size, size))
    for y in range(size):
        for x in range(size):
            image.putpixel((x, y), (200, 40, 40) if ((x // cell) + (y // cell)) % 2 else (20, 20, 90))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_upload_then_run_a_bundled_image_workflow(engine, tmp_path):
    mcp = build_server([engine.url], results_dir=tmp_path)
    workflow = str(BUNDLED_DIR / "image_to_pixel_art.api.json")

    async def go():
        async with Client(mcp, timeout=300) as client:
            upload = (await client.call_tool("upload_image", {"image": checker_png()})).structured_content
            assert upload["name"].startswith("dgx-pixels-upload-") and (upload["width"], upload["height"]) == (32, 32)
            check = (await client.call_tool("validate_workflow", {"workflow": workflow,
                                                                  "params": {"1.image": upload["name"]}})
                     ).structured_content
            assert check["valid"] and check["format"] == "api", (check["problems"], check["missing_models"])
            result = await client.call_tool("run_workflow", {"workflow": workflow, "wait_s": 120,
                                                             "params": {"1.image": upload["name"]}})
            meta = result.structured_content
            assert meta["status"] == "done", meta
            assert (meta["files"][0]["width"], meta["files"][0]["height"]) == (4, 4)  # cell_px 8 of 32 px
            # The workflow as JSON text runs too; a bad NODE.INPUT key is named.
            text = (BUNDLED_DIR / "image_to_pixel_art.api.json").read_text()
            with pytest.raises(ToolError, match="has no input 'imag'"):
                await client.call_tool("run_workflow", {"workflow": text, "params": {"1.imag": "x.png"}})
            with pytest.raises(ToolError, match="neither JSON text nor a file under the allowed folders"):
                await client.call_tool("run_workflow", {"workflow": "/etc/passwd"})

    asyncio.run(go())


def test_validate_names_missing_node_types_and_models(engine, tiny_checkpoint, tmp_path):
    mcp = build_server([engine.url], results_dir=tmp_path)
    ui = json.loads((BUNDLED_DIR.parent / "image_to_pixel_art.json").read_text())
    for node in ui["nodes"]:
        if node["type"] == "SaveImage":
            node["type"] = "NoSuchSaver"
    api = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "nope.safetensors"}},
           "2": {"class_type": "AlsoMissing", "inputs": {"model": ["1", 0]}}}

    async def go():
        async with Client(mcp, timeout=120) as client:
            found = (await client.call_tool("validate_workflow", {"workflow": json.dumps(ui)})).structured_content
            assert found["format"] == "ui" and found["missing_node_types"] == ["NoSuchSaver"] and not found["valid"]
            found = (await client.call_tool("validate_workflow", {"workflow": json.dumps(api)})).structured_content
            assert found["missing_node_types"] == ["AlsoMissing"]
            model = found["missing_models"][0]
            assert model["value"] == "nope.safetensors" and tiny_checkpoint in model["installed"]
            assert not found["problems"], found["problems"]
            with pytest.raises(ToolError) as caught:
                await client.call_tool("run_workflow", {"workflow": json.dumps(api)})
            text = str(caught.value)
            assert "missing node types: AlsoMissing" in text and "missing model 'nope.safetensors'" in text
            assert tiny_checkpoint in text
            queue = (await client.call_tool("queue_status", {})).structured_content
            assert queue["engines"][0]["url"] == engine.url and "pending" in queue["engines"][0]
            stats = (await client.call_tool("system_stats", {})).structured_content
            assert "system" in stats["engines"][0] and "devices" in stats["engines"][0]

    asyncio.run(go())


def test_generate_never_uploads_a_file_of_the_bridge_machine(engine, tmp_path):
    # The CLI uploads a local image given as a path; over MCP the caller is remote, so a path to one of the bridge
    # machine's files must not be read and sent into the engine.
    secret = tmp_path / "private-photo.png"
    Image.new("RGB", (16, 16), (1, 2, 3)).save(secret)
    mcp = build_server([engine.url], results_dir=tmp_path / "results")

    async def go():
        async with Client(mcp, timeout=120) as client:
            with pytest.raises(ToolError, match="neither a local image file nor an image in the engine"):
                await client.call_tool("generate", {"workflow": "image_to_pixel_art", "params": {"image": str(secret)},
                                                    "wait_s": 30})

    asyncio.run(go())
    assert not [p for p in (engine.run_dir / "input").rglob("*") if p.name.startswith("private-photo")]
