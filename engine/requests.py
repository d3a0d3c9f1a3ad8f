"""What a generation or a comparison asks of the engine, shared by the CLI and the MCP bridge: the requests, the
file and asset names they produce, and the prompts they become (filled through the bundled manifests and checked by
the engine)."""

from __future__ import annotations

import dataclasses
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from .client import EngineClient
from .params import ParameterError, Workflow, closest, prepare
from .sprites import SPRITE_PIXELIZE

CATEGORIES = ("character", "enemy", "npc", "item", "tile", "ui", "effect", "projectile", "environment",
              "background")  # the seed's list, as ops.bevy_export.CATEGORIES (kept torch-free here)


TINY_CHECKPOINT = "dgx-pixels-tiny-sd15.safetensors"


MAX_SLUG_CHARS = 40


MAX_COMPARE_LORAS, MAX_COMPARE_STRENGTHS = 4, 3


COMPARE_WORKFLOW = "compare_loras"


PALETTE_SUFFIXES = (".hex", ".gpl", ".pal", ".png", ".txt")


SEED_RANGE = 2**32
"""A missing seed is drawn from 0..SEED_RANGE-1: every sampler and every manifest accepts that range."""


def random_seed() -> int:
    """Return a fresh random seed in 0..2**32-1 (what a seed left out means)."""
    return secrets.randbelow(SEED_RANGE)


def slugify(prompt: str, max_chars: int = MAX_SLUG_CHARS) -> str:
    """Return the asset name of a prompt: lowercase words of letters/digits joined by '-', cut at a word boundary
    to ``max_chars``. Raises ValueError when the prompt holds no letter or digit."""
    words = re.findall(r"[a-z0-9]+", prompt.lower())
    if not words:
        raise ValueError(f"prompt {prompt!r} has no letters or digits to name the sprite by; pass --name NAME")
    slug = words[0][:max_chars]
    for word in words[1:]:
        if len(slug) + 1 + len(word) > max_chars:
            break
        slug += "-" + word
    return slug


def sprite_file_name(category: str, name: str, variant: str, frame: int) -> str:
    """Return ``{category}_{name}_{variant}_{frame:04}.png``; raises ValueError for an unknown category or a
    name/variant that is not lowercase words joined by '-'."""
    if category not in CATEGORIES:
        raise ValueError(f"category {category!r} is not one of {', '.join(CATEGORIES)}")
    for label, part in (("name", name), ("variant", variant)):
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", part):
            raise ValueError(f"{label} {part!r} must be lowercase letters/digits with '-' between words")
    if not 0 <= frame <= 9999:
        raise ValueError(f"frame {frame} is outside 0..9999")
    return f"{category}_{name}_{variant}_{frame:04d}.png"


def variant_names(base: str, count: int) -> list[str]:
    """Return the variant of each of ``count`` sprites: ``base`` alone, else ``base-1`` .. ``base-N``."""
    return [base] if count == 1 else [f"{base}-{n}" for n in range(1, count + 1)]


def parse_lora(spec: str) -> tuple[str, float]:
    """Return (file, strength) of ``FILE[:STRENGTH]`` (strength 1.0 when left out); raises ValueError."""
    name, sep, strength = spec.rpartition(":")
    if not sep or not re.fullmatch(r"-?\d+(\.\d*)?|-?\.\d+", strength.strip()):
        name, strength = spec, "1.0"
    if not name.strip():
        raise ValueError(f"--lora {spec!r} must be FILE or FILE:STRENGTH, e.g. pixel.safetensors:0.8")
    return name.strip(), float(strength)


def parse_strengths(text: str) -> list[float]:
    """Return the strengths of ``0,0.6,1.0``; raises ValueError for non-numbers, none, or more than 3."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--strengths {text!r} must be comma-separated numbers, e.g. 0,0.6,1.0") from None
    if not 1 <= len(values) <= MAX_COMPARE_STRENGTHS:
        raise ValueError(f"--strengths takes 1 to {MAX_COMPARE_STRENGTHS} values, got {len(values)}")
    return values


def strength_label(value: float) -> str:
    """Return a short label for a strength: 0, 0.6, 1, -0.25."""
    return f"{value:g}"


def missing_checkpoint_message(checkpoint: str, available: list[str]) -> str:
    """Return what to do when ``checkpoint`` is not in the engine's models/checkpoints."""
    return (f"the checkpoint {checkpoint} is not installed: the engine's models/checkpoints holds "
            f"{', '.join(available) or 'nothing'}. Put {checkpoint} (or any checkpoint) into "
            "<engine>/models/checkpoints/ (`dgx-pixels engine path` prints <engine>; `dgx-pixels doctor` checks it) "
            "or pass --checkpoint FILE (MCP: checkpoint) naming an installed one. "
            f"To try the pipeline without a real model, build the tiny test checkpoint with "
            f"`python -m dgx_pixels.lora.tiny_checkpoint --engine \"$(dgx-pixels engine path)\" --out "
            f"\"$(dgx-pixels engine path)/models/checkpoints/{TINY_CHECKPOINT}\"` and run with "
            f"--checkpoint {TINY_CHECKPOINT} --render-px 64 --steps 2 (it draws noise, not art)")


def missing_lora_message(lora: str, available: list[str]) -> str:
    """Return what to do when the LoRA ``lora`` is not in the engine's models/loras."""
    near = closest(lora, available)
    return (f"the LoRA {lora} is not installed" + (f" (did you mean {near[0]!r}?)" if near else "")
            + f": the engine's models/loras holds {', '.join(available) or 'nothing'}. Put {lora} into "
            "<engine>/models/loras/ (`dgx-pixels engine path` prints <engine>), name an installed one, or leave "
            "the LoRA out ('None') to draw with the checkpoint alone")


def is_no_lora(lora: str | None) -> bool:
    """True when ``lora`` asks for no LoRA (``None`` / ``'none'``, any case)."""
    return lora is not None and lora.strip().lower() == "none"


@dataclass
class ModelChoice:
    """The checkpoint and LoRA a sprite job uses, and ``notes`` saying where a default was replaced."""

    checkpoint: str
    lora: str | None = None  # a file, "None" (drawn without one), or None when the workflow has no LoRA slot
    lora_strength: float | None = None
    notes: list[str] = field(default_factory=list)

    def values(self) -> dict:
        """Return the manifest values (checkpoint, lora, lora_strength) of this choice."""
        values: dict = {"checkpoint": self.checkpoint}
        if self.lora is not None:
            values["lora"] = self.lora
        if self.lora_strength is not None:
            values["lora_strength"] = self.lora_strength
        return values


async def choose_models(client: EngineClient, workflow: Workflow, checkpoint: str | None = None,
                        lora: str | None = None) -> ModelChoice:
    """Return the checkpoint and LoRA of a sprite job on the engine behind ``client``.

    Defaults adapt to what is installed (a new engine holds a checkpoint, rarely the manifest's SDXL one and its
    pixel LoRA): a missing default checkpoint becomes the engine's first one and a missing default LoRA becomes no
    LoRA, each with a note. Raises ParameterError when a *named* checkpoint or LoRA is missing, or when the engine
    has no checkpoint at all, listing what is installed and where files go."""
    available = await client.models("checkpoints")
    notes: list[str] = []
    default = workflow.params["checkpoint"].default if "checkpoint" in workflow.params else None
    wanted = checkpoint or default
    if wanted in available:
        chosen = wanted
    elif checkpoint or not available:
        raise ParameterError([missing_checkpoint_message(wanted or "sd_xl_base_1.0.safetensors", available)])
    else:
        chosen = available[0]
        notes.append(f"the default checkpoint {default} is not installed; used {chosen}, the first of the "
                     f"engine's checkpoints ({', '.join(available)})")
    choice = ModelChoice(chosen, notes=notes)
    if "lora" not in workflow.params:
        if lora and not is_no_lora(lora):
            raise ParameterError([f"the {workflow.name} workflow has no LoRA slot; leave lora out"])
        return choice
    loras = await client.models("loras")
    if is_no_lora(lora):
        choice.lora = "None"
    elif lora:
        name, strength = parse_lora(lora)
        if name not in loras:
            raise ParameterError([missing_lora_message(name, loras)])
        choice.lora, choice.lora_strength = name, strength
    elif workflow.params["lora"].default in loras or is_no_lora(workflow.params["lora"].default):
        choice.lora = workflow.params["lora"].default
    else:
        choice.lora = "None"  # the manifest's pixel LoRA is optional: without it, plain checkpoint output
        notes.append(f"the default LoRA {workflow.params['lora'].default} is not installed; drawn without a LoRA")
    return choice


@dataclass
class GenerateRequest:
    """Everything ``generate`` needs; defaults are those of the bundled text-to-sprite manifest."""

    category: str
    prompt: str
    name: str | None = None
    variant: str = "base"
    size: int = 64
    palette: str | None = None
    colors: int | None = None
    lora: str | None = None
    frames: int = 1
    seed: int = 42
    count: int = 1
    checkpoint: str | None = None
    steps: int | None = None
    render_px: int | None = None
    negative: str | None = None
    fps: float = 8.0
    style_prefix: str = "pixel art, {category} sprite, "

    def check(self) -> None:
        """Raise ValueError naming the first bad option."""
        if self.category not in CATEGORIES:
            raise ValueError(f"category {self.category!r} is not one of {', '.join(CATEGORIES)}")
        if not 1 <= self.frames <= 64:
            raise ValueError(f"--frames {self.frames} must be 1..64")
        if not 1 <= self.count <= 64:
            raise ValueError(f"--count {self.count} must be 1..64")
        if self.palette and self.colors is not None:
            raise ValueError("give --palette (colours from a palette) or --colors K (fit K colours), not both")
        if self.colors is not None and not 1 <= self.colors <= 256:
            raise ValueError(f"--colors {self.colors} must be 1..256")
        sprite_file_name(self.category, self.asset_name_part, self.variant, 0)

    @property
    def asset_name_part(self) -> str:
        return self.name or slugify(self.prompt)


@dataclass
class GeneratedSprite:
    """One variant: its asset name, frame files and, once built, its sheet files."""

    asset: str
    variant: str
    seed: int
    frames: list[Path] = field(default_factory=list)
    sheet: list[Path] = field(default_factory=list)
    from_cache: bool = False


async def _palette_values(client: EngineClient, palette: str) -> dict:
    path = Path(palette).expanduser()
    if path.suffix.lower() in PALETTE_SUFFIXES or path.exists():
        if not path.is_file():
            raise ParameterError([f"--palette {palette}: no such file (give a built-in name like endesga-32, or "
                                  "a .hex/.gpl/.pal/.png palette file)"])
        stored = await client.upload_image(path.read_bytes(), path.name, subfolder="palettes", overwrite=True,
                                           content_type="application/octet-stream")
        return {"palette": "file", "palette_file": stored}
    return {"palette": palette}


async def sprite_prompt(client: EngineClient, workflow: Workflow, request: GenerateRequest, seed: int,
                        prefix: str) -> dict:
    """Return the text-to-sprite prompt for one variant (see ``build_sprite_prompt``); raises ParameterError."""
    return (await build_sprite_prompt(client, workflow, request, seed, prefix))[0]


async def build_sprite_prompt(client: EngineClient, workflow: Workflow, request: GenerateRequest, seed: int,
                              prefix: str) -> tuple[dict, ModelChoice]:
    """Return the text-to-sprite prompt for one variant, filled through the manifest and checked by the engine,
    and the models it uses (with notes on replaced defaults, for the caller to show).

    Raises ParameterError listing every problem (a missing checkpoint or LoRA with what to do about it)."""
    values: dict = {"prompt": request.style_prefix.format(category=request.category) + request.prompt,
                    "width": request.size, "height": request.size, "seed": seed, "filename_prefix": prefix}
    models = await choose_models(client, workflow, request.checkpoint, request.lora)
    values.update(models.values())
    optional = {"steps": request.steps, "negative": request.negative, "render_width": request.render_px,
                "render_height": request.render_px}
    values.update({key: value for key, value in optional.items() if value is not None})
    if request.palette:
        values.update(await _palette_values(client, request.palette))
    prompt = dict(workflow.prompt)
    latent, pixelize = workflow.params["render_width"].node, workflow.params["width"].node
    prompt[latent] = {**prompt[latent], "inputs": {**prompt[latent]["inputs"], "batch_size": request.frames}}
    if request.colors is not None:
        inputs = {k: v for k, v in prompt[pixelize]["inputs"].items() if k != "palette"}
        prompt[pixelize] = {**prompt[pixelize], "inputs": {**inputs, "colors": request.colors}}
    return await prepare(client, dataclasses.replace(workflow, prompt=prompt), values), models


@dataclass
class CompareRequest:
    """One prompt and seed across LoRAs (rows) × strengths (columns)."""

    prompt: str
    loras: list[str]
    strengths: list[float] = field(default_factory=lambda: [0.0, 0.6, 1.0])
    seed: int = 42
    checkpoint: str = "sd_xl_base_1.0.safetensors"
    negative: str = "blurry, smooth shading, gradient, photo, jpeg artifacts, text, watermark"
    size: int = 64
    render_px: int = 1024
    steps: int = 20
    cfg: float = 6.0
    palette: str = "endesga-32"
    scale: int = 4

    def check(self) -> None:
        """Raise ValueError naming the first bad option."""
        if not 1 <= len(self.loras) <= MAX_COMPARE_LORAS:
            raise ValueError(f"compare takes 1 to {MAX_COMPARE_LORAS} LoRAs, got {len(self.loras)}")
        if not 1 <= len(self.strengths) <= MAX_COMPARE_STRENGTHS:
            raise ValueError(f"compare takes 1 to {MAX_COMPARE_STRENGTHS} strengths, got {len(self.strengths)}")
        if self.render_px % 8 or not 16 <= self.render_px <= 2048:
            raise ValueError(f"render size {self.render_px} must be a multiple of 8 in 16..2048")


def comparison_prompt(request: CompareRequest) -> dict:
    """Return the API prompt of a comparison: shared checkpoint, text and latent; per cell a LoRA Stack (model
    strength only, so the text encoding is shared), KSampler, VAE decode and Pixelize; then CompareGrid and Save.

    Node ids: 1-5 shared, cells from 6 in steps of 4 (row-major), then the grid and the SaveImage."""
    prompt: dict = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": request.checkpoint}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": request.prompt, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": request.negative, "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage",
              "inputs": {"width": request.render_px, "height": request.render_px, "batch_size": 1}},
        "5": {"class_type": "DGXPixels.PaletteLoad", "inputs": {"name": request.palette, "file": ""}},
    }
    cells = []
    for lora in request.loras:
        for strength in request.strengths:
            base = 6 + 4 * len(cells)
            stack, sampler, decode, pixel = (str(base + k) for k in range(4))
            slots = {}
            for slot in range(1, 5):
                slots.update({f"lora_{slot}": lora if slot == 1 else "None",
                              f"strength_model_{slot}": strength if slot == 1 else 1.0,
                              f"strength_clip_{slot}": 0.0 if slot == 1 else 1.0})
            prompt[stack] = {"class_type": "DGXPixels.LoraStack",
                             "inputs": {"model": ["1", 0], "clip": ["1", 1], "unloaded_keys": "warn", **slots}}
            prompt[sampler] = {"class_type": "KSampler", "inputs": {
                "model": [stack, 0], "seed": request.seed, "steps": request.steps, "cfg": request.cfg,
                "sampler_name": "euler_ancestral", "scheduler": "normal", "positive": ["2", 0],
                "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}}
            prompt[decode] = {"class_type": "VAEDecode", "inputs": {"samples": [sampler, 0], "vae": ["1", 2]}}
            prompt[pixel] = {"class_type": "DGXPixels.Pixelize", "inputs": {
                **SPRITE_PIXELIZE, "image": [decode, 0], "width": request.size, "height": request.size,
                "palette": ["5", 0]}}
            cells.append(pixel)
    grid, save = str(6 + 4 * len(cells)), str(7 + 4 * len(cells))
    extra = {f"image_{n}": [cell, 0] for n, cell in enumerate(cells[1:], start=2)}
    prompt[grid] = {"class_type": "DGXPixels.CompareGrid", "inputs": {
        "images": [cells[0], 0], "row_labels": "\n".join(Path(lora).stem for lora in request.loras),
        "column_labels": ", ".join(strength_label(s) for s in request.strengths), "columns": len(request.strengths),
        "scale": request.scale, "gap_px": 4, "label_scale": 1, **extra}}
    prompt[save] = {"class_type": "SaveImage", "inputs": {"images": [grid, 0], "filename_prefix": "dgx-pixels/compare"}}
    return prompt


async def checked_comparison_prompt(client: EngineClient, request: CompareRequest) -> dict:
    """Return the comparison prompt checked by the engine (models, LoRAs, bounds); raises ParameterError."""
    try:
        request.check()
    except ValueError as exc:
        raise ParameterError([str(exc)]) from None
    available = await client.models("checkpoints")
    if request.checkpoint not in available:
        raise ParameterError([missing_checkpoint_message(request.checkpoint, available)])
    return await prepare(client, Workflow(COMPARE_WORKFLOW, comparison_prompt(request)), {})


async def run_comparison(client: EngineClient, request: CompareRequest, on_progress=None) -> bytes:
    """Run the comparison and return the grid PNG bytes; raises ParameterError and the client's errors."""
    prompt = await checked_comparison_prompt(client, request)
    result = await client.run(prompt, timeout_s=3600.0, on_progress=on_progress)
    save = max(prompt, key=int)
    files = [f for f in result.files() if f.node_id == save]
    if len(files) != 1:
        raise ParameterError([f"the comparison returned {len(files)} grid image(s) instead of one"])
    return await client.download(files[0])

