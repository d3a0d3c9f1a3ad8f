"""The arguments the bridge's tools share, each with the description and bounds an agent reads in the tool schema
(so it never has to guess a name, a range or a choice)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..engine.requests import CATEGORIES
from .pixel_tools import PaletteName as BuiltinPalette

Category = Annotated[Literal[CATEGORIES], Field(description=(  # type: ignore[valid-type]
    "what the sprite is: the first part of its asset name (the export's list, kept torch-free in engine.requests)"))]

JobId = Annotated[str, Field(description="a job id a generation tool returned (a UUID)")]
WaitS = Annotated[float | None, Field(ge=0, le=600, description=(
    "seconds to wait for the job (default 45, at most 600); a longer job answers {job_id, status} to pick up "
    "with job_status or get_result"))]
Seed = Annotated[int | None, Field(ge=0, le=2**64 - 1, description=(
    "the diffusion seed; left out or null, a random one (reported in the result)"))]
WorkflowName = Annotated[str, Field(description="a bundled workflow name, as list_workflows lists them")]
WorkflowParams = Annotated[dict[str, Any] | None, Field(description=(
    "values of the workflow's parameters by name (list_workflows gives each name, type, default and bounds)"))]
ParamSets = Annotated[list[dict[str, Any]], Field(min_length=1, max_length=64, description=(
    "one parameter dict per job (see list_workflows), at most 64; all are checked before any is queued"))]
ModelFolder = Annotated[str | None, Field(description=(
    "a model folder (checkpoints, loras, vae, ...); left out, the list of folders"))]
Prompt = Annotated[str, Field(min_length=1, description="what to draw, e.g. 'a knight with a blue cape'")]
SpriteSize = Annotated[int, Field(ge=1, le=512, description="the sprite's side in pixels")]
PaletteName = Annotated[BuiltinPalette | None, Field(description="a built-in palette; or give colors")]
PaletteColours = Annotated[list[str] | None, Field(max_length=256, description=(
    "the palette as '#rrggbb' strings (1 to 256); or give palette"))]
Checkpoint = Annotated[str | None, Field(description=(
    "a file of the engine's models/checkpoints (see list_models); left out, the workflow's, else the engine's "
    "first checkpoint"))]
Lora = Annotated[str | None, Field(description=(
    "a file of the engine's models/loras, or 'None' for none; left out, the workflow's pixel LoRA when installed"))]
Steps = Annotated[int | None, Field(ge=1, le=200, description="sampling steps; left out, the workflow's")]
RenderPx = Annotated[int | None, Field(ge=16, le=2048, multiple_of=8, description=(
    "the diffusion size before pixelization, a multiple of 8; left out, the workflow's"))]
Negative = Annotated[str | None, Field(description="what to avoid; left out, the workflow's negative prompt")]
Frames = Annotated[list[str], Field(min_length=1, max_length=256, description=(
    "the frames in playback order, each a result URI (dgx-pixels://results/<job_id>/<file>), a job id (all its "
    "images) or a PNG as base64 / data:image/png;base64 URL"))]
SheetLayout = Annotated[Literal["grid", "pack"], Field(description=(
    "grid: equal cells (Bevy's TextureAtlasLayout::from_grid); pack: tightly packed rectangles"))]
SheetJob = Annotated[str, Field(description=(
    "the job_id animate returned for the sheet, or an .aseprite file under one of the --project-root folders"))]
ProjectPath = Annotated[str, Field(description=(
    "the Bevy project folder (the one holding assets/); it must lie under one of the bridge's --project-root "
    "folders; a relative path is taken under the first"))]
AssetPart = Annotated[str, Field(description="lowercase letters, digits and '-' (part of the asset name)")]
Subdir = Annotated[str, Field(description="the folder under assets/ (relative, no '..')")]
DryRun = Annotated[bool, Field(description="only report what would be written; write nothing")]
LoraList = Annotated[list[str], Field(min_length=1, max_length=4, description=(
    "1 to 4 LoRA files of models/loras (rows of the grid); 'None' for a row without one"))]
Strengths = Annotated[list[float] | None, Field(max_length=3, description=(
    "up to 3 model strengths (columns); left out, 0, 0.6 and 1.0"))]


class ResultFile(BaseModel):
    """One file a job wrote."""

    model_config = ConfigDict(extra="allow")
    filename: str
    bytes: int
    sha256: str
    width: int | None = None
    height: int | None = None
    uri: str | None = Field(None, description="dgx-pixels://results/<job_id>/<file>: read it with resources/read")


class JobResult(BaseModel):
    """What a job tool answers besides its text and images (a tool may add its own keys: sheet, grid, ...)."""

    model_config = ConfigDict(extra="allow")
    job_id: str
    status: Literal["pending", "running", "done", "failed", "interrupted", "lost"]
    progress: float = Field(description="0..1")
    message: str = ""
    engine: str | None = None
    workflow: str | None = None
    error: str | None = None
    seed: int | None = Field(None, description="the seed it was drawn with (random when none was given)")
    notes: list[str] = Field(default_factory=list, description="defaults the bridge replaced, e.g. a missing model")
    files: list[ResultFile] = Field(default_factory=list)
    from_cache: bool = False


class BatchResult(BaseModel):
    """What generate_batch answers: every job, and how many are in each state."""

    model_config = ConfigDict(extra="allow")
    jobs: list[JobResult]
    counts: dict[str, int]


JOB_RESULT_SCHEMA = JobResult.model_json_schema()
BATCH_RESULT_SCHEMA = BatchResult.model_json_schema()
