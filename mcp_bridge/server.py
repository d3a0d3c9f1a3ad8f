"""The FastMCP server of DGX-Pixels: MCP tools that run the bundled workflows on one or more engines.

Tools return after a bounded wait: a finished job with nearest-neighbour thumbnails inline, structured metadata
(paths, sizes, hashes) and its full files as resource links (``dgx-pixels://results/<job_id>/<file>``); a longer
one as ``{job_id, status}`` that ``job_status``/``get_result`` pick up later. Progress goes out as MCP progress
notifications while a tool waits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import mimetypes
import re
import secrets
import socket
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.resources import ResourceContent
from fastmcp.server.context import Context
from fastmcp.tools.base import ToolResult
from mcp_types import ImageContent, ResourceLink, TextContent
from pydantic import Field

from ..engine.client import DEFAULT_ENGINE, DONE, EngineClientError, PromptValidationError, default_engines  # noqa: F401
from ..export.images import read_rgba, thumbnail_png
from ..engine.jobs import FINAL_STATES, UUID_RE, Job, JobManager, JobNotFound, check_job_id
from ..engine.params import BUNDLED_DIR, ParameterError, Workflow, bundled_workflows, prepare
from ..engine.requests import CompareRequest, choose_models, comparison_prompt, random_seed
from ..engine.sprites import palette_hex_file, sprite_workflow, without_previews
from ..export.paths import confine
from .arguments import (
    BATCH_RESULT_SCHEMA, JOB_RESULT_SCHEMA,
    AssetPart, BuiltinPalette, Category, Checkpoint, DryRun, Frames, JobId, Lora, LoraList, ModelFolder, Negative,
    PaletteColours, PaletteName, ParamSets, ProjectPath, Prompt, RenderPx, Seed, SheetJob, SheetLayout, SpriteSize,
    Steps, Strengths, Subdir, WaitS, WorkflowName, WorkflowParams,
)
from .tool_inputs import MAX_FRAMES, RESULT_URI, decode_data_url, job_file, load_sheet
from .extra_tools import register as register_extra_tools
from .tool_support import READ_ONLY, ShortArgumentErrors

RESULT_SCHEME = "dgx-pixels://results"
MAX_INLINE_IMAGES = 4
MAX_WAIT_S = 600.0
PROGRESS_INTERVAL_S = 0.25


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Bridge:
    """What the tools share: the job manager, the workflows and a per-engine object_info cache."""

    def __init__(self, engine_urls: list[str], results_dir: Path, workflow_dirs: list[Path],
                 default_wait_s: float, run_timeout_s: float, project_roots: list[Path] | None = None,
                 progress_interval_s: float = PROGRESS_INTERVAL_S):
        self.manager = JobManager(engine_urls, results_dir, run_timeout_s=run_timeout_s)
        self.results_dir = Path(results_dir)
        self.project_roots = [Path(root).expanduser().resolve() for root in project_roots or []]
        self.workflow_dirs = workflow_dirs
        self.default_wait_s = default_wait_s
        if not progress_interval_s >= 0:
            raise ValueError(f"the progress interval must be 0 s or more, got {progress_interval_s}")
        self.progress_interval_s = progress_interval_s
        self.object_info: dict[str, dict] = {}

    def workflows(self) -> dict[str, Workflow]:
        return bundled_workflows(self.workflow_dirs)

    def workflow(self, name: str) -> Workflow:
        workflows = self.workflows()
        if name not in workflows:
            from ..engine.params import closest

            near = closest(name, list(workflows))
            raise ToolError(f"no workflow named '{name}'" + (f"; did you mean {near[0]!r}?" if near else "")
                            + f" (available: {', '.join(workflows) or 'none'}; see list_workflows)")
        return workflows[name]

    @staticmethod
    @contextlib.contextmanager
    def tool_errors(name: str):
        """Turn the engine's and the manifest's errors about workflow ``name`` into one-line ToolErrors."""
        try:
            yield
        except ParameterError as exc:
            raise ToolError(f"invalid parameters for '{name}': {exc}") from None
        except PromptValidationError as exc:
            raise ToolError(f"the engine rejected '{name}': {exc}") from None
        except EngineClientError as exc:
            raise ToolError(str(exc)) from None

    @staticmethod
    def seeded(workflow: Workflow, params: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
        """Return ``params`` with a random seed where the workflow has a seed and none (or null) was given, and
        the seed used (None for a workflow without a seed parameter)."""
        if "seed" not in workflow.params:
            return params, None
        if params.get("seed") is None:
            params = {**params, "seed": random_seed()}
        return params, params["seed"]

    async def prepare(self, workflow: Workflow, params: dict[str, Any], *, url: str | None = None,
                      palette_colours: list[str] | None = None, drop_previews: bool = False) -> tuple[str, dict]:
        """Return (engine url, prompt) of ``workflow`` with ``params``, checked by that engine; nothing is queued.

        Raises ToolError naming every problem."""
        with self.tool_errors(workflow.name):
            url = url or await self.manager.choose_engine()
            client = await self.manager.client(url)
            if palette_colours:
                params = {**params, **await self.upload_palette(client, palette_colours)}
            # MCP clients send images with upload_image; a path would read the bridge machine's own files.
            prompt = await prepare(client, workflow, params, self.object_info.setdefault(url, {}),
                                   upload_local_files=False)
            if drop_previews:
                prompt = without_previews(prompt)
        return url, prompt

    async def queue(self, name: str, url: str, prompt: dict, *, seed: int | None = None,
                    notes: list[str] | None = None) -> Job:
        """Queue a prepared prompt on ``url`` and return its job; raises ToolError when the engine refuses it."""
        with self.tool_errors(name):
            return await self.manager.submit(prompt, workflow=name, engine_url=url, seed=seed, notes=notes)

    async def submit(self, workflow: Workflow, params: dict[str, Any], *, palette_colours: list[str] | None = None,
                     drop_previews: bool = False, url: str | None = None, notes: list[str] | None = None) -> Job:
        """Prepare and queue one job (a missing seed made random); return it. Raises ToolError."""
        params, seed = self.seeded(workflow, params)
        if url is None:
            with self.tool_errors(workflow.name):
                url = await self.manager.choose_engine()  # reserved: concurrent calls spread over the engines
        try:
            url, prompt = await self.prepare(workflow, params, url=url, palette_colours=palette_colours,
                                             drop_previews=drop_previews)
        except BaseException:
            # Nothing will be queued on the engine chosen for it (here or by the caller): free its place now
            # rather than when the reservation lapses.
            self.manager.release_engine(url)
            raise
        return await self.queue(workflow.name, url, prompt, seed=seed, notes=notes)

    @staticmethod
    async def upload_palette(client, colours: list[str]) -> dict[str, str]:
        """Upload ``colours`` as a .hex file into the engine's input folder; return the PaletteLoad values."""
        try:
            name, data = palette_hex_file(colours)
        except ValueError as exc:
            raise ParameterError([str(exc)]) from None
        stored = await client.upload_image(data, name, subfolder="palettes", overwrite=True,
                                           content_type="text/plain")
        return {"palette": "file", "palette_file": stored}

    def frames_of(self, sources: list[str]) -> list[tuple[str, bytes]]:
        """Return (label, bytes) of each frame: a result URI, every image of a job id, or uploaded base64 PNG data.

        Raises ToolError naming the first source that is none of these or not there."""
        frames: list[tuple[str, bytes]] = []
        for index, source in enumerate(sources):
            source = str(source).strip()
            try:
                match = RESULT_URI.match(source)
                if match:
                    frames.append((source, job_file(self.results_dir, *match.groups()).read_bytes()))
                elif UUID_RE.match(source):
                    job = self.manager.jobs.get(source)
                    if job is None or job.status != DONE:
                        raise ValueError(f"job {source} is not a finished job of this bridge (see job_status)")
                    images = [f for f in job.files if f.width]
                    if not images:
                        raise ValueError(f"job {source} produced no images")
                    frames += [(f"{source}/{f.filename}", f.path.read_bytes()) for f in images]
                else:
                    frames.append((f"#{index}", decode_data_url(source)))
            except ValueError as exc:
                raise ToolError(f"frames[{index}]: {exc}") from None
        if not frames or len(frames) > MAX_FRAMES:
            raise ToolError(f"animate needs 1 to {MAX_FRAMES} frames, got {len(frames)}")
        return frames

    def wait_seconds(self, wait_s: float | None) -> float:
        """Return the wait a tool call asked for, bounded to 0..MAX_WAIT_S (None: the bridge's default)."""
        return self.default_wait_s if wait_s is None else min(max(float(wait_s), 0.0), MAX_WAIT_S)

    def progress_reporter(self, ctx: Context | None):
        """Return ``report(fraction, message)``, an async function that sends MCP progress for one tool call."""
        loop = asyncio.get_running_loop()
        interval = self.progress_interval_s
        last = {"progress": -1.0, "at": loop.time()}  # progress -1: nothing sent yet

        async def report(progress: float, message: str) -> None:
            # Progress is for long work: nothing for a job that ends within the first interval (over HTTP its answer
            # then goes out as plain JSON, not an event stream), then one notification per interval at most and
            # always the end, so a client's progress bar closes.
            if ctx is None or progress <= last["progress"]:
                return
            due = loop.time() - last["at"] >= interval
            if not due and not (progress >= 1.0 and last["progress"] >= 0):
                return
            last.update(progress=progress, at=loop.time())
            await ctx.report_progress(round(progress * 100, 2), 100, message)

        return report

    async def wait(self, job: Job, wait_s: float | None, ctx: Context | None) -> Job:
        """Wait up to ``wait_s`` (bounded) for ``job`` to end, sending progress to ``ctx``; return it as it is then."""
        report = self.progress_reporter(ctx)

        async def on_change(current: Job) -> None:
            await report(current.progress, current.message)

        return await self.manager.wait(job.job_id, self.wait_seconds(wait_s), on_change=on_change)

    async def wait_all(self, jobs: list[Job], wait_s: float | None, ctx: Context | None) -> list[Job]:
        """Wait up to ``wait_s`` for all ``jobs`` together, sending their mean progress to ``ctx`` as one bar;
        return them as they are then (in order)."""
        report = self.progress_reporter(ctx)
        progress = {job.job_id: job.progress for job in jobs}

        async def on_change(current: Job) -> None:
            # An ended job counts whole even when it failed, so the bar closes when the last one ends.
            progress[current.job_id] = 1.0 if current.status in FINAL_STATES else current.progress
            done = sum(1 for job in jobs if job.status in FINAL_STATES)
            await report(sum(progress.values()) / len(progress), f"{done} of {len(jobs)} jobs ended")

        return list(await asyncio.gather(*(self.manager.wait(job.job_id, self.wait_seconds(wait_s),
                                                             on_change=on_change) for job in jobs)))

    def result(self, job: Job, inline: int = MAX_INLINE_IMAGES) -> ToolResult:
        """The tool answer for a job: a text line, then (when done) thumbnails and resource links."""
        meta = job.describe()
        if job.status == DONE:
            for entry, saved in zip(meta["files"], job.files):
                entry["uri"] = f"{RESULT_SCHEME}/{job.job_id}/{saved.filename}"
            summary = (f"job {job.job_id} done: {len(job.files)} file(s)"
                       + (" (served from the engine's cache)" if job.from_cache else ""))
            if job.seed is not None:
                summary += f", seed {job.seed}"
        elif job.status in FINAL_STATES:
            summary = f"job {job.job_id} {job.status}: {job.error or job.message}"
        else:
            summary = (f"job {job.job_id} is {job.status} ({job.progress:.0%}, {job.message}); "
                       "call job_status or get_result with this job_id later")
            if job.seed is not None:
                summary += f"; seed {job.seed}"
        if job.notes:
            summary += "\nnote: " + "\nnote: ".join(job.notes)
        content: list = [TextContent(type="text", text=summary)]
        if job.status == DONE:
            for saved in job.files[:inline]:
                thumb = thumbnail_png(saved.path)
                if thumb is not None:
                    content.append(ImageContent(type="image", data=base64.b64encode(thumb).decode(),
                                                mime_type="image/png"))
            for saved in job.files:
                content.append(ResourceLink(
                    type="resource_link", uri=f"{RESULT_SCHEME}/{job.job_id}/{saved.filename}", name=saved.filename,
                    mime_type=mimetypes.guess_type(saved.filename)[0] or "application/octet-stream",
                    size=saved.bytes, description=f"{saved.width}x{saved.height} sha256 {saved.sha256[:16]}"))
        return ToolResult(content=content, structured_content=meta)


def build_server(engine_urls: list[str] | None = None, *, results_dir: Path | None = None,
                 workflow_dirs: list[Path] | None = None, default_wait_s: float = 45.0,
                 run_timeout_s: float = 3600.0, auth: Any = None, project_roots: list[Path] | None = None,
                 progress_interval_s: float = PROGRESS_INTERVAL_S) -> FastMCP:
    """Return the FastMCP server. ``default_wait_s`` bounds how long a tool waits before answering with a job id
    (MCP clients commonly give up near 60 s); ``auth`` is a FastMCP auth provider (the HTTP bearer token);
    ``project_roots`` are the folders deploy_to_bevy may write under (none: deploying is refused);
    ``progress_interval_s`` is the least time between progress notifications (0: every change)."""
    engine_urls = engine_urls or default_engines()
    results_dir = Path(results_dir or Path(tempfile.gettempdir()) / "dgx-pixels-results")
    bridge = Bridge(engine_urls, results_dir, workflow_dirs or [BUNDLED_DIR], default_wait_s, run_timeout_s,
                    project_roots, progress_interval_s)

    @contextlib.asynccontextmanager
    async def lifespan(server: FastMCP):
        try:
            yield {"bridge": bridge}
        finally:
            await bridge.manager.close()

    mcp = FastMCP("dgx-pixels", lifespan=lifespan, auth=auth, instructions=(
        "Generate game-ready pixel art with DGX-Pixels workflows on a ComfyUI engine. list_workflows shows each "
        "workflow's parameters; generate runs one and returns thumbnails plus resource links, or a job_id to "
        "poll with job_status/get_result when it takes longer than wait_s. pixelize_image turns any image into "
        "pixel art without a model; upload_image puts an image where run_workflow's LoadImage nodes find it."))
    mcp.bridge = bridge  # for tests and the CLI
    mcp.add_middleware(ShortArgumentErrors(mcp))

    @mcp.tool(annotations=READ_ONLY)
    async def list_workflows() -> dict:
        """List the bundled workflows and their parameters (type, default, bounds, description)."""
        try:
            return {"workflows": [w.describe() for w in bridge.workflows().values()]}
        except ParameterError as exc:
            raise ToolError(f"a bundled workflow manifest is broken: {exc}") from None

    @mcp.tool(annotations=READ_ONLY)
    async def list_models(folder: ModelFolder = None) -> dict:
        """List the model folders, or the files of one folder (checkpoints, loras, vae, ...), of every engine.

        Returns the merged list ("folders" or "models"), "engines": each answering engine's own list, "where": the
        engines that hold each model, and "unanswered": each engine that did not answer (or lacks the folder) with
        why. Raises ToolError when no engine answered."""
        urls = bridge.manager.engine_urls

        async def ask(url: str) -> list[str]:
            client = await bridge.manager.client(url)
            return await client.models(folder)

        # Every engine at once: one slow or absent engine costs its own timeout, not the sum of all.
        answers = await asyncio.gather(*(ask(url) for url in urls), return_exceptions=True)
        lists: dict[str, list[str]] = {}
        unanswered: dict[str, str] = {}
        for url, answer in zip(urls, answers):
            if isinstance(answer, EngineClientError):
                unanswered[url] = str(answer)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                lists[url] = answer
        if not lists:
            raise ToolError("no engine answered: " + "; ".join(f"{url}: {why}" for url, why in unanswered.items()))
        where: dict[str, list[str]] = {}
        for url, names in lists.items():  # engines in their configured order, names in each engine's order
            for name in names:
                where.setdefault(name, []).append(url)
        key = "folders" if folder is None else "models"
        out: dict[str, Any] = {key: list(where), "engines": lists, "where": where, "unanswered": unanswered}
        if folder is not None:
            out["folder"] = folder
        return out

    @mcp.tool(annotations={"readOnlyHint": False, "destructiveHint": False, "openWorldHint": False},
              output_schema=JOB_RESULT_SCHEMA)
    async def generate(params: WorkflowParams = None, workflow: WorkflowName = "txt2img_basic",
                       wait_s: WaitS = None, ctx: Context | None = None) -> ToolResult:
        """Run a bundled workflow with parameters (see list_workflows) and return its images.

        A workflow with a seed left out (or null) draws with a random one, reported in the result. Waits up to
        wait_s seconds (default 45, at most 600); a longer job answers {job_id, status} to pick up with job_status
        or get_result.
        """
        job = await bridge.submit(bridge.workflow(workflow), params or {})
        return bridge.result(await bridge.wait(job, wait_s, ctx))

    @mcp.tool(annotations={"readOnlyHint": False, "destructiveHint": False, "openWorldHint": False},
              output_schema=BATCH_RESULT_SCHEMA)
    async def generate_batch(param_sets: ParamSets, workflow: WorkflowName = "txt2img_basic",
                             wait_s: WaitS = None, ctx: Context | None = None) -> ToolResult:
        """Queue one job per parameter set (at most 64), spread over the engines, and wait up to wait_s for all.

        Returns, per job, its id, seed (a set without seed gets a random one) and state; for finished jobs their
        files as resource links (dgx-pixels://results/<job_id>/<file>) and thumbnails (at most 4 in all). Progress
        is the mean over the jobs. All sets are checked before anything is queued: one invalid set queues nothing
        and the error names every bad set."""
        if not param_sets or len(param_sets) > 64:
            raise ToolError("param_sets must hold 1 to 64 parameter sets")
        chosen = bridge.workflow(workflow)
        url = await _engine(reserve=False)  # only checks the sets; each job is placed when it is queued
        prepared, problems = [], []
        for index, params in enumerate(param_sets):
            params, seed = bridge.seeded(chosen, params)
            try:
                prepared.append((seed, (await bridge.prepare(chosen, params, url=url))[1]))
            except ToolError as exc:
                problems.append(f"param_sets[{index}]: {exc}")
        if problems:
            raise ToolError("nothing was queued: " + "\n".join(problems))
        jobs: list[Job] = []
        for index, (seed, prompt) in enumerate(prepared):
            try:
                # Each job goes to the least-loaded engine at its turn, so a batch spreads over the engines.
                jobs.append(await bridge.queue(chosen.name, await _engine(), prompt, seed=seed))
            except ToolError as exc:
                cancelled = await _cancel_all(jobs)
                raise ToolError(f"param_sets[{index}] was refused, so the batch was withdrawn: {exc}"
                                + (f" (cancelled the {len(jobs)} job(s) queued before it: {', '.join(cancelled)})"
                                   if jobs else "")) from None

        finished = await bridge.wait_all(jobs, wait_s, ctx)
        return batch_result(finished)

    def batch_result(jobs: list[Job]) -> ToolResult:
        """The answer of generate_batch: a summary line, then each job's own answer (text, thumbnails while fewer
        than MAX_INLINE_IMAGES were sent, resource links); structured: {"jobs": [...], "counts": {state: n}}."""
        counts: dict[str, int] = {}
        for job in jobs:
            counts[job.status] = counts.get(job.status, 0) + 1
        summary = f"batch of {len(jobs)} job(s): " + ", ".join(f"{n} {state}" for state, n in counts.items())
        if any(job.status not in FINAL_STATES for job in jobs):
            summary += "; call get_result or job_status with the job_id of each unfinished one later"
        content: list = [TextContent(type="text", text=summary)]
        described = []
        budget = MAX_INLINE_IMAGES  # a batch of 64 must not send 64 images inline
        for job in jobs:
            one = bridge.result(job, inline=budget)
            budget -= sum(1 for block in one.content if isinstance(block, ImageContent))
            content += one.content
            described.append(one.structured_content)
        return ToolResult(content=content, structured_content={"jobs": described, "counts": counts})

    async def _engine(*, reserve: bool = True) -> str:
        """Return the engine for the next job (see JobManager.choose_engine); raises ToolError when none answers."""
        try:
            return await bridge.manager.choose_engine(reserve=reserve)
        except EngineClientError as exc:
            raise ToolError(str(exc)) from None

    async def _cancel_all(jobs: list[Job]) -> list[str]:
        """Cancel ``jobs``; return their ids (a job that cannot be cancelled is named as such)."""
        ids = []
        for job in jobs:
            try:
                await bridge.manager.cancel(job.job_id)
                ids.append(job.job_id)
            except (EngineClientError, JobNotFound) as exc:
                ids.append(f"{job.job_id} (not cancelled: {exc})")
        return ids

    @mcp.tool(annotations={"readOnlyHint": False, "destructiveHint": False, "openWorldHint": False},
              output_schema=JOB_RESULT_SCHEMA)
    async def generate_sprite(prompt: Prompt, size: SpriteSize = 64, palette: PaletteName = None,
                              colors: PaletteColours = None, seed: Seed = None, checkpoint: Checkpoint = None,
                              lora: Lora = None, steps: Steps = None, render_px: RenderPx = None,
                              negative: Negative = None, wait_s: WaitS = None,
                              ctx: Context | None = None) -> ToolResult:
        """Draw a pixel-art sprite from a text prompt: diffusion, then true-grid pixelization onto a palette.

        size: the sprite's side in pixels (1..512). palette: a built-in palette name (e.g. endesga-32, pico-8), or
        colors: the palette as '#rrggbb' strings. checkpoint: a file of the engine's models/checkpoints (see
        list_models; default: the workflow's, else the engine's first checkpoint); lora: a LoRA file or 'None'
        (default: the workflow's pixel LoRA when installed, else none); seed: left out, a random one (reported in
        the result); render_px: the diffusion size before pixelization (multiple of 8).
        Waits up to wait_s like generate; a longer job answers {job_id, status}.
        """
        if palette and colors:
            raise ToolError("give palette (a name) or colors (a list of '#rrggbb'), not both")
        workflow = sprite_workflow(bridge.workflow_dirs)
        values: dict[str, Any] = {"prompt": prompt, "width": size, "height": size}
        optional = {"palette": palette, "seed": seed, "steps": steps, "negative": negative,
                    "render_width": render_px, "render_height": render_px}
        for name, value in optional.items():
            if value is None:
                continue
            if name not in workflow.params:
                raise ToolError(f"the {workflow.name} workflow has no '{name}' setting")
            values[name] = value
        url = await _engine()
        with bridge.tool_errors(workflow.name):
            # The same choice as `dgx-pixels generate`: defaults adapt to the models the engine has.
            models = await choose_models(await bridge.manager.client(url), workflow, checkpoint, lora)
        values.update(models.values())
        job = await bridge.submit(workflow, values, palette_colours=colors, drop_previews=True, url=url,
                                  notes=models.notes)
        return bridge.result(await bridge.wait(job, wait_s, ctx))

    @mcp.tool(annotations={"readOnlyHint": False, "destructiveHint": False, "openWorldHint": False},
              output_schema=JOB_RESULT_SCHEMA)
    async def animate(frames: Frames, name: Annotated[str, Field(description="the sheet's name")] = "sprite",
                      fps: Annotated[float, Field(gt=0, le=120, description="frames per second")] = 10.0,
                      layout: SheetLayout = "grid",
                      columns: Annotated[int, Field(ge=0, le=256, description="grid columns; 0 = automatic")] = 0,
                      padding: Annotated[int, Field(ge=0, le=64, description="pixels between frames")] = 0,
                      pivot_x: Annotated[float, Field(ge=0, le=1, description="pivot, 0 = left edge")] = 0.5,
                      pivot_y: Annotated[float, Field(ge=0, le=1, description="pivot, 1 = bottom edge")] = 1.0,
                      ) -> ToolResult:
        """Pack frames into a sprite sheet (PNG + Aseprite JSON + Bevy .atlas.ron) with one looping animation.

        frames, in playback order, each one of: a result URI (dgx-pixels://results/<job_id>/<file>), a job id
        (all images of that job), or an uploaded PNG as base64 / data:image/png;base64 URL. layout: grid or pack.
        Returns the sheet as a finished job: pass its job_id to deploy_to_bevy.
        """
        from ..export.bevy import write_sheet_dir
        from ..ops.sheet import AnimationTag, SheetOptions, build_sheet, durations_from_fps

        if layout not in ("grid", "pack"):
            raise ToolError(f"layout {layout!r} must be 'grid' or 'pack'")
        if not re.fullmatch(r"[a-z0-9]+(?:[-_][a-z0-9]+)*", name or ""):
            raise ToolError(f"name {name!r} must be lowercase letters and digits, joined by - or _ (e.g. slime_idle)")
        loaded = bridge.frames_of(frames)
        try:
            rgba = [read_rgba(data, f"frame {label}") for label, data in loaded]
            options = SheetOptions(layout=layout, columns=columns, padding=padding)
            sheet = build_sheet(rgba, tags=[AnimationTag(name, 0, len(rgba) - 1)],
                                durations_ms=durations_from_fps(len(rgba), fps), pivot=(pivot_x, pivot_y),
                                options=options)
            job = bridge.manager.new_local_job("animate")
            written = write_sheet_dir(sheet, bridge.results_dir / job.job_id, name)
        except ValueError as exc:
            raise ToolError(f"cannot build the sheet: {exc}") from None
        bridge.manager.finish_local_job(job, written)
        result = bridge.result(job)
        width, height = sheet.size
        result.structured_content.update({"sheet": {"frames": len(sheet.frames), "textures": len(sheet.textures),
                                                    "width": width, "height": height, "layout": layout,
                                                    "animation": name, "fps": fps}})
        return result

    @mcp.tool(annotations={"readOnlyHint": False, "destructiveHint": True, "idempotentHint": True, "openWorldHint": False})
    async def deploy_to_bevy(sheet: SheetJob, project: ProjectPath, category: Category, name: AssetPart,
                             variant: AssetPart = "base", subdir: Subdir = "sprites", dry_run: DryRun = False,
                             aseprite: Annotated[bool, Field(description=(
                                 "also write <asset>.aseprite (for bevy_aseprite_ultra) in the same export"))] = False,
                             rgba: Annotated[bool, Field(description=(
                                 "RGBA atlas PNGs instead of palette PNGs"))] = False) -> dict:
        """Export a sheet made by animate into a Bevy project's assets/ (atomic writes, backups, manifest.json).

        sheet: the job_id animate returned, or the path of an .aseprite file under one of the --project-root
        folders (its frames, durations and tags become the sheet). project: the Bevy project folder; it must lie
        under one of the bridge's --project-root folders. dry_run: report what would be written and write nothing.
        """
        from ..export.aseprite import is_aseprite_path, read_aseprite_file
        from ..export.bevy import export_to_bevy

        try:
            target = confine(project, bridge.project_roots)
            if is_aseprite_path(sheet.strip()):
                loaded = read_aseprite_file(confine(sheet.strip(), bridge.project_roots)).to_sheet()
            else:
                loaded = load_sheet(bridge.results_dir / check_job_id(sheet.strip()))
            report = export_to_bevy(loaded, target, category=category, name=name, variant=variant, subdir=subdir,
                                    dry_run=dry_run, aseprite=aseprite, rgba=rgba)
        except PermissionError as exc:
            raise ToolError(f"refused: {exc}") from None
        except ValueError as exc:
            raise ToolError(f"cannot deploy: {exc}") from None
        return {"summary": report.summary(), "asset_name": report.asset_name, "target_dir": str(report.target_dir),
                "dry_run": report.dry_run, "written": report.written,
                "files": [{"path": str(path), "bytes": size} for path, size in report.files],
                "manifest": str(report.manifest_path) if report.manifest_path else None,
                "backup_dir": str(report.backup_dir) if report.backup_dir else None,
                "warnings": list(report.warnings)}

    @mcp.tool(annotations={"readOnlyHint": False, "destructiveHint": False, "openWorldHint": False},
              output_schema=JOB_RESULT_SCHEMA)
    async def compare(prompt: Prompt, loras: LoraList, strengths: Strengths = None, seed: Seed = None,
                      checkpoint: Annotated[str, Field(description="a file of models/checkpoints")] = (
                          "sd_xl_base_1.0.safetensors"),
                      size: SpriteSize = 64, render_px: Annotated[int, Field(ge=16, le=2048, multiple_of=8, description=(
                          "the diffusion size before pixelization"))] = 1024,
                      steps: Annotated[int, Field(ge=1, le=200, description="sampling steps")] = 20,
                      palette: Annotated[BuiltinPalette, Field(description="a built-in palette")] = "endesga-32",
                      scale: Annotated[int, Field(ge=1, le=32, description="whole-number zoom of each cell")] = 4,
                      wait_s: WaitS = None, ctx: Context | None = None) -> ToolResult:
        """Draw one prompt with one seed across up to 4 LoRAs (rows) × 3 model strengths (columns, default
        0, 0.6, 1.0) and return the labelled comparison grid (each cell pixel-exact, enlarged scale times).

        seed: left out, a random one (reported in the result). Waits up to wait_s like generate; a longer job
        answers {job_id, status}.
        """
        seed = random_seed() if seed is None else seed
        request = CompareRequest(prompt=prompt, loras=list(loras), strengths=list(strengths or [0.0, 0.6, 1.0]),
                                 seed=seed, checkpoint=checkpoint, size=size, render_px=render_px, steps=steps,
                                 palette=palette, scale=scale)
        try:
            request.check()
        except ValueError as exc:
            raise ToolError(f"invalid comparison: {exc}") from None
        job = await bridge.submit(Workflow("compare_loras", comparison_prompt(request)), {})
        job.seed = seed
        result = bridge.result(await bridge.wait(job, wait_s, ctx), inline=1)
        result.structured_content["grid"] = {"rows": [Path(lora).stem for lora in request.loras],
                                             "columns": request.strengths, "seed": seed}
        return result

    async def _job(job_id: str) -> Job:
        try:
            return await bridge.manager.get(check_job_id(job_id))
        except (ValueError, JobNotFound) as exc:
            raise ToolError(str(exc)) from None
        except EngineClientError as exc:
            raise ToolError(str(exc)) from None

    @mcp.tool(annotations=READ_ONLY, output_schema=JOB_RESULT_SCHEMA)
    async def job_status(job_id: JobId) -> dict:
        """Return a job's status (pending, running, done, failed, interrupted, lost) and progress 0..1."""
        return (await _job(job_id)).describe()

    @mcp.tool(annotations=READ_ONLY, output_schema=JOB_RESULT_SCHEMA)
    async def get_result(job_id: JobId, wait_s: Annotated[float, Field(ge=0, le=600, description=(
                             "seconds to wait for the job to finish (0: answer now)"))] = 0.0,
                         ctx: Context | None = None) -> ToolResult:
        """Return a job's images and files (waiting up to wait_s for it to finish)."""
        job = await _job(job_id)
        return bridge.result(await bridge.wait(job, wait_s, ctx))

    @mcp.tool(annotations={"readOnlyHint": False, "destructiveHint": True, "idempotentHint": True, "openWorldHint": False})
    async def cancel_job(job_id: JobId) -> dict:
        """Cancel a job: removed from the queue when pending, interrupted when running. Returns its final state."""
        await _job(job_id)
        try:
            return (await bridge.manager.cancel(job_id)).describe()
        except EngineClientError as exc:
            raise ToolError(str(exc)) from None

    @mcp.resource(RESULT_SCHEME + "/{job_id}/{filename}")
    async def result_file(job_id: str, filename: str) -> list[ResourceContent]:
        """A file a job wrote (full size)."""
        path = job_file(results_dir, check_job_id(job_id), filename)
        return [ResourceContent(path.read_bytes(),
                                mime_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream")]

    register_extra_tools(mcp, bridge)
    return mcp


def bearer_auth(token: str):
    """Return a FastMCP auth provider that accepts exactly ``Authorization: Bearer <token>``."""
    from fastmcp.server.auth.providers.jwt import StaticTokenVerifier

    return StaticTokenVerifier(tokens={token: {"client_id": "dgx-pixels-client", "scopes": []}})


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_host(text: str) -> tuple[str, int | None]:
    """Split ``NAME``, ``NAME:PORT``, an IPv6 address or ``[IPV6]:PORT`` into (lower-case name, port or None).

    Raises ValueError for an empty name, a name with URL characters or a port outside 1..65535."""
    text = text.strip().lower()
    if text.startswith("["):
        name, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise ValueError(f"host {text!r} is not NAME[:PORT] or [IPV6][:PORT]")
        port = rest[1:] if rest else None
    elif text.count(":") == 1:
        name, port = text.split(":")
    else:
        name, port = text, None  # a name, or an IPv6 address without brackets and so without a port
    if not name or any(char in name for char in "/\\@?#[] \t"):
        raise ValueError(f"host {text!r} is not NAME[:PORT] or [IPV6][:PORT]")
    if port is None:
        return name, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"host {text!r}: the port must be 1 to 65535")
    return name, int(port)


def parse_origin(text: str) -> tuple[str, str, int]:
    """Return (scheme, lower-case host, port) of an origin such as ``http://localhost:8765``.

    Raises ValueError for anything but an http(s) origin without a path."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"origin {text!r} is not http(s)://HOST[:PORT]") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/") or parts.query \
            or parts.fragment or parts.username is not None:
        raise ValueError(f"origin {text!r} is not http(s)://HOST[:PORT]")
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


class HostOriginGuard:
    """ASGI middleware against DNS rebinding (MCP transport security): a request passes when its ``Host`` names
    this server (a loopback name or the bound address with the server's port, or a configured host) and its
    ``Origin``, if any, is a configured origin or lies on such a host. Anything else gets 403 and one line."""

    def __init__(self, app, *, port: int, allowed_hosts: list[tuple[str, int | None]],
                 allowed_origins: list[tuple[str, str, int]]):
        self.app = app
        self.port = port
        self.hosts = [(name, port) for name in LOOPBACK_NAMES] + list(allowed_hosts)
        self.origins = set(allowed_origins)

    def host_allowed(self, name: str, port: int, server: tuple | None) -> bool:
        if any(name == allowed and port == (allowed_port or port) for allowed, allowed_port in self.hosts):
            return True
        # The address the client connected to, as an IP (e.g. the LAN address of a 0.0.0.0 bind): a rebound DNS
        # name never arrives as an IP literal.
        return bool(server) and name == str(server[0]).lower() and port == self.port

    def refusal(self, scope) -> str | None:
        """Why this request is refused, or None."""
        from starlette.datastructures import Headers

        headers = Headers(scope=scope)
        try:
            name, port = parse_host(headers.get("host", ""))
        except ValueError:
            return "Host header not allowed"
        port = port or DEFAULT_PORTS.get(scope.get("scheme", "http"), 80)
        if not self.host_allowed(name, port, scope.get("server")):
            return "Host header not allowed (start the server with --allowed-host NAME[:PORT])"
        origin = headers.get("origin")
        if origin is None:
            return None
        try:
            scheme, origin_name, origin_port = parse_origin(origin)
        except ValueError:
            return "Origin header not allowed"
        if (scheme, origin_name, origin_port) in self.origins \
                or self.host_allowed(origin_name, origin_port, scope.get("server")):
            return None
        return "Origin header not allowed (start the server with --allowed-origin URL)"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            reason = self.refusal(scope)
            if reason is not None:
                from starlette.responses import PlainTextResponse

                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                else:
                    await PlainTextResponse(f"Forbidden: {reason}\n", status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def host_guard(host: str, port: int, allowed_hosts: list[str] | None, allowed_origins: list[str] | None):
    """Return the Starlette Middleware entry of the HostOriginGuard for a server bound to ``host``:``port``.

    Besides the loopback names, the bound name itself is allowed, and for an all-interfaces bind (0.0.0.0, ::)
    this machine's host name. Raises ValueError for a malformed host or origin."""
    from starlette.middleware import Middleware

    hosts = [parse_host(entry) for entry in allowed_hosts or []]
    origins = [parse_origin(entry) for entry in allowed_origins or []]
    bound = host.strip("[]").lower()
    try:
        everywhere = ipaddress.ip_address(bound).is_unspecified
    except ValueError:
        everywhere = False
    if everywhere:
        names = {socket.gethostname().lower()}
        names |= {name.split(".")[0] for name in names}
        hosts += [(name, port) for name in sorted(names) if name]
    elif bound not in LOOPBACK_NAMES:
        hosts.append((bound, port))
    return Middleware(HostOriginGuard, port=port, allowed_hosts=hosts, allowed_origins=origins)


def serve(engine_urls: list[str], *, transport: str = "stdio", host: str = "127.0.0.1", port: int = 8765,
          token: str | None = None, results_dir: Path | None = None, default_wait_s: float = 45.0,
          project_roots: list[Path] | None = None, workflow_dirs: list[Path] | None = None,
          progress_interval_s: float = PROGRESS_INTERVAL_S, allowed_hosts: list[str] | None = None,
          allowed_origins: list[str] | None = None) -> None:
    """Run the server until interrupted.

    Over HTTP, requests whose Host or Origin header names neither this server nor ``allowed_hosts`` /
    ``allowed_origins`` get 403 (DNS rebinding). Bound beyond loopback without a token, the server makes one up
    and prints it once to stderr. Raises ValueError for a malformed allowed host or origin."""
    middleware = None
    if transport == "http":
        middleware = [host_guard(host, port, allowed_hosts, allowed_origins)]
        if not is_loopback(host.strip("[]")) and not token:
            token = secrets.token_urlsafe(32)
            sys.stderr.write(f"dgx-pixels mcp: {host} is reachable from the network and no --token was given; "
                             f"clients must send this generated one:\nAuthorization: Bearer {token}\n")
            sys.stderr.flush()
    auth = bearer_auth(token) if (token and transport == "http") else None
    mcp = build_server(engine_urls, results_dir=results_dir, default_wait_s=default_wait_s, auth=auth,
                       project_roots=project_roots, workflow_dirs=[*(workflow_dirs or []), BUNDLED_DIR],
                       progress_interval_s=progress_interval_s)
    if transport == "stdio":
        mcp.run(transport="stdio", show_banner=False)
    else:
        # No access log: a line per request costs the bridge more CPU than the request itself on a small machine.
        mcp.run(transport="http", host=host, port=port, show_banner=False, middleware=middleware,
                uvicorn_config={"access_log": False})
