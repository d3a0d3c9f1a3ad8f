"""The tools for images in and any workflow: pixelize_image, palette_swap, upload_image, run_workflow,
validate_workflow, queue_status and system_stats. ``register(mcp, bridge)`` adds them to the server ``build_server`` makes; kept out of
server.py so that file stays about jobs and sprites."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastmcp.exceptions import ToolError
from fastmcp.server.context import Context
from fastmcp.tools.base import ToolResult
from mcp_types import TextContent
from pydantic import BaseModel, Field

from ..engine.client import EngineClientError
from ..engine.jobs import UUID_RE
from ..engine.params import ParameterError, Workflow, apply_raw
from .pixel_tools import (MAX_SIZE, UPLOAD_SUBFOLDER, AlphaName, DitherName, ModeName, PaletteName, PixelizeOptions,
                          PixelizeOutput, SavedFileInfo, SwapInfo, pixelize_png, png_bytes, swap_palette_pngs,
                          upload_name)
from .tool_inputs import RESULT_URI, decode_data_url, job_file
from .tool_support import READ_ONLY, Diagnosis, diagnose, prompt_of, read_workflow_source, ui_node_types

if TYPE_CHECKING:
    from fastmcp import FastMCP

ImageSource = Annotated[str, Field(description=(
    "the image: a PNG as base64 or a data:image/png;base64,... URL, or a result URI of an earlier job "
    "(dgx-pixels://results/<job_id>/<file>)"))]
WorkflowSource = Annotated[str, Field(description=(
    "the workflow JSON: API format ({node_id: {class_type, inputs}}), a saved POST /prompt body, or the editor's "
    "UI format; given as the JSON text itself or as the path of a .json file under the bridge's workflow folders "
    "or --project-root folders"))]
RawParams = Annotated[dict[str, Any] | None, Field(description=(
    "values to write into the workflow before it runs, keyed 'NODE_ID.INPUT' (e.g. {'1.image': "
    "'dgx-pixels-upload-ab12.png', '3.seed': 7}); node ids are the API prompt's keys"))]
WaitS = Annotated[float | None, Field(ge=0, le=600, description=(
    "seconds to wait for the job (default 45, at most 600); a longer job answers {job_id, status} to pick up "
    "with job_status or get_result"))]


PaletteSpec = Annotated[PaletteName | list[str], Field(description=(
    "a built-in palette's name, or the palette's colours in order as a list of '#rrggbb' strings"))]
MAX_SWAP_TARGETS = 64  # variants per call; a sheet of more is surely a mistake


class PaletteSwapOutput(BaseModel):
    """The structured result of palette_swap: the local job holding the PNGs, and what was made."""

    model_config = {"extra": "allow"}
    job_id: str = Field(description="id of the finished local job; its files are dgx-pixels://results/<job_id>/...")
    status: str
    files: list[SavedFileInfo]
    palette_swap: SwapInfo


class UploadOutput(BaseModel):
    """Where an uploaded image went."""

    name: str = Field(description="the name to give a LoadImage node's 'image' input (subfolder/file)")
    width: int
    height: int
    bytes: int
    engines: list[str] = Field(description="the engines that received it (all of the bridge's engines)")


class WorkflowCheck(BaseModel):
    """What validate_workflow found."""

    valid: bool = Field(description="true when the engine would accept the workflow as it is")
    name: str
    format: str = Field(description="'api' or 'ui' (converted with the engine's node definitions)")
    nodes: int = Field(description="number of nodes in the API prompt (0 when it could not be converted)")
    missing_node_types: list[str] = Field(description="node types the engine does not have")
    missing_models: list[dict] = Field(description=(
        "model files the workflow names that the engine lacks: {node, class_type, input, value, installed}"))
    problems: list[str] = Field(description="every other reason the engine would refuse it")
    engine: str


class QueueStatus(BaseModel):
    """The engines' queues."""

    engines: list[dict] = Field(description="per engine: {url, running: [prompt_id], pending: [prompt_id]} or "
                                "{url, error}")
    running: int
    pending: int
    bridge_jobs: dict[str, int] = Field(description="this bridge's jobs by status")


class SystemStats(BaseModel):
    """The engines' /system_stats."""

    engines: list[dict] = Field(description="per engine: {url, system: {...}, devices: [{name, type, vram_total, "
                                "vram_free, ...}]} or {url, error}")


def register(mcp: FastMCP, bridge: Any) -> None:
    """Add the image and workflow tools to ``mcp``; returns nothing. ``bridge`` is server.Bridge (not named in the
    annotation: importing server here would make the two modules import each other)."""

    def image_bytes(source: str, what: str) -> bytes:
        source = source.strip()
        try:
            match = RESULT_URI.match(source)
            if match:
                return job_file(bridge.results_dir, *match.groups()).read_bytes()
            if UUID_RE.match(source):
                raise ValueError("give one file of the job: dgx-pixels://results/<job_id>/<file>")
            return decode_data_url(source)
        except ValueError as exc:
            raise ToolError(f"{what}: {exc}") from None

    @mcp.tool(output_schema=PixelizeOutput.model_json_schema(), annotations={
        "readOnlyHint": False, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False})
    async def pixelize_image(
        image: ImageSource,
        size: Annotated[int | None, Field(ge=1, le=MAX_SIZE, description=(
            "the longer side of the pixel art in pixels (the other keeps the aspect ratio); left out with cell_px "
            "left out too, the pixel grid is detected from the image (for upscaled or AI 'fake' pixel art)"))] = None,
        cell_px: Annotated[float | None, Field(gt=1, le=256, description=(
            "the size of one art pixel in image pixels, instead of size"))] = None,
        palette: Annotated[PaletteName | None, Field(description=(
            "a built-in palette to map onto; leave out (with colors) to extract num_colors colours"))] = None,
        colors: Annotated[list[str] | None, Field(min_length=1, max_length=256, description=(
            "the palette as '#rrggbb' strings, instead of palette"))] = None,
        num_colors: Annotated[int, Field(ge=0, le=256, description=(
            "colours to extract when neither palette nor colors is given (0 keeps the downscaled colours)"))] = 16,
        dither: Annotated[DitherName, Field(description="dithering: none, ordered bayer2/4/8, or fs "
                                            "(Floyd-Steinberg)")] = "none",
        alpha: Annotated[AlphaName, Field(description=(
            "transparency: auto keeps it when the image has some, keep always, none makes it opaque"))] = "auto",
        mode: Annotated[ModeName, Field(description="how each cell becomes one pixel")] = "contrast",
        seed: Annotated[int, Field(ge=0, description="seed of the palette extraction")] = 0,
        rgba: Annotated[bool, Field(description=(
            "write an RGB/RGBA PNG instead of an indexed PNG (whose palette is the one used, in its order)"))] = False,
    ) -> ToolResult:
        """Pixelize an image in the bridge with the pack's own algorithms (no engine, no model): grid, palette,
        dither, alpha. Returns the pixel art PNG at native size as a finished job (a thumbnail inline, the full
        file as a resource link) and its size, palette and grid."""
        if size is not None and cell_px is not None:
            raise ToolError("give size or cell_px, not both")
        data = image_bytes(image, "image")
        options = PixelizeOptions(size=size, cell_px=cell_px, palette=palette, colors=tuple(colors or ()),
                                  num_colors=num_colors, dither=dither, alpha=alpha, mode=mode, seed=seed, rgba=rgba)
        try:
            # Pixelizing a large image takes seconds of CPU: off the event loop, so other calls keep flowing.
            png, info = await asyncio.to_thread(pixelize_png, data, options)
        except ValueError as exc:
            raise ToolError(f"cannot pixelize: {exc}") from None
        job = bridge.manager.new_local_job("pixelize_image")
        folder = bridge.results_dir / job.job_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "pixelized.png"
        path.write_bytes(png)
        bridge.manager.finish_local_job(job, [path])
        result = bridge.result(job)
        result.structured_content["pixelize"] = info.model_dump()
        result.content[0] = TextContent(type="text", text=(
            f"job {job.job_id} done: {info.width}x{info.height} pixel art, {len(info.palette)} colours "
            f"({info.palette_name}), grid {info.grid.mode} (cell {info.grid.cell_x:.2f}x{info.grid.cell_y:.2f})"))
        return result

    @mcp.tool(output_schema=PaletteSwapOutput.model_json_schema(), annotations={
        "readOnlyHint": False, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False})
    async def palette_swap(
        image: ImageSource,
        source: Annotated[PaletteSpec, Field(description=(
            "the palette the sprite is drawn in: a built-in palette's name or its colours as '#rrggbb' strings"))],
        targets: Annotated[list[PaletteSpec], Field(min_length=1, max_length=MAX_SWAP_TARGETS, description=(
            "the palettes to swap to, one variant each (team colours, day/night, damage flash); each a built-in "
            "name or a list of '#rrggbb', with at least as many colours as source"))],
        unknown: Annotated[Literal["error", "keep"], Field(description=(
            "a visible pixel whose colour is not in source: 'error' refuses the swap, naming how many and one "
            "example; 'keep' leaves it as it is"))] = "error",
        rgba: Annotated[bool, Field(description=(
            "write RGB/RGBA PNGs instead of indexed PNGs (each variant's palette in the target's order)"))] = False,
    ) -> ToolResult:
        """Recolour a sprite from one palette to others by index, exactly (entry i of source becomes entry i of
        each target; no re-quantization; transparent pixels stay transparent). Returns one PNG per target and, for
        several targets, a sheet of them side by side, as a finished job (thumbnails inline, the files as resource
        links)."""
        data = image_bytes(image, "image")
        try:
            files, info = await asyncio.to_thread(swap_palette_pngs, data, source, list(targets), unknown, rgba)
        except ValueError as exc:
            raise ToolError(f"cannot swap the palette: {exc}") from None
        job = bridge.manager.new_local_job("palette_swap")
        folder = bridge.results_dir / job.job_id
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, png in files:
            path = folder / name
            path.write_bytes(png)
            paths.append(path)
        bridge.manager.finish_local_job(job, paths)
        result = bridge.result(job)
        result.structured_content["palette_swap"] = info.model_dump()
        result.content[0] = TextContent(type="text", text=(
            f"job {job.job_id} done: {len(info.variants)} variant(s) of a {info.width}x{info.height} sprite"
            + (f" and the sheet {info.sheet}" if info.sheet else "")
            + (f"; {info.unknown_pixels} pixel(s) not in the source palette kept" if info.unknown_pixels else "")))
        return result

    @mcp.tool(output_schema=UploadOutput.model_json_schema(), annotations={
        "readOnlyHint": False, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False})
    async def upload_image(
        image: ImageSource,
        name: Annotated[str | None, Field(description=(
            "file name in the engine's input folder (letters, digits, '.', '_', '-'); left out, one made from the "
            "image's hash, so the same image is stored once"))] = None,
    ) -> dict:
        """Upload an image into the engine's input folder (every engine of the bridge) so image workflows can load
        it. Returns the name to put in a LoadImage node's 'image' input (run_workflow params {'<node>.image':
        name}), with the image's size."""
        data = image_bytes(image, "image")
        try:
            data, width, height = png_bytes(data, "image")
            filename = upload_name(data, name)
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        stored = None
        try:
            for url in bridge.manager.engine_urls:
                # Every engine gets it: a later job may go to whichever engine is least loaded.
                client = await bridge.manager.client(url)
                stored = await client.upload_image(data, filename, subfolder=UPLOAD_SUBFOLDER, overwrite=True)
        except EngineClientError as exc:
            raise ToolError(f"upload failed: {exc}") from None
        return UploadOutput(name=stored or filename, width=width, height=height, bytes=len(data),
                            engines=list(bridge.manager.engine_urls)).model_dump()

    async def checked(source: str, params: dict[str, Any] | None) -> tuple[str, Workflow, str, Diagnosis]:
        """Return (engine url, workflow, format, diagnosis) of a user's workflow with ``params`` written in."""
        name, data = read_workflow_source(source, [*bridge.workflow_dirs, *bridge.project_roots])
        try:
            url = await bridge.manager.choose_engine()
            client = await bridge.manager.client(url)
            prompt = prompt_of(data)
            fmt = "api"
            if prompt is None:
                if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
                    raise ToolError("the workflow is neither API format ({node_id: {class_type, inputs}}) nor the "
                                    "editor's UI format (with a 'nodes' list)")
                fmt = "ui"
                types = ui_node_types(data)
                info = await node_info(client, types)
                lacking = sorted(types - set(info))
                if lacking:
                    return url, Workflow(name, {}), fmt, Diagnosis(missing_node_types=lacking)
                from ..engine.ui_to_api import UIConversionError, ui_to_api

                try:
                    prompt = ui_to_api(data, info)
                except UIConversionError as exc:
                    return url, Workflow(name, {}), fmt, Diagnosis(problems=[f"cannot convert the UI workflow: {exc}"])
            try:
                prompt = apply_raw(prompt, params or {})
            except ParameterError as exc:
                raise ToolError(f"invalid params: {exc}") from None
            info = await node_info(client, {str(node.get("class_type")) for node in prompt.values()})
        except EngineClientError as exc:
            raise ToolError(str(exc)) from None
        return url, Workflow(name, prompt), fmt, diagnose(prompt, info)

    async def node_info(client, types: set[str]) -> dict:
        # Fresh per call, not the bridge's cache: the model lists inside it must be what the engine has now.
        info: dict = {}
        for kind in sorted(types):
            try:
                info.update(await client.object_info(kind))
            except EngineClientError:
                pass  # an unknown type: reported as missing
        return info

    @mcp.tool(output_schema=WorkflowCheck.model_json_schema(), annotations=READ_ONLY)
    async def validate_workflow(workflow: WorkflowSource, params: RawParams = None) -> dict:
        """Check a workflow against the engine without running it. Returns valid, the node types and model files
        the engine lacks (with what is installed) and every other problem."""
        url, flow, fmt, found = await checked(workflow, params)
        return WorkflowCheck(name=flow.name, format=fmt, nodes=len(flow.prompt), engine=url,
                             **found.describe()).model_dump()

    @mcp.tool(annotations={"readOnlyHint": False, "destructiveHint": False, "idempotentHint": False,
                           "openWorldHint": False})
    async def run_workflow(workflow: WorkflowSource, params: RawParams = None, wait_s: WaitS = None,
                           ctx: Context | None = None) -> ToolResult:
        """Run any workflow JSON on the engine (checked first: missing node types and models are named, nothing is
        queued). Returns its images like generate, or {job_id, status} after wait_s."""
        url, flow, _, found = await checked(workflow, params)
        if not found.ok:
            raise ToolError(f"workflow '{flow.name}' cannot run:\n{found.summary()}")
        job = await bridge.queue(flow.name, url, flow.prompt)
        return bridge.result(await bridge.wait(job, wait_s, ctx))

    async def per_engine(fetch) -> list[dict]:
        async def one(url: str) -> dict:
            try:
                return {"url": url, **await fetch(await bridge.manager.client(url))}
            except EngineClientError as exc:
                return {"url": url, "error": str(exc)}

        return list(await asyncio.gather(*(one(url) for url in bridge.manager.engine_urls)))

    @mcp.tool(output_schema=QueueStatus.model_json_schema(), annotations=READ_ONLY)
    async def queue_status() -> dict:
        """Return each engine's running and pending prompt ids (GET /queue) and this bridge's jobs by status."""
        engines = await per_engine(lambda client: client.queue())
        counts: dict[str, int] = {}
        for job in bridge.manager.jobs.values():
            counts[job.status] = counts.get(job.status, 0) + 1
        return QueueStatus(engines=engines, running=sum(len(e.get("running", [])) for e in engines),
                           pending=sum(len(e.get("pending", [])) for e in engines), bridge_jobs=counts).model_dump()

    @mcp.tool(output_schema=SystemStats.model_json_schema(), annotations=READ_ONLY)
    async def system_stats() -> dict:
        """Return each engine's system and device statistics (GET /system_stats: versions, RAM, VRAM per device)."""
        return SystemStats(engines=await per_engine(lambda client: client.system_stats())).model_dump()

