"""``dgx-pixels generate`` and ``dgx-pixels compare``: a sprite from one shell line, and LoRAs side by side.

generate fills the bundled text-to-sprite workflow through its manifest, runs it on the engine (progress on
stderr) and writes ``{category}_{name}_{variant}_{frame:04}.png`` plus a sheet per variant (``--bevy`` also
exports that sheet into a Bevy project). compare runs one prompt and seed across LoRAs × strengths and writes the
labelled grid made by ``DGXPixels.CompareGrid``. Exit codes are those of ``dgx-pixels submit``.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from .bridge_cli import EXIT_DONE, EXIT_INVALID, ProgressBar, _add_engine_option, _engines, _err, _run_mapped, _say
from .client import EngineClient, PromptResult, least_loaded
from .images import read_rgba
from .params import BUNDLED_DIR, ParameterError, Workflow, prepare
from .sprites import SPRITE_PIXELIZE, sprite_workflow

CATEGORIES = ("character", "enemy", "npc", "item", "tile", "ui", "effect", "projectile", "environment",
              "background")  # the seed's list, as ops.bevy_export.CATEGORIES (kept torch-free here)
TINY_CHECKPOINT = "dgx-pixels-tiny-sd15.safetensors"
MAX_SLUG_CHARS = 40
MAX_COMPARE_LORAS, MAX_COMPARE_STRENGTHS = 4, 3
COMPARE_WORKFLOW = "compare_loras"
PALETTE_SUFFIXES = (".hex", ".gpl", ".pal", ".png", ".txt")


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
            f"{', '.join(available) or 'nothing'}. Put {checkpoint} into <engine>/models/checkpoints/ "
            "(`dgx-pixels engine path` prints <engine>; `dgx-pixels doctor` checks it) or pass --checkpoint FILE. "
            f"To try the pipeline without a real model, build the tiny test checkpoint with "
            f"`python -m dgx_pixels.lora.tiny_checkpoint --engine \"$(dgx-pixels engine path)\" --out "
            f"\"$(dgx-pixels engine path)/models/checkpoints/{TINY_CHECKPOINT}\"` and run with "
            f"--checkpoint {TINY_CHECKPOINT} --render-px 64 --steps 2 (it draws noise, not art)")


# generate ---------------------------------------------------------------------------------------------------


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
    """Return the text-to-sprite prompt for one variant, filled through the manifest and checked by the engine.

    Raises ParameterError listing every problem (a missing checkpoint with what to do about it)."""
    values: dict = {"prompt": request.style_prefix.format(category=request.category) + request.prompt,
                    "width": request.size, "height": request.size, "seed": seed, "filename_prefix": prefix}
    checkpoint = request.checkpoint or workflow.params["checkpoint"].default
    available = await client.models("checkpoints")
    if checkpoint not in available:
        raise ParameterError([missing_checkpoint_message(checkpoint, available)])
    values["checkpoint"] = checkpoint
    if request.lora:
        values["lora"], values["lora_strength"] = parse_lora(request.lora)
    elif workflow.params["lora"].default not in await client.models("loras"):
        values["lora"] = "None"  # the manifest's pixel LoRA is optional: without it, plain checkpoint output
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
    return await prepare(client, dataclasses.replace(workflow, prompt=prompt), values)


def build_variant_sheet(frame_paths: list[Path], tag: str, fps: float):
    """Return a grid SpriteSheet of the frames (untrimmed, one looping animation ``tag``)."""
    from ..ops.sheet import AnimationTag, SheetOptions, build_sheet, durations_from_fps

    frames = [read_rgba(path, f"frame {path}") for path in frame_paths]
    return build_sheet(frames, tags=[AnimationTag(tag, 0, len(frames) - 1)],
                       durations_ms=durations_from_fps(len(frames), fps),
                       options=SheetOptions(layout="grid", trim=False, merge_duplicates=False))


async def generate_sprites(client: EngineClient, request: GenerateRequest, out_dir: Path,
                           on_progress=None) -> list[GeneratedSprite]:
    """Run one job per variant (seeds ``seed``, ``seed+1``...), write the frames and a sheet per variant into
    ``out_dir``; return what was written. Raises ParameterError and the engine client's errors."""
    from ..ops.bevy_export import write_sheet_dir

    request.check()
    workflow = sprite_workflow([BUNDLED_DIR])
    name = request.asset_name_part
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for index, variant in enumerate(variant_names(request.variant, request.count)):
        seed = request.seed + index
        asset = f"{request.category}_{name}_{variant}"
        prompt = await sprite_prompt(client, workflow, request, seed, f"dgx-pixels/generate/{asset}")
        result: PromptResult = await client.run(prompt, timeout_s=3600.0, on_progress=on_progress)
        save_node = workflow.params["filename_prefix"].node
        files = [f for f in result.files() if f.node_id == save_node]
        if len(files) != request.frames:
            raise ParameterError([f"the workflow returned {len(files)} image(s) for {request.frames} frame(s)"])
        sprite = GeneratedSprite(asset, variant, seed, from_cache=result.from_cache)
        for frame, file in enumerate(files):
            target = out_dir / sprite_file_name(request.category, name, variant, frame)
            target.write_bytes(await client.download(file))
            sprite.frames.append(target)
        sprite.sheet = write_sheet_dir(build_variant_sheet(sprite.frames, "idle", request.fps), out_dir, asset)
        made.append(sprite)
    return made


def export_sprites(sprites: list[GeneratedSprite], project: Path, category: str, name: str, fps: float) -> list:
    """Export each variant's sheet into the Bevy project; return the export reports (raises ValueError)."""
    from ..ops.bevy_export import export_to_bevy

    return [export_to_bevy(build_variant_sheet(s.frames, "idle", fps), project, category=category, name=name,
                           variant=s.variant) for s in sprites]


async def _generate(args: argparse.Namespace) -> int:
    request = GenerateRequest(category=args.category, prompt=args.prompt, name=args.name, variant=args.variant,
                              size=args.size, palette=args.palette, colors=args.colors, lora=args.lora,
                              frames=args.frames, seed=args.seed, count=args.count, checkpoint=args.checkpoint,
                              steps=args.steps, render_px=args.render_px, negative=args.negative, fps=args.fps)
    try:
        request.check()
    except ValueError as exc:
        raise ParameterError([str(exc)]) from None
    url = await least_loaded(_engines(args))
    async with EngineClient(url) as client:
        with ProgressBar() as bar:
            sprites = await generate_sprites(client, request, Path(args.out), on_progress=bar)
    for sprite in sprites:
        _say(f"{sprite.asset} (seed {sprite.seed}): {len(sprite.frames)} frame(s)"
             + (" (served from the engine's cache)" if sprite.from_cache else ""))
        for path in [*sprite.frames, *sprite.sheet]:
            _say(f"wrote {path}")
    if args.bevy:
        try:
            reports = export_sprites(sprites, Path(args.bevy), request.category, request.asset_name_part, args.fps)
        except ValueError as exc:
            _err(f"the sprites were written, but the Bevy export was refused: {exc}")
            return EXIT_INVALID
        for report in reports:
            _say(report.summary())
    return EXIT_DONE


def cmd_generate(args: argparse.Namespace) -> int:
    return _run_mapped(_generate(args))


def add_generate_parser(commands) -> None:
    gen = commands.add_parser("generate", help="draw sprites from a prompt with the bundled text-to-sprite workflow")
    gen.add_argument("category", choices=CATEGORIES, help="what the sprite is (names its files and Bevy asset)")
    gen.add_argument("prompt", help='what to draw, e.g. "medieval knight"')
    gen.add_argument("--size", type=int, default=64, help="sprite side in pixels (default 64)")
    gen.add_argument("--palette", default=None, help="a built-in palette name (endesga-32, pico-8...) or a file")
    gen.add_argument("--colors", type=int, default=None, help="fit K colours to the sprite instead of a palette")
    gen.add_argument("--lora", default=None, metavar="FILE[:STRENGTH]", help="a LoRA of the engine's models/loras")
    gen.add_argument("--frames", type=int, default=1, help="frames per sprite (one batch, same prompt)")
    gen.add_argument("--seed", type=int, default=42, help="seed of the first variant (the next ones add 1)")
    gen.add_argument("--count", type=int, default=1, help="how many variants (default 1)")
    gen.add_argument("--out", default="sprites", help="folder for the PNGs and sheets (default ./sprites)")
    gen.add_argument("--bevy", default=None, metavar="PROJECT", help="also export each sheet into this Bevy project")
    gen.add_argument("--checkpoint", default=None, help="checkpoint file (default: the manifest's SDXL base)")
    gen.add_argument("--name", default=None, help="asset name (default: derived from the prompt)")
    gen.add_argument("--variant", default="base", help="variant name (with --count N: VARIANT-1..N)")
    gen.add_argument("--steps", type=int, default=None, help="sampling steps (default: the manifest's)")
    gen.add_argument("--render-px", type=int, default=None, help="diffusion size before pixelizing (multiple of 8)")
    gen.add_argument("--negative", default=None, help="what to avoid (default: the manifest's)")
    gen.add_argument("--fps", type=float, default=8.0, help="animation speed of the sheet (default 8)")
    _add_engine_option(gen)
    gen.set_defaults(func=cmd_generate)


# compare ----------------------------------------------------------------------------------------------------


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


async def _compare(args: argparse.Namespace) -> int:
    try:
        strengths = parse_strengths(args.strengths)
    except ValueError as exc:
        raise ParameterError([str(exc)]) from None
    request = CompareRequest(prompt=args.prompt, loras=args.lora or [], strengths=strengths, seed=args.seed,
                             checkpoint=args.checkpoint, size=args.size, render_px=args.render_px,
                             steps=args.steps, palette=args.palette, scale=args.scale)
    url = await least_loaded(_engines(args))
    async with EngineClient(url) as client:
        with ProgressBar() as bar:
            data = await run_comparison(client, request, on_progress=bar)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    _say(f"wrote {out} ({len(request.loras)} LoRA(s) × {len(strengths)} strength(s), seed {request.seed})")
    return EXIT_DONE


def cmd_compare(args: argparse.Namespace) -> int:
    return _run_mapped(_compare(args))


def add_compare_parser(commands) -> None:
    cmp = commands.add_parser("compare", help="one prompt and seed across LoRAs × strengths, as a labelled grid")
    cmp.add_argument("prompt", help="what to draw")
    cmp.add_argument("--lora", action="append", required=True, metavar="FILE",
                     help=f"a LoRA of the engine's models/loras (repeat, up to {MAX_COMPARE_LORAS}; 'None' = none)")
    cmp.add_argument("--strengths", default="0,0.6,1.0", help="up to 3 model strengths (default 0,0.6,1.0)")
    cmp.add_argument("--seed", type=int, default=42)
    cmp.add_argument("--out", default="compare.png", help="where to write the grid PNG")
    cmp.add_argument("--checkpoint", default="sd_xl_base_1.0.safetensors")
    cmp.add_argument("--size", type=int, default=64, help="sprite side in pixels")
    cmp.add_argument("--render-px", type=int, default=1024, help="diffusion size before pixelizing")
    cmp.add_argument("--steps", type=int, default=20)
    cmp.add_argument("--palette", default="endesga-32", help="a built-in palette name")
    cmp.add_argument("--scale", type=int, default=4, help="whole-number zoom of each cell in the grid")
    _add_engine_option(cmp)
    cmp.set_defaults(func=cmd_compare)
