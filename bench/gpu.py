"""GPU figures in one run: pixelize throughput, a sprite's full cost, LoRA training speed. Prints one table.

    python bench/gpu.py --engine .gpu_carry/ComfyUI            # the H200 run (docs/benchmarks.md)
    python bench/gpu.py --smoke                                  # CPU: tiny sizes, checks the script's shape

Three parts, each timed on its own and kept apart so that one failing leaves the others' figures:

1. pixelize on CUDA (1024²→128², 16 colours, batch 1/16/64; 1920×1080→480×270, batch 1), ours beside PixelOE's
   torch backend (``pixeloe``, installed only for benchmarks), images/s from the median of timed runs after
   warm-up, ``torch.cuda.synchronize`` around each run.
2. a sprite's full cost: an SDXL-shaped checkpoint of random weights built here with ComfyUI's own classes
   (detection must say SDXL), loaded through ``comfy.sd.load_checkpoint_guess_config``, 20 euler steps at 1024²
   through ComfyUI's own ``KSampler``/``VAEDecode`` node classes in this process, then our pixelize, palette and
   sprite-sheet ops; the post-processing share of the total.
3. LoRA training at 1024², rank 16 on that checkpoint: ``bench/lora.py --model sdxl`` in a subprocess, ours vs
   ComfyUI's TrainLoraNode.

Raw figures go to ``<results>/gpu-<date>.json`` (default ``bench/results/``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from pixel import test_image  # noqa: E402  (bench/pixel.py: the diffusion-like test picture)

from dgx_pixels.ops.dither import apply_palette  # noqa: E402
from dgx_pixels.ops.palette import builtin_palette  # noqa: E402
from dgx_pixels.ops.pixelize import pixelize  # noqa: E402
from dgx_pixels.ops.sheet import build_sheet  # noqa: E402

# (label, source H, source W, target H, target W, batch)
PIXEL_CASES = [("1024²→128²", 1024, 1024, 128, 128, 1), ("1024²→128²", 1024, 1024, 128, 128, 16),
               ("1024²→128²", 1024, 1024, 128, 128, 64), ("1920×1080→480×270", 1080, 1920, 270, 480, 1)]
SMOKE_PIXEL_CASES = [("128²→16²", 128, 128, 16, 16, 1), ("128²→16²", 128, 128, 16, 16, 4),
                     ("192×108→48×27", 108, 192, 27, 48, 1)]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn: Callable[[], object], device: torch.device, warmup: int, runs: int) -> tuple[float, list[float]]:
    """Median seconds of ``runs`` calls of ``fn`` after ``warmup`` untimed ones, device synchronised around each."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(runs):
        sync(device)
        started = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def source_batch(height: int, width: int, batch: int, device: torch.device) -> torch.Tensor:
    """``batch`` different diffusion-like pictures [B,H,W,3] on ``device`` (one test picture, rolled and flipped)."""
    base = test_image(max(height, width)).to(device)[:, :height, :width]
    frames = []
    for index in range(batch):
        frame = torch.roll(base, shifts=(index * 37 % height, index * 53 % width), dims=(1, 2))
        frames.append(frame.flip(2) if index % 2 else frame)
    return torch.cat(frames).contiguous()


# part 1 -----------------------------------------------------------------------------------------------------------

def run_pixeloe(images: torch.Tensor, colors: int, pixel_size: int) -> torch.Tensor:
    """PixelOE's torch backend with the settings of bench/pixel.py (contrast, quantised, no upscale). [B,h,w,3]."""
    from pixeloe.torch.pixelize import pixelize as oe_pixelize

    with torch.no_grad():
        out = oe_pixelize(images.permute(0, 3, 1, 2), pixel_size=pixel_size, mode="contrast", do_quant=True,
                          num_colors=colors, no_post_upscale=True, backend="torch")
    return out.permute(0, 2, 3, 1)


def bench_pixelize(args: argparse.Namespace, device: torch.device) -> list[dict]:
    rows = []
    for label, height, width, out_h, out_w, batch in SMOKE_PIXEL_CASES if args.smoke else PIXEL_CASES:
        images = source_batch(height, width, batch, device)
        row: dict = {"case": label, "batch": batch, "colors": 16}
        with torch.no_grad():
            median, times = median_time(lambda: pixelize(images, size=(out_w, out_h), colors=16), device,
                                        args.warmup, args.runs)
            out = pixelize(images, size=(out_w, out_h), colors=16).image
        row["ours"] = {"median_s": median, "times_s": times, "images_per_s": batch / median,
                       "out_shape": list(out.shape)}
        cell = height // out_h
        try:
            from pixeloe.torch.pixelize import pixelize as oe_pixelize  # noqa: F401  (installed only for benches)

            median, times = median_time(lambda: run_pixeloe(images, 16, cell), device, 1, max(2, args.runs // 2))
            row["pixeloe"] = {"median_s": median, "times_s": times, "images_per_s": batch / median,
                              "out_shape": list(run_pixeloe(images[:1], 16, cell).shape), "pixel_size": cell}
        except ImportError:
            row["pixeloe"] = {"error": "pixeloe not installed"}
        except Exception as error:  # a failing anchor must not hide our figures
            row["pixeloe"] = {"error": f"{type(error).__name__}: {error}"[:300]}
        rows.append(row)
    return rows


# part 2 -----------------------------------------------------------------------------------------------------------

def build_checkpoint(args: argparse.Namespace, device: torch.device) -> tuple[Path, dict]:
    """Write the SDXL-shaped (or, with --smoke, tiny SD1.5-shaped) checkpoint; return its path and build facts."""
    from dgx_pixels.lora.tiny_checkpoint import (_write, build_sdxl_state_dict, build_tiny_state_dict,
                                                 detected_model_name)

    started = time.perf_counter()
    if args.smoke:
        state = build_tiny_state_dict(0)
        metadata = {"dgx_pixels.tiny": "sd15-random", "seed": "0"}
    else:
        state = build_sdxl_state_dict(0, device=device)
        metadata = {"dgx_pixels.random": "sdxl-random", "seed": "0"}
    sync(device)
    built_s = time.perf_counter() - started
    detected = detected_model_name(state)
    parameters = sum(v.numel() for k, v in state.items() if k.startswith("model.diffusion_model."))
    path = args.work / ("tiny-sd15.safetensors" if args.smoke else "sdxl-random.safetensors")
    started = time.perf_counter()
    _write(path, {key: value.cpu() for key, value in state.items()}, metadata)
    written_s = time.perf_counter() - started
    del state
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return path, {"detected": detected, "unet_parameters": parameters, "build_s": built_s, "write_s": written_s,
                  "bytes": path.stat().st_size}


def postprocess(images: torch.Tensor, size: int) -> tuple[object, torch.Tensor]:
    """Our post-processing of decoded images as the graph runs it: Pixelize on the engine's device (16 colours,
    result back on the CPU like every IMAGE between nodes), Apply Palette, Sprite Sheet."""
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    result = pixelize(images.to(device), size=(size, size), colors=16)
    recoloured = apply_palette(result.image.cpu(), builtin_palette("db32"))
    sheet = build_sheet(recoloured)
    return sheet, recoloured


def bench_sprite(args: argparse.Namespace, device: torch.device, checkpoint: Path) -> dict:
    # ComfyUI's executor runs every node under inference mode; so do we
    with torch.inference_mode():
        return _sprite(args, device, checkpoint)


def _sprite(args: argparse.Namespace, device: torch.device, checkpoint: Path) -> dict:
    import comfy.model_management
    import comfy.sd
    import nodes as comfy_nodes  # ComfyUI's own nodes.py (the engine is on sys.path, our pack is dgx_pixels)

    started = time.perf_counter()
    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(str(checkpoint), output_vae=True, output_clip=True)
    load_s = time.perf_counter() - started
    side, steps = (128, 2) if args.smoke else (1024, 20)
    pixel_side = side // 8
    positive = comfy_nodes.CLIPTextEncode().encode(clip, "pixel art knight, game sprite")[0]
    negative = comfy_nodes.CLIPTextEncode().encode(clip, "blurry")[0]
    result: dict = {"model_class": type(model.model).__name__, "load_s": load_s, "side": side, "steps": steps,
                    "sampler": "euler", "scheduler": "normal", "pixel_side": pixel_side, "batches": {}}
    for batch in args.sprite_batches:
        latent = comfy_nodes.EmptyLatentImage().generate(side, side, batch)[0]

        def sample(latent=latent):
            return comfy_nodes.KSampler().sample(model, 0, steps, 7.0, "euler", "normal", positive, negative,
                                                  latent, denoise=1.0)[0]

        def decode(samples):
            return comfy_nodes.VAEDecode().decode(vae, samples)[0]

        # warm-up: loads the models onto the device, builds kernels
        images = decode(sample())
        postprocess(images, pixel_side)
        timings = {"sample_s": [], "decode_s": [], "post_s": []}
        for _ in range(args.sprite_runs):
            sync(device)
            t0 = time.perf_counter()
            samples = sample()
            sync(device)
            t1 = time.perf_counter()
            images = decode(samples)
            sync(device)
            t2 = time.perf_counter()
            sheet, recoloured = postprocess(images, pixel_side)
            sync(device)
            t3 = time.perf_counter()
            timings["sample_s"].append(t1 - t0)
            timings["decode_s"].append(t2 - t1)
            timings["post_s"].append(t3 - t2)
        medians = {key: statistics.median(values) for key, values in timings.items()}
        total = sum(medians.values())
        result["batches"][str(batch)] = {
            **timings, "median": medians, "total_s": total, "per_image_total_s": total / batch,
            "post_share": medians["post_s"] / total, "images_shape": list(images.shape),
            "images_device": str(images.device), "sprite_shape": list(recoloured.shape),
            "sheet_pages": len(sheet.pages) if hasattr(sheet, "pages") else None}
    comfy.model_management.unload_all_models()
    comfy.model_management.soft_empty_cache()
    return result


# part 3 -----------------------------------------------------------------------------------------------------------

def bench_lora(args: argparse.Namespace, checkpoint: Path, device: torch.device) -> dict:
    out = args.work / "lora.json"
    command = [sys.executable, str(HERE / "lora.py"), "--model", "tiny" if args.smoke else "sdxl", "--engine",
               str(args.engine), "--checkpoint", str(checkpoint), "--json", str(out), "--device", device.type,
               "--work", str(args.work / "lora"), "--steps", str(args.lora_steps)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.lora_timeout_s)
    result = json.loads(out.read_text()) if out.is_file() else {}
    result["table"] = done.stdout.strip()
    result["wall_s"] = time.perf_counter() - started
    if done.returncode != 0:
        result["error"] = (done.stderr or done.stdout)[-3000:]
    return result


# the table --------------------------------------------------------------------------------------------------------

def fmt_rate(entry: dict) -> str:
    return f"{entry['images_per_s']:,.1f} img/s" if "images_per_s" in entry else "failed"


def table(report: dict) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for row in report.get("pixelize", []):
        ours, oe = row["ours"], row.get("pixeloe", {})
        note = (f"ours {ours['images_per_s'] / oe['images_per_s']:.1f}x" if "images_per_s" in oe
                else oe.get("error", "-"))
        rows.append((f"pixelize {row['case']} K=16 batch {row['batch']}", fmt_rate(ours), fmt_rate(oe), note))
    sprite = report.get("sprite", {})
    if "batches" in sprite:
        ckpt = report.get("checkpoint", {})
        rows.append(("checkpoint (random weights)", f"detected {ckpt.get('detected')}",
                     f"{ckpt.get('unet_parameters', 0) / 1e9:.2f} B UNet params", f"built {ckpt.get('build_s', 0):.1f} s"))
        for batch, entry in sprite["batches"].items():
            m = entry["median"]
            label = f"sprite {sprite['side']}² {sprite['steps']} euler steps batch {batch}"
            rows.append((f"{label}: sample / decode", f"{m['sample_s']:.3f} s / {m['decode_s']:.3f} s",
                         f"{entry['per_image_total_s']:.3f} s per image", "ComfyUI KSampler + VAEDecode"))
            rows.append((f"{label}: post-processing", f"{m['post_s'] * 1000:.1f} ms",
                         f"{entry['post_share']:.2%} of total", "pixelize + db32 palette + sheet"))
    elif "error" in sprite:
        rows.append(("sprite full cost", "failed", "-", sprite["error"].strip().splitlines()[-1][:80]))
    lora = report.get("lora", {})
    results = lora.get("results", {})
    ours, comfy = results.get("dgx-pixels", {}), results.get("comfyui TrainLoraNode", {})
    settings = lora.get("settings", {})
    label = f"LoRA {settings.get('resolution', '?')}² rank {settings.get('rank', '?')}"
    for name, entry in (("ours", ours), ("TrainLoraNode", comfy)):
        if "steps_per_s" in entry:
            ratio = (f"{entry['steps_per_s'] / comfy['steps_per_s']:.2f}x comfy" if "steps_per_s" in comfy else "-")
            rows.append((f"{label} {name}", f"{entry['steps_per_s']:.3f} steps/s ({entry['median_step_s']:.3f} s)",
                         f"peak {entry['peak_bytes'] / 2**30:.2f} GiB", ratio))
        else:
            error = entry.get("error") or lora.get("error") or "not run"
            rows.append((f"{label} {name}", "failed", "-", error.strip().splitlines()[-1][:80] if error else "-"))
    return rows


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    header = ("measure", "ours / value", "PixelOE / detail", "note")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))  # noqa: T201 (the benchmark's output)


def environment(device: torch.device) -> dict:
    facts = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": platform.python_version(),
             "torch": torch.__version__, "cuda": torch.version.cuda, "device": str(device)}
    if device.type == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(device)
        try:
            facts["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                             capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            facts["driver"] = "unknown"
    for name in ("pixeloe", "peft", "numpy", "safetensors", "transformers"):
        try:
            from importlib.metadata import version

            facts[name] = version(name)
        except Exception:
            facts[name] = "not installed"
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="CPU-sized: tiny checkpoint, 128², 2 steps")
    parser.add_argument("--engine", type=Path, default=None, help="ComfyUI folder (default: the pinned engine)")
    parser.add_argument("--results", type=Path, default=HERE / "results", help="folder for the raw JSON")
    parser.add_argument("--parts", default="pixelize,sprite,lora", help="comma list of parts to run")
    parser.add_argument("--runs", type=int, default=None, help="timed pixelize runs (default 10, smoke 3)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--sprite-batches", default=None, help="default 1,4 (smoke 1)")
    parser.add_argument("--sprite-runs", type=int, default=None, help="default 3 (smoke 1)")
    parser.add_argument("--lora-steps", type=int, default=None, help="default 12 (smoke 3)")
    parser.add_argument("--lora-timeout-s", type=int, default=330)
    args = parser.parse_args(argv)
    args.runs = args.runs or (3 if args.smoke else 10)
    args.sprite_batches = [int(b) for b in (args.sprite_batches or ("1" if args.smoke else "1,4")).split(",")]
    args.sprite_runs = args.sprite_runs or (1 if args.smoke else 3)
    args.lora_steps = args.lora_steps or (3 if args.smoke else 12)
    parts = set(args.parts.split(","))
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    if args.engine is None:
        from dgx_pixels.engine.local import find_engine_dir

        args.engine = find_engine_dir()
    args.engine = args.engine.resolve()
    report: dict = {"environment": environment(device), "smoke": args.smoke}
    args.results.mkdir(parents=True, exist_ok=True)
    out_path = args.results / f"gpu-{'smoke-' if args.smoke else ''}{time.strftime('%Y%m%d-%H%M%S')}.json"

    def save() -> None:
        out_path.write_text(json.dumps(report, indent=1, default=str))

    def part(name: str, fn: Callable[[], object]) -> object:
        started = time.perf_counter()
        try:
            report[name] = fn()
        except Exception:
            report[name] = {"error": traceback.format_exc()[-3000:]}
            print(f"{name} failed:\n{report[name]['error']}", file=sys.stderr)  # noqa: T201
        report.setdefault("part_s", {})[name] = time.perf_counter() - started
        print(f"[{name}] done in {report['part_s'][name]:.1f} s", flush=True)  # noqa: T201 (progress)
        save()
        return report[name]

    if "pixelize" in parts:
        part("pixelize", lambda: bench_pixelize(args, device))
    with tempfile.TemporaryDirectory(prefix="dgx-bench-gpu-") as temporary:
        args.work = Path(temporary)
        if parts & {"sprite", "lora"}:
            from dgx_pixels.lora.comfy_runtime import import_comfy

            import_comfy(args.engine, cpu=device.type == "cpu")
            built = part("checkpoint", lambda: build_checkpoint(args, device))
            checkpoint = built[0] if isinstance(built, tuple) else None
            if isinstance(built, tuple):
                report["checkpoint"] = {"path": str(built[0]), **built[1]}
                save()
            if checkpoint is not None and "sprite" in parts:
                part("sprite", lambda: bench_sprite(args, device, checkpoint))
            if checkpoint is not None and "lora" in parts:
                part("lora", lambda: bench_lora(args, checkpoint, device))
    rows = table(report)
    report["table"] = rows
    save()
    print(f"\nraw JSON: {out_path}")  # noqa: T201
    env = report["environment"]
    print(f"{env.get('gpu', env['device'])}, driver {env.get('driver', '-')}, torch {env['torch']}, "  # noqa: T201
          f"pixeloe {env['pixeloe']}")
    if "lora" in report and report["lora"].get("table"):
        print(report["lora"]["table"])  # noqa: T201
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
