"""The palette_swap MCP tool, in the bridge without an engine: variants and their sheet as a finished job."""

from __future__ import annotations

import asyncio
import base64
import io

import numpy as np
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from PIL import Image

from dgx_pixels.mcp_bridge.server import build_server
from dgx_pixels.ops.palettes_builtin import BUILTIN_HEX

NO_ENGINE = "http://127.0.0.1:9"
GB = [[int(h[i:i + 2], 16) for i in (0, 2, 4)] for h in BUILTIN_HEX["game-boy"]]


def sprite_url() -> str:
    idx = np.arange(12).reshape(3, 4) % 4
    rgba = np.concatenate([np.array(GB, dtype=np.uint8)[idx], np.full((3, 4, 1), 255, dtype=np.uint8)], axis=-1)
    rgba[0, 0] = 0
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_palette_swap_tool(tmp_path):
    red = ["#110000", "#550000", "#990000", "#dd0000"]

    async def go():
        async with Client(build_server([NO_ENGINE], results_dir=tmp_path)) as client:
            tools = {tool.name: tool for tool in await client.list_tools()}
            assert tools["palette_swap"].annotations.idempotent_hint is True
            result = await client.call_tool("palette_swap", {"image": sprite_url(), "source": "game-boy",
                                                             "targets": [red, "pico-8"]})
            meta = result.structured_content
            info = meta["palette_swap"]
            assert meta["status"] == "done" and (info["width"], info["height"]) == (4, 3)
            assert info["variants"] == ["sprite_target-1-colors.png", "sprite_pico-8.png"]
            assert info["sheet"] == "sprite_swaps.png" and info["unknown_pixels"] == 0
            assert [f["filename"] for f in meta["files"]] == [*info["variants"], info["sheet"]]
            blob = (await client.read_resource(meta["files"][0]["uri"]))[0].blob
            art = Image.open(io.BytesIO(blob if isinstance(blob, bytes) else base64.b64decode(blob)))
            assert art.mode == "P"
            assert art.getpalette()[:12] == [v for h in red for v in (int(h[1:3], 16), int(h[3:5], 16), int(h[5:], 16))]
            back = np.asarray(art.convert("RGBA"))
            assert back[0, 0, 3] == 0 and tuple(back[0, 1]) == (0x55, 0, 0, 255)
            with pytest.raises(ToolError, match="not in the source palette 'pico-8'.*unknown='keep'"):
                await client.call_tool("palette_swap", {"image": sprite_url(), "source": "pico-8",
                                                        "targets": ["endesga-32"]})
            kept = await client.call_tool("palette_swap", {"image": meta["files"][0]["uri"], "source": "pico-8",
                                                           "targets": ["endesga-32"], "unknown": "keep"})
            assert kept.structured_content["palette_swap"]["unknown_pixels"] == 11
            with pytest.raises(ToolError, match="has 4 colours but the source palette"):
                await client.call_tool("palette_swap", {"image": sprite_url(), "source": "pico-8",
                                                        "targets": ["game-boy"]})
            with pytest.raises(ToolError, match="target 1: .*not a colour"):
                await client.call_tool("palette_swap", {"image": sprite_url(), "source": "game-boy",
                                                        "targets": [["#zzzzzz"]]})

    asyncio.run(go())
