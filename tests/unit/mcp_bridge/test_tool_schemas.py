"""Tool schemas an agent can use without guessing, short argument errors, and pixelize_image without an engine."""

from __future__ import annotations

import asyncio
import base64
import io
import typing

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from PIL import Image

from dgx_pixels.mcp_bridge import pixel_tools
from dgx_pixels.mcp_bridge.server import build_server

NO_ENGINE = "http://127.0.0.1:9"


def tools_of(tmp_path) -> dict:
    async def go():
        async with Client(build_server([NO_ENGINE], results_dir=tmp_path)) as client:
            return {tool.name: tool for tool in await client.list_tools()}

    return asyncio.run(go())


def test_closed_choices_match_the_ops():
    from dgx_pixels.ops.dither import DITHERS
    from dgx_pixels.ops.grid import MODES
    from dgx_pixels.ops.palette import builtin_palette_names
    from dgx_pixels.ops.pixelize import ALPHA_MODES

    assert typing.get_args(pixel_tools.DitherName) == DITHERS
    assert typing.get_args(pixel_tools.ModeName) == MODES
    assert typing.get_args(pixel_tools.AlphaName) == ALPHA_MODES
    assert list(typing.get_args(pixel_tools.PaletteName)) == builtin_palette_names()


def test_every_tool_describes_every_argument_and_carries_annotations(tmp_path):
    tools = tools_of(tmp_path)
    for name in tools:
        props = tools[name].input_schema.get("properties", {})
        assert all(spec.get("description") for spec in props.values()), (name, props)
        assert tools[name].annotations is not None, name
    pixelize = tools["pixelize_image"].input_schema["properties"]
    assert set(pixelize["dither"]["enum"]) == {"none", "bayer2", "bayer4", "bayer8", "fs"}
    assert "endesga-32" in pixelize["palette"]["anyOf"][0]["enum"]
    for name in ["queue_status", "system_stats", "validate_workflow", "list_workflows", "job_status"]:
        assert tools[name].annotations.read_only_hint is True, name
    assert tools["deploy_to_bevy"].annotations.destructive_hint is True
    assert tools["list_models"].annotations.read_only_hint is True
    assert tools["animate"].input_schema["properties"]["layout"]["enum"] == ["grid", "pack"]
    assert "character" in tools["deploy_to_bevy"].input_schema["properties"]["category"]["enum"]
    assert tools["generate_sprite"].input_schema["properties"]["size"]["maximum"] == 512
    assert tools["pixelize_image"].annotations.idempotent_hint is True
    for name in ["pixelize_image", "upload_image", "validate_workflow", "queue_status", "system_stats", "generate",
                 "generate_batch", "generate_sprite", "animate", "compare", "get_result", "job_status"]:
        assert tools[name].output_schema and tools[name].output_schema["type"] == "object", name
    assert "seed" in tools["generate_sprite"].output_schema["properties"]


@pytest.mark.parametrize("tool, args, expected", [
    ("job_status", {"jobid": "x"}, "unknown argument 'jobid'; did you mean 'job_id'?"),
    ("pixelize_image", {"image": "x", "dither": "bayer3"}, "argument 'dither': Input should be"),
    ("pixelize_image", {"image": "x", "size": 99999}, "argument 'size': Input should be less than or equal to 1024"),
    ("job_status", {}, "missing required argument 'job_id'"),
])
def test_a_bad_argument_is_one_short_line_naming_it(tmp_path, tool, args, expected):
    """Failed before the middleware: pydantic's multi-line dump with an errors.pydantic.dev URL."""
    async def go():
        async with Client(build_server([NO_ENGINE], results_dir=tmp_path)) as client:
            with pytest.raises(ToolError) as caught:
                await client.call_tool(tool, args)
            return str(caught.value)

    message = asyncio.run(go())
    assert expected in message
    assert "\n" not in message and "pydantic" not in message and "validation error" not in message


def png_data_url(size: int = 32, cell: int = 4) -> str:
    """A checkerboard of ``cell``-pixel squares in two colours with a transparent border column."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    for y in range(size):
        for x in range(cell, size):
            dark = ((x // cell) + (y // cell)) % 2
            image.putpixel((x, y), (30, 30, 120, 255) if dark else (230, 200, 40, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_pixelize_image_in_the_bridge_without_an_engine(tmp_path):
    async def go():
        async with Client(build_server([NO_ENGINE], results_dir=tmp_path)) as client:
            result = await client.call_tool("pixelize_image", {"image": png_data_url(), "size": 8,
                                                               "palette": "pico-8"})
            meta = result.structured_content
            assert meta["status"] == "done"
            info = meta["pixelize"]
            assert (info["width"], info["height"]) == (8, 8) and info["grid"]["mode"] == "size"
            assert info["alpha"] and set(info["palette"]) <= {"#" + c.lower() for c in
                                                              pixel_tools.BUILTIN_HEX["pico-8"]}
            assert [block.type for block in result.content][:3] == ["text", "image", "resource_link"]
            uri = meta["files"][0]["uri"]
            blob = (await client.read_resource(uri))[0].blob
            art = Image.open(io.BytesIO(blob if isinstance(blob, bytes) else base64.b64decode(blob)))
            assert art.size == (8, 8)
            # An earlier result feeds the next call; the grid of an upscaled image is found by itself.
            again = (await client.call_tool("pixelize_image", {"image": uri, "colors": ["#000000", "#ffffff"]})
                     ).structured_content["pixelize"]
            assert set(again["palette"]) <= {"#000000", "#ffffff"}
            auto = (await client.call_tool("pixelize_image", {"image": png_data_url(64, 8), "num_colors": 2,
                                                              "alpha": "none"})).structured_content["pixelize"]
            assert auto["grid"]["mode"] == "auto" and round(auto["grid"]["cell_x"]) == 8 and not auto["alpha"]
            with pytest.raises(ToolError, match="not both"):
                await client.call_tool("pixelize_image", {"image": uri, "palette": "pico-8", "colors": ["#000000"]})
            with pytest.raises(ToolError, match="image: .*base64"):
                await client.call_tool("pixelize_image", {"image": "not an image!"})
            with pytest.raises(ToolError, match="no file"):
                await client.call_tool("pixelize_image",
                                       {"image": f"dgx-pixels://results/{meta['job_id']}/..%2Fsecret.png"})

    asyncio.run(go())


def test_upload_names_are_safe_and_content_addressed():
    assert pixel_tools.upload_name(b"a", None) == pixel_tools.upload_name(b"a", None) != \
        pixel_tools.upload_name(b"b", None)
    assert pixel_tools.upload_name(b"a", "hero") == "hero.png"
    for bad in ["../x.png", "a/b.png", ".hidden", "", "x" * 200]:
        with pytest.raises(ValueError):
            pixel_tools.upload_name(b"a", bad)
