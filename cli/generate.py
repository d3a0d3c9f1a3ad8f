"""``dgx-pixels generate`` and ``dgx-pixels compare``: a sprite from one shell line, and LoRAs side by side.

generate fills the bundled text-to-sprite workflow through its manifest, runs it on the engine (progress on
stderr) and writes ``{category}_{name}_{variant}_{frame:04}.png`` plus a sheet per variant (``--bevy`` also
exports that sheet into a Bevy project). compare runs one prompt and seed across LoRAs × strengths and writes the
labelled grid made by ``DGXPixels.CompareGrid``. Exit codes are those of ``dgx-pixels submit``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..engine.client import EngineClient, PromptResult, least_loaded
from ..engine.params import BUNDLED_DIR, ParameterError
from ..engine.requests import (
    CATEGORIES,
    MAX_COMPARE_LORAS,
    CompareRequest,
    GeneratedSprite,
    GenerateRequest,
    build_sprite_prompt,
    parse_strengths,
    run_comparison,
    sprite_file_name,
    variant_names,
)
from ..engine.sprites import sprite_workflow
from ..export.files import write_file_atomic
from ..export.sprites import build_variant_sheet, check_sprite_export, export_sprites
from .common import (
    EXIT_DONE,
    EXIT_INVALID,
    ProgressBar,
    add_engine_option,
    check_out_dir,
    check_writable_file,
    engines_of,
    err,
    run_mapped,
    say,
)


async def generate_sprites(client: EngineClient, request: GenerateRequest, out_dir: Path,
                           on_progress=None) -> list[GeneratedSprite]:
    """Run one job per variant (seeds ``seed``, ``seed+1``...), write the frames and a sheet per variant into
    ``out_dir``; return what was written. Raises ParameterError and the engine client's errors."""
    from ..export.bevy import write_sheet_dir

    request.check()
    workflow = sprite_workflow([BUNDLED_DIR])
    name = request.asset_name_part
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for index, variant in enumerate(variant_names(request.variant, request.count)):
        seed = request.seed + index
        asset = f"{request.category}_{name}_{variant}"
        prompt, models = await build_sprite_prompt(client, workflow, request, seed, f"dgx-pixels/generate/{asset}")
        if index == 0:
            for note in models.notes:
                say(f"note: {note}")
        result: PromptResult = await client.run(prompt, timeout_s=3600.0, on_progress=on_progress)
        save_node = workflow.params["filename_prefix"].node
        files = [f for f in result.files() if f.node_id == save_node]
        if len(files) != request.frames:
            raise ParameterError([f"the workflow returned {len(files)} image(s) for {request.frames} frame(s)"])
        sprite = GeneratedSprite(asset, variant, seed, from_cache=result.from_cache)
        for frame, file in enumerate(files):
            target = out_dir / sprite_file_name(request.category, name, variant, frame)
            write_file_atomic(target, await client.download(file))
            sprite.frames.append(target)
        sprite.sheet = write_sheet_dir(build_variant_sheet(sprite.frames, "idle", request.fps), out_dir, asset)
        made.append(sprite)
    return made


async def _generate(args: argparse.Namespace) -> int:
    request = GenerateRequest(category=args.category, prompt=args.prompt, name=args.name, variant=args.variant,
                              size=args.size, palette=args.palette, colors=args.colors, lora=args.lora,
                              frames=args.frames, seed=args.seed, count=args.count, checkpoint=args.checkpoint,
                              steps=args.steps, render_px=args.render_px, negative=args.negative, fps=args.fps)
    try:
        request.check()
        check_out_dir(args.out)  # before the engine works: its images would be lost
        if args.bevy:  # an export that will be refused must not cost a render first
            check_sprite_export(Path(args.bevy), request.category, request.asset_name_part,
                                variant_names(request.variant, request.count), request.size, request.frames, args.fps)
    except ValueError as exc:
        raise ParameterError([str(exc)]) from None
    url = await least_loaded(engines_of(args))
    async with EngineClient(url) as client:
        with ProgressBar() as bar:
            sprites = await generate_sprites(client, request, Path(args.out), on_progress=bar)
    for sprite in sprites:
        say(f"{sprite.asset} (seed {sprite.seed}): {len(sprite.frames)} frame(s)"
             + (" (served from the engine's cache)" if sprite.from_cache else ""))
        for path in [*sprite.frames, *sprite.sheet]:
            say(f"wrote {path}")
    if args.bevy:
        try:
            reports = export_sprites(sprites, Path(args.bevy), request.category, request.asset_name_part, args.fps)
        except ValueError as exc:
            err(f"the sprites were written, but the Bevy export was refused: {exc}")
            return EXIT_INVALID
        for report in reports:
            say(report.summary())
    return EXIT_DONE


def cmd_generate(args: argparse.Namespace) -> int:
    return run_mapped(_generate(args))


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
    add_engine_option(gen)
    gen.set_defaults(func=cmd_generate)


async def _compare(args: argparse.Namespace) -> int:
    try:
        strengths = parse_strengths(args.strengths)
        check_writable_file(args.out)  # before the engine works: the grid would be lost
    except ValueError as exc:
        raise ParameterError([str(exc)]) from None
    request = CompareRequest(prompt=args.prompt, loras=args.lora or [], strengths=strengths, seed=args.seed,
                             checkpoint=args.checkpoint, size=args.size, render_px=args.render_px,
                             steps=args.steps, palette=args.palette, scale=args.scale)
    url = await least_loaded(engines_of(args))
    async with EngineClient(url) as client:
        with ProgressBar() as bar:
            data = await run_comparison(client, request, on_progress=bar)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(out, data)
    say(f"wrote {out} ({len(request.loras)} LoRA(s) × {len(strengths)} strength(s), seed {request.seed})")
    return EXIT_DONE


def cmd_compare(args: argparse.Namespace) -> int:
    return run_mapped(_compare(args))


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
    add_engine_option(cmp)
    cmp.set_defaults(func=cmd_compare)

